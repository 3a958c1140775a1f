#include "create_support.hpp"

#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"

namespace bosh::release::detail {

namespace fs = std::filesystem;

fs::path index_dir(const fs::path& root, ResourceKind kind, const std::string& name) {
  if (kind == ResourceKind::license) return root / "license";
  return root / std::string(kind_dir(kind)) / name;
}

std::optional<fs::path> locate_build(const BuildCache& cache, const fs::path& dir, const std::string& what,
                                     const BuildEntry& entry, const BlobstoreAccess* blobstore) {
  if (entry.sha1.empty()) return std::nullopt;
  if (auto cached = cache.find(entry.sha1)) return cached;
  fs::path legacy = dir / (entry.version + ".tgz");
  if (archive_matches(legacy, entry.sha1)) return cache.add_copy(legacy, entry.sha1);
  if (!blobstore || entry.blobstore_id.empty()) return std::nullopt;
  plugin::Blobstore& store = (*blobstore)(fmt::format("{}, blobstore id {}", what, entry.blobstore_id));
  fs::path tmp = cache.temp_path();
  try {
    blobstore::get_file(store, entry.blobstore_id, tmp, strongest_digest(parse_multi_digest(entry.sha1)));
    return cache.adopt(tmp, entry.sha1);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

fs::path write_release_tarball(const CreatedRelease& release, const fs::path& out) {
  TempDir tmp("bosh-release-mf");
  write_file_atomic(tmp.path() / "release.MF", release_manifest_yaml(release));
  std::vector<TarInput> inputs{{"release.MF", tmp.path() / "release.MF"}};
  for (const auto& j : release.jobs) inputs.push_back({"jobs/" + j.name + ".tgz", j.archive});
  for (const auto& p : release.packages) inputs.push_back({"packages/" + p.name + ".tgz", p.archive});
  if (release.license) {
    inputs.push_back({"license.tgz", release.license->archive});
    // The license's own files at the top level too, as the Go CLI has them.
    const fs::path files = tmp.path() / "license";
    extract_tgz(release.license->archive, files);
    for (const auto& e : fs::directory_iterator(files))
      if (e.is_regular_file()) inputs.push_back({e.path().filename().string(), e.path()});
  }
  // The inner archives are compressed already: the outer gzip only stores them.
  create_tgz_from(inputs, out, std::nullopt, 0);
  return out;
}

}  // namespace bosh::release::detail
