/*
 * The happy path of every request kind on a local store: batch write
 * (upserts, deletes, expiry), read, floor, scan (ranges, pagination by
 * entries and by bytes, continuation), truncate, drop table, clean
 * expired, list object (refused outside cloud mode), and the request accessors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static eloqstore_store *store;

static void key_of(char *buf, size_t cap, unsigned i) { snprintf(buf, cap, "k%05u", i); }

static void request_kinds(void) {
  for (unsigned kind = 0; kind <= ELOQSTORE_REQ_GLOBAL_ARCHIVE; kind++) {
    eloqstore_request *r = eloqstore_request_new((uint8_t)kind);
    CHECK(r != NULL);
    CHECK_EQ(eloqstore_request_type_of(r), kind);
    /* A request never submitted: done, no error, no user data. */
    CHECK(eloqstore_request_is_done(r));
    CHECK_OK(eloqstore_request_error(r));
    CHECK_STR(eloqstore_request_error_message(r), "");
    CHECK(!eloqstore_request_retryable(r));
    CHECK_EQ(eloqstore_request_user_data(r), 0);
    eloqstore_request_wait(r); /* returns at once */
    eloqstore_request_free(r);
  }
  CHECK(eloqstore_request_new(ELOQSTORE_REQ_GLOBAL_ARCHIVE + 1) == NULL);
  CHECK(eloqstore_request_new(255) == NULL);
}

