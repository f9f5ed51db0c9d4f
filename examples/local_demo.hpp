// The --demo scenario: a small network of nodes in one process on 127.0.0.1.
#ifndef P2PNET_EXAMPLES_LOCAL_DEMO_HPP
#define P2PNET_EXAMPLES_LOCAL_DEMO_HPP

#include "console.hpp"

/// Runs the scenario and prints a summary. Returns the process exit code: 0 when every
/// step was observed, 1 otherwise. Finishes within a bounded time on its own.
int RunLocalDemo(Console& console);

#endif  // P2PNET_EXAMPLES_LOCAL_DEMO_HPP
