// BOSH's agent message envelope (protocol 3):
//   request  {"protocol": 3, "method": "apply", "arguments": [...], "reply_to": "director.<uuid>.<agent>.<id>"}
//   reply    {"value": ...}  or  {"exception": {"message": "..."}}
//   a long-running action answers {"value": {"agent_task_id": "<id>", "state": "running"}} and is
//   polled with get_task [<id>] until the value is no longer that shape.
#pragma once

#include <optional>
#include <string>

#include "bosh/plugin/json.hpp"

namespace bosh::mbus {

struct Request {
  int protocol = 3;
  std::string method;
  plugin::Json arguments;  // an array
  std::string reply_to;
};

std::string encode_request(const Request& request);
// InputError naming what is wrong: not JSON, not an object, no method, arguments not a list.
Request decode_request(const std::string& text);

// The reply_to of a message that may be malformed otherwise (so the sender
// can still be told what is wrong); nothing when there is none to find.
std::optional<std::string> peek_reply_to(const std::string& text);

std::string encode_value(const plugin::Json& value);
std::string encode_exception(const std::string& message);

struct Reply {
  std::optional<plugin::Json> value;
  std::optional<std::string> exception;
};
Reply decode_reply(const std::string& text);

// {"agent_task_id": id, "state": "running"}, and the test for it.
plugin::Json task_running(const std::string& task_id);
std::optional<std::string> running_task_id(const plugin::Json& value);

}  // namespace bosh::mbus
