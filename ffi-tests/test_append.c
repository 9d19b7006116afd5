/*
 * Append mode: compaction, archives (a manifest_<term>_<ts> file in the
 * partition directory), and the global archive with a C partition filter
 * whose context is released when the last user is freed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

struct filter_ctx {
  atomic_int calls;
  atomic_int bad_args;
  int destroyed;
  pthread_t main_thread;
};

/* Accepts table "a", even partitions only. */
static bool filter(void *ctx, const uint8_t *table, size_t len, uint32_t partition) {
  struct filter_ctx *f = ctx;
  atomic_fetch_add(&f->calls, 1);
  if (table == NULL || len == 0 || len > 8) atomic_fetch_add(&f->bad_args, 1);
  return len == 1 && table[0] == 'a' && partition % 2 == 0;
}

static void filter_destroy(void *ctx) {
  struct filter_ctx *f = ctx;
  f->destroyed++;
}

static char store_dir[4096];

static void partition_dir(char *buf, size_t cap, const char *table, uint32_t p) {
  h_format(buf, cap, "%s/%s.%u", store_dir, table, p);
}

static void check_content(eloqstore_store *s, const char *table, uint32_t p, const char *vprefix,
                          unsigned n) {
  eloqstore_request *r = eloqstore_request_new(ELOQSTORE_REQ_SCAN);
  h_set_table(r, table, p);
  CHECK_OK(eloqstore_store_exec_sync(s, r));
  CHECK_EQ(eloqstore_scan_entry_count(r), n);
  char k[32], v[256];
  for (unsigned i = 0; i < n; i++) {
    eloqstore_entry e;
    CHECK_OK(eloqstore_scan_entry(r, i, &e));
    snprintf(k, sizeof k, "k%05u", i);
    h_format(v, sizeof v, "%s%05u", vprefix, i);
    CHECK_BYTES(e.key, e.key_len, k);
    CHECK_BYTES(e.value, e.value_len, v);
  }
  eloqstore_request_free(r);
}

