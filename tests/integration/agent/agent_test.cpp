// The real bosh-agent binary driven through a real nats-server, as the
// director drives it.
#include <doctest/doctest.h>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>

#include <csignal>
#include <condition_variable>
#include <map>
#include <sstream>
#include <mutex>

#include "../../peers/nats_server.hpp"
#include "bosh/blobstore/blobstore.hpp"
#include "bosh/common/archive.hpp"
#include "bosh/common/digest.hpp"
#include "bosh/common/http.hpp"
#include "bosh/common/json.hpp"

#include <Poco/Base64Encoder.h>
#include "bosh/plugin/testing/null_host.hpp"
#include "bosh/mbus/agent_client.hpp"
#include "bosh/mbus/envelope.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using bosh::mbus::AgentClient;
using bosh::testing::NatsServer;

namespace {

const fs::path kAgent = fs::path(BOSH_TEST_BINARY_DIR) / "bin/bosh-agent";

struct RunningAgent {
  bosh::TempDir base{"bosh-agent-vm"};
  std::unique_ptr<bosh::BackgroundProcess> process;
  std::string id;

  RunningAgent(const std::string& agent_id, const std::string& mbus, const std::string& extra_env = "") : id(agent_id) {
    bosh::write_file_atomic(base.path() / "bosh/settings.json",
                            "{\"agent_id\": \"" + agent_id + "\", \"vm\": {\"name\": \"vm-" + agent_id +
                                "\"}, \"mbus\": \"" + mbus +
                                "\", \"blobstore\": {\"provider\": \"local\", \"options\": {\"blobstore_path\": \"" +
                                (base.path() / "blobs").string() + "\"}}, \"networks\": {\"default\": {\"type\": "
                                "\"manual\", \"ip\": \"127.0.10.5\"}}, \"env\": {" + extra_env + "}}");
    start();
  }
  void start() {
    process = std::make_unique<bosh::BackgroundProcess>(
        std::vector<std::string>{kAgent.string(), "--base-dir", base.path().string(), "--heartbeat-interval", "0.3",
                                 "--log-level", "debug", "--monit-poll", "1"},
        base.path() / "agent.log");
  }
  // A job as apply leaves it: a monit file under monit/job/ for a sleeping process.
  void add_monit_job(const std::string& name) {
    fs::path pidfile = base.path() / ("sys/run/" + name + ".pid");
    fs::create_directories(pidfile.parent_path());
    bosh::write_file_atomic(base.path() / ("monit/job/0000_" + name + ".monitrc"),
                            "check process " + name + " with pidfile " + pidfile.string() +
                                "\n  start program = \"/bin/sh -c 'sleep 100000 >/dev/null 2>&1 & echo $! > " +
                                pidfile.string() + "'\" with timeout 10 seconds\n  stop program = \"/bin/sh -c 'kill "
                                "$(cat " + pidfile.string() + ")'\"\n");
  }
  int pid_of(const std::string& name) {
    try {
      return std::stoi(bosh::read_file(base.path() / ("sys/run/" + name + ".pid")));
    } catch (const std::exception&) {
      return -1;
    }
  }
  std::string log() { return bosh::read_file(base.path() / "agent.log"); }
};

// Waits until the agent answers ping: its start, its connection and its monit
// may take a while on a busy machine, so the deadline is long and each ping
// has time for its answer.
void wait_for(AgentClient& client) {
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      if (client.ping(2s) == "pong") return;
    } catch (const bosh::mbus::MbusTimeout&) {
    }
  }
  FAIL("agent " << client.agent_id() << " never answered ping within 90 s");
}

// The registry's documented API, replayed: GET /instances/<id>/settings ->
// {"settings": "<settings JSON>", "status": "ok"} (basic auth not checked).
// Our own bosh-registry comes with its issue; then this becomes the real one.
class FakeRegistry {
 public:
  std::map<std::string, std::string> settings;
  FakeRegistry() { server_.start(); }
  ~FakeRegistry() { server_.stopAll(true); }
  std::string url() const { return "http://registry:pw@127.0.0.1:" + std::to_string(socket_.address().port()); }

 private:
  struct Handler : Poco::Net::HTTPRequestHandler {
    FakeRegistry& r;
    explicit Handler(FakeRegistry& reg) : r(reg) {}
    void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) override {
      const std::string prefix = "/instances/", suffix = "/settings";
      std::string uri = req.getURI();
      std::string id = uri.size() > prefix.size() + suffix.size() ? uri.substr(prefix.size(), uri.size() - prefix.size() - suffix.size()) : "";
      if (!r.settings.count(id)) {
        resp.setStatus(Poco::Net::HTTPResponse::HTTP_NOT_FOUND);
        resp.send() << "{\"status\": \"not_found\"}";
        return;
      }
      Poco::JSON::Object reply;
      reply.set("settings", r.settings[id]);
      reply.set("status", "ok");
      std::ostringstream out;
      reply.stringify(out);
      resp.send() << out.str();
    }
  };
  struct Factory : Poco::Net::HTTPRequestHandlerFactory {
    FakeRegistry& r;
    explicit Factory(FakeRegistry& reg) : r(reg) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
      return new Handler(r);
    }
  };
  Poco::Net::ServerSocket socket_{Poco::Net::SocketAddress("127.0.0.1", 0)};
  Poco::Net::HTTPServer server_{new Factory(*this), socket_, new Poco::Net::HTTPServerParams};
};


