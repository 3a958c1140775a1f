#include "bosh/director/config.hpp"

#include <crypt.h>

#include <Poco/JSON/Object.h>

#include <random>

#include "bosh/common/error.hpp"
#include "bosh/common/yaml.hpp"

namespace bosh::director {

namespace {

int number(const YAML::Node& root, const std::string& key, const std::string& origin, int fallback) {
  std::string text = yaml_string(root, key, origin, std::to_string(fallback));
  try {
    std::size_t used = 0;
    int v = std::stoi(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  fail<InputError>("{}: '{}' must be a number, got '{}'", yaml_where(root[key], origin), key, text);
}

}  // namespace

DirectorConfig load_director_config(const std::filesystem::path& file) {
  const std::string origin = file.string();
  YAML::Node root = load_yaml_file(file);
  if (!root.IsMap()) fail<InputError>("{}: expected a map", origin);
  DirectorConfig c;
  c.name = yaml_string(root, "name", origin, "bosh");
  c.address = yaml_string(root, "address", origin, "0.0.0.0");
  c.port = number(root, "port", origin, 25555);
  c.state_dir = yaml_string(root, "state_dir", origin);
  if (c.state_dir.empty()) fail<InputError>("{}: 'state_dir' is required", origin);
  c.db = yaml_string(root, "db", origin, "sqlite://" + (c.state_dir / "director.db").string());
  if (YAML::Node tls = yaml_map(root, "tls", origin)) {
    c.tls_cert = yaml_string(tls, "cert", origin);
    c.tls_key = yaml_string(tls, "key", origin);
  }
  if (YAML::Node users = yaml_list(root, "users", origin))
    for (const auto& u : users) {
      if (!u.IsMap()) fail<InputError>("{}: each user must be a map", yaml_where(u, origin));
      User user{yaml_string(u, "name", origin), yaml_string(u, "password_hash", origin)};
      if (yaml_string(u, "password", origin) != "")
        fail<InputError>("{}: user '{}' has a plain password; store password_hash (bosh-director hash-password)",
                         yaml_where(u, origin), user.name);
      if (user.name.empty() || user.password_hash.rfind("$6$", 0) != 0)
        fail<InputError>("{}: a user needs a name and a sha512-crypt password_hash", yaml_where(u, origin));
      c.users.push_back(std::move(user));
    }
  if (c.users.empty()) fail<InputError>("{}: 'users' is required (nobody could log in)", origin);
  if (YAML::Node b = yaml_map(root, "blobstore", origin)) {
    c.blobstore_provider = yaml_string(b, "provider", origin);
    if (YAML::Node o = yaml_map(b, "options", origin)) c.blobstore_options = yaml_to_json(o);
  }
  if (YAML::Node cpi = yaml_map(root, "cpi", origin)) {
    c.cpi_plugin = yaml_string(cpi, "plugin", origin);
    if (YAML::Node p = yaml_map(cpi, "properties", origin)) c.cpi_properties = yaml_to_typed_json(p);
  }
  c.nats = yaml_string(root, "nats", origin);
  if (YAML::Node gw = yaml_map(root, "ssh_gateway", origin)) {
    c.ssh_gateway_host = yaml_string(gw, "host", origin);
    c.ssh_gateway_user = yaml_string(gw, "user", origin);
  }
  c.workers = number(root, "workers", origin, 3);
  c.max_upload_mb = number(root, "max_upload_mb", origin, 10240);
  c.max_request_mb = number(root, "max_request_mb", origin, 16);
  if (YAML::Node http = yaml_map(root, "http", origin)) {
    auto positive = [&](const char* key, int fallback) {
      const int v = number(http, key, origin, fallback);
      if (v < 1) fail<InputError>("{}: http.{} must be at least 1, got {}", yaml_where(http[key], origin), key, v);
      return v;
    };
    c.http.workers = positive("workers", c.http.workers);
    c.http.queue = positive("queue", c.http.queue);
    c.http.max_connections = positive("max_connections", c.http.max_connections);
    c.http.head_timeout_ms = positive("head_timeout_ms", c.http.head_timeout_ms);
    c.http.idle_timeout_ms = positive("idle_timeout_ms", c.http.idle_timeout_ms);
    c.http.io_timeout_ms = positive("io_timeout_ms", c.http.io_timeout_ms);
  }
  if (YAML::Node x = yaml_map(root, "extract_limits", origin)) {
    c.extract.max_mb = number(x, "max_mb", origin, static_cast<int>(c.extract.max_mb));
    c.extract.ratio_floor_mb = number(x, "ratio_floor_mb", origin, static_cast<int>(c.extract.ratio_floor_mb));
    c.extract.max_entries = number(x, "max_entries", origin, static_cast<int>(c.extract.max_entries));
    const std::string ratio = yaml_string(x, "max_ratio", origin, "100");
    try {
      c.extract.max_ratio = std::stod(ratio);
    } catch (const std::exception&) {
      fail<InputError>("{}: extract_limits.max_ratio must be a number, got '{}'", yaml_where(x["max_ratio"], origin), ratio);
    }
    if (c.extract.max_mb < 1 || c.extract.max_ratio < 1 || c.extract.max_entries < 1)
      fail<InputError>("{}: extract_limits must be positive", yaml_where(x, origin));
  }
  c.agent_wait_timeout = static_cast<int>(number(root, "agent_wait_timeout", origin, 600));
  c.max_threads = std::max(1, static_cast<int>(number(root, "max_threads", origin, 32)));
  return c;
}

std::string hash_password(const std::string& password) {
  static const char alphabet[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::random_device rd;
  std::string salt = "$6$";
  for (int i = 0; i < 16; ++i) salt += alphabet[rd() % 64];
  crypt_data data{};
  const char* out = crypt_r(password.c_str(), salt.c_str(), &data);
  if (!out || out[0] == '*') fail("cannot hash the password");
  return out;
}

bool verify_password(const std::string& password, const std::string& hash) {
  crypt_data data{};
  const char* out = crypt_r(password.c_str(), hash.c_str(), &data);
  if (!out || out[0] == '*') return false;
  const std::string got = out;
  if (got.size() != hash.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < got.size(); ++i) diff |= static_cast<unsigned char>(got[i] ^ hash[i]);
  return diff == 0;
}

}  // namespace bosh::director
