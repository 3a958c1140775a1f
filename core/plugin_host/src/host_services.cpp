#include "host_services.hpp"

#include "bosh/common/error.hpp"
#include "bosh/plugin/errors.hpp"
#include "bosh/common/http.hpp"
#include "bosh/common/log.hpp"

namespace bosh::plugin_host {

void PluginHostServices::log(plugin::LogLevel level, const std::string& message) {
  log::Level l = log::Level::info;
  switch (level) {
    case plugin::LogLevel::debug: l = log::Level::debug; break;
    case plugin::LogLevel::info: l = log::Level::info; break;
    case plugin::LogLevel::warn: l = log::Level::warn; break;
    case plugin::LogLevel::error: l = log::Level::error; break;
  }
  log::write(l, plugin_name_, message);
}

std::filesystem::path PluginHostServices::temp_dir() {
  std::lock_guard lock(mutex_);
  if (!temp_) temp_.emplace("bosh-plugin-" + plugin_name_);
  return temp_->path();
}

plugin::HttpResponse PluginHostServices::http(const plugin::HttpRequest& request) {
  try {
    return http_request(request);
  } catch (const bosh::Error& e) {
    throw plugin::CloudError(e.what());
  }
}

}  // namespace bosh::plugin_host
