// `bosh create release`: sync the blobs config/blobs.yml lists, fingerprint
// every job and package, reuse builds whose fingerprint is already in
// .dev_builds or .final_builds (in that order, as the Go CLI), build the rest
// (running pre_packaging), write the indexes, the release manifest
// (release.MF) and, on request, the release tarball. Build archives live in
// the build cache (~/.bosh/cache/<digest>, the Go CLI's), so either CLI can
// take over a release directory; .dev_builds/.final_builds hold the indexes
// (and, from older CLIs, archives we still read). Every file is written to a
// temp name and renamed, archives before the indexes that name them, so an
// interrupted run leaves no half index, manifest or tarball.
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

// The release blobstore, made when something first needs it: `why` names
// that ("package 'golang' (<fp>)") for the error raised when config/final.yml
// names no blobstore, or one this program does not have. A dev release of a
// directory whose blobs and builds are all local never calls it.
using BlobstoreAccess = std::function<plugin::Blobstore&(const std::string& why)>;

// An access to a blobstore already made (null: "no release blobstore is
// configured", naming config/final.yml under `release_dir`).
BlobstoreAccess blobstore_access(plugin::Blobstore* store, const std::filesystem::path& release_dir);

// $HOME/.bosh/cache, where the Go CLI keeps build archives too.
std::filesystem::path default_build_cache();

struct CreateOptions {
  std::filesystem::path dir = ".";
  bool final = false;
  bool force = false;               // create even with uncommitted git changes
  DigestAlgorithm algorithm = DigestAlgorithm::sha256;  // the Go CLI 7's default
  std::filesystem::path cache_dir;  // build archives; empty: default_build_cache()
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
  std::vector<std::string> warnings;  // what was ignored (unknown spec keys, untracked blobs)
};

// `blobstore` is the release blobstore (config/final.yml): used for --final
// (uploads), to fetch final builds missing locally and blobs missing from
// blobs/.
CreatedRelease create_release(const CreateOptions& options, const BlobstoreAccess& blobstore,
                              const Progress& progress = {});

// `bosh create release MANIFEST.yml`: the tarball of an existing release
// manifest, from the build cache (or the blobstore, for final builds).
std::filesystem::path create_tarball_from_manifest(const std::filesystem::path& release_dir,
                                                   const std::filesystem::path& manifest,
                                                   std::optional<std::filesystem::path> tarball,
                                                   const BlobstoreAccess& blobstore, const Progress& progress = {},
                                                   std::filesystem::path cache_dir = {});

// `bosh sync blobs` (and the first step of create release): downloads every
// blob config/blobs.yml lists that blobs/ lacks or holds with another digest,
// each checked; returns how many. InputError for a blob never uploaded.
std::size_t sync_blobs(const std::filesystem::path& release_dir, const BlobstoreAccess& blobstore,
                       const Progress& progress = {});

// The release.MF text for a created release.
std::string release_manifest_yaml(const CreatedRelease& release);

}  // namespace bosh::release
