// bosh-vm-init: the init process of a local-CPI VM (it ships in the local
// stemcell's image, as a real stemcell ships its init system).
//
//   bosh-vm-init --vm-dir DIR --pid-file FILE [--isolation auto|namespace|none] -- AGENT [ARGS...]
//
// A local VM is a process tree. With namespace isolation (the default when
// the kernel allows it: as root, or through a user namespace with /var/vcap
// present) the tree gets its own PID and mount namespaces: DIR is
// bind-mounted at /var/vcap, so releases that hard-code /var/vcap (all of
// them) run unchanged, and killing the namespace's init takes every process
// of the VM with it. Without isolation the agent runs with --base-dir DIR and
// init is a child subreaper that stops its descendants itself.
//
// Init starts the agent with `--base-dir <dir>` appended, reaps every orphan,
// restarts the agent if it dies (as runit does on a stemcell), and on SIGTERM
// stops the agent, then everything left, and exits. The pid file names the
// process to signal from outside (the namespace's init, or this process).
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <set>
#include <string>
#include <vector>

namespace {

constexpr const char* kVcap = "/var/vcap";

void say(const char* fmt, const std::string& a = "", const std::string& b = "") {
  std::time_t t = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  std::fprintf(stderr, "%s bosh-vm-init[%d]: ", when, static_cast<int>(getpid()));
  std::fprintf(stderr, fmt, a.c_str(), b.c_str());
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

[[noreturn]] void die(const std::string& what) {
  say("%s: %s", what, std::strerror(errno));
  std::exit(1);
}

bool write_text(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

void write_pid_file(const std::string& path, pid_t pid) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) die("cannot write " + tmp);
  std::fprintf(f, "%d\n", static_cast<int>(pid));
  std::fclose(f);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) die("cannot rename " + tmp);
}

// Every process whose parent chain leads to `root` (without isolation, where
// kill(-1) would reach the whole host).
std::vector<pid_t> descendants(pid_t root) {
  std::vector<std::pair<pid_t, pid_t>> all;  // pid, ppid
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      char* end = nullptr;
      long pid = std::strtol(e->d_name, &end, 10);
      if (*end || pid <= 0) continue;
      char path[64], buf[512];
      std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
      FILE* f = std::fopen(path, "r");
      if (!f) continue;
      size_t n = std::fread(buf, 1, sizeof buf - 1, f);
      std::fclose(f);
      buf[n] = 0;
      const char* close_paren = std::strrchr(buf, ')');
      if (!close_paren) continue;
      char state = 0;
      long ppid = 0;
      if (std::sscanf(close_paren + 1, " %c %ld", &state, &ppid) == 2)
        all.emplace_back(static_cast<pid_t>(pid), static_cast<pid_t>(ppid));
    }
    closedir(d);
  }
  std::set<pid_t> found{root};
  for (bool grew = true; grew;) {
    grew = false;
    for (auto [pid, ppid] : all)
      if (found.count(ppid) && !found.count(pid)) grew = found.insert(pid).second;
  }
  found.erase(root);
  return {found.begin(), found.end()};
}

struct Options {
  std::string vm_dir, pid_file, isolation = "auto";
  std::vector<std::string> agent;
};

Options parse(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (i + 1 >= argc) break;
    if (a == "--vm-dir") o.vm_dir = argv[++i];
    else if (a == "--pid-file") o.pid_file = argv[++i];
    else if (a == "--isolation") o.isolation = argv[++i];
    else {
      std::fprintf(stderr, "bosh-vm-init: unknown option '%s'\n", a.c_str());
      std::exit(2);
    }
  }
  for (; i < argc; ++i) o.agent.emplace_back(argv[i]);
  if (o.vm_dir.empty() || o.pid_file.empty() || o.agent.empty() ||
      (o.isolation != "auto" && o.isolation != "namespace" && o.isolation != "none")) {
    std::fprintf(stderr,
                 "usage: bosh-vm-init --vm-dir DIR --pid-file FILE [--isolation auto|namespace|none] -- AGENT "
                 "[ARGS...]\n");
    std::exit(2);
  }
  return o;
}

