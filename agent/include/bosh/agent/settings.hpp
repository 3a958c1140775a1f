// The agent's settings (BOSH settings.json): who it is, where the message bus
// and blobstore are, its networks, disks and env. Values under env.bosh
// (mbus certificate, blobstores) take precedence over top-level ones.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "bosh/plugin/json.hpp"

namespace bosh::agent {

struct MbusCert {
  std::string ca, certificate, private_key;  // PEM
};

struct Settings {
  std::string agent_id;
  std::string vm_name;
  std::string mbus;                    // nats://user:pass@host:port | https://user:pass@host:port
  std::optional<MbusCert> mbus_cert;   // env.bosh.mbus.cert
  std::string blobstore_provider;      // "local", "dav", ...
  plugin::Json blobstore_options;
  plugin::Json networks;               // as given
  plugin::Json disks;
  plugin::Json env;
  plugin::Json raw;                    // the whole document
};

// Parses settings JSON; InputError naming `origin` and the field at fault.
Settings parse_settings(const std::string& text, const std::string& origin);
Settings load_settings_file(const std::filesystem::path& path);

}  // namespace bosh::agent
