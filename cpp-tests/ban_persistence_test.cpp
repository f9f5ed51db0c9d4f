// Ban-list persistence through the C API, beyond the plain restart of
// ban_test.cpp: a ban file holding more entries than the configured max_bans
// keeps the max_bans bans that expire last, says so in a startup warning, and
// is rewritten without the others (so a later, larger limit does not bring
// them back); a truncated or corrupted ban file is reported in a warning and
// kept aside as <file>.bad, the engine starts with no bans, and bans made
// afterwards persist again.
#include "attacker_support.hpp"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace p2pnet_test {
namespace {

constexpr const char* kBanFile = "banlist.dat";



std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

struct LogRecord {
  p2pnet_log_level level;
  std::string message;
};

// Collects an engine's log records and lets the test wait for one. Must
// outlive the engine it is attached to (declare it before the EnginePtr).
class LogRecorder {
 public:
  void Attach(p2pnet_engine* engine, p2pnet_log_level max_level) {
    ASSERT_EQ(p2pnet_engine_set_on_log(engine, max_level, &OnLog, this, nullptr), P2PNET_OK)
        << p2pnet_last_error_message();
  }

  // Waits for a record that `match` accepts; false on timeout.
  bool WaitFor(const std::function<bool(const LogRecord&)>& match) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kDeadline, [&] {
      for (const LogRecord& record : records_) {
        if (match(record)) {
          return true;
        }
      }
      return false;
    });
  }

  // Waits for the "engine started" record, which start logs right after the
  // warnings about persisted state: once it is in, so are they.
  bool WaitForStarted() {
    return WaitFor([](const LogRecord& r) { return r.message.rfind("engine started", 0) == 0; });
  }

  // Records at WARN or more severe whose message contains `text`.
  std::vector<std::string> Warnings(const std::string& text) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> found;
    for (const LogRecord& record : records_) {
      if (record.level <= P2PNET_LOG_WARN && record.level != P2PNET_LOG_OFF &&
          record.message.find(text) != std::string::npos) {
        found.push_back(record.message);
      }
    }
    return found;
  }

 private:
  static void OnLog(void* user_data, p2pnet_log_level level, const char*, const char* message) {
    auto* self = static_cast<LogRecorder*>(user_data);
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->records_.push_back(LogRecord{level, message != nullptr ? message : ""});
    self->changed_.notify_all();
  }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<LogRecord> records_;
};

// A loopback engine keeping its state in `dir`, with at most `max_bans` bans.
ConfigPtr PersistentConfig(const std::string& dir, uint32_t max_bans) {
  ConfigPtr config = MakeLoopbackConfig();
  EXPECT_EQ(p2pnet_config_set_data_dir(config.get(), dir.c_str()), P2PNET_OK)
      << p2pnet_last_error_message();
  EXPECT_EQ(p2pnet_config_set_max_bans(config.get(), max_bans), P2PNET_OK)
      << p2pnet_last_error_message();
  return config;
}

// The single-IP subnet of ban number `i`, as the engine lists it.
std::string BanSubnet(int i) {
  return "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + "/32";
}

// The messages one per line, for assertion output.
std::string Joined(const std::vector<std::string>& messages) {
  std::string out;
  for (const std::string& message : messages) {
    out += message + "\n";
  }
  return out;
}

std::map<std::string, p2pnet_ban_entry> BySubnet(const std::vector<p2pnet_ban_entry>& bans) {
  std::map<std::string, p2pnet_ban_entry> out;
  for (const p2pnet_ban_entry& ban : bans) {
    out.emplace(ban.subnet, ban);
  }
  return out;
}

