// One request/answer exchange on a connection a worker owns: the body
// coming in (Content-Length or chunked, with its deadlines) and the answer
// going out (Content-Length or chunked).
#pragma once

#include <istream>
#include <ostream>
#include <streambuf>
#include <string>
#include <utility>
#include <vector>

#include "bosh/net/http_server.hpp"
#include "conn.hpp"

namespace bosh::net {

class BodyIn : public std::streambuf {
 public:
  BodyIn(Conn& conn, const ServerConfig& config);
  bool complete() const { return done_; }
  // Reads and drops what is left of the body, up to `max` bytes; true when
  // the body ended within that.
  bool drain(std::uint64_t max);

  std::uint64_t limit = UINT64_MAX;
  std::string error;
  int error_status = 0;

 protected:
  int_type underflow() override;

 private:
  [[noreturn]] void refuse(int status, std::string message);
  std::size_t next(char* out, std::size_t size);  // 0 at the body's end
  std::size_t raw(char* out, std::size_t size);   // from the socket, deadlines checked
  bool fill_raw();                                // more bytes into pending_
  std::string line(std::size_t max);              // one chunk-size or trailer line

  Conn& conn_;
  const ServerConfig& config_;
  bool done_ = false, continue_sent_ = false;
  std::uint64_t remaining_ = 0, consumed_ = 0;
  enum class Chunk { size, data, data_end, trailers } chunk_ = Chunk::size;
  std::string pending_;  // chunked: raw bytes not parsed yet
  Clock::time_point start_ = Clock::now();
  char buffer_[1 << 16];
};

class BodyOut : public std::streambuf {
 public:
  BodyOut(Conn& conn, bool chunked, std::uint64_t length, bool discard);
  // Flushes; ends a chunked body. False when the body is not what was promised.
  bool finish();
  bool failed() const { return failed_; }

 protected:
  int_type overflow(int_type c) override;
  int sync() override;
  std::streamsize xsputn(const char* s, std::streamsize n) override;

 private:
  void flush_buffer();
  Conn& conn_;
  bool chunked_, discard_, failed_ = false;
  std::uint64_t length_, written_ = 0;
  char buffer_[1 << 16];
};

struct Request::Impl {
  Impl(Conn& c, const ServerConfig& cfg) : conn(c), config(cfg), body(c, cfg), stream(&body) {}
  Conn& conn;
  const ServerConfig& config;
  BodyIn body;
  std::istream stream;
};

struct Response::Impl {
  Impl(Conn& c, const RequestHead& h) : conn(c), head(h) {}
  Conn& conn;
  const RequestHead& head;
  std::vector<std::pair<std::string, std::string>> headers;
  bool sent = false, close = false;
  std::unique_ptr<BodyOut> body;
  std::unique_ptr<std::ostream> stream;
  // After the handler: completes the answer. False when the connection
  // cannot carry another one.
  bool finish();
};

// "HTTP/1.1 <status> <reason>\r\n" + headers + "\r\n" of a short answer the
// server makes itself (JSON {"code", "description"}), closing the connection.
std::string plain_answer(int status, std::string_view message);

}  // namespace bosh::net
