// Build check: p2pnet.hpp compiles as C++17 with strict warnings, twice included.
#include "p2pnet.hpp"
#include "p2pnet.hpp"

#include <type_traits>

static_assert(!std::is_copy_constructible_v<p2pnet::NetworkManager>);
static_assert(std::is_nothrow_move_constructible_v<p2pnet::NetworkManager>);
static_assert(std::is_nothrow_move_assignable_v<p2pnet::NetworkManager>);
static_assert(!std::is_copy_constructible_v<p2pnet::Config>);
static_assert(std::is_nothrow_move_constructible_v<p2pnet::Config>);
static_assert(std::is_base_of_v<std::runtime_error, p2pnet::Error>);
static_assert(sizeof(p2pnet::Hash) == 32);
static_assert(sizeof(p2pnet::BlockHeader) == 80);
static_assert(std::is_trivially_copyable_v<p2pnet::ByteView>);
static_assert(std::is_same_v<std::underlying_type_t<p2pnet::Verdict>, uint32_t>);
static_assert(static_cast<int>(p2pnet::ItemKind::Block) == P2PNET_ITEM_BLOCK);
static_assert(static_cast<int>(p2pnet::ItemKind::Tx) == P2PNET_ITEM_TX);
