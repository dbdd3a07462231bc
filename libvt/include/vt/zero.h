// Zero truncation before hashing and extension after reading (FORMATS.md §3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vt/types.h"

namespace vt {

// The length `block` has once trailing zeros (data, dir) or trailing zero
// scores (pointer blocks) are dropped. Root blocks are never truncated.
std::size_t zero_truncated_size(WireType type, std::span<const std::uint8_t> block);

// Grows `block` to `size` with zero bytes (data, dir) or zero scores (pointer
// blocks, then zero bytes for any slop). Never shrinks.
void zero_extend(WireType type, std::vector<std::uint8_t>& block, std::size_t size);

}  // namespace vt
