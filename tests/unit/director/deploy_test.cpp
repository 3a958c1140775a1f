// The deploy engine's pure logic: manifests (v1 and v2 with a cloud config),
// update settings, IP ranges, variables, the instance planner, change
// detection, the manifest diff, and the JSON/YAML helpers they stand on.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/yaml.hpp"
#include "bosh/director/deployments.hpp"
#include "bosh/director/diff.hpp"
#include "bosh/director/manifest.hpp"
#include "deploy.hpp"

using namespace bosh::director;
using bosh::InputError;
using bosh::parse_json;
using bosh::to_json;
using bosh::plugin::Json;

namespace {

Json yj(const std::string& text) { return bosh::yaml_to_typed_json(bosh::parse_yaml(text, "test")); }

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, "fixture has no '" << from << "'");
  return text.replace(at, from.size(), to);
}

const std::string kCloud = R"(
azs:
- name: z1
  cloud_properties: {zone: a}
- name: z2
  cloud_properties: {zone: b}
vm_types:
- name: small
  cloud_properties: {instance_type: m1.small}
vm_extensions:
- name: lb
  cloud_properties: {elbs: [web-lb]}
disk_types:
- name: 10GB
  disk_size: 10240
  cloud_properties: {type: gp2}
networks:
- name: default
  type: manual
  subnets:
  - range: 10.0.0.0/24
    gateway: 10.0.0.1
    dns: [8.8.8.8]
    reserved: ["10.0.0.2 - 10.0.0.9"]
    static: ["10.0.0.10 - 10.0.0.20"]
    azs: [z1]
    cloud_properties: {subnet: s1}
  - range: 10.0.1.0/24
    gateway: 10.0.1.1
    reserved: [10.0.1.2]
    static: [10.0.1.10 - 10.0.1.20]
    az: z2
    cloud_properties: {subnet: s2}
- name: dyn
  type: dynamic
  dns: [1.1.1.1]
  cloud_properties: {dyn: true}
- name: public
  type: vip
compilation:
  workers: 2
  network: default
  az: z1
  vm_type: small
  reuse_compilation_vms: true
)";

const std::string kManifest = R"(
name: dep
releases:
- {name: app, version: 3}
- {name: tools, version: latest}
stemcells:
- {alias: default, os: ubuntu-jammy, version: "1.5"}
update:
  canaries: 2
  max_in_flight: 25%
  canary_watch_time: 1000-10000
  update_watch_time: 5000
  serial: false
properties: {global: 1}
tags: {team: core}
variables:
- {name: admin_password, type: password}
- {name: ca, type: certificate, options: {is_ca: true, common_name: ca}}
instance_groups:
- name: smoke
  lifecycle: errand
  azs: [z1]
  instances: 1
  jobs: [{name: tests, release: tools}]
  vm_type: small
  stemcell: default
  persistent_disk: 512
  networks: [{name: default}]
- name: web
  azs: [z1, z2]
  instances: 3
  jobs:
  - name: nginx
    release: app
    properties: {port: 8080}
    consumes: {db: {from: pg}}
  vm_type: small
  vm_extensions: [lb]
  stemcell: default
  persistent_disk_type: 10GB
  networks: [{name: default}]
  update: {max_in_flight: 1, serial: true}
  env: {persistent_disk_fs: ext4}
)";

// One group named web on the cloud config above; AZS, INSTANCES and NETWORKS are filled in.
const std::string kOneGroup = R"(
name: dep
releases: [{name: app, version: 1}]
stemcells: [{alias: default, os: ubuntu-jammy}]
instance_groups:
- name: web
  azs: AZS
  instances: INSTANCES
  jobs: [{name: nginx, release: app}]
  vm_type: small
  stemcell: default
  networks: NETWORKS
)";

std::string one_group(const std::string& azs, int instances, const std::string& networks) {
  return replace(replace(replace(kOneGroup, "AZS", azs), "INSTANCES", std::to_string(instances)), "NETWORKS",
                 networks);
}

