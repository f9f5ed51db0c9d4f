// Interoperability check against btcd, an independent full node written in Go. Run by
// scripts/interop_btcd.sh, which starts btcd in regtest inside a network namespace of
// its own, mines 101 blocks and then runs this program.
//
// With p2pnet's default regtest preset (protocol version and services untouched: the
// point is that the defaults are what a real node needs) the program, step by step:
//   a. shakes hands with btcd, prints what each side announced and checks the
//      transport both ends use: with --transport v1 p2pnet runs TransportMode::V1Only
//      against a btcd without v2, with --transport v2 it keeps the default PreferV2
//      against a btcd started with --v2transport and the connection must be BIP324 v2,
//      with the same session id on both ends (btcd's log, with --btcd-log);
//   b. asks btcd for headers and checks they chain from the regtest genesis block;
//   c. downloads every block through the engine and checks ids and merkle roots;
//   d. receives a block btcd mines while connected, announced and fetched unasked;
//   e. mines a block of its own on btcd's tip, broadcasts it, and checks btcd made it
//      its best block;
//   f. stays connected for a while and checks neither side dropped or blamed the other;
//   g. closes its connection and has btcd dial it (btcctl addnode ... onetry): p2pnet
//      tells the transport from btcd's first bytes, and a block btcd mines arrives
//      over that inbound connection;
//   h. dials btcd from a second engine with the other transport mode: with v1, the
//      default PreferV2, whose v2 attempt btcd closes, so it must fall back to v1; with
//      v2, V1Only, which btcd must answer as v1.
// btcd's side is read through btcctl, whose command line follows "--". Each step ends
// with PASS or FAIL; the exit status is 0 only when every step passed.
//
//   p2pnet_interop_btcd --connect 127.0.0.1:18444 [--transport v1|v2]
//       [--btcd-log PATH] [--soak SECONDS] [--verbose]
//       -- btcctl --regtest --notls --rpcserver=127.0.0.1:18334 --rpcuser=u --rpcpass=p

#include "console.hpp"
#include "watchdog.hpp"

#include <p2pnet.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Bytes = std::vector<uint8_t>;
using p2pnet::BlockHeader;
using p2pnet::ByteView;
using p2pnet::Hash;

/// The regtest genesis block, in the usual display order (byte-reversed).
constexpr char kRegtestGenesis[] =
    "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206";
/// Regtest's proof-of-work limit; regtest never retargets, so every block has it.
constexpr uint32_t kRegtestBits = 0x207fffff;
/// Block subsidy before any halving, in satoshis.
constexpr int64_t kInitialSubsidy = 50LL * 100000000LL;
/// Regtest halves the subsidy every 150 blocks (mainnet: 210,000).
constexpr int64_t kRegtestHalvingInterval = 150;
/// Version of the block this program mines: BIP9 version bits, no deployment signalled.
constexpr int32_t kBlockVersion = 0x20000000;
/// Bitcoin's service bits, for printing and for the checks of step a.
constexpr uint64_t kNodeNetwork = 1;
constexpr uint64_t kNodeWitness = 1 << 3;
/// BIP324's NODE_P2P_V2 (bit 11): btcd announces it only with --v2transport.
constexpr uint64_t kNodeP2pV2 = 1 << 11;

/// Timeouts of the steps; only reached when something is broken.
constexpr auto kHandshakeTimeout = 15s;
constexpr auto kHeadersTimeout = 15s;
constexpr auto kBlockDownloadTimeout = 60s;
constexpr auto kLiveBlockTimeout = 20s;
constexpr auto kBtcdAcceptTimeout = 20s;
constexpr auto kBtcctlTimeout = 20s;
/// How long a line is awaited in btcd's log (it is written through a pipe, shortly after).
constexpr auto kBtcdLogTimeout = 5s;
/// How often btcd's state is polled through btcctl when nothing can be awaited.
constexpr auto kPollInterval = 100ms;
/// Pings are every 2 minutes by default; the soak step wants several round trips.
constexpr auto kPingInterval = 5s;
/// Whatever the program is blocked on, it ends after this.
constexpr auto kWatchdogLimit = 300s;

// ---------------------------------------------------------------------------------
// Bytes, hashes and hex
// ---------------------------------------------------------------------------------

std::string Hex(const uint8_t* data, std::size_t size) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0x0f]);
  }
  return out;
}

/// A hash as block explorers and RPCs print it: the bytes reversed.
std::string DisplayHex(const Hash& hash) {
  Hash reversed = hash;
  std::reverse(reversed.begin(), reversed.end());
  return Hex(reversed.data(), reversed.size());
}

/// A shortened DisplayHex for running commentary.
std::string ShortHex(const Hash& hash) {
  const std::string full = DisplayHex(hash);
  return full.substr(0, 12) + ".." + full.substr(full.size() - 4);
}

/// Parses a hash in display order (as btcctl prints it) into wire byte order.
std::optional<Hash> HashFromDisplayHex(const std::string& text) {
  if (text.size() != 64) {
    return std::nullopt;
  }
  Hash hash{};
  for (std::size_t i = 0; i < 32; ++i) {
    unsigned value = 0;
    if (std::sscanf(text.c_str() + 2 * i, "%2x", &value) != 1) {
      return std::nullopt;
    }
    hash[31 - i] = static_cast<uint8_t>(value);
  }
  return hash;
}

Hash GenesisHash() { return *HashFromDisplayHex(kRegtestGenesis); }

void PutU32(Bytes& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) {
    out.push_back(static_cast<uint8_t>(value >> (8 * i)));
  }
}

void PutU64(Bytes& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) {
    out.push_back(static_cast<uint8_t>(value >> (8 * i)));
  }
}

void PutVarInt(Bytes& out, uint64_t value) {
  if (value < 0xfd) {
    out.push_back(static_cast<uint8_t>(value));
  } else if (value <= 0xffff) {
    out.push_back(0xfd);
    out.push_back(static_cast<uint8_t>(value));
    out.push_back(static_cast<uint8_t>(value >> 8));
  } else if (value <= 0xffffffff) {
    out.push_back(0xfe);
    PutU32(out, static_cast<uint32_t>(value));
  } else {
    out.push_back(0xff);
    PutU64(out, value);
  }
}

void Append(Bytes& out, ByteView bytes) { out.insert(out.end(), bytes.begin(), bytes.end()); }

/// Reads Bitcoin's little-endian serialisation; throws on truncated input.
class Reader {
 public:
  explicit Reader(ByteView data) : data_(data) {}

  std::size_t position() const { return position_; }
  bool AtEnd() const { return position_ == data_.size(); }

  uint8_t PeekAt(std::size_t offset) const {
    Require(offset + 1);
    return data_[position_ + offset];
  }

  uint8_t U8() {
    Require(1);
    return data_[position_++];
  }

  uint32_t U32() {
    Require(4);
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      value |= static_cast<uint32_t>(data_[position_ + i]) << (8 * i);
    }
    position_ += 4;
    return value;
  }

  uint64_t U64() {
    const uint64_t low = U32();
    return low | (static_cast<uint64_t>(U32()) << 32);
  }

  uint64_t VarInt() {
    const uint8_t first = U8();
    if (first < 0xfd) {
      return first;
    }
    if (first == 0xfd) {
      const uint64_t low = U8();
      return low | (static_cast<uint64_t>(U8()) << 8);
    }
    return first == 0xfe ? U32() : U64();
  }

  ByteView Take(uint64_t size) {
    Require(size);
    const ByteView view(data_.data() + position_, static_cast<std::size_t>(size));
    position_ += static_cast<std::size_t>(size);
    return view;
  }

  /// The bytes from @p from up to the current position.
  ByteView Since(std::size_t from) const {
    return ByteView(data_.data() + from, position_ - from);
  }

 private:
  void Require(uint64_t size) const {
    if (size > data_.size() - position_) {
      throw std::runtime_error("truncated: wanted " + std::to_string(size) + " bytes at offset " +
                               std::to_string(position_) + " of " + std::to_string(data_.size()));
    }
  }

  ByteView data_;
  std::size_t position_ = 0;
};

// ---------------------------------------------------------------------------------
// Headers, transactions, blocks
// ---------------------------------------------------------------------------------

struct HeaderFields {
  int32_t version = 0;
  Hash prev{};
  Hash merkle_root{};
  uint32_t time = 0;
  uint32_t bits = 0;
  uint32_t nonce = 0;
};

HeaderFields ParseHeader(ByteView header) {
  Reader reader(header);
  HeaderFields fields;
  fields.version = static_cast<int32_t>(reader.U32());
  std::memcpy(fields.prev.data(), reader.Take(32).data(), 32);
  std::memcpy(fields.merkle_root.data(), reader.Take(32).data(), 32);
  fields.time = reader.U32();
  fields.bits = reader.U32();
  fields.nonce = reader.U32();
  return fields;
}

BlockHeader SerializeHeader(const HeaderFields& fields) {
  Bytes out;
  PutU32(out, static_cast<uint32_t>(fields.version));
  Append(out, fields.prev);
  Append(out, fields.merkle_root);
  PutU32(out, fields.time);
  PutU32(out, fields.bits);
  PutU32(out, fields.nonce);
  BlockHeader header{};
  std::copy(out.begin(), out.end(), header.begin());
  return header;
}

/// A block's id: SHA-256d of its 80-byte header.
Hash HeaderHash(ByteView block) { return p2pnet::Sha256d(ByteView(block.data(), 80)); }

