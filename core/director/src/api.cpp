// The director's HTTPS server: authentication, routing to the route files,
// and the error answers every route shares.
#include "bosh/director/api.hpp"

#include <chrono>
#include <map>
#include <mutex>

#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/log.hpp"
#include "bosh/common/random.hpp"
#include "bosh/common/subprocess.hpp"
#include "bosh/net/http_server.hpp"
#include "router.hpp"

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

std::optional<std::string> authenticate(const DirectorConfig& config, const net::Request& req) {
  static CredentialCache cache;
  auto creds = req.basic_credentials();
  if (!creds) return std::nullopt;
  const auto& [name, password] = *creds;
  for (const auto& u : config.users) {
    if (u.name != name) continue;
    if (cache.known(u.name, password)) return u.name;
    if (verify_password(password, u.password_hash)) {
      cache.remember(u.name, password);
      return u.name;
    }
  }
  return std::nullopt;
}

void unauthorized(Call& call) {
  call.resp.set("WWW-Authenticate", "Basic realm=\"BOSH Director\"");
  call.error(Status::HTTP_UNAUTHORIZED, 401, "Not authorized: '" + call.req.path() + "'");
}

void handle(DirectorServices& s, const Router& router, net::Request& req, net::Response& resp) {
  Call call{req, resp, s, "", {}, req.query()};
  try {
    auto m = router.match(req.method(), req.path());
    auto who = authenticate(s.config, req);
    if (who) call.user = *who;
    if (!m.handler) {
      if (!who) return unauthorized(call);
      return call.error(m.path_known ? Status::HTTP_METHOD_NOT_ALLOWED : Status::HTTP_NOT_FOUND, 404,
                        "No such endpoint: " + req.method() + " " + req.path());
    }
    if (!m.is_public && !who) return unauthorized(call);
    call.params = std::move(m.params);
    (*m.handler)(call);
  } catch (const net::HttpError& e) {
    if (!resp.sent()) call.error(e.status(), e.status() * 100, e.what());
  } catch (const InputError& e) {
    if (!resp.sent()) call.error(Status::HTTP_BAD_REQUEST, 40000, e.what());
  } catch (const std::exception& e) {
    log::error("api", "{} {}: {}", req.method(), req.path(), e.what());
    if (!resp.sent()) call.error(Status::HTTP_INTERNAL_SERVER_ERROR, 100, "internal error");
  }
}

}  // namespace

struct ApiServer::Impl {
  Router router;
  std::unique_ptr<net::Server> server;
};

ApiServer::ApiServer(DirectorServices& services) : impl_(new Impl) {
  add_task_routes(impl_->router);
  add_config_routes(impl_->router);
  add_upload_routes(impl_->router);
  add_deployment_routes(impl_->router);
  const DirectorConfig& config = services.config;
  net::ServerConfig sc;
  sc.name = "director";
  sc.address = config.address;
  sc.port = config.port;
  sc.tls_cert = config.tls_cert;
  sc.tls_key = config.tls_key;
  sc.workers = config.http.workers;
  sc.queue = config.http.queue;
  sc.max_connections = config.http.max_connections;
  sc.head_timeout = std::chrono::milliseconds(config.http.head_timeout_ms);
  sc.idle_timeout = std::chrono::milliseconds(config.http.idle_timeout_ms);
  sc.io_timeout = std::chrono::milliseconds(config.http.io_timeout_ms);
  impl_->server = std::make_unique<net::Server>(
      sc, [&services, router = &impl_->router](net::Request& req, net::Response& resp) {
        handle(services, *router, req, resp);
      });
}

ApiServer::~ApiServer() = default;

int ApiServer::port() const { return impl_->server->port(); }

}  // namespace bosh::director
