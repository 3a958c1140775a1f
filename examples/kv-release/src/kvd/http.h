/* kvd's small HTTP/1.1 layer: one request per connection (Connection: close),
 * Content-Length bodies only, a forked child per connection. POSIX only. */
#ifndef KVD_HTTP_H
#define KVD_HTTP_H

#include <stddef.h>

#define HTTP_MAX_HEADER_BYTES 16384
#define HTTP_MAX_TARGET 2048

struct http_request {
  char method[16];
  char target[HTTP_MAX_TARGET]; /* origin-form: path and query, as received */
  char path[HTTP_MAX_TARGET];   /* target without the query */
  size_t content_length;
  char *body; /* NUL-terminated; body_len bytes */
  size_t body_len;
  char peer[64];
};

struct http_response {
  int status;
  const char *content_type; /* default text/plain */
  char *body;               /* malloc'd (freed by the server) or NULL */
  size_t body_len;
  char extra_headers[256]; /* complete "Name: value\r\n" lines */
  char log_note[256];      /* appended to the access log line */
};

/* Fills resp; resp->body is freed by the server. */
typedef void (*http_handler)(const struct http_request *req, struct http_response *resp, void *ctx);

struct http_server {
  const char *mode; /* "store" | "web", for log lines */
  const char *listen_addr;
  size_t max_body;
  http_handler handler;
  void *ctx;
};

/* Binds exactly listen_addr ("HOST:PORT", "[V6]:PORT"), serves until SIGTERM
 * or SIGINT, then returns 0 (1 if it could not start). */
int http_serve(const struct http_server *server);

/* Sets resp to a text/plain answer (a copy of text). */
void http_text(struct http_response *resp, int status, const char *text);
/* Takes ownership of body (malloc'd). */
void http_body(struct http_response *resp, int status, const char *content_type, char *body, size_t len);

/* A client call: connect (within connect_ms), send the request, read the
 * whole answer (until the peer closes, within io_ms, at most max_response
 * body bytes).
 * Returns 0 with the answer filled in; HTTP_CALL_UNREACHABLE when nothing
 * came back (refused, timed out, reset before the first byte: safe to try
 * another peer); HTTP_CALL_BAD_ANSWER when the peer answered something that
 * is not a complete HTTP response. err gets the reason either way. */
#define HTTP_CALL_UNREACHABLE (-1)
#define HTTP_CALL_BAD_ANSWER (-2)
struct http_answer {
  int status;
  char content_type[128];
  char *body; /* malloc'd, NUL-terminated; free it */
  size_t body_len;
};
int http_call(const char *addr, const char *method, const char *target, const char *body, size_t body_len,
              int connect_ms, int io_ms, size_t max_response, struct http_answer *answer, char *err,
              size_t err_len);

/* Checks "HOST:PORT" syntax; 0 if fine, else -1 with a reason in err. */
int http_check_addr(const char *addr, char *err, size_t err_len);

/* Percent-decodes src into dst (dst_size includes the NUL). -1 on a bad
 * escape, an embedded NUL or overflow. */
int http_percent_decode(const char *src, char *dst, size_t dst_size);

/* One line on stdout (the access log) / stderr, each a single write(2). */
#if defined(__GNUC__)
#define KVD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KVD_PRINTF(a, b)
#endif
void log_out(const char *fmt, ...) KVD_PRINTF(1, 2);
void log_err(const char *fmt, ...) KVD_PRINTF(1, 2);

#endif
