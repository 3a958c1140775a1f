// The build cache: job, package and license archives by their digest string
// (~/.bosh/cache/<sha1 hex> or .../sha256:<hex>), the layout the Go CLI uses,
// so builds made by either CLI serve the other.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace bosh::release {

class BuildCache {
 public:
  explicit BuildCache(std::filesystem::path dir);

  // The cached archive with this digest. A file there that does not match
  // is removed (it is rebuilt or fetched again), never used.
  std::optional<std::filesystem::path> find(const std::string& digest) const;

  // A fresh temp path inside the cache, for an archive being built or
  // downloaded; `adopt` renames it under its digest.
  std::filesystem::path temp_path() const;
  std::filesystem::path adopt(const std::filesystem::path& temp, const std::string& digest) const;

  // Copies `file` (whose digest is `digest`) in, temp + rename.
  std::filesystem::path add_copy(const std::filesystem::path& file, const std::string& digest) const;

  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path path_for(const std::string& digest) const;
  std::filesystem::path dir_;
};

// Whether `archive` is a file with digest `expected` (a digest string).
bool archive_matches(const std::filesystem::path& archive, const std::string& expected);

}  // namespace bosh::release
