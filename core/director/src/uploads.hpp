// Uploads of releases and stemcells: the API side receives the tarball (or
// a URL to fetch) without holding it in memory; the task side turns that
// into a local file, checked against the digest the user gave.
#pragma once

#include <filesystem>
#include <optional>

#include "bosh/director/workers.hpp"
#include "bosh/plugin/json.hpp"
#include "router.hpp"

namespace bosh::director {

// The task payload for an upload: {"path"} of the tarball streamed to
// state_dir/uploads (bounded by max_upload_mb, refused with 413 before
// reading when the declared size is larger), or {"location", "sha1"?} of a
// JSON body {"location": URL, "sha1": DIGEST}. Answers the error itself and
// returns nullopt when it cannot.
std::optional<plugin::JsonObject::Ptr> receive_upload(Call& call);

// The tarball of an upload task: the streamed file, or the URL downloaded
// (bounded by max_upload_mb, with a deadline) into state_dir/uploads. When the
// payload names a digest (sha1 or "sha256:…", or several joined by ';'), the
// file must match it. The caller removes the file.
std::filesystem::path fetch_upload(TaskContext& ctx, const plugin::JsonObject::Ptr& payload);

}  // namespace bosh::director
