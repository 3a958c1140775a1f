/* kvd's HTTP/1.1 server and client: see http.h. */
#define _POSIX_C_SOURCE 200809L

#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 64
#define HEADER_TIMEOUT_MS 10000
#define BODY_TIMEOUT_MS 60000
#define SEND_TIMEOUT_S 30
#define LINGER_MS 2000
#define LINGER_BYTES (8u << 20)
#define SHUTDOWN_GRACE_MS 5000

/* ---- logging ------------------------------------------------------------ */

static void vlog(int fd, const char *fmt, va_list ap) {
  char line[4096];
  struct timespec ts;
  struct tm tm;
  size_t n;
  int r;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
  r = snprintf(line + n, sizeof line - n, ".%03ldZ ", (long)(ts.tv_nsec / 1000000));
  if (r > 0) n += (size_t)r;
  r = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  if (r > 0) n += (size_t)r < sizeof line - n - 1 ? (size_t)r : sizeof line - n - 2;
  line[n++] = '\n';
  {
    ssize_t w = write(fd, line, n); /* one write: lines from forked children do not interleave */
    (void)w;
  }
}

void log_out(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(STDOUT_FILENO, fmt, ap);
  va_end(ap);
}

void log_err(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(STDERR_FILENO, fmt, ap);
  va_end(ap);
}

/* ---- small helpers ------------------------------------------------------ */

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void set_cloexec(int fd) {
  int flags = fcntl(fd, F_GETFD);
  if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

static void set_nonblock(int fd, int on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
}

static void set_send_timeout(int fd, int seconds) {
  struct timeval tv = {seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int send_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

/* recv with an absolute deadline: >0 bytes, 0 at EOF, -1 on error (errno),
 * -2 on timeout. */
static ssize_t recv_until(int fd, char *buf, size_t len, long long deadline) {
  for (;;) {
    long long left = deadline - now_ms();
    struct pollfd p = {fd, POLLIN, 0};
    int r;
    if (left <= 0) return -2;
    r = poll(&p, 1, left > 100000 ? 100000 : (int)left);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) continue; /* re-check the deadline */
    for (;;) {
      ssize_t n = recv(fd, buf, len, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return n;
    }
  }
}

int http_percent_decode(const char *src, char *dst, size_t dst_size) {
  size_t o = 0;
  for (size_t i = 0; src[i] != '\0'; i++) {
    unsigned char c = (unsigned char)src[i];
    if (c == '%') {
      int v = 0;
      for (int k = 1; k <= 2; k++) {
        unsigned char h = (unsigned char)src[i + k];
        v <<= 4;
        if (h >= '0' && h <= '9') v |= h - '0';
        else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
        else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
        else return -1; /* also catches the string ending early */
      }
      if (v == 0) return -1;
      c = (unsigned char)v;
      i += 2;
    }
    if (o + 1 >= dst_size) return -1;
    dst[o++] = (char)c;
  }
  if (dst_size == 0) return -1;
  dst[o] = '\0';
  return 0;
}

/* ---- addresses ---------------------------------------------------------- */

static int split_addr(const char *addr, char *host, size_t host_len, char *port, size_t port_len, char *err,
                      size_t err_len) {
  const char *colon, *h = addr;
  size_t hl;
  long pn;
  char *end;
  if (addr[0] == '[') {
    const char *close = strchr(addr, ']');
    if (close == NULL || close[1] != ':') {
      snprintf(err, err_len, "'%s': expected [IPV6]:PORT", addr);
      return -1;
    }
    h = addr + 1;
    hl = (size_t)(close - h);
    colon = close + 1;
  } else {
    colon = strrchr(addr, ':');
    if (colon == NULL) {
      snprintf(err, err_len, "'%s': expected HOST:PORT", addr);
      return -1;
    }
    if (strchr(addr, ':') != colon) {
      snprintf(err, err_len, "'%s': write IPv6 addresses as [ADDRESS]:PORT", addr);
      return -1;
    }
    hl = (size_t)(colon - addr);
  }
  if (hl == 0 || hl >= host_len) {
    snprintf(err, err_len, "'%s': missing or overlong host", addr);
    return -1;
  }
  memcpy(host, h, hl);
  host[hl] = '\0';
  errno = 0;
  pn = strtol(colon + 1, &end, 10);
  if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 || pn < 1 || pn > 65535 ||
      strlen(colon + 1) >= port_len) {
    snprintf(err, err_len, "'%s': the port must be a number from 1 to 65535", addr);
    return -1;
  }
  snprintf(port, port_len, "%ld", pn);
  return 0;
}

int http_check_addr(const char *addr, char *err, size_t err_len) {
  char host[256], port[8];
  return split_addr(addr, host, sizeof host, port, sizeof port, err, err_len);
}

static struct addrinfo *resolve(const char *addr, int passive, char *err, size_t err_len) {
  char host[256], port[8];
  struct addrinfo hints, *res = NULL;
  int rc;
  if (split_addr(addr, host, sizeof host, port, sizeof port, err, err_len) != 0) return NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0) {
    snprintf(err, err_len, "'%s': %s", addr, gai_strerror(rc));
    return NULL;
  }
  return res;
}

static int listen_on(const char *addr, char *err, size_t err_len) {
  struct addrinfo *res = resolve(addr, 1, err, err_len), *ai;
  int fd = -1, saved = 0;
  if (res == NULL) return -1;
  for (ai = res; ai != NULL; ai = ai->ai_next) {
    int one = 1;
    fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) {
      saved = errno;
      continue;
    }
    set_cloexec(fd);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0) break;
    saved = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) snprintf(err, err_len, "'%s': %s", addr, strerror(saved));
  return fd;
}

