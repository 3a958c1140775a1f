// The director's side of the agent protocol: typed calls with timeouts, and
// long-running actions polled with get_task until they finish.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "bosh/mbus/nats.hpp"
#include "bosh/plugin/json.hpp"

namespace bosh::mbus {

// The agent answered with an exception; what() is its message.
class AgentError : public MbusError {
 public:
  using MbusError::MbusError;
};

class AgentClient {
 public:
  // Subscribes once to director.<uuid>.<agent_id>.* for every reply.
  AgentClient(NatsConnection& nats, std::string agent_id, std::string director_uuid = "director");
  ~AgentClient();

  // One message: publishes on agent.<id> with a reply_to of
  // director.<uuid>.<agent id>.<random> and waits for the reply's value.
  // MbusTimeout naming the agent and method when none comes in time.
  plugin::Json send(const std::string& method, const plugin::Json& arguments,
                    std::chrono::milliseconds timeout = std::chrono::seconds(45));
  // A long-running action: send, then poll get_task until it finishes or the
  // deadline passes (then cancel_task is sent and MbusTimeout thrown).
  plugin::Json run(const std::string& method, const plugin::Json& arguments,
                   std::chrono::milliseconds timeout = std::chrono::minutes(10),
                   std::chrono::milliseconds poll = std::chrono::milliseconds(500));

  std::string ping(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  plugin::Json get_state(bool full = false);

  const std::string& agent_id() const { return agent_id_; }

 private:
  NatsConnection& nats_;
  std::string agent_id_;
  std::string director_uuid_;
  std::mutex mutex_;
  std::condition_variable replied_;
  std::map<std::string, std::optional<std::string>> pending_;  // reply subject -> reply
  std::unique_ptr<Subscription> replies_;
};

}  // namespace bosh::mbus
