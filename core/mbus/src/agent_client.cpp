#include "bosh/mbus/agent_client.hpp"

#include <random>
#include <thread>

#include "bosh/mbus/envelope.hpp"

namespace bosh::mbus {

namespace {
std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

plugin::Json args(std::initializer_list<plugin::Json> items) {
  Poco::JSON::Array::Ptr a = new Poco::JSON::Array;
  for (const auto& i : items) a->add(i);
  return a;
}
}  // namespace

AgentClient::AgentClient(NatsConnection& nats, std::string agent_id, std::string director_uuid)
    : nats_(nats), agent_id_(std::move(agent_id)), director_uuid_(std::move(director_uuid)) {
  replies_ = nats_.subscribe("director." + director_uuid_ + "." + agent_id_ + ".*", [this](const Message& m) {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(m.subject);
    if (it == pending_.end() || it->second) return;  // late or duplicate
    it->second = m.data;
    replied_.notify_all();
  });
}

AgentClient::~AgentClient() { replies_.reset(); }

plugin::Json AgentClient::send(const std::string& method, const plugin::Json& arguments,
                               std::chrono::milliseconds timeout) {
  const std::string reply_to = "director." + director_uuid_ + "." + agent_id_ + "." + random_suffix();
  {
    std::lock_guard lock(mutex_);
    pending_.emplace(reply_to, std::nullopt);
  }
  Request request;
  request.method = method;
  request.arguments = arguments;
  request.reply_to = reply_to;
  nats_.publish("agent." + agent_id_, encode_request(request));
  std::unique_lock lock(mutex_);
  const bool answered = replied_.wait_for(lock, timeout, [&] { return pending_.at(reply_to).has_value(); });
  std::optional<std::string> reply = pending_.at(reply_to);
  pending_.erase(reply_to);
  lock.unlock();
  if (!answered)
    throw MbusTimeout(fmt::format("agent {} did not answer '{}' within {} s", agent_id_, method,
                                  std::chrono::duration<double>(timeout).count()));
  const std::string& text = *reply;
  Reply decoded = decode_reply(text);
  if (decoded.exception) throw AgentError(fmt::format("agent {}: {}: {}", agent_id_, method, *decoded.exception));
  return *decoded.value;
}

plugin::Json AgentClient::run(const std::string& method, const plugin::Json& arguments,
                              std::chrono::milliseconds timeout, std::chrono::milliseconds poll) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto per_message = std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(45));
  plugin::Json value = send(method, arguments, per_message);
  while (auto task = running_task_id(value)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      try {
        send("cancel_task", args({*task}), std::chrono::seconds(10));
      } catch (const std::exception&) {
      }
      throw MbusTimeout(fmt::format("agent {}: '{}' did not finish within {} s", agent_id_, method,
                                    std::chrono::duration<double>(timeout).count()));
    }
    std::this_thread::sleep_for(poll);
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
