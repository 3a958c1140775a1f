#include "bosh/common/archive.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <memory>
#include <optional>
#include <set>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

#include <archive.h>
#include <archive_entry.h>

#include "bosh/common/cancel.hpp"
#include "bosh/common/error.hpp"

namespace bosh {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kChunk = 1 << 20;
constexpr int kMaxSymlinkHops = 40;

std::string errno_text(int error) { return std::strerror(error); }

struct ReadDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
struct WriteDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ReadArchive = std::unique_ptr<struct archive, ReadDeleter>;
using WriteArchive = std::unique_ptr<struct archive, WriteDeleter>;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::string archive_text(struct archive* a) {
  const char* text = archive_error_string(a);
  return text ? text : "unknown error";
}

// An open .tgz for reading; the fd stays ours so a missing file is an IoError.
class TgzReader {
 public:
  explicit TgzReader(const fs::path& path) : path_(path), fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_.get() < 0) throw IoError(fmt::format("{}: cannot read: {}", path_.string(), errno_text(errno)));
    a_.reset(archive_read_new());
    archive_read_support_filter_gzip(a_.get());
    archive_read_support_format_tar(a_.get());
    archive_read_support_format_gnutar(a_.get());
    if (archive_read_open_fd(a_.get(), fd_.get(), 64 * 1024) != ARCHIVE_OK) corrupt();
  }

  // Next header, or nullptr at the end.
  archive_entry* next() {
    archive_entry* entry = nullptr;
    int r = archive_read_next_header(a_.get(), &entry);
    if (r == ARCHIVE_EOF) return nullptr;
    if (r < ARCHIVE_WARN) corrupt();
    return entry;
  }

  [[noreturn]] void corrupt() {
    throw InputError(fmt::format("{}: not a gzip'd tar archive: {}", path_.string(), archive_text(a_.get())));
  }

  struct archive* get() { return a_.get(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  Fd fd_;
  ReadArchive a_;
};

ArchiveEntryType entry_type(archive_entry* entry) {
  if (archive_entry_hardlink(entry) != nullptr) return ArchiveEntryType::hardlink;
  switch (archive_entry_filetype(entry)) {
    case AE_IFREG: return ArchiveEntryType::file;
    case AE_IFDIR: return ArchiveEntryType::directory;
    case AE_IFLNK: return ArchiveEntryType::symlink;
    default: return ArchiveEntryType::other;
  }
}

std::string_view other_type_name(archive_entry* entry) {
  switch (archive_entry_filetype(entry)) {
    case AE_IFCHR: return "a character device";
    case AE_IFBLK: return "a block device";
    case AE_IFIFO: return "a fifo";
    case AE_IFSOCK: return "a socket";
    default: return "of an unknown type";
  }
}

std::string entry_name(archive_entry* entry) {
  const char* name = archive_entry_pathname(entry);
  return name ? name : "";
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (!part.empty() && part != ".") parts.emplace_back(part);
    start = end + 1;
  }
  return parts;
}

std::string join_path(const std::vector<std::string>& parts, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count && i < parts.size(); ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
}

bool has_dotdot(const std::vector<std::string>& parts) {
  return std::find(parts.begin(), parts.end(), "..") != parts.end();
}

// "./a/b/" -> "a/b"; used to compare names however they were spelled.
std::string normalize_name(std::string_view name) {
  auto parts = split_path(name);
  return join_path(parts, parts.size());
}

// ---- create ---------------------------------------------------------------

struct SourceItem {
  std::string rel;  // "" for the root
  fs::path path;    // empty for a directory entry made up for a TarInput's parents
  std::optional<unsigned> mode{};
  bool follow_symlinks = false;
};

void collect(const fs::path& dir, const std::string& rel, std::vector<SourceItem>& out) {
  std::vector<std::pair<std::string, fs::path>> children;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) throw IoError(fmt::format("{}: cannot read: {}", dir.string(), ec.message()));
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) throw IoError(fmt::format("{}: cannot read: {}", dir.string(), ec.message()));
    children.emplace_back(it->path().filename().string(), it->path());
  }
  std::sort(children.begin(), children.end());
  for (const auto& [name, path] : children) {
    std::string child_rel = rel.empty() ? name : rel + "/" + name;
    out.push_back({child_rel, path});
    if (fs::is_directory(fs::symlink_status(path))) collect(path, child_rel, out);
  }
}

