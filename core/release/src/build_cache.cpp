#include "build_cache.hpp"

#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/random.hpp"

namespace bosh::release {

namespace fs = std::filesystem;

bool archive_matches(const fs::path& archive, const std::string& expected) {
  std::error_code ec;
  if (expected.empty() || !fs::is_regular_file(archive, ec)) return false;
  Digest want = strongest_digest(parse_multi_digest(expected));
  return file_digest(archive, want.algorithm) == want.hex;
}

BuildCache::BuildCache(fs::path dir) : dir_(std::move(dir)) {}

fs::path BuildCache::path_for(const std::string& digest) const {
  if (digest.empty() || digest.find('/') != std::string::npos || digest == "." || digest == "..")
    fail<InputError>("'{}' is not a digest", digest);
  return dir_ / digest;
}

std::optional<fs::path> BuildCache::find(const std::string& digest) const {
  fs::path p = path_for(digest);
  std::error_code ec;
  if (!fs::exists(p, ec)) return std::nullopt;
  if (archive_matches(p, digest)) return p;
  fs::remove(p, ec);
  return std::nullopt;
}

fs::path BuildCache::temp_path() const {
  fs::create_directories(dir_);
  return dir_ / (".tmp-" + random_hex(8));
}

fs::path BuildCache::adopt(const fs::path& temp, const std::string& digest) const {
  fs::path dest = path_for(digest);
  fs::rename(temp, dest);
  return dest;
}

fs::path BuildCache::add_copy(const fs::path& file, const std::string& digest) const {
  fs::path tmp = temp_path();
  try {
    fs::copy_file(file, tmp, fs::copy_options::overwrite_existing);
    return adopt(tmp, digest);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

}  // namespace bosh::release
