// A real nats-server for a test: on a free 127.0.0.1 port, in its own temp
// dir, with user/password and optionally TLS (a CA, a server certificate for
// 127.0.0.1 and a client certificate, made with the openssl CLI), stopped
// when the object goes. A missing nats-server is a test failure saying so.
#pragma once

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "bosh/common/fs.hpp"
#include "bosh/common/subprocess.hpp"
#include "bosh/mbus/nats.hpp"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <vector>

namespace bosh::testing {

inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// Waits until something listens on 127.0.0.1:<port> (a server a test started
// is ready), up to a deadline generous enough for a busy machine; gives up at
// once when `process` (if given) has exited. True when the port is open.
inline bool wait_for_port(int port, BackgroundProcess* process = nullptr,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!port_open(port)) {
    if (std::chrono::steady_clock::now() >= deadline || (process && !process->running())) return port_open(port);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

inline void require_program(const std::string& name) {
  auto r = run_process({"sh", "-c", "command -v " + name});
  if (r.exit_code != 0) FAIL(name << " is not installed: run scripts/install-deps (tests need the real " << name << ")");
}

// Collects what a subscription receives, for a test to wait on.
class Inbox {
 public:
  std::unique_ptr<mbus::Subscription> subscribe(mbus::NatsConnection& nats, const std::string& subject) {
    auto sub = nats.subscribe(subject, [this](const mbus::Message& m) {
      std::lock_guard lock(mutex_);
      messages_.push_back(m);
      cv_.notify_all();
    });
    nats.flush();
    return sub;
  }
  // True once at least n messages arrived (the deadline is for a busy machine;
  // it returns as soon as they are there).
  bool wait(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return messages_.size() >= n; });
  }
  // The first message `match` accepts, once one has arrived; nullopt when none
  // has by the deadline. Other messages on the subject (which may come before
  // it, in any number) are passed over. `match` runs under the inbox's lock.
  template <typename Match>
  std::optional<mbus::Message> wait_for(Match match, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    std::unique_lock lock(mutex_);
    std::optional<mbus::Message> found;
    cv_.wait_for(lock, timeout, [&] {
      for (const auto& m : messages_)
        if (match(m)) {
          found = m;
          return true;
        }
      return false;
    });
    return found;
  }
  std::vector<mbus::Message> messages() {
    std::lock_guard lock(mutex_);
    return messages_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<mbus::Message> messages_;
};

class NatsServer {
 public:
  enum class Tls { none, server, mutual };
  static constexpr const char* kUser = "nats";
  static constexpr const char* kPassword = "s3cret-pass";

  explicit NatsServer(Tls tls = Tls::none, int port = 0) : tls_(tls), port_(port ? port : free_port()) {
    require_program("nats-server");
    if (tls_ != Tls::none) make_certificates();
    std::string conf = "listen: 127.0.0.1:" + std::to_string(port_) + "\n" +
                       "authorization {\n  user: " + kUser + "\n  password: \"" + kPassword + "\"\n  timeout: 2\n}\n";
    if (tls_ != Tls::none)
      conf += "tls {\n  cert_file: \"" + (dir_.path() / "server.pem").string() + "\"\n  key_file: \"" +
              (dir_.path() / "server.key").string() + "\"\n  ca_file: \"" + ca().string() + "\"\n  verify: " +
              (tls_ == Tls::mutual ? "true" : "false") + "\n  timeout: 2\n}\n";
    write_file_atomic(dir_.path() / "nats.conf", conf);
    start();
  }

  void start() {
    process_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{"nats-server", "-c", (dir_.path() / "nats.conf").string()}, dir_.path() / "nats.log");
    if (!wait_for_port(port_, process_.get())) FAIL("nats-server did not start: " << read_file(dir_.path() / "nats.log"));
  }
  void stop() { process_.reset(); }

  int port() const { return port_; }
  std::string url(const std::string& password = kPassword) const {
    return std::string(tls_ == Tls::none ? "nats" : "tls") + "://" + kUser + ":" + password + "@127.0.0.1:" +
           std::to_string(port_);
  }
  std::filesystem::path ca() const { return dir_.path() / "ca.pem"; }
  std::filesystem::path client_cert() const { return dir_.path() / "client.pem"; }
  std::filesystem::path client_key() const { return dir_.path() / "client.key"; }
  std::filesystem::path dir() const { return dir_.path(); }

 private:
  void openssl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"openssl"};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions o;
    o.cwd = dir_.path();
    auto r = run_process(argv, o);
    if (r.exit_code != 0) FAIL("openssl failed: " << r.err);
  }
  void make_certificates() {
    require_program("openssl");
    write_file_atomic(dir_.path() / "san.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    write_file_atomic(dir_.path() / "cli.ext", "extendedKeyUsage=clientAuth\n");
    openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=bosh-test-ca"});
    openssl({"req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj",
             "/CN=127.0.0.1"});
    openssl({"x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
             "server.pem", "-days", "2", "-extfile", "san.ext"});
    openssl({"req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj",
             "/CN=director.bosh"});
    openssl({"x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
             "client.pem", "-days", "2", "-extfile", "cli.ext"});
  }

  TempDir dir_{"bosh-nats"};
  Tls tls_;
  int port_;
  std::unique_ptr<BackgroundProcess> process_;
};

}  // namespace bosh::testing
