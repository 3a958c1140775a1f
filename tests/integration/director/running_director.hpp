// A bosh-director on a free 127.0.0.1 port with its own state dir (SQLite,
// the local CPI), stopped with the test; and releases made the way `bosh
// create release` makes them.
#pragma once

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <memory>
#include <thread>

#include "../../peers/nats_server.hpp"  // free_port, port_open
#include "bosh/common/fs.hpp"
#include "bosh/common/http.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/subprocess.hpp"
#include "bosh/release/create.hpp"

namespace bosh::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline const fs::path kDirector = fs::path(BOSH_TEST_BINARY_DIR) / "bin/bosh-director";

struct RunningDirector {
  bosh::TempDir dir{"bosh-director"};
  int port = bosh::testing::free_port();
  std::unique_ptr<bosh::BackgroundProcess> process;

  // `extra`: more director.yml, e.g. "http: {head_timeout_ms: 2000}\n".
  explicit RunningDirector(const std::string& db = "", const std::string& extra = "") {
    auto hash = bosh::run_process({kDirector.string(), "hash-password", "s3cret"});
    REQUIRE(hash.exit_code == 0);
    std::string h = hash.out.substr(0, hash.out.find('\n'));
    bosh::write_file_atomic(dir.path() / "director.yml",
                            "name: test-bosh\naddress: 127.0.0.1\nport: " + std::to_string(port) + "\nstate_dir: " +
                                (dir.path() / "state").string() + "\nusers:\n- name: admin\n  password_hash: \"" + h +
                                "\"\ncpi: {plugin: local, properties: {root: " + (dir.path() / "cpi").string() + "}}\n" + (db.empty() ? "" : "db: " + db + "\n") + extra,
                            fs::perms::owner_read | fs::perms::owner_write);
    start();
  }
  void start() {
    process = std::make_unique<bosh::BackgroundProcess>(
        std::vector<std::string>{kDirector.string(), "--config", (dir.path() / "director.yml").string()},
        dir.path() / "director.log");
    REQUIRE_MESSAGE(bosh::testing::wait_for_port(port, process.get()), bosh::read_file(dir.path() / "director.log"));
  }
  bosh::plugin::HttpResponse request(const std::string& method, const std::string& path, const std::string& auth = "admin:s3cret",
                                     std::map<std::string, std::string> headers = {}, std::string body = "") {
    bosh::plugin::HttpRequest req;
    req.body = std::move(body);
    req.method = method;
    req.url = "https://" + (auth.empty() ? "" : auth + "@") + "127.0.0.1:" + std::to_string(port) + path;
    req.ca_cert_pem = bosh::read_file(dir.path() / "state/tls/director.pem");
    req.headers = std::move(headers);
    return bosh::http_request(req);
  }
  std::string db_url() const { return "sqlite://" + (dir.path() / "state/director.db").string(); }
  // Polls GET <location> until the task has ended (or the deadline, one for a
  // busy machine, has passed); the task.
  Poco::JSON::Object::Ptr wait_task(const std::string& location,
                                    std::chrono::milliseconds timeout = std::chrono::minutes(5)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto task = bosh::as_object(bosh::parse_json(request("GET", location).body, "task"), "task");
      const std::string state = task->getValue<std::string>("state");
      if ((state != "queued" && state != "processing") || std::chrono::steady_clock::now() >= deadline) return task;
      std::this_thread::sleep_for(20ms);
    }
  }
  // The same, until `tries` polls went by.
  Poco::JSON::Object::Ptr wait_task(const std::string& location, int tries) {
    Poco::JSON::Object::Ptr task;
    for (int i = 0; i < tries; ++i) {
      task = bosh::as_object(bosh::parse_json(request("GET", location).body, "task"), "task");
      const std::string state = task->getValue<std::string>("state");
      if (state != "queued" && state != "processing") break;
      std::this_thread::sleep_for(20ms);
    }
    return task;
  }
  // POSTs a release tarball; the task's location.
  std::string post_release(const std::string& tarball) {
    auto r = request("POST", "/releases", "admin:s3cret", {{"Content-Type", "application/x-compressed"}}, tarball);
    REQUIRE(r.status == 302);
    return r.headers.at("Location");
  }
};

// A release as `bosh create release --force --with-tarball` makes it from
// these files (relative path -> content) in `dir`; the tarball's path.
inline fs::path make_release(const fs::path& dir, const std::map<std::string, std::string>& files) {
  for (const auto& [rel, text] : files) {
    fs::create_directories((dir / rel).parent_path());
    std::ofstream(dir / rel) << text;
  }
  bosh::release::CreateOptions options;
  options.dir = dir;
  options.force = true;
  options.with_tarball = true;
  options.cache_dir = dir.parent_path() / (dir.filename().string() + "-build-cache");
  return *bosh::release::create_release(options, bosh::release::blobstore_access(nullptr, dir)).tarball;
}

}  // namespace bosh::testing
