#include "bosh/common/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "bosh/common/error.hpp"

namespace bosh::log {

namespace {
std::atomic<Level> g_level{Level::warn};
std::mutex g_mutex;
Sink g_sink;

void default_sink(Level level, std::string_view component, std::string_view message) {
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t t = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string_view name = level_name(level);
  std::string line = fmt::format("{}, [{}.{:03d} #{}] {:>5} -- {}: {}\n", name[0], stamp, ms,
                                 ::getpid(), name, component, message);
  std::fwrite(line.data(), 1, line.size(), stderr);
}
}  // namespace

void set_level(Level level) { g_level = level; }
Level level() { return g_level; }

Level parse_level(std::string_view name) {
  if (name == "debug") return Level::debug;
  if (name == "info") return Level::info;
  if (name == "warn") return Level::warn;
  if (name == "error") return Level::error;
  if (name == "none") return Level::none;
  fail<InputError>("unknown log level '{}' (expected debug, info, warn, error or none)", name);
}

std::string_view level_name(Level level) {
  switch (level) {
    case Level::debug: return "DEBUG";
    case Level::info: return "INFO";
    case Level::warn: return "WARN";
    case Level::error: return "ERROR";
    default: return "NONE";
  }
}

void set_sink(Sink sink) {
  std::lock_guard lock(g_mutex);
  g_sink = std::move(sink);
}

void write(Level level, std::string_view component, std::string_view message) {
  if (level < g_level.load()) return;
  std::lock_guard lock(g_mutex);
  if (g_sink)
    g_sink(level, component, message);
  else
    default_sink(level, component, message);
}

std::string redact(std::string_view text, const std::vector<std::string>& secrets) {
  std::string out(text);
  for (const auto& secret : secrets) {
    if (secret.empty()) continue;
    size_t pos = 0;
    while ((pos = out.find(secret, pos)) != std::string::npos) {
      out.replace(pos, secret.size(), "<redacted>");
      pos += 10;
    }
  }
  return out;
}

std::string redact_url(std::string_view url) {
  size_t scheme = url.find("://");
  size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
  size_t at = url.find('@', start);
  if (at == std::string_view::npos) return std::string(url);
  size_t colon = url.find(':', start);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return fmt::format("{}:<redacted>{}", url.substr(0, colon), url.substr(at));
}

}  // namespace bosh::log
