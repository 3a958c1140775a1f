// The build indexes of a release directory:
//  .dev_builds|.final_builds/{jobs,packages,license}/<name>/index.yml
//    builds: {<fingerprint>: {version, sha1, blobstore_id?}}, format-version: "2"
//  dev_releases|releases/<release>/index.yml
//    builds: {<uuid>: {version}}, format-version: "2"
// Saved atomically (temp + rename).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bosh/release/version.hpp"

namespace bosh::release {

struct BuildEntry {
  std::string version;
  std::string sha1;          // the archive's digest ("<hex>" or "sha256:<hex>")
  std::string blobstore_id;  // final builds only
};

class BuildIndex {
 public:
  static BuildIndex load(const std::filesystem::path& index_file);
  std::optional<BuildEntry> find(const std::string& fingerprint) const;
  void put(const std::string& fingerprint, BuildEntry entry);
  void save() const;

 private:
  std::filesystem::path path_;
  std::map<std::string, BuildEntry> builds_;
};

class ReleaseIndex {
 public:
  static ReleaseIndex load(const std::filesystem::path& index_file);
  std::vector<Version> versions() const;
  std::optional<Version> latest() const;
  bool contains(const std::string& version) const;
  void add(const std::string& version);
  void save() const;

 private:
  std::filesystem::path path_;
  std::map<std::string, std::string> builds_;  // key -> version
};

}  // namespace bosh::release
