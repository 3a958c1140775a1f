#include "bosh/director/manifest.hpp"

#include <algorithm>
#include <cmath>
#include <regex>

#include "bosh/common/error.hpp"
#include "bosh/common/names.hpp"
#include "bosh/common/json.hpp"

namespace bosh::director {

using plugin::Json;
using plugin::JsonArray;
using plugin::JsonObject;

// ---- IPs ------------------------------------------------------------------------

std::uint32_t parse_ip(const std::string& text, const std::string& what) {
  unsigned a, b, c, d;
  char tail;
  if (std::sscanf(text.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 || a > 255 || b > 255 || c > 255 ||
      d > 255)
    fail<InputError>("{}: '{}' is not an IPv4 address", what, text);
  return (a << 24) | (b << 16) | (c << 8) | d;
}

std::string format_ip(std::uint32_t ip) {
  return fmt::format("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

namespace {
std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}
}  // namespace

IpRange parse_ip_range(const std::string& text, const std::string& what) {
  const std::string t = trim(text);
  if (auto dash = t.find('-'); dash != std::string::npos) {
    IpRange r{parse_ip(trim(t.substr(0, dash)), what), parse_ip(trim(t.substr(dash + 1)), what)};
    if (r.first > r.last) fail<InputError>("{}: range '{}' ends before it starts", what, text);
    return r;
  }
  if (auto slash = t.find('/'); slash != std::string::npos) {
    const std::string bits = t.substr(slash + 1);
    if (bits.empty() || bits.size() > 2 || !std::all_of(bits.begin(), bits.end(), ::isdigit) || std::stoi(bits) > 32)
      fail<InputError>("{}: '{}' has a bad prefix length", what, text);
    const int prefix = std::stoi(bits);
    const std::uint32_t mask = prefix == 0 ? 0 : (~0u << (32 - prefix));
    const std::uint32_t net = parse_ip(t.substr(0, slash), what) & mask;
    return {net, net | ~mask};
  }
  const std::uint32_t ip = parse_ip(t, what);
  return {ip, ip};
}

bool Subnet::in_static(std::uint32_t ip) const {
  return std::any_of(statics.begin(), statics.end(), [&](const IpRange& r) { return r.contains(ip); });
}
bool Subnet::in_reserved(std::uint32_t ip) const {
  return std::any_of(reserved.begin(), reserved.end(), [&](const IpRange& r) { return r.contains(ip); });
}

// ---- update config --------------------------------------------------------------

std::vector<int> WatchTime::schedule() const {
  const double delta = max_ms - min_ms;
  std::vector<double> three = {1000.0, delta / 9.0, 15000.0};
  std::sort(three.begin(), three.end());
  const double step = three[1];
  std::vector<int> out = {min_ms};
  const int steps = step > 0 ? static_cast<int>(std::floor(delta / step)) : 0;
  for (int i = 0; i < steps; ++i) out.push_back(static_cast<int>(step));
  return out;
}

namespace {
int count_for(const std::string& value, int size) {
  if (!value.empty() && value.back() == '%') {
    const double pct = std::stod(value.substr(0, value.size() - 1));
    return std::min(static_cast<int>(std::floor(pct * size / 100.0)), size);  // BOSH floors
  }
  return std::stoi(value);
}
}  // namespace

void check_count_or_percent(const std::string& value, const std::string& what) {
  static const std::regex ok("^(\\d{1,9}|\\d{1,3}(\\.\\d+)?%)$");
  if (!std::regex_match(value, ok) ||
      (value.back() == '%' && std::stod(value.substr(0, value.size() - 1)) > 100.0))
    fail<InputError>("{}: expected an integer or 'N%' (at most 100%), got '{}'", what, value);
}

int UpdateConfig::canaries_for(int size) const { return std::max(0, std::min(count_for(canaries, size), size)); }
int UpdateConfig::max_in_flight_for(int size) const { return std::max(1, count_for(max_in_flight, size)); }

const InstanceGroup* DeploymentSpec::group(const std::string& name) const {
  for (const auto& g : groups)
    if (g.name == name) return &g;
  return nullptr;
}

const StemcellRef* DeploymentSpec::stemcell(const std::string& alias) const {
  for (const auto& s : stemcells)
    if (s.alias == alias) return &s;
  return nullptr;
}

// ---- reading typed JSON with paths in the messages ---------------------------------------

namespace {

bool is_object(const Json& v) { return v.type() == typeid(JsonObject::Ptr); }
bool is_array(const Json& v) { return v.type() == typeid(JsonArray::Ptr); }

JsonObject::Ptr object_at(const Json& v, const std::string& path) {
  if (!is_object(v)) fail<InputError>("{}: expected a map, got {}", path, json_type_name(v));
  return v.extract<JsonObject::Ptr>();
}

Json field(const JsonObject::Ptr& o, const std::string& key) { return o->has(key) ? o->get(key) : Json(); }

std::vector<Json> list_at(const JsonObject::Ptr& o, const std::string& key, const std::string& path) {
  std::vector<Json> out;
  Json v = field(o, key);
  if (v.isEmpty()) return out;
  if (!is_array(v)) fail<InputError>("{}.{}: expected a list, got {}", path, key, json_type_name(v));
  for (const auto& item : *v.extract<JsonArray::Ptr>()) out.push_back(item);
  return out;
}

// Scalars as text (YAML numbers are fine where a string is expected: versions).
std::string text_of(const Json& v, const std::string& path) {
  if (v.isString()) return v.convert<std::string>();
  if (v.isNumeric() || v.type() == typeid(bool)) return v.convert<std::string>();
  fail<InputError>("{}: expected a string, got {}", path, json_type_name(v));
}

std::string str(const JsonObject::Ptr& o, const std::string& key, const std::string& path, bool required = false,
                const std::string& fallback = "") {
  Json v = field(o, key);
  if (v.isEmpty()) {
    if (required) fail<InputError>("{}: missing '{}'", path, key);
    return fallback;
  }
  return text_of(v, path + "." + key);
}

std::vector<std::string> strings(const JsonObject::Ptr& o, const std::string& key, const std::string& path) {
  std::vector<std::string> out;
  int i = 0;
  for (const auto& v : list_at(o, key, path)) out.push_back(text_of(v, fmt::format("{}.{}[{}]", path, key, i++)));
  return out;
}

std::int64_t integer(const JsonObject::Ptr& o, const std::string& key, const std::string& path, std::int64_t fallback) {
  Json v = field(o, key);
  if (v.isEmpty()) return fallback;
  if (v.isInteger()) return v.convert<std::int64_t>();
  if (v.isString()) {
    const std::string s = v.convert<std::string>();
    try {
      std::size_t used = 0;
      std::int64_t n = std::stoll(s, &used);
      if (used == s.size()) return n;
    } catch (const std::exception&) {
    }
  }
  fail<InputError>("{}.{}: expected an integer, got {}", path, key, v.isString() ? "'" + v.convert<std::string>() + "'" : std::string(json_type_name(v)));
}

bool boolean(const JsonObject::Ptr& o, const std::string& key, const std::string& path, bool fallback) {
  Json v = field(o, key);
  if (v.isEmpty()) return fallback;
  if (v.type() == typeid(bool)) return v.extract<bool>();
  fail<InputError>("{}.{}: expected true or false, got {}", path, key, json_type_name(v));
}

Json object_or_empty(const JsonObject::Ptr& o, const std::string& key, const std::string& path) {
  Json v = field(o, key);
  if (v.isEmpty()) return plugin::json_object();
  object_at(v, path + "." + key);
  return v;
}

std::string name_of(const Json& item, const std::string& path) {
  return str(object_at(item, path), "name", path, true);
}


WatchTime watch_time(const JsonObject::Ptr& o, const std::string& key, const std::string& path, WatchTime fallback) {
  Json v = field(o, key);
  if (v.isEmpty()) return fallback;
  const std::string where = path + "." + key;
  if (v.isInteger()) return {v.convert<int>(), v.convert<int>()};
  static const std::regex range("^\\s*(\\d+)\\s*-\\s*(\\d+)\\s*$"), single("^\\s*(\\d+)\\s*$");
  std::smatch m;
  const std::string s = v.isString() ? v.convert<std::string>() : "";
  if (std::regex_match(s, m, range)) {
    WatchTime w{std::stoi(m[1]), std::stoi(m[2])};
    if (w.min_ms > w.max_ms) fail<InputError>("{}: '{}' has a minimum above its maximum", where, s);
    return w;
  }
  if (std::regex_match(s, m, single)) return {std::stoi(m[1]), std::stoi(m[1])};
  fail<InputError>("{}: expected milliseconds or 'min-max', got '{}'", where, s);
}

std::string count_or_percent(const JsonObject::Ptr& o, const std::string& key, const std::string& path,
                             const std::string& fallback) {
  Json v = field(o, key);
  if (v.isEmpty()) return fallback;
  const std::string s = text_of(v, path + "." + key);
  check_count_or_percent(s, path + "." + key);
  return s;
}

// A count of instances or a share: at most 9 digits or "N%" up to 100%.
std::int64_t bounded_integer(const JsonObject::Ptr& o, const std::string& key, const std::string& path,
                             std::int64_t fallback, std::int64_t min, std::int64_t max, const char* unit = "") {
  const std::int64_t n = integer(o, key, path, fallback);
  if (n < min || n > max)
    fail<InputError>("{}.{}: must be from {} to {}{}, got {}", path, key, min, max, unit, n);
  return n;
}

UpdateConfig parse_update(const Json& value, const std::string& path, const UpdateConfig& base) {
  UpdateConfig u = base;
  if (value.isEmpty()) return u;
  auto o = object_at(value, path);
  u.canaries = count_or_percent(o, "canaries", path, base.canaries);
  u.max_in_flight = count_or_percent(o, "max_in_flight", path, base.max_in_flight);
  u.canary_watch = watch_time(o, "canary_watch_time", path, base.canary_watch);
  u.update_watch = watch_time(o, "update_watch_time", path, base.update_watch);
  if (o->has("serial")) {
    u.serial = boolean(o, "serial", path, true);
    u.serial_set = u.serial;
  }
  return u;
}

Subnet parse_subnet(const Json& value, const std::string& path, bool manual) {
  auto o = object_at(value, path);
  Subnet s;
  s.range = str(o, "range", path, manual);
  s.cloud_properties = object_or_empty(o, "cloud_properties", path);
  s.dns = strings(o, "dns", path);
  s.azs = strings(o, "azs", path);
  if (const std::string az = str(o, "az", path); !az.empty()) s.azs.push_back(az);
  if (s.range.empty()) {  // vip/dynamic subnets: just the statics
    for (const auto& r : strings(o, "static", path)) s.statics.push_back(parse_ip_range(r, path + ".static"));
    return s;
  }
  auto slash = s.range.find('/');
  if (slash == std::string::npos) fail<InputError>("{}.range: '{}' is not a CIDR range", path, s.range);
  IpRange net = parse_ip_range(s.range, path + ".range");
  s.network = net.first;
  s.broadcast = net.last;
  s.prefix = std::stoi(s.range.substr(slash + 1));  // checked by parse_ip_range above
  s.netmask = format_ip(s.prefix == 0 ? 0 : (~0u << (32 - s.prefix)));
  s.gateway = str(o, "gateway", path, manual);
  if (!s.gateway.empty()) {
    const std::uint32_t gw = parse_ip(s.gateway, path + ".gateway");
    if (gw < s.network || gw > s.broadcast)
      fail<InputError>("{}.gateway: {} is outside the subnet {}", path, s.gateway, s.range);
  }
  auto in_subnet = [&](const IpRange& r, const std::string& what, const std::string& text) {
    if (r.first < s.network || r.last > s.broadcast)
      fail<InputError>("{}.{}: '{}' is outside the subnet {}", path, what, text, s.range);
  };
  for (const auto& r : strings(o, "reserved", path)) {
    s.reserved.push_back(parse_ip_range(r, path + ".reserved"));
    in_subnet(s.reserved.back(), "reserved", r);
  }
  for (const auto& r : strings(o, "static", path)) {
    s.statics.push_back(parse_ip_range(r, path + ".static"));
    in_subnet(s.statics.back(), "static", r);
    for (std::uint32_t ip = s.statics.back().first; ip <= s.statics.back().last; ++ip)
      if (s.in_reserved(ip))
        fail<InputError>("{}.static: {} is also reserved", path, format_ip(ip));
  }
  return s;
}

Network parse_network(const Json& value, const std::string& path) {
  auto o = object_at(value, path);
  Network n;
  n.name = str(o, "name", path, true);
  n.type = str(o, "type", path, false, "manual");
  if (n.type != "manual" && n.type != "dynamic" && n.type != "vip")
    fail<InputError>("{}.type: expected manual, dynamic or vip, got '{}'", path, n.type);
  n.dns = strings(o, "dns", path);
  n.cloud_properties = object_or_empty(o, "cloud_properties", path);
  int i = 0;
  for (const auto& sub : list_at(o, "subnets", path))
    n.subnets.push_back(parse_subnet(sub, fmt::format("{}.subnets[{}]", path, i++), n.type == "manual"));
  if (n.type == "manual" && n.subnets.empty()) fail<InputError>("{}: a manual network needs subnets", path);
  return n;
}

void check_unique(std::set<std::string>& seen, const std::string& name, const std::string& path, const char* what) {
  if (!seen.insert(name).second) fail<InputError>("{}: {} '{}' is defined twice", path, what, name);
}

// The group's persistent disk: a named type (v2 disk_types, v1 disk_pools)
// giving size and cloud properties, or a plain `persistent_disk` size.
using DiskTypes = std::map<std::string, std::pair<std::int64_t, Json>>;
void parse_persistent_disk(const JsonObject::Ptr& o, const std::string& path, const std::string& key,
                           const char* unknown, const DiskTypes& types, InstanceGroup& g) {
  if (!o->has(key)) {
    g.persistent_disk_mb = bounded_integer(o, "persistent_disk", path, 0, 0, 1ll << 40, " MB");
    return;
  }
  g.disk_type = str(o, key, path);
  auto it = types.find(g.disk_type);
  if (it == types.end()) fail<InputError>("{}.{}: {}", path, key, fmt::format(fmt::runtime(unknown), g.disk_type));
  g.persistent_disk_mb = it->second.first;
  g.disk_cloud_properties = it->second.second;
}

std::vector<JobRef> parse_jobs(const JsonObject::Ptr& g, const std::string& path, const DeploymentSpec& d) {
  std::vector<JobRef> jobs;
  int i = 0;
  std::set<std::string> seen;
  for (const auto& item : list_at(g, "jobs", path)) {
    const std::string jp = fmt::format("{}.jobs[{}]", path, i++);
    auto o = object_at(item, jp);
    JobRef j;
    j.name = str(o, "name", jp, true);
    j.release = str(o, "release", jp, d.releases.size() != 1);
    if (j.release.empty()) j.release = d.releases[0].name;
    if (std::none_of(d.releases.begin(), d.releases.end(), [&](const ReleaseRef& r) { return r.name == j.release; }))
      fail<InputError>("{}: release '{}' is not in the manifest's releases", jp, j.release);
    if (o->has("properties") && !field(o, "properties").isEmpty()) j.properties = object_or_empty(o, "properties", jp);
    j.consumes = object_or_empty(o, "consumes", jp);
    j.provides = object_or_empty(o, "provides", jp);
    check_unique(seen, j.name, jp, "job");
    jobs.push_back(std::move(j));
  }
  return jobs;
}

// v1: `templates: [{name, release}]`, or `template: name | [names]` from the only release.
std::vector<JobRef> parse_v1_templates(const JsonObject::Ptr& g, const std::string& path, const DeploymentSpec& d) {
  std::vector<JobRef> jobs;
  if (g->has("templates")) {
    int i = 0;
    for (const auto& item : list_at(g, "templates", path)) {
      const std::string tp = fmt::format("{}.templates[{}]", path, i++);
      auto o = object_at(item, tp);
      JobRef j;
      j.name = str(o, "name", tp, true);
      j.release = str(o, "release", tp, d.releases.size() != 1);
      if (j.release.empty()) j.release = d.releases[0].name;
      if (std::none_of(d.releases.begin(), d.releases.end(), [&](const ReleaseRef& r) { return r.name == j.release; }))
        fail<InputError>("{}: release '{}' is not in the manifest's releases", tp, j.release);
      j.consumes = object_or_empty(o, "consumes", tp);
      j.provides = object_or_empty(o, "provides", tp);
      jobs.push_back(std::move(j));
    }
    return jobs;
  }
  Json t = field(g, "template");
  std::vector<std::string> names;
  if (t.isString())
    names.push_back(t.convert<std::string>());
  else if (is_array(t))
    names = strings(g, "template", path);
  else
    fail<InputError>("{}: missing 'templates'", path);
  if (d.releases.size() != 1) fail<InputError>("{}: 'template' needs exactly one release in the manifest", path);
  for (const auto& n : names) jobs.push_back({n, d.releases[0].name, Json(), plugin::json_object(), plugin::json_object()});
  return jobs;
}

std::vector<NetworkRef> parse_network_refs(const JsonObject::Ptr& g, const std::string& path,
                                           const std::map<std::string, Network>& known) {
  std::vector<NetworkRef> refs;
  int i = 0;
  for (const auto& item : list_at(g, "networks", path)) {
    const std::string np = fmt::format("{}.networks[{}]", path, i++);
    auto o = object_at(item, np);
    NetworkRef n;
    n.name = str(o, "name", np, true);
    if (!known.count(n.name)) fail<InputError>("{}: network '{}' is not defined", np, n.name);
    n.static_ips = strings(o, "static_ips", np);
    n.defaults = strings(o, "default", np);
    refs.push_back(std::move(n));
  }
  if (refs.empty()) fail<InputError>("{}: needs at least one network", path);
  if (refs.size() == 1 && refs[0].defaults.empty()) refs[0].defaults = {"dns", "gateway"};
  return refs;
}

void parse_common(const JsonObject::Ptr& root, DeploymentSpec& d) {
  d.name = str(root, "name", "manifest", true);
  check_bosh_name("manifest: name", d.name);
  int i = 0;
  std::set<std::string> seen;
  for (const auto& item : list_at(root, "releases", "manifest")) {
    const std::string rp = fmt::format("releases[{}]", i++);
    auto o = object_at(item, rp);
    ReleaseRef r{str(o, "name", rp, true), str(o, "version", rp, false, "latest")};
    check_unique(seen, r.name, rp, "release");
    d.releases.push_back(r);
  }
  if (d.releases.empty()) fail<InputError>("manifest: needs at least one release in 'releases'");
  d.update = parse_update(field(root, "update"), "update", UpdateConfig{});
  d.properties = object_or_empty(root, "properties", "manifest");
  d.tags = object_or_empty(root, "tags", "manifest");
  i = 0;
  seen.clear();
  for (const auto& item : list_at(root, "variables", "manifest")) {
    const std::string vp = fmt::format("variables[{}]", i++);
    auto o = object_at(item, vp);
    VariableDef v{str(o, "name", vp, true), str(o, "type", vp, true), object_or_empty(o, "options", vp)};
    static const std::set<std::string> types = {"password", "certificate", "ssh", "rsa"};
    if (!types.count(v.type))
      fail<InputError>("{}.type: expected password, certificate, ssh or rsa, got '{}'", vp, v.type);
    check_unique(seen, v.name, vp, "variable");
    d.variables.push_back(std::move(v));
  }
}

void check_static_ips(InstanceGroup& g, const std::string& path, const Cloud& cloud) {
  for (auto& ref : g.networks) {
    if (ref.static_ips.empty()) continue;
    const Network& net = cloud.networks.at(ref.name);
    std::vector<std::string> expanded;
    for (const auto& s : ref.static_ips) {
      IpRange r = parse_ip_range(s, path + ".networks." + ref.name + ".static_ips");
      for (std::uint32_t ip = r.first; ip <= r.last; ++ip) {
        if (net.type == "manual" &&
            std::none_of(net.subnets.begin(), net.subnets.end(), [&](const Subnet& sn) { return sn.in_static(ip); }))
          fail<InputError>("{}: static IP {} is not in a static range of network '{}'", path, format_ip(ip),
                           ref.name);
        if (std::find(expanded.begin(), expanded.end(), format_ip(ip)) != expanded.end())
          fail<InputError>("{}: static IP {} is listed twice on network '{}'", path, format_ip(ip), ref.name);
        expanded.push_back(format_ip(ip));
      }
    }
    if (static_cast<int>(expanded.size()) != g.instances)
      fail<InputError>("{}: {} static IPs on network '{}' for {} instances", path, expanded.size(), ref.name,
                       g.instances);
    ref.static_ips = expanded;
  }
}

Compilation parse_compilation(const Json& value, const std::string& path, const std::map<std::string, Json>& vm_types,
                              const Cloud& cloud) {
  Compilation c;
  if (value.isEmpty()) fail<InputError>("{}: missing (the network and workers that compile packages)", path);
  auto o = object_at(value, path);
  c.workers = static_cast<int>(bounded_integer(o, "workers", path, 1, 1, 1000));
  c.network = str(o, "network", path, true);
  if (!cloud.networks.count(c.network)) fail<InputError>("{}.network: network '{}' is not defined", path, c.network);
  c.az = str(o, "az", path);
  if (!c.az.empty() && !cloud.azs.count(c.az)) fail<InputError>("{}.az: az '{}' is not defined", path, c.az);
  if (const std::string vt = str(o, "vm_type", path); !vt.empty()) {
    if (!vm_types.count(vt)) fail<InputError>("{}.vm_type: vm_type '{}' is not defined", path, vt);
    c.cloud_properties = vm_types.at(vt);
  } else {
    c.cloud_properties = object_or_empty(o, "cloud_properties", path);
  }
  c.reuse_compilation_vms = boolean(o, "reuse_compilation_vms", path, false);
  c.env = object_or_empty(o, "env", path);
  return c;
}

void parse_v2(const JsonObject::Ptr& root, const Json& cloud_config, DeploymentSpec& d) {
  if (cloud_config.isEmpty())
    fail<InputError>("manifest: a v2 manifest (instance_groups) needs a cloud config: bosh update cloud-config FILE");
  auto cc = object_at(cloud_config, "cloud config");
  std::map<std::string, Json> vm_types, vm_extensions;
  DiskTypes disk_types;
  int i = 0;
  for (const auto& item : list_at(cc, "azs", "cloud config")) {
    const std::string p = fmt::format("cloud config azs[{}]", i++);
    const std::string n = name_of(item, p);
    d.cloud.azs[n] = object_or_empty(object_at(item, p), "cloud_properties", p);
    d.cloud.az_order.push_back(n);
  }
  i = 0;
  for (const auto& item : list_at(cc, "vm_types", "cloud config")) {
    const std::string p = fmt::format("cloud config vm_types[{}]", i++);
    vm_types[name_of(item, p)] = object_or_empty(object_at(item, p), "cloud_properties", p);
  }
  i = 0;
  for (const auto& item : list_at(cc, "vm_extensions", "cloud config")) {
    const std::string p = fmt::format("cloud config vm_extensions[{}]", i++);
    vm_extensions[name_of(item, p)] = object_or_empty(object_at(item, p), "cloud_properties", p);
  }
  i = 0;
  for (const auto& item : list_at(cc, "disk_types", "cloud config")) {
    const std::string p = fmt::format("cloud config disk_types[{}]", i++);
    auto o = object_at(item, p);
    const std::int64_t size = bounded_integer(o, "disk_size", p, -1, -1, 1ll << 40, " MB");
    if (size <= 0) fail<InputError>("{}: 'disk_size' must be a positive number of MB", p);
    disk_types[name_of(item, p)] = {size, object_or_empty(o, "cloud_properties", p)};
  }
  i = 0;
  for (const auto& item : list_at(cc, "networks", "cloud config")) {
    Network n = parse_network(item, fmt::format("cloud config networks[{}]", i++));
    for (const auto& s : n.subnets)
      for (const auto& az : s.azs)
        if (!d.cloud.azs.count(az))
          fail<InputError>("cloud config network '{}': az '{}' is not defined", n.name, az);
    d.cloud.networks[n.name] = n;
  }
  d.cloud.compilation = parse_compilation(field(cc, "compilation"), "cloud config compilation", vm_types, d.cloud);

  i = 0;
  std::set<std::string> seen;
  for (const auto& item : list_at(root, "stemcells", "manifest")) {
    const std::string p = fmt::format("stemcells[{}]", i++);
    auto o = object_at(item, p);
    StemcellRef s{str(o, "alias", p, true), str(o, "os", p), str(o, "name", p), str(o, "version", p, false, "latest")};
    if (s.os.empty() && s.name.empty()) fail<InputError>("{}: needs 'os' or 'name'", p);
    check_unique(seen, s.alias, p, "stemcell alias");
    d.stemcells.push_back(s);
  }
  if (d.stemcells.empty()) fail<InputError>("manifest: needs at least one stemcell in 'stemcells'");

  i = 0;
  seen.clear();
  for (const auto& item : list_at(root, "instance_groups", "manifest")) {
    const std::string base = fmt::format("instance_groups[{}]", i++);
    auto o = object_at(item, base);
    InstanceGroup g;
    g.name = str(o, "name", base, true);
    check_bosh_name(base + ".name", g.name);
    const std::string path = base + " (" + g.name + ")";
    check_unique(seen, g.name, path, "instance group");
    g.lifecycle = str(o, "lifecycle", path, false, "service");
    if (g.lifecycle != "service" && g.lifecycle != "errand")
      fail<InputError>("{}.lifecycle: expected service or errand, got '{}'", path, g.lifecycle);
    if (!o->has("instances") || o->get("instances").isEmpty()) fail<InputError>("{}: missing 'instances'", path);
    g.instances = static_cast<int>(bounded_integer(o, "instances", path, 0, 0, kMaxInstances));
    g.azs = strings(o, "azs", path);
    if (!d.cloud.azs.empty() && g.azs.empty()) fail<InputError>("{}: missing 'azs' (the cloud config has azs)", path);
    for (const auto& az : g.azs)
      if (!d.cloud.azs.count(az)) fail<InputError>("{}.azs: az '{}' is not in the cloud config", path, az);
    g.jobs = parse_jobs(o, path, d);
    if (o->has("vm_resources")) fail<InputError>("{}: vm_resources is not supported yet; use a vm_type", path);
    g.vm_type = str(o, "vm_type", path, true);
    if (!vm_types.count(g.vm_type)) fail<InputError>("{}.vm_type: vm_type '{}' is not in the cloud config", path, g.vm_type);
    g.vm_cloud_properties = vm_types.at(g.vm_type);
    for (const auto& ext : strings(o, "vm_extensions", path)) {
      if (!vm_extensions.count(ext))
        fail<InputError>("{}.vm_extensions: '{}' is not in the cloud config", path, ext);
      g.vm_cloud_properties = deep_merge(g.vm_cloud_properties, vm_extensions.at(ext));
    }
    g.stemcell = str(o, "stemcell", path, true);
    if (!d.stemcell(g.stemcell)) fail<InputError>("{}.stemcell: no stemcell with alias '{}'", path, g.stemcell);
    parse_persistent_disk(o, path, "persistent_disk_type", "disk type '{}' is not in the cloud config", disk_types, g);
    g.networks = parse_network_refs(o, path, d.cloud.networks);
    g.update = parse_update(field(o, "update"), path + ".update", d.update);
    g.env = object_or_empty(o, "env", path);
    if (o->has("properties") && !field(o, "properties").isEmpty()) g.properties = object_or_empty(o, "properties", path);
    check_static_ips(g, path, d.cloud);
    d.groups.push_back(std::move(g));
  }
}

void parse_v1(const JsonObject::Ptr& root, DeploymentSpec& d) {
  d.v1 = true;
  int i = 0;
  for (const auto& item : list_at(root, "networks", "manifest")) {
    Network n = parse_network(item, fmt::format("networks[{}]", i++));
    d.cloud.networks[n.name] = n;
  }
  struct Pool {
    std::string network;
    Json cloud_properties, env;
  };
  std::map<std::string, Pool> pools;
  i = 0;
  for (const auto& item : list_at(root, "resource_pools", "manifest")) {
    const std::string p = fmt::format("resource_pools[{}]", i++);
    auto o = object_at(item, p);
    const std::string name = str(o, "name", p, true);
    auto sc = object_at(field(o, "stemcell"), p + ".stemcell");
    d.stemcells.push_back({name, "", str(sc, "name", p + ".stemcell", true),
                           str(sc, "version", p + ".stemcell", false, "latest")});
    pools[name] = {str(o, "network", p), object_or_empty(o, "cloud_properties", p), object_or_empty(o, "env", p)};
  }
  DiskTypes disk_pools;
  i = 0;
  for (const auto& item : list_at(root, "disk_pools", "manifest")) {
    const std::string p = fmt::format("disk_pools[{}]", i++);
    auto o = object_at(item, p);
    disk_pools[name_of(item, p)] = {bounded_integer(o, "disk_size", p, 0, 0, 1ll << 40, " MB"),
                                    object_or_empty(o, "cloud_properties", p)};
  }
  std::map<std::string, Json> no_vm_types;
  d.cloud.compilation = parse_compilation(field(root, "compilation"), "compilation", no_vm_types, d.cloud);
  i = 0;
  std::set<std::string> seen;
  for (const auto& item : list_at(root, "jobs", "manifest")) {
    const std::string base = fmt::format("jobs[{}]", i++);
    auto o = object_at(item, base);
    InstanceGroup g;
    g.name = str(o, "name", base, true);
    check_bosh_name(base + ".name", g.name);
    const std::string path = base + " (" + g.name + ")";
    check_unique(seen, g.name, path, "job");
    g.lifecycle = str(o, "lifecycle", path, false, "service");
    if (!o->has("instances") || o->get("instances").isEmpty()) fail<InputError>("{}: missing 'instances'", path);
    g.instances = static_cast<int>(bounded_integer(o, "instances", path, 0, 0, kMaxInstances));
    g.jobs = parse_v1_templates(o, path, d);
    g.vm_type = str(o, "resource_pool", path, true);
    if (!pools.count(g.vm_type)) fail<InputError>("{}.resource_pool: resource pool '{}' is not defined", path, g.vm_type);
    g.vm_cloud_properties = pools.at(g.vm_type).cloud_properties;
    g.env = pools.at(g.vm_type).env;
    g.stemcell = g.vm_type;
    parse_persistent_disk(o, path, "persistent_disk_pool", "disk pool '{}' is not defined", disk_pools, g);
    g.networks = parse_network_refs(o, path, d.cloud.networks);
    g.update = parse_update(field(o, "update"), path + ".update", d.update);
    if (o->has("properties") && !field(o, "properties").isEmpty()) g.properties = object_or_empty(o, "properties", path);
    check_static_ips(g, path, d.cloud);
    d.groups.push_back(std::move(g));
  }
}

}  // namespace

DeploymentSpec parse_deployment(const Json& manifest, const Json& cloud_config) {
  auto root = object_at(manifest, "manifest");
  DeploymentSpec d;
  parse_common(root, d);
  if (root->has("instance_groups"))
    parse_v2(root, cloud_config, d);
  else if (root->has("jobs") || root->has("resource_pools"))
    parse_v1(root, d);
  else
    fail<InputError>("manifest: has neither 'instance_groups' (v2) nor 'jobs' (v1)");
  return d;
}

// ---- ((variables)) ----------------------------------------------------------------

namespace {
const std::regex& variable_pattern() {
  static const std::regex re("\\(\\(!?([-a-zA-Z0-9_./]+)\\)\\)");
  return re;
}

// "name.key" -> ("name", "key"); "/abs/name" keeps its slashes.
std::pair<std::string, std::string> split_reference(const std::string& ref) {
  const auto dot = ref.find('.');
  if (dot == std::string::npos) return {ref, ""};
  return {ref.substr(0, dot), ref.substr(dot + 1)};
}

void collect(const Json& v, std::set<std::string>& out) {
  if (v.isString()) {
    const std::string s = v.convert<std::string>();
    for (std::sregex_iterator it(s.begin(), s.end(), variable_pattern()), end; it != end; ++it)
      out.insert(split_reference((*it)[1]).first);
  } else if (is_object(v)) {
    for (const auto& [k, item] : *v.extract<JsonObject::Ptr>()) collect(item, out);
  } else if (is_array(v)) {
    for (const auto& item : *v.extract<JsonArray::Ptr>()) collect(item, out);
  }
}

Json lookup(const std::string& ref, const std::map<std::string, Json>& variables) {
  auto [name, key] = split_reference(ref);
  auto it = variables.find(name);
  if (it == variables.end()) fail<InputError>("variable '{}' is not defined", name);
  Json v = it->second;
  while (!key.empty()) {
    auto dot = key.find('.');
    const std::string part = key.substr(0, dot);
    if (!is_object(v) || !v.extract<JsonObject::Ptr>()->has(part))
      fail<InputError>("variable '{}' has no key '{}'", name, part);
    v = v.extract<JsonObject::Ptr>()->get(part);
    key = dot == std::string::npos ? "" : key.substr(dot + 1);
  }
  return v;
}
}  // namespace

std::set<std::string> variable_references(const Json& value) {
  std::set<std::string> out;
  collect(value, out);
  return out;
}

Json interpolate(const Json& value, const std::map<std::string, Json>& variables) {
  if (value.isString()) {
    const std::string s = value.convert<std::string>();
    std::smatch whole;
    if (std::regex_match(s, whole, variable_pattern())) return lookup(whole[1], variables);
    std::string out;
    auto last = s.cbegin();
    bool any = false;
    for (std::sregex_iterator it(s.begin(), s.end(), variable_pattern()), end; it != end; ++it) {
      any = true;
      out.append(last, s.cbegin() + it->position());
      Json v = lookup((*it)[1], variables);
      if (!v.isString() && !v.isNumeric())
        fail<InputError>("variable '{}' is not a string and cannot be part of '{}'", std::string((*it)[1]), s);
      out += v.convert<std::string>();
      last = s.cbegin() + it->position() + it->length();
    }
    if (!any) return value;
    out.append(last, s.cend());
    return out;
  }
  if (is_object(value)) {
    JsonObject::Ptr out = new JsonObject;
    for (const auto& [k, item] : *value.extract<JsonObject::Ptr>()) out->set(k, interpolate(item, variables));
    return out;
  }
  if (is_array(value)) {
    JsonArray::Ptr out = new JsonArray;
    for (const auto& item : *value.extract<JsonArray::Ptr>()) out->add(interpolate(item, variables));
    return out;
  }
  return value;
}

}  // namespace bosh::director
