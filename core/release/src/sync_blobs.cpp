// `bosh sync blobs`, also the first step of `bosh create release` (as the Go
// CLI does it): every blob config/blobs.yml lists must be in blobs/ with its
// digest; missing or different ones are downloaded by object_id.
#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/release/config.hpp"
#include "bosh/release/create.hpp"

namespace bosh::release {

namespace fs = std::filesystem;

std::size_t sync_blobs(const fs::path& dir, const BlobstoreAccess& blobstore, const Progress& progress) {
  std::vector<std::pair<std::string, BlobRecord>> needed;
  for (const auto& [path, b] : load_blobs(dir)) {
    fs::path local = dir / "blobs" / path;
    std::error_code ec;
    if (fs::is_symlink(local, ec))
      fail<InputError>("{}: blobs may not be symlinks (blob '{}' in config/blobs.yml)", local.string(), path);
    bool present = fs::exists(local, ec);
    if (present && verify_file(local, strongest_digest(parse_multi_digest(b.sha)))) continue;
    if (b.object_id.empty())
      fail<InputError>("blob '{}' in config/blobs.yml is {} and was never uploaded (no object_id)", path,
                       present ? "in blobs/ with another digest (run 'bosh add blob' again)" : "missing from blobs/");
    needed.emplace_back(path, b);
  }
  std::size_t done = 0;
  for (const auto& [path, b] : needed) {
    plugin::Blobstore& store = blobstore(fmt::format("blob '{}' (object id {})", path, b.object_id));
    fs::path local = dir / "blobs" / path;
    fs::create_directories(local.parent_path());
    blobstore::get_file(store, b.object_id, local, strongest_digest(parse_multi_digest(b.sha)));
    if (progress) progress("Downloading blobs", ++done, needed.size(), path);
  }
  return needed.size();
}

}  // namespace bosh::release
