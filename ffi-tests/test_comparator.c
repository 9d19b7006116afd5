/*
 * C comparators: a reverse bytewise order (scans come back in reverse,
 * floor looks the other way, batches must be ascending in that order), a
 * separator callback (some of whose answers are invalid and must be
 * ignored), callbacks running on store threads with their context, and
 * the context released once the last user is gone.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

struct cmp_ctx {
  atomic_long compares;
  atomic_long separators;
  atomic_long off_main_thread;
  atomic_int bad_ctx;
  int destroyed;
  pthread_t main_thread;
};

static int bytewise(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
  size_t n = al < bl ? al : bl;
  int c = n ? memcmp(a, b, n) : 0;
  if (c != 0) return c;
  return (al > bl) - (al < bl);
}

static struct cmp_ctx the_ctx;

static int reverse_compare(void *ctx, const uint8_t *a, size_t al, const uint8_t *b,
                           size_t bl) {
  struct cmp_ctx *c = ctx;
  if (c != &the_ctx) {
    atomic_fetch_add(&the_ctx.bad_ctx, 1);
    c = &the_ctx;
  }
  atomic_fetch_add(&c->compares, 1);
  if (!pthread_equal(pthread_self(), c->main_thread)) atomic_fetch_add(&c->off_main_thread, 1);
  return -bytewise(a, al, b, bl);
}

/* Every other call answers a proper prefix of `right`, which sorts after
   `right` in reverse order and so is not a valid separator: the engine
   must fall back to `right`. The other calls answer `right` itself. */
static size_t reverse_separator(void *ctx, const uint8_t *left, size_t ll, const uint8_t *right,
                                size_t rl, uint8_t *out) {
  struct cmp_ctx *c = ctx;
  (void)left;
  (void)ll;
  if (c != &the_ctx) {
    atomic_fetch_add(&the_ctx.bad_ctx, 1);
    c = &the_ctx;
  }
  long n = atomic_fetch_add(&c->separators, 1);
  if (rl > 1 && n % 2 == 0) {
    memcpy(out, right, rl - 1);
    return rl - 1;
  }
  memcpy(out, right, rl);
  return rl;
}

static void destroy(void *ctx) {
  if (ctx != &the_ctx) atomic_fetch_add(&the_ctx.bad_ctx, 1);
  the_ctx.destroyed++;
}

static void key_of(char *buf, size_t cap, unsigned i) { snprintf(buf, cap, "k%05u", i); }

