// The only code that loads plugins.
//
// Load order for every candidate file (STYLE.md, "Plugins"):
//   probe (ELF magic, bosh_plugin_info among its exports; no plugin code runs)
//   -> dlopen(RTLD_NOW | RTLD_LOCAL)  (missing symbols fail here, with dlerror's text)
//   -> read and validate PluginInfo (size, API major/minor, ABI tag, kind, name)
//   -> unique name per kind -> the kind's factory must be exported.
// A refusal is recorded with the file and the reason, and loading goes on.
//
// Objects made by a plugin are handed out wrapped: every call runs inside a
// guard (plugin Errors become host-made copies, anything else a CloudError
// naming the plugin), and the wrapper keeps the shared library loaded for as
// long as the object lives.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bosh/plugin/blobstore.hpp"
#include "bosh/plugin/cli.hpp"
#include "bosh/plugin/cpi.hpp"
#include "bosh/plugin/plugin.hpp"

namespace bosh::plugin_host {

namespace fs = std::filesystem;

struct PluginRecord {
  std::string kind;  // "cpi" | "blobstore" | "cli"
  std::string name;
  std::string version;
  std::string description;
  std::string compiler;
  std::string abi_tag;
  std::uint32_t api_major = 0;
  std::uint32_t api_minor = 0;
  fs::path path;  // empty for built-in plugins
  bool builtin = false;
};

struct Refusal {
  fs::path path;
  std::string reason;
  std::string message() const { return path.string() + ": " + reason; }
};

// Where plugins are looked for, in order: $BOSH_PLUGIN_PATH (colon-separated),
// ~/.bosh/plugins, and the install's lib/bosh/plugins (next to bin/ of the
// running program).
std::vector<fs::path> default_plugin_directories();

class PluginHost {
 public:
  // `host_name` is the program loading plugins ("bosh", "bosh-director"),
  // reported to plugins through HostServices::host_version.
  explicit PluginHost(std::string host_name = "bosh");
  ~PluginHost();
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;

  // Loads one file. Returns false (and records a refusal) when refused.
  bool load_file(const fs::path& path);
  // Loads every *.so in the directory, in name order. A missing directory is
  // not an error (most users have no ~/.bosh/plugins).
  void load_directory(const fs::path& dir);
  // The configured files first (a config's `plugins:` list, director.yml's
  // cloud.plugin), then every default directory.
  void load_all(const std::vector<fs::path>& configured_files = {});

  // Built-in plugins (linked into the program) share the registry, so
  // `bosh plugins` lists them and a .so cannot take their names.
  void register_builtin_cpi(std::string name, std::string version, std::string description,
                            std::function<plugin::cpi_factory_t> factory);
  void register_builtin_blobstore(std::string name, std::string version, std::string description,
                                  std::function<plugin::blobstore_factory_t> factory);
  void register_builtin_cli(std::string name, std::string version, std::string description,
                            std::function<plugin::cli_factory_t> factory);

  const std::vector<PluginRecord>& plugins() const;
  const std::vector<Refusal>& refusals() const;
  const PluginRecord* find(std::string_view kind, std::string_view name) const;

  // Instantiate a plugin's object. Error when no plugin of that kind and name
  // is loaded; the factory runs inside the boundary guard.
  std::shared_ptr<plugin::Cpi> create_cpi(const std::string& name, const plugin::Json& config);
  std::shared_ptr<plugin::Blobstore> create_blobstore(const std::string& name,
                                                      const plugin::Json& options);
  std::shared_ptr<plugin::CommandGroup> create_cli(const std::string& name);

  // HostServices for the host's own code under `component` (the CLI hands
  // these to built-in commands): same logging, temp dir and cancellation.
  std::unique_ptr<plugin::HostServices> make_services(std::string component);

  // Cancels every in-flight operation of every plugin (HostServices::cancelled).
  void cancel_all();

  // The host's own ABI tag and API version, for messages and `bosh plugins`.
  static std::string host_abi_tag();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bosh::plugin_host
