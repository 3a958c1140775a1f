#include "bosh/plugin_host/plugin_host.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <set>

#include <boost/dll/library_info.hpp>
#include <boost/dll/shared_library.hpp>

#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/log.hpp"
#include "guard.hpp"
#include "guarded_objects.hpp"
#include "host_services.hpp"

namespace bosh::plugin_host {

namespace {

constexpr std::string_view kComponent = "plugin_host";
const std::set<std::string, std::less<>> kKinds = {"cpi", "blobstore", "cli"};

// The fields every plugin must have: through `description`.
constexpr std::uint32_t kMinInfoSize = offsetof(plugin::PluginInfo, compiler);

bool has_elf_magic(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F';
}

std::string str_or_empty(const char* s) { return s ? s : ""; }

// A loaded shared object plus the HostServices its objects use.
struct LoadedLibrary : Keepalive {
  boost::dll::shared_library library;
  explicit LoadedLibrary(boost::dll::shared_library lib) : library(std::move(lib)) {}
};

struct Services : Keepalive {
  PluginHostServices services;
  std::shared_ptr<Keepalive> library;  // destroyed after services
  Services(std::string name, std::string version, std::shared_ptr<std::atomic<bool>> cancelled,
           std::shared_ptr<Keepalive> lib)
      : services(std::move(name), std::move(version), std::move(cancelled)), library(std::move(lib)) {}
};

}  // namespace

struct PluginHost::Impl {
  std::string host_name;
  std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
  std::vector<PluginRecord> records;
  std::vector<Refusal> refusals;
  std::set<fs::path> seen;  // canonical paths already considered

  struct Entry {
    std::shared_ptr<LoadedLibrary> library;  // null for built-ins
    std::function<plugin::cpi_factory_t> cpi;
    std::function<plugin::blobstore_factory_t> blobstore;
    std::function<plugin::cli_factory_t> cli;
  };
  std::map<std::pair<std::string, std::string>, Entry> entries;  // (kind, name)

  std::string host_version() const { return host_name + " " + BOSH_VERSION; }

  bool refuse(const fs::path& path, std::string reason) {
    log::debug(kComponent, "refused {}: {}", path.string(), reason);
    refusals.push_back({path, std::move(reason)});
    return false;
  }

  const PluginRecord* find(std::string_view kind, std::string_view name) const {
    for (const auto& r : records)
      if (r.kind == kind && r.name == name) return &r;
    return nullptr;
  }

  std::string loaded_names(std::string_view kind) const {
    std::string names;
    for (const auto& r : records)
      if (r.kind == kind) names += (names.empty() ? "" : ", ") + r.name;
    return names.empty() ? "none" : names;
  }

  void add_builtin(std::string kind, std::string name, std::string version, std::string description,
                   Entry entry) {
    if (find(kind, name))
      fail("duplicate built-in {} plugin \"{}\"", kind, name);
    PluginRecord r;
    r.kind = kind;
    r.name = name;
    r.version = std::move(version);
    r.description = std::move(description);
    r.compiler = BOSH_PLUGIN_COMPILER;
    r.abi_tag = plugin::abi_tag();
    r.api_major = BOSH_PLUGIN_API_MAJOR;
    r.api_minor = BOSH_PLUGIN_API_MINOR;
    r.builtin = true;
    records.push_back(std::move(r));
    entries[{kind, name}] = std::move(entry);
  }

  bool load(const fs::path& path) {
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(path, ec);
    if (ec) canonical = path;
    if (!seen.insert(canonical).second) return true;  // same file through two routes

    // 1. Probe: no plugin code runs.
    if (!fs::exists(path, ec)) return refuse(path, "no such file");
    if (!fs::is_regular_file(path, ec)) return refuse(path, "not a regular file");
    if (!has_elf_magic(path)) return refuse(path, "not a shared object (no ELF header)");
    try {
      boost::dll::library_info probe(path, /*throw_if_not_native=*/true);
      auto symbols = probe.symbols();
      if (std::find(symbols.begin(), symbols.end(), plugin::kInfoSymbol) == symbols.end())
        return refuse(path, "not a bosh plugin (it does not export bosh_plugin_info)");
    } catch (const std::exception& e) {
      return refuse(path, "not a shared object for this platform (unreadable ELF headers)");
    }

    // 2. dlopen ourselves to get dlerror's text (Boost's message hides it),
    //    then let Boost.DLL own a reference to the same handle.
    ::dlerror();
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      // dlerror's text starts with the path, which the refusal already names.
      std::string text = str_or_empty(::dlerror());
      if (text.rfind(path.string() + ": ", 0) == 0) text.erase(0, path.string().size() + 2);
      return refuse(path, "cannot load: " + text);
    }
    std::shared_ptr<LoadedLibrary> library;
    try {
      library = std::make_shared<LoadedLibrary>(boost::dll::shared_library(
          path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local));
    } catch (const std::exception& e) {
      ::dlclose(handle);
      return refuse(path, std::string("cannot load: ") + e.what());
    }
    ::dlclose(handle);

