// Wall-clock time as the wire formats and the database keep it: unix
// seconds; and the text forms BOSH's clients read and send.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bosh {

inline std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// strftime in UTC; "" for 0 or less (no time).
std::string utc_time(std::int64_t unix_seconds, const char* format = "%Y-%m-%d %H:%M:%S UTC");
// "2026-12-02T14:46:38Z"
std::string rfc3339(std::int64_t unix_seconds);

// A time as users and clients write it: unix seconds ("1764686798"),
// "2026-12-02 14:46:38" (UTC) with an optional " UTC", " +0100" or "Z", or
// RFC 3339 ("2026-12-02T14:46:38Z", "...+01:00"); a date alone is its
// midnight UTC. nullopt when it is none of these.
std::optional<std::int64_t> parse_time(std::string_view text);

}  // namespace bosh
