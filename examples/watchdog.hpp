// Ends the process when a program overruns, whatever it is blocked on, so that a broken
// build fails its caller (CI, a script) instead of hanging it.
#ifndef P2PNET_EXAMPLES_WATCHDOG_HPP
#define P2PNET_EXAMPLES_WATCHDOG_HPP

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

class Watchdog {
 public:
  /// `what` names the program in the failure line, e.g. "the demo".
  Watchdog(std::chrono::seconds limit, std::string what)
      : what_(std::move(what)), thread_([this, limit] { Run(limit); }) {}

  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    finished_.notify_all();
    thread_.join();
  }

  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  void Run(std::chrono::seconds limit) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!finished_.wait_for(lock, limit, [this] { return done_; })) {
      std::fflush(stdout);
      std::fprintf(stderr, "\nRESULT: FAIL (%s did not finish within %lld s)\n", what_.c_str(),
                   static_cast<long long>(limit.count()));
      std::_Exit(1);
    }
  }

  const std::string what_;
  std::mutex mutex_;
  std::condition_variable finished_;
  bool done_ = false;
  std::thread thread_;  // last: starts once the members it uses exist
};

#endif  // P2PNET_EXAMPLES_WATCHDOG_HPP
