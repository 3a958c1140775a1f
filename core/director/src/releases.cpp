#include "bosh/director/releases.hpp"

#include "bosh/director/configs.hpp"

#include <Poco/Data/RecordSet.h>
#include <Poco/Data/Statement.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <map>

#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/release/spec.hpp"
#include "bosh/release/tarball.hpp"
#include "dependency_key.hpp"
#include "uploads.hpp"

namespace bosh::director {

namespace fs = std::filesystem;
using plugin::Json;
using namespace Poco::Data::Keywords;


plugin::Json list_releases(Database& db) {
  auto s = db.session();
  Poco::Data::Statement st(s);
  st << "SELECT r.name, v.version, v.commit_hash, v.uncommitted_changes, v.id FROM releases r JOIN release_versions v "
        "ON v.release_id = r.id ORDER BY r.name, v.id";
  st.execute();
  Poco::Data::RecordSet rs(st);
  std::map<std::string, Poco::JSON::Array::Ptr> by_release;
  std::vector<std::string> order;
  for (bool more = rs.moveFirst(); more; more = rs.moveNext()) {
    std::string name = rs[0].convert<std::string>();
    if (!by_release.count(name)) {
      by_release[name] = new Poco::JSON::Array;
      order.push_back(name);
    }
    std::int64_t rv = rs[4].convert<std::int64_t>();
    std::vector<std::string> jobs;
    s << db.sql("SELECT t.name FROM templates t JOIN release_versions_templates l ON l.template_id = t.id WHERE "
                "l.release_version_id = ? ORDER BY t.name"),
        use(rv), into(jobs), now;
    Poco::JSON::Object::Ptr v = new Poco::JSON::Object;
    v->set("version", rs[1].convert<std::string>());
    v->set("commit_hash", rs[2].convert<std::string>());
    v->set("uncommitted_changes", rs[3].convert<std::string>() == "1" || rs[3].convert<std::string>() == "true");
    v->set("currently_deployed",
           !db.rows("SELECT deployment_id FROM deployments_release_versions WHERE release_version_id = ?", {rv}).empty());
    Poco::JSON::Array::Ptr names = new Poco::JSON::Array;
    for (const auto& j : jobs) names->add(j);
    v->set("job_names", names);
    by_release[name]->add(v);
  }
  Poco::JSON::Array::Ptr out = new Poco::JSON::Array;
  for (const auto& name : order) {
    Poco::JSON::Object::Ptr r = new Poco::JSON::Object;
    r->set("name", name);
    r->set("release_versions", by_release[name]);
    out->add(r);
  }
  return out;
}

std::string delete_release_task(TaskContext& ctx) {
  auto payload = as_object(parse_json(ctx.task().payload, "task payload"), "task payload");
  return delete_release(ctx, get_string(payload, "name", "task payload"),
                        find_string(payload, "version", "task payload").value_or(""),
                        payload->has("force") && payload->getValue<bool>("force"));
}

std::string delete_release(TaskContext& ctx, const std::string& name, const std::string& version, bool force) {
  Database& db = ctx.db();
  auto rel = db.rows("SELECT id FROM releases WHERE name = ?", {name});
  if (rel.empty()) fail("Release '{}' does not exist", name);
  const std::int64_t release_id = std::stoll(rel[0][0]);
  auto versions = version.empty()
                      ? db.rows("SELECT id, version FROM release_versions WHERE release_id = ? ORDER BY id", {release_id})
                      : db.rows("SELECT id, version FROM release_versions WHERE release_id = ? AND version = ?",
                                {release_id, version});
  if (versions.empty()) fail("Release '{}/{}' does not exist", name, version);
  for (const auto& v : versions) {
    auto users = db.rows("SELECT d.name FROM deployments d JOIN deployments_release_versions l ON l.deployment_id = "
                         "d.id WHERE l.release_version_id = ? ORDER BY d.name",
                         {std::stoll(v[0])});
    if (users.empty()) continue;
    std::string names;
    for (const auto& u : users) names += (names.empty() ? "" : ", ") + u[0];
    if (!force) fail("Release '{}/{}' is still in use by: {}", name, v[1], names);
    ctx.warning(fmt::format("deleting release '{}/{}' used by {} (--force)", name, v[1], names));
  }

  // Unlink the versions, then drop what no version of the release still uses.
  std::vector<std::string> blobs;
  {
    auto s = db.session();
    s.begin();
    for (const auto& v : versions) {
      const std::int64_t rv = std::stoll(v[0]);
      db.exec(s, "DELETE FROM deployments_release_versions WHERE release_version_id = ?", {rv});
      db.exec(s, "DELETE FROM release_versions_packages WHERE release_version_id = ?", {rv});
      db.exec(s, "DELETE FROM release_versions_templates WHERE release_version_id = ?", {rv});
      db.exec(s, "DELETE FROM release_versions WHERE id = ?", {rv});
    }
    const std::string unused_packages =
        "SELECT id, COALESCE(blobstore_id, '') FROM packages WHERE release_id = ? AND id NOT IN (SELECT package_id "
        "FROM release_versions_packages)";
    for (const auto& p : db.rows(s, unused_packages, {release_id})) {
      for (const auto& c : db.rows(s, "SELECT blobstore_id FROM compiled_packages WHERE package_id = ?",
                                   {std::stoll(p[0])}))
        blobs.push_back(c[0]);
      db.exec(s, "DELETE FROM compiled_packages WHERE package_id = ?", {std::stoll(p[0])});
      db.exec(s, "DELETE FROM packages WHERE id = ?", {std::stoll(p[0])});
      if (!p[1].empty()) blobs.push_back(p[1]);
    }
    for (const auto& t : db.rows(s, "SELECT id, blobstore_id FROM templates WHERE release_id = ? AND id NOT IN "
                                    "(SELECT template_id FROM release_versions_templates)",
                                 {release_id})) {
      db.exec(s, "DELETE FROM templates WHERE id = ?", {std::stoll(t[0])});
      blobs.push_back(t[1]);
    }
    if (db.rows(s, "SELECT id FROM release_versions WHERE release_id = ?", {release_id}).empty())
      db.exec(s, "DELETE FROM releases WHERE id = ?", {release_id});
    s.commit();
  }
  // The rows are gone; a blob left behind by a failed delete is only garbage.
  int index = 0;
  for (const auto& id : blobs) {
    ++index;
    try {
      ctx.blobstore().delete_blob(id);
    } catch (const std::exception& e) {
      ctx.warning(fmt::format("could not delete blob {}: {}", id, e.what()));
    }
    ctx.event("Deleting packages and jobs", id, index, static_cast<int>(blobs.size()), "finished", 100);
  }
  const std::string what = version.empty() ? name : name + "/" + version;
  record_event(db, {ctx.task().username, "delete", "release", what, std::to_string(ctx.task().id)});
  return fmt::format("Deleted release '{}'", what);
}

std::optional<plugin::Json> release_detail(Database& db, const std::string& name, const std::string& version) {
  auto rel = db.rows("SELECT id FROM releases WHERE name = ?", {name});
  if (rel.empty()) return std::nullopt;
  const std::int64_t release_id = std::stoll(rel[0][0]);
  Poco::JSON::Object::Ptr out = new Poco::JSON::Object;
  out->set("name", name);
  if (version.empty()) {
    Poco::JSON::Array::Ptr versions = new Poco::JSON::Array;
    for (const auto& v : db.rows("SELECT version FROM release_versions WHERE release_id = ? ORDER BY id", {release_id}))
      versions->add(v[0]);
    out->set("versions", versions);
    return Json(out);
  }
  auto rv = db.rows("SELECT id, commit_hash, uncommitted_changes FROM release_versions WHERE release_id = ? AND "
                    "version = ?",
                    {release_id, version});
  if (rv.empty()) return std::nullopt;
  const std::int64_t rv_id = std::stoll(rv[0][0]);
  out->set("version", version);
  out->set("commit_hash", rv[0][1]);
  out->set("uncommitted_changes", rv[0][2] == "1" || rv[0][2] == "true");
  Poco::JSON::Array::Ptr jobs = new Poco::JSON::Array, packages = new Poco::JSON::Array;
  for (const auto& t : db.rows("SELECT t.name, t.version, t.fingerprint, t.sha1, t.blobstore_id, t.spec FROM "
                               "templates t JOIN release_versions_templates l ON l.template_id = t.id WHERE "
                               "l.release_version_id = ? ORDER BY t.name",
                               {rv_id})) {
    Poco::JSON::Object::Ptr j = new Poco::JSON::Object;
    j->set("name", t[0]);
    j->set("version", t[1]);
    j->set("fingerprint", t[2]);
    j->set("sha1", t[3]);
    j->set("blobstore_id", t[4]);
    // The links the job consumes and provides ({name, type, optional}), from its spec.
    Poco::JSON::Array::Ptr consumes = new Poco::JSON::Array, provides = new Poco::JSON::Array;
    try {
      const auto spec = release::parse_job_spec(t[5], t[0] + "/job.MF");
      auto add = [](const std::vector<release::LinkSpec>& links, Poco::JSON::Array::Ptr& out_list) {
        for (const auto& l : links) {
          Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
          o->set("name", l.name);
          o->set("type", l.type);
          o->set("optional", l.optional);
          out_list->add(o);
        }
      };
      add(spec.consumes, consumes);
      add(spec.provides, provides);
    } catch (const Error&) {
    }
    j->set("consumes", consumes);
    j->set("provides", provides);
    jobs->add(j);
  }
  for (const auto& p : db.rows("SELECT p.id, p.name, p.version, p.fingerprint, COALESCE(p.sha1, ''), "
                               "COALESCE(p.blobstore_id, ''), p.dependencies FROM packages p JOIN "
                               "release_versions_packages l ON l.package_id = p.id WHERE l.release_version_id = ? "
                               "ORDER BY p.name",
                               {rv_id})) {
    Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
    o->set("name", p[1]);
    o->set("version", p[2]);
    o->set("fingerprint", p[3]);
    o->set("sha1", p[4]);
    o->set("blobstore_id", p[5]);
    o->set("dependencies", parse_json(p[6], "package dependencies"));
    Poco::JSON::Array::Ptr compiled = new Poco::JSON::Array;
    for (const auto& c : db.rows("SELECT stemcell_os, stemcell_version, sha1, blobstore_id FROM compiled_packages "
                                 "WHERE package_id = ? ORDER BY stemcell_os, stemcell_version, build",
                                 {std::stoll(p[0])})) {
      Poco::JSON::Object::Ptr cp = new Poco::JSON::Object;
      cp->set("stemcell", c[0] + "/" + c[1]);
      cp->set("sha1", c[2]);
      cp->set("blobstore_id", c[3]);
      compiled->add(cp);
    }
    o->set("compiled_packages", compiled);
    packages->add(o);
  }
  out->set("jobs", jobs);
  out->set("packages", packages);
  return Json(out);
}

}  // namespace bosh::director
