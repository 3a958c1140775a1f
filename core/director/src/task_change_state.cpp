// The change_state task: bosh start / stop / restart / recreate of a group or instance.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <atomic>
#include <map>
#include <set>

#include "bosh/common/clock.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "bosh/director/configs.hpp"
#include "task_support.hpp"

namespace bosh::director {

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
    req.fix = flag(p, "fix");
    req.dry_run = flag(p, "dry_run");
    req.canaries = text(p, "canaries");
    req.max_in_flight = text(p, "max_in_flight");
    if (!req.canaries.empty()) check_count_or_percent(req.canaries, "--canaries");
    if (!req.max_in_flight.empty()) check_count_or_percent(req.max_in_flight, "--max-in-flight");
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

}  // namespace bosh::director