void write_item(struct archive* a, const SourceItem& item) {
  struct stat st {};
  if (item.path.empty()) {
    st.st_mode = S_IFDIR | 0755;
  } else if ((item.follow_symlinks ? ::stat(item.path.c_str(), &st) : ::lstat(item.path.c_str(), &st)) != 0) {
    throw IoError(fmt::format("{}: cannot read: {}", item.path.string(), errno_text(errno)));
  }
  if (item.mode) st.st_mode = (st.st_mode & ~07777u) | (*item.mode & 07777u);
  std::unique_ptr<archive_entry, EntryDeleter> entry(archive_entry_new());
  std::string name = item.rel.empty() ? "./" : "./" + item.rel;
  if (S_ISDIR(st.st_mode) && !item.rel.empty()) name += '/';
  archive_entry_copy_pathname(entry.get(), name.c_str());
  archive_entry_set_perm(entry.get(), st.st_mode & 07777);
  archive_entry_set_mtime(entry.get(), st.st_mtim.tv_sec, 0);
  archive_entry_set_uid(entry.get(), 0);
  archive_entry_set_gid(entry.get(), 0);
  if (S_ISDIR(st.st_mode)) {
    archive_entry_set_filetype(entry.get(), AE_IFDIR);
  } else if (S_ISLNK(st.st_mode)) {
    std::string target(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 4096) + 1, '\0');
    ssize_t n = ::readlink(item.path.c_str(), target.data(), target.size());
    if (n < 0) throw IoError(fmt::format("{}: cannot read: {}", item.path.string(), errno_text(errno)));
    target.resize(static_cast<std::size_t>(n));
    archive_entry_set_filetype(entry.get(), AE_IFLNK);
    archive_entry_copy_symlink(entry.get(), target.c_str());
  } else if (S_ISREG(st.st_mode)) {
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_size(entry.get(), st.st_size);
  } else {
    throw InputError(fmt::format("{}: cannot archive: not a file, directory or symlink", item.path.string()));
  }

  Fd fd(S_ISREG(st.st_mode) ? ::open(item.path.c_str(), O_RDONLY | O_CLOEXEC) : -1);
  if (S_ISREG(st.st_mode)) {
    if (fd.get() < 0) throw IoError(fmt::format("{}: cannot read: {}", item.path.string(), errno_text(errno)));
  }
  if (archive_write_header(a, entry.get()) != ARCHIVE_OK) {
    throw IoError(fmt::format("{}: cannot archive: {}", item.path.string(), archive_text(a)));
  }
  if (fd.get() >= 0) {
    std::unique_ptr<char[]> buffer(new char[kChunk]);
    std::int64_t remaining = st.st_size;
    while (remaining > 0) {
      throw_if_cancelled();
      ssize_t n = ::read(fd.get(), buffer.get(), kChunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw IoError(fmt::format("{}: cannot read: {}", item.path.string(), errno_text(errno)));
      if (n == 0) throw IoError(fmt::format("{}: file shrank while being archived", item.path.string()));
      n = std::min<ssize_t>(n, remaining);  // a growing file is cut at its stat size
      if (archive_write_data(a, buffer.get(), static_cast<std::size_t>(n)) != n) {
        throw IoError(fmt::format("{}: cannot archive: {}", item.path.string(), archive_text(a)));
      }
      remaining -= n;
    }
  }
}

// ---- extract checks ----------------------------------------------------------

struct PlannedEntry {
  std::string name;  // as stored
  std::string rel;   // normalised, "" for the root
  ArchiveEntryType type;
  std::string link_target;
};

class ExtractionPlan {
 public:
  ExtractionPlan(const fs::path& archive, const fs::path& dest, const ExtractLimits& limits)
      : archive_(archive.string()), dest_(dest), limits_(limits) {
    std::error_code ec;
    packed_ = std::max<std::uint64_t>(1, fs::file_size(archive, ec));
  }

