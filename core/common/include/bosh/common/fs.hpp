// Filesystem helpers: whole-file read, atomic write (temp + rename), temp dirs.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace bosh {

namespace fs = std::filesystem;

// The file's bytes; IoError "<path>: cannot read: <reason>".
std::string read_file(const fs::path& path);

// Writes `content` to a temp file beside `path`, fsyncs it and renames it over
// `path`: readers see the old file or the new one, never half of one. With
// `mode` the file gets exactly those permissions (e.g. 0600 for credentials).
void write_file_atomic(const fs::path& path, std::string_view content,
                       std::optional<fs::perms> mode = std::nullopt);

// Removes a file when it goes out of scope, however the scope is left (an
// upload a task consumes, success or not).
class RemoveOnExit {
 public:
  explicit RemoveOnExit(fs::path path) : path_(std::move(path)) {}
  ~RemoveOnExit() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  RemoveOnExit(const RemoveOnExit&) = delete;
  RemoveOnExit& operator=(const RemoveOnExit&) = delete;

 private:
  fs::path path_;
};

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "bosh");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// $HOME (or the passwd entry's home when HOME is unset).
fs::path home_dir();
// "~/x" -> home_dir()/x; anything else unchanged.
fs::path expand_user(std::string_view path);
// The running program's own file (/proc/self/exe).
fs::path executable_path();

}  // namespace bosh
