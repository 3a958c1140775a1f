// Logging: one process-wide logger, levels, a replaceable sink, and redaction
// helpers so secrets never reach a log.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace bosh::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3, none = 4 };

using Sink = std::function<void(Level, std::string_view component, std::string_view message)>;

void set_level(Level level);
Level level();
// "debug" | "info" | "warn" | "error" | "none"; InputError otherwise.
Level parse_level(std::string_view name);
std::string_view level_name(Level level);
// Replaces the sink (default: stderr, "I, [time #pid] INFO -- component: message").
// Pass nullptr to restore the default.
void set_sink(Sink sink);

void write(Level level, std::string_view component, std::string_view message);

// The default sink also appends every line to `path` (created if missing);
// past `max_bytes` the file becomes "<path>.1" and a new one starts.
void copy_to_file(const std::string& path, std::uint64_t max_bytes);

template <typename... Args>
void debug(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::debug) write(Level::debug, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::info) write(Level::info, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::warn) write(Level::warn, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::error) write(Level::error, component, fmt::format(f, std::forward<Args>(args)...));
}

// Every occurrence of each (non-empty) secret becomes "<redacted>".
std::string redact(std::string_view text, const std::vector<std::string>& secrets);
// "scheme://user:password@host" -> "scheme://user:<redacted>@host".
std::string redact_url(std::string_view url);

}  // namespace bosh::log
