#include "director_client.hpp"

#include <Poco/JSON/Object.h>

#include <ctime>
#include <map>
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

plugin::HttpRequest DirectorClient::prepare(const std::string& method, const std::string& path,
                                           const std::string& content_type) const {
  plugin::HttpRequest req;
  req.method = method;
  std::string url = target_.url;
  if (!target_.user.empty()) {
    auto scheme_end = url.find("://") + 3;
    url.insert(scheme_end, target_.user + ":" + target_.password + "@");
  }
  req.url = url + path;
  if (!target_.ca_pem.empty()) req.ca_cert_pem = target_.ca_pem;
  if (!content_type.empty()) req.headers["Content-Type"] = content_type;
  req.timeout = std::chrono::seconds(600);
  return req;
}

template <typename F>
plugin::HttpResponse DirectorClient::guard(F&& send) const {
  try {
    return send();
  } catch (const bosh::Error& e) {
    std::string msg = e.what();
    if (msg.find("certificate") != std::string::npos)
      fail("{}\nThe director's certificate is not trusted: run 'bosh target {} --ca-cert FILE' with its CA",
           log::redact(msg, {target_.password}), target_.url);
    throw Error(log::redact(msg, {target_.password}));
  }
}

plugin::HttpResponse DirectorClient::request(const std::string& method, const std::string& path,
                                             const std::string& body, const std::string& content_type) {
  plugin::HttpRequest req = prepare(method, path, content_type);
  req.body = body;
  return guard([&] { return http_request(req); });
}

std::string director_error(const plugin::HttpResponse& r) {
  try {
    auto o = as_object(parse_json(r.body, "director reply"), "director reply");
    if (auto d = find_string(o, "description", "director reply")) return *d;
  } catch (const bosh::Error&) {
  }
  return "HTTP " + std::to_string(r.status);
}

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

std::int64_t DirectorClient::upload_task(const std::string& path, const std::filesystem::path& file, Ui& ui) {
  plugin::HttpRequest req = prepare("POST", path, "application/x-compressed");
  req.timeout = std::chrono::seconds(3600);
  const std::string name = file.filename().string();
  std::uint64_t last_step = ~0ull;
  auto r = guard([&] {
    return http_upload(req, file, [&](std::uint64_t sent, std::uint64_t total) {
      // A step per 2 %, so plain (non-terminal) output stays short.
      const std::uint64_t step = total ? sent * 50 / total : 50;
      if (step == last_step || (!ui.progress_bars() && step % 10 != 0)) return;
      last_step = step;
      ui.progress("Uploading", static_cast<std::size_t>(sent >> 10), static_cast<std::size_t>(total >> 10),
                  name + " (KiB)");
    });
  });
  if (r.status == 401) fail("not logged in to {} (run 'bosh login')", target_.url);
  if (r.status != 302 || !r.headers.count("Location")) fail("director: {}", director_error(r));
  const std::string location = r.headers.at("Location");
  return std::stoll(location.substr(location.rfind('/') + 1));
}

