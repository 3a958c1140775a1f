#include "../../support/eventually.hpp"
#include "bosh/common/subprocess.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <string>
#include <thread>

#include <doctest/doctest.h>

#include "bosh/common/error.hpp"
#include "test_tmp_dir.hpp"

using namespace std::chrono_literals;

namespace {

using bosh::testing::eventually;
using bosh::testing::process_gone;

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("subprocess: echo captures stdout and stderr separately") {
    auto r = bosh::run_process({"echo", "hello", "world"});
    CHECK(r.exit_code == 0);
    CHECK_FALSE(r.timed_out);
    CHECK(r.out == "hello world\n");
    CHECK(r.err == "");
    auto r2 = bosh::run_process({"sh", "-c", "echo out; echo err >&2"});
    CHECK(r2.out == "out\n");
    CHECK(r2.err == "err\n");
  }

  TEST_CASE("subprocess: arguments are not interpreted by a shell") {
    auto r = bosh::run_process({"printf", "%s|", "a b", "$HOME", "*", "'q'"});
    CHECK(r.out == "a b|$HOME|*|'q'|");
  }

  TEST_CASE("subprocess: exit codes and signals") {
    CHECK(bosh::run_process({"sh", "-c", "exit 3"}).exit_code == 3);
    CHECK(bosh::run_process({"false"}).exit_code == 1);
    CHECK(bosh::run_process({"sh", "-c", "kill -9 $$"}).exit_code == -9);
  }

  TEST_CASE("subprocess: stdin is fed then closed") {
    bosh::ProcessOptions options;
    options.stdin_data = "line 1\nline 2\n";
    auto r = bosh::run_process({"cat"}, options);
    CHECK(r.out == "line 1\nline 2\n");
    // No stdin data: the child sees EOF at once.
    CHECK(bosh::run_process({"cat"}).out == "");
  }

  TEST_CASE("subprocess: a child that ignores its stdin does not hang or kill us") {
    bosh::ProcessOptions options;
    options.stdin_data = std::string(4 << 20, 'x');
    auto r = bosh::run_process({"true"}, options);
    CHECK(r.exit_code == 0);
  }

  TEST_CASE("subprocess: environment overrides and clearing") {
    bosh::ProcessOptions options;
    options.env_overrides = {{"BOSH_TEST_VAR", "some value"}};
    auto r = bosh::run_process({"sh", "-c", "printf %s \"$BOSH_TEST_VAR\"; printf :%s \"${PATH:+set}\""}, options);
    CHECK(r.out == "some value:set");

    bosh::ProcessOptions clear;
    clear.clear_env = true;
    clear.env = {{"ONLY", "this"}};
    auto r2 = bosh::run_process({"/usr/bin/env"}, clear);
    CHECK(r2.out == "ONLY=this\n");
  }

  TEST_CASE("subprocess: PATH override is used to find the program") {
    bosh::testing::TmpDir tmp("subprocess");
    bosh::testing::write_file(tmp / "bosh-test-tool", "#!/bin/sh\necho from tool\n");
    std::filesystem::permissions(tmp / "bosh-test-tool", std::filesystem::perms::owner_all);
    bosh::ProcessOptions options;
    options.env_overrides = {{"PATH", tmp.path().string() + ":/usr/bin:/bin"}};
    CHECK(bosh::run_process({"bosh-test-tool"}, options).out == "from tool\n");
  }

  TEST_CASE("subprocess: cwd") {
    bosh::testing::TmpDir tmp("subprocess");
    bosh::ProcessOptions options;
    options.cwd = tmp.path();
    auto r = bosh::run_process({"pwd", "-P"}, options);
    CHECK(r.out == std::filesystem::canonical(tmp.path()).string() + "\n");

    options.cwd = tmp / "missing";
    CHECK_THROWS_WITH_AS(bosh::run_process({"pwd"}, options),
                         ("cannot run 'pwd': cannot change directory to '" + (tmp / "missing").string() +
                          "': No such file or directory")
                             .c_str(),
                         bosh::Error);
  }

  TEST_CASE("subprocess: missing or non-executable program") {
    CHECK_THROWS_WITH_AS(bosh::run_process({"nope-bosh-no-such-program"}),
                         "cannot run 'nope-bosh-no-such-program': No such file or directory", bosh::Error);
    CHECK_THROWS_WITH_AS(bosh::run_process({"/nonexistent/nope"}),
                         "cannot run '/nonexistent/nope': No such file or directory", bosh::Error);
    bosh::testing::TmpDir tmp("subprocess");
    bosh::testing::write_file(tmp / "script", "#!/bin/sh\n");
    std::filesystem::permissions(tmp / "script", std::filesystem::perms::owner_read);
    auto script = (tmp / "script").string();
    CHECK_THROWS_WITH_AS(bosh::run_process({script}), ("cannot run '" + script + "': Permission denied").c_str(),
                         bosh::Error);
    CHECK_THROWS_AS(bosh::run_process({}), bosh::Error);
  }

  TEST_CASE("subprocess: timeout kills the process quickly") {
    bosh::ProcessOptions options;
    options.timeout = 200ms;
    auto start = std::chrono::steady_clock::now();
    auto r = bosh::run_process({"sleep", "30"}, options);
    auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(r.timed_out);
    CHECK(r.exit_code == -15);
    CHECK(elapsed < 10s);  // killed, not waited for: the sleep alone takes 30 s
  }