  void add(archive_entry* entry) {
    PlannedEntry planned{entry_name(entry), "", entry_type(entry), ""};
    const std::string& name = planned.name;
    count(entry, name);
    if (planned.type == ArchiveEntryType::symlink) planned.link_target = archive_entry_symlink(entry);
    if (planned.type == ArchiveEntryType::hardlink) planned.link_target = archive_entry_hardlink(entry);

    if (!name.empty() && name.front() == '/') refuse("entry '{}' has an absolute path", name);
    auto parts = split_path(name);
    if (has_dotdot(parts)) refuse("entry '{}' escapes the target directory", name);
    planned.rel = join_path(parts, parts.size());
    if (planned.type == ArchiveEntryType::other) {
      refuse("entry '{}' is {}; only files, directories and links are allowed", name, other_type_name(entry));
    }
    if (planned.rel.empty()) {
      if (planned.type != ArchiveEntryType::directory) refuse("entry '{}' would replace the target directory", name);
      entries_.push_back(std::move(planned));
      return;
    }
    if (kinds_.count(planned.rel)) refuse("duplicate entry '{}'", name);

    for (std::size_t i = 1; i < parts.size(); ++i) {
      std::string prefix = join_path(parts, i);
      auto seen = kinds_.find(prefix);
      if (seen != kinds_.end() && seen->second == ArchiveEntryType::symlink) {
        refuse("entry '{}' would be written through the symlink '{}'", name, prefix);
      }
      if (seen != kinds_.end() && seen->second != ArchiveEntryType::directory) {
        refuse("entry '{}' is inside '{}', which is not a directory", name, prefix);
      }
      if (seen == kinds_.end() && disk_symlink(prefix)) {
        refuse("entry '{}' would be written through the existing symlink '{}'", name, (dest_ / prefix).string());
      }
      parents_.insert(prefix);
    }
    if (planned.type != ArchiveEntryType::directory && parents_.count(planned.rel)) {
      refuse("entry '{}' would replace a directory holding earlier entries", name);
    }
    if (planned.type != ArchiveEntryType::directory && disk_symlink(planned.rel)) {
      refuse("entry '{}' would replace the existing symlink '{}'", name, (dest_ / planned.rel).string());
    }

    if (planned.type == ArchiveEntryType::hardlink) {
      const std::string& target = planned.link_target;
      auto target_parts = split_path(target);
      if (target.empty() || target.front() == '/' || has_dotdot(target_parts)) {
        refuse("link '{}' -> '{}' points outside the target directory", name, target);
      }
      auto seen = kinds_.find(join_path(target_parts, target_parts.size()));
      if (seen == kinds_.end() || (seen->second != ArchiveEntryType::file && seen->second != ArchiveEntryType::hardlink)) {
        refuse("hard link '{}' -> '{}' does not refer to an earlier file in the archive", name, target);
      }
    }
    if (planned.type == ArchiveEntryType::symlink) symlinks_[planned.rel] = planned.link_target;
    kinds_[planned.rel] = planned.type;
    entries_.push_back(std::move(planned));
  }

  // Symlink targets are checked once every link in the archive is known,
  // since a target may pass through links that come later.
  void check_symlinks() const {
    for (const auto& entry : entries_) {
      if (entry.type != ArchiveEntryType::symlink) continue;
      auto parts = split_path(entry.rel);
      parts.pop_back();
      if (!resolves_inside(parts, entry.link_target)) {
        refuse("link '{}' -> '{}' points outside the target directory", entry.name, entry.link_target);
      }
    }
  }

  const std::vector<PlannedEntry>& entries() const { return entries_; }

  template <typename... Args>
  [[noreturn]] void refuse(fmt::format_string<Args...> format, Args&&... args) const {
    throw InputError(fmt::format("{}: {}", archive_, fmt::format(format, std::forward<Args>(args)...)));
  }

 private:
  bool disk_symlink(const std::string& rel) const {
    struct stat st {};
    return ::lstat((dest_ / rel).c_str(), &st) == 0 && S_ISLNK(st.st_mode);
  }

  std::optional<std::string> symlink_at(const std::string& rel) const {
    if (auto it = symlinks_.find(rel); it != symlinks_.end()) return it->second;
    if (kinds_.count(rel)) return std::nullopt;
    if (!disk_symlink(rel)) return std::nullopt;
    std::error_code ec;
    fs::path target = fs::read_symlink(dest_ / rel, ec);
    if (ec) return std::string("/");  // unreadable: treat as pointing outside
    return target.string();
  }

