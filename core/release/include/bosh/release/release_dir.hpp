// A release directory (the classic layout: config/, jobs/, packages/, src/,
// blobs/, LICENSE*/NOTICE*) read into jobs, packages and license with their
// fingerprints, validated: names, dependencies, cycles, globs.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bosh/common/digest.hpp"
#include "bosh/release/fingerprint.hpp"
#include "bosh/release/spec.hpp"

namespace bosh::release {

enum class ResourceKind { job, package, license };
std::string_view kind_dir(ResourceKind kind);  // "jobs" | "packages" | "license"

struct Resource {
  ResourceKind kind;
  std::string name;
  std::string fingerprint;
  std::vector<FingerprintFile> files;       // staged at their relative paths
  std::vector<FingerprintFile> prep_files;  // pre_packaging: run at build, then removed
  bool follow_symlinks = false;
};

struct Job : Resource {
  JobSpec spec;
};

struct Package : Resource {
  PackageSpec spec;
  // A vendored package (packages/<dir>/spec.lock from `bosh vendor-package`):
  // name, fingerprint and dependencies come from the lock; the archive is a
  // build .dev_builds or .final_builds already has, never built here.
  bool vendored = false;
  std::filesystem::path lock_file;  // vendored: its spec.lock
};

struct ReleaseSources {
  std::filesystem::path dir;
  std::vector<Job> jobs;          // by name
  std::vector<Package> packages;  // dependencies before dependents
  std::optional<Resource> license;
  Warnings warnings;              // what was ignored (unknown spec keys, untracked blobs)
};

// Reads and fingerprints every job and package as the Go CLI does;
// InputError for anything malformed, naming the file (and line) at fault.
// Job folders must have their job's name; package folders need not (the
// spec's or spec.lock's name counts, each once). Files in blobs/ that
// config/blobs.yml does not list are left out of packages, with a warning.
// `progress` (optional) is told after each one: (done, total, "packages/<name>").
ReleaseSources read_release_dir(
    const std::filesystem::path& dir, DigestAlgorithm algorithm,
    const std::function<void(std::size_t, std::size_t, const std::string&)>& progress = {});

// One job, package or the license files (LICENSE*, NOTICE* in `dir`), read
// and fingerprinted on their own. Package files are looked up in
// release_dir/src and release_dir/blobs (only the blobs in `tracked_blobs`
// when it is given). Template paths are cleaned ("./a", "a//b") as the Go
// CLI cleans them; one that leaves the job's folder is refused.
Job read_job_dir(const std::filesystem::path& release_dir, const std::filesystem::path& job_dir,
                 DigestAlgorithm algorithm, Warnings* warnings = nullptr);
Package read_package_dir(const std::filesystem::path& release_dir, const std::filesystem::path& package_dir,
                         DigestAlgorithm algorithm, Warnings* warnings = nullptr,
                         const std::set<std::string>* tracked_blobs = nullptr);
std::optional<Resource> read_license_dir(const std::filesystem::path& dir, DigestAlgorithm algorithm);

// Packages ordered so that dependencies come first; InputError naming the
// cycle ("a -> b -> a") or the missing dependency.
std::vector<std::string> dependency_order(const std::vector<PackageSpec>& packages);

}  // namespace bosh::release
