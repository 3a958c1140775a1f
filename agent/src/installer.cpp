#include "installer.hpp"

#include <random>

#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"

namespace bosh::agent {

namespace fs = std::filesystem;

namespace {
std::string suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:012x}", rng() & 0xffffffffffffULL);
}
}  // namespace

void check_path_component(const std::string& value, const std::string& what) {
  if (value.empty() || value == "." || value == ".." || value.find('/') != std::string::npos ||
      value.find('\0') != std::string::npos)
    fail<InputError>("{} '{}' is not a safe name", what, value);
}

BlobRef blob_ref(const plugin::Json& value, const std::string& what, bool needs_version) {
  auto obj = as_object(value, what);
  BlobRef ref;
  ref.name = get_string(obj, "name", what);
  check_path_component(ref.name, what + " name");
  ref.version = find_string(obj, "version", what).value_or("");
  if (needs_version || !ref.version.empty()) check_path_component(ref.version, what + " version");
  ref.sha1 = get_string(obj, "sha1", what);
  ref.blobstore_id = get_string(obj, "blobstore_id", what);
  check_path_component(ref.blobstore_id, what + " blobstore_id");
  parse_multi_digest(ref.sha1);  // InputError for a malformed digest
  return ref;
}

void replace_symlink(const fs::path& target, const fs::path& link) {
  fs::create_directories(link.parent_path());
  fs::path tmp = link.parent_path() / ("." + link.filename().string() + ".tmp-" + suffix());
  fs::create_symlink(target, tmp);
  fs::rename(tmp, link);
}

Installer::Installer(fs::path base_dir, plugin::Blobstore& blobstore)
    : base_(std::move(base_dir)), blobstore_(blobstore) {}

fs::path Installer::fetch(const BlobRef& ref) {
  const fs::path dest = base_ / "data/blobs" / ref.blobstore_id;
  fs::create_directories(dest.parent_path());
  const Digest want = strongest_digest(parse_multi_digest(ref.sha1));
  std::error_code ec;
  if (fs::exists(dest, ec) && verify_file(dest, want)) return dest;
  try {
    blobstore::get_file(blobstore_, ref.blobstore_id, dest, want);
  } catch (const plugin::BlobChecksumMismatch& e) {
    fail("{} {}: {}", ref.name, ref.version, e.what());
  } catch (const plugin::Error& e) {
    fail("{} {}: blob {}: {}", ref.name, ref.version, ref.blobstore_id, e.what());
  }
  return dest;
}

fs::path Installer::install_package(const BlobRef& ref) {
  const fs::path dest = base_ / "data/packages" / ref.name / ref.version;
  std::error_code ec;
  if (!fs::is_directory(dest, ec)) {
    fs::path blob = fetch(ref);
    fs::path tmp = dest.parent_path() / (".tmp-" + ref.version + "-" + suffix());
    fs::create_directories(tmp);
    try {
      extract_tgz(blob, tmp);
      fs::rename(tmp, dest);
    } catch (...) {
      fs::remove_all(tmp, ec);
      throw;
    }
  }
  replace_symlink(dest, base_ / "packages" / ref.name);
  return dest;
}

std::vector<std::string> Installer::install_jobs(const fs::path& rendered_archive,
                                                 const std::vector<std::string>& job_names, const std::string& hash) {
  check_path_component(hash, "configuration_hash");
  TempDir unpacked("bosh-agent-jobs");
  extract_tgz(rendered_archive, unpacked.path());
  std::error_code ec;
  for (const auto& name : job_names) {
    check_path_component(name, "job");
    if (!fs::is_directory(unpacked.path() / name, ec))
      fail<InputError>("rendered templates archive has no directory for job '{}'", name);
  }
  // Install every job before switching any link or monit file.
  std::vector<fs::path> dests;
  for (const auto& name : job_names) {
    const fs::path dest = base_ / "data/jobs" / name / hash;
    if (!fs::is_directory(dest, ec)) {
      fs::path tmp = dest.parent_path() / (".tmp-" + suffix());
      fs::create_directories(tmp.parent_path());
      fs::rename(unpacked.path() / name, tmp);
      fs::rename(tmp, dest);
    }
    fs::create_directories(base_ / "sys/log" / name);
    fs::create_directories(base_ / "sys/run" / name);
    dests.push_back(dest);
  }
  const fs::path monit_dir = base_ / "monit/job";
  fs::create_directories(monit_dir);
  for (const auto& entry : fs::directory_iterator(monit_dir, ec))
    if (entry.path().extension() == ".monitrc") fs::remove(entry.path(), ec);
  for (std::size_t i = 0; i < job_names.size(); ++i) {
    replace_symlink(dests[i], base_ / "jobs" / job_names[i]);
    if (fs::exists(dests[i] / "monit", ec))
      write_file_atomic(monit_dir / fmt::format("{:04d}_{}.monitrc", i, job_names[i]), read_file(dests[i] / "monit"));
  }
  return job_names;
}

}  // namespace bosh::agent
