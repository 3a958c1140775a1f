// A real PostgreSQL 15 for a test: initdb + pg_ctl in a temp dir, on a free
// 127.0.0.1 port, as an unprivileged user (PostgreSQL refuses root: when the
// tests run as root, the system user bosh-peers is created and used).
#pragma once

#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "../peers/nats_server.hpp"  // free_port, require_program
#include "bosh/common/fs.hpp"
#include "bosh/common/subprocess.hpp"

namespace bosh::testing {

class PostgresServer {
 public:
  static constexpr const char* kBin = "/usr/lib/postgresql/15/bin";
  static constexpr const char* kPassword = "s3cret";

  PostgresServer() : port_(free_port()) {
    if (!std::filesystem::exists(std::string(kBin) + "/initdb"))
      FAIL("PostgreSQL 15 is not installed (" << kBin << "/initdb): run scripts/install-deps");
    if (::geteuid() == 0) {
      if (run_process({"id", "bosh-peers"}).exit_code != 0) {
        auto r = run_process({"useradd", "-r", "-M", "-s", "/usr/sbin/nologin", "bosh-peers"});
        if (r.exit_code != 0) FAIL("cannot create the bosh-peers user for PostgreSQL: " << r.err);
      }
      as_user_ = {"runuser", "-u", "bosh-peers", "--"};
      run_process({"chown", "-R", "bosh-peers", dir_.path().string()});
    }
    write_file_atomic(dir_.path() / "pwfile", std::string(kPassword) + "\n");
    if (::geteuid() == 0) run_process({"chown", "bosh-peers", (dir_.path() / "pwfile").string()});
    run({std::string(kBin) + "/initdb", "-D", data(), "-U", "bosh", "--pwfile=" + (dir_.path() / "pwfile").string(),
         "-A", "scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"},
        "initdb");
    run({std::string(kBin) + "/pg_ctl", "-D", data(), "-l", (dir_.path() / "server.log").string(), "-w", "-o",
         "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " + dir_.path().string() +
             " -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
         "start"},
        "pg_ctl start");
    started_ = true;
  }
  ~PostgresServer() {
    if (started_) {
      std::vector<std::string> argv = as_user_;
      for (const auto& a : {std::string(kBin) + "/pg_ctl", std::string("-D"), data(), std::string("-m"),
                            std::string("immediate"), std::string("-w"), std::string("stop")})
        argv.push_back(a);
      run_process(argv);
    }
  }
  std::string url() const {
    return "postgres://bosh:" + std::string(kPassword) + "@127.0.0.1:" + std::to_string(port_) + "/postgres";
  }

 private:
  std::string data() const { return (dir_.path() / "data").string(); }
  void run(std::vector<std::string> argv, const std::string& what) {
    argv.insert(argv.begin(), as_user_.begin(), as_user_.end());
    ProcessOptions o;
    o.cwd = dir_.path();
    auto r = run_process(argv, o);
    if (r.exit_code != 0) FAIL(what << " failed: " << r.out << r.err);
  }

  TempDir dir_{"bosh-pg"};
  int port_;
  std::vector<std::string> as_user_;
  bool started_ = false;
};

}  // namespace bosh::testing