// Restarting with max_bans lowered from 5,000 to 1,000 keeps exactly the 1,000
// bans that expire last, warns about the 4,000 that gave way, and rewrites the
// file: a third start with max_bans 5,000 finds the same 1,000 and no warning.
TEST(BanPersistence, LowerMaxBansKeepsTheLatestExpiringBans) {
  constexpr int kStored = 5000;
  constexpr uint32_t kLowered = 1000;
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());

  // Ban i ends at base + i: the later the index, the longer the ban.
  const int64_t base = UnixNow() + 3600;
  std::map<std::string, p2pnet_ban_entry> stored;
  {
    ConfigPtr config = PersistentConfig(dir.path(), kStored);
    EnginePtr first = MakeEngine(config.get());
    ASSERT_TRUE(first);
    ASSERT_EQ(p2pnet_engine_start(first.get()), P2PNET_OK) << p2pnet_last_error_message();
    for (int i = 0; i < kStored; ++i) {
      const std::string subnet = BanSubnet(i);
      const std::string reason = "test: ban " + std::to_string(i);
      ASSERT_EQ(p2pnet_engine_ban_until(first.get(), subnet.c_str(), base + i, reason.c_str()),
                P2PNET_OK)
          << subnet << ": " << p2pnet_last_error_message();
    }
    stored = BySubnet(ListBans(first.get()));
    ASSERT_EQ(stored.size(), static_cast<std::size_t>(kStored));
    // Stop writes the final snapshot of the ban list.
    ASSERT_EQ(p2pnet_engine_stop(first.get()), P2PNET_OK) << p2pnet_last_error_message();
  }
  ASSERT_TRUE(std::filesystem::exists(dir.file(kBanFile)));

  // The bans expected to survive: indices kStored - kLowered .. kStored - 1.
  std::map<std::string, int64_t> latest;
  for (int i = kStored - static_cast<int>(kLowered); i < kStored; ++i) {
    latest.emplace(BanSubnet(i), base + i);
  }
  auto expect_latest = [&](const std::vector<p2pnet_ban_entry>& bans, const char* when) {
    ASSERT_EQ(bans.size(), static_cast<std::size_t>(kLowered)) << when;
    std::map<std::string, int64_t> got;
    for (const p2pnet_ban_entry& ban : bans) {
      got.emplace(ban.subnet, ban.until);
      const auto before = stored.find(ban.subnet);
      ASSERT_NE(before, stored.end()) << when << ": unknown ban " << ban.subnet;
      EXPECT_EQ(ban.created, before->second.created) << when << ": " << ban.subnet;
      EXPECT_STREQ(ban.reason, before->second.reason) << when << ": " << ban.subnet;
    }
    EXPECT_TRUE(got == latest) << when << ": not the " << kLowered << " bans expiring last";
  };

  {
    LogRecorder log;
    ConfigPtr config = PersistentConfig(dir.path(), kLowered);
    EnginePtr second = MakeEngine(config.get());
    ASSERT_TRUE(second);
    log.Attach(second.get(), P2PNET_LOG_INFO);
    ASSERT_EQ(p2pnet_engine_start(second.get()), P2PNET_OK) << p2pnet_last_error_message();
    expect_latest(ListBans(second.get()), "restart with max_bans 1000");
    ASSERT_TRUE(log.WaitForStarted());
    const std::vector<std::string> warnings = log.Warnings("more bans than the limit");
    ASSERT_EQ(warnings.size(), 1u) << "no single warning about the bans that gave way";
    EXPECT_NE(warnings[0].find(dir.file(kBanFile)), std::string::npos) << warnings[0];
    EXPECT_NE(warnings[0].find("holds 4000 more bans than the limit of 1000"), std::string::npos)
        << warnings[0];
    EXPECT_NE(warnings[0].find("the ones expiring soonest gave way"), std::string::npos)
        << warnings[0];
    EXPECT_NE(warnings[0].find("the file will be rewritten without them"), std::string::npos)
        << warnings[0];
    ASSERT_EQ(p2pnet_engine_stop(second.get()), P2PNET_OK) << p2pnet_last_error_message();
  }

  // The warning said the file would be rewritten without the bans that gave
  // way: a larger limit now finds the 1,000, and nothing to warn about.
  {
    LogRecorder log;
    ConfigPtr config = PersistentConfig(dir.path(), kStored);
    EnginePtr third = MakeEngine(config.get());
    ASSERT_TRUE(third);
    log.Attach(third.get(), P2PNET_LOG_INFO);
    ASSERT_EQ(p2pnet_engine_start(third.get()), P2PNET_OK) << p2pnet_last_error_message();
    expect_latest(ListBans(third.get()), "restart with max_bans 5000");
    ASSERT_TRUE(log.WaitForStarted());
    EXPECT_EQ(Joined(log.Warnings("ban list")), "");
  }
}

