/*
 * Asynchronous requests: callbacks run once, on a store thread, with the
 * request handle and user data; a request stays in flight (BUSY setters,
 * no second submission, no results) until it completes; a request freed
 * in flight still completes and calls back; freeing a store waits for
 * every request in flight and its callback; callbacks may submit more
 * requests but not run exec_sync, stop or free.
 *
 * Requests are held in flight deterministically by a "gate" comparator:
 * while the gate is closed, every key comparison on a store thread blocks.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "harness.h"

/* Condition waits give up at a deadline and fail the test: a callback
   that never comes must not hang the run. */
static struct timespec deadline_in(unsigned seconds) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += (time_t)seconds;
  return ts;
}
#define TIMED_WAIT(cond, lock, deadline, what)                                  \
  do {                                                                          \
    if (pthread_cond_timedwait((cond), (lock), (deadline)) == ETIMEDOUT)        \
      h_fail(__FILE__, __LINE__, "timed out waiting for %s", (what));           \
  } while (0)

/* --- the gate ------------------------------------------------------------ */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_closed;
static int gate_waiting; /* store threads blocked at the gate */

static int gate_compare(void *ctx, const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
  (void)ctx;
  pthread_mutex_lock(&gate_lock);
  if (gate_closed) {
    gate_waiting++;
    pthread_cond_broadcast(&gate_cond);
    while (gate_closed) pthread_cond_wait(&gate_cond, &gate_lock);
    gate_waiting--;
  }
  pthread_mutex_unlock(&gate_lock);
  size_t n = al < bl ? al : bl;
  int c = n ? memcmp(a, b, n) : 0;
  return c ? c : (al > bl) - (al < bl);
}

static void gate_close(void) {
  pthread_mutex_lock(&gate_lock);
  gate_closed = true;
  pthread_mutex_unlock(&gate_lock);
}

static void gate_open(void) {
  pthread_mutex_lock(&gate_lock);
  gate_closed = false;
  pthread_cond_broadcast(&gate_cond);
  pthread_mutex_unlock(&gate_lock);
}

/* Waits until `n` store threads are blocked at the gate. */
static void gate_wait_blocked(int n) {
  struct timespec deadline = deadline_in(30);
  pthread_mutex_lock(&gate_lock);
  while (gate_waiting < n)
    TIMED_WAIT(&gate_cond, &gate_lock, &deadline, "a store thread at the gate");
  pthread_mutex_unlock(&gate_lock);
}

/* --- callback bookkeeping ------------------------------------------------ */

#define MAX_CALLS 64
struct call {
  eloqstore_request *req;
  uint64_t user_data;
  pthread_t thread;
  eloqstore_error err;
  char value[32];
  bool done_in_callback;
};

static pthread_mutex_t calls_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t calls_cond = PTHREAD_COND_INITIALIZER;
static struct call calls[MAX_CALLS];
static int n_calls;

static void record(eloqstore_request *req, uint64_t user_data) {
  struct call c;
  memset(&c, 0, sizeof c);
  c.req = req;
  c.user_data = user_data;
  c.thread = pthread_self();
  c.err = eloqstore_request_error(req);
  c.done_in_callback = eloqstore_request_is_done(req);
  eloqstore_entry e;
  uint8_t t = eloqstore_request_type_of(req);
  if ((t == ELOQSTORE_REQ_READ || t == ELOQSTORE_REQ_FLOOR) &&
      eloqstore_request_result(req, &e) == ELOQSTORE_OK && e.value_len < sizeof c.value) {
    memcpy(c.value, e.value, e.value_len); /* read inside the callback */
  }
  pthread_mutex_lock(&calls_lock);
  if (n_calls < MAX_CALLS) calls[n_calls] = c;
  n_calls++;
  pthread_cond_broadcast(&calls_cond);
  pthread_mutex_unlock(&calls_lock);
}

static void on_done(eloqstore_request *req, uint64_t user_data) { record(req, user_data); }

static void wait_calls(int n) {
  struct timespec deadline = deadline_in(30);
  pthread_mutex_lock(&calls_lock);
  while (n_calls < n) TIMED_WAIT(&calls_cond, &calls_lock, &deadline, "callbacks");
  pthread_mutex_unlock(&calls_lock);
}

static int calls_now(void) {
  pthread_mutex_lock(&calls_lock);
  int n = n_calls;
  pthread_mutex_unlock(&calls_lock);
  return n;
}

