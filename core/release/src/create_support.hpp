// Shared by create.cpp and create_from_manifest.cpp.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "bosh/release/create.hpp"
#include "bosh/release/index.hpp"
#include "build_cache.hpp"

namespace bosh::release::detail {

// .dev_builds|.final_builds/<kind>/<name> (license: .../license).
std::filesystem::path index_dir(const std::filesystem::path& root, ResourceKind kind, const std::string& name);

// Where the archive of a recorded build is: the build cache; else an older
// CLI's <index dir>/<fingerprint>.tgz (copied into the cache); else, when it
// has a blobstore id and `blobstore` is given, downloaded into the cache.
// Nullopt when none of those has it.
std::optional<std::filesystem::path> locate_build(const BuildCache& cache, const std::filesystem::path& index_dir,
                                                  const std::string& what, const BuildEntry& entry,
                                                  const BlobstoreAccess* blobstore);

// The release tarball: release.MF, jobs/, packages/, license.tgz and the
// top-level LICENSE*/NOTICE* files of the license (as the Go CLI writes it).
std::filesystem::path write_release_tarball(const CreatedRelease& release, const std::filesystem::path& out);

}  // namespace bosh::release::detail
