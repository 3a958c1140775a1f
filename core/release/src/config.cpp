#include "bosh/release/config.hpp"

#include <Poco/JSON/Object.h>

#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/yaml.hpp"

namespace bosh::release {

namespace fs = std::filesystem;

namespace {

YAML::Node load_optional(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return {};
  YAML::Node root = load_yaml_file(path);
  if (!root.IsNull() && !root.IsMap())
    fail<InputError>("{}: expected a map, got {}", yaml_where(root, path.string()), yaml_type_name(root));
  return root;
}

}  // namespace

ReleaseConfig load_release_config(const fs::path& release_dir) {
  ReleaseConfig config;
  const fs::path final_path = release_dir / "config/final.yml", private_path = release_dir / "config/private.yml",
                 dev_path = release_dir / "config/dev.yml";
  YAML::Node final_yml = load_optional(final_path), private_yml = load_optional(private_path),
             dev_yml = load_optional(dev_path);
  if (final_yml && final_yml.IsMap()) {
    std::string name = yaml_string(final_yml, "name", final_path.string());
    std::string final_name = yaml_string(final_yml, "final_name", final_path.string());
    if (!name.empty() && !final_name.empty()) config.name_conflict = true;
    config.name = name.empty() ? final_name : name;
    if (YAML::Node blobstore = yaml_map(final_yml, "blobstore", final_path.string())) {
      config.blobstore_provider = yaml_string(blobstore, "provider", final_path.string());
      if (YAML::Node options = yaml_map(blobstore, "options", final_path.string()))
        config.blobstore_options = yaml_to_json(options);
    }
  }
  if (config.name.empty() && dev_yml && dev_yml.IsMap())
    config.name = yaml_string(dev_yml, "dev_name", dev_path.string());
  if (private_yml && private_yml.IsMap())
    if (YAML::Node blobstore = yaml_map(private_yml, "blobstore", private_path.string())) {
      if (YAML::Node options = yaml_map(blobstore, "options", private_path.string())) {
        plugin::Json merged = config.blobstore_options.isEmpty() ? plugin::json_object() : config.blobstore_options;
        auto obj = merged.extract<Poco::JSON::Object::Ptr>();
        for (const auto& kv : options) obj->set(kv.first.Scalar(), yaml_to_json(kv.second));
        config.blobstore_options = merged;
      }
    }
  return config;
}

std::map<std::string, BlobRecord> load_blobs(const fs::path& release_dir) {
  std::map<std::string, BlobRecord> out;
  const fs::path path = release_dir / "config/blobs.yml";
  YAML::Node root = load_optional(path);
  if (!root || root.IsNull()) return out;
  for (const auto& kv : root) {
    const std::string origin = path.string();
    if (!kv.second.IsMap())
      fail<InputError>("{}: blob '{}' must be a map with size and sha", yaml_where(kv.second, origin),
                       kv.first.Scalar());
    BlobRecord record;
    std::string size = yaml_string(kv.second, "size", origin);
    try {
      record.size = std::stoull(size);
    } catch (const std::exception&) {
      fail<InputError>("{}: blob '{}' has no valid size", yaml_where(kv.second, origin), kv.first.Scalar());
    }
    record.sha = yaml_string(kv.second, "sha", origin);
    if (record.sha.empty())
      fail<InputError>("{}: blob '{}' has no sha", yaml_where(kv.second, origin), kv.first.Scalar());
    record.object_id = yaml_string(kv.second, "object_id", origin);
    out[kv.first.Scalar()] = record;
  }
  return out;
}

void save_blobs(const fs::path& release_dir, const std::map<std::string, BlobRecord>& blobs) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  for (const auto& [path, b] : blobs) {
    // As the Go CLI writes it: size, object_id, sha.
    out << YAML::Key << path << YAML::Value << YAML::BeginMap << YAML::Key << "size" << YAML::Value << b.size;
    if (!b.object_id.empty()) out << YAML::Key << "object_id" << YAML::Value << b.object_id;
    out << YAML::Key << "sha" << YAML::Value << b.sha << YAML::EndMap;
  }
  out << YAML::EndMap;
  std::string text = blobs.empty() ? "--- {}\n" : std::string(out.c_str()) + "\n";
  write_file_atomic(release_dir / "config/blobs.yml", text);
}

}  // namespace bosh::release
