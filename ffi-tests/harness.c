#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static atomic_ulong checks_passed;

void h_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n");
  fflush(stderr);
  exit(1);
}

void h_format(char *buf, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, cap, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= cap)
    h_fail(__FILE__, __LINE__, "h_format: %d bytes do not fit in %zu", n, cap);
}

void h_pass(void) { atomic_fetch_add(&checks_passed, 1); }

int h_done(const char *name) {
  unsigned long n = atomic_load(&checks_passed);
  if (n == 0) h_fail(__FILE__, __LINE__, "%s: no check ran", name);
  printf("%s: %lu checks passed\n", name, n);
  return 0;
}

const char *h_err_name(unsigned code) {
  static const char *const names[] = {
      "ELOQSTORE_OK",          "ELOQSTORE_INVALID_ARGS",
      "ELOQSTORE_NOT_FOUND",   "ELOQSTORE_NOT_RUNNING",
      "ELOQSTORE_CORRUPTED",   "ELOQSTORE_END_OF_FILE",
      "ELOQSTORE_OUT_OF_SPACE", "ELOQSTORE_OUT_OF_MEM",
      "ELOQSTORE_OPEN_FILE_LIMIT", "ELOQSTORE_TRY_AGAIN",
      "ELOQSTORE_BUSY",        "ELOQSTORE_TIMEOUT",
      "ELOQSTORE_NO_PERMISSION", "ELOQSTORE_CLOUD_ERR",
      "ELOQSTORE_IO_FAIL",     "ELOQSTORE_EXPIRED_TERM",
      "ELOQSTORE_CLOUD_NO_MANIFEST",
  };
  if (code < sizeof names / sizeof names[0]) return names[code];
  return "(unknown code)";
}

/* --- temporary directories ---------------------------------------------- */

#define MAX_TEMP_DIRS 16
static char *temp_dirs[MAX_TEMP_DIRS];
static int n_temp_dirs;
static pthread_mutex_t temp_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t temp_owner;

static void remove_temp_dirs(void) {
  /* Only the process that made them (not a forked child) cleans up. */
  if (getpid() != temp_owner) return;
  pthread_mutex_lock(&temp_lock);
  for (int i = 0; i < n_temp_dirs; i++) {
    h_remove_tree(temp_dirs[i]);
    free(temp_dirs[i]);
    temp_dirs[i] = NULL;
  }
  n_temp_dirs = 0;
  pthread_mutex_unlock(&temp_lock);
}

const char *h_tempdir(void) {
  const char *base = getenv("TMPDIR");
  if (base == NULL || base[0] == '\0') base = "/tmp";
  size_t n = strlen(base) + sizeof "/eloqstore-ffi-XXXXXX";
  char *path = malloc(n);
  if (path == NULL) h_fail(__FILE__, __LINE__, "out of memory");
  snprintf(path, n, "%s/eloqstore-ffi-XXXXXX", base);
  if (mkdtemp(path) == NULL)
    h_fail(__FILE__, __LINE__, "mkdtemp(%s): %s", path, strerror(errno));
  pthread_mutex_lock(&temp_lock);
  if (n_temp_dirs == MAX_TEMP_DIRS)
    h_fail(__FILE__, __LINE__, "too many temporary directories");
  if (n_temp_dirs == 0) {
    temp_owner = getpid();
    static bool registered;
    if (!registered) {
      atexit(remove_temp_dirs);
      registered = true;
    }
  }
  temp_dirs[n_temp_dirs++] = path;
  pthread_mutex_unlock(&temp_lock);
  return path;
}

static int remove_one(const char *path, const struct stat *sb, int flag,
                      struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  if (remove(path) != 0 && errno != ENOENT) return -1;
  return 0;
}

bool h_remove_tree(const char *path) {
  return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0;
}

int h_count_files(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  if (d == NULL) return -1;
  int n = 0;
  struct dirent *e;
  size_t pl = strlen(prefix);
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (strncmp(e->d_name, prefix, pl) == 0) n++;
  }
  closedir(d);
  return n;
}

uint64_t h_file_bytes(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  if (d == NULL) return 0;
  uint64_t total = 0;
  struct dirent *e;
  size_t pl = strlen(prefix);
  char path[4096];
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, prefix, pl) != 0) continue;
    h_format(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) total += (uint64_t)st.st_size;
  }
  closedir(d);
  return total;
}

bool h_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