  // Walks `target` from the directory `base` (components below dest) the way
  // the kernel would, following the archive's symlinks (and those already in
  // dest); false if it ever leaves dest.
  bool resolves_inside(std::vector<std::string> base, const std::string& target) const {
    if (target.empty() || target.front() == '/') return false;
    auto target_parts = split_path(target);
    std::deque<std::string> pending(target_parts.begin(), target_parts.end());
    int hops = 0;
    while (!pending.empty()) {
      std::string part = std::move(pending.front());
      pending.pop_front();
      if (part == "..") {
        if (base.empty()) return false;
        base.pop_back();
        continue;
      }
      base.push_back(part);
      if (auto link = symlink_at(join_path(base, base.size()))) {
        if (++hops > kMaxSymlinkHops || link->empty() || link->front() == '/') return false;
        base.pop_back();
        auto link_parts = split_path(*link);
        pending.insert(pending.begin(), link_parts.begin(), link_parts.end());
      }
    }
    return true;
  }

  // Refuses, at the entry that crosses them, an archive past the limits.
  void count(archive_entry* entry, const std::string& name) {
    if (++entry_count_ > limits_.max_entries)
      refuse("more than {} entries (at '{}')", limits_.max_entries, name);
    const std::uint64_t size =
        archive_entry_size_is_set(entry) && archive_entry_size(entry) > 0 ? static_cast<std::uint64_t>(archive_entry_size(entry)) : 0;
    unpacked_ += size;
    if (unpacked_ > limits_.max_bytes)
      refuse("unpacks to more than {} MiB (at '{}'); the limit is configurable", limits_.max_bytes >> 20, name);
    if (unpacked_ > limits_.ratio_floor && static_cast<double>(unpacked_) / static_cast<double>(packed_) > limits_.max_ratio)
      refuse("unpacks to more than {} times its size (at '{}', {} MiB from {} KiB): refused as a compression bomb",
             limits_.max_ratio, name, unpacked_ >> 20, packed_ >> 10);
  }

  std::string archive_;
  fs::path dest_;
  ExtractLimits limits_;
  std::uint64_t packed_ = 1, unpacked_ = 0, entry_count_ = 0;
  std::vector<PlannedEntry> entries_;
  std::map<std::string, ArchiveEntryType> kinds_;
  std::map<std::string, std::string> symlinks_;
  std::set<std::string> parents_;
};


// Hashes what libarchive writes on its way to the file.
struct HashingSink {
  int fd;
  std::optional<Hasher> hasher;
};

la_ssize_t sink_write(struct archive*, void* data, const void* buffer, size_t length) {
  auto* sink = static_cast<HashingSink*>(data);
  const char* p = static_cast<const char*>(buffer);
  size_t left = length;
  while (left > 0) {
    ssize_t n = ::write(sink->fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (sink->hasher) sink->hasher->update(buffer, length);
  return static_cast<la_ssize_t>(length);
}

std::string write_tgz(const std::vector<SourceItem>& items, const fs::path& out_file,
                      std::optional<DigestAlgorithm> digest, int gzip_level) {
  std::string tmp_name = out_file.string() + ".tmp-XXXXXX";
  int raw_fd = ::mkstemp(tmp_name.data());
  if (raw_fd < 0) throw IoError(fmt::format("{}: cannot write: {}", out_file.string(), errno_text(errno)));
  Fd fd(raw_fd);
  struct TmpGuard {
    std::string path;
    bool keep = false;
    ~TmpGuard() {
      if (!keep) ::unlink(path.c_str());
    }
  } guard{tmp_name};

  HashingSink sink{fd.get(), {}};
  if (digest) sink.hasher.emplace(*digest);
  WriteArchive a(archive_write_new());
  archive_write_add_filter_gzip(a.get());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr);  // reproducible bytes
  archive_write_set_filter_option(a.get(), "gzip", "compression-level", std::to_string(gzip_level).c_str());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open(a.get(), &sink, nullptr, sink_write, nullptr) != ARCHIVE_OK) {
    throw IoError(fmt::format("{}: cannot write: {}", out_file.string(), archive_text(a.get())));
  }
  for (const auto& item : items) write_item(a.get(), item);
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    throw IoError(fmt::format("{}: cannot write: {}", out_file.string(), archive_text(a.get())));
  }
  if (::fchmod(fd.get(), 0644) != 0 || ::fsync(fd.get()) != 0 || ::close(fd.release()) != 0) {
    throw IoError(fmt::format("{}: cannot write: {}", out_file.string(), errno_text(errno)));
  }
  if (::rename(tmp_name.c_str(), out_file.c_str()) != 0) {
    throw IoError(fmt::format("{}: cannot write: {}", out_file.string(), errno_text(errno)));
  }
  guard.keep = true;
  return sink.hasher ? sink.hasher->hex_final() : std::string();
}
}  // namespace