static int connect_within(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms) {
  int rc, soerr = 0;
  socklen_t sl = sizeof soerr;
  struct pollfd p = {fd, POLLOUT, 0};
  long long deadline = now_ms() + timeout_ms;
  set_nonblock(fd, 1);
  rc = connect(fd, sa, len);
  if (rc != 0 && errno != EINPROGRESS && errno != EINTR) return -1;
  if (rc != 0) {
    for (;;) {
      long long left = deadline - now_ms();
      if (left <= 0) {
        errno = ETIMEDOUT;
        return -1;
      }
      rc = poll(&p, 1, (int)left);
      if (rc > 0) break;
      if (rc < 0 && errno != EINTR) return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) return -1;
    if (soerr != 0) {
      errno = soerr;
      return -1;
    }
  }
  set_nonblock(fd, 0);
  return 0;
}

/* ---- responses ---------------------------------------------------------- */

static const char *reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

void http_body(struct http_response *resp, int status, const char *content_type, char *body, size_t len) {
  free(resp->body);
  resp->status = status;
  resp->content_type = content_type;
  resp->body = body;
  resp->body_len = len;
}

void http_text(struct http_response *resp, int status, const char *text) {
  size_t len = strlen(text);
  char *copy = malloc(len + 1);
  if (copy == NULL) len = 0;
  else memcpy(copy, text, len + 1);
  http_body(resp, status, "text/plain; charset=utf-8", copy, len);
}