// An agent on a real bus with its local blobstore at hand, and a scratch dir
// for the files a test packs into blobs.
struct AgentOnBus {
  NatsServer server;
  RunningAgent agent;
  bosh::mbus::NatsConnection director;
  AgentClient client;
  bosh::plugin::testing::NullHostServices host;
  std::unique_ptr<bosh::plugin::Blobstore> store;
  bosh::TempDir work{"bosh-agent-work"};

  explicit AgentOnBus(const std::string& id)
      : agent(id, server.url()), director({server.url()}), client(director, id) {
    store = bosh::blobstore::make_local_blobstore(
        host, bosh::parse_json("{\"blobstore_path\": \"" + (base() / "blobs").string() + "\"}", "opts"));
    wait_for(client);
  }
  fs::path base() const { return agent.base.path(); }
  fs::path file(const std::string& rel, const std::string& content, fs::perms mode = fs::perms(0644)) {
    fs::path p = work.path() / rel;
    fs::create_directories(p.parent_path());
    bosh::write_file_atomic(p, content);
    fs::permissions(p, mode);
    return p;
  }
  // Packs the inputs into a blob of the agent's blobstore: (id, sha1).
  std::pair<std::string, std::string> upload(const std::string& name, const std::vector<bosh::TarInput>& inputs) {
    fs::path tgz = work.path() / (name + ".tgz");
    bosh::create_tgz_from(inputs, tgz);
    auto stored = bosh::blobstore::put_file(*store, tgz, bosh::DigestAlgorithm::sha1);
    return {stored.id, stored.digest.to_string()};
  }
};
}  // namespace

// The state of the first process get_state reports, and the job_state.
std::pair<std::string, std::string> states(AgentClient& client) {
  auto state = bosh::as_object(client.get_state(), "state");
  auto processes = state->getArray("processes");
  std::string process = processes && processes->size() ? processes->getObject(0)->getValue<std::string>("state") : "";
  return {state->getValue<std::string>("job_state"), process};
}