    // 3. Read and validate the info struct.
    const plugin::PluginInfo* info = nullptr;
    try {
      info = library->library.get_alias<plugin::InfoFunction>(plugin::kInfoSymbol)();
    } catch (const std::exception& e) {
      return refuse(path, std::string("cannot read bosh_plugin_info: ") + e.what());
    }
    if (!info) return refuse(path, "bosh_plugin_info returned nothing");
    if (info->struct_size < kMinInfoSize)
      return refuse(path, fmt::format("plugin info is {} bytes, the host needs at least {}",
                                      info->struct_size, kMinInfoSize));
    if (info->api_major != BOSH_PLUGIN_API_MAJOR)
      return refuse(path, fmt::format("built for plugin API {}.{}, this host supports plugin API {}.{} "
                                      "(major versions must match: rebuild it against API {}.x)",
                                      info->api_major, info->api_minor, BOSH_PLUGIN_API_MAJOR,
                                      BOSH_PLUGIN_API_MINOR, BOSH_PLUGIN_API_MAJOR));
    if (info->api_minor > BOSH_PLUGIN_API_MINOR)
      return refuse(path, fmt::format("built for plugin API {}.{}, newer than this host's plugin API {}.{} "
                                      "(upgrade bosh)",
                                      info->api_major, info->api_minor, BOSH_PLUGIN_API_MAJOR,
                                      BOSH_PLUGIN_API_MINOR));
    const std::string abi = str_or_empty(info->abi_tag);
    const std::string compiler =
        info->struct_size > offsetof(plugin::PluginInfo, compiler) ? str_or_empty(info->compiler) : "";
    if (abi != plugin::abi_tag())
      return refuse(path, fmt::format("ABI tag mismatch: plugin \"{}\"{}, host \"{}\"", abi,
                                      compiler.empty() ? "" : " (" + compiler + ")", plugin::abi_tag()));
    const std::string kind = str_or_empty(info->kind);
    if (!kKinds.count(kind))
      return refuse(path, fmt::format("unknown plugin kind \"{}\" (expected cpi, blobstore or cli)", kind));
    const std::string name = str_or_empty(info->name);
    if (name.empty() || name.find_first_of(" \t\n/") != std::string::npos)
      return refuse(path, fmt::format("invalid plugin name \"{}\"", name));
    if (const PluginRecord* other = find(kind, name))
      return refuse(path, fmt::format("duplicate {} plugin \"{}\": already loaded from {}", kind, name,
                                      other->builtin ? "the built-in plugins" : other->path.string()));

    // 4. The kind's factory.
    const std::string factory_symbol = "bosh_create_" + kind;
    if (!library->library.has(factory_symbol))
      return refuse(path, fmt::format("{} plugin \"{}\" does not export {}", kind, name, factory_symbol));
    Entry entry;
    entry.library = library;
    auto& lib = library->library;
    if (kind == "cpi") entry.cpi = lib.get_alias<plugin::cpi_factory_t*>(factory_symbol);
    if (kind == "blobstore") entry.blobstore = lib.get_alias<plugin::blobstore_factory_t*>(factory_symbol);
    if (kind == "cli") entry.cli = lib.get_alias<plugin::cli_factory_t*>(factory_symbol);
    if (!entry.cpi && !entry.blobstore && !entry.cli)
      return refuse(path, fmt::format("{} plugin \"{}\": {} is null", kind, name, factory_symbol));

    PluginRecord r;
    r.kind = kind;
    r.name = name;
    r.version = str_or_empty(info->version);
    r.description = str_or_empty(info->description);
    r.compiler = compiler;
    r.abi_tag = abi;
    r.api_major = info->api_major;
    r.api_minor = info->api_minor;
    r.path = path;
    records.push_back(std::move(r));
    entries[{kind, name}] = std::move(entry);
    log::debug(kComponent, "loaded {} plugin {} {} from {}", kind, name, records.back().version,
               path.string());
    return true;
  }

