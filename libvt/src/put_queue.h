// Private: put_async's queue for a store whose writes are synchronous (the
// log store). One thread drains it into `sink`, so a caller hashing its next
// blocks and the store writing the last ones run on two cores at once.
// Queued blocks can be read back before they reach the store.
//
// The thread takes blocks a batch at a time. A push that starts a batch
// wakes it; it then lingers (kLinger at most) until the batch fills, so a
// trickle of small puts, one per small file copied in, costs a wake-up per
// batch instead of one per block. wait() and a full queue end the linger.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <unordered_map>

#include "log_index.h"

namespace vt::detail {

class PutQueue {
 public:
  using Sink = std::function<void(const IndexKey&, std::span<const std::uint8_t>)>;
  PutQueue(std::size_t max_bytes, Sink sink);
  ~PutQueue();  // drains the queue, then stops
  PutQueue(const PutQueue&) = delete;
  PutQueue& operator=(const PutQueue&) = delete;

  // Waits while the queue is full. False if the block is queued already.
  bool push(const IndexKey& key, Bytes data);
  std::optional<Bytes> find(const IndexKey& key) const;
  bool contains(const IndexKey& key) const;
  // Returns once every block pushed before has been through the sink;
  // rethrows the first failure since the last wait.
  void wait();
  // Turns the thread has taken, each a batch handed to the sink.
  std::uint64_t turns() const;

  static constexpr std::size_t kBatch = 32;  // blocks taken per turn
  static constexpr std::chrono::milliseconds kLinger{20};

 private:
  void run();
  bool batch_ready() const { return order_.size() >= kBatch || waiters_ > 0 || stop_ || bytes_ >= max_bytes_ / 2; }

  const std::size_t max_bytes_;
  const Sink sink_;
  mutable std::mutex mu_;
  std::condition_variable work_, room_;
  std::unordered_map<IndexKey, Bytes, IndexKeyHash> blocks_;  // nodes stay put until drained
  std::deque<IndexKey> order_;
  std::size_t bytes_ = 0;
  unsigned draining_ = 0;  // taken from order_, not yet erased
  unsigned waiters_ = 0;   // in wait(): no lingering
  std::uint64_t turns_ = 0;
  bool stop_ = false;
  std::exception_ptr failure_;
  std::thread thread_;
};

}  // namespace vt::detail
