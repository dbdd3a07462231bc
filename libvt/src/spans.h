// The spans an appending writer completes (the data blocks below one level-1
// pointer block, a few MiB), hashed and stored on a thread of their own.
// The writer's next request then need not wait for the hashing: on a small
// machine the copy goes on on one core while the other hashes.
//
// A span's blocks must not change while it is out: File waits for the
// spans (collect(0)) before anything but an append past them.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "vt/cache.h"

namespace vt::detail {

class Spans {
 public:
  struct Span {
    BlockType type;
    BlockPtr parent;               // the level-1 pointer block
    std::vector<std::size_t> at;   // its slots that held local blocks
    std::vector<BlockPtr> leaves;  // those blocks
    std::vector<Score> scores;     // theirs, once stored
    bool stored = false;           // every write confirmed
  };

  explicit Spans(Cache& cache) : cache_(cache) {}
  ~Spans();  // waits for the span being written; the rest are dropped
  Spans(const Spans&) = delete;
  Spans& operator=(const Spans&) = delete;

  void start(Span span);
  // Waits until at most `out` spans are left being written, and returns the
  // ones done, oldest first.
  std::vector<Span> collect(std::size_t out);
  bool empty() const;  // nothing out or uncollected
  // A span out or uncollected lies below this pointer block.
  bool below(const Block* parent) const;

 private:
  void run();

  Cache& cache_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Span> todo_;
  std::size_t writing_ = 0;        // taken from todo_, not yet done
  std::vector<Span> done_;
  std::vector<const Block*> out_;  // parents of all the above
  bool stop_ = false;
  std::thread thread_;             // started with the first span
};

}  // namespace vt::detail
