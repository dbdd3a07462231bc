#include "vt/cache.h"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <list>
#include <mutex>
#include <unordered_map>

#include "hash_helper.h"
#include "vt/error.h"
#include "vt/zero.h"

namespace vt {

namespace {

struct Key {
  Score score;
  BlockType type;
  std::uint32_t size;
  bool operator==(const Key&) const = default;
};
struct KeyHash {
  std::size_t operator()(const Key& k) const noexcept { return ScoreHash{}(k.score) ^ (std::size_t{k.type} << 32) ^ k.size; }
};

// A global block being fetched, or ready. The first thread to need it runs
// the fetch, outside the cache's lock; others wait for that one. Unlike a
// deferred std::future (whose call_once always makes a futex call), finishing
// wakes nobody unless somebody waits: a cold read misses ~130,000 times a GiB.
class Fetch {
 public:
  using Work = std::function<BlockPtr()>;
  explicit Fetch(Work work) : work_(std::move(work)) {}
  explicit Fetch(BlockPtr ready) : state_(kDone), block_(std::move(ready)) {}

  BlockPtr get() {
    if (state_.load(std::memory_order_acquire) != kDone) {
      if (claim())
        run_claimed();
      else
        wait();
    }
    if (error_) std::rethrow_exception(error_);
    return block_;
  }
  // The block of a fetch that succeeded (the cache's own reference).
  const BlockPtr& block() const { return block_; }

  // Makes the caller the one fetching (false if somebody is or was): it
  // must then finish(), by itself or through run_claimed().
  bool claim() {
    std::lock_guard lock(mu_);
    if (state_ != kIdle) return false;
    state_ = kRunning;
    return true;
  }
  void run_claimed() {
    try {
      finish(work_(), nullptr);
    } catch (...) {
      finish(nullptr, std::current_exception());
    }
  }
  void finish(BlockPtr b, std::exception_ptr e) {
    std::lock_guard lock(mu_);
    block_ = std::move(b);
    error_ = e;
    work_ = nullptr;
    state_.store(kDone, std::memory_order_release);  // block_ and error_ are final
    if (waiters_) done_.notify_all();
  }

 private:
  enum State { kIdle, kRunning, kDone };

  void wait() {
    std::unique_lock lock(mu_);
    waiters_++;
    done_.wait(lock, [&] { return state_ == kDone; });
    waiters_--;
  }

  std::mutex mu_;
  std::condition_variable done_;
  std::atomic<State> state_{kIdle};
  unsigned waiters_ = 0;
  Work work_;
  BlockPtr block_;
  std::exception_ptr error_;
};

struct Slot {
  std::shared_ptr<Fetch> fetch;
  std::uint64_t id;  // tells a retry's slot from a failed one
  bool ready = false;
  std::list<Key>::iterator lru;  // valid when ready
};

// Global blocks are named by stored scores; a local one here is a bug or a
// damaged tree.
void require_stored(const Score& score) {
  if (score.is_local()) throw Error(Errc::Corrupt, "local score " + score.hex() + " where a stored block was expected");
}

BlockPtr make_block(BlockType type, const Score& score, Bytes data, std::size_t size) {
  WireType wire = to_wire(type);
  if (data.size() > size) throw Error(Errc::Corrupt, "block " + score.hex() + " is " + std::to_string(data.size()) + " bytes, more than the " + std::to_string(size) + " expected");
  zero_extend(wire, data, size);
  return std::make_shared<Block>(Block{type, score, std::move(data)});
}

}  // namespace

struct Cache::Impl {
  BlockStore& store;
  CacheOptions options;

  mutable std::mutex mu;
  std::unordered_map<Key, Slot, KeyHash> globals;
  std::list<Key> lru;  // most recent at the front; ready slots only
  std::size_t clean_bytes = 0;
  std::unordered_map<std::uint32_t, BlockPtr> locals;
  std::size_t local_bytes = 0;
  std::uint32_t next_addr = 1;
  std::uint64_t next_id = 1;

  // Waits are serialized so that a failure is counted before any other
  // waiter can return.
  std::mutex wait_mu;
  std::atomic<std::uint64_t> write_failures{0};
  std::exception_ptr last_failure;  // guarded by wait_mu

