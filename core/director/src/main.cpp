// bosh-director --config director.yml     the director
// bosh-director hash-password [PASSWORD]  a password_hash for director.yml (reads stdin without an argument)
#include <unistd.h>

#include <csignal>
#include <iostream>

#include "bosh/common/error.hpp"
#include "bosh/common/log.hpp"
#include "bosh/director/api.hpp"
#include "bosh/director/config.hpp"
#include "bosh/director/db.hpp"
#include "bosh/director/releases.hpp"
#include "bosh/director/tasks.hpp"
#include "bosh/director/workers.hpp"
#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/json.hpp"
#include "bosh/plugin_host/plugin_host.hpp"

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
    std::filesystem::create_directories(config.state_dir);
    auto db = bosh::director::Database::open(config.db);
    db->migrate();
    const std::string uuid = bosh::director::director_uuid(config);
    // Tasks this director left running when it stopped are errors now.
    int recovered = bosh::director::TaskQueue(*db).recover(uuid + "/");
    if (recovered) bosh::log::warn("director", "{} task(s) were running when the director stopped; marked as errors", recovered);
    bosh::director::ensure_tls_certificate(config);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    // The blobstore jobs and packages go to: director.yml's, or a local one in the state dir.
    bosh::plugin_host::PluginHost plugins("bosh-director");
    bosh::blobstore::register_builtin_providers(plugins);
    plugins.load_all();
    std::string provider = config.blobstore_provider;
    bosh::plugin::Json options = config.blobstore_options;
    if (provider.empty()) {
      provider = "local";
      options = bosh::parse_json("{\"blobstore_path\": \"" + (config.state_dir / "blobs").string() + "\"}", "defaults");
    }
    auto blobstore = plugins.create_blobstore(provider, options);
    bosh::director::Workers workers(config, *db, *blobstore, uuid,
                                    {{"upload_release", bosh::director::upload_release_task}});
    bosh::director::ApiServer api(config, *db, uuid);
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
