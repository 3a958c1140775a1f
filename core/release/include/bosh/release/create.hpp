// `bosh create release`: fingerprint every job and package, reuse builds
// whose fingerprint is already in .final_builds or .dev_builds, build the
// rest (running pre_packaging), write the indexes, the release manifest
// (release.MF) and, on request, the release tarball. Every file is written
// to a temp name and renamed, tarballs before the indexes that name them, so
// an interrupted run leaves no half index, manifest or tarball.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bosh/common/digest.hpp"
#include "bosh/plugin/blobstore.hpp"
#include "bosh/release/release_dir.hpp"

namespace bosh::release {

// Progress of long work, reported per item: (stage, done, total, item name).
using Progress = std::function<void(const std::string& stage, std::size_t done, std::size_t total,
                                    const std::string& item)>;

struct CreateOptions {
  std::filesystem::path dir = ".";
  bool final = false;
  bool force = false;               // create even with uncommitted git changes
  DigestAlgorithm algorithm = DigestAlgorithm::sha1;
  std::optional<std::string> version;
  std::optional<std::string> name;
  bool with_tarball = false;
  std::optional<std::filesystem::path> tarball;  // where to write it (implies with_tarball)
  bool timestamp_version = false;
  unsigned jobs = 0;                // parallel builds; 0 = hardware concurrency
};

struct BuiltItem {
  std::string name;
  std::string fingerprint;
  std::string version;
  std::string sha1;                   // archive digest as recorded
  std::string origin;                 // "new", "dev" (reused), "final" (reused)
  std::filesystem::path archive;      // the local tgz
  std::vector<std::string> dependencies;  // packages: dependencies; jobs: packages
};

struct CreatedRelease {
  std::string name;
  std::string version;
  std::string commit_hash;
  bool uncommitted_changes = false;
  std::vector<BuiltItem> jobs, packages;
  std::optional<BuiltItem> license;
  std::filesystem::path manifest;
  std::optional<std::filesystem::path> tarball;
};

// `final_blobstore` is the release blobstore (config/final.yml); needed for
// --final (uploads) and to fetch final builds missing locally.
CreatedRelease create_release(const CreateOptions& options, plugin::Blobstore* final_blobstore,
                              const Progress& progress = {});

// `bosh create release MANIFEST.yml`: the tarball of an existing release
// manifest, from the local build caches (or the blobstore for final builds).
std::filesystem::path create_tarball_from_manifest(const std::filesystem::path& release_dir,
                                                   const std::filesystem::path& manifest,
                                                   std::optional<std::filesystem::path> tarball,
                                                   plugin::Blobstore* final_blobstore, const Progress& progress = {});

// The release.MF text for a created release.
std::string release_manifest_yaml(const CreatedRelease& release);

}  // namespace bosh::release
