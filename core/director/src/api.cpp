#include "bosh/director/api.hpp"
#include "bosh/common/random.hpp"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPBasicCredentials.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/URI.h>

#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>

#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/log.hpp"
#include "bosh/common/subprocess.hpp"
#include "bosh/common/http.hpp"
#include "bosh/director/configs.hpp"
#include "bosh/director/releases.hpp"
#include "bosh/director/stemcells.hpp"
#include "bosh/director/tasks.hpp"
#include "router.hpp"

#include <Poco/StreamCopier.h>

namespace bosh::director {

namespace fs = std::filesystem;

std::filesystem::path task_log_dir(const DirectorConfig& config, std::int64_t task_id) {
  return config.state_dir / "tasks" / std::to_string(task_id);
}

std::string director_uuid(const DirectorConfig& config) {
  const fs::path file = config.state_dir / "director_uuid";
  std::error_code ec;
  if (fs::exists(file, ec)) return read_file(file);
  const std::string uuid = random_uuid();
  write_file_atomic(file, uuid);
  return uuid;
}

void ensure_tls_certificate(DirectorConfig& config) {
  if (!config.tls_cert.empty()) return;
  config.tls_cert = config.state_dir / "tls/director.pem";
  config.tls_key = config.state_dir / "tls/director.key";
  std::error_code ec;
  if (fs::exists(config.tls_cert, ec) && fs::exists(config.tls_key, ec)) return;
  fs::create_directories(config.tls_cert.parent_path());
  std::string host = config.address == "0.0.0.0" ? "127.0.0.1" : config.address;
  auto r = run_process({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", config.tls_key.string(),
                        "-out", config.tls_cert.string(), "-days", "3650", "-subj", "/CN=" + host, "-addext",
                        "subjectAltName=IP:" + host});
  if (r.exit_code != 0) fail("cannot make the director's TLS certificate: {}", r.err);
  fs::permissions(config.tls_key, fs::perms::owner_read | fs::perms::owner_write);
  log::info("director", "made a self-signed TLS certificate: {}", config.tls_cert.string());
}

// ---- routing -----------------------------------------------------------------

namespace {
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
        std::string decoded;
        Poco::URI::decode(segments[i], decoded);
        params.push_back(decoded);
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
  std::string text;
  Poco::StreamCopier::copyToString(req.stream(), text);
  return text;
}

void Call::json(Status status, const plugin::Json& value) {
  std::string text = to_json(value);
  resp.setStatus(status);
  resp.setContentType("application/json");
  resp.setContentLength(static_cast<std::streamsize>(text.size()));
  resp.send() << text;
}

void Call::error(Status status, int code, const std::string& description) {
  Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
  o->set("code", code);
  o->set("description", description);
  json(status, o);
}

void Call::task(std::int64_t id) {
  resp.set("Location", "/tasks/" + std::to_string(id));
  resp.setStatus(Status::HTTP_FOUND);
  resp.setContentLength(0);
  resp.send();
}

void Call::no_content() {
  resp.setStatus(Status::HTTP_NO_CONTENT);
  resp.setContentLength(0);
  resp.send();
}

void Call::text(Status status, const std::string& body, const std::string& content_type) {
  resp.setStatus(status);
  resp.setContentType(content_type);
  resp.setContentLength(static_cast<std::streamsize>(body.size()));
  resp.send() << body;
}

std::optional<fs::path> receive_upload(Call& call) {
  fs::create_directories(call.s.config.state_dir / "uploads");
  const fs::path file = call.s.config.state_dir / "uploads" / (random_hex(16) + ".tgz");
  const std::uint64_t limit = static_cast<std::uint64_t>(call.s.config.max_upload_mb) << 20;
  if (call.req.getContentType().find("json") != std::string::npos) {
    auto location = find_string(as_object(parse_json(call.body(), "request"), "request"), "location", "request");
    if (!location) {
      call.error(Status::HTTP_BAD_REQUEST, 40000, "expected a tarball or {\"location\": URL}");
      return std::nullopt;
    }
    plugin::HttpRequest get;
    get.url = *location;
    get.timeout = std::chrono::seconds(600);
    try {
      auto got = http_download(get, file, limit);
      if (got.status != 200) {
        call.error(Status::HTTP_BAD_REQUEST, 40001, fmt::format("{}: HTTP {}", log::redact_url(*location), got.status));
        return std::nullopt;
      }
    } catch (const Error& e) {
      call.error(Status::HTTP_BAD_REQUEST, 40001, e.what());
      return std::nullopt;
    }
    return file;
  }
  // The body streams to disk; nothing holds the whole tarball.
  std::ofstream out(file, std::ios::binary);
  char buffer[1 << 16];
  std::uint64_t total = 0;
  std::istream& in = call.req.stream();
  while (in) {
    in.read(buffer, sizeof buffer);
    total += static_cast<std::uint64_t>(in.gcount());
    if (total > limit) {
      out.close();
      fs::remove(file);
      call.error(Status::HTTP_REQUEST_ENTITY_TOO_LARGE, 40002,
                 fmt::format("upload larger than max_upload_mb ({})", call.s.config.max_upload_mb));
      return std::nullopt;
    }
    out.write(buffer, in.gcount());
  }
  return file;
}

// ---- core routes: info, tasks, locks, events, configs ------------------------------

namespace {

Poco::JSON::Object::Ptr task_json(const Task& t) {
  Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
  o->set("id", t.id);
  o->set("state", t.state);
  o->set("description", t.description);
  o->set("timestamp", t.finished_at ? t.finished_at : t.created_at);
  o->set("started_at", t.started_at ? plugin::Json(t.started_at) : plugin::Json());
  o->set("result", t.result);
  o->set("user", t.username);
  o->set("deployment", t.deployment);
  o->set("context_id", "");
  return o;
}

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
  try {
    return std::max(1, std::min(max, std::stoi(call.q("limit", std::to_string(fallback)))));
  } catch (const std::exception&) {
    return fallback;
  }
}

Poco::JSON::Object::Ptr config_json(const ConfigRow& c) {
  Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
  o->set("id", std::to_string(c.id));
  o->set("type", c.type);
  o->set("name", c.name);
  o->set("content", c.content);
  o->set("created_at", c.created_at);
  return o;
}

void store_config(Call& call, const std::string& type, const std::string& name, const std::string& content) {
  try {
    auto row = update_config(call.s.db, type, name, content);
    record_event(call.s.db, {call.user, "update", type + "-config", name});
    call.json(Status::HTTP_CREATED, config_json(row));
  } catch (const InputError& e) {
    call.error(Status::HTTP_BAD_REQUEST, 440001, e.what());
  }
}

}  // namespace

