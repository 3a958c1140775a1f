// JSON in and out, on the plugin boundary's Json type (Poco::Dynamic::Var).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "bosh/plugin/json.hpp"

namespace bosh {

// Parses strict JSON (RFC 8259). `origin` names the source in messages (a
// file name or "<stdin>"). A syntax error is an InputError
// "<origin>:<line>:<column>: <what is wrong>" (1-based; columns count
// characters, a tab counts as one).
plugin::Json parse_json(std::string_view text, std::string_view origin);

// IoError "<path>: cannot read: <strerror>"; syntax errors as parse_json.
plugin::Json load_json_file(const std::filesystem::path& path);

// Serialises with object keys sorted, so output is deterministic. `pretty`
// indents by two spaces. Doubles print shortest-round-trip; NaN/inf as null.
std::string to_json(const plugin::Json& value, bool pretty = false);

// "null", "object", "array", "string", "number", "boolean".
std::string_view json_type_name(const plugin::Json& value);

// InputError "<what>: expected an object, got <type>".
const plugin::JsonObject::Ptr as_object(const plugin::Json& value, std::string_view what);
// InputError "<what>: expected an array, got <type>".
const plugin::JsonArray::Ptr as_array(const plugin::Json& value, std::string_view what);

// InputError "<what>: missing required key '<key>'" or
// "<what>: '<key>' must be a string, got <type>".
std::string get_string(const plugin::JsonObject::Ptr& object, const std::string& key, std::string_view what);

// nullopt when the key is absent or null; InputError as get_string when it
// holds something other than a string.
std::optional<std::string> find_string(const plugin::JsonObject::Ptr& object, const std::string& key,
                                       std::string_view what);

// nullopt when absent or null; InputError "<what>: '<key>' must be true or
// false, got <type>" for anything but a JSON boolean (no "maybe" is true).
std::optional<bool> find_bool(const plugin::JsonObject::Ptr& object, const std::string& key, std::string_view what);

// BOSH's merge of cloud properties and env: `over`'s keys on top of
// `base`'s, objects merged key by key, anything else replaced.
plugin::Json deep_merge(const plugin::Json& base, const plugin::Json& over);

// The value at a dotted path ("a.b.c") of nested objects; nullopt when a
// step is missing or not an object.
std::optional<plugin::Json> dig(const plugin::Json& value, const std::string& dotted_path);

}  // namespace bosh