static void write_read_floor(void) {
  /* 200 keys k00000..k00199 = v00000..; timestamps 7. */
  eloqstore_request *w = eloqstore_request_new(ELOQSTORE_REQ_BATCH_WRITE);
  h_set_table(w, "t", 1);
  char k[32], v[32];
  for (unsigned i = 0; i < 200; i++) {
    key_of(k, sizeof k, i);
    snprintf(v, sizeof v, "v%05u", i);
    CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)k, strlen(k), (const uint8_t *)v,
                                 strlen(v), 7, ELOQSTORE_UPSERT, 0));
  }
  CHECK_EQ(eloqstore_batch_len(w), 200);
  CHECK_OK(eloqstore_store_exec_sync(store, w));
  CHECK_OK(eloqstore_request_error(w));
  CHECK(eloqstore_request_is_done(w));
  CHECK_STR(eloqstore_request_error_message(w), "");
  CHECK_EQ(eloqstore_batch_len(w), 200); /* the batch is kept */
  CHECK_OK(eloqstore_batch_clear(w));
  CHECK_EQ(eloqstore_batch_len(w), 0);
  /* An empty batch is a no-op that succeeds. */
  CHECK_OK(eloqstore_store_exec_sync(store, w));

  /* Read: key, value, timestamp, no expiry. */
  eloqstore_request *r = eloqstore_request_new(ELOQSTORE_REQ_READ);
  h_set_table(r, "t", 1);
  CHECK_OK(eloqstore_request_set_key(r, (const uint8_t *)"k00042", 6));
  CHECK_OK(eloqstore_store_exec_sync(store, r));
  eloqstore_entry e;
  memset(&e, 0, sizeof e);
  CHECK_OK(eloqstore_request_result(r, &e));
  CHECK_BYTES(e.key, e.key_len, "k00042");
  CHECK_BYTES(e.value, e.value_len, "v00042");
  CHECK_EQ(e.timestamp, 7);
  CHECK_EQ(e.expire_ts, 0);
  /* The same pointers while the request is not executed again. */
  eloqstore_entry e2;
  CHECK_OK(eloqstore_request_result(r, &e2));
  CHECK(e2.value == e.value && e2.key == e.key);
  /* Re-executed with another key. */
  CHECK_OK(eloqstore_request_set_key(r, (const uint8_t *)"k00199", 6));
  CHECK_OK(eloqstore_store_exec_sync(store, r));
  CHECK_OK(eloqstore_request_result(r, &e));
  CHECK_BYTES(e.value, e.value_len, "v00199");
  /* Missing keys: NOT_FOUND from exec, error and result. */
  CHECK_OK(eloqstore_request_set_key(r, (const uint8_t *)"k00042x", 7));
  CHECK_ERR(eloqstore_store_exec_sync(store, r), ELOQSTORE_NOT_FOUND);
  CHECK_ERR(eloqstore_request_error(r), ELOQSTORE_NOT_FOUND);
  CHECK_ERR(eloqstore_request_result(r, &e), ELOQSTORE_NOT_FOUND);
  CHECK(!eloqstore_request_retryable(r));
  /* Another partition of the same table, never written. */
  h_set_table(r, "t", 2);
  CHECK_OK(eloqstore_request_set_key(r, (const uint8_t *)"k00042", 6));
  CHECK_ERR(eloqstore_store_exec_sync(store, r), ELOQSTORE_NOT_FOUND);
  /* Re-executed unchanged, a read that found its key and then does not
     (the key was deleted in between) has no result left over. */
  h_set_table(r, "t", 1);
  CHECK_OK(eloqstore_request_set_key(r, (const uint8_t *)"k00150", 6));
  CHECK_OK(eloqstore_store_exec_sync(store, r));
  CHECK_OK(eloqstore_request_result(r, &e));
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"k00150", 6, NULL, 0, 9, ELOQSTORE_DELETE,
                               0));
  CHECK_OK(eloqstore_store_exec_sync(store, w));
  CHECK_OK(eloqstore_batch_clear(w));
  CHECK_ERR(eloqstore_store_exec_sync(store, r), ELOQSTORE_NOT_FOUND);
  CHECK_ERR(eloqstore_request_result(r, &e), ELOQSTORE_NOT_FOUND);
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"k00150", 6, (const uint8_t *)"v00150", 6,
                               10, ELOQSTORE_UPSERT, 0));
  CHECK_OK(eloqstore_store_exec_sync(store, w));
  CHECK_OK(eloqstore_batch_clear(w));
  CHECK_OK(eloqstore_store_exec_sync(store, r));
  CHECK_OK(eloqstore_request_result(r, &e));
  CHECK_BYTES(e.value, e.value_len, "v00150");

  /* Floor: the greatest key <= the search key. */
  eloqstore_request *f = eloqstore_request_new(ELOQSTORE_REQ_FLOOR);
  h_set_table(f, "t", 1);
  CHECK_OK(eloqstore_request_set_key(f, (const uint8_t *)"k00042x", 7));
  CHECK_OK(eloqstore_store_exec_sync(store, f));
  CHECK_OK(eloqstore_request_result(f, &e));
  CHECK_BYTES(e.key, e.key_len, "k00042");
  CHECK_BYTES(e.value, e.value_len, "v00042");
  CHECK_OK(eloqstore_request_set_key(f, (const uint8_t *)"k00100", 6));
  CHECK_OK(eloqstore_store_exec_sync(store, f));
  CHECK_OK(eloqstore_request_result(f, &e));
  CHECK_BYTES(e.key, e.key_len, "k00100");
  CHECK_OK(eloqstore_request_set_key(f, (const uint8_t *)"zzz", 3));
  CHECK_OK(eloqstore_store_exec_sync(store, f));
  CHECK_OK(eloqstore_request_result(f, &e));
  CHECK_BYTES(e.key, e.key_len, "k00199");
  CHECK_OK(eloqstore_request_set_key(f, (const uint8_t *)"a", 1));
  CHECK_ERR(eloqstore_store_exec_sync(store, f), ELOQSTORE_NOT_FOUND);
  CHECK_ERR(eloqstore_request_result(f, &e), ELOQSTORE_NOT_FOUND);

  /* Upserts, deletes and expiry in one batch (keys ascending). */
  uint64_t now = h_now_ms();
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"k00000", 6, (const uint8_t *)"new", 3, 8,
                               ELOQSTORE_UPSERT, 0));
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"k00001", 6, NULL, 0, 8, ELOQSTORE_DELETE,
                               0));
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"k00002", 6, (const uint8_t *)"gone", 4, 8,
                               ELOQSTORE_UPSERT, now - 1000));
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"k00003", 6, (const uint8_t *)"later", 5,
                               8, ELOQSTORE_UPSERT, now + 3600 * 1000));
  /* A key deleted that never existed, and a new key. */
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"k00003a", 7, NULL, 0, 8,
                               ELOQSTORE_DELETE, 0));
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"k00003b", 7, (const uint8_t *)"b", 1, 8,
                               ELOQSTORE_UPSERT, 0));
  CHECK_OK(eloqstore_store_exec_sync(store, w));
  char buf[64];
  CHECK_OK(h_read(store, "t", 1, "k00000", buf, sizeof buf));
  CHECK_STR(buf, "new");
  CHECK_ERR(h_read(store, "t", 1, "k00001", buf, sizeof buf), ELOQSTORE_NOT_FOUND);
  CHECK_ERR(h_read(store, "t", 1, "k00002", buf, sizeof buf), ELOQSTORE_NOT_FOUND);
  CHECK_ERR(h_read(store, "t", 1, "k00003a", buf, sizeof buf), ELOQSTORE_NOT_FOUND);
  CHECK_OK(h_read(store, "t", 1, "k00003b", buf, sizeof buf));
  CHECK_STR(buf, "b");
  CHECK_OK(eloqstore_request_set_key(r, (const uint8_t *)"k00003", 6));
  h_set_table(r, "t", 1);
  CHECK_OK(eloqstore_store_exec_sync(store, r));
  CHECK_OK(eloqstore_request_result(r, &e));
  CHECK_BYTES(e.value, e.value_len, "later");
  CHECK_EQ(e.timestamp, 8);
  CHECK_EQ(e.expire_ts, now + 3600 * 1000);
  /* Floor skips the deleted and expired keys. */
  CHECK_OK(eloqstore_request_set_key(f, (const uint8_t *)"k00002z", 7));
  CHECK_OK(eloqstore_store_exec_sync(store, f));
  CHECK_OK(eloqstore_request_result(f, &e));
  CHECK_BYTES(e.key, e.key_len, "k00000");
  /* 200 - deleted - expired + new */
  CHECK_EQ(h_scan_count(store, "t", 1, NULL, NULL), 199);

  eloqstore_request_free(w);
  eloqstore_request_free(r);
  eloqstore_request_free(f);
}

