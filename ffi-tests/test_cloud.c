/*
 * The cloud tier through the C ABI, against the S3 server of the ctest
 * fixture `s3` ($ELOQSTORE_S3_ENDPOINT): a store started with a term,
 * writes uploaded, ListObject over more than 1,000 objects with
 * continuation tokens, object details, reads after the local cache is
 * wiped, and the list functions' bad inputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static eloqstore_options *cloud_options(const char *cache, const char *prefix) {
  const char *endpoint = getenv("ELOQSTORE_S3_ENDPOINT");
  CHECK_MSG(endpoint != NULL && endpoint[0] != '\0',
            "ELOQSTORE_S3_ENDPOINT is not set (run through ctest's s3 fixture)");
  eloqstore_options *o = eloqstore_options_new();
  const char *paths[] = {cache};
  CHECK_OK(eloqstore_options_set_store_paths(o, paths, 1));
  char path[256];
  h_format(path, sizeof path, "eloqstore/%s", prefix);
  CHECK_OK(eloqstore_options_set_string(o, "cloud_store_path", (const uint8_t *)path, strlen(path)));
  CHECK_OK(eloqstore_options_set_string(o, "cloud_endpoint", (const uint8_t *)endpoint,
                                        strlen(endpoint)));
  CHECK_OK(eloqstore_options_set_uint(o, "num_threads", 2));
  /* Two 4 KiB pages per data file: a few thousand values make 1,000+
     objects. */
  CHECK_OK(eloqstore_options_set_uint(o, "pages_per_file_shift", 1));
  CHECK_OK(eloqstore_options_set_uint(o, "fd_limit", 1000));
  return o;
}

/* Lists `path` page by page; returns the number of items, the pages in
   *pages, and checks that `want_name` is among them (as a file). */
static size_t list_all(eloqstore_store *s, const char *path, bool recursive, int *pages,
                       const char *want_name) {
  size_t total = 0;
  bool found = want_name == NULL;
  char token[4096] = "";
  size_t token_len = 0;
  *pages = 0;
  for (;;) {
    eloqstore_request *l = eloqstore_request_new(ELOQSTORE_REQ_LIST_OBJECT);
    CHECK(l != NULL);
    CHECK_OK(eloqstore_list_set_args(l, (const uint8_t *)path, strlen(path), recursive,
                                     (const uint8_t *)token, token_len));
    CHECK_OK(eloqstore_store_exec_sync(s, l));
    (*pages)++;
    size_t n = eloqstore_list_count(l);
    for (size_t i = 0; i < n; i++) {
      eloqstore_object_info o;
      CHECK_OK(eloqstore_list_item(l, i, &o));
      CHECK(o.name_len > 0 && o.path_len >= o.name_len);
      if (!o.is_dir) {
        CHECK(o.size > 0);
        CHECK(o.mod_time_len > 0 && o.mod_time[o.mod_time_len - 1] == 'Z');
      }
      if (want_name != NULL && o.name_len == strlen(want_name) &&
          memcmp(o.name, want_name, o.name_len) == 0)
        found = true;
    }
    CHECK_ERR(eloqstore_list_item(l, n, NULL), ELOQSTORE_INVALID_ARGS);
    total += n;
    const uint8_t *t = NULL;
    CHECK_OK(eloqstore_list_next_token(l, &t, &token_len));
    CHECK(token_len < sizeof token);
    if (token_len > 0) memcpy(token, t, token_len);
    eloqstore_request_free(l);
    if (token_len == 0) break;
  }
  CHECK_MSG(found, "%s not listed under %s", want_name, path);
  return total;
}

static void write_many(eloqstore_store *s, unsigned n) {
  eloqstore_request *w = eloqstore_request_new(ELOQSTORE_REQ_BATCH_WRITE);
  h_set_table(w, "t", 0);
  static char v[3000];
  char k[32];
  for (unsigned i = 0; i < n; i++) {
    int kl = snprintf(k, sizeof k, "k%06u", i);
    memset(v, 'a' + (int)(i % 26), sizeof v);
    CHECK_OK(eloqstore_batch_add(w, (const uint8_t *)k, (size_t)kl, (const uint8_t *)v,
                                 sizeof v, 1, ELOQSTORE_UPSERT, 0));
  }
  CHECK_OK(eloqstore_store_exec_sync(s, w));
  eloqstore_request_free(w);
}