static void reset_calls(void) {
  pthread_mutex_lock(&calls_lock);
  n_calls = 0;
  pthread_mutex_unlock(&calls_lock);
}

static eloqstore_store *open_gated(const char *dir) {
  eloqstore_comparator *cmp = eloqstore_comparator_new(NULL, gate_compare, "gate", NULL, NULL);
  CHECK(cmp != NULL);
  eloqstore_options *o = h_options(dir, 2);
  CHECK_OK(eloqstore_options_set_comparator(o, cmp));
  eloqstore_comparator_free(cmp);
  eloqstore_store *s = h_open(o);
  eloqstore_options_free(o);
  return s;
}

static eloqstore_request *new_read(const char *key) {
  eloqstore_request *r = eloqstore_request_new(ELOQSTORE_REQ_READ);
  h_set_table(r, "t", 0);
  CHECK_OK(eloqstore_request_set_key(r, (const uint8_t *)key, strlen(key)));
  return r;
}

/* --- tests --------------------------------------------------------------- */

static void callback_thread_and_user_data(eloqstore_store *s) {
  reset_calls();
  eloqstore_request *r = new_read("k00007");
  const uint64_t ud = 0xfedcba9876543210ull;
  CHECK(eloqstore_store_exec_async(s, r, on_done, ud));
  wait_calls(1);
  eloqstore_request_wait(r);
  pthread_mutex_lock(&calls_lock);
  struct call c = calls[0];
  pthread_mutex_unlock(&calls_lock);
  CHECK(c.req == r); /* the handle the caller submitted */
  CHECK_EQ(c.user_data, ud);
  CHECK(!pthread_equal(c.thread, pthread_self())); /* on a store thread */
  CHECK_OK(c.err);
  CHECK(c.done_in_callback);
  CHECK_STR(c.value, "v00007");
  CHECK_EQ(eloqstore_request_user_data(r), ud);
  /* Exactly one call. */
  h_sleep_ms(50);
  CHECK_EQ(calls_now(), 1);
  /* Failures are delivered the same way. */
  CHECK_OK(eloqstore_request_set_key(r, (const uint8_t *)"missing", 7));
  CHECK(eloqstore_store_exec_async(s, r, on_done, 2));
  wait_calls(2);
  eloqstore_request_wait(r);
  CHECK_ERR(calls[1].err, ELOQSTORE_NOT_FOUND);
  CHECK_EQ(calls[1].user_data, 2);
  eloqstore_request_free(r);
}

/* Requests refused before reaching a partition (a rejection mark, a table
   name that cannot name a directory) still call back on a store thread,
   never inside exec_async. */
static void early_failures_on_store_thread(eloqstore_store *s) {
  reset_calls();
  eloqstore_request *r = new_read("k00003");
  const char *why = "argument out of range";
  CHECK_OK(eloqstore_request_reject(r, (const uint8_t *)why, strlen(why)));
  CHECK(eloqstore_store_exec_async(s, r, on_done, 1));
  wait_calls(1);
  eloqstore_request_wait(r);
  CHECK_ERR(calls[0].err, ELOQSTORE_INVALID_ARGS);
  CHECK(!pthread_equal(calls[0].thread, pthread_self()));
  CHECK(strstr(eloqstore_request_error_message(r), why) != NULL);
  /* The mark stays until cleared; then the same request runs. */
  CHECK_ERR(eloqstore_store_exec_sync(s, r), ELOQSTORE_INVALID_ARGS);
  CHECK_OK(eloqstore_request_reject(r, NULL, 0));
  CHECK_OK(eloqstore_store_exec_sync(s, r));
  CHECK_ERR(eloqstore_request_reject(r, NULL, 3), ELOQSTORE_OK); /* NULL clears */
  CHECK_ERR(eloqstore_request_reject(NULL, NULL, 0), ELOQSTORE_INVALID_ARGS);
  /* A table name with '/' is refused by the engine, on a store thread. */
  CHECK_OK(eloqstore_request_set_table(r, (const uint8_t *)"a/b", 3, 0));
  CHECK(eloqstore_store_exec_async(s, r, on_done, 2));
  wait_calls(2);
  eloqstore_request_wait(r);
  CHECK_ERR(calls[1].err, ELOQSTORE_INVALID_ARGS);
  CHECK(!pthread_equal(calls[1].thread, pthread_self()));
  eloqstore_request_free(r);
}

