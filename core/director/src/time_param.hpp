// Times in query parameters (?before_time=, ?after_time=): what parse_time
// takes, or an InputError naming the parameter.
#pragma once

#include <cstdint>
#include <string>

#include "bosh/common/clock.hpp"
#include "bosh/common/error.hpp"

namespace bosh::director {

inline std::int64_t parse_time_param(const std::string& name, const std::string& value) {
  if (auto t = parse_time(value)) return *t;
  fail<InputError>("{} must be a time (unix seconds, 'YYYY-MM-DD HH:MM:SS' or RFC 3339), got '{}'", name, value);
}

}  // namespace bosh::director
