// bosh-agent: the process on every VM. It answers the director's messages on
// agent.<agent_id> (ping, get_state, get_task, cancel_task, update_settings,
// ...), sends heartbeats on hm.agent.heartbeat.<agent_id>, and keeps its
// state under its base dir (default /var/vcap; the local CPI runs many agents
// on one host, each with its own tree).
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "bosh/agent/settings.hpp"

namespace bosh::agent {

struct AgentOptions {
  std::filesystem::path base_dir = "/var/vcap";
  std::filesystem::path system_log_dir = "/var/log";  // what fetch_logs "system" collects
  // The VM has its own mount namespace (the local CPI's isolation): ssh may
  // lay the VM's own /etc/passwd over the system's there.
  bool private_etc = false;
  std::filesystem::path settings_file;  // default: <base_dir>/bosh/settings.json
  // Where settings come from; file (settings_file) unless set.
  std::optional<SettingsSource> settings_source;
  std::chrono::milliseconds heartbeat_interval{std::chrono::seconds(30)};
  int monit_port = 0;                // monit's HTTP API on 127.0.0.1; 0: a free port
  int alert_port = 0;                // the agent's SMTP port for monit alerts; 0: a free port
  std::chrono::seconds monit_poll{10};  // monit's check cycle
  bool run_monit = true;
};

class Agent {
 public:
  explicit Agent(AgentOptions options);  // loads settings; InputError naming the file and field
  ~Agent();

  // Connects to the message bus and serves until stop() (from any thread or a signal).
  void run();
  void stop();

  // One message in, its reply out (the envelope's JSON text); never throws.
  // Also used by the HTTPS mbus.
  std::string handle(const std::string& message);

  const std::string& agent_id() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bosh::agent
