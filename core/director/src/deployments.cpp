// The deploy task (plan → compile → render → update), what the API lists
// without a task, and the table of deployment task types (the others are
// in task_*.cpp).
#include "bosh/director/deployments.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <deque>
#include <regex>
#include <thread>

#include "bosh/common/clock.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/names.hpp"
#include "bosh/common/yaml.hpp"
#include "bosh/director/configs.hpp"
#include "bosh/director/releases.hpp"
#include "bosh/director/stemcells.hpp"
#include "bosh/director/tasks.hpp"
#include "task_support.hpp"
#include "variables.hpp"

namespace bosh::director {

namespace {

using NewVariable = std::function<void(const VariableDef&, const Json&)>;

// Variables: the deployment's stored ones, the manifest's new ones made now
// (handed to `on_new` to store).
std::map<std::string, Json> variables_for(Database& db, const std::vector<VariableDef>& defs,
                                          std::int64_t deployment_id, const Json& raw, const NewVariable& on_new) {
  std::map<std::string, Json> values;
  if (deployment_id)
    for (const auto& r : db.rows("SELECT name, value FROM variables WHERE deployment_id = ?", {deployment_id}))
      values[r[0]] = parse_json(r[1], "variable " + r[0]);
  for (const auto& def : in_generation_order(defs)) {
    if (values.count(def.name)) continue;
    values[def.name] = generate_variable(def, values);
    if (on_new) on_new(def, values[def.name]);
  }
  std::string missing;
  for (const auto& ref : variable_references(raw))
    if (!values.count(ref)) missing += (missing.empty() ? "" : ", ") + ref;
  if (!missing.empty())
    fail<InputError>("Expected to find variables: {} (define them under 'variables' for the director to generate)",
                     missing);
  return values;
}

// The manifest's `variables`, read before anything is interpolated.
std::vector<VariableDef> variable_defs(const JsonObject::Ptr& root) {
  std::vector<VariableDef> variables;
  int i = 0;
  if (root->has("variables") && !root->get("variables").isEmpty())
    for (const auto& v : *as_array(root->get("variables"), "variables")) {
      const std::string where = fmt::format("variables[{}]", i++);
      auto vo = as_object(v, where);
      variables.push_back({get_string(vo, "name", where), get_string(vo, "type", where),
                           vo->has("options") ? vo->get("options") : plugin::json_object()});
    }
  return variables;
}

std::string manifest_name(const Json& raw) {
  auto root = as_object(raw, "manifest");
  const std::string name = find_string(root, "name", "manifest").value_or("");
  if (name.empty()) fail<InputError>("manifest: missing 'name'");
  check_bosh_name("manifest: name", name);
  return name;
}

// The plan of a manifest against what the database holds, writing nothing.
void plan_manifest(Database& db, const std::string& director_name, const Json& raw, const DeployRequest& req,
                   Prepared& out, const NewVariable& on_new) {
  auto [cloud, cloud_id] = merged_cloud_config(db);
  out.cloud_config_id = cloud_id;
  auto values = variables_for(db, variable_defs(as_object(raw, "manifest")), out.deployment_id, raw, on_new);
  out.plan.spec = parse_deployment(interpolate(raw, values), cloud);
  out.plan.director_name = director_name;
  out.plan.errands = req.errands;
  for (auto& g : out.plan.spec.groups) {
    if (!req.canaries.empty()) g.update.canaries = req.canaries;
    if (!req.max_in_flight.empty()) g.update.max_in_flight = req.max_in_flight;
  }
  resolve_artifacts(db, out.plan);
  const auto existing = out.deployment_id ? load_instances(db, out.deployment_id) : std::vector<ExistingInstance>{};
  plan_instances(out.plan, existing, [&](const std::string& net) { return addresses_in_use(db, net); });
  for (auto& inst : out.plan.instances)
    if (req.adjust) req.adjust(inst);
}

}  // namespace

Prepared prepare(Deployer& d, const DeployRequest& req) {
  Prepared out;
  d.step("Preparing deployment", {}, "Preparing deployment", 1, 1, [&] {
    const Json raw = yaml_to_typed_json(parse_yaml(req.manifest, "manifest"));
    // The name is needed before variables (they are the deployment's).
    const std::string name = manifest_name(raw);
    if (auto existing = find_deployment(d.db(), name)) {
      out.deployment_id = existing->id;
    } else if (!req.dry_run) {
      out.deployment_id = d.db().insert("INSERT INTO deployments (name, manifest, created_at) VALUES (?, ?, ?)",
                                        {name, std::string(""), now_seconds()});
    }
    const bool persist = !req.dry_run && out.deployment_id;
    plan_manifest(d.db(), d.ctx().config().name, raw, req, out, [&](const VariableDef& def, const Json& value) {
      d.ctx().debug("generated variable '" + def.name + "' (" + def.type + ")");
      if (persist)
        d.db().exec("INSERT INTO variables (deployment_id, name, value, created_at) VALUES (?, ?, ?, ?)",
                    {out.deployment_id, def.name, to_json(value), now_seconds()});
    });
  });
  return out;
}

void validate_manifest(Database& db, const std::string& director_name, const std::string& manifest) {
  const Json raw = yaml_to_typed_json(parse_yaml(manifest, "manifest"));
  Prepared out;
  if (auto existing = find_deployment(db, manifest_name(raw))) out.deployment_id = existing->id;
  plan_manifest(db, director_name, raw, DeployRequest{}, out, {});
}

void record_plan(Deployer& d, Prepared& p) {
  auto& db = d.db();
  auto s = db.session();
  s.begin();
  for (auto& inst : p.plan.instances) {
    if (inst.existing) {
      inst.id = inst.existing->id;
    } else {
      inst.id = db.insert(s, "INSERT INTO instances (deployment_id, job, idx, uuid, az, state, bootstrap, spec, "
                             "lifecycle) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          {p.deployment_id, inst.group->name, std::int64_t{inst.index}, inst.uuid, inst.az,
                           inst.desired_state, db_bool(inst.bootstrap), std::string("{}"),
                           inst.group->lifecycle});
    }
    for (const auto& [net, ip] : inst.ips) {
      const std::string old = inst.existing && inst.existing->ips.count(net) ? inst.existing->ips.at(net) : "";
      if (old == ip) continue;
      if (!old.empty()) db.exec(s, "DELETE FROM ip_addresses WHERE instance_id = ? AND network = ?", {inst.id, net});
      try {
        db.exec(s, "INSERT INTO ip_addresses (instance_id, network, address, static, task_id) VALUES (?, ?, ?, ?, ?)",
                {inst.id, net, ip, db_bool(inst.static_networks.count(net) > 0), d.ctx().task().id});
      } catch (const DbError&) {
        fail("IP address {} on network '{}' is already in use", ip, net);
      }
    }
  }
  s.commit();
}

