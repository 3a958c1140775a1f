// bosh::net::Server on 127.0.0.1, driven by raw sockets (for what a hostile
// client sends) and by the project's HTTP client (for TLS). Deadlines are
// configured short; tests wait for the event they need (an answer, the
// server closing), never a fixed time.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bosh/common/fs.hpp"
#include "bosh/common/http.hpp"
#include "bosh/common/subprocess.hpp"
#include "bosh/net/http_server.hpp"
#include "../../../core/net/src/request_head.hpp"

using namespace std::chrono_literals;
using bosh::net::HeadError;
using bosh::net::RequestHead;

namespace {

int status_of(const std::variant<RequestHead, HeadError>& r) {
  return std::holds_alternative<HeadError>(r) ? std::get<HeadError>(r).status : 0;
}
int parse_status(const std::string& head) { return status_of(bosh::net::parse_request_head(head, 100)); }

// A raw client connection.
struct Client {
  int fd = -1;
  explicit Client(int port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~Client() {
    if (fd >= 0) ::close(fd);
  }
  bool send(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }
  // Everything until the server closes ("<reset>" appended when it resets),
  // or until `needle` has arrived when one is given ("<closed>" appended when
  // the server closes first); "<timeout>" when `limit` passes.
  std::string read_until(const std::string& needle, std::chrono::milliseconds limit = 20s) {
    std::string out;
    const auto end = std::chrono::steady_clock::now() + limit;
    while (needle.empty() || out.find(needle) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left <= 0ms) return out + "<timeout>";
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[65536];
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n < 0) return out + "<reset>";
      if (n == 0) return needle.empty() ? out : out + "<closed>";
      out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
  }
  std::string read_all(std::chrono::milliseconds limit = 20s) { return read_until("", limit); }
};

bosh::net::ServerConfig quick_config() {
  bosh::net::ServerConfig c;
  c.workers = 4;
  c.head_timeout = 1500ms;
  c.idle_timeout = 1500ms;
  c.io_timeout = 1500ms;
  return c;
}

// Echoes method, path, query x and the body; /limited accepts 10 bytes.
void echo(bosh::net::Request& req, bosh::net::Response& resp) {
  if (req.path() == "/limited") req.limit_body(10);
  const std::string body = req.read_body(1 << 20);
  auto q = req.query().find("x");
  resp.send(200, req.method() + " " + req.path() + " x=" + (q == req.query().end() ? "" : q->second) + " " + body,
            "text/plain");
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("http head: what can be read two ways is refused") {
    CHECK(parse_status("GET /a HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
    CHECK(parse_status("POST /a HTTP/1.1\r\nContent-Length: abc\r\n\r\n") == 400);
    CHECK(parse_status("POST /a HTTP/1.1\r\nContent-Length: 10, 20\r\n\r\n") == 400);
    CHECK(parse_status("POST /a HTTP/1.1\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n") == 400);
    CHECK(parse_status("POST /a HTTP/1.1\r\nContent-Length: 1000000000000000000000\r\n\r\n") == 400);
    CHECK(parse_status("POST /a HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
    CHECK(parse_status("POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n") == 501);
    CHECK(parse_status("GET /a HTTP/1.1\r\nX-A: 1\r\n continued\r\n\r\n") == 400);
    CHECK(parse_status("GET /a HTTP/2.0\r\n\r\n") == 505);
    CHECK(parse_status("GET http://evil/ HTTP/1.1\r\n\r\n") == 400);
    CHECK(parse_status("GET /a b HTTP/1.1\r\n\r\n") == 400);
    CHECK(parse_status("GET /\xff HTTP/1.1\r\n\r\n") == 400);
    CHECK(parse_status("GET /a HTTP/1.1\r\nBad Name: x\r\n\r\n") == 400);
    CHECK(parse_status("GET /a HTTP/1.1\r\nX: a\x01" "b\r\n\r\n") == 400);
    CHECK(parse_status("POST /a HTTP/1.1\r\nExpect: something\r\n\r\n") == 417);
    std::string many = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 101; ++i) many += "X-" + std::to_string(i) + ": 1\r\n";
    CHECK(parse_status(many + "\r\n") == 431);
    auto head = std::get<RequestHead>(bosh::net::parse_request_head(
        "\r\nPUT /b HTTP/1.0\r\nContent-Length: 7\r\nConnection: keep-alive\r\n\r\n", 100));
    CHECK(head.method == "PUT");
    CHECK(head.content_length.value() == 7);
    CHECK(head.keep_alive);
    CHECK(bosh::net::find_head_end("GET / HTTP/1.1\r\nA: b\r\n\r\nBODY").value() == 24);
    CHECK_FALSE(bosh::net::find_head_end("GET / HTTP/1.1\r\nA: b\r\n"));
  }

  TEST_CASE("http server: requests with a length or chunked bodies kept alive and pipelined") {
    bosh::net::Server server(quick_config(), echo);
    Client c(server.port());
    REQUIRE(c.send("POST /p%20q?x=a%2Bb+c HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"));
    CHECK(c.read_until("hello").find("200 OK") != std::string::npos);
    REQUIRE(c.send("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nT: x\r\n\r\n"
                   "GET /second HTTP/1.1\r\n\r\nGET /third HTTP/1.1\r\nConnection: close\r\n\r\n"));
    const std::string rest = c.read_all();
    CHECK(rest.find("POST /c x= abcde") != std::string::npos);
    CHECK(rest.find("GET /second x= ") != std::string::npos);
    CHECK(rest.find("GET /third x= ") != std::string::npos);
    CHECK(rest.find("<timeout>") == std::string::npos);
    Client q(server.port());
    REQUIRE(q.send("GET /a?x=a%2Bb+c HTTP/1.1\r\nConnection: close\r\n\r\n"));
    CHECK(q.read_all().find("GET /a x=a+b c") != std::string::npos);
  }

  TEST_CASE("http server: a body over the route's limit is refused before it is sent") {
    bosh::net::Server server(quick_config(), echo);
    Client c(server.port());
    REQUIRE(c.send("POST /limited HTTP/1.1\r\nContent-Length: 1000000000000000\r\n\r\n"));
    const std::string answer = c.read_all();
    CHECK(answer.rfind("HTTP/1.1 413 Payload Too Large", 0) == 0);
    CHECK(answer.find("larger than 10 bytes") != std::string::npos);
    Client chunked(server.port());
    REQUIRE(chunked.send("POST /limited HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nff\r\n" + std::string(255, 'a')));
    CHECK(chunked.read_all().rfind("HTTP/1.1 413", 0) == 0);
    Client bad(server.port());
    REQUIRE(bad.send("POST /x HTTP/1.1\r\nContent-Length: 10, 20\r\n\r\n"));
    CHECK(bad.read_all().rfind("HTTP/1.1 400 Bad Request", 0) == 0);
    Client big(server.port());
    REQUIRE(big.send("GET / HTTP/1.1\r\nX: " + std::string(70000, 'a') + "\r\n\r\n"));
    CHECK(big.read_all().rfind("HTTP/1.1 431", 0) == 0);
    CHECK(server.stats().bad_requests >= 2);
  }

  TEST_CASE("http server: slow heads are cut off at the deadline while others are served") {
    auto config = quick_config();
    config.workers = 2;
    bosh::net::Server server(config, echo);
    std::vector<std::unique_ptr<Client>> slow;
    for (int i = 0; i < 40; ++i) {
      slow.push_back(std::make_unique<Client>(server.port()));
      REQUIRE(slow.back()->send("G"));
    }
    std::atomic<bool> dripping{true};
    std::thread drip([&] {
      // A byte per 100 ms on each: every connection is active, none finishes its head.
      for (int i = 0; dripping && i < 300; ++i) {
        for (auto& s : slow) s->send("E");
        std::this_thread::sleep_for(100ms);
      }
    });
    for (int i = 0; i < 5; ++i) {
      Client ok(server.port());
      REQUIRE(ok.send("GET /fine HTTP/1.1\r\nConnection: close\r\n\r\n"));
      CHECK(ok.read_all(10s).find("GET /fine") != std::string::npos);
    }
    // Every slow connection is closed by the server (its read ends), not left open.
    for (auto& s : slow) CHECK(s->read_all(20s).find("<timeout>") == std::string::npos);
    dripping = false;
    drip.join();
    CHECK(server.stats().head_timeouts >= 40);
  }

  TEST_CASE("http server: when every worker is busy the answer is 503 at once and never a reset") {
    auto config = quick_config();
    config.workers = 2;
    config.queue = 2;
    std::mutex m;
    std::condition_variable cv;
    bool release = false;
    int inside = 0;
    bosh::net::Server server(config, [&](bosh::net::Request& req, bosh::net::Response& resp) {
      std::unique_lock lock(m);
      ++inside;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
      resp.send(200, "done");
    });
    std::vector<std::unique_ptr<Client>> held;
    for (int i = 0; i < 2; ++i) {
      held.push_back(std::make_unique<Client>(server.port()));
      REQUIRE(held.back()->send("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
    }
    {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return inside == 2; });  // both workers are inside the handler
    }
    for (int i = 0; i < 2; ++i) {  // these wait in the queue
      held.push_back(std::make_unique<Client>(server.port()));
      REQUIRE(held.back()->send("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
    }
    // Wait until the reactor has queued both.
    for (auto until = std::chrono::steady_clock::now() + 10s;
         server.stats().queued < 2 && std::chrono::steady_clock::now() < until;)
      std::this_thread::sleep_for(1ms);
    REQUIRE(server.stats().queued == 2);
    int busy = 0;
    std::vector<std::unique_ptr<Client>> extra;
    for (int i = 0; i < 6; ++i) {
      extra.push_back(std::make_unique<Client>(server.port()));
      REQUIRE(extra.back()->send("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"));
    }
    for (auto& e : extra) {
      const std::string answer = e->read_all(10s);
      if (answer.rfind("HTTP/1.1 503 Service Unavailable", 0) == 0) ++busy;
      CHECK(answer.find("<reset>") == std::string::npos);
    }
    CHECK(busy == 6);
    {
      std::lock_guard lock(m);
      release = true;
    }
    cv.notify_all();
    for (auto& h : held) CHECK(h->read_all(10s).find("done") != std::string::npos);
  }

  TEST_CASE("http server: past max_connections the connection nearest its deadline makes room") {
    auto config = quick_config();
    config.max_connections = 4;
    config.head_timeout = 20s;
    bosh::net::Server server(config, echo);
    std::vector<std::unique_ptr<Client>> idle;
    for (int i = 0; i < 4; ++i) {
      idle.push_back(std::make_unique<Client>(server.port()));
      REQUIRE(idle.back()->send("GE"));
    }
    Client fresh(server.port());
    REQUIRE(fresh.send("GET /room HTTP/1.1\r\nConnection: close\r\n\r\n"));
    CHECK(fresh.read_all(10s).find("GET /room") != std::string::npos);
    CHECK(server.stats().evicted >= 1);
    CHECK(idle.front()->read_all(10s).find("<timeout>") == std::string::npos);  // the oldest was closed
  }

  TEST_CASE("http server: a body slower than the minimum rate is cut off with 408") {
    auto config = quick_config();
    config.io_timeout = 500ms;
    config.min_body_rate = 1000;
    bosh::net::Server server(config, echo);
    Client c(server.port());
    REQUIRE(c.send("POST /slow HTTP/1.1\r\nContent-Length: 100000\r\n\r\n"));
    std::atomic<bool> stop{false};
    std::thread drip([&] {
      while (!stop && c.send("x")) std::this_thread::sleep_for(20ms);  // 50 bytes a second
    });
    const std::string answer = c.read_until("\r\n\r\n");
    stop = true;
    drip.join();
    CHECK(answer.rfind("HTTP/1.1 408 Request Timeout", 0) == 0);
  }

  TEST_CASE("http server: an answer given without reading the body still reaches the client") {
    bosh::net::Server server(quick_config(), [](bosh::net::Request&, bosh::net::Response& resp) {
      resp.set("WWW-Authenticate", "Basic realm=\"test\"");
      resp.send(401, "{\"code\":401}", "application/json");
    });
    Client c(server.port());
    const std::string body(4 << 20, 'z');
    REQUIRE(c.send("PUT /big HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n"));
    std::thread sender([&] { c.send(body); });
    const std::string answer = c.read_until("{\"code\":401}");
    sender.join();
    CHECK(answer.rfind("HTTP/1.1 401 Unauthorized", 0) == 0);
    CHECK(answer.find("<reset>") == std::string::npos);
  }

  TEST_CASE("http server: TLS works and a handshake that never completes is closed at the deadline") {
    bosh::TempDir dir("net-tls");
    auto r = bosh::run_process({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                                (dir.path() / "key.pem").string(), "-out", (dir.path() / "cert.pem").string(), "-days",
                                "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"});
    REQUIRE(r.exit_code == 0);
    auto config = quick_config();
    config.tls_cert = dir.path() / "cert.pem";
    config.tls_key = dir.path() / "key.pem";
    bosh::net::Server server(config, echo);
    bosh::plugin::HttpRequest req;
    req.method = "POST";
    req.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/tls?x=1";
    req.body = "secret";
    req.ca_cert_pem = bosh::read_file(dir.path() / "cert.pem");
    auto resp = bosh::http_request(req);
    CHECK(resp.status == 200);
    CHECK(resp.body == "POST /tls x=1 secret");
    Client stuck(server.port());
    REQUIRE(stuck.send(std::string("\x16\x03\x01", 3)));  // the start of a ClientHello, never finished
    CHECK(stuck.read_all(10s).find("<timeout>") == std::string::npos);
    CHECK(server.stats().head_timeouts >= 1);
  }
}