static void send_response(int fd, const struct http_response *resp) {
  char head[1024], date[64];
  time_t t = time(NULL);
  struct tm tm;
  int n;
  gmtime_r(&t, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (resp->status == 204) {
    n = snprintf(head, sizeof head, "HTTP/1.1 204 No Content\r\nDate: %s\r\nServer: kvd\r\nConnection: close\r\n%s\r\n",
                 date, resp->extra_headers);
  } else {
    n = snprintf(head, sizeof head,
                 "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: kvd\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n%s\r\n",
                 resp->status, reason(resp->status), date,
                 resp->content_type ? resp->content_type : "text/plain; charset=utf-8", resp->body_len,
                 resp->extra_headers);
  }
  if (n < 0 || (size_t)n >= sizeof head) return;
  if (send_all(fd, head, (size_t)n) != 0) return;
  if (resp->status != 204 && resp->body_len > 0) send_all(fd, resp->body, resp->body_len);
}

/* Close so that a client still sending (a body we refused) reads our answer
 * instead of a reset: stop writing, then discard input for a while. */
static void linger_close(int fd) {
  char junk[16384];
  size_t total = 0;
  long long deadline = now_ms() + LINGER_MS;
  shutdown(fd, SHUT_WR);
  while (total < LINGER_BYTES) {
    ssize_t n = recv_until(fd, junk, sizeof junk, deadline);
    if (n <= 0) break;
    total += (size_t)n;
  }
  close(fd);
}

/* ---- one connection ----------------------------------------------------- */

/* Index just past the blank line ending the header block, or 0. */
static size_t header_end(const char *buf, size_t used) {
  for (size_t i = 0; i < used; i++) {
    if (buf[i] == '\n') {
      size_t j = i + 1;
      if (j < used && buf[j] == '\r') j++;
      if (j < used && buf[j] == '\n') return j + 1;
    }
  }
  return 0;
}

static char *trim(char *s) {
  char *e;
  while (*s == ' ' || *s == '\t') s++;
  e = s + strlen(s);
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) *--e = '\0';
  return s;
}

/* Parses the request line and headers (NUL-terminated, lines ending in \n).
 * Returns 0, or an HTTP status to refuse with (and a message in msg). */
struct parsed {
  int has_length;
  size_t length;
  int chunked;
  int expect_continue;
};

static int parse_head(char *head, struct http_request *req, struct parsed *pr, char *msg, size_t msg_len) {
  char *line = head, *next, *sp1, *sp2;
  const char *target;
  int first = 1;
  memset(pr, 0, sizeof *pr);
  for (; *line != '\0'; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    else next = line + strlen(line);
    {
      size_t l = strlen(line);
      if (l > 0 && line[l - 1] == '\r') line[l - 1] = '\0';
    }
    if (first) {
      size_t ml, tl;
      first = 0;
      sp1 = strchr(line, ' ');
      sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
      if (sp1 == NULL || sp2 == NULL || strchr(sp2 + 1, ' ') != NULL) {
        snprintf(msg, msg_len, "malformed request line\n");
        return 400;
      }
      ml = (size_t)(sp1 - line);
      if (ml == 0 || ml >= sizeof req->method) {
        snprintf(msg, msg_len, "bad method\n");
        return 400;
      }
      for (size_t i = 0; i < ml; i++)
        if (line[i] < 'A' || line[i] > 'Z') {
          snprintf(msg, msg_len, "bad method\n");
          return 400;
        }
      memcpy(req->method, line, ml);
      req->method[ml] = '\0';
      if (strncmp(sp2 + 1, "HTTP/", 5) != 0) {
        snprintf(msg, msg_len, "malformed request line\n");
        return 400;
      }
      if (strcmp(sp2 + 1, "HTTP/1.1") != 0 && strcmp(sp2 + 1, "HTTP/1.0") != 0) {
        snprintf(msg, msg_len, "only HTTP/1.0 and HTTP/1.1\n");
        return 505;
      }
      *sp2 = '\0';
      target = sp1 + 1;
      if (strncmp(target, "http://", 7) == 0 || strncmp(target, "https://", 8) == 0) {
        const char *slash = strchr(strstr(target, "//") + 2, '/');
        target = slash ? slash : "/";
      }
      tl = strlen(target);
      if (target[0] != '/' || tl >= sizeof req->target) {
        snprintf(msg, msg_len, tl >= sizeof req->target ? "request target too long\n" : "bad request target\n");
        return 400;
      }
      for (size_t i = 0; i < tl; i++)
        if ((unsigned char)target[i] < 0x21 || (unsigned char)target[i] > 0x7e) {
          snprintf(msg, msg_len, "bad request target\n");
          return 400;
        }
      memcpy(req->target, target, tl + 1);
      memcpy(req->path, target, tl + 1);
      {
        char *q = strchr(req->path, '?');
        if (q) *q = '\0';
      }
      continue;
    }
    if (*line == '\0') break;
    if (*line == ' ' || *line == '\t') {
      snprintf(msg, msg_len, "folded header lines are not accepted\n");
      return 400;
    }
    {
      char *colon = strchr(line, ':'), *ws = strpbrk(line, " \t"), *value;
      if (colon == NULL || colon == line || (ws != NULL && ws < colon)) {
        snprintf(msg, msg_len, "malformed header line\n");
        return 400;
      }
      *colon = '\0';
      value = trim(colon + 1);
      if (strcasecmp(line, "Content-Length") == 0) {
        size_t v = 0, digits = strlen(value);
        if (digits == 0 || digits > 18 || strspn(value, "0123456789") != digits) {
          snprintf(msg, msg_len, "bad Content-Length\n");
          return 400;
        }
        for (size_t i = 0; i < digits; i++) v = v * 10 + (size_t)(value[i] - '0');
        if (pr->has_length && pr->length != v) {
          snprintf(msg, msg_len, "conflicting Content-Length headers\n");
          return 400;
        }
        pr->has_length = 1;
        pr->length = v;
      } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
        pr->chunked = 1;
      } else if (strcasecmp(line, "Expect") == 0) {
        if (strcasecmp(value, "100-continue") != 0) {
          snprintf(msg, msg_len, "unsupported expectation\n");
          return 417;
        }
        pr->expect_continue = 1;
      }
    }
  }
  if (first) {
    snprintf(msg, msg_len, "empty request\n");
    return 400;
  }
  if (pr->chunked) {
    snprintf(msg, msg_len, "send the body with a Content-Length (chunked transfer coding is not supported)\n");
    return 411;
  }
  return 0;
}

