// Planning: what exists (database rows), what the manifest wants, and the
// instance plans between them. No agent or CPI is called here, so a
// zero-change deploy costs a few queries, not a round trip per instance.
#include <algorithm>

#include "bosh/common/error.hpp"
#include "bosh/common/random.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/yaml.hpp"
#include "bosh/release/version.hpp"
#include "deploy.hpp"

namespace bosh::director::deploy {

using plugin::JsonArray;
using plugin::JsonObject;

std::string instance_name(const std::string& group, const std::string& uuid, int index) {
  return group + "/" + uuid + " (" + std::to_string(index) + ")";
}

std::optional<DeploymentRow> find_deployment(Database& db, const std::string& name) {
  auto rows = db.rows("SELECT id, name, manifest FROM deployments WHERE name = ?", {name});
  if (rows.empty()) return std::nullopt;
  return DeploymentRow{std::stoll(rows[0][0]), rows[0][1], rows[0][2]};
}

std::int64_t deployment_id_for(Database& db, const std::string& name) {
  auto d = find_deployment(db, name);
  if (!d) fail("Deployment '{}' doesn't exist", name);
  return d->id;
}

std::vector<ExistingInstance> load_instances(Database& db, std::int64_t deployment_id) {
  std::vector<ExistingInstance> out;
  std::map<std::int64_t, std::size_t> by_id;
  for (const auto& r : db.rows("SELECT id, job, idx, uuid, COALESCE(az, ''), state, bootstrap, spec, lifecycle, "
                               "ignored FROM instances WHERE deployment_id = ? ORDER BY job, idx",
                               {deployment_id})) {
    ExistingInstance i;
    i.id = std::stoll(r[0]);
    i.group = r[1];
    i.index = std::stoi(r[2]);
    i.uuid = r[3];
    i.az = r[4];
    i.state = r[5];
    i.bootstrap = r[6] == "1" || r[6] == "true";
    try {
      i.spec = parse_json(r[7], "instance spec");
    } catch (const Error&) {
      i.spec = plugin::json_object();
    }
    i.lifecycle = r[8];
    i.ignore = r[9] == "1" || r[9] == "true";
    by_id[i.id] = out.size();
    out.push_back(std::move(i));
  }
  if (out.empty()) return out;
  for (const auto& r : db.rows("SELECT v.id, v.instance_id, v.cid, v.agent_id, v.created_at FROM vms v JOIN instances i "
                               "ON v.instance_id = i.id WHERE i.deployment_id = ? AND v.active = ?",
                               {deployment_id, db_bool(true)})) {
    auto it = by_id.find(std::stoll(r[1]));
    if (it != by_id.end()) out[it->second].vm = VmRow{std::stoll(r[0]), r[2], r[3], std::stoll(r[4])};
  }
  for (const auto& r : db.rows("SELECT p.id, p.instance_id, p.disk_cid, p.size_mb, p.cloud_properties FROM "
                               "persistent_disks p JOIN instances i ON p.instance_id = i.id WHERE i.deployment_id = ? "
                               "AND p.active = ?",
                               {deployment_id, db_bool(true)})) {
    auto it = by_id.find(std::stoll(r[1]));
    if (it == by_id.end()) continue;
    DiskRow d{std::stoll(r[0]), r[2], std::stoll(r[3]), plugin::json_object()};
    try {
      d.cloud_properties = parse_json(r[4], "disk cloud properties");
    } catch (const Error&) {
    }
    out[it->second].disk = d;
  }
  for (const auto& r : db.rows("SELECT a.instance_id, a.network, a.address FROM ip_addresses a JOIN instances i ON "
                               "a.instance_id = i.id WHERE i.deployment_id = ?",
                               {deployment_id})) {
    auto it = by_id.find(std::stoll(r[0]));
    if (it != by_id.end()) out[it->second].ips[r[1]] = r[2];
  }
  return out;
}

std::set<std::string> addresses_in_use(Database& db, const std::string& network) {
  std::set<std::string> out;
  for (const auto& r : db.rows("SELECT address FROM ip_addresses WHERE network = ?", {network})) out.insert(r[0]);
  return out;
}

// ---- releases and stemcells --------------------------------------------------------------

namespace {

std::string latest_of(const std::vector<std::string>& versions) {
  std::string best;
  std::optional<release::Version> best_v;
  for (const auto& v : versions) {
    auto parsed = release::Version::try_parse(v);
    if (!parsed) continue;
    if (!best_v || *best_v < *parsed) {
      best_v = parsed;
      best = v;
    }
  }
  return best.empty() && !versions.empty() ? versions.back() : best;
}

ReleaseVersionRow load_release_version(Database& db, const std::string& name, const std::string& wanted) {
  auto rel = db.rows("SELECT id FROM releases WHERE name = ?", {name});
  if (rel.empty()) fail<InputError>("Release '{}' doesn't exist: upload it first (bosh upload release)", name);
  const std::int64_t release_id = std::stoll(rel[0][0]);
  std::vector<std::string> versions;
  for (const auto& r : db.rows("SELECT version FROM release_versions WHERE release_id = ?", {release_id}))
    versions.push_back(r[0]);
  const std::string version = wanted == "latest" ? latest_of(versions) : wanted;
  auto rv = db.rows("SELECT id FROM release_versions WHERE release_id = ? AND version = ?", {release_id, version});
  if (rv.empty()) fail<InputError>("Release '{}/{}' doesn't exist", name, version);
  ReleaseVersionRow out;
  out.id = std::stoll(rv[0][0]);
  out.name = name;
  out.version = version;
  for (const auto& p : db.rows("SELECT p.id, p.name, p.version, p.fingerprint, COALESCE(p.sha1, ''), "
                               "COALESCE(p.blobstore_id, ''), p.dependencies FROM packages p JOIN "
                               "release_versions_packages l ON l.package_id = p.id WHERE l.release_version_id = ?",
                               {out.id})) {
    PackageRow row{std::stoll(p[0]), p[1], p[2], p[3], p[4], p[5], {}};
    const Json deps = parse_json(p[6], "package dependencies");  // alive while iterated
    for (const auto& d : *as_array(deps, "package dependencies")) row.dependencies.push_back(d.convert<std::string>());
    out.packages[row.name] = row;
  }
  for (const auto& t : db.rows("SELECT t.id, t.name, t.version, t.fingerprint, t.sha1, t.blobstore_id, t.spec FROM "
                               "templates t JOIN release_versions_templates l ON l.template_id = t.id WHERE "
                               "l.release_version_id = ?",
                               {out.id})) {
    TemplateRow row{std::stoll(t[0]), t[1], t[2], t[3], t[4], t[5], name, {}};
    row.spec = release::parse_job_spec(t[6], "job '" + t[1] + "' of release " + name + "/" + version);
    out.templates[row.name] = std::move(row);
  }
  return out;
}

}  // namespace

void resolve_artifacts(Database& db, Plan& plan) {
  for (const auto& r : plan.spec.releases) plan.releases[r.name] = load_release_version(db, r.name, r.version);
  auto all = db.rows("SELECT id, name, version, operating_system, cid, COALESCE(api_version, 1) FROM stemcells");
  for (const auto& s : plan.spec.stemcells) {
    std::vector<std::string> versions;
    for (const auto& r : all)
      if ((!s.os.empty() && r[3] == s.os) || (!s.name.empty() && r[1] == s.name)) versions.push_back(r[2]);
    const std::string what = s.os.empty() ? "name '" + s.name + "'" : "os '" + s.os + "'";
    if (versions.empty()) fail<InputError>("Stemcell with {} doesn't exist: upload it first (bosh upload stemcell)", what);
    const std::string version = s.version == "latest" ? latest_of(versions) : s.version;
    bool found = false;
    for (const auto& r : all) {
      if (!((!s.os.empty() && r[3] == s.os) || (!s.name.empty() && r[1] == s.name)) || r[2] != version) continue;
      plan.stemcells[s.alias] = StemcellRow{std::stoll(r[0]), r[1], r[2], r[3], r[4], std::stoi(r[5])};
      found = true;
      break;
    }
    if (!found) fail<InputError>("Stemcell with {} and version '{}' doesn't exist", what, version);
  }
  // Every job the manifest names is in its release.
  for (const auto& g : plan.spec.groups)
    for (const auto& j : g.jobs) {
      const auto& rv = plan.releases.at(j.release);
      if (!rv.templates.count(j.name))
        fail<InputError>("instance group '{}': job '{}' is not in release '{}/{}'", g.name, j.name, rv.name,
                         rv.version);
    }
}

// ---- instances ---------------------------------------------------------------------------

std::string InstancePlan::address() const {
  if (network_settings.type() != typeid(JsonObject::Ptr)) return "";
  auto nets = network_settings.extract<JsonObject::Ptr>();
  std::string first;
  for (const auto& [name, value] : *nets) {
    auto n = value.extract<JsonObject::Ptr>();
    const std::string ip = n->has("ip") ? n->getValue<std::string>("ip") : "";
    if (first.empty()) first = ip;
    if (n->has("default")) {
      auto defaults = n->getArray("default");
      for (const auto& d : *defaults)
        if (d.convert<std::string>() == "gateway" || d.convert<std::string>() == "addressable") return ip;
    }
  }
  return first;
}

bool InstancePlan::recreate() const {
  for (const char* c : {"new", "vm_missing", "recreate", "stemcell", "cloud_properties", "env", "network"})
    if (changes.count(c)) return true;
  return false;
}

namespace {


Json string_array(const std::vector<std::string>& items) {
  JsonArray::Ptr a = new JsonArray;
  for (const auto& i : items) a->add(i);
  return a;
}

const Subnet* subnet_for(const Network& net, const std::string& az) {
  for (const auto& s : net.subnets)
    if (s.azs.empty() || std::find(s.azs.begin(), s.azs.end(), az) != s.azs.end()) return &s;
  return nullptr;
}

const Subnet* subnet_holding(const Network& net, std::uint32_t ip) {
  for (const auto& s : net.subnets)
    if (!s.range.empty() && ip > s.network && ip < s.broadcast) return &s;
  return nullptr;
}

bool dynamic_ok(const Subnet& s, std::uint32_t ip) {
  if (ip <= s.network || ip >= s.broadcast) return false;
  if (!s.gateway.empty() && format_ip(ip) == s.gateway) return false;
  return !s.in_reserved(ip) && !s.in_static(ip);
}

Json manual_settings(const Subnet& s, const std::string& ip, const NetworkRef& ref) {
  JsonObject::Ptr n = new JsonObject;
  n->set("type", "manual");
  n->set("ip", ip);
  n->set("netmask", s.netmask);
  n->set("gateway", s.gateway);
  n->set("dns", string_array(s.dns));
  if (!ref.defaults.empty()) {
    auto d = ref.defaults;
    std::sort(d.begin(), d.end());
    n->set("default", string_array(d));
  }
  n->set("cloud_properties", s.cloud_properties);
  return n;
}

}  // namespace

void plan_instances(Plan& plan, const std::vector<ExistingInstance>& existing,
                    const std::function<std::set<std::string>(const std::string&)>& used_addresses) {
  const DeploymentSpec& spec = plan.spec;
  std::set<std::int64_t> kept;
  // Addresses taken on each network (all deployments), and those this plan hands out.
  std::map<std::string, std::set<std::string>> taken, assigned;
  // Loaded once per network, before anything this plan hands out is added.
  auto taken_on = [&](const std::string& net) -> std::set<std::string>& {
    if (!taken.count(net)) taken[net] = used_addresses(net);
    return taken[net];
  };
  auto is_taken = [&](const std::string& net, const std::string& ip) {
    return taken_on(net).count(ip) > 0;
  };

  for (const auto& g : spec.groups) {
    std::vector<const ExistingInstance*> mine;
    for (const auto& e : existing)
      if (e.group == g.name) mine.push_back(&e);
    std::sort(mine.begin(), mine.end(), [](auto* a, auto* b) { return a->index < b->index; });
    // Errand groups get instances only when their errand runs.
    const bool wanted = g.lifecycle == "service" || plan.errands.count(g.name);
    const int count = wanted ? g.instances : 0;

    std::vector<std::string> azs = g.azs.empty() ? std::vector<std::string>{""} : g.azs;
    // A manual network with static IPs decides the AZs: each IP's subnet says where it lives.
    const NetworkRef* static_ref = nullptr;
    for (const auto& ref : g.networks)
      if (!ref.static_ips.empty() && spec.cloud.networks.at(ref.name).type == "manual") static_ref = &ref;
    auto az_of_ip = [&](const std::string& ip) {
      const Subnet* s = subnet_holding(spec.cloud.networks.at(static_ref->name), parse_ip(ip, "static IP"));
      if (!s) fail<InputError>("instance group '{}': static IP {} is in no subnet of network '{}'", g.name, ip, static_ref->name);
      if (g.azs.empty()) return std::string();
      for (const auto& az : g.azs)
        if (s->azs.empty() || std::find(s->azs.begin(), s->azs.end(), az) != s->azs.end()) return az;
      fail<InputError>("instance group '{}': static IP {} is in subnet {}, which is in none of the group's azs", g.name,
                       ip, s->range);
    };

    // How many per AZ. Static IPs: as their subnets say. Otherwise even;
    // the remainder goes to the AZs that already hold the most instances
    // (then manifest order), so a deploy does not move healthy instances.
    std::map<std::string, int> quota;
    for (const auto& az : azs) quota[az] = 0;
    if (static_ref && count > 0) {
      for (const auto& ip : static_ref->static_ips) ++quota[az_of_ip(ip)];
    } else {
      std::vector<std::string> by_existing = azs;
      std::stable_sort(by_existing.begin(), by_existing.end(), [&](const std::string& a, const std::string& b) {
        auto n = [&](const std::string& az) { return std::count_if(mine.begin(), mine.end(), [&](auto* e) { return e->az == az; }); };
        return n(a) > n(b);
      });
      const int k = static_cast<int>(azs.size());
      for (int i = 0; i < k; ++i) quota[by_existing[i]] = count / k + (i < count % k ? 1 : 0);
    }

    std::vector<InstancePlan> group_plans;
    std::set<int> used_indexes;
    for (const auto* e : mine) used_indexes.insert(e->index);
    // Keep, in each AZ: static-IP holders first, then those with a disk, then lowest index.
    std::vector<const ExistingInstance*> keep_order = mine;
    std::stable_sort(keep_order.begin(), keep_order.end(), [&](auto* a, auto* b) {
      auto holds_static = [&](const ExistingInstance* e) {
        if (!static_ref || !e->ips.count(static_ref->name)) return false;
        const std::string ip = e->ips.at(static_ref->name);
        return std::find(static_ref->static_ips.begin(), static_ref->static_ips.end(), ip) != static_ref->static_ips.end() &&
               az_of_ip(ip) == e->az;
      };
      if (holds_static(a) != holds_static(b)) return holds_static(a);
      return a->disk.has_value() && !b->disk.has_value();
    });
    for (const auto* e : keep_order) {
      auto q = quota.find(e->az);
      if (q == quota.end() || q->second == 0) continue;
      --q->second;
      InstancePlan p;
      p.group = &g;
      p.uuid = e->uuid;
      p.az = e->az;
      p.index = e->index;
      p.existing = *e;
      p.desired_state = e->state == "stopped" || e->state == "detached" ? e->state : "started";
      kept.insert(e->id);
      group_plans.push_back(std::move(p));
    }
    int next_index = 0;
    for (const auto& az : azs) {
      for (int n = 0; n < quota[az]; ++n) {
        while (used_indexes.count(next_index)) ++next_index;
        used_indexes.insert(next_index);
        InstancePlan p;
        p.group = &g;
        p.uuid = random_uuid();
        p.az = az;
        p.index = next_index;
        group_plans.push_back(std::move(p));
      }
    }
    std::sort(group_plans.begin(), group_plans.end(), [](const auto& a, const auto& b) { return a.index < b.index; });
    // The bootstrap instance: the one that was, if it stays; else the first.
    auto boot = std::find_if(group_plans.begin(), group_plans.end(),
                             [](const InstancePlan& p) { return p.existing && p.existing->bootstrap; });
    if (boot == group_plans.end()) boot = group_plans.begin();
    if (boot != group_plans.end()) boot->bootstrap = true;

    // Networks.
    for (const auto& ref : g.networks) {
      const Network& net = spec.cloud.networks.at(ref.name);
      auto claim = [&](const std::string& ip) {
        // No address goes to two instances of this plan, whatever their group.
        if (!assigned[ref.name].insert(ip).second)
          fail<InputError>("instance group '{}': IP {} on network '{}' is given to two instances", g.name, ip,
                           ref.name);
        taken_on(ref.name).insert(ip);
      };
      if (!ref.static_ips.empty()) {
        // Keep an instance's static IP when it is still in the list (and in its AZ); hand out the rest in index order.
        std::set<std::string> left(ref.static_ips.begin(), ref.static_ips.end());
        const bool by_az = net.type == "manual";
        for (auto& p : group_plans) {
          if (!p.existing) continue;
          auto it = p.existing->ips.find(ref.name);
          if (it != p.existing->ips.end() && left.count(it->second) && (!by_az || az_of_ip(it->second) == p.az)) {
            p.ips[ref.name] = it->second;
            left.erase(it->second);
          }
        }
        for (auto& p : group_plans) {
          if (p.ips.count(ref.name)) continue;
          for (const auto& ip : ref.static_ips) {
            if (!left.count(ip) || (by_az && az_of_ip(ip) != p.az)) continue;
            // A static IP another deployment (or instance) holds is not ours to take.
            bool ours = false;
            for (const auto* e : mine)
              if (e->ips.count(ref.name) && e->ips.at(ref.name) == ip) ours = true;
            if (!ours && is_taken(ref.name, ip))
              fail<InputError>("instance group '{}': static IP {} on network '{}' is already in use", g.name, ip,
                               ref.name);
            p.ips[ref.name] = ip;
            left.erase(ip);
            break;
          }
          if (!p.ips.count(ref.name))
            fail<InputError>("instance group '{}': no static IP of network '{}' left for az '{}'", g.name, ref.name,
                             p.az);
        }
        for (auto& p : group_plans) {
          claim(p.ips.at(ref.name));
          p.static_networks.insert(ref.name);
        }
      } else if (net.type == "manual") {
        for (auto& p : group_plans) {
          std::vector<const Subnet*> subnets;  // every subnet of the instance's AZ, in order
          for (const auto& sn : net.subnets)
            if (sn.azs.empty() || std::find(sn.azs.begin(), sn.azs.end(), p.az) != sn.azs.end()) subnets.push_back(&sn);
          if (subnets.empty())
            fail<InputError>("instance group '{}': network '{}' has no subnet in az '{}'", g.name, ref.name, p.az);
          if (p.existing && p.existing->ips.count(ref.name)) {
            const std::string ip = p.existing->ips.at(ref.name);
            const Subnet* holding = subnet_holding(net, parse_ip(ip, "address"));
            if (holding && std::find(subnets.begin(), subnets.end(), holding) != subnets.end() &&
                dynamic_ok(*holding, parse_ip(ip, "address")) && !assigned[ref.name].count(ip)) {
              p.ips[ref.name] = ip;
              claim(ip);
              continue;
            }
          }
          for (const Subnet* subnet : subnets) {
            for (std::uint32_t ip = subnet->network + 1; ip < subnet->broadcast && !p.ips.count(ref.name); ++ip) {
              if (!dynamic_ok(*subnet, ip)) continue;
              const std::string text = format_ip(ip);
              if (is_taken(ref.name, text)) continue;
              claim(text);
              p.ips[ref.name] = text;
            }
            if (p.ips.count(ref.name)) break;
          }
          if (!p.ips.count(ref.name)) {
            std::string ranges;
            for (const auto* sn : subnets) ranges += (ranges.empty() ? "" : ", ") + sn->range;
            fail<InputError>("instance group '{}': no free IP left in network '{}' for az '{}' ({})", g.name,
                             ref.name, p.az, ranges);
          }
        }
      } else if (net.type == "vip") {
        fail<InputError>("instance group '{}': vip network '{}' needs static_ips", g.name, ref.name);
      }
    }
    // Settings the CPI and the agent get.
    for (auto& p : group_plans) {
      JsonObject::Ptr settings = new JsonObject;
      for (const auto& ref : g.networks) {
        const Network& net = spec.cloud.networks.at(ref.name);
        if (net.type == "manual") {
          const Subnet* s = subnet_holding(net, parse_ip(p.ips.at(ref.name), "address"));
          if (!s) s = subnet_for(net, p.az);
          settings->set(ref.name, manual_settings(*s, p.ips.at(ref.name), ref));
        } else {
          JsonObject::Ptr n = new JsonObject;
          n->set("type", net.type);
          if (net.type == "vip") n->set("ip", p.ips.at(ref.name));
          n->set("dns", string_array(net.dns));
          if (!ref.defaults.empty()) {
            auto d = ref.defaults;
            std::sort(d.begin(), d.end());
            n->set("default", string_array(d));
          }
          n->set("cloud_properties", net.cloud_properties);
          settings->set(ref.name, n);
        }
      }
      p.network_settings = settings;
      const Json az_properties = p.az.empty() || !spec.cloud.azs.count(p.az) ? plugin::json_object()
                                                                             : spec.cloud.azs.at(p.az);
      p.vm_cloud_properties = deep_merge(az_properties, g.vm_cloud_properties);
      p.stemcell = &plan.stemcells.at(g.stemcell);
      // env.bosh.group(s), as BOSH names them for the cloud.
      JsonObject::Ptr bosh = new JsonObject, env = new JsonObject;
      const std::string dir = plan.director_name, dep = spec.name;
      bosh->set("group", dir + "-" + dep + "-" + g.name);
      bosh->set("groups", string_array({dir, dep, g.name, dir + "-" + dep, dep + "-" + g.name,
                                        dir + "-" + dep + "-" + g.name}));
      env->set("bosh", bosh);
      p.env = deep_merge(g.env, env);
      plan.instances.push_back(std::move(p));
    }
  }
  for (const auto& e : existing)
    if (!kept.count(e.id) && (e.lifecycle == "service" || !spec.group(e.group) || plan.errands.count(e.group)))
      plan.obsolete.push_back(e);
}

void detect_changes(InstancePlan& p, const PlanOptions& options) {
  p.changes.clear();
  if (!p.existing) {
    p.changes.insert("new");
    return;
  }
  if (!p.needs_vm()) return;
  const auto& e = *p.existing;
  if (!e.vm) p.changes.insert("vm_missing");
  if (options.recreate && (options.recreate_groups.empty() || options.recreate_groups.count(p.group->name)))
    p.changes.insert("recreate");
  auto old = as_object(e.spec, "instance spec");
  if (old->has("dirty") && old->get("dirty").convert<bool>()) p.changes.insert("dirty");
  auto part = [&](const std::string& key) -> Json {
    return old->has(key) && old->get(key).type() == typeid(JsonObject::Ptr) ? old->get(key) : plugin::json_object();
  };
  auto vm = part("vm").extract<JsonObject::Ptr>();
  auto same = [](const Json& a, const Json& b) { return to_json(a) == to_json(b); };
  auto vm_field = [&](const std::string& key) { return vm->has(key) ? vm->get(key) : Json(); };
  if (vm_field("stemcell_cid").isEmpty() || vm_field("stemcell_cid").convert<std::string>() != p.stemcell->cid)
    p.changes.insert("stemcell");
  if (!same(vm_field("cloud_properties"), p.vm_cloud_properties)) p.changes.insert("cloud_properties");
  if (!same(vm_field("env"), p.env)) p.changes.insert("env");
  // Dynamic networks' addresses come from the cloud; compare the rest.
  auto comparable = [](const Json& networks) {
    if (networks.type() != typeid(JsonObject::Ptr)) return std::string("null");
    JsonObject::Ptr copy = new JsonObject;
    for (const auto& [name, value] : *networks.extract<JsonObject::Ptr>()) {
      auto n = as_object(parse_json(to_json(value), "network"), "network");
      if (n->has("type") && n->getValue<std::string>("type") == "dynamic")
        for (const char* k : {"ip", "netmask", "gateway"}) n->remove(k);
      copy->set(name, n);
    }
    return to_json(Json(copy));
  };
  if (comparable(vm_field("networks")) != comparable(p.network_settings)) p.changes.insert("network");
  auto apply = part("apply").extract<JsonObject::Ptr>();
  auto apply_field = [&](const std::string& key) { return apply->has(key) ? apply->get(key) : Json(); };
  if (!same(apply_field("packages"), p.packages)) p.changes.insert("packages");
  if (apply_field("configuration_hash").isEmpty() ||
      apply_field("configuration_hash").convert<std::string>() != p.configuration_hash)
    p.changes.insert("configuration");
  if (!p.apply_spec.isEmpty() &&
      !same(apply_field("job"), as_object(p.apply_spec, "apply spec")->get("job")))
    p.changes.insert("jobs");
  const std::int64_t old_size = e.disk ? e.disk->size_mb : 0;
  if (old_size != p.group->persistent_disk_mb) p.changes.insert("persistent_disk");
  else if (e.disk && !same(e.disk->cloud_properties, p.group->disk_cloud_properties))
    p.changes.insert("persistent_disk");
}

}  // namespace bosh::director::deploy
