// Jobs under a real monit: the agent writes the VM's control file (own port
// on 127.0.0.1, basic auth, mail alerts to the agent's SMTP port, include of
// monit/job/*.monitrc), runs monit in the foreground as its child, and drives
// it through monit's HTTP API (CSRF token on every POST).
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bosh/common/subprocess.hpp"

namespace bosh::agent {

struct MonitService {
  std::string name;
  int status = 0;    // 0 = ok; otherwise monit's error bits
  int monitor = 0;   // 0 = not monitored, 1 = monitored, 2 = initializing
  int pending_action = 0;
  int pid = -1;
  long long uptime = 0;
  long long memory_kb = 0;
  double memory_percent = 0;
  double cpu_percent = 0;
};

// Parses `_status?format=xml`; process services only (type 3).
std::vector<MonitService> parse_monit_status(const std::string& xml);

// The monit process's incarnation (changes when monit restarts or reloads).
std::string monit_incarnation(const std::string& xml);

// BOSH job_state from the services: running | starting | failing.
std::string job_state_of(const std::vector<MonitService>& services);

class Monit {
 public:
  struct Config {
    std::filesystem::path base_dir;  // monit/ lives under it
    int http_port = 0;               // 0: a free port
    int alert_port = 0;              // where monit mails alerts (the agent's SMTP port)
    std::chrono::seconds poll{10};   // monit's cycle ("set daemon")
  };
  explicit Monit(Config config);
  ~Monit();

  // Writes the control file and starts monit; waits until its HTTP API answers.
  void start_daemon();
  void stop_daemon();
  // Re-reads the control file and the job monit files.
  void reload();

  std::vector<MonitService> status();
  // start | stop | restart | monitor | unmonitor one service.
  void action(const std::string& service, const std::string& action);
  void start_all();
  void stop_all(std::chrono::seconds timeout = std::chrono::seconds(60));

  std::filesystem::path job_dir() const;  // monit/job: one NNNN_<job>.monitrc per job
  int http_port() const { return config_.http_port; }

 private:
  std::string url(const std::string& path) const;
  std::string status_xml();
  Config config_;
  std::string user_ = "vcap", password_;
  std::unique_ptr<BackgroundProcess> process_;
};

}  // namespace bosh::agent
