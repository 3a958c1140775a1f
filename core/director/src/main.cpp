// bosh-director --config director.yml     the director
// bosh-director hash-password [PASSWORD]  a password_hash for director.yml (reads stdin without an argument)
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <set>

#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/log.hpp"
#include "bosh/director/api.hpp"
#include "bosh/director/config.hpp"
#include "bosh/director/db.hpp"
#include "bosh/director/deployments.hpp"
#include "bosh/director/releases.hpp"
#include "bosh/director/stemcells.hpp"
#include "bosh/director/tasks.hpp"
#include "bosh/director/workers.hpp"
#include "bosh/mbus/nats.hpp"
#include "bosh/plugin_host/plugin_host.hpp"

namespace fs = std::filesystem;

namespace {
// share/bosh/bosh_renderer.rb of the install, or the source tree's copy for a build tree.
std::string find_renderer() {
  const fs::path bin = bosh::executable_path().parent_path();
  for (const fs::path& candidate : {bin.parent_path() / "share/bosh/bosh_renderer.rb",
                                    fs::path(BOSH_SOURCE_DIR) / "core/director/renderer/bosh_renderer.rb"}) {
    std::error_code ec;
    if (fs::exists(candidate, ec)) return candidate.string();
  }
  return "";
}
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (!args.empty() && args[0] == "hash-password") {
      std::string password;
      if (args.size() > 1)
        password = args[1];
      else
        std::getline(std::cin, password);
      std::cout << bosh::director::hash_password(password) << "\n";
      return 0;
    }
    if (args.size() != 2 || (args[0] != "--config" && args[0] != "-c")) {
      std::cerr << "usage: bosh-director --config director.yml\n       bosh-director hash-password [PASSWORD]\n";
      return 2;
    }
    bosh::log::set_level(bosh::log::Level::info);
    auto config = bosh::director::load_director_config(args[1]);
    fs::create_directories(config.state_dir);
    // Temp files live in the state dir, so what a killed director was working
    // on (an unpacked upload, a rendered archive) is removed at its next start.
    const fs::path tmp = config.state_dir / "tmp";
    std::error_code tmp_ec;
    fs::remove_all(tmp, tmp_ec);
    fs::create_directories(tmp);
    setenv("TMPDIR", tmp.c_str(), 1);
    bosh::ExtractLimits limits;
    limits.max_bytes = static_cast<std::uint64_t>(config.extract.max_mb) << 20;
    limits.ratio_floor = static_cast<std::uint64_t>(config.extract.ratio_floor_mb) << 20;
    limits.max_entries = static_cast<std::uint64_t>(config.extract.max_entries);
    limits.max_ratio = config.extract.max_ratio;
    bosh::set_default_extract_limits(limits);
    auto db = bosh::director::Database::open(config.db);
    db->migrate();
    const std::string uuid = bosh::director::director_uuid(config);
    // Tasks this director left running when it stopped are errors now.
    int recovered = bosh::director::TaskQueue(*db).recover(uuid + "/");
    if (recovered) bosh::log::warn("director", "{} task(s) were running when the director stopped; marked as errors", recovered);
    // Uploads a killed director was receiving, or whose task ended with it,
    // are garbage; those a queued task still waits for stay.
    if (fs::is_directory(config.state_dir / "uploads")) {
      std::set<std::string> wanted;
      for (const auto& r : db->rows("SELECT payload FROM tasks WHERE state = ?", {std::string("queued")}))
        wanted.insert(r[0]);
      for (const auto& entry : fs::directory_iterator(config.state_dir / "uploads")) {
        const std::string path = entry.path().string();
        bool needed = false;
        for (const auto& payload : wanted) needed = needed || payload.find(path) != std::string::npos;
        std::error_code ec;
        if (!needed) fs::remove(entry.path(), ec);
      }
    }
    bosh::director::ensure_tls_certificate(config);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    // The blobstore jobs and packages go to: director.yml's, or a local one in the state dir.
    bosh::plugin_host::PluginHost plugins("bosh-director");
    bosh::blobstore::register_builtin_providers(plugins);
    plugins.load_all();
    for (const auto& refusal : plugins.refusals()) bosh::log::warn("director", "plugin refused: {}", refusal.message());
    std::string provider = config.blobstore_provider;
    bosh::plugin::Json options = config.blobstore_options;
    if (provider.empty()) {
      provider = "local";
      options = bosh::parse_json("{\"blobstore_path\": \"" + (config.state_dir / "blobs").string() + "\"}", "defaults");
    }
    auto blobstore = plugins.create_blobstore(provider, options);

    bosh::director::DirectorServices services{config, *db, *blobstore, uuid, {}, {}, nullptr, find_renderer()};
    if (!config.cpi_plugin.empty()) {
      if (!plugins.find("cpi", config.cpi_plugin))
        bosh::fail("director.yml: cpi.plugin '{}' is not a loaded CPI plugin (see `bosh plugins`)", config.cpi_plugin);
      services.make_cpi = [&plugins, &config] { return plugins.create_cpi(config.cpi_plugin, config.cpi_properties); };
      services.cpi_info = services.make_cpi()->info();  // checks the CPI's properties at start
    } else {
      services.make_cpi = []() -> std::shared_ptr<bosh::plugin::Cpi> {
        throw bosh::Error("no CPI configured (director.yml: cpi.plugin)");
      };
    }
    std::unique_ptr<bosh::mbus::NatsConnection> nats;
    if (!config.nats.empty()) {
      bosh::mbus::NatsOptions n;
      n.url = config.nats;
      n.name = "bosh-director";
      n.retry_initial_connect = true;
      nats = std::make_unique<bosh::mbus::NatsConnection>(n);
      services.nats = nats.get();
    }

    std::map<std::string, bosh::director::TaskRunner> runners = {
        {"update_release", bosh::director::upload_release_task},
        {"delete_release", bosh::director::delete_release_task},
        {"update_stemcell", bosh::director::upload_stemcell_task},
        {"delete_stemcell", bosh::director::delete_stemcell_task},
    };
    bosh::director::add_deployment_tasks(runners);
    bosh::director::Workers workers(services, runners);
    bosh::director::ApiServer api(services);
    std::cout << "bosh-director " << config.name << " (" << uuid << ") listening on " << config.address << ":"
              << api.port() << std::endl;
    int sig = 0;
    sigwait(&signals, &sig);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bosh-director: " << e.what() << "\n";
    return 1;
  }
}
