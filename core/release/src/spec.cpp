#include "bosh/release/spec.hpp"

#include <algorithm>
#include <set>

#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/yaml.hpp"

namespace bosh::release {

namespace {

// Keys BOSH does not know are ignored, as BOSH does (specs are written by
// many hands and tools add their own); each is reported once in `warnings`.
void check_keys(const YAML::Node& map, const std::string& origin, const std::set<std::string>& known,
                const std::string& what, Warnings* warnings) {
  for (const auto& kv : map) {
    const std::string key = kv.first.Scalar();
    if (known.count(key) || !warnings) continue;
    warnings->push_back(fmt::format("{}: unknown key '{}' in {} ignored", yaml_where(kv.first, origin), key, what));
  }
}

YAML::Node root_map(const std::string& text, const std::string& origin) {
  YAML::Node root = parse_yaml(text, origin);
  if (!root.IsMap()) fail<InputError>("{}: expected a map, got {}", yaml_where(root, origin), yaml_type_name(root));
  return root;
}

std::vector<std::string> string_list(const YAML::Node& map, const std::string& key, const std::string& origin) {
  std::vector<std::string> out;
  YAML::Node list = yaml_list(map, key, origin);
  if (!list) return out;
  for (const auto& item : list) {
    if (!item.IsScalar())
      fail<InputError>("{}: each of '{}' must be a string, got {}", yaml_where(item, origin), key,
                       yaml_type_name(item));
    out.push_back(item.Scalar());
  }
  return out;
}

std::string required_name(const YAML::Node& root, const std::string& origin) {
  std::string name = yaml_string(root, "name", origin);
  if (name.empty()) fail<InputError>("{}: 'name' is required", origin);
  if (!valid_name(name))
    fail<InputError>("{}: name '{}' may only contain letters, digits, '-', '_' and '.'",
                     yaml_where(root["name"], origin), name);
  return name;
}

bool yaml_bool(const YAML::Node& map, const std::string& key, const std::string& origin) {
  YAML::Node v = map[key];
  if (!v || v.IsNull()) return false;
  if (!v.IsScalar() || (v.Scalar() != "true" && v.Scalar() != "false"))
    fail<InputError>("{}: '{}' must be true or false", yaml_where(v, origin), key);
  return v.Scalar() == "true";
}

std::vector<LinkSpec> links(const YAML::Node& root, const std::string& key, const std::string& origin,
                            Warnings* warnings) {
  std::vector<LinkSpec> out;
  YAML::Node list = yaml_list(root, key, origin);
  if (!list) return out;
  for (const auto& item : list) {
    if (!item.IsMap())
      fail<InputError>("{}: each of '{}' must be a map, got {}", yaml_where(item, origin), key, yaml_type_name(item));
    check_keys(item, origin, {"name", "type", "optional", "properties"}, "a link", warnings);
    LinkSpec link;
    link.name = yaml_string(item, "name", origin);
    link.type = yaml_string(item, "type", origin);
    if (link.name.empty() || link.type.empty())
      fail<InputError>("{}: a link in '{}' needs a name and a type", yaml_where(item, origin), key);
    link.optional = yaml_bool(item, "optional", origin);
    link.properties = string_list(item, "properties", origin);
    out.push_back(std::move(link));
  }
  return out;
}

}  // namespace

bool valid_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
         });
}

JobSpec parse_job_spec(const std::string& text, const std::string& origin, Warnings* warnings) {
  YAML::Node root = root_map(text, origin);
  check_keys(root, origin,
             {"name", "description", "templates", "packages", "properties", "consumes", "provides", "logs",
              "custom_provider_definitions"},
             "a job spec", warnings);
  JobSpec spec;
  spec.name = required_name(root, origin);
  spec.description = yaml_string(root, "description", origin);
  if (YAML::Node templates = yaml_map(root, "templates", origin)) {
    for (const auto& kv : templates) {
      if (!kv.second.IsScalar())
        fail<InputError>("{}: template '{}' must map to a destination path, got {}", yaml_where(kv.second, origin),
                         kv.first.Scalar(), yaml_type_name(kv.second));
      spec.templates[kv.first.Scalar()] = kv.second.Scalar();
    }
  }
  spec.packages = string_list(root, "packages", origin);
  if (YAML::Node props = yaml_map(root, "properties", origin)) {
    for (const auto& kv : props) {
      PropertySpec p;
      if (kv.second.IsMap()) {
        check_keys(kv.second, origin, {"description", "default", "example", "examples", "type", "env"},
                   "property '" + kv.first.Scalar() + "'", warnings);
        p.description = yaml_string(kv.second, "description", origin);
        p.type = yaml_string(kv.second, "type", origin);
        if (kv.second["default"]) p.default_value = YAML::Clone(kv.second["default"]);
        if (kv.second["example"]) p.example = YAML::Clone(kv.second["example"]);
      } else if (!kv.second.IsNull()) {
        fail<InputError>("{}: property '{}' must be a map, got {}", yaml_where(kv.second, origin), kv.first.Scalar(),
                         yaml_type_name(kv.second));
      }
      spec.properties[kv.first.Scalar()] = std::move(p);
    }
  }
  spec.consumes = links(root, "consumes", origin, warnings);
  spec.provides = links(root, "provides", origin, warnings);
  return spec;
}

PackageSpec parse_package_spec(const std::string& text, const std::string& origin, Warnings* warnings) {
  YAML::Node root = root_map(text, origin);
  check_keys(root, origin, {"name", "dependencies", "files", "excluded_files", "description"}, "a package spec",
             warnings);
  PackageSpec spec;
  spec.name = required_name(root, origin);
  spec.dependencies = string_list(root, "dependencies", origin);
  spec.files = string_list(root, "files", origin);
  spec.excluded_files = string_list(root, "excluded_files", origin);
  return spec;
}

JobSpec load_job_spec(const std::filesystem::path& spec_file, const std::string& shown_as, Warnings* warnings) {
  return parse_job_spec(read_file(spec_file), shown_as, warnings);
}

PackageSpec load_package_spec(const std::filesystem::path& spec_file, const std::string& shown_as, Warnings* warnings) {
  return parse_package_spec(read_file(spec_file), shown_as, warnings);
}

}  // namespace bosh::release
