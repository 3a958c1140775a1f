// Running external programs: no shell, argv as given, output captured.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace bosh {

struct ProcessOptions {
  std::filesystem::path cwd;                             // empty: inherit
  std::map<std::string, std::string> env_overrides;     // set on top of the environment
  bool clear_env = false;                                // start from `env` instead of ours
  std::map<std::string, std::string> env;               // used when clear_env
  std::string stdin_data;                                // fed to the child, then EOF
  std::chrono::milliseconds timeout{0};                  // 0 = none
  bool own_process_group = true;                         // false: stay in the caller's group
  bool die_with_parent = false;                          // SIGKILL the child if its parent dies (Linux)
  const std::atomic<bool>* cancel = nullptr;             // once true: stop the child as on a timeout
};

struct ProcessResult {
  int exit_code = 0;       // -signal if killed by a signal
  bool timed_out = false;  // the timeout expired and the process group was killed
  bool cancelled = false;  // `cancel` became true and the process group was killed
  std::string out;
  std::string err;
};

// Runs argv[0] (searched in PATH -- the child's PATH if overridden -- unless it
// contains '/') with stdout and stderr captured. The child leads its own
// process group; on timeout the whole group gets SIGTERM, then SIGKILL 2 s
// later. Throws bosh::Error "cannot run '<argv0>': <strerror>" when the
// program cannot be started (not found, not executable, bad cwd).
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// A long-running child (a server a test or a VM needs): its own process
// group, stdin from /dev/null, stdout and stderr appended to `log_file`.
// Stopped (SIGTERM to the group, SIGKILL after the grace) on destruction.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, const std::filesystem::path& log_file,
                    const ProcessOptions& options = {});
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  int pid() const { return pid_; }
  bool running();
  // Stops the process group; returns the exit code (-signal when killed).
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  std::string name_;
  int pid_ = -1;
  bool group_ = true;  // signals go to the whole process group
  int exit_code_ = 0;
};

// POSIX-shell quoting, for display only: "abc" stays, "a b" -> 'a b',
// "it's" -> 'it'\''s', "" -> ''.
std::string shell_quote(std::string_view word);

// The words quoted and joined by spaces.
std::string shell_join(const std::vector<std::string>& argv);

}  // namespace bosh
