// The diffs the CLI shows before it changes something: [[line, "added" |
// "removed" | null], ...] of the YAML as it was and as it will be, removed
// lines before added ones where a run changed.
#pragma once

#include <string>

#include "bosh/plugin/json.hpp"

namespace bosh::director {

// A deployment manifest (the deployed one empty for a new deployment), in
// BOSH's section order; values under `properties` and `env` redacted unless
// `redact` is false (a changed secret is still a changed line).
plugin::Json manifest_diff(const std::string& old_manifest, const std::string& manifest, bool redact);

// A config of `type` (cloud, runtime, cpi, ...): the same, with the type's
// own section order. Either side may be empty (no config yet / deleted).
plugin::Json config_diff(const std::string& type, const std::string& before, const std::string& after, bool redact);

}  // namespace bosh::director
