#include "bosh/common/subprocess.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/prctl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "bosh/common/error.hpp"

extern char** environ;

namespace bosh {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kKillGrace = std::chrono::seconds(2);
// After SIGKILL, how long we keep draining pipes that something outside the
// process group may still hold open.
constexpr auto kDrainGrace = std::chrono::seconds(1);

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read;
  Fd write;
};

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error(fmt::format("cannot create pipe: {}", std::strerror(errno)));
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

void set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// What the child reports through the error pipe before _exit(127).
struct ChildFailure {
  int stage;  // 0 = exec, 1 = chdir, 2 = dup2/setup
  int error;
};

std::vector<std::string> build_environment(const ProcessOptions& options) {
  std::map<std::string, std::string> env;
  if (options.clear_env) {
    env = options.env;
  } else {
    for (char** e = environ; e && *e; ++e) {
      std::string_view entry(*e);
      auto eq = entry.find('=');
      if (eq == std::string_view::npos) continue;
      env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
    }
  }
  for (const auto& [key, value] : options.env_overrides) env[key] = value;
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [key, value] : env) out.push_back(key + "=" + value);
  return out;
}

// Candidate paths for argv0, in execvp's order, resolved before fork so the
// child only calls async-signal-safe functions.
std::vector<std::string> executable_candidates(const std::string& name, const std::vector<std::string>& env) {
  if (name.find('/') != std::string::npos) return {name};
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& entry : env) {
    if (entry.rfind("PATH=", 0) == 0) {
      path = entry.substr(5);
      break;
    }
  }
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t end = path.find(':', start);
    std::string_view dir = std::string_view(path).substr(start, end == std::string::npos ? end : end - start);
    out.push_back(fmt::format("{}/{}", dir.empty() ? "." : dir, name));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

void write_all_noexcept(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

[[noreturn]] void child_fail(int error_fd, int stage, int error) {
  ChildFailure failure{stage, error};
  write_all_noexcept(error_fd, &failure, sizeof failure);
  ::_exit(127);
}

// Writes to a pipe whose reader may be gone without taking SIGPIPE.
ssize_t write_no_sigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  ssize_t n = ::write(fd, data, size);
  int saved = errno;
  if (n < 0 && saved == EPIPE) {
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) && !sigismember(&old_set, SIGPIPE)) {
      struct timespec zero {};
      while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  errno = saved;
  return n;
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

}  // namespace