// Enters new PID + mount namespaces (and a user namespace when not root).
// Returns false when the kernel refuses and isolation is "auto".
bool enter_namespaces(const Options& o) {
  const uid_t uid = geteuid();
  const gid_t gid = getegid();
  if (uid == 0) mkdir(kVcap, 0755);  // the mount point; an empty directory on the host
  struct stat st {};
  if (stat(kVcap, &st) != 0 || !S_ISDIR(st.st_mode)) {
    if (o.isolation == "namespace") die(std::string("namespace isolation needs the directory ") + kVcap);
    return false;
  }
  int flags = CLONE_NEWNS | CLONE_NEWPID | (uid == 0 ? 0 : CLONE_NEWUSER);
  if (unshare(flags) != 0) {
    if (o.isolation == "namespace") die("unshare");
    say("no namespaces (%s); running without isolation", std::strerror(errno));
    return false;
  }
  if (uid != 0) {
    write_text("/proc/self/setgroups", "deny");
    if (!write_text("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !write_text("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1"))
      die("cannot map the user namespace's ids");
  }
  return true;
}

// A process's state letter from /proc/<pid>/stat (0 when it is gone).
char state_of(long pid) {
  char path[64], buf[512], state = 0;
  std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  if (FILE* f = std::fopen(path, "r")) {
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = 0;
    if (const char* close = std::strrchr(buf, ')')) std::sscanf(close + 1, " %c", &state);
  }
  return state;
}

// Whether any process of the VM but init is left (zombies count as gone).
bool others_left(bool isolated) {
  auto alive = [](long pid) {
    const char st = state_of(pid);
    return st != 0 && st != 'Z';
  };
  if (!isolated) {
    for (pid_t p : descendants(getpid()))
      if (alive(p)) return true;
    return false;
  }
  bool left = false;
  if (DIR* d = opendir("/proc")) {  // this namespace's /proc
    while (dirent* e = readdir(d)) {
      char* end = nullptr;
      long pid = std::strtol(e->d_name, &end, 10);
      if (!*end && pid > 1 && alive(pid)) left = true;
    }
    closedir(d);
  }
  return left;
}

volatile sig_atomic_t g_dummy = 0;
void on_signal(int) { g_dummy = 1; }

pid_t start_agent(const std::vector<std::string>& argv) {
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    setpgid(0, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    say("cannot run %s: %s", argv[0], std::strerror(errno));
    _exit(127);
  }
  say("started the agent (pid %s)", std::to_string(pid));
  return pid;
}

// The init loop: reap, restart the agent, stop everything on SIGTERM.
[[noreturn]] void run_init(std::vector<std::string> agent, bool isolated) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGALRM);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  // PID 1 of a namespace only gets the signals it handles.
  for (int s : {SIGTERM, SIGINT, SIGALRM, SIGCHLD}) signal(s, on_signal);

  auto kill_rest = [&](int sig) {
    if (isolated) {
      kill(-1, sig);  // every process of this PID namespace but init
    } else {
      for (pid_t p : descendants(getpid())) kill(p, sig);
    }
  };

  pid_t agent_pid = start_agent(agent);
  bool stopping = false;
  int restarts = 0;
  std::time_t last_start = std::time(nullptr);
  for (;;) {
    siginfo_t info{};
    if (sigwaitinfo(&set, &info) < 0) continue;
    if (info.si_signo == SIGTERM || info.si_signo == SIGINT) {
      if (!stopping) {
        say("stopping the VM");
        stopping = true;
        if (agent_pid > 0) kill(-agent_pid, SIGTERM);
        alarm(10);
      }
    } else if (info.si_signo == SIGALRM) {
      if (stopping) {
        say("processes still running after 10 s: killing them");
        kill_rest(SIGKILL);
        std::exit(0);
      }
    }
    // Reap whatever ended (SIGCHLD may merge several).
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid != agent_pid) continue;
      agent_pid = -1;
      if (stopping) {
        // The rest get SIGTERM and up to 2 s; what is left then, SIGKILL.
        kill_rest(SIGTERM);
        for (int i = 0; i < 100 && others_left(isolated); ++i) {
          while (waitpid(-1, nullptr, WNOHANG) > 0) {
          }
          usleep(20 * 1000);
        }
        kill_rest(SIGKILL);
        say("stopped");
        std::exit(0);
      }
      say("the agent exited (status %s); restarting it", std::to_string(status));
      // Back off when it keeps dying at once.
      if (std::time(nullptr) - last_start < 5) ++restarts; else restarts = 0;
      sleep(static_cast<unsigned>(std::min(restarts, 5)));
      last_start = std::time(nullptr);
      agent_pid = start_agent(agent);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  char resolved[PATH_MAX];
  if (!realpath(o.vm_dir.c_str(), resolved)) die("cannot resolve " + o.vm_dir);
  o.vm_dir = resolved;

  const bool isolated = o.isolation != "none" && enter_namespaces(o);
  if (!isolated) {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    write_pid_file(o.pid_file, getpid());
    o.agent.push_back("--base-dir");
    o.agent.push_back(o.vm_dir);
    // A local VM has no OS logs of its own: the host's /var/log is not its to hand out.
    o.agent.push_back("--system-log-dir");
    o.agent.push_back(o.vm_dir + "/sys/system-log");
    run_init(o.agent, false);
  }
  // The first child is PID 1 of the new namespace; this process only reports
  // its pid and leaves.
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child > 0) {
    write_pid_file(o.pid_file, child);
    return 0;
  }
  if (mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die("making mounts private");
  if (mount(o.vm_dir.c_str(), kVcap, nullptr, MS_BIND | MS_REC, nullptr) != 0) die("bind-mounting the VM at /var/vcap");
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) die("mounting /proc");
  say("VM %s at /var/vcap (own PID and mount namespaces)", o.vm_dir);
  o.agent.push_back("--base-dir");
  o.agent.push_back(kVcap);
  o.agent.push_back("--system-log-dir");
  o.agent.push_back(std::string(kVcap) + "/sys/system-log");
  o.agent.push_back("--private-etc");
  run_init(o.agent, true);
}
