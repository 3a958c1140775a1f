#include "bosh/blobstore/dav.hpp"
#include "bosh/common/random.hpp"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPBasicCredentials.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "bosh/common/digest.hpp"
#include "bosh/common/error.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/log.hpp"

namespace bosh::blobstore {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kLog = "dav";

bool valid_id(const std::string& id) {
  return !id.empty() && id.size() <= 256 && id[0] != '.' && id.find('/') == std::string::npos &&
         id.find('\0') == std::string::npos;
}

// ---- client ------------------------------------------------------------------

class DavBlobstore final : public plugin::Blobstore {
 public:
  DavBlobstore(std::string endpoint, std::string user, std::string password, std::string ca_pem)
      : uri_(endpoint), user_(std::move(user)), password_(std::move(password)) {
    if (uri_.getScheme() != "http" && uri_.getScheme() != "https")
      throw plugin::BlobstoreError("dav blobstore: endpoint '" + endpoint + "' is not http(s)");
    if (uri_.getScheme() == "https") {
      if (!ca_pem.empty()) {
        ca_dir_ = std::make_unique<TempDir>("bosh-dav-ca");
        write_file_atomic(ca_dir_->path() / "ca.pem", ca_pem);
      }
      context_ = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "",
                                        ca_dir_ ? (ca_dir_->path() / "ca.pem").string() : "",
                                        Poco::Net::Context::VERIFY_STRICT, 9, !ca_dir_);
    }
    base_path_ = uri_.getPath();
    while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();
  }

  std::string create(std::istream& content, const std::optional<std::string>& id) override {
    std::string key = id ? *id : random_uuid();
    if (!valid_id(key)) throw plugin::BlobstoreError("invalid blob id '" + key + "'");
    if (id && exists(key)) throw plugin::BlobstoreError("blob '" + key + "' already exists");
    // Spooled first, so the PUT carries its exact length: a source that
    // fails midway sends nothing, and a cut connection is a short body the
    // server can see and discard.
    TempDir spool("bosh-dav-put");
    const fs::path file = spool.path() / "blob";
    {
      std::ofstream out(file, std::ios::binary);
      char buffer[1 << 16];
      while (content) {
        content.read(buffer, sizeof buffer);
        out.write(buffer, content.gcount());
      }
      if (content.bad()) throw plugin::BlobstoreError("dav blobstore: reading the blob's content failed");
      if (!out) throw plugin::BlobstoreError("dav blobstore: spooling the blob failed");
    }
    auto session = connect();
    Poco::Net::HTTPRequest req("PUT", path(key), Poco::Net::HTTPMessage::HTTP_1_1);
    req.setContentLength64(static_cast<Poco::UInt64>(fs::file_size(file)));
    auth(req);
    std::ostream& body = session->sendRequest(req);
    std::ifstream spooled(file, std::ios::binary);
    Poco::StreamCopier::copyStream(spooled, body);
    Poco::Net::HTTPResponse resp;
    std::istream& in = session->receiveResponse(resp);
    std::string text;
    Poco::StreamCopier::copyToString(in, text);
    check(resp, "PUT", key);
    return key;
  }

  void get(const std::string& id, std::ostream& out) override {
    auto session = connect();
    Poco::Net::HTTPRequest req("GET", path(id), Poco::Net::HTTPMessage::HTTP_1_1);
    auth(req);
    session->sendRequest(req);
    Poco::Net::HTTPResponse resp;
    std::istream& in = session->receiveResponse(resp);
    if (resp.getStatus() == Poco::Net::HTTPResponse::HTTP_NOT_FOUND)
      throw plugin::BlobNotFound("blob '" + id + "' not found");
    check(resp, "GET", id);
    Poco::StreamCopier::copyStream(in, out);
    if (!out) throw plugin::BlobstoreError("dav blobstore: writing blob '" + id + "' out failed");
  }

  void delete_blob(const std::string& id) override {
    auto status = simple("DELETE", id);
    if (status == Poco::Net::HTTPResponse::HTTP_NOT_FOUND) throw plugin::BlobNotFound("blob '" + id + "' not found");
  }

  bool exists(const std::string& id) override { return simple("HEAD", id) == Poco::Net::HTTPResponse::HTTP_OK; }

