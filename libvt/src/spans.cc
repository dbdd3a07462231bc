#include "spans.h"

#include <algorithm>
#include <exception>
#include <span>
#include <utility>

namespace vt::detail {

Spans::~Spans() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Spans::start(Span span) {
  {
    std::lock_guard lock(mu_);
    out_.push_back(span.parent.get());
    todo_.push_back(std::move(span));
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  cv_.notify_all();
}

std::vector<Spans::Span> Spans::collect(std::size_t out) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return todo_.size() + writing_ <= out; });
  std::vector<Span> done = std::exchange(done_, {});
  for (const Span& s : done) out_.erase(std::find(out_.begin(), out_.end(), s.parent.get()));
  return done;
}

bool Spans::empty() const {
  std::lock_guard lock(mu_);
  return out_.empty();
}

bool Spans::below(const Block* parent) const {
  std::lock_guard lock(mu_);
  return std::find(out_.begin(), out_.end(), parent) != out_.end();
}

void Spans::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !todo_.empty(); });
    if (stop_) return;
    Span s = std::move(todo_.front());
    todo_.pop_front();
    writing_++;
    lock.unlock();
    std::vector<std::span<const std::uint8_t>> data;
    for (const BlockPtr& b : s.leaves) data.emplace_back(b->data);
    try {
      const std::uint64_t mark = cache_.write_mark();
      s.scores = cache_.write_many(s.type, data);
      cache_.wait_writes(mark);
      s.stored = true;
    } catch (const std::exception&) {
      // The blocks stay local, for a flush to write and report on.
    }
    lock.lock();
    writing_--;
    done_.push_back(std::move(s));
    cv_.notify_all();
  }
}

}  // namespace vt::detail
