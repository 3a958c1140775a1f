// The dav provider against the real bosh-blobstore server (the binary).
#include <doctest/doctest.h>

#include <sstream>
#include <thread>

#include "../../peers/nats_server.hpp"  // free_port, port_open, require_program
#include "bosh/blobstore/blobstore.hpp"
#include "bosh/blobstore/dav.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/http.hpp"
#include "bosh/common/json.hpp"
#include "bosh/plugin/testing/blobstore_conformance.hpp"
#include "bosh/plugin/testing/null_host.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const fs::path kServer = fs::path(BOSH_TEST_BINARY_DIR) / "bin/bosh-blobstore";

struct BlobstoreServer {
  bosh::TempDir dir{"bosh-dav"};
  int port = bosh::testing::free_port();
  bool tls;
  std::unique_ptr<bosh::BackgroundProcess> process;

  explicit BlobstoreServer(bool with_tls = false) : tls(with_tls) {
    std::string conf = "port: " + std::to_string(port) + "\nroot: " + (dir.path() / "store").string() +
                       "\nwriter: {name: agent, password: w-secret}\nreader: {name: director, password: r-secret}\n";
    if (tls) {
      auto r = bosh::run_process({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                                  (dir.path() / "key.pem").string(), "-out", (dir.path() / "cert.pem").string(),
                                  "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"});
      REQUIRE_MESSAGE(r.exit_code == 0, r.err);
      conf += "tls: {cert: " + (dir.path() / "cert.pem").string() + ", key: " + (dir.path() / "key.pem").string() + "}\n";
    }
    bosh::write_file_atomic(dir.path() / "blobstore.yml", conf, fs::perms::owner_read | fs::perms::owner_write);
    process = std::make_unique<bosh::BackgroundProcess>(
        std::vector<std::string>{kServer.string(), "--config", (dir.path() / "blobstore.yml").string()},
        dir.path() / "server.log");
    REQUIRE_MESSAGE(bosh::testing::wait_for_port(port, process.get()), bosh::read_file(dir.path() / "server.log"));
  }
  std::string endpoint() const { return std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port); }
  bosh::plugin::Json options(const std::string& user, const std::string& password) const {
    std::string json = "{\"endpoint\": \"" + endpoint() + "\", \"user\": \"" + user + "\", \"password\": \"" + password + "\"";
    if (tls) {
      std::string ca;
      for (char c : bosh::read_file(dir.path() / "cert.pem")) ca += c == '\n' ? std::string("\\n") : std::string(1, c);
      json += ", \"tls\": {\"cert\": {\"ca\": \"" + ca + "\"}}";
    }
    return bosh::parse_json(json + "}", "options");
  }
};

bosh::plugin::testing::NullHostServices host;

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("dav: the provider passes the blobstore conformance kit against bosh-blobstore") {
    BlobstoreServer server;
    bosh::plugin::testing::blobstore_conformance(
        [&] { return bosh::blobstore::make_dav_blobstore(host, server.options("agent", "w-secret")); });
  }

  TEST_CASE("dav: blobs live at xx/<id> and PUT answers the sha1") {
    BlobstoreServer server;
    auto store = bosh::blobstore::make_dav_blobstore(host, server.options("agent", "w-secret"));
    std::istringstream in("hello");
    std::string id = store->create(in, std::string("my-blob"));
    CHECK(bosh::read_file(server.dir.path() / "store" / bosh::blobstore::dav_path("my-blob")) == "hello");
    CHECK(bosh::blobstore::dav_path("my-blob").substr(0, 3) == bosh::sha1_hex("my-blob").substr(0, 2) + "/");
    bosh::plugin::HttpRequest put;
    put.method = "PUT";
    put.url = "http://agent:w-secret@127.0.0.1:" + std::to_string(server.port) + "/ab/raw-blob";
    put.body = "abc";
    auto resp = bosh::http_request(put);
    CHECK(resp.status == 201);
    CHECK(resp.headers.at("X-Blob-Sha1") == "a9993e364706816aba3e25717850c26c9cd0d89d");
  }

  TEST_CASE("dav: readers read / writers write and wrong passwords are refused") {
    BlobstoreServer server;
    auto writer = bosh::blobstore::make_dav_blobstore(host, server.options("agent", "w-secret"));
    auto reader = bosh::blobstore::make_dav_blobstore(host, server.options("director", "r-secret"));
    std::istringstream in("shared");
    std::string id = writer->create(in, std::nullopt);
    std::ostringstream out;
    reader->get(id, out);
    CHECK(out.str() == "shared");
    CHECK(reader->exists(id));
    std::istringstream more("x");
    CHECK_THROWS_WITH_AS(reader->create(more, std::string("nope")),
                         doctest::Contains("PUT nope: not allowed for user 'director' (HTTP 403)"),
                         bosh::plugin::BlobstoreError);
    CHECK_THROWS_WITH_AS(reader->delete_blob(id), doctest::Contains("not allowed for user 'director' (HTTP 403)"),
                         bosh::plugin::BlobstoreError);
    auto wrong = bosh::blobstore::make_dav_blobstore(host, server.options("agent", "guess"));
    CHECK_THROWS_WITH_AS(wrong->exists(id), doctest::Contains("(HTTP 401)"), bosh::plugin::BlobstoreError);
  }

  TEST_CASE("dav: over TLS with the server's CA / checksummed put and get") {
    BlobstoreServer server(true);
    auto store = bosh::blobstore::make_dav_blobstore(host, server.options("agent", "w-secret"));
    bosh::TempDir tmp("bosh-dav-files");
    bosh::write_file_atomic(tmp.path() / "in.bin", std::string(3 << 20, 'z'));
    auto stored = bosh::blobstore::put_file(*store, tmp.path() / "in.bin", bosh::DigestAlgorithm::sha256);
    bosh::blobstore::get_file(*store, stored.id, tmp.path() / "out.bin", stored.digest);
    CHECK(bosh::read_file(tmp.path() / "out.bin").size() == (3u << 20));
    CHECK_THROWS_AS(bosh::blobstore::get_file(*store, stored.id, tmp.path() / "bad.bin",
                                              bosh::Digest::parse("sha256:" + std::string(64, '0'))),
                    bosh::plugin::BlobChecksumMismatch);
  }

  TEST_CASE("dav: a config without a writer is refused naming the file") {
    bosh::TempDir dir("bosh-dav-bad");
    bosh::write_file_atomic(dir.path() / "b.yml", "root: /tmp/x\n", fs::perms::owner_read | fs::perms::owner_write);
    auto r = bosh::run_process({kServer.string(), "--config", (dir.path() / "b.yml").string()});
    CHECK(r.exit_code == 1);
    CHECK(r.err == "bosh-blobstore: " + (dir.path() / "b.yml").string() + ": 'writer' is required\n");
  }
}