void create_tgz(const fs::path& source_dir, const fs::path& out_file, const std::vector<std::string>& entries) {
  std::error_code ec;
  if (!fs::is_directory(source_dir, ec)) {
    int error = fs::exists(source_dir, ec) ? ENOTDIR : ENOENT;
    throw IoError(fmt::format("{}: cannot read: {}", source_dir.string(), errno_text(error)));
  }
  std::vector<SourceItem> items;
  if (entries.empty()) {
    items.push_back({"", source_dir});
    collect(source_dir, "", items);
  } else {
    std::set<std::string> chosen;
    for (const auto& entry : entries) {
      auto parts = split_path(entry);
      if ((!entry.empty() && entry.front() == '/') || has_dotdot(parts) || parts.empty()) {
        throw InputError(fmt::format("{}: entry '{}' is not a relative path inside the directory",
                                     source_dir.string(), entry));
      }
      std::string rel = join_path(parts, parts.size());
      if (!chosen.insert(rel).second) continue;
      fs::path path = source_dir / rel;
      struct stat st {};
      if (::lstat(path.c_str(), &st) != 0) {
        throw IoError(fmt::format("{}: cannot read: {}", path.string(), errno_text(errno)));
      }
      std::vector<SourceItem> found{{rel, path}};
      if (S_ISDIR(st.st_mode)) collect(path, rel, found);
      items.insert(items.end(), found.begin(), found.end());
    }
    std::sort(items.begin(), items.end(), [](const SourceItem& a, const SourceItem& b) { return a.rel < b.rel; });
    items.erase(std::unique(items.begin(), items.end(),
                            [](const SourceItem& a, const SourceItem& b) { return a.rel == b.rel; }),
                items.end());
  }

  write_tgz(items, out_file, std::nullopt, 6);
}

std::string create_tgz_from(const std::vector<TarInput>& inputs, const fs::path& out_file,
                            std::optional<DigestAlgorithm> digest, int gzip_level) {
  std::map<std::string, SourceItem> items;
  items.emplace("", SourceItem{"", fs::path()});
  for (const auto& input : inputs) {
    auto parts = split_path(input.name);
    if (input.name.empty() || input.name.front() == '/' || has_dotdot(parts) || parts.empty())
      throw InputError(fmt::format("{}: entry '{}' is not a relative path", out_file.string(), input.name));
    for (std::size_t i = 1; i < parts.size(); ++i) {
      std::string dir = join_path(parts, i);
      items.emplace(dir, SourceItem{dir, fs::path()});
    }
    std::string rel = join_path(parts, parts.size());
    if (!items.emplace(rel, SourceItem{rel, input.source, input.mode, input.follow_symlinks}).second)
      throw InputError(fmt::format("{}: duplicate entry '{}'", out_file.string(), rel));
  }
  std::vector<SourceItem> sorted;
  for (auto& [_, item] : items) sorted.push_back(std::move(item));
  return write_tgz(sorted, out_file, digest, gzip_level);
}

std::vector<ArchiveEntry> list_tgz(const fs::path& archive) {
  TgzReader reader(archive);
  std::vector<ArchiveEntry> out;
  while (archive_entry* entry = reader.next()) {
    ArchiveEntry item;
    item.name = entry_name(entry);
    item.type = entry_type(entry);
    item.size = archive_entry_size_is_set(entry) ? static_cast<std::uint64_t>(archive_entry_size(entry)) : 0;
    item.mode = archive_entry_perm(entry) & 07777;
    if (item.type == ArchiveEntryType::symlink) item.link_target = archive_entry_symlink(entry);
    if (item.type == ArchiveEntryType::hardlink) item.link_target = archive_entry_hardlink(entry);
    out.push_back(std::move(item));
  }
  return out;
}

