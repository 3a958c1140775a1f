// The deploy engine's shared model (private to core/director): what the
// database holds about a deployment, the plan for each instance, and the
// steps (planner.cpp, compiler.cpp, render.cpp, instance_updater.cpp) the
// tasks in deployments.cpp put together.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bosh/director/manifest.hpp"
#include "bosh/director/workers.hpp"
#include "bosh/mbus/agent_client.hpp"
#include "bosh/release/spec.hpp"

namespace bosh::director::deploy {

using plugin::Json;

// ---- what the database knows --------------------------------------------------------

struct StemcellRow {
  std::int64_t id = 0;
  std::string name, version, os, cid;
  int api_version = 1;
  std::string desc() const { return name + "/" + version; }
};

struct PackageRow {
  std::int64_t id = 0;
  std::string name, version, fingerprint, sha1, blobstore_id;
  std::vector<std::string> dependencies;
};

struct TemplateRow {
  std::int64_t id = 0;
  std::string name, version, fingerprint, sha1, blobstore_id, release;
  release::JobSpec spec;
};

struct ReleaseVersionRow {
  std::int64_t id = 0;
  std::string name, version;
  std::map<std::string, PackageRow> packages;    // by name
  std::map<std::string, TemplateRow> templates;  // by name
};

struct VmRow {
  std::int64_t id = 0;
  std::string cid, agent_id;
  std::int64_t created_at = 0;
};

struct DiskRow {
  std::int64_t id = 0;
  std::string cid;
  std::int64_t size_mb = 0;
  Json cloud_properties = plugin::json_object();
};

struct ExistingInstance {
  std::int64_t id = 0;
  std::string group, uuid, az, state = "started", lifecycle = "service";
  int index = 0;
  bool bootstrap = false;
  bool ignore = false;  // bosh ignore: deploys leave it alone
  Json spec = plugin::json_object();  // {"apply", "vm", "disk", "networks"} as last converged
  std::optional<VmRow> vm;
  std::optional<DiskRow> disk;  // the active persistent disk
  std::map<std::string, std::string> ips;  // network -> address (manual/vip, from ip_addresses)
  std::string name() const { return group + "/" + uuid + " (" + std::to_string(index) + ")"; }
};

struct DeploymentRow {
  std::int64_t id = 0;
  std::string name, manifest;
};

std::optional<DeploymentRow> find_deployment(Database& db, const std::string& name);
std::vector<ExistingInstance> load_instances(Database& db, std::int64_t deployment_id);
// Every manual/vip address in use on a network, by any deployment.
std::set<std::string> addresses_in_use(Database& db, const std::string& network);

// ---- the plan --------------------------------------------------------------------------

struct InstancePlan {
  const InstanceGroup* group = nullptr;
  std::int64_t id = 0;  // the instances row (made when the plan is recorded)
  std::string uuid, az;
  int index = 0;
  bool bootstrap = false;
  std::optional<ExistingInstance> existing;  // none: a new instance
  std::string desired_state = "started";     // started | stopped (an operator's `bosh stop` is kept)
  std::map<std::string, std::string> ips;    // network -> address (manual, vip; dynamic after create_vm)
  std::set<std::string> static_networks;     // networks whose address is a manifest static IP
  Json network_settings;                     // the CPI's and agent's networks hash
  Json vm_cloud_properties;                  // vm_type + extensions + az
  Json env;
  const StemcellRow* stemcell = nullptr;
  // Set by compile + render.
  Json packages = plugin::json_object();  // apply spec packages
  Json template_spec;                     // what templates see (without per-job properties/links)
  std::string configuration_hash;
  Json rendered_archive;  // {"blobstore_id", "sha1"}
  Json apply_spec;
  std::set<std::string> changes;  // why it is updated; empty: nothing to do

  std::string name() const { return group->name + "/" + uuid + " (" + std::to_string(index) + ")"; }
  // The IP templates see as spec.address / spec.ip: the default (gateway) network's.
  std::string address() const;
  bool needs_vm() const { return group->lifecycle == "service"; }
  bool recreate() const;  // the VM must be replaced
};

struct Plan {
  DeploymentSpec spec;
  std::string director_name;
  std::set<std::string> errands;  // errand groups that get instances (a run errand)
  std::map<std::string, ReleaseVersionRow> releases;  // by release name
  std::map<std::string, StemcellRow> stemcells;       // by alias
  std::vector<InstancePlan> instances;                // desired, in manifest group order then index
  std::vector<ExistingInstance> obsolete;             // to delete
};

// Resolves releases ("latest") and stemcells (by os or name, "latest") the
// manifest names; InputError naming what is missing.
void resolve_artifacts(Database& db, Plan& plan);

struct PlanOptions {
  bool recreate = false;
  std::set<std::string> recreate_groups;  // bosh recreate GROUP: only these
};

// Instances per group and AZ (existing ones kept where they still fit),
// IPs (static from the manifest, kept, or the lowest free address of the
// subnet), network settings and VM properties. Pure: the database only
// supplies what exists and which addresses are taken.
void plan_instances(Plan& plan, const std::vector<ExistingInstance>& existing,
                    const std::function<std::set<std::string>(const std::string& network)>& used_addresses);

// What changed against the instance's last converged spec (after render).
void detect_changes(InstancePlan& instance, const PlanOptions& options);

// ---- agents, CPI, the steps ----------------------------------------------------------------

// One task's view of the world: the CPI, agents over NATS, and the event log.
class Deployer {
 public:
  Deployer(TaskContext& ctx, std::string deployment);

