/*
 * Bad input never crashes and gives the documented code: NULL for every
 * handle argument, NULL pointers with non-zero lengths, empty and huge
 * keys, unsorted batches, wrong-kind setters and getters, unknown kinds,
 * requests on stores not started or stopped, and store paths that cannot
 * be used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define BAD ELOQSTORE_INVALID_ARGS

static int callback_calls;
static void count_callback(eloqstore_request *req, uint64_t ud) {
  (void)req;
  (void)ud;
  callback_calls++;
}
static int cmp_fn(void *ctx, const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
  (void)ctx;
  size_t n = al < bl ? al : bl;
  int c = n ? memcmp(a, b, n) : 0;
  return c ? c : (al > bl) - (al < bl);
}
static bool filter_fn(void *ctx, const uint8_t *t, size_t tl, uint32_t p) {
  (void)ctx;
  (void)t;
  (void)tl;
  (void)p;
  return true;
}

static void null_handles(eloqstore_store *store) {
  eloqstore_entry e;
  uint64_t u = 77;
  bool b = true;
  char buf[8];
  size_t len = 99, count = 99, bytes = 99;
  eloqstore_request *req = eloqstore_request_new(ELOQSTORE_REQ_READ);
  eloqstore_options *opts = eloqstore_options_new();

  /* Options. */
  CHECK(eloqstore_options_clone(NULL) == NULL);
  eloqstore_options_free(NULL);
  CHECK_EQ(eloqstore_options_load_ini(NULL, "/nonexistent.ini"), -1);
  CHECK(!eloqstore_options_validate(NULL));
  CHECK(eloqstore_last_error_message()[0] != '\0');
  CHECK_ERR(eloqstore_options_set_uint(NULL, "num_threads", 1), BAD);
  CHECK_ERR(eloqstore_options_get_uint(NULL, "num_threads", &u), BAD);
  CHECK_EQ(u, 77);
  CHECK_ERR(eloqstore_options_set_bool(NULL, "data_append_mode", true), BAD);
  CHECK_ERR(eloqstore_options_get_bool(NULL, "data_append_mode", &b), BAD);
  CHECK_ERR(eloqstore_options_set_string(NULL, "cloud_region", (const uint8_t *)"x", 1), BAD);
  CHECK_ERR(eloqstore_options_get_string(NULL, "cloud_region", buf, sizeof buf, &len), BAD);
  CHECK_EQ(len, 99);
  const char *paths[] = {"/tmp/x"};
  CHECK_ERR(eloqstore_options_set_store_paths(NULL, paths, 1), BAD);
  CHECK_EQ(eloqstore_options_store_path_count(NULL), 0);
  CHECK_ERR(eloqstore_options_get_store_path(NULL, 0, buf, sizeof buf, &len), BAD);
  eloqstore_comparator *cmp = eloqstore_comparator_new(NULL, cmp_fn, NULL, NULL, NULL);
  CHECK(cmp != NULL); /* NULL name and context are fine */
  CHECK_ERR(eloqstore_options_set_comparator(NULL, cmp), BAD);
  eloqstore_comparator_free(cmp);
  eloqstore_comparator_free(NULL);
  CHECK_ERR(eloqstore_options_set_partition_filter(NULL, NULL, filter_fn, NULL), BAD);
  /* NULL field names. */
  CHECK_ERR(eloqstore_options_set_uint(opts, NULL, 1), BAD);
  CHECK_ERR(eloqstore_options_get_uint(opts, NULL, &u), BAD);
  CHECK_ERR(eloqstore_options_set_bool(opts, NULL, true), BAD);
  CHECK_ERR(eloqstore_options_get_bool(opts, NULL, &b), BAD);
  CHECK_ERR(eloqstore_options_set_string(opts, NULL, NULL, 0), BAD);
  CHECK_ERR(eloqstore_options_get_string(opts, NULL, buf, sizeof buf, &len), BAD);
  CHECK_EQ(eloqstore_options_field_kind(NULL), -1);

  /* Requests. */
  eloqstore_request_free(NULL);
  CHECK_EQ(eloqstore_request_type_of(NULL), 255);
  CHECK_ERR(eloqstore_request_set_table(NULL, (const uint8_t *)"t", 1, 0), BAD);
  CHECK_ERR(eloqstore_request_set_key(NULL, (const uint8_t *)"k", 1), BAD);
  CHECK_ERR(eloqstore_scan_set_range(NULL, NULL, 0, NULL, 0, true), BAD);
  CHECK_ERR(eloqstore_scan_set_pagination(NULL, 1, 1), BAD);
  CHECK_ERR(eloqstore_scan_set_prefetch(NULL, 1), BAD);
  CHECK_ERR(eloqstore_batch_add(NULL, (const uint8_t *)"k", 1, NULL, 0, 1, ELOQSTORE_UPSERT, 0),
            BAD);
  CHECK_ERR(eloqstore_batch_clear(NULL), BAD);
  CHECK_EQ(eloqstore_batch_len(NULL), 0);
  CHECK_ERR(eloqstore_truncate_set_position(NULL, NULL, 0), BAD);
  CHECK_ERR(eloqstore_drop_table_set_name(NULL, (const uint8_t *)"t", 1), BAD);
  CHECK_ERR(eloqstore_archive_set_timestamp(NULL, 1), BAD);
  CHECK(eloqstore_request_is_done(NULL));
  eloqstore_request_wait(NULL);
  CHECK_ERR(eloqstore_request_error(NULL), BAD);
  CHECK_STR(eloqstore_request_error_message(NULL), "");
  CHECK(!eloqstore_request_retryable(NULL));
  CHECK_EQ(eloqstore_request_user_data(NULL), 0);
  CHECK_ERR(eloqstore_request_result(NULL, &e), BAD);
  CHECK_EQ(eloqstore_scan_entry_count(NULL), 0);
  CHECK_ERR(eloqstore_scan_entry(NULL, 0, &e), BAD);
  CHECK(!eloqstore_scan_has_remaining(NULL));
  CHECK_ERR(eloqstore_scan_result_size(NULL, &count, &bytes), BAD);
  CHECK_EQ(count, 99);
  CHECK_EQ(bytes, 99);

  /* Stores. */
  eloqstore_store *s = (eloqstore_store *)&u;
  CHECK_ERR(eloqstore_store_new(NULL, &s), BAD);
  CHECK(s == (eloqstore_store *)&u);
  CHECK_ERR(eloqstore_store_new(opts, NULL), BAD);
  CHECK(strstr(eloqstore_last_error_message(), "NULL") != NULL);
  CHECK_ERR(eloqstore_store_start(NULL, 0), BAD);
  eloqstore_store_stop(NULL);
  CHECK(eloqstore_store_is_stopped(NULL));
  eloqstore_store_free(NULL);
  CHECK_ERR(eloqstore_store_exec_sync(NULL, req), BAD);
  CHECK_ERR(eloqstore_store_exec_sync(store, NULL), BAD);
  CHECK_ERR(eloqstore_store_exec_sync(NULL, NULL), BAD);
  callback_calls = 0;
  CHECK(!eloqstore_store_exec_async(NULL, req, count_callback, 1));
  CHECK(!eloqstore_store_exec_async(store, NULL, count_callback, 1));
  CHECK_EQ(callback_calls, 0);
  CHECK(eloqstore_request_is_done(req));
  /* NULL out pointers where they are optional. */
  CHECK_OK(eloqstore_options_get_uint(opts, "num_threads", NULL));

  eloqstore_request_free(req);
  eloqstore_options_free(opts);
}