  struct {
    std::atomic<std::uint64_t> hits{0}, misses{0}, reads{0}, prefetches{0}, writes{0}, copies{0}, evictions{0}, local_lookups{0};
  } counters;

  detail::HashHelper hasher;

  Impl(BlockStore& s, CacheOptions o) : store(s), options(o) {
    if (options.dirty_high_water == 0) options.dirty_high_water = options.budget / 2;
  }

  // Drops least recently used clean blocks nobody holds until under budget.
  void evict() {
    auto it = lru.end();
    while (clean_bytes + local_bytes > options.budget && it != lru.begin()) {
      --it;
      auto s = globals.find(*it);
      const BlockPtr& b = s->second.fetch->block();  // ready
      if (b.use_count() > 1) continue;            // someone is using it
      clean_bytes -= b->data.size();
      it = lru.erase(it);
      globals.erase(s);
      counters.evictions++;
    }
  }

  // Marks a slot ready after its first successful get.
  void settle(const Key& key, std::uint64_t id, const BlockPtr& b) {
    std::lock_guard lock(mu);
    settle_locked(key, id, b);
    evict();
  }

  void settle_locked(const Key& key, std::uint64_t id, const BlockPtr& b) {
    auto s = globals.find(key);
    if (s == globals.end() || s->second.id != id || s->second.ready) return;
    s->second.ready = true;
    lru.push_front(key);
    s->second.lru = lru.begin();
    clean_bytes += b->data.size();
  }

  void forget(const Key& key, std::uint64_t id) {
    std::lock_guard lock(mu);
    forget_locked(key, id);
  }

  void forget_locked(const Key& key, std::uint64_t id) {
    auto s = globals.find(key);
    if (s != globals.end() && s->second.id == id && !s->second.ready) globals.erase(s);
  }

  // Finds or creates the slot for `key`; `make` gives the fetch's work.
  template <typename Make>
  std::pair<std::shared_ptr<Fetch>, std::uint64_t> slot(const Key& key, bool& hit, Make make) {
    std::lock_guard lock(mu);
    return slot_locked(key, hit, make);
  }

  template <typename Make>
  std::pair<std::shared_ptr<Fetch>, std::uint64_t> slot_locked(const Key& key, bool& hit, Make make) {
    auto s = globals.find(key);
    if (s != globals.end()) {
      hit = true;
      if (s->second.ready) lru.splice(lru.begin(), lru, s->second.lru);
      return {s->second.fetch, s->second.id};
    }
    hit = false;
    std::uint64_t id = next_id++;
    auto f = std::make_shared<Fetch>(make());
    globals.emplace(key, Slot{f, id});
    return {f, id};
  }

  BlockPtr get(const Key& key, const std::shared_ptr<Fetch>& f, std::uint64_t id) {
    try {
      BlockPtr b = f->get();
      settle(key, id, b);
      return b;
    } catch (...) {
      forget(key, id);
      throw;
    }
  }

  // The work of fetching one block from the store.
  Fetch::Work fetch_one(const Key& key) {
    return [this, key] {
      Bytes data;
      if (!key.score.is_zero()) {
        data = store.get(key.score, to_wire(key.type));
        counters.reads++;
      }
      return make_block(key.type, key.score, std::move(data), key.size);
    };
  }

  std::uint32_t new_addr() {  // with mu held
    while (next_addr == 0 || locals.contains(next_addr)) next_addr++;
    return next_addr++;
  }