static void scans(void) {
  /* Partition "s".0: 1000 keys with 10-byte values: 6 + 10 + 16 = 32 bytes
     per entry in the result size. */
  char k[32], v[32];
  eloqstore_request *w = eloqstore_request_new(ELOQSTORE_REQ_BATCH_WRITE);
  h_set_table(w, "s", 0);
  for (unsigned i = 0; i < 1000; i++) {
    key_of(k, sizeof k, i);
    snprintf(v, sizeof v, "value%05u", i);
    CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)k, 6, (const uint8_t *)v, 10, 1,
                                 ELOQSTORE_UPSERT, 0));
  }
  CHECK_OK(eloqstore_store_exec_sync(store, w));
  eloqstore_request_free(w);

  eloqstore_request *s = eloqstore_request_new(ELOQSTORE_REQ_SCAN);
  h_set_table(s, "s", 0);
  /* Everything, in order. */
  CHECK_OK(eloqstore_scan_set_range(s, NULL, 0, NULL, 0, true));
  CHECK_OK(eloqstore_scan_set_prefetch(s, 3));
  CHECK_OK(eloqstore_store_exec_sync(store, s));
  CHECK_EQ(eloqstore_scan_entry_count(s), 1000);
  CHECK(!eloqstore_scan_has_remaining(s));
  size_t count = 0, bytes = 0;
  CHECK_OK(eloqstore_scan_result_size(s, &count, &bytes));
  CHECK_EQ(count, 1000);
  CHECK_EQ(bytes, 1000 * 32);
  for (unsigned i = 0; i < 1000; i++) {
    eloqstore_entry e;
    CHECK_OK(eloqstore_scan_entry(s, i, &e));
    key_of(k, sizeof k, i);
    snprintf(v, sizeof v, "value%05u", i);
    CHECK_BYTES(e.key, e.key_len, k);
    CHECK_BYTES(e.value, e.value_len, v);
    CHECK_EQ(e.timestamp, 1);
  }
  eloqstore_entry e;
  CHECK_ERR(eloqstore_scan_entry(s, 1000, &e), ELOQSTORE_INVALID_ARGS);
  /* The whole result at once: the same entries, at the same addresses. */
  const eloqstore_entry *all = NULL;
  size_t n = 0;
  CHECK_OK(eloqstore_scan_entries(s, &all, &n));
  CHECK_EQ(n, 1000);
  for (unsigned i = 0; i < 1000; i++) {
    CHECK_OK(eloqstore_scan_entry(s, i, &e));
    CHECK(all[i].key == e.key && all[i].value == e.value);
    CHECK_EQ(all[i].key_len, e.key_len);
    CHECK_EQ(all[i].value_len, e.value_len);
    CHECK_EQ(all[i].timestamp, e.timestamp);
    CHECK_EQ(all[i].expire_ts, e.expire_ts);
  }
  CHECK_ERR(eloqstore_scan_entries(NULL, &all, &n), ELOQSTORE_INVALID_ARGS);

  /* [k00010, k00020) and (k00010, k00020). */
  CHECK_OK(eloqstore_scan_set_range(s, (const uint8_t *)"k00010", 6,
                                    (const uint8_t *)"k00020", 6, true));
  CHECK_OK(eloqstore_store_exec_sync(store, s));
  CHECK_EQ(eloqstore_scan_entry_count(s), 10);
  CHECK_OK(eloqstore_scan_entry(s, 0, &e));
  CHECK_BYTES(e.key, e.key_len, "k00010");
  CHECK_OK(eloqstore_scan_set_range(s, (const uint8_t *)"k00010", 6,
                                    (const uint8_t *)"k00020", 6, false));
  CHECK_OK(eloqstore_store_exec_sync(store, s));
  CHECK_EQ(eloqstore_scan_entry_count(s), 9);
  CHECK_OK(eloqstore_scan_entry(s, 0, &e));
  CHECK_BYTES(e.key, e.key_len, "k00011");
  CHECK_OK(eloqstore_scan_entry(s, 8, &e));
  CHECK_BYTES(e.key, e.key_len, "k00019");
  /* Open-ended from a key between keys. */
  CHECK_OK(eloqstore_scan_set_range(s, (const uint8_t *)"k00990x", 7, NULL, 0, true));
  CHECK_OK(eloqstore_store_exec_sync(store, s));
  CHECK_EQ(eloqstore_scan_entry_count(s), 9);
  /* An empty range. */
  CHECK_OK(eloqstore_scan_set_range(s, (const uint8_t *)"k00500", 6,
                                    (const uint8_t *)"k00500", 6, true));
  CHECK_OK(eloqstore_store_exec_sync(store, s));
  CHECK_EQ(eloqstore_scan_entry_count(s), 0);
  CHECK(!eloqstore_scan_has_remaining(s));

  /* Pagination by entries, continuing after the last key each time. */
  CHECK_OK(eloqstore_scan_set_pagination(s, 64, 0));
  CHECK_OK(eloqstore_scan_set_range(s, NULL, 0, NULL, 0, true));
  unsigned seen = 0, pages = 0;
  for (;;) {
    CHECK_OK(eloqstore_store_exec_sync(store, s));
    size_t n = eloqstore_scan_entry_count(s);
    bool more = eloqstore_scan_has_remaining(s);
    pages++;
    CHECK(n <= 64);
    CHECK_EQ(more, seen + n < 1000);
    if (more) CHECK_EQ(n, 64);
    char last[32] = "";
    for (size_t i = 0; i < n; i++) {
      CHECK_OK(eloqstore_scan_entry(s, i, &e));
      key_of(k, sizeof k, seen + (unsigned)i);
      CHECK_BYTES(e.key, e.key_len, k);
      memcpy(last, e.key, e.key_len);
      last[e.key_len] = '\0';
    }
    seen += (unsigned)n;
    if (!more) break;
    /* Continue after the last key returned (exclusive begin). */
    CHECK_OK(eloqstore_scan_set_range(s, (const uint8_t *)last, strlen(last), NULL, 0, false));
  }
  CHECK_EQ(seen, 1000);
  CHECK_EQ(pages, 16); /* 15 full pages of 64 and one of 40 */

  /* Pagination by bytes: 32 bytes per entry, limit 100 -> 3 entries. */
  CHECK_OK(eloqstore_scan_set_pagination(s, 0, 100));
  CHECK_OK(eloqstore_scan_set_range(s, NULL, 0, NULL, 0, true));
  seen = 0;
  pages = 0;
  for (;;) {
    CHECK_OK(eloqstore_store_exec_sync(store, s));
    size_t n = 0, b = 0;
    CHECK_OK(eloqstore_scan_result_size(s, &n, &b));
    CHECK_EQ(n, eloqstore_scan_entry_count(s));
    CHECK_EQ(b, n * 32);
    CHECK(b <= 100);
    bool more = eloqstore_scan_has_remaining(s);
    if (more) CHECK_EQ(n, 3);
    CHECK_OK(eloqstore_scan_entry(s, n - 1, &e));
    key_of(k, sizeof k, seen + (unsigned)n - 1);
    CHECK_BYTES(e.key, e.key_len, k);
    seen += (unsigned)n;
    pages++;
    if (!more) break;
    CHECK_OK(eloqstore_scan_set_range(s, e.key, e.key_len, NULL, 0, false));
  }
  CHECK_EQ(seen, 1000);
  CHECK_EQ(pages, 334);
  /* Both limits: the smaller wins. A byte limit below one entry still
     returns one entry (progress is guaranteed). */
  CHECK_OK(eloqstore_scan_set_pagination(s, 2, 1000));
  CHECK_OK(eloqstore_scan_set_range(s, NULL, 0, NULL, 0, true));
  CHECK_OK(eloqstore_store_exec_sync(store, s));
  CHECK_EQ(eloqstore_scan_entry_count(s), 2);
  CHECK(eloqstore_scan_has_remaining(s));
  CHECK_OK(eloqstore_scan_set_pagination(s, 0, 1));
  CHECK_OK(eloqstore_store_exec_sync(store, s));
  CHECK_EQ(eloqstore_scan_entry_count(s), 1);
  CHECK(eloqstore_scan_has_remaining(s));
  /* NULL outputs are allowed. */
  CHECK_OK(eloqstore_scan_result_size(s, NULL, NULL));
  CHECK_OK(eloqstore_scan_entry(s, 0, NULL));
  /* A partition never written: NOT_FOUND, and none of the previous
     execution's entries are left. */
  h_set_table(s, "s", 9);
  CHECK_ERR(eloqstore_store_exec_sync(store, s), ELOQSTORE_NOT_FOUND);
  CHECK_EQ(eloqstore_scan_entry_count(s), 0);
  CHECK(!eloqstore_scan_has_remaining(s));
  CHECK_ERR(eloqstore_scan_entry(s, 0, &e), ELOQSTORE_INVALID_ARGS);
  CHECK_OK(eloqstore_scan_result_size(s, &count, &bytes));
  CHECK_EQ(count, 0);
  CHECK_EQ(bytes, 0);
  eloqstore_request_free(s);
}

