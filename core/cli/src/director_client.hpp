// The CLI's side of the director API: the target from the config file (URL,
// CA certificate, credentials), JSON requests, task tracking.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "bosh/plugin/host_services.hpp"
#include "bosh/plugin/json.hpp"
#include "command.hpp"

namespace bosh::cli {

struct DirectorTarget {
  std::string url;
  std::string ca_pem;  // empty: the system's CAs
  std::string user, password;
};

// The current target (-t overrides the config's) with its CA and credentials;
// Error "no target set" when there is none.
DirectorTarget current_target(Context& ctx);

class DirectorClient {
 public:
  explicit DirectorClient(DirectorTarget target) : target_(std::move(target)) {}

  plugin::HttpResponse request(const std::string& method, const std::string& path, const std::string& body = "",
                               const std::string& content_type = "");
  // GET and parse; a director error ({"code", "description"}) becomes an Error.
  plugin::Json get_json(const std::string& path);
  // A request answered with 302 Location: /tasks/<id>; returns the id.
  std::int64_t start_task(const std::string& method, const std::string& path, const std::string& body,
                          const std::string& content_type);
  // POSTs a tarball, streamed from the file with an upload progress bar;
  // returns the task id.
  std::int64_t upload_task(const std::string& path, const std::filesystem::path& file, Ui& ui);
  // Follows a task to its end, printing its event log as stages; returns the task.
  plugin::Json track(std::int64_t id, Ui& ui);

  const DirectorTarget& target() const { return target_; }

 private:
  plugin::HttpRequest prepare(const std::string& method, const std::string& path, const std::string& content_type) const;
  template <typename F>
  plugin::HttpResponse guard(F&& send) const;
  DirectorTarget target_;
};

// The description of a director's error answer ({"code", "description"}), or "HTTP <status>".
std::string director_error(const plugin::HttpResponse& response);

}  // namespace bosh::cli
