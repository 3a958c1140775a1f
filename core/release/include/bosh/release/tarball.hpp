// Reading release tarballs: `bosh inspect release` and `bosh verify release`.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace bosh::release {

struct ManifestItem {
  std::string name, version, fingerprint, sha1;
  std::vector<std::string> dependencies;  // jobs: packages
  std::string stemcell;                   // compiled packages only
};

struct ReleaseManifest {
  std::string name, version, commit_hash;
  bool uncommitted_changes = false;
  std::vector<ManifestItem> jobs, packages, compiled_packages;
  std::optional<ManifestItem> license;
};

// Parses a release.MF text; InputError naming `origin` and the line.
ReleaseManifest parse_release_manifest(const std::string& text, const std::string& origin);

// release.MF of a tarball, without extracting the rest.
ReleaseManifest read_release_tarball_manifest(const std::filesystem::path& tarball);

// Checks a release tarball: safe structure (no absolute paths, "..",
// escaping links, duplicates), release.MF present and well formed, every
// job/package/license archive present with the digest release.MF records,
// no unlisted archives, dependencies and job packages resolvable, each job
// archive holding job.MF. Returns the manifest; InputError naming the first
// problem otherwise.
ReleaseManifest verify_release_tarball(const std::filesystem::path& tarball);
// The same, keeping the verified contents in `extract_to` (an empty directory).
ReleaseManifest verify_release_tarball(const std::filesystem::path& tarball, const std::filesystem::path& extract_to);

}  // namespace bosh::release
