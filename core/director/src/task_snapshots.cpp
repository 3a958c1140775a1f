// Snapshots of persistent disks, through the CPI: the snapshot_deployment
// (every instance with a disk, or one instance) and delete_snapshot tasks,
// and the list `bosh snapshots` shows.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <atomic>

#include "bosh/common/clock.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "bosh/director/configs.hpp"
#include "bosh/director/deployments.hpp"
#include "task_support.hpp"

namespace bosh::director {

Json list_snapshots(Database& db, const std::string& deployment) {
  JsonArray::Ptr out = new JsonArray;
  for (const auto& r : db.rows("SELECT i.job, i.idx, s.snapshot_cid, s.created_at, s.clean FROM snapshots s JOIN "
                               "persistent_disks p ON p.id = s.persistent_disk_id JOIN instances i ON i.id = "
                               "p.instance_id JOIN deployments d ON d.id = i.deployment_id WHERE d.name = ? ORDER BY "
                               "s.id",
                               {deployment})) {
    JsonObject::Ptr o = new JsonObject;
    o->set("job", r[0]);
    o->set("index", std::stoi(r[1]));
    o->set("snapshot_cid", r[2]);
    o->set("created_at", ruby_time(std::stoll(r[3])));
    o->set("clean", r[4] == "1" || r[4] == "true");
    out->add(o);
  }
  return out;
}

// Payload {"group"?, "instance"?}: one instance, or every one with a disk.
std::string snapshot_task(TaskContext& ctx) {
  auto p = payload_of(ctx);
  const std::string name = ctx.task().deployment, group = text(p, "group"), instance = text(p, "instance");
  Deployer d(ctx, name);
  DeploymentLock lock(ctx, name);
  auto instances = load_instances(d.db(), deployment_id_for(d.db(), name));
  std::vector<ExistingInstance*> targets;
  for (auto& i : instances) {
    if (!group.empty() && (i.group != group || (i.uuid != instance && std::to_string(i.index) != instance))) continue;
    if (i.disk) targets.push_back(&i);
    else if (!group.empty()) fail("'{}' has no persistent disk to snapshot", i.name());
  }
  if (targets.empty()) {
    if (!group.empty()) fail("No instance '{}/{}' in deployment '{}'", group, instance, name);
    return "No persistent disks to snapshot";
  }
  std::atomic<int> index{0};
  const int total = static_cast<int>(targets.size());
  run_parallel(targets, ctx.config().max_threads, [&](ExistingInstance& e) {
    d.step("Taking snapshots", {e.group}, e.name(), ++index, total, [&] {
      plugin::Metadata metadata = {{"deployment", name},          {"job", e.group},
                                   {"index", std::to_string(e.index)}, {"instance_id", e.uuid},
                                   {"director_name", ctx.config().name}, {"director_uuid", ctx.services().uuid},
                                   {"agent_id", e.vm ? e.vm->agent_id : std::string()}};
      const std::string cid = d.cpi().snapshot_disk(e.disk->cid, metadata);
      // A snapshot of a stopped instance's disk is consistent ("clean").
      d.db().exec("INSERT INTO snapshots (persistent_disk_id, snapshot_cid, clean, created_at) VALUES (?, ?, ?, ?)",
                  {e.disk->id, cid, db_bool(e.state != "started"), now_seconds()});
      ctx.debug(fmt::format("snapshot {} of disk {} ({})", cid, e.disk->cid, e.name()));
    });
  });
  return fmt::format("Took {} snapshot(s)", total);
}

void delete_disk_snapshots(TaskContext& ctx, const std::string& disk_cid) {
  for (const auto& r : ctx.db().rows("SELECT s.id, s.snapshot_cid FROM snapshots s JOIN persistent_disks p ON p.id = "
                                     "s.persistent_disk_id WHERE p.disk_cid = ?",
                                     {disk_cid})) {
    try {
      ctx.cpi().delete_snapshot(r[1]);
    } catch (const std::exception& e) {
      ctx.warning(fmt::format("snapshot {} of disk {}: {}", r[1], disk_cid, e.what()));
    }
    ctx.db().exec("DELETE FROM snapshots WHERE id = ?", {std::stoll(r[0])});
  }
}

// Payload {"snapshot_cid"?}: that one, or every snapshot of the deployment.
std::string delete_snapshot_task(TaskContext& ctx) {
  auto p = payload_of(ctx);
  const std::string name = ctx.task().deployment, cid = text(p, "snapshot_cid");
  Deployer d(ctx, name);
  std::vector<DbRow> rows = d.db().rows(
      "SELECT s.id, s.snapshot_cid FROM snapshots s JOIN persistent_disks p ON p.id = s.persistent_disk_id JOIN "
      "instances i ON i.id = p.instance_id JOIN deployments d ON d.id = i.deployment_id WHERE d.name = ? AND (? = '' "
      "OR s.snapshot_cid = ?) ORDER BY s.id",
      {name, cid, cid});
  if (rows.empty() && !cid.empty()) fail("Snapshot '{}' doesn't exist in deployment '{}'", cid, name);
  int index = 0;
  for (const auto& r : rows) {
    d.step("Deleting snapshots", {}, r[1], ++index, static_cast<int>(rows.size()), [&] {
      d.cpi().delete_snapshot(r[1]);
      d.db().exec("DELETE FROM snapshots WHERE id = ?", {std::stoll(r[0])});
    });
  }
  return fmt::format("Deleted {} snapshot(s)", rows.size());
}

}  // namespace bosh::director