// One group: canaries first, then the rest max_in_flight at a time.
static void update_group(Deployer& d, const InstanceGroup& g, std::vector<InstancePlan*> changed,
                         const DeployRequest& req) {
  if (changed.empty()) return;
  const int size = g.instances;
  const int canaries = std::min<int>(g.update.canaries_for(size), static_cast<int>(changed.size()));
  const int in_flight = g.update.max_in_flight_for(size);
  const int total = static_cast<int>(changed.size());
  std::atomic<int> index{0};
  auto one = [&](InstancePlan& inst, bool canary) {
    const int i = ++index;
    const std::string action = inst.existing && inst.existing->vm ? (inst.recreate() ? "recreate" : "update") : "create";
    try {
      d.step("Updating instance", {g.name}, inst.name() + (canary ? " (canary)" : ""), i, total, [&] {
        update_instance(d, inst, UpdateOptions{canary, req.skips_drain(g.name, inst.uuid, inst.index), nullptr});
      });
    } catch (const std::exception& e) {
      d.record(action, "instance", g.name + "/" + inst.uuid, inst.name(), e.what());
      throw;
    }
    d.record(action, "instance", g.name + "/" + inst.uuid, inst.name());
  };
  std::vector<InstancePlan*> first(changed.begin(), changed.begin() + canaries),
      rest(changed.begin() + canaries, changed.end());
  run_parallel(first, std::min(canaries, in_flight), [&](InstancePlan& inst) { one(inst, true); });
  run_parallel(rest, in_flight, [&](InstancePlan& inst) { one(inst, false); });
}