  BlockPtr add_local(BlockType type, Bytes data) {
    std::lock_guard lock(mu);
    std::uint32_t addr = new_addr();
    auto b = std::make_shared<Block>(Block{type, Score::local(addr), std::move(data)});
    local_bytes += b->data.size();
    locals.emplace(addr, b);
    evict();
    return b;
  }
};

Cache::Cache(BlockStore& store, CacheOptions options) : impl_(std::make_unique<Impl>(store, options)) {}
Cache::~Cache() = default;

BlockStore& Cache::store() { return impl_->store; }

BlockPtr Cache::global(const Score& score, BlockType type, std::size_t size) {
  require_stored(score);
  Key key{score, type, static_cast<std::uint32_t>(size)};
  bool hit;
  auto [f, id] = impl_->slot(key, hit, [&] { return impl_->fetch_one(key); });
  (hit ? impl_->counters.hits : impl_->counters.misses)++;
  return impl_->get(key, f, id);
}

std::vector<BlockPtr> Cache::global_many(std::span<const Score> scores, BlockType type, std::size_t size) {
  struct Want {
    Key key;
    std::shared_ptr<Fetch> fetch;
    std::uint64_t id;
    bool mine;  // this call fetches it
  };
  for (const Score& score : scores) require_stored(score);  // before claiming anything, or claims would be left unfinished
  std::vector<Want> wants;
  wants.reserve(scores.size());
  {
    std::lock_guard lock(impl_->mu);
    for (const Score& score : scores) {
      Key key{score, type, static_cast<std::uint32_t>(size)};
      bool hit;
      auto [f, id] = impl_->slot_locked(key, hit, [&] { return impl_->fetch_one(key); });
      (hit ? impl_->counters.hits : impl_->counters.misses)++;
      bool mine = !hit && f->claim();
      wants.push_back({key, std::move(f), id, mine});
    }
  }
  // What this call claimed, from the store in one request.
  std::vector<BlockKey> keys;
  std::vector<Want*> fetching;
  for (auto& w : wants) {
    if (!w.mine) continue;
    if (w.key.score.is_zero()) {
      w.fetch->run_claimed();
    } else {
      keys.push_back({w.key.score, to_wire(type)});
      fetching.push_back(&w);
    }
  }
  if (!keys.empty()) {
    std::vector<Bytes> data;
    try {
      data = impl_->store.get_many(keys);
      if (data.size() != keys.size()) throw Error(Errc::Corrupt, "store answered " + std::to_string(data.size()) + " blocks for " + std::to_string(keys.size()));
      impl_->counters.reads += keys.size();
    } catch (...) {
      // One by one, so that each block gets its own answer.
      for (auto* w : fetching) w->fetch->run_claimed();
      fetching.clear();
    }
    for (std::size_t i = 0; i < fetching.size(); i++) {
      try {
        fetching[i]->fetch->finish(make_block(type, fetching[i]->key.score, std::move(data[i]), size), nullptr);
      } catch (...) {
        fetching[i]->fetch->finish(nullptr, std::current_exception());
      }
    }
  }
  // Every claimed fetch is finished: waiting for the others cannot deadlock.
  std::vector<BlockPtr> out(wants.size());
  std::exception_ptr first_error;
  for (std::size_t i = 0; i < wants.size(); i++) {
    try {
      out[i] = wants[i].fetch->get();
    } catch (...) {
      if (!first_error) first_error = std::current_exception();
    }
  }
  std::lock_guard lock(impl_->mu);
  for (std::size_t i = 0; i < wants.size(); i++) {
    if (out[i])
      impl_->settle_locked(wants[i].key, wants[i].id, out[i]);
    else
      impl_->forget_locked(wants[i].key, wants[i].id);
  }
  impl_->evict();
  if (first_error) std::rethrow_exception(first_error);
  return out;
}

void Cache::prefetch(const Score& score, BlockType type, std::size_t size) {
  if (score.is_zero() || score.is_local() || !impl_->store.pipelined()) return;
  Key key{score, type, static_cast<std::uint32_t>(size)};
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->globals.contains(key)) return;
  }
  // Ask now, outside the lock; the reply is checked on first use.
  auto pending = std::make_shared<std::future<Bytes>>(impl_->store.get_async(score, to_wire(type)));
  bool hit;
  impl_->slot(key, hit, [&] { return [=] { return make_block(type, score, pending->get(), size); }; });
  if (!hit) {
    impl_->counters.prefetches++;
    impl_->counters.reads++;
  }
}

BlockPtr Cache::alloc(BlockType type, std::size_t size) {
  Bytes data;
  zero_extend(to_wire(type), data, size);
  return impl_->add_local(type, std::move(data));
}

BlockPtr Cache::copy(const Block& block) {
  impl_->counters.copies++;
  return impl_->add_local(block.type, block.data);
}

BlockPtr Cache::local(std::uint32_t addr) {
  impl_->counters.local_lookups++;
  std::lock_guard lock(impl_->mu);
  auto it = impl_->locals.find(addr);
  if (it == impl_->locals.end()) throw Error(Errc::Corrupt, "no local block at address " + std::to_string(addr));
  return it->second;
}

