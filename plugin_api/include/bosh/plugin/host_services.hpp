// What the host lends a plugin. Plugins keep no globals of their own for
// logging, temp files, HTTP or cancellation: they use these, so the director
// can route a CPI's log into the task's debug log and cancel a hung call.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace bosh::plugin {

enum class LogLevel { debug, info, warn, error };

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // http:// or https://
  std::map<std::string, std::string> headers;
  std::string body;
  std::optional<std::string> ca_cert_pem;  // trust this CA instead of the system's
  bool verify_tls = true;
  std::chrono::seconds timeout{60};
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};

class HostServices {
 public:
  virtual ~HostServices() = default;

  // Log a line under the plugin's name. Secrets must not be passed in.
  virtual void log(LogLevel level, const std::string& message) = 0;
  // A directory owned by the calling plugin for the host's lifetime.
  virtual std::filesystem::path temp_dir() = 0;
  // True once the operation the plugin serves was cancelled (task cancel,
  // Ctrl-C, deadline). Long-running calls poll it and throw CloudError.
  virtual bool cancelled() const = 0;
  // One HTTP(S) request; throws CloudError on transport failure (not on 4xx/5xx).
  virtual HttpResponse http(const HttpRequest& request) = 0;
  // The host program's name and version, e.g. "bosh 0.1.0".
  virtual std::string host_version() const = 0;
};

}  // namespace bosh::plugin
