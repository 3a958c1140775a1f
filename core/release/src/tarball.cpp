#include "bosh/release/tarball.hpp"

#include <set>

#include "bosh/common/archive.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/yaml.hpp"

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

ReleaseManifest verify_release_tarball(const fs::path& tarball, const fs::path& extract_to) {
  const std::string name = tarball.string();
  extract_tgz(tarball, extract_to);  // refuses unsafe or duplicate entries, naming them
  const fs::path mf = extract_to / "release.MF";
  std::error_code ec;
  if (!fs::is_regular_file(mf, ec)) fail<InputError>("{}: no release.MF", name);
  ReleaseManifest m = parse_release_manifest(read_file(mf), name + ":release.MF");

  std::set<std::string> expected_files = {"release.MF"};
  auto check = [&](const ManifestItem& item, const std::string& rel) {
    expected_files.insert(rel);
    fs::path p = extract_to / rel;
    if (!fs::is_regular_file(p, ec)) fail<InputError>("{}: release.MF lists {} but the tarball has no {}", name, item.name, rel);
    Digest want = strongest_digest(parse_multi_digest(item.sha1));
    std::string got = file_digest(p, want.algorithm);
    if (got != want.hex)
      fail<InputError>("{}: {} has {} {} but release.MF says {}", name, rel, to_string(want.algorithm), got,
                       want.hex);
  };
  std::set<std::string> package_names;
  for (const auto& p : m.packages) {
    check(p, "packages/" + p.name + ".tgz");
    package_names.insert(p.name);
  }
  for (const auto& p : m.compiled_packages) {
    check(p, "compiled_packages/" + p.name + ".tgz");
    package_names.insert(p.name);
  }
  for (const auto& pkgs : {m.packages, m.compiled_packages})
    for (const auto& p : pkgs)
      for (const auto& d : p.dependencies)
        if (!package_names.count(d))
          fail<InputError>("{}: package '{}' depends on '{}', which the release does not contain", name, p.name, d);
  for (const auto& j : m.jobs) {
    check(j, "jobs/" + j.name + ".tgz");
    for (const auto& p : j.dependencies)
      if (!package_names.count(p))
        fail<InputError>("{}: job '{}' needs package '{}', which the release does not contain", name, j.name, p);
    try {
      read_tgz_entry(extract_to / ("jobs/" + j.name + ".tgz"), "job.MF");
    } catch (const InputError&) {
      fail<InputError>("{}: jobs/{}.tgz has no job.MF", name, j.name);
    }
  }
  if (m.license) check(*m.license, "license.tgz");

  for (const auto& entry : fs::recursive_directory_iterator(extract_to)) {
    if (entry.is_directory()) continue;
    std::string rel = entry.path().lexically_relative(extract_to).generic_string();
    if (!expected_files.count(rel)) fail<InputError>("{}: {} is not listed in release.MF", name, rel);
  }
  return m;
}

}  // namespace bosh::release