int main(void) {
  const char *dir = h_tempdir();
  h_format(store_dir, sizeof store_dir, "%s/store", dir);
  struct filter_ctx fctx;
  atomic_init(&fctx.calls, 0);
  atomic_init(&fctx.bad_args, 0);
  fctx.destroyed = 0;

  eloqstore_options *o = h_options(dir, 2);
  CHECK_OK(eloqstore_options_set_bool(o, "data_append_mode", true));
  /* 16 pages of 4 KiB per data file, so a few writes span many files. */
  CHECK_OK(eloqstore_options_set_uint(o, "pages_per_file_shift", 4));
  CHECK_OK(eloqstore_options_set_uint(o, "max_archive_tasks", 1));
  CHECK_OK(eloqstore_options_set_partition_filter(o, &fctx, filter, filter_destroy));
  eloqstore_store *s = h_open(o);

  /* Compaction: rounds of overwrites leave dead pages behind; compact
     after each keeps the data intact and the files bounded. */
  char pdir[4096];
  partition_dir(pdir, sizeof pdir, "a", 0);
  char vprefix[160];
  uint64_t first_round_bytes = 0;
  for (unsigned round = 0; round < 6; round++) {
    snprintf(vprefix, sizeof vprefix, "round-%u-%0100u-", round, round);
    CHECK_OK(h_write_range(s, "a", 0, "k", vprefix, 0, 2000, round + 1));
    if (round == 0) first_round_bytes = h_file_bytes(pdir, "data_");
    eloqstore_request *c = eloqstore_request_new(ELOQSTORE_REQ_COMPACT);
    h_set_table(c, "a", 0);
    CHECK_OK(eloqstore_store_exec_sync(s, c));
    CHECK_STR(eloqstore_request_error_message(c), "");
    eloqstore_request_free(c);
    check_content(s, "a", 0, vprefix, 2000);
  }
  CHECK(first_round_bytes > 16 * 4096); /* several files per round */
  uint64_t after = h_file_bytes(pdir, "data_");
  CHECK_MSG(after < 3 * first_round_bytes,
            "data files hold %llu bytes after 6 rounds of %llu live bytes",
            (unsigned long long)after, (unsigned long long)first_round_bytes);
  /* Compacting a partition never written does nothing and succeeds. */
  eloqstore_request *c = eloqstore_request_new(ELOQSTORE_REQ_COMPACT);
  h_set_table(c, "never", 0);
  CHECK_OK(eloqstore_store_exec_sync(s, c));
  eloqstore_request_free(c);

  /* Archive of one partition at a given timestamp. */
  eloqstore_request *a = eloqstore_request_new(ELOQSTORE_REQ_ARCHIVE);
  h_set_table(a, "a", 0);
  CHECK_OK(eloqstore_archive_set_timestamp(a, 1234567));
  CHECK_OK(eloqstore_store_exec_sync(s, a));
  char path[4200];
  h_format(path, sizeof path, "%s/manifest_0_1234567", pdir);
  CHECK_MSG(h_exists(path), "%s missing", path);
  CHECK_EQ(h_count_files(pdir, "manifest_0_"), 1);
  /* A partition never written cannot be archived. */
  h_set_table(a, "a", 40);
  CHECK_ERR(eloqstore_store_exec_sync(s, a), ELOQSTORE_NOT_FOUND);
  eloqstore_request_free(a);

  /* Global archive: every partition the filter accepts (a.0, a.2), none
     of the others, all at the same timestamp. */
  for (uint32_t p = 0; p < 4; p++) {
    if (p > 0) CHECK_OK(h_write_range(s, "a", p, "k", "v", 0, 100, 1));
    CHECK_OK(h_write_range(s, "b", p, "k", "v", 0, 100, 1));
  }
  eloqstore_request *g = eloqstore_request_new(ELOQSTORE_REQ_GLOBAL_ARCHIVE);
  CHECK_OK(eloqstore_archive_set_timestamp(g, 7654321));
  CHECK_OK(eloqstore_store_exec_sync(s, g));
  CHECK_STR(eloqstore_request_error_message(g), "");
  CHECK(atomic_load(&fctx.calls) >= 8); /* asked about every partition */
  CHECK_EQ(atomic_load(&fctx.bad_args), 0);
  for (uint32_t p = 0; p < 4; p++) {
    partition_dir(pdir, sizeof pdir, "a", p);
    h_format(path, sizeof path, "%s/manifest_0_7654321", pdir);
    CHECK_MSG(h_exists(path) == (p % 2 == 0), "%s: exists %d", path, h_exists(path));
    partition_dir(pdir, sizeof pdir, "b", p);
    CHECK_EQ(h_count_files(pdir, "manifest_0_"), 0);
  }
  eloqstore_request_free(g);

  /* An archive restores: the store is stopped, the archive copied over the
     manifest, and the store sees the archived content again. */
  CHECK_OK(h_write_range(s, "a", 2, "k", "changed", 0, 100, 2));
  check_content(s, "a", 2, "changed", 100);
  eloqstore_store_stop(s);
  partition_dir(pdir, sizeof pdir, "a", 2);
  char src[4300], dst[4300];
  h_format(src, sizeof src, "%s/manifest_0_7654321", pdir);
  h_format(dst, sizeof dst, "%s/manifest_0", pdir);
  CHECK_EQ(rename(src, dst), 0);
  CHECK_OK(eloqstore_store_start(s, 0));
  check_content(s, "a", 2, "v", 100);

  /* The filter context is released when the options and the store (the
     last users) are freed, not before. */
  eloqstore_options_free(o);
  CHECK_EQ(fctx.destroyed, 0);
  eloqstore_store_free(s);
  CHECK_EQ(fctx.destroyed, 1);
  return h_done("test_append");
}