static void busy_while_in_flight(eloqstore_store *s) {
  reset_calls();
  const uint8_t *x = (const uint8_t *)"x";
  eloqstore_request *r = new_read("k00001");
  eloqstore_request *sc = eloqstore_request_new(ELOQSTORE_REQ_SCAN);
  h_set_table(sc, "t", 0);
  eloqstore_request *w = eloqstore_request_new(ELOQSTORE_REQ_BATCH_WRITE);
  h_set_table(w, "t", 0);
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"k00001", 6, (const uint8_t *)"new", 3, 9,
                               ELOQSTORE_UPSERT, 0));
  CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)"k00002", 6, NULL, 0, 9, ELOQSTORE_DELETE,
                               0));
  eloqstore_request *t = eloqstore_request_new(ELOQSTORE_REQ_TRUNCATE);
  h_set_table(t, "t", 0);
  CHECK_OK(eloqstore_truncate_set_position(t, (const uint8_t *)"k00090", 6));
  eloqstore_request *a = eloqstore_request_new(ELOQSTORE_REQ_ARCHIVE);
  h_set_table(a, "t", 0);
  eloqstore_request *other = new_read("k00003");

  gate_close();
  CHECK(eloqstore_store_exec_async(s, r, on_done, 1));
  gate_wait_blocked(1); /* the read is inside a comparison on its shard */
  CHECK(eloqstore_store_exec_async(s, sc, on_done, 2));
  CHECK(eloqstore_store_exec_async(s, w, on_done, 3));
  CHECK(eloqstore_store_exec_async(s, t, on_done, 4));
  CHECK(eloqstore_store_exec_async(s, a, on_done, 5));
  eloqstore_request *all[] = {r, sc, w, t, a};
  for (size_t i = 0; i < 5; i++) {
    CHECK(!eloqstore_request_is_done(all[i]));
    /* Every setter is BUSY (before its kind is even checked). */
    CHECK_ERR(eloqstore_request_set_table(all[i], x, 1, 0), ELOQSTORE_BUSY);
    CHECK_ERR(eloqstore_request_set_key(all[i], x, 1), ELOQSTORE_BUSY);
    CHECK_ERR(eloqstore_scan_set_range(all[i], x, 1, NULL, 0, true), ELOQSTORE_BUSY);
    CHECK_ERR(eloqstore_scan_set_pagination(all[i], 1, 1), ELOQSTORE_BUSY);
    CHECK_ERR(eloqstore_scan_set_prefetch(all[i], 1), ELOQSTORE_BUSY);
    CHECK_ERR(eloqstore_batch_add(all[i], x, 1, x, 1, 1, ELOQSTORE_UPSERT, 0), ELOQSTORE_BUSY);
    CHECK_ERR(eloqstore_batch_clear(all[i]), ELOQSTORE_BUSY);
    CHECK_ERR(eloqstore_truncate_set_position(all[i], x, 1), ELOQSTORE_BUSY);
    CHECK_ERR(eloqstore_drop_table_set_name(all[i], x, 1), ELOQSTORE_BUSY);
    CHECK_ERR(eloqstore_archive_set_timestamp(all[i], 1), ELOQSTORE_BUSY);
    /* No second submission. */
    CHECK(!eloqstore_store_exec_async(s, all[i], on_done, 99));
    CHECK_ERR(eloqstore_store_exec_sync(s, all[i]), ELOQSTORE_INVALID_ARGS);
    /* No results yet. */
    CHECK_STR(eloqstore_request_error_message(all[i]), "");
  }
  eloqstore_entry e;
  CHECK_ERR(eloqstore_request_result(r, &e), ELOQSTORE_BUSY);
  CHECK_EQ(eloqstore_scan_entry_count(sc), 0);
  CHECK_ERR(eloqstore_scan_entry(sc, 0, &e), ELOQSTORE_INVALID_ARGS);
  CHECK(!eloqstore_scan_has_remaining(sc));
  size_t c, b;
  CHECK_ERR(eloqstore_scan_result_size(sc, &c, &b), ELOQSTORE_INVALID_ARGS);
  CHECK_EQ(eloqstore_batch_len(w), 2); /* reading the batch is fine */
  CHECK_EQ(eloqstore_request_type_of(w), ELOQSTORE_REQ_BATCH_WRITE);
  /* The batch in flight was not changed by the refused setters. */
  CHECK_EQ(calls_now(), 0);
  /* Another request on the blocked shard waits too; exec_sync from this
     thread would block, so it is submitted asynchronously. */
  CHECK(eloqstore_store_exec_async(s, other, on_done, 6));

  gate_open();
  wait_calls(6);
  for (size_t i = 0; i < 5; i++) eloqstore_request_wait(all[i]);
  eloqstore_request_wait(other);
  /* Each ran once, in order of submission on the partition. */
  CHECK_OK(eloqstore_request_error(r));
  CHECK_OK(eloqstore_request_result(r, &e));
  CHECK_BYTES(e.value, e.value_len, "v00001");
  CHECK_OK(eloqstore_request_error(sc));
  CHECK_EQ(eloqstore_scan_entry_count(sc), 100);
  CHECK_OK(eloqstore_request_error(w));
  CHECK_OK(eloqstore_request_error(t));
  CHECK_ERR(eloqstore_request_error(a), ELOQSTORE_INVALID_ARGS); /* not append mode */
  CHECK_OK(eloqstore_request_error(other));
  CHECK_OK(eloqstore_request_result(other, &e));
  CHECK_BYTES(e.value, e.value_len, "v00003");
  bool seen[7] = {false};
  for (int i = 0; i < 6; i++) {
    CHECK(calls[i].user_data >= 1 && calls[i].user_data <= 6);
    CHECK(!seen[calls[i].user_data]);
    seen[calls[i].user_data] = true;
    CHECK(!pthread_equal(calls[i].thread, pthread_self()));
  }
  char buf[16];
  CHECK_OK(h_read(s, "t", 0, "k00001", buf, sizeof buf));
  CHECK_STR(buf, "new");
  CHECK_ERR(h_read(s, "t", 0, "k00002", buf, sizeof buf), ELOQSTORE_NOT_FOUND);
  CHECK_EQ(h_scan_count(s, "t", 0, NULL, NULL), 89); /* truncated at k00090, minus k00002 */
  /* Setters work again. */
  CHECK_OK(eloqstore_request_set_key(r, x, 1));
  for (size_t i = 0; i < 5; i++) eloqstore_request_free(all[i]);
  eloqstore_request_free(other);
}

