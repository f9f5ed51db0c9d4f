// A toy block chain for the demo node: just enough chain logic to exercise block relay
// and headers-first sync. It has no proof of work, no transactions inside blocks and no
// reorganisations (the first block seen at a height wins).
//
// Block layout: an 80-byte header laid out like Bitcoin's, followed by a free-form
// payload. The block id is SHA-256d of the header, the engine's default block id.
//
//   offset  size  field
//        0     4  version (1), little endian
//        4    32  id of the previous block
//       36    32  SHA-256d of the payload (where Bitcoin keeps the merkle root)
//       68     4  time, Unix seconds, little endian
//       72     4  height, little endian (where Bitcoin keeps the target bits)
//       76     4  nonce, little endian
#ifndef P2PNET_EXAMPLES_TOY_CHAIN_HPP
#define P2PNET_EXAMPLES_TOY_CHAIN_HPP

#include <p2pnet.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace toy {

inline constexpr std::size_t kHeaderSize = 80;
inline constexpr uint32_t kBlockVersion = 1;
/// The most headers one headers message carries (Bitcoin's limit).
inline constexpr std::size_t kMaxHeadersPerMessage = 2000;
/// The most block ids one inv answer to getblocks carries (Bitcoin's limit).
inline constexpr std::size_t kMaxBlocksPerInv = 500;

/// Field accessors for a block or header of at least kHeaderSize bytes.
p2pnet::Hash BlockId(const uint8_t* header);
p2pnet::Hash PrevId(const uint8_t* header);
p2pnet::Hash PayloadHash(const uint8_t* header);
uint32_t Height(const uint8_t* header);

/// Builds a block on `prev` at `height` carrying `payload`.
std::vector<uint8_t> MakeBlock(const p2pnet::Hash& prev, uint32_t height,
                               const std::vector<uint8_t>& payload, uint32_t time,
                               uint32_t nonce);

/// Whether the block claims to be a toy-chain block (header version 1). Other
/// chains' blocks (a real Bitcoin peer's, say) are not ours to judge.
bool IsToyBlock(p2pnet::ByteView block);

/// Why a block is malformed (too short, wrong version, payload not matching its
/// header), or nothing when it is well formed. Says nothing about where it connects.
std::optional<std::string> CheckBlock(p2pnet::ByteView block);

/// Short display form of an id: the first 12 hex digits in Bitcoin's display order
/// (byte-reversed), e.g. "3fa2b8c91d07".
std::string ShortId(const p2pnet::Hash& id);

/// A chain of blocks from the shared genesis block. Not thread-safe: the node guards it.
class Chain {
 public:
  /// A chain holding only the genesis block, identical on every node.
  Chain();

  std::size_t height() const { return blocks_.size() - 1; }
  const p2pnet::Hash& tip() const { return ids_.back(); }
  const p2pnet::Hash& IdAt(std::size_t height) const { return ids_.at(height); }
  const std::vector<uint8_t>& BlockAt(std::size_t height) const { return blocks_.at(height); }
  p2pnet::BlockHeader HeaderAt(std::size_t height) const;

  /// The height of a block on this chain.
  std::optional<std::size_t> HeightOf(const p2pnet::Hash& id) const;
  bool Contains(const p2pnet::Hash& id) const { return HeightOf(id).has_value(); }

  /// A block on this chain by id, for peers that request it.
  std::optional<std::vector<uint8_t>> BlockById(const p2pnet::Hash& id) const;

  /// Appends a well-formed block whose previous id is the tip and whose height is the
  /// next one; false otherwise.
  bool Connect(const std::vector<uint8_t>& block);

  /// A block extending the tip (not connected yet).
  std::vector<uint8_t> NextBlock(const std::string& payload_text, uint32_t time) const;

  /// Bitcoin's block locator: the tip, nine more, then exponentially sparser
  /// ancestors, always ending at genesis.
  std::vector<p2pnet::Hash> Locator() const;

  /// The headers after the first locator entry this chain holds (genesis when none),
  /// up to `limit` and ending at `stop` when given: the answer to getheaders.
  std::vector<p2pnet::BlockHeader> HeadersAfter(const std::vector<p2pnet::Hash>& locator,
                                                const std::optional<p2pnet::Hash>& stop,
                                                std::size_t limit) const;

  /// The same as HeadersAfter, as block ids: the answer to getblocks.
  std::vector<p2pnet::Hash> IdsAfter(const std::vector<p2pnet::Hash>& locator,
                                     const std::optional<p2pnet::Hash>& stop,
                                     std::size_t limit) const;

 private:
  /// The height after which HeadersAfter/IdsAfter start.
  std::size_t ForkPoint(const std::vector<p2pnet::Hash>& locator) const;

  std::vector<std::vector<uint8_t>> blocks_;
  std::vector<p2pnet::Hash> ids_;
  std::map<p2pnet::Hash, std::size_t> height_of_;
};

}  // namespace toy

#endif  // P2PNET_EXAMPLES_TOY_CHAIN_HPP
