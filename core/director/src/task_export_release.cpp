// The export_release task (bosh export-release NAME/VERSION OS/VERSION): a
// compiled release of a release a deployment uses, for one stemcell —
// release.MF with compiled_packages, the job archives and each package as
// compiled — in the blobstore. Packages not compiled yet are compiled first,
// on the deployment's compilation VMs. The result is {"blobstore_id", "sha1"}
// ("sha256:…" when the CLI asked for sha2), and `upload-release` on any
// director takes the tarball.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <fstream>
#include <map>
#include <set>

#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/yaml.hpp"
#include "dependency_key.hpp"
#include "task_support.hpp"

namespace bosh::director {

namespace fs = std::filesystem;

namespace {

struct ExportRequest {
  std::string deployment, release, version, os, stemcell_version;
  bool sha2 = false;
  std::set<std::string> jobs;  // empty: every job of the release
};

ExportRequest request_of(TaskContext& ctx) {
  auto p = payload_of(ctx);
  ExportRequest r;
  r.deployment = ctx.task().deployment;
  r.release = text(p, "release_name");
  r.version = text(p, "release_version");
  r.os = text(p, "stemcell_os");
  r.stemcell_version = text(p, "stemcell_version");
  r.sha2 = flag(p, "sha2");
  if (p->has("jobs") && !p->get("jobs").isEmpty())
    for (const auto& j : *as_array(p->get("jobs"), "jobs")) r.jobs.insert(text(j.extract<JsonObject::Ptr>(), "name"));
  return r;
}

// The packages the chosen jobs need, with what they need in turn.
std::set<std::string> needed_packages(const ReleaseVersionRow& rv, const std::set<std::string>& jobs) {
  std::set<std::string> out;
  std::function<void(const std::string&)> add = [&](const std::string& name) {
    if (!out.insert(name).second) return;
    auto it = rv.packages.find(name);
    if (it == rv.packages.end()) fail("release '{}/{}' has no package '{}'", rv.name, rv.version, name);
    for (const auto& d : it->second.dependencies) add(d);
  };
  for (const auto& [name, t] : rv.templates)
    if (jobs.empty() || jobs.count(name))
      for (const auto& p : t.spec.packages) add(p);
  return out;
}

std::string digest_of(const fs::path& file, bool sha2) {
  return sha2 ? "sha256:" + file_digest(file, DigestAlgorithm::sha256) : file_digest(file, DigestAlgorithm::sha1);
}

JsonArray::Ptr strings(const std::vector<std::string>& items) {
  JsonArray::Ptr a = new JsonArray;
  for (const auto& i : items) a->add(i);
  return a;
}

}  // namespace

std::string export_release_task(TaskContext& ctx) {
  const ExportRequest req = request_of(ctx);
  auto dep = find_deployment(ctx.db(), req.deployment);
  if (!dep || dep->manifest.empty()) fail("Deployment '{}' doesn't exist", req.deployment);
  Deployer d(ctx, req.deployment);
  DeploymentLock lock(ctx, req.deployment);
  DeployRequest deploy;
  deploy.manifest = dep->manifest;
  Prepared prepared = prepare(d, deploy);
  Plan& plan = prepared.plan;
  auto rv_it = plan.releases.find(req.release);
  if (rv_it == plan.releases.end() || rv_it->second.version != req.version)
    fail("Release '{}/{}' is not used by deployment '{}'", req.release, req.version, req.deployment);
  const ReleaseVersionRow& rv = rv_it->second;
  bool stemcell_used = false;
  for (const auto& [alias, sc] : plan.stemcells) stemcell_used = stemcell_used || (sc.os == req.os && sc.version == req.stemcell_version);
  if (!stemcell_used)
    fail("Stemcell '{}/{}' is not used by deployment '{}'", req.os, req.stemcell_version, req.deployment);
  for (const auto& j : req.jobs)
    if (!rv.templates.count(j)) fail("Release '{}/{}' has no job '{}'", req.release, req.version, j);
  compile_packages(d, plan);  // the plan is not recorded: nothing but compiled packages changes

  std::map<std::string, PackageDeps> deps;
  for (const auto& [n, row] : rv.packages) deps[n] = {row.version, row.dependencies};
  TempDir work("bosh-export-release");
  fs::create_directories(work.path() / "jobs");
  fs::create_directories(work.path() / "compiled_packages");
  JsonObject::Ptr manifest = new JsonObject;
  JsonArray::Ptr jobs = new JsonArray, compiled = new JsonArray;
  std::vector<TarInput> inputs;
  d.step("Exporting release", {}, req.release + "/" + req.version + " for " + req.os + "/" + req.stemcell_version, 1, 1, [&] {
    for (const auto& name : needed_packages(rv, req.jobs)) {
      const PackageRow& p = rv.packages.at(name);
      auto rows = d.db().rows("SELECT sha1, blobstore_id FROM compiled_packages WHERE package_id = ? AND stemcell_os = "
                              "? AND stemcell_version = ? AND dependency_key = ?",
                              {p.id, req.os, req.stemcell_version, dependency_key(deps, name)});
      if (rows.empty())
        fail("package '{}' of release '{}/{}' is not compiled for {}/{} (no job of deployment '{}' uses it)", name,
             req.release, req.version, req.os, req.stemcell_version, req.deployment);
      const fs::path file = work.path() / ("compiled_packages/" + name + ".tgz");
      blobstore::get_file(ctx.blobstore(), rows[0][1], file, strongest_digest(parse_multi_digest(rows[0][0])));
      JsonObject::Ptr o = new JsonObject;
      o->set("name", name);
      o->set("version", p.version);
      o->set("fingerprint", p.fingerprint);
      o->set("sha1", digest_of(file, req.sha2));
      o->set("stemcell", req.os + "/" + req.stemcell_version);
      o->set("dependencies", strings(p.dependencies));
      compiled->add(o);
      inputs.push_back({"compiled_packages/" + name + ".tgz", file});
    }
    for (const auto& [name, t] : rv.templates) {
      if (!req.jobs.empty() && !req.jobs.count(name)) continue;
      const fs::path file = work.path() / ("jobs/" + name + ".tgz");
      blobstore::get_file(ctx.blobstore(), t.blobstore_id, file, strongest_digest(parse_multi_digest(t.sha1)));
      JsonObject::Ptr o = new JsonObject;
      o->set("name", name);
      o->set("version", t.version);
      o->set("fingerprint", t.fingerprint);
      o->set("sha1", digest_of(file, req.sha2));
      o->set("packages", strings(t.spec.packages));
      jobs->add(o);
      inputs.push_back({"jobs/" + name + ".tgz", file});
    }
    auto rows = d.db().rows("SELECT v.commit_hash, v.uncommitted_changes FROM release_versions v JOIN releases r ON "
                            "r.id = v.release_id WHERE r.name = ? AND v.version = ?",
                            {req.release, req.version});
    manifest->set("name", req.release);
    manifest->set("version", req.version);
    manifest->set("commit_hash", rows.empty() ? "" : rows[0][0]);
    manifest->set("uncommitted_changes", !rows.empty() && (rows[0][1] == "1" || rows[0][1] == "true"));
    manifest->set("jobs", jobs);
    manifest->set("packages", plugin::json_array());
    manifest->set("compiled_packages", compiled);
    write_file_atomic(work.path() / "release.MF", json_to_yaml(Json(manifest)));
    inputs.push_back({"release.MF", work.path() / "release.MF"});
    create_tgz_from(inputs, work.path() / "release.tgz", std::nullopt, 1);
  });
  auto stored = blobstore::put_file(ctx.blobstore(), work.path() / "release.tgz",
                                    req.sha2 ? DigestAlgorithm::sha256 : DigestAlgorithm::sha1);
  JsonObject::Ptr result = new JsonObject;
  result->set("blobstore_id", stored.id);
  result->set("sha1", stored.digest.to_string());
  ctx.result_line(to_json(Json(result)));
  return "";
}

}  // namespace bosh::director
