#include "bosh/mbus/agent_client.hpp"
#include "bosh/common/random.hpp"

#include <random>
#include <thread>

#include "bosh/common/http.hpp"
#include "bosh/common/log.hpp"
#include "bosh/mbus/envelope.hpp"

namespace bosh::mbus {

namespace {

plugin::Json args(std::initializer_list<plugin::Json> items) {
  Poco::JSON::Array::Ptr a = new Poco::JSON::Array;
  for (const auto& i : items) a->add(i);
  return a;
}
}  // namespace

NatsAgentTransport::NatsAgentTransport(NatsConnection& nats, std::string agent_id, std::string director_uuid)
    : nats_(nats), agent_id_(std::move(agent_id)), director_uuid_(std::move(director_uuid)) {
  replies_ = nats_.subscribe("director." + director_uuid_ + "." + agent_id_ + ".*", [this](const Message& m) {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(m.subject);
    if (it == pending_.end() || it->second) return;  // late or duplicate
    it->second = m.data;
    replied_.notify_all();
  });
}

NatsAgentTransport::~NatsAgentTransport() { replies_.reset(); }

std::string NatsAgentTransport::call(Request request, std::chrono::milliseconds timeout) {
  request.reply_to = "director." + director_uuid_ + "." + agent_id_ + "." + random_hex(16);
  {
    std::lock_guard lock(mutex_);
    pending_.emplace(request.reply_to, std::nullopt);
  }
  nats_.publish("agent." + agent_id_, encode_request(request));
  std::unique_lock lock(mutex_);
  const bool answered = replied_.wait_for(lock, timeout, [&] { return pending_.at(request.reply_to).has_value(); });
  std::optional<std::string> reply = pending_.at(request.reply_to);
  pending_.erase(request.reply_to);
  if (!answered)
    throw MbusTimeout(fmt::format("agent {} did not answer '{}' within {} s", agent_id_, request.method,
                                  std::chrono::duration<double>(timeout).count()));
  return *reply;
}

HttpsAgentTransport::HttpsAgentTransport(std::string url, std::string ca_pem)
    : url_(std::move(url)), ca_pem_(std::move(ca_pem)) {
  while (!url_.empty() && url_.back() == '/') url_.pop_back();
}

std::string HttpsAgentTransport::call(Request request, std::chrono::milliseconds timeout) {
  request.reply_to = "https";
  plugin::HttpRequest http;
  http.method = "POST";
  http.url = url_ + "/agent";
  http.headers["Content-Type"] = "application/json";
  http.body = encode_request(request);
  http.timeout = std::chrono::duration_cast<std::chrono::seconds>(timeout) + std::chrono::seconds(1);
  if (!ca_pem_.empty())
    http.ca_cert_pem = ca_pem_;
  else
    http.verify_tls = false;
  plugin::HttpResponse response;
  try {
    response = http_request(http);
  } catch (const bosh::Error& e) {
    throw MbusTimeout(fmt::format("agent at {} did not answer '{}': {}", log::redact_url(url_), request.method, e.what()));
  }
  if (response.status == 401) throw MbusError(fmt::format("agent at {}: wrong credentials", log::redact_url(url_)));
  if (response.status != 200)
    throw MbusError(fmt::format("agent at {}: HTTP {} for '{}'", log::redact_url(url_), response.status, request.method));
  return response.body;
}

AgentClient::AgentClient(NatsConnection& nats, std::string agent_id, std::string director_uuid)
    : transport_(std::make_unique<NatsAgentTransport>(nats, agent_id, std::move(director_uuid))),
      agent_id_(std::move(agent_id)) {}

AgentClient::AgentClient(std::unique_ptr<AgentTransport> transport, std::string agent_id)
    : transport_(std::move(transport)), agent_id_(std::move(agent_id)) {}

plugin::Json AgentClient::send(const std::string& method, const plugin::Json& arguments,
                               std::chrono::milliseconds timeout) {
  Request request;
  request.method = method;
  request.arguments = arguments;
  const std::string text = transport_->call(std::move(request), timeout);
  Reply decoded = decode_reply(text);
  if (decoded.exception) throw AgentError(fmt::format("agent {}: {}: {}", agent_id_, method, *decoded.exception));
  return *decoded.value;
}

plugin::Json AgentClient::run(const std::string& method, const plugin::Json& arguments,
                              std::chrono::milliseconds timeout, std::chrono::milliseconds poll) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto per_message = std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(45));
  plugin::Json value = send(method, arguments, per_message);
  // Most actions end in milliseconds: poll soon, then back off to `poll`.
  auto wait = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(10), poll);
  while (auto task = running_task_id(value)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      try {
        send("cancel_task", args({*task}), std::chrono::seconds(10));
      } catch (const std::exception&) {
      }
      throw MbusTimeout(fmt::format("agent {}: '{}' did not finish within {} s", agent_id_, method,
                                    std::chrono::duration<double>(timeout).count()));
    }
    std::this_thread::sleep_for(wait);
    wait = std::min<std::chrono::milliseconds>(wait * 2, poll);
    value = send("get_task", args({*task}), per_message);
  }
  return value;
}

std::string AgentClient::ping(std::chrono::milliseconds timeout) {
  return send("ping", plugin::json_array(), timeout).toString();
}

plugin::Json AgentClient::get_state(bool full) {
  return send("get_state", full ? args({std::string("full")}) : plugin::json_array());
}

}  // namespace bosh::mbus
