// The director API's info, task, lock and event routes.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "bosh/common/certificates.hpp"
#include "bosh/common/clock.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/director/api.hpp"
#include "bosh/director/configs.hpp"
#include "bosh/director/tasks.hpp"
#include "router.hpp"
#include "time_param.hpp"

namespace bosh::director {

using plugin::Json;
using plugin::JsonArray;
using plugin::JsonObject;

namespace {

JsonObject::Ptr task_json(const Task& t) {
  JsonObject::Ptr o = new JsonObject;
  o->set("id", t.id);
  o->set("state", t.state);
  o->set("description", t.description);
  o->set("timestamp", t.finished_at ? t.finished_at : t.created_at);
  o->set("started_at", t.started_at ? Json(t.started_at) : Json());
  o->set("result", t.result);
  o->set("user", t.username);
  o->set("deployment", t.deployment);
  o->set("context_id", "");
  return o;
}

std::vector<std::string> comma_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

// What `bosh tasks` shows without --all (verbose=1): the tasks a user
// started to change something; vms, fetch_logs, ssh and the like are left out.
const std::vector<std::string>& user_task_types() {
  static const std::vector<std::string> types = {
      "attach_disk",       "create_snapshot", "delete_deployment", "delete_release",  "delete_snapshot",
      "delete_stemcell",   "run_errand",      "snapshot_deployment", "update_deployment", "update_release",
      "update_stemcell",   "change_state",    "export_release",    "cleanup"};
  return types;
}

void task_output(Call& c) {
  auto id = positive_id(c.params[0]);
  auto task = id ? TaskQueue(c.s.db).get(*id) : std::nullopt;
  if (!task) return c.error(Status::HTTP_NOT_FOUND, 10001, "Task " + c.params[0] + " not found");
  const std::string type = c.q("type", "result");
  if (type != "event" && type != "debug" && type != "result" && type != "cpi")
    return c.error(Status::HTTP_BAD_REQUEST, 10002, "Unknown output type '" + type + "'");
  // Range: bytes=N- streams what was added since offset N (read from there, not from the start).
  std::uint64_t offset = 0;
  const std::string range = c.req.header("range");
  if (range.rfind("bytes=", 0) == 0) {
    try {
      offset = std::stoull(range.substr(6));
    } catch (const std::exception&) {
      return c.error(Status::HTTP_BAD_REQUEST, 10002, "Malformed Range header '" + range + "'");
    }
  }
  std::ifstream in(task_log_dir(c.s.config, *id) / type, std::ios::binary);
  std::uint64_t size = 0;
  if (in) {
    in.seekg(0, std::ios::end);
    size = static_cast<std::uint64_t>(in.tellg());
  }
  offset = std::min(offset, size);
  if (offset) c.resp.set("Content-Range", fmt::format("bytes {}-{}/{}", offset, size, size));
  std::ostream& out = c.resp.begin(offset ? Status::HTTP_PARTIAL_CONTENT : Status::HTTP_OK, size - offset, "text/plain");
  if (!in || size == offset) return;
  in.seekg(static_cast<std::streamoff>(offset));
  char buffer[1 << 16];
  for (std::uint64_t left = size - offset; left > 0 && in;) {
    in.read(buffer, static_cast<std::streamsize>(std::min<std::uint64_t>(left, sizeof buffer)));
    out.write(buffer, in.gcount());
    left -= static_cast<std::uint64_t>(in.gcount());
  }
}

EventFilter event_filter(const Call& c) {
  EventFilter f;
  if (!c.q("before_id").empty()) {
    auto id = positive_id(c.q("before_id"));
    if (!id) throw InputError("before_id must be a positive number, got '" + c.q("before_id") + "'");
    f.before_id = *id;
  }
  if (!c.q("before_time").empty()) f.before_time = parse_time_param("before_time", c.q("before_time"));
  if (!c.q("after_time").empty()) f.after_time = parse_time_param("after_time", c.q("after_time"));
  f.deployment = c.q("deployment");
  f.task = c.q("task");
  f.instance = c.q("instance");
  f.user = c.q("user");
  f.action = c.q("action");
  f.object_type = c.q("object_type");
  f.object_name = c.q("object_name", c.q("object_id"));  // older CLIs call it object_id
  f.limit = bounded_limit(c, 200, 1000);
  return f;
}

// ("debian", "12") from /etc/os-release; ("linux", "") when it says nothing.
std::pair<std::string, std::string> host_os() {
  std::string id = "linux", version;
  std::ifstream in("/etc/os-release");
  for (std::string line; std::getline(in, line);) {
    auto value = [&](const std::string& key) -> std::optional<std::string> {
      if (line.rfind(key + "=", 0) != 0) return std::nullopt;
      std::string v = line.substr(key.size() + 1);
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return v;
    };
    if (auto v = value("ID")) id = *v;
    if (auto v = value("VERSION_ID")) version = *v;
  }
  return {id, version};
}

}  // namespace

std::optional<std::int64_t> positive_id(const std::string& text) {
  try {
    std::size_t used = 0;
    std::int64_t id = std::stoll(text, &used);
    if (used == text.size() && id > 0) return id;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

int bounded_limit(const Call& call, int fallback, int max) {
  const std::string text = call.q("limit");
  if (text.empty()) return fallback;
  auto n = positive_id(text);
  if (!n) throw InputError("limit must be a positive number, got '" + text + "'");
  return static_cast<int>(std::min<std::int64_t>(max, *n));
}

void add_task_routes(Router& r) {
  r.add("GET", "/info", [](Call& c) {
    JsonObject::Ptr info = new JsonObject, auth = new JsonObject, features = new JsonObject;
    info->set("name", c.s.config.name);
    info->set("uuid", c.s.uuid);
    info->set("version", std::string(BOSH_VERSION) + " (bosh-cpp)");
    info->set("user", c.user.empty() ? Json() : Json(c.user));
    info->set("cpi", c.s.config.cpi_plugin);
    auth->set("type", "basic");
    auth->set("options", plugin::json_object());
    info->set("user_authentication", auth);
    for (const char* feature : {"snapshots", "dns", "local_dns", "power_dns_enabled", "config_server"}) {
      JsonObject::Ptr f = new JsonObject;
      f->set("status", std::string(feature) == "snapshots" && !c.s.config.cpi_plugin.empty());
      features->set(feature, f);
    }
    info->set("features", features);
    // The director's "stemcell": the OS it runs on (BOSH fills these from its VM's stemcell).
    static const auto os = host_os();
    info->set("stemcell_os", os.first);
    info->set("stemcell_version", os.second);
    c.json(Status::HTTP_OK, info);
  }, true);

  // bosh env --details: the certificates the director serves with.
  r.add("GET", "/director/certificate_expiry", [](Call& c) {
    JsonArray::Ptr out = new JsonArray;
    if (auto until = certificate_not_after(read_file(c.s.config.tls_cert))) {
      JsonObject::Ptr o = new JsonObject;
      o->set("certificate_path", "director.ssl.certificate");
      o->set("expiry", rfc3339(*until));
      o->set("days_left", static_cast<int>((*until - now_seconds()) / 86400));
      out->add(o);
    }
    c.json(Status::HTTP_OK, out);
  });

  r.add("GET", "/tasks", [](Call& c) {
    JsonArray::Ptr out = new JsonArray;
    // verbose=1 (and no verbose): only the tasks users start to change things; 2: every task.
    const std::vector<std::string> types = c.q("verbose", "1") == "2" ? std::vector<std::string>{} : user_task_types();
    for (const auto& t : TaskQueue(c.s.db).recent(bounded_limit(c, 30, 10000), comma_list(c.q("state")),
                                                  c.q("deployment"), types))
      out->add(task_json(t));
    c.json(Status::HTTP_OK, out);
  });
  r.add("GET", "/tasks/:id", [](Call& c) {
    auto id = positive_id(c.params[0]);
    auto task = id ? TaskQueue(c.s.db).get(*id) : std::nullopt;
    if (!task) return c.error(Status::HTTP_NOT_FOUND, 10001, "Task " + c.params[0] + " not found");
    c.json(Status::HTTP_OK, task_json(*task));
  });
  r.add("GET", "/tasks/:id/output", task_output);
  r.add("DELETE", "/task/:id", [](Call& c) {
    auto id = positive_id(c.params[0]);
    TaskQueue tasks(c.s.db);
    if (!id || !tasks.get(*id)) return c.error(Status::HTTP_NOT_FOUND, 10001, "Task " + c.params[0] + " not found");
    if (!tasks.cancel(*id)) return c.error(Status::HTTP_BAD_REQUEST, 10003, "Task " + c.params[0] + " is not running or queued");
    c.no_content();
  });
  // bosh cancel-tasks: {"deployment"?, "states"?: [...], "types"?: [...]}
  r.add("POST", "/tasks/cancel", [](Call& c) {
    auto body = c.json_body();
    auto strings = [&](const char* key) {
      std::vector<std::string> out;
      if (body->has(key) && !body->get(key).isEmpty())
        for (const auto& v : *as_array(body->get(key), std::string("request body: ") + key)) {
          if (!v.isString()) throw InputError(std::string("request body: ") + key + " must be a list of strings");
          out.push_back(v.convert<std::string>());
        }
      return out;
    };
    auto states = strings("states");
    if (states.empty()) states = {"queued", "processing"};
    const auto types = strings("types");
    TaskQueue tasks(c.s.db);
    for (const auto& t : tasks.recent(10000, states, find_string(body, "deployment", "request body").value_or(""), types))
      tasks.cancel(t.id);
    c.no_content();
  });

  r.add("GET", "/locks", [](Call& c) {
    JsonArray::Ptr out = new JsonArray;
    for (const auto& l : Locks(c.s.db).list()) {
      // "lock:<type>:<resource>"
      std::string rest = l.name.rfind("lock:", 0) == 0 ? l.name.substr(5) : l.name;
      std::string type = rest.substr(0, rest.find(':'));
      JsonArray::Ptr resource = new JsonArray;
      if (rest.find(':') != std::string::npos) resource->add(rest.substr(rest.find(':') + 1));
      JsonObject::Ptr o = new JsonObject;
      o->set("type", type);
      o->set("resource", resource);
      o->set("timeout", std::to_string(l.expires_at));
      o->set("task_id", std::to_string(l.task_id));
      o->set("user", l.username);
      o->set("since", std::to_string(l.acquired_at));
      out->add(o);
    }
    c.json(Status::HTTP_OK, out);
  });

  r.add("GET", "/events", [](Call& c) { c.json(Status::HTTP_OK, list_events(c.s.db, event_filter(c))); });
  r.add("GET", "/events/:id", [](Call& c) {
    auto id = positive_id(c.params[0]);
    auto event = id ? event_by_id(c.s.db, *id) : std::nullopt;
    if (!event) return c.error(Status::HTTP_NOT_FOUND, 10001, "Event " + c.params[0] + " not found");
    c.json(Status::HTTP_OK, *event);
  });
}

}  // namespace bosh::director
