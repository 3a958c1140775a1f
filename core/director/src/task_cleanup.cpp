// The cleanup task and its dry run: release versions and stemcells no
// deployment uses (all but the two newest of each unless --all), compiled
// packages of stemcells that are gone, and with --all the orphaned disks
// (unless --keep-orphaned-disks).
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <map>

#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "bosh/director/configs.hpp"
#include "bosh/director/deployments.hpp"
#include "bosh/director/releases.hpp"
#include "bosh/director/stemcells.hpp"
#include "task_support.hpp"

namespace bosh::director {

Json list_orphaned_disks(Database& db) {
  JsonArray::Ptr out = new JsonArray;
  for (const auto& row : db.rows("SELECT disk_cid, size_mb, deployment, instance_name, COALESCE(orphaned_at, 0), "
                                 "cloud_properties, az FROM persistent_disks WHERE instance_id IS NULL AND active = ? "
                                 "ORDER BY orphaned_at",
                                 {db_bool(false)})) {
    JsonObject::Ptr o = new JsonObject;
    o->set("disk_cid", row[0]);
    o->set("size", std::stoll(row[1]));
    o->set("deployment_name", row[2]);
    o->set("instance_name", row[3]);
    o->set("az", row[6].empty() ? Json() : Json(row[6]));
    o->set("orphaned_at", ruby_time(std::stoll(row[4])));
    o->set("cloud_properties", parse_json(row[5], "cloud_properties"));
    out->add(o);
  }
  return out;
}

Json cleanup_plan(Database& db, bool all, bool keep_orphaned_disks) {
  const std::size_t keep = all ? 0 : 2;
  JsonArray::Ptr releases = new JsonArray, stemcells = new JsonArray, compiled = new JsonArray;
  for (const auto& rel : db.rows("SELECT id, name FROM releases ORDER BY name")) {
    auto versions = db.rows("SELECT v.version FROM release_versions v WHERE v.release_id = ? AND v.id NOT IN "
                            "(SELECT release_version_id FROM deployments_release_versions) ORDER BY v.id",
                            {std::stoll(rel[0])});
    JsonArray::Ptr gone = new JsonArray;
    for (std::size_t i = 0; i + keep < versions.size(); ++i) gone->add(versions[i][0]);
    if (gone->size() == 0) continue;
    JsonObject::Ptr o = new JsonObject;
    o->set("name", rel[1]);
    o->set("versions", gone);
    releases->add(o);
  }
  std::map<std::string, std::vector<DbRow>> by_name;
  for (const auto& s : db.rows("SELECT id, name, version, operating_system, cid, cpi FROM stemcells WHERE id NOT IN "
                               "(SELECT stemcell_id FROM deployments_stemcells) ORDER BY id"))
    by_name[s[1]].push_back(s);
  for (const auto& [name, list] : by_name)
    for (std::size_t i = 0; i + keep < list.size(); ++i) {
      JsonObject::Ptr o = new JsonObject;
      o->set("name", list[i][1]);
      o->set("version", list[i][2]);
      o->set("operating_system", list[i][3]);
      o->set("cid", list[i][4]);
      o->set("cpi", list[i][5]);
      o->set("deployments", plugin::json_array());
      stemcells->add(o);
    }
  for (const auto& c : db.rows("SELECT p.name, c.stemcell_os, c.stemcell_version FROM compiled_packages c JOIN packages "
                               "p ON p.id = c.package_id WHERE NOT EXISTS (SELECT 1 FROM stemcells s WHERE "
                               "s.operating_system = c.stemcell_os AND s.version = c.stemcell_version) ORDER BY p.name")) {
    JsonObject::Ptr o = new JsonObject;
    o->set("package_name", c[0]);
    o->set("stemcell_os", c[1]);
    o->set("stemcell_version", c[2]);
    compiled->add(o);
  }
  JsonObject::Ptr plan = new JsonObject;
  plan->set("releases", releases);
  plan->set("stemcells", stemcells);
  plan->set("compiled_packages", compiled);
  plan->set("orphaned_disks", all && !keep_orphaned_disks ? list_orphaned_disks(db) : Json(plugin::json_array()));
  plan->set("orphaned_vms", plugin::json_array());
  plan->set("exported_releases", plugin::json_array());
  plan->set("dns_blobs", plugin::json_array());
  return plan;
}

std::string cleanup_task(TaskContext& ctx) {
  auto p = payload_of(ctx);
  Database& db = ctx.db();
  auto plan = as_object(cleanup_plan(db, flag(p, "remove_all"), flag(p, "keep_orphaned_disks")), "cleanup plan");
  std::vector<std::string> done;
  for (const auto& r : *plan->getArray("releases")) {
    auto o = r.extract<JsonObject::Ptr>();
    for (const auto& v : *o->getArray("versions")) {
      delete_release(ctx, o->getValue<std::string>("name"), v.convert<std::string>(), false);
      done.push_back("release " + o->getValue<std::string>("name") + "/" + v.convert<std::string>());
    }
  }
  for (const auto& s : *plan->getArray("stemcells")) {
    auto o = s.extract<JsonObject::Ptr>();
    delete_stemcell(ctx, o->getValue<std::string>("name"), o->getValue<std::string>("version"), false);
    done.push_back("stemcell " + o->getValue<std::string>("name") + "/" + o->getValue<std::string>("version"));
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
  const auto disks = plan->getArray("orphaned_disks");
  int i = 0;
  for (const auto& d : *disks) {
    const std::string cid = d.extract<JsonObject::Ptr>()->getValue<std::string>("disk_cid");
    ctx.event("Deleting orphaned disks", cid, ++i, static_cast<int>(disks->size()), "started");
    try {
      ctx.cpi().delete_disk(cid);
    } catch (const plugin::DiskNotFound&) {
    }
    delete_disk_snapshots(ctx, cid);
    db.exec("DELETE FROM persistent_disks WHERE disk_cid = ?", {cid});
    ctx.event("Deleting orphaned disks", cid, i, static_cast<int>(disks->size()), "finished", 100);
    done.push_back("orphaned disk " + cid);
  }
  return done.empty() ? std::string("Nothing to clean up") : fmt::format("Deleted {}", fmt::join(done, ", "));
}

}  // namespace bosh::director