 private:
  std::unique_ptr<Poco::Net::HTTPClientSession> connect() {
    std::unique_ptr<Poco::Net::HTTPClientSession> s;
    if (context_)
      s = std::make_unique<Poco::Net::HTTPSClientSession>(uri_.getHost(), uri_.getPort(), context_);
    else
      s = std::make_unique<Poco::Net::HTTPClientSession>(uri_.getHost(), uri_.getPort());
    s->setTimeout(Poco::Timespan(120, 0));
    return s;
  }
  std::string path(const std::string& id) const {
    if (!valid_id(id)) throw plugin::BlobstoreError("invalid blob id '" + id + "'");
    return base_path_ + "/" + dav_path(id);
  }
  void auth(Poco::Net::HTTPRequest& req) const {
    if (!user_.empty()) Poco::Net::HTTPBasicCredentials(user_, password_).authenticate(req);
  }
  Poco::Net::HTTPResponse::HTTPStatus simple(const std::string& method, const std::string& id) {
    try {
      auto session = connect();
      Poco::Net::HTTPRequest req(method, path(id), Poco::Net::HTTPMessage::HTTP_1_1);
      auth(req);
      session->sendRequest(req);
      Poco::Net::HTTPResponse resp;
      std::istream& in = session->receiveResponse(resp);
      std::string ignored;
      if (method != "HEAD") Poco::StreamCopier::copyToString(in, ignored);
      if (resp.getStatus() != Poco::Net::HTTPResponse::HTTP_NOT_FOUND) check(resp, method, id);
      return resp.getStatus();
    } catch (const Poco::Exception& e) {
      throw plugin::BlobstoreError(fmt::format("dav blobstore {}: {} {}: {}", log::redact_url(uri_.toString()),
                                               method, id, e.displayText()));
    }
  }
  void check(const Poco::Net::HTTPResponse& resp, const std::string& method, const std::string& id) const {
    auto status = static_cast<int>(resp.getStatus());
    if (status >= 200 && status < 300) return;
    if (status == 401 || status == 403)
      throw plugin::BlobstoreError(fmt::format("dav blobstore {}: {} {}: not allowed for user '{}' (HTTP {})",
                                               log::redact_url(uri_.toString()), method, id, user_, status));
    throw plugin::BlobstoreError(
        fmt::format("dav blobstore {}: {} {}: HTTP {}", log::redact_url(uri_.toString()), method, id, status));
  }

  Poco::URI uri_;
  std::string user_, password_, base_path_;
  std::unique_ptr<TempDir> ca_dir_;
  Poco::Net::Context::Ptr context_;
};

// ---- server ------------------------------------------------------------------

class ServerHandler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit ServerHandler(const DavServer::Config& config) : config_(config) {}

  void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) override {
    using Status = Poco::Net::HTTPResponse::HTTPStatus;
    auto done = [&](Status status, const std::string& body = "") {
      resp.setStatus(status);
      resp.setContentLength(static_cast<std::streamsize>(body.size()));
      resp.send() << body;
    };
    try {
      const std::string method = req.getMethod();
      const bool writes = method == "PUT" || method == "DELETE";
      // A refused upload is read to its end first (up to a bound), so the
      // client, still sending, gets the answer instead of a reset.
      auto refuse = [&](Status status) {
        if (method == "PUT") {
          char sink[1 << 16];
          std::istream& in = req.stream();
          for (std::size_t total = 0; in && total < (256u << 20); total += static_cast<std::size_t>(in.gcount()))
            in.read(sink, sizeof sink);
        }
        done(status);
      };
      if (!req.hasCredentials()) {
        resp.set("WWW-Authenticate", "Basic realm=\"bosh-blobstore\"");
        return refuse(Status::HTTP_UNAUTHORIZED);
      }
      Poco::Net::HTTPBasicCredentials creds(req);
      const bool writer = creds.getUsername() == config_.writer.name && creds.getPassword() == config_.writer.password;
      const bool reader = !config_.reader.name.empty() && creds.getUsername() == config_.reader.name &&
                          creds.getPassword() == config_.reader.password;
      if (!writer && !reader) return refuse(Status::HTTP_UNAUTHORIZED);
      if (writes && !writer) return refuse(Status::HTTP_FORBIDDEN);

      // /<xx>/<id> (davcli) or /<id>
      std::string path = Poco::URI(req.getURI()).getPath();
      std::string id = path.substr(path.rfind('/') + 1);
      if (!valid_id(id)) return done(Status::HTTP_BAD_REQUEST);
      const fs::path file = config_.root / dav_path(id);
      std::error_code ec;
      if (method == "GET" || method == "HEAD") {
        if (!fs::is_regular_file(file, ec)) return done(Status::HTTP_NOT_FOUND);
        resp.setStatus(Status::HTTP_OK);
        resp.setContentType("application/octet-stream");
        resp.setContentLength64(static_cast<Poco::UInt64>(fs::file_size(file)));
        if (method == "HEAD") {
          resp.send().flush();
          return;
        }
        std::ifstream in(file, std::ios::binary);
        Poco::StreamCopier::copyStream(in, resp.send());
        return;
      }
      if (method == "DELETE") {
        if (!fs::remove(file, ec)) return done(Status::HTTP_NOT_FOUND);
        return done(Status::HTTP_NO_CONTENT);
      }
      if (method == "PUT") {
        fs::create_directories(file.parent_path());
        fs::path tmp = file.parent_path() / (".upload-" + random_uuid());
        Hasher sha1(DigestAlgorithm::sha1);
        {
          std::ofstream out(tmp, std::ios::binary);
          char buffer[1 << 16];
          std::istream& in = req.stream();
          std::uint64_t written = 0;
          while (in) {
            in.read(buffer, sizeof buffer);
            sha1.update(buffer, static_cast<std::size_t>(in.gcount()));
            out.write(buffer, in.gcount());
            written += static_cast<std::uint64_t>(in.gcount());
          }
          const bool short_body = req.hasContentLength() &&
                                  static_cast<std::uint64_t>(req.getContentLength64()) != written;
          if (in.bad() || short_body) {  // the upload broke off: keep nothing
            out.close();
            fs::remove(tmp, ec);
            return done(Status::HTTP_BAD_REQUEST);
          }
          if (!out) {
            fs::remove(tmp, ec);
            return done(Status::HTTP_INSUFFICIENT_STORAGE);
          }
        }
        fs::rename(tmp, file);
        resp.set("X-Blob-Sha1", sha1.hex_final());
        return done(Status::HTTP_CREATED);
      }
      done(Status::HTTP_METHOD_NOT_ALLOWED);
    } catch (const std::exception& e) {
      log::error(kLog, "{} {}: {}", req.getMethod(), req.getURI(), e.what());
      if (!resp.sent()) done(Poco::Net::HTTPResponse::HTTP_INTERNAL_SERVER_ERROR);
    }
  }

 private:
  const DavServer::Config& config_;
};

class ServerFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit ServerFactory(const DavServer::Config& config) : config_(config) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new ServerHandler(config_);
  }

 private:
  const DavServer::Config& config_;
};

}  // namespace

std::string dav_path(const std::string& id) { return sha1_hex(id).substr(0, 2) + "/" + id; }

std::unique_ptr<plugin::Blobstore> make_dav_blobstore(plugin::HostServices&, const plugin::Json& options) {
  try {
    auto o = as_object(options, "dav blobstore options");
    std::string ca;
    if (o->has("tls") && !o->get("tls").isEmpty()) {
      auto tls = as_object(o->get("tls"), "dav blobstore options.tls");
      if (tls->has("cert")) ca = find_string(as_object(tls->get("cert"), "options.tls.cert"), "ca", "options.tls.cert").value_or("");
    }
    return std::make_unique<DavBlobstore>(get_string(o, "endpoint", "dav blobstore options"),
                                          find_string(o, "user", "dav blobstore options").value_or(""),
                                          find_string(o, "password", "dav blobstore options").value_or(""), ca);
  } catch (const bosh::Error& e) {
    throw plugin::BlobstoreError(e.what());
  }
}

struct DavServer::Impl {
  Config config;
  std::unique_ptr<Poco::Net::ServerSocket> socket;
  std::unique_ptr<Poco::Net::HTTPServer> server;
};

DavServer::DavServer(Config config) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  if (impl_->config.writer.name.empty()) fail<InputError>("bosh-blobstore: a writer user is required");
  fs::create_directories(impl_->config.root);
  Poco::Net::SocketAddress address(impl_->config.address, static_cast<Poco::UInt16>(impl_->config.port));
  if (!impl_->config.tls_cert.empty()) {
    Poco::Net::Context::Ptr context =
        new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, impl_->config.tls_key.string(),
                               impl_->config.tls_cert.string(), "", Poco::Net::Context::VERIFY_NONE);
    impl_->socket = std::make_unique<Poco::Net::SecureServerSocket>(address, 64, context);
  } else {
    impl_->socket = std::make_unique<Poco::Net::ServerSocket>(address);
  }
  auto params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(16);
  impl_->server = std::make_unique<Poco::Net::HTTPServer>(new ServerFactory(impl_->config), *impl_->socket, params);
  impl_->server->start();
}

DavServer::~DavServer() { impl_->server->stopAll(true); }

int DavServer::port() const { return impl_->socket->address().port(); }

}  // namespace bosh::blobstore