// Polls until f() holds; the deadline is for a busy machine (it returns as
// soon as the condition does).
template <typename F>
bool eventually(F&& f, std::chrono::milliseconds timeout = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

TEST_SUITE("integration") {
  TEST_CASE("agent: jobs under monit start / stop / restart after kill -9 with an alert on NATS") {
    NatsServer server;
    bosh::TempDir holder("unused");
    std::unique_ptr<RunningAgent> agent;
    {
      // The monit file must be there before the agent starts monit.
      agent = std::make_unique<RunningAgent>("agent-monit", server.url());
      agent->process->stop();
      agent->add_monit_job("dummy");
      agent->start();
    }
    bosh::mbus::NatsConnection director({server.url()});
    AgentClient client(director, "agent-monit");
    bosh::testing::Inbox alerts;
    auto sub = alerts.subscribe(director, "hm.agent.alert.agent-monit");
    wait_for(client);

    CHECK(client.send("start", bosh::plugin::json_array()).toString() == "started");
    REQUIRE(eventually([&] { return states(client) == std::pair<std::string, std::string>{"running", "running"}; }));
    int first_pid = agent->pid_of("dummy");
    REQUIRE(first_pid > 0);
    auto state = bosh::as_object(client.get_state(), "state");
    CHECK(state->getArray("processes")->getObject(0)->getValue<std::string>("name") == "dummy");

    // kill -9 the job: monit restarts it and the agent relays monit's alert.
    // Monit may report other events first (or after): wait for the restart's.
    ::kill(first_pid, SIGKILL);
    {
      const std::string restart_title = "dummy (127.0.10.5) - Does not exist - restart";
      auto title_of = [](const bosh::mbus::Message& m) {
        try {
          return bosh::as_object(bosh::parse_json(m.data, "alert"), "alert")->getValue<std::string>("title");
        } catch (const std::exception&) {
          return std::string();
        }
      };
      auto restart = alerts.wait_for(
          [&](const bosh::mbus::Message& m) { return title_of(m).rfind(restart_title, 0) == 0; }, 60s);
      std::string seen;
      for (const auto& m : alerts.messages()) seen += "\n  " + m.data;
      REQUIRE_MESSAGE(restart, "no '" << restart_title << "' alert within 60 s; alerts:" << seen);
      auto alert = bosh::as_object(bosh::parse_json(restart->data, "alert"), "alert");
      CHECK(alert->getValue<int>("severity") == 1);
      CHECK(alert->getValue<std::string>("title").find(restart_title) == 0);
      CHECK(alert->getValue<long long>("created_at") > 1700000000);
    }
    REQUIRE(eventually([&] {
      int pid = agent->pid_of("dummy");
      return pid > 0 && pid != first_pid && ::kill(pid, 0) == 0 && states(client).first == "running";
    }));

    // stop is a long-running task; the job state says stopped until start.
    CHECK(client.run("stop", bosh::plugin::json_array(), 60s, 100ms).toString() == "stopped");
    CHECK(states(client).first == "stopped");
    int stopped_pid = agent->pid_of("dummy");
    CHECK((stopped_pid <= 0 || ::kill(stopped_pid, 0) != 0));
    CHECK(client.send("start", bosh::plugin::json_array()).toString() == "started");
    CHECK(eventually([&] { return states(client).first == "running"; }));

    // The monit control file is private to the agent.
    auto perms = fs::status(agent->base.path() / "monit/monitrc").permissions() & fs::perms::all;
    CHECK(perms == (fs::perms::owner_read | fs::perms::owner_write));
    int last = agent->pid_of("dummy");
    CHECK(agent->process->stop(60s) == 0);  // a clean exit, however long monit takes to stop
    if (last > 0) ::kill(last, SIGKILL);  // monit leaves its processes running when it stops
  }

  TEST_CASE("agent: ping / get_state / heartbeats and errors over NATS") {
    NatsServer server;
    RunningAgent agent("agent-1", server.url());
    bosh::mbus::NatsConnection director({server.url()});
    AgentClient client(director, "agent-1", "dir-1");

    bosh::testing::Inbox beats;
    auto sub = beats.subscribe(director, "hm.agent.heartbeat.agent-1");
    wait_for(client);

    auto state = bosh::as_object(client.get_state(true), "state");
    CHECK(state->getValue<std::string>("agent_id") == "agent-1");
    CHECK(state->getObject("vm")->getValue<std::string>("name") == "vm-agent-1");
    CHECK(state->getValue<std::string>("job_state") == "running");
    auto vitals = state->getObject("vitals");
    REQUIRE(vitals);
    CHECK(vitals->getArray("load")->size() == 3);
    CHECK(std::stod(vitals->getObject("mem")->getValue<std::string>("percent")) > 0);
    CHECK(vitals->getObject("disk")->has("system"));
    CHECK_FALSE(bosh::as_object(client.get_state(), "state")->has("vitals"));

    {
      REQUIRE(beats.wait(2, 60s));
      auto hb = bosh::as_object(bosh::parse_json(beats.messages().back().data, "heartbeat"), "heartbeat");
      CHECK(hb->getValue<std::string>("job_state") == "running");
      CHECK(hb->getObject("vitals")->has("cpu"));
    }

    CHECK_THROWS_WITH_AS(client.send("frobnicate", bosh::plugin::json_array()),
                         "agent agent-1: frobnicate: unknown message frobnicate", bosh::mbus::AgentError);
    CHECK_THROWS_WITH_AS(client.send("get_task", bosh::plugin::json_array()),
                         "agent agent-1: get_task: get_task: missing argument 1", bosh::mbus::AgentError);
    CHECK_THROWS_WITH_AS(client.send("get_task", bosh::parse_json("[\"nope\"]", "a")),
                         "agent agent-1: get_task: unknown task 'nope'", bosh::mbus::AgentError);

    // A malformed message with a reply_to gets an exception naming the problem.
    bosh::testing::Inbox raw;
    auto rsub = raw.subscribe(director, "director.dir-1.raw");
    director.publish("agent.agent-1", "{\"method\": \"ping\", \"arguments\": {\"not\": \"a list\"}, \"reply_to\": \"director.dir-1.raw\"}");
    REQUIRE(raw.wait(1, 60s));
    CHECK(raw.messages().front().data ==
          "{\"exception\":{\"message\":\"message: 'arguments': expected an array, got object\"}}");
    // Garbage is dropped; the agent keeps serving.
    director.publish("agent.agent-1", "not json at all");
    CHECK(client.ping() == "pong");

    // update_settings is a long-running task: poll it to its value.
    CHECK(client.run("update_settings", bosh::parse_json("[{\"trusted_certs\": \"\"}]", "a"), 60s, 20ms).toString() == "ok");
    CHECK(fs::exists(agent.base.path() / "bosh/update_settings.json"));

    CHECK(agent.process->stop(60s) == 0);  // SIGTERM: a clean exit (the grace is for a busy machine)
    CHECK(agent.log().find("s3cret-pass") == std::string::npos);
  }

  TEST_CASE("agent: over mutual TLS with the certificate from its settings") {
    NatsServer server(NatsServer::Tls::mutual);
    auto pem = [&](const fs::path& p) {
      std::string text = bosh::read_file(p), out;
      for (char c : text) out += c == '\n' ? std::string("\\n") : std::string(1, c);
      return out;
    };
    std::string env = "\"bosh\": {\"mbus\": {\"cert\": {\"ca\": \"" + pem(server.ca()) + "\", \"certificate\": \"" +
                      pem(server.client_cert()) + "\", \"private_key\": \"" + pem(server.client_key()) + "\"}}}";
    RunningAgent agent("agent-tls", server.url(), env);
    bosh::mbus::NatsOptions o{server.url()};
    o.ca_file = server.ca();
    o.cert_file = server.client_cert();
    o.key_file = server.client_key();
    bosh::mbus::NatsConnection director(o);
    AgentClient client(director, "agent-tls");
    wait_for(client);
    auto perms = fs::status(agent.base.path() / "bosh/mbus/private_key.pem").permissions();
    CHECK((perms & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  }

  TEST_CASE("agent: a bad settings file is refused naming the file and field") {
    bosh::TempDir base("bosh-agent-bad");
    bosh::write_file_atomic(base.path() / "bosh/settings.json", "{\"vm\": {}, \"mbus\": \"nats://x\"}");
    auto r = bosh::run_process({kAgent.string(), "--base-dir", base.path().string()});
    CHECK(r.exit_code == 1);
    CHECK(r.err == "bosh-agent: " + (base.path() / "bosh/settings.json").string() +
                       ": missing required key 'agent_id'\n");
  }

  TEST_CASE("agent: keeps retrying when the bus is not up yet") {
    int port = bosh::testing::free_port();
    RunningAgent agent("agent-late", "nats://nats:s3cret-pass@127.0.0.1:" + std::to_string(port));
    // Its second refused attempt logged (the first waits 250 ms, then 500): it retried instead of dying.
    REQUIRE(eventually([&] { return agent.log().find("(retrying in 500 ms)") != std::string::npos; }));
    CHECK(agent.process->running());
    NatsServer server(NatsServer::Tls::none, port);
    bosh::mbus::NatsConnection director({server.url()});
    AgentClient client(director, "agent-late");
    wait_for(client);
  }

  TEST_CASE("agent: compile_package and apply install packages and jobs that start under monit") {
    AgentOnBus t("agent-apply");
    auto& client = t.client;
    auto& agent = t.agent;
    auto& store = t.store;
    auto& work = t.work;
    const fs::path base = t.base();
    auto file = [&](const std::string& rel, const std::string& content, fs::perms mode = fs::perms(0644)) {
      return t.file(rel, content, mode);
    };
    auto upload = [&](const std::string& name, const std::vector<bosh::TarInput>& inputs) { return t.upload(name, inputs); };
    auto ref = [](const std::string& name, const std::string& version, const std::pair<std::string, std::string>& blob) {
      return "{\"name\": \"" + name + "\", \"version\": \"" + version + "\", \"sha1\": \"" + blob.second +
             "\", \"blobstore_id\": \"" + blob.first + "\"}";
    };

    // A compiled dependency, and a source package whose packaging uses it.
    auto base_pkg = upload("base", {{"lib.txt", file("base/lib.txt", "from base\n")}});
    auto source = upload("hello-src", {{"packaging", file("hello/packaging",
                                                          "set -e\ncat " + (base / "packages/base/lib.txt").string() + " > "
                                                          "${BOSH_INSTALL_TARGET}/from-base.txt\nmkdir -p "
                                                          "${BOSH_INSTALL_TARGET}/bin\ncp hello.sh ${BOSH_INSTALL_TARGET}/bin/hello\n"
                                                          "chmod +x ${BOSH_INSTALL_TARGET}/bin/hello\n"
                                                          "echo compiled $BOSH_PACKAGE_NAME $BOSH_PACKAGE_VERSION\n")},
                                       {"hello.sh", file("hello/hello.sh", "#!/bin/sh\nexec sleep 100000\n")}});
    std::string args = "[\"" + source.first + "\", \"" + source.second + "\", \"hello\", \"1.0\", {\"base\": " +
                       ref("base", "b1", base_pkg) + "}]";
    auto compiled = bosh::as_object(client.run("compile_package", bosh::parse_json(args, "args"), 60s, 50ms), "compiled");
    auto result = compiled->getObject("result");
    const std::pair<std::string, std::string> hello{result->getValue<std::string>("blobstore_id"),
                                                    result->getValue<std::string>("sha1")};
    fs::path fetched = work.path() / "fetched.tgz";
    bosh::blobstore::get_file(*store, hello.first, fetched, bosh::Digest::parse(hello.second));
    CHECK(bosh::read_tgz_entry(fetched, "from-base.txt") == "from base\n");
    CHECK(bosh::read_tgz_entry(fetched, "bin/hello") == "#!/bin/sh\nexec sleep 100000\n");

    // A failing packaging script: its exit code and the tail of its output.
    auto broken = upload("broken-src", {{"packaging", file("broken/packaging", "echo compiling\necho oops >&2\nexit 3\n")}});
    std::string broken_args = "[\"" + broken.first + "\", \"" + broken.second + "\", \"broken\", \"1\", {}]";
    try {
      client.run("compile_package", bosh::parse_json(broken_args, "args"), 60s, 50ms);
      FAIL("a failing packaging compiled");
    } catch (const bosh::mbus::AgentError& e) {
      std::string msg = e.what();
      CHECK(msg.find("compile_package broken/1: packaging exited with 3:") != std::string::npos);
      CHECK(msg.find("oops") != std::string::npos);
    }

    // The job: a rendered templates archive holding web/monit and web/bin/ctl.
    fs::path pidfile = base / "sys/run/web/web.pid";
    auto rendered = upload(
        "rendered",
        {{"web/monit", file("r/web/monit", "check process web with pidfile " + pidfile.string() +
                                               "\n  start program = \"" + (base / "jobs/web/bin/ctl").string() +
                                               " start\" with timeout 10 seconds\n  stop program = \"" +
                                               (base / "jobs/web/bin/ctl").string() + " stop\"\n")},
         {"web/bin/ctl", file("r/web/bin/ctl",
                              "#!/bin/sh\ncase $1 in\n start) " + (base / "packages/hello/bin/hello").string() +
                                  " >/dev/null 2>&1 & echo $! > " + pidfile.string() + ";;\n stop) kill $(cat " +
                                  pidfile.string() + ");;\nesac\n",
                              fs::perms(0755))}});
    auto apply_spec = [&](const std::pair<std::string, std::string>& package) {
      return "[{\"deployment\": \"demo\", \"name\": \"web\", \"index\": 0, \"id\": \"uuid-1\", "
             "\"job\": {\"name\": \"web\", \"templates\": [{\"name\": \"web\", \"version\": \"v1\"}]}, "
             "\"packages\": {\"hello\": " + ref("hello", "1.0", package) + "}, "
             "\"configuration_hash\": \"cafe01\", \"rendered_templates_archive\": {\"blobstore_id\": \"" +
             rendered.first + "\", \"sha1\": \"" + rendered.second + "\"}}]";
    };
    CHECK(client.run("apply", bosh::parse_json(apply_spec(hello), "spec"), 60s, 50ms).toString() == "applied");
    CHECK(fs::read_symlink(base / "packages/hello") == base / "data/packages/hello/1.0");
    CHECK(fs::read_symlink(base / "jobs/web") == base / "data/jobs/web/cafe01");
    CHECK(fs::exists(base / "monit/job/0000_web.monitrc"));
    CHECK(client.send("start", bosh::plugin::json_array()).toString() == "started");
    REQUIRE(eventually([&] { return states(client) == std::pair<std::string, std::string>{"running", "running"}; }));
    auto state = bosh::as_object(client.get_state(), "state");
    CHECK(state->getValue<std::string>("deployment") == "demo");
    CHECK(state->getValue<std::string>("configuration_hash") == "cafe01");

    // A blob with the wrong sha1: apply fails naming it; the job keeps running.
    auto wrong = hello;
    wrong.second = "0000000000000000000000000000000000000000";
    fs::remove_all(base / "data/packages/hello");  // force a fresh download
    fs::remove(base / "data/blobs" / hello.first);
    try {
      client.run("apply", bosh::parse_json(apply_spec(wrong), "spec"), 60s, 50ms);
      FAIL("apply accepted a wrong sha1");
    } catch (const bosh::mbus::AgentError& e) {
      CHECK(std::string(e.what()).find("hello 1.0: blob '" + hello.first +
                                       "': expected sha1 0000000000000000000000000000000000000000, got ") !=
            std::string::npos);
    }
    CHECK(states(client).first == "running");
    CHECK(bosh::as_object(client.get_state(), "state")->getValue<std::string>("configuration_hash") == "cafe01");

    // Names from messages never become paths outside the tree.
    std::string evil = apply_spec(hello);
    evil.replace(evil.find("\"name\": \"hello\""), 15, "\"name\": \"../../etc\"");
    CHECK_THROWS_WITH_AS(client.run("apply", bosh::parse_json(evil, "spec"), 60s, 50ms),
                         doctest::Contains("package 'hello' name '../../etc' is not a safe name"), bosh::mbus::AgentError);

    int pid = std::stoi(bosh::read_file(pidfile));
    CHECK(agent.process->stop(60s) == 0);
    ::kill(pid, SIGKILL);
  }

  TEST_CASE("agent: drain / lifecycle scripts / errands / logs / disks / blobs and shutdown") {
    AgentOnBus t("agent-life");
    auto& client = t.client;
    auto& agent = t.agent;
    auto& store = t.store;
    auto& work = t.work;
    const fs::path base = t.base();
    auto script = [&](const std::string& rel, const std::string& body) {
      return bosh::TarInput{rel, t.file(rel, "#!/bin/sh\n" + body, fs::perms(0755))};
    };
    fs::path archive = work.path() / "rendered.tgz";
    bosh::create_tgz_from({script("tasks/bin/drain", "echo \"$1 $2\" > " + (work.path() / "drain-args").string() + "\necho 7\n"),
                           script("tasks/bin/pre-start", "echo pre-start ran; echo to-stderr >&2\n"),
                           script("tasks/bin/post-start", "exit 4\n"),
                           script("tasks/bin/run", "echo errand out; echo errand err >&2; exit 3\n")},
                          archive);
    auto stored = bosh::blobstore::put_file(*store, archive, bosh::DigestAlgorithm::sha1);
    std::string spec = "[{\"deployment\": \"demo\", \"job\": {\"name\": \"tasks\", \"templates\": [{\"name\": "
                       "\"tasks\"}]}, \"packages\": {}, \"configuration_hash\": \"h1\", "
                       "\"rendered_templates_archive\": {\"blobstore_id\": \"" + stored.id + "\", \"sha1\": \"" +
                       stored.digest.to_string() + "\"}}]";
    REQUIRE(client.run("apply", bosh::parse_json(spec, "spec"), 60s, 50ms).toString() == "applied");

    // drain: the script's integer; its arguments say what changes.
    CHECK(client.run("drain", bosh::parse_json("[\"update\", {\"configuration_hash\": \"h2\"}]", "a"), 30s, 50ms)
              .convert<long long>() == 7);
    CHECK(bosh::read_file(work.path() / "drain-args") == "job_changed hash_changed\n");
    CHECK_THROWS_WITH_AS(client.run("drain", bosh::parse_json("[\"sideways\"]", "a"), 30s, 50ms),
                         doctest::Contains("drain: type 'sideways' is not update, shutdown or status"),
                         bosh::mbus::AgentError);

    // Lifecycle scripts: output to sys/log/<job>; failures named with exit codes.
    auto ran = bosh::as_object(client.run("run_script", bosh::parse_json("[\"pre-start\", {}]", "a"), 30s, 50ms), "r");
    CHECK(ran->getValue<std::string>("tasks") == "executed");
    CHECK(bosh::read_file(base / "sys/log/tasks/pre-start.stdout.log") == "pre-start ran\n");
    CHECK_THROWS_WITH_AS(client.run("run_script", bosh::parse_json("[\"post-start\", {}]", "a"), 30s, 50ms),
                         doctest::Contains("1 of 1 post-start scripts failed. Failed jobs: tasks (exit 4)"),
                         bosh::mbus::AgentError);

    // Errands report exit code and output.
    auto errand = bosh::as_object(client.run("run_errand", bosh::parse_json("[\"tasks\"]", "a"), 30s, 50ms), "e");
    CHECK(errand->getValue<int>("exit_code") == 3);
    CHECK(errand->getValue<std::string>("stdout") == "errand out\n");
    CHECK(errand->getValue<std::string>("stderr") == "errand err\n");

    // fetch_logs: a tarball of the job logs in the blobstore, filters applied.
    auto logs = bosh::as_object(client.run("fetch_logs", bosh::parse_json("[\"job\", [\"**/*.stdout.log\"]]", "a"), 30s, 50ms), "l");
    fs::path fetched = work.path() / "logs.tgz";
    bosh::blobstore::get_file(*store, logs->getValue<std::string>("blobstore_id"), fetched,
                              bosh::Digest::parse(logs->getValue<std::string>("sha1")));
    CHECK(bosh::read_tgz_entry(fetched, "tasks/pre-start.stdout.log") == "pre-start ran\n");
    CHECK_THROWS(bosh::read_tgz_entry(fetched, "tasks/pre-start.stderr.log"));

    // Persistent disks: directories here, mounted at store/; migrate copies with metadata.
    fs::path disk1 = work.path() / "disk-1", disk2 = work.path() / "disk-2";
    fs::create_directories(disk1);
    fs::create_directories(disk2);
    client.run("add_persistent_disk", bosh::parse_json("[\"disk-1\", \"" + disk1.string() + "\"]", "a"), 30s, 50ms);
    client.run("add_persistent_disk", bosh::parse_json("[\"disk-2\", {\"path\": \"" + disk2.string() + "\"}]", "a"), 30s, 50ms);
    client.run("mount_disk", bosh::parse_json("[\"disk-1\"]", "a"), 30s, 50ms);
    CHECK(bosh::to_json(client.send("list_disk", bosh::plugin::json_array())) == "[\"disk-1\"]");
    bosh::write_file_atomic(base / "store/data.txt", "persisted\n");
    fs::permissions(base / "store/data.txt", fs::perms(0600));
    CHECK(bosh::read_file(disk1 / "data.txt") == "persisted\n");
    client.run("migrate_disk", bosh::parse_json("[\"disk-1\", \"disk-2\"]", "a"), 30s, 50ms);
    CHECK(bosh::read_file(disk2 / "data.txt") == "persisted\n");
    CHECK((fs::status(disk2 / "data.txt").permissions() & fs::perms::all) == fs::perms(0600));
    CHECK(bosh::to_json(client.send("list_disk", bosh::plugin::json_array())) == "[\"disk-2\"]");
    auto unmounted = bosh::as_object(client.run("unmount_disk", bosh::parse_json("[\"disk-2\"]", "a"), 30s, 50ms), "u");
    CHECK(unmounted->getValue<std::string>("message") == "Unmounted partition of disk-2");
    CHECK(bosh::to_json(client.send("list_disk", bosh::plugin::json_array())) == "[]");
    CHECK(fs::is_directory(base / "store"));
    CHECK_FALSE(fs::is_symlink(base / "store"));

    // upload_blob checks its payload; sync_dns writes the records.
    std::string payload = "{\"records\": [[\"10.0.0.5\", \"web-0.demo\"]]}";
    std::ostringstream b64;
    {
      Poco::Base64Encoder enc(b64);
      enc << payload;
    }
    std::string up = "[{\"blob_id\": \"dns-1\", \"checksum\": \"" + bosh::sha1_hex(payload) + "\", \"payload\": \"" + b64.str() + "\"}]";
    client.run("upload_blob", bosh::parse_json(up, "a"), 30s, 50ms);
    CHECK(client.send("sync_dns", bosh::parse_json("[\"dns-1\", \"" + bosh::sha1_hex(payload) + "\", 1]", "a")).toString() == "synced");
    CHECK(bosh::read_file(base / "instance/dns/records.json") == payload);
    std::string bad = "[{\"blob_id\": \"dns-2\", \"checksum\": \"" + bosh::sha1_hex("other") + "\", \"payload\": \"" + b64.str() + "\"}]";
    const std::string bad_message = "upload_blob dns-2: payload has sha1 " + bosh::sha1_hex(payload);
    CHECK_THROWS_WITH_AS(client.run("upload_blob", bosh::parse_json(bad, "a"), 30s, 50ms),
                         doctest::Contains(bad_message.c_str()), bosh::mbus::AgentError);

    // A long errand can be cancelled: its process group is stopped.
    fs::path archive2 = work.path() / "rendered2.tgz";
    bosh::create_tgz_from({script("slow/bin/run", "echo $$ > " + (work.path() / "slow.pid").string() + "\nexec sleep 600\n")},
                          archive2);
    auto stored2 = bosh::blobstore::put_file(*store, archive2, bosh::DigestAlgorithm::sha1);
    std::string spec2 = "[{\"job\": {\"name\": \"slow\", \"templates\": [{\"name\": \"slow\"}]}, "
                        "\"configuration_hash\": \"h3\", \"rendered_templates_archive\": {\"blobstore_id\": \"" +
                        stored2.id + "\", \"sha1\": \"" + stored2.digest.to_string() + "\"}}]";
    REQUIRE(client.run("apply", bosh::parse_json(spec2, "spec"), 60s, 50ms).toString() == "applied");
    auto running = client.send("run_errand", bosh::parse_json("[\"slow\"]", "a"));
    auto task_id = bosh::mbus::running_task_id(running);
    REQUIRE(task_id);
    // The errand has written its pid (the file exists, empty, before the echo writes it).
    int slow_pid = 0;
    REQUIRE(eventually([&] {
      try {
        slow_pid = std::stoi(bosh::read_file(work.path() / "slow.pid"));
      } catch (const std::exception&) {
      }
      return slow_pid > 0;
    }));
    CHECK(client.send("cancel_task", bosh::parse_json("[\"" + *task_id + "\"]", "a")).toString() == "canceled");
    CHECK(eventually([&] { return ::kill(slow_pid, 0) != 0; }));
    CHECK(eventually([&] {
      try {
        client.send("get_task", bosh::parse_json("[\"" + *task_id + "\"]", "a"));
        return false;
      } catch (const bosh::mbus::AgentError& e) {
        return std::string(e.what()).find("run of job 'slow' was cancelled") != std::string::npos;
      }
    }));

    // shutdown: answered, then the agent exits.
    CHECK(client.send("shutdown", bosh::plugin::json_array()).toString() == "shutdown");
    CHECK(eventually([&] { return !agent.process->running(); }));
  }

  TEST_CASE("agent: its monit does not outlive a killed agent") {
    NatsServer server;
    RunningAgent agent("agent-kill", server.url());
    bosh::mbus::NatsConnection director({server.url()});
    AgentClient client(director, "agent-kill");
    wait_for(client);
    int monit_pid = 0;
    REQUIRE(eventually([&] {
      try {
        monit_pid = std::stoi(bosh::read_file(agent.base.path() / "monit/monit.pid"));
      } catch (const std::exception&) {
      }
      return monit_pid > 0;
    }));
    CHECK(::kill(monit_pid, 0) == 0);
    ::kill(agent.process->pid(), SIGKILL);
    CHECK(eventually([&] { return ::kill(monit_pid, 0) != 0; }));
  }

  TEST_CASE("agent: state survives a restart and wrong credentials are retried with a clear log") {
    NatsServer server;
    RunningAgent agent("agent-restart", server.url("wrong-password"));
    // Refused twice (the second refusal says it waits 500 ms): no crash, it keeps retrying.
    REQUIRE(eventually([&] { return agent.log().find("(retrying in 500 ms)") != std::string::npos; }));
    CHECK(agent.process->running());
    CHECK(agent.log().find("Authorization Violation") != std::string::npos);
    CHECK(agent.log().find("wrong-password") == std::string::npos);
    agent.process->stop();

    bosh::write_file_atomic(agent.base.path() / "bosh/settings.json",
                            bosh::read_file(agent.base.path() / "bosh/settings.json").replace(
                                bosh::read_file(agent.base.path() / "bosh/settings.json").find("wrong-password"),
                                14, NatsServer::kPassword));
    agent.start();
    bosh::mbus::NatsConnection director({server.url()});
    AgentClient client(director, "agent-restart");
    wait_for(client);
    fs::path disk = agent.base.path() / "disk-a";
    fs::create_directories(disk);
    client.run("add_persistent_disk", bosh::parse_json("[\"disk-a\", \"" + disk.string() + "\"]", "a"), 30s, 50ms);
    client.run("mount_disk", bosh::parse_json("[\"disk-a\"]", "a"), 30s, 50ms);
    client.run("apply", bosh::parse_json("[{\"deployment\": \"kept\", \"packages\": {}}]", "a"), 30s, 50ms);
    agent.process->stop();
    agent.start();
    wait_for(client);
    CHECK(bosh::as_object(client.get_state(), "s")->getValue<std::string>("deployment") == "kept");
    CHECK(bosh::to_json(client.send("list_disk", bosh::plugin::json_array())) == "[\"disk-a\"]");
  }

  TEST_CASE("agent: the HTTPS mbus answers messages and takes blobs") {
    const int port = bosh::testing::free_port();
    const std::string url = "https://mbus:p4ss@127.0.0.1:" + std::to_string(port);
    RunningAgent agent("agent-https", url);
    const fs::path cert = agent.base.path() / "bosh/mbus/https.pem";
    REQUIRE(eventually([&] { return fs::exists(cert) && bosh::testing::port_open(port); }));
    AgentClient client(std::make_unique<bosh::mbus::HttpsAgentTransport>(url, bosh::read_file(cert)), "agent-https");
    CHECK(client.ping() == "pong");
    CHECK(bosh::as_object(client.get_state(), "s")->getValue<std::string>("agent_id") == "agent-https");

    // A blob PUT over the same port, then used by a message.
    bosh::plugin::HttpRequest put;
    put.method = "PUT";
    put.url = url + "/blobs/records-1";
    put.body = "{\"records\": []}";
    put.ca_cert_pem = bosh::read_file(cert);
    CHECK(bosh::http_request(put).status == 201);
    CHECK(client.send("sync_dns", bosh::parse_json("[\"records-1\", \"" + bosh::sha1_hex(put.body) + "\", 1]", "a"))
              .toString() == "synced");
    CHECK(bosh::read_file(agent.base.path() / "instance/dns/records.json") == put.body);

    AgentClient wrong(std::make_unique<bosh::mbus::HttpsAgentTransport>(
                          "https://mbus:nope@127.0.0.1:" + std::to_string(port), bosh::read_file(cert)),
                      "agent-https");
    CHECK_THROWS_WITH_AS(wrong.ping(), doctest::Contains("wrong credentials"), bosh::mbus::MbusError);
  }

  TEST_CASE("agent: settings from a registry / a config drive pointing at it / and the cache") {
    NatsServer server;
    auto registry = std::make_unique<FakeRegistry>();
    registry->settings["vm-r1"] = "{\"agent_id\": \"agent-reg\", \"mbus\": \"" + server.url() + "\"}";
    registry->settings["vm-r2"] = "{\"agent_id\": \"agent-cd\", \"mbus\": \"" + server.url() + "\"}";
    bosh::mbus::NatsConnection director({server.url()});

    bosh::TempDir vm1("bosh-agent-reg");
    auto start = [&](const bosh::TempDir& vm, std::vector<std::string> extra) {
      std::vector<std::string> argv{kAgent.string(), "--base-dir", vm.path().string(), "--monit-poll", "1"};
      argv.insert(argv.end(), extra.begin(), extra.end());
      return std::make_unique<bosh::BackgroundProcess>(argv, vm.path() / "agent.log");
    };
    auto a1 = start(vm1, {"--settings-source", "registry", "--registry", registry->url(), "--instance-id", "vm-r1"});
    AgentClient c1(director, "agent-reg");
    wait_for(c1);
    CHECK(fs::exists(vm1.path() / "bosh/settings.json"));  // the cache

    bosh::TempDir vm2("bosh-agent-cd");
    fs::create_directories(vm2.path() / "drive/openstack/latest");
    bosh::write_file_atomic(vm2.path() / "drive/openstack/latest/user_data",
                            "{\"registry\": {\"endpoint\": \"" + registry->url() + "\"}, \"server\": {\"name\": \"vm-r2\"}}");
    auto a2 = start(vm2, {"--settings-source", "config-drive", "--config-drive", (vm2.path() / "drive").string()});
    AgentClient c2(director, "agent-cd");
    wait_for(c2);

    // The registry goes away: a restarted agent carries on from its cache.
    a1->stop();
    registry.reset();
    a1 = start(vm1, {"--settings-source", "registry", "--registry", "http://127.0.0.1:1", "--instance-id", "vm-r1"});
    wait_for(c1);
    CHECK(bosh::read_file(vm1.path() / "agent.log").find("using the settings cached in") != std::string::npos);
  }

  TEST_CASE("agent: block device disks get a filesystem and are mounted at store/") {
    // Loop devices stand in for a VM's disks (needs root, as the agent on a VM has).
    bosh::TempDir images("bosh-loop");
    std::vector<std::string> devices;
    for (const char* name : {"a.img", "b.img"}) {
      fs::path img = images.path() / name;
      bosh::run_process({"truncate", "-s", "24M", img.string()});
      auto r = bosh::run_process({"losetup", "-f", "--show", img.string()});
      REQUIRE_MESSAGE(r.exit_code == 0, "losetup failed (run the tests as root): " << r.err);
      devices.push_back(r.out.substr(0, r.out.find('\n')));
    }
    struct Detach {
      std::vector<std::string>& d;
      ~Detach() {
        for (const auto& dev : d) bosh::run_process({"losetup", "-d", dev});
      }
    } detach{devices};
    NatsServer server;
    RunningAgent agent("agent-dev", server.url());
    bosh::mbus::NatsConnection director({server.url()});
    AgentClient client(director, "agent-dev");
    wait_for(client);
    const fs::path store = agent.base.path() / "store";
    auto mounted = [&] {
      return bosh::run_process({"mountpoint", "-q", store.string()}).exit_code == 0;
    };
    client.run("add_persistent_disk", bosh::parse_json("[\"vol-a\", \"" + devices[0] + "\"]", "a"), 30s, 50ms);
    client.run("add_persistent_disk", bosh::parse_json("[\"vol-b\", {\"path\": \"" + devices[1] + "\"}]", "a"), 30s, 50ms);
    client.run("mount_disk", bosh::parse_json("[\"vol-a\"]", "a"), 60s, 50ms);
    CHECK(mounted());
    CHECK(fs::exists(store / "lost+found"));  // a fresh ext4
    bosh::write_file_atomic(store / "db/data.txt", "on a real disk\n");
    client.run("migrate_disk", bosh::parse_json("[\"vol-a\", \"vol-b\"]", "a"), 60s, 50ms);
    CHECK(mounted());
    CHECK(bosh::read_file(store / "db/data.txt") == "on a real disk\n");
    CHECK(bosh::to_json(client.send("list_disk", bosh::plugin::json_array())) == "[\"vol-b\"]");
    client.run("unmount_disk", bosh::parse_json("[\"vol-b\"]", "a"), 30s, 50ms);
    CHECK_FALSE(mounted());
    CHECK_FALSE(fs::exists(store / "db"));
    // Mounting again finds the filesystem and the data (no reformat).
    client.run("mount_disk", bosh::parse_json("[\"vol-b\"]", "a"), 60s, 50ms);
    CHECK(bosh::read_file(store / "db/data.txt") == "on a real disk\n");
    client.run("unmount_disk", bosh::parse_json("[\"vol-b\"]", "a"), 30s, 50ms);
  }
}