namespace {
std::string converge(Deployer& d, const DeployRequest& req, const std::string& deployment_name);
}

// The deploy under its lock, between the deployment's two events (the
// second names the first as its parent, and the error when it failed).
std::string run_deploy(TaskContext& ctx, const DeployRequest& req, const std::string& deployment_name) {
  Deployer d(ctx, deployment_name);
  DeploymentLock lock(ctx, deployment_name);
  if (req.dry_run) return converge(d, req, deployment_name);
  const bool exists = find_deployment(ctx.db(), deployment_name).has_value();
  const std::string action = exists ? "update" : "create";
  const std::int64_t started = d.record(action, "deployment", deployment_name);
  d.parent_event = started;
  std::string result;
  try {
    result = converge(d, req, deployment_name);
  } catch (const std::exception& e) {
    d.record(action, "deployment", deployment_name, "", e.what());
    throw;
  }
  d.record(action, "deployment", deployment_name);
  return result;
}

namespace {

std::string converge(Deployer& d, const DeployRequest& req, const std::string& deployment_name) {
  TaskContext& ctx = d.ctx();
  Prepared p = prepare(d, req);
  Plan& plan = p.plan;
  if (plan.spec.name != deployment_name)
    fail<InputError>("manifest: name '{}' is not the deployment '{}'", plan.spec.name, deployment_name);
  if (req.dry_run) {
    ctx.debug(fmt::format("dry run: {} instances planned, {} to delete", plan.instances.size(), plan.obsolete.size()));
    return "/deployments/" + deployment_name;
  }
  record_plan(d, p);
  compile_packages(d, plan);
  render_templates(d, plan);

  std::vector<InstancePlan*> todo;
  for (auto& inst : plan.instances) {
    detect_changes(inst, req.plan_options);
    if (inst.desired_state == "detached") inst.changes.clear();
    if (req.fix && inst.existing && inst.existing->vm && inst.changes.empty()) {
      try {
        d.agent(inst.existing->vm->agent_id)->ping(std::chrono::seconds(5));
      } catch (const mbus::MbusTimeout&) {
        inst.changes.insert("recreate");
      }
    }
    if (!inst.needs_vm() && !plan.errands.count(inst.group->name)) inst.changes.clear();
    if (inst.existing && inst.existing->ignore && !inst.changes.empty()) {
      ctx.warning(fmt::format("You have ignored instances. They will not be changed: {}", inst.name()));
      inst.changes.clear();
    }
    if (req.only && !req.only(inst)) inst.changes.clear();
    if (!inst.changes.empty()) {
      std::string why;
      for (const auto& c : inst.changes) why += (why.empty() ? "" : ", ") + c;
      ctx.debug(fmt::format("{}: {}", inst.name(), why));
      todo.push_back(&inst);
    }
  }

  // Instances the manifest no longer has.
  for (const auto& o : plan.obsolete)
    if (o.ignore)
      fail("You are trying to delete instance group '{}', which contains ignored instance(s) ({}). Operation not allowed.",
           o.group, o.name());
  if (!req.only && !plan.obsolete.empty()) {
    std::vector<ExistingInstance*> gone;
    for (auto& o : plan.obsolete) gone.push_back(&o);
    std::atomic<int> index{0};
    const int total = static_cast<int>(gone.size());
    run_parallel(gone, std::max(1, plan.spec.update.max_in_flight_for(total)), [&](ExistingInstance& e) {
      d.step("Deleting unneeded instances", {e.group}, e.name(), ++index, total,
             [&] { delete_instance(d, e, req.skips_drain(e.group, e.uuid, e.index), false); });
    });
  }

  // Groups in order; consecutive serial: false groups together.
  std::vector<std::vector<const InstanceGroup*>> runs;
  for (const auto& g : plan.spec.groups) {
    if (g.lifecycle != "service") continue;
    const bool parallel = g.update.serial_set ? !*g.update.serial_set : !plan.spec.update.serial;
    if (parallel && !runs.empty() && runs.back().size() && !runs.back().back()->update.serial) runs.back().push_back(&g);
    else runs.push_back({&g});
  }
  for (const auto& run : runs) {
    std::vector<const InstanceGroup*> groups = run;
    auto changed_of = [&](const InstanceGroup* g) {
      std::vector<InstancePlan*> out;
      for (auto* inst : todo)
        if (inst->group == g) out.push_back(inst);
      return out;
    };
    if (groups.size() == 1) {
      update_group(d, *groups[0], changed_of(groups[0]), req);
    } else {
      run_parallel(groups, static_cast<int>(groups.size()),
                   [&](const InstanceGroup& g) { update_group(d, g, changed_of(&g), req); });
    }
  }

  if (req.only) return "/deployments/" + deployment_name;

  // post-deploy on every running instance, when the deploy changed any.
  std::vector<InstancePlan*> running;
  if (!todo.empty() || !plan.obsolete.empty())
  for (auto& inst : plan.instances)
    if (inst.needs_vm() && inst.desired_state == "started" && inst.existing && inst.existing->vm)
      running.push_back(&inst);
  if (!running.empty()) {
    std::atomic<int> index{0};
    const int total = static_cast<int>(running.size());
    run_parallel(running, ctx.config().max_threads, [&](InstancePlan& inst) {
      d.step("Running post-deploy scripts", {}, inst.name(), ++index, total, [&] {
        d.agent(inst.existing->vm->agent_id)
            ->run("run_script", args({std::string("post-deploy"), plugin::json_object()}), std::chrono::minutes(30));
      });
    });
  }

  // What is deployed now.
  auto& db = d.db();
  auto s = db.session();
  s.begin();
  db.exec(s, "UPDATE deployments SET manifest = ?, cloud_config_id = ? WHERE id = ?",
          {req.manifest, p.cloud_config_id ? DbParam(p.cloud_config_id) : DbParam(std::int64_t{0}), p.deployment_id});
  db.exec(s, "INSERT INTO deployment_manifests (deployment_id, manifest, task_id, created_at) VALUES (?, ?, ?, ?)",
          {p.deployment_id, req.manifest, ctx.task().id, now_seconds()});
  db.exec(s, "DELETE FROM deployments_stemcells WHERE deployment_id = ?", {p.deployment_id});
  std::set<std::int64_t> stemcell_ids;
  for (const auto& [alias, sc] : plan.stemcells) stemcell_ids.insert(sc.id);
  for (auto id : stemcell_ids)
    db.exec(s, "INSERT INTO deployments_stemcells (deployment_id, stemcell_id) VALUES (?, ?)", {p.deployment_id, id});
  db.exec(s, "DELETE FROM deployments_release_versions WHERE deployment_id = ?", {p.deployment_id});
  for (const auto& [name, rv] : plan.releases)
    db.exec(s, "INSERT INTO deployments_release_versions (deployment_id, release_version_id) VALUES (?, ?)",
            {p.deployment_id, rv.id});
  s.commit();
  return "/deployments/" + deployment_name;
}

}  // namespace

