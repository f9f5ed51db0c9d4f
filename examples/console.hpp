// Timestamped, line-at-a-time output shared by every node in the process. Engine
// callbacks of several nodes print concurrently from their dispatcher threads, so each
// line is written whole under a lock.
#ifndef P2PNET_EXAMPLES_CONSOLE_HPP
#define P2PNET_EXAMPLES_CONSOLE_HPP

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

class Console {
 public:
  using Clock = std::chrono::steady_clock;

  Console() : start_(Clock::now()) {}

  /// "[  1.234s] alice   text": an event seen by one node.
  void Event(const std::string& who, const std::string& text) {
    const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    std::lock_guard<std::mutex> lock(mutex_);
    std::printf("[%7.3fs] %-7s %s\n", seconds, who.c_str(), text.c_str());
    std::fflush(stdout);
  }

  /// A line without a timestamp (tables, explanations).
  void Text(const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::printf("%s\n", text.c_str());
    std::fflush(stdout);
  }

  /// A section heading preceded by a blank line.
  void Heading(const std::string& title) {
    std::string rule(title.size() + 6 < 78 ? 78 - title.size() - 6 : 4, '=');
    Text("\n== " + title + " " + rule);
  }

  /// Milliseconds since the console was created.
  double ElapsedMs(Clock::time_point at) const {
    return std::chrono::duration<double, std::milli>(at - start_).count();
  }

 private:
  std::mutex mutex_;
  Clock::time_point start_;
};

/// Milliseconds between two instants, for "arrived 1.2 ms after it was sent".
inline double MillisBetween(Console::Clock::time_point from, Console::Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

#endif  // P2PNET_EXAMPLES_CONSOLE_HPP