static void null_with_length(void) {
  eloqstore_request *r = eloqstore_request_new(ELOQSTORE_REQ_READ);
  eloqstore_request *s = eloqstore_request_new(ELOQSTORE_REQ_SCAN);
  eloqstore_request *w = eloqstore_request_new(ELOQSTORE_REQ_BATCH_WRITE);
  eloqstore_request *t = eloqstore_request_new(ELOQSTORE_REQ_TRUNCATE);
  eloqstore_request *d = eloqstore_request_new(ELOQSTORE_REQ_DROP_TABLE);
  eloqstore_options *o = eloqstore_options_new();
  CHECK_ERR(eloqstore_request_set_table(r, NULL, 3, 0), BAD);
  CHECK_ERR(eloqstore_request_set_key(r, NULL, 1), BAD);
  CHECK_ERR(eloqstore_scan_set_range(s, NULL, 1, NULL, 0, true), BAD);
  CHECK_ERR(eloqstore_scan_set_range(s, NULL, 0, NULL, 1, true), BAD);
  CHECK_ERR(eloqstore_batch_add(w, NULL, 1, (const uint8_t *)"v", 1, 1, ELOQSTORE_UPSERT, 0),
            BAD);
  CHECK_ERR(eloqstore_batch_add(w, (const uint8_t *)"k", 1, NULL, 1, 1, ELOQSTORE_UPSERT, 0),
            BAD);
  CHECK_EQ(eloqstore_batch_len(w), 0); /* nothing was added */
  CHECK_ERR(eloqstore_truncate_set_position(t, NULL, 2), BAD);
  CHECK_ERR(eloqstore_drop_table_set_name(d, NULL, 2), BAD);
  CHECK_ERR(eloqstore_options_set_string(o, "cloud_region", NULL, 4), BAD);
  /* Table names are byte strings: one that is not UTF-8 is accepted. */
  const uint8_t odd_name[] = {'t', 0xff};
  CHECK_OK(eloqstore_request_set_table(r, odd_name, 2, 0));
  CHECK_OK(eloqstore_drop_table_set_name(d, odd_name, 2));
  /* An unknown write operation. */
  CHECK_ERR(eloqstore_batch_add(w, (const uint8_t *)"k", 1, NULL, 0, 1, 2, 0), BAD);
  CHECK_EQ(eloqstore_batch_len(w), 0);
  eloqstore_request_free(r);
  eloqstore_request_free(s);
  eloqstore_request_free(w);
  eloqstore_request_free(t);
  eloqstore_request_free(d);
  eloqstore_options_free(o);
}

