#include "exchange.hpp"

#include <Poco/Base64Decoder.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "bosh/common/json.hpp"

namespace bosh::net {

// ---- the body coming in --------------------------------------------------------

BodyIn::BodyIn(Conn& conn, const ServerConfig& config) : conn_(conn), config_(config) {
  const RequestHead& head = conn.head;
  if (head.chunked) {
    chunk_ = Chunk::size;
  } else {
    remaining_ = head.content_length.value_or(0);
    done_ = remaining_ == 0;
  }
}

void BodyIn::refuse(int status, std::string message) {
  error = message;
  error_status = status;
  done_ = true;
  throw HttpError(status, std::move(message));
}

std::size_t BodyIn::raw(char* out, std::size_t size) {
  if (!continue_sent_) {
    continue_sent_ = true;
    if (conn_.head.expect_continue) {
      static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      conn_.write_all(kContinue, sizeof kContinue - 1);
    }
  }
  // A body must keep arriving: each read within io_timeout (the socket's
  // timeout), and on average min_body_rate once io_timeout has passed.
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start_);
  if (elapsed > config_.io_timeout &&
      static_cast<double>(consumed_) < static_cast<double>(config_.min_body_rate) * (elapsed.count() / 1000.0))
    refuse(408, fmt::format("the request body arrives slower than {} bytes a second", config_.min_body_rate));
  long n;
  try {
    n = conn_.read_some(out, size);
  } catch (const HttpError& e) {
    refuse(e.status(), e.what());
  }
  if (n == 0) refuse(400, "the request body ended early");
  return static_cast<std::size_t>(n);
}

bool BodyIn::fill_raw() {
  char chunk[16384];
  const std::size_t n = raw(chunk, sizeof chunk);
  pending_.append(chunk, n);
  return true;
}

std::string BodyIn::line(std::size_t max) {
  for (;;) {
    const std::size_t lf = pending_.find('\n');
    if (lf != std::string::npos) {
      std::string l = pending_.substr(0, lf);
      pending_.erase(0, lf + 1);
      if (!l.empty() && l.back() == '\r') l.pop_back();
      return l;
    }
    if (pending_.size() > max) refuse(400, "a chunk line is too long");
    fill_raw();
  }
}

std::size_t BodyIn::next(char* out, std::size_t size) {
  if (done_) return 0;
  if (!conn_.head.chunked) {
    const std::size_t n = raw(out, static_cast<std::size_t>(std::min<std::uint64_t>(size, remaining_)));
    remaining_ -= n;
    if (remaining_ == 0) done_ = true;
    return n;
  }
  for (;;) {
    switch (chunk_) {
      case Chunk::size: {
        const std::string l = line(4096);
        const std::string hex = l.substr(0, l.find(';'));
        std::size_t used = 0;
        unsigned long long n = 0;
        try {
          if (hex.empty() || hex.size() > 15) throw std::invalid_argument(hex);
          n = std::stoull(hex, &used, 16);
        } catch (const std::exception&) {
          refuse(400, "malformed chunk size");
        }
        if (used != hex.size()) refuse(400, "malformed chunk size");
        remaining_ = n;
        chunk_ = n == 0 ? Chunk::trailers : Chunk::data;
        break;
      }
      case Chunk::data: {
        if (pending_.empty()) fill_raw();
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>({size, remaining_, pending_.size()}));
        std::memcpy(out, pending_.data(), n);
        pending_.erase(0, n);
        remaining_ -= n;
        if (remaining_ == 0) chunk_ = Chunk::data_end;
        return n;
      }
      case Chunk::data_end:
        if (!line(2).empty()) refuse(400, "a chunk does not end where its size says");
        chunk_ = Chunk::size;
        break;
      case Chunk::trailers: {
        std::size_t trailer_bytes = 0;
        for (std::string l = line(8192); !l.empty(); l = line(8192))
          if ((trailer_bytes += l.size()) > 8192) refuse(400, "trailers too large");
        done_ = true;
        // What follows belongs to the next request on this connection.
        conn_.in = pending_ + conn_.in;
        pending_.clear();
        return 0;
      }
    }
  }
}

