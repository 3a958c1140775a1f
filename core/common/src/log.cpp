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

std::FILE* g_copy = nullptr;  // copy_to_file's file, under g_mutex
std::string g_copy_path;
std::uint64_t g_copy_max = 0, g_copy_size = 0;

std::string format_line(Level level, std::string_view component, std::string_view message) {
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t t = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string_view name = level_name(level);
  return fmt::format("{}, [{}.{:03d} #{}] {:>5} -- {}: {}\n", name[0], stamp, ms, ::getpid(), name, component,
                     message);
}

void default_sink(Level level, std::string_view component, std::string_view message) {
  const std::string line = format_line(level, component, message);
  std::fwrite(line.data(), 1, line.size(), stderr);
  if (!g_copy) return;
  if (g_copy_size + line.size() > g_copy_max) {  // one older file is kept
    std::fclose(g_copy);
    std::rename(g_copy_path.c_str(), (g_copy_path + ".1").c_str());
    g_copy = std::fopen(g_copy_path.c_str(), "a");
    g_copy_size = 0;
    if (!g_copy) return;
  }
  std::fwrite(line.data(), 1, line.size(), g_copy);
  std::fflush(g_copy);
  g_copy_size += line.size();
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

void copy_to_file(const std::string& path, std::uint64_t max_bytes) {
  std::lock_guard lock(g_mutex);
  if (g_copy) std::fclose(g_copy);
  g_copy = std::fopen(path.c_str(), "a");
  if (!g_copy) fail<IoError>("{}: cannot open the log file", path);
  g_copy_path = path;
  g_copy_max = max_bytes;
  g_copy_size = static_cast<std::uint64_t>(std::ftell(g_copy));
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
