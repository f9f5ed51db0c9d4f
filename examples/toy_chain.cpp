#include "toy_chain.hpp"

#include <cstring>

namespace toy {
namespace {

constexpr std::size_t kPrevOffset = 4;
constexpr std::size_t kPayloadHashOffset = 36;
constexpr std::size_t kTimeOffset = 68;
constexpr std::size_t kHeightOffset = 72;
constexpr std::size_t kNonceOffset = 76;

/// Fixed so that every node derives the same genesis block.
constexpr uint32_t kGenesisTime = 1700000000;
constexpr char kGenesisPayload[] = "p2pnet toy chain genesis";

uint32_t ReadU32(const uint8_t* bytes) {
  return static_cast<uint32_t>(bytes[0]) | static_cast<uint32_t>(bytes[1]) << 8 |
         static_cast<uint32_t>(bytes[2]) << 16 | static_cast<uint32_t>(bytes[3]) << 24;
}

void WriteU32(uint8_t* bytes, uint32_t value) {
  for (int i = 0; i < 4; ++i) {
    bytes[i] = static_cast<uint8_t>(value >> (8 * i));
  }
}

p2pnet::Hash ReadHash(const uint8_t* bytes) {
  p2pnet::Hash hash{};
  std::memcpy(hash.data(), bytes, hash.size());
  return hash;
}

}  // namespace

p2pnet::Hash BlockId(const uint8_t* header) {
  return p2pnet::Sha256d(p2pnet::ByteView(header, kHeaderSize));
}

p2pnet::Hash PrevId(const uint8_t* header) { return ReadHash(header + kPrevOffset); }

p2pnet::Hash PayloadHash(const uint8_t* header) { return ReadHash(header + kPayloadHashOffset); }

uint32_t Height(const uint8_t* header) { return ReadU32(header + kHeightOffset); }

std::vector<uint8_t> MakeBlock(const p2pnet::Hash& prev, uint32_t height,
                               const std::vector<uint8_t>& payload, uint32_t time,
                               uint32_t nonce) {
  std::vector<uint8_t> block(kHeaderSize, 0);
  WriteU32(block.data(), kBlockVersion);
  std::memcpy(block.data() + kPrevOffset, prev.data(), prev.size());
  const p2pnet::Hash payload_hash = p2pnet::Sha256d(payload);
  std::memcpy(block.data() + kPayloadHashOffset, payload_hash.data(), payload_hash.size());
  WriteU32(block.data() + kTimeOffset, time);
  WriteU32(block.data() + kHeightOffset, height);
  WriteU32(block.data() + kNonceOffset, nonce);
  block.insert(block.end(), payload.begin(), payload.end());
  return block;
}

bool IsToyBlock(p2pnet::ByteView block) {
  return block.size() >= kHeaderSize && ReadU32(block.data()) == kBlockVersion;
}

std::optional<std::string> CheckBlock(p2pnet::ByteView block) {
  if (block.size() < kHeaderSize) {
    return "shorter than a header (" + std::to_string(block.size()) + " bytes)";
  }
  if (ReadU32(block.data()) != kBlockVersion) {
    return "unknown block version " + std::to_string(ReadU32(block.data()));
  }
  const p2pnet::ByteView payload(block.data() + kHeaderSize, block.size() - kHeaderSize);
  if (p2pnet::Sha256d(payload) != PayloadHash(block.data())) {
    return "payload does not match the payload hash in its header";
  }
  return std::nullopt;
}

std::string ShortId(const p2pnet::Hash& id) {
  static const char kDigits[] = "0123456789abcdef";
  std::string text;
  for (std::size_t i = 0; i < 6; ++i) {
    const uint8_t byte = id[id.size() - 1 - i];
    text += kDigits[byte >> 4];
    text += kDigits[byte & 0x0f];
  }
  return text;
}

Chain::Chain() {
  const std::string text = kGenesisPayload;
  const std::vector<uint8_t> payload(text.begin(), text.end());
  const std::vector<uint8_t> genesis = MakeBlock(p2pnet::Hash{}, 0, payload, kGenesisTime, 0);
  const p2pnet::Hash id = BlockId(genesis.data());
  height_of_[id] = 0;
  ids_.push_back(id);
  blocks_.push_back(genesis);
}

p2pnet::BlockHeader Chain::HeaderAt(std::size_t height) const {
  p2pnet::BlockHeader header{};
  std::memcpy(header.data(), blocks_.at(height).data(), header.size());
  return header;
}

std::optional<std::size_t> Chain::HeightOf(const p2pnet::Hash& id) const {
  auto it = height_of_.find(id);
  if (it == height_of_.end()) {
    return std::nullopt;
  }
  return it->second;
}

std::optional<std::vector<uint8_t>> Chain::BlockById(const p2pnet::Hash& id) const {
  const std::optional<std::size_t> height = HeightOf(id);
  if (!height) {
    return std::nullopt;
  }
  return blocks_[*height];
}

bool Chain::Connect(const std::vector<uint8_t>& block) {
  if (CheckBlock(block) || PrevId(block.data()) != tip() ||
      Height(block.data()) != blocks_.size()) {
    return false;
  }
  const p2pnet::Hash id = BlockId(block.data());
  height_of_[id] = blocks_.size();
  ids_.push_back(id);
  blocks_.push_back(block);
  return true;
}

std::vector<uint8_t> Chain::NextBlock(const std::string& payload_text, uint32_t time) const {
  const std::vector<uint8_t> payload(payload_text.begin(), payload_text.end());
  return MakeBlock(tip(), static_cast<uint32_t>(blocks_.size()), payload, time,
                   static_cast<uint32_t>(blocks_.size()));
}

std::vector<p2pnet::Hash> Chain::Locator() const {
  std::vector<p2pnet::Hash> locator;
  std::size_t step = 1;
  for (std::size_t h = height();; h -= step) {
    locator.push_back(ids_[h]);
    if (locator.size() >= 10) {
      step *= 2;
    }
    if (h < step) {
      break;
    }
  }
  if (locator.back() != ids_.front()) {
    locator.push_back(ids_.front());
  }
  return locator;
}

std::size_t Chain::ForkPoint(const std::vector<p2pnet::Hash>& locator) const {
  for (const p2pnet::Hash& id : locator) {
    if (const std::optional<std::size_t> height = HeightOf(id)) {
      return *height;
    }
  }
  return 0;
}

std::vector<p2pnet::BlockHeader> Chain::HeadersAfter(const std::vector<p2pnet::Hash>& locator,
                                                     const std::optional<p2pnet::Hash>& stop,
                                                     std::size_t limit) const {
  std::vector<p2pnet::BlockHeader> headers;
  for (std::size_t h = ForkPoint(locator) + 1; h <= height() && headers.size() < limit; ++h) {
    headers.push_back(HeaderAt(h));
    if (stop && ids_[h] == *stop) {
      break;
    }
  }
  return headers;
}

std::vector<p2pnet::Hash> Chain::IdsAfter(const std::vector<p2pnet::Hash>& locator,
                                          const std::optional<p2pnet::Hash>& stop,
                                          std::size_t limit) const {
  std::vector<p2pnet::Hash> ids;
  for (std::size_t h = ForkPoint(locator) + 1; h <= height() && ids.size() < limit; ++h) {
    ids.push_back(ids_[h]);
    if (stop && ids_[h] == *stop) {
      break;
    }
  }
  return ids;
}

}  // namespace toy