void Cache::free_local(std::uint32_t addr) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->locals.find(addr);
  if (it == impl_->locals.end()) return;
  impl_->local_bytes -= it->second->data.size();
  impl_->locals.erase(it);
}

void Cache::promote(std::uint32_t addr, const Score& score, std::optional<Bytes> data) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->locals.find(addr);
  if (it == impl_->locals.end()) return;
  BlockPtr b = std::move(it->second);
  impl_->locals.erase(it);
  impl_->local_bytes -= b->data.size();
  if (data) b->data = std::move(*data);
  b->score = score;
  Key key{score, b->type, static_cast<std::uint32_t>(b->data.size())};
  if (impl_->globals.contains(key)) return;  // an identical block is cached already
  Slot& slot = impl_->globals.emplace(key, Slot{std::make_shared<Fetch>(b), impl_->next_id++}).first->second;
  slot.ready = true;
  impl_->lru.push_front(key);
  slot.lru = impl_->lru.begin();
  impl_->clean_bytes += b->data.size();
  impl_->evict();
}

void Cache::drop(std::span<const BlockPtr> blocks) {
  std::lock_guard lock(impl_->mu);
  for (const BlockPtr& b : blocks) {
    auto s = impl_->globals.find(Key{b->score, b->type, static_cast<std::uint32_t>(b->data.size())});
    if (s == impl_->globals.end() || !s->second.ready || s->second.fetch->block() != b) continue;
    if (b.use_count() > 2) continue;  // the caller's reference, the cache's, and somebody's
    impl_->clean_bytes -= b->data.size();
    impl_->lru.erase(s->second.lru);
    impl_->globals.erase(s);
  }
}

Score Cache::write(BlockType type, std::span<const std::uint8_t> data) {
  WireType wire = to_wire(type);
  std::span<const std::uint8_t> stored = data.first(zero_truncated_size(wire, data));
  Score score = Score::of(stored);
  if (!score.is_zero()) {
    impl_->store.put_async(wire, stored, score);
    impl_->counters.writes++;
  }
  return score;
}

std::vector<Score> Cache::write_many(BlockType type, std::span<const std::span<const std::uint8_t>> blocks) {
  // Below this, waking the helper costs more than it saves.
  constexpr std::size_t kShared = 16;
  WireType wire = to_wire(type);
  std::vector<std::size_t> sizes(blocks.size());
  std::vector<Score> scores(blocks.size());
  auto hash = [&](std::size_t i) {
    sizes[i] = zero_truncated_size(wire, blocks[i]);
    scores[i] = Score::of(blocks[i].first(sizes[i]));
  };
  if (blocks.size() >= kShared) {
    impl_->hasher.for_each(blocks.size(), hash);
  } else {
    for (std::size_t i = 0; i < blocks.size(); i++) hash(i);
  }
  for (std::size_t i = 0; i < blocks.size(); i++) {
    if (scores[i].is_zero()) continue;
    impl_->store.put_async(wire, blocks[i].first(sizes[i]), scores[i]);
    impl_->counters.writes++;
  }
  return scores;
}

std::uint64_t Cache::write_mark() const { return impl_->write_failures.load(); }

void Cache::wait_writes(std::uint64_t mark) {
  std::lock_guard lock(impl_->wait_mu);
  try {
    impl_->store.wait_puts();
  } catch (...) {
    impl_->last_failure = std::current_exception();
    impl_->write_failures++;
    throw;
  }
  if (impl_->write_failures != mark) std::rethrow_exception(impl_->last_failure);
}

unsigned Cache::readahead() const { return impl_->options.readahead; }

std::size_t Cache::dirty_bytes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->local_bytes;
}

bool Cache::over_high_water() const { return dirty_bytes() > impl_->options.dirty_high_water; }

bool Cache::over_budget() const { return dirty_bytes() > impl_->options.budget; }

CacheStats Cache::stats() const {
  CacheStats s;
  auto& c = impl_->counters;
  s.hits = c.hits, s.misses = c.misses, s.reads = c.reads, s.prefetches = c.prefetches;
  s.writes = c.writes, s.copies = c.copies, s.evictions = c.evictions, s.local_lookups = c.local_lookups;
  std::lock_guard lock(impl_->mu);
  s.bytes_clean = impl_->clean_bytes;
  s.bytes_dirty = impl_->local_bytes;
  return s;
}

}  // namespace vt
