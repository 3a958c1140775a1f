// One instance brought to its plan (BOSH's instance updater), and an
// instance taken away.
#include <thread>

#include "bosh/common/clock.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "deploy.hpp"

namespace bosh::director::deploy {

using plugin::JsonArray;
using plugin::JsonObject;

namespace {

Json args(std::initializer_list<Json> items) {
  JsonArray::Ptr a = new JsonArray;
  for (const auto& i : items) a->add(i);
  return a;
}

const auto kAgentTask = std::chrono::minutes(30);

}  // namespace

// drain → (wait) → stop. A negative drain answer is a dynamic drain: wait,
// then ask for the status again.
void drain_and_stop(Deployer& d, mbus::AgentClient& agent, const std::string& type, const Json& next_spec,
                    bool skip_drain) {
  if (!skip_drain) {
    Json r = agent.run("drain", args({type, next_spec}), kAgentTask);
    int wait = r.isNumeric() ? r.convert<int>() : 0;
    while (wait < 0) {
      std::this_thread::sleep_for(std::chrono::seconds(-wait));
      d.ctx().check_cancelled();
      Json again = agent.run("drain", args({std::string("status"), next_spec}), kAgentTask);
      wait = again.isNumeric() ? again.convert<int>() : 0;
    }
    if (wait > 0) std::this_thread::sleep_for(std::chrono::seconds(wait));
  }
  agent.run("stop", plugin::json_array(), kAgentTask);
}

namespace {

void watch_until_running(Deployer& d, mbus::AgentClient& agent, const std::string& name, const WatchTime& watch) {
  std::string not_running;
  for (int ms : watch.schedule()) {
    // A watch may wait minutes between looks: a cancel is noticed within a second.
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    for (auto now = std::chrono::steady_clock::now(); now < until; now = std::chrono::steady_clock::now()) {
      d.ctx().check_cancelled();
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::seconds(1)));
    }
    d.ctx().check_cancelled();
    auto state = as_object(agent.get_state(), "get_state");
    if (state->has("job_state") && state->getValue<std::string>("job_state") == "running") return;
    not_running.clear();
    if (state->has("processes") && !state->get("processes").isEmpty())
      for (const auto& p : *state->getArray("processes")) {
        auto po = p.extract<JsonObject::Ptr>();
        if (po->getValue<std::string>("state") != "running")
          not_running += (not_running.empty() ? "" : ", ") + po->getValue<std::string>("name");
      }
  }
  fail("'{}' is not running after update.{}", name,
       not_running.empty() ? std::string() : " Review logs for failed jobs: " + not_running);
}

}  // namespace

void start_and_watch(Deployer& d, mbus::AgentClient& agent, const std::string& name, const WatchTime& watch) {
  agent.run("run_script", args({std::string("pre-start"), plugin::json_object()}), kAgentTask);
  agent.run("start", plugin::json_array(), kAgentTask);
  watch_until_running(d, agent, name, watch);
  agent.run("run_script", args({std::string("post-start"), plugin::json_object()}), kAgentTask);
}

void delete_vm_keeping_disk(Deployer& d, const VmRow& vm, const std::optional<DiskRow>& disk,
                            const std::string& name) {
  if (disk) {
    try {
      d.agent(vm.agent_id)->run("unmount_disk", args({disk->cid}), kAgentTask);
    } catch (const mbus::MbusTimeout&) {
      // an agent that does not answer: its VM goes anyway
    }
    try {
      d.cpi().detach_disk(vm.cid, disk->cid);
    } catch (const plugin::DiskNotAttached&) {
    }
  }
  d.delete_vm(vm, name);
}

namespace {

void attach_and_mount(Deployer& d, mbus::AgentClient& agent, const std::string& vm_cid, const std::string& disk_cid) {
  Json hint = d.cpi().attach_disk(vm_cid, disk_cid);
  agent.run("add_persistent_disk", args({disk_cid, hint}), kAgentTask);
  agent.run("mount_disk", args({disk_cid}), kAgentTask);
}

void orphan_disk(Deployer& d, const DiskRow& disk, const std::string& name, const std::string& az) {
  const std::string instance = name.substr(0, name.find(' '));  // "group/uuid", as BOSH lists orphaned disks
  d.db().exec("UPDATE persistent_disks SET active = ?, instance_id = NULL, orphaned_at = ?, deployment = ?, "
              "instance_name = ?, az = ? WHERE id = ?",
              {db_bool(false), now_seconds(), d.deployment(), instance, az, disk.id});
  d.ctx().debug(fmt::format("orphaned disk {} of {}", disk.cid, instance));
  d.record("orphan", "disk", disk.cid, instance);
}

}  // namespace