  template <typename Made, typename Call>
  auto instantiate(const std::string& kind, const std::string& name, Call&& call) {
    auto it = entries.find({kind, name});
    if (it == entries.end())
      fail("no {} plugin named \"{}\" (loaded: {})", kind, name, loaded_names(kind));
    auto services = std::make_shared<Services>(name, host_version(), cancelled, it->second.library);
    std::unique_ptr<Made> made = guarded(name, [&] { return call(it->second, services->services); });
    if (!made) throw plugin::CloudError(name + ": factory returned nothing");
    return std::make_pair(std::move(made), std::static_pointer_cast<Keepalive>(services));
  }
};

std::vector<fs::path> default_plugin_directories() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("BOSH_PLUGIN_PATH"); env && *env) {
    std::string_view rest(env);
    while (!rest.empty()) {
      auto colon = rest.find(':');
      auto part = rest.substr(0, colon);
      if (!part.empty()) dirs.push_back(fs::absolute(expand_user(part)));
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  try {
    dirs.push_back(home_dir() / ".bosh" / "plugins");
  } catch (const bosh::Error&) {
  }
  try {
    dirs.push_back(executable_path().parent_path().parent_path() / "lib" / "bosh" / "plugins");
  } catch (const bosh::Error&) {
  }
  return dirs;
}

PluginHost::PluginHost(std::string host_name) : impl_(std::make_unique<Impl>()) {
  impl_->host_name = std::move(host_name);
}

PluginHost::~PluginHost() = default;

bool PluginHost::load_file(const fs::path& path) { return impl_->load(path); }

void PluginHost::load_directory(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".so") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) impl_->load(file);
}

void PluginHost::load_all(const std::vector<fs::path>& configured_files) {
  for (const auto& file : configured_files) impl_->load(file);
  for (const auto& dir : default_plugin_directories()) load_directory(dir);
}

void PluginHost::register_builtin_cpi(std::string name, std::string version, std::string description,
                                      std::function<plugin::cpi_factory_t> factory) {
  Impl::Entry e;
  e.cpi = std::move(factory);
  impl_->add_builtin("cpi", std::move(name), std::move(version), std::move(description), std::move(e));
}

void PluginHost::register_builtin_blobstore(std::string name, std::string version, std::string description,
                                            std::function<plugin::blobstore_factory_t> factory) {
  Impl::Entry e;
  e.blobstore = std::move(factory);
  impl_->add_builtin("blobstore", std::move(name), std::move(version), std::move(description), std::move(e));
}

void PluginHost::register_builtin_cli(std::string name, std::string version, std::string description,
                                      std::function<plugin::cli_factory_t> factory) {
  Impl::Entry e;
  e.cli = std::move(factory);
  impl_->add_builtin("cli", std::move(name), std::move(version), std::move(description), std::move(e));
}

const std::vector<PluginRecord>& PluginHost::plugins() const { return impl_->records; }
const std::vector<Refusal>& PluginHost::refusals() const { return impl_->refusals; }
const PluginRecord* PluginHost::find(std::string_view kind, std::string_view name) const {
  return impl_->find(kind, name);
}

std::shared_ptr<plugin::Cpi> PluginHost::create_cpi(const std::string& name, const plugin::Json& config) {
  auto [made, keep] = impl_->instantiate<plugin::Cpi>(
      "cpi", name, [&](Impl::Entry& e, plugin::HostServices& s) { return e.cpi(s, config); });
  return guard_cpi(name, std::move(made), std::move(keep));
}

std::shared_ptr<plugin::Blobstore> PluginHost::create_blobstore(const std::string& name,
                                                                const plugin::Json& options) {
  auto [made, keep] = impl_->instantiate<plugin::Blobstore>(
      "blobstore", name, [&](Impl::Entry& e, plugin::HostServices& s) { return e.blobstore(s, options); });
  return guard_blobstore(name, std::move(made), std::move(keep));
}

std::shared_ptr<plugin::CommandGroup> PluginHost::create_cli(const std::string& name) {
  auto [made, keep] = impl_->instantiate<plugin::CommandGroup>(
      "cli", name, [&](Impl::Entry& e, plugin::HostServices& s) { return e.cli(s); });
  return guard_cli(name, std::move(made), std::move(keep));
}

std::unique_ptr<plugin::HostServices> PluginHost::make_services(std::string component) {
  return std::make_unique<PluginHostServices>(std::move(component), impl_->host_version(), impl_->cancelled);
}

void PluginHost::cancel_all() { impl_->cancelled->store(true); }

std::string PluginHost::host_abi_tag() { return plugin::abi_tag(); }

}  // namespace bosh::plugin_host