static void wrong_kinds(void) {
  eloqstore_request *reqs[ELOQSTORE_REQ_GLOBAL_ARCHIVE + 1];
  for (unsigned k = 0; k <= ELOQSTORE_REQ_GLOBAL_ARCHIVE; k++)
    reqs[k] = eloqstore_request_new((uint8_t)k);
  const uint8_t *x = (const uint8_t *)"x";
  eloqstore_entry e;
  size_t c, b;
  for (unsigned k = 0; k <= ELOQSTORE_REQ_GLOBAL_ARCHIVE; k++) {
    eloqstore_request *r = reqs[k];
    bool read_or_floor = k == ELOQSTORE_REQ_READ || k == ELOQSTORE_REQ_FLOOR;
    CHECK_ERR(eloqstore_request_set_key(r, x, 1), read_or_floor ? ELOQSTORE_OK : BAD);
    CHECK_ERR(eloqstore_scan_set_range(r, x, 1, NULL, 0, true),
              k == ELOQSTORE_REQ_SCAN ? ELOQSTORE_OK : BAD);
    CHECK_ERR(eloqstore_scan_set_pagination(r, 1, 0), k == ELOQSTORE_REQ_SCAN ? ELOQSTORE_OK : BAD);
    CHECK_ERR(eloqstore_scan_set_prefetch(r, 1), k == ELOQSTORE_REQ_SCAN ? ELOQSTORE_OK : BAD);
    CHECK_ERR(eloqstore_batch_add(r, x, 1, x, 1, 1, ELOQSTORE_UPSERT, 0),
              k == ELOQSTORE_REQ_BATCH_WRITE ? ELOQSTORE_OK : BAD);
    CHECK_ERR(eloqstore_batch_clear(r), k == ELOQSTORE_REQ_BATCH_WRITE ? ELOQSTORE_OK : BAD);
    CHECK_EQ(eloqstore_batch_len(r), 0);
    CHECK_ERR(eloqstore_truncate_set_position(r, x, 1),
              k == ELOQSTORE_REQ_TRUNCATE ? ELOQSTORE_OK : BAD);
    CHECK_ERR(eloqstore_drop_table_set_name(r, x, 1),
              k == ELOQSTORE_REQ_DROP_TABLE ? ELOQSTORE_OK : BAD);
    CHECK_ERR(eloqstore_archive_set_timestamp(r, 1),
              k == ELOQSTORE_REQ_ARCHIVE || k == ELOQSTORE_REQ_GLOBAL_ARCHIVE ? ELOQSTORE_OK
                                                                                : BAD);
    /* Every kind has a table (DropTable and GlobalArchive ignore it). */
    CHECK_OK(eloqstore_request_set_table(r, x, 1, 0));
    /* Getters of other kinds. */
    if (!read_or_floor) CHECK_ERR(eloqstore_request_result(r, &e), BAD);
    if (k != ELOQSTORE_REQ_SCAN) {
      CHECK_EQ(eloqstore_scan_entry_count(r), 0);
      CHECK_ERR(eloqstore_scan_entry(r, 0, &e), BAD);
      CHECK(!eloqstore_scan_has_remaining(r));
      CHECK_ERR(eloqstore_scan_result_size(r, &c, &b), BAD);
    }
  }
  /* A read never executed has no result. */
  CHECK_ERR(eloqstore_request_result(reqs[ELOQSTORE_REQ_READ], &e), ELOQSTORE_NOT_FOUND);
  /* A scan never executed has no result: no entries, no size. */
  CHECK_EQ(eloqstore_scan_entry_count(reqs[ELOQSTORE_REQ_SCAN]), 0);
  CHECK(!eloqstore_scan_has_remaining(reqs[ELOQSTORE_REQ_SCAN]));
  CHECK_ERR(eloqstore_scan_result_size(reqs[ELOQSTORE_REQ_SCAN], &c, &b), BAD);
  for (unsigned k = 0; k <= ELOQSTORE_REQ_GLOBAL_ARCHIVE; k++) eloqstore_request_free(reqs[k]);
}

