#include "vt/radosstore.h"

#include <rados/librados.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <utility>

#include "vt/error.h"

namespace vt {

namespace {

std::string object_name(const Score& s, WireType t) { return s.hex() + "." + std::to_string(t.value); }

Error rados_error(int rc, const std::string& what) {
  return Error(rc == -ENOENT ? Errc::NotFound : Errc::Io, what + ": " + std::strerror(-rc));
}

}  // namespace

RadosOptions parse_rados_spec(const std::string& spec) {
  if (!spec.starts_with("rados:")) throw Error(Errc::Invalid, "not a rados store: '" + spec + "'");
  RadosOptions o;
  std::string rest = spec.substr(6);
  std::size_t at = 0;
  for (bool first = true; at <= rest.size(); first = false) {
    auto comma = rest.find(',', at);
    std::string part = rest.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (first) {
      o.pool = part;
    } else if (part.starts_with("conf=")) {
      o.conf = part.substr(5);
    } else if (part.starts_with("id=")) {
      o.id = part.substr(3);
    } else if (part.starts_with("timeout=")) {
      o.timeout_seconds = std::stoi(part.substr(8));
    } else {
      throw Error(Errc::Invalid, "unknown rados option '" + part + "' (want conf=, id=, timeout=)");
    }
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  if (o.pool.empty()) throw Error(Errc::Invalid, "rados store needs a pool: rados:POOL[,conf=PATH][,id=NAME]");
  return o;
}

struct RadosStore::Impl {
  rados_t cluster = nullptr;
  rados_ioctx_t io = nullptr;
  RadosOptions options;

  std::mutex mu;
  std::condition_variable done;
  std::size_t in_flight = 0;  // writes not yet acknowledged
  std::exception_ptr error;   // the first failed one since the last wait

  struct {
    std::atomic<std::uint64_t> writes{0}, dedup_hits{0}, reads{0}, errors{0};
  } counters;

  ~Impl() {
    if (io) {
      rados_aio_flush(io);  // no completion may run after this
      rados_ioctx_destroy(io);
    }
    if (cluster) rados_shutdown(cluster);
  }

  void write_finished(int rc, const std::string& name) {
    std::lock_guard lock(mu);
    if (rc == -EEXIST) {
      counters.dedup_hits++;
    } else if (rc < 0) {
      counters.errors++;
      if (!error) error = std::make_exception_ptr(rados_error(rc, "rados write " + name));
    }
    in_flight--;
    done.notify_all();  // under the lock: the waiter may free this store next
  }

  // An asynchronous write: an exclusive create with the whole block.
  struct PendingWrite {
    Impl* impl;
    std::string name;
    Bytes data;
    rados_write_op_t op = nullptr;
    rados_completion_t completion = nullptr;

    static void finished(rados_completion_t c, void* arg) {
      std::unique_ptr<PendingWrite> w(static_cast<PendingWrite*>(arg));
      int rc = rados_aio_get_return_value(c);
      rados_release_write_op(w->op);
      rados_aio_release(c);
      w->impl->write_finished(rc, w->name);
    }
  };

  struct PendingRead {
    std::string name;
    Score score;
    Bytes buf;
    std::promise<Bytes> promise;
    Impl* impl;

    static void finished(rados_completion_t c, void* arg) {
      std::unique_ptr<PendingRead> r(static_cast<PendingRead*>(arg));
      int rc = rados_aio_get_return_value(c);
      rados_aio_release(c);
      try {
        if (rc < 0) {
          if (rc != -ENOENT) r->impl->counters.errors++;
          throw rados_error(rc, "rados read " + r->name);
        }
        r->buf.resize(static_cast<std::size_t>(rc));
        if (Score::of(r->buf) != r->score) {
          r->impl->counters.errors++;
          throw Error(Errc::Corrupt, "rados object " + r->name + " does not hash to its name");
        }
        r->impl->counters.reads++;
        r->promise.set_value(std::move(r->buf));
      } catch (...) {
        r->promise.set_exception(std::current_exception());
      }
    }
  };
};

RadosStore::RadosStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<RadosStore> RadosStore::open(const RadosOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  auto check = [](int rc, const std::string& what) {
    if (rc < 0) throw Error(Errc::Io, "ceph: " + what + ": " + std::strerror(-rc));
  };
  check(rados_create(&impl->cluster, options.id.empty() ? nullptr : options.id.c_str()), "create client");
  check(rados_conf_read_file(impl->cluster, options.conf.empty() ? nullptr : options.conf.c_str()),
        "read configuration " + (options.conf.empty() ? std::string("(default)") : options.conf));
  // Several front ends share one ceph.conf: no admin socket (they would
  // fight over its path), and Ceph's own log stays off our stderr.
  check(rados_conf_set(impl->cluster, "admin_socket", ""), "admin_socket");
  check(rados_conf_set(impl->cluster, "log_to_stderr", "false"), "log_to_stderr");
  if (options.timeout_seconds > 0) {
    std::string t = std::to_string(options.timeout_seconds);
    for (const char* key : {"client_mount_timeout", "rados_mon_op_timeout", "rados_osd_op_timeout"}) check(rados_conf_set(impl->cluster, key, t.c_str()), key);
  }
  int rc = rados_connect(impl->cluster);
  if (rc < 0) {
    rados_shutdown(impl->cluster);
    impl->cluster = nullptr;
    throw Error(Errc::Io, "cannot reach the ceph cluster: " + std::string(std::strerror(-rc)));
  }
  check(rados_ioctx_create(impl->cluster, options.pool.c_str(), &impl->io), "open pool '" + options.pool + "'");
  return std::unique_ptr<RadosStore>(new RadosStore(std::move(impl)));
}

RadosStore::~RadosStore() {
  std::unique_lock lock(impl_->mu);
  impl_->done.wait(lock, [&] { return impl_->in_flight == 0; });
}

std::future<Bytes> RadosStore::get_async(const Score& score, WireType type) {
  if (score.is_zero()) {
    std::promise<Bytes> p;
    p.set_value({});
    return p.get_future();
  }
  auto r = std::make_unique<Impl::PendingRead>();
  r->name = object_name(score, type);
  r->score = score;
  r->buf.resize(impl_->options.max_block + 1);  // one more: an overlong object is caught by the hash
  r->impl = impl_.get();
  auto f = r->promise.get_future();
  rados_completion_t c;
  if (int rc = rados_aio_create_completion2(r.get(), Impl::PendingRead::finished, &c); rc < 0) throw rados_error(rc, "rados completion");
  if (int rc = rados_aio_read(impl_->io, r->name.c_str(), c, reinterpret_cast<char*>(r->buf.data()), r->buf.size(), 0); rc < 0) {
    rados_aio_release(c);
    throw rados_error(rc, "rados read " + r->name);
  }
  r.release();  // the completion owns it now
  return f;
}

Bytes RadosStore::get(const Score& score, WireType type) { return get_async(score, type).get(); }

void RadosStore::put_async(WireType type, std::span<const std::uint8_t> data, const Score& score) {
  check_block(type, data.size(), impl_->options.max_block);
  if (score.is_zero()) return;
  auto w = std::make_unique<Impl::PendingWrite>();
  w->impl = impl_.get();
  w->name = object_name(score, type);
  w->data.assign(data.begin(), data.end());
  w->op = rados_create_write_op();
  rados_write_op_create(w->op, LIBRADOS_CREATE_EXCLUSIVE, nullptr);
  rados_write_op_write_full(w->op, reinterpret_cast<const char*>(w->data.data()), w->data.size());
  {
    std::lock_guard lock(impl_->mu);
    impl_->in_flight++;
  }
  impl_->counters.writes++;
  int rc = rados_aio_create_completion2(w.get(), Impl::PendingWrite::finished, &w->completion);
  if (rc >= 0) rc = rados_aio_write_op_operate(w->op, impl_->io, w->completion, w->name.c_str(), nullptr, 0);
  if (rc < 0) {
    if (w->completion) rados_aio_release(w->completion);
    rados_release_write_op(w->op);
    impl_->write_finished(rc, w->name);
    throw rados_error(rc, "rados write " + w->name);
  }
  w.release();
}

Score RadosStore::put(WireType type, std::span<const std::uint8_t> data) {
  Score s = Score::of(data);
  put_async(type, data, s);
  wait_puts();
  return s;
}

void RadosStore::wait_puts() {
  std::unique_lock lock(impl_->mu);
  impl_->done.wait(lock, [&] { return impl_->in_flight == 0; });
  if (auto e = std::exchange(impl_->error, nullptr)) std::rethrow_exception(e);
}

bool RadosStore::has(const Score& score, WireType type) {
  if (score.is_zero()) return true;
  std::uint64_t size;
  time_t mtime;
  int rc = rados_stat(impl_->io, object_name(score, type).c_str(), &size, &mtime);
  if (rc == -ENOENT) return false;
  if (rc < 0) throw rados_error(rc, "rados stat");
  return true;
}

// RADOS acknowledges a write once it is durable on the pool's replicas, so
// waiting for the acknowledgements is the sync.
void RadosStore::sync() { wait_puts(); }

RadosStore::Stats RadosStore::stats() const {
  auto& c = impl_->counters;
  return Stats{c.writes, c.dedup_hits, c.reads, c.errors};
}

}  // namespace vt
