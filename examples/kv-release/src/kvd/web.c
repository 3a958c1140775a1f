/* kvd web: the front end.
 *
 *   GET /                      text page: this instance's name, each backend up/down
 *   GET /health                200 "ok"
 *   GET|PUT|DELETE /kv[/<key>] proxied to the first backend that answers; a
 *                              backend that cannot be reached is skipped (the
 *                              answer carries X-Kv-Backend); none: 502
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "kvd.h"

#define CONNECT_MS 2000
#define PROXY_IO_MS 15000
#define HEALTH_CONNECT_MS 1000
#define HEALTH_IO_MS 2000

static void method_not_allowed(struct http_response *resp, const char *allow) {
  http_text(resp, 405, "method not allowed\n");
  snprintf(resp->extra_headers, sizeof resp->extra_headers, "Allow: %s\r\n", allow);
}

/* A growing malloc'd string; an append that cannot get memory is dropped. */
struct buf {
  char *p;
  size_t len, cap;
};

static void appendf(struct buf *b, const char *fmt, ...) KVD_PRINTF(2, 3);
static void appendf(struct buf *b, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (b->len + (size_t)n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    char *bigger;
    while (cap < b->len + (size_t)n + 1) cap *= 2;
    bigger = realloc(b->p, cap);
    if (bigger == NULL) return;
    b->p = bigger;
    b->cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

static void status_page(const struct web_config *c, struct http_response *resp) {
  struct buf b = {NULL, 0, 0};
  size_t up = 0;
  appendf(&b, "kv-web %s\n", c->instance_name);
  appendf(&b, "backends:\n");
  for (size_t i = 0; i < c->nbackends; i++) {
    struct http_answer a;
    char err[256];
    int rc = http_call(c->backends[i], "GET", "/health", NULL, 0, HEALTH_CONNECT_MS, HEALTH_IO_MS, 4096, &a, err,
                       sizeof err);
    if (rc == 0 && a.status == 200) {
      up++;
      appendf(&b, "  %s up\n", c->backends[i]);
    } else {
      if (rc == 0) appendf(&b, "  %s down (health answered %d)\n", c->backends[i], a.status);
      else appendf(&b, "  %s down (%s)\n", c->backends[i], err);
    }
    free(a.body);
  }
  appendf(&b, "%zu of %zu backends up\n", up, c->nbackends);
  if (b.p == NULL) http_text(resp, 503, "out of memory\n");
  else http_body(resp, 200, "text/plain; charset=utf-8", b.p, b.len);
}

static void proxy(const struct web_config *c, const struct http_request *req, struct http_response *resp) {
  struct buf tried = {NULL, 0, 0};
  for (size_t i = 0; i < c->nbackends; i++) {
    struct http_answer a;
    char err[256];
    int rc = http_call(c->backends[i], req->method, req->target, req->body, req->body_len, CONNECT_MS, PROXY_IO_MS,
                       c->max_body, &a, err, sizeof err);
    if (rc == HTTP_CALL_UNREACHABLE) {
      log_err("kvd web: backend %s: %s; trying the next one", c->backends[i], err);
      appendf(&tried, "%s%s (%s)", tried.len ? ", " : "", c->backends[i], err);
      continue;
    }
    if (rc != 0) {
      log_err("kvd web: backend %s: %s", c->backends[i], err);
      http_text(resp, 502, "the backend's answer was not understood\n");
    } else {
      /* resp keeps a pointer until the answer is sent; a goes out of scope first.
       * One request per process, so a static buffer is enough. */
      static char content_type[128];
      snprintf(content_type, sizeof content_type, "%s",
               a.content_type[0] ? a.content_type : "application/octet-stream");
      http_body(resp, a.status, content_type, a.body, a.body_len);
      a.body = NULL;
    }
    snprintf(resp->extra_headers, sizeof resp->extra_headers, "X-Kv-Backend: %s\r\n", c->backends[i]);
    snprintf(resp->log_note, sizeof resp->log_note, "backend=%s", c->backends[i]);
    free(a.body);
    free(tried.p);
    return;
  }
  {
    char msg[1024];
    snprintf(msg, sizeof msg, "no backend answered: %s\n", tried.p ? tried.p : "none configured");
    http_text(resp, 502, msg);
    snprintf(resp->log_note, sizeof resp->log_note, "backend=none");
  }
  free(tried.p);
}

static void handle(const struct http_request *req, struct http_response *resp, void *ctx) {
  const struct web_config *c = ctx;
  int is_get = strcmp(req->method, "GET") == 0;
  if (strcmp(req->path, "/") == 0) {
    if (!is_get) method_not_allowed(resp, "GET");
    else status_page(c, resp);
  } else if (strcmp(req->path, "/health") == 0) {
    if (!is_get) method_not_allowed(resp, "GET");
    else http_text(resp, 200, "ok");
  } else if (strcmp(req->path, "/kv") == 0 || strncmp(req->path, "/kv/", 4) == 0) {
    if (!is_get && strcmp(req->method, "PUT") != 0 && strcmp(req->method, "DELETE") != 0)
      method_not_allowed(resp, "GET, PUT, DELETE");
    else proxy(c, req, resp);
  } else {
    http_text(resp, 404, "not found\n");
  }
}

int run_web(const struct web_config *c) {
  struct http_server s;
  log_out("kvd web %s: instance %s, %zu backend(s)", KVD_VERSION, c->instance_name, c->nbackends);
  for (size_t i = 0; i < c->nbackends; i++) log_out("kvd web: backend %zu: %s", i, c->backends[i]);
  memset(&s, 0, sizeof s);
  s.mode = "web";
  s.listen_addr = c->listen;
  s.max_body = c->max_body;
  s.handler = handle;
  s.ctx = (void *)c;
  return http_serve(&s);
}
