// release.MF, and `bosh create release MANIFEST.yml`: the tarball of a
// release made before, from its manifest and the build cache.
#include "bosh/common/error.hpp"
#include "bosh/common/yaml.hpp"
#include "bosh/release/create.hpp"
#include "create_support.hpp"

namespace bosh::release {

namespace fs = std::filesystem;

std::string release_manifest_yaml(const CreatedRelease& release) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << release.name;
  out << YAML::Key << "version" << YAML::Value << YAML::DoubleQuoted << release.version;
  out << YAML::Key << "commit_hash" << YAML::Value << release.commit_hash;
  out << YAML::Key << "uncommitted_changes" << YAML::Value << release.uncommitted_changes;
  auto items = [&](const char* key, const std::vector<BuiltItem>& list, const char* deps_key) {
    out << YAML::Key << key << YAML::Value << YAML::BeginSeq;
    for (const auto& i : list) {
      out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << i.name << YAML::Key << "version" << YAML::Value
          << i.version << YAML::Key << "fingerprint" << YAML::Value << i.fingerprint << YAML::Key << "sha1"
          << YAML::Value << i.sha1 << YAML::Key << deps_key << YAML::Value << YAML::Flow << i.dependencies
          << YAML::EndMap;
    }
    out << YAML::EndSeq;
  };
  items("jobs", release.jobs, "packages");
  items("packages", release.packages, "dependencies");
  if (release.license) {
    out << YAML::Key << "license" << YAML::Value << YAML::BeginMap << YAML::Key << "version" << YAML::Value
        << release.license->version << YAML::Key << "fingerprint" << YAML::Value << release.license->fingerprint
        << YAML::Key << "sha1" << YAML::Value << release.license->sha1 << YAML::EndMap;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

fs::path create_tarball_from_manifest(const fs::path& release_dir, const fs::path& manifest,
                                      std::optional<fs::path> tarball, const BlobstoreAccess& blobstore,
                                      const Progress& progress, fs::path cache_dir) {
  const BuildCache cache(cache_dir.empty() ? default_build_cache() : cache_dir);
  const std::string origin = manifest.string();
  YAML::Node root = load_yaml_file(manifest);
  if (!root.IsMap()) fail<InputError>("{}: expected a release manifest (a map)", origin);
  CreatedRelease release;
  release.name = yaml_string(root, "name", origin);
  release.version = yaml_string(root, "version", origin);
  release.commit_hash = yaml_string(root, "commit_hash", origin);
  release.uncommitted_changes = yaml_string(root, "uncommitted_changes", origin) == "true";
  if (release.name.empty() || release.version.empty())
    fail<InputError>("{}: a release manifest needs name and version", origin);

  auto locate = [&](ResourceKind kind, const YAML::Node& node) {
    BuiltItem item;
    item.name = kind == ResourceKind::license ? "license" : yaml_string(node, "name", origin);
    item.version = yaml_string(node, "version", origin);
    item.fingerprint = yaml_string(node, "fingerprint", origin, item.version);
    item.sha1 = yaml_string(node, "sha1", origin);
    const char* deps_key = kind == ResourceKind::job ? "packages" : "dependencies";
    if (YAML::Node deps = yaml_list(node, deps_key, origin))
      for (const auto& d : deps) item.dependencies.push_back(d.Scalar());
    BuildEntry entry{item.fingerprint, item.sha1, ""};
    const std::string what = fmt::format("{} '{}' ({})", kind_dir(kind), item.name, item.fingerprint);
    for (const char* root : {".dev_builds", ".final_builds"}) {
      const fs::path dir = detail::index_dir(release_dir / root, kind, item.name);
      entry.blobstore_id.clear();
      if (auto found = BuildIndex::load(dir / "index.yml").find(item.fingerprint))
        if (found->sha1 == item.sha1) entry.blobstore_id = found->blobstore_id;
      if (auto archive = detail::locate_build(cache, dir, what, entry, &blobstore)) {
        item.archive = *archive;
        return item;
      }
    }
    fail("{}: {} is in neither the build cache ({}) nor .dev_builds/.final_builds with digest {}", origin, what,
         cache.dir().string(), item.sha1);
  };
  if (YAML::Node jobs = yaml_list(root, "jobs", origin))
    for (const auto& j : jobs) release.jobs.push_back(locate(ResourceKind::job, j));
  if (YAML::Node packages = yaml_list(root, "packages", origin))
    for (const auto& p : packages) release.packages.push_back(locate(ResourceKind::package, p));
  if (YAML::Node license = yaml_map(root, "license", origin)) release.license = locate(ResourceKind::license, license);

  fs::path out = tarball ? *tarball : fs::path(manifest).replace_extension(".tgz");
  if (progress) progress("Writing release tarball", 0, 1, out.string());
  detail::write_release_tarball(release, out);
  if (progress) progress("Writing release tarball", 1, 1, out.string());
  return out;
}

}  // namespace bosh::release
