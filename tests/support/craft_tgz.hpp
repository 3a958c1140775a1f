// Writes arbitrary (possibly hostile) .tgz files with libarchive's write API,
// for tests of code that must refuse them.
#pragma once

#include <doctest/doctest.h>

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "bosh/common/archive.hpp"

namespace bosh::testing {

namespace fs = std::filesystem;
using bosh::ArchiveEntryType;

struct Crafted {
  std::string name;
  ArchiveEntryType type = ArchiveEntryType::file;
  std::string content;  // file data, or link target for links
  unsigned mode = 0644;
  unsigned filetype = 0;  // overrides type (e.g. AE_IFIFO)
  std::uint64_t zeros = 0;  // a file of this many zero bytes instead of `content` (streamed)
};

// Writes an arbitrary (possibly hostile) .tgz with libarchive's write API.
inline void craft_tgz(const fs::path& path, const std::vector<Crafted>& entries) {
  struct archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_filter_option(a, "gzip", "compression-level", "9");
  archive_write_set_format_pax_restricted(a);
  REQUIRE(archive_write_open_filename(a, path.c_str()) == ARCHIVE_OK);
  for (const auto& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_copy_pathname(entry, e.name.c_str());
    archive_entry_set_perm(entry, e.mode);
    if (e.filetype != 0) {
      archive_entry_set_filetype(entry, e.filetype);
    } else if (e.type == ArchiveEntryType::file) {
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_set_size(entry, static_cast<la_int64_t>(e.zeros ? e.zeros : e.content.size()));
    } else if (e.type == ArchiveEntryType::directory) {
      archive_entry_set_filetype(entry, AE_IFDIR);
    } else if (e.type == ArchiveEntryType::symlink) {
      archive_entry_set_filetype(entry, AE_IFLNK);
      archive_entry_copy_symlink(entry, e.content.c_str());
    } else if (e.type == ArchiveEntryType::hardlink) {
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_copy_hardlink(entry, e.content.c_str());
    }
    REQUIRE(archive_write_header(a, entry) >= ARCHIVE_WARN);  // a warning: a name libarchive cannot convert, kept as bytes
    if (e.type == ArchiveEntryType::file && e.filetype == 0 && e.zeros) {
      static const std::string chunk(1 << 20, '\0');
      for (std::uint64_t left = e.zeros; left > 0;) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
        archive_write_data(a, chunk.data(), n);
        left -= n;
      }
    } else if (e.type == ArchiveEntryType::file && e.filetype == 0 && !e.content.empty()) {
      archive_write_data(a, e.content.data(), e.content.size());
    }
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
}

}  // namespace bosh::testing
