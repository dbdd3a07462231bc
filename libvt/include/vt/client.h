// A venti-02 client. One connection carries up to 256 outstanding requests
// from any number of threads; a reader thread hands replies back by tag, so
// replies may arrive in any order. When the connection drops, every waiting
// request fails with Error(Closed) and later ones fail at once.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "vt/message.h"
#include "vt/store.h"

namespace vt {

struct ClientOptions {
  std::string uid = "anonymous";
  std::size_t max_block = kDefaultMaxBlockSize;  // the Tread count
};

class Client final : public BlockStore {
 public:
  // Dials `address` ("" means $venti, else 127.0.0.1:17034), exchanges
  // version lines and Thello. Throws Error(Io) when refused, Error(Protocol)
  // on a version mismatch or a bad hello.
  static std::unique_ptr<Client> connect(const std::string& address, ClientOptions options = {});
  ~Client() override;  // says Tgoodbye and closes

  // Reads verify that SHA-1(data) is the score and the size fits; the zero
  // score is answered locally. An Rerror becomes Error(NotFound).
  Bytes get(const Score& score, WireType type) override;
  std::future<Bytes> get_async(const Score& score, WireType type) override;
  // All in flight at once; one wake-up for the batch, not one per block.
  std::vector<Bytes> get_many(std::span<const BlockKey> keys) override;
  // Computes the score locally and checks the server's Rwrite against it.
  Score put(WireType type, std::span<const std::uint8_t> data) override;
  void put_async(WireType type, std::span<const std::uint8_t> data, const Score& score) override;
  void wait_puts() override;
  bool has(const Score& score, WireType type) override;
  void sync() override;  // waits for outstanding puts, then Tsync
  bool pipelined() const override { return true; }

  void ping();
  // One raw round trip; Rerror comes back as a message, not an exception.
  Message call(Message request);
  // The reply (or the failure) is handed to `done` on the reader thread.
  using Done = std::function<void(Message* reply, std::exception_ptr error)>;
  void call_async(Message request, Done done);

  const std::string& address() const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vt