namespace {

std::string hms(std::int64_t seconds) {
  if (seconds < 0) seconds = 0;
  return fmt::format("{:02d}:{:02d}:{:02d}", seconds / 3600, (seconds / 60) % 60, seconds % 60);
}

// The classic CLI's "Tue Dec 01 08:00:00 UTC 2026".
std::string utc(std::int64_t t) { return utc_time(t, "%a %b %d %H:%M:%S UTC %Y"); }

std::string lower(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

// The event log as the classic CLI showed it: a line per task start and end,
// with durations, and a line when a stage is done.
class EventRenderer {
 public:
  explicit EventRenderer(Ui& ui) : ui_(ui) {}
  void add(const Poco::JSON::Object::Ptr& e) {
    const std::int64_t time = e->has("time") ? e->getValue<std::int64_t>("time") : 0;
    if (e->has("error")) {
      auto err = e->getObject("error");
      ui_.line(ui_.red("  Error: " + (err->has("message") ? err->getValue<std::string>("message") : std::string("?"))));
      return;
    }
    if (e->has("type") && e->getValue<std::string>("type") == "warning") {
      ui_.line(ui_.yellow("  Warning: " + e->getValue<std::string>("message")));
      return;
    }
    if (!e->has("stage")) return;
    std::string header = lower(e->getValue<std::string>("stage"));
    std::string tags;
    if (e->has("tags"))
      for (const auto& t : *e->getArray("tags")) tags += (tags.empty() ? "" : ", ") + t.convert<std::string>();
    if (!tags.empty()) header += " " + ui_.green(tags);
    const std::string task = e->getValue<std::string>("task"), state = e->getValue<std::string>("state");
    const int total = e->getValue<int>("total");
    const std::string key = header;
    auto& stage = stages_[key];
    if (stage.started == 0) {
      stage.started = time;
      if (key != last_stage_) ui_.line("");
      last_stage_ = key;
    }
    const std::string id = key + "\n" + task;
    if (state == "started") {
      started_[id] = time;
      if (total > 1) ui_.line("  Started " + header + " > " + ui_.green(task));
      return;
    }
    if (state != "finished" && state != "failed") return;
    const std::string took = " (" + hms(time - (started_.count(id) ? started_[id] : time)) + ")";
    std::string error;
    if (e->has("data") && e->getObject("data")->has("error"))
      error = e->getObject("data")->getValue<std::string>("error");
    if (total <= 1) {
      ui_.line("  Started " + header + " > " + ui_.green(task) +
               (state == "failed" ? ". " + ui_.red("Failed: " + error) : std::string(". Done")) + took);
    } else {
      ui_.line((state == "failed" ? "   Failed " : "     Done ") + header + " > " + ui_.green(task) +
               (state == "failed" ? ": " + ui_.red(error) : std::string()) + took);
      if (++stage.done == total) ui_.line("     Done " + header + " (" + hms(time - stage.started) + ")");
      else if (ui_.progress_bars())
        ui_.progress(lower(e->getValue<std::string>("stage")), static_cast<std::size_t>(stage.done),
                     static_cast<std::size_t>(total), task);
    }
  }

 private:
  struct Stage {
    std::int64_t started = 0;
    int done = 0;
  };
  Ui& ui_;
  std::map<std::string, Stage> stages_;
  std::map<std::string, std::int64_t> started_;
  std::string last_stage_;
};

}  // namespace

plugin::Json DirectorClient::track(std::int64_t id, Ui& ui) {
  const std::string task_path = "/tasks/" + std::to_string(id);
  ui.line(fmt::format("Task {}", id));
  std::size_t offset = 0;
  std::string pending;
  EventRenderer events(ui);
  int delay_ms = 100;
  while (true) {
    auto task = as_object(get_json(task_path), "task");
    const std::string state = task->getValue<std::string>("state");
    // Only what was added since the last poll.
    plugin::HttpRequest req = prepare("GET", task_path + "/output?type=event", "");
    if (offset) req.headers["Range"] = fmt::format("bytes={}-", offset);
    auto r = guard([&] { return http_request(req); });
    if ((r.status == 200 || r.status == 206) && !r.body.empty()) {
      if (r.status == 200) offset = 0;  // the whole log
      pending += r.body;
      offset += r.body.size();
      std::size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        std::string line = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        try {
          events.add(as_object(parse_json(line, "event"), "event"));
        } catch (const bosh::Error&) {
        }
      }
      delay_ms = 100;
    }
    if (state != "queued" && state != "processing" && state != "cancelling") {
      ui.line("");
      ui.line(fmt::format("Task {} {}", id, state == "done" ? ui.green(state) : ui.red(state)));
      const std::int64_t started = task->get("started_at").isEmpty() ? 0 : task->getValue<std::int64_t>("started_at");
      const std::int64_t finished = task->getValue<std::int64_t>("timestamp");
      if (started) {
        ui.line("");
        ui.line("Started  " + utc(started));
        ui.line("Finished " + utc(finished));
        ui.line("Duration " + hms(finished - started));
      }
      const std::string result = task->getValue<std::string>("result");
      if (state != "done") {
        ui.line("");
        ui.error(result);
        ui.warn(fmt::format("For a more detailed error report, run: bosh task {} --debug", id));
      } else if (!result.empty() && result[0] != '/') {
        ui.line("");
        ui.line(result);
      }
      return plugin::Json(task);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    delay_ms = std::min(delay_ms * 2, 500);
  }
}

}  // namespace bosh::cli