static void freed_in_flight(eloqstore_store *s) {
  reset_calls();
  CHECK_OK(h_write_range(s, "t", 0, "k", "v", 0, 100, 10)); /* restore */
  eloqstore_request *r = new_read("k00042");
  uintptr_t handle = (uintptr_t)r;
  gate_close();
  CHECK(eloqstore_store_exec_async(s, r, on_done, 42));
  gate_wait_blocked(1);
  eloqstore_request_free(r); /* the caller lets go while it runs */
  CHECK(!eloqstore_store_is_stopped(s));
  gate_open();
  wait_calls(1);
  CHECK_EQ(calls[0].user_data, 42);
  /* The callback got the same handle, still valid: it read the result. */
  CHECK((uintptr_t)calls[0].req == handle);
  CHECK_OK(calls[0].err);
  CHECK_STR(calls[0].value, "v00042");
  /* Without a callback too: nothing to observe but no crash or leak. */
  eloqstore_request *q = new_read("k00043");
  CHECK(eloqstore_store_exec_async(s, q, NULL, 0));
  eloqstore_request_free(q);
}

/* Releases the gate after a delay, noting that it did. */
static atomic_bool released;
static void *release_later(void *arg) {
  (void)arg;
  gate_wait_blocked(1);
  h_sleep_ms(200);
  atomic_store(&released, true);
  gate_open();
  return NULL;
}

/* Callback that tries what a callback must not do, then submits a
   follow-up request. */
static eloqstore_store *reentrant_store;
static eloqstore_request *followup;
static atomic_int reentrant_checks_failed;
static void reentrant(eloqstore_request *req, uint64_t ud) {
  eloqstore_request *probe = new_read("k00005");
  /* exec_sync would wait for this thread: refused. */
  if (eloqstore_store_exec_sync(reentrant_store, probe) != ELOQSTORE_INVALID_ARGS)
    atomic_fetch_add(&reentrant_checks_failed, 1);
  eloqstore_request_free(probe);
  /* stop and free do nothing here. */
  eloqstore_store_stop(reentrant_store);
  eloqstore_store_free(reentrant_store);
  if (eloqstore_store_is_stopped(reentrant_store)) atomic_fetch_add(&reentrant_checks_failed, 1);
  /* Submitting asynchronously is allowed. */
  if (!eloqstore_store_exec_async(reentrant_store, followup, on_done, 1000 + ud))
    atomic_fetch_add(&reentrant_checks_failed, 1);
  record(req, ud);
}

