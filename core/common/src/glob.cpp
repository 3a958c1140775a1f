#include "bosh/common/glob.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <set>
#include <string>

namespace bosh {

namespace fs = std::filesystem;

namespace {

// "{a,b}c" -> {"ac", "bc"}; nested braces expand left to right.
std::vector<std::string> expand_braces(const std::string& pattern) {
  std::size_t open = std::string::npos;
  int depth = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\') {
      ++i;
      continue;
    }
    if (c == '{') {
      if (depth++ == 0) open = i;
    } else if (c == '}' && depth > 0 && --depth == 0) {
      std::vector<std::string> out;
      std::string prefix = pattern.substr(0, open), suffix = pattern.substr(i + 1);
      std::string body = pattern.substr(open + 1, i - open - 1);
      int d = 0;
      std::size_t start = 0;
      for (std::size_t j = 0; j <= body.size(); ++j) {
        if (j < body.size() && body[j] == '\\') {
          ++j;
          continue;
        }
        if (j == body.size() || (body[j] == ',' && d == 0)) {
          for (auto& e : expand_braces(prefix + body.substr(start, j - start) + suffix)) out.push_back(std::move(e));
          start = j + 1;
        } else if (body[j] == '{') {
          ++d;
        } else if (body[j] == '}') {
          --d;
        }
      }
      return out;
    }
  }
  return {pattern};
}

bool has_meta(std::string_view s) { return s.find_first_of("*?[{\\") != std::string_view::npos; }

std::vector<std::string> split(std::string_view pattern) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= pattern.size()) {
    std::size_t slash = pattern.find('/', start);
    std::string_view part = pattern.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!part.empty() && part != ".") parts.emplace_back(part);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parts;
}

void walk(const fs::path& dir, const std::vector<std::string>& parts, std::size_t i, std::set<fs::path>& out) {
  std::error_code ec;
  if (i == parts.size()) {
    if (fs::symlink_status(dir, ec).type() != fs::file_type::not_found) out.insert(dir);
    return;
  }
  const std::string& part = parts[i];
  const bool last = i + 1 == parts.size();
  if (part == "**") {
    walk(dir, parts, i + 1, out);  // zero directories
    if (!fs::is_directory(dir, ec)) return;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.is_directory(ec) && !entry.is_symlink(ec)) walk(entry.path(), parts, i, out);
      else if (last) out.insert(entry.path());
    }
    return;
  }
  if (!has_meta(part)) {
    fs::path next = dir / part;
    if (fs::symlink_status(next, ec).type() == fs::file_type::not_found) return;
    if (!last && !fs::is_directory(next, ec)) return;
    walk(next, parts, i + 1, out);
    return;
  }
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!match_component(part, name)) continue;
    if (!last && !entry.is_directory(ec)) continue;
    walk(entry.path(), parts, i + 1, out);
  }
}

}  // namespace

bool match_component(std::string_view pattern, std::string_view name) {
  for (const auto& alt : expand_braces(std::string(pattern)))
    if (::fnmatch(alt.c_str(), std::string(name).c_str(), 0) == 0) return true;
  return false;
}

namespace {
bool match_parts(const std::vector<std::string>& pat, std::size_t i, const std::vector<std::string>& path,
                 std::size_t j) {
  if (i == pat.size()) return j == path.size();
  if (pat[i] == "**") {
    for (std::size_t k = j; k <= path.size(); ++k)
      if (match_parts(pat, i + 1, path, k)) return true;
    return false;
  }
  return j < path.size() && match_component(pat[i], path[j]) && match_parts(pat, i + 1, path, j + 1);
}
}  // namespace

bool glob_match(std::string_view pattern, std::string_view path) {
  const auto parts = split(path);
  for (const auto& alt : expand_braces(std::string(pattern)))
    if (match_parts(split(alt), 0, parts, 0)) return true;
  return false;
}

std::vector<fs::path> recursive_glob(const fs::path& base, std::string_view pattern) {
  std::set<fs::path> out;
  // Alternatives may contain '/', so expand them before splitting.
  for (const auto& alt : expand_braces(std::string(pattern))) walk(base, split(alt), 0, out);
  return {out.begin(), out.end()};
}

}  // namespace bosh
