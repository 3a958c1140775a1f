// The director API's routing: a table of (method, path pattern, handler).
// Patterns are segments where ":x" matches any one segment, e.g.
// "/deployments/:d/jobs/:job/:id"; the matched segments (URL-decoded) are
// the call's params, in order.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bosh/director/services.hpp"
#include "bosh/net/http_server.hpp"
#include "bosh/plugin/json.hpp"

namespace bosh::director {

// The statuses the routes answer with.
namespace Status {
inline constexpr int HTTP_OK = 200, HTTP_CREATED = 201, HTTP_NO_CONTENT = 204, HTTP_PARTIAL_CONTENT = 206,
                     HTTP_FOUND = 302, HTTP_BAD_REQUEST = 400, HTTP_UNAUTHORIZED = 401, HTTP_FORBIDDEN = 403,
                     HTTP_NOT_FOUND = 404, HTTP_METHOD_NOT_ALLOWED = 405, HTTP_CONFLICT = 409,
                     HTTP_PRECONDITION_FAILED = 412, HTTP_REQUEST_ENTITY_TOO_LARGE = 413,
                     HTTP_UNPROCESSABLE_ENTITY = 422, HTTP_INTERNAL_SERVER_ERROR = 500;
}

struct Call {
  net::Request& req;
  net::Response& resp;
  DirectorServices& s;
  std::string user;  // empty on public routes without credentials
  std::vector<std::string> params;
  std::map<std::string, std::string> query;

  std::string q(const std::string& key, const std::string& fallback = "") const;
  bool flag(const std::string& key) const;  // ?key=true|1
  // The whole request body (manifests, JSON), refused with 413 past
  // director.yml's max_request_mb before it is read.
  std::string body();
  // The body as JSON (an object), InputError naming what is wrong.
  plugin::JsonObject::Ptr json_body();
  void json(int status, const plugin::Json& value);
  void error(int status, int code, const std::string& description);
  // 302 Location: /tasks/<id>, as every mutating request answers.
  void task(std::int64_t id);
  void no_content();
  void text(int status, const std::string& body, const std::string& content_type = "text/plain");
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
void add_task_routes(Router& router);        // info, tasks, locks, events
void add_config_routes(Router& router);      // configs and the legacy cloud/runtime/cpi config routes
void add_upload_routes(Router& router);      // releases, stemcells
void add_deployment_routes(Router& router);  // deployments and what hangs off them

// "12" -> 12; nullopt for anything but a positive decimal number.
std::optional<std::int64_t> positive_id(const std::string& text);
// ?limit= within [1, max], `fallback` when absent; InputError when not a number.
int bounded_limit(const Call& call, int fallback, int max);

}  // namespace bosh::director
