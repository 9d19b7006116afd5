/*
 * Several client threads at once on one store: each writes, reads,
 * deletes and scans its own partition (synchronously and asynchronously)
 * and checks its own results, while the others do the same.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "harness.h"

enum { THREADS = 4, ROUNDS = 5, KEYS = 200 };

static eloqstore_store *store;

struct async_done {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int n;
  int errors;
  pthread_t owner;
  int on_owner_thread;
};

static void on_done(eloqstore_request *req, uint64_t ud) {
  struct async_done *d = (struct async_done *)(uintptr_t)ud;
  pthread_mutex_lock(&d->lock);
  if (eloqstore_request_error(req) != ELOQSTORE_OK) d->errors++;
  if (pthread_equal(pthread_self(), d->owner)) d->on_owner_thread++;
  d->n++;
  pthread_cond_broadcast(&d->cond);
  pthread_mutex_unlock(&d->lock);
}

static void *client(void *arg) {
  uint32_t part = (uint32_t)(uintptr_t)arg;
  char k[32], v[64], want[64];
  /* Rounds of overwrites: round r writes value "p<part>-r<r>-<i>". */
  for (unsigned round = 0; round < ROUNDS; round++) {
    eloqstore_request *w = eloqstore_request_new(ELOQSTORE_REQ_BATCH_WRITE);
    h_set_table(w, "mt", part);
    for (unsigned i = 0; i < KEYS; i++) {
      snprintf(k, sizeof k, "k%05u", i);
      int vl = snprintf(v, sizeof v, "p%u-r%u-%u", part, round, i);
      CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)k, 6, (const uint8_t *)v, (size_t)vl,
                                   round + 1, ELOQSTORE_UPSERT, 0));
    }
    CHECK_OK(eloqstore_store_exec_sync(store, w));
    eloqstore_request_free(w);
    /* Read a sample back. */
    for (unsigned i = round; i < KEYS; i += 17) {
      snprintf(k, sizeof k, "k%05u", i);
      snprintf(want, sizeof want, "p%u-r%u-%u", part, round, i);
      char got[64];
      CHECK_OK(h_read(store, "mt", part, k, got, sizeof got));
      CHECK_STR(got, want);
    }
  }
  /* Delete every third key. */
  eloqstore_request *w = eloqstore_request_new(ELOQSTORE_REQ_BATCH_WRITE);
  h_set_table(w, "mt", part);
  for (unsigned i = 0; i < KEYS; i += 3) {
    snprintf(k, sizeof k, "k%05u", i);
    CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)k, 6, NULL, 0, 100, ELOQSTORE_DELETE, 0));
  }
  CHECK_OK(eloqstore_store_exec_sync(store, w));
  eloqstore_request_free(w);
  /* A paginated scan sees exactly this thread's final state. */
  eloqstore_request *s = eloqstore_request_new(ELOQSTORE_REQ_SCAN);
  h_set_table(s, "mt", part);
  CHECK_OK(eloqstore_scan_set_pagination(s, 25, 0));
  unsigned next = 1, total = 0;
  for (;;) {
    CHECK_OK(eloqstore_store_exec_sync(store, s));
    size_t n = eloqstore_scan_entry_count(s);
    eloqstore_entry e;
    for (size_t j = 0; j < n; j++) {
      CHECK_OK(eloqstore_scan_entry(s, j, &e));
      if (next % 3 == 0) next++;
      snprintf(k, sizeof k, "k%05u", next);
      snprintf(want, sizeof want, "p%u-r%u-%u", part, ROUNDS - 1, next);
      CHECK_BYTES(e.key, e.key_len, k);
      CHECK_BYTES(e.value, e.value_len, want);
      CHECK_EQ(e.timestamp, ROUNDS);
      next++;
      total++;
    }
    if (!eloqstore_scan_has_remaining(s)) break;
    CHECK_OK(eloqstore_scan_entry(s, n - 1, &e));
    CHECK_OK(eloqstore_scan_set_range(s, e.key, e.key_len, NULL, 0, false));
  }
  CHECK_EQ(total, KEYS - (KEYS + 2) / 3);
  eloqstore_request_free(s);

  /* Many reads at once, asynchronously. */
  struct async_done d;
  pthread_mutex_init(&d.lock, NULL);
  pthread_cond_init(&d.cond, NULL);
  d.n = 0;
  d.errors = 0;
  d.owner = pthread_self();
  d.on_owner_thread = 0;
  eloqstore_request *reads[16];
  for (unsigned i = 0; i < 16; i++) {
    reads[i] = eloqstore_request_new(ELOQSTORE_REQ_READ);
    h_set_table(reads[i], "mt", part);
    snprintf(k, sizeof k, "k%05u", 3 * i + 1);
    CHECK_OK(eloqstore_request_set_key(reads[i], (const uint8_t *)k, 6));
    CHECK(eloqstore_store_exec_async(store, reads[i], on_done, (uint64_t)(uintptr_t)&d));
  }
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 30;
  pthread_mutex_lock(&d.lock);
  while (d.n < 16)
    CHECK_MSG(pthread_cond_timedwait(&d.cond, &d.lock, &deadline) != ETIMEDOUT,
              "partition %u: %d of 16 callbacks after 30 s", part, d.n);
  pthread_mutex_unlock(&d.lock);
  CHECK_EQ(d.errors, 0);
  CHECK_EQ(d.on_owner_thread, 0);
  for (unsigned i = 0; i < 16; i++) {
    eloqstore_request_wait(reads[i]);
    eloqstore_entry e;
    CHECK_OK(eloqstore_request_result(reads[i], &e));
    snprintf(want, sizeof want, "p%u-r%u-%u", part, ROUNDS - 1, 3 * i + 1);
    CHECK_BYTES(e.value, e.value_len, want);
    eloqstore_request_free(reads[i]);
  }
  pthread_mutex_destroy(&d.lock);
  pthread_cond_destroy(&d.cond);
  return NULL;
}

int main(void) {
  const char *dir = h_tempdir();
  eloqstore_options *o = h_options(dir, 2);
  store = h_open(o);
  eloqstore_options_free(o);
  pthread_t t[THREADS];
  for (uintptr_t i = 0; i < THREADS; i++)
    CHECK_EQ(pthread_create(&t[i], NULL, client, (void *)i), 0);
  for (int i = 0; i < THREADS; i++) CHECK_EQ(pthread_join(t[i], NULL), 0);
  /* No partition saw another's data. */
  for (uint32_t p = 0; p < THREADS; p++)
    CHECK_EQ(h_scan_count(store, "mt", p, NULL, NULL), KEYS - (KEYS + 2) / 3);
  eloqstore_store_free(store);
  return h_done("test_threads");
}