static void truncate_drop_clean(void) {
  /* Truncate at a key: that key and all above go. */
  CHECK_OK(h_write_range(store, "tr", 0, "k", "v", 0, 300, 1));
  eloqstore_request *t = eloqstore_request_new(ELOQSTORE_REQ_TRUNCATE);
  h_set_table(t, "tr", 0);
  CHECK_OK(eloqstore_truncate_set_position(t, (const uint8_t *)"k00150", 6));
  CHECK_OK(eloqstore_store_exec_sync(store, t));
  CHECK_EQ(h_scan_count(store, "tr", 0, NULL, NULL), 150);
  char buf[32];
  CHECK_OK(h_read(store, "tr", 0, "k00149", buf, sizeof buf));
  CHECK_ERR(h_read(store, "tr", 0, "k00150", buf, sizeof buf), ELOQSTORE_NOT_FOUND);
  /* Empty position: everything. */
  CHECK_OK(eloqstore_truncate_set_position(t, NULL, 0));
  CHECK_OK(eloqstore_store_exec_sync(store, t));
  CHECK_EQ(h_scan_count(store, "tr", 0, NULL, NULL), 0);
  /* The partition accepts writes again. */
  CHECK_OK(h_write_range(store, "tr", 0, "k", "w", 0, 3, 2));
  CHECK_OK(h_read(store, "tr", 0, "k00002", buf, sizeof buf));
  CHECK_STR(buf, "w00002");
  eloqstore_request_free(t);

  /* Drop table: every partition of the table, nothing else. */
  for (uint32_t p = 0; p < 4; p++) CHECK_OK(h_write_range(store, "dt", p, "k", "v", 0, 20, 1));
  CHECK_OK(h_write_range(store, "dt2", 0, "k", "v", 0, 20, 1));
  eloqstore_request *d = eloqstore_request_new(ELOQSTORE_REQ_DROP_TABLE);
  CHECK_OK(eloqstore_drop_table_set_name(d, (const uint8_t *)"dt", 2));
  CHECK_OK(eloqstore_store_exec_sync(store, d));
  for (uint32_t p = 0; p < 4; p++) CHECK_EQ(h_scan_count(store, "dt", p, NULL, NULL), 0);
  CHECK_EQ(h_scan_count(store, "dt2", 0, NULL, NULL), 20);
  /* A table that does not exist: nothing to do. */
  CHECK_OK(eloqstore_drop_table_set_name(d, (const uint8_t *)"nope", 4));
  CHECK_OK(eloqstore_store_exec_sync(store, d));
  eloqstore_request_free(d);

  /* Clean expired: entries expiring soon are visible, then not; the
     clean-up removes them and keeps the rest. */
  uint64_t soon = h_now_ms() + 300;
  eloqstore_request *w = eloqstore_request_new(ELOQSTORE_REQ_BATCH_WRITE);
  h_set_table(w, "ttl", 0);
  char k[32];
  for (unsigned i = 0; i < 100; i++) {
    key_of(k, sizeof k, i);
    CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)k, 6, (const uint8_t *)"x", 1, 1,
                                 ELOQSTORE_UPSERT, i % 2 ? soon : 0));
  }
  CHECK_OK(eloqstore_store_exec_sync(store, w));
  CHECK_EQ(h_scan_count(store, "ttl", 0, NULL, NULL), 100);
  while (h_now_ms() <= soon + 10) h_sleep_ms(20);
  CHECK_EQ(h_scan_count(store, "ttl", 0, NULL, NULL), 50);
  eloqstore_request *c = eloqstore_request_new(ELOQSTORE_REQ_CLEAN_EXPIRED);
  h_set_table(c, "ttl", 0);
  CHECK_OK(eloqstore_store_exec_sync(store, c));
  CHECK_EQ(h_scan_count(store, "ttl", 0, NULL, NULL), 50);
  CHECK_OK(h_read(store, "ttl", 0, "k00000", buf, sizeof buf));
  CHECK_ERR(h_read(store, "ttl", 0, "k00001", buf, sizeof buf), ELOQSTORE_NOT_FOUND);
  /* A partition never written: nothing to clean. */
  h_set_table(c, "ttl", 5);
  CHECK_OK(eloqstore_store_exec_sync(store, c));
  eloqstore_request_free(c);
  eloqstore_request_free(w);
}