static void keys_and_batches(eloqstore_store *store) {
  eloqstore_request *w = eloqstore_request_new(ELOQSTORE_REQ_BATCH_WRITE);
  h_set_table(w, "bad", 0);
  /* An empty key. */
  CHECK_OK(eloqstore_batch_add(w, NULL, 0, (const uint8_t *)"v", 1, 1, ELOQSTORE_UPSERT, 0));
  CHECK_ERR(eloqstore_store_exec_sync(store, w), BAD);
  CHECK(strstr(eloqstore_request_error_message(w), "empty key") != NULL);
  CHECK_OK(eloqstore_batch_clear(w));
  /* Keys up to data_page_size / 2 = 2048 bytes are fine; one more is not. */
  uint8_t *big = malloc(2049);
  CHECK(big != NULL);
  memset(big, 'K', 2049);
  CHECK_OK(eloqstore_batch_add(w, big, 2048, (const uint8_t *)"v", 1, 1, ELOQSTORE_UPSERT, 0));
  CHECK_OK(eloqstore_store_exec_sync(store, w));
  CHECK_OK(eloqstore_batch_clear(w));
  CHECK_OK(eloqstore_batch_add(w, big, 2049, (const uint8_t *)"v", 1, 1, ELOQSTORE_UPSERT, 0));
  CHECK_ERR(eloqstore_store_exec_sync(store, w), BAD);
  CHECK(strstr(eloqstore_request_error_message(w), "2049") != NULL);
  CHECK_OK(eloqstore_batch_clear(w));
  /* The key that fit reads back. */
  eloqstore_request *r = eloqstore_request_new(ELOQSTORE_REQ_READ);
  h_set_table(r, "bad", 0);
  CHECK_OK(eloqstore_request_set_key(r, big, 2048));
  CHECK_OK(eloqstore_store_exec_sync(store, r));
  eloqstore_entry e;
  CHECK_OK(eloqstore_request_result(r, &e));
  CHECK_EQ(e.key_len, 2048);
  CHECK(memcmp(e.key, big, 2048) == 0);
  free(big);
  /* A huge value (overflow pages) round-trips. */
  size_t vlen = 3u << 20;
  uint8_t *val = malloc(vlen);
  CHECK(val != NULL);
  for (size_t i = 0; i < vlen; i++) val[i] = (uint8_t)(i * 31 + (i >> 12));
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"huge", 4, val, vlen, 1, ELOQSTORE_UPSERT,
                               0));
  CHECK_OK(eloqstore_store_exec_sync(store, w));
  CHECK_OK(eloqstore_batch_clear(w));
  CHECK_OK(eloqstore_request_set_key(r, (const uint8_t *)"huge", 4));
  CHECK_OK(eloqstore_store_exec_sync(store, r));
  CHECK_OK(eloqstore_request_result(r, &e));
  CHECK_EQ(e.value_len, vlen);
  CHECK(memcmp(e.value, val, vlen) == 0);
  free(val);
  /* Binary keys and values with NUL bytes. */
  const uint8_t bk[] = {0, 1, 0, 2};
  const uint8_t bv[] = {0, 0, 0xff, 0};
  CHECK_OK(eloqstore_batch_add(w, bk, 4, bv, 4, 1, ELOQSTORE_UPSERT, 0));
  CHECK_OK(eloqstore_store_exec_sync(store, w));
  CHECK_OK(eloqstore_batch_clear(w));
  CHECK_OK(eloqstore_request_set_key(r, bk, 4));
  CHECK_OK(eloqstore_store_exec_sync(store, r));
  CHECK_OK(eloqstore_request_result(r, &e));
  CHECK_EQ(e.value_len, 4);
  CHECK(memcmp(e.value, bv, 4) == 0);
  /* Reads with an empty key find nothing. */
  CHECK_OK(eloqstore_request_set_key(r, NULL, 0));
  CHECK_ERR(eloqstore_store_exec_sync(store, r), ELOQSTORE_NOT_FOUND);
  /* Unsorted and duplicate keys. */
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"b", 1, NULL, 0, 1, ELOQSTORE_UPSERT, 0));
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"a", 1, NULL, 0, 1, ELOQSTORE_UPSERT, 0));
  CHECK_ERR(eloqstore_store_exec_sync(store, w), BAD);
  CHECK_OK(eloqstore_batch_clear(w));
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"a", 1, NULL, 0, 1, ELOQSTORE_UPSERT, 0));
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"a", 1, NULL, 0, 1, ELOQSTORE_DELETE, 0));
  CHECK_ERR(eloqstore_store_exec_sync(store, w), BAD);
  /* Nothing of the refused batches was written. */
  CHECK_OK(eloqstore_request_set_key(r, (const uint8_t *)"a", 1));
  CHECK_ERR(eloqstore_store_exec_sync(store, r), ELOQSTORE_NOT_FOUND);
  /* An empty table name. */
  CHECK_OK(eloqstore_request_set_table(r, NULL, 0, 0));
  CHECK_ERR(eloqstore_store_exec_sync(store, r), BAD);
  CHECK(strstr(eloqstore_request_error_message(r), "table") != NULL);
  eloqstore_request *d = eloqstore_request_new(ELOQSTORE_REQ_DROP_TABLE);
  CHECK_ERR(eloqstore_store_exec_sync(store, d), BAD); /* no name set */
  eloqstore_request_free(d);
  eloqstore_request_free(r);
  eloqstore_request_free(w);
}

