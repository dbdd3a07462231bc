// The write end of a log segment. Appends gather in memory and reach the
// file in large writes that, where the file system allows, bypass the page
// cache (O_DIRECT): the log is written once and read back rarely, and
// filling fresh page-cache pages cost more CPU than the disk write itself
// (measured in bench/). Direct writes cover whole aligned blocks only, so
// the partial last block stays in memory and is written again, whole, with
// the next write; write_out(true) also writes it through the page cache so
// that an fdatasync of the segment covers every byte.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "conn.h"

namespace vt::detail {

class Appender {
 public:
  static constexpr std::size_t kAlign = 4096;

  // Gathers up to `threshold` bytes (plus one record of at most `max_record`)
  // before full() says to write them out.
  Appender(std::size_t threshold, std::size_t max_record);

  bool started() const { return fd_ >= 0; }
  // Starts appending to the segment at `path`, open read-write as `fd`
  // (not owned), whose records end at `size`.
  void start(const std::filesystem::path& path, int fd, std::uint64_t size);
  // Writes out everything and stops; the segment is finished. No flight
  // may be under way.
  void stop();

  // Throws Error(Io) once the buffer is full of bytes that could not be
  // written (the disk keeps failing).
  void append(std::span<const std::uint8_t> head, std::span<const std::uint8_t> data);
  bool full() const { return len_ >= threshold_; }
  // Writes what is gathered except the partial last block; with `all`, that
  // block too (through the page cache), so the file holds every byte. No
  // flight may be under way; a failed one is written first.
  void write_out(bool all);

  // A write-out done without the caller's lock, so appends go on into a
  // second buffer meanwhile (one O_DIRECT MiB takes a millisecond):
  //   take()    under the lock: hands over the whole blocks gathered;
  //   send()    without it: writes them;
  //   landed()  under the lock again: frees the buffer, or (after one more
  //             try) keeps the bytes for the next take() or write_out()
  //             and throws.
  // While a flight is under way reads are answered from its buffer.
  struct Flight {
    std::span<const std::uint8_t> bytes;
    std::uint64_t at;
  };
  bool in_flight() const { return flight_len_ > 0 && !flight_failed_; }
  // The last write-out failed; its bytes are held for the next take().
  bool refused() const { return flight_failed_; }
  std::optional<Flight> take();
  bool send(const Flight& f) const;  // false: the disk refused
  void landed(bool sent);

  // Copies the record at file offset `off` into `head` and `data` if its
  // end is held here. Its start may be in the file already: with `nowait`,
  // that part is read only if the page cache has it.
  enum class Read { in_file, copied, would_block };
  Read read(std::uint64_t off, std::span<std::uint8_t> head, std::span<std::uint8_t> data, bool nowait) const;

  bool direct() const { return static_cast<bool>(direct_); }
  // Records that end at or before this file offset are wholly in the file.
  std::uint64_t in_file_end() const { return !started() ? UINT64_MAX : flight_at(); }

 private:
  struct Free {
    void operator()(std::uint8_t* p) const { std::free(p); }
  };
  using Buffer = std::unique_ptr<std::uint8_t, Free>;
  Buffer make_buffer() const;
  // Writes `n` bytes of `from` at `at`: direct if it can, else (or for
  // what the file system refused) through the page cache. Throws.
  void write_now(const std::uint8_t* from, std::size_t n, std::uint64_t at);
  void land_failed_flight();
  // The flight's bytes come just before base_ (at base_ when there is none).
  std::uint64_t flight_at() const { return base_ - flight_len_; }

  std::size_t threshold_, capacity_;
  Buffer buf_;  // kAlign-aligned, for O_DIRECT
  std::size_t len_ = 0;
  std::uint64_t base_ = 0;  // file offset of buf_[0]; aligned when direct
  // The buffer taken for a write-out, holding [flight_at(), base_).
  Buffer flight_;
  std::size_t flight_len_ = 0;
  bool flight_failed_ = false;
  std::string refusal_;  // why it failed, for the appends it holds up
  Buffer spare_;
  int fd_ = -1;
  Fd direct_;
  std::string name_;
};

}  // namespace vt::detail
