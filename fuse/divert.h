// Diverter: the store vtfs's cache writes through. Normally it forwards to
// the server; when the final snapshot cannot reach it, writes are diverted
// to a local recovery store so that no edit is lost (vt push sends them
// on later). Reads try the recovery store first once diverted.
#pragma once

#include <atomic>

#include "vt/logstore.h"
#include "vt/store.h"

namespace vtfs {

class Diverter final : public vt::BlockStore {
 public:
  explicit Diverter(vt::BlockStore& primary) : primary_(primary) {}
  // Writes go to `local` from now on; nullptr: to the server again.
  void divert(vt::LogStore* local) { local_.store(local); }

  vt::Bytes get(const vt::Score& s, vt::WireType t) override {
    if (auto* l = local_.load(); l && l->has(s, t)) return l->get(s, t);
    return primary_.get(s, t);
  }
  std::future<vt::Bytes> get_async(const vt::Score& s, vt::WireType t) override {
    return local_.load() ? BlockStore::get_async(s, t) : primary_.get_async(s, t);
  }
  std::vector<vt::Bytes> get_many(std::span<const vt::BlockKey> keys) override {
    return local_.load() ? BlockStore::get_many(keys) : primary_.get_many(keys);
  }
  vt::Score put(vt::WireType t, std::span<const std::uint8_t> d) override { return target().put(t, d); }
  void put_async(vt::WireType t, std::span<const std::uint8_t> d, const vt::Score& s) override { target().put_async(t, d, s); }
  void wait_puts() override { target().wait_puts(); }
  bool has(const vt::Score& s, vt::WireType t) override { return target().has(s, t); }
  void sync() override { target().sync(); }
  bool pipelined() const override { return !local_.load() && primary_.pipelined(); }

 private:
  vt::BlockStore& target() {
    auto* l = local_.load();
    return l ? static_cast<vt::BlockStore&>(*l) : primary_;
  }
  vt::BlockStore& primary_;
  std::atomic<vt::LogStore*> local_{nullptr};
};

}  // namespace vtfs
