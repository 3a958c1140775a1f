/* libkv: see kv.h. POSIX.1-2008 only. */
#define _POSIX_C_SOURCE 200809L

#include "kv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

#define TMP_PREFIX ".tmp-"

int kv_key_valid(const char *key) {
  size_t n;
  if (key == NULL || key[0] == '\0' || key[0] == '.') return 0;
  n = strlen(key);
  if (n > KV_KEY_MAX) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)key[i];
    if (c < 0x21 || c > 0x7e || c == '/' || c == '\\') return 0;
  }
  return strstr(key, "..") == NULL;
}

const char *kv_strerror(int code) {
  switch (code) {
    case KV_OK: return "ok";
    case KV_ENOTFOUND: return "no such key";
    case KV_EBADKEY: return "invalid key";
    case KV_EIO: return "I/O error";
    case KV_ENOMEM: return "out of memory";
    case KV_ETOOBIG: return "value too large";
    default: return "unknown error";
  }
}

/* dir + "/" + name into buf; KV_EIO with ENAMETOOLONG if it does not fit. */
static int join(char *buf, size_t size, const char *dir, const char *name) {
  int n = snprintf(buf, size, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= size) {
    errno = ENAMETOOLONG;
    return KV_EIO;
  }
  return KV_OK;
}

/* Make a rename or unlink in dir durable. Filesystems that cannot fsync a
 * directory (EINVAL) are tolerated. */
static int sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return KV_EIO;
  if (fsync(fd) != 0 && errno != EINVAL) {
    int e = errno;
    close(fd);
    errno = e;
    return KV_EIO;
  }
  close(fd);
  return KV_OK;
}

static int write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int kv_init(const char *dir) {
  struct stat st;
  DIR *d;
  struct dirent *e;
  if (mkdir(dir, 0750) != 0 && errno != EEXIST) return KV_EIO;
  if (stat(dir, &st) != 0) return KV_EIO;
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return KV_EIO;
  }
  /* Temp files left by a crash mid-put are garbage: the rename never happened. */
  d = opendir(dir);
  if (d == NULL) return KV_EIO;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) unlinkat(dirfd(d), e->d_name, 0);
  }
  closedir(d);
  return KV_OK;
}

int kv_put(const char *dir, const char *key, const void *value, size_t len) {
  static unsigned long counter;
  char final_path[PATH_MAX], tmp_path[PATH_MAX], tmp_name[64];
  int fd = -1, rc, e;
  if (!kv_key_valid(key)) return KV_EBADKEY;
  if ((rc = join(final_path, sizeof final_path, dir, key)) != KV_OK) return rc;
  for (int attempt = 0; fd < 0; attempt++) {
    snprintf(tmp_name, sizeof tmp_name, TMP_PREFIX "%ld-%lu", (long)getpid(), counter++);
    if ((rc = join(tmp_path, sizeof tmp_path, dir, tmp_name)) != KV_OK) return rc;
    fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0 && (errno != EEXIST || attempt > 100)) return KV_EIO;
  }
  if (write_all(fd, value, len) != 0 || fsync(fd) != 0) goto fail;
  if (close(fd) != 0) {
    fd = -1;
    goto fail;
  }
  fd = -1;
  if (rename(tmp_path, final_path) != 0) goto fail;
  return sync_dir(dir);
fail:
  e = errno;
  if (fd >= 0) close(fd);
  unlink(tmp_path);
  errno = e;
  return KV_EIO;
}

int kv_get(const char *dir, const char *key, size_t max_len, char **value, size_t *len) {
  char path[PATH_MAX];
  struct stat st;
  char *buf = NULL;
  size_t cap, used = 0;
  int fd, rc, e;
  *value = NULL;
  *len = 0;
  if (!kv_key_valid(key)) return KV_EBADKEY;
  if ((rc = join(path, sizeof path, dir, key)) != KV_OK) return rc;
  fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? KV_ENOTFOUND : KV_EIO;
  if (fstat(fd, &st) != 0) goto io_fail;
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return KV_ENOTFOUND;
  }
  if (max_len > 0 && (unsigned long long)st.st_size > (unsigned long long)max_len) {
    close(fd);
    return KV_ETOOBIG;
  }
  /* Values are replaced by rename, never rewritten, so the open file keeps its size;
   * read to EOF anyway. */
  cap = (size_t)st.st_size + 1;
  buf = malloc(cap);
  if (buf == NULL) {
    close(fd);
    return KV_ENOMEM;
  }
  for (;;) {
    ssize_t r;
    if (used + 1 >= cap) {
      char *bigger;
      if (max_len > 0 && used >= max_len) {
        free(buf);
        close(fd);
        return KV_ETOOBIG;
      }
      bigger = realloc(buf, cap * 2);
      if (bigger == NULL) {
        free(buf);
        close(fd);
        return KV_ENOMEM;
      }
      buf = bigger;
      cap *= 2;
    }
    r = read(fd, buf + used, cap - 1 - used);
    if (r < 0) {
      if (errno == EINTR) continue;
      goto io_fail;
    }
    if (r == 0) break;
    used += (size_t)r;
  }
  close(fd);
  buf[used] = '\0';
  *value = buf;
  *len = used;
  return KV_OK;
io_fail:
  e = errno;
  free(buf);
  close(fd);
  errno = e;
  return KV_EIO;
}

int kv_delete(const char *dir, const char *key) {
  char path[PATH_MAX];
  struct stat st;
  int rc;
  if (!kv_key_valid(key)) return KV_EBADKEY;
  if ((rc = join(path, sizeof path, dir, key)) != KV_OK) return rc;
  if (lstat(path, &st) != 0) return errno == ENOENT ? KV_ENOTFOUND : KV_EIO;
  if (!S_ISREG(st.st_mode)) return KV_ENOTFOUND;
  if (unlink(path) != 0) return errno == ENOENT ? KV_ENOTFOUND : KV_EIO;
  return sync_dir(dir);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void kv_list_free(char **keys, size_t count) {
  if (keys == NULL) return;
  for (size_t i = 0; i < count; i++) free(keys[i]);
  free(keys);
}

int kv_list(const char *dir, char ***keys, size_t *count) {
  DIR *d;
  struct dirent *e;
  char **out = NULL;
  size_t n = 0, cap = 0;
  *keys = NULL;
  *count = 0;
  d = opendir(dir);
  if (d == NULL) return KV_EIO;
  for (;;) {
    struct stat st;
    errno = 0;
    e = readdir(d);
    if (e == NULL) {
      if (errno != 0) {
        int err = errno;
        kv_list_free(out, n);
        closedir(d);
        errno = err;
        return KV_EIO;
      }
      break;
    }
    if (!kv_key_valid(e->d_name)) continue; /* ".", "..", temp files, strays */
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      char **bigger = realloc(out, ncap * sizeof *bigger);
      if (bigger == NULL) goto oom;
      out = bigger;
      cap = ncap;
    }
    out[n] = strdup(e->d_name);
    if (out[n] == NULL) goto oom;
    n++;
  }
  closedir(d);
  if (n > 1) qsort(out, n, sizeof *out, cmp_str);
  *keys = out;
  *count = n;
  return KV_OK;
oom:
  kv_list_free(out, n);
  closedir(d);
  return KV_ENOMEM;
}