static void refused_kinds(void) {
  /* ListObject needs a cloud store (test_cloud covers one). */
  eloqstore_request *l = eloqstore_request_new(ELOQSTORE_REQ_LIST_OBJECT);
  h_set_table(l, "t", 1);
  CHECK_ERR(eloqstore_store_exec_sync(store, l), ELOQSTORE_INVALID_ARGS);
  CHECK_ERR(eloqstore_request_error(l), ELOQSTORE_INVALID_ARGS);
  CHECK(strstr(eloqstore_request_error_message(l), "cloud") != NULL);
  eloqstore_request_free(l);
  /* Archive and compact need append mode (test_append covers them). */
  eloqstore_request *a = eloqstore_request_new(ELOQSTORE_REQ_ARCHIVE);
  h_set_table(a, "t", 1);
  CHECK_ERR(eloqstore_store_exec_sync(store, a), ELOQSTORE_INVALID_ARGS);
  CHECK(strstr(eloqstore_request_error_message(a), "append") != NULL);
  eloqstore_request_free(a);
  eloqstore_request *c = eloqstore_request_new(ELOQSTORE_REQ_COMPACT);
  h_set_table(c, "t", 1);
  CHECK_ERR(eloqstore_store_exec_sync(store, c), ELOQSTORE_INVALID_ARGS);
  eloqstore_request_free(c);
  eloqstore_request *g = eloqstore_request_new(ELOQSTORE_REQ_GLOBAL_ARCHIVE);
  CHECK_ERR(eloqstore_store_exec_sync(store, g), ELOQSTORE_INVALID_ARGS);
  eloqstore_request_free(g);
}

