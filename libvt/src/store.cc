#include "vt/store.h"

#include "vt/error.h"

namespace vt {

std::future<Bytes> BlockStore::get_async(const Score& score, WireType type) {
  std::promise<Bytes> p;
  try {
    p.set_value(get(score, type));
  } catch (...) {
    p.set_exception(std::current_exception());
  }
  return p.get_future();
}

std::vector<Bytes> BlockStore::get_many(std::span<const BlockKey> keys) {
  std::vector<std::future<Bytes>> pending;
  pending.reserve(keys.size());
  for (const auto& k : keys) pending.push_back(get_async(k.score, k.type));
  std::vector<Bytes> out;
  out.reserve(keys.size());
  std::exception_ptr first;
  for (auto& f : pending) {  // every request is waited for, even after a failure
    try {
      out.push_back(f.get());
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
  return out;
}

void BlockStore::put_async(WireType type, std::span<const std::uint8_t> data, const Score& score) {
  if (put(type, data) != score) throw Error(Errc::Corrupt, "store returned a different score for " + score.hex());
}

void BlockStore::wait_puts() {}

void check_block_size(std::size_t size, std::size_t max_block) {
  if (size > max_block)
    throw Error(Errc::TooBig, "block of " + std::to_string(size) + " bytes exceeds the " + std::to_string(max_block) + "-byte maximum");
}

void check_block(WireType type, std::size_t size, std::size_t max_block) {
  if (!is_valid_wire_type(type)) throw Error(Errc::Invalid, "invalid wire type " + std::to_string(type.value));
  check_block_size(size, max_block);
}

}  // namespace vt
