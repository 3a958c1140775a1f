// Package `files:` globs, with the semantics bosh-cli uses (doublestar):
// `*` and `?` within one path component (dot files included), `[...]`
// classes, `{a,b}` alternatives, and `**` as a whole component for zero or
// more directories.
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

namespace bosh {

// Every existing path under `base` that `pattern` (relative, '/'-separated)
// matches — files, directories and symlinks — sorted, without duplicates.
std::vector<std::filesystem::path> recursive_glob(const std::filesystem::path& base, std::string_view pattern);

// A relative '/'-separated path against a pattern, `**` matching any number
// of whole components (no filesystem access).
bool glob_match(std::string_view pattern, std::string_view path);

// One path component against one component pattern (no '/', no `**`).
bool match_component(std::string_view pattern, std::string_view name);

}  // namespace bosh
