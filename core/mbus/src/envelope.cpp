#include "bosh/mbus/envelope.hpp"

#include "bosh/common/error.hpp"
#include "bosh/common/json.hpp"

namespace bosh::mbus {

std::string encode_request(const Request& request) {
  Poco::JSON::Object::Ptr obj = new Poco::JSON::Object;
  obj->set("protocol", request.protocol);
  obj->set("method", request.method);
  obj->set("arguments", request.arguments.isEmpty() ? plugin::json_array() : request.arguments);
  obj->set("reply_to", request.reply_to);
  return to_json(plugin::Json(obj));
}

Request decode_request(const std::string& text) {
  plugin::Json parsed = parse_json(text, "message");
  auto obj = as_object(parsed, "message");
  Request r;
  r.method = get_string(obj, "method", "message");
  if (r.method.empty()) fail<InputError>("message: 'method' is empty");
  r.reply_to = find_string(obj, "reply_to", "message").value_or("");
  if (obj->has("protocol")) {
    try {
      r.protocol = obj->getValue<int>("protocol");
    } catch (const std::exception&) {
      fail<InputError>("message: 'protocol' must be a number");
    }
  }
  if (!obj->has("arguments") || obj->get("arguments").isEmpty()) {
    r.arguments = plugin::json_array();
  } else {
    as_array(obj->get("arguments"), "message: 'arguments'");
    r.arguments = obj->get("arguments");
  }
  return r;
}

std::optional<std::string> peek_reply_to(const std::string& text) {
  try {
    plugin::Json parsed = parse_json(text, "message");
    if (parsed.type() != typeid(Poco::JSON::Object::Ptr)) return std::nullopt;
    auto obj = parsed.extract<Poco::JSON::Object::Ptr>();
    if (!obj->has("reply_to") || !obj->get("reply_to").isString()) return std::nullopt;
    std::string reply_to = obj->getValue<std::string>("reply_to");
    if (reply_to.empty()) return std::nullopt;
    return reply_to;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string encode_value(const plugin::Json& value) {
  Poco::JSON::Object::Ptr obj = new Poco::JSON::Object;
  obj->set("value", value);
  return to_json(plugin::Json(obj));
}

std::string encode_exception(const std::string& message) {
  Poco::JSON::Object::Ptr ex = new Poco::JSON::Object;
  ex->set("message", message);
  Poco::JSON::Object::Ptr obj = new Poco::JSON::Object;
  obj->set("exception", ex);
  return to_json(plugin::Json(obj));
}

Reply decode_reply(const std::string& text) {
  auto obj = as_object(parse_json(text, "reply"), "reply");
  Reply r;
  if (obj->has("exception")) {
    auto ex = obj->get("exception");
    if (ex.type() == typeid(Poco::JSON::Object::Ptr)) {
      r.exception = find_string(ex.extract<Poco::JSON::Object::Ptr>(), "message", "reply exception").value_or("");
    } else {
      r.exception = ex.toString();
    }
    return r;
  }
  if (!obj->has("value")) fail<InputError>("reply: neither 'value' nor 'exception'");
  r.value = obj->get("value");
  return r;
}

plugin::Json task_running(const std::string& task_id) {
  Poco::JSON::Object::Ptr obj = new Poco::JSON::Object;
  obj->set("agent_task_id", task_id);
  obj->set("state", "running");
  return obj;
}

std::optional<std::string> running_task_id(const plugin::Json& value) {
  if (value.type() != typeid(Poco::JSON::Object::Ptr)) return std::nullopt;
  auto obj = value.extract<Poco::JSON::Object::Ptr>();
  if (!obj->has("agent_task_id") || !obj->has("state")) return std::nullopt;
  if (obj->getValue<std::string>("state") != "running") return std::nullopt;
  return obj->getValue<std::string>("agent_task_id");
}

}  // namespace bosh::mbus
