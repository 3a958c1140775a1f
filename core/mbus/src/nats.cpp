#include "bosh/mbus/nats.hpp"

#include <nats/nats.h>

#include <atomic>
#include <random>

#include "bosh/common/log.hpp"

namespace bosh::mbus {

namespace {

constexpr std::string_view kLog = "mbus";

std::string last_error(natsStatus s) {
  const char* text = nats_GetLastError(nullptr);
  std::string out = natsStatus_GetText(s);
  if (text && *text && out.find(text) == std::string::npos) out += std::string(": ") + text;
  return out;
}

void check(natsStatus s, const std::string& what) {
  if (s != NATS_OK) throw MbusError(what + ": " + last_error(s));
}

}  // namespace

struct Subscription::Impl {
  natsSubscription* sub = nullptr;
  std::function<void(const Message&)> handler;
  ~Impl() {
    if (sub) {
      natsSubscription_Unsubscribe(sub);
      natsSubscription_Destroy(sub);
    }
  }
};

Subscription::Subscription(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Subscription::~Subscription() = default;
void Subscription::unsubscribe() { impl_.reset(); }

// What libnats' callbacks use. They run on libnats threads and may fire
// while (or after) the connection is being destroyed, so this lives on the
// heap until the "closed" callback, always the last one, deletes it.
struct CallbackState {
  std::string shown_url;
  std::chrono::milliseconds base{100}, cap{5000};
  std::atomic<int> reconnects{0};
  std::atomic<bool> closing{false};

  static int64_t backoff(natsConnection*, int attempts, void* closure) {
    auto* self = static_cast<CallbackState*>(closure);
    static thread_local std::mt19937 rng{std::random_device{}()};
    int64_t delay = self->base.count() << std::min(attempts, 16);
    delay = std::max<int64_t>(1, std::min<int64_t>(delay, self->cap.count()));
    return delay / 2 + static_cast<int64_t>(rng() % static_cast<unsigned>(delay / 2 + 1));
  }
  static void on_disconnected(natsConnection*, void* closure) {
    auto* self = static_cast<CallbackState*>(closure);
    if (!self->closing) log::warn(kLog, "disconnected from {}", self->shown_url);
  }
  static void on_reconnected(natsConnection*, void* closure) {
    auto* self = static_cast<CallbackState*>(closure);
    ++self->reconnects;
    log::info(kLog, "reconnected to {}", self->shown_url);
  }
  static void on_closed(natsConnection*, void* closure) { delete static_cast<CallbackState*>(closure); }
};

struct NatsConnection::Impl {
  natsOptions* opts = nullptr;
  natsConnection* conn = nullptr;
  CallbackState* state = new CallbackState;

  ~Impl() {
    state->closing = true;
    if (conn) {
      natsConnection_Close(conn);  // the closed callback deletes `state`
      natsConnection_Destroy(conn);
    } else {
      delete state;
    }
    if (opts) natsOptions_Destroy(opts);
  }
};

NatsConnection::NatsConnection(const NatsOptions& options) : impl_(std::make_unique<Impl>()) {
  CallbackState* state = impl_->state;
  state->shown_url = log::redact_url(options.url);
  state->base = options.reconnect_base;
  state->cap = options.reconnect_cap;
  const std::string what = "NATS " + state->shown_url;
  check(natsOptions_Create(&impl_->opts), what);
  natsOptions* o = impl_->opts;
  check(natsOptions_SetURL(o, options.url.c_str()), what);
  if (!options.user.empty())
    check(natsOptions_SetUserInfo(o, options.user.c_str(), options.password.c_str()), what);
  check(natsOptions_SetName(o, options.name.c_str()), what);
  check(natsOptions_SetTimeout(o, options.connect_timeout.count()), what);
  check(natsOptions_SetMaxReconnect(o, options.max_reconnect), what);
  check(natsOptions_SetCustomReconnectDelay(o, &CallbackState::backoff, state), what);
  check(natsOptions_SetDisconnectedCB(o, &CallbackState::on_disconnected, state), what);
  check(natsOptions_SetReconnectedCB(o, &CallbackState::on_reconnected, state), what);
  check(natsOptions_SetClosedCB(o, &CallbackState::on_closed, state), what);
  if (options.ca_file || options.url.rfind("tls://", 0) == 0) {
    check(natsOptions_SetSecure(o, true), what);
    if (options.ca_file)
      check(natsOptions_LoadCATrustedCertificates(o, options.ca_file->c_str()), what + ": CA " + options.ca_file->string());
  }
  if (options.cert_file && options.key_file)
    check(natsOptions_LoadCertificatesChain(o, options.cert_file->c_str(), options.key_file->c_str()),
          what + ": client certificate " + options.cert_file->string());
  check(natsOptions_SetSendAsap(o, options.send_asap), what);
  if (options.retry_initial_connect) check(natsOptions_SetRetryOnFailedConnect(o, true, nullptr, nullptr), what);
  natsStatus s = natsConnection_Connect(&impl_->conn, o);
  if (s == NATS_NOT_YET_CONNECTED) return;  // retrying in the background
  check(s, "cannot connect to " + what);
  log::debug(kLog, "connected to {}", state->shown_url);
}

NatsConnection::~NatsConnection() = default;

void NatsConnection::publish(const std::string& subject, std::string_view data, const std::string& reply) {
  natsStatus s = reply.empty()
                     ? natsConnection_Publish(impl_->conn, subject.c_str(), data.data(), static_cast<int>(data.size()))
                     : natsConnection_PublishRequest(impl_->conn, subject.c_str(), reply.c_str(), data.data(),
                                                     static_cast<int>(data.size()));
  check(s, "publishing to " + subject);
}

std::unique_ptr<Subscription> NatsConnection::subscribe(const std::string& subject,
                                                        std::function<void(const Message&)> handler) {
  auto impl = std::make_unique<Subscription::Impl>();
  impl->handler = std::move(handler);
  auto callback = [](natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* self = static_cast<Subscription::Impl*>(closure);
    Message m;
    m.subject = natsMsg_GetSubject(msg);
    if (const char* reply = natsMsg_GetReply(msg)) m.reply = reply;
    m.data.assign(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
    natsMsg_Destroy(msg);
    try {
      self->handler(m);
    } catch (const std::exception& e) {
      log::error(kLog, "handler for {} failed: {}", m.subject, e.what());
    }
  };
  check(natsConnection_Subscribe(&impl->sub, impl_->conn, subject.c_str(), callback, impl.get()),
        "subscribing to " + subject);
  return std::unique_ptr<Subscription>(new Subscription(std::move(impl)));
}

std::string NatsConnection::request(const std::string& subject, std::string_view data,
                                    std::chrono::milliseconds timeout) {
  natsMsg* reply = nullptr;
  natsStatus s = natsConnection_Request(&reply, impl_->conn, subject.c_str(), data.data(),
                                        static_cast<int>(data.size()), timeout.count());
  if (s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS)
    throw MbusTimeout(fmt::format("no reply on {} within {} ms", subject, timeout.count()));
  check(s, "request to " + subject);
  std::string out(natsMsg_GetData(reply), static_cast<std::size_t>(natsMsg_GetDataLength(reply)));
  natsMsg_Destroy(reply);
  return out;
}

void NatsConnection::flush(std::chrono::milliseconds timeout) {
  check(natsConnection_FlushTimeout(impl_->conn, timeout.count()), "flushing " + impl_->state->shown_url);
}

bool NatsConnection::connected() const {
  return impl_->conn && natsConnection_Status(impl_->conn) == NATS_CONN_STATUS_CONNECTED;
}

int NatsConnection::reconnects() const { return impl_->state->reconnects.load(); }

}  // namespace bosh::mbus
