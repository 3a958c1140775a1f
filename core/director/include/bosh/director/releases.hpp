// Releases in the director: upload (verify every digest, store jobs and
// packages in the blobstore, deduplicated by fingerprint), list.
#pragma once

#include <optional>
#include <string>

#include "bosh/director/db.hpp"
#include "bosh/director/workers.hpp"
#include "bosh/plugin/json.hpp"

namespace bosh::director {

// The "update_release" task (BOSH's name): payload {"path": "<uploaded tarball>" | "location": URL, "sha1"?, "fix"}.
std::string upload_release_task(TaskContext& ctx);

// POST /packages/matches and /packages/matches_compiled: what the director
// has already (a source package with its blob; a compiled package for that
// stemcell "os/version" and dependency key), so the CLI need not send it.
bool director_has_package(Database& db, const std::string& fingerprint);
bool director_has_compiled_package(Database& db, const std::string& fingerprint, const std::string& stemcell,
                                   const std::string& dependency_key);

// "delete_release": payload {"name", "version" (optional: all versions), "force"}.
// Refused while a deployment uses a version, unless forced. Jobs, packages and
// compiled packages no other version uses go too, with their blobs.
std::string delete_release_task(TaskContext& ctx);
// The same, called by other tasks (cleanup). An empty version: every version.
std::string delete_release(TaskContext& ctx, const std::string& name, const std::string& version, bool force);

// GET /releases: [{name, release_versions: [{version, commit_hash, uncommitted_changes, currently_deployed, job_names}]}]
plugin::Json list_releases(Database& db);
// GET /releases/<name>?version=V: {name, version, commit_hash, uncommitted_changes, jobs: [{name, version,
// fingerprint, sha1, blobstore_id}], packages: [{name, version, fingerprint, sha1, blobstore_id, dependencies,
// compiled_packages: [{stemcell, sha1, blobstore_id}]}]}; without a version: {name, versions: [...]}.
// nullopt when there is no such release (or version).
std::optional<plugin::Json> release_detail(Database& db, const std::string& name, const std::string& version);

}  // namespace bosh::director
