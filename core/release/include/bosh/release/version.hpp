// BOSH's semi-semantic versions: release[-pre_release][+post_release], each
// part dot-separated segments ("1", "1.2", "0+dev.3", "2.1-rc.1+dev.2").
// Components compare numerically when both are numbers (digits without a
// leading zero), else as strings, numbers first; trailing zero components do
// not count (1.0 == 1); a pre-release sorts before its release, a
// post-release after it. These are the Go CLI's (go-semi-semantic) rules.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace bosh::release {

class Version {
 public:
  // InputError "invalid version '<text>'" when malformed.
  static Version parse(const std::string& text);
  static std::optional<Version> try_parse(const std::string& text);

  const std::string& str() const { return text_; }
  bool is_dev() const;  // has a post-release starting with "dev"

  // The next dev version after this one: "1" -> "1+dev.1", "1+dev.3" -> "1+dev.4"
  // (the post-release's last component incremented; InputError unless a number).
  Version next_dev() const;
  // The next final version: "3" -> "4", "1.2" -> "1.3" (last release component
  // incremented, pre- and post-release dropped; InputError unless a number).
  Version next_final() const;
  // Just the release part: "1+dev.3" -> "1".
  Version release_part() const;

  friend int compare(const Version& a, const Version& b);
  friend bool operator<(const Version& a, const Version& b) { return compare(a, b) < 0; }
  friend bool operator==(const Version& a, const Version& b) { return compare(a, b) == 0; }
  friend bool operator>(const Version& a, const Version& b) { return compare(a, b) > 0; }

 private:
  std::string text_;
  std::vector<std::string> release_, pre_, post_;
};

}  // namespace bosh::release
