// The run_errand task: an errand group's instances (made, run, deleted
// unless --keep-alive) or a co-located errand job on service instances. Each
// run's result line is {"instance": {"group", "id"}, "exit_code", "stdout",
// "stderr", "logs": {"blobstore_id", "sha1"}} (the job's logs, fetched after
// the run as BOSH does, for --download-logs).
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include "bosh/common/clock.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "bosh/director/configs.hpp"
#include "task_support.hpp"

namespace bosh::director {

namespace {

// One run: the instance and the job to run ("" = the errand group's own).
struct ErrandRun {
  InstancePlan* instance;
  std::string job;
};

// --instance G[/ID] filters: [{"group", "id"?}]; empty: every instance.
struct InstanceFilter {
  std::string group, id;
  bool matches(const InstancePlan& i) const {
    return i.group->name == group && (id.empty() || id == i.uuid || id == std::to_string(i.index));
  }
};

std::vector<InstanceFilter> filters_of(const JsonObject::Ptr& p) {
  std::vector<InstanceFilter> out;
  if (!p->has("instances") || p->get("instances").isEmpty()) return out;
  int n = 0;
  for (const auto& f : *as_array(p->get("instances"), "instances")) {
    auto o = as_object(f, fmt::format("instances[{}]", n++));
    out.push_back({get_string(o, "group", "instances"), find_string(o, "id", "instances").value_or("")});
  }
  return out;
}

bool selected(const InstancePlan& i, const std::vector<InstanceFilter>& filters) {
  if (filters.empty()) return true;
  for (const auto& f : filters)
    if (f.matches(i)) return true;
  return false;
}

// What the errand would run: each instance's rendered configuration and
// packages. A --when-changed errand whose last successful run saw the same
// is not run again.
std::string errand_configuration(const std::vector<ErrandRun>& runs) {
  std::string all;
  for (const auto& r : runs) {
    const InstancePlan& i = *r.instance;
    // A co-located errand runs on the instance as it is deployed; an errand
    // group's instance as this plan rendered it.
    const Json hash = r.job.empty() ? Json(i.configuration_hash)
                                    : dig(i.existing->spec, "apply.configuration_hash").value_or(Json(""));
    const Json packages = r.job.empty() ? i.packages : dig(i.existing->spec, "apply.packages").value_or(Json());
    all += i.group->name + "/" + std::to_string(i.index) + ":" + r.job + ":" + to_json(hash) + ":" + to_json(packages) +
           "\n";
  }
  return sha1_hex(all);
}

// The errand group's instances get VMs (stopped: their job is run, not started).
void create_errand_instances(Deployer& d, Prepared& prepared, const InstanceGroup& group,
                             std::vector<ErrandRun>& runs) {
  std::vector<InstancePlan*> mine;
  for (auto& r : runs) mine.push_back(r.instance);
  std::atomic<int> index{0};
  const int total = static_cast<int>(mine.size());
  run_parallel(mine, group.update.max_in_flight_for(total), [&](InstancePlan& inst) {
    d.step("Creating errand instances", {group.name}, inst.name(), ++index, total, [&] {
      inst.desired_state = "stopped";
      detect_changes(inst, {});
      if (!inst.existing || !inst.existing->vm) inst.changes.insert("vm_missing");
      update_instance(d, inst, UpdateOptions{});
    });
  });
}

// Runs the errand on one instance, then fetches its job logs.
JsonObject::Ptr run_one(Deployer& d, const std::string& errand, ErrandRun& run) {
  InstancePlan& inst = *run.instance;
  auto agent = d.agent(inst.existing->vm->agent_id);
  auto o = as_object(agent->run("run_errand", run.job.empty() ? plugin::json_array() : args({run.job}),
                                std::chrono::hours(6)),
                     "run_errand result");
  JsonObject::Ptr line = new JsonObject, instance = new JsonObject, logs = new JsonObject;
  instance->set("group", inst.group->name);
  instance->set("id", inst.uuid);
  line->set("errand_name", errand);
  line->set("instance", instance);
  if (!o->has("exit_code") || !o->get("exit_code").isInteger()) fail("{}: run_errand gave no exit code", inst.name());
  line->set("exit_code", o->getValue<int>("exit_code"));
  line->set("stdout", o->has("stdout") ? o->get("stdout") : Json(""));
  line->set("stderr", o->has("stderr") ? o->get("stderr") : Json(""));
  try {
    JsonArray::Ptr filters = new JsonArray;
    if (!run.job.empty()) filters->add(run.job + "/**/*");
    auto fetched = as_object(agent->run("fetch_logs", args({std::string("job"), filters}), std::chrono::minutes(30)),
                             "fetch_logs result");
    logs->set("blobstore_id", get_string(fetched, "blobstore_id", "fetch_logs result"));
    logs->set("sha1", find_string(fetched, "sha1", "fetch_logs result").value_or(""));
  } catch (const std::exception& e) {
    d.ctx().warning(fmt::format("{}: the errand's logs could not be fetched: {}", inst.name(), e.what()));
  }
  line->set("logs", logs);
  return line;
}

}  // namespace

std::string run_errand_task(TaskContext& ctx) {
  auto p = payload_of(ctx);
  const std::string name = ctx.task().deployment, errand = text(p, "name");
  const bool keep_alive = flag(p, "keep_alive"), when_changed = flag(p, "when_changed");
  const auto filters = filters_of(p);
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
  const bool own_group = group && group->lifecycle == "errand";
  std::vector<ErrandRun> runs;
  if (own_group) {
    if (group->instances == 0) fail("Errand '{}' has no instances to run on", errand);
    for (auto& inst : plan.instances)
      if (inst.group == group && selected(inst, filters)) runs.push_back({&inst, ""});
  } else {
    // A co-located errand: a job of that name on service instances that have VMs.
    for (auto& inst : plan.instances) {
      bool has = false;
      for (const auto& j : inst.group->jobs) has = has || j.name == errand;
      if (has && inst.existing && inst.existing->vm && selected(inst, filters)) runs.push_back({&inst, errand});
    }
  }
  if (runs.empty()) {
    if (!filters.empty()) fail("Errand '{}': no instance of deployment '{}' matches the instances given", errand, name);
    fail("Errand '{}' doesn't exist in deployment '{}'", errand, name);
  }
  if (own_group) {
    record_plan(d, prepared);
    compile_packages(d, plan);
    render_templates(d, plan);
  }
  const std::string configuration = errand_configuration(runs);
  if (when_changed) {
    auto last = d.db().rows("SELECT configuration_hash, exit_code FROM errand_runs WHERE deployment_id = ? AND name = ? "
                            "ORDER BY id DESC LIMIT 1",
                            {prepared.deployment_id, errand});
    if (!last.empty() && last[0][0] == configuration && last[0][1] == "0") {
      ctx.debug("errand '" + errand + "' skipped: its last run succeeded and nothing changed since");
      ctx.empty_result();  // no errand ran: no result lines for the CLI to read
      return fmt::format("Errand '{}' skipped: nothing changed since its last successful run", errand);
    }
  }
  if (own_group) create_errand_instances(d, prepared, *group, runs);

  int worst = 0;
  std::mutex mutex;
  std::vector<ErrandRun*> items;
  for (auto& r : runs) items.push_back(&r);
  std::atomic<int> index{0};
  const int total = static_cast<int>(items.size());
  run_parallel(items, ctx.config().max_threads, [&](ErrandRun& run) {
    d.step("Running errand", {errand}, run.instance->group->name + "/" + run.instance->uuid, ++index, total, [&] {
      auto line = run_one(d, errand, run);
      ctx.result_line(to_json(Json(line)));
      std::lock_guard lock(mutex);
      worst = std::max(worst, line->getValue<int>("exit_code"));
    });
  });
  if (own_group && !keep_alive) {
    std::atomic<int> del{0};
    run_parallel(items, ctx.config().max_threads, [&](ErrandRun& run) {
      InstancePlan& inst = *run.instance;
      d.step("Deleting errand instances", {errand}, inst.name(), ++del, total, [&] {
        delete_vm_keeping_disk(d, *inst.existing->vm, inst.existing->disk, inst.name());
      });
    });
  }
  d.db().exec("INSERT INTO errand_runs (deployment_id, name, configuration_hash, exit_code, created_at) VALUES (?, ?, "
              "?, ?, ?)",
              {prepared.deployment_id, errand, configuration, std::int64_t{worst}, now_seconds()});
  if (worst == 0) return fmt::format("Errand '{}' completed successfully (exit code 0)", errand);
  if (worst > 128) return fmt::format("Errand '{}' was canceled (exit code {})", errand, worst);
  return fmt::format("Errand '{}' completed with error (exit code {})", errand, worst);
}

}  // namespace bosh::director
