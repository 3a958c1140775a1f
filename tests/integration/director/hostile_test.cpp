// Hostile input against the real bosh-director and bosh-blobstore binaries:
// each case of the corpus that once hurt the director, kept as a regression
// test. Every case checks the refusal names what is wrong, and that the
// director stays up, answers and stayed small (its peak RSS) throughout.
#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>

#include <atomic>
#include <fstream>
#include <regex>
#include <thread>

#include "../../support/craft_tgz.hpp"
#include "bosh/blobstore/dav.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/json.hpp"
#include "running_director.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using bosh::testing::Crafted;
using bosh::testing::RunningDirector;

namespace {

// A "billion laughs": 10^levels scalars from a few hundred bytes.
std::string laughs(int levels, const std::string& indent) {
  std::string text = indent + "a0: &a0 \"lol\"\n";
  for (int i = 1; i <= levels; ++i) {
    text += indent + "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) text += std::string(j ? ", " : "") + "*a" + std::to_string(i - 1);
    text += "]\n";
  }
  return text;
}

// The director's peak resident memory so far, in MiB (VmHWM).
long peak_rss_mb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6)) / 1024;
  return -1;
}

std::string task_result(RunningDirector& d, const std::string& location) {
  auto task = d.wait_task(location, 3000);
  return task->getValue<std::string>("state") + ": " + task->getValue<std::string>("result");
}

std::string post(RunningDirector& d, const std::string& path, const std::string& type, const std::string& body) {
  auto r = d.request("POST", path, "admin:s3cret", {{"Content-Type", type}}, body);
  if (r.status == 302) return r.headers.at("Location");
  return std::to_string(r.status) + " " + r.body;
}

std::string upload_tgz(RunningDirector& d, const std::string& path, const fs::path& tgz) {
  return post(d, path, "application/x-compressed", bosh::read_file(tgz));
}

// Bytes straight to a TLS port (openssl s_client): what no well-behaved client sends.
std::string raw_tls(int port, const std::string& bytes) {
  bosh::ProcessOptions o;
  o.stdin_data = bytes;
  o.timeout = 20s;
  auto r = bosh::run_process({"openssl", "s_client", "-quiet", "-ign_eof", "-connect", "127.0.0.1:" + std::to_string(port)}, o);
  return r.out;
}

bool answers(RunningDirector& d) { return d.request("GET", "/info", "").status == 200; }

const std::string kStemcellMf = "name: bosh-hostile\nversion: '1'\noperating_system: hostile\nsha1: ''\napi_version: 2\n";

fs::path stemcell_tgz(const fs::path& dir, const std::string& name, const std::string& manifest,
                      std::uint64_t image_zeros = 0) {
  const fs::path out = dir / (name + ".tgz");
  std::vector<Crafted> entries = {{"stemcell.MF", bosh::ArchiveEntryType::file, manifest}};
  Crafted image{"image", bosh::ArchiveEntryType::file, "not an image"};
  image.zeros = image_zeros;
  entries.push_back(image);
  bosh::testing::craft_tgz(out, entries);
  return out;
}

