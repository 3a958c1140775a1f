#include "bosh/common/clock.hpp"

#include <ctime>
#include <algorithm>
#include <regex>

namespace bosh {

std::string utc_time(std::int64_t t, const char* format) {
  if (t <= 0) return "";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

std::string rfc3339(std::int64_t t) { return utc_time(t, "%Y-%m-%dT%H:%M:%SZ"); }

std::optional<std::int64_t> parse_time(std::string_view text) {
  static const std::regex epoch("[0-9]{1,12}");
  static const std::regex stamp(
      "([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[ T]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\\.[0-9]+)?)?)?"
      "(?: ?(Z|UTC|GMT|[+-][0-9]{2}:?[0-9]{2}))?");
  const std::string s(text);
  if (std::regex_match(s, epoch)) return std::stoll(s);
  std::smatch m;
  if (!std::regex_match(s, m, stamp)) return std::nullopt;
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  if (m[4].matched) tm.tm_hour = std::stoi(m[4]);
  if (m[5].matched) tm.tm_min = std::stoi(m[5]);
  if (m[6].matched) tm.tm_sec = std::stoi(m[6]);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
    return std::nullopt;
  std::int64_t t = static_cast<std::int64_t>(timegm(&tm));
  if (m[7].matched && (m[7].str()[0] == '+' || m[7].str()[0] == '-')) {
    std::string zone = m[7].str();
    zone.erase(std::remove(zone.begin(), zone.end(), ':'), zone.end());
    const int minutes = std::stoi(zone.substr(1, 2)) * 60 + std::stoi(zone.substr(3, 2));
    t -= (zone[0] == '+' ? 1 : -1) * minutes * 60;
  }
  return t;
}

}  // namespace bosh
