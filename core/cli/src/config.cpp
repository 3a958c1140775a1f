#include "config.hpp"

#include <Poco/Exception.h>
#include <Poco/URI.h>

#include <algorithm>

#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/yaml.hpp"

namespace bosh::cli {

CliConfig CliConfig::load(const std::filesystem::path& path) {
  CliConfig config;
  config.path_ = path;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    config.root_ = YAML::Node(YAML::NodeType::Map);
    return config;
  }
  config.root_ = load_yaml_file(path);
  if (config.root_.IsNull()) config.root_ = YAML::Node(YAML::NodeType::Map);
  if (!config.root_.IsMap())
    fail<InputError>("{}: expected a map of settings, got {}", yaml_where(config.root_, path.string()),
                     yaml_type_name(config.root_));
  // Validate the keys we read, so a bad type is reported at load.
  const std::string origin = path.string();
  yaml_string(config.root_, "target", origin);
  yaml_string(config.root_, "target_name", origin);
  if (YAML::Node aliases = yaml_map(config.root_, "aliases", origin)) {
    if (YAML::Node targets = yaml_map(aliases, "target", origin))
      for (const auto& kv : targets)
        if (!kv.second.IsScalar())
          fail<InputError>("{}: alias '{}' must be a URL string, got {}", yaml_where(kv.second, origin),
                           kv.first.Scalar(), yaml_type_name(kv.second));
  }
  if (YAML::Node plugins = yaml_list(config.root_, "plugins", origin))
    for (const auto& p : plugins)
      if (!p.IsScalar())
        fail<InputError>("{}: each of 'plugins' must be a file path, got {}", yaml_where(p, origin),
                         yaml_type_name(p));
  return config;
}

void CliConfig::save() const {
  write_file_atomic(path_, to_yaml(root_), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

std::optional<std::string> CliConfig::target() const {
  std::string t = yaml_string(root_, "target", path_.string());
  if (t.empty()) return std::nullopt;
  return t;
}

std::optional<std::string> CliConfig::target_name() const {
  std::string t = yaml_string(root_, "target_name", path_.string());
  if (t.empty()) return std::nullopt;
  return t;
}

void CliConfig::set_target(const std::string& url, const std::optional<std::string>& name) {
  root_["target"] = url;
  if (name)
    root_["target_name"] = *name;
  else
    root_.remove("target_name");
  // Facts learned from the old director no longer hold.
  root_.remove("target_uuid");
  root_.remove("target_version");
}

std::map<std::string, std::string> CliConfig::target_aliases() const {
  std::map<std::string, std::string> out;
  if (YAML::Node aliases = root_["aliases"]; aliases && aliases.IsMap())
    if (YAML::Node targets = aliases["target"]; targets && targets.IsMap())
      for (const auto& kv : targets) out[kv.first.Scalar()] = kv.second.Scalar();
  return out;
}

void CliConfig::set_target_alias(const std::string& name, const std::string& url) {
  root_["aliases"]["target"][name] = url;
}

std::vector<std::filesystem::path> CliConfig::plugin_files() const {
  std::vector<std::filesystem::path> out;
  if (YAML::Node plugins = root_["plugins"]; plugins && plugins.IsSequence())
    for (const auto& p : plugins) out.push_back(expand_user(p.Scalar()));
  return out;
}

std::string CliConfig::ca_cert(const std::string& url) const {
  YAML::Node certs = root_["ca_cert"];
  if (certs && certs.IsMap() && certs[url] && certs[url].IsScalar()) return certs[url].Scalar();
  return "";
}

void CliConfig::set_ca_cert(const std::string& url, const std::string& pem) { root_["ca_cert"][url] = pem; }

std::optional<std::filesystem::path> CliConfig::deployment(const std::string& url) const {
  YAML::Node d = root_["deployment"];
  if (d && d.IsMap() && d[url] && d[url].IsScalar()) return std::filesystem::path(d[url].Scalar());
  return std::nullopt;
}

void CliConfig::set_deployment(const std::string& url, const std::filesystem::path& manifest) {
  root_["deployment"][url] = manifest.string();
}

std::optional<std::pair<std::string, std::string>> CliConfig::credentials(const std::string& url) const {
  YAML::Node auth = root_["auth"];
  if (!auth || !auth.IsMap() || !auth[url] || !auth[url].IsMap()) return std::nullopt;
  YAML::Node a = auth[url];
  if (!a["username"] || !a["password"]) return std::nullopt;
  return std::make_pair(a["username"].as<std::string>(), a["password"].as<std::string>());
}

void CliConfig::set_credentials(const std::string& url, const std::string& user, const std::string& password) {
  root_["auth"][url]["username"] = user;
  root_["auth"][url]["password"] = password;
}

void CliConfig::forget_credentials(const std::string& url) {
  if (root_["auth"] && root_["auth"].IsMap()) root_["auth"].remove(url);
}

void CliConfig::set_director_facts(const std::string& name, const std::string& uuid, const std::string& version) {
  root_["target_director_name"] = name;
  root_["target_uuid"] = uuid;
  root_["target_version"] = version;
}

std::string normalize_director_url(const std::string& input) {
  if (input.empty()) fail<InputError>("director URL is empty");
  std::string url = input;
  if (url.find("://") == std::string::npos) url = "https://" + url;
  Poco::URI uri;
  try {
    uri = Poco::URI(url);
  } catch (const Poco::Exception& e) {
    fail<InputError>("'{}' is not a director URL: {}", input, e.displayText());
  }
  if (uri.getScheme() != "https" && uri.getScheme() != "http")
    fail<InputError>("'{}' is not a director URL: scheme must be https (or http)", input);
  if (uri.getHost().empty()) fail<InputError>("'{}' is not a director URL: no host", input);
  // Poco fills in the scheme's default port; BOSH's default is 25555.
  const size_t start = url.find("://") + 3;
  const std::string authority = url.substr(start, url.find('/', start) - start);
  const size_t bracket = authority.rfind(']');  // IPv6 literal
  const size_t at = authority.rfind('@');
  const size_t from = std::max(bracket == std::string::npos ? 0 : bracket, at == std::string::npos ? 0 : at);
  const bool explicit_port = authority.find(':', from) != std::string::npos;
  int port = explicit_port ? uri.getPort() : 25555;
  std::string host = uri.getHost();
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return fmt::format("{}://{}:{}", uri.getScheme(), host, port);
}

}  // namespace bosh::cli