/// The 256-bit target that compact @p bits encode, little-endian like a hash.
Hash TargetFromBits(uint32_t bits) {
  Hash target{};
  const int exponent = static_cast<int>(bits >> 24);
  uint32_t mantissa = bits & 0x007fffff;
  if (exponent <= 3) {
    mantissa >>= 8 * (3 - exponent);
    for (int i = 0; i < 3; ++i) {
      target[i] = static_cast<uint8_t>(mantissa >> (8 * i));
    }
    return target;
  }
  for (int i = 0; i < 3; ++i) {
    const int position = exponent - 3 + i;
    if (position < 32) {
      target[position] = static_cast<uint8_t>(mantissa >> (8 * i));
    }
  }
  return target;
}

/// Proof of work: the hash read as a little-endian number is at most the target.
bool MeetsTarget(const Hash& hash, uint32_t bits) {
  const Hash target = TargetFromBits(bits);
  for (int i = 31; i >= 0; --i) {
    if (hash[i] != target[i]) {
      return hash[i] < target[i];
    }
  }
  return true;
}

/// Median time past: the median timestamp of the last (up to) 11 blocks.
uint32_t MedianTimePast(const std::vector<BlockHeader>& chain) {
  std::vector<uint32_t> times;
  for (std::size_t i = chain.size() > 11 ? chain.size() - 11 : 0; i < chain.size(); ++i) {
    times.push_back(ParseHeader(chain[i]).time);
  }
  if (times.empty()) {
    return 0;
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

struct ParsedTransaction {
  /// SHA-256d of the serialisation without segwit marker, flag and witnesses.
  Hash txid{};
  /// The whole serialisation as it appeared in the block.
  ByteView raw;
  bool has_witness = false;
  bool is_coinbase = false;
  /// scriptSig of the first input (for a coinbase: BIP34 height, extra nonce, ...).
  Bytes first_script_sig;
  int64_t output_value = 0;
};

/// Parses one transaction, legacy or BIP144 witness serialisation.
ParsedTransaction ParseTransaction(Reader& reader) {
  ParsedTransaction tx;
  const std::size_t start = reader.position();
  const ByteView version = reader.Take(4);
  // BIP144: a zero input count followed by a non-zero flag marks witness serialisation.
  if (reader.PeekAt(0) == 0x00 && reader.PeekAt(1) != 0x00) {
    if (reader.PeekAt(1) != 0x01) {
      throw std::runtime_error("unknown segwit flag");
    }
    tx.has_witness = true;
    reader.Take(2);
  }
  const std::size_t inputs_start = reader.position();
  const uint64_t input_count = reader.VarInt();
  for (uint64_t i = 0; i < input_count; ++i) {
    const ByteView prevout = reader.Take(36);
    const ByteView script = reader.Take(reader.VarInt());
    reader.Take(4);  // sequence
    if (i == 0) {
      tx.first_script_sig = script.ToVector();
      tx.is_coinbase = input_count == 1 &&
                       std::all_of(prevout.begin(), prevout.begin() + 32,
                                   [](uint8_t byte) { return byte == 0; }) &&
                       std::all_of(prevout.begin() + 32, prevout.end(),
                                   [](uint8_t byte) { return byte == 0xff; });
    }
  }
  const uint64_t output_count = reader.VarInt();
  for (uint64_t i = 0; i < output_count; ++i) {
    tx.output_value += static_cast<int64_t>(reader.U64());
    reader.Take(reader.VarInt());
  }
  const ByteView inputs_and_outputs = reader.Since(inputs_start);
  if (tx.has_witness) {
    for (uint64_t i = 0; i < input_count; ++i) {
      const uint64_t items = reader.VarInt();
      for (uint64_t j = 0; j < items; ++j) {
        reader.Take(reader.VarInt());
      }
    }
  }
  const ByteView lock_time = reader.Take(4);
  Bytes stripped = version.ToVector();
  Append(stripped, inputs_and_outputs);
  Append(stripped, lock_time);
  tx.txid = p2pnet::Sha256d(stripped);
  tx.raw = reader.Since(start);
  return tx;
}

/// Bitcoin's merkle root over txids (an odd level repeats its last hash).
Hash MerkleRoot(std::vector<Hash> level) {
  if (level.empty()) {
    return Hash{};
  }
  while (level.size() > 1) {
    if (level.size() % 2 == 1) {
      level.push_back(level.back());
    }
    std::vector<Hash> next;
    for (std::size_t i = 0; i < level.size(); i += 2) {
      Bytes pair(level[i].begin(), level[i].end());
      Append(pair, level[i + 1]);
      next.push_back(p2pnet::Sha256d(pair));
    }
    level = std::move(next);
  }
  return level[0];
}

/// The block height a BIP34 coinbase scriptSig starts with (a minimal script number).
std::optional<int64_t> Bip34Height(const Bytes& script) {
  if (script.empty()) {
    return std::nullopt;
  }
  const uint8_t opcode = script[0];
  if (opcode == 0x00) {
    return 0;  // OP_0
  }
  if (opcode >= 0x51 && opcode <= 0x60) {
    return opcode - 0x50;  // OP_1 .. OP_16
  }
  if (opcode > 8 || script.size() < 1u + opcode) {
    return std::nullopt;
  }
  int64_t value = 0;
  for (std::size_t i = 0; i < opcode; ++i) {
    value |= static_cast<int64_t>(script[1 + i]) << (8 * i);
  }
  if (script[opcode] & 0x80) {  // sign bit of the last byte
    value &= ~(int64_t{0x80} << (8 * (opcode - 1)));
    value = -value;
  }
  return value;
}

/// BIP34's push of @p height: OP_1..OP_16 for small heights, else a minimal
/// little-endian script number (as Bitcoin Core's miner and btcd's check do).
Bytes Bip34HeightPush(int64_t height) {
  if (height >= 1 && height <= 16) {
    return {static_cast<uint8_t>(0x50 + height)};
  }
  Bytes number;
  for (int64_t rest = height; rest > 0; rest >>= 8) {
    number.push_back(static_cast<uint8_t>(rest & 0xff));
  }
  if (!number.empty() && (number.back() & 0x80)) {
    number.push_back(0x00);  // keep the number positive
  }
  Bytes push{static_cast<uint8_t>(number.size())};
  Append(push, number);
  return push;
}

/// What the checks found in a block; `problem` is empty when every check passed.
struct BlockCheck {
  std::string problem;
  HeaderFields header;
  std::size_t transactions = 0;
  std::size_t witness_transactions = 0;
  std::optional<int64_t> coinbase_height;
  Hash coinbase_txid{};
  int64_t coinbase_value = 0;
};

/// Checks that @p block is well formed, that @p id is its header hash, that its
/// header meets its target and that its merkle root commits to its transactions.
/// Txids are computed here and compared with the engine's id for each transaction.
BlockCheck CheckBlock(const p2pnet::NetworkManager& network, const Hash& id, ByteView block) {
  BlockCheck check;
  try {
    if (block.size() < 81) {
      throw std::runtime_error("only " + std::to_string(block.size()) + " bytes");
    }
    check.header = ParseHeader(ByteView(block.data(), 80));
    const Hash header_hash = HeaderHash(block);
    if (header_hash != id) {
      throw std::runtime_error("header hashes to " + DisplayHex(header_hash) + ", not to its id " +
                               DisplayHex(id));
    }
    if (!MeetsTarget(header_hash, check.header.bits)) {
      throw std::runtime_error("header hash above the target of its bits");
    }
    Reader reader(block);
    reader.Take(80);
    const uint64_t count = reader.VarInt();
    std::vector<Hash> txids;
    for (uint64_t i = 0; i < count; ++i) {
      const ParsedTransaction tx = ParseTransaction(reader);
      const Hash engine_id = network.ItemId(p2pnet::ItemKind::Tx, tx.raw);
      if (engine_id != tx.txid) {
        throw std::runtime_error("tx " + std::to_string(i) + ": txid " + DisplayHex(tx.txid) +
                                 " but the engine's id is " + DisplayHex(engine_id));
      }
      if (i == 0) {
        if (!tx.is_coinbase) {
          throw std::runtime_error("first transaction is not a coinbase");
        }
        check.coinbase_height = Bip34Height(tx.first_script_sig);
        check.coinbase_txid = tx.txid;
        check.coinbase_value = tx.output_value;
      }
      check.witness_transactions += tx.has_witness ? 1 : 0;
      txids.push_back(tx.txid);
    }
    if (!reader.AtEnd()) {
      throw std::runtime_error(std::to_string(block.size() - reader.position()) +
                               " bytes after the last transaction");
    }
    check.transactions = txids.size();
    if (txids.empty()) {
      throw std::runtime_error("no transactions");
    }
    const Hash root = MerkleRoot(txids);
    if (root != check.header.merkle_root) {
      throw std::runtime_error("merkle root of the txids is " + DisplayHex(root) +
                               ", the header says " + DisplayHex(check.header.merkle_root));
    }
  } catch (const std::exception& error) {
    check.problem = error.what();
  }
  return check;
}

/// Block subsidy at @p height on regtest.
int64_t RegtestSubsidy(int64_t height) {
  const int64_t halvings = height / kRegtestHalvingInterval;
  return halvings >= 64 ? 0 : kInitialSubsidy >> halvings;
}

/// A coinbase for @p height: BIP34 height, a tag, and the whole subsidy to OP_TRUE.
/// Legacy serialisation: with no witness anywhere in the block, no witness
/// commitment is needed even with segwit active.
Bytes BuildCoinbase(int64_t height) {
  static const std::string kTag = "p2pnet interop";
  Bytes script_sig = Bip34HeightPush(height);
  script_sig.push_back(static_cast<uint8_t>(kTag.size()));
  script_sig.insert(script_sig.end(), kTag.begin(), kTag.end());

  Bytes tx;
  PutU32(tx, 1);                       // version
  PutVarInt(tx, 1);                    // one input
  tx.insert(tx.end(), 32, 0x00);       // previous txid: none
  PutU32(tx, 0xffffffff);              // previous index: none
  PutVarInt(tx, script_sig.size());
  Append(tx, script_sig);
  PutU32(tx, 0xffffffff);              // sequence
  PutVarInt(tx, 1);                    // one output
  PutU64(tx, static_cast<uint64_t>(RegtestSubsidy(height)));
  PutVarInt(tx, 1);
  tx.push_back(0x51);                  // OP_TRUE: anyone can spend it
  PutU32(tx, 0);                       // lock time
  return tx;
}

struct MinedBlock {
  Bytes data;
  Hash id{};
  uint32_t attempts = 0;
};

/// Builds a one-transaction block on @p prev and searches the nonce.
MinedBlock MineBlock(const Hash& prev, int64_t height, uint32_t time, uint32_t bits) {
  const Bytes coinbase = BuildCoinbase(height);
  HeaderFields fields;
  fields.version = kBlockVersion;
  fields.prev = prev;
  fields.merkle_root = p2pnet::Sha256d(coinbase);  // a lone coinbase's txid is the root
  fields.time = time;
  fields.bits = bits;
  MinedBlock mined;
  for (uint32_t nonce = 0;; ++nonce) {
    fields.nonce = nonce;
    const BlockHeader header = SerializeHeader(fields);
    const Hash id = p2pnet::Sha256d(header);
    ++mined.attempts;
    if (MeetsTarget(id, bits)) {
      mined.id = id;
      mined.data.assign(header.begin(), header.end());
      break;
    }
    if (nonce == 0xffffffff) {
      throw std::runtime_error("no nonce meets the target");
    }
  }
  PutVarInt(mined.data, 1);
  Append(mined.data, coinbase);
  return mined;
}

std::string ServiceNames(uint64_t services) {
  static const std::pair<uint64_t, const char*> kNames[] = {
      {1, "NETWORK"},        {2, "GETUTXO"},         {4, "BLOOM"},        {8, "WITNESS"},
      {16, "XTHIN"},         {64, "COMPACT_FILTERS"}, {1024, "NETWORK_LIMITED"},
      {2048, "P2P_V2"}};
  std::string names;
  for (const auto& [bit, name] : kNames) {
    if (services & bit) {
      names += (names.empty() ? "" : "|") + std::string(name);
      services &= ~bit;
    }
  }
  if (services != 0) {
    char rest[32];
    std::snprintf(rest, sizeof rest, "0x%llx", static_cast<unsigned long long>(services));
    names += (names.empty() ? "" : "|") + std::string(rest);
  }
  return names.empty() ? "none" : names;
}

std::string HexNumber(uint64_t value) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

std::string Millis(Clock::duration duration) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f ms",
                std::chrono::duration<double, std::milli>(duration).count());
  return text;
}

