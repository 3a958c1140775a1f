#include <doctest/doctest.h>

#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"
#include "bosh/mbus/envelope.hpp"

using namespace bosh::mbus;

TEST_SUITE("unit") {
  TEST_CASE("envelope: requests round-trip in BOSH's shape") {
    Request r;
    r.method = "apply";
    r.arguments = bosh::parse_json("[{\"job\": {\"name\": \"web\"}}]", "t");
    r.reply_to = "director.d.a.1";
    std::string text = encode_request(r);
    CHECK(text == "{\"arguments\":[{\"job\":{\"name\":\"web\"}}],\"method\":\"apply\",\"protocol\":3,\"reply_to\":\"director.d.a.1\"}");
    Request back = decode_request(text);
    CHECK(back.method == "apply");
    CHECK(back.reply_to == "director.d.a.1");
    CHECK(back.protocol == 3);
  }

  TEST_CASE("envelope: malformed requests name the problem") {
    CHECK_THROWS_WITH_AS(decode_request("{\"arguments\": []}"), "message: missing required key 'method'",
                         bosh::InputError);
    CHECK_THROWS_WITH_AS(decode_request("{\"method\": \"ping\", \"arguments\": {}}"),
                         "message: 'arguments': expected an array, got object", bosh::InputError);
    CHECK_THROWS_AS(decode_request("not json"), bosh::InputError);
    CHECK_THROWS_WITH_AS(decode_request("[1]"), "message: expected an object, got array", bosh::InputError);
  }

  TEST_CASE("envelope: replies / exceptions and running tasks") {
    CHECK(encode_value(std::string("pong")) == "{\"value\":\"pong\"}");
    CHECK(encode_exception("boom") == "{\"exception\":{\"message\":\"boom\"}}");
    auto ex = decode_reply("{\"exception\":{\"message\":\"boom\"}}");
    CHECK(*ex.exception == "boom");
    auto v = decode_reply(encode_value(task_running("42")));
    CHECK(running_task_id(*v.value) == std::optional<std::string>("42"));
    CHECK_FALSE(running_task_id(bosh::parse_json("{\"agent_task_id\": \"1\", \"state\": \"done\"}", "t")));
    CHECK_THROWS_WITH_AS(decode_reply("{}"), "reply: neither 'value' nor 'exception'", bosh::InputError);
  }
}
