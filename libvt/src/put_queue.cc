#include "put_queue.h"

#include <utility>
#include <vector>

namespace vt::detail {

PutQueue::PutQueue(std::size_t max_bytes, Sink sink) : max_bytes_(max_bytes), sink_(std::move(sink)), thread_([this] { run(); }) {}

PutQueue::~PutQueue() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_.notify_one();
  thread_.join();
}

bool PutQueue::push(const IndexKey& key, Bytes data) {
  std::unique_lock lock(mu_);
  room_.wait(lock, [&] { return bytes_ < max_bytes_; });
  std::size_t size = data.size();
  if (!blocks_.try_emplace(key, std::move(data)).second) return false;
  bytes_ += size;
  order_.push_back(key);
  if (order_.size() == 1 || batch_ready()) work_.notify_one();
  return true;
}

std::optional<Bytes> PutQueue::find(const IndexKey& key) const {
  std::lock_guard lock(mu_);
  auto it = blocks_.find(key);
  if (it == blocks_.end()) return std::nullopt;
  return it->second;
}

bool PutQueue::contains(const IndexKey& key) const {
  std::lock_guard lock(mu_);
  return blocks_.contains(key);
}

void PutQueue::wait() {
  std::unique_lock lock(mu_);
  waiters_++;
  work_.notify_one();
  room_.wait(lock, [&] { return order_.empty() && draining_ == 0; });
  waiters_--;
  if (auto e = std::exchange(failure_, nullptr)) std::rethrow_exception(e);
}

void PutQueue::run() {
  std::vector<std::pair<IndexKey, const Bytes*>> batch;
  std::unique_lock lock(mu_);
  for (;;) {
    work_.wait(lock, [&] { return stop_ || !order_.empty(); });
    if (order_.empty()) return;  // stopping, and drained
    work_.wait_for(lock, kLinger, [&] { return batch_ready(); });
    turns_++;
    batch.clear();
    while (!order_.empty() && batch.size() < kBatch) {
      batch.emplace_back(order_.front(), &blocks_.at(order_.front()));
      order_.pop_front();
    }
    draining_ = static_cast<unsigned>(batch.size());
    lock.unlock();
    std::exception_ptr failed;
    for (auto& [key, data] : batch) {
      try {
        sink_(key, *data);
      } catch (...) {
        if (!failed) failed = std::current_exception();
      }
    }
    lock.lock();
    for (auto& [key, data] : batch) {
      bytes_ -= data->size();
      blocks_.erase(key);
    }
    draining_ = 0;
    if (failed && !failure_) failure_ = failed;
    room_.notify_all();
  }
}

std::uint64_t PutQueue::turns() const {
  std::lock_guard lock(mu_);
  return turns_;
}

}  // namespace vt::detail