BodyIn::int_type BodyIn::underflow() {
  if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
  const std::size_t n = next(buffer_, sizeof buffer_);
  if (n == 0) return traits_type::eof();
  consumed_ += n;
  if (consumed_ > limit) refuse(413, fmt::format("the request body is larger than {} bytes", limit));
  setg(buffer_, buffer_, buffer_ + n);
  return traits_type::to_int_type(*gptr());
}

bool BodyIn::drain(std::uint64_t max) {
  const std::uint64_t saved_limit = limit;
  limit = UINT64_MAX;
  try {
    std::uint64_t dropped = static_cast<std::uint64_t>(egptr() - gptr());
    setg(buffer_, buffer_, buffer_);
    while (!done_ && dropped <= max) {
      const std::size_t n = next(buffer_, sizeof buffer_);
      consumed_ += n;
      dropped += n;
    }
  } catch (const HttpError&) {
    limit = saved_limit;
    return false;
  }
  limit = saved_limit;
  return done_;
}

// ---- the answer going out ------------------------------------------------------

BodyOut::BodyOut(Conn& conn, bool chunked, std::uint64_t length, bool discard)
    : conn_(conn), chunked_(chunked), discard_(discard), length_(length) {
  setp(buffer_, buffer_ + sizeof buffer_);
}

void BodyOut::flush_buffer() {
  const std::size_t n = static_cast<std::size_t>(pptr() - pbase());
  setp(buffer_, buffer_ + sizeof buffer_);
  if (n == 0 || discard_ || failed_) return;
  try {
    if (chunked_) {
      const std::string size = fmt::format("{:x}\r\n", n);
      conn_.write_all(size.data(), size.size());
      conn_.write_all(buffer_, n);
      conn_.write_all("\r\n", 2);
    } else {
      if (written_ + n > length_) {
        failed_ = true;
        throw Error("the answer is longer than its Content-Length");
      }
      conn_.write_all(buffer_, n);
    }
    written_ += n;
  } catch (const std::exception&) {
    failed_ = true;
    throw;
  }
}

BodyOut::int_type BodyOut::overflow(int_type c) {
  flush_buffer();
  if (!traits_type::eq_int_type(c, traits_type::eof())) {
    *pptr() = traits_type::to_char_type(c);
    pbump(1);
  }
  return traits_type::not_eof(c);
}

std::streamsize BodyOut::xsputn(const char* s, std::streamsize n) {
  std::streamsize done = 0;
  while (done < n) {
    if (pptr() == epptr()) flush_buffer();
    const std::streamsize room = std::min<std::streamsize>(epptr() - pptr(), n - done);
    std::memcpy(pptr(), s + done, static_cast<std::size_t>(room));
    pbump(static_cast<int>(room));
    done += room;
  }
  return done;
}

int BodyOut::sync() {
  try {
    flush_buffer();
  } catch (const std::exception&) {
    return -1;
  }
  return 0;
}

bool BodyOut::finish() {
  if (sync() != 0) return false;
  if (discard_) return true;
  if (chunked_) {
    try {
      conn_.write_all("0\r\n\r\n", 5);
    } catch (const std::exception&) {
      return false;
    }
    return true;
  }
  return !failed_ && written_ == length_;
}

// ---- Request -------------------------------------------------------------------

std::string percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
      i += 2;
    } else if (plus_is_space && text[i] == '+') {
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

Request::Request(Impl& impl) : impl_(impl) {
  const RequestHead& head = impl.conn.head;
  method_ = head.method;
  target_ = head.target;
  const std::size_t q = target_.find('?');
  path_ = target_.substr(0, q);
  if (q != std::string::npos) {
    std::string_view rest = std::string_view(target_).substr(q + 1);
    while (!rest.empty()) {
      const std::size_t amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      if (!pair.empty()) {
        const std::size_t eq = pair.find('=');
        query_[percent_decode(pair.substr(0, eq), true)] =
            eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1), true);
      }
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
  }
  headers_ = head.headers;
  content_length_ = head.content_length;
  chunked_ = head.chunked;
  peer_ = impl.conn.peer;
}

std::string Request::header(std::string_view name, std::string fallback) const {
  for (const auto& [k, v] : headers_)
    if (iequals(k, name)) return v;
  return fallback;
}

bool Request::has_header(std::string_view name) const {
  for (const auto& [k, v] : headers_)
    if (iequals(k, name)) return true;
  return false;
}

