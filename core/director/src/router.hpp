// The director API's routing: a table of (method, path pattern, handler).
// Patterns are segments where ":x" matches any one segment, e.g.
// "/deployments/:d/jobs/:job/:id"; the matched segments (URL-decoded) are
// the call's params, in order.
#pragma once

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bosh/director/services.hpp"
#include "bosh/plugin/json.hpp"

namespace bosh::director {

using Status = Poco::Net::HTTPResponse::HTTPStatus;

struct Call {
  Poco::Net::HTTPServerRequest& req;
  Poco::Net::HTTPServerResponse& resp;
  DirectorServices& s;
  std::string user;  // empty on public routes without credentials
  std::vector<std::string> params;
  std::map<std::string, std::string> query;

  std::string q(const std::string& key, const std::string& fallback = "") const;
  bool flag(const std::string& key) const;  // ?key=true|1
  // The whole request body (for small bodies: manifests, JSON).
  std::string body();
  void json(Status status, const plugin::Json& value);
  void error(Status status, int code, const std::string& description);
  // 302 Location: /tasks/<id>, as every mutating request answers.
  void task(std::int64_t id);
  void no_content();
  void text(Status status, const std::string& body, const std::string& content_type = "text/plain");
};

using RouteHandler = std::function<void(Call&)>;

class Router {
 public:
  void add(const std::string& method, const std::string& pattern, RouteHandler handler, bool is_public = false);
  struct Match {
    const RouteHandler* handler = nullptr;
    bool is_public = false;
    std::vector<std::string> params;
    bool path_known = false;  // some route has this path (for 405 vs 404)
  };
  Match match(const std::string& method, const std::string& path) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    RouteHandler handler;
    bool is_public;
  };
  std::vector<Route> routes_;
};

// Each file of routes adds its own.
void add_core_routes(Router& router);        // info, tasks, locks, events, configs
void add_upload_routes(Router& router);      // releases, stemcells
void add_deployment_routes(Router& router);  // deployments and what hangs off them

// Saves an upload (the tarball as the body, or JSON {"location": URL}) under
// state_dir/uploads, bounded by max_upload_mb; answers the error itself and
// returns nullopt when it cannot.
std::optional<std::filesystem::path> receive_upload(Call& call);

}  // namespace bosh::director
