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

void BlockStore::put_async(WireType type, Bytes data, const Score& score) {
  if (put(type, data) != score) throw Error(Errc::Corrupt, "store returned a different score for " + score.hex());
}

void BlockStore::wait_puts() {}

}  // namespace vt