static void async_without_callback(void) {
  eloqstore_request *r = eloqstore_request_new(ELOQSTORE_REQ_READ);
  h_set_table(r, "t", 1);
  CHECK_OK(eloqstore_request_set_key(r, (const uint8_t *)"k00100", 6));
  CHECK(eloqstore_store_exec_async(store, r, NULL, 0x1234567890abcdefull));
  eloqstore_request_wait(r);
  CHECK(eloqstore_request_is_done(r));
  CHECK_OK(eloqstore_request_error(r));
  CHECK_EQ(eloqstore_request_user_data(r), 0x1234567890abcdefull);
  eloqstore_entry e;
  CHECK_OK(eloqstore_request_result(r, &e));
  CHECK_BYTES(e.value, e.value_len, "v00100");
  /* Polling instead of waiting. */
  CHECK(eloqstore_store_exec_async(store, r, NULL, 5));
  while (!eloqstore_request_is_done(r)) h_sleep_ms(1);
  CHECK_OK(eloqstore_request_error(r));
  CHECK_EQ(eloqstore_request_user_data(r), 5);
  /* exec_sync records user data 0. */
  CHECK_OK(eloqstore_store_exec_sync(store, r));
  CHECK_EQ(eloqstore_request_user_data(r), 0);
  eloqstore_request_free(r);
}

