#include "bosh/agent/settings.hpp"

#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"

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

}  // namespace bosh::agent
