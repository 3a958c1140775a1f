// core/mbus against a real nats-server: auth, TLS, mutual TLS, reconnect,
// and the agent envelope round trip.
#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "../../peers/nats_server.hpp"
#include "bosh/common/json.hpp"
#include "bosh/mbus/agent_client.hpp"
#include "bosh/mbus/envelope.hpp"
#include "bosh/mbus/nats.hpp"

using namespace bosh::mbus;
using bosh::testing::NatsServer;
using namespace std::chrono_literals;

namespace {
// A tiny agent: answers ping, and a long-running "slow" polled with get_task.
std::unique_ptr<Subscription> fake_agent(NatsConnection& nats, const std::string& id) {
  return nats.subscribe("agent." + id, [&nats](const Message& m) {
    Request r = decode_request(m.data);
    std::string reply;
    if (r.method == "ping") reply = encode_value(std::string("pong"));
    else if (r.method == "slow") reply = encode_value(task_running("t1"));
    else if (r.method == "get_task") reply = encode_value(std::string("done"));
    else reply = encode_exception("unknown message " + r.method);
    nats.publish(r.reply_to, reply);
  });
}
}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("mbus: publish / subscribe and request over user and password") {
    NatsServer server;
    NatsConnection a({server.url()}), b({server.url()});
    bosh::testing::Inbox inbox;
    auto sub = inbox.subscribe(b, "hm.agent.heartbeat.*");
    a.publish("hm.agent.heartbeat.agent-1", "{\"job\":\"web\"}");
    REQUIRE(inbox.wait(1));
    CHECK(inbox.messages()[0].subject == "hm.agent.heartbeat.agent-1");
    CHECK(inbox.messages()[0].data == "{\"job\":\"web\"}");

    auto echo = b.subscribe("svc.echo", [&b](const Message& m) { b.publish(m.reply, "echo:" + m.data); });
    b.flush();
    CHECK(a.request("svc.echo", "hi", 30s) == "echo:hi");
    CHECK_THROWS_AS(a.request("svc.nobody", "hi", 300ms), MbusTimeout);
  }

  TEST_CASE("mbus: a wrong password is a clear error without the password") {
    NatsServer server;
    try {
      NatsConnection c({server.url("wrong-pw")});
      FAIL("connected with a wrong password");
    } catch (const MbusError& e) {
      std::string msg = e.what();
      CHECK(msg.find("cannot connect to NATS nats://nats:<redacted>@127.0.0.1:" + std::to_string(server.port())) == 0);
      CHECK(msg.find("Authorization Violation") != std::string::npos);
      CHECK(msg.find("wrong-pw") == std::string::npos);
    }
  }

  TEST_CASE("mbus: TLS with the CA / mutual TLS and a wrong CA") {
    NatsServer tls(NatsServer::Tls::server);
    NatsOptions o{tls.url()};
    o.ca_file = tls.ca();
    NatsConnection c(o);
    CHECK(c.connected());

    NatsServer other(NatsServer::Tls::server);  // a different CA
    NatsOptions wrong{tls.url()};
    wrong.ca_file = other.ca();
    CHECK_THROWS_WITH_AS(NatsConnection{wrong}, doctest::Contains("cannot connect to NATS tls://nats:<redacted>@"),
                         MbusError);

    NatsServer mtls(NatsServer::Tls::mutual);
    NatsOptions no_cert{mtls.url()};
    no_cert.ca_file = mtls.ca();
    CHECK_THROWS_AS(NatsConnection{no_cert}, MbusError);
    NatsOptions with_cert = no_cert;
    with_cert.cert_file = mtls.client_cert();
    with_cert.key_file = mtls.client_key();
    NatsConnection ok(with_cert);
    CHECK(ok.connected());
  }

  TEST_CASE("mbus: reconnects with backoff after the server restarts") {
    NatsServer server;
    NatsOptions o{server.url()};
    o.reconnect_base = 50ms;
    o.reconnect_cap = 200ms;
    NatsConnection c(o);
    bosh::testing::Inbox inbox;
    auto sub = inbox.subscribe(c, "after.restart");
    // Deadlines for a busy machine; each wait ends as soon as its event is seen.
    auto until = [](auto done) {
      for (auto end = std::chrono::steady_clock::now() + 60s; !done() && std::chrono::steady_clock::now() < end;)
        std::this_thread::sleep_for(20ms);
    };
    server.stop();
    until([&] { return !c.connected(); });
    CHECK_FALSE(c.connected());
    server.start();
    // The reconnected callback (which counts) runs on a libnats thread, maybe after connected() turns true.
    until([&] { return c.connected() && c.reconnects() >= 1; });
    REQUIRE(c.connected());
    CHECK(c.reconnects() == 1);
    c.flush();  // a round trip: the server has the subscription again before anyone publishes
    NatsConnection other({server.url()});
    other.publish("after.restart", "x");
    other.flush();
    CHECK(inbox.wait(1));  // the subscription came back with the connection
  }

  TEST_CASE("agent client: replies / exceptions / timeouts and long-running tasks") {
    NatsServer server;
    NatsConnection agent_side({server.url()}), director_side({server.url()});
    auto agent = fake_agent(agent_side, "agent-7");
    agent_side.flush();
    AgentClient client(director_side, "agent-7", "dir-uuid");
    CHECK(client.ping() == "pong");
    CHECK(client.run("slow", bosh::plugin::json_array(), 60s, 10ms).toString() == "done");
    CHECK_THROWS_WITH_AS(client.send("frobnicate", bosh::plugin::json_array()),
                         "agent agent-7: frobnicate: unknown message frobnicate", AgentError);
    AgentClient nobody(director_side, "agent-none");
    CHECK_THROWS_WITH_AS(nobody.send("ping", bosh::plugin::json_array(), 200ms),
                         "agent agent-none did not answer 'ping' within 0.2 s", MbusTimeout);
  }
}
