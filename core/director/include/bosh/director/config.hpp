// director.yml: what a director serves and with what.
//
//   name: my-bosh
//   address: 127.0.0.1          # default 0.0.0.0
//   port: 25555
//   state_dir: /var/vcap/store/director   # uuid, TLS certificate, task logs
//   tls: {cert: FILE, key: FILE}          # default: self-signed, made at first start
//   db: sqlite:///var/vcap/store/director/director.db   # or postgres://...
//   users: [{name: admin, password_hash: "$6$..."}]    # `bosh-director hash-password`
//   blobstore: {provider: local, options: {...}}
//   cpi: {plugin: local, properties: {...}}
//   nats: nats://user:password@host:4222
//   workers: 3
//   max_upload_mb: 10240               # release and stemcell tarballs
//   max_request_mb: 16                 # every other request body (manifests, configs, JSON)
//   http:                              # the API server (bosh::net): more requests wait, then get 503
//     workers: 16                      # requests served at once
//     queue: 256                       # complete requests waiting for a worker
//     max_connections: 1024
//     head_timeout_ms: 10000           # TLS handshake + request line + headers, together
//     idle_timeout_ms: 30000           # between requests on a kept-alive connection
//     io_timeout_ms: 30000             # each read of a body (and at least 1 KiB/s on average)
//   extract_limits:                    # what an uploaded archive may unpack to, checked before writing
//     max_mb: 65536
//     max_ratio: 100                   # unpacked / packed, once past ratio_floor_mb
//     ratio_floor_mb: 256
//     max_entries: 500000
//   ssh_gateway: {host: jump.example.com, user: vcap}   # what bosh ssh connects through (default: directly)
//   agent_wait_timeout: 600             # seconds for a new VM's agent to answer
//   max_threads: 32                     # parallel instances for deletes, post-deploy, start/stop
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "bosh/plugin/json.hpp"

namespace bosh::director {

struct User {
  std::string name;
  std::string password_hash;  // sha512-crypt ("$6$salt$hash")
};

struct DirectorConfig {
  std::string name = "bosh";
  std::string address = "0.0.0.0";
  int port = 25555;
  std::filesystem::path state_dir;
  std::filesystem::path tls_cert, tls_key;
  std::string db;
  std::vector<User> users;
  std::string blobstore_provider;
  plugin::Json blobstore_options;
  std::string cpi_plugin;
  plugin::Json cpi_properties;
  std::string nats;
  int workers = 3;
  long long max_upload_mb = 10240;
  long long max_request_mb = 16;
  struct Http {
    int workers = 16, queue = 256, max_connections = 1024;
    int head_timeout_ms = 10000, idle_timeout_ms = 30000, io_timeout_ms = 30000;
  } http;
  struct Extract {
    long long max_mb = 65536, ratio_floor_mb = 256, max_entries = 500000;
    double max_ratio = 100;
  } extract;
  std::string ssh_gateway_host, ssh_gateway_user;
  int agent_wait_timeout = 600;  // seconds a new VM's agent gets to answer its first ping
  int max_threads = 32;          // instances a task works on at once where the manifest says nothing (delete, post-deploy, state changes)
};

// InputError naming the file, line and field at fault.
DirectorConfig load_director_config(const std::filesystem::path& file);

// sha512-crypt with a random salt, and its check (constant time).
std::string hash_password(const std::string& password);
bool verify_password(const std::string& password, const std::string& hash);

}  // namespace bosh::director