// A ban file cut short or with a flipped byte is reported by name in a startup
// warning and moved aside, and the engine starts with no bans; it still
// persists: a ban made afterwards is found by the next start, without warning.
TEST(BanPersistence, DamagedBanFileIsReportedAndBansPersistAgain) {
  struct Damage {
    const char* name;
    const char* error;  // what the warning names as the cause
    std::function<void(std::vector<uint8_t>&)> apply;
  };
  const std::vector<Damage> damages = {
      {"truncated", "file is truncated",
       [](std::vector<uint8_t>& bytes) { bytes.resize(bytes.size() / 2); }},
      {"flipped byte", "checksum mismatch",
       [](std::vector<uint8_t>& bytes) { bytes.back() ^= 0xFF; }},
  };
  const int64_t until = UnixNow() + 3600;
  for (const Damage& damage : damages) {
    SCOPED_TRACE(damage.name);
    TempDir dir;
    ASSERT_FALSE(dir.path().empty());
    {
      ConfigPtr config = PersistentConfig(dir.path(), 100);
      EnginePtr first = MakeEngine(config.get());
      ASSERT_TRUE(first);
      ASSERT_EQ(p2pnet_engine_start(first.get()), P2PNET_OK) << p2pnet_last_error_message();
      for (const char* subnet : {"10.1.0.1", "10.1.0.2", "10.1.1.0/24"}) {
        ASSERT_EQ(p2pnet_engine_ban_until(first.get(), subnet, until, "test: damaged file"),
                  P2PNET_OK)
            << p2pnet_last_error_message();
      }
      ASSERT_EQ(p2pnet_engine_stop(first.get()), P2PNET_OK) << p2pnet_last_error_message();
    }
    std::vector<uint8_t> bytes = ReadFile(dir.file(kBanFile));
    ASSERT_GT(bytes.size(), 52u) << "no ban file with a payload was written";
    damage.apply(bytes);
    WriteFile(dir.file(kBanFile), bytes);

    {
      LogRecorder log;
      ConfigPtr config = PersistentConfig(dir.path(), 100);
      EnginePtr second = MakeEngine(config.get());
      ASSERT_TRUE(second);
      log.Attach(second.get(), P2PNET_LOG_INFO);
      ASSERT_EQ(p2pnet_engine_start(second.get()), P2PNET_OK) << p2pnet_last_error_message();
      EXPECT_TRUE(ListBans(second.get()).empty());
      ASSERT_TRUE(log.WaitForStarted());
      const std::vector<std::string> warnings = log.Warnings("ignoring ban list");
      ASSERT_EQ(warnings.size(), 1u) << "the damaged ban file was not reported";
      EXPECT_NE(warnings[0].find(dir.file(kBanFile)), std::string::npos) << warnings[0];
      EXPECT_NE(warnings[0].find(damage.error), std::string::npos) << warnings[0];
      EXPECT_NE(warnings[0].find("starting with no bans"), std::string::npos) << warnings[0];
      // The damaged file is kept beside, where the next save cannot destroy it.
      const std::string aside = dir.file(kBanFile) + ".bad";
      EXPECT_NE(warnings[0].find("kept as " + aside), std::string::npos) << warnings[0];
      EXPECT_EQ(ReadFile(aside), bytes) << "the damaged file was not kept as it was";
      ASSERT_EQ(
          p2pnet_engine_ban_until(second.get(), "10.2.0.1", until, "test: after damage"),
          P2PNET_OK)
          << p2pnet_last_error_message();
      ASSERT_EQ(p2pnet_engine_stop(second.get()), P2PNET_OK) << p2pnet_last_error_message();
    }

    LogRecorder log;
    ConfigPtr config = PersistentConfig(dir.path(), 100);
    EnginePtr third = MakeEngine(config.get());
    ASSERT_TRUE(third);
    log.Attach(third.get(), P2PNET_LOG_INFO);
    ASSERT_EQ(p2pnet_engine_start(third.get()), P2PNET_OK) << p2pnet_last_error_message();
    const std::vector<p2pnet_ban_entry> bans = ListBans(third.get());
    ASSERT_EQ(bans.size(), 1u);
    EXPECT_STREQ(bans[0].subnet, "10.2.0.1/32");
    EXPECT_EQ(bans[0].until, until);
    EXPECT_STREQ(bans[0].reason, "test: after damage");
    ASSERT_TRUE(log.WaitForStarted());
    EXPECT_EQ(Joined(log.Warnings("ban list")), "");
  }
}

}  // namespace
}  // namespace p2pnet_test
