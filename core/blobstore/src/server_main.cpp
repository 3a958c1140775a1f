// bosh-blobstore --config FILE: the simple blobstore server.
//
//   address: 127.0.0.1        # default
//   port: 25250               # 0: a free one (printed at start)
//   root: /var/vcap/store/blobstore
//   writer: {name: agent, password: ...}      # PUT, DELETE, GET, HEAD
//   reader: {name: director, password: ...}   # GET, HEAD (optional)
//   tls: {cert: FILE, key: FILE}              # optional
//   http: {workers: 16, head_timeout_ms: 10000, io_timeout_ms: 30000}   # optional: the server's deadlines
#include <csignal>
#include <iostream>

#include <boost/program_options.hpp>

#include "bosh/blobstore/dav.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/log.hpp"
#include "bosh/common/yaml.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  po::options_description desc("bosh-blobstore options");
  desc.add_options()("help,h", "Show help")("config,c", po::value<std::string>(), "Config file (YAML)")(
      "log-level", po::value<std::string>()->default_value("info"), "debug, info, warn or error");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
  } catch (const po::error& e) {
    std::cerr << "bosh-blobstore: " << e.what() << "\n" << desc;
    return 2;
  }
  if (vm.count("help") || !vm.count("config")) {
    std::cout << desc;
    return vm.count("help") ? 0 : 2;
  }
  try {
    bosh::log::set_level(bosh::log::parse_level(vm["log-level"].as<std::string>()));
    const fs::path file = vm["config"].as<std::string>();
    const std::string origin = file.string();
    YAML::Node root = bosh::load_yaml_file(file);
    if (!root.IsMap()) bosh::fail<bosh::InputError>("{}: expected a map", origin);
    if ((fs::status(file).permissions() & (fs::perms::group_read | fs::perms::others_read)) != fs::perms::none)
      bosh::log::warn("bosh-blobstore", "{} holds passwords and is readable by others (chmod 600 it)", origin);
    bosh::blobstore::DavServer::Config config;
    config.address = bosh::yaml_string(root, "address", origin, "127.0.0.1");
    std::string port = bosh::yaml_string(root, "port", origin, "25250");
    try {
      config.port = std::stoi(port);
    } catch (const std::exception&) {
      bosh::fail<bosh::InputError>("{}: 'port' must be a number, got '{}'", bosh::yaml_where(root["port"], origin), port);
    }
    config.root = bosh::yaml_string(root, "root", origin);
    if (config.root.empty()) bosh::fail<bosh::InputError>("{}: 'root' (where blobs live) is required", origin);
    auto user = [&](const char* key) {
      bosh::blobstore::DavServer::User u;
      if (YAML::Node n = bosh::yaml_map(root, key, origin)) {
        u.name = bosh::yaml_string(n, "name", origin);
        u.password = bosh::yaml_string(n, "password", origin);
        if (u.name.empty() || u.password.empty())
          bosh::fail<bosh::InputError>("{}: '{}' needs a name and a password", bosh::yaml_where(n, origin), key);
      }
      return u;
    };
    config.writer = user("writer");
    if (config.writer.name.empty()) bosh::fail<bosh::InputError>("{}: 'writer' is required", origin);
    config.reader = user("reader");
    if (YAML::Node http = bosh::yaml_map(root, "http", origin)) {
      auto positive = [&](const char* key, int fallback) {
        const std::string text = bosh::yaml_string(http, key, origin, std::to_string(fallback));
        try {
          const int v = std::stoi(text);
          if (v >= 1) return v;
        } catch (const std::exception&) {
        }
        bosh::fail<bosh::InputError>("{}: http.{} must be a positive number, got '{}'", bosh::yaml_where(http[key], origin),
                                     key, text);
      };
      config.workers = positive("workers", config.workers);
      config.head_timeout_ms = positive("head_timeout_ms", config.head_timeout_ms);
      config.io_timeout_ms = positive("io_timeout_ms", config.io_timeout_ms);
    }
    if (YAML::Node tls = bosh::yaml_map(root, "tls", origin)) {
      config.tls_cert = bosh::yaml_string(tls, "cert", origin);
      config.tls_key = bosh::yaml_string(tls, "key", origin);
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    bosh::blobstore::DavServer server(config);
    std::cout << "bosh-blobstore listening on " << config.address << ":" << server.port() << std::endl;
    int sig = 0;
    sigwait(&signals, &sig);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bosh-blobstore: " << e.what() << "\n";
    return 1;
  }
}