uint64_t h_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void h_sleep_ms(unsigned ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* --- store helpers ------------------------------------------------------- */

eloqstore_options *h_options(const char *dir, unsigned threads) {
  eloqstore_options *o = eloqstore_options_new();
  CHECK(o != NULL);
  if (dir != NULL) {
    char path[4096];
    h_format(path, sizeof path, "%s/store", dir);
    const char *paths[] = {path};
    CHECK_OK(eloqstore_options_set_store_paths(o, paths, 1));
  } else {
    CHECK_OK(eloqstore_options_set_store_paths(o, NULL, 0));
  }
  CHECK_OK(eloqstore_options_set_uint(o, "num_threads", threads));
  return o;
}

eloqstore_store *h_open(const eloqstore_options *opts) {
  eloqstore_store *s = NULL;
  CHECK_OK(eloqstore_store_new(opts, &s));
  CHECK(s != NULL);
  CHECK_OK(eloqstore_store_start(s, 0));
  CHECK(!eloqstore_store_is_stopped(s));
  return s;
}

void h_set_table(eloqstore_request *req, const char *table, uint32_t partition) {
  CHECK_OK(eloqstore_request_set_table(req, (const uint8_t *)table,
                                       strlen(table), partition));
}

eloqstore_error h_write_range(eloqstore_store *store, const char *table,
                              uint32_t partition, const char *prefix,
                              const char *vprefix, unsigned from, unsigned to,
                              uint64_t ts) {
  eloqstore_request *w = eloqstore_request_new(ELOQSTORE_REQ_BATCH_WRITE);
  CHECK(w != NULL);
  h_set_table(w, table, partition);
  char k[256], v[256];
  for (unsigned i = from; i < to; i++) {
    int kl = snprintf(k, sizeof k, "%s%05u", prefix, i);
    int vl = snprintf(v, sizeof v, "%s%05u", vprefix, i);
    CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)k, (size_t)kl,
                                 (const uint8_t *)v, (size_t)vl, ts,
                                 ELOQSTORE_UPSERT, 0));
  }
  CHECK_EQ(eloqstore_batch_len(w), to - from);
  eloqstore_error e = eloqstore_store_exec_sync(store, w);
  eloqstore_request_free(w);
  return e;
}

eloqstore_error h_read(eloqstore_store *store, const char *table,
                       uint32_t partition, const char *key, char *buf,
                       size_t cap) {
  eloqstore_request *r = eloqstore_request_new(ELOQSTORE_REQ_READ);
  CHECK(r != NULL);
  h_set_table(r, table, partition);
  CHECK_OK(eloqstore_request_set_key(r, (const uint8_t *)key, strlen(key)));
  eloqstore_error e = eloqstore_store_exec_sync(store, r);
  CHECK_ERR(eloqstore_request_error(r), e);
  if (e == ELOQSTORE_OK) {
    eloqstore_entry ent;
    CHECK_OK(eloqstore_request_result(r, &ent));
    CHECK_BYTES(ent.key, ent.key_len, key);
    if (cap > 0) {
      size_t n = ent.value_len < cap - 1 ? ent.value_len : cap - 1;
      memcpy(buf, ent.value, n);
      buf[n] = '\0';
    }
  } else {
    /* Any failed execution leaves no entry. */
    CHECK_ERR(eloqstore_request_result(r, NULL), ELOQSTORE_NOT_FOUND);
  }
  eloqstore_request_free(r);
  return e;
}

size_t h_scan_count(eloqstore_store *store, const char *table,
                    uint32_t partition, const char *begin, const char *end) {
  eloqstore_request *s = eloqstore_request_new(ELOQSTORE_REQ_SCAN);
  CHECK(s != NULL);
  h_set_table(s, table, partition);
  CHECK_OK(eloqstore_scan_set_range(s, (const uint8_t *)begin,
                                    begin ? strlen(begin) : 0,
                                    (const uint8_t *)end, end ? strlen(end) : 0,
                                    true));
  eloqstore_error e = eloqstore_store_exec_sync(store, s);
  CHECK_MSG(e == ELOQSTORE_OK || e == ELOQSTORE_NOT_FOUND, "scan: %s (%s)",
            h_err_name(e), eloqstore_request_error_message(s));
  size_t n = eloqstore_scan_entry_count(s);
  CHECK(!eloqstore_scan_has_remaining(s));
  eloqstore_request_free(s);
  return n;
}
