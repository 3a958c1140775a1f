#include "bosh/release/fingerprint.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "bosh/common/error.hpp"

namespace bosh::release {

namespace fs = std::filesystem;

namespace {

std::string file_digest_string(const fs::path& path, DigestAlgorithm algorithm) {
  return Digest{algorithm, file_digest(path, algorithm)}.to_string();
}

std::string chunk(const FingerprintFile& file, DigestAlgorithm algorithm, bool follow_symlinks) {
  std::string out = file.use_basename ? file.path.filename().string() : file.relative_path;
  struct stat st {};
  if (::lstat(file.path.c_str(), &st) != 0)
    fail<IoError>("{}: cannot fingerprint: {}", file.path.string(), std::strerror(errno));
  const bool is_symlink = S_ISLNK(st.st_mode);
  if (is_symlink && !follow_symlinks) {
    std::error_code ec;
    fs::path target = fs::read_symlink(file.path, ec);
    if (ec) fail<IoError>("{}: cannot read link: {}", file.path.string(), ec.message());
    out += Digest{algorithm, digest_hex(algorithm, target.string())}.to_string();
  } else {
    fs::path content = file.path;
    if (is_symlink) {
      std::error_code ec;
      content = fs::canonical(file.path, ec);
      if (ec) fail<IoError>("{}: broken symlink: {}", file.path.string(), ec.message());
    }
    out += file_digest_string(content, algorithm);
  }
  if (!file.exclude_mode) {
    // Modes from lstat, as bosh-cli does (a followed symlink's own bits are 0777).
    if (S_ISDIR(st.st_mode))
      out += "40755";
    else if (is_symlink && !follow_symlinks)
      out += "symlink";
    else if (st.st_mode & 0111)
      out += "100755";
    else
      out += "100644";
  }
  return out;
}

}  // namespace

std::string fingerprint(const std::vector<FingerprintFile>& files, const std::vector<std::string>& extra_chunks,
                        DigestAlgorithm algorithm, bool follow_symlinks) {
  std::vector<const FingerprintFile*> sorted;
  sorted.reserve(files.size());
  for (const auto& f : files) sorted.push_back(&f);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto* a, const auto* b) { return a->relative_path < b->relative_path; });
  Hasher hasher(algorithm);
  hasher.update("v2");
  for (const auto* f : sorted) hasher.update(chunk(*f, algorithm, follow_symlinks));
  if (!extra_chunks.empty()) {
    std::vector<std::string> extra = extra_chunks;
    std::sort(extra.begin(), extra.end());
    std::string joined;
    for (std::size_t i = 0; i < extra.size(); ++i) joined += (i ? "," : "") + extra[i];
    hasher.update(joined);
  }
  return hasher.hex_final();
}

}  // namespace bosh::release
