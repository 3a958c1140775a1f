#include "request_head.hpp"

#include <algorithm>
#include <cctype>

namespace bosh::net {

namespace {

bool is_tchar(unsigned char c) {
  return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The lines of a head: split on LF, a CR before it dropped.
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t lf = text.find('\n');
    std::string_view line = text.substr(0, lf);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (lf == std::string_view::npos) break;
    text.remove_prefix(lf + 1);
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<std::size_t> find_head_end(std::string_view buffer) {
  std::size_t start = 0;
  while (start < buffer.size() && (buffer[start] == '\r' || buffer[start] == '\n')) ++start;
  for (std::size_t i = buffer.find('\n', start); i != std::string_view::npos; i = buffer.find('\n', i + 1)) {
    if (i + 1 < buffer.size() && buffer[i + 1] == '\n') return i + 2;
    if (i + 2 < buffer.size() && buffer[i + 1] == '\r' && buffer[i + 2] == '\n') return i + 3;
  }
  return std::nullopt;
}

std::variant<RequestHead, HeadError> parse_request_head(std::string_view text, std::size_t max_headers) {
  while (!text.empty() && (text.front() == '\r' || text.front() == '\n')) text.remove_prefix(1);
  const auto lines = lines_of(text);
  if (lines.empty()) return HeadError{400, "empty request"};
  RequestHead head;

  // METHOD SP request-target SP HTTP/1.x
  const std::string_view line = lines[0];
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return HeadError{400, "malformed request line"};
  const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                         version = line.substr(sp2 + 1);
  if (!is_token(method) || method.size() > 32) return HeadError{400, "malformed method"};
  if (target.empty() || target.size() > 8192 || (target[0] != '/' && target != "*"))
    return HeadError{400, "the request target must be a path"};
  for (char c : target)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return HeadError{400, "the request target has bytes that must be percent-encoded"};
  if (version == "HTTP/1.1") {
    head.minor_version = 1;
  } else if (version == "HTTP/1.0") {
    head.minor_version = 0;
    head.keep_alive = false;
  } else if (version.substr(0, 5) == "HTTP/") {
    return HeadError{505, "only HTTP/1.0 and HTTP/1.1 are served"};
  } else {
    return HeadError{400, "malformed request line"};
  }
  head.method = std::string(method);
  head.target = std::string(target);

  std::optional<std::string> content_length, transfer_encoding;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string_view h = lines[i];
    if (h.front() == ' ' || h.front() == '\t') return HeadError{400, "folded header lines are not accepted"};
    const std::size_t colon = h.find(':');
    if (colon == std::string_view::npos || !is_token(h.substr(0, colon))) return HeadError{400, "malformed header"};
    const std::string_view value = trim(h.substr(colon + 1));
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && u != '\t') || u == 0x7f) return HeadError{400, "control character in a header value"};
    }
    if (head.headers.size() >= max_headers) return HeadError{431, "too many header fields"};
    std::string name = lower(h.substr(0, colon));
    if (name == "content-length") {
      if (content_length && *content_length != value) return HeadError{400, "conflicting Content-Length headers"};
      content_length = std::string(value);
    } else if (name == "transfer-encoding") {
      if (transfer_encoding) return HeadError{400, "more than one Transfer-Encoding header"};
      transfer_encoding = lower(value);
    } else if (name == "connection") {
      const std::string v = lower(value);
      if (v.find("close") != std::string::npos) head.keep_alive = false;
      if (v.find("keep-alive") != std::string::npos && head.minor_version == 0) head.keep_alive = true;
    } else if (name == "expect") {
      if (!iequals(value, "100-continue")) return HeadError{417, "only 'Expect: 100-continue' is understood"};
      head.expect_continue = head.minor_version == 1;
    }
    head.headers.emplace_back(std::move(name), std::string(value));
  }

  if (transfer_encoding) {
    if (content_length) return HeadError{400, "Content-Length and Transfer-Encoding together"};
    if (*transfer_encoding != "chunked") return HeadError{501, "only the chunked transfer coding is accepted"};
    if (head.minor_version == 0) return HeadError{400, "Transfer-Encoding in an HTTP/1.0 request"};
    head.chunked = true;
  }
  if (content_length) {
    const std::string& v = *content_length;
    if (v.empty() || v.size() > 18 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return HeadError{400, "Content-Length must be one decimal number"};
    head.content_length = std::stoull(v);
  }
  return head;
}

}  // namespace bosh::net
