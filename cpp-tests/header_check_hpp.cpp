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
