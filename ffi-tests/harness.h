/*
 * Shared helpers of the C ABI tests: assertions that stop the program
 * with a message, temporary directories (removed at exit), and short
 * ways to open a store and write or read a few keys.
 */
#ifndef ELOQSTORE_FFI_HARNESS_H
#define ELOQSTORE_FFI_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "eloqstore.h"

/* Stops the program (exit status 1) after printing where and why. */
void h_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
/* Counts a passed check (thread-safe). */
void h_pass(void);
/* Prints "<name>: N checks passed" and returns 0 (for main). */
int h_done(const char *name);

#define CHECK(cond)                                                       \
  do {                                                                    \
    if (!(cond)) h_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);   \
    h_pass();                                                             \
  } while (0)

#define CHECK_MSG(cond, ...)                                              \
  do {                                                                    \
    if (!(cond)) h_fail(__FILE__, __LINE__, __VA_ARGS__);                 \
    h_pass();                                                             \
  } while (0)

#define CHECK_EQ(a, b)                                                    \
  do {                                                                    \
    unsigned long long h_a_ = (unsigned long long)(a);                    \
    unsigned long long h_b_ = (unsigned long long)(b);                    \
    if (h_a_ != h_b_)                                                     \
      h_fail(__FILE__, __LINE__, "CHECK_EQ(%s, %s): %llu != %llu", #a, #b, \
             h_a_, h_b_);                                                 \
    h_pass();                                                             \
  } while (0)

/* An eloqstore_error result compared with the expected code, by name. */
#define CHECK_ERR(expr, want)                                             \
  do {                                                                    \
    unsigned h_got_ = (unsigned)(expr);                                   \
    unsigned h_want_ = (unsigned)(want);                                  \
    if (h_got_ != h_want_)                                                \
      h_fail(__FILE__, __LINE__, "%s: got %s (%u), want %s (%u); last error: %s", \
             #expr, h_err_name(h_got_), h_got_, h_err_name(h_want_),      \
             h_want_, eloqstore_last_error_message());                    \
    h_pass();                                                             \
  } while (0)

#define CHECK_OK(expr) CHECK_ERR(expr, ELOQSTORE_OK)

/* Two NUL-terminated strings are equal. */
#define CHECK_STR(a, b)                                                   \
  do {                                                                    \
    const char *h_sa_ = (a);                                              \
    const char *h_sb_ = (b);                                              \
    if (h_sa_ == NULL || h_sb_ == NULL || strcmp(h_sa_, h_sb_) != 0)      \
      h_fail(__FILE__, __LINE__, "CHECK_STR(%s, %s): \"%s\" != \"%s\"",   \
             #a, #b, h_sa_ ? h_sa_ : "(null)", h_sb_ ? h_sb_ : "(null)"); \
    h_pass();                                                             \
  } while (0)

/* `(ptr, len)` holds exactly the NUL-terminated string `s`. */
#define CHECK_BYTES(ptr, len, s)                                          \
  do {                                                                    \
    const void *h_p_ = (ptr);                                             \
    size_t h_l_ = (len);                                                  \
    const char *h_s_ = (s);                                               \
    if (h_l_ != strlen(h_s_) || (h_l_ > 0 && memcmp(h_p_, h_s_, h_l_) != 0)) \
      h_fail(__FILE__, __LINE__, "CHECK_BYTES(%s): \"%.*s\" != \"%s\"",   \
             #ptr, (int)h_l_, h_p_ ? (const char *)h_p_ : "", h_s_);      \
    h_pass();                                                             \
  } while (0)

/* snprintf that fails the test instead of truncating. */
void h_format(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The name of an error code ("ELOQSTORE_OK", ...). */
const char *h_err_name(unsigned code);

/* A fresh directory under $TMPDIR (or /tmp), removed at exit. */
const char *h_tempdir(void);
/* Removes a directory tree (like rm -rf); true on success. */
bool h_remove_tree(const char *path);
/* Number of entries in a directory whose name starts with `prefix`
   (-1 if the directory cannot be read). */
int h_count_files(const char *dir, const char *prefix);
/* Total size of the files in `dir` whose name starts with `prefix`. */
uint64_t h_file_bytes(const char *dir, const char *prefix);
/* Whether `path` exists. */
bool h_exists(const char *path);

/* Milliseconds since the epoch (for expire_ts). */
uint64_t h_now_ms(void);
/* Sleeps for `ms` milliseconds. */
void h_sleep_ms(unsigned ms);

/* Options with store path "<dir>/store" (dir NULL: in memory) and
   `threads` shard threads. */
eloqstore_options *h_options(const char *dir, unsigned threads);
/* store_new + store_start, checked. */
eloqstore_store *h_open(const eloqstore_options *opts);

/* Sets the table of a request, checked. */
void h_set_table(eloqstore_request *req, const char *table, uint32_t partition);
/* Writes keys `<prefix><i:05>` = `<vprefix><i:05>` for i in [from, to),
   timestamp `ts`, in one batch; returns the error. */
eloqstore_error h_write_range(eloqstore_store *store, const char *table,
                              uint32_t partition, const char *prefix,
                              const char *vprefix, unsigned from, unsigned to,
                              uint64_t ts);
/* Reads `key`; on success copies the value (NUL-terminated, truncated to
   cap - 1) into `buf`. Returns the error. */
eloqstore_error h_read(eloqstore_store *store, const char *table,
                       uint32_t partition, const char *key, char *buf,
                       size_t cap);
/* Scans [begin, end) (NULL = unbounded) without limits; returns the
   number of entries (checked to be OK or NOT_FOUND, which counts 0). */
size_t h_scan_count(eloqstore_store *store, const char *table,
                    uint32_t partition, const char *begin, const char *end);

#endif /* ELOQSTORE_FFI_HARNESS_H */
