// Wall-clock time as the wire formats and the database keep it: unix seconds.
#pragma once

#include <chrono>
#include <cstdint>

namespace bosh {

inline std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace bosh
