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
#include "bosh/release/tarball.hpp"

namespace bosh::director {

namespace fs = std::filesystem;
using namespace Poco::Data::Keywords;

namespace {

std::int64_t insert_id(Database& db, Poco::Data::Session& s, const std::string& sql_text,
                       const std::vector<std::string>& values) {
  // Values are bound as strings; the tables take text or integers that SQLite
  // and PostgreSQL convert from text.
  std::vector<std::string> v = values;
  std::int64_t id = 0;
  Poco::Data::Statement st(s);
  if (db.dialect() == Dialect::postgres) {
    st << db.sql(sql_text + " RETURNING id");
    for (auto& x : v) st, use(x);
    st, into(id);
    st.execute();
  } else {
    st << sql_text;
    for (auto& x : v) st, use(x);
    st.execute();
    s << "SELECT last_insert_rowid()", into(id), now;
  }
  return id;
}

std::string join_json(const std::vector<std::string>& items) {
  Poco::JSON::Array::Ptr a = new Poco::JSON::Array;
  for (const auto& i : items) a->add(i);
  return to_json(plugin::Json(a));
}

}  // namespace

std::string upload_release_task(TaskContext& ctx) {
  auto payload = as_object(parse_json(ctx.task().payload, "task payload"), "task payload");
  const fs::path tarball = get_string(payload, "path", "task payload");
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove(p, ec);
    }
  } cleanup{tarball};

  ctx.event("Extracting release", "Extracting release", 1, 1, "started");
  TempDir extracted("bosh-upload-release");
  release::ReleaseManifest m = release::verify_release_tarball(tarball, extracted.path());
  ctx.event("Extracting release", "Extracting release", 1, 1, "finished", 100);
  ctx.event("Verifying manifest", "Verifying manifest", 1, 1, "finished", 100);
  ctx.check_cancelled();

  Database& db = ctx.db();
  auto s = db.session();
  // Release row.
  std::string name = m.name, version = m.version;
  std::vector<std::int64_t> rel;
  s << db.sql("SELECT id FROM releases WHERE name = ?"), use(name), into(rel), now;
  std::int64_t release_id = rel.empty() ? insert_id(db, s, "INSERT INTO releases (name) VALUES (?)", {name}) : rel[0];

  // An existing version must have the same content.
  std::vector<std::int64_t> existing;
  s << db.sql("SELECT id FROM release_versions WHERE release_id = ? AND version = ?"), use(release_id), use(version),
      into(existing), now;
  std::map<std::string, std::string> known;  // "package:name" -> fingerprint
  if (!existing.empty()) {
    std::int64_t rv = existing[0];
    Poco::Data::Statement st(s);
    st << db.sql("SELECT 'package:' || p.name, p.fingerprint FROM packages p JOIN release_versions_packages l ON "
                 "l.package_id = p.id WHERE l.release_version_id = ? UNION SELECT 'job:' || t.name, t.fingerprint "
                 "FROM templates t JOIN release_versions_templates l ON l.template_id = t.id WHERE "
                 "l.release_version_id = ?"),
        use(rv), use(rv);
    st.execute();
    Poco::Data::RecordSet rs(st);
    for (bool more = rs.moveFirst(); more; more = rs.moveNext())
      known[rs[0].convert<std::string>()] = rs[1].convert<std::string>();
    std::map<std::string, std::string> uploaded;
    for (const auto& p : m.packages) uploaded["package:" + p.name] = p.fingerprint;
    for (const auto& j : m.jobs) uploaded["job:" + j.name] = j.fingerprint;
    if (uploaded != known)
      fail("release '{}/{}' is already uploaded with different jobs or packages; create a new version", name, version);
    return fmt::format("Release '{}/{}' already exists", name, version);
  }

  // Packages and jobs: reuse by fingerprint, else store the archive.
  std::vector<std::int64_t> package_ids, template_ids;
  int index = 0;
  const int total_packages = static_cast<int>(m.packages.size());
  for (const auto& p : m.packages) {
    ctx.check_cancelled();
    ++index;
    std::string pname = p.name, fp = p.fingerprint;
    std::vector<std::int64_t> found;
    s << db.sql("SELECT id FROM packages WHERE release_id = ? AND name = ? AND fingerprint = ?"), use(release_id),
        use(pname), use(fp), into(found), now;
    if (!found.empty()) {
      package_ids.push_back(found[0]);
      ctx.event("Creating new packages", pname + "/" + p.version + " (already there)", index, total_packages,
                "finished", 100);
      continue;
    }
    ctx.event("Creating new packages", pname + "/" + p.version, index, total_packages, "started");
    auto stored = blobstore::put_file(ctx.blobstore(), extracted.path() / ("packages/" + pname + ".tgz"),
                                      strongest_digest(parse_multi_digest(p.sha1)).algorithm);
    package_ids.push_back(insert_id(db, s,
                                    "INSERT INTO packages (release_id, name, version, fingerprint, sha1, blobstore_id, "
                                    "dependencies) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                    {std::to_string(release_id), pname, p.version, fp, p.sha1, stored.id,
                                     join_json(p.dependencies)}));
    ctx.event("Creating new packages", pname + "/" + p.version, index, total_packages, "finished", 100);
  }
  index = 0;
  const int total_jobs = static_cast<int>(m.jobs.size());
  for (const auto& j : m.jobs) {
    ctx.check_cancelled();
    ++index;
    std::string jname = j.name, fp = j.fingerprint;
    std::vector<std::int64_t> found;
    s << db.sql("SELECT id FROM templates WHERE release_id = ? AND name = ? AND fingerprint = ?"), use(release_id),
        use(jname), use(fp), into(found), now;
    if (!found.empty()) {
      template_ids.push_back(found[0]);
      ctx.event("Creating new jobs", jname + "/" + j.version + " (already there)", index, total_jobs, "finished", 100);
      continue;
    }
    ctx.event("Creating new jobs", jname + "/" + j.version, index, total_jobs, "started");
    const fs::path archive = extracted.path() / ("jobs/" + jname + ".tgz");
    std::string spec = read_tgz_entry(archive, "job.MF");
    auto stored = blobstore::put_file(ctx.blobstore(), archive, strongest_digest(parse_multi_digest(j.sha1)).algorithm);
    template_ids.push_back(insert_id(db, s,
                                     "INSERT INTO templates (release_id, name, version, fingerprint, sha1, "
                                     "blobstore_id, spec) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                     {std::to_string(release_id), jname, j.version, fp, j.sha1, stored.id, spec}));
    ctx.event("Creating new jobs", jname + "/" + j.version, index, total_jobs, "finished", 100);
  }

  // The version and its links, in one transaction.
  s.begin();
  std::int64_t rv = insert_id(db, s,
                              "INSERT INTO release_versions (release_id, version, commit_hash, uncommitted_changes) "
                              "VALUES (?, ?, ?, ?)",
                              {std::to_string(release_id), version, m.commit_hash, m.uncommitted_changes ? "1" : "0"});
  for (auto pid : package_ids)
    s << db.sql("INSERT INTO release_versions_packages (release_version_id, package_id) VALUES (?, ?)"), use(rv),
        use(pid), now;
  for (auto tid : template_ids)
    s << db.sql("INSERT INTO release_versions_templates (release_version_id, template_id) VALUES (?, ?)"), use(rv),
        use(tid), now;
  s.commit();
  ctx.event("Release has been created", name + "/" + version, 1, 1, "finished", 100);
  record_event(db, {ctx.task().username, "create", "release", name + "/" + version, std::to_string(ctx.task().id)});
  return fmt::format("Created release '{}/{}'", name, version);
}

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
    v->set("currently_deployed", false);
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

}  // namespace bosh::director