  TEST_CASE("subprocess: timeout kills the whole process group") {
    bosh::ProcessOptions options;
    options.timeout = 3s;  // time for the shell to start and print its child's pid, even on a busy machine
    auto start = std::chrono::steady_clock::now();
    auto r = bosh::run_process({"sh", "-c", "sleep 30 & echo $!; sleep 30"}, options);
    auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(r.timed_out);
    CHECK(elapsed < 15s);  // the sleeps alone take 30 s
    std::string background = r.out.substr(0, r.out.find('\n'));
    REQUIRE_FALSE(background.empty());
    // SIGTERM was sent to the group; the background child exits as soon as it runs.
    CHECK(eventually([&] { return process_gone(background); }));
  }

  TEST_CASE("subprocess: a process ignoring SIGTERM is SIGKILLed after the grace period") {
    bosh::ProcessOptions options;
    options.timeout = 1s;  // time for the shell to set its trap first, even on a busy machine
    auto start = std::chrono::steady_clock::now();
    auto r = bosh::run_process({"sh", "-c", "trap '' TERM; sleep 30 & wait; sleep 30"}, options);
    auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(r.timed_out);
    CHECK(r.exit_code == -9);
    CHECK(elapsed >= 1s + 2s);  // the timeout, then the 2 s grace
    CHECK(elapsed < 12s);       // the sleeps alone take 30 s
  }

  TEST_CASE("subprocess: no timeout when the process finishes in time") {
    bosh::ProcessOptions options;
    options.timeout = 60s;
    auto r = bosh::run_process({"echo", "quick"}, options);
    CHECK_FALSE(r.timed_out);
    CHECK(r.out == "quick\n");
  }

  TEST_CASE("subprocess: large output on both streams while stdin is written does not deadlock") {
    bosh::ProcessOptions options;
    options.timeout = 120s;  // a deadlock guard: generous for a busy machine
    options.stdin_data = std::string(3 << 20, 'i');
    for (std::size_t i = 0; i < options.stdin_data.size(); i += 1000) options.stdin_data[i] = '\n';
    auto r = bosh::run_process(
        {"sh", "-c", "head -c 2000000 /dev/zero | tr '\\0' e >&2 & cat; wait"}, options);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 0);
    CHECK(r.out == options.stdin_data);
    CHECK(r.err.size() == 2000000);
    CHECK(r.err.find_first_not_of('e') == std::string::npos);
  }

  TEST_CASE("subprocess: shell_quote for display") {
    CHECK(bosh::shell_quote("abc-1.2/x") == "abc-1.2/x");
    CHECK(bosh::shell_quote("") == "''");
    CHECK(bosh::shell_quote("a b") == "'a b'");
    CHECK(bosh::shell_quote("it's") == "'it'\\''s'");
    CHECK(bosh::shell_quote("$HOME") == "'$HOME'");
    CHECK(bosh::shell_join({"echo", "a b", "c"}) == "echo 'a b' c");
  }
}

TEST_SUITE("unit") {
  TEST_CASE("a background process runs until stopped and logs to its file") {
    bosh::testing::TmpDir dir("bg");
    bosh::BackgroundProcess p({"sh", "-c", "echo started; exec sleep 30"}, dir / "log");
    CHECK(p.pid() > 0);
    eventually([&] { return !bosh::testing::read_file(dir / "log").empty(); });
    CHECK(bosh::testing::read_file(dir / "log") == "started\n");
    CHECK(p.running());
    CHECK(p.stop() == -SIGTERM);
    CHECK_FALSE(p.running());
    CHECK(p.stop() == -SIGTERM);  // idempotent
  }

  TEST_CASE("a background process that ignores SIGTERM is killed after the grace") {
    bosh::testing::TmpDir dir("bg");
    bosh::BackgroundProcess p({"sh", "-c", "trap '' TERM; echo ready; while true; do sleep 1; done"}, dir / "log");
    // The trap is set once "ready" is out; before that SIGTERM would end it.
    REQUIRE(eventually([&] { return bosh::testing::read_file(dir / "log") == "ready\n"; }));
    CHECK(p.stop(std::chrono::milliseconds(200)) == -SIGKILL);
  }

  TEST_CASE("a background program that does not exist is an error") {
    bosh::testing::TmpDir dir("bg");
    CHECK_THROWS_WITH_AS(bosh::BackgroundProcess({"no-such-program-xyz"}, dir / "log"),
                         "cannot run 'no-such-program-xyz': No such file or directory", bosh::Error);
  }
}

TEST_SUITE("unit") {
  TEST_CASE("subprocess: a cancel flag stops the process group like a timeout") {
    bosh::testing::TmpDir tmp("subprocess");
    const auto marker = tmp / "started";
    std::atomic<bool> cancel{false};
    bosh::ProcessOptions options;
    options.cancel = &cancel;
    // Cancelled once the child has said "started" (it leaves a marker after
    // the echo), however long its start takes on a busy machine.
    std::thread canceller([&] {
      eventually([&] { return std::filesystem::exists(marker); });
      cancel = true;
    });
    auto r = bosh::run_process({"sh", "-c", "echo started; : > \"$1\"; sleep 30", "sh", marker.string()}, options);
    canceller.join();
    CHECK(r.cancelled);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == -SIGTERM);
    CHECK(r.out == "started\n");
  }
}