namespace {

// fork + exec with the child's stdin/stdout/stderr on the given fds, in its
// own process group. Throws when the program cannot be started (reported by
// the child through a CLOEXEC pipe).
pid_t spawn(const std::vector<std::string>& argv, const ProcessOptions& options, int in_fd, int out_fd,
            int err_fd) {
  if (argv.empty()) throw Error("run_process: empty command line");
  const std::string& program = argv.front();

  // Everything the child needs is prepared here, before fork.
  std::vector<std::string> env_strings = build_environment(options);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> arg_strings(argv);
  std::vector<char*> args;
  for (auto& a : arg_strings) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<std::string> candidates = executable_candidates(program, env_strings);
  std::string cwd = options.cwd.string();

  Pipe status = make_pipe();

  pid_t pid = ::fork();
  if (pid < 0) throw Error(fmt::format("cannot run '{}': fork: {}", program, std::strerror(errno)));
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    if (options.own_process_group) ::setpgid(0, 0);
    if (options.die_with_parent) ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) {
      child_fail(status.write.get(), 2, errno);
    }
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) child_fail(status.write.get(), 1, errno);
    int exec_error = ENOENT;
    for (const auto& candidate : candidates) {
      ::execve(candidate.c_str(), args.data(), envp.data());
      // Like execvp: remember a permission problem, keep looking otherwise.
      if (errno == EACCES) {
        exec_error = EACCES;
      } else if (errno != ENOENT && errno != ENOTDIR) {
        exec_error = errno;
        break;
      }
    }
    child_fail(status.write.get(), 0, exec_error);
  }

  // Parent.
  if (options.own_process_group) ::setpgid(pid, pid);  // also done in the child; whichever runs first wins
  status.write.reset();

  ChildFailure failure{};
  std::size_t got = 0;
  while (got < sizeof failure) {
    ssize_t n = ::read(status.read.get(), reinterpret_cast<char*>(&failure) + got, sizeof failure - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got == sizeof failure) {
    int wstatus = 0;
    while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    if (failure.stage == 1) {
      throw Error(fmt::format("cannot run '{}': cannot change directory to '{}': {}", program, cwd,
                              std::strerror(failure.error)));
    }
    throw Error(fmt::format("cannot run '{}': {}", program, std::strerror(failure.error)));
  }
  return pid;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  Pipe in = make_pipe();
  Pipe out = make_pipe();
  Pipe err = make_pipe();
  pid_t pid = spawn(argv, options, in.read.get(), out.write.get(), err.write.get());
  in.read.reset();
  out.write.reset();
  err.write.reset();

  ProcessResult result;
  set_nonblocking(in.write.get());
  set_nonblocking(out.read.get());
  set_nonblocking(err.read.get());
  std::size_t stdin_offset = 0;
  if (options.stdin_data.empty()) in.write.reset();

  const auto start = Clock::now();
  std::optional<Clock::time_point> deadline;
  if (options.timeout.count() > 0) deadline = start + options.timeout;
  std::optional<Clock::time_point> kill_at;     // SIGKILL due
  std::optional<Clock::time_point> give_up_at;  // stop draining pipes
  bool reaped = false;
  int wstatus = 0;

  auto try_reap = [&](bool block) {
    if (reaped) return;
    for (;;) {
      pid_t r = ::waitpid(pid, &wstatus, block ? 0 : WNOHANG);
      if (r < 0 && errno == EINTR) continue;
      if (r == pid) reaped = true;
      return;
    }
  };
  auto on_time = [&](Clock::time_point now) {
    if (options.cancel && options.cancel->load() && !result.cancelled && !result.timed_out) {
      result.cancelled = true;
      ::kill(-pid, SIGTERM);
      kill_at = now + kKillGrace;
    }
    if (deadline && !result.timed_out && !result.cancelled && now >= *deadline) {
      result.timed_out = true;
      ::kill(-pid, SIGTERM);
      kill_at = now + kKillGrace;
    }
    if (kill_at && now >= *kill_at) {
      ::kill(-pid, SIGKILL);
      kill_at.reset();
      give_up_at = now + kDrainGrace;
    }
  };

  char buffer[65536];
  while (out.read.valid() || err.read.valid() || !reaped) {
    auto now = Clock::now();
    on_time(now);
    if (give_up_at && now >= *give_up_at) break;

    pollfd fds[3];
    int nfds = 0;
    int out_index = -1, err_index = -1, in_index = -1;
    if (out.read.valid()) {
      out_index = nfds;
      fds[nfds++] = {out.read.get(), POLLIN, 0};
    }
    if (err.read.valid()) {
      err_index = nfds;
      fds[nfds++] = {err.read.get(), POLLIN, 0};
    }
    if (in.write.valid()) {
      in_index = nfds;
      fds[nfds++] = {in.write.get(), POLLOUT, 0};
    }

    // Wait for I/O, or the next timer; when only the exit is awaited, poll
    // waitpid every few milliseconds (or block if there is no timer at all).
    std::optional<Clock::time_point> next;
    for (const auto& t : {deadline, kill_at, give_up_at}) {
      if (t && (!result.timed_out || t != deadline) && (!next || *t < *next)) next = *t;
    }
    int wait_ms = -1;
    if (next) {
      wait_ms = static_cast<int>(
          std::chrono::ceil<std::chrono::milliseconds>(std::max(*next - now, Clock::duration::zero())).count());
    }
    if (options.cancel && !result.cancelled) wait_ms = wait_ms < 0 ? 100 : std::min(wait_ms, 100);  // notice a cancel
    if (nfds == 0) {
      if (!next && !(options.cancel && !result.cancelled)) {
        try_reap(true);
        continue;
      }
      wait_ms = wait_ms < 0 ? 10 : std::min(wait_ms, 10);
    }
    int ready = ::poll(fds, static_cast<nfds_t>(nfds), wait_ms);
    if (ready < 0 && errno != EINTR) throw Error(fmt::format("running '{}': poll: {}", argv.front(), std::strerror(errno)));
    if (ready > 0) {
      auto drain = [&](int index, Fd& fd, std::string& sink) {
        if (index < 0 || !(fds[index].revents & (POLLIN | POLLHUP | POLLERR))) return;
        for (;;) {
          ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
          if (n > 0) {
            sink.append(buffer, static_cast<std::size_t>(n));
            if (static_cast<std::size_t>(n) < sizeof buffer) return;
            continue;
          }
          if (n < 0 && errno == EINTR) continue;
          if (n < 0 && errno == EAGAIN) return;
          fd.reset();  // EOF or error
          return;
        }
      };
      drain(out_index, out.read, result.out);
      drain(err_index, err.read, result.err);
      if (in_index >= 0 && (fds[in_index].revents & (POLLOUT | POLLERR | POLLHUP))) {
        const std::string& data = options.stdin_data;
        ssize_t n = write_no_sigpipe(in.write.get(), data.data() + stdin_offset, data.size() - stdin_offset);
        if (n > 0) stdin_offset += static_cast<std::size_t>(n);
        if ((n < 0 && errno != EAGAIN && errno != EINTR) || stdin_offset == data.size()) in.write.reset();
      }
    }
    if (!out.read.valid() && !err.read.valid()) try_reap(false);
  }

  if (!reaped) {
    // Only reachable after SIGKILL: the child is dead or dying.
    ::kill(-pid, SIGKILL);
    try_reap(true);
  }
  result.exit_code = decode_status(wstatus);
  return result;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv, const std::filesystem::path& log_file,
                                     const ProcessOptions& options)
    : name_(argv.empty() ? "" : argv.front()) {
  Fd null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  Fd log(::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!log.valid()) throw IoError(fmt::format("{}: cannot write: {}", log_file.string(), std::strerror(errno)));
  pid_ = spawn(argv, options, null_in.get(), log.get(), log.get());
  group_ = options.own_process_group;
}

