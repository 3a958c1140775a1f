#include "vitals.hpp"

#include <sys/statvfs.h>

#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

namespace bosh::agent {

namespace fs = std::filesystem;

namespace {

std::map<std::string, unsigned long long> meminfo() {
  std::map<std::string, unsigned long long> out;
  std::ifstream in("/proc/meminfo");
  std::string key;
  unsigned long long value = 0;
  std::string unit;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    if (ls >> key >> value) {
      if (!key.empty() && key.back() == ':') key.pop_back();
      out[key] = value;
    }
  }
  return out;
}

std::string pct(double v) { return fmt::format("{:.1f}", v); }

Poco::JSON::Object::Ptr kb_percent(unsigned long long used_kb, unsigned long long total_kb) {
  Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
  o->set("kb", std::to_string(used_kb));
  o->set("percent", total_kb ? fmt::format("{:.0f}", 100.0 * static_cast<double>(used_kb) / static_cast<double>(total_kb)) : "0");
  return o;
}

std::optional<Poco::JSON::Object::Ptr> disk(const fs::path& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0 || st.f_blocks == 0) return std::nullopt;
  Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
  double used = 1.0 - static_cast<double>(st.f_bavail) / static_cast<double>(st.f_blocks);
  double inodes = st.f_files ? 1.0 - static_cast<double>(st.f_ffree) / static_cast<double>(st.f_files) : 0.0;
  o->set("percent", fmt::format("{:.0f}", used * 100));
  o->set("inode_percent", fmt::format("{:.0f}", inodes * 100));
  return o;
}

}  // namespace

VitalsSampler::CpuTimes VitalsSampler::read_cpu() {
  CpuTimes t;
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu >> t.user >> t.nice >> t.system >> t.idle >> t.iowait >> t.irq >> t.softirq >> t.steal;
  return t;
}

plugin::Json VitalsSampler::sample() {
  Poco::JSON::Object::Ptr v = new Poco::JSON::Object;

  CpuTimes now = read_cpu();
  CpuTimes before;
  {
    std::lock_guard lock(mutex_);
    if (previous_) before = *previous_;
    previous_ = now;
  }
  double total = static_cast<double>(now.total() - before.total());
  auto share = [&](unsigned long long a, unsigned long long b) {
    return total > 0 ? 100.0 * static_cast<double>(a - b) / total : 0.0;
  };
  Poco::JSON::Object::Ptr cpu = new Poco::JSON::Object;
  cpu->set("user", pct(share(now.user + now.nice, before.user + before.nice)));
  cpu->set("sys", pct(share(now.system + now.irq + now.softirq, before.system + before.irq + before.softirq)));
  cpu->set("wait", pct(share(now.iowait, before.iowait)));
  v->set("cpu", cpu);

  auto mem = meminfo();
  unsigned long long total_kb = mem["MemTotal"], avail_kb = mem.count("MemAvailable") ? mem["MemAvailable"] : mem["MemFree"];
  v->set("mem", kb_percent(total_kb - avail_kb, total_kb));
  v->set("swap", kb_percent(mem["SwapTotal"] - mem["SwapFree"], mem["SwapTotal"]));

  Poco::JSON::Array::Ptr load = new Poco::JSON::Array;
  {
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    in >> a >> b >> c;
    load->add(a);
    load->add(b);
    load->add(c);
  }
  v->set("load", load);

  Poco::JSON::Object::Ptr uptime = new Poco::JSON::Object;
  {
    std::ifstream in("/proc/uptime");
    double secs = 0;
    in >> secs;
    uptime->set("secs", static_cast<long long>(secs));
  }
  v->set("uptime", uptime);

  Poco::JSON::Object::Ptr disks = new Poco::JSON::Object;
  if (auto d = disk("/")) disks->set("system", *d);
  if (auto d = disk(base_dir_ / "data")) disks->set("ephemeral", *d);
  std::error_code ec;
  if (fs::exists(base_dir_ / "store", ec) && !fs::is_empty(base_dir_ / "store", ec))
    if (auto d = disk(base_dir_ / "store")) disks->set("persistent", *d);
  v->set("disk", disks);
  return v;
}

}  // namespace bosh::agent
