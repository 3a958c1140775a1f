// The boundary guard: runs a call into plugin code and lets only host-made
// exceptions out.
#pragma once

#include <exception>
#include <string>

#include "bosh/plugin/errors.hpp"

namespace bosh::plugin_host {

// Re-throws the exception in flight as an exception whose code lives in the
// host: a plugin Error becomes the same wire type built by the host
// (error_from_wire), anything else CloudError("<plugin>: <what>").
[[noreturn]] void rethrow_at_boundary(const std::string& plugin_name);

template <typename F>
auto guarded(const std::string& plugin_name, F&& call) -> decltype(call()) {
  try {
    return call();
  } catch (...) {
    rethrow_at_boundary(plugin_name);
  }
}

}  // namespace bosh::plugin_host
