// VM vitals from /proc and statvfs, in the BOSH agent's heartbeat shape
// (numbers as strings): cpu {user, sys, wait} %, mem/swap {kb, percent},
// load [1m, 5m, 15m], uptime {secs}, disk {system|ephemeral|persistent}.
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>

#include "bosh/plugin/json.hpp"

namespace bosh::agent {

class VitalsSampler {
 public:
  explicit VitalsSampler(std::filesystem::path base_dir) : base_dir_(std::move(base_dir)) {}
  // CPU percentages are over the time since the previous call (since boot the first time).
  plugin::Json sample();

 private:
  struct CpuTimes {
    unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    unsigned long long total() const { return user + nice + system + idle + iowait + irq + softirq + steal; }
  };
  static CpuTimes read_cpu();
  std::filesystem::path base_dir_;
  std::mutex mutex_;
  std::optional<CpuTimes> previous_;
};

}  // namespace bosh::agent