std::optional<std::pair<std::string, std::string>> Request::basic_credentials() const {
  const std::string value = header("authorization");
  if (value.size() < 6 || !iequals(value.substr(0, 6), "basic ")) return std::nullopt;
  std::string decoded;
  try {
    std::istringstream in(value.substr(6));
    Poco::Base64Decoder decoder(in);
    char c;
    while (decoder.get(c) && decoded.size() < 4096) decoded += c;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const std::size_t colon = decoded.find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::pair{decoded.substr(0, colon), decoded.substr(colon + 1)};
}

void Request::limit_body(std::uint64_t max_bytes) {
  max_bytes = std::min(max_bytes, impl_.body.limit);  // a limit only ever tightens
  impl_.body.limit = max_bytes;
  if (content_length_ && *content_length_ > max_bytes)
    throw HttpError(413, fmt::format("the request body ({} bytes) is larger than {} bytes", *content_length_, max_bytes));
}

std::istream& Request::body() { return impl_.stream; }

std::string Request::read_body(std::uint64_t max_bytes) {
  limit_body(max_bytes);
  std::string text;
  char buffer[1 << 16];
  std::istream& in = impl_.stream;
  while (in) {
    in.read(buffer, sizeof buffer);
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
  }
  if (!impl_.body.error.empty()) throw HttpError(impl_.body.error_status, impl_.body.error);
  return text;
}

std::string Request::body_error() const { return impl_.body.error; }
int Request::body_error_status() const { return impl_.body.error_status; }

// ---- Response ------------------------------------------------------------------

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
  }
}

std::string plain_answer(int status, std::string_view message) {
  plugin::JsonObject::Ptr o = new plugin::JsonObject;
  o->set("code", status);
  o->set("description", std::string(message));
  const std::string body = to_json(o);
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}", status,
      reason_phrase(status), body.size(), body);
}

void Response::set(std::string name, std::string value) {
  if (impl_.sent) throw Error("HTTP header '" + name + "' set after the answer began");
  for (char c : name + value)
    if (c == '\r' || c == '\n') throw Error("HTTP header '" + name + "' with a line break");
  for (auto& [k, v] : impl_.headers)
    if (iequals(k, name)) {
      v = std::move(value);
      return;
    }
  impl_.headers.emplace_back(std::move(name), std::move(value));
}

void Response::close_after() { impl_.close = true; }

bool Response::sent() const { return impl_.sent; }

std::ostream& Response::begin(int status, std::optional<std::uint64_t> length, std::string_view content_type) {
  if (impl_.sent) throw Error("an HTTP answer began twice");
  const bool head_only = impl_.head.method == "HEAD" || status == 204 || status == 304;
  const bool chunked = !length && !head_only && impl_.head.minor_version == 1;
  if (!length && !chunked && !head_only) impl_.close = true;  // HTTP/1.0: the end of the body is the close
  if (!content_type.empty()) set("Content-Type", std::string(content_type));
  std::string out = fmt::format("HTTP/1.1 {} {}\r\n", status, reason_phrase(status));
  for (const auto& [k, v] : impl_.headers) out += k + ": " + v + "\r\n";
  if (length && status != 204 && status != 304) out += fmt::format("Content-Length: {}\r\n", *length);
  if (chunked) out += "Transfer-Encoding: chunked\r\n";
  if (impl_.close || !impl_.head.keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  impl_.sent = true;
  impl_.body = std::make_unique<BodyOut>(impl_.conn, chunked, length.value_or(0), head_only);
  impl_.stream = std::make_unique<std::ostream>(impl_.body.get());
  try {
    impl_.conn.write_all(out.data(), out.size());
  } catch (const std::exception&) {
    impl_.close = true;
    impl_.stream->setstate(std::ios::badbit);
  }
  return *impl_.stream;
}

void Response::send(int status, std::string_view body, std::string_view content_type) {
  std::ostream& out = begin(status, body.size(), content_type);
  out.write(body.data(), static_cast<std::streamsize>(body.size()));
}

bool Response::Impl::finish() {
  if (!body) return false;
  stream->flush();
  const bool ok = body->finish();
  return ok && !close && head.keep_alive;
}

}  // namespace bosh::net
