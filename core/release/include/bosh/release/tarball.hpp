// Reading release tarballs: `bosh inspect release` and `bosh verify release`.
#pragma once

#include <filesystem>
#include <functional>
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

struct VerifyOptions {
  // How messages name the tarball (default: its path). A director names
  // the upload, not its own temp file.
  std::string origin;
  // A package (compiled: a compiled package) release.MF lists whose archive
  // the tarball leaves out, because the receiver said it has it already
  // (`bosh upload-release` asks /packages/matches first): true when it does.
  std::function<bool(const ManifestItem& item, bool compiled)> already_have;
};

// Checks a release tarball: safe structure (no absolute paths, "..",
// escaping links, duplicates, nothing past the extract limits), release.MF
// present and well formed, every job/package/license archive present (or
// already_have) with the digest release.MF records, no unlisted archives
// (LICENSE* and NOTICE* files at the top are the release's own), dependencies
// and job packages resolvable, and each nested archive readable: a job's
// with a job.MF that parses, its monit file and every template job.MF names.
// Returns the manifest; an InputError naming the tarball, the release.MF
// entry ("release.MF: jobs[3] (web)") and what is wrong otherwise.
ReleaseManifest verify_release_tarball(const std::filesystem::path& tarball);
// The same, keeping the verified contents in `extract_to` (an empty directory).
ReleaseManifest verify_release_tarball(const std::filesystem::path& tarball, const std::filesystem::path& extract_to,
                                       const VerifyOptions& options = {});

}  // namespace bosh::release