static void lifecycle(void) {
  const char *dir = h_tempdir();
  eloqstore_options *o = h_options(dir, 2);
  eloqstore_store *s = NULL;
  CHECK_OK(eloqstore_store_new(o, &s));
  /* Not started: stopped; requests are refused. */
  CHECK(eloqstore_store_is_stopped(s));
  eloqstore_request *r = eloqstore_request_new(ELOQSTORE_REQ_READ);
  h_set_table(r, "t", 0);
  CHECK_OK(eloqstore_request_set_key(r, (const uint8_t *)"k", 1));
  CHECK_ERR(eloqstore_store_exec_sync(s, r), ELOQSTORE_NOT_RUNNING);
  CHECK_ERR(eloqstore_request_error(r), ELOQSTORE_NOT_RUNNING);
  CHECK(eloqstore_request_error_message(r)[0] != '\0');
  callback_calls = 0;
  CHECK(!eloqstore_store_exec_async(s, r, count_callback, 9));
  /* Nothing was touched on disk before start. */
  char path[4096];
  h_format(path, sizeof path, "%s/store", dir);
  CHECK(!h_exists(path));
  CHECK_OK(eloqstore_store_start(s, 0));
  CHECK(h_exists(path));
  CHECK_OK(eloqstore_store_start(s, 0)); /* again: nothing happens */
  CHECK_OK(h_write_range(s, "t", 0, "k", "v", 0, 10, 1));
  CHECK_OK(eloqstore_request_set_key(r, (const uint8_t *)"k00004", 6));
  CHECK_OK(eloqstore_store_exec_sync(s, r));
  eloqstore_entry e;
  CHECK_OK(eloqstore_request_result(r, &e));
  /* Stopped: exec_async is refused (false, no callback) and leaves the
     request untouched: the result and the pointers into it stay valid
     (under ASan, reading them would catch a use after free). */
  eloqstore_store_stop(s);
  eloqstore_store_stop(s); /* again */
  CHECK(eloqstore_store_is_stopped(s));
  CHECK(!eloqstore_store_exec_async(s, r, count_callback, 9));
  CHECK(!eloqstore_store_exec_async(s, r, NULL, 9));
  CHECK(eloqstore_request_is_done(r));
  CHECK_EQ(callback_calls, 0);
  CHECK_BYTES(e.value, e.value_len, "v00004");
  CHECK_BYTES(e.key, e.key_len, "k00004");
  eloqstore_entry again;
  CHECK_OK(eloqstore_request_result(r, &again));
  CHECK(again.value == e.value);
  CHECK_OK(eloqstore_request_error(r));
  /* exec_sync runs it: NOT_RUNNING, and no result of the earlier run. */
  CHECK_ERR(eloqstore_store_exec_sync(s, r), ELOQSTORE_NOT_RUNNING);
  CHECK_ERR(eloqstore_request_error(r), ELOQSTORE_NOT_RUNNING);
  CHECK_ERR(eloqstore_request_result(r, &again), ELOQSTORE_NOT_FOUND);
  CHECK(strstr(eloqstore_request_error_message(r), "not running") != NULL);
  /* Started again: the data is there. */
  CHECK_OK(eloqstore_store_start(s, 0));
  char buf[16];
  CHECK_OK(h_read(s, "t", 0, "k00003", buf, sizeof buf));
  CHECK_STR(buf, "v00003");
  eloqstore_store_free(s);
  eloqstore_request_free(r);

  /* A store path that is a regular file: start fails with a message. */
  h_format(path, sizeof path, "%s/file", dir);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  fclose(f);
  const char *paths[] = {path};
  CHECK_OK(eloqstore_options_set_store_paths(o, paths, 1));
  CHECK_OK(eloqstore_store_new(o, &s));
  CHECK_ERR(eloqstore_store_start(s, 0), BAD);
  CHECK(strstr(eloqstore_last_error_message(), "not a directory") != NULL);
  CHECK(eloqstore_store_is_stopped(s));
  eloqstore_store_free(s);
  /* Options the engine refuses at start: a cloud service that cannot be
     reached (nothing listens on port 1), append mode in memory. */
  CHECK_OK(eloqstore_options_set_string(o, "cloud_store_path", (const uint8_t *)"bucket", 6));
  CHECK_OK(eloqstore_options_set_string(o, "cloud_endpoint", (const uint8_t *)"http://127.0.0.1:1", 18));
  h_format(path, sizeof path, "%s/store2", dir);
  CHECK_OK(eloqstore_options_set_store_paths(o, paths, 1));
  CHECK_OK(eloqstore_store_new(o, &s)); /* valid options ... */
  CHECK_ERR(eloqstore_store_start(s, 0), ELOQSTORE_CLOUD_ERR); /* ... no service */
  CHECK(strstr(eloqstore_last_error_message(), "cloud") != NULL);
  CHECK(eloqstore_store_is_stopped(s));
  CHECK(!h_exists(path)); /* nothing created */
  eloqstore_store_free(s);
  CHECK_OK(eloqstore_options_set_string(o, "cloud_endpoint", NULL, 0));
  CHECK_OK(eloqstore_options_set_string(o, "cloud_store_path", NULL, 0));
  CHECK_OK(eloqstore_options_set_store_paths(o, NULL, 0));
  CHECK_OK(eloqstore_options_set_bool(o, "data_append_mode", true));
  CHECK_OK(eloqstore_store_new(o, &s));
  CHECK_ERR(eloqstore_store_start(s, 0), BAD);
  CHECK(strstr(eloqstore_last_error_message(), "data_append_mode") != NULL);
  eloqstore_store_free(s);
  eloqstore_options_free(o);
}

int main(void) {
  const char *dir = h_tempdir();
  eloqstore_options *o = h_options(dir, 1);
  eloqstore_store *store = h_open(o);
  eloqstore_options_free(o);
  null_handles(store);
  null_with_length();
  wrong_kinds();
  keys_and_batches(store);
  eloqstore_store_free(store);
  lifecycle();
  return h_done("test_bad_inputs");
}
