// Redial: a BlockStore over a venti server that survives the server going
// away. An operation on a dead connection fails (Error(Closed) or
// Error(Io)); the next one dials again, at most every `retry` interval. A
// request the server refuses (Error(Refused)) leaves the connection be.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "vt/client.h"
#include "vt/error.h"

namespace vt {

class Redial final : public BlockStore {
 public:
  // Dials once now, so a bad address or a dead server fails at once.
  explicit Redial(std::string address, std::chrono::milliseconds retry = std::chrono::milliseconds(500));

  Bytes get(const Score& score, WireType type) override;
  std::future<Bytes> get_async(const Score& score, WireType type) override;
  std::vector<Bytes> get_many(std::span<const BlockKey> keys) override;
  Score put(WireType type, std::span<const std::uint8_t> data) override;
  void put_async(WireType type, std::span<const std::uint8_t> data, const Score& score) override;
  void wait_puts() override;
  bool has(const Score& score, WireType type) override;
  void sync() override;
  bool pipelined() const override { return true; }

  const std::string& address() const { return address_; }

 private:
  std::shared_ptr<Client> client();  // the live client, dialing if needed
  void lost(const std::shared_ptr<Client>& c, const Error& why);
  template <typename F>
  auto with_client(F f);

  std::string address_;
  std::chrono::milliseconds retry_;
  std::mutex mu_;
  std::shared_ptr<Client> client_;
  std::chrono::steady_clock::time_point last_dial_{};
  std::string last_error_;
  bool unconfirmed_ = false;  // put_async since the last wait_puts
  bool puts_lost_ = false;    // ...and a connection died under them
};

}  // namespace vt