std::string parse_error(const std::string& manifest, const std::string& cloud = kCloud) {
  try {
    parse_deployment(yj(manifest), cloud.empty() ? Json() : yj(cloud));
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

const std::string kV1 = R"(
name: old
director_uuid: abc
releases: [{name: app, version: 2}]
compilation: {workers: 3, network: default, cloud_properties: {instance_type: c1}}
update: {canaries: 1, max_in_flight: 2, canary_watch_time: 3000-30000, update_watch_time: 30000}
networks:
- name: default
  subnets:
  - range: 192.168.1.0/24
    gateway: 192.168.1.1
    dns: [192.168.1.1]
    reserved: [192.168.1.2 - 192.168.1.4]
    static: [192.168.1.10 - 192.168.1.19]
resource_pools:
- name: small
  network: default
  stemcell: {name: bosh-warden-boshlite-ubuntu-trusty-go_agent, version: 3421}
  cloud_properties: {instance_type: m1}
  env: {bosh: {password: x}}
disk_pools: [{name: fast, disk_size: 2048, cloud_properties: {type: ssd}}]
jobs:
- name: db
  template: postgres
  instances: 1
  resource_pool: small
  persistent_disk_pool: fast
  networks: [{name: default, static_ips: [192.168.1.10]}]
  properties: {db: {port: 5432}}
- name: web
  templates: [{name: nginx}, {name: metron, release: app}]
  instances: 2
  resource_pool: small
  persistent_disk: 1024
  networks: [{name: default}]
  update: {canaries: 0}
properties: {domain: example.com}
)";

// ---- planning helpers ----

using namespace bosh::director::deploy;

Plan make_plan(const std::string& manifest, const std::string& cloud = kCloud) {
  Plan p;
  p.spec = parse_deployment(yj(manifest), cloud.empty() ? Json() : yj(cloud));
  p.director_name = "lite";
  for (const auto& s : p.spec.stemcells)
    p.stemcells[s.alias] = StemcellRow{7, "bosh-stemcell", "1.5", "ubuntu-jammy", "sc-cid", 3};
  return p;
}

using Used = std::map<std::string, std::set<std::string>>;

void plan(Plan& p, const std::vector<ExistingInstance>& existing, const Used& used = {}) {
  plan_instances(p, existing, [used](const std::string& net) {
    auto it = used.find(net);
    return it == used.end() ? std::set<std::string>{} : it->second;
  });
}

ExistingInstance existing(std::int64_t id, const std::string& group, int index, const std::string& az,
                          const std::map<std::string, std::string>& ips = {}) {
  ExistingInstance e;
  e.id = id;
  e.group = group;
  e.uuid = "uuid-" + group + "-" + std::to_string(index);
  e.index = index;
  e.az = az;
  e.ips = ips;
  e.vm = VmRow{id, "vm-" + std::to_string(id), "agent-" + std::to_string(id), 0};
  return e;
}

std::vector<const InstancePlan*> of_group(const Plan& p, const std::string& group) {
  std::vector<const InstancePlan*> out;
  for (const auto& i : p.instances)
    if (i.group->name == group) out.push_back(&i);
  return out;
}

const InstancePlan* by_index(const Plan& p, const std::string& group, int index) {
  for (const auto& i : p.instances)
    if (i.group->name == group && i.index == index) return &i;
  return nullptr;
}

Json copy(const Json& v) { return parse_json(to_json(v), "copy"); }

// A writable handle on an object value.
bosh::plugin::JsonObject::Ptr obj(const Json& v) {
  bosh::plugin::JsonObject::Ptr o = v.extract<bosh::plugin::JsonObject::Ptr>();
  return o;
}

// A diff as "<status> <line>" strings ("  " for unchanged).
std::vector<std::string> diff_lines(const std::string& a, const std::string& b, bool redact = true) {
  std::vector<std::string> out;
  const Json diff = manifest_diff(a, b, redact);  // alive while iterated
  for (const auto& l : *bosh::as_array(diff, "diff")) {
    auto pair = bosh::as_array(l, "line");
    REQUIRE(pair->size() == 2);
    const Json status = pair->get(1);
    const std::string s = status.isEmpty() ? " " : status.convert<std::string>() == "added" ? "+" : status.convert<std::string>() == "removed" ? "-" : "?";
    out.push_back(s + " " + pair->get(0).convert<std::string>());
  }
  return out;
}

bool has(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

// The web instance as last converged: its spec says what the plan says.
InstancePlan converged() {
  static Plan p = [] {
    Plan plan_ = make_plan(one_group("[z1]", 1, "[{name: default}, {name: dyn}]"));
    // one_group has no disk; give it one.
    plan_.spec.groups[0].persistent_disk_mb = 1024;
    plan_.spec.groups[0].disk_cloud_properties = parse_json(R"({"type":"ssd"})", "disk");
    plan(plan_, {existing(1, "web", 0, "z1", {{"default", "10.0.0.21"}})}, {{"default", {"10.0.0.21"}}});
    return plan_;
  }();
  InstancePlan i = p.instances.at(0);
  i.packages = parse_json(R"({"nginx":{"name":"nginx","version":"1.2","sha1":"abc"}})", "packages");
  i.configuration_hash = "cfg-1";
  // Dynamic addresses as the agent reported them.
  Json networks = copy(i.network_settings);
  auto dyn = bosh::as_object(networks, "n")->getObject("dyn");
  dyn->set("ip", "172.16.0.9");
  dyn->set("netmask", "255.255.0.0");
  dyn->set("gateway", "172.16.0.1");
  bosh::plugin::JsonObject::Ptr vm = new bosh::plugin::JsonObject, apply = new bosh::plugin::JsonObject,
                                spec = new bosh::plugin::JsonObject;
  vm->set("stemcell_cid", "sc-cid");
  vm->set("cloud_properties", copy(i.vm_cloud_properties));
  vm->set("env", copy(i.env));
  vm->set("networks", networks);
  apply->set("packages", copy(i.packages));
  apply->set("configuration_hash", "cfg-1");
  spec->set("vm", vm);
  spec->set("apply", apply);
  i.existing->spec = spec;
  i.existing->disk = DiskRow{3, "disk-1", 1024, parse_json(R"({"type":"ssd"})", "disk")};
  return i;
}

std::set<std::string> changes(InstancePlan i, const PlanOptions& options = {}) {
  detect_changes(i, options);
  return i.changes;
}

bosh::plugin::JsonObject::Ptr spec_part(InstancePlan& i, const std::string& part) {
  return bosh::as_object(i.existing->spec, "spec")->getObject(part);
}

}  // namespace

TEST_SUITE("unit") {
  // ---- YAML and JSON helpers ----

  TEST_CASE("yaml_to_typed_json: plain scalars typed as YAML 1.1 and quoted ones kept as strings") {
    const Json v = yj(R"(
port: 8080
quoted: "8080"
single: '8080'
negative: -7
underscored: 1_000
hex: 0x1F
float: 1.5
version: 1.5.2
yes_: yes
no_: no
on_: on
off_: Off
true_: true
false_: FALSE
quoted_bool: "true"
tilde: ~
null_: null
empty:
word: yes-sir
list: [1, "2", three]
nested: {a: {b: 2}}
)");
    CHECK(to_json(v) ==
          R"({"empty":null,"false_":false,"float":1.5,"hex":31,"list":[1,"2","three"],"negative":-7,)"
          R"("nested":{"a":{"b":2}},"no_":false,"null_":null,"off_":false,"on_":true,"port":8080,"quoted":"8080",)"
          R"("quoted_bool":"true","single":"8080","tilde":null,"true_":true,"underscored":1000,"version":"1.5.2",)"
          R"("word":"yes-sir","yes_":true})");
    auto o = bosh::as_object(v, "v");
    CHECK(o->get("port").isInteger());
    CHECK(o->get("quoted").isString());
    CHECK(o->get("yes_").type() == typeid(bool));
    CHECK(o->get("tilde").isEmpty());
  }


  TEST_CASE("yaml_to_typed_json: YAML 1.1 octal and binary integers") {
    const Json v = yj(R"(
octal: 010
negative_octal: -010
plus_octal: +017
binary: 0b101
negative_binary: -0b11
not_octal: 08
hex: 0x1F
zero: 0
quoted: "010"
)");
    CHECK(to_json(v) ==
          R"({"binary":5,"hex":31,"negative_binary":-3,"negative_octal":-8,"not_octal":"08","octal":8,"plus_octal":15,)"
          R"("quoted":"010","zero":0})");
    auto o = bosh::as_object(v, "v");
    CHECK(o->get("octal").isInteger());
    CHECK(o->get("binary").isInteger());
    CHECK(o->get("not_octal").isString());
    CHECK(o->get("quoted").isString());
  }

  TEST_CASE("deep_merge: objects merged key by key and everything else replaced") {
    const Json base = parse_json(R"({"a":{"b":1,"c":{"x":1}},"d":[1,2],"e":"keep"})", "base");
    const Json over = parse_json(R"({"a":{"c":{"y":2},"f":3},"d":[3],"g":true})", "over");
    const Json merged = bosh::deep_merge(base, over);
    CHECK(to_json(merged) == R"({"a":{"b":1,"c":{"x":1,"y":2},"f":3},"d":[3],"e":"keep","g":true})");
    // Neither input is changed.
    CHECK(to_json(base) == R"({"a":{"b":1,"c":{"x":1}},"d":[1,2],"e":"keep"})");
    CHECK(to_json(over) == R"({"a":{"c":{"y":2},"f":3},"d":[3],"g":true})");
    // A scalar replaces an object and an object a scalar.
    CHECK(to_json(bosh::deep_merge(parse_json(R"({"a":{"b":1}})", "x"), parse_json(R"({"a":5})", "y"))) ==
          R"({"a":5})");
    CHECK(to_json(bosh::deep_merge(parse_json(R"({"a":5})", "x"), parse_json(R"({"a":{"b":1}})", "y"))) ==
          R"({"a":{"b":1}})");
    CHECK(to_json(bosh::deep_merge(parse_json(R"({"a":1})", "x"), bosh::plugin::json_object())) == R"({"a":1})");
  }


  TEST_CASE("deep_merge: a null in the override replaces the base value") {
    CHECK(to_json(bosh::deep_merge(parse_json(R"({"a":1})", "x"), parse_json(R"({"a":null})", "y"))) == R"({"a":null})");
    CHECK(to_json(bosh::deep_merge(parse_json(R"({"a":{"b":1}})", "x"), parse_json(R"({"a":null})", "y"))) ==
          R"({"a":null})");
    // Nested objects are still merged key by key - a nested null replaces too.
    CHECK(to_json(bosh::deep_merge(parse_json(R"({"a":{"b":1,"c":2},"k":true})", "x"),
                                   parse_json(R"({"a":{"c":null,"d":{"e":3}}})", "y"))) ==
          R"({"a":{"b":1,"c":null,"d":{"e":3}},"k":true})");
    CHECK(to_json(bosh::deep_merge(parse_json(R"({"a":{"b":{"x":1}}})", "x"), parse_json(R"({"a":{"b":{"y":2}}})", "y"))) ==
          R"({"a":{"b":{"x":1,"y":2}}})");
    // A new key with null is added as before.
    CHECK(to_json(bosh::deep_merge(parse_json(R"({"a":1})", "x"), parse_json(R"({"b":null})", "y"))) ==
          R"({"a":1,"b":null})");
  }

  TEST_CASE("dig: dotted paths through nested objects") {
    const Json v = parse_json(R"({"a":{"b":{"c":5}},"list":[1]})", "v");
    REQUIRE(bosh::dig(v, "a.b.c").has_value());
    CHECK(to_json(*bosh::dig(v, "a.b.c")) == "5");
    CHECK(to_json(*bosh::dig(v, "a.b")) == R"({"c":5})");
    CHECK(to_json(*bosh::dig(v, "list")) == "[1]");
    CHECK_FALSE(bosh::dig(v, "a.x").has_value());
    CHECK_FALSE(bosh::dig(v, "a.b.c.d").has_value());
    CHECK_FALSE(bosh::dig(v, "list.0").has_value());
    CHECK_FALSE(bosh::dig(Json(std::string("scalar")), "a").has_value());
  }

  // ---- IPs ----

  TEST_CASE("parse_ip and format_ip round trip and reject what is not IPv4") {
    CHECK(parse_ip("1.2.3.4", "ip") == 0x01020304u);
    CHECK(parse_ip("255.255.255.255", "ip") == 0xffffffffu);
    CHECK(format_ip(0x0a000105u) == "10.0.1.5");
    CHECK(format_ip(parse_ip("192.168.0.77", "ip")) == "192.168.0.77");
    CHECK_THROWS_WITH_AS(parse_ip("10.0.0.256", "net.static"), "net.static: '10.0.0.256' is not an IPv4 address",
                         InputError);
    CHECK_THROWS_WITH_AS(parse_ip("10.0.0", "x"), "x: '10.0.0' is not an IPv4 address", InputError);
    CHECK_THROWS_AS(parse_ip("10.0.0.1x", "x"), InputError);
    CHECK_THROWS_AS(parse_ip("host.example", "x"), InputError);
  }

  TEST_CASE("parse_ip_range: single addresses - dashed ranges and CIDRs") {
    IpRange one = parse_ip_range("10.0.0.5", "r");
    CHECK(one.first == parse_ip("10.0.0.5", "x"));
    CHECK(one.last == one.first);
    IpRange dashed = parse_ip_range(" 10.0.0.5 - 10.0.0.9 ", "r");
    CHECK(format_ip(dashed.first) == "10.0.0.5");
    CHECK(format_ip(dashed.last) == "10.0.0.9");
    CHECK(dashed.contains(parse_ip("10.0.0.7", "x")));
    CHECK_FALSE(dashed.contains(parse_ip("10.0.0.10", "x")));
    IpRange tight = parse_ip_range("10.0.0.5-10.0.0.6", "r");
    CHECK(format_ip(tight.last) == "10.0.0.6");
    IpRange cidr = parse_ip_range("10.0.0.77/26", "r");
    CHECK(format_ip(cidr.first) == "10.0.0.64");
    CHECK(format_ip(cidr.last) == "10.0.0.127");
    IpRange host = parse_ip_range("10.1.2.3/32", "r");
    CHECK(host.first == host.last);
    IpRange all = parse_ip_range("10.1.2.3/0", "r");
    CHECK(all.first == 0u);
    CHECK(all.last == 0xffffffffu);
    CHECK_THROWS_WITH_AS(parse_ip_range("10.0.0.9 - 10.0.0.5", "subnet.reserved"),
                         "subnet.reserved: range '10.0.0.9 - 10.0.0.5' ends before it starts", InputError);
    CHECK_THROWS_WITH_AS(parse_ip_range("10.0.0.0/33", "range"), "range: '10.0.0.0/33' has a bad prefix length",
                         InputError);
    CHECK_THROWS_WITH_AS(parse_ip_range("10.0.0.1 - 10.0.0.x", "static"),
                         "static: '10.0.0.x' is not an IPv4 address", InputError);
  }


  TEST_CASE("parse_ip_range: a CIDR prefix that is not a number from 0 to 32 is refused") {
    for (const char* bad : {"10.0.0.0/abc", "10.0.0.0/", "10.0.0.0/24x", "10.0.0.0/33", "10.0.0.0/ 24", "10.0.0.0/024"})
      CHECK_THROWS_WITH_AS(parse_ip_range(bad, "range"), ("range: '" + std::string(bad) + "' has a bad prefix length").c_str(),
                           InputError);
    CHECK(parse_ip_range("10.0.0.0/8", "range").last == parse_ip("10.255.255.255", "x"));
    // The cloud config's subnet ranges say which field is at fault.
    CHECK(parse_error(kManifest, replace(kCloud, "range: 10.0.0.0/24", "range: 10.0.0.0/abc")) ==
          "cloud config networks[0].subnets[0].range: '10.0.0.0/abc' has a bad prefix length");
    CHECK(parse_error(kManifest, replace(kCloud, "range: 10.0.0.0/24", "range: 10.0.0.0/24x")) ==
          "cloud config networks[0].subnets[0].range: '10.0.0.0/24x' has a bad prefix length");
  }

  TEST_CASE("subnets: static and reserved ranges from the cloud config") {
    const DeploymentSpec d = parse_deployment(yj(kManifest), yj(kCloud));
    const Network& net = d.cloud.networks.at("default");
    REQUIRE(net.subnets.size() == 2);
    const Subnet& s = net.subnets[0];
    CHECK(s.range == "10.0.0.0/24");
    CHECK(format_ip(s.network) == "10.0.0.0");
    CHECK(format_ip(s.broadcast) == "10.0.0.255");
    CHECK(s.prefix == 24);
    CHECK(s.netmask == "255.255.255.0");
    CHECK(s.gateway == "10.0.0.1");
    CHECK(s.dns == std::vector<std::string>{"8.8.8.8"});
    CHECK(s.azs == std::vector<std::string>{"z1"});
    CHECK(to_json(s.cloud_properties) == R"({"subnet":"s1"})");
    CHECK(s.in_reserved(parse_ip("10.0.0.2", "x")));
    CHECK(s.in_reserved(parse_ip("10.0.0.9", "x")));
    CHECK_FALSE(s.in_reserved(parse_ip("10.0.0.10", "x")));
    CHECK(s.in_static(parse_ip("10.0.0.10", "x")));
    CHECK(s.in_static(parse_ip("10.0.0.20", "x")));
    CHECK_FALSE(s.in_static(parse_ip("10.0.0.21", "x")));
    CHECK(net.subnets[1].azs == std::vector<std::string>{"z2"});  // `az: z2`
    CHECK(d.cloud.networks.at("dyn").type == "dynamic");
    CHECK(d.cloud.networks.at("dyn").dns == std::vector<std::string>{"1.1.1.1"});
    CHECK(d.cloud.networks.at("public").type == "vip");
  }

  TEST_CASE("cloud config networks: ranges - gateways - reserved and static checked with their paths") {
    auto with = [&](const std::string& from, const std::string& to) {
      return parse_error(kManifest, replace(kCloud, from, to));
    };
    CHECK(with("gateway: 10.0.0.1", "gateway: 10.0.1.1") ==
          "cloud config networks[0].subnets[0].gateway: 10.0.1.1 is outside the subnet 10.0.0.0/24");
    CHECK(with("reserved: [\"10.0.0.2 - 10.0.0.9\"]", "reserved: [10.0.1.5]") ==
          "cloud config networks[0].subnets[0].reserved: '10.0.1.5' is outside the subnet 10.0.0.0/24");
    CHECK(with("static: [\"10.0.0.10 - 10.0.0.20\"]", "static: [\"10.0.0.250 - 10.0.1.3\"]") ==
          "cloud config networks[0].subnets[0].static: '10.0.0.250 - 10.0.1.3' is outside the subnet 10.0.0.0/24");
    CHECK(with("static: [\"10.0.0.10 - 10.0.0.20\"]", "static: [\"10.0.0.8 - 10.0.0.20\"]") ==
          "cloud config networks[0].subnets[0].static: 10.0.0.8 is also reserved");
    CHECK(with("range: 10.0.0.0/24", "range: 10.0.0.0") ==
          "cloud config networks[0].subnets[0].range: '10.0.0.0' is not a CIDR range");
    CHECK(with("    gateway: 10.0.0.1\n", "") == "cloud config networks[0].subnets[0]: missing 'gateway'");
    CHECK(with("    azs: [z1]\n", "    azs: [z3]\n") == "cloud config network 'default': az 'z3' is not defined");
    CHECK(with("  type: dynamic", "  type: magic") ==
          "cloud config networks[1].type: expected manual, dynamic or vip, got 'magic'");
    CHECK(with("- name: public\n  type: vip\n", "- name: public\n  type: manual\n") ==
          "cloud config networks[2]: a manual network needs subnets");
    CHECK(with("disk_size: 10240", "disk_size: 0") ==
          "cloud config disk_types[0]: 'disk_size' must be a positive number of MB");
    CHECK(with("  workers: 2", "  workers: 0") == "cloud config compilation.workers: must be from 1 to 1000, got 0");
    CHECK(with("  network: default\n  az: z1", "  network: nope\n  az: z1") ==
          "cloud config compilation.network: network 'nope' is not defined");
    CHECK(with("  az: z1\n  vm_type: small", "  az: z9\n  vm_type: small") ==
          "cloud config compilation.az: az 'z9' is not defined");
    CHECK(with("  vm_type: small\n  reuse", "  vm_type: huge\n  reuse") ==
          "cloud config compilation.vm_type: vm_type 'huge' is not defined");
    CHECK(parse_error(kManifest, kCloud.substr(0, kCloud.find("compilation:"))) ==
          "cloud config compilation: missing (the network and workers that compile packages)");
  }

  // ---- v2 manifests ----

  TEST_CASE("parse_deployment: a v2 manifest with a cloud config") {
    const DeploymentSpec d = parse_deployment(yj(kManifest), yj(kCloud));
    CHECK(d.name == "dep");
    CHECK_FALSE(d.v1);
    REQUIRE(d.releases.size() == 2);
    CHECK(d.releases[0].name == "app");
    CHECK(d.releases[0].version == "3");  // a YAML number read as text
    CHECK(d.releases[1].version == "latest");
    REQUIRE(d.stemcells.size() == 1);
    CHECK(d.stemcells[0].alias == "default");
    CHECK(d.stemcells[0].os == "ubuntu-jammy");
    CHECK(d.stemcells[0].version == "1.5");
    CHECK(d.stemcell("default") == &d.stemcells[0]);
    CHECK(d.stemcell("other") == nullptr);
    CHECK(d.update.canaries == "2");
    CHECK(d.update.max_in_flight == "25%");
    CHECK(d.update.canary_watch.min_ms == 1000);
    CHECK(d.update.canary_watch.max_ms == 10000);
    CHECK(d.update.update_watch.min_ms == 5000);
    CHECK(d.update.update_watch.max_ms == 5000);
    CHECK_FALSE(d.update.serial);
    CHECK(d.update.serial_set == std::optional<bool>(false));
    CHECK(to_json(d.properties) == R"({"global":1})");
    CHECK(to_json(d.tags) == R"({"team":"core"})");
    REQUIRE(d.variables.size() == 2);
    CHECK(d.variables[1].name == "ca");
    CHECK(d.variables[1].type == "certificate");
    CHECK(to_json(d.variables[1].options) == R"({"common_name":"ca","is_ca":true})");

    CHECK(d.cloud.az_order == std::vector<std::string>{"z1", "z2"});
    CHECK(to_json(d.cloud.azs.at("z2")) == R"({"zone":"b"})");
    CHECK(d.cloud.compilation.workers == 2);
    CHECK(d.cloud.compilation.network == "default");
    CHECK(d.cloud.compilation.az == "z1");
    CHECK(d.cloud.compilation.reuse_compilation_vms);
    CHECK(to_json(d.cloud.compilation.cloud_properties) == R"({"instance_type":"m1.small"})");

    REQUIRE(d.groups.size() == 2);
    const InstanceGroup* web = d.group("web");
    REQUIRE(web != nullptr);
    CHECK(d.group("nope") == nullptr);
    CHECK(web->lifecycle == "service");
    CHECK(web->instances == 3);
    CHECK(web->azs == std::vector<std::string>{"z1", "z2"});
    REQUIRE(web->jobs.size() == 1);
    CHECK(web->jobs[0].name == "nginx");
    CHECK(web->jobs[0].release == "app");
    CHECK(to_json(web->jobs[0].properties) == R"({"port":8080})");
    CHECK(to_json(web->jobs[0].consumes) == R"({"db":{"from":"pg"}})");
    CHECK(to_json(web->jobs[0].provides) == "{}");
    CHECK(web->vm_type == "small");
    CHECK(to_json(web->vm_cloud_properties) == R"({"elbs":["web-lb"],"instance_type":"m1.small"})");
    CHECK(web->stemcell == "default");
    CHECK(web->disk_type == "10GB");
    CHECK(web->persistent_disk_mb == 10240);
    CHECK(to_json(web->disk_cloud_properties) == R"({"type":"gp2"})");
    REQUIRE(web->networks.size() == 1);
    CHECK(web->networks[0].name == "default");
    CHECK(web->networks[0].defaults == std::vector<std::string>{"dns", "gateway"});  // the only network
    CHECK(to_json(web->env) == R"({"persistent_disk_fs":"ext4"})");
    CHECK(web->properties.isEmpty());
    // The group's update block on top of the deployment's.
    CHECK(web->update.canaries == "2");
    CHECK(web->update.max_in_flight == "1");
    CHECK(web->update.canary_watch.max_ms == 10000);
    CHECK(web->update.serial);
    CHECK(web->update.serial_set == std::optional<bool>(true));

    const InstanceGroup* smoke = d.group("smoke");
    REQUIRE(smoke != nullptr);
    CHECK(smoke->lifecycle == "errand");
    CHECK(smoke->persistent_disk_mb == 512);
    CHECK(smoke->disk_type.empty());
    CHECK(smoke->jobs[0].release == "tools");
    CHECK(smoke->jobs[0].properties.isEmpty());  // none: the manifest's
    CHECK_FALSE(smoke->update.serial);  // inherited
  }

  TEST_CASE("parse_deployment: the only release is the default and static IP ranges are expanded") {
    const std::string m = replace(one_group("[z1]", 3, "[{name: default, static_ips: [\"10.0.0.10 - 10.0.0.11\", 10.0.0.15]}]"),
                                  "jobs: [{name: nginx, release: app}]", "jobs: [{name: nginx}]");
    const DeploymentSpec d = parse_deployment(yj(m), yj(kCloud));
    CHECK(d.groups[0].jobs[0].release == "app");
    CHECK(d.groups[0].networks[0].static_ips == std::vector<std::string>{"10.0.0.10", "10.0.0.11", "10.0.0.15"});
    CHECK(d.update.canaries == "1");  // BOSH's defaults without an update block
    CHECK(d.update.max_in_flight == "1");
    CHECK(d.update.serial);
    CHECK_FALSE(d.update.serial_set.has_value());
  }

  TEST_CASE("parse_deployment: v2 errors name the field at fault") {
    // The second group has a job without a release while the manifest has two.
    CHECK(parse_error(replace(kManifest, "  - name: nginx\n    release: app\n", "  - name: nginx\n")) ==
          "instance_groups[1] (web).jobs[0]: missing 'release'");
    CHECK(parse_error(replace(kManifest, "release: app", "release: nope")) ==
          "instance_groups[1] (web).jobs[0]: release 'nope' is not in the manifest's releases");
    CHECK(parse_error(replace(kManifest, "name: smoke", "name: web")) ==
          "instance_groups[1] (web): instance group 'web' is defined twice");
    CHECK(parse_error(replace(kManifest, "lifecycle: errand", "lifecycle: daemon")) ==
          "instance_groups[0] (smoke).lifecycle: expected service or errand, got 'daemon'");
    CHECK(parse_error(replace(kManifest, "  azs: [z1, z2]\n", "")) ==
          "instance_groups[1] (web): missing 'azs' (the cloud config has azs)");
    CHECK(parse_error(replace(kManifest, "azs: [z1, z2]", "azs: [z1, z9]")) ==
          "instance_groups[1] (web).azs: az 'z9' is not in the cloud config");
    CHECK(parse_error(replace(kManifest, "  instances: 3\n", "")) == "instance_groups[1] (web): missing 'instances'");
    CHECK(parse_error(replace(kManifest, "instances: 3", "instances: three")) ==
          "instance_groups[1] (web).instances: expected an integer, got 'three'");
    CHECK(parse_error(replace(kManifest, "vm_type: small\n  vm_extensions", "vm_type: huge\n  vm_extensions")) ==
          "instance_groups[1] (web).vm_type: vm_type 'huge' is not in the cloud config");
    CHECK(parse_error(replace(kManifest, "vm_extensions: [lb]", "vm_extensions: [lb, gpu]")) ==
          "instance_groups[1] (web).vm_extensions: 'gpu' is not in the cloud config");
    CHECK(parse_error(replace(kManifest, "stemcell: default\n  persistent_disk_type",
                              "stemcell: other\n  persistent_disk_type")) ==
          "instance_groups[1] (web).stemcell: no stemcell with alias 'other'");
    CHECK(parse_error(replace(kManifest, "persistent_disk_type: 10GB", "persistent_disk_type: 1TB")) ==
          "instance_groups[1] (web).persistent_disk_type: disk type '1TB' is not in the cloud config");
    CHECK(parse_error(replace(kManifest, "  networks: [{name: default}]\n  update",
                              "  networks: [{name: nope}]\n  update")) ==
          "instance_groups[1] (web).networks[0]: network 'nope' is not defined");
    CHECK(parse_error(replace(kManifest, "  networks: [{name: default}]\n  update", "  update")) ==
          "instance_groups[1] (web): needs at least one network");
    CHECK(parse_error(replace(kManifest, "consumes: {db: {from: pg}}", "consumes: [db]")) ==
          "instance_groups[1] (web).jobs[0].consumes: expected a map, got array");
    CHECK(parse_error(replace(kManifest, "    consumes: {db: {from: pg}}\n",
                              "    consumes: {db: {from: pg}}\n  - {name: nginx, release: tools}\n")) ==
          "instance_groups[1] (web).jobs[1]: job 'nginx' is defined twice");
    CHECK(parse_error(replace(kManifest, "jobs: [{name: tests, release: tools}]", "jobs: {name: tests}")) ==
          "instance_groups[0] (smoke).jobs: expected a list, got object");
    CHECK(parse_error(replace(kManifest, "- name: smoke\n  lifecycle: errand", "- just a string\n- name: smoke\n  lifecycle: errand")) ==
          "instance_groups[0]: expected a map, got string");
    CHECK(parse_error(replace(kManifest, "update: {max_in_flight: 1, serial: true}",
                              "update: {max_in_flight: 1, serial: maybe}")) ==
          "instance_groups[1] (web).update.serial: expected true or false, got string");
    CHECK(parse_error(replace(kManifest, "  canaries: 2\n", "  canaries: many\n")) ==
          "update.canaries: expected an integer or 'N%' (at most 100%), got 'many'");
    // Hostile numbers: refused by name before anything is planned.
    CHECK(parse_error(replace(kManifest, "  instances: 3\n", "  instances: -1\n")) ==
          "instance_groups[1] (web).instances: must be from 0 to 10000, got -1");
    CHECK(parse_error(replace(kManifest, "  instances: 3\n", "  instances: 1000000000\n")) ==
          "instance_groups[1] (web).instances: must be from 0 to 10000, got 1000000000");
    CHECK(parse_error(replace(kManifest, "  instances: 3\n", "")) == "instance_groups[1] (web): missing 'instances'");
    CHECK(parse_error(replace(kManifest, "persistent_disk: 512", "persistent_disk: -100")) ==
          "instance_groups[0] (smoke).persistent_disk: must be from 0 to 1099511627776 MB, got -100");
    CHECK(parse_error(replace(kManifest, "max_in_flight: 25%", "max_in_flight: 250%")) ==
          "update.max_in_flight: expected an integer or 'N%' (at most 100%), got '250%'");
    CHECK(parse_error(replace(kManifest, "  canaries: 2\n", "  canaries: 99999999999\n")) ==
          "update.canaries: expected an integer or 'N%' (at most 100%), got '99999999999'");
    CHECK(parse_error(replace(kManifest, "name: dep\n", "name: ../../bad\n")) ==
          "manifest: name '../../bad' may only have letters, digits, '-', '_', '.' and '+' (at most 255)");
    CHECK(parse_error(replace(kManifest, "- name: web\n", "- name: a/b?c=d#e\n")) ==
          "instance_groups[1].name 'a/b?c=d#e' may only have letters, digits, '-', '_', '.' and '+' (at most 255)");
    CHECK(parse_error(replace(kManifest, "canary_watch_time: 1000-10000", "canary_watch_time: 9000-1000")) ==
          "update.canary_watch_time: '9000-1000' has a minimum above its maximum");
    CHECK(parse_error(replace(kManifest, "update_watch_time: 5000", "update_watch_time: soon")) ==
          "update.update_watch_time: expected milliseconds or 'min-max', got 'soon'");
    CHECK(parse_error(replace(kManifest, "type: password", "type: secret")) ==
          "variables[0].type: expected password, certificate, ssh or rsa, got 'secret'");
    CHECK(parse_error(replace(kManifest, "name: ca, type", "name: admin_password, type")) ==
          "variables[1]: variable 'admin_password' is defined twice");
    CHECK(parse_error(replace(kManifest, "os: ubuntu-jammy, ", "")) == "stemcells[0]: needs 'os' or 'name'");
    CHECK(parse_error(replace(kManifest, "- {alias: default, os: ubuntu-jammy, version: \"1.5\"}\n", "")) ==
          "manifest: needs at least one stemcell in 'stemcells'");
    CHECK(parse_error(replace(kManifest, "- {name: tools, version: latest}", "- {name: app, version: 4}")) ==
          "releases[1]: release 'app' is defined twice");
    CHECK(parse_error(replace(kManifest, "name: dep\n", "")) == "manifest: missing 'name'");
    CHECK(parse_error("name: x\nreleases: []\ninstance_groups: []\n") ==
          "manifest: needs at least one release in 'releases'");
    CHECK(parse_error("name: x\nreleases: [{name: r}]\n") ==
          "manifest: has neither 'instance_groups' (v2) nor 'jobs' (v1)");
    CHECK_THROWS_WITH_AS(parse_deployment(yj(kManifest), Json()),
                         doctest::Contains("a v2 manifest (instance_groups) needs a cloud config"), InputError);
    CHECK_THROWS_WITH_AS(parse_deployment(yj("- a list"), yj(kCloud)), "manifest: expected a map, got array",
                         InputError);
  }

  TEST_CASE("parse_deployment: static IPs must be in a static range and one per instance") {
    CHECK(parse_error(one_group("[z1]", 1, "[{name: default, static_ips: [10.0.0.50]}]")) ==
          "instance_groups[0] (web): static IP 10.0.0.50 is not in a static range of network 'default'");
    CHECK(parse_error(one_group("[z1]", 3, "[{name: default, static_ips: [10.0.0.10 - 10.0.0.11]}]")) ==
          "instance_groups[0] (web): 2 static IPs on network 'default' for 3 instances");
    CHECK(parse_error(one_group("[z1]", 1, "[{name: default, static_ips: [10.0.0.10 - 10.0.0.11]}]")) ==
          "instance_groups[0] (web): 2 static IPs on network 'default' for 1 instances");
    // A vip network has no ranges to be in.
    CHECK(parse_error(one_group("[z1]", 1, "[{name: default}, {name: public, static_ips: [203.0.113.7]}]")) ==
          "(no error)");
  }


  TEST_CASE("parse_deployment: a static IP listed twice in one group is refused") {
    CHECK(parse_error(one_group("[z1]", 2, "[{name: default, static_ips: [10.0.0.10, 10.0.0.10]}]")) ==
          "instance_groups[0] (web): static IP 10.0.0.10 is listed twice on network 'default'");
    // Overlapping ranges count too.
    CHECK(parse_error(one_group("[z1]", 3, "[{name: default, static_ips: [\"10.0.0.10 - 10.0.0.11\", 10.0.0.11]}]")) ==
          "instance_groups[0] (web): static IP 10.0.0.11 is listed twice on network 'default'");
    CHECK(parse_error(one_group("[z1]", 2, "[{name: default, static_ips: [10.0.0.10, 10.0.0.11]}]")) == "(no error)");
  }

  // ---- v1 manifests ----

  TEST_CASE("parse_deployment: a v1 manifest with resource pools - networks and compilation of its own") {
    const DeploymentSpec d = parse_deployment(yj(kV1), Json());
    CHECK(d.v1);
    CHECK(d.name == "old");
    REQUIRE(d.stemcells.size() == 1);
    CHECK(d.stemcells[0].alias == "small");
    CHECK(d.stemcells[0].name == "bosh-warden-boshlite-ubuntu-trusty-go_agent");
    CHECK(d.stemcells[0].version == "3421");
    CHECK(d.stemcells[0].os.empty());
    CHECK(d.cloud.azs.empty());
    CHECK(d.cloud.compilation.workers == 3);
    CHECK(to_json(d.cloud.compilation.cloud_properties) == R"({"instance_type":"c1"})");
    CHECK(d.cloud.networks.at("default").type == "manual");  // the default type
    CHECK(d.update.canary_watch.min_ms == 3000);
    CHECK(d.update.max_in_flight == "2");
    CHECK(to_json(d.properties) == R"({"domain":"example.com"})");
    REQUIRE(d.groups.size() == 2);
    const InstanceGroup& db = d.groups[0];
    CHECK(db.name == "db");
    CHECK(db.azs.empty());
    REQUIRE(db.jobs.size() == 1);
    CHECK(db.jobs[0].name == "postgres");
    CHECK(db.jobs[0].release == "app");
    CHECK(db.jobs[0].properties.isEmpty());  // the group's properties
    CHECK(to_json(db.properties) == R"({"db":{"port":5432}})");
    CHECK(db.vm_type == "small");
    CHECK(db.stemcell == "small");
    CHECK(to_json(db.vm_cloud_properties) == R"({"instance_type":"m1"})");
    CHECK(to_json(db.env) == R"({"bosh":{"password":"x"}})");
    CHECK(db.disk_type == "fast");
    CHECK(db.persistent_disk_mb == 2048);
    CHECK(to_json(db.disk_cloud_properties) == R"({"type":"ssd"})");
    CHECK(db.networks[0].static_ips == std::vector<std::string>{"192.168.1.10"});
    const InstanceGroup& web = d.groups[1];
    REQUIRE(web.jobs.size() == 2);
    CHECK(web.jobs[0].name == "nginx");
    CHECK(web.jobs[0].release == "app");
    CHECK(web.jobs[1].name == "metron");
    CHECK(web.persistent_disk_mb == 1024);
    CHECK(web.update.canaries == "0");
    CHECK(web.update.max_in_flight == "2");
    CHECK(web.properties.isEmpty());

    const DeploymentSpec listed = parse_deployment(yj(replace(kV1, "template: postgres", "template: [postgres, backup]")), Json());
    REQUIRE(listed.groups[0].jobs.size() == 2);
    CHECK(listed.groups[0].jobs[1].name == "backup");
  }

  TEST_CASE("parse_deployment: v1 errors name the field at fault") {
    CHECK(parse_error(replace(kV1, "resource_pool: small\n  persistent_disk_pool", "resource_pool: big\n  persistent_disk_pool"), "") ==
          "jobs[0] (db).resource_pool: resource pool 'big' is not defined");
    CHECK(parse_error(replace(kV1, "persistent_disk_pool: fast", "persistent_disk_pool: slow"), "") ==
          "jobs[0] (db).persistent_disk_pool: disk pool 'slow' is not defined");
    CHECK(parse_error(replace(kV1, "releases: [{name: app, version: 2}]",
                              "releases: [{name: app, version: 2}, {name: other}]"), "") ==
          "jobs[0] (db): 'template' needs exactly one release in the manifest");
    CHECK(parse_error(replace(kV1, "  template: postgres\n", ""), "") == "jobs[0] (db): missing 'templates'");
    CHECK(parse_error(replace(kV1, "static_ips: [192.168.1.10]", "static_ips: [192.168.1.30]"), "") ==
          "jobs[0] (db): static IP 192.168.1.30 is not in a static range of network 'default'");
    CHECK(parse_error(replace(kV1, "compilation: {workers: 3, network: default, cloud_properties: {instance_type: c1}}\n", ""), "") ==
          "compilation: missing (the network and workers that compile packages)");
    CHECK(parse_error(replace(kV1, "- name: web\n", "- name: db\n"), "") == "jobs[1] (db): job 'db' is defined twice");
    CHECK(parse_error(replace(kV1, "stemcell: {name: bosh-warden-boshlite-ubuntu-trusty-go_agent, version: 3421}",
                              "stemcell: {version: 3421}"), "") ==
          "resource_pools[0].stemcell: missing 'name'");
  }


  TEST_CASE("parse_deployment: a v1 template's release must be in the manifest") {
    CHECK(parse_error(replace(kV1, "{name: metron, release: app}", "{name: metron, release: nope}"), "") ==
          "jobs[1] (web).templates[1]: release 'nope' is not in the manifest's releases");
    CHECK(parse_error(replace(kV1, "templates: [{name: nginx}, {name: metron, release: app}]",
                              "templates: [{name: nginx, release: nope}]"), "") ==
          "jobs[1] (web).templates[0]: release 'nope' is not in the manifest's releases");
    CHECK(parse_error(kV1, "") == "(no error)");
  }

  // ---- update settings ----

  TEST_CASE("UpdateConfig: canaries and max_in_flight as integers or percentages of the group") {
    UpdateConfig u;
    u.canaries = "2";
    u.max_in_flight = "3";
    CHECK(u.canaries_for(5) == 2);
    CHECK(u.canaries_for(1) == 1);  // never more than the group
    CHECK(u.canaries_for(0) == 0);
    CHECK(u.max_in_flight_for(5) == 3);
    CHECK(u.max_in_flight_for(2) == 3);  // BOSH takes integers as given
    u.canaries = "0";
    u.max_in_flight = "0";
    CHECK(u.canaries_for(4) == 0);
    CHECK(u.max_in_flight_for(4) == 1);  // at least one
    u.canaries = "50%";
    u.max_in_flight = "33%";
    CHECK(u.canaries_for(4) == 2);
    CHECK(u.canaries_for(10) == 5);
    CHECK(u.max_in_flight_for(10) == 3);
    CHECK(u.max_in_flight_for(100) == 33);
    u.canaries = "100%";
    u.max_in_flight = "200%";
    CHECK(u.canaries_for(7) == 7);
    CHECK(u.max_in_flight_for(7) == 7);  // capped at the group's size
    u.max_in_flight = "10%";
    CHECK(u.max_in_flight_for(3) == 1);  // at least one
    CHECK(u.max_in_flight_for(0) == 1);
    u.canaries = "50%";
    CHECK(u.canaries_for(0) == 0);
  }


  TEST_CASE("UpdateConfig: percentages are floored as BOSH does") {
    UpdateConfig u;
    u.canaries = "25%";
    u.max_in_flight = "25%";
    CHECK(u.canaries_for(10) == 2);
    CHECK(u.max_in_flight_for(10) == 2);
    u.canaries = "50%";
    u.max_in_flight = "50%";
    CHECK(u.canaries_for(3) == 1);
    CHECK(u.max_in_flight_for(3) == 1);
    u.canaries = "20%";
    u.max_in_flight = "20%";
    CHECK(u.canaries_for(9) == 1);
    CHECK(u.max_in_flight_for(9) == 1);
    u.canaries = "10%";
    u.max_in_flight = "10%";
    CHECK(u.canaries_for(3) == 0);      // canaries may be none
    CHECK(u.max_in_flight_for(3) == 1);  // at least one
    u.canaries = "99%";
    CHECK(u.canaries_for(10) == 9);
  }

  TEST_CASE("WatchTime schedule: min then steps of the median of 1s - range/9 and 15s") {
    CHECK(WatchTime{30000, 30000}.schedule() == std::vector<int>{30000});
    CHECK(WatchTime{1000, 10000}.schedule() == std::vector<int>{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000});
    CHECK(WatchTime{0, 90000}.schedule() ==
          std::vector<int>{0, 10000, 10000, 10000, 10000, 10000, 10000, 10000, 10000, 10000});
    CHECK(WatchTime{5000, 6500}.schedule() == std::vector<int>{5000, 1000});  // step at least 1 s
    const auto long_watch = WatchTime{1000, 301000}.schedule();  // step at most 15 s
    REQUIRE(long_watch.size() == 21);
    CHECK(long_watch[0] == 1000);
    CHECK(std::all_of(long_watch.begin() + 1, long_watch.end(), [](int s) { return s == 15000; }));
    // A manifest's "min-max" and plain milliseconds.
    const DeploymentSpec d = parse_deployment(yj(kManifest), yj(kCloud));
    CHECK(d.update.canary_watch.schedule() == WatchTime{1000, 10000}.schedule());
    CHECK(d.update.update_watch.schedule() == std::vector<int>{5000});
  }

  // ---- variables ----

  TEST_CASE("variables: references found anywhere in a value") {
    const Json v = yj(R"Y(
a: ((x))
b: ["pre-((y.key))-post", "((z)) and ((w))"]
c: 5
d: {deep: "((!bang))"}
e: "(not a variable)"
f: ((/director/dep/abs))
)Y");
    CHECK(variable_references(v) == std::set<std::string>{"/director/dep/abs", "bang", "w", "x", "y", "z"});
    CHECK(variable_references(yj("plain: text")).empty());
  }

  TEST_CASE("interpolate: whole placeholders keep the type and embedded ones are substituted as text") {
    const std::map<std::string, Json> vars = {
        {"port", Json(Poco::Int64(8080))},
        {"host", Json(std::string("db.internal"))},
        {"enabled", Json(true)},
        {"cert", parse_json(R"({"ca":"CA","certificate":"CERT","private_key":"KEY","nested":{"k":"v"}})", "cert")},
    };
    const Json v = yj(R"Y(
port: ((port))
url: "http://((host)):((port))/x"
on: ((enabled))
cert: ((cert))
key: ((cert.private_key))
deep: ((cert.nested.k))
list: [((host)), plain, 3]
untouched: "no placeholders"
)Y");
    const Json out = interpolate(v, vars);
    CHECK(to_json(out) ==
          R"({"cert":{"ca":"CA","certificate":"CERT","nested":{"k":"v"},"private_key":"KEY"},"deep":"v",)"
          R"("key":"KEY","list":["db.internal","plain",3],"on":true,"port":8080,"untouched":"no placeholders",)"
          R"("url":"http://db.internal:8080/x"})");
    CHECK(bosh::as_object(out, "o")->get("port").isInteger());
    // The input is not changed.
    CHECK(bosh::as_object(v, "v")->getValue<std::string>("port") == "((port))");

    CHECK_THROWS_WITH_AS(interpolate(yj("a: ((nope))"), vars), "variable 'nope' is not defined", InputError);
    CHECK_THROWS_WITH_AS(interpolate(yj("a: \"x-((missing))\""), vars), "variable 'missing' is not defined", InputError);
    CHECK_THROWS_WITH_AS(interpolate(yj("a: ((cert.nokey))"), vars), "variable 'cert' has no key 'nokey'",
                         InputError);
    CHECK_THROWS_WITH_AS(interpolate(yj("a: ((host.x))"), vars), "variable 'host' has no key 'x'", InputError);
    CHECK_THROWS_WITH_AS(interpolate(yj("a: \"pem: ((cert))\""), vars),
                         "variable 'cert' is not a string and cannot be part of 'pem: ((cert))'", InputError);
  }

  // ---- the planner ----

  TEST_CASE("plan_instances: a new deployment spreads instances over AZs with the lowest free IPs") {
    Plan p = make_plan(kManifest);
    plan(p, {});
    CHECK(p.obsolete.empty());
    CHECK(of_group(p, "smoke").empty());  // an errand that is not running
    const auto web = of_group(p, "web");
    REQUIRE(web.size() == 3);
    std::map<std::string, int> per_az;
    std::set<int> indexes;
    std::set<std::string> uuids, ips;
    int bootstraps = 0;
    for (const auto* i : web) {
      ++per_az[i->az];
      indexes.insert(i->index);
      uuids.insert(i->uuid);
      ips.insert(i->ips.at("default"));
      bootstraps += i->bootstrap;
      CHECK_FALSE(i->existing.has_value());
      CHECK(i->desired_state == "started");
      CHECK(i->stemcell == &p.stemcells.at("default"));
      CHECK(i->static_networks.empty());
    }
    CHECK(per_az == std::map<std::string, int>{{"z1", 2}, {"z2", 1}});
    CHECK(indexes == std::set<int>{0, 1, 2});
    CHECK(uuids.size() == 3);
    CHECK(bootstraps == 1);
    CHECK(web[0]->index == 0);
    CHECK(web[0]->bootstrap);
    // z1: .2-.9 reserved, .10-.20 static, so .21 and .22; z2: .2 reserved, .3.
    CHECK(ips == std::set<std::string>{"10.0.0.21", "10.0.0.22", "10.0.1.3"});
    for (const auto* i : web) {
      const std::string ip = i->ips.at("default");
      CHECK((i->az == "z1") == (ip.rfind("10.0.0.", 0) == 0));
    }
    const InstancePlan* z2 = nullptr;
    for (const auto* i : web)
      if (i->az == "z2") z2 = i;
    REQUIRE(z2 != nullptr);
    CHECK(to_json(z2->network_settings) ==
          R"({"default":{"cloud_properties":{"subnet":"s2"},"default":["dns","gateway"],"dns":[],)"
          R"("gateway":"10.0.1.1","ip":"10.0.1.3","netmask":"255.255.255.0","type":"manual"}})");
    CHECK(z2->address() == "10.0.1.3");
    CHECK(to_json(z2->vm_cloud_properties) == R"({"elbs":["web-lb"],"instance_type":"m1.small","zone":"b"})");
    CHECK(to_json(z2->env) ==
          R"({"bosh":{"group":"lite-dep-web","groups":["lite","dep","web","lite-dep","dep-web","lite-dep-web"]},)"
          R"("persistent_disk_fs":"ext4"})");
  }

  TEST_CASE("plan_instances: addresses in use elsewhere are skipped and none is handed out twice") {
    const std::string two = one_group("[z1]", 2, "[{name: default}]") + R"(- name: worker
  azs: [z1]
  instances: 2
  jobs: [{name: nginx, release: app}]
  vm_type: small
  stemcell: default
  networks: [{name: default}]
)";
    Plan p = make_plan(two);
    plan(p, {}, {{"default", {"10.0.0.21", "10.0.0.23"}}});
    std::vector<std::string> got;
    for (const auto& i : p.instances) got.push_back(i.ips.at("default"));
    CHECK(got == std::vector<std::string>{"10.0.0.22", "10.0.0.24", "10.0.0.25", "10.0.0.26"});
  }

  TEST_CASE("plan_instances: addresses other deployments hold stay skipped once an instance keeps its own") {
    // The first address the plan hands out must not stop it from seeing the database's.
    Plan p = make_plan(one_group("[z1]", 2, "[{name: default}]"));
    auto e0 = existing(1, "web", 0, "z1", {{"default", "10.0.0.21"}});
    plan(p, {e0}, {{"default", {"10.0.0.21", "10.0.0.22"}}});
    REQUIRE(of_group(p, "web").size() == 2);
    CHECK(by_index(p, "web", 0)->ips.at("default") == "10.0.0.21");
    CHECK(by_index(p, "web", 1)->ips.at("default") == "10.0.0.23");
  }

  TEST_CASE("plan_instances: existing instances keep their uuid - index - AZ and IP") {
    Plan p = make_plan(kManifest);
    auto e0 = existing(10, "web", 0, "z1", {{"default", "10.0.0.30"}});
    auto e2 = existing(12, "web", 2, "z2", {{"default", "10.0.1.7"}});
    e2.bootstrap = true;
    e2.state = "stopped";
    plan(p, {e0, e2}, {{"default", {"10.0.0.30", "10.0.1.7"}}});
    CHECK(p.obsolete.empty());
    REQUIRE(of_group(p, "web").size() == 3);
    const InstancePlan* i0 = by_index(p, "web", 0);
    const InstancePlan* i1 = by_index(p, "web", 1);
    const InstancePlan* i2 = by_index(p, "web", 2);
    REQUIRE(i0);
    REQUIRE(i1);
    REQUIRE(i2);
    CHECK(i0->uuid == "uuid-web-0");
    CHECK(i0->existing.has_value());
    CHECK(i0->az == "z1");
    CHECK(i0->ips.at("default") == "10.0.0.30");
    CHECK(i0->desired_state == "started");
    CHECK_FALSE(i0->bootstrap);
    CHECK(i2->uuid == "uuid-web-2");
    CHECK(i2->ips.at("default") == "10.0.1.7");
    CHECK(i2->bootstrap);  // kept where it was
    CHECK(i2->desired_state == "stopped");  // an operator's stop is kept
    CHECK_FALSE(i1->existing.has_value());  // the new one takes the free index
    CHECK(i1->az == "z1");
    CHECK(i1->ips.at("default") == "10.0.0.21");
    CHECK_FALSE(i1->bootstrap);
    CHECK(i1->uuid != i0->uuid);
  }

  TEST_CASE("plan_instances: an existing IP that is now reserved or static is replaced") {
    Plan p = make_plan(one_group("[z1]", 2, "[{name: default}]"));
    auto e0 = existing(1, "web", 0, "z1", {{"default", "10.0.0.5"}});   // now reserved
    auto e1 = existing(2, "web", 1, "z1", {{"default", "10.0.0.12"}});  // now static
    plan(p, {e0, e1}, {{"default", {"10.0.0.5", "10.0.0.12"}}});
    REQUIRE(p.instances.size() == 2);
    CHECK(p.instances[0].uuid == "uuid-web-0");
    CHECK(p.instances[0].ips.at("default") == "10.0.0.21");
    CHECK(p.instances[1].uuid == "uuid-web-1");
    CHECK(p.instances[1].ips.at("default") == "10.0.0.22");
  }

  TEST_CASE("plan_instances: scaling down makes the rest obsolete and moves the bootstrap") {
    Plan p = make_plan(replace(kManifest, "instances: 3", "instances: 2"));
    auto e0 = existing(1, "web", 0, "z1", {{"default", "10.0.0.21"}});
    auto e1 = existing(2, "web", 1, "z2", {{"default", "10.0.1.3"}});
    auto e2 = existing(3, "web", 2, "z1", {{"default", "10.0.0.22"}});
    e2.bootstrap = true;
    plan(p, {e0, e1, e2}, {{"default", {"10.0.0.21", "10.0.0.22", "10.0.1.3"}}});
    REQUIRE(of_group(p, "web").size() == 2);
    CHECK(p.instances[0].uuid == "uuid-web-0");
    CHECK(p.instances[0].bootstrap);
    CHECK(p.instances[1].uuid == "uuid-web-1");
    CHECK_FALSE(p.instances[1].bootstrap);
    REQUIRE(p.obsolete.size() == 1);
    CHECK(p.obsolete[0].uuid == "uuid-web-2");

    Plan none = make_plan(replace(kManifest, "instances: 3", "instances: 0"));
    plan(none, {e0, e1, e2});
    CHECK(of_group(none, "web").empty());
    CHECK(none.obsolete.size() == 3);
  }


  TEST_CASE("plan_instances: AZ balancing keeps existing placement and prefers instances with a disk") {
    Plan p = make_plan(one_group("[z1, z2]", 3, "[{name: default}]"));
    auto e0 = existing(1, "web", 0, "z2", {{"default", "10.0.1.3"}});
    auto e1 = existing(2, "web", 1, "z2", {{"default", "10.0.1.4"}});
    auto e2 = existing(3, "web", 2, "z1", {{"default", "10.0.0.21"}});
    plan(p, {e0, e1, e2}, {{"default", {"10.0.1.3", "10.0.1.4", "10.0.0.21"}}});
    CHECK(p.obsolete.empty());
    REQUIRE(p.instances.size() == 3);
    std::map<std::string, int> per_az;
    for (const auto& i : p.instances) {
      CHECK(i.existing.has_value());
      ++per_az[i.az];
    }
    CHECK(per_az == std::map<std::string, int>{{"z1", 1}, {"z2", 2}});
    CHECK(p.instances[0].uuid == "uuid-web-0");
    CHECK(p.instances[0].ips.at("default") == "10.0.1.3");
    CHECK(p.instances[1].uuid == "uuid-web-1");
    CHECK(p.instances[1].ips.at("default") == "10.0.1.4");
    CHECK(p.instances[2].uuid == "uuid-web-2");
    CHECK(p.instances[2].ips.at("default") == "10.0.0.21");

    // Scaling down in one AZ: the instance with a persistent disk stays.
    Plan down = make_plan(one_group("[z1]", 1, "[{name: default}]"));
    auto bare = existing(1, "web", 0, "z1", {{"default", "10.0.0.21"}});
    auto with_disk = existing(2, "web", 1, "z1", {{"default", "10.0.0.22"}});
    with_disk.disk = DiskRow{7, "disk-7", 1024, bosh::plugin::json_object()};
    plan(down, {bare, with_disk}, {{"default", {"10.0.0.21", "10.0.0.22"}}});
    REQUIRE(down.instances.size() == 1);
    CHECK(down.instances[0].uuid == "uuid-web-1");
    CHECK(down.instances[0].ips.at("default") == "10.0.0.22");
    CHECK(down.instances[0].bootstrap);
    REQUIRE(down.obsolete.size() == 1);
    CHECK(down.obsolete[0].uuid == "uuid-web-0");
  }

  TEST_CASE("plan_instances: an instance in an AZ the group left is replaced") {
    Plan p = make_plan(one_group("[z1]", 2, "[{name: default}]"));
    auto e0 = existing(1, "web", 0, "z1", {{"default", "10.0.0.21"}});
    auto e1 = existing(2, "web", 1, "z2", {{"default", "10.0.1.3"}});
    plan(p, {e0, e1}, {{"default", {"10.0.0.21", "10.0.1.3"}}});
    REQUIRE(p.instances.size() == 2);
    CHECK(p.instances[0].uuid == "uuid-web-0");
    CHECK_FALSE(p.instances[1].existing.has_value());
    CHECK(p.instances[1].az == "z1");
    CHECK(p.instances[1].index == 2);  // index 1 still belongs to the instance being deleted
    CHECK(p.instances[1].ips.at("default") == "10.0.0.22");
    REQUIRE(p.obsolete.size() == 1);
    CHECK(p.obsolete[0].uuid == "uuid-web-1");
  }

  TEST_CASE("plan_instances: instances of groups no longer in the manifest are obsolete") {
    Plan p = make_plan(kManifest);
    auto gone = existing(9, "old-group", 0, "z1");
    auto gone_errand = existing(10, "old-errand", 0, "z1");
    gone_errand.lifecycle = "errand";
    plan(p, {gone, gone_errand});
    REQUIRE(p.obsolete.size() == 2);
    CHECK(p.obsolete[0].group == "old-group");
    CHECK(p.obsolete[1].group == "old-errand");
  }

  TEST_CASE("plan_instances: errand groups get instances only when their errand runs") {
    Plan idle = make_plan(kManifest);
    auto errand = existing(5, "smoke", 0, "z1", {{"default", "10.0.0.40"}});
    errand.lifecycle = "errand";
    plan(idle, {errand}, {{"default", {"10.0.0.40"}}});
    CHECK(of_group(idle, "smoke").empty());
    CHECK(idle.obsolete.empty());  // an errand's instance is not deleted between runs

    Plan running = make_plan(kManifest);
    running.errands = {"smoke"};
    plan(running, {errand}, {{"default", {"10.0.0.40"}}});
    const auto smoke = of_group(running, "smoke");
    REQUIRE(smoke.size() == 1);
    CHECK(smoke[0]->uuid == "uuid-smoke-0");
    CHECK(smoke[0]->ips.at("default") == "10.0.0.40");
    CHECK(smoke[0]->bootstrap);
    CHECK_FALSE(smoke[0]->needs_vm());

    Plan fresh = make_plan(kManifest);
    fresh.errands = {"smoke"};
    plan(fresh, {});
    REQUIRE(of_group(fresh, "smoke").size() == 1);
    CHECK(of_group(fresh, "smoke")[0]->ips.at("default") == "10.0.0.21");  // smoke comes first in the manifest
    for (const auto* w : of_group(fresh, "web")) CHECK(w->ips.at("default") != "10.0.0.21");
  }


  TEST_CASE("plan_instances: a running errand group scaled down makes its extra instances obsolete") {
    Plan p = make_plan(kManifest);
    p.errands = {"smoke"};
    auto e0 = existing(5, "smoke", 0, "z1", {{"default", "10.0.0.40"}});
    auto e1 = existing(6, "smoke", 1, "z1", {{"default", "10.0.0.41"}});
    e0.lifecycle = e1.lifecycle = "errand";
    plan(p, {e0, e1}, {{"default", {"10.0.0.40", "10.0.0.41"}}});
    const auto smoke = of_group(p, "smoke");
    REQUIRE(smoke.size() == 1);
    CHECK(smoke[0]->uuid == "uuid-smoke-0");
    REQUIRE(p.obsolete.size() == 1);
    CHECK(p.obsolete[0].uuid == "uuid-smoke-1");

    // Between runs both are left alone.
    Plan idle = make_plan(kManifest);
    plan(idle, {e0, e1}, {{"default", {"10.0.0.40", "10.0.0.41"}}});
    CHECK(of_group(idle, "smoke").empty());
    CHECK(idle.obsolete.empty());
  }

  TEST_CASE("plan_instances: static IPs are assigned in index order and kept") {
    const std::string m = one_group("[z1]", 3, "[{name: default, static_ips: [10.0.0.10 - 10.0.0.12]}]");
    Plan fresh = make_plan(m);
    plan(fresh, {});
    REQUIRE(fresh.instances.size() == 3);
    for (int i = 0; i < 3; ++i) {
      CHECK(fresh.instances[i].index == i);
      CHECK(fresh.instances[i].ips.at("default") == "10.0.0.1" + std::to_string(i));
      CHECK(fresh.instances[i].static_networks == std::set<std::string>{"default"});
    }

    Plan again = make_plan(m);
    auto e0 = existing(1, "web", 0, "z1", {{"default", "10.0.0.12"}});
    auto e1 = existing(2, "web", 1, "z1", {{"default", "10.0.0.15"}});  // no longer listed
    plan(again, {e0, e1}, {{"default", {"10.0.0.12", "10.0.0.15"}}});
    REQUIRE(again.instances.size() == 3);
    CHECK(again.instances[0].ips.at("default") == "10.0.0.12");
    CHECK(again.instances[1].ips.at("default") == "10.0.0.10");
    CHECK(again.instances[2].ips.at("default") == "10.0.0.11");
  }


  TEST_CASE("plan_instances: static IPs decide the AZ of their instances") {
    Plan p = make_plan(one_group("[z1, z2]", 2, "[{name: default, static_ips: [10.0.1.10, 10.0.0.10]}]"));
    plan(p, {});
    REQUIRE(p.instances.size() == 2);
    const InstancePlan* in_z2 = nullptr;
    const InstancePlan* in_z1 = nullptr;
    for (const auto& i : p.instances) {
      if (i.ips.at("default") == "10.0.1.10") in_z2 = &i;
      if (i.ips.at("default") == "10.0.0.10") in_z1 = &i;
    }
    REQUIRE(in_z2 != nullptr);
    REQUIRE(in_z1 != nullptr);
    CHECK(in_z2->az == "z2");
    CHECK(in_z1->az == "z1");
    CHECK(to_json(in_z2->network_settings) ==
          R"({"default":{"cloud_properties":{"subnet":"s2"},"default":["dns","gateway"],"dns":[],)"
          R"("gateway":"10.0.1.1","ip":"10.0.1.10","netmask":"255.255.255.0","type":"manual"}})");
    CHECK(to_json(in_z2->vm_cloud_properties) == R"({"instance_type":"m1.small","zone":"b"})");
    CHECK(bosh::as_object(in_z1->network_settings, "n")->getObject("default")->getValue<std::string>("gateway") ==
          "10.0.0.1");

    // Both IPs in z2's subnet: both instances in z2, none in z1.
    Plan both = make_plan(one_group("[z1, z2]", 2, "[{name: default, static_ips: [10.0.1.10, 10.0.1.11]}]"));
    plan(both, {});
    REQUIRE(both.instances.size() == 2);
    for (const auto& i : both.instances) {
      CHECK(i.az == "z2");
      CHECK(i.ips.at("default").rfind("10.0.1.", 0) == 0);
    }
  }

  TEST_CASE("plan_instances: a static IP another deployment holds is refused") {
    Plan p = make_plan(one_group("[z1]", 1, "[{name: default, static_ips: [10.0.0.10]}]"));
    CHECK_THROWS_WITH_AS(plan(p, {}, {{"default", {"10.0.0.10"}}}),
                         "instance group 'web': static IP 10.0.0.10 on network 'default' is already in use",
                         InputError);
    // Held by this group's own instance: kept.
    Plan own = make_plan(one_group("[z1]", 1, "[{name: default, static_ips: [10.0.0.10]}]"));
    plan(own, {existing(1, "web", 0, "z1", {{"default", "10.0.0.10"}})}, {{"default", {"10.0.0.10"}}});
    CHECK(own.instances.at(0).ips.at("default") == "10.0.0.10");
  }


  TEST_CASE("plan_instances: one static IP in two groups is refused") {
    const std::string two = one_group("[z1]", 1, "[{name: default, static_ips: [10.0.0.10]}]") + R"(- name: worker
  azs: [z1]
  instances: 1
  jobs: [{name: nginx, release: app}]
  vm_type: small
  stemcell: default
  networks: [{name: default, static_ips: [10.0.0.10]}]
)";
    // A new deployment: the second group finds the address taken by the first.
    Plan fresh = make_plan(two);
    CHECK_THROWS_WITH_AS(plan(fresh, {}),
                         "instance group 'worker': static IP 10.0.0.10 on network 'default' is already in use",
                         InputError);
    // Both groups already hold it (as a planner that let it through left them).
    Plan held = make_plan(two);
    CHECK_THROWS_WITH_AS(plan(held,
                              {existing(1, "web", 0, "z1", {{"default", "10.0.0.10"}}),
                               existing(2, "worker", 0, "z1", {{"default", "10.0.0.10"}})},
                              {{"default", {"10.0.0.10"}}}),
                         "instance group 'worker': IP 10.0.0.10 on network 'default' is given to two instances",
                         InputError);
  }

  TEST_CASE("plan_instances: a full subnet and an AZ without a subnet are errors") {
    const std::string cloud = replace(kCloud, "- name: dyn\n", R"(- name: tiny
  subnets:
  - range: 10.0.2.0/29
    gateway: 10.0.2.1
    azs: [z1]
- name: dyn
)");
    Plan full = make_plan(one_group("[z1]", 6, "[{name: tiny}]"), cloud);
    CHECK_THROWS_WITH_AS(plan(full, {}), "instance group 'web': no free IP left in network 'tiny' for az 'z1' (10.0.2.0/29)",
                         InputError);
    Plan fits = make_plan(one_group("[z1]", 5, "[{name: tiny}]"), cloud);
    plan(fits, {});
    std::vector<std::string> got;
    for (const auto& i : fits.instances) got.push_back(i.ips.at("tiny"));
    CHECK(got == std::vector<std::string>{"10.0.2.2", "10.0.2.3", "10.0.2.4", "10.0.2.5", "10.0.2.6"});

    Plan no_subnet = make_plan(one_group("[z2]", 1, "[{name: tiny}]"), cloud);
    CHECK_THROWS_WITH_AS(plan(no_subnet, {}), "instance group 'web': network 'tiny' has no subnet in az 'z2'",
                         InputError);
  }


  TEST_CASE("plan_instances: every subnet of an AZ is used and an address in a later subnet is kept") {
    const std::string cloud = replace(kCloud, "- name: dyn\n", R"(- name: pair
  subnets:
  - range: 10.0.2.0/29
    gateway: 10.0.2.1
    azs: [z1]
    cloud_properties: {subnet: a}
  - range: 10.0.3.0/29
    gateway: 10.0.3.1
    azs: [z1]
    cloud_properties: {subnet: b}
- name: dyn
)");
    Plan p = make_plan(one_group("[z1]", 7, "[{name: pair}]"), cloud);
    plan(p, {});
    std::vector<std::string> got;
    for (const auto& i : p.instances) got.push_back(i.ips.at("pair"));
    CHECK(got == std::vector<std::string>{"10.0.2.2", "10.0.2.3", "10.0.2.4", "10.0.2.5", "10.0.2.6", "10.0.3.2",
                                          "10.0.3.3"});
    REQUIRE(p.instances.size() == 7);
    CHECK(to_json(p.instances[6].network_settings) ==
          R"({"pair":{"cloud_properties":{"subnet":"b"},"default":["dns","gateway"],"dns":[],)"
          R"("gateway":"10.0.3.1","ip":"10.0.3.3","netmask":"255.255.255.248","type":"manual"}})");

    Plan full = make_plan(one_group("[z1]", 11, "[{name: pair}]"), cloud);
    CHECK_THROWS_WITH_AS(plan(full, {}),
                         "instance group 'web': no free IP left in network 'pair' for az 'z1' (10.0.2.0/29, 10.0.3.0/29)",
                         InputError);

    Plan kept = make_plan(one_group("[z1]", 1, "[{name: pair}]"), cloud);
    plan(kept, {existing(1, "web", 0, "z1", {{"pair", "10.0.3.5"}})}, {{"pair", {"10.0.3.5"}}});
    REQUIRE(kept.instances.size() == 1);
    CHECK(kept.instances[0].uuid == "uuid-web-0");
    CHECK(kept.instances[0].ips.at("pair") == "10.0.3.5");
    CHECK(bosh::as_object(kept.instances[0].network_settings, "n")->getObject("pair")->getValue<std::string>("gateway") ==
          "10.0.3.1");
  }

  TEST_CASE("plan_instances: dynamic and vip networks") {
    Plan p = make_plan(one_group(
        "[z1]", 1, "[{name: default}, {name: dyn, default: [dns, gateway]}, {name: public, static_ips: [203.0.113.7]}]"));
    plan(p, {});
    REQUIRE(p.instances.size() == 1);
    const InstancePlan& i = p.instances[0];
    CHECK(i.ips.count("dyn") == 0);
    CHECK(i.ips.at("public") == "203.0.113.7");
    CHECK(i.static_networks == std::set<std::string>{"public"});
    CHECK(to_json(i.network_settings) ==
          R"({"default":{"cloud_properties":{"subnet":"s1"},"dns":["8.8.8.8"],"gateway":"10.0.0.1","ip":"10.0.0.21",)"
          R"("netmask":"255.255.255.0","type":"manual"},)"
          R"("dyn":{"cloud_properties":{"dyn":true},"default":["dns","gateway"],"dns":["1.1.1.1"],"type":"dynamic"},)"
          R"("public":{"cloud_properties":{},"dns":[],"ip":"203.0.113.7","type":"vip"}})");
    CHECK(i.address() == "");  // the gateway network is dynamic: known once the VM runs

    Plan vip = make_plan(one_group("[z1]", 1, "[{name: default}, {name: public}]"));
    CHECK_THROWS_WITH_AS(plan(vip, {}), "instance group 'web': vip network 'public' needs static_ips", InputError);
  }

  TEST_CASE("plan_instances: v1 deployments without AZs") {
    Plan p = make_plan(kV1, "");
    plan(p, {});
    REQUIRE(p.instances.size() == 3);
    const auto db = of_group(p, "db");
    REQUIRE(db.size() == 1);
    CHECK(db[0]->az.empty());
    CHECK(db[0]->ips.at("default") == "192.168.1.10");
    CHECK(db[0]->static_networks.count("default"));
    CHECK(to_json(db[0]->vm_cloud_properties) == R"({"instance_type":"m1"})");
    CHECK(to_json(db[0]->env) ==
          R"({"bosh":{"group":"lite-old-db","groups":["lite","old","db","lite-old","old-db","lite-old-db"],"password":"x"}})");
    const auto web = of_group(p, "web");
    REQUIRE(web.size() == 2);
    // .2-.4 reserved, .10-.19 static.
    CHECK(web[0]->ips.at("default") == "192.168.1.5");
    CHECK(web[1]->ips.at("default") == "192.168.1.6");
    CHECK(web[0]->bootstrap);
    CHECK_FALSE(web[1]->bootstrap);
  }

  // ---- change detection ----

  TEST_CASE("detect_changes: nothing when the instance matches its last converged spec") {
    InstancePlan i = converged();
    detect_changes(i, {});
    CHECK(i.changes.empty());
    CHECK_FALSE(i.recreate());
  }

  TEST_CASE("detect_changes: new - vm_missing - recreate and dirty") {
    InstancePlan fresh = converged();
    fresh.existing.reset();
    CHECK(changes(fresh) == std::set<std::string>{"new"});

    InstancePlan no_vm = converged();
    no_vm.existing->vm.reset();
    CHECK(changes(no_vm) == std::set<std::string>{"vm_missing"});

    CHECK(changes(converged(), PlanOptions{true, {}}) == std::set<std::string>{"recreate"});
    CHECK(changes(converged(), PlanOptions{true, {"web"}}) == std::set<std::string>{"recreate"});
    CHECK(changes(converged(), PlanOptions{true, {"other"}}).empty());
    CHECK(changes(converged(), PlanOptions{false, {"web"}}).empty());

    InstancePlan dirty = converged();
    obj(dirty.existing->spec)->set("dirty", true);
    CHECK(changes(dirty) == std::set<std::string>{"dirty"});
    obj(dirty.existing->spec)->set("dirty", false);
    CHECK(changes(dirty).empty());
  }

  TEST_CASE("detect_changes: stemcell - cloud_properties - env and network recreate the VM") {
    InstancePlan stemcell = converged();
    static const StemcellRow other{8, "bosh-stemcell", "1.6", "ubuntu-jammy", "sc-cid-2", 3};
    stemcell.stemcell = &other;
    detect_changes(stemcell, {});
    CHECK(stemcell.changes == std::set<std::string>{"stemcell"});
    CHECK(stemcell.recreate());

    InstancePlan cloud = converged();
    cloud.vm_cloud_properties = parse_json(R"({"instance_type":"m1.large","zone":"a"})", "cp");
    detect_changes(cloud, {});
    CHECK(cloud.changes == std::set<std::string>{"cloud_properties"});
    CHECK(cloud.recreate());

    InstancePlan env = converged();
    spec_part(env, "vm")->set("env", parse_json(R"({"bosh":{"group":"x"}})", "env"));
    detect_changes(env, {});
    CHECK(env.changes == std::set<std::string>{"env"});
    CHECK(env.recreate());

    InstancePlan ip = converged();
    auto nets = copy(ip.network_settings);
    bosh::as_object(nets, "n")->getObject("default")->set("ip", "10.0.0.99");
    ip.network_settings = nets;
    detect_changes(ip, {});
    CHECK(ip.changes == std::set<std::string>{"network"});
    CHECK(ip.recreate());

    InstancePlan dns = converged();
    auto dns_nets = copy(dns.network_settings);
    bosh::as_object(dns_nets, "n")->getObject("dyn")->set("dns", parse_json(R"(["9.9.9.9"])", "dns"));
    dns.network_settings = dns_nets;
    CHECK(changes(dns) == std::set<std::string>{"network"});

    InstancePlan missing = converged();
    spec_part(missing, "vm")->remove("stemcell_cid");
    CHECK(changes(missing) == std::set<std::string>{"stemcell"});
  }

  TEST_CASE("detect_changes: packages - configuration and persistent_disk update in place") {
    InstancePlan packages = converged();
    packages.packages = parse_json(R"({"nginx":{"name":"nginx","version":"1.3","sha1":"def"}})", "packages");
    detect_changes(packages, {});
    CHECK(packages.changes == std::set<std::string>{"packages"});
    CHECK_FALSE(packages.recreate());

    InstancePlan config = converged();
    config.configuration_hash = "cfg-2";
    detect_changes(config, {});
    CHECK(config.changes == std::set<std::string>{"configuration"});
    CHECK_FALSE(config.recreate());

    InstancePlan never = converged();
    spec_part(never, "apply")->remove("configuration_hash");
    CHECK(changes(never) == std::set<std::string>{"configuration"});

    InstancePlan bigger = converged();
    bigger.existing->disk->size_mb = 512;
    CHECK(changes(bigger) == std::set<std::string>{"persistent_disk"});

    InstancePlan disk_props = converged();
    disk_props.existing->disk->cloud_properties = parse_json(R"({"type":"hdd"})", "d");
    CHECK(changes(disk_props) == std::set<std::string>{"persistent_disk"});

    InstancePlan no_disk = converged();
    no_disk.existing->disk.reset();
    CHECK(changes(no_disk) == std::set<std::string>{"persistent_disk"});

    InstancePlan all = converged();
    all.configuration_hash = "cfg-3";
    all.packages = bosh::plugin::json_object();
    all.existing->vm.reset();
    CHECK(changes(all) == std::set<std::string>{"configuration", "packages", "vm_missing"});
  }

  TEST_CASE("detect_changes: an empty converged spec changes everything") {
    InstancePlan i = converged();
    i.existing->spec = bosh::plugin::json_object();
    i.existing->disk.reset();
    CHECK(changes(i) ==
          std::set<std::string>{"cloud_properties", "configuration", "env", "network", "packages", "persistent_disk",
                                "stemcell"});
  }

  // ---- the manifest diff ----

  TEST_CASE("manifest_diff: a new deployment is all added") {
    const auto lines = diff_lines("", "name: dep\nreleases: [{name: app, version: 1}]\n");
    REQUIRE_FALSE(lines.empty());
    CHECK(std::all_of(lines.begin(), lines.end(), [](const std::string& l) { return l[0] == '+'; }));
    CHECK(has(lines, "+ name: dep"));
  }

  TEST_CASE("manifest_diff: unchanged lines have no status and changes are added or removed") {
    const std::string before = R"(
name: dep
releases: [{name: app, version: 1}]
instance_groups:
- name: web
  instances: 1
  azs: [z1]
)";
    const std::string after = replace(before, "instances: 1", "instances: 2");
    const auto same = diff_lines(before, before);
    REQUIRE_FALSE(same.empty());
    CHECK(std::all_of(same.begin(), same.end(), [](const std::string& l) { return l[0] == ' '; }));

    const auto lines = diff_lines(before, after);
    CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l[0] != ' '; }) == 2);
    const auto removed = std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l[0] == '-'; });
    const auto added = std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l[0] == '+'; });
    REQUIRE(removed != lines.end());
    REQUIRE(added != lines.end());
    CHECK(removed->find("instances: 1") != std::string::npos);
    CHECK(added->find("instances: 2") != std::string::npos);
    CHECK(has(lines, "  name: dep"));

    const auto gone = diff_lines(before, "name: dep\nreleases: [{name: app, version: 1}]\n");
    CHECK(std::none_of(gone.begin(), gone.end(), [](const std::string& l) { return l[0] == '+'; }));
    CHECK(std::count_if(gone.begin(), gone.end(), [](const std::string& l) { return l[0] == '-'; }) >= 4);
  }

  TEST_CASE("manifest_diff: properties and env are redacted unless asked not to") {
    const std::string m = R"(
name: dep
instance_groups:
- name: web
  env: {bosh: {password: hunter2}}
  jobs:
  - name: nginx
    properties: {admin: {password: s3cret, users: [alice]}}
properties: {token: abc123}
)";
    const auto redacted = diff_lines("", m);
    std::string all;
    for (const auto& l : redacted) all += l + "\n";
    CHECK(all.find("s3cret") == std::string::npos);
    CHECK(all.find("hunter2") == std::string::npos);
    CHECK(all.find("abc123") == std::string::npos);
    CHECK(all.find("alice") == std::string::npos);
    CHECK(all.find("password: <redacted>") != std::string::npos);
    CHECK(all.find("token: <redacted>") != std::string::npos);
    CHECK(all.find("name: nginx") != std::string::npos);  // the rest is shown

    std::string plain;
    for (const auto& l : diff_lines("", m, false)) plain += l + "\n";
    CHECK(plain.find("s3cret") != std::string::npos);
    CHECK(plain.find("hunter2") != std::string::npos);
    CHECK(plain.find("abc123") != std::string::npos);
    CHECK(plain.find("<redacted>") == std::string::npos);
  }

  TEST_CASE("manifest_diff: a changed secret shows as a removed and an added redacted line") {
    const std::string before = R"(
name: dep
properties:
  password: one
  user: admin
)";
    const std::string after = replace(before, "password: one", "password: two");
    const auto lines = diff_lines(before, after);
    std::string all;
    for (const auto& l : lines) all += l + "\n";
    INFO(all);
    CHECK(has(lines, "-   password: <redacted>"));
    CHECK(has(lines, "+   password: <redacted>"));
    CHECK(has(lines, "    user: <redacted>"));  // unchanged: no status
    CHECK(has(lines, "  properties:"));
    CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l[0] != ' '; }) == 2);
    CHECK(all.find("<redacted:") == std::string::npos);
    CHECK(all.find("one") == std::string::npos);
    CHECK(all.find("two") == std::string::npos);
    CHECK(all.find("admin") == std::string::npos);

    const auto same = diff_lines(before, before);
    std::string same_all;
    for (const auto& l : same) same_all += l + "\n";
    CHECK(std::all_of(same.begin(), same.end(), [](const std::string& l) { return l[0] == ' '; }));
    CHECK(has(same, "    password: <redacted>"));
    CHECK(same_all.find("<redacted:") == std::string::npos);
  }

}