static void serve_connection(const struct http_server *s, int fd, const char *peer) {
  struct http_request req;
  struct http_response resp;
  struct parsed pr;
  char *buf = NULL, msg[256];
  size_t used = 0, end = 0;
  long long t0 = now_ms(), deadline = t0 + HEADER_TIMEOUT_MS;
  int refuse = 0;

  memset(&req, 0, sizeof req);
  memset(&resp, 0, sizeof resp);
  memset(&pr, 0, sizeof pr);
  snprintf(req.peer, sizeof req.peer, "%s", peer);
  set_send_timeout(fd, SEND_TIMEOUT_S);

  buf = malloc(HTTP_MAX_HEADER_BYTES + 1);
  if (buf == NULL) goto out;
  while ((end = header_end(buf, used)) == 0) {
    ssize_t n;
    if (used == HTTP_MAX_HEADER_BYTES) {
      refuse = 431;
      snprintf(msg, sizeof msg, "request header larger than %d bytes\n", HTTP_MAX_HEADER_BYTES);
      break;
    }
    n = recv_until(fd, buf + used, HTTP_MAX_HEADER_BYTES - used, deadline);
    if (n == 0 || n == -1) goto out; /* the client went away */
    if (n == -2) {
      if (used == 0) goto out; /* connected, never spoke */
      refuse = 408;
      snprintf(msg, sizeof msg, "timed out reading the request header\n");
      break;
    }
    used += (size_t)n;
  }

  if (!refuse) {
    char saved = buf[end];
    buf[end] = '\0';
    refuse = parse_head(buf, &req, &pr, msg, sizeof msg);
    buf[end] = saved;
  }
  if (!refuse && pr.length > s->max_body) {
    refuse = 413;
    snprintf(msg, sizeof msg, "request body of %zu bytes is larger than the limit of %zu bytes\n", pr.length,
             s->max_body);
  }
  if (!refuse) {
    size_t have = used - end;
    req.content_length = pr.length;
    req.body = malloc(pr.length + 1);
    if (req.body == NULL) {
      refuse = 503;
      snprintf(msg, sizeof msg, "out of memory\n");
    } else {
      if (have > pr.length) have = pr.length; /* pipelined requests are not served */
      memcpy(req.body, buf + end, have);
      if (pr.expect_continue && have < pr.length) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        send_all(fd, cont, sizeof cont - 1);
      }
      deadline = now_ms() + BODY_TIMEOUT_MS;
      while (have < pr.length) {
        ssize_t n = recv_until(fd, req.body + have, pr.length - have, deadline);
        if (n == -2) {
          refuse = 408;
          snprintf(msg, sizeof msg, "timed out reading the request body\n");
          break;
        }
        if (n <= 0) {
          refuse = 400;
          snprintf(msg, sizeof msg, "request body shorter than its Content-Length\n");
          break;
        }
        have += (size_t)n;
      }
      req.body[have] = '\0';
      req.body_len = have;
    }
  }

  if (refuse) {
    http_text(&resp, refuse, msg);
  } else {
    s->handler(&req, &resp, s->ctx);
    if (resp.status == 0) http_text(&resp, 500, "internal error\n");
  }
  send_response(fd, &resp);
  log_out("%s \"%s %s\" %d %zu %lldms%s%s", req.peer, req.method[0] ? req.method : "-",
          req.target[0] ? req.target : "-", resp.status, resp.status == 204 ? (size_t)0 : resp.body_len,
          now_ms() - t0, resp.log_note[0] ? " " : "", resp.log_note);