// A tiny release tarball: release.MF as given, and the files.
fs::path release_tgz(const fs::path& dir, const std::string& name, const std::string& manifest,
                     std::vector<Crafted> files = {}) {
  const fs::path out = dir / (name + ".tgz");
  files.insert(files.begin(), Crafted{"release.MF", bosh::ArchiveEntryType::file, manifest});
  bosh::testing::craft_tgz(out, files);
  return out;
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("hostile: YAML alias bombs in a stemcell and in configs are refused at their line in bounded memory") {
    RunningDirector d;
    bosh::TempDir t("hostile-yaml");
    // In a stemcell's cloud_properties (once 23.7 GB of director).
    auto bomb = stemcell_tgz(t.path(), "bomb", kStemcellMf + "cloud_properties:\n" + laughs(9, "  "));
    const std::string result = task_result(d, upload_tgz(d, "/stemcells", bomb));
    CHECK(result.find("error: stemcell.MF:") == 0);
    CHECK(result.find("expands to more than") != std::string::npos);
    // In a cloud config's vm_types[0].cloud_properties (once stored, then every deploy crashed).
    const std::string cloud = "azs: [{name: z1}]\nvm_types:\n- name: default\n  cloud_properties:\n" + laughs(9, "    ");
    bosh::plugin::JsonObject::Ptr body = new bosh::plugin::JsonObject;
    body->set("type", "cloud");
    body->set("name", "default");
    body->set("content", cloud);
    auto r = d.request("POST", "/configs", "admin:s3cret", {{"Content-Type", "application/json"}}, bosh::to_json(body));
    CHECK(r.status == 400);
    CHECK(r.body.find("cloud config:") != std::string::npos);
    CHECK(r.body.find("expands to more than") != std::string::npos);
    CHECK(d.request("GET", "/configs").body == "[]");  // nothing stored
    // In a manifest's properties: POST /deployments and its diff.
    const std::string manifest = "name: bombed\nproperties:\n" + laughs(9, "  ");
    CHECK(post(d, "/deployments", "text/yaml", manifest).rfind("400 ", 0) == 0);
    CHECK(post(d, "/deployments/bombed/diff", "text/yaml", manifest).rfind("400 ", 0) == 0);
    CHECK(answers(d));
    CHECK(peak_rss_mb(d.process->pid()) < 400);
  }

  TEST_CASE("hostile: request bodies are bounded and odd Content-Lengths get 413 or 400 at once") {
    RunningDirector d("", "max_request_mb: 1\n");
    auto head = [](const std::string& length) {
      return "POST /configs HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46czNjcmV0\r\nContent-Type: "
             "application/json\r\nContent-Length: " + length + "\r\n\r\n";
    };
    // 6 GiB declared: refused before a byte of it is read.
    CHECK(raw_tls(d.port, head("6442450944")).rfind("HTTP/1.1 413", 0) == 0);
    CHECK(raw_tls(d.port, head("1000000000000000")).rfind("HTTP/1.1 413", 0) == 0);
    CHECK(raw_tls(d.port, head("abc")).rfind("HTTP/1.1 400", 0) == 0);
    CHECK(raw_tls(d.port, head("10, 20")).rfind("HTTP/1.1 400", 0) == 0);
    // A real 2 MiB body past max_request_mb.
    auto r = d.request("POST", "/configs", "admin:s3cret", {{"Content-Type", "application/json"}},
                       std::string(2 << 20, ' '));
    CHECK(r.status == 413);
    CHECK(answers(d));
  }

  TEST_CASE("hostile: slow clients do not starve the director or the blobstore and a crowd gets 503s not resets") {
    RunningDirector d("", "http: {workers: 4, head_timeout_ms: 2000}\n");
    bosh::TempDir t("hostile-slow");
    bosh::blobstore::DavServer::Config dc;
    dc.root = t.path() / "blobs";
    dc.writer = {"w", "pw"};
    dc.head_timeout_ms = 2000;
    dc.workers = 4;
    bosh::blobstore::DavServer dav(dc);
    auto connect = [](int port) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
      return fd;
    };
    std::vector<int> slow;
    for (int i = 0; i < 40; ++i) slow.push_back(connect(d.port));
    for (int i = 0; i < 20; ++i) slow.push_back(connect(dav.port()));
    std::atomic<bool> dripping{true};
    std::thread drip([&] {
      for (int n = 0; dripping && n < 200; ++n) {  // a byte each 100 ms: never a whole head
        for (int fd : slow) ::send(fd, n == 0 ? "\x16" : "G", 1, MSG_NOSIGNAL);
        std::this_thread::sleep_for(100ms);
      }
    });
    for (int i = 0; i < 5; ++i) CHECK(answers(d));
    bosh::plugin::HttpRequest put;
    put.method = "PUT";
    put.url = "http://w:pw@127.0.0.1:" + std::to_string(dav.port()) + "/ab/blob-1";
    put.body = "x";
    CHECK(bosh::http_request(put).status == 201);
    // The server closes every slow connection at its deadline.
    for (int fd : slow) {
      pollfd p{fd, POLLIN, 0};
      bool closed = false;
      for (auto until = std::chrono::steady_clock::now() + 20s; !closed && std::chrono::steady_clock::now() < until;) {
        if (::poll(&p, 1, 500) > 0) {
          char b[256];
          closed = ::recv(fd, b, sizeof b, 0) <= 0;
        }
      }
      CHECK(closed);
      ::close(fd);
    }
    dripping = false;
    drip.join();
    // 200 authenticated requests at once: each gets an HTTP answer (200 or 503), none a reset.
    std::atomic<int> ok{0}, busy{0}, broken{0};
    std::vector<std::thread> crowd;
    for (int i = 0; i < 200; ++i)
      crowd.emplace_back([&] {
        try {
          const int status = d.request("GET", "/tasks").status;
          (status == 200 ? ok : status == 503 ? busy : broken)++;
        } catch (const std::exception&) {
          broken++;
        }
      });
    for (auto& c : crowd) c.join();
    CHECK(broken == 0);
    CHECK(ok + busy == 200);
    CHECK(ok > 0);
    CHECK(answers(d));
  }

  TEST_CASE("hostile: archives that unpack past the limits are refused before anything is written") {
    RunningDirector d;
    bosh::TempDir t("hostile-bomb");
    // 2 MB of gzip holding 300 MiB of zeros, as a stemcell image and a release package.
    auto stemcell = stemcell_tgz(t.path(), "zeros", kStemcellMf, 300ull << 20);
    CHECK(fs::file_size(stemcell) < (2u << 20));
    const std::string s = task_result(d, upload_tgz(d, "/stemcells", stemcell));
    CHECK(s.find("error: ") == 0);
    CHECK(s.find("refused as a compression bomb") != std::string::npos);
    Crafted big{"packages/big.tgz", bosh::ArchiveEntryType::file, ""};
    big.zeros = 300ull << 20;
    auto release = release_tgz(t.path(), "zeros", "name: zeros\nversion: '1'\n", {big});
    const std::string r = task_result(d, upload_tgz(d, "/releases", release));
    CHECK(r.find("error: release tarball: unpacks to more than 100 times its size (at 'packages/big.tgz'") == 0);
    // A huge release.MF (once 3 GB of RSS) the same way.
    Crafted huge_mf{"release.MF", bosh::ArchiveEntryType::file, ""};
    huge_mf.zeros = 300ull << 20;
    fs::path huge = t.path() / "huge-mf.tgz";
    bosh::testing::craft_tgz(huge, {huge_mf});
    CHECK(task_result(d, upload_tgz(d, "/releases", huge)).find("refused as a compression bomb") != std::string::npos);
    // Nothing unpacked stays: not in the director's temp dir, not in its uploads.
    for (const char* dir : {"state/tmp", "state/uploads"}) {
      std::size_t left = 0;
      for (auto it = fs::recursive_directory_iterator(d.dir.path() / dir); it != fs::recursive_directory_iterator(); ++it)
        left += it->is_regular_file();
      CHECK_MESSAGE(left == 0, dir);
    }
    CHECK(answers(d));
    CHECK(peak_rss_mb(d.process->pid()) < 400);
  }

  TEST_CASE("hostile: names and versions are BOSH's and text is UTF-8 or refused") {
    RunningDirector d;
    bosh::TempDir t("hostile-names");
    auto bad_release = release_tgz(t.path(), "bad", "name: ../../bad\nversion: '1'\n");
    CHECK(task_result(d, upload_tgz(d, "/releases", bad_release)) ==
          "error: release name '../../bad' may only have letters, digits, '-', '_', '.' and '+' (at most 255)");
    auto odd_stemcell = stemcell_tgz(t.path(), "odd", "name: a/b?c=d#e\nversion: '1'\n");
    CHECK(task_result(d, upload_tgz(d, "/stemcells", odd_stemcell)) ==
          "error: stemcell.MF: name 'a/b?c=d#e' may only have letters, digits, '-', '_', '.' and '+' (at most 255)");
    auto bytes_stemcell = stemcell_tgz(t.path(), "bytes", "name: x\xff\xfe\nversion: '1'\n");
    CHECK(task_result(d, upload_tgz(d, "/stemcells", bytes_stemcell)) == "error: stemcell.MF:1:8: not UTF-8 (byte 0xff)");
    // A tarball whose entry name has raw bytes: the task fails, and its error is still JSON UTF-8.
    auto raw_name = release_tgz(t.path(), "raw", "name: raw\nversion: '1'\n",
                                {{"jobs/\xff\xfe.tgz", bosh::ArchiveEntryType::file, "x"}});
    CHECK(task_result(d, upload_tgz(d, "/releases", raw_name)).find("error: release tarball: jobs/") == 0);
    auto tasks = d.request("GET", "/tasks?verbose=2&limit=100");
    CHECK(tasks.status == 200);
    CHECK_NOTHROW(bosh::parse_json(tasks.body, "GET /tasks"));
    CHECK(d.request("GET", "/stemcells").body == "[]");
    CHECK(d.request("GET", "/releases").body == "[]");
    // A deployment name that could not be addressed.
    CHECK(post(d, "/deployments", "text/yaml", "name: a/b\n").find("400 {\"code\":40000,\"description\":\"manifest: name 'a/b'") == 0);
  }

  TEST_CASE("hostile: duplicate keys and loose types are refused") {
    RunningDirector d;
    CHECK(post(d, "/deployments", "text/yaml", "name: badc\nreleases: []\nname: other\n") ==
          "400 {\"code\":40000,\"description\":\"manifest:3:1: duplicate key 'name'\"}");
    bosh::plugin::JsonObject::Ptr body = new bosh::plugin::JsonObject;
    body->set("type", "cloud");
    body->set("name", "default");
    body->set("content", "networks:\n- name: default\n  type: dynamic\n- name: default\n  type: manual\n");
    auto r = d.request("POST", "/configs", "admin:s3cret", {{"Content-Type", "application/json"}}, bosh::to_json(body));
    CHECK(r.status == 400);
    CHECK(r.body.find("cloud config:4:9: networks 'default' is defined twice") != std::string::npos);
    // "maybe" is not true: nothing is cleaned up.
    CHECK(post(d, "/cleanup", "application/json", R"({"config":{"remove_all":"maybe"}})") ==
          "400 {\"code\":40000,\"description\":\"request body: config: 'remove_all' must be true or false, got 'maybe'\"}");
    CHECK(post(d, "/cleanup", "application/json", R"({"config":{"remove_all":true,"remove_all":false}})")
              .find("duplicate key \\\"remove_all\\\"") != std::string::npos);
    CHECK(bosh::as_array(bosh::parse_json(d.request("GET", "/tasks?verbose=2").body, "tasks"), "tasks")->size() == 0);
  }

  TEST_CASE("hostile: a manifest deploy would refuse is refused by diff too") {
    RunningDirector d;
    REQUIRE(post(d, "/cloud_configs", "text/yaml",
                 "azs: [{name: z1}]\nvm_types: [{name: default}]\nnetworks:\n- name: default\n  type: manual\n"
                 "  subnets: [{range: 10.0.0.0/24, gateway: 10.0.0.1, azs: [z1]}]\n"
                 "compilation: {workers: 1, network: default, az: z1, vm_type: default}\n")
                .rfind("201", 0) == 0);
    const std::string base = "name: dep\nreleases: [{name: app, version: '1'}]\nstemcells: [{alias: default, os: x, version: latest}]\n"
                             "update: {canaries: 1, max_in_flight: 1, canary_watch_time: 1000, update_watch_time: 1000}\n"
                             "instance_groups:\n- name: web\n  azs: [z1]\n  vm_type: default\n  stemcell: default\n"
                             "  networks: [{name: default}]\n  jobs: []\n";
    for (const auto& [line, refusal] : std::vector<std::pair<std::string, std::string>>{
             {"  instances: 1000000000\n", "instance_groups[0] (web).instances: must be from 0 to 10000, got 1000000000"},
             {"  instances: -1\n", "instance_groups[0] (web).instances: must be from 0 to 10000, got -1"},
             {"  instances: 1\n  persistent_disk: -100\n",
              "instance_groups[0] (web).persistent_disk: must be from 0 to 1099511627776 MB, got -100"}}) {
      CAPTURE(line);
      const std::string diff = post(d, "/deployments/dep/diff", "text/yaml", base + line);
      CAPTURE(diff);
      CHECK(diff.rfind("400 ", 0) == 0);
      CHECK(diff.find(refusal) != std::string::npos);
      const std::string task = post(d, "/deployments", "text/yaml", base + line);
      REQUIRE(task.rfind("/tasks/", 0) == 0);
      CHECK(task_result(d, task).find(refusal) != std::string::npos);
    }
    CHECK(peak_rss_mb(d.process->pid()) < 400);
  }

  TEST_CASE("hostile: nested archives are checked at upload and named by their release.MF entry") {
    RunningDirector d;
    bosh::TempDir t("hostile-nested");
    const std::string garbage = "this is not a tgz";
    const std::string mf = "name: nested\nversion: '1'\njobs:\n- name: web\n  version: '1'\n  fingerprint: '1'\n  sha1: " +
                           bosh::sha1_hex(garbage) + "\n  packages: []\n";
    auto tgz = release_tgz(t.path(), "nested", mf, {{"jobs/web.tgz", bosh::ArchiveEntryType::file, garbage}});
    CHECK(task_result(d, upload_tgz(d, "/releases", tgz))
              .find("error: release tarball: release.MF: jobs[0] (web): jobs/web.tgz: not a gzip'd tar archive") == 0);
    const std::string wrong = "name: nested\nversion: '1'\njobs:\n- name: web\n  version: '1'\n  fingerprint: '1'\n  "
                              "sha1: 0000000000000000000000000000000000000000\n";
    auto tgz2 = release_tgz(t.path(), "wrong", wrong, {{"jobs/web.tgz", bosh::ArchiveEntryType::file, garbage}});
    CHECK(task_result(d, upload_tgz(d, "/releases", tgz2))
              .find("error: release tarball: release.MF: jobs[0].sha1: jobs/web.tgz has sha1") == 0);
    std::size_t left = 0;
    for (auto it = fs::recursive_directory_iterator(d.dir.path() / "state/tmp"); it != fs::recursive_directory_iterator(); ++it)
      left += it->is_regular_file();
    CHECK(left == 0);
  }

  TEST_CASE("hostile: two uploads of one release at once never give a raw database error") {
    RunningDirector d;
    bosh::TempDir t("hostile-twice");
    auto tarball = bosh::testing::make_release(t.path() / "rel", {{"config/final.yml", "name: twice\n"},
                                                                  {"jobs/web/spec", "name: web\ntemplates: {}\n"},
                                                                  {"jobs/web/monit", ""}});
    const std::string bytes = bosh::read_file(tarball);
    std::string first, second;
    std::thread a([&] { first = post(d, "/releases", "application/x-compressed", bytes); });
    std::thread b([&] { second = post(d, "/releases", "application/x-compressed", bytes); });
    a.join();
    b.join();
    const std::string ra = task_result(d, first), rb = task_result(d, second);
    for (const auto& r : {ra, rb}) {
      CAPTURE(r);
      CHECK(r.find("UNIQUE") == std::string::npos);
      CHECK(r.find("constraint") == std::string::npos);
      CHECK((r.rfind("done: ", 0) == 0 || r.find("is already being uploaded by task") != std::string::npos));
    }
    CHECK((ra.find("Created release 'twice/") != std::string::npos || rb.find("Created release 'twice/") != std::string::npos));
  }
}