int main(void) {
  atomic_init(&the_ctx.compares, 0);
  atomic_init(&the_ctx.separators, 0);
  atomic_init(&the_ctx.off_main_thread, 0);
  atomic_init(&the_ctx.bad_ctx, 0);
  the_ctx.destroyed = 0;
  the_ctx.main_thread = pthread_self();

  /* A NULL compare callback is refused with a message. */
  CHECK(eloqstore_comparator_new(&the_ctx, NULL, "x", NULL, NULL) == NULL);
  CHECK(strstr(eloqstore_last_error_message(), "compare") != NULL);

  eloqstore_comparator *cmp =
      eloqstore_comparator_new(&the_ctx, reverse_compare, "test.Reverse", reverse_separator, destroy);
  CHECK(cmp != NULL);
  const char *dir = h_tempdir();
  eloqstore_options *o = h_options(dir, 2);
  CHECK_OK(eloqstore_options_set_comparator(o, cmp));
  eloqstore_comparator_free(cmp); /* the options keep it */
  eloqstore_store *s = h_open(o);

  /* Keys added in bytewise ascending order are descending here: refused. */
  eloqstore_request *w = eloqstore_request_new(ELOQSTORE_REQ_BATCH_WRITE);
  h_set_table(w, "rev", 0);
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"a", 1, (const uint8_t *)"1", 1, 1,
                               ELOQSTORE_UPSERT, 0));
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"b", 1, (const uint8_t *)"2", 1, 1,
                               ELOQSTORE_UPSERT, 0));
  CHECK_ERR(eloqstore_store_exec_sync(s, w), ELOQSTORE_INVALID_ARGS);
  CHECK(strstr(eloqstore_request_error_message(w), "ascending") != NULL);
  CHECK_OK(eloqstore_batch_clear(w));

  /* 2000 keys, added from k01999 down to k00000 (ascending in this
     order), with values large enough to need many pages. */
  char k[32], v[160];
  for (unsigned i = 2000; i-- > 0;) {
    key_of(k, sizeof k, i);
    int vl = snprintf(v, sizeof v, "value-%05u-%0120u", i, i);
    CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)k, strlen(k), (const uint8_t *)v,
                                 (size_t)vl, 1, ELOQSTORE_UPSERT, 0));
  }
  CHECK_OK(eloqstore_store_exec_sync(s, w));
  eloqstore_request_free(w);
  CHECK(atomic_load(&the_ctx.compares) > 0);
  CHECK(atomic_load(&the_ctx.separators) > 2); /* pages were split */
  CHECK(atomic_load(&the_ctx.off_main_thread) > 0);

  /* A full scan returns the keys in reverse bytewise order. */
  eloqstore_request *sc = eloqstore_request_new(ELOQSTORE_REQ_SCAN);
  h_set_table(sc, "rev", 0);
  CHECK_OK(eloqstore_store_exec_sync(s, sc));
  CHECK_EQ(eloqstore_scan_entry_count(sc), 2000);
  for (unsigned j = 0; j < 2000; j++) {
    eloqstore_entry e;
    CHECK_OK(eloqstore_scan_entry(sc, j, &e));
    key_of(k, sizeof k, 1999 - j);
    CHECK_BYTES(e.key, e.key_len, k);
    CHECK(e.value_len > 12 && memcmp(e.value, "value-", 6) == 0 &&
          memcmp(e.value + 6, k + 1, 5) == 0);
  }
  /* [k00020, k00010) in this order: k00020 down to k00011. */
  CHECK_OK(eloqstore_scan_set_range(sc, (const uint8_t *)"k00020", 6, (const uint8_t *)"k00010",
                                    6, true));
  CHECK_OK(eloqstore_store_exec_sync(s, sc));
  CHECK_EQ(eloqstore_scan_entry_count(sc), 10);
  eloqstore_entry e;
  CHECK_OK(eloqstore_scan_entry(sc, 0, &e));
  CHECK_BYTES(e.key, e.key_len, "k00020");
  CHECK_OK(eloqstore_scan_entry(sc, 9, &e));
  CHECK_BYTES(e.key, e.key_len, "k00011");
  /* Paginated, the pages continue in reverse. */
  CHECK_OK(eloqstore_scan_set_range(sc, NULL, 0, NULL, 0, true));
  CHECK_OK(eloqstore_scan_set_pagination(sc, 700, 0));
  unsigned seen = 0;
  for (;;) {
    CHECK_OK(eloqstore_store_exec_sync(s, sc));
    size_t n = eloqstore_scan_entry_count(sc);
    for (size_t j = 0; j < n; j++) {
      CHECK_OK(eloqstore_scan_entry(sc, j, &e));
      key_of(k, sizeof k, 1999 - seen - (unsigned)j);
      CHECK_BYTES(e.key, e.key_len, k);
    }
    seen += (unsigned)n;
    if (!eloqstore_scan_has_remaining(sc)) break;
    CHECK_OK(eloqstore_scan_entry(sc, n - 1, &e));
    CHECK_OK(eloqstore_scan_set_range(sc, e.key, e.key_len, NULL, 0, false));
  }
  CHECK_EQ(seen, 2000);
  eloqstore_request_free(sc);

  /* Every key reads back (lookups go through the separators). */
  char buf[200];
  for (unsigned i = 0; i < 2000; i += 7) {
    key_of(k, sizeof k, i);
    CHECK_OK(h_read(s, "rev", 0, k, buf, sizeof buf));
    snprintf(v, sizeof v, "value-%05u-%0120u", i, i);
    CHECK_STR(buf, v);
  }
  /* Floor in reverse order: the bytewise smallest key >= the search key. */
  eloqstore_request *f = eloqstore_request_new(ELOQSTORE_REQ_FLOOR);
  h_set_table(f, "rev", 0);
  CHECK_OK(eloqstore_request_set_key(f, (const uint8_t *)"k00042x", 7));
  CHECK_OK(eloqstore_store_exec_sync(s, f));
  CHECK_OK(eloqstore_request_result(f, &e));
  CHECK_BYTES(e.key, e.key_len, "k00043");
  CHECK_OK(eloqstore_request_set_key(f, (const uint8_t *)"a", 1));
  CHECK_OK(eloqstore_store_exec_sync(s, f));
  CHECK_OK(eloqstore_request_result(f, &e));
  CHECK_BYTES(e.key, e.key_len, "k00000");
  CHECK_OK(eloqstore_request_set_key(f, (const uint8_t *)"zzz", 3));
  CHECK_ERR(eloqstore_store_exec_sync(s, f), ELOQSTORE_NOT_FOUND);
  eloqstore_request_free(f);

  /* Options with the comparator cleared use the bytewise order again
     (on another store: the order is not persisted). */
  eloqstore_options *plain = eloqstore_options_clone(o);
  CHECK_OK(eloqstore_options_set_comparator(plain, NULL));
  const char *dir2 = h_tempdir();
  char path[4096];
  h_format(path, sizeof path, "%s/store", dir2);
  const char *paths[] = {path};
  CHECK_OK(eloqstore_options_set_store_paths(plain, paths, 1));
  eloqstore_store *s2 = h_open(plain);
  long before = atomic_load(&the_ctx.compares);
  CHECK_OK(h_write_range(s2, "fwd", 0, "k", "v", 0, 10, 1));
  eloqstore_request *sc2 = eloqstore_request_new(ELOQSTORE_REQ_SCAN);
  h_set_table(sc2, "fwd", 0);
  CHECK_OK(eloqstore_store_exec_sync(s2, sc2));
  CHECK_EQ(eloqstore_scan_entry_count(sc2), 10);
  CHECK_OK(eloqstore_scan_entry(sc2, 0, &e));
  CHECK_BYTES(e.key, e.key_len, "k00000");
  CHECK_EQ(atomic_load(&the_ctx.compares), before); /* the C comparator was not used */
  eloqstore_request_free(sc2);
  eloqstore_store_free(s2);
  eloqstore_options_free(plain);

  /* The context is destroyed once, when the last user (options, store,
     the clone) is gone. */
  CHECK_EQ(the_ctx.destroyed, 0);
  eloqstore_options_free(o);
  CHECK_EQ(the_ctx.destroyed, 0);
  eloqstore_store_free(s);
  CHECK_EQ(the_ctx.destroyed, 1);
  CHECK_EQ(atomic_load(&the_ctx.bad_ctx), 0);
  return h_done("test_comparator");
}
