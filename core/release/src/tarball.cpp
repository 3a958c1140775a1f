#include "bosh/release/tarball.hpp"

#include <set>

#include "bosh/common/archive.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/yaml.hpp"
#include "bosh/release/spec.hpp"

namespace bosh::release {

namespace fs = std::filesystem;

namespace {

std::vector<ManifestItem> items(const YAML::Node& root, const std::string& key, const std::string& deps_key,
                                const std::string& origin) {
  std::vector<ManifestItem> out;
  YAML::Node list = yaml_list(root, key, origin);
  if (!list) return out;
  for (const auto& n : list) {
    if (!n.IsMap()) fail<InputError>("{}: each of '{}' must be a map", yaml_where(n, origin), key);
    ManifestItem item;
    item.name = yaml_string(n, "name", origin);
    item.version = yaml_string(n, "version", origin);
    item.fingerprint = yaml_string(n, "fingerprint", origin, item.version);
    item.sha1 = yaml_string(n, "sha1", origin);
    item.stemcell = yaml_string(n, "stemcell", origin);
    if (item.name.empty() || item.sha1.empty())
      fail<InputError>("{}: an entry of '{}' needs name and sha1", yaml_where(n, origin), key);
    if (YAML::Node deps = yaml_list(n, deps_key, origin))
      for (const auto& d : deps) item.dependencies.push_back(d.Scalar());
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace

ReleaseManifest parse_release_manifest(const std::string& text, const std::string& origin) {
  YAML::Node root = parse_yaml(text, origin);
  if (!root.IsMap()) fail<InputError>("{}: expected a map, got {}", yaml_where(root, origin), yaml_type_name(root));
  ReleaseManifest m;
  m.name = yaml_string(root, "name", origin);
  m.version = yaml_string(root, "version", origin);
  m.commit_hash = yaml_string(root, "commit_hash", origin);
  m.uncommitted_changes = yaml_string(root, "uncommitted_changes", origin) == "true";
  if (m.name.empty()) fail<InputError>("{}: 'name' is required", origin);
  if (m.version.empty()) fail<InputError>("{}: 'version' is required", origin);
  m.jobs = items(root, "jobs", "packages", origin);
  m.packages = items(root, "packages", "dependencies", origin);
  m.compiled_packages = items(root, "compiled_packages", "dependencies", origin);
  if (YAML::Node license = yaml_map(root, "license", origin)) {
    ManifestItem l;
    l.name = "license";
    l.version = yaml_string(license, "version", origin);
    l.fingerprint = yaml_string(license, "fingerprint", origin, l.version);
    l.sha1 = yaml_string(license, "sha1", origin);
    m.license = l;
  }
  return m;
}

ReleaseManifest read_release_tarball_manifest(const fs::path& tarball) {
  return parse_release_manifest(read_tgz_entry(tarball, "release.MF"), tarball.string() + ":release.MF");
}

ReleaseManifest verify_release_tarball(const fs::path& tarball) {
  TempDir tmp("bosh-verify-release");
  return verify_release_tarball(tarball, tmp.path());
}

namespace {

// A release's own license files beside release.MF (the Go CLI packs them).
bool top_level_license_file(const std::string& rel) {
  return rel.find('/') == std::string::npos && (rel.rfind("LICENSE", 0) == 0 || rel.rfind("NOTICE", 0) == 0);
}

// A nested archive that is a .tgz, or an InputError naming it as `where`.
void readable(const fs::path& archive, const std::string& where) {
  try {
    list_tgz(archive);
  } catch (const InputError& e) {
    std::string why = e.what();
    if (why.rfind(archive.string() + ": ", 0) == 0) why = why.substr(archive.string().size() + 2);
    fail<InputError>("{}: {}", where, why);
  }
}

// A job archive: job.MF parses, and what it names is there.
void check_job_archive(const fs::path& archive, const std::string& where) {
  std::set<std::string> names;
  for (const auto& e : list_tgz(archive))
    if (e.type == ArchiveEntryType::file) names.insert(e.name.rfind("./", 0) == 0 ? e.name.substr(2) : e.name);
  if (!names.count("job.MF")) fail<InputError>("{}: the job archive has no job.MF", where);
  const JobSpec spec = parse_job_spec(read_tgz_entry(archive, "job.MF"), where + ": job.MF");
  if (!names.count("monit")) fail<InputError>("{}: the job archive has no monit file", where);
  for (const auto& [src, dest] : spec.templates)
    if (!names.count("templates/" + src))
      fail<InputError>("{}: job.MF names template '{}' but the job archive has no templates/{}", where, src, src);
}

}  // namespace

ReleaseManifest verify_release_tarball(const fs::path& tarball, const fs::path& extract_to,
                                       const VerifyOptions& options) {
  const std::string name = options.origin.empty() ? tarball.string() : options.origin;
  try {
    extract_tgz(tarball, extract_to);  // refuses unsafe, duplicate or oversized entries, naming them
  } catch (const InputError& e) {
    // The message names the file extracted; the user knows the upload by `name`.
    std::string why = e.what();
    if (why.rfind(tarball.string() + ": ", 0) == 0) why = why.substr(tarball.string().size() + 2);
    fail<InputError>("{}: {}", name, why);
  }
  const fs::path mf = extract_to / "release.MF";
  std::error_code ec;
  if (!fs::is_regular_file(mf, ec)) fail<InputError>("{}: no release.MF", name);
  if (fs::file_size(mf, ec) > (64u << 20)) fail<InputError>("{}: release.MF is larger than 64 MiB", name);
  ReleaseManifest m = parse_release_manifest(read_file(mf), name + ":release.MF");

  std::set<std::string> expected_files = {"release.MF"};
  // Returns false when the archive is absent and the receiver has it.
  auto check = [&](const ManifestItem& item, const std::string& where, const std::string& rel, bool may_be_absent) {
    expected_files.insert(rel);
    fs::path p = extract_to / rel;
    const Digest want = [&] {
      try {
        return strongest_digest(parse_multi_digest(item.sha1));
      } catch (const InputError& e) {
        fail<InputError>("{}: {}.sha1: {}", name, where, e.what());
      }
    }();
    if (!fs::is_regular_file(p, ec)) {
      if (may_be_absent) return false;
      fail<InputError>("{}: {} ({}) has no {} in the tarball", name, where, item.name, rel);
    }
    const std::string got = file_digest(p, want.algorithm);
    if (got != want.hex)
      fail<InputError>("{}: {}.sha1: {} has {} {} but release.MF says {}", name, where, rel, to_string(want.algorithm),
                       got, want.hex);
    return true;
  };
  std::set<std::string> package_names;
  int i = 0;
  for (const auto& p : m.packages) {
    const std::string where = fmt::format("release.MF: packages[{}]", i++);
    const bool absent_ok = options.already_have && options.already_have(p, false);
    if (check(p, where, "packages/" + p.name + ".tgz", absent_ok))
      readable(extract_to / ("packages/" + p.name + ".tgz"), fmt::format("{}: {} ({}): packages/{}.tgz", name, where, p.name, p.name));
    package_names.insert(p.name);
  }
  i = 0;
  for (const auto& p : m.compiled_packages) {
    const std::string where = fmt::format("release.MF: compiled_packages[{}]", i++);
    const bool absent_ok = options.already_have && options.already_have(p, true);
    if (check(p, where, "compiled_packages/" + p.name + ".tgz", absent_ok))
      readable(extract_to / ("compiled_packages/" + p.name + ".tgz"),
               fmt::format("{}: {} ({}): compiled_packages/{}.tgz", name, where, p.name, p.name));
    package_names.insert(p.name);
  }
  for (const auto& pkgs : {m.packages, m.compiled_packages})
    for (const auto& p : pkgs)
      for (const auto& d : p.dependencies)
        if (!package_names.count(d))
          fail<InputError>("{}: package '{}' depends on '{}', which the release does not contain", name, p.name, d);
  i = 0;
  for (const auto& j : m.jobs) {
    const std::string where = fmt::format("release.MF: jobs[{}]", i++);
    check(j, where, "jobs/" + j.name + ".tgz", false);
    for (const auto& p : j.dependencies)
      if (!package_names.count(p))
        fail<InputError>("{}: job '{}' needs package '{}', which the release does not contain", name, j.name, p);
    try {
      check_job_archive(extract_to / ("jobs/" + j.name + ".tgz"), fmt::format("{} ({}): jobs/{}.tgz", where, j.name, j.name));
    } catch (const InputError& e) {
      std::string why = e.what();
      const std::string temp = (extract_to / ("jobs/" + j.name + ".tgz")).string() + ": ";
      if (why.rfind(temp, 0) == 0) why = fmt::format("{} ({}): jobs/{}.tgz: {}", where, j.name, j.name, why.substr(temp.size()));
      fail<InputError>("{}: {}", name, why);
    }
  }
  if (m.license) check(*m.license, "release.MF: license", "license.tgz", false);

  for (const auto& entry : fs::recursive_directory_iterator(extract_to)) {
    if (entry.is_directory()) continue;
    std::string rel = entry.path().lexically_relative(extract_to).generic_string();
    if (!expected_files.count(rel) && !top_level_license_file(rel))
      fail<InputError>("{}: {} is not listed in release.MF", name, rel);
  }
  return m;
}

}  // namespace bosh::release