out:
  free(buf);
  free(req.body);
  free(resp.body);
  linger_close(fd);
}

/* ---- the accept loop ---------------------------------------------------- */

static int sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t got_signal;

static void on_signal(int sig) {
  int e = errno;
  got_signal = sig;
  if (sig_pipe[1] >= 0) {
    char c = 1;
    ssize_t w = write(sig_pipe[1], &c, 1);
    (void)w;
  }
  errno = e;
}

static pid_t children[MAX_CHILDREN];
static int nchildren;

static void reap(void) {
  pid_t pid;
  while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
    for (int i = 0; i < nchildren; i++)
      if (children[i] == pid) {
        children[i] = children[--nchildren];
        break;
      }
  }
}

int http_serve(const struct http_server *s) {
  char err[512];
  struct sigaction sa;
  sigset_t block, old;
  int lfd = listen_on(s->listen_addr, err, sizeof err);
  if (lfd < 0) {
    log_err("kvd %s: cannot listen on %s", s->mode, err);
    return 1;
  }
  if (pipe(sig_pipe) != 0) {
    log_err("kvd %s: pipe: %s", s->mode, strerror(errno));
    return 1;
  }
  for (int i = 0; i < 2; i++) {
    set_cloexec(sig_pipe[i]);
    set_nonblock(sig_pipe[i], 1);
  }
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);

  log_out("kvd %s: listening on %s", s->mode, s->listen_addr);
  while (!got_signal) {
    struct pollfd p[2] = {{lfd, POLLIN, 0}, {sig_pipe[0], POLLIN, 0}};
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char peer[64] = "-";
    int cfd, r;
    pid_t pid;
    reap();
    r = poll(p, 2, 1000);
    if (r < 0) {
      if (errno == EINTR) continue;
      log_err("kvd %s: poll: %s", s->mode, strerror(errno));
      break;
    }
    if (p[1].revents) {
      char junk[16];
      while (read(sig_pipe[0], junk, sizeof junk) > 0) {
      }
      continue;
    }
    if (!(p[0].revents & POLLIN)) continue;
    cfd = accept(lfd, (struct sockaddr *)&ss, &sl);
    if (cfd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        log_err("kvd %s: accept: %s", s->mode, strerror(errno));
        sleep_ms(100);
      }
      continue;
    }
    set_cloexec(cfd);
    getnameinfo((struct sockaddr *)&ss, sl, peer, sizeof peer, NULL, 0, NI_NUMERICHOST);
    while (nchildren >= MAX_CHILDREN && !got_signal) {
      sleep_ms(10);
      reap();
    }
    sigprocmask(SIG_BLOCK, &block, &old);
    pid = fork();
    if (pid == 0) {
      sa.sa_handler = SIG_DFL;
      sigaction(SIGTERM, &sa, NULL);
      sigaction(SIGINT, &sa, NULL);
      sigprocmask(SIG_SETMASK, &old, NULL);
      close(lfd);
      close(sig_pipe[0]);
      close(sig_pipe[1]);
      sig_pipe[0] = sig_pipe[1] = -1;
      serve_connection(s, cfd, peer);
      _exit(0);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
      struct http_response resp;
      memset(&resp, 0, sizeof resp);
      log_err("kvd %s: fork: %s", s->mode, strerror(errno));
      http_text(&resp, 503, "server busy\n");
      send_response(cfd, &resp);
      free(resp.body);
    } else {
      children[nchildren++] = pid;
    }
    close(cfd);
  }
  close(lfd);
  {
    long long deadline = now_ms() + SHUTDOWN_GRACE_MS;
    reap();
    while (nchildren > 0 && now_ms() < deadline) {
      sleep_ms(20);
      reap();
    }
    for (int i = 0; i < nchildren; i++) kill(children[i], SIGTERM);
  }
  log_out("kvd %s: stopped (signal %d)", s->mode, (int)got_signal);
  return 0;
}