void add_core_routes(Router& r) {
  r.add("GET", "/info", [](Call& c) {
    Poco::JSON::Object::Ptr info = new Poco::JSON::Object, auth = new Poco::JSON::Object,
                            features = new Poco::JSON::Object;
    info->set("name", c.s.config.name);
    info->set("uuid", c.s.uuid);
    info->set("version", std::string(BOSH_VERSION) + " (bosh-cpp)");
    info->set("user", c.user.empty() ? plugin::Json() : plugin::Json(c.user));
    info->set("cpi", c.s.config.cpi_plugin);
    auth->set("type", "basic");
    auth->set("options", plugin::json_object());
    info->set("user_authentication", auth);
    Poco::JSON::Object::Ptr snapshots = new Poco::JSON::Object;
    snapshots->set("status", !c.s.config.cpi_plugin.empty());
    features->set("snapshots", snapshots);
    info->set("features", features);
    c.json(Status::HTTP_OK, info);
  }, true);

  r.add("GET", "/tasks", [](Call& c) {
    Poco::JSON::Array::Ptr out = new Poco::JSON::Array;
    std::vector<std::string> states;  // ?state=queued,processing
    std::stringstream list(c.q("state"));
    for (std::string st; std::getline(list, st, ',');)
      if (!st.empty()) states.push_back(st);
    for (const auto& t : TaskQueue(c.s.db).recent(bounded_limit(c, 30, 10000), states, c.q("deployment")))
      out->add(task_json(t));
    c.json(Status::HTTP_OK, out);
  });
  r.add("GET", "/tasks/:id", [](Call& c) {
    auto id = positive_id(c.params[0]);
    auto task = id ? TaskQueue(c.s.db).get(*id) : std::nullopt;
    if (!task) return c.error(Status::HTTP_NOT_FOUND, 10001, "Task " + c.params[0] + " not found");
    c.json(Status::HTTP_OK, task_json(*task));
  });
  r.add("GET", "/tasks/:id/output", [](Call& c) {
    auto id = positive_id(c.params[0]);
    auto task = id ? TaskQueue(c.s.db).get(*id) : std::nullopt;
    if (!task) return c.error(Status::HTTP_NOT_FOUND, 10001, "Task " + c.params[0] + " not found");
    const std::string type = c.q("type", "result");
    if (type != "event" && type != "debug" && type != "result" && type != "cpi")
      return c.error(Status::HTTP_BAD_REQUEST, 10002, "Unknown output type '" + type + "'");
    // Range: bytes=N- streams what was added since offset N (read from there, not from the start).
    std::size_t offset = 0;
    const std::string range = c.req.get("Range", "");
    if (range.rfind("bytes=", 0) == 0) {
      try {
        offset = std::stoull(range.substr(6));
      } catch (const std::exception&) {
      }
    }
    std::string text;
    std::size_t size = 0;
    std::ifstream in(task_log_dir(c.s.config, *id) / type, std::ios::binary);
    if (in) {
      in.seekg(0, std::ios::end);
      size = static_cast<std::size_t>(in.tellg());
      offset = std::min(offset, size);
      in.seekg(static_cast<std::streamoff>(offset));
      text.resize(size - offset);
      in.read(text.data(), static_cast<std::streamsize>(text.size()));
      text.resize(static_cast<std::size_t>(in.gcount()));
    } else {
      offset = 0;
    }
    if (offset) c.resp.set("Content-Range", fmt::format("bytes {}-{}/{}", offset, size, size));
    c.text(offset ? Status::HTTP_PARTIAL_CONTENT : Status::HTTP_OK, text);
  });
  r.add("DELETE", "/task/:id", [](Call& c) {
    auto id = positive_id(c.params[0]);
    TaskQueue tasks(c.s.db);
    if (!id || !tasks.get(*id)) return c.error(Status::HTTP_NOT_FOUND, 10001, "Task not found");
    if (!tasks.cancel(*id)) return c.error(Status::HTTP_BAD_REQUEST, 10003, "Task is not running or queued");
    c.no_content();
  });

  r.add("GET", "/locks", [](Call& c) {
    Poco::JSON::Array::Ptr out = new Poco::JSON::Array;
    for (const auto& l : Locks(c.s.db).list()) {
      // "lock:<type>:<resource>"
      std::string rest = l.name.rfind("lock:", 0) == 0 ? l.name.substr(5) : l.name;
      std::string type = rest.substr(0, rest.find(':'));
      Poco::JSON::Array::Ptr resource = new Poco::JSON::Array;
      if (rest.find(':') != std::string::npos) resource->add(rest.substr(rest.find(':') + 1));
      Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
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
  r.add("GET", "/events", [](Call& c) { c.json(Status::HTTP_OK, list_events(c.s.db, bounded_limit(c, 200, 1000))); });

  r.add("POST", "/configs", [](Call& c) {
    try {
      auto o = as_object(parse_json(c.body(), "request"), "request");
      store_config(c, get_string(o, "type", "request"), find_string(o, "name", "request").value_or("default"),
                   get_string(o, "content", "request"));
    } catch (const InputError& e) {
      c.error(Status::HTTP_BAD_REQUEST, 440001, e.what());
    }
  });
  r.add("GET", "/configs", [](Call& c) {
    Poco::JSON::Array::Ptr out = new Poco::JSON::Array;
    const std::string name = c.q("name");
    for (const auto& row : list_configs(c.s.db, c.q("type"), c.q("latest") == "true"))
      if (name.empty() || row.name == name) out->add(config_json(row));
    c.json(Status::HTTP_OK, out);
  });
  for (const auto& [legacy, type] : {std::pair{"/cloud_configs", "cloud"}, std::pair{"/runtime_configs", "runtime"}}) {
    const std::string t = type;
    r.add("POST", legacy, [t](Call& c) { store_config(c, t, "default", c.body()); });
    r.add("GET", legacy, [t](Call& c) {
      Poco::JSON::Array::Ptr out = new Poco::JSON::Array;
      if (auto row = latest_config(c.s.db, t)) {
        Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
        o->set("properties", row->content);
        o->set("created_at", row->created_at);
        out->add(o);
      }
      c.json(Status::HTTP_OK, out);
    });
  }
}

// ---- uploads: releases and stemcells ---------------------------------------------

void add_upload_routes(Router& r) {
  r.add("GET", "/releases", [](Call& c) { c.json(Status::HTTP_OK, list_releases(c.s.db)); });
  r.add("POST", "/releases", [](Call& c) {
    auto file = receive_upload(c);
    if (!file) return;
    Poco::JSON::Object::Ptr payload = new Poco::JSON::Object;
    payload->set("path", file->string());
    payload->set("fix", c.flag("fix"));
    c.task(TaskQueue(c.s.db).enqueue("update_release", "create release", c.user, "", to_json(plugin::Json(payload))));
  });
  r.add("GET", "/releases/:name", [](Call& c) {
    auto detail = release_detail(c.s.db, c.params[0], c.q("version"));
    if (!detail) {
      const std::string what = c.q("version").empty() ? c.params[0] : c.params[0] + "/" + c.q("version");
      return c.error(Status::HTTP_NOT_FOUND, 30005, "Release '" + what + "' doesn't exist");
    }
    c.json(Status::HTTP_OK, *detail);
  });
  r.add("DELETE", "/releases/:name", [](Call& c) {
    Poco::JSON::Object::Ptr payload = new Poco::JSON::Object;
    payload->set("name", c.params[0]);
    if (!c.q("version").empty()) payload->set("version", c.q("version"));
    payload->set("force", c.flag("force"));
    c.task(TaskQueue(c.s.db).enqueue("delete_release", "delete release: " + c.params[0], c.user, "",
                                     to_json(plugin::Json(payload))));
  });

  r.add("GET", "/stemcells", [](Call& c) { c.json(Status::HTTP_OK, list_stemcells(c.s.db)); });
  r.add("POST", "/stemcells", [](Call& c) {
    auto file = receive_upload(c);
    if (!file) return;
    Poco::JSON::Object::Ptr payload = new Poco::JSON::Object;
    payload->set("path", file->string());
    payload->set("fix", c.flag("fix"));
    c.task(TaskQueue(c.s.db).enqueue("update_stemcell", "create stemcell", c.user, "", to_json(plugin::Json(payload))));
  });
  r.add("DELETE", "/stemcells/:name/:version", [](Call& c) {
    Poco::JSON::Object::Ptr payload = new Poco::JSON::Object;
    payload->set("name", c.params[0]);
    payload->set("version", c.params[1]);
    payload->set("force", c.flag("force"));
    c.task(TaskQueue(c.s.db).enqueue("delete_stemcell", "delete stemcell: " + c.params[0] + "/" + c.params[1], c.user,
                                     "", to_json(plugin::Json(payload))));
  });
}

// ---- the server --------------------------------------------------------------------

namespace {

// sha512-crypt costs about 3 ms a check: too much for every poll of a task.
// Credentials that verified are remembered for a while, keyed by an HMAC
// with a key made at start (no password is kept).
class CredentialCache {
 public:
  bool known(const std::string& user, const std::string& password) {
    std::lock_guard lock(mutex_);
    auto it = seen_.find(key(user, password));
    return it != seen_.end() && std::chrono::steady_clock::now() - it->second < kTtl;
  }
  void remember(const std::string& user, const std::string& password) {
    std::lock_guard lock(mutex_);
    if (seen_.size() > 1000) seen_.clear();
    seen_[key(user, password)] = std::chrono::steady_clock::now();
  }

 private:
  static constexpr std::chrono::minutes kTtl{5};
  std::string key(const std::string& user, const std::string& password) const {
    return hmac_sha256_hex(secret_, user + '\0' + password);
  }
  const std::string secret_ = random_hex(64);
  std::mutex mutex_;
  std::map<std::string, std::chrono::steady_clock::time_point> seen_;
};

std::optional<std::string> authenticate(const DirectorConfig& config, Poco::Net::HTTPServerRequest& req) {
  static CredentialCache cache;
  if (!req.hasCredentials()) return std::nullopt;
  try {
    Poco::Net::HTTPBasicCredentials creds(req);
    for (const auto& u : config.users) {
      if (u.name != creds.getUsername()) continue;
      if (cache.known(u.name, creds.getPassword())) return u.name;
      if (verify_password(creds.getPassword(), u.password_hash)) {
        cache.remember(u.name, creds.getPassword());
        return u.name;
      }
    }
  } catch (const Poco::Exception&) {
  }
  return std::nullopt;
}

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  Handler(DirectorServices& s, const Router& router) : s_(s), router_(router) {}

  void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) override {
    Call call{req, resp, s_, "", {}, {}};
    try {
      const Poco::URI uri(req.getURI());
      for (const auto& [k, v] : uri.getQueryParameters()) call.query[k] = v;
      auto m = router_.match(req.getMethod(), uri.getPath());
      auto who = authenticate(s_.config, req);
      if (who) call.user = *who;
      if (!m.handler) {
        if (!who) return unauthorized(call, uri.getPath());
        return call.error(m.path_known ? Status::HTTP_METHOD_NOT_ALLOWED : Status::HTTP_NOT_FOUND, 404,
                          "No such endpoint: " + req.getMethod() + " " + uri.getPath());
      }
      if (!m.is_public && !who) return unauthorized(call, uri.getPath());
      call.params = std::move(m.params);
      (*m.handler)(call);
    } catch (const InputError& e) {
      if (!resp.sent()) call.error(Status::HTTP_BAD_REQUEST, 40000, e.what());
    } catch (const std::exception& e) {
      log::error("api", "{} {}: {}", req.getMethod(), req.getURI(), e.what());
      if (!resp.sent()) call.error(Status::HTTP_INTERNAL_SERVER_ERROR, 100, "internal error");
    }
  }

 private:
  static void unauthorized(Call& call, const std::string& path) {
    call.resp.set("WWW-Authenticate", "Basic realm=\"BOSH Director\"");
    call.error(Status::HTTP_UNAUTHORIZED, 401, "Not authorized: '" + path + "'");
  }
  DirectorServices& s_;
  const Router& router_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Factory(DirectorServices& s, const Router& router) : s_(s), router_(router) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new Handler(s_, router_);
  }

 private:
  DirectorServices& s_;
  const Router& router_;
};

}  // namespace

struct ApiServer::Impl {
  Router router;
  std::unique_ptr<Poco::Net::SecureServerSocket> socket;
  std::unique_ptr<Poco::Net::HTTPServer> server;
};

ApiServer::ApiServer(DirectorServices& services) : impl_(new Impl) {
  add_core_routes(impl_->router);
  add_upload_routes(impl_->router);
  add_deployment_routes(impl_->router);
  const DirectorConfig& config = services.config;
  Poco::Net::Context::Ptr context = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, config.tls_key.string(),
                                                           config.tls_cert.string(), "", Poco::Net::Context::VERIFY_NONE);
  impl_->socket = std::make_unique<Poco::Net::SecureServerSocket>(
      Poco::Net::SocketAddress(config.address, static_cast<Poco::UInt16>(config.port)), 64, context);
  auto params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(16);
  impl_->server =
      std::make_unique<Poco::Net::HTTPServer>(new Factory(services, impl_->router), *impl_->socket, params);
  impl_->server->start();
}

ApiServer::~ApiServer() { impl_->server->stopAll(true); }

int ApiServer::port() const { return impl_->socket->address().port(); }

}  // namespace bosh::director