std::string update_deployment_task(TaskContext& ctx) {
  auto p = payload_of(ctx);
  DeployRequest req;
  req.manifest = get_string(p, "manifest", "task payload");
  req.plan_options.recreate = flag(p, "recreate");
  read_skip_drain(text(p, "skip_drain"), req.skip_drain, req.skip_drain_for);
  req.dry_run = flag(p, "dry_run");
  req.fix = flag(p, "fix");
  req.canaries = text(p, "canaries");
  req.max_in_flight = text(p, "max_in_flight");
  if (!req.canaries.empty()) check_count_or_percent(req.canaries, "--canaries");
  if (!req.max_in_flight.empty()) check_count_or_percent(req.max_in_flight, "--max-in-flight");
  return run_deploy(ctx, req, ctx.task().deployment);
}

Json list_deployments(Database& db) {
  JsonArray::Ptr out = new JsonArray;
  std::int64_t latest_cloud = 0;
  for (const auto& c : latest_configs(db, "cloud")) latest_cloud = std::max(latest_cloud, c.id);
  for (const auto& d : db.rows("SELECT id, name, COALESCE(cloud_config_id, 0) FROM deployments WHERE manifest <> '' "
                               "ORDER BY name")) {
    JsonObject::Ptr o = new JsonObject;
    o->set("name", d[1]);
    JsonArray::Ptr releases = new JsonArray, stemcells = new JsonArray;
    for (const auto& r : db.rows("SELECT r.name, v.version FROM deployments_release_versions l JOIN release_versions "
                                 "v ON v.id = l.release_version_id JOIN releases r ON r.id = v.release_id WHERE "
                                 "l.deployment_id = ? ORDER BY r.name, v.version",
                                 {std::stoll(d[0])})) {
      JsonObject::Ptr rel = new JsonObject;
      rel->set("name", r[0]);
      rel->set("version", r[1]);
      releases->add(rel);
    }
    for (const auto& s : db.rows("SELECT s.name, s.version FROM deployments_stemcells l JOIN stemcells s ON s.id = "
                                 "l.stemcell_id WHERE l.deployment_id = ? ORDER BY s.name, s.version",
                                 {std::stoll(d[0])})) {
      JsonObject::Ptr sc = new JsonObject;
      sc->set("name", s[0]);
      sc->set("version", s[1]);
      stemcells->add(sc);
    }
    o->set("releases", releases);
    o->set("stemcells", stemcells);
    const std::int64_t cc = std::stoll(d[2]);
    o->set("cloud_config", cc == 0 ? "none" : (latest_cloud == cc ? "latest" : "outdated"));
    o->set("teams", plugin::json_array());
    out->add(o);
  }
  return out;
}

