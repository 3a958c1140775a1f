#include "bosh/release/index.hpp"
#include "bosh/common/random.hpp"

#include <algorithm>
#include <random>

#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/yaml.hpp"

namespace bosh::release {

namespace fs = std::filesystem;

namespace {

YAML::Node load_builds(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return {};
  YAML::Node root = load_yaml_file(path);
  if (root.IsNull()) return {};
  if (!root.IsMap()) fail<InputError>("{}: expected a map with 'builds', got {}", yaml_where(root, path.string()),
                                       yaml_type_name(root));
  return yaml_map(root, "builds", path.string());
}

std::string scalar(const YAML::Node& map, const std::string& key) {
  YAML::Node v = map[key];
  return v && v.IsScalar() ? v.Scalar() : "";
}


}  // namespace

BuildIndex BuildIndex::load(const fs::path& index_file) {
  BuildIndex index;
  index.path_ = index_file;
  YAML::Node builds = load_builds(index_file);
  if (builds)
    for (const auto& kv : builds) {
      if (!kv.second.IsMap())
        fail<InputError>("{}: build '{}' must be a map", yaml_where(kv.second, index_file.string()),
                         kv.first.Scalar());
      index.builds_[kv.first.Scalar()] = {scalar(kv.second, "version"), scalar(kv.second, "sha1"),
                                          scalar(kv.second, "blobstore_id")};
    }
  return index;
}

// Entries are matched on their version (the fingerprint), as the Go CLI does;
// the key is normally the same.
std::optional<BuildEntry> BuildIndex::find(const std::string& fingerprint) const {
  auto it = builds_.find(fingerprint);
  if (it != builds_.end() && (it->second.version == fingerprint || it->second.version.empty())) return it->second;
  for (const auto& [_, e] : builds_)
    if (e.version == fingerprint) return e;
  return std::nullopt;
}

void BuildIndex::put(const std::string& fingerprint, BuildEntry entry) { builds_[fingerprint] = std::move(entry); }

void BuildIndex::save() const {
  YAML::Node builds(YAML::NodeType::Map);
  // Each entry as the Go CLI writes it: version, blobstore_id, sha1.
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "builds" << YAML::Value << YAML::BeginMap;
  for (const auto& [fp, e] : builds_) {
    out << YAML::Key << fp << YAML::Value << YAML::BeginMap << YAML::Key << "version" << YAML::Value << e.version;
    if (!e.blobstore_id.empty()) out << YAML::Key << "blobstore_id" << YAML::Value << e.blobstore_id;
    out << YAML::Key << "sha1" << YAML::Value << e.sha1 << YAML::EndMap;
  }
  out << YAML::EndMap << YAML::Key << "format-version" << YAML::Value << YAML::DoubleQuoted << "2" << YAML::EndMap;
  write_file_atomic(path_, std::string(out.c_str()) + "\n");
}

ReleaseIndex ReleaseIndex::load(const fs::path& index_file) {
  ReleaseIndex index;
  index.path_ = index_file;
  YAML::Node builds = load_builds(index_file);
  if (builds)
    for (const auto& kv : builds)
      if (kv.second.IsMap()) index.builds_[kv.first.Scalar()] = scalar(kv.second, "version");
  return index;
}

std::vector<Version> ReleaseIndex::versions() const {
  std::vector<Version> out;
  for (const auto& [_, v] : builds_)
    if (auto parsed = Version::try_parse(v)) out.push_back(*parsed);
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<Version> ReleaseIndex::latest() const {
  auto all = versions();
  if (all.empty()) return std::nullopt;
  return all.back();
}

bool ReleaseIndex::contains(const std::string& version) const {
  for (const auto& [_, v] : builds_)
    if (v == version) return true;
  return false;
}

void ReleaseIndex::add(const std::string& version) {
  if (contains(version)) fail<InputError>("{}: release version '{}' already exists", path_.string(), version);
  builds_[random_uuid()] = version;
}

void ReleaseIndex::save() const {
  // Versions are written quoted ("1", not 1): they are strings, not numbers.
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "builds" << YAML::Value << YAML::BeginMap;
  for (const auto& [key, v] : builds_)
    out << YAML::Key << key << YAML::Value << YAML::BeginMap << YAML::Key << "version" << YAML::Value
        << YAML::DoubleQuoted << v << YAML::EndMap;
  out << YAML::EndMap << YAML::Key << "format-version" << YAML::Value << YAML::DoubleQuoted << "2" << YAML::EndMap;
  write_file_atomic(path_, std::string(out.c_str()) + "\n");
}

}  // namespace bosh::release
