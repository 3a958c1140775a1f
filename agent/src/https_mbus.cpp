#include "https_mbus.hpp"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPBasicCredentials.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <sstream>

#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/log.hpp"
#include "bosh/common/subprocess.hpp"

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

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Handler(const HttpsMbus::Config& config, const std::string& user, const std::string& password)
      : config_(config), user_(user), password_(password) {}

  void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) override {
    auto reply = [&](Poco::Net::HTTPResponse::HTTPStatus status, const std::string& body,
                     const std::string& type = "application/json") {
      resp.setStatus(status);
      resp.setContentType(type);
      resp.setContentLength(static_cast<std::streamsize>(body.size()));
      resp.send() << body;
    };
    try {
      if (!req.hasCredentials()) {
        resp.set("WWW-Authenticate", "Basic realm=\"bosh-agent\"");
        return reply(Poco::Net::HTTPResponse::HTTP_UNAUTHORIZED, "{\"error\": \"authentication required\"}");
      }
      Poco::Net::HTTPBasicCredentials creds(req);
      if (creds.getUsername() != user_ || creds.getPassword() != password_)
        return reply(Poco::Net::HTTPResponse::HTTP_UNAUTHORIZED, "{\"error\": \"wrong credentials\"}");
      const std::string path = Poco::URI(req.getURI()).getPath();
      if (path == "/agent" && req.getMethod() == "POST") {
        std::string body;
        Poco::StreamCopier::copyToString(req.stream(), body);
        return reply(Poco::Net::HTTPResponse::HTTP_OK, config_.handle(body));
      }
      if (path.rfind("/blobs/", 0) == 0) {
        const std::string id = path.substr(7);
        if (id.empty() || id.find('/') != std::string::npos || id[0] == '.')
          return reply(Poco::Net::HTTPResponse::HTTP_BAD_REQUEST, "{\"error\": \"bad blob id\"}");
        plugin::Blobstore& store = config_.blobstore();
        if (req.getMethod() == "PUT") {
          if (store.exists(id)) store.delete_blob(id);
          store.create(req.stream(), id);
          return reply(Poco::Net::HTTPResponse::HTTP_CREATED, "");
        }
        if (req.getMethod() == "GET") {
          if (!store.exists(id)) return reply(Poco::Net::HTTPResponse::HTTP_NOT_FOUND, "");
          std::ostringstream out;
          store.get(id, out);
          return reply(Poco::Net::HTTPResponse::HTTP_OK, out.str(), "application/octet-stream");
        }
      }
      reply(Poco::Net::HTTPResponse::HTTP_NOT_FOUND, "{\"error\": \"no such endpoint\"}");
    } catch (const std::exception& e) {
      log::error("https-mbus", "{} {}: {}", req.getMethod(), req.getURI(), e.what());
      if (!resp.sent()) reply(Poco::Net::HTTPResponse::HTTP_INTERNAL_SERVER_ERROR, "{\"error\": \"internal\"}");
    }
  }

 private:
  const HttpsMbus::Config& config_;
  const std::string& user_;
  const std::string& password_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Factory(const HttpsMbus::Config& config, const std::string& user, const std::string& password)
      : config_(config), user_(user), password_(password) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new Handler(config_, user_, password_);
  }

 private:
  const HttpsMbus::Config& config_;
  const std::string& user_;
  const std::string& password_;
};

}  // namespace

struct HttpsMbus::Impl {
  Config config;
  std::string user, password;
  std::unique_ptr<Poco::Net::SecureServerSocket> socket;
  std::unique_ptr<Poco::Net::HTTPServer> server;
};

HttpsMbus::HttpsMbus(Config config) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  Poco::URI uri(impl_->config.url);
  const std::string info = uri.getUserInfo();
  const auto colon = info.find(':');
  impl_->user = info.substr(0, colon);
  impl_->password = colon == std::string::npos ? "" : info.substr(colon + 1);
  if (impl_->user.empty()) fail("mbus {}: an HTTPS mbus needs user:password@", log::redact_url(impl_->config.url));
  Poco::Net::Context::Ptr context =
      new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, impl_->config.key_file.string(),
                             impl_->config.cert_file.string(), "", Poco::Net::Context::VERIFY_NONE);
  impl_->socket = std::make_unique<Poco::Net::SecureServerSocket>(
      Poco::Net::SocketAddress(uri.getHost(), uri.getPort()), 64, context);
  auto params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(4);
  impl_->server = std::make_unique<Poco::Net::HTTPServer>(new Factory(impl_->config, impl_->user, impl_->password),
                                                          *impl_->socket, params);
  impl_->server->start();
}

HttpsMbus::~HttpsMbus() {
  if (impl_->server) impl_->server->stopAll(true);
}

int HttpsMbus::port() const { return impl_->socket->address().port(); }

}  // namespace bosh::agent
