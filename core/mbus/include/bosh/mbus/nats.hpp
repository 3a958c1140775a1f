// NATS through libnats (cnats): the message bus between the director, the
// agents and the health monitor. User/password (in the URL or given), TLS
// with a CA and optionally a client certificate, reconnect with exponential
// backoff. Credentials never appear in errors or logs.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "bosh/common/error.hpp"

namespace bosh::mbus {

class MbusError : public Error {
 public:
  using Error::Error;
};

class MbusTimeout : public MbusError {
 public:
  using MbusError::MbusError;
};

struct NatsOptions {
  std::string url;                 // nats://user:pass@127.0.0.1:4222 or tls://...
  std::string user, password;      // override the URL's
  std::optional<std::filesystem::path> ca_file;    // TLS: trust this CA
  std::optional<std::filesystem::path> cert_file;  // TLS: client certificate (mutual TLS)
  std::optional<std::filesystem::path> key_file;
  std::string name = "bosh";       // shown by the server
  std::chrono::milliseconds connect_timeout{2000};
  int max_reconnect = -1;          // -1: forever
  std::chrono::milliseconds reconnect_base{100};  // backoff: base * 2^attempt, capped
  std::chrono::milliseconds reconnect_cap{5000};
  bool retry_initial_connect = false;  // keep trying in the background instead of failing
  bool send_asap = true;  // write each message at once instead of batching (small, latency-bound traffic)
};

struct Message {
  std::string subject;
  std::string reply;  // the NATS reply subject, if any
  std::string data;
};

class Subscription {
 public:
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  void unsubscribe();

 private:
  friend class NatsConnection;
  struct Impl;
  explicit Subscription(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class NatsConnection {
 public:
  // Connects; MbusError "<url with password redacted>: <cnats text>" on failure.
  explicit NatsConnection(const NatsOptions& options);
  ~NatsConnection();
  NatsConnection(const NatsConnection&) = delete;
  NatsConnection& operator=(const NatsConnection&) = delete;

  void publish(const std::string& subject, std::string_view data, const std::string& reply = "");
  // The handler runs on a libnats thread, one message at a time per subscription.
  std::unique_ptr<Subscription> subscribe(const std::string& subject, std::function<void(const Message&)> handler);
  // NATS request/reply with an inbox; MbusTimeout when no reply comes.
  std::string request(const std::string& subject, std::string_view data, std::chrono::milliseconds timeout);
  void flush(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  bool connected() const;
  // Reconnects seen since the connection was made.
  int reconnects() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bosh::mbus
