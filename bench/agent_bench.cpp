// Benchmark of bosh-agent against its floors, measured in the same run:
//  - ping round trip through NATS and the agent vs a raw libnats request/reply;
//  - apply of 20 packages x 10 MiB vs `tar xzf` of the same blobs;
//  - the agent's idle RSS and CPU.
// Usage: bosh_bench_agent <build dir> [pings] [packages] [MiB per package]
// nats_server.hpp reports problems through doctest; this program provides its implementation.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <nats/nats.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "../tests/peers/nats_server.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/fs.hpp"
#include "bosh/common/json.hpp"
#include "bosh/common/subprocess.hpp"
#include "bosh/mbus/agent_client.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

long rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

double cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bosh_bench_agent <build dir> [pings] [packages] [MiB per package]\n";
    return 2;
  }
  const fs::path build = argv[1];
  const int pings = argc > 2 ? std::stoi(argv[2]) : 2000;
  const int packages = argc > 3 ? std::stoi(argv[3]) : 20;
  const int mib = argc > 4 ? std::stoi(argv[4]) : 10;

  bosh::testing::NatsServer server;
  bosh::TempDir vm("bosh-bench-vm");
  bosh::write_file_atomic(vm.path() / "bosh/settings.json",
                          "{\"agent_id\": \"bench\", \"mbus\": \"" + server.url() +
                              "\", \"blobstore\": {\"provider\": \"local\", \"options\": {\"blobstore_path\": \"" +
                              (vm.path() / "blobs").string() + "\"}}}");
  bosh::BackgroundProcess agent({(build / "bin/bosh-agent").string(), "--base-dir", vm.path().string(),
                                 "--log-level", "warn"},
                                vm.path() / "agent.log");
  bosh::mbus::NatsConnection director({server.url()});
  bosh::mbus::AgentClient client(director, "bench");
  for (int i = 0; i < 100; ++i) {
    try {
      if (client.ping(200ms) == "pong") break;
    } catch (const std::exception&) {
    }
  }

  // 1. ping through the agent vs raw request/reply.
  auto t0 = Clock::now();
  for (int i = 0; i < pings; ++i) client.ping(5s);
  const double agent_rtt = seconds_since(t0) / pings;

  // The floor: libnats at its quickest (messages written at once, as ours are).
  natsOptions* fast = nullptr;
  natsOptions_Create(&fast);
  natsOptions_SetURL(fast, server.url().c_str());
  natsOptions_SetSendAsap(fast, true);
  natsConnection* raw = nullptr;
  natsConnection_Connect(&raw, fast);
  natsSubscription* responder = nullptr;
  natsConnection_Subscribe(
      &responder, raw, "bench.raw",
      [](natsConnection* nc, natsSubscription*, natsMsg* m, void*) {
        natsConnection_PublishString(nc, natsMsg_GetReply(m), "{\"value\":\"pong\"}");
        natsMsg_Destroy(m);
      },
      nullptr);
  natsConnection* requester = nullptr;
  natsConnection_Connect(&requester, fast);
  natsConnection_Flush(raw);
  t0 = Clock::now();
  for (int i = 0; i < pings; ++i) {
    natsMsg* reply = nullptr;
    natsConnection_RequestString(&reply, requester, "bench.raw",
                                 "{\"protocol\":3,\"method\":\"ping\",\"arguments\":[],\"reply_to\":\"x\"}", 5000);
    natsMsg_Destroy(reply);
  }
  const double raw_rtt = seconds_since(t0) / pings;
  natsSubscription_Destroy(responder);
  natsConnection_Destroy(raw);
  natsConnection_Destroy(requester);
  natsOptions_Destroy(fast);

  // 2. apply N packages of M MiB vs tar xzf of the same blobs.
  bosh::TempDir src("bosh-bench-src");
  std::mt19937_64 rng(42);
  std::string packages_json;
  for (int p = 0; p < packages; ++p) {
    std::string data(static_cast<std::size_t>(mib) << 20, '\0');
    for (std::size_t i = 0; i + 8 <= data.size(); i += 8) {
      auto v = rng();
      std::memcpy(&data[i], &v, 8);
    }
    fs::path file = src.path() / ("p" + std::to_string(p)) / "payload.bin";
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << data;
    std::string id = "pkg-" + std::to_string(p);
    fs::create_directories(vm.path() / "blobs");
    std::string hex = bosh::create_tgz_from({{"payload.bin", file}}, vm.path() / "blobs" / id,
                                            bosh::DigestAlgorithm::sha1, 1);
    packages_json += (p ? ", " : "") + std::string("\"p") + std::to_string(p) + "\": {\"name\": \"p" +
                     std::to_string(p) + "\", \"version\": \"1\", \"sha1\": \"" + hex + "\", \"blobstore_id\": \"" +
                     id + "\"}";
  }
  t0 = Clock::now();
  client.run("apply", bosh::parse_json("[{\"packages\": {" + packages_json + "}}]", "spec"), 600s, 20ms);
  const double apply_s = seconds_since(t0);

  bosh::TempDir untar("bosh-bench-untar");
  t0 = Clock::now();
  for (int p = 0; p < packages; ++p) {
    fs::path dest = untar.path() / std::to_string(p);
    fs::create_directories(dest);
    auto r = bosh::run_process({"tar", "xzf", (vm.path() / "blobs" / ("pkg-" + std::to_string(p))).string(), "-C",
                                dest.string()});
    if (r.exit_code != 0) std::cerr << "tar failed: " << r.err;
  }
  const double tar_s = seconds_since(t0);

  // 3. idle RSS and CPU (heartbeats every 30 s, monit every 10 s).
  std::this_thread::sleep_for(1s);
  const double cpu0 = cpu_seconds(agent.pid());
  std::this_thread::sleep_for(10s);
  const double idle_cpu = (cpu_seconds(agent.pid()) - cpu0) / 10.0 * 100.0;
  const long rss = rss_kb(agent.pid());

  std::printf("\n| measure | agent | floor | ratio |\n|---|---|---|---|\n");
  std::printf("| ping round trip (%d sequential) | %.1f us | %.1f us (raw libnats request/reply) | %.2fx |\n", pings,
              agent_rtt * 1e6, raw_rtt * 1e6, agent_rtt / raw_rtt);
  std::printf("| apply %d packages x %d MiB | %.2f s | %.2f s (tar xzf, sequential) | %.2fx |\n", packages, mib,
              apply_s, tar_s, apply_s / tar_s);
  std::printf("| idle agent (10 s) | %.2f %% CPU, %ld KiB RSS | | |\n", idle_cpu, rss);
  return 0;
}
