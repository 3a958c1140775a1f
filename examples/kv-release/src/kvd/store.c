/* kvd store: the values, one file per key (libkv), behind HTTP.
 *
 *   GET /health       200 "ok"
 *   GET /kv           200, every key followed by "\n" (sorted)
 *   PUT /kv/<key>     201 (body = value; 413 when larger than --max-value-bytes)
 *   GET /kv/<key>     200 value | 404
 *   DELETE /kv/<key>  204 | 404
 * A key that libkv refuses (or a bad %-escape in it) is a 400.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "kv.h"
#include "kvd.h"

static const char BAD_KEY[] =
    "invalid key: 1-200 printable ASCII characters, no '/', '\\' or '..', not starting with '.'\n";

static void method_not_allowed(struct http_response *resp, const char *allow) {
  http_text(resp, 405, "method not allowed\n");
  snprintf(resp->extra_headers, sizeof resp->extra_headers, "Allow: %s\r\n", allow);
}

static void io_error(struct http_response *resp, const char *what, const char *key, int rc) {
  log_err("kvd store: %s '%s': %s%s%s", what, key, kv_strerror(rc), rc == KV_EIO ? ": " : "",
          rc == KV_EIO ? strerror(errno) : "");
  http_text(resp, 500, "storage error\n");
}

static void list_keys(const struct store_config *c, struct http_response *resp) {
  char **keys;
  size_t n, total = 0, off = 0;
  char *body;
  int rc = kv_list(c->data, &keys, &n);
  if (rc != KV_OK) {
    io_error(resp, "list", "", rc);
    return;
  }
  for (size_t i = 0; i < n; i++) total += strlen(keys[i]) + 1;
  body = malloc(total + 1);
  if (body == NULL) {
    kv_list_free(keys, n);
    http_text(resp, 503, "out of memory\n");
    return;
  }
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(keys[i]);
    memcpy(body + off, keys[i], l);
    off += l;
    body[off++] = '\n';
  }
  body[off] = '\0';
  kv_list_free(keys, n);
  http_body(resp, 200, "text/plain; charset=utf-8", body, off);
}

static void handle(const struct http_request *req, struct http_response *resp, void *ctx) {
  const struct store_config *c = ctx;
  char key[HTTP_MAX_TARGET];
  int rc;

  if (strcmp(req->path, "/health") == 0) {
    if (strcmp(req->method, "GET") != 0) method_not_allowed(resp, "GET");
    else http_text(resp, 200, "ok");
    return;
  }
  if (strcmp(req->path, "/kv") == 0 || strcmp(req->path, "/kv/") == 0) {
    if (strcmp(req->method, "GET") != 0) method_not_allowed(resp, "GET");
    else list_keys(c, resp);
    return;
  }
  if (strncmp(req->path, "/kv/", 4) != 0) {
    http_text(resp, 404, "not found\n");
    return;
  }
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "PUT") != 0 && strcmp(req->method, "DELETE") != 0) {
    method_not_allowed(resp, "GET, PUT, DELETE");
    return;
  }
  if (http_percent_decode(req->path + 4, key, sizeof key) != 0 || !kv_key_valid(key)) {
    http_text(resp, 400, BAD_KEY);
    return;
  }

  if (strcmp(req->method, "GET") == 0) {
    char *value;
    size_t len;
    rc = kv_get(c->data, key, 0, &value, &len);
    if (rc == KV_OK) http_body(resp, 200, "application/octet-stream", value, len);
    else if (rc == KV_ENOTFOUND) http_text(resp, 404, "no such key\n");
    else io_error(resp, "get", key, rc);
  } else if (strcmp(req->method, "PUT") == 0) {
    rc = kv_put(c->data, key, req->body, req->body_len);
    if (rc == KV_OK) http_text(resp, 201, "");
    else io_error(resp, "put", key, rc);
  } else {
    rc = kv_delete(c->data, key);
    if (rc == KV_OK) http_text(resp, 204, "");
    else if (rc == KV_ENOTFOUND) http_text(resp, 404, "no such key\n");
    else io_error(resp, "delete", key, rc);
  }
}

int run_store(const struct store_config *c) {
  struct http_server s;
  int rc = kv_init(c->data);
  if (rc != KV_OK) {
    log_err("kvd store: data directory %s: %s%s%s", c->data, kv_strerror(rc), rc == KV_EIO ? ": " : "",
            rc == KV_EIO ? strerror(errno) : "");
    return 1;
  }
  log_out("kvd store %s: data %s, values up to %zu bytes", KVD_VERSION, c->data, c->max_value);
  memset(&s, 0, sizeof s);
  s.mode = "store";
  s.listen_addr = c->listen;
  s.max_body = c->max_value;
  s.handler = handle;
  s.ctx = (void *)c;
  return http_serve(&s);
}
