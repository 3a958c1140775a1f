// The deployment tasks: deploy (plan → compile → render → update), delete,
// start/stop/restart/recreate, vms with vitals, errands, logs, cleanup.
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
#include "bosh/common/yaml.hpp"
#include "bosh/director/configs.hpp"
#include "bosh/director/releases.hpp"
#include "bosh/director/stemcells.hpp"
#include "bosh/director/tasks.hpp"
#include "deploy.hpp"
#include "variables.hpp"

namespace bosh::director {

using plugin::Json;
using plugin::JsonArray;
using plugin::JsonObject;
using namespace deploy;

namespace {

Json args(std::initializer_list<Json> items) {
  JsonArray::Ptr a = new JsonArray;
  for (const auto& i : items) a->add(i);
  return a;
}

JsonObject::Ptr payload_of(TaskContext& ctx) { return as_object(parse_json(ctx.task().payload, "task payload"), "task payload"); }

bool flag(const JsonObject::Ptr& o, const std::string& key) {
  return o->has(key) && !o->get(key).isEmpty() && o->get(key).convert<bool>();
}

std::string text(const JsonObject::Ptr& o, const std::string& key) {
  return o->has(key) && !o->get(key).isEmpty() ? o->get(key).convert<std::string>() : "";
}

// The deployment's lock, held (and renewed) for as long as the task works on it.
class DeploymentLock {
 public:
  DeploymentLock(TaskContext& ctx, const std::string& deployment)
      : locks_(ctx.db()), name_("lock:deployment:" + deployment), task_(ctx.task().id) {
    if (!locks_.acquire(name_, task_, ctx.task().username, kTtl)) {
      std::string holder;
      for (const auto& l : locks_.list())
        if (l.name == name_)
          holder = fmt::format(" by task {} (user '{}', since {})", l.task_id, l.username, l.acquired_at);
      fail("Deployment '{}' is locked{}; try again when it is done (bosh locks)", deployment, holder);
    }
    renewer_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      while (!done_) {
        cv_.wait_for(lock, std::chrono::seconds(15));
        if (!done_) locks_.renew(name_, task_, kTtl);
      }
    });
  }
  ~DeploymentLock() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    renewer_.join();
    try {
      locks_.release(name_, task_);
    } catch (const std::exception&) {
    }
  }

 private:
  static constexpr std::chrono::seconds kTtl{60};
  Locks locks_;
  std::string name_;
  std::int64_t task_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread renewer_;
};