/* ---- the client --------------------------------------------------------- */

int http_call(const char *addr, const char *method, const char *target, const char *body, size_t body_len,
              int connect_ms, int io_ms, size_t max_response, struct http_answer *answer, char *err,
              size_t err_len) {
  struct addrinfo *res, *ai;
  char head[HTTP_MAX_TARGET + 512];
  char *buf = NULL, *p, *hdr_end_p;
  size_t used = 0, cap, end, limit = max_response + HTTP_MAX_HEADER_BYTES;
  int fd = -1, saved = 0, n, send_failed = 0;
  long long deadline;

  memset(answer, 0, sizeof *answer);
  res = resolve(addr, 0, err, err_len);
  if (res == NULL) return HTTP_CALL_UNREACHABLE;
  for (ai = res; ai != NULL; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) {
      saved = errno;
      continue;
    }
    set_cloexec(fd);
    if (connect_within(fd, ai->ai_addr, ai->ai_addrlen, connect_ms) == 0) break;
    saved = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    snprintf(err, err_len, "connect: %s", strerror(saved));
    return HTTP_CALL_UNREACHABLE;
  }
  set_send_timeout(fd, (io_ms + 999) / 1000);

  if (body_len > 0 || strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0)
    n = snprintf(head, sizeof head,
                 "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: kvd\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                 method, target, addr, body_len);
  else
    n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: kvd\r\nConnection: close\r\n\r\n",
                 method, target, addr);
  if (n < 0 || (size_t)n >= sizeof head) {
    close(fd);
    snprintf(err, err_len, "request target too long");
    return HTTP_CALL_BAD_ANSWER;
  }
  /* A peer that refuses the body early may close while we send; its answer can still be read. */
  if (send_all(fd, head, (size_t)n) != 0 || (body_len > 0 && send_all(fd, body, body_len) != 0)) {
    saved = errno;
    send_failed = 1;
  }

  cap = 8192;
  buf = malloc(cap + 1);
  if (buf == NULL) {
    close(fd);
    snprintf(err, err_len, "out of memory");
    return HTTP_CALL_BAD_ANSWER;
  }
  deadline = now_ms() + io_ms;
  for (;;) {
    ssize_t r;
    if (used == cap) {
      char *bigger;
      if (cap >= limit) {
        free(buf);
        close(fd);
        snprintf(err, err_len, "answer larger than %zu bytes", limit);
        return HTTP_CALL_BAD_ANSWER;
      }
      cap = cap * 2 > limit ? limit : cap * 2;
      bigger = realloc(buf, cap + 1);
      if (bigger == NULL) {
        free(buf);
        close(fd);
        snprintf(err, err_len, "out of memory");
        return HTTP_CALL_BAD_ANSWER;
      }
      buf = bigger;
    }
    r = recv_until(fd, buf + used, cap - used, deadline);
    if (r > 0) {
      used += (size_t)r;
      continue;
    }
    if (r == 0) break;
    if (used == 0) {
      free(buf);
      close(fd);
      if (r == -2) snprintf(err, err_len, "no answer within %d ms", io_ms);
      else snprintf(err, err_len, "%s: %s", send_failed ? "send" : "recv", strerror(send_failed ? saved : errno));
      return HTTP_CALL_UNREACHABLE;
    }
    free(buf);
    close(fd);
    snprintf(err, err_len, r == -2 ? "answer incomplete after %d ms" : "connection lost mid-answer", io_ms);
    return HTTP_CALL_BAD_ANSWER;
  }
  close(fd);
  buf[used] = '\0';

  /* Skip interim 1xx answers, then parse the status line and headers. */
  p = buf;
  for (;;) {
    size_t avail = used - (size_t)(p - buf);
    if (avail < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' || p[9] < '1' || p[9] > '5' || p[10] < '0' ||
        p[10] > '9' || p[11] < '0' || p[11] > '9') {
      free(buf);
      snprintf(err, err_len, "not an HTTP answer");
      return HTTP_CALL_BAD_ANSWER;
    }
    end = header_end(p, avail);
    if (end == 0) {
      free(buf);
      snprintf(err, err_len, "answer header incomplete");
      return HTTP_CALL_BAD_ANSWER;
    }
    answer->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (answer->status >= 200) break;
    p += end;
  }
  hdr_end_p = p + end;
  {
    int has_length = 0;
    size_t length = 0, avail;
    char *line = strchr(p, '\n') + 1;
    while (line < hdr_end_p) {
      char *nl = memchr(line, '\n', (size_t)(hdr_end_p - line));
      char *colon;
      if (nl == NULL) break;
      *nl = '\0';
      colon = strchr(line, ':');
      if (colon) {
        char *value;
        *colon = '\0';
        value = trim(colon + 1);
        if (strcasecmp(line, "Content-Type") == 0) {
          snprintf(answer->content_type, sizeof answer->content_type, "%s", value);
        } else if (strcasecmp(line, "Content-Length") == 0) {
          size_t digits = strlen(value);
          if (digits == 0 || digits > 18 || strspn(value, "0123456789") != digits) {
            free(buf);
            snprintf(err, err_len, "bad Content-Length in the answer");
            return HTTP_CALL_BAD_ANSWER;
          }
          has_length = 1;
          length = 0;
          for (size_t i = 0; i < digits; i++) length = length * 10 + (size_t)(value[i] - '0');
        }
      }
      line = nl + 1;
    }
    avail = used - (size_t)(hdr_end_p - buf);
    if (has_length) {
      if (avail < length) {
        free(buf);
        snprintf(err, err_len, "answer body truncated (%zu of %zu bytes)", avail, length);
        return HTTP_CALL_BAD_ANSWER;
      }
      avail = length;
    }
    answer->body = malloc(avail + 1);
    if (answer->body == NULL) {
      free(buf);
      snprintf(err, err_len, "out of memory");
      return HTTP_CALL_BAD_ANSWER;
    }
    memcpy(answer->body, hdr_end_p, avail);
    answer->body[avail] = '\0';
    answer->body_len = avail;
  }
  free(buf);
  return 0;
}
