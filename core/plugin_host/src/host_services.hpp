// The HostServices a plugin gets: its own log component, temp dir and the
// host's cancellation flag.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>

#include "bosh/common/fs.hpp"
#include "bosh/plugin/host_services.hpp"

namespace bosh::plugin_host {

class PluginHostServices final : public plugin::HostServices {
 public:
  PluginHostServices(std::string plugin_name, std::string host_version,
                     std::shared_ptr<std::atomic<bool>> cancelled)
      : plugin_name_(std::move(plugin_name)),
        host_version_(std::move(host_version)),
        cancelled_(std::move(cancelled)) {}

  void log(plugin::LogLevel level, const std::string& message) override;
  std::filesystem::path temp_dir() override;
  bool cancelled() const override { return cancelled_->load(); }
  plugin::HttpResponse http(const plugin::HttpRequest& request) override;
  std::string host_version() const override { return host_version_; }

 private:
  std::string plugin_name_;
  std::string host_version_;
  std::shared_ptr<std::atomic<bool>> cancelled_;
  std::mutex mutex_;
  std::optional<TempDir> temp_;
};

}  // namespace bosh::plugin_host
