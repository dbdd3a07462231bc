#include "hash_helper.h"

#include <utility>

namespace vt::detail {

HashHelper::~HashHelper() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HashHelper::for_each(std::size_t n, const std::function<void(std::size_t)>& work) {
  std::unique_lock busy(busy_, std::try_to_lock);
  if (!busy || n < 2) {
    for (std::size_t i = 0; i < n; i++) work(i);
    return;
  }
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  const std::size_t half = n / 2;
  {
    std::lock_guard lock(mu_);
    work_ = &work;
    from_ = half;
    to_ = n;
  }
  cv_.notify_all();
  std::exception_ptr mine;
  try {
    for (std::size_t i = 0; i < half; i++) work(i);
  } catch (...) {
    mine = std::current_exception();
  }
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return work_ == nullptr; });  // `work` must outlive the helper's use
  std::exception_ptr theirs = std::exchange(failure_, nullptr);
  if (mine) std::rethrow_exception(mine);
  if (theirs) std::rethrow_exception(theirs);
}

void HashHelper::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || work_; });
    if (!work_) return;  // stopping
    const auto* work = work_;
    const std::size_t from = from_, to = to_;
    lock.unlock();
    std::exception_ptr failed;
    try {
      for (std::size_t i = from; i < to; i++) (*work)(i);
    } catch (...) {
      failed = std::current_exception();
    }
    lock.lock();
    failure_ = failed;
    work_ = nullptr;
    cv_.notify_all();
  }
}

}  // namespace vt::detail
