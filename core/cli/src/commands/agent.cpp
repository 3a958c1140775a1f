// `bosh agent send`: talk to a bosh-agent over NATS directly, as the director
// would (for operators debugging a VM, and for trying the agent out).
#include <chrono>

#include "../command.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "bosh/mbus/agent_client.hpp"
#include "bosh/mbus/nats.hpp"

namespace bosh::cli {

namespace {

int run_agent_send(plugin::Invocation& inv, Context& ctx) {
  if (!inv.has("nats")) throw plugin::UsageError("--nats URL is required (nats://user:password@host:port)");
  if (!inv.has("agent")) throw plugin::UsageError("--agent ID is required");
  mbus::NatsOptions options;
  options.url = inv.value("nats");
  options.name = "bosh agent send";
  if (inv.has("ca-cert")) options.ca_file = inv.value("ca-cert");
  if (inv.has("client-cert")) options.cert_file = inv.value("client-cert");
  if (inv.has("client-key")) options.key_file = inv.value("client-key");
  const std::string method = inv.args.at(0);
  plugin::Json arguments = inv.args.size() > 1 ? parse_json(inv.args[1], "ARGUMENTS") : plugin::json_array();
  if (arguments.type() != typeid(Poco::JSON::Array::Ptr)) {
    // A single value is the one argument.
    Poco::JSON::Array::Ptr wrapped = new Poco::JSON::Array;
    wrapped->add(arguments);
    arguments = wrapped;
  }
  std::chrono::seconds timeout(std::stoi(inv.value("timeout", "60")));
  mbus::NatsConnection nats(options);
  mbus::AgentClient client(nats, inv.value("agent"), "cli");
  plugin::Json value = client.run(method, arguments, timeout, std::chrono::milliseconds(200));
  if (ctx.ui.json())
    ctx.ui.line(to_json(value));
  else
    ctx.ui.line(value.isString() ? value.toString() : to_json(value, true));
  return 0;
}

}  // namespace

void register_agent_commands(CommandTable& table) {
  table.add_group({"Agent", "", "built-in", true});
  table.add({"Agent", "agent send",
             "Send one message to a bosh-agent over NATS and print its value (long-running tasks are waited for)",
             {{"METHOD", true, false}, {"ARGUMENTS", false, false}},
             {{"nats", 0, "The message bus: nats://user:password@host:port (or tls://)", true, "URL"},
              {"agent", 0, "The agent's id (settings agent_id)", true, "ID"},
              {"ca-cert", 0, "CA certificate of a TLS bus", true, "FILE"},
              {"client-cert", 0, "Client certificate for mutual TLS", true, "FILE"},
              {"client-key", 0, "Client key for mutual TLS", true, "FILE"},
              {"timeout", 0, "Seconds to wait for the answer (default 60)", true, "SECONDS"}},
             run_agent_send});
}

}  // namespace bosh::cli
