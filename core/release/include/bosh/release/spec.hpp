// Job and package spec files. A wrong type is an InputError naming the file,
// line and column; a key BOSH does not know is ignored, with a warning when
// the caller collects them.
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

using Warnings = std::vector<std::string>;

JobSpec parse_job_spec(const std::string& text, const std::string& origin, Warnings* warnings = nullptr);
PackageSpec parse_package_spec(const std::string& text, const std::string& origin, Warnings* warnings = nullptr);
JobSpec load_job_spec(const std::filesystem::path& spec_file, const std::string& shown_as, Warnings* warnings = nullptr);
PackageSpec load_package_spec(const std::filesystem::path& spec_file, const std::string& shown_as,
                              Warnings* warnings = nullptr);

// Release and job/package names: letters, digits, '-', '_', '.'.
bool valid_name(const std::string& name);

}  // namespace bosh::release
