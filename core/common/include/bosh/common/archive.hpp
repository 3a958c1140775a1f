// Gzip'd tar archives (release, job and package tarballs, stemcells).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bosh/common/digest.hpp"

namespace bosh {

enum class ArchiveEntryType { file, directory, symlink, hardlink, other };

struct ArchiveEntry {
  std::string name;  // as stored, e.g. "./jobs/" or "./release.MF"
  ArchiveEntryType type = ArchiveEntryType::file;
  std::uint64_t size = 0;
  unsigned mode = 0;         // permission bits (07777)
  std::string link_target;   // symlink or hardlink target, else empty
};

// Writes a .tgz of source_dir. With no entries: everything under it,
// recursively, as `tar czf out -C source_dir .` names it ("./", "./jobs/",
// "./release.MF"). Otherwise exactly the listed relative paths, a directory
// with everything below it. Entries are sorted, mode bits and mtimes kept,
// symlinks stored as links, owners zeroed, no gzip timestamp. The archive is
// written to "<out_file>.tmp-XXXXXX" and renamed into place, so an
// interrupted write never leaves a partial out_file.
// IoError for unreadable sources or an unwritable out_file; InputError for an
// entry that is absolute, contains "..", or is not a file, directory or symlink.
void create_tgz(const std::filesystem::path& source_dir, const std::filesystem::path& out_file,
                const std::vector<std::string>& entries = {});

// One file of an archive built from scattered sources (release jobs and
// packages: "templates/x.erb" read from jobs/j/templates/x.erb).
struct TarInput {
  std::string name;                   // relative name in the archive, no "./"
  std::filesystem::path source;       // where the bytes are
  std::optional<unsigned> mode;       // permission bits to store instead of the source's
  bool follow_symlinks = false;       // store the target's content instead of a link
};

// Writes a .tgz holding exactly `inputs` (sorted, named "./<name>", parent
// directories added as 0755 entries), atomically as create_tgz does. With
// `digest`, the archive's bytes are hashed as they are written and the hex
// digest returned (no second read of the file); otherwise returns "".
// `gzip_level` 0..9: 6 is gzip's default, 0 stores without compressing (for
// archives of archives).
std::string create_tgz_from(const std::vector<TarInput>& inputs, const std::filesystem::path& out_file,
                            std::optional<DigestAlgorithm> digest = std::nullopt, int gzip_level = 6);

// Every entry, in archive order. InputError
// "<archive>: not a gzip'd tar archive: <detail>" for anything unreadable as one.
std::vector<ArchiveEntry> list_tgz(const std::filesystem::path& archive);

// How much an archive may unpack to: a gzip of zeros cannot fill the disk.
// The sizes are the entries' own (their headers), checked while the archive
// is read, before anything is written.
struct ExtractLimits {
  std::uint64_t max_bytes = 64ull << 30;  // all entries together
  std::uint64_t max_entries = 500000;
  double max_ratio = 100;                 // unpacked / packed, once past ratio_floor
  std::uint64_t ratio_floor = 256ull << 20;
};
// The limits extract_tgz uses by default (a program sets them from its config).
void set_default_extract_limits(const ExtractLimits& limits);
ExtractLimits default_extract_limits();

// Extracts into dest (created if missing). Before anything is written the
// whole archive is checked, and refused with an InputError naming the archive
// and the entry, for: absolute paths, ".." components, symlinks or hard links
// resolving outside dest, duplicate entries, entries written through a
// symlink, devices, fifos and sockets, and anything past `limits`. Modes and
// mtimes are restored, owners are not.
void extract_tgz(const std::filesystem::path& archive, const std::filesystem::path& dest);
void extract_tgz(const std::filesystem::path& archive, const std::filesystem::path& dest, const ExtractLimits& limits);

// The contents of one regular file in the archive; name may be given as "x"
// or "./x". InputError "<archive>: no entry '<name>'" if absent, and
// "<archive>: '<name>' is larger than N bytes" past `max_bytes` (before it is read).
std::string read_tgz_entry(const std::filesystem::path& archive, std::string_view name,
                           std::uint64_t max_bytes = 64u << 20);

}  // namespace bosh
