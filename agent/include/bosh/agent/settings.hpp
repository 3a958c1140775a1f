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

// Where settings come from (BOSH agent.json's Infrastructure.Settings.Sources).
struct SettingsSource {
  enum class Kind { file, registry, config_drive, metadata };
  Kind kind = Kind::file;
  std::string location;     // file path | registry URL | config drive dir | metadata base URL
  std::string instance_id;  // registry: whose settings (default: server.name from user data)
};

// Reads the settings from their source. Remote sources: user data either
// holds the full settings (registry-less, CPI API v2) or points at a registry
// ({"registry": {"endpoint"}, "server": {"name"}}), whose
// GET /instances/<id>/settings answers {"settings": "<JSON>", "status": "ok"}.
// What was read is cached in `cache_file` (0600); when the source cannot be
// reached the cache is used, with a warning.
Settings fetch_settings(const SettingsSource& source, const std::filesystem::path& cache_file);

// Parses settings JSON; InputError naming `origin` and the field at fault.
Settings parse_settings(const std::string& text, const std::string& origin);
Settings load_settings_file(const std::filesystem::path& path);

}  // namespace bosh::agent
