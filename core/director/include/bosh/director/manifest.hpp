// Deployment manifests (v2 with a cloud config, and v1 with resource pools,
// networks and compilation of their own) read into one model the planner
// works from. Errors are InputErrors naming the field: "instance_groups[1]
// (web).jobs[0]: missing 'release'".
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bosh/plugin/json.hpp"

namespace bosh::director {

struct WatchTime {
  int min_ms = 30000, max_ms = 30000;
  // BOSH's poll schedule: [min] + [step] * floor((max - min) / step), step =
  // median(1000, (max - min) / 9, 15000).
  std::vector<int> schedule() const;
};

// The most instances one group may have (a typo of a few zeros is refused
// before anything is planned).
inline constexpr int kMaxInstances = 10000;

// InputError "<what>: expected an integer or 'N%' ..." for anything else
// (canaries, max_in_flight, and their --canaries/--max-in-flight overrides).
void check_count_or_percent(const std::string& value, const std::string& what);

struct UpdateConfig {
  std::string canaries = "1", max_in_flight = "1";  // an integer or "N%"
  WatchTime canary_watch, update_watch;
  bool serial = true;
  std::optional<bool> serial_set;  // the group said so itself
  int canaries_for(int size) const;
  int max_in_flight_for(int size) const;  // at least 1
};

struct NetworkRef {
  std::string name;
  std::vector<std::string> static_ips;
  std::vector<std::string> defaults;  // "dns", "gateway"
};

struct JobRef {
  std::string name, release;
  plugin::Json properties;  // null: the group's (v1) or the manifest's global properties
  plugin::Json consumes = plugin::json_object(), provides = plugin::json_object();
};

struct InstanceGroup {
  std::string name, lifecycle = "service";
  int instances = 0;
  std::vector<std::string> azs;
  std::vector<JobRef> jobs;
  std::string vm_type;              // name, for display
  plugin::Json vm_cloud_properties;  // vm_type (+ extensions) cloud properties
  std::string stemcell;             // alias
  std::int64_t persistent_disk_mb = 0;
  std::string disk_type;
  plugin::Json disk_cloud_properties = plugin::json_object();
  std::vector<NetworkRef> networks;
  UpdateConfig update;
  plugin::Json env = plugin::json_object();
  plugin::Json properties;  // v1: the job's properties
};

struct StemcellRef {
  std::string alias, os, name, version = "latest";
};

struct ReleaseRef {
  std::string name, version = "latest";
};

struct IpRange {
  std::uint32_t first = 0, last = 0;
  bool contains(std::uint32_t ip) const { return ip >= first && ip <= last; }
};

struct Subnet {
  std::string range;  // CIDR as written
  std::uint32_t network = 0, broadcast = 0;
  int prefix = 24;
  std::string gateway, netmask;
  std::vector<std::string> dns;
  std::vector<IpRange> reserved, statics;
  std::vector<std::string> azs;
  plugin::Json cloud_properties = plugin::json_object();
  bool in_static(std::uint32_t ip) const;
  bool in_reserved(std::uint32_t ip) const;
};

struct Network {
  std::string name, type = "manual";  // manual | dynamic | vip
  std::vector<Subnet> subnets;
  std::vector<std::string> dns;                               // dynamic
  plugin::Json cloud_properties = plugin::json_object();     // dynamic, vip
};

struct Compilation {
  int workers = 1;
  std::string network, az;
  plugin::Json cloud_properties = plugin::json_object();
  bool reuse_compilation_vms = false;
  plugin::Json env = plugin::json_object();
};

struct Cloud {
  std::map<std::string, plugin::Json> azs;  // name -> cloud_properties
  std::vector<std::string> az_order;
  std::map<std::string, Network> networks;
  Compilation compilation;
};

struct VariableDef {
  std::string name, type;
  plugin::Json options = plugin::json_object();
};

struct DeploymentSpec {
  std::string name;
  bool v1 = false;
  std::vector<ReleaseRef> releases;
  std::vector<StemcellRef> stemcells;  // v1: one per resource pool, alias = pool name
  UpdateConfig update;
  std::vector<InstanceGroup> groups;
  plugin::Json properties = plugin::json_object();
  std::vector<VariableDef> variables;
  Cloud cloud;
  plugin::Json tags = plugin::json_object();

  const InstanceGroup* group(const std::string& name) const;
  const StemcellRef* stemcell(const std::string& alias) const;
};

// The manifest as typed JSON (yaml_to_typed_json of the text, variables
// interpolated) and, for v2 manifests, the cloud config the same way (null
// when there is none).
DeploymentSpec parse_deployment(const plugin::Json& manifest, const plugin::Json& cloud_config);

// "127.0.10.5" <-> host-order integer; InputError naming `what` when not an IPv4 address.
std::uint32_t parse_ip(const std::string& text, const std::string& what);
std::string format_ip(std::uint32_t ip);
// "a.b.c.d" or "a.b.c.d - e.f.g.h" or a CIDR.
IpRange parse_ip_range(const std::string& text, const std::string& what);

// The names of every ((variable)) the value refers to, and the value with
// them replaced. A string that is only "((name))" takes the variable's
// value whole (it may be an object: certificates); "((name.key))" picks a key.
std::set<std::string> variable_references(const plugin::Json& value);
plugin::Json interpolate(const plugin::Json& value, const std::map<std::string, plugin::Json>& variables);

}  // namespace bosh::director
