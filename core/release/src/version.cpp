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

bool numeric(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool valid_segment(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

int compare_segments(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    if (i >= a.size()) return -1;
    if (i >= b.size()) return 1;
    const std::string &x = a[i], &y = b[i];
    if (numeric(x) && numeric(y)) {
      std::string xs = x.substr(std::min(x.find_first_not_of('0'), x.size() - 1));
      std::string ys = y.substr(std::min(y.find_first_not_of('0'), y.size() - 1));
      if (xs.size() != ys.size()) return xs.size() < ys.size() ? -1 : 1;
      if (xs != ys) return xs < ys ? -1 : 1;
    } else if (numeric(x) != numeric(y)) {
      return numeric(x) ? -1 : 1;
    } else if (x != y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}

std::string join(const std::vector<std::string>& segs) {
  std::string out;
  for (std::size_t i = 0; i < segs.size(); ++i) out += (i ? "." : "") + segs[i];
  return out;
}

std::string increment(const std::string& s) {
  return numeric(s) ? std::to_string(std::stoull(s) + 1) : s + ".1";
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
  for (const auto* part : {&v.release_, &v.pre_, &v.post_})
    for (const auto& s : *part)
      if (!valid_segment(s)) return std::nullopt;
  return v;
}

Version Version::parse(const std::string& text) {
  auto v = try_parse(text);
  if (!v) fail<InputError>("invalid version '{}'", text);
  return *v;
}

bool Version::is_dev() const { return !post_.empty() && post_[0] == "dev"; }

Version Version::next_dev() const {
  if (is_dev() && post_.size() >= 2) {
    auto post = post_;
    post.back() = increment(post.back());
    std::string text = join(release_) + (pre_.empty() ? "" : "-" + join(pre_)) + "+" + join(post);
    return parse(text);
  }
  return parse(join(release_) + (pre_.empty() ? "" : "-" + join(pre_)) + "+dev.1");
}

Version Version::next_final() const {
  auto rel = release_;
  rel.back() = increment(rel.back());
  return parse(join(rel));
}

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
