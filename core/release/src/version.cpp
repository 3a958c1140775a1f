#include "bosh/release/version.hpp"

#include <algorithm>

#include "bosh/common/error.hpp"

namespace bosh::release {

namespace {

std::vector<std::string> segments(const std::string& part) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = part.find('.', start);
    out.push_back(part.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return out;
}

bool digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A component is a number when it is digits without a leading zero ("0" is
// one, "01" is a string), as the Go CLI's go-semi-semantic has it.
bool numeric(const std::string& s) { return digits(s) && (s.size() == 1 || s[0] != '0'); }

// Release components: letters, digits, '_'; pre- and post-release ones may
// also hold '-'.
bool valid_segment(const std::string& s, bool dash_allowed) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || (dash_allowed && c == '-');
  });
}

int compare_component(const std::string& x, const std::string& y) {
  if (numeric(x) && numeric(y)) {
    if (x.size() != y.size()) return x.size() < y.size() ? -1 : 1;
    return x == y ? 0 : (x < y ? -1 : 1);
  }
  if (numeric(x) != numeric(y)) return numeric(x) ? -1 : 1;
  return x == y ? 0 : (x < y ? -1 : 1);
}

bool all_zeros(const std::vector<std::string>& v, std::size_t from) {
  for (std::size_t i = from; i < v.size(); ++i)
    if (v[i] != "0") return false;
  return true;
}

// Trailing zero components do not count: 1.0 == 1.
int compare_segments(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::size_t common = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < common; ++i)
    if (int c = compare_component(a[i], b[i])) return c;
  if (a.size() > common && !all_zeros(a, common)) return 1;
  if (b.size() > common && !all_zeros(b, common)) return -1;
  return 0;
}

std::string join(const std::vector<std::string>& segs) {
  std::string out;
  for (std::size_t i = 0; i < segs.size(); ++i) out += (i ? "." : "") + segs[i];
  return out;
}

// The last component incremented; it must be a number.
std::vector<std::string> increment(std::vector<std::string> segs, const std::string& version) {
  if (segs.empty() || !numeric(segs.back()) || segs.back().size() > 18)
    fail<InputError>("cannot increment version '{}': its last component '{}' is not a number", version,
                     segs.empty() ? "" : segs.back());
  segs.back() = std::to_string(std::stoull(segs.back()) + 1);
  return segs;
}

}  // namespace

std::optional<Version> Version::try_parse(const std::string& text) {
  Version v;
  v.text_ = text;
  std::string rest = text;
  std::size_t plus = rest.find('+');
  if (plus != std::string::npos) {
    v.post_ = segments(rest.substr(plus + 1));
    rest = rest.substr(0, plus);
  }
  std::size_t dash = rest.find('-');
  if (dash != std::string::npos) {
    v.pre_ = segments(rest.substr(dash + 1));
    rest = rest.substr(0, dash);
  }
  v.release_ = segments(rest);
  for (const auto& s : v.release_)
    if (!valid_segment(s, false)) return std::nullopt;
  for (const auto* part : {&v.pre_, &v.post_})
    for (const auto& s : *part)
      if (!valid_segment(s, true)) return std::nullopt;
  return v;
}

Version Version::parse(const std::string& text) {
  auto v = try_parse(text);
  if (!v) fail<InputError>("invalid version '{}'", text);
  return *v;
}

bool Version::is_dev() const { return !post_.empty() && post_[0] == "dev"; }

Version Version::next_dev() const {
  std::string base = join(release_) + (pre_.empty() ? "" : "-" + join(pre_));
  if (post_.empty()) return parse(base + "+dev.1");
  return parse(base + "+" + join(increment(post_, text_)));
}

Version Version::next_final() const { return parse(join(increment(release_, text_))); }

Version Version::release_part() const { return parse(join(release_) + (pre_.empty() ? "" : "-" + join(pre_))); }

int compare(const Version& a, const Version& b) {
  if (int c = compare_segments(a.release_, b.release_)) return c;
  // A pre-release comes before the release itself.
  if (a.pre_.empty() != b.pre_.empty()) return a.pre_.empty() ? 1 : -1;
  if (int c = compare_segments(a.pre_, b.pre_)) return c;
  if (a.post_.empty() != b.post_.empty()) return a.post_.empty() ? -1 : 1;
  return compare_segments(a.post_, b.post_);
}

}  // namespace bosh::release
