// The delete_deployment task: every instance, its disks, then the deployment's rows.
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
      delete_disk_snapshots(ctx, r[1]);
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

}  // namespace bosh::director
