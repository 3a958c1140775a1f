// A release directory's config: config/final.yml (name, blobstore), with
// config/private.yml's blobstore options (credentials) merged over it, and
// config/blobs.yml (the blobs the release tracks).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "bosh/plugin/json.hpp"

namespace bosh::release {

struct ReleaseConfig {
  std::string name;                 // final.yml `name` (or classic `final_name`); dev.yml `dev_name`
  std::string blobstore_provider;   // "local", "dav", "s3", ...
  plugin::Json blobstore_options;   // final.yml options, private.yml options merged over them
  bool name_conflict = false;       // final.yml sets both name and final_name (refused unless --name)
};

ReleaseConfig load_release_config(const std::filesystem::path& release_dir);

struct BlobRecord {
  std::uint64_t size = 0;
  std::string sha;        // "<sha1 hex>" or "sha256:<hex>"
  std::string object_id;  // empty until uploaded
};

// config/blobs.yml: path -> record. Missing file: empty.
std::map<std::string, BlobRecord> load_blobs(const std::filesystem::path& release_dir);
void save_blobs(const std::filesystem::path& release_dir, const std::map<std::string, BlobRecord>& blobs);

}  // namespace bosh::release
