/*
 * libkv: a tiny key/value store kept as one file per key in a directory.
 *
 *   kv_init(dir)                    create dir (one level) if missing, drop stale temp files
 *   kv_put(dir, key, val, len)      write atomically: temp file, fsync, rename, fsync dir
 *   kv_get(dir, key, &val, &len)    read a value (malloc'd, caller frees)
 *   kv_delete(dir, key)             remove a key
 *   kv_list(dir, &keys, &n)         every key, sorted (free with kv_list_free)
 *
 * Keys are 1..KV_KEY_MAX printable ASCII characters (0x21-0x7e) without '/',
 * '\\' or "..", and do not start with '.' (names starting with '.' are the
 * store's temp files). Every function returns KV_OK or a negative KV_E*;
 * after KV_EIO, errno tells why.
 */
#ifndef KV_H
#define KV_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KV_KEY_MAX 200

enum {
  KV_OK = 0,
  KV_ENOTFOUND = -1, /* no such key */
  KV_EBADKEY = -2,   /* key refused by kv_key_valid */
  KV_EIO = -3,       /* a system call failed; see errno */
  KV_ENOMEM = -4,    /* out of memory */
  KV_ETOOBIG = -5    /* value larger than the caller's limit */
};

/* 1 if key is acceptable, else 0. */
int kv_key_valid(const char *key);

/* A short English description of a KV_* code. */
const char *kv_strerror(int code);

int kv_init(const char *dir);
int kv_put(const char *dir, const char *key, const void *value, size_t len);

/* max_len: refuse (KV_ETOOBIG) a value longer than this; 0 means no limit.
 * *value is always NUL-terminated (not counted in *len). */
int kv_get(const char *dir, const char *key, size_t max_len, char **value, size_t *len);
int kv_delete(const char *dir, const char *key);

int kv_list(const char *dir, char ***keys, size_t *count);
void kv_list_free(char **keys, size_t count);

#ifdef __cplusplus
}
#endif

#endif
