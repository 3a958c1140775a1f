// Content fingerprints of jobs, packages and licenses, byte for byte as the
// BOSH CLI computes them (bosh-cli release/resource/fingerprint.go):
//
//   D( "v2" + Σ chunk(file) [sorted by relative path] + join(sorted(extra), ",") )
//   chunk  = (basename if use_basename else relative path) + digest(content) + mode
//   digest = bare sha1 hex, or "sha256:<hex>" in sha256 mode
//   mode   = "40755" dir | "symlink" unfollowed symlink (digest of the target
//            string) | "100755" any x bit | "100644"; none when exclude_mode
//   D      = sha1 hex, or sha256 hex without its "sha256:" prefix.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "bosh/common/digest.hpp"

namespace bosh::release {

struct FingerprintFile {
  std::filesystem::path path;  // where the bytes are
  std::string relative_path;   // name in the fingerprint and in the archive
  bool use_basename = false;   // license files: named by basename
  bool exclude_mode = false;   // packaging, pre_packaging, license files
};

// `follow_symlinks`: jobs follow them (content of the target, and an x-bit
// mode taken from the link itself, as bosh-cli does); packages do not.
std::string fingerprint(const std::vector<FingerprintFile>& files, const std::vector<std::string>& extra_chunks,
                        DigestAlgorithm algorithm, bool follow_symlinks);

}  // namespace bosh::release