// ---------------------------------------------------------------------------------
// JSON, enough for btcctl's answers
// ---------------------------------------------------------------------------------

struct Json {
  enum class Type { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  bool boolean = false;
  double number = 0;
  std::string text;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;

  const Json* Find(const std::string& key) const {
    for (const auto& [name, value] : members) {
      if (name == key) {
        return &value;
      }
    }
    return nullptr;
  }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : text_(text) {}

  Json ParseDocument() {
    Json value = ParseValue();
    SkipSpace();
    if (position_ != text_.size()) {
      Fail("trailing characters");
    }
    return value;
  }

 private:
  [[noreturn]] void Fail(const std::string& what) const {
    throw std::runtime_error("JSON: " + what + " at offset " + std::to_string(position_));
  }

  void SkipSpace() {
    while (position_ < text_.size() && std::strchr(" \t\r\n", text_[position_]) != nullptr) {
      ++position_;
    }
  }

  char Next() {
    SkipSpace();
    if (position_ >= text_.size()) {
      Fail("unexpected end");
    }
    return text_[position_];
  }

  void Expect(char c) {
    if (Next() != c) {
      Fail(std::string("expected '") + c + "'");
    }
    ++position_;
  }

  bool Literal(const char* word) {
    const std::size_t length = std::strlen(word);
    if (text_.compare(position_, length, word) == 0) {
      position_ += length;
      return true;
    }
    return false;
  }

  Json ParseValue() {
    Json value;
    const char c = Next();
    if (c == '{') {
      value.type = Json::Type::Object;
      ++position_;
      if (Next() == '}') {
        ++position_;
        return value;
      }
      for (;;) {
        std::string key = ParseString();
        Expect(':');
        value.members.emplace_back(std::move(key), ParseValue());
        if (Next() == ',') {
          ++position_;
          continue;
        }
        Expect('}');
        return value;
      }
    }
    if (c == '[') {
      value.type = Json::Type::Array;
      ++position_;
      if (Next() == ']') {
        ++position_;
        return value;
      }
      for (;;) {
        value.items.push_back(ParseValue());
        if (Next() == ',') {
          ++position_;
          continue;
        }
        Expect(']');
        return value;
      }
    }
    if (c == '"') {
      value.type = Json::Type::String;
      value.text = ParseString();
      return value;
    }
    if (Literal("true")) {
      value.type = Json::Type::Bool;
      value.boolean = true;
      return value;
    }
    if (Literal("false")) {
      value.type = Json::Type::Bool;
      return value;
    }
    if (Literal("null")) {
      return value;
    }
    const std::size_t start = position_;
    while (position_ < text_.size() &&
           std::strchr("+-0123456789.eE", text_[position_]) != nullptr) {
      ++position_;
    }
    if (start == position_) {
      Fail("unexpected character");
    }
    value.type = Json::Type::Number;
    value.number = std::strtod(text_.substr(start, position_ - start).c_str(), nullptr);
    return value;
  }

  std::string ParseString() {
    Expect('"');
    std::string out;
    while (position_ < text_.size()) {
      const char c = text_[position_++];
      if (c == '"') {
        return out;
      }
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (position_ >= text_.size()) {
        break;
      }
      const char escaped = text_[position_++];
      switch (escaped) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'u': {
          unsigned code = 0;
          if (position_ + 4 > text_.size() ||
              std::sscanf(text_.c_str() + position_, "%4x", &code) != 1) {
            Fail("bad \\u escape");
          }
          position_ += 4;
          out.push_back(code < 0x80 ? static_cast<char>(code) : '?');
          break;
        }
        default: out.push_back(escaped); break;
      }
    }
    Fail("unterminated string");
  }

  const std::string& text_;
  std::size_t position_ = 0;
};

// ---------------------------------------------------------------------------------
// btcctl
// ---------------------------------------------------------------------------------

struct CommandResult {
  int exit_code = -1;
  bool timed_out = false;
  std::string out;
  std::string err;
};

/// Runs @p argv (no shell), collecting stdout and stderr apart; the command is
/// killed after @p timeout.
CommandResult RunCommand(const std::vector<std::string>& argv, Clock::duration timeout) {
  CommandResult result;
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  std::vector<char*> args;
  for (const std::string& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));
  }
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (spawned != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(spawned));
  }
  pollfd streams[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  const Clock::time_point deadline = Clock::now() + timeout;
  while (streams[0].fd >= 0 || streams[1].fd >= 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      result.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    const int ready = poll(streams, 2, static_cast<int>(left));
    if (ready < 0 && errno != EINTR) {
      break;
    }
    for (int i = 0; i < 2 && ready > 0; ++i) {
      if (streams[i].fd < 0 || streams[i].revents == 0) {
        continue;
      }
      char buffer[4096];
      const ssize_t got = read(streams[i].fd, buffer, sizeof buffer);
      if (got > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close(streams[i].fd);
        streams[i].fd = -1;  // poll ignores negative descriptors
      }
    }
  }
  for (const pollfd& stream : streams) {
    if (stream.fd >= 0) {
      close(stream.fd);
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string Trim(const std::string& text) {
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return std::string();
  }
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

/// btcd's RPC interface through btcctl; every call throws on failure.
class Btcctl {
 public:
  explicit Btcctl(std::vector<std::string> command) : command_(std::move(command)) {}

  std::string Call(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = command_;
    argv.insert(argv.end(), args.begin(), args.end());
    const CommandResult result = RunCommand(argv, kBtcctlTimeout);
    const std::string what = "btcctl " + (args.empty() ? std::string() : args[0]);
    if (result.timed_out) {
      throw std::runtime_error(what + " did not answer within " +
                               std::to_string(kBtcctlTimeout.count()) + " s");
    }
    if (result.exit_code != 0) {
      throw std::runtime_error(what + " failed (exit " + std::to_string(result.exit_code) +
                               "): " + Trim(result.err + result.out));
    }
    return Trim(result.out);
  }

  int64_t BlockCount() const { return std::stoll(Call({"getblockcount"})); }

  Hash BestBlockHash() const { return ParseHash(Call({"getbestblockhash"})); }

  std::vector<Hash> Generate(int count) const {
    const Json answer = JsonParser(Call({"generate", std::to_string(count)})).ParseDocument();
    std::vector<Hash> hashes;
    for (const Json& item : answer.items) {
      hashes.push_back(ParseHash(item.text));
    }
    return hashes;
  }

  Json PeerInfo() const { return JsonParser(Call({"getpeerinfo"})).ParseDocument(); }

 private:
  static Hash ParseHash(const std::string& text) {
    const std::optional<Hash> hash = HashFromDisplayHex(text);
    if (!hash) {
      throw std::runtime_error("btcctl answered '" + text + "', not a hash");
    }
    return *hash;
  }

  std::vector<std::string> command_;
};

std::string JsonField(const Json& object, const std::string& key) {
  const Json* value = object.Find(key);
  if (value == nullptr) {
    return "(absent)";
  }
  switch (value->type) {
    case Json::Type::String: return value->text;
    case Json::Type::Number: {
      std::ostringstream text;
      text.precision(15);
      text << value->number;
      return text.str();
    }
    case Json::Type::Bool: return value->boolean ? "true" : "false";
    default: return "(?)";
  }
}

// ---------------------------------------------------------------------------------
// What the engine reported
// ---------------------------------------------------------------------------------

struct Disconnection {
  uint64_t peer = 0;
  p2pnet::DisconnectReason reason = p2pnet::DisconnectReason::Requested;
  std::string detail;
};

struct HeadersMessage {
  uint64_t peer = 0;
  std::vector<BlockHeader> headers;
  Clock::time_point at;
};

struct ReceivedBlock {
  uint64_t peer = 0;
  Bytes data;
  Clock::time_point at;
  BlockCheck check;
};

/// Everything the engine's callbacks reported; steps wait on it with Wait().
class EventLog {
 public:
  /// Waits until @p ready (called with the lock held) returns true, or @p timeout.
  template <typename Predicate>
  bool Wait(Clock::duration timeout, Predicate ready) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return ready(*this); });
  }

  /// Calls @p read with the lock held and returns its result.
  template <typename Reading>
  auto Read(Reading read) {
    std::lock_guard<std::mutex> lock(mutex_);
    return read(*this);
  }

  /// Calls @p change with the lock held, then wakes the waiters.
  template <typename Change>
  void Update(Change change) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      change(*this);
    }
    changed_.notify_all();
  }

  const p2pnet::PeerInfo* Connected(uint64_t peer) const {
    for (const p2pnet::PeerInfo& info : connected) {
      if (info.id == peer) {
        return &info;
      }
    }
    return nullptr;
  }

  const Disconnection* Disconnected(uint64_t peer) const {
    for (const Disconnection& entry : disconnected) {
      if (entry.peer == peer) {
        return &entry;
      }
    }
    return nullptr;
  }

  // Guarded by mutex_.
  std::vector<p2pnet::PeerInfo> connected;
  std::vector<Disconnection> disconnected;
  std::vector<HeadersMessage> headers;
  std::map<Hash, ReceivedBlock> blocks;

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
};

