/* kvd: a key/value service in one binary.
 *
 *   kvd store --listen ADDR:PORT --data DIR [--max-value-bytes N]
 *   kvd web   --listen ADDR:PORT --backend ADDR:PORT [--backend ...]
 *             [--instance-name NAME] [--max-body-bytes N]
 *
 * Both serve HTTP/1.1 (one request per connection), log one line per request
 * to stdout, errors to stderr, and exit 0 on SIGTERM.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "kvd.h"

static const char USAGE[] =
    "usage: kvd store --listen ADDR:PORT --data DIR [--max-value-bytes N]\n"
    "       kvd web --listen ADDR:PORT --backend ADDR:PORT [--backend ADDR:PORT ...]\n"
    "               [--instance-name NAME] [--max-body-bytes N]\n"
    "       kvd --version\n"
    "\n"
    "store  keeps values as files in DIR (created if missing); values up to N bytes\n"
    "       (default 1048576). Routes: GET /health, GET /kv, PUT|GET|DELETE /kv/<key>.\n"
    "web    front end: GET / lists the backends up/down, GET /health, and\n"
    "       GET|PUT|DELETE /kv[/<key>] go to the first backend that answers\n"
    "       (request bodies up to N bytes, default 16777216).\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "kvd: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n\n%s", USAGE);
  return 2;
}

static int parse_size(const char *s, size_t *out) {
  char *end;
  unsigned long long v;
  if (s[0] < '0' || s[0] > '9') return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v == 0 || v > (unsigned long long)((size_t)-1 / 2)) return -1;
  *out = (size_t)v;
  return 0;
}

/* "--name VALUE" or "--name=VALUE": the value, advancing *i; NULL if argv[*i] is another option. */
static const char *option_value(int argc, char **argv, int *i, const char *name, int *missing) {
  size_t n = strlen(name);
  const char *a = argv[*i];
  *missing = 0;
  if (strncmp(a, name, n) != 0) return NULL;
  if (a[n] == '=') return a + n + 1;
  if (a[n] != '\0') return NULL;
  if (*i + 1 >= argc) {
    *missing = 1;
    return NULL;
  }
  return argv[++*i];
}

static int run(int argc, char **argv, const char **backends) {
  const char *mode, *listen = NULL, *data = NULL, *name = "kv-web";
  size_t nbackends = 0, max_value = 1048576, max_body = 16777216;
  char err[512];
  int is_store;

  if (argc < 2) return usage_error("%s", "no mode given");
  mode = argv[1];
  if (strcmp(mode, "--help") == 0 || strcmp(mode, "-h") == 0 || strcmp(mode, "help") == 0) {
    fputs(USAGE, stdout);
    return 0;
  }
  if (strcmp(mode, "--version") == 0) {
    printf("kvd %s\n", KVD_VERSION);
    return 0;
  }
  if (strcmp(mode, "store") != 0 && strcmp(mode, "web") != 0) return usage_error("unknown mode '%s'", mode);
  is_store = strcmp(mode, "store") == 0;

  for (int i = 2; i < argc; i++) {
    const char *v;
    int missing;
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(USAGE, stdout);
      return 0;
    }
    if ((v = option_value(argc, argv, &i, "--listen", &missing)) != NULL) {
      listen = v;
    } else if (!missing && is_store && (v = option_value(argc, argv, &i, "--data", &missing)) != NULL) {
      data = v;
    } else if (!missing && is_store && (v = option_value(argc, argv, &i, "--max-value-bytes", &missing)) != NULL) {
      if (parse_size(v, &max_value) != 0) return usage_error("--max-value-bytes: '%s' is not a positive number", v);
    } else if (!missing && !is_store && (v = option_value(argc, argv, &i, "--backend", &missing)) != NULL) {
      backends[nbackends++] = v;
    } else if (!missing && !is_store && (v = option_value(argc, argv, &i, "--instance-name", &missing)) != NULL) {
      name = v;
    } else if (!missing && !is_store && (v = option_value(argc, argv, &i, "--max-body-bytes", &missing)) != NULL) {
      if (parse_size(v, &max_body) != 0) return usage_error("--max-body-bytes: '%s' is not a positive number", v);
    } else if (missing) {
      return usage_error("%s needs a value", argv[i]);
    } else {
      return usage_error("unknown option '%s'", argv[i]);
    }
  }
  if (listen == NULL) return usage_error("%s", "--listen ADDR:PORT is required");
  if (http_check_addr(listen, err, sizeof err) != 0) return usage_error("--listen %s", err);

  if (is_store) {
    struct store_config c;
    if (data == NULL || data[0] == '\0') return usage_error("%s", "--data DIR is required");
    c.listen = listen;
    c.data = data;
    c.max_value = max_value;
    return run_store(&c);
  } else {
    struct web_config c;
    if (nbackends == 0) return usage_error("%s", "at least one --backend ADDR:PORT is required");
    for (size_t i = 0; i < nbackends; i++)
      if (http_check_addr(backends[i], err, sizeof err) != 0) return usage_error("--backend %s", err);
    c.listen = listen;
    c.backends = backends;
    c.nbackends = nbackends;
    c.instance_name = name;
    c.max_body = max_body;
    return run_web(&c);
  }
}

int main(int argc, char **argv) {
  const char **backends = calloc((size_t)argc, sizeof *backends); /* every --backend value */
  int rc;
  if (backends == NULL) return 1;
  rc = run(argc, argv, backends);
  free(backends);
  return rc;
}
