// Waiting in tests: poll for the event a test needs, with a deadline long
// enough for a busy machine (the wait ends as soon as the event is seen).
#pragma once

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace bosh::testing {

// Polls until done() holds or the deadline passes; the last answer of done().
template <typename F>
bool eventually(F&& done, std::chrono::milliseconds timeout = std::chrono::seconds(60),
                std::chrono::milliseconds interval = std::chrono::milliseconds(10)) {
  for (const auto end = std::chrono::steady_clock::now() + timeout; std::chrono::steady_clock::now() < end;) {
    if (done()) return true;
    std::this_thread::sleep_for(interval);
  }
  return done();
}

// True if the pid is gone or a zombie (a container's PID 1 may not reap it).
inline bool process_gone(const std::string& pid) {
  std::ifstream stat("/proc/" + pid + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  auto close_paren = line.rfind(')');
  return close_paren != std::string::npos && close_paren + 2 < line.size() && line[close_paren + 2] == 'Z';
}
inline bool process_gone(int pid) { return process_gone(std::to_string(pid)); }

}  // namespace bosh::testing
