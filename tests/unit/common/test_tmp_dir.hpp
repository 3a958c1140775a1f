// Test helpers over bosh::TempDir: a scratch dir with `dir / "rel"`, and
// plain file writes for building fixtures.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "bosh/common/fs.hpp"

namespace bosh::testing {

class TmpDir : public bosh::TempDir {
 public:
  explicit TmpDir(const std::string& tag = "common") : TempDir("bosh-test-" + tag) {}
  std::filesystem::path operator/(const std::string& rel) const { return path() / rel; }
};

inline void write_file(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << content;
}

inline std::string read_file(const std::filesystem::path& path) { return bosh::read_file(path); }

}  // namespace bosh::testing
