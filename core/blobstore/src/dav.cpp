#include "bosh/blobstore/dav.hpp"
#include "bosh/common/random.hpp"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
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
#include "bosh/net/http_server.hpp"

namespace bosh::blobstore {

namespace fs = std::filesystem;

namespace {


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

// Same time whatever the first differing byte (no password guessing by timing).
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % std::max<std::size_t>(1, b.size())]);
  return diff == 0;
}

void serve(const DavServer::Config& config, net::Request& req, net::Response& resp) {
  const std::string method = req.method();
  const bool writes = method == "PUT" || method == "DELETE";
  auto creds = req.basic_credentials();
  if (!creds) {
    resp.set("WWW-Authenticate", "Basic realm=\"bosh-blobstore\"");
    return resp.send(401, "");
  }
  const auto& [name, password] = *creds;
  const bool writer = name == config.writer.name && same_secret(password, config.writer.password);
  const bool reader = !config.reader.name.empty() && name == config.reader.name &&
                      same_secret(password, config.reader.password);
  if (!writer && !reader) return resp.send(401, "");
  if (writes && !writer) return resp.send(403, "");

  // /<xx>/<id> (davcli) or /<id>
  const std::string path = net::percent_decode(req.path());
  const std::string id = path.substr(path.rfind('/') + 1);
  if (!valid_id(id)) return resp.send(400, "");
  const fs::path file = config.root / dav_path(id);
  std::error_code ec;
  if (method == "GET" || method == "HEAD") {
    if (!fs::is_regular_file(file, ec)) return resp.send(404, "");
    std::ifstream in(file, std::ios::binary);
    std::ostream& out = resp.begin(200, fs::file_size(file), "application/octet-stream");
    if (method == "GET") Poco::StreamCopier::copyStream(in, out);
    return;
  }
  if (method == "DELETE") {
    if (!fs::remove(file, ec)) return resp.send(404, "");
    return resp.send(204, "");
  }
  if (method != "PUT") return resp.send(405, "");
  fs::create_directories(file.parent_path());
  const fs::path tmp = file.parent_path() / (".upload-" + random_uuid());
  Hasher sha1(DigestAlgorithm::sha1);
  {
    std::ofstream out(tmp, std::ios::binary);
    char buffer[1 << 16];
    std::istream& in = req.body();
    while (in) {
      in.read(buffer, sizeof buffer);
      sha1.update(buffer, static_cast<std::size_t>(in.gcount()));
      out.write(buffer, in.gcount());
    }
    if (!req.body_error().empty()) {  // the upload broke off: keep nothing
      out.close();
      fs::remove(tmp, ec);
      return resp.send(req.body_error_status(), req.body_error());
    }
    if (!out) {
      out.close();
      fs::remove(tmp, ec);
      return resp.send(507, "");
    }
  }
  fs::rename(tmp, file);
  resp.set("X-Blob-Sha1", sha1.hex_final());
  resp.send(201, "");
}

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
  std::unique_ptr<net::Server> server;
};

DavServer::DavServer(Config config) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  if (impl_->config.writer.name.empty()) fail<InputError>("bosh-blobstore: a writer user is required");
  fs::create_directories(impl_->config.root);
  net::ServerConfig sc;
  sc.name = "bosh-blobstore";
  sc.address = impl_->config.address;
  sc.port = impl_->config.port;
  sc.tls_cert = impl_->config.tls_cert;
  sc.tls_key = impl_->config.tls_key;
  sc.workers = impl_->config.workers;
  sc.head_timeout = std::chrono::milliseconds(impl_->config.head_timeout_ms);
  sc.io_timeout = std::chrono::milliseconds(impl_->config.io_timeout_ms);
  const Config& c = impl_->config;
  impl_->server = std::make_unique<net::Server>(sc, [&c](net::Request& req, net::Response& resp) { serve(c, req, resp); });
}

DavServer::~DavServer() = default;

int DavServer::port() const { return impl_->server->port(); }

}  // namespace bosh::blobstore
