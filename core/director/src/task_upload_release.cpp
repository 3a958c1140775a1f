// The update_release task (bosh upload-release): the tarball is checked
// whole (nested archives included) before anything is stored; its jobs and
// packages go to the blobstore once per fingerprint; the rows are written in
// one transaction after the blobs, so a failure or kill -9 leaves no rows.
// Packages the tarball leaves out because /packages/matches said the
// director has them are copied from the release that has them. The release
// is locked while it is imported: a second upload of it waits its turn and
// says so.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <map>

#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/names.hpp"
#include "bosh/director/configs.hpp"
#include "bosh/director/releases.hpp"
#include "bosh/release/tarball.hpp"
#include "dependency_key.hpp"
#include "task_support.hpp"
#include "uploads.hpp"

namespace bosh::director {

namespace fs = std::filesystem;

namespace {

std::string join_json(const std::vector<std::string>& items) {
  JsonArray::Ptr a = new JsonArray;
  for (const auto& i : items) a->add(i);
  return to_json(Json(a));
}

std::string os_of(const std::string& stemcell) { return stemcell.substr(0, stemcell.find('/')); }
std::string version_of(const std::string& stemcell) {
  return stemcell.find('/') == std::string::npos ? "" : stemcell.substr(stemcell.find('/') + 1);
}

struct BlobRef {
  std::string blobstore_id, sha1;
};

std::map<std::string, PackageDeps> compiled_deps(const release::ReleaseManifest& m) {
  std::map<std::string, PackageDeps> deps;
  for (const auto& c : m.compiled_packages) deps[c.name] = {c.version, c.dependencies};
  return deps;
}

void check_names(const release::ReleaseManifest& m) {
  check_bosh_name("release name", m.name);
  check_bosh_name("release version", m.version);
  for (const auto* list : {&m.jobs, &m.packages, &m.compiled_packages})
    for (const auto& item : *list) {
      check_bosh_name("release.MF: name", item.name);
      check_bosh_name("release.MF: version of " + item.name, item.version);
    }
}

// An existing version must have the same content; --fix stores its blobs again.
std::optional<std::string> existing_version(Database& db, std::int64_t release_id, const release::ReleaseManifest& m) {
  auto existing = db.rows("SELECT id FROM release_versions WHERE release_id = ? AND version = ?", {release_id, m.version});
  if (existing.empty()) return std::nullopt;
  const std::int64_t rv = std::stoll(existing[0][0]);
  std::map<std::string, std::string> known, uploaded;  // "package:name" -> fingerprint
  for (const auto& r : db.rows("SELECT 'package:' || p.name, p.fingerprint FROM packages p JOIN "
                               "release_versions_packages l ON l.package_id = p.id WHERE l.release_version_id = ? "
                               "UNION SELECT 'job:' || t.name, t.fingerprint FROM templates t JOIN "
                               "release_versions_templates l ON l.template_id = t.id WHERE l.release_version_id = ?",
                               {rv, rv}))
    known[r[0]] = r[1];
  for (const auto& p : m.packages) uploaded["package:" + p.name] = p.fingerprint;
  for (const auto& p : m.compiled_packages) uploaded["package:" + p.name] = p.fingerprint;
  for (const auto& j : m.jobs) uploaded["job:" + j.name] = j.fingerprint;
  if (uploaded != known)
    fail("release '{}/{}' is already uploaded with different jobs or packages; create a new version", m.name,
         m.version);
  return fmt::format("Release '{}/{}' already exists", m.name, m.version);
}

// Everything a release import writes, and the blobs it stored (deleted again
// when the import fails before its commit).
class Import {
 public:
  Import(TaskContext& ctx, const release::ReleaseManifest& m, const fs::path& dir, std::int64_t release_id)
      : ctx_(ctx), db_(ctx.db()), m_(m), dir_(dir), release_id_(release_id) {}
  ~Import() {
    if (committed_) return;
    for (const auto& id : stored_) {
      try {
        ctx_.blobstore().delete_blob(id);
      } catch (const std::exception&) {
      }
    }
  }

