// bosh-agent [--base-dir DIR] [--settings FILE] [--heartbeat-interval SECONDS] [--log-level LEVEL]
#include <csignal>
#include <iostream>
#include <thread>

#include <boost/program_options.hpp>

#include "bosh/agent/agent.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/log.hpp"

namespace po = boost::program_options;

namespace {
bosh::agent::Agent* g_agent = nullptr;
sigset_t g_signals;
}  // namespace

int main(int argc, char** argv) {
  po::options_description desc("bosh-agent options");
  desc.add_options()("help,h", "Show help")(
      "base-dir", po::value<std::string>()->default_value("/var/vcap"), "The VM's tree (bosh/, data/, jobs/, ...)")(
      "settings", po::value<std::string>(), "Settings file (default: <base-dir>/bosh/settings.json)")(
      "system-log-dir", po::value<std::string>()->default_value("/var/log"), "The VM's system logs (bosh logs --system)")(
      "private-etc", "The VM has its own mount namespace: bosh ssh users go in the VM's own /etc/passwd")(
      "heartbeat-interval", po::value<double>()->default_value(30), "Seconds between heartbeats")(
      "log-level", po::value<std::string>()->default_value("info"), "debug, info, warn or error")(
      "monit-port", po::value<int>()->default_value(0), "monit's HTTP port on 127.0.0.1 (0: a free port)")(
      "alert-port", po::value<int>()->default_value(0), "SMTP port for monit's alerts (0: a free port)")(
      "monit-poll", po::value<int>()->default_value(10), "Seconds between monit's checks")(
      "settings-source", po::value<std::string>()->default_value("file"), "file, registry, config-drive or metadata")(
      "registry", po::value<std::string>(), "Registry URL (https://user:password@host:port)")(
      "instance-id", po::value<std::string>(), "This VM's id at the registry")(
      "config-drive", po::value<std::string>(), "Directory of the mounted config drive")(
      "metadata-url", po::value<std::string>(), "Base URL of the metadata service");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "bosh-agent: " << e.what() << "\n" << desc;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  try {
    bosh::log::set_level(bosh::log::parse_level(vm["log-level"].as<std::string>()));
    bosh::agent::AgentOptions options;
    options.base_dir = vm["base-dir"].as<std::string>();
    options.system_log_dir = vm["system-log-dir"].as<std::string>();
    options.private_etc = vm.count("private-etc") > 0;
    // The agent's own log, where BOSH keeps it (bosh logs --agent fetches it).
    std::filesystem::create_directories(options.base_dir / "bosh/log");
    bosh::log::copy_to_file((options.base_dir / "bosh/log/current").string(), 16u << 20);
    // Temp files live on the VM's own disk (as BOSH's agent keeps data/tmp),
    // so installs can rename them into place.
    const std::filesystem::path tmp = options.base_dir / "data/tmp";
    std::filesystem::create_directories(tmp);
    setenv("TMPDIR", tmp.c_str(), 1);
    if (vm.count("settings")) options.settings_file = vm["settings"].as<std::string>();
    options.heartbeat_interval =
        std::chrono::milliseconds(static_cast<long long>(vm["heartbeat-interval"].as<double>() * 1000));
    const std::string source = vm["settings-source"].as<std::string>();
    auto need = [&](const char* key) {
      if (!vm.count(key)) throw bosh::InputError(std::string("--settings-source ") + source + " needs --" + key);
      return vm[key].as<std::string>();
    };
    using Kind = bosh::agent::SettingsSource::Kind;
    if (source == "registry")
      options.settings_source = {Kind::registry, need("registry"), need("instance-id")};
    else if (source == "config-drive")
      options.settings_source = {Kind::config_drive, need("config-drive"),
                                 vm.count("instance-id") ? vm["instance-id"].as<std::string>() : ""};
    else if (source == "metadata")
      options.settings_source = {Kind::metadata, need("metadata-url"),
                                 vm.count("instance-id") ? vm["instance-id"].as<std::string>() : ""};
    else if (source != "file")
      throw bosh::InputError("--settings-source must be file, registry, config-drive or metadata, not " + source);
    options.monit_port = vm["monit-port"].as<int>();
    options.alert_port = vm["alert-port"].as<int>();
    options.monit_poll = std::chrono::seconds(vm["monit-poll"].as<int>());
    // SIGTERM/SIGINT stop the agent cleanly: a thread waits for them.
    sigemptyset(&g_signals);
    sigaddset(&g_signals, SIGTERM);
    sigaddset(&g_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &g_signals, nullptr);
    bosh::agent::Agent agent(options);
    g_agent = &agent;
    std::thread waiter([] {
      int sig = 0;
      sigwait(&g_signals, &sig);
      if (g_agent) g_agent->stop();
    });
    waiter.detach();
    agent.run();
    g_agent = nullptr;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bosh-agent: " << e.what() << "\n";
    return 1;
  }
}