// Runs fn over items, `width` at a time; the first failure stops new starts
// and is rethrown once the running ones end.
template <typename T, typename F>
void run_parallel(std::vector<T*>& items, int width, F fn) {
  std::mutex mutex;
  std::size_t next = 0;
  std::exception_ptr error;
  auto worker = [&] {
    for (;;) {
      T* item;
      {
        std::lock_guard lock(mutex);
        if (error || next >= items.size()) return;
        item = items[next++];
      }
      try {
        fn(*item);
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < std::max(1, std::min<int>(width, static_cast<int>(items.size()))); ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

// ---- the deploy ----------------------------------------------------------------------

struct DeployRequest {
  std::string manifest;  // as the operator wrote it (with ((variables)))
  PlanOptions plan_options;
  bool skip_drain = false, dry_run = false, fix = false;
  std::string canaries, max_in_flight;  // overrides
  // Only these instances are updated (state changes); null: every changed one.
  std::function<bool(const InstancePlan&)> only;
  std::function<void(InstancePlan&)> adjust;  // e.g. the desired state of `bosh start`
  std::set<std::string> errands;              // errand groups to give VMs
};

struct Prepared {
  Plan plan;
  std::int64_t deployment_id = 0;
  std::int64_t cloud_config_id = 0;
};

// Variables: the deployment's stored ones, the manifest's new ones made now.
std::map<std::string, Json> variables_for(Deployer& d, const DeploymentSpec& spec, std::int64_t deployment_id,
                                          const Json& raw, bool persist) {
  std::map<std::string, Json> values;
  if (deployment_id)
    for (const auto& r : d.db().rows("SELECT name, value FROM variables WHERE deployment_id = ?", {deployment_id}))
      values[r[0]] = parse_json(r[1], "variable " + r[0]);
  for (const auto& def : in_generation_order(spec.variables)) {
    if (values.count(def.name)) continue;
    values[def.name] = generate_variable(def, values);
    d.ctx().debug("generated variable '" + def.name + "' (" + def.type + ")");
    if (persist)
      d.db().exec("INSERT INTO variables (deployment_id, name, value, created_at) VALUES (?, ?, ?, ?)",
                  {deployment_id, def.name, to_json(values[def.name]), now_seconds()});
  }
  std::string missing;
  for (const auto& ref : variable_references(raw))
    if (!values.count(ref)) missing += (missing.empty() ? "" : ", ") + ref;
  if (!missing.empty())
    fail<InputError>("Expected to find variables: {} (define them under 'variables' for the director to generate)",
                     missing);
  return values;
}

Prepared prepare(Deployer& d, const DeployRequest& req) {
  Prepared out;
  d.step("Preparing deployment", {}, "Preparing deployment", 1, 1, [&] {
    const Json raw = yaml_to_typed_json(parse_yaml(req.manifest, "manifest"));
    Json cloud;
    if (auto cc = latest_config(d.db(), "cloud")) {
      cloud = yaml_to_typed_json(parse_yaml(cc->content, "cloud config"));
      out.cloud_config_id = cc->id;
    }
    // The name is needed before variables (they are the deployment's).
    auto root = as_object(raw, "manifest");
    const std::string name = find_string(root, "name", "manifest").value_or("");
    if (name.empty()) fail<InputError>("manifest: missing 'name'");
    if (auto existing = find_deployment(d.db(), name)) {
      out.deployment_id = existing->id;
    } else if (!req.dry_run) {
      out.deployment_id = d.db().insert("INSERT INTO deployments (name, manifest, created_at) VALUES (?, ?, ?)",
                                        {name, std::string(""), now_seconds()});
    }
    // Variables need the parsed definitions; parse once without interpolation for those.
    DeploymentSpec defs;
    {
      std::vector<VariableDef> variables;
      int i = 0;
      if (root->has("variables") && !root->get("variables").isEmpty())
        for (const auto& v : *as_array(root->get("variables"), "variables")) {
          auto vo = as_object(v, fmt::format("variables[{}]", i++));
          variables.push_back({get_string(vo, "name", "variables"), get_string(vo, "type", "variables"),
                               vo->has("options") ? vo->get("options") : plugin::json_object()});
        }
      defs.variables = variables;
    }
    auto values = variables_for(d, defs, out.deployment_id, raw, !req.dry_run && out.deployment_id);
    out.plan.spec = parse_deployment(interpolate(raw, values), cloud);
    out.plan.director_name = d.ctx().config().name;
    out.plan.errands = req.errands;
    for (auto& g : out.plan.spec.groups) {
      if (!req.canaries.empty()) g.update.canaries = req.canaries;
      if (!req.max_in_flight.empty()) g.update.max_in_flight = req.max_in_flight;
    }
    resolve_artifacts(d.db(), out.plan);
    const auto existing = out.deployment_id ? load_instances(d.db(), out.deployment_id) : std::vector<ExistingInstance>{};
    plan_instances(out.plan, existing, [&](const std::string& net) { return addresses_in_use(d.db(), net); });
    for (auto& inst : out.plan.instances)
      if (req.adjust) req.adjust(inst);
  });
  return out;
}

// New instance rows and the IPs the plan chose, in one transaction.
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
void update_group(Deployer& d, const InstanceGroup& g, std::vector<InstancePlan*> changed, bool skip_drain) {
  if (changed.empty()) return;
  const int size = g.instances;
  const int canaries = std::min<int>(g.update.canaries_for(size), static_cast<int>(changed.size()));
  const int in_flight = g.update.max_in_flight_for(size);
  const int total = static_cast<int>(changed.size());
  std::atomic<int> index{0};
  auto one = [&](InstancePlan& inst, bool canary) {
    const int i = ++index;
    d.step("Updating instance", {g.name}, inst.name() + (canary ? " (canary)" : ""), i, total, [&] {
      update_instance(d, inst, UpdateOptions{canary, skip_drain, nullptr});
    });
  };
  std::vector<InstancePlan*> first(changed.begin(), changed.begin() + canaries),
      rest(changed.begin() + canaries, changed.end());
  run_parallel(first, std::min(canaries, in_flight), [&](InstancePlan& inst) { one(inst, true); });
  run_parallel(rest, in_flight, [&](InstancePlan& inst) { one(inst, false); });
}

std::string run_deploy(TaskContext& ctx, const DeployRequest& req, const std::string& deployment_name) {
  Deployer d(ctx, deployment_name);
  DeploymentLock lock(ctx, deployment_name);
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
    if (req.only && !req.only(inst)) inst.changes.clear();
    if (!inst.changes.empty()) {
      std::string why;
      for (const auto& c : inst.changes) why += (why.empty() ? "" : ", ") + c;
      ctx.debug(fmt::format("{}: {}", inst.name(), why));
      todo.push_back(&inst);
    }
  }

  // Instances the manifest no longer has.
  if (!req.only && !plan.obsolete.empty()) {
    std::vector<ExistingInstance*> gone;
    for (auto& o : plan.obsolete) gone.push_back(&o);
    std::atomic<int> index{0};
    const int total = static_cast<int>(gone.size());
    run_parallel(gone, std::max(1, plan.spec.update.max_in_flight_for(total)), [&](ExistingInstance& e) {
      d.step("Deleting unneeded instances", {e.group}, e.name(), ++index, total,
             [&] { delete_instance(d, e, req.skip_drain, false); });
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
      update_group(d, *groups[0], changed_of(groups[0]), req.skip_drain);
    } else {
      run_parallel(groups, static_cast<int>(groups.size()),
                   [&](const InstanceGroup& g) { update_group(d, g, changed_of(&g), req.skip_drain); });
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
  record_event(db, {ctx.task().username, "update", "deployment", deployment_name, std::to_string(ctx.task().id),
                    deployment_name});
  return "/deployments/" + deployment_name;
}

std::string update_deployment_task(TaskContext& ctx) {
  auto p = payload_of(ctx);
  DeployRequest req;
  req.manifest = get_string(p, "manifest", "task payload");
  req.plan_options.recreate = flag(p, "recreate");
  req.skip_drain = flag(p, "skip_drain");
  req.dry_run = flag(p, "dry_run");
  req.fix = flag(p, "fix");
  req.canaries = text(p, "canaries");
  req.max_in_flight = text(p, "max_in_flight");
  return run_deploy(ctx, req, ctx.task().deployment);
}

// ---- delete --------------------------------------------------------------------------

std::string delete_deployment_task(TaskContext& ctx) {
  auto p = payload_of(ctx);
  const std::string name = ctx.task().deployment;
  const bool force = flag(p, "force");
  Deployer d(ctx, name);
  DeploymentLock lock(ctx, name);
  auto dep = find_deployment(d.db(), name);
  if (!dep) fail("Deployment '{}' doesn't exist", name);
  auto instances = load_instances(d.db(), dep->id);
  std::vector<ExistingInstance*> all;
  for (auto& i : instances) all.push_back(&i);
  std::atomic<int> index{0};
  const int total = static_cast<int>(all.size());
  run_parallel(all, ctx.config().max_threads, [&](ExistingInstance& e) {
    d.step("Deleting instances", {e.group}, e.name(), ++index, total, [&] {
      try {
        delete_instance(d, e, flag(p, "skip_drain"), force);
      } catch (const std::exception& ex) {
        if (!force) throw;
        ctx.warning(fmt::format("{}: {} (--force: going on)", e.name(), ex.what()));
      }
    });
  });
  // The deployment's disks go with it.
  auto disks = d.db().rows("SELECT id, disk_cid FROM persistent_disks WHERE deployment = ? AND instance_id IS NULL",
                           {name});
  int disk_index = 0;
  for (const auto& r : disks) {
    d.step("Deleting disks", {}, r[1], ++disk_index, static_cast<int>(disks.size()), [&] {
      try {
        d.cpi().delete_disk(r[1]);
      } catch (const plugin::DiskNotFound&) {
      } catch (const std::exception& ex) {
        if (!force) throw;
        ctx.warning(fmt::format("disk {}: {} (--force: going on)", r[1], ex.what()));
      }
      d.db().exec("DELETE FROM persistent_disks WHERE id = ?", {std::stoll(r[0])});
    });
  }
  d.step("Removing deployment artifacts", {}, "Detaching stemcells and releases", 1, 1, [&] {
    auto s = d.db().session();
    s.begin();
    for (const char* table : {"deployments_stemcells", "deployments_release_versions", "variables",
                              "deployment_manifests", "errand_runs"})
      d.db().exec(s, std::string("DELETE FROM ") + table + " WHERE deployment_id = ?", {dep->id});
    d.db().exec(s, "DELETE FROM deployments WHERE id = ?", {dep->id});
    s.commit();
  });
  record_event(d.db(), {ctx.task().username, "delete", "deployment", name, std::to_string(ctx.task().id), name});
  return "/deployments/" + name;
}

// ---- start / stop / restart / recreate --------------------------------------------------

bool targeted(const ExistingInstance& i, const std::string& group, const std::string& instance) {
  if (group != "*" && !group.empty() && i.group != group) return false;
  if (instance.empty()) return true;
  return i.uuid == instance || std::to_string(i.index) == instance;
}

std::string change_state_task(TaskContext& ctx) {
  auto p = payload_of(ctx);
  const std::string name = ctx.task().deployment, group = text(p, "group"), instance = text(p, "instance"),
                    state = text(p, "state");
  const bool skip_drain = flag(p, "skip_drain"), hard = flag(p, "hard");
  auto dep = find_deployment(ctx.db(), name);
  if (!dep || dep->manifest.empty()) fail("Deployment '{}' doesn't exist", name);
  auto instances = load_instances(ctx.db(), dep->id);
  std::vector<ExistingInstance*> targets;
  for (auto& i : instances)
    if (i.lifecycle == "service" && targeted(i, group, instance)) targets.push_back(&i);
  if (targets.empty())
    fail("No instances of {} in deployment '{}'", instance.empty() ? "'" + group + "'" : "'" + group + "/" + instance + "'", name);
  const std::string what = instance.empty() ? group : group + "/" + instance;

  if (state == "recreate" || (state == "started" && std::any_of(targets.begin(), targets.end(), [](auto* t) {
                                return !t->vm || t->state == "detached";
                              }))) {
    // A converge of the stored manifest for these instances.
    std::set<std::int64_t> ids;
    for (auto* t : targets) ids.insert(t->id);
    DeployRequest req;
    req.manifest = dep->manifest;
    req.skip_drain = skip_drain;
    req.only = [ids](const InstancePlan& i) { return i.existing && ids.count(i.existing->id); };
    req.adjust = [ids, state](InstancePlan& i) {
      if (i.existing && ids.count(i.existing->id)) i.desired_state = "started";
    };
    if (state == "recreate") {
      req.plan_options.recreate = true;
    }
    run_deploy(ctx, req, name);
    return fmt::format("{} {} of deployment '{}'", state == "recreate" ? "Recreated" : "Started", what, name);
  }

  Deployer d(ctx, name);
  DeploymentLock lock(ctx, name);
  std::atomic<int> index{0};
  const int total = static_cast<int>(targets.size());
  const std::string stage = state == "stopped" ? "Stopping instances" : state == "restart" ? "Restarting instances"
                                                                                          : "Starting instances";
  run_parallel(targets, ctx.config().max_threads, [&](ExistingInstance& e) {
    d.step(stage, {e.group}, e.name(), ++index, total, [&] {
      Json apply = dig(e.spec, "apply").value_or(plugin::json_object());
      if (state == "stopped" || state == "restart") {
        if (e.vm && e.state == "started") drain_and_stop(d, *d.agent(e.vm->agent_id), "shutdown", apply, skip_drain);
        if (state == "stopped" && hard && e.vm) delete_vm_keeping_disk(d, *e.vm, e.disk, e.name());
        d.db().exec("UPDATE instances SET state = ? WHERE id = ?",
                    {std::string(state == "stopped" && hard ? "detached" : "stopped"), e.id});
      }
      if (state == "started" || state == "restart") {
        start_and_watch(d, *d.agent(e.vm->agent_id), e.name(), WatchTime{1000, 300000});
        d.db().exec("UPDATE instances SET state = ? WHERE id = ?", {std::string("started"), e.id});
      }
    });
  });
  const char* verb = state == "stopped" ? (hard ? "Detached" : "Stopped") : state == "restart" ? "Restarted" : "Started";
  return fmt::format("{} {} of deployment '{}'", verb, what, name);
}

// ---- vms with vitals (format=full) -------------------------------------------------------

std::string vm_state_task(TaskContext& ctx) {
  auto p = payload_of(ctx);
  const std::string name = ctx.task().deployment;
  const bool with_missing = flag(p, "instances");
  Deployer d(ctx, name);
  auto instances = load_instances(d.db(), deployment_id_for(d.db(), name));
  std::vector<ExistingInstance*> all;
  for (auto& i : instances)
    if (i.vm || with_missing) all.push_back(&i);
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> lines;  // sort key, line
  run_parallel(all, 16, [&](ExistingInstance& e) {
    JsonObject::Ptr o = new JsonObject;
    o->set("vm_cid", e.vm ? Json(e.vm->cid) : Json());
    o->set("active", e.vm.has_value());
    o->set("vm_created_at", e.vm ? Json(e.vm->created_at) : Json());
    o->set("agent_id", e.vm ? Json(e.vm->agent_id) : Json());
    o->set("job_name", e.group);
    o->set("index", e.index);
    o->set("id", e.uuid);
    o->set("az", e.az.empty() ? Json() : Json(e.az));
    o->set("bootstrap", e.bootstrap);
    o->set("ignore", false);
    o->set("state", e.state);
    o->set("vm_type", dig(e.spec, "vm.vm_type").value_or(Json()));
    o->set("resource_pool", dig(e.spec, "vm.vm_type").value_or(Json()));
    o->set("stemcell", dig(e.spec, "vm.stemcell").value_or(Json()));
    o->set("disk_cid", e.disk ? Json(e.disk->cid) : Json());
    JsonArray::Ptr disks = new JsonArray, ips = new JsonArray;
    if (e.disk) disks->add(e.disk->cid);
    o->set("disk_cids", disks);
    if (auto nets = dig(e.spec, "vm.networks"); nets && nets->type() == typeid(JsonObject::Ptr))
      for (const auto& [n, v] : *nets->extract<JsonObject::Ptr>())
        if (auto ip = dig(v, "ip")) ips->add(*ip);
    o->set("ips", ips);
    o->set("job_state", Json());
    o->set("processes", plugin::json_array());
    o->set("vitals", Json());
    if (e.vm) {
      try {
        mbus::AgentClient agent(*ctx.services().nats, e.vm->agent_id, ctx.services().uuid);
        auto st = as_object(agent.send("get_state", args({std::string("full")}), std::chrono::seconds(5)), "state");
        for (const char* k : {"job_state", "processes", "vitals"})
          if (st->has(k)) o->set(k, st->get(k));
      } catch (const std::exception& ex) {
        o->set("job_state", "unresponsive agent");
      }
    }
    std::lock_guard lock(mutex);
    lines.emplace_back(fmt::format("{}/{:08d}", e.group, e.index), to_json(Json(o)));
  });
  std::sort(lines.begin(), lines.end());
  for (const auto& [k, line] : lines) ctx.result_line(line);
  return "";
}

// ---- errands -----------------------------------------------------------------------------

std::string run_errand_task(TaskContext& ctx) {
  auto p = payload_of(ctx);
  const std::string name = ctx.task().deployment, errand = text(p, "name");
  const bool keep_alive = flag(p, "keep_alive");
  auto dep = find_deployment(ctx.db(), name);
  if (!dep || dep->manifest.empty()) fail("Deployment '{}' doesn't exist", name);
  Deployer d(ctx, name);
  DeploymentLock lock(ctx, name);
  DeployRequest req;
  req.manifest = dep->manifest;
  req.errands = {errand};
  Prepared prepared = prepare(d, req);
  Plan& plan = prepared.plan;
  const InstanceGroup* group = plan.spec.group(errand);
  std::vector<std::pair<InstancePlan*, std::string>> runs;  // instance, job to run ("" = its errand job)
  if (group && group->lifecycle == "errand") {
    if (group->instances == 0) fail("Errand '{}' has no instances to run on", errand);
    record_plan(d, prepared);
    compile_packages(d, plan);
    render_templates(d, plan);
    std::vector<InstancePlan*> mine;
    for (auto& inst : plan.instances)
      if (inst.group == group) mine.push_back(&inst);
    std::atomic<int> index{0};
    const int total = static_cast<int>(mine.size());
    run_parallel(mine, group->update.max_in_flight_for(total), [&](InstancePlan& inst) {
      d.step("Creating errand instances", {errand}, inst.name(), ++index, total, [&] {
        inst.desired_state = "stopped";  // its job is run, not started
        detect_changes(inst, {});
        if (!inst.existing || !inst.existing->vm) inst.changes.insert("vm_missing");
        update_instance(d, inst, UpdateOptions{});
      });
    });
    for (auto* inst : mine) runs.emplace_back(inst, "");
  } else {
    // A co-located errand: a job with bin/run on service instances.
    for (auto& inst : plan.instances) {
      bool has = false;
      for (const auto& j : inst.group->jobs) has = has || j.name == errand;
      if (has && inst.existing && inst.existing->vm) runs.emplace_back(&inst, errand);
    }
    if (runs.empty()) fail("Errand '{}' doesn't exist in deployment '{}'", errand, name);
  }

  int worst = 0;
  std::mutex mutex;
  std::vector<std::pair<InstancePlan*, std::string>*> items;
  for (auto& r : runs) items.push_back(&r);
  std::atomic<int> index{0};
  const int total = static_cast<int>(items.size());
  run_parallel(items, ctx.config().max_threads, [&](std::pair<InstancePlan*, std::string>& run) {
    InstancePlan& inst = *run.first;
    d.step("Running errand", {errand}, inst.group->name + "/" + inst.uuid, ++index, total, [&] {
      auto agent = d.agent(inst.existing->vm->agent_id);
      Json r = agent->run("run_errand", run.second.empty() ? plugin::json_array() : args({run.second}),
                          std::chrono::hours(6));
      auto o = as_object(r, "run_errand result");
      JsonObject::Ptr line = new JsonObject;
      line->set("errand_name", errand);
      line->set("instance", inst.group->name + "/" + inst.uuid);
      line->set("exit_code", o->getValue<int>("exit_code"));
      line->set("stdout", o->has("stdout") ? o->get("stdout") : Json(""));
      line->set("stderr", o->has("stderr") ? o->get("stderr") : Json(""));
      line->set("logs", plugin::json_object());
      ctx.result_line(to_json(Json(line)));
      std::lock_guard lock(mutex);
      worst = std::max(worst, o->getValue<int>("exit_code"));
    });
  });
  if (group && group->lifecycle == "errand" && !keep_alive) {
    std::atomic<int> del{0};
    std::vector<InstancePlan*> mine;
    for (auto& r : runs) mine.push_back(r.first);
    run_parallel(mine, ctx.config().max_threads, [&](InstancePlan& inst) {
      d.step("Deleting errand instances", {errand}, inst.name(), ++del, static_cast<int>(mine.size()), [&] {
        const ExistingInstance& e = *inst.existing;
        delete_vm_keeping_disk(d, *e.vm, e.disk, inst.name());
      });
    });
  }
  d.db().exec("INSERT INTO errand_runs (deployment_id, name, configuration_hash, exit_code, created_at) VALUES (?, ?, "
              "?, ?, ?)",
              {prepared.deployment_id, errand, std::string(""), std::int64_t{worst}, now_seconds()});
  if (worst == 0) return fmt::format("Errand '{}' completed successfully (exit code 0)", errand);
  if (worst > 128) return fmt::format("Errand '{}' was canceled (exit code {})", errand, worst);
  return fmt::format("Errand '{}' completed with error (exit code {})", errand, worst);
}

// ---- logs ---------------------------------------------------------------------------------

std::string fetch_logs_task(TaskContext& ctx) {
  auto p = payload_of(ctx);
  const std::string name = ctx.task().deployment, group = text(p, "group"), instance = text(p, "instance");
  const std::string type = text(p, "type").empty() ? "job" : text(p, "type");
  Deployer d(ctx, name);
  auto instances = load_instances(d.db(), deployment_id_for(d.db(), name));
  const ExistingInstance* target = nullptr;
  for (const auto& i : instances)
    if (i.group == group && (i.uuid == instance || std::to_string(i.index) == instance || instance.empty())) {
      target = &i;
      break;
    }
  if (!target) fail("No instance '{}/{}' in deployment '{}'", group, instance, name);
  if (!target->vm) fail("'{}' has no VM to fetch logs from", target->name());
  std::string blob;
  d.step("Fetching logs", {group}, target->name(), 1, 1, [&] {
    JsonArray::Ptr filters = new JsonArray;
    if (p->has("filters") && !p->get("filters").isEmpty())
      for (const auto& f : *as_array(p->get("filters"), "filters")) filters->add(f);
    auto r = as_object(d.agent(target->vm->agent_id)->run("fetch_logs", args({type, filters}), std::chrono::minutes(30)),
                       "fetch_logs result");
    blob = get_string(r, "blobstore_id", "fetch_logs result");
  });
  return blob;
}

// ---- cleanup -----------------------------------------------------------------------------

std::string cleanup_task(TaskContext& ctx) {
  auto p = payload_of(ctx);
  const bool all = flag(p, "remove_all");
  Database& db = ctx.db();
  std::vector<std::string> done;
  // Releases: versions no deployment uses (all but the two newest unless --all).
  for (const auto& rel : db.rows("SELECT id, name FROM releases ORDER BY name")) {
    auto versions = db.rows("SELECT v.id, v.version FROM release_versions v WHERE v.release_id = ? AND v.id NOT IN "
                            "(SELECT release_version_id FROM deployments_release_versions) ORDER BY v.id",
                            {std::stoll(rel[0])});
    const std::size_t keep = all ? 0 : 2;
    for (std::size_t i = 0; i + keep < versions.size(); ++i) {
      delete_release(ctx, rel[1], versions[i][1], false);
      done.push_back("release " + rel[1] + "/" + versions[i][1]);
    }
  }
  // Stemcells, the same way.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> by_name;
  for (const auto& s : db.rows("SELECT id, name, version FROM stemcells WHERE id NOT IN (SELECT stemcell_id FROM "
                               "deployments_stemcells) ORDER BY id"))
    by_name[s[1]].emplace_back(s[0], s[2]);
  for (const auto& [sname, list] : by_name) {
    const std::size_t keep = all ? 0 : 2;
    for (std::size_t i = 0; i + keep < list.size(); ++i) {
      delete_stemcell(ctx, sname, list[i].second, false);
      done.push_back("stemcell " + sname + "/" + list[i].second);
    }
  }
  // Compiled packages for stemcells that are gone.
  for (const auto& c : db.rows("SELECT c.id, c.blobstore_id FROM compiled_packages c WHERE NOT EXISTS (SELECT 1 FROM "
                               "stemcells s WHERE s.operating_system = c.stemcell_os AND s.version = "
                               "c.stemcell_version)")) {
    try {
      ctx.blobstore().delete_blob(c[1]);
    } catch (const std::exception&) {
    }
    db.exec("DELETE FROM compiled_packages WHERE id = ?", {std::stoll(c[0])});
  }
  if (all) {
    auto disks = db.rows("SELECT id, disk_cid FROM persistent_disks WHERE instance_id IS NULL AND active = ?",
                         {db_bool(false)});
    int i = 0;
    for (const auto& r : disks) {
      ctx.event("Deleting orphaned disks", r[1], ++i, static_cast<int>(disks.size()), "started");
      try {
        ctx.cpi().delete_disk(r[1]);
      } catch (const plugin::DiskNotFound&) {
      }
      db.exec("DELETE FROM persistent_disks WHERE id = ?", {std::stoll(r[0])});
      ctx.event("Deleting orphaned disks", r[1], i, static_cast<int>(disks.size()), "finished", 100);
      done.push_back("orphaned disk " + r[1]);
    }
  }
  return done.empty() ? std::string("Nothing to clean up") : fmt::format("Deleted {}", fmt::join(done, ", "));
}

}  // namespace

Json list_deployments(Database& db) {
  JsonArray::Ptr out = new JsonArray;
  auto latest_cloud = latest_config(db, "cloud");
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
    o->set("cloud_config", cc == 0 ? "none" : (latest_cloud && latest_cloud->id == cc ? "latest" : "outdated"));
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
}

}  // namespace bosh::director
