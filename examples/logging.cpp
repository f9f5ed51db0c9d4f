// logging.cpp: the engine's log records in the node's own logger.
//
// HostLogger stands in for the node's logger (levels, one output). The engine's log
// callback forwards each record to it, mapping p2pnet::LogLevel to the host's levels.
// Two filters apply: SetLogger's level, which decides what the engine produces and
// queues at all (cheap to keep low), and the host logger's own level. The example
// logs at Info while a second engine connects ("peer connected"), switches both filters
// to Debug at run time to see the "connection closed" record of a disconnect, then
// reads DroppedLogRecords().
#include <p2pnet.hpp>

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

namespace {

// A stand-in for the node's logger: thread-safe, with a level filter.
class HostLogger {
 public:
  enum class Level { Error, Warning, Info, Debug };

  void SetLevel(Level level) {
    std::lock_guard<std::mutex> lock(mutex_);
    level_ = level;
  }

  void Write(Level level, const std::string& source, const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (level > level_) return;
    static const char* const kNames[] = {"error", "warning", "info", "debug"};
    std::cout << "[" << kNames[static_cast<int>(level)] << "] " << source << ": " << text << "\n";
    lines_.push_back(text);
    changed_.notify_all();
  }

  // Waits until a line starting with `prefix` was written; the deadline only on failure.
  bool WaitFor(const std::string& prefix) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] {
      for (const std::string& line : lines_) {
        if (line.compare(0, prefix.size(), prefix) == 0) return true;
      }
      return false;
    });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  Level level_ = Level::Info;
  std::vector<std::string> lines_;
};

HostLogger::Level ToHostLevel(p2pnet::LogLevel level) {
  switch (level) {
    case p2pnet::LogLevel::Error: return HostLogger::Level::Error;
    case p2pnet::LogLevel::Warn: return HostLogger::Level::Warning;
    case p2pnet::LogLevel::Info: return HostLogger::Level::Info;
    default: return HostLogger::Level::Debug;  // Debug and Trace
  }
}

}  // namespace

int main() {
  HostLogger logger;  // declared first: it must outlive the engine that logs into it
  try {
    p2pnet::Config config(p2pnet::Network::Regtest);
    config.SetListenAddress("127.0.0.1:0").SetMaxOutbound(0);
    p2pnet::NetworkManager a(config);
    p2pnet::NetworkManager b(config);  // b logs nowhere: no logger registered

    // Records arrive on the dispatcher thread, one at a time. `target` is the engine
    // module; the message carries its fields as key=value (quoted when they hold
    // spaces), e.g. "peer connected peer=1 addr=127.0.0.1:40000 version=70016 ...".
    const auto forward = [&logger](p2pnet::LogLevel level, const std::string& target,
                                   const std::string& message) {
      logger.Write(ToHostLevel(level), "p2pnet " + target, message);
    };
    a.SetLogger(p2pnet::LogLevel::Info, forward);  // register before Start to see it all
    a.Start();
    b.Start();
    const uint64_t a_at_b = b.AddPeer("127.0.0.1", a.ListenPort());
    if (!logger.WaitFor("peer connected")) {  // an Info record
      std::cerr << "FAIL: no \"peer connected\" record\n";
      return 1;
    }

    // More detail at run time: registering again replaces the callback and its level.
    logger.SetLevel(HostLogger::Level::Debug);
    a.SetLogger(p2pnet::LogLevel::Debug, forward);
    b.DisconnectPeer(a_at_b);
    if (!logger.WaitFor("connection closed")) {  // a Debug record
      std::cerr << "FAIL: no \"connection closed\" record\n";
      return 1;
    }

    // Logging never blocks the engine: when the node's callbacks fall behind (a full
    // event queue), records are dropped and counted. Worth exporting as a metric.
    std::cout << "records dropped: " << a.DroppedLogRecords() << "\n";

    a.SetLogger(p2pnet::LogLevel::Off, {});  // logging off
    a.Stop();
    b.Stop();
    std::cout << "logging: OK\n";
    return 0;
  } catch (const p2pnet::Error& error) {
    std::cerr << "p2pnet error " << p2pnet::ToString(error.code()) << ": " << error.what() << "\n";
    return 1;
  }
}