Json list_vms(Database& db, const std::string& deployment, bool instances) {
  JsonArray::Ptr out = new JsonArray;
  auto dep = find_deployment(db, deployment);
  if (!dep) fail<InputError>("Deployment '{}' doesn't exist", deployment);
  for (const auto& e : load_instances(db, dep->id)) {
    if (!instances && !e.vm) continue;
    JsonObject::Ptr o = new JsonObject;
    o->set("agent_id", e.vm ? Json(e.vm->agent_id) : Json());
    o->set("cid", e.vm ? Json(e.vm->cid) : Json());
    o->set("job", e.group);
    o->set("index", e.index);
    o->set("id", e.uuid);
    o->set("az", e.az.empty() ? Json() : Json(e.az));
    JsonArray::Ptr ips = new JsonArray;
    for (const auto& [net, ip] : e.ips) ips->add(ip);
    o->set("ips", ips);
    o->set("vm_created_at", e.vm ? Json(e.vm->created_at) : Json());
    if (instances)
      o->set("expects_vm", e.lifecycle == "service" && e.state != "detached");
    else
      o->set("active", true);
    o->set("state", e.state);
    o->set("bootstrap", e.bootstrap);
    out->add(o);
  }
  return out;
}

void add_deployment_tasks(std::map<std::string, TaskRunner>& runners) {
  runners["update_deployment"] = update_deployment_task;
  runners["delete_deployment"] = delete_deployment_task;
  runners["change_state"] = change_state_task;
  runners["vms"] = vm_state_task;
  runners["run_errand"] = run_errand_task;
  runners["fetch_logs"] = fetch_logs_task;
  runners["cleanup"] = cleanup_task;
  runners["ssh"] = ssh_task;
  runners["snapshot_deployment"] = snapshot_task;
  runners["delete_snapshot"] = delete_snapshot_task;
  runners["export_release"] = export_release_task;
}

}  // namespace bosh::director