static void cloud_store(void) {
  char prefix[128], cache[512];
  h_format(prefix, sizeof prefix, "ffi-%ld-%ld", (long)getpid(), (long)time(NULL));
  h_format(cache, sizeof cache, "%s/cache", h_tempdir());
  eloqstore_options *o = cloud_options(cache, prefix);
  eloqstore_store *s = NULL;
  CHECK_OK(eloqstore_store_new(o, &s));
  CHECK_EQ(eloqstore_store_term(s), 0);
  CHECK_OK(eloqstore_store_start(s, 3));
  CHECK_EQ(eloqstore_store_term(s), 3);
  write_many(s, 2200);
  int pages = 0;
  size_t n = list_all(s, "t.0", false, &pages, "CURRENT_TERM");
  CHECK_MSG(n > 1000 && pages >= 2, "%zu objects in %d pages", n, pages);
  /* The root: the partition as a directory. */
  size_t r = list_all(s, "", false, &pages, "t.0");
  CHECK_EQ(r, 1);
  /* Recursive from the root: every object once more. */
  size_t all = list_all(s, "/", true, &pages, "manifest_3");
  CHECK_EQ(all, n);
  eloqstore_store_stop(s);
  CHECK_EQ(eloqstore_store_term(s), 0);
  /* Everything comes back from the bucket. */
  CHECK(h_remove_tree(cache));
  CHECK_OK(eloqstore_store_start(s, 3));
  char buf[4096];
  CHECK_OK(h_read(s, "t", 0, "k001234", buf, sizeof buf));
  CHECK(strlen(buf) == 3000 && buf[0] == 'a' + 1234 % 26);
  eloqstore_store_free(s);
  eloqstore_options_free(o);
}

static void bad_inputs(void) {
  eloqstore_request *r = eloqstore_request_new(ELOQSTORE_REQ_READ);
  CHECK_ERR(eloqstore_list_set_args(r, (const uint8_t *)"x", 1, false, NULL, 0),
            ELOQSTORE_INVALID_ARGS);
  CHECK_EQ(eloqstore_list_count(r), 0);
  CHECK_ERR(eloqstore_list_item(r, 0, NULL), ELOQSTORE_INVALID_ARGS);
  CHECK_ERR(eloqstore_list_next_token(r, NULL, NULL), ELOQSTORE_INVALID_ARGS);
  eloqstore_request_free(r);
  eloqstore_request *l = eloqstore_request_new(ELOQSTORE_REQ_LIST_OBJECT);
  CHECK_ERR(eloqstore_list_set_args(NULL, NULL, 0, false, NULL, 0), ELOQSTORE_INVALID_ARGS);
  CHECK_ERR(eloqstore_list_set_args(l, NULL, 3, false, NULL, 0), ELOQSTORE_INVALID_ARGS);
  CHECK_ERR(eloqstore_list_set_args(l, (const uint8_t *)"\xff", 1, false, NULL, 0),
            ELOQSTORE_INVALID_ARGS);
  CHECK_OK(eloqstore_list_set_args(l, NULL, 0, true, NULL, 0));
  CHECK_EQ(eloqstore_list_count(NULL), 0);
  CHECK_EQ(eloqstore_store_term(NULL), 0);
  /* Outside cloud mode: refused. */
  eloqstore_options *o = h_options(h_tempdir(), 1);
  eloqstore_store *s = h_open(o);
  CHECK_EQ(eloqstore_store_term(s), 0);
  CHECK_ERR(eloqstore_store_exec_sync(s, l), ELOQSTORE_INVALID_ARGS);
  CHECK_EQ(eloqstore_list_count(l), 0);
  eloqstore_store_free(s);
  eloqstore_options_free(o);
  /* A store whose service cannot be reached does not start. */
  char cache[512];
  h_format(cache, sizeof cache, "%s/unreachable", h_tempdir());
  o = cloud_options(cache, "never");
  CHECK_OK(eloqstore_options_set_string(o, "cloud_endpoint", (const uint8_t *)"http://127.0.0.1:1",
                                        18));
  CHECK_OK(eloqstore_store_new(o, &s));
  CHECK_ERR(eloqstore_store_start(s, 0), ELOQSTORE_CLOUD_ERR);
  CHECK(strstr(eloqstore_last_error_message(), "cannot be reached") != NULL);
  CHECK(!h_exists(cache)); /* nothing created */
  eloqstore_store_free(s);
  eloqstore_options_free(o);
  eloqstore_request_free(l);
}

int main(void) {
  bad_inputs();
  cloud_store();
  return h_done("test_cloud");
}
