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

#include "bosh/mbus/envelope.hpp"
#include "bosh/mbus/nats.hpp"
#include "bosh/plugin/json.hpp"

namespace bosh::mbus {

// The agent answered with an exception; what() is its message.
class AgentError : public MbusError {
 public:
  using MbusError::MbusError;
};

// How a request reaches an agent and its reply comes back.
class AgentTransport {
 public:
  virtual ~AgentTransport() = default;
  // Sends the request (reply_to filled in as the transport needs) and returns
  // the reply's text; MbusTimeout when none comes in time.
  virtual std::string call(Request request, std::chrono::milliseconds timeout) = 0;
};

// NATS: publish on agent.<id>; replies on director.<uuid>.<agent id>.<random>,
// through one subscription to director.<uuid>.<agent id>.*.
class NatsAgentTransport final : public AgentTransport {
 public:
  NatsAgentTransport(NatsConnection& nats, std::string agent_id, std::string director_uuid);
  ~NatsAgentTransport() override;
  std::string call(Request request, std::chrono::milliseconds timeout) override;

 private:
  NatsConnection& nats_;
  std::string agent_id_, director_uuid_;
  std::mutex mutex_;
  std::condition_variable replied_;
  std::map<std::string, std::optional<std::string>> pending_;  // reply subject -> reply
  std::unique_ptr<Subscription> replies_;
};

// HTTPS (bootstrap, `bosh micro`): POST <url>/agent with basic auth from the URL.
class HttpsAgentTransport final : public AgentTransport {
 public:
  // `ca_pem`: trust this CA (the agent's certificate); empty: do not verify.
  HttpsAgentTransport(std::string url, std::string ca_pem = "");
  std::string call(Request request, std::chrono::milliseconds timeout) override;

 private:
  std::string url_, ca_pem_;
};

class AgentClient {
 public:
  AgentClient(NatsConnection& nats, std::string agent_id, std::string director_uuid = "director");
  AgentClient(std::unique_ptr<AgentTransport> transport, std::string agent_id);

  // One message: publishes on agent.<id> with a reply_to of
  // director.<uuid>.<agent id>.<random> and waits for the reply's value.
  // MbusTimeout naming the agent and method when none comes in time.
  plugin::Json send(const std::string& method, const plugin::Json& arguments,
                    std::chrono::milliseconds timeout = std::chrono::seconds(45));
  // A long-running action: send, then poll get_task (after 10 ms, doubling
  // up to `poll`) until it finishes or the deadline passes (then cancel_task
  // is sent and MbusTimeout thrown).
  plugin::Json run(const std::string& method, const plugin::Json& arguments,
                   std::chrono::milliseconds timeout = std::chrono::minutes(10),
                   std::chrono::milliseconds poll = std::chrono::milliseconds(500));

  std::string ping(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  plugin::Json get_state(bool full = false);

  const std::string& agent_id() const { return agent_id_; }

 private:
  std::unique_ptr<AgentTransport> transport_;
  std::string agent_id_;
};

}  // namespace bosh::mbus
