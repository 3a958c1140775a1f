// Releases in the director: upload (verify every digest, store jobs and
// packages in the blobstore, deduplicated by fingerprint), list.
#pragma once

#include <string>

#include "bosh/director/db.hpp"
#include "bosh/director/workers.hpp"
#include "bosh/plugin/json.hpp"

namespace bosh::director {

// The "upload_release" task: payload {"path": "<uploaded tarball>"}.
std::string upload_release_task(TaskContext& ctx);

// GET /releases: [{name, release_versions: [{version, commit_hash, uncommitted_changes, job_names}]}]
plugin::Json list_releases(Database& db);

}  // namespace bosh::director