  void packages(bool fix) {
    int index = 0;
    for (const auto& p : m_.packages) {
      ctx_.check_cancelled();
      const std::string what = p.name + "/" + p.version;
      ++index;
      auto same = release_id_ ? db_.rows("SELECT id, blobstore_id FROM packages WHERE release_id = ? AND name = ? AND "
                                         "fingerprint = ?",
                                         {release_id_, p.name, p.fingerprint})
                              : std::vector<DbRow>{};
      const fs::path file = dir_ / ("packages/" + p.name + ".tgz");
      if (!same.empty() && !(fix && fs::exists(file))) {
        package_ids_.push_back(std::stoll(same[0][0]));
        event("Creating new packages", what + " (already there)", index, m_.packages.size(), true);
        continue;
      }
      event("Creating new packages", what, index, m_.packages.size(), false);
      const BlobRef blob = fs::exists(file) ? store(file, p.sha1) : copy_existing_package(p);
      if (!same.empty()) {  // --fix: the row stays, its blob is new
        replaced_.push_back({"packages", std::stoll(same[0][0]), same[0][1], blob.blobstore_id});
        package_ids_.push_back(std::stoll(same[0][0]));
      } else {
        new_packages_.push_back({p.name, p.version, p.fingerprint, p.sha1, blob.blobstore_id, join_json(p.dependencies)});
      }
      event("Creating new packages", what, index, m_.packages.size(), true);
    }
  }

  void jobs(bool fix) {
    int index = 0;
    for (const auto& j : m_.jobs) {
      ctx_.check_cancelled();
      const std::string what = j.name + "/" + j.version;
      ++index;
      auto same = release_id_ ? db_.rows("SELECT id, blobstore_id FROM templates WHERE release_id = ? AND name = ? AND "
                                         "fingerprint = ?",
                                         {release_id_, j.name, j.fingerprint})
                              : std::vector<DbRow>{};
      if (!same.empty() && !fix) {
        template_ids_.push_back(std::stoll(same[0][0]));
        event("Creating new jobs", what + " (already there)", index, m_.jobs.size(), true);
        continue;
      }
      event("Creating new jobs", what, index, m_.jobs.size(), false);
      const fs::path archive = dir_ / ("jobs/" + j.name + ".tgz");
      const BlobRef blob = store(archive, j.sha1);
      if (!same.empty()) {
        replaced_.push_back({"templates", std::stoll(same[0][0]), same[0][1], blob.blobstore_id});
        template_ids_.push_back(std::stoll(same[0][0]));
      } else {
        new_jobs_.push_back({j.name, j.version, j.fingerprint, j.sha1, blob.blobstore_id, read_tgz_entry(archive, "job.MF")});
      }
      event("Creating new jobs", what, index, m_.jobs.size(), true);
    }
  }

  // A compiled release: packages without source, compiled for one stemcell.
  void compiled_packages() {
    int index = 0;
    for (const auto& c : m_.compiled_packages) {
      ctx_.check_cancelled();
      ++index;
      if (c.stemcell.find('/') == std::string::npos)
        fail("compiled package '{}': stemcell '{}' is not OS/VERSION", c.name, c.stemcell);
      const std::string what = c.name + "/" + c.version + " for " + c.stemcell;
      event("Creating new compiled packages", what, index, m_.compiled_packages.size(), false);
      const fs::path file = dir_ / ("compiled_packages/" + c.name + ".tgz");
      new_compiled_.push_back({&c, fs::exists(file) ? store(file, c.sha1).blobstore_id : std::string()});
      event("Creating new compiled packages", what, index, m_.compiled_packages.size(), true);
    }
  }

