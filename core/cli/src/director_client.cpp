#include "director_client.hpp"

#include <Poco/JSON/Object.h>

#include <sstream>
#include <thread>

#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/http.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/log.hpp"

namespace bosh::cli {

DirectorTarget current_target(Context& ctx) {
  DirectorTarget t;
  if (ctx.global.target) {
    auto aliases = ctx.config.target_aliases();
    t.url = aliases.count(*ctx.global.target) ? aliases[*ctx.global.target] : normalize_director_url(*ctx.global.target);
  } else if (auto url = ctx.config.target()) {
    t.url = *url;
  } else {
    fail("no target set; run 'bosh target URL [NAME]'");
  }
  t.ca_pem = ctx.config.ca_cert(t.url);
  if (auto creds = ctx.config.credentials(t.url)) {
    t.user = creds->first;
    t.password = creds->second;
  }
  return t;
}

plugin::HttpResponse DirectorClient::request(const std::string& method, const std::string& path,
                                             const std::string& body, const std::string& content_type) {
  plugin::HttpRequest req;
  req.method = method;
  std::string url = target_.url;
  if (!target_.user.empty()) {
    auto scheme_end = url.find("://") + 3;
    url.insert(scheme_end, target_.user + ":" + target_.password + "@");
  }
  req.url = url + path;
  if (!target_.ca_pem.empty()) req.ca_cert_pem = target_.ca_pem;
  req.body = body;
  if (!content_type.empty()) req.headers["Content-Type"] = content_type;
  req.timeout = std::chrono::seconds(600);
  try {
    return http_request(req);
  } catch (const bosh::Error& e) {
    std::string msg = e.what();
    if (msg.find("certificate") != std::string::npos)
      fail("{}\nThe director's certificate is not trusted: run 'bosh target {} --ca-cert FILE' with its CA",
           log::redact(msg, {target_.password}), target_.url);
    throw Error(log::redact(msg, {target_.password}));
  }
}

namespace {
std::string director_error(const plugin::HttpResponse& r) {
  try {
    auto o = as_object(parse_json(r.body, "director reply"), "director reply");
    if (auto d = find_string(o, "description", "director reply")) return *d;
  } catch (const bosh::Error&) {
  }
  return "HTTP " + std::to_string(r.status);
}
}  // namespace

plugin::Json DirectorClient::get_json(const std::string& path) {
  auto r = request("GET", path);
  if (r.status == 401) fail("not logged in to {} (run 'bosh login')", target_.url);
  if (r.status != 200) fail("director: {}", director_error(r));
  return parse_json(r.body, "director reply to " + path);
}

std::int64_t DirectorClient::start_task(const std::string& method, const std::string& path, const std::string& body,
                                        const std::string& content_type) {
  auto r = request(method, path, body, content_type);
  if (r.status == 401) fail("not logged in to {} (run 'bosh login')", target_.url);
  if (r.status != 302 || !r.headers.count("Location")) fail("director: {}", director_error(r));
  const std::string location = r.headers.at("Location");
  return std::stoll(location.substr(location.rfind('/') + 1));
}

plugin::Json DirectorClient::track(std::int64_t id, Ui& ui) {
  const std::string task_path = "/tasks/" + std::to_string(id);
  ui.line(fmt::format("Task {}", id));
  std::size_t offset = 0;
  std::string pending;
  while (true) {
    auto task = as_object(get_json(task_path), "task");
    const std::string state = task->getValue<std::string>("state");
    plugin::HttpRequest req;
    auto r = request("GET", task_path + "/output?type=event");
    if (r.status == 200 && r.body.size() > offset) {
      pending += r.body.substr(offset);
      offset = r.body.size();
      std::size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        std::string line = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        try {
          auto e = as_object(parse_json(line, "event"), "event");
          const std::string ev = e->getValue<std::string>("state");
          if (ev == "finished" || ev == "failed")
            ui.line(fmt::format("  {} > {}{}", e->getValue<std::string>("stage"), e->getValue<std::string>("task"),
                                ev == "failed" ? " (failed)" : ""));
        } catch (const bosh::Error&) {
        }
      }
    }
    if (state != "queued" && state != "processing" && state != "cancelling") {
      ui.line(fmt::format("Task {} {}: {}", id, state, task->getValue<std::string>("result")));
      return plugin::Json(task);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

}  // namespace bosh::cli
