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
#include <random>
#include <sstream>

#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/log.hpp"
#include "bosh/common/subprocess.hpp"
#include "bosh/common/http.hpp"
#include "bosh/director/configs.hpp"
#include "bosh/director/releases.hpp"
#include "bosh/director/tasks.hpp"

#include <Poco/StreamCopier.h>

namespace bosh::director {

namespace fs = std::filesystem;
using Status = Poco::Net::HTTPResponse::HTTPStatus;

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

struct Shared {
  const DirectorConfig& config;
  Database& db;
  std::string uuid;
};

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Handler(Shared& shared) : s_(shared) {}

  void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) override {
    try {
      route(req, resp);
    } catch (const std::exception& e) {
      log::error("api", "{} {}: {}", req.getMethod(), req.getURI(), e.what());
      if (!resp.sent()) error(resp, Status::HTTP_INTERNAL_SERVER_ERROR, 100, "internal error");
    }
  }

 private:
  static void send_json(Poco::Net::HTTPServerResponse& resp, Status status, const plugin::Json& body) {
    std::string text = to_json(body);
    resp.setStatus(status);
    resp.setContentType("application/json");
    resp.setContentLength(static_cast<std::streamsize>(text.size()));
    resp.send() << text;
  }
  static void error(Poco::Net::HTTPServerResponse& resp, Status status, int code, const std::string& description) {
    Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
    o->set("code", code);
    o->set("description", description);
    send_json(resp, status, o);
  }

  std::optional<std::string> user(Poco::Net::HTTPServerRequest& req) {
    if (!req.hasCredentials()) return std::nullopt;
    try {
      Poco::Net::HTTPBasicCredentials creds(req);
      for (const auto& u : s_.config.users)
        if (u.name == creds.getUsername() && verify_password(creds.getPassword(), u.password_hash)) return u.name;
    } catch (const Poco::Exception&) {
    }
    return std::nullopt;
  }

  void route(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) {
    const Poco::URI uri(req.getURI());
    const std::string path = uri.getPath(), method = req.getMethod();
    std::map<std::string, std::string> query;
    for (const auto& [k, v] : uri.getQueryParameters()) query[k] = v;
    auto who = user(req);

    if (method == "GET" && path == "/info") {
      Poco::JSON::Object::Ptr info = new Poco::JSON::Object, auth = new Poco::JSON::Object,
                              features = new Poco::JSON::Object;
      info->set("name", s_.config.name);
      info->set("uuid", s_.uuid);
      info->set("version", std::string(BOSH_VERSION) + " (bosh-cpp)");
      info->set("user", who ? plugin::Json(*who) : plugin::Json());
      info->set("cpi", s_.config.cpi_plugin);
      auth->set("type", "basic");
      auth->set("options", plugin::json_object());
      info->set("user_authentication", auth);
      features->set("snapshots", plugin::json_object());
      info->set("features", features);
      return send_json(resp, Status::HTTP_OK, info);
    }
    if (!who) {
      resp.set("WWW-Authenticate", "Basic realm=\"BOSH Director\"");
      return error(resp, Status::HTTP_UNAUTHORIZED, 401, "Not authorized: '" + path + "'");
    }
    TaskQueue tasks(s_.db);
    if (method == "GET" && path == "/tasks") {
      int limit = 30;
      if (query.count("limit")) limit = std::max(1, std::min(1000, std::stoi(query["limit"])));
      Poco::JSON::Array::Ptr out = new Poco::JSON::Array;
      for (const auto& t : tasks.recent(limit, query.count("state") ? query["state"] : ""))
        if (!query.count("deployment") || t.deployment == query["deployment"]) out->add(task_json(t));
      return send_json(resp, Status::HTTP_OK, out);
    }
    static const std::string kTasks = "/tasks/", kTask = "/task/";
    auto task_id = [&](const std::string& rest) -> std::optional<std::int64_t> {
      try {
        std::size_t used = 0;
        std::int64_t id = std::stoll(rest, &used);
        if (used == rest.size() && id > 0) return id;
      } catch (const std::exception&) {
      }
      return std::nullopt;
    };
    if (method == "GET" && path.rfind(kTasks, 0) == 0) {
      std::string rest = path.substr(kTasks.size());
      const bool output = rest.size() > 7 && rest.substr(rest.size() - 7) == "/output";
      if (output) rest = rest.substr(0, rest.size() - 7);
      auto id = task_id(rest);
      auto task = id ? tasks.get(*id) : std::nullopt;
      if (!task) return error(resp, Status::HTTP_NOT_FOUND, 10001, "Task " + rest + " not found");
      if (!output) return send_json(resp, Status::HTTP_OK, task_json(*task));
      const std::string type = query.count("type") ? query["type"] : "result";
      if (type != "event" && type != "debug" && type != "result" && type != "cpi")
        return error(resp, Status::HTTP_BAD_REQUEST, 10002, "Unknown output type '" + type + "'");
      std::string text;
      try {
        text = read_file(task_log_dir(s_.config, *id) / type);
      } catch (const bosh::Error&) {
      }
      // Range: bytes=N- streams what was added since offset N.
      std::size_t offset = 0;
      const std::string range = req.get("Range", "");
      if (range.rfind("bytes=", 0) == 0) {
        try {
          offset = std::stoull(range.substr(6));
        } catch (const std::exception&) {
        }
      }
      if (offset > text.size()) offset = text.size();
      resp.setStatus(offset ? Status::HTTP_PARTIAL_CONTENT : Status::HTTP_OK);
      resp.setContentType("text/plain");
      if (offset) resp.set("Content-Range", fmt::format("bytes {}-{}/{}", offset, text.size(), text.size()));
      std::string body = text.substr(offset);
      resp.setContentLength(static_cast<std::streamsize>(body.size()));
      resp.send() << body;
      return;
    }
    if (method == "DELETE" && path.rfind(kTask, 0) == 0) {
      auto id = task_id(path.substr(kTask.size()));
      if (!id || !tasks.get(*id)) return error(resp, Status::HTTP_NOT_FOUND, 10001, "Task not found");
      if (!tasks.cancel(*id)) return error(resp, Status::HTTP_BAD_REQUEST, 10003, "Task is not running or queued");
      resp.setStatus(Status::HTTP_NO_CONTENT);
      resp.setContentLength(0);
      resp.send();
      return;
    }
    if (method == "GET" && path == "/releases") return send_json(resp, Status::HTTP_OK, list_releases(s_.db));
    auto config_json = [](const ConfigRow& c) {
      Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
      o->set("id", std::to_string(c.id));
      o->set("type", c.type);
      o->set("name", c.name);
      o->set("content", c.content);
      o->set("created_at", c.created_at);
      return o;
    };
    auto store_config = [&](const std::string& type, const std::string& name, const std::string& content) {
      try {
        auto row = update_config(s_.db, type, name, content);
        record_event(s_.db, {*who, "update", type + "-config", name});
        return send_json(resp, Status::HTTP_CREATED, config_json(row));
      } catch (const InputError& e) {
        return error(resp, Status::HTTP_BAD_REQUEST, 440001, e.what());
      }
    };
    if (path == "/configs" && method == "POST") {
      std::string body;
      Poco::StreamCopier::copyToString(req.stream(), body);
      try {
        auto o = as_object(parse_json(body, "request"), "request");
        return store_config(get_string(o, "type", "request"), find_string(o, "name", "request").value_or("default"),
                           get_string(o, "content", "request"));
      } catch (const InputError& e) {
        return error(resp, Status::HTTP_BAD_REQUEST, 440001, e.what());
      }
    }
    if (path == "/configs" && method == "GET") {
      Poco::JSON::Array::Ptr out = new Poco::JSON::Array;
      for (const auto& c : list_configs(s_.db, query.count("type") ? query["type"] : "", query["latest"] == "true"))
        if (!query.count("name") || c.name == query["name"]) out->add(config_json(c));
      return send_json(resp, Status::HTTP_OK, out);
    }
    for (const auto& [legacy, type] : {std::pair{"/cloud_configs", "cloud"}, std::pair{"/runtime_configs", "runtime"}}) {
      if (path != legacy) continue;
      if (method == "POST") {
        std::string body;
        Poco::StreamCopier::copyToString(req.stream(), body);
        return store_config(type, "default", body);
      }
      Poco::JSON::Array::Ptr out = new Poco::JSON::Array;
      if (auto c = latest_config(s_.db, type)) {
        Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
        o->set("properties", c->content);
        o->set("created_at", c->created_at);
        out->add(o);
      }
      return send_json(resp, Status::HTTP_OK, out);
    }
    if (method == "GET" && path == "/events") {
      int limit = query.count("limit") ? std::max(1, std::min(1000, std::stoi(query["limit"]))) : 200;
      return send_json(resp, Status::HTTP_OK, list_events(s_.db, limit));
    }
    if (method == "POST" && path == "/releases") {
      // The tarball as the body (streamed to disk, bounded), or {"location": URL}.
      fs::create_directories(s_.config.state_dir / "uploads");
      const fs::path file = s_.config.state_dir / "uploads" / (random_hex(16) + ".tgz");
      const std::uint64_t limit = static_cast<std::uint64_t>(s_.config.max_upload_mb) << 20;
      if (req.getContentType().find("json") != std::string::npos) {
        std::string body;
        Poco::StreamCopier::copyToString(req.stream(), body);
        auto location = find_string(as_object(parse_json(body, "request"), "request"), "location", "request");
        if (!location) return error(resp, Status::HTTP_BAD_REQUEST, 40000, "expected a tarball or {\"location\": URL}");
        plugin::HttpRequest get;
        get.url = *location;
        get.timeout = std::chrono::seconds(600);
        auto got = http_request(get);
        if (got.status != 200)
          return error(resp, Status::HTTP_BAD_REQUEST, 40001, fmt::format("{}: HTTP {}", log::redact_url(*location), got.status));
        write_file_atomic(file, got.body);
      } else {
        std::ofstream out(file, std::ios::binary);
        char buffer[1 << 16];
        std::uint64_t total = 0;
        std::istream& in = req.stream();
        while (in) {
          in.read(buffer, sizeof buffer);
          total += static_cast<std::uint64_t>(in.gcount());
          if (total > limit) {
            out.close();
            fs::remove(file);
            return error(resp, Status::HTTP_REQUEST_ENTITY_TOO_LARGE, 40002,
                         fmt::format("upload larger than max_upload_mb ({})", s_.config.max_upload_mb));
          }
          out.write(buffer, in.gcount());
        }
      }
      Poco::JSON::Object::Ptr payload = new Poco::JSON::Object;
      payload->set("path", file.string());
      auto id = tasks.enqueue("upload_release", "create release", *who, "", to_json(plugin::Json(payload)));
      resp.set("Location", "/tasks/" + std::to_string(id));
      resp.setStatus(Status::HTTP_FOUND);
      resp.setContentLength(0);
      resp.send();
      return;
    }
    if (method == "GET" && path == "/locks") {
      Poco::JSON::Array::Ptr out = new Poco::JSON::Array;
      for (const auto& l : Locks(s_.db).list()) {
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
      return send_json(resp, Status::HTTP_OK, out);
    }
    error(resp, Status::HTTP_NOT_FOUND, 404, "No such endpoint: " + method + " " + path);
  }

  Shared& s_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(Shared& shared) : s_(shared) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new Handler(s_);
  }

 private:
  Shared& s_;
};

}  // namespace

struct ApiServer::Impl {
  Shared shared;
  std::unique_ptr<Poco::Net::SecureServerSocket> socket;
  std::unique_ptr<Poco::Net::HTTPServer> server;
};

ApiServer::ApiServer(const DirectorConfig& config, Database& db, std::string uuid)
    : impl_(new Impl{Shared{config, db, std::move(uuid)}, nullptr, nullptr}) {
  Poco::Net::Context::Ptr context = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, config.tls_key.string(),
                                                           config.tls_cert.string(), "", Poco::Net::Context::VERIFY_NONE);
  impl_->socket = std::make_unique<Poco::Net::SecureServerSocket>(
      Poco::Net::SocketAddress(config.address, static_cast<Poco::UInt16>(config.port)), 64, context);
  auto params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(16);
  impl_->server = std::make_unique<Poco::Net::HTTPServer>(new Factory(impl_->shared), *impl_->socket, params);
  impl_->server->start();
}

ApiServer::~ApiServer() { impl_->server->stopAll(true); }

int ApiServer::port() const { return impl_->socket->address().port(); }

}  // namespace bosh::director
