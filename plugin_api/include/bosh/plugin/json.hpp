// The one JSON type that crosses the plugin boundary.
//
// Cloud properties, networks, env, disk hints and metadata travel as POCO's
// Dynamic::Var holding Poco::JSON::Object::Ptr / Array::Ptr / scalars, exactly
// as Poco::JSON::Parser produces them. POCO's major.minor is part of the ABI
// tag (plugin.hpp), so host and plugin always agree on its layout.
#pragma once

#include <Poco/Dynamic/Var.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

namespace bosh::plugin {

using Json = Poco::Dynamic::Var;
using JsonObject = Poco::JSON::Object;
using JsonArray = Poco::JSON::Array;

inline Json json_object() { return Json(JsonObject::Ptr(new JsonObject)); }
inline Json json_array() { return Json(JsonArray::Ptr(new JsonArray)); }

}  // namespace bosh::plugin