void update_instance(Deployer& d, InstancePlan& inst, const UpdateOptions& options) {
  const InstanceGroup& g = *inst.group;
  std::optional<VmRow> vm = inst.existing ? inst.existing->vm : std::nullopt;
  std::optional<DiskRow> disk = inst.existing ? inst.existing->disk : std::nullopt;
  std::unique_ptr<mbus::AgentClient> agent = vm ? d.agent(vm->agent_id) : nullptr;
  const bool recreate = inst.recreate();
  const bool disk_change = inst.changes.count("persistent_disk") > 0;
  const bool was_started = inst.existing && inst.existing->state == "started";

  // Dirty until it converges: a failed update is retried by the next deploy
  // even when the manifest went back to what the database last recorded.
  {
    JsonObject::Ptr dirty = inst.existing ? as_object(parse_json(to_json(inst.existing->spec), "spec"), "spec")
                                          : JsonObject::Ptr(new JsonObject);
    dirty->set("dirty", true);
    d.db().exec("UPDATE instances SET spec = ? WHERE id = ?", {to_json(Json(dirty)), inst.id});
  }

  // 1. Stop what runs.
  if (vm && was_started) {
    const std::string type = recreate || disk_change || inst.desired_state != "started" ? "shutdown" : "update";
    try {
      drain_and_stop(d, *agent, type, inst.apply_spec, options.skip_drain);
    } catch (const mbus::MbusTimeout& e) {
      if (!recreate) throw;  // the VM is replaced anyway
      d.ctx().warning(fmt::format("{}: agent did not answer ({}); recreating its VM", inst.name(), e.what()));
    }
  }

  // 2. A new VM when the old one does not fit (or there is none).
  if (recreate) {
    if (vm) {
      delete_vm_keeping_disk(d, *vm, disk, inst.name());
      vm.reset();
    }
    std::vector<std::string> disk_cids;
    if (disk) disk_cids.push_back(disk->cid);
    Json networks = inst.network_settings;
    plugin::Metadata meta{{"job", g.name}, {"index", std::to_string(inst.index)}, {"id", inst.uuid},
                          {"name", g.name + "/" + inst.uuid}};
    vm = d.create_vm(inst.name(), inst.id, *inst.stemcell, inst.vm_cloud_properties, networks, disk_cids, inst.env,
                     meta);
    inst.network_settings = networks;
    JsonObject::Ptr apply = inst.apply_spec.extract<JsonObject::Ptr>();
    apply->set("networks", networks);
    agent = d.agent(vm->agent_id);
    if (disk) attach_and_mount(d, *agent, vm->cid, disk->cid);
  }

  // 3. The persistent disk: new, migrated to a new size, or gone.
  const std::int64_t want = g.persistent_disk_mb;
  if (want > 0 && (!disk || disk_change)) {
    const std::string cid = d.cpi().create_disk(want, g.disk_cloud_properties, vm->cid);
    d.ctx().debug(fmt::format("CPI create_disk({} MB) for {} -> {}", want, inst.name(), cid));
    d.record("create", "disk", cid, inst.name());
    DiskRow fresh{0, cid, want, g.disk_cloud_properties};
    fresh.id = d.db().insert("INSERT INTO persistent_disks (instance_id, disk_cid, size_mb, cloud_properties, active, "
                             "deployment, instance_name) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             {inst.id, cid, want, to_json(g.disk_cloud_properties), db_bool(false), d.deployment(),
                              inst.name()});
    try {
      attach_and_mount(d, *agent, vm->cid, cid);
      if (disk) {
        agent->run("migrate_disk", args({disk->cid, cid}), std::chrono::hours(24));
        try {
          d.cpi().detach_disk(vm->cid, disk->cid);
        } catch (const plugin::DiskNotAttached&) {
        }
        orphan_disk(d, *disk, inst.name(), inst.az);
      }
    } catch (...) {
      // The new disk is not the instance's: it goes, the old one stays.
      try {
        d.cpi().detach_disk(vm->cid, cid);
      } catch (const std::exception&) {
      }
      try {
        d.cpi().delete_disk(cid);
      } catch (const std::exception&) {
      }
      d.db().exec("DELETE FROM persistent_disks WHERE id = ?", {fresh.id});
      throw;
    }
    d.db().exec("UPDATE persistent_disks SET active = ? WHERE id = ?", {db_bool(true), fresh.id});
    try {
      d.cpi().set_disk_metadata(cid, {{"director", d.ctx().config().name}, {"deployment", d.deployment()},
                                      {"instance_group", g.name}, {"instance_index", std::to_string(inst.index)}});
    } catch (const plugin::NotImplemented&) {
    }
    disk = fresh;
  } else if (want == 0 && disk) {
    agent->run("unmount_disk", args({disk->cid}), kAgentTask);
    try {
      d.cpi().detach_disk(vm->cid, disk->cid);
    } catch (const plugin::DiskNotAttached&) {
    }
    orphan_disk(d, *disk, inst.name(), inst.az);
    disk.reset();
  }

  // 4. Jobs and packages; 5. start them and watch.
  agent->run("apply", args({inst.apply_spec}), kAgentTask);
  if (inst.desired_state == "started")
    start_and_watch(d, *agent, inst.name(),
                    options.watch ? *options.watch : (options.canary ? g.update.canary_watch : g.update.update_watch));

  // 6. What it is now.
  JsonObject::Ptr spec = new JsonObject, vm_spec = new JsonObject, disk_spec = new JsonObject;
  vm_spec->set("stemcell_cid", inst.stemcell->cid);
  vm_spec->set("stemcell", inst.stemcell->desc());
  vm_spec->set("stemcell_api_version", inst.stemcell->api_version);
  vm_spec->set("cloud_properties", inst.vm_cloud_properties);
  vm_spec->set("env", inst.env);
  vm_spec->set("networks", inst.network_settings);
  vm_spec->set("vm_type", g.vm_type);
  disk_spec->set("size", disk ? disk->size_mb : 0);
  spec->set("apply", inst.apply_spec);
  spec->set("vm", vm_spec);
  spec->set("disk", disk_spec);
  d.db().exec("UPDATE instances SET spec = ?, state = ?, bootstrap = ?, az = ?, idx = ? WHERE id = ?",
              {to_json(Json(spec)), inst.desired_state, db_bool(inst.bootstrap), inst.az,
               std::int64_t{inst.index}, inst.id});
  const bool ignored = inst.existing && inst.existing->ignore;
  inst.existing = ExistingInstance{inst.id, g.name, inst.uuid, inst.az, inst.desired_state, g.lifecycle, inst.index,
                                   inst.bootstrap, ignored, Json(spec), vm, disk, inst.ips};
  inst.changes.clear();
}

void delete_instance(Deployer& d, const ExistingInstance& instance, bool skip_drain, bool force) {
  const std::string name = instance.name();
  if (instance.vm) {
    try {
      if (instance.state == "started")
        drain_and_stop(d, *d.agent(instance.vm->agent_id), "shutdown", plugin::json_object(), skip_drain);
    } catch (const std::exception& e) {
      if (!force && !dynamic_cast<const mbus::MbusTimeout*>(&e)) throw;
      d.ctx().warning(fmt::format("{}: {} (deleting the VM anyway)", name, e.what()));
    }
    delete_vm_keeping_disk(d, *instance.vm, instance.disk, name);
  }
  if (instance.disk) orphan_disk(d, *instance.disk, name, instance.az);
  auto s = d.db().session();
  s.begin();
  d.db().exec(s, "DELETE FROM ip_addresses WHERE instance_id = ?", {instance.id});
  d.db().exec(s, "DELETE FROM vms WHERE instance_id = ?", {instance.id});
  d.db().exec(s, "UPDATE persistent_disks SET instance_id = NULL WHERE instance_id = ?", {instance.id});
  d.db().exec(s, "DELETE FROM instances WHERE id = ?", {instance.id});
  s.commit();
}

}  // namespace bosh::director::deploy