static void in_memory_store(void) {
  /* No store path: an in-memory store; its data lives until stop. */
  eloqstore_options *o = h_options(NULL, 1);
  CHECK_EQ(eloqstore_options_store_path_count(o), 0);
  eloqstore_store *m = h_open(o);
  eloqstore_options_free(o);
  CHECK_OK(h_write_range(m, "mem", 0, "k", "v", 0, 100, 1));
  CHECK_EQ(h_scan_count(m, "mem", 0, NULL, NULL), 100);
  eloqstore_request *d = eloqstore_request_new(ELOQSTORE_REQ_DROP_TABLE);
  CHECK_OK(eloqstore_drop_table_set_name(d, (const uint8_t *)"mem", 3));
  CHECK_OK(eloqstore_store_exec_sync(m, d));
  CHECK_EQ(h_scan_count(m, "mem", 0, NULL, NULL), 0);
  eloqstore_request_free(d);
  eloqstore_store_free(m);
}

/* A lent batch: the engine reads the caller's keys and values in place. */
static void lent_batch(void) {
  static char keys[50][16], vals[50][16];
  eloqstore_batch_entry es[50];
  for (unsigned i = 0; i < 50; i++) {
    snprintf(keys[i], sizeof keys[i], "lent%03u", i);
    snprintf(vals[i], sizeof vals[i], "lv%03u", i);
    es[i] = (eloqstore_batch_entry){(const uint8_t *)keys[i], strlen(keys[i]),
                                    (const uint8_t *)vals[i], strlen(vals[i]), 9, 0,
                                    ELOQSTORE_UPSERT};
  }
  es[7].op = ELOQSTORE_DELETE; /* a delete of a key never written */
  es[7].value = NULL;
  es[7].value_len = 0;
  eloqstore_request *w = eloqstore_request_new(ELOQSTORE_REQ_BATCH_WRITE);
  h_set_table(w, "lent", 0);
  CHECK_OK(eloqstore_batch_lend(w, es, 50));
  CHECK_EQ(eloqstore_batch_len(w), 50);
  CHECK_OK(eloqstore_store_exec_sync(store, w));
  /* Done: the engine keeps no pointer to the lent entries. */
  CHECK_EQ(eloqstore_batch_len(w), 0);
  /* The caller's memory is its own again: changing it changes nothing stored. */
  memset(vals, 'x', sizeof vals);
  char buf[32];
  CHECK_OK(h_read(store, "lent", 0, "lent042", buf, sizeof buf));
  CHECK_STR(buf, "lv042");
  CHECK_ERR(h_read(store, "lent", 0, "lent007", buf, sizeof buf), ELOQSTORE_NOT_FOUND);
  CHECK_EQ(h_scan_count(store, "lent", 0, NULL, NULL), 49);

  /* Refused, leaving the batch empty: a bad op, a NULL key or value with a
     length, NULL descriptors with a count. */
  CHECK_OK(eloqstore_batch_lend(w, es, 3));
  es[1].op = 2;
  CHECK_ERR(eloqstore_batch_lend(w, es, 3), ELOQSTORE_INVALID_ARGS);
  CHECK_EQ(eloqstore_batch_len(w), 0);
  es[1].op = ELOQSTORE_UPSERT;
  es[2].key = NULL;
  CHECK_ERR(eloqstore_batch_lend(w, es, 3), ELOQSTORE_INVALID_ARGS);
  es[2].key = (const uint8_t *)keys[2];
  es[0].value = NULL;
  CHECK_ERR(eloqstore_batch_lend(w, es, 3), ELOQSTORE_INVALID_ARGS);
  CHECK_ERR(eloqstore_batch_lend(w, NULL, 3), ELOQSTORE_INVALID_ARGS);
  CHECK_EQ(eloqstore_batch_len(w), 0);
  CHECK_OK(eloqstore_batch_lend(w, NULL, 0));
  CHECK_EQ(eloqstore_batch_len(w), 0);
  /* Another kind of request has no batch. */
  eloqstore_request *r = eloqstore_request_new(ELOQSTORE_REQ_READ);
  CHECK_ERR(eloqstore_batch_lend(r, es + 1, 1), ELOQSTORE_INVALID_ARGS);
  eloqstore_request_free(r);

  /* Adding to a lent batch copies it first; keys out of order are refused
     at execution, as for added entries. */
  es[0].value = (const uint8_t *)vals[0];
  CHECK_OK(eloqstore_batch_lend(w, es + 10, 2));
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"lent999", 7, (const uint8_t *)"z", 1, 9,
                               ELOQSTORE_UPSERT, 0));
  CHECK_EQ(eloqstore_batch_len(w), 3);
  CHECK_OK(eloqstore_store_exec_sync(store, w));
  CHECK_EQ(eloqstore_batch_len(w), 3);
  CHECK_OK(h_read(store, "lent", 0, "lent999", buf, sizeof buf));
  CHECK_STR(buf, "z");
  CHECK_OK(eloqstore_batch_lend(w, es + 20, 1));
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"lent000", 7, (const uint8_t *)"z", 1, 9,
                               ELOQSTORE_UPSERT, 0));
  CHECK_ERR(eloqstore_store_exec_sync(store, w), ELOQSTORE_INVALID_ARGS);
  eloqstore_request_free(w);
}

int main(void) {
  const char *dir = h_tempdir();
  eloqstore_options *o = h_options(dir, 2);
  store = h_open(o);
  eloqstore_options_free(o); /* the store keeps its own copy */
  request_kinds();
  write_read_floor();
  scans();
  truncate_drop_clean();
  refused_kinds();
  async_without_callback();
  lent_batch();
  /* Data survives a restart of the same store handle and a new store. */
  eloqstore_store_stop(store);
  CHECK(eloqstore_store_is_stopped(store));
  CHECK_OK(eloqstore_store_start(store, 0));
  char buf[32];
  CHECK_OK(h_read(store, "t", 1, "k00150", buf, sizeof buf));
  CHECK_STR(buf, "v00150");
  eloqstore_store_free(store);
  o = h_options(dir, 1);
  store = h_open(o);
  eloqstore_options_free(o);
  CHECK_EQ(h_scan_count(store, "s", 0, NULL, NULL), 1000);
  CHECK_OK(h_read(store, "tr", 0, "k00002", buf, sizeof buf));
  CHECK_STR(buf, "w00002");
  eloqstore_store_free(store);
  in_memory_store();
  return h_done("test_requests");
}
