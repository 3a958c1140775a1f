// Job and package spec files. Parsing is strict: an unknown key or a wrong
// type is an InputError naming the file, line and column.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace bosh::release {

struct LinkSpec {
  std::string name;
  std::string type;
  bool optional = false;
  std::vector<std::string> properties;  // provides only
};

struct PropertySpec {
  std::string description;
  std::optional<YAML::Node> default_value;
  std::optional<YAML::Node> example;
  std::string type;
};

struct JobSpec {
  std::string name;
  std::string description;
  std::map<std::string, std::string> templates;  // source under templates/ -> destination
  std::vector<std::string> packages;
  std::map<std::string, PropertySpec> properties;
  std::vector<LinkSpec> consumes;
  std::vector<LinkSpec> provides;
};

struct PackageSpec {
  std::string name;
  std::vector<std::string> dependencies;
  std::vector<std::string> files;
  std::vector<std::string> excluded_files;
};

JobSpec parse_job_spec(const std::string& text, const std::string& origin);
PackageSpec parse_package_spec(const std::string& text, const std::string& origin);
JobSpec load_job_spec(const std::filesystem::path& spec_file, const std::string& shown_as);
PackageSpec load_package_spec(const std::filesystem::path& spec_file, const std::string& shown_as);

// Release and job/package names: letters, digits, '-', '_', '.'.
bool valid_name(const std::string& name);

}  // namespace bosh::release
