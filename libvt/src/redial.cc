#include "vt/redial.h"

#include "vt/error.h"

namespace vt {

namespace {

// A failure of the connection, not an answer over it: a server that refuses
// a write (its disk is full) is still there, and dialing it again would only
// add the redial pause to every call until it takes writes again.
bool connection_error(const Error& e) { return e.code() == Errc::Closed || e.code() == Errc::Io; }

}  // namespace

Redial::Redial(std::string address, std::chrono::milliseconds retry) : address_(std::move(address)), retry_(retry) {
  client_ = Client::connect(address_);
  last_dial_ = std::chrono::steady_clock::now();
}

std::shared_ptr<Client> Redial::client() {
  std::lock_guard lock(mu_);
  if (client_) return client_;
  auto now = std::chrono::steady_clock::now();
  if (now - last_dial_ < retry_) throw Error(Errc::Closed, "venti server " + address_ + " is unreachable: " + last_error_);
  last_dial_ = now;
  try {
    client_ = Client::connect(address_);
  } catch (const Error& e) {
    last_error_ = e.what();
    throw;
  }
  return client_;
}

void Redial::lost(const std::shared_ptr<Client>& c, const Error& why) {
  std::lock_guard lock(mu_);
  if (client_ != c) return;
  last_error_ = why.what();
  client_.reset();  // the next call dials again
  if (unconfirmed_) puts_lost_ = true;  // writes went down with it
}

template <typename F>
auto Redial::with_client(F f) {
  auto c = client();
  try {
    return f(*c);
  } catch (const Error& e) {
    if (connection_error(e)) lost(c, e);
    throw;
  }
}

Bytes Redial::get(const Score& score, WireType type) {
  return with_client([&](Client& c) { return c.get(score, type); });
}

std::future<Bytes> Redial::get_async(const Score& score, WireType type) {
  auto c = client();
  // A failure shows only when the future is read; forget the client then.
  auto inner = std::make_shared<std::future<Bytes>>(c->get_async(score, type));
  return std::async(std::launch::deferred, [this, c, inner] {
    try {
      return inner->get();
    } catch (const Error& e) {
      if (connection_error(e)) lost(c, e);
      throw;
    }
  });
}

std::vector<Bytes> Redial::get_many(std::span<const BlockKey> keys) {
  return with_client([&](Client& c) { return c.get_many(keys); });
}

Score Redial::put(WireType type, std::span<const std::uint8_t> data) {
  return with_client([&](Client& c) { return c.put(type, data); });
}

void Redial::put_async(WireType type, std::span<const std::uint8_t> data, const Score& score) {
  {
    std::lock_guard lock(mu_);
    unconfirmed_ = true;
  }
  with_client([&](Client& c) {
    c.put_async(type, data, score);
    return 0;
  });
}

void Redial::wait_puts() {
  std::shared_ptr<Client> c;
  {
    std::lock_guard lock(mu_);
    if (puts_lost_) {  // some writes since the last wait died with a connection
      puts_lost_ = unconfirmed_ = false;
      throw Error(Errc::Closed, "venti server " + address_ + ": writes were lost with the connection: " + last_error_);
    }
    c = client_;
  }
  if (!c) return;
  try {
    c->wait_puts();
  } catch (const Error& e) {
    if (connection_error(e)) lost(c, e);
    std::lock_guard lock(mu_);
    puts_lost_ = unconfirmed_ = false;
    throw;
  }
  std::lock_guard lock(mu_);
  if (puts_lost_) {
    puts_lost_ = unconfirmed_ = false;
    throw Error(Errc::Closed, "venti server " + address_ + ": writes were lost with the connection: " + last_error_);
  }
  unconfirmed_ = false;
}

bool Redial::has(const Score& score, WireType type) {
  return with_client([&](Client& c) { return c.has(score, type); });
}

void Redial::sync() {
  with_client([&](Client& c) {
    c.sync();
    return 0;
  });
}

}  // namespace vt
