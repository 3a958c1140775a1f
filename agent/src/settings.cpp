#include "bosh/agent/settings.hpp"

#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/http.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/log.hpp"

namespace bosh::agent {

namespace {
Poco::JSON::Object::Ptr optional_object(const Poco::JSON::Object::Ptr& obj, const std::string& key,
                                        const std::string& what) {
  if (!obj || !obj->has(key) || obj->get(key).isEmpty()) return nullptr;
  return as_object(obj->get(key), what + "." + key);
}
}  // namespace

Settings parse_settings(const std::string& text, const std::string& origin) {
  Settings s;
  s.raw = parse_json(text, origin);
  auto root = as_object(s.raw, origin);
  s.agent_id = get_string(root, "agent_id", origin);
  if (s.agent_id.empty() || s.agent_id.find_first_of("/ .*>") != std::string::npos)
    fail<InputError>("{}: agent_id '{}' is not usable as a NATS subject token", origin, s.agent_id);
  if (auto vm = optional_object(root, "vm", origin)) s.vm_name = find_string(vm, "name", origin + ".vm").value_or("");
  s.mbus = get_string(root, "mbus", origin);
  auto env = optional_object(root, "env", origin);
  s.env = env ? plugin::Json(env) : plugin::json_object();
  auto bosh_env = optional_object(env, "bosh", origin + ".env");
  if (auto mbus = optional_object(bosh_env, "mbus", origin + ".env.bosh"))
    if (auto cert = optional_object(mbus, "cert", origin + ".env.bosh.mbus")) {
      MbusCert c;
      const std::string what = origin + ".env.bosh.mbus.cert";
      c.ca = find_string(cert, "ca", what).value_or("");
      c.certificate = find_string(cert, "certificate", what).value_or("");
      c.private_key = find_string(cert, "private_key", what).value_or("");
      if (!c.ca.empty() || !c.certificate.empty()) s.mbus_cert = c;
    }
  Poco::JSON::Object::Ptr blobstore = optional_object(root, "blobstore", origin);
  if (bosh_env && bosh_env->has("blobstores")) {
    auto list = as_array(bosh_env->get("blobstores"), origin + ".env.bosh.blobstores");
    if (list->size() > 0) blobstore = as_object(list->get(0), origin + ".env.bosh.blobstores[0]");
  }
  if (blobstore) {
    s.blobstore_provider = get_string(blobstore, "provider", origin + ".blobstore");
    s.blobstore_options =
        blobstore->has("options") ? plugin::Json(as_object(blobstore->get("options"), origin + ".blobstore.options"))
                                  : plugin::json_object();
  }
  s.networks = root->has("networks") ? root->get("networks") : plugin::json_object();
  if (!s.networks.isEmpty()) as_object(s.networks, origin + ".networks");
  s.disks = root->has("disks") ? root->get("disks") : plugin::json_object();
  return s;
}

Settings load_settings_file(const std::filesystem::path& path) { return parse_settings(read_file(path), path.string()); }

namespace {

std::string http_get(const std::string& url) {
  plugin::HttpRequest req;
  req.url = url;
  req.timeout = std::chrono::seconds(10);
  auto resp = http_request(req);
  if (resp.status != 200) fail("GET {}: HTTP {}", log::redact_url(url), resp.status);
  return resp.body;
}

std::string from_registry(const std::string& endpoint, const std::string& instance_id) {
  std::string base = endpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string url = base + "/instances/" + instance_id + "/settings";
  auto body = as_object(parse_json(http_get(url), "registry " + log::redact_url(url)), "registry reply");
  return get_string(body, "settings", "registry reply");
}

// User data: the settings themselves, or where the registry is.
std::string settings_from_user_data(const std::string& text, const std::string& origin, std::string instance_id) {
  auto data = as_object(parse_json(text, origin), origin);
  if (data->has("agent_id")) return text;
  if (!data->has("registry")) fail<InputError>("{}: neither settings (agent_id) nor a registry", origin);
  auto registry = as_object(data->get("registry"), origin + ".registry");
  if (instance_id.empty() && data->has("server"))
    instance_id = find_string(as_object(data->get("server"), origin + ".server"), "name", origin + ".server").value_or("");
  if (instance_id.empty()) fail<InputError>("{}: no server.name to ask the registry about", origin);
  return from_registry(get_string(registry, "endpoint", origin + ".registry"), instance_id);
}

}  // namespace

Settings fetch_settings(const SettingsSource& source, const std::filesystem::path& cache_file) {
  if (source.kind == SettingsSource::Kind::file) return load_settings_file(source.location);
  std::string text, origin;
  try {
    switch (source.kind) {
      case SettingsSource::Kind::registry:
        origin = "registry " + log::redact_url(source.location);
        if (source.instance_id.empty()) fail<InputError>("{}: the registry needs an instance id", origin);
        text = from_registry(source.location, source.instance_id);
        break;
      case SettingsSource::Kind::config_drive: {
        namespace fs = std::filesystem;
        fs::path user_data;
        for (const char* rel : {"openstack/latest/user_data", "ec2/latest/user-data", "user_data"})
          if (std::error_code ec; fs::exists(fs::path(source.location) / rel, ec)) {
            user_data = fs::path(source.location) / rel;
            break;
          }
        if (user_data.empty()) fail("config drive {}: no openstack/latest/user_data", source.location);
        origin = user_data.string();
        text = settings_from_user_data(read_file(user_data), origin, source.instance_id);
        break;
      }
      case SettingsSource::Kind::metadata: {
        std::string base = source.location;
        while (!base.empty() && base.back() == '/') base.pop_back();
        std::string user_data;
        for (const char* rel : {"/openstack/latest/user_data", "/latest/user-data"}) {
          try {
            user_data = http_get(base + rel);
            origin = log::redact_url(base + rel);
            break;
          } catch (const bosh::Error&) {
          }
        }
        if (user_data.empty()) fail("metadata service {}: no user data", log::redact_url(base));
        text = settings_from_user_data(user_data, origin, source.instance_id);
        break;
      }
      default: break;
    }
  } catch (const bosh::Error& e) {
    std::error_code ec;
    if (!std::filesystem::exists(cache_file, ec)) throw;
    log::warn("agent", "{}; using the settings cached in {}", e.what(), cache_file.string());
    return load_settings_file(cache_file);
  }
  Settings settings = parse_settings(text, origin);
  write_file_atomic(cache_file, text, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return settings;
}

}  // namespace bosh::agent
