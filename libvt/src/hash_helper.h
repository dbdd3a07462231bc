// A second thread to hash on. A flush hashes thousands of blocks while the
// request that caused it waits, and on a small machine the other core is
// idle meanwhile.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace vt::detail {

class HashHelper {
 public:
  HashHelper() = default;
  ~HashHelper();
  HashHelper(const HashHelper&) = delete;
  HashHelper& operator=(const HashHelper&) = delete;

  // Calls work(i) for every i in [0, n): the upper half on the helper
  // thread (started on first use), the rest on the caller's. One caller at
  // a time; a second one meanwhile does all its work itself. Rethrows what
  // work threw.
  void for_each(std::size_t n, const std::function<void(std::size_t)>& work);

 private:
  void run();

  std::mutex busy_;  // held by the caller using the helper
  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void(std::size_t)>* work_ = nullptr;  // the helper's job, if any
  std::size_t from_ = 0, to_ = 0;
  bool stop_ = false;
  std::exception_ptr failure_;
  std::thread thread_;
};

}  // namespace vt::detail
