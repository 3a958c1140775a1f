#include "bosh/common/fs.hpp"
#include "bosh/common/random.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "bosh/common/error.hpp"

namespace bosh {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail<IoError>("{}: cannot read: {}", path.string(), std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) fail<IoError>("{}: read failed", path.string());
  return std::move(buffer).str();
}

void write_file_atomic(const fs::path& path, std::string_view content, std::optional<fs::perms> mode) {
  fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail<IoError>("{}: cannot create directory: {}", dir.string(), ec.message());
  fs::path tmp = dir / ("." + path.filename().string() + ".tmp-" + random_hex(12));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                  mode ? static_cast<mode_t>(*mode) : 0666);
  if (fd < 0) fail<IoError>("{}: cannot write: {}", path.string(), std::strerror(errno));
  auto abandon = [&](const char* what) {
    int saved = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    fail<IoError>("{}: {}: {}", path.string(), what, std::strerror(saved));
  };
  if (mode && ::fchmod(fd, static_cast<mode_t>(*mode)) != 0) abandon("cannot set mode");
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      abandon("write failed");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) abandon("fsync failed");
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    fail<IoError>("{}: close failed: {}", path.string(), std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int saved = errno;
    ::unlink(tmp.c_str());
    fail<IoError>("{}: cannot rename into place: {}", path.string(), std::strerror(saved));
  }
}

TempDir::TempDir(std::string_view prefix) {
  std::string templ = (fs::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(templ.data()) == nullptr)
    fail<IoError>("{}: cannot create temp dir: {}", templ, std::strerror(errno));
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

fs::path home_dir() {
  if (const char* home = std::getenv("HOME"); home && *home) return home;
  if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) return pw->pw_dir;
  fail<IoError>("cannot find the home directory: HOME is unset");
}

fs::path expand_user(std::string_view path) {
  if (path == "~") return home_dir();
  if (path.substr(0, 2) == "~/") return home_dir() / fs::path(std::string(path.substr(2)));
  return fs::path(std::string(path));
}

fs::path executable_path() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) fail<IoError>("/proc/self/exe: {}", ec.message());
  return p;
}

}  // namespace bosh
