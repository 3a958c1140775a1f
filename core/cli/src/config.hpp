// The CLI's config file, ~/.bosh_config by default: YAML, the classic Ruby
// CLI's keys (target, target_name, target_uuid, aliases.target, auth,
// deployment) plus `plugins:` (extra plugin files to load). Keys we do not
// know are kept as they are.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace bosh::cli {

class CliConfig {
 public:
  // A missing file is an empty config; a malformed one an InputError naming
  // the file, line and column.
  static CliConfig load(const std::filesystem::path& path);
  // Atomic (temp + rename), mode 0600: the file holds credentials.
  void save() const;

  const std::filesystem::path& path() const { return path_; }

  std::optional<std::string> target() const;
  std::optional<std::string> target_name() const;
  void set_target(const std::string& url, const std::optional<std::string>& name);

  // aliases.target: name -> URL
  std::map<std::string, std::string> target_aliases() const;
  void set_target_alias(const std::string& name, const std::string& url);

  std::vector<std::filesystem::path> plugin_files() const;

  // ca_cert: {<url>: <PEM>} — the CA a director's certificate is checked with.
  std::string ca_cert(const std::string& url) const;
  void set_ca_cert(const std::string& url, const std::string& pem);
  // deployment: {<url>: <manifest path>} — `bosh deployment FILE`, per director.
  std::optional<std::filesystem::path> deployment(const std::string& url) const;
  void set_deployment(const std::string& url, const std::filesystem::path& manifest);
  // auth: {<url>: {username, password}} (the classic CLI's keys).
  std::optional<std::pair<std::string, std::string>> credentials(const std::string& url) const;
  void set_credentials(const std::string& url, const std::string& user, const std::string& password);
  void forget_credentials(const std::string& url);
  void set_director_facts(const std::string& name, const std::string& uuid, const std::string& version);

 private:
  std::filesystem::path path_;
  YAML::Node root_;
};

// The classic CLI's URL normalisation: "10.0.0.5" -> "https://10.0.0.5:25555".
// InputError for what cannot be a director URL.
std::string normalize_director_url(const std::string& input);

}  // namespace bosh::cli
