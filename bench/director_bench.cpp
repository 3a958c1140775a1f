// Helper of bench/director_bench.sh (figures in bench/README.md).
//
//   bosh_bench_director fill DB_FILE N
//       N finished tasks (9 in 10 done, 1 in 10 error) through TaskQueue::enqueue
//       then finish, on the director's SQLite file; prints "SECONDS".
//   bosh_bench_director pickup URL USER PASSWORD N
//       N times: POST /cleanup ({"config":{"remove_all":false}}), then GET
//       /tasks/ID back to back on the same keep-alive TLS connection until its
//       state is not "queued"; then waits for it to finish. Prints one line
//       per task: "LATENCY_MS POLLS", LATENCY from the 302 to the first reply
//       that is not "queued", and last a line "poll RTT_MS" (mean round trip
//       of a GET /tasks/ID, i.e. the poll interval).
#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPBasicCredentials.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include "bosh/common/json.hpp"
#include "bosh/director/db.hpp"
#include "bosh/director/tasks.hpp"

using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

int fill(const std::string& file, int n) {
  auto db = bosh::director::Database::open("sqlite://" + file);
  db->migrate();
  bosh::director::TaskQueue queue(*db);
  static const char* kinds[][3] = {
      {"update_deployment", "create deployment", "/deployments/kv"},
      {"update_release", "create release", "Created release 'kv/0+dev.1'"},
      {"run_errand", "run errand smoke-tests from deployment kv", "1 succeeded, 0 errored, 0 canceled"},
      {"cleanup", "clean up", "Deleted 0 release(s), 0 stemcell(s), 0 orphaned disk(s)"},
  };
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    const auto& k = kinds[i % 4];
    const std::string deployment = i % 4 == 0 || i % 4 == 2 ? "kv-" + std::to_string(i % 7) : "";
    const auto id = queue.enqueue(k[0], k[1], "admin", deployment, "{\"bench\": " + std::to_string(i) + "}");
    if (i % 10 == 9)
      queue.finish(id, "error", "Timed out sending 'get_state' to agent " + std::to_string(i) + " after 45 seconds");
    else
      queue.finish(id, "done", k[2]);
  }
  std::printf("%.3f\n", ms_since(t0) / 1000.0);
  return 0;
}

struct Client {
  Poco::URI uri;
  std::string user, password;
  Poco::Net::HTTPSClientSession session;

  Client(const std::string& url, std::string u, std::string p)
      : uri(url), user(std::move(u)), password(std::move(p)),
        session(uri.getHost(), uri.getPort(),
                new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", "", Poco::Net::Context::VERIFY_NONE)) {
    session.setKeepAlive(true);
  }

  // Returns the status; body and Location through the out parameters.
  int call(const std::string& method, const std::string& path, const std::string& body, std::string& out,
           std::string* location = nullptr) {
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    req.setKeepAlive(true);
    Poco::Net::HTTPBasicCredentials(user, password).authenticate(req);
    if (method == "POST") {
      req.setContentType("application/json");
      req.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    session.sendRequest(req) << body;
    Poco::Net::HTTPResponse resp;
    std::istream& in = session.receiveResponse(resp);
    out.clear();
    Poco::StreamCopier::copyToString(in, out);
    if (location && resp.has("Location")) *location = resp.get("Location");
    return static_cast<int>(resp.getStatus());
  }
};

std::string task_state(Client& c, const std::string& path) {
  std::string body;
  const int status = c.call("GET", path, "", body);
  if (status != 200) throw std::runtime_error("GET " + path + ": HTTP " + std::to_string(status) + ": " + body);
  return bosh::get_string(bosh::as_object(bosh::parse_json(body, "task"), "task"), "state", "task");
}

int pickup(const std::string& url, const std::string& user, const std::string& password, int n) {
  Client c(url, user, password);
  std::string body;
  c.call("GET", "/info", "", body);  // the TLS handshake, before any figure
  double poll_ms = 0;
  long polls_total = 0;
  for (int i = 0; i < n; ++i) {
    std::string location;
    const int status = c.call("POST", "/cleanup", "{\"config\":{\"remove_all\":false}}", body, &location);
    if (status != 302 || location.empty())
      throw std::runtime_error("POST /cleanup: HTTP " + std::to_string(status) + ": " + body);
    const auto accepted = Clock::now();
    int polls = 0;
    std::string state;
    do {
      const auto p0 = Clock::now();
      state = task_state(c, location);
      poll_ms += ms_since(p0);
      ++polls;
    } while (state == "queued");
    const double latency = ms_since(accepted);
    polls_total += polls;
    std::printf("%.3f %d\n", latency, polls);
    // Idle workers for the next one: wait for this task to end.
    for (int waited = 0; state == "processing" || state == "cancelling"; ++waited) {
      if (waited > 6000) throw std::runtime_error(location + " did not finish in 60 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      state = task_state(c, location);
    }
    if (state != "done") std::fprintf(stderr, "warning: %s ended %s\n", location.c_str(), state.c_str());
  }
  std::printf("poll %.3f\n", polls_total ? poll_ms / static_cast<double>(polls_total) : 0.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "fill" && argc == 4) return fill(argv[2], std::stoi(argv[3]));
    if (cmd == "pickup" && argc == 6) return pickup(argv[2], argv[3], argv[4], std::stoi(argv[5]));
    std::cerr << "usage: bosh_bench_director fill DB_FILE N\n"
                 "       bosh_bench_director pickup URL USER PASSWORD N\n";
    return 2;
  } catch (const Poco::Exception& e) {
    std::cerr << "bosh_bench_director: " << e.displayText() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "bosh_bench_director: " << e.what() << "\n";
    return 1;
  }
}
