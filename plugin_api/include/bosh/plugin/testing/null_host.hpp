// HostServices for tests of a plugin outside any host: logs are collected,
// temp_dir is the system's, nothing is cancelled, and HTTP is refused.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "bosh/plugin/errors.hpp"
#include "bosh/plugin/host_services.hpp"

namespace bosh::plugin::testing {

class NullHostServices : public HostServices {
 public:
  void log(LogLevel, const std::string& message) override { logged.push_back(message); }
  std::filesystem::path temp_dir() override { return std::filesystem::temp_directory_path(); }
  bool cancelled() const override { return false; }
  HttpResponse http(const HttpRequest& request) override {
    throw CloudError("no HTTP in NullHostServices (" + request.url + ")");
  }
  std::string host_version() const override { return "test-host"; }

  std::vector<std::string> logged;
};

}  // namespace bosh::plugin::testing
