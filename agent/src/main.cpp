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
      "heartbeat-interval", po::value<double>()->default_value(30), "Seconds between heartbeats")(
      "log-level", po::value<std::string>()->default_value("info"), "debug, info, warn or error")(
      "monit-port", po::value<int>()->default_value(0), "monit's HTTP port on 127.0.0.1 (0: a free port)")(
      "alert-port", po::value<int>()->default_value(0), "SMTP port for monit's alerts (0: a free port)")(
      "monit-poll", po::value<int>()->default_value(10), "Seconds between monit's checks");
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
    if (vm.count("settings")) options.settings_file = vm["settings"].as<std::string>();
    options.heartbeat_interval =
        std::chrono::milliseconds(static_cast<long long>(vm["heartbeat-interval"].as<double>() * 1000));
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