BackgroundProcess::~BackgroundProcess() { stop(); }

bool BackgroundProcess::running() {
  if (pid_ <= 0) return false;
  int wstatus = 0;
  pid_t r = ::waitpid(pid_, &wstatus, WNOHANG);
  if (r == pid_) {
    exit_code_ = decode_status(wstatus);
    pid_ = -1;
    return false;
  }
  return r == 0;
}

int BackgroundProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return exit_code_;
  ::kill(group_ ? -pid_ : pid_, SIGTERM);
  const auto give_up = Clock::now() + grace;
  while (running() && Clock::now() < give_up) ::usleep(10000);
  if (pid_ > 0) {
    ::kill(group_ ? -pid_ : pid_, SIGKILL);
    int wstatus = 0;
    while (::waitpid(pid_, &wstatus, 0) < 0 && errno == EINTR) {
    }
    exit_code_ = decode_status(wstatus);
    pid_ = -1;
  }
  return exit_code_;
}

std::string shell_quote(std::string_view word) {
  if (word.empty()) return "''";
  bool safe = true;
  for (char c : word) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
    if (!ok) {
      safe = false;
      break;
    }
  }
  if (safe) return std::string(word);
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

std::string shell_join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& word : argv) {
    if (!out.empty()) out += ' ';
    out += shell_quote(word);
  }
  return out;
}

}  // namespace bosh
