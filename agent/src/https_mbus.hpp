// The agent's HTTPS message bus (bootstrap / `bosh micro`, no NATS):
//   POST /agent        body: a request envelope   -> the reply JSON
//   PUT  /blobs/<id>   store a blob in the agent's blobstore
//   GET  /blobs/<id>   fetch one
// Basic auth with the user and password of the mbus URL; TLS with the
// certificate from env.bosh.mbus.cert, or a self-signed one made at start.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "bosh/plugin/blobstore.hpp"

namespace bosh::agent {

class HttpsMbus {
 public:
  struct Config {
    std::string url;                       // https://user:password@host:port
    std::filesystem::path cert_file, key_file;
    std::function<std::string(const std::string&)> handle;  // envelope in, reply out
    std::function<plugin::Blobstore&()> blobstore;
  };
  explicit HttpsMbus(Config config);
  ~HttpsMbus();
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A self-signed certificate for `host` (openssl CLI), written with mode 0600.
void make_self_signed_certificate(const std::filesystem::path& cert, const std::filesystem::path& key,
                                  const std::string& host);

}  // namespace bosh::agent