// ---------------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------------

/// Which transport run this is (--transport).
enum class Run {
  /// p2pnet in TransportMode::V1Only against a btcd without --v2transport.
  V1,
  /// p2pnet with its default, TransportMode::PreferV2, against btcd --v2transport.
  V2,
};

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 18444;
  Run run = Run::V2;
  /// btcd's log file; when set, session ids and btcd's account of the transport
  /// attempts are checked in it.
  std::string btcd_log;
  std::chrono::seconds soak{20};
  bool verbose = false;
  std::vector<std::string> btcctl;
};

struct StepResult {
  bool passed = false;
  std::string detail;
};

StepResult Pass(std::string detail) { return {true, std::move(detail)}; }
StepResult Fail(std::string detail) { return {false, std::move(detail)}; }

/// This program's user agent, by which btcd's getpeerinfo entry for it is found.
std::string InteropUserAgent() { return "/p2pnet:" + p2pnet::Version() + "/interop-btcd:1.0/"; }

/// The user agent of step h's second engine, told apart from the first in getpeerinfo.
std::string SecondUserAgent() {
  return "/p2pnet:" + p2pnet::Version() + "/interop-btcd:1.0(second-engine)/";
}

const char* TransportModeName(p2pnet::TransportMode mode) {
  switch (mode) {
    case p2pnet::TransportMode::V1Only: return "V1Only";
    case p2pnet::TransportMode::PreferV2: return "PreferV2";
    case p2pnet::TransportMode::V2Only: return "V2Only";
  }
  return "?";
}

/// p2pnet's regtest preset; only the listener (loopback, any port: btcd may hold
/// 18444), the user agent and the ping interval (so the soak sees pings) change, and
/// the transport when @p mode is given. Protocol version and services stay the
/// defaults.
p2pnet::Config InteropConfig(const std::string& user_agent,
                             std::optional<p2pnet::TransportMode> mode) {
  p2pnet::Config config(p2pnet::Network::Regtest);
  config.SetListenAddress("127.0.0.1:0").SetUserAgent(user_agent).SetPingInterval(kPingInterval);
  if (mode) {
    config.SetTransport(*mode);
  }
  return config;
}

/// The main engine's transport: V1Only for the v1 run; untouched (the default,
/// PreferV2) for the v2 run.
std::optional<p2pnet::TransportMode> MainTransport(Run run) {
  if (run == Run::V1) {
    return p2pnet::TransportMode::V1Only;
  }
  return std::nullopt;
}

int ExpectedTransportVersion(Run run) { return run == Run::V1 ? 1 : 2; }

std::string SessionIdHex(const p2pnet::PeerInfo& info) {
  return info.session_id ? Hex(info.session_id->data(), info.session_id->size())
                         : std::string("(none)");
}

/// "v1" or "v2, session id <hex>".
std::string TransportText(const p2pnet::PeerInfo& info) {
  if (info.transport_version == 2) {
    return "v2 (BIP324), session id " + SessionIdHex(info);
  }
  return "v" + std::to_string(info.transport_version) + " (plaintext)";
}

/// Lines of btcd's log that contain @p needle (0 when the log cannot be read).
std::size_t CountInFile(const std::string& path, const std::string& needle) {
  std::ifstream file(path);
  std::size_t count = 0;
  std::string line;
  while (std::getline(file, line)) {
    count += line.find(needle) != std::string::npos ? 1 : 0;
  }
  return count;
}