  void commit() {
    auto s = db_.session();
    try {
      s.begin();
      if (!release_id_) release_id_ = db_.insert(s, "INSERT INTO releases (name) VALUES (?)", {m_.name});
      write_compiled(s);
      for (const auto& p : new_packages_)
        package_ids_.push_back(db_.insert(s,
                                          "INSERT INTO packages (release_id, name, version, fingerprint, sha1, "
                                          "blobstore_id, dependencies) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                          {release_id_, p.name, p.version, p.fingerprint, p.sha1, p.blobstore_id, p.extra}));
      for (const auto& j : new_jobs_)
        template_ids_.push_back(db_.insert(s,
                                           "INSERT INTO templates (release_id, name, version, fingerprint, sha1, "
                                           "blobstore_id, spec) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                           {release_id_, j.name, j.version, j.fingerprint, j.sha1, j.blobstore_id, j.extra}));
      for (const auto& r : replaced_)
        db_.exec(s, "UPDATE " + r.table + " SET blobstore_id = ? WHERE id = ?", {r.new_blob, r.id});
      auto rv_rows = db_.rows(s, "SELECT id FROM release_versions WHERE release_id = ? AND version = ?",
                              {release_id_, m_.version});
      if (rv_rows.empty()) {
        const std::int64_t rv = db_.insert(s,
                                           "INSERT INTO release_versions (release_id, version, commit_hash, "
                                           "uncommitted_changes) VALUES (?, ?, ?, ?)",
                                           {release_id_, m_.version, m_.commit_hash, db_bool(m_.uncommitted_changes)});
        for (auto pid : package_ids_)
          db_.exec(s, "INSERT INTO release_versions_packages (release_version_id, package_id) VALUES (?, ?)", {rv, pid});
        for (auto tid : template_ids_)
          db_.exec(s, "INSERT INTO release_versions_templates (release_version_id, template_id) VALUES (?, ?)", {rv, tid});
      }
      s.commit();
    } catch (...) {
      if (s.isTransaction()) s.rollback();
      throw;
    }
    committed_ = true;
    for (const auto& r : replaced_) {  // --fix: the blobs the rows no longer name
      try {
        if (!r.old_blob.empty()) ctx_.blobstore().delete_blob(r.old_blob);
      } catch (const std::exception&) {
      }
    }
  }

 private:
  struct NewRow {
    std::string name, version, fingerprint, sha1, blobstore_id, extra;  // extra: dependencies / job spec
  };
  struct NewCompiled {
    const release::ManifestItem* item;
    std::string blobstore_id;  // empty: the director's own, found at commit
  };
  struct Replaced {
    std::string table;
    std::int64_t id;
    std::string old_blob, new_blob;
  };

  void event(const std::string& stage, const std::string& task, int index, std::size_t total, bool done) {
    ctx_.event(stage, task, index, static_cast<int>(total), done ? "finished" : "started", done ? 100 : 0);
  }

  BlobRef store(const fs::path& file, const std::string& digest) {
    auto stored = blobstore::put_file(ctx_.blobstore(), file, strongest_digest(parse_multi_digest(digest)).algorithm);
    stored_.push_back(stored.id);
    return {stored.id, digest};
  }

  // The bytes another release stores under this fingerprint, copied (a blob
  // belongs to one row, so deleting that release never takes this one's).
  BlobRef copy_existing_package(const release::ManifestItem& p) {
    auto found = db_.rows("SELECT blobstore_id, sha1 FROM packages WHERE fingerprint = ? AND blobstore_id <> '' AND "
                          "sha1 <> '' ORDER BY id LIMIT 1",
                          {p.fingerprint});
    if (found.empty())
      fail("package '{}' ({}) is not in the tarball and the director does not have it", p.name, p.fingerprint);
    TempDir tmp("bosh-copy-package");
    blobstore::get_file(ctx_.blobstore(), found[0][0], tmp.path() / "p.tgz",
                        strongest_digest(parse_multi_digest(found[0][1])));
    const Digest want = strongest_digest(parse_multi_digest(p.sha1));
    if (file_digest(tmp.path() / "p.tgz", want.algorithm) != want.hex)
      fail("package '{}' ({}): the director's copy does not have the digest release.MF names", p.name, p.fingerprint);
    ctx_.debug(fmt::format("package {} ({}) is not in the tarball: copied from the director's own", p.name, p.fingerprint));
    return store(tmp.path() / "p.tgz", p.sha1);
  }

  void write_compiled(Poco::Data::Session& s) {
    if (new_compiled_.empty()) return;
    const auto deps = compiled_deps(m_);
    for (const auto& nc : new_compiled_) {
      const auto& c = *nc.item;
      auto found = db_.rows(s, "SELECT id FROM packages WHERE release_id = ? AND name = ? AND fingerprint = ?",
                            {release_id_, c.name, c.fingerprint});
      const std::int64_t package_id =
          found.empty() ? db_.insert(s,
                                     "INSERT INTO packages (release_id, name, version, fingerprint, sha1, "
                                     "blobstore_id, dependencies) VALUES (?, ?, ?, ?, '', '', ?)",
                                     {release_id_, c.name, c.version, c.fingerprint, join_json(c.dependencies)})
                        : std::stoll(found[0][0]);
      package_ids_.push_back(package_id);
      const std::string os = os_of(c.stemcell), stemcell_version = version_of(c.stemcell);
      const std::string key = dependency_key(deps, c.name);
      if (!db_.rows(s, "SELECT id FROM compiled_packages WHERE package_id = ? AND stemcell_os = ? AND "
                       "stemcell_version = ? AND dependency_key = ?",
                    {package_id, os, stemcell_version, key})
               .empty())
        continue;
      std::string blob = nc.blobstore_id, sha1 = c.sha1;
      if (blob.empty()) {  // left out of the tarball: the director has it for this stemcell
        auto have = db_.rows(s, "SELECT c.blobstore_id, c.sha1 FROM compiled_packages c JOIN packages p ON p.id = "
                                "c.package_id WHERE p.fingerprint = ? AND c.stemcell_os = ? AND c.stemcell_version = ? "
                                "AND c.dependency_key = ? LIMIT 1",
                             {c.fingerprint, os, stemcell_version, key});
        if (have.empty()) fail("compiled package '{}' is not in the tarball and the director does not have it", c.name);
        TempDir tmp("bosh-copy-compiled");
        blobstore::get_file(ctx_.blobstore(), have[0][0], tmp.path() / "c.tgz",
                            strongest_digest(parse_multi_digest(have[0][1])));
        blob = store(tmp.path() / "c.tgz", have[0][1]).blobstore_id;
        sha1 = have[0][1];
      }
      db_.exec(s, "INSERT INTO compiled_packages (package_id, stemcell_os, stemcell_version, dependency_key, build, "
                  "sha1, blobstore_id) VALUES (?, ?, ?, ?, 1, ?, ?)",
               {package_id, os, stemcell_version, key, sha1, blob});
    }
  }

  TaskContext& ctx_;
  Database& db_;
  const release::ReleaseManifest& m_;
  fs::path dir_;
  std::int64_t release_id_;
  bool committed_ = false;
  std::vector<std::string> stored_;
  std::vector<std::int64_t> package_ids_, template_ids_;
  std::vector<NewRow> new_packages_, new_jobs_;
  std::vector<NewCompiled> new_compiled_;
  std::vector<Replaced> replaced_;
};

}  // namespace

bool director_has_package(Database& db, const std::string& fingerprint) {
  return !db.rows("SELECT id FROM packages WHERE fingerprint = ? AND blobstore_id <> '' AND sha1 <> '' LIMIT 1",
                  {fingerprint})
              .empty();
}

bool director_has_compiled_package(Database& db, const std::string& fingerprint, const std::string& stemcell,
                                   const std::string& dependency_key) {
  return !db.rows("SELECT c.id FROM compiled_packages c JOIN packages p ON p.id = c.package_id WHERE p.fingerprint = "
                  "? AND c.stemcell_os = ? AND c.stemcell_version = ? AND c.dependency_key = ? LIMIT 1",
                  {fingerprint, os_of(stemcell), version_of(stemcell), dependency_key})
              .empty();
}

std::string upload_release_task(TaskContext& ctx) {
  auto payload = payload_of(ctx);
  const fs::path tarball = fetch_upload(ctx, payload);
  RemoveOnExit cleanup(tarball);  // the upload is consumed, whatever the outcome
  const bool fix = flag(payload, "fix");
  Database& db = ctx.db();

  ctx.event("Extracting release", "Extracting release", 1, 1, "started");
  TempDir extracted("bosh-upload-release");
  release::VerifyOptions options;
  options.origin = "release tarball";
  std::map<std::string, PackageDeps> deps;  // set once release.MF is read, for compiled packages
  options.already_have = [&](const release::ManifestItem& item, bool compiled) {
    if (!compiled) return director_has_package(db, item.fingerprint);
    if (deps.empty()) deps = compiled_deps(release::parse_release_manifest(read_file(extracted.path() / "release.MF"), "release.MF"));
    return director_has_compiled_package(db, item.fingerprint, item.stemcell, dependency_key(deps, item.name));
  };
  const release::ReleaseManifest m = release::verify_release_tarball(tarball, extracted.path(), options);
  check_names(m);
  ctx.event("Extracting release", "Extracting release", 1, 1, "finished", 100);
  ctx.event("Verifying manifest", "Verifying manifest", 1, 1, "finished", 100);
  ctx.check_cancelled();

  TaskLock lock(ctx, "release", m.name, "is already being uploaded");
  auto rel = db.rows("SELECT id FROM releases WHERE name = ?", {m.name});
  const std::int64_t release_id = rel.empty() ? 0 : std::stoll(rel[0][0]);
  if (release_id) {
    if (auto exists = existing_version(db, release_id, m); exists && !fix) return *exists;
  }
  Import import(ctx, m, extracted.path(), release_id);
  import.packages(fix);
  import.jobs(fix);
  import.compiled_packages();
  ctx.check_cancelled();
  import.commit();
  ctx.event("Release has been created", m.name + "/" + m.version, 1, 1, "finished", 100);
  record_event(db, {ctx.task().username, "create", "release", m.name + "/" + m.version, std::to_string(ctx.task().id)});
  return fmt::format("Created release '{}/{}'", m.name, m.version);
}

}  // namespace bosh::director