std::string read_tgz_entry(const fs::path& archive, std::string_view name, std::uint64_t max_bytes) {
  std::string wanted = normalize_name(name);
  TgzReader reader(archive);
  while (archive_entry* entry = reader.next()) {
    if (normalize_name(entry_name(entry)) != wanted) continue;
    if (entry_type(entry) != ArchiveEntryType::file) {
      throw InputError(fmt::format("{}: entry '{}' is not a regular file", archive.string(), name));
    }
    auto too_large = [&] {
      return InputError(fmt::format("{}: '{}' is larger than {} bytes", archive.string(), name, max_bytes));
    };
    if (archive_entry_size_is_set(entry) && static_cast<std::uint64_t>(archive_entry_size(entry)) > max_bytes)
      throw too_large();
    std::string data;
    char buffer[65536];
    for (;;) {
      la_ssize_t n = archive_read_data(reader.get(), buffer, sizeof buffer);
      if (n < 0) reader.corrupt();
      if (n == 0) break;
      data.append(buffer, static_cast<std::size_t>(n));
      if (data.size() > max_bytes) throw too_large();
    }
    return data;
  }
  throw InputError(fmt::format("{}: no entry '{}'", archive.string(), name));
}

namespace {
std::mutex limits_mutex;
ExtractLimits process_limits;
}  // namespace

void set_default_extract_limits(const ExtractLimits& limits) {
  std::lock_guard lock(limits_mutex);
  process_limits = limits;
}

ExtractLimits default_extract_limits() {
  std::lock_guard lock(limits_mutex);
  return process_limits;
}

void extract_tgz(const fs::path& archive, const fs::path& dest) { extract_tgz(archive, dest, default_extract_limits()); }

void extract_tgz(const fs::path& archive, const fs::path& dest, const ExtractLimits& limits) {
  std::error_code ec;
  fs::create_directories(dest, ec);
  if (ec) throw IoError(fmt::format("{}: cannot create directory: {}", dest.string(), ec.message()));
  // libarchive's SECURE_SYMLINKS refuses any symlink on the path, including
  // those above dest (e.g. a symlinked /tmp), so work from the real path.
  fs::path root = fs::canonical(dest, ec);
  if (ec) throw IoError(fmt::format("{}: cannot read: {}", dest.string(), ec.message()));

  // Pass 1: check everything; nothing is written yet.
  ExtractionPlan plan(archive, root, limits);
  {
    TgzReader reader(archive);
    while (archive_entry* entry = reader.next()) plan.add(entry);
    plan.check_symlinks();
  }

  // Pass 2: write, entry by entry, exactly what was checked.
  TgzReader reader(archive);
  WriteArchive disk(archive_write_disk_new());
  archive_write_disk_set_options(disk.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                                 ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                 ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  // (No ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS: the paths we hand libarchive
  // are dest-rooted absolute ones; the archive's own names were checked above.)
  std::unique_ptr<char[]> buffer(new char[kChunk]);
  std::size_t index = 0;
  while (archive_entry* entry = reader.next()) {
    const auto& planned = plan.entries();
    if (index >= planned.size() || planned[index].name != entry_name(entry) ||
        planned[index].type != entry_type(entry)) {
      throw IoError(fmt::format("{}: changed while being extracted", archive.string()));
    }
    const PlannedEntry& item = planned[index++];
    if (item.rel.empty()) continue;  // "./": dest itself
    fs::path target = root / item.rel;
    archive_entry_copy_pathname(entry, target.c_str());
    if (item.type == ArchiveEntryType::hardlink) {
      archive_entry_copy_hardlink(entry, (root / normalize_name(item.link_target)).c_str());
    }
    if (archive_write_header(disk.get(), entry) < ARCHIVE_WARN) {
      throw IoError(fmt::format("{}: cannot write: {}", target.string(), archive_text(disk.get())));
    }
    if (item.type == ArchiveEntryType::file) {
      for (;;) {
        la_ssize_t n = archive_read_data(reader.get(), buffer.get(), kChunk);
        if (n < 0) reader.corrupt();
        if (n == 0) break;
        if (archive_write_data(disk.get(), buffer.get(), static_cast<std::size_t>(n)) < 0) {
          throw IoError(fmt::format("{}: cannot write: {}", target.string(), archive_text(disk.get())));
        }
      }
    }
    if (archive_write_finish_entry(disk.get()) < ARCHIVE_WARN) {
      throw IoError(fmt::format("{}: cannot write: {}", target.string(), archive_text(disk.get())));
    }
  }
  if (archive_write_close(disk.get()) != ARCHIVE_OK) {
    throw IoError(fmt::format("{}: cannot write: {}", dest.string(), archive_text(disk.get())));
  }
}

}  // namespace bosh
