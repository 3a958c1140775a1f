// BOSH's simple blobstore over HTTP (the `dav` provider of davcli and the
// director's blobstore job): blobs at <endpoint>/<xx>/<id>, where xx is the
// first two hex digits of sha1(id); PUT, GET, HEAD, DELETE with basic auth.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "bosh/plugin/blobstore.hpp"

namespace bosh::blobstore {

// "ab/<id>": the path of a blob under the endpoint.
std::string dav_path(const std::string& id);

// The `dav` provider. Options: endpoint (http:// or https://), user,
// password, tls.cert.ca (PEM) for an https endpoint with its own CA.
std::unique_ptr<plugin::Blobstore> make_dav_blobstore(plugin::HostServices& host, const plugin::Json& options);
inline constexpr const char* kDavVersion = "1.0.0";

// bosh-blobstore, the server: blobs as files under `root` (xx/<id>). Each
// upload goes to a temp file renamed once complete; a body shorter than its
// Content-Length, or a chunked body without its end, is discarded. The sha1
// is computed on the way and answered in X-Blob-Sha1. Readers may GET and
// HEAD; writers may also PUT and DELETE.
class DavServer {
 public:
  struct User {
    std::string name, password;
  };
  struct Config {
    std::filesystem::path root;
    std::string address = "127.0.0.1";
    int port = 0;  // 0: a free port
    User writer, reader;
    std::filesystem::path tls_cert, tls_key;  // both empty: plain HTTP
    // The server's deadlines (bosh::net::ServerConfig): a client that sends its
    // head or body slowly is cut off instead of holding a worker.
    int workers = 16, head_timeout_ms = 10000, io_timeout_ms = 30000;
  };
  explicit DavServer(Config config);
  ~DavServer();
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bosh::blobstore