/// The line of @p path that contains @p needle, the first after @p skip such lines,
/// awaited for up to kBtcdLogTimeout (btcd writes its log through a pipe).
std::optional<std::string> AwaitInFile(const std::string& path, const std::string& needle,
                                       std::size_t skip = 0) {
  const Clock::time_point deadline = Clock::now() + kBtcdLogTimeout;
  for (;;) {
    std::ifstream file(path);
    std::string line;
    std::size_t seen = 0;
    while (std::getline(file, line)) {
      if (line.find(needle) != std::string::npos && seen++ >= skip) {
        return line;
      }
    }
    if (Clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

class Interop {
 public:
  Interop(Console& console, Options options)
      : console_(console),
        options_(std::move(options)),
        btcctl_(options_.btcctl),
        user_agent_(InteropUserAgent()),
        network_(InteropConfig(user_agent_, MainTransport(options_.run))) {
    network_.SetLogger(options_.verbose ? p2pnet::LogLevel::Debug : p2pnet::LogLevel::Warn,
                       [this](p2pnet::LogLevel level, const std::string& target,
                              const std::string& message) {
                         console_.Event("engine", p2pnet::ToString(level) + " " + target + ": " +
                                                      message);
                       });
    network_.SetOnPeerConnected([this](const p2pnet::PeerInfo& peer) {
      events_.Update([&](EventLog& log) { log.connected.push_back(peer); });
    });
    network_.SetOnPeerDisconnected(
        [this](uint64_t peer, p2pnet::DisconnectReason reason, const std::string& detail) {
          console_.Event("p2pnet", "peer " + std::to_string(peer) + " disconnected: " +
                                       p2pnet::ToString(reason) +
                                       (detail.empty() ? "" : " (" + detail + ")"));
          events_.Update(
              [&](EventLog& log) { log.disconnected.push_back({peer, reason, detail}); });
        });
    network_.SetOnHeaders([this](uint64_t peer, const std::vector<BlockHeader>& headers) {
      const Clock::time_point now = Clock::now();
      events_.Update([&](EventLog& log) { log.headers.push_back({peer, headers, now}); });
    });
    // A node validates a block before relaying it; a block failing these checks is
    // ignored rather than judged invalid, since a mistake here must not ban btcd.
    network_.SetOnBlock([this](uint64_t peer, const Hash& id, ByteView data) {
      ReceivedBlock block{peer, data.ToVector(), Clock::now(), CheckBlock(network_, id, data)};
      const bool valid = block.check.problem.empty();
      events_.Update([&](EventLog& log) { log.blocks.emplace(id, std::move(block)); });
      return valid ? p2pnet::Verdict::Accepted : p2pnet::Verdict::Ignored;
    });
  }

  /// Runs the steps in order (each needs the ones before it) and prints a summary;
  /// returns the exit status.
  int Run() {
    struct Step {
      const char* label;
      StepResult (Interop::*run)();
      /// Runs even when an earlier step failed (it needs nothing they set up).
      bool independent = false;
    };
    const Step steps[] = {
        {"a. handshake with btcd", &Interop::Handshake},
        {"b. headers btcd -> p2pnet", &Interop::HeadersFromBtcd},
        {"c. blocks btcd -> p2pnet", &Interop::BlocksFromBtcd},
        {"d. live block btcd -> p2pnet", &Interop::LiveBlockFromBtcd},
        {"e. block p2pnet -> btcd", &Interop::BlockToBtcd},
        {"f. connection stays healthy", &Interop::Soak},
        {"g. btcd dials in, block flows", &Interop::InboundFromBtcd},
        {options_.run == Run::V1 ? "h. PreferV2 falls back to v1" : "h. V1Only to v2 btcd: v1",
         &Interop::SecondEngine, true},
    };
    console_.Text(std::string("transport run ") + (options_.run == Run::V1 ? "v1" : "v2") +
                  ": p2pnet TransportMode::" +
                  (options_.run == Run::V1 ? "V1Only (set)" : "PreferV2 (the default, untouched)") +
                  ", btcd " +
                  (options_.run == Run::V1 ? "without --v2transport" : "with --v2transport") +
                  "; expected transport v" +
                  std::to_string(ExpectedTransportVersion(options_.run)));
    network_.Start();
    std::vector<std::pair<std::string, StepResult>> results;
    std::string failed_step;
    for (const Step& step : steps) {
      console_.Heading(step.label);
      StepResult result;
      if (!failed_step.empty() && !step.independent) {
        result = Fail("not run: step " + failed_step.substr(0, 1) + " failed");
      } else {
        try {
          result = (this->*step.run)();
        } catch (const std::exception& error) {
          result = Fail(error.what());
        }
      }
      console_.Text(std::string(result.passed ? "PASS" : "FAIL") + "  " + step.label + ": " +
                    result.detail);
      if (!result.passed && failed_step.empty()) {
        failed_step = step.label;
      }
      results.emplace_back(step.label, result);
    }
    network_.Stop();

    console_.Heading("summary");
    std::size_t passed = 0;
    for (const auto& [label, result] : results) {
      passed += result.passed ? 1 : 0;
      char line[96];
      std::snprintf(line, sizeof line, "  %s  %-30s", result.passed ? "PASS" : "FAIL",
                    label.c_str());
      console_.Text(line + result.detail);
    }
    const bool all = passed == results.size();
    console_.Text("\nRESULT: " + std::string(all ? "PASS" : "FAIL") + " (" +
                  std::to_string(passed) + "/" + std::to_string(results.size()) +
                  " steps passed)");
    return all ? 0 : 1;
  }

 private:
  StepResult Handshake() {
    console_.Event("p2pnet", "dialling btcd at " + options_.host + ":" +
                                 std::to_string(options_.port) +
                                 " with the default regtest preset, user agent " + user_agent_);
    btcd_ = network_.AddPeer(options_.host, options_.port);
    const bool settled = events_.Wait(kHandshakeTimeout, [&](const EventLog& log) {
      return log.Connected(btcd_) != nullptr || log.Disconnected(btcd_) != nullptr;
    });
    if (!settled) {
      return Fail("no version/verack handshake within " +
                  std::to_string(kHandshakeTimeout.count()) + " s");
    }
    const auto [info, ended] = events_.Read([&](const EventLog& log) {
      const p2pnet::PeerInfo* connected = log.Connected(btcd_);
      const Disconnection* disconnected = log.Disconnected(btcd_);
      return std::make_pair(connected ? std::optional<p2pnet::PeerInfo>(*connected) : std::nullopt,
                            disconnected ? std::optional<Disconnection>(*disconnected)
                                         : std::nullopt);
    });
    if (!info) {
      return Fail("the connection ended before the handshake completed: " +
                  p2pnet::ToString(ended->reason) + " " + ended->detail);
    }
    console_.Event("btcd", "version " + std::to_string(info->version) + ", services " +
                               HexNumber(info->services) + " (" + ServiceNames(info->services) +
                               "), user agent " + info->user_agent + ", start height " +
                               std::to_string(info->start_height));
    if (info->user_agent.find("btcd") == std::string::npos) {
      return Fail("the peer's user agent is " + info->user_agent + ": not btcd");
    }
    if ((info->services & (kNodeNetwork | kNodeWitness)) != (kNodeNetwork | kNodeWitness)) {
      return Fail("btcd does not announce NODE_NETWORK|NODE_WITNESS: " +
                  HexNumber(info->services));
    }
    // btcd announces NODE_P2P_V2 exactly when it runs with --v2transport.
    const bool announces_v2 = (info->services & kNodeP2pV2) != 0;
    if (announces_v2 != (options_.run == Run::V2)) {
      return Fail(std::string("btcd ") + (announces_v2 ? "announces" : "does not announce") +
                  " NODE_P2P_V2 in the " + (options_.run == Run::V1 ? "v1" : "v2") +
                  " run: is it started with the right --v2transport setting?");
    }

    // The handshake is complete on btcd's side once btcd lists the peer.
    std::optional<Json> entry;
    PollBtcd(kHandshakeTimeout, [&] {
      entry = OurPeerEntry();
      return entry.has_value();
    });
    if (!entry) {
      return Fail("p2pnet completed the handshake but btcd's getpeerinfo does not list it");
    }
    console_.Event("btcd", "getpeerinfo lists p2pnet: addr " + JsonField(*entry, "addr") +
                               ", inbound " + JsonField(*entry, "inbound") + ", version " +
                               JsonField(*entry, "version") + ", services " +
                               JsonField(*entry, "services") + ", subver " +
                               JsonField(*entry, "subver") + ", v2_connection " +
                               JsonField(*entry, "v2_connection"));
    std::string transport;
    if (const std::optional<std::string> problem = CheckTransport(*info, *entry, transport)) {
      return Fail(*problem);
    }
    return Pass("btcd " + info->user_agent + " protocol " + std::to_string(info->version) +
                " services " + HexNumber(info->services) + "; btcd sees p2pnet at version " +
                JsonField(*entry, "version") + " services " + JsonField(*entry, "services") +
                "; " + transport);
  }

  /// Checks the transport of a connection to btcd: p2pnet's view @p info against this
  /// run, btcd's getpeerinfo @p entry (v2_connection), and for v2 that btcd derived the
  /// same session id (its log, V2TR at trace level). Returns the problem, if any;
  /// @p summary receives a one-line account.
  std::optional<std::string> CheckTransport(const p2pnet::PeerInfo& info, const Json& entry,
                                            std::string& summary) {
    const int expected = ExpectedTransportVersion(options_.run);
    const std::string v2_connection = JsonField(entry, "v2_connection");
    console_.Event("p2pnet", "peer " + std::to_string(info.id) + ": transport " +
                                 TransportText(info));
    if (info.transport_version != expected) {
      return "p2pnet's connection is transport v" + std::to_string(info.transport_version) +
             ", this run expects v" + std::to_string(expected);
    }
    if (v2_connection != (expected == 2 ? "true" : "false")) {
      return "btcd's getpeerinfo says v2_connection " + v2_connection + " for a v" +
             std::to_string(expected) + " connection";
    }
    if (expected == 1) {
      if (info.session_id) {
        return std::string("p2pnet reports a session id on a v1 connection");
      }
      summary = "transport v1 on both ends (btcd: v2_connection false)";
      return std::nullopt;
    }
    if (!info.session_id) {
      return std::string("p2pnet reports no session id on a v2 connection");
    }
    const std::string session = SessionIdHex(info);
    summary = "transport v2 on both ends (btcd: v2_connection true), session id " +
              session.substr(0, 16) + "..";
    if (!options_.btcd_log.empty()) {
      const std::optional<std::string> line =
          AwaitInFile(options_.btcd_log, "session_id=" + session);
      if (!line) {
        return "btcd's log has no \"Derived session_id=" + session +
               "\": the two ends disagree on the session id (or V2TR is not at trace level)";
      }
      const std::size_t from = line->find("V2TR");
      console_.Event("btcd", "log: " + (from == std::string::npos ? *line : line->substr(from)));
      summary += " (the same in btcd's log)";
    }
    return std::nullopt;
  }

  StepResult HeadersFromBtcd() {
    const int64_t height = btcctl_.BlockCount();
    const Hash best = btcctl_.BestBlockHash();
    console_.Event("btcd", "getblockcount " + std::to_string(height) + ", best block " +
                               DisplayHex(best));
    if (height < 1 || height > 2000) {
      return Fail("btcd's height is " + std::to_string(height) +
                  "; this check wants 1..2000 blocks above genesis (one headers message)");
    }
    const std::size_t mark = events_.Read([](const EventLog& log) { return log.headers.size(); });
    const Clock::time_point sent = Clock::now();
    network_.SendGetHeaders(btcd_, {GenesisHash()});
    console_.Event("p2pnet", "getheaders, locator [regtest genesis " +
                                 std::string(kRegtestGenesis).substr(0, 12) + "..]");
    std::optional<HeadersMessage> answer;
    events_.Wait(kHeadersTimeout, [&](const EventLog& log) {
      for (std::size_t i = mark; i < log.headers.size(); ++i) {
        if (log.headers[i].peer == btcd_) {
          answer = log.headers[i];
          return true;
        }
      }
      return log.Disconnected(btcd_) != nullptr;
    });
    if (!answer) {
      return Fail("no headers message from btcd within " +
                  std::to_string(kHeadersTimeout.count()) + " s");
    }
    console_.Event("btcd", "headers: " + std::to_string(answer->headers.size()) + " headers, " +
                               Millis(answer->at - sent) + " after getheaders");
    if (answer->headers.size() != static_cast<std::size_t>(height)) {
      return Fail("got " + std::to_string(answer->headers.size()) + " headers, btcd has " +
                  std::to_string(height) + " blocks");
    }
    Hash previous = GenesisHash();
    for (std::size_t i = 0; i < answer->headers.size(); ++i) {
      const HeaderFields fields = ParseHeader(answer->headers[i]);
      const Hash id = p2pnet::Sha256d(answer->headers[i]);
      if (fields.prev != previous) {
        return Fail("header " + std::to_string(i + 1) + " (" + DisplayHex(id) + ") builds on " +
                    DisplayHex(fields.prev) + ", not on " + DisplayHex(previous));
      }
      if (fields.bits != kRegtestBits || !MeetsTarget(id, fields.bits)) {
        return Fail("header " + std::to_string(i + 1) + " has no regtest proof of work");
      }
      previous = id;
    }
    if (previous != best) {
      return Fail("the last header is " + DisplayHex(previous) + ", btcd's best block is " +
                  DisplayHex(best));
    }
    chain_ = answer->headers;
    return Pass(std::to_string(height) + " headers in one message; each builds on the one " +
                "before from genesis " + std::string(kRegtestGenesis).substr(0, 12) +
                ".. to btcd's best block " + ShortHex(best) + "; proof of work ok");
  }

  StepResult BlocksFromBtcd() {
    std::vector<Hash> ids;
    for (const BlockHeader& header : chain_) {
      ids.push_back(p2pnet::Sha256d(header));
    }
    const Clock::time_point started = Clock::now();
    const std::size_t queued = network_.FetchBlocks(ids);
    requested_.insert(ids.begin(), ids.end());
    console_.Event("p2pnet", "FetchBlocks: " + std::to_string(queued) + " of " +
                                 std::to_string(ids.size()) + " blocks queued");
    if (queued != ids.size()) {
      return Fail("FetchBlocks queued " + std::to_string(queued) + " of " +
                  std::to_string(ids.size()) + " blocks");
    }
    const auto received = [&](const EventLog& log) {
      std::size_t count = 0;
      for (const Hash& id : ids) {
        count += log.blocks.count(id);
      }
      return count;
    };
    const bool complete = events_.Wait(kBlockDownloadTimeout, [&](const EventLog& log) {
      return received(log) == ids.size() || log.Disconnected(btcd_) != nullptr;
    });
    const std::size_t got = events_.Read(received);
    if (!complete || got != ids.size()) {
      const p2pnet::SyncStatus status = network_.GetSyncStatus();
      return Fail("received " + std::to_string(got) + " of " + std::to_string(ids.size()) +
                  " blocks (in flight " + std::to_string(status.blocks_in_flight) + ", queued " +
                  std::to_string(status.blocks_queued) + ")");
    }
    Clock::time_point last_arrival = started;
    std::size_t transactions = 0;
    std::size_t witness = 0;
    std::size_t bytes = 0;
    const std::optional<std::string> problem = events_.Read([&](const EventLog& log)
                                                                -> std::optional<std::string> {
      for (std::size_t i = 0; i < ids.size(); ++i) {
        const ReceivedBlock& block = log.blocks.at(ids[i]);
        const std::string name = "block " + std::to_string(i + 1) + " " + ShortHex(ids[i]);
        if (!block.check.problem.empty()) {
          return name + ": " + block.check.problem;
        }
        if (block.peer != btcd_) {
          return name + " came from peer " + std::to_string(block.peer) + ", not btcd";
        }
        if (!std::equal(chain_[i].begin(), chain_[i].end(), block.data.begin())) {
          return name + ": header differs from the one in btcd's headers message";
        }
        if (block.check.coinbase_height != static_cast<int64_t>(i + 1)) {
          return name + ": coinbase does not start with its height (BIP34)";
        }
        last_arrival = std::max(last_arrival, block.at);
        transactions += block.check.transactions;
        witness += block.check.witness_transactions;
        bytes += block.data.size();
      }
      return std::nullopt;
    });
    if (problem) {
      return Fail(*problem);
    }
    console_.Event("p2pnet", std::to_string(ids.size()) + " blocks (" + std::to_string(bytes) +
                                 " bytes) in " + Millis(last_arrival - started) + "; " +
                                 std::to_string(transactions) + " transactions, " +
                                 std::to_string(witness) + " in witness serialisation");
    return Pass(std::to_string(ids.size()) + " blocks fetched; each hashes to its id, matches " +
                "its header, carries its BIP34 height, and its merkle root is that of its " +
                std::to_string(transactions) + " txid(s) (" + std::to_string(witness) +
                " witness-serialised)");
  }

  StepResult LiveBlockFromBtcd() {
    const Hash tip = p2pnet::Sha256d(chain_.back());
    const int64_t height = static_cast<int64_t>(chain_.size()) + 1;
    const std::size_t headers_mark =
        events_.Read([](const EventLog& log) { return log.headers.size(); });
    const Clock::time_point started = Clock::now();
    const std::vector<Hash> mined = btcctl_.Generate(1);
    if (mined.size() != 1) {
      return Fail("btcctl generate 1 returned " + std::to_string(mined.size()) + " hashes");
    }
    const Hash id = mined[0];
    console_.Event("btcd", "generate 1: block " + std::to_string(height) + " " + DisplayHex(id) +
                               " (" + Millis(Clock::now() - started) + ")");
    const bool arrived = events_.Wait(kLiveBlockTimeout, [&](const EventLog& log) {
      return log.blocks.count(id) != 0 || log.Disconnected(btcd_) != nullptr;
    });
    const auto [block, by_headers] = events_.Read([&](const EventLog& log) {
      bool headers = false;
      for (std::size_t i = headers_mark; i < log.headers.size(); ++i) {
        for (const BlockHeader& header : log.headers[i].headers) {
          headers = headers || (log.headers[i].peer == btcd_ && p2pnet::Sha256d(header) == id);
        }
      }
      const auto found = log.blocks.find(id);
      return std::make_pair(found != log.blocks.end() ? std::optional<ReceivedBlock>(found->second)
                                                      : std::nullopt,
                            headers);
    });
    if (!arrived || !block) {
      return Fail(std::string("the block did not reach the block callback within ") +
                  std::to_string(kLiveBlockTimeout.count()) + " s (announced by headers: " +
                  (by_headers ? "yes" : "no") + ")");
    }
    const std::string how = by_headers ? "headers (BIP130)" : "inv";
    console_.Event("p2pnet", "block callback: " + ShortHex(id) + " announced by " + how +
                                 ", fetched by the engine, " + Millis(block->at - started) +
                                 " after generate was called");
    if (requested_.count(id) != 0) {
      return Fail("the block was among those requested with FetchBlocks");
    }
    if (block->peer != btcd_) {
      return Fail("the block came from peer " + std::to_string(block->peer));
    }
    if (!block->check.problem.empty()) {
      return Fail(block->check.problem);
    }
    if (block->check.header.prev != tip) {
      return Fail("the block builds on " + DisplayHex(block->check.header.prev) + ", not on " +
                  DisplayHex(tip));
    }
    if (block->check.coinbase_height != height) {
      return Fail("coinbase does not start with height " + std::to_string(height));
    }
    BlockHeader header{};
    std::copy(block->data.begin(), block->data.begin() + 80, header.begin());
    chain_.push_back(header);
    return Pass("block " + std::to_string(height) + " " + ShortHex(id) + " announced by " + how +
                " and fetched unasked; in the block callback " + Millis(block->at - started) +
                " after generate; builds on the tip, merkle root ok");
  }

  StepResult BlockToBtcd() {
    const Hash tip = p2pnet::Sha256d(chain_.back());
    const int64_t count_before = btcctl_.BlockCount();
    const Hash best_before = btcctl_.BestBlockHash();
    if (best_before != tip) {
      return Fail("btcd's best block is " + DisplayHex(best_before) + ", expected " +
                  DisplayHex(tip));
    }
    const int64_t height = static_cast<int64_t>(chain_.size()) + 1;
    const HeaderFields tip_fields = ParseHeader(chain_.back());
    const uint32_t now = static_cast<uint32_t>(std::time(nullptr));
    // Later than the median of the last 11 blocks and than the tip, and not ahead of
    // btcd's clock (it refuses blocks more than 2 hours ahead).
    const uint32_t time = std::max({tip_fields.time + 1, MedianTimePast(chain_) + 1, now});
    const Clock::time_point mining_started = Clock::now();
    const MinedBlock mined = MineBlock(tip, height, time, tip_fields.bits);
    const BlockCheck self_check = CheckBlock(network_, mined.id, mined.data);
    if (!self_check.problem.empty() || self_check.coinbase_height != height) {
      return Fail("the block built here does not pass its own checks: " + self_check.problem);
    }
    console_.Event("p2pnet", "mined block " + std::to_string(height) + " " + DisplayHex(mined.id) +
                                 ": version 0x20000000, time " + std::to_string(time) +
                                 ", bits " + HexNumber(tip_fields.bits) + ", nonce after " +
                                 std::to_string(mined.attempts) + " attempt(s), " +
                                 std::to_string(mined.data.size()) + " bytes, coinbase " +
                                 ShortHex(self_check.coinbase_txid) + " paying " +
                                 std::to_string(self_check.coinbase_value / 100000000) +
                                 " BTC to OP_TRUE (" + Millis(Clock::now() - mining_started) + ")");
    const Clock::time_point broadcast = Clock::now();
    const Hash id = network_.BroadcastBlock(mined.data);
    if (id != mined.id) {
      return Fail("BroadcastBlock returned id " + DisplayHex(id) + ", the header hashes to " +
                  DisplayHex(mined.id));
    }
    console_.Event("p2pnet", "BroadcastBlock: the engine announces it to btcd");
    Hash best{};
    const bool accepted = PollBtcd(kBtcdAcceptTimeout, [&] {
      best = btcctl_.BestBlockHash();
      return best == id;
    });
    const Clock::duration took = Clock::now() - broadcast;
    if (!accepted) {
      return Fail("btcd's best block is still " + DisplayHex(best) + " " +
                  Millis(took) + " after the broadcast (see btcd's log for why)");
    }
    const int64_t count_after = btcctl_.BlockCount();
    console_.Event("btcd", "getbestblockhash " + DisplayHex(best) + " (" + Millis(took) +
                               " after the broadcast), getblockcount " +
                               std::to_string(count_before) + " -> " + std::to_string(count_after));
    if (count_after != count_before + 1) {
      return Fail("btcd's block count went from " + std::to_string(count_before) + " to " +
                  std::to_string(count_after));
    }
    BlockHeader header{};
    std::copy(mined.data.begin(), mined.data.begin() + 80, header.begin());
    chain_.push_back(header);
    return Pass("block " + std::to_string(height) + " " + ShortHex(id) +
                " is btcd's best block " + Millis(took) + " after BroadcastBlock; block count " +
                std::to_string(count_before) + " -> " + std::to_string(count_after));
  }

  StepResult Soak() {
    console_.Event("p2pnet", "staying connected for " + std::to_string(options_.soak.count()) +
                                 " s (pings every " +
                                 std::to_string(std::chrono::seconds(kPingInterval).count()) +
                                 " s)");
    const bool dropped = events_.Wait(options_.soak, [&](const EventLog& log) {
      return log.Disconnected(btcd_) != nullptr;
    });
    if (dropped) {
      const Disconnection ended =
          events_.Read([&](const EventLog& log) { return *log.Disconnected(btcd_); });
      return Fail("the connection ended: " + p2pnet::ToString(ended.reason) + " " + ended.detail);
    }
    std::optional<p2pnet::PeerInfo> peer;
    std::size_t peer_count = 0;
    for (const p2pnet::PeerInfo& info : network_.GetPeers()) {
      ++peer_count;
      if (info.id == btcd_) {
        peer = info;
      }
    }
    if (!peer) {
      return Fail("btcd is not among p2pnet's peers");
    }
    const std::string ping =
        peer->ping_time ? Millis(*peer->ping_time) : std::string("none measured");
    console_.Event("p2pnet", "peer " + std::to_string(peer->id) + ": misbehaviour score " +
                                 std::to_string(peer->misbehaviour_score) + ", last ping " + ping +
                                 ", sent " + std::to_string(peer->bytes_sent) +
                                 " bytes, received " + std::to_string(peer->bytes_received) +
                                 " bytes; " +
                                 std::to_string(peer_count) + " peer(s) in all, " +
                                 std::to_string(network_.ListBans().size()) + " ban(s)");
    if (peer->misbehaviour_score != 0) {
      return Fail("p2pnet's misbehaviour score for btcd is " +
                  std::to_string(peer->misbehaviour_score));
    }
    if (peer->transport_version != ExpectedTransportVersion(options_.run)) {
      return Fail("the connection is now transport v" + std::to_string(peer->transport_version));
    }
    if (!peer->ping_time) {
      return Fail("no ping round trip was measured");
    }
    if (!network_.ListBans().empty()) {
      return Fail("p2pnet banned someone");
    }
    std::size_t entries = 0;
    const Json peers = btcctl_.PeerInfo();
    std::optional<Json> entry;
    for (const Json& item : peers.items) {
      if (JsonField(item, "subver") == user_agent_) {
        ++entries;
        entry = item;
      }
    }
    if (!entry) {
      return Fail("btcd's getpeerinfo no longer lists p2pnet");
    }
    console_.Event("btcd", "getpeerinfo: p2pnet at " + JsonField(*entry, "addr") + ", banscore " +
                               JsonField(*entry, "banscore") + ", bytessent " +
                               JsonField(*entry, "bytessent") + ", bytesrecv " +
                               JsonField(*entry, "bytesrecv") + ", currentheight " +
                               JsonField(*entry, "currentheight") + ", " +
                               std::to_string(peers.items.size()) + " peer(s) in all");
    if (entries != 1) {
      return Fail("btcd lists " + std::to_string(entries) + " connections from p2pnet");
    }
    const std::string banscore = JsonField(*entry, "banscore");
    if (banscore != "(absent)" && banscore != "0") {
      return Fail("btcd's ban score for p2pnet is " + banscore);
    }
    return Pass(std::to_string(options_.soak.count()) + " s without a disconnect, still v" +
                std::to_string(peer->transport_version) + "; p2pnet: " +
                "misbehaviour 0, last ping " + ping + "; btcd: banscore " + banscore);
  }

  StepResult InboundFromBtcd() {
    // p2pnet's own connection goes first, so that the block can only come over btcd's.
    const uint64_t outbound = btcd_;
    network_.DisconnectPeer(outbound);
    console_.Event("p2pnet", "DisconnectPeer(" + std::to_string(outbound) +
                                 "): closing p2pnet's own connection to btcd");
    if (!events_.Wait(kHandshakeTimeout, [&](const EventLog& log) {
          return log.Disconnected(outbound) != nullptr;
        })) {
      return Fail("p2pnet's connection to btcd did not close");
    }
    if (!PollUntil(kHandshakeTimeout, [&] { return !OurPeerEntry(); })) {
      return Fail("btcd still lists p2pnet's closed connection");
    }
    const std::string listen = network_.ListenAddress();
    const std::size_t mark =
        events_.Read([](const EventLog& log) { return log.connected.size(); });
    const Clock::time_point asked = Clock::now();
    btcctl_.Call({"addnode", listen, "onetry"});
    console_.Event("btcd", "addnode " + listen + " onetry: btcd dials p2pnet's listener" +
                               (options_.run == Run::V2 ? " (btcd starts v2)" : " (v1)"));
    std::optional<p2pnet::PeerInfo> info;
    events_.Wait(kHandshakeTimeout, [&](const EventLog& log) {
      for (std::size_t i = mark; i < log.connected.size(); ++i) {
        if (log.connected[i].kind == p2pnet::ConnectionKind::Inbound) {
          info = log.connected[i];
          return true;
        }
      }
      return false;
    });
    if (!info) {
      return Fail("no inbound connection from btcd completed its handshake within " +
                  std::to_string(kHandshakeTimeout.count()) + " s of addnode");
    }
    const Clock::duration took = Clock::now() - asked;
    console_.Event("p2pnet", "inbound peer " + std::to_string(info->id) + " from " +
                                 info->address + ":" + std::to_string(info->port) +
                                 ", user agent " + info->user_agent + ", inbound " +
                                 (info->inbound ? "true" : "false") + ", transport v" +
                                 std::to_string(info->transport_version) + ", handshake done " +
                                 Millis(took) + " after addnode");
    if (info->user_agent.find("btcd") == std::string::npos || !info->inbound) {
      return Fail("the inbound peer is " + info->user_agent + ", not btcd");
    }
    const uint64_t inbound = info->id;
    const auto closed = [&] {
      return events_.Read(
          [&](const EventLog& log) { return log.Disconnected(inbound) != nullptr; });
    };
    std::optional<Json> entry;
    PollUntil(kHandshakeTimeout, [&] {
      entry = OurPeerEntry();
      return entry.has_value() || closed();
    });
    if (closed()) {
      const Disconnection ended =
          events_.Read([&](const EventLog& log) { return *log.Disconnected(inbound); });
      const std::optional<std::string> why = BtcdComplaintAbout(listen);
      return Fail("btcd dropped the connection " + Millis(Clock::now() - asked) +
                  " after addnode (p2pnet: " + p2pnet::ToString(ended.reason) + ")" +
                  (why ? "; btcd's log: " + *why : std::string()));
    }
    if (!entry) {
      return Fail("btcd's getpeerinfo does not list its connection to p2pnet");
    }
    console_.Event("btcd", "getpeerinfo lists p2pnet: addr " + JsonField(*entry, "addr") +
                               ", inbound " + JsonField(*entry, "inbound") + ", v2_connection " +
                               JsonField(*entry, "v2_connection"));
    if (JsonField(*entry, "inbound") != "false") {
      return Fail("btcd does not list its connection to p2pnet as outbound");
    }
    std::string transport;
    if (const std::optional<std::string> problem = CheckTransport(*info, *entry, transport)) {
      return Fail(*problem);
    }
    btcd_ = info->id;
    const StepResult block = LiveBlockFromBtcd();
    if (!block.passed) {
      return Fail("over btcd's connection: " + block.detail);
    }
    std::size_t to_btcd = 0;
    for (const p2pnet::PeerInfo& peer : network_.GetPeers()) {
      to_btcd += peer.user_agent.find("btcd") != std::string::npos ? 1 : 0;
    }
    if (to_btcd != 1) {
      return Fail(std::to_string(to_btcd) + " connections to btcd; expected only btcd's own");
    }
    return Pass("btcd dialled p2pnet (addnode onetry), handshake " + Millis(took) + "; " +
                transport + "; " + block.detail);
  }

  StepResult SecondEngine() {
    // v1 run: the default PreferV2 tries v2 with btcd, which reads the 64-byte key as a
    // v1 header and closes the connection; the engine must dial again with v1.
    // v2 run: V1Only sends a v1 version message, which btcd must recognise and answer
    // as v1.
    const bool fallback = options_.run == Run::V1;
    const p2pnet::TransportMode mode =
        fallback ? p2pnet::TransportMode::PreferV2 : p2pnet::TransportMode::V1Only;
    const std::string btcd_says = fallback ? "Cannot start peer" : "downgraded to v1";
    const std::size_t before =
        options_.btcd_log.empty() ? 0 : CountInFile(options_.btcd_log, btcd_says);
    EventLog events;
    const std::string agent = SecondUserAgent();
    // The default (PreferV2) is left untouched rather than set.
    p2pnet::NetworkManager engine(
        InteropConfig(agent, fallback ? std::nullopt : std::optional<p2pnet::TransportMode>(mode)));
    engine.SetLogger(p2pnet::LogLevel::Debug, [&](p2pnet::LogLevel level, const std::string& target,
                                                  const std::string& message) {
      if (options_.verbose || message.find("v1") != std::string::npos ||
          message.find("v2") != std::string::npos) {
        console_.Event("engine2", p2pnet::ToString(level) + " " + target + ": " + message);
      }
    });
    engine.SetOnPeerConnected([&](const p2pnet::PeerInfo& peer) {
      events.Update([&](EventLog& log) { log.connected.push_back(peer); });
    });
    engine.SetOnPeerDisconnected(
        [&](uint64_t peer, p2pnet::DisconnectReason reason, const std::string& detail) {
          console_.Event("engine2", "peer " + std::to_string(peer) + " disconnected: " +
                                        p2pnet::ToString(reason) +
                                        (detail.empty() ? "" : " (" + detail + ")"));
          events.Update([&](EventLog& log) { log.disconnected.push_back({peer, reason, detail}); });
        });
    engine.Start();
    console_.Event("engine2", std::string("a second engine, TransportMode::") +
                                  TransportModeName(mode) +
                                  (fallback ? " (the default)" : " (set)") + ", user agent " +
                                  agent + ", dials btcd at " + options_.host + ":" +
                                  std::to_string(options_.port));
    const Clock::time_point dialled = Clock::now();
    const uint64_t id = engine.AddPeer(options_.host, options_.port);
    events.Wait(kHandshakeTimeout, [&](const EventLog& log) {
      return log.Connected(id) != nullptr || log.Disconnected(id) != nullptr;
    });
    std::optional<p2pnet::PeerInfo> info;
    std::optional<Disconnection> ended;
    events.Read([&](const EventLog& log) {
      if (const p2pnet::PeerInfo* connected = log.Connected(id)) {
        info = *connected;
      }
      if (const Disconnection* disconnected = log.Disconnected(id)) {
        ended = *disconnected;
      }
      return 0;
    });
    const Clock::duration took = Clock::now() - dialled;
    StepResult result = [&]() -> StepResult {
      if (!info) {
        return Fail("no handshake: " + (ended ? p2pnet::ToString(ended->reason) + " " +
                                                    ended->detail
                                              : std::string("timed out")));
      }
      console_.Event("engine2", "connected to " + info->user_agent + " in " + Millis(took) +
                                    ", transport " + TransportText(*info));
      if (info->transport_version != 1 || info->session_id) {
        return Fail("the connection is transport v" + std::to_string(info->transport_version) +
                    ", expected v1");
      }
      std::optional<Json> entry;
      PollUntil(kHandshakeTimeout, [&] {
        entry = PeerEntry(agent);
        return entry.has_value();
      });
      if (!entry) {
        return Fail("btcd's getpeerinfo does not list the second engine");
      }
      console_.Event("btcd", "getpeerinfo lists the second engine: addr " +
                                 JsonField(*entry, "addr") + ", v2_connection " +
                                 JsonField(*entry, "v2_connection"));
      if (JsonField(*entry, "v2_connection") != "false") {
        return Fail("btcd says v2_connection " + JsonField(*entry, "v2_connection"));
      }
      std::string evidence;
      if (!options_.btcd_log.empty()) {
        const std::optional<std::string> line =
            AwaitInFile(options_.btcd_log, btcd_says, before);
        if (!line) {
          return Fail("btcd's log has no new \"" + btcd_says + "\" line: " +
                      (fallback ? "no v2 attempt was made and closed"
                                : "btcd did not take the v1 version message for v1"));
        }
        const std::size_t from = line->find("PEER:");
        console_.Event("btcd", "log: " + (from == std::string::npos ? *line : line->substr(from)));
        evidence = fallback ? "; btcd's log: the v2 attempt was closed (\"Cannot start peer\")"
                            : "; btcd's log: \"downgraded to v1\"";
      }
      return Pass(std::string(fallback ? "PreferV2 (default) engine: v2 attempt, then v1"
                                       : "V1Only engine: v1") +
                  " with btcd in " + Millis(took) + "; btcd: v2_connection false" + evidence);
    }();
    engine.Stop();
    return result;
  }

  /// The last error or warning btcd logged about the peer at @p address (not from its
  /// V2TR subsystem, which logs every closed v2 connection as an error).
  std::optional<std::string> BtcdComplaintAbout(const std::string& address) const {
    if (options_.btcd_log.empty()) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(kPollInterval);  // btcd's log goes through a pipe
    std::ifstream file(options_.btcd_log);
    std::optional<std::string> last;
    std::string line;
    while (std::getline(file, line)) {
      if (line.find(address) != std::string::npos && line.find("V2TR") == std::string::npos &&
          (line.find("[ERR]") != std::string::npos || line.find("[WRN]") != std::string::npos)) {
        const std::size_t from = line.find('[');
        last = from == std::string::npos ? line : line.substr(from);
      }
    }
    return last;
  }

  /// btcd's getpeerinfo entry for this program, if btcd lists it.
  std::optional<Json> OurPeerEntry() const { return PeerEntry(user_agent_); }

  /// btcd's getpeerinfo entry for the peer with user agent @p agent, if btcd lists it.
  std::optional<Json> PeerEntry(const std::string& agent) const {
    for (const Json& item : btcctl_.PeerInfo().items) {
      if (JsonField(item, "subver") == agent) {
        return item;
      }
    }
    return std::nullopt;
  }

  /// Asks @p done every kPollInterval until it returns true or @p timeout passes.
  template <typename Attempt>
  bool PollUntil(Clock::duration timeout, Attempt done) {
    const Clock::time_point deadline = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() >= deadline) {
        return false;
      }
      std::this_thread::sleep_for(kPollInterval);
    }
    return true;
  }

  /// Asks @p done every kPollInterval until it returns true or @p timeout passes;
  /// btcd's RPC state changes cannot be awaited as events. Ends early if btcd's
  /// connection ends.
  template <typename Attempt>
  bool PollBtcd(Clock::duration timeout, Attempt done) {
    const Clock::time_point deadline = Clock::now() + timeout;
    for (;;) {
      if (done()) {
        return true;
      }
      if (Clock::now() >= deadline) {
        return false;
      }
      if (events_.Wait(kPollInterval,
                       [&](const EventLog& log) { return log.Disconnected(btcd_) != nullptr; })) {
        return done();
      }
    }
  }

  Console& console_;
  Options options_;
  Btcctl btcctl_;
  std::string user_agent_;
  EventLog events_;
  /// Declared after what its callbacks use, so it is destroyed (and stopped) first.
  p2pnet::NetworkManager network_;
  /// The connection to btcd.
  uint64_t btcd_ = 0;
  /// btcd's chain above genesis as seen here: chain_[i] is the header at height i + 1.
  std::vector<BlockHeader> chain_;
  /// Blocks this program asked for with FetchBlocks.
  std::set<Hash> requested_;
};

void PrintUsage() {
  std::printf(
      "usage: p2pnet_interop_btcd --connect HOST:PORT [--transport v1|v2] [--btcd-log PATH]\n"
      "                           [--soak SECONDS] [--verbose] -- BTCCTL [BTCCTL OPTIONS...]\n"
      "Checks p2pnet against a btcd regtest node (see scripts/interop_btcd.sh).\n"
      "  --connect HOST:PORT  btcd's P2P address (default 127.0.0.1:18444)\n"
      "  --transport v1|v2    v1: p2pnet in TransportMode::V1Only, btcd without\n"
      "                       --v2transport; v2 (default): p2pnet's default PreferV2,\n"
      "                       btcd with --v2transport; the connections must use it\n"
      "  --btcd-log PATH      btcd's log (V2TR at trace level): session ids and btcd's\n"
      "                       account of each transport attempt are checked in it\n"
      "  --soak SECONDS       how long step f stays connected (default 20)\n"
      "  --verbose            print the engine's debug log\n"
      "  -- BTCCTL ...        btcctl with the options reaching btcd's RPC server\n");
}

std::optional<Options> ParseArguments(int argc, char** argv) {
  Options options;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "--connect" && i + 1 < argc) {
      const std::string value = argv[++i];
      const std::size_t colon = value.rfind(':');
      if (colon == std::string::npos) {
        return std::nullopt;
      }
      options.host = value.substr(0, colon);
      options.port = static_cast<uint16_t>(std::stoi(value.substr(colon + 1)));
    } else if (arg == "--soak" && i + 1 < argc) {
      options.soak = std::chrono::seconds(std::stoi(argv[++i]));
    } else if (arg == "--transport" && i + 1 < argc) {
      const std::string value = argv[++i];
      if (value == "v1") {
        options.run = Run::V1;
      } else if (value == "v2") {
        options.run = Run::V2;
      } else {
        return std::nullopt;
      }
    } else if (arg == "--btcd-log" && i + 1 < argc) {
      options.btcd_log = argv[++i];
    } else if (arg == "--verbose") {
      options.verbose = true;
    } else {
      return std::nullopt;
    }
  }
  for (; i < argc; ++i) {
    options.btcctl.push_back(argv[i]);
  }
  if (options.btcctl.empty()) {
    return std::nullopt;
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Options> options;
  try {
    options = ParseArguments(argc, argv);
  } catch (const std::exception&) {
    options.reset();
  }
  if (!options) {
    PrintUsage();
    return 2;
  }
  Console console;
  Watchdog watchdog(kWatchdogLimit, "the check");
  try {
    console.Text("p2pnet " + p2pnet::Version() + " against btcd (regtest), default preset: " +
                 "protocol version and services as p2pnet ships them");
    Interop interop(console, std::move(*options));
    return interop.Run();
  } catch (const std::exception& error) {
    console.Text(std::string("\nRESULT: FAIL (") + error.what() + ")");
    return 1;
  }
}
