#include "router.hpp"

#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"

namespace bosh::director {

namespace {
// The path's segments, still percent-encoded (a segment is decoded once, as
// a parameter, so "a%2Fb" stays one segment "a/b").
std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::string segment;
  for (char c : path) {
    if (c == '/') {
      if (!segment.empty()) out.push_back(std::move(segment));
      segment.clear();
    } else {
      segment += c;
    }
  }
  if (!segment.empty()) out.push_back(std::move(segment));
  return out;
}
}  // namespace

void Router::add(const std::string& method, const std::string& pattern, RouteHandler handler, bool is_public) {
  routes_.push_back({method, split_path(pattern), std::move(handler), is_public});
}

Router::Match Router::match(const std::string& method, const std::string& path) const {
  Match m;
  const auto segments = split_path(path);
  for (const auto& r : routes_) {
    if (r.segments.size() != segments.size()) continue;
    std::vector<std::string> params;
    bool ok = true;
    for (std::size_t i = 0; ok && i < segments.size(); ++i) {
      if (!r.segments[i].empty() && r.segments[i][0] == ':') {
        params.push_back(net::percent_decode(segments[i]));
      } else {
        ok = r.segments[i] == segments[i];
      }
    }
    if (!ok) continue;
    m.path_known = true;
    if (r.method != method) continue;
    m.handler = &r.handler;
    m.is_public = r.is_public;
    m.params = std::move(params);
    return m;
  }
  return m;
}

std::string Call::q(const std::string& key, const std::string& fallback) const {
  auto it = query.find(key);
  return it == query.end() ? fallback : it->second;
}

bool Call::flag(const std::string& key) const {
  const std::string v = q(key);
  return v == "true" || v == "1" || v == "yes";
}

std::string Call::body() {
  const std::uint64_t limit = static_cast<std::uint64_t>(s.config.max_request_mb) << 20;
  return req.read_body(limit);
}

plugin::JsonObject::Ptr Call::json_body() { return as_object(parse_json(body(), "request body"), "request body"); }

void Call::json(int status, const plugin::Json& value) { resp.send(status, to_json(value), "application/json"); }

void Call::error(int status, int code, const std::string& description) {
  plugin::JsonObject::Ptr o = new plugin::JsonObject;
  o->set("code", code);
  o->set("description", description);
  json(status, o);
}

void Call::task(std::int64_t id) {
  resp.set("Location", "/tasks/" + std::to_string(id));
  resp.send(Status::HTTP_FOUND, "");
}

void Call::no_content() { resp.send(Status::HTTP_NO_CONTENT, ""); }

void Call::text(int status, const std::string& body, const std::string& content_type) {
  resp.send(status, body, content_type);
}

}  // namespace bosh::director
