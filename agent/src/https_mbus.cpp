#include "https_mbus.hpp"

#include <Poco/URI.h>

#include <sstream>

#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/log.hpp"
#include "bosh/common/subprocess.hpp"
#include "bosh/net/http_server.hpp"

namespace bosh::agent {

namespace fs = std::filesystem;

void make_self_signed_certificate(const fs::path& cert, const fs::path& key, const std::string& host) {
  fs::create_directories(cert.parent_path());
  std::string san = "subjectAltName=" + std::string(host.find_first_not_of("0123456789.") == std::string::npos
                                                        ? "IP:" + host
                                                        : "DNS:" + host);
  auto r = run_process({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key.string(), "-out",
                        cert.string(), "-days", "365", "-subj", "/CN=" + host, "-addext", san});
  if (r.exit_code != 0) fail("cannot make a certificate for the HTTPS mbus: {}", r.err);
  fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
}

namespace {

void serve(const HttpsMbus::Config& config, const std::string& user, const std::string& password, net::Request& req,
           net::Response& resp) {
  auto reply = [&](int status, const std::string& body, const std::string& type = "application/json") {
    resp.send(status, body, type);
  };
  auto creds = req.basic_credentials();
  if (!creds) {
    resp.set("WWW-Authenticate", "Basic realm=\"bosh-agent\"");
    return reply(401, "{\"error\": \"authentication required\"}");
  }
  if (creds->first != user || creds->second != password) return reply(401, "{\"error\": \"wrong credentials\"}");
  const std::string& path = req.path();
  if (path == "/agent" && req.method() == "POST") return reply(200, config.handle(req.read_body(64u << 20)));
  if (path.rfind("/blobs/", 0) == 0) {
    const std::string id = net::percent_decode(path.substr(7));
    if (id.empty() || id.find('/') != std::string::npos || id[0] == '.')
      return reply(400, "{\"error\": \"bad blob id\"}");
    plugin::Blobstore& store = config.blobstore();
    if (req.method() == "PUT") {
      if (store.exists(id)) store.delete_blob(id);
      store.create(req.body(), id);
      if (!req.body_error().empty()) {
        store.delete_blob(id);
        return reply(req.body_error_status(), "{\"error\": \"the upload broke off\"}");
      }
      return reply(201, "");
    }
    if (req.method() == "GET") {
      if (!store.exists(id)) return reply(404, "");
      std::ostream& out = resp.begin(200, std::nullopt, "application/octet-stream");
      store.get(id, out);
      return;
    }
  }
  reply(404, "{\"error\": \"no such endpoint\"}");
}

}  // namespace

struct HttpsMbus::Impl {
  Config config;
  std::string user, password;
  std::unique_ptr<net::Server> server;
};

HttpsMbus::HttpsMbus(Config config) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  Poco::URI uri(impl_->config.url);
  const std::string info = uri.getUserInfo();
  const auto colon = info.find(':');
  impl_->user = info.substr(0, colon);
  impl_->password = colon == std::string::npos ? "" : info.substr(colon + 1);
  if (impl_->user.empty()) fail("mbus {}: an HTTPS mbus needs user:password@", log::redact_url(impl_->config.url));
  net::ServerConfig sc;
  sc.name = "https-mbus";
  sc.address = uri.getHost();
  sc.port = uri.getPort();
  sc.tls_cert = impl_->config.cert_file;
  sc.tls_key = impl_->config.key_file;
  sc.workers = 4;
  Impl& impl = *impl_;
  impl_->server = std::make_unique<net::Server>(sc, [&impl](net::Request& req, net::Response& resp) {
    serve(impl.config, impl.user, impl.password, req, resp);
  });
}

HttpsMbus::~HttpsMbus() = default;

int HttpsMbus::port() const { return impl_->server->port(); }

}  // namespace bosh::agent