static void from_callbacks(eloqstore_store *s) {
  reset_calls();
  reentrant_store = s;
  followup = new_read("k00006");
  eloqstore_request *r = new_read("k00005");
  CHECK(eloqstore_store_exec_async(s, r, reentrant, 7));
  wait_calls(2);
  eloqstore_request_wait(r);
  eloqstore_request_wait(followup);
  CHECK_EQ(atomic_load(&reentrant_checks_failed), 0);
  CHECK(!eloqstore_store_is_stopped(s));
  CHECK_OK(eloqstore_request_error(followup));
  eloqstore_entry e;
  CHECK_OK(eloqstore_request_result(followup, &e));
  CHECK_BYTES(e.value, e.value_len, "v00006");
  CHECK_EQ(eloqstore_request_user_data(followup), 1007);
  eloqstore_request_free(r);
  eloqstore_request_free(followup);
}

static void store_freed_while_running(eloqstore_store *s) {
  reset_calls();
  enum { N = 24 };
  eloqstore_request *reqs[N];
  char key[16];
  gate_close();
  for (int i = 0; i < N; i++) {
    if (i % 3 == 0) {
      reqs[i] = eloqstore_request_new(ELOQSTORE_REQ_BATCH_WRITE);
      /* Different partitions, so both shards have work. */
      h_set_table(reqs[i], "t", (uint32_t)(i % 2));
      snprintf(key, sizeof key, "w%05d", i);
      CHECK_OK(eloqstore_batch_add(reqs[i], (const uint8_t *)key, strlen(key),
                                   (const uint8_t *)"x", 1, 1, ELOQSTORE_UPSERT, 0));
      CHECK_OK(eloqstore_batch_add(reqs[i], (const uint8_t *)key, strlen(key),
                                   (const uint8_t *)"y", 1, 1, ELOQSTORE_UPSERT, 0));
      CHECK_OK(eloqstore_batch_clear(reqs[i]));
      CHECK_OK(eloqstore_batch_add(reqs[i], (const uint8_t *)key, strlen(key),
                                   (const uint8_t *)"x", 1, 1, ELOQSTORE_UPSERT, 0));
      CHECK_OK(eloqstore_batch_add(reqs[i], (const uint8_t *)"z", 1, (const uint8_t *)"x", 1,
                                   1, ELOQSTORE_UPSERT, 0));
    } else {
      snprintf(key, sizeof key, "k%05d", i);
      reqs[i] = new_read(key);
    }
    CHECK(eloqstore_store_exec_async(s, reqs[i], on_done, (uint64_t)i));
  }
  atomic_store(&released, false);
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, release_later, NULL), 0);
  eloqstore_store_free(s); /* waits for all of them */
  CHECK(atomic_load(&released));
  CHECK_EQ(calls_now(), N); /* every callback has run */
  CHECK_EQ(pthread_join(t, NULL), 0);
  bool seen[N] = {false};
  for (int i = 0; i < N; i++) {
    uint64_t ud = calls[i].user_data;
    CHECK(ud < N && !seen[ud]);
    seen[ud] = true;
    CHECK_OK(calls[i].err);
  }
  /* The requests are still valid handles, done, with their results. */
  for (int i = 0; i < N; i++) {
    CHECK(eloqstore_request_is_done(reqs[i]));
    CHECK_OK(eloqstore_request_error(reqs[i]));
    if (i % 3 != 0) {
      eloqstore_entry e;
      CHECK_OK(eloqstore_request_result(reqs[i], &e));
      snprintf(key, sizeof key, "v%05d", i);
      CHECK_BYTES(e.value, e.value_len, key);
    }
    eloqstore_request_free(reqs[i]);
  }
}

int main(void) {
  const char *dir = h_tempdir();
  eloqstore_store *s = open_gated(dir);
  CHECK_OK(h_write_range(s, "t", 0, "k", "v", 0, 100, 1));
  callback_thread_and_user_data(s);
  early_failures_on_store_thread(s);
  busy_while_in_flight(s);
  freed_in_flight(s);
  from_callbacks(s);
  store_freed_while_running(s);
  /* The writes of the store freed while running were all applied. */
  s = open_gated(dir);
  char buf[8];
  CHECK_OK(h_read(s, "t", 0, "w00000", buf, sizeof buf));
  CHECK_STR(buf, "x");
  CHECK_OK(h_read(s, "t", 1, "w00003", buf, sizeof buf));
  CHECK_STR(buf, "x");
  eloqstore_store_free(s);
  return h_done("test_async");
}
