// Agent logic without processes: monit status parsing, job states, alert mail.
#include <doctest/doctest.h>

#include "../../../agent/src/alerts.hpp"
#include "../../../agent/src/monit.hpp"
#include "bosh/agent/settings.hpp"
#include "bosh/common/error.hpp"

using namespace bosh::agent;

namespace {
// As monit 5.33 answers _status?format=xml (trimmed to the fields read).
const char* kStatus =
    "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><monit><server><version>5.33.0</version></server>"
    "<service type=\"3\"><name>web</name><status>0</status><monitor>1</monitor><pendingaction>0</pendingaction>"
    "<pid>4242</pid><uptime>17</uptime><memory><percent>0.5</percent><kilobyte>1556</kilobyte></memory>"
    "<cpu><percent>1.5</percent></cpu></service>"
    "<service type=\"3\"><name>worker</name><status>512</status><monitor>1</monitor><pid>-1</pid></service>"
    "<service type=\"5\"><name>vm</name><status>0</status><monitor>1</monitor></service></monit>";
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("monit status XML becomes process services") {
    auto services = parse_monit_status(kStatus);
    REQUIRE(services.size() == 2);
    CHECK(services[0].name == "web");
    CHECK(services[0].pid == 4242);
    CHECK(services[0].uptime == 17);
    CHECK(services[0].memory_kb == 1556);
    CHECK(services[0].cpu_percent == doctest::Approx(1.5));
    CHECK(services[1].status == 512);
    CHECK_THROWS_WITH_AS(parse_monit_status("<monit"), doctest::Contains("monit status is not XML"), bosh::Error);
  }

  TEST_CASE("job state from monit services") {
    MonitService ok{"a", 0, 1, 0, 10};
    MonitService failing{"b", 512, 1, 0, -1};
    MonitService unmonitored{"c", 0, 0, 0, -1};
    MonitService initializing{"d", 0, 2, 0, -1};
    CHECK(job_state_of({}) == "running");
    CHECK(job_state_of({ok}) == "running");
    CHECK(job_state_of({ok, failing}) == "failing");
    CHECK(job_state_of({ok, unmonitored}) == "failing");
    CHECK(job_state_of({ok, initializing}) == "starting");
  }

  TEST_CASE("monit alert mail becomes a BOSH alert and good news is dropped") {
    auto alert = parse_monit_mail(
        "From: monit@localhost\nSubject: Monit Alert\n\nService: web\nEvent: Does not exist\nAction: restart\n"
        "Date: Wed, 25 Nov 2026 11:00:00\nDescription: process is not running\n",
        "10.0.0.5");
    REQUIRE(alert);
    CHECK(alert->severity == 1);
    CHECK(alert->title == "web (10.0.0.5) - Does not exist - restart");
    CHECK(alert->summary == "process is not running");
    CHECK_FALSE(parse_monit_mail("Service: web\nEvent: Exists\nAction: alert\n", "ip"));
    CHECK_FALSE(parse_monit_mail("hello", "ip"));
    CHECK(alert_severity("Checksum failed") == 2);
    CHECK(alert_severity("Content failed") == 3);
    CHECK(alert_severity("Timestamp changed") == 4);
    CHECK(alert_severity("Something new") == 2);
  }

  TEST_CASE("settings: env.bosh takes precedence and bad fields are named") {
    auto s = parse_settings(
        "{\"agent_id\": \"a1\", \"vm\": {\"name\": \"vm-1\"}, \"mbus\": \"nats://u:p@h:4222\","
        " \"blobstore\": {\"provider\": \"dav\", \"options\": {\"endpoint\": \"http://x\"}},"
        " \"env\": {\"bosh\": {\"blobstores\": [{\"provider\": \"local\", \"options\": {\"blobstore_path\": \"/b\"}}],"
        " \"mbus\": {\"cert\": {\"ca\": \"CA\", \"certificate\": \"C\", \"private_key\": \"K\"}}}}}",
        "settings.json");
    CHECK(s.agent_id == "a1");
    CHECK(s.vm_name == "vm-1");
    CHECK(s.blobstore_provider == "local");
    REQUIRE(s.mbus_cert);
    CHECK(s.mbus_cert->private_key == "K");
    CHECK_THROWS_WITH_AS(parse_settings("{\"agent_id\": \"a/../b\", \"mbus\": \"x\"}", "s.json"),
                         "s.json: agent_id 'a/../b' is not usable as a NATS subject token", bosh::InputError);
    CHECK_THROWS_WITH_AS(parse_settings("{\"agent_id\": \"a\"}", "s.json"), "s.json: missing required key 'mbus'",
                         bosh::InputError);
  }
}