  TaskContext& ctx() { return ctx_; }
  Database& db() { return ctx_.db(); }
  plugin::Cpi& cpi() { return ctx_.cpi(); }
  const std::string& deployment() const { return deployment_; }

  std::unique_ptr<mbus::AgentClient> agent(const std::string& agent_id);
  // Pings until the agent answers; Error naming the VM after the timeout.
  void wait_for_agent(mbus::AgentClient& agent, const std::string& vm_cid, const std::string& what);

  // A VM for an instance (or a compilation VM when instance_id is 0):
  // create_vm, metadata, the agent's first ping. On failure nothing is left.
  VmRow create_vm(const std::string& what, std::int64_t instance_id, const StemcellRow& stemcell,
                  const Json& cloud_properties, Json& networks, const std::vector<std::string>& disk_cids,
                  const Json& env, const plugin::Metadata& metadata);
  void delete_vm(const VmRow& vm, const std::string& what);

  // Event log helpers: a numbered step of a stage with its own start/finish.
  template <typename F>
  void step(const std::string& stage, const std::vector<std::string>& tags, const std::string& task, int index,
            int total, F&& body);

  std::atomic<bool> failed{false};  // a parallel step failed: start no more

  // The events a deploy leaves (bosh events): each one under the deploy's own.
  std::int64_t parent_event = 0;
  // Returns the event's id (0 when it could not be recorded).
  std::int64_t record(const std::string& action, const std::string& object_type, const std::string& object_name,
                      const std::string& instance = "", const std::string& error = "");

 private:
  TaskContext& ctx_;
  std::string deployment_;
};

template <typename F>
void Deployer::step(const std::string& stage, const std::vector<std::string>& tags, const std::string& task, int index,
                    int total, F&& body) {
  ctx_.event(stage, task, index, total, "started", 0, tags);
  try {
    body();
  } catch (const std::exception& e) {
    ctx_.event(stage, task, index, total, "failed", 100, tags, e.what());
    throw;
  }
  ctx_.event(stage, task, index, total, "finished", 100, tags);
}

// Compiles every package the service and errand groups need, on compilation
// VMs, in dependency order, `compilation.workers` at a time; fills each
// instance's apply-spec packages. Compiled packages are found again by
// (package, stemcell os/version, dependency key) and never compiled twice.
void compile_packages(Deployer& d, Plan& plan);

// Renders every instance's job templates with one Ruby renderer process,
// uploads each changed instance's archive and sets configuration_hash,
// rendered_archive, template_spec and apply_spec.
void render_templates(Deployer& d, Plan& plan);

// Brings one instance to its plan: drain/stop, VM recreate, disks, apply,
// pre-start, start, watch, post-start. Records the result in the database.
struct UpdateOptions {
  bool canary = false;
  bool skip_drain = false;
  const WatchTime* watch = nullptr;
};
void update_instance(Deployer& d, InstancePlan& instance, const UpdateOptions& options);

// The pieces of an update the state-change tasks use too.
void drain_and_stop(Deployer& d, mbus::AgentClient& agent, const std::string& type, const Json& next_spec,
                    bool skip_drain);
// pre-start, start, then get_state on BOSH's watch schedule until running, post-start.
void start_and_watch(Deployer& d, mbus::AgentClient& agent, const std::string& name, const WatchTime& watch);
// unmount + detach the disk (kept), delete the VM and its row.
void delete_vm_keeping_disk(Deployer& d, const VmRow& vm, const std::optional<DiskRow>& disk, const std::string& name);

// Drains, stops and deletes an instance's VM, orphans its disk and frees
// its IPs and row.
void delete_instance(Deployer& d, const ExistingInstance& instance, bool skip_drain, bool force);

// Template helpers shared by the steps.
std::string instance_name(const std::string& group, const std::string& uuid, int index);
std::int64_t deployment_id_for(Database& db, const std::string& name);

}  // namespace bosh::director::deploy
