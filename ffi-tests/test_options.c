/*
 * Options: every field by name, round-tripped according to its kind;
 * range checks of integer fields; wrong-kind access; clone; validate;
 * store paths; INI loading with its documented error codes; invalid
 * options refused by store_new.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

enum { KIND_UINT = 0, KIND_BOOL = 1, KIND_STRING = 2, KIND_LIST = 3, KIND_CALLBACK = 4 };

static int destroyed;
static void destroy_ctx(void *ctx) {
  CHECK(ctx == &destroyed);
  destroyed++;
}
static int compare_bytes(void *ctx, const uint8_t *a, size_t al, const uint8_t *b,
                         size_t bl) {
  (void)ctx;
  size_t n = al < bl ? al : bl;
  int c = n ? memcmp(a, b, n) : 0;
  if (c != 0) return c;
  return (al > bl) - (al < bl);
}
static bool accept_all(void *ctx, const uint8_t *t, size_t tl, uint32_t p) {
  (void)ctx;
  (void)t;
  (void)tl;
  (void)p;
  return true;
}

/* Every integer and boolean field of `o` except `skip` equals `ref`'s:
   setting one field by name changes no other. */
static void others_unchanged(const eloqstore_options *o, const eloqstore_options *ref,
                             const char *skip) {
  size_t n = eloqstore_options_field_count();
  for (size_t i = 0; i < n; i++) {
    const char *name = eloqstore_options_field_name(i);
    if (strcmp(name, skip) == 0) continue;
    int kind = eloqstore_options_field_kind(name);
    if (kind == KIND_UINT) {
      uint64_t a, b;
      CHECK_OK(eloqstore_options_get_uint(o, name, &a));
      CHECK_OK(eloqstore_options_get_uint(ref, name, &b));
      CHECK_MSG(a == b, "setting %s changed %s", skip, name);
    } else if (kind == KIND_BOOL) {
      bool a, b;
      CHECK_OK(eloqstore_options_get_bool(o, name, &a));
      CHECK_OK(eloqstore_options_get_bool(ref, name, &b));
      CHECK_MSG(a == b, "setting %s changed %s", skip, name);
    }
  }
}

/* The widest accepted value of an integer field: each candidate width is
   tried and the field restored. */
static uint64_t widest(eloqstore_options *o, const char *name) {
  static const uint64_t limits[] = {0xffu, 0xffffu, 0xffffffffu, UINT64_MAX};
  uint64_t before;
  CHECK_OK(eloqstore_options_get_uint(o, name, &before));
  uint64_t max = 0;
  for (size_t i = 0; i < 4; i++) {
    eloqstore_error e = eloqstore_options_set_uint(o, name, limits[i]);
    if (e == ELOQSTORE_OK) {
      uint64_t got;
      CHECK_OK(eloqstore_options_get_uint(o, name, &got));
      CHECK_EQ(got, limits[i]);
      max = limits[i];
    } else {
      CHECK_ERR(e, ELOQSTORE_INVALID_ARGS);
      CHECK_MSG(strstr(eloqstore_last_error_message(), name) != NULL,
                "range error for %s does not name it: %s", name,
                eloqstore_last_error_message());
      /* A refused value leaves the field as it was. */
      uint64_t got;
      CHECK_OK(eloqstore_options_get_uint(o, name, &got));
      CHECK_EQ(got, max ? max : before);
      /* Widths are nested: once a width is refused, wider ones are too. */
      for (size_t j = i + 1; j < 4; j++)
        CHECK_ERR(eloqstore_options_set_uint(o, name, limits[j]),
                  ELOQSTORE_INVALID_ARGS);
      break;
    }
  }
  CHECK_OK(eloqstore_options_set_uint(o, name, before));
  return max;
}

static void every_field_by_kind(void) {
  eloqstore_options *o = eloqstore_options_new();
  eloqstore_options *defaults = eloqstore_options_new();
  size_t n = eloqstore_options_field_count();
  CHECK(n >= 40);
  CHECK(eloqstore_options_field_name(n) == NULL);
  CHECK(eloqstore_options_field_name(SIZE_MAX) == NULL);
  int seen[5] = {0};
  for (size_t i = 0; i < n; i++) {
    const char *name = eloqstore_options_field_name(i);
    CHECK(name != NULL && name[0] != '\0');
    CHECK(eloqstore_options_field_name(i) == name); /* static storage */
    for (size_t j = 0; j < i; j++)
      CHECK_MSG(strcmp(eloqstore_options_field_name(j), name) != 0,
                "field %s listed twice", name);
    int kind = eloqstore_options_field_kind(name);
    CHECK_MSG(kind >= 0 && kind <= 4, "field %s has kind %d", name, kind);
    seen[kind]++;
    uint64_t u;
    bool b;
    size_t len;
    char buf[128];
    switch (kind) {
      case KIND_UINT: {
        uint64_t def;
        CHECK_OK(eloqstore_options_get_uint(o, name, &def));
        uint64_t max = widest(o, name);
        CHECK_MSG(max == 0xffu || max == 0xffffu || max == 0xffffffffu ||
                      max == UINT64_MAX,
                  "%s accepts at most %llu", name, (unsigned long long)max);
        uint64_t val = def < max ? def + 1 : def - 1;
        CHECK_OK(eloqstore_options_set_uint(o, name, val));
        CHECK_OK(eloqstore_options_get_uint(o, name, &u));
        CHECK_EQ(u, val);
        others_unchanged(o, defaults, name);
        CHECK_ERR(eloqstore_options_set_bool(o, name, true), ELOQSTORE_INVALID_ARGS);
        CHECK_ERR(eloqstore_options_get_bool(o, name, &b), ELOQSTORE_INVALID_ARGS);
        CHECK_ERR(eloqstore_options_set_string(o, name, (const uint8_t *)"1", 1),
                  ELOQSTORE_INVALID_ARGS);
        CHECK_ERR(eloqstore_options_get_string(o, name, buf, sizeof buf, &len),
                  ELOQSTORE_INVALID_ARGS);
        CHECK_OK(eloqstore_options_set_uint(o, name, def));
        break;
      }
      case KIND_BOOL: {
        bool def;
        CHECK_OK(eloqstore_options_get_bool(o, name, &def));
        CHECK_OK(eloqstore_options_set_bool(o, name, !def));
        CHECK_OK(eloqstore_options_get_bool(o, name, &b));
        CHECK_EQ(b, !def);
        others_unchanged(o, defaults, name);
        CHECK_ERR(eloqstore_options_set_uint(o, name, 1), ELOQSTORE_INVALID_ARGS);
        CHECK_ERR(eloqstore_options_get_uint(o, name, &u), ELOQSTORE_INVALID_ARGS);
        CHECK_ERR(eloqstore_options_get_string(o, name, buf, sizeof buf, &len),
                  ELOQSTORE_INVALID_ARGS);
        CHECK_OK(eloqstore_options_set_bool(o, name, def));
        break;
      }
      case KIND_STRING: {
        char val[96];
        int vl = snprintf(val, sizeof val, "value-of-%s", name);
        CHECK_OK(eloqstore_options_set_string(o, name, (const uint8_t *)val, (size_t)vl));
        len = 0;
        CHECK_OK(eloqstore_options_get_string(o, name, buf, sizeof buf, &len));
        CHECK_EQ(len, (size_t)vl);
        CHECK_STR(buf, val);
        /* Truncated copy: cap - 1 bytes and a NUL, full length reported. */
        memset(buf, 'x', sizeof buf);
        CHECK_OK(eloqstore_options_get_string(o, name, buf, 4, &len));
        CHECK_EQ(len, (size_t)vl);
        CHECK_EQ(buf[3], '\0');
        CHECK(memcmp(buf, val, 3) == 0);
        CHECK_EQ(buf[4], 'x');
        /* Length only. */
        len = 0;
        CHECK_OK(eloqstore_options_get_string(o, name, NULL, 0, &len));
        CHECK_EQ(len, (size_t)vl);
        /* Empty value (NULL with length 0 is allowed). */
        CHECK_OK(eloqstore_options_set_string(o, name, NULL, 0));
        CHECK_OK(eloqstore_options_get_string(o, name, buf, sizeof buf, &len));
        CHECK_EQ(len, 0);
        CHECK_STR(buf, "");
        /* Not UTF-8. */
        const uint8_t bad[] = {0xff, 0xfe};
        CHECK_ERR(eloqstore_options_set_string(o, name, bad, 2), ELOQSTORE_INVALID_ARGS);
        CHECK_ERR(eloqstore_options_set_uint(o, name, 1), ELOQSTORE_INVALID_ARGS);
        CHECK_ERR(eloqstore_options_set_bool(o, name, true), ELOQSTORE_INVALID_ARGS);
        /* Restore the default. */
        CHECK_OK(eloqstore_options_get_string(defaults, name, buf, sizeof buf, &len));
        CHECK_OK(eloqstore_options_set_string(o, name, (const uint8_t *)buf, len));
        break;
      }
      case KIND_LIST: {
        CHECK_STR(name, "store_path");
        const char *paths[] = {"/data/one", "/data/two", ""};
        CHECK_OK(eloqstore_options_set_store_paths(o, paths, 3));
        CHECK_EQ(eloqstore_options_store_path_count(o), 3);
        for (size_t k = 0; k < 3; k++) {
          CHECK_OK(eloqstore_options_get_store_path(o, k, buf, sizeof buf, &len));
          CHECK_EQ(len, strlen(paths[k]));
          CHECK_STR(buf, paths[k]);
        }
        CHECK_OK(eloqstore_options_get_store_path(o, 1, buf, 3, &len));
        CHECK_STR(buf, "/d");
        CHECK_EQ(len, strlen(paths[1]));
        CHECK_ERR(eloqstore_options_get_store_path(o, 3, buf, sizeof buf, &len),
                  ELOQSTORE_INVALID_ARGS);
        CHECK_ERR(eloqstore_options_get_string(o, name, buf, sizeof buf, &len),
                  ELOQSTORE_INVALID_ARGS);
        CHECK_ERR(eloqstore_options_set_uint(o, name, 1), ELOQSTORE_INVALID_ARGS);
        /* NULL array with a count, or a NULL entry: refused, unchanged. */
        CHECK_ERR(eloqstore_options_set_store_paths(o, NULL, 1), ELOQSTORE_INVALID_ARGS);
        const char *with_null[] = {"/a", NULL};
        CHECK_ERR(eloqstore_options_set_store_paths(o, with_null, 2),
                  ELOQSTORE_INVALID_ARGS);
        CHECK_EQ(eloqstore_options_store_path_count(o), 3);
        CHECK_OK(eloqstore_options_set_store_paths(o, NULL, 0));
        CHECK_EQ(eloqstore_options_store_path_count(o), 0);
        break;
      }
      case KIND_CALLBACK: {
        CHECK(strcmp(name, "comparator") == 0 || strcmp(name, "partition_filter") == 0);
        CHECK_ERR(eloqstore_options_set_uint(o, name, 1), ELOQSTORE_INVALID_ARGS);
        CHECK_ERR(eloqstore_options_get_uint(o, name, &u), ELOQSTORE_INVALID_ARGS);
        CHECK_ERR(eloqstore_options_get_bool(o, name, &b), ELOQSTORE_INVALID_ARGS);
        CHECK_ERR(eloqstore_options_get_string(o, name, buf, sizeof buf, &len),
                  ELOQSTORE_INVALID_ARGS);
        break;
      }
    }
  }
  /* Kinds that must exist. */
  CHECK(seen[KIND_UINT] >= 20);
  CHECK(seen[KIND_BOOL] >= 5);
  CHECK(seen[KIND_STRING] >= 5);
  CHECK_EQ(seen[KIND_LIST], 1);
  CHECK_EQ(seen[KIND_CALLBACK], 2);
  CHECK_EQ(eloqstore_options_field_kind("num_threads"), KIND_UINT);
  CHECK_EQ(eloqstore_options_field_kind("data_append_mode"), KIND_BOOL);
  CHECK_EQ(eloqstore_options_field_kind("cloud_region"), KIND_STRING);
  CHECK_EQ(eloqstore_options_field_kind("no_such_field"), -1);
  CHECK_EQ(eloqstore_options_field_kind(""), -1);
  CHECK_EQ(eloqstore_options_field_kind(NULL), -1);

  /* Known widths and defaults (upstream's types and values). */
  CHECK_EQ(widest(o, "num_threads"), 0xffffu);
  CHECK_EQ(widest(o, "file_amplify_factor"), 0xffu);
  CHECK_EQ(widest(o, "buffer_pool_size"), UINT64_MAX);
  CHECK_ERR(eloqstore_options_set_uint(o, "num_threads", 70000), ELOQSTORE_INVALID_ARGS);
  uint64_t u;
  CHECK_OK(eloqstore_options_get_uint(o, "num_threads", &u));
  CHECK_EQ(u, 1);
  CHECK_OK(eloqstore_options_get_uint(o, "data_page_size", &u));
  CHECK_EQ(u, 4096);
  CHECK_OK(eloqstore_options_get_uint(o, "buffer_pool_size", &u));
  CHECK_EQ(u, 32u << 20);
  /* NULL out pointers are allowed: nothing is written. */
  CHECK_OK(eloqstore_options_get_uint(o, "num_threads", NULL));
  CHECK_OK(eloqstore_options_get_bool(o, "data_append_mode", NULL));
  CHECK_OK(eloqstore_options_get_string(o, "cloud_region", NULL, 0, NULL));
  /* Unknown names. */
  CHECK_ERR(eloqstore_options_set_bool(o, "no_such_field", true), ELOQSTORE_INVALID_ARGS);
  CHECK(strstr(eloqstore_last_error_message(), "no_such_field") != NULL);

  /* Callback fields are set through their own functions. */
  eloqstore_comparator *cmp =
      eloqstore_comparator_new(&destroyed, compare_bytes, "bytes-again", NULL, destroy_ctx);
  CHECK(cmp != NULL);
  CHECK_OK(eloqstore_options_set_comparator(o, cmp));
  eloqstore_comparator_free(cmp);
  CHECK_EQ(destroyed, 0); /* the options still use it */
  CHECK_OK(eloqstore_options_set_comparator(o, NULL));
  CHECK_EQ(destroyed, 1); /* the last user let go */
  CHECK_OK(eloqstore_options_set_partition_filter(o, &destroyed, accept_all, destroy_ctx));
  CHECK_OK(eloqstore_options_set_partition_filter(o, NULL, NULL, NULL));
  CHECK_EQ(destroyed, 2);

  eloqstore_options_free(o);
  eloqstore_options_free(defaults);
}

static void clone_and_validate(void) {
  eloqstore_options *o = eloqstore_options_new();
  CHECK_OK(eloqstore_options_set_uint(o, "num_threads", 5));
  CHECK_OK(eloqstore_options_set_string(o, "cloud_region", (const uint8_t *)"r1", 2));
  eloqstore_options *c = eloqstore_options_clone(o);
  CHECK(c != NULL && c != o);
  CHECK(eloqstore_options_clone(NULL) == NULL);
  CHECK_OK(eloqstore_options_set_uint(o, "num_threads", 6));
  uint64_t u;
  char buf[16];
  size_t len;
  CHECK_OK(eloqstore_options_get_uint(c, "num_threads", &u));
  CHECK_EQ(u, 5);
  CHECK_OK(eloqstore_options_get_string(c, "cloud_region", buf, sizeof buf, &len));
  CHECK_STR(buf, "r1");
  eloqstore_options_free(o);
  /* The clone outlives its source. */
  CHECK_OK(eloqstore_options_get_uint(c, "num_threads", &u));
  CHECK_EQ(u, 5);
  eloqstore_options_free(c);

  /* Validate: defaults are valid; it applies upstream's adjustments. */
  o = eloqstore_options_new();
  CHECK(eloqstore_options_validate(o));
  CHECK_OK(eloqstore_options_set_bool(o, "prewarm_cloud_cache", true));
  CHECK(eloqstore_options_validate(o));
  bool b = true;
  CHECK_OK(eloqstore_options_get_bool(o, "prewarm_cloud_cache", &b));
  CHECK(!b); /* no cloud store: turned off */
  /* Invalid values, each with a message naming the field. */
  struct {
    const char *name;
    uint64_t value;
  } bad[] = {
      {"data_page_size", 1000},
      {"num_threads", 0},
      {"overflow_pointers", 0},
      {"coroutine_stack_size", 1000},
      {"max_write_batch_pages", 0},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    eloqstore_options *x = eloqstore_options_new();
    CHECK_OK(eloqstore_options_set_uint(x, bad[i].name, bad[i].value));
    CHECK(!eloqstore_options_validate(x));
    CHECK_MSG(strstr(eloqstore_last_error_message(), bad[i].name) != NULL,
              "validate message for %s: %s", bad[i].name, eloqstore_last_error_message());
    /* store_new refuses the same options with INVALID_ARGS and a message. */
    eloqstore_store *s = (eloqstore_store *)&u; /* must stay untouched */
    CHECK_ERR(eloqstore_store_new(x, &s), ELOQSTORE_INVALID_ARGS);
    CHECK(s == (eloqstore_store *)&u);
    CHECK_MSG(strstr(eloqstore_last_error_message(), bad[i].name) != NULL,
              "store_new message for %s: %s", bad[i].name, eloqstore_last_error_message());
    eloqstore_options_free(x);
  }
  eloqstore_options_free(o);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  CHECK_EQ(fputs(text, f) >= 0, 1);
  CHECK_EQ(fclose(f), 0);
}

static void ini_loading(void) {
  const char *dir = h_tempdir();
  char path[4096], text[8192];
  h_format(path, sizeof path, "%s/opts.ini", dir);
  snprintf(text, sizeof text,
           "; options for the C test\n"
           "[run]\n"
           "num_threads = 3\n"
           "buffer_pool_size = 64MB\n"
           "enable_compression = true\n"
           "\n"
           "[permanent]\n"
           "store_path = %s/a:%s/b\n"
           "data_page_size = 8KB\n"
           "data_append_mode = yes\n",
           dir, dir);
  write_file(path, text);
  eloqstore_options *o = eloqstore_options_new();
  CHECK_EQ(eloqstore_options_load_ini(o, path), 0);
  uint64_t u;
  bool b;
  char buf[4096], want[4096];
  size_t len;
  CHECK_OK(eloqstore_options_get_uint(o, "num_threads", &u));
  CHECK_EQ(u, 3);
  CHECK_OK(eloqstore_options_get_uint(o, "buffer_pool_size", &u));
  CHECK_EQ(u, 64u << 20);
  CHECK_OK(eloqstore_options_get_uint(o, "data_page_size", &u));
  CHECK_EQ(u, 8192);
  CHECK_OK(eloqstore_options_get_bool(o, "enable_compression", &b));
  CHECK(b);
  CHECK_OK(eloqstore_options_get_bool(o, "data_append_mode", &b));
  CHECK(b);
  CHECK_EQ(eloqstore_options_store_path_count(o), 2);
  CHECK_OK(eloqstore_options_get_store_path(o, 1, buf, sizeof buf, &len));
  h_format(want, sizeof want, "%s/b", dir);
  CHECK_STR(buf, want);
  /* Keys absent from the file keep their values. */
  CHECK_OK(eloqstore_options_get_uint(o, "fd_limit", &u));
  eloqstore_options *d = eloqstore_options_new();
  uint64_t def;
  CHECK_OK(eloqstore_options_get_uint(d, "fd_limit", &def));
  CHECK_EQ(u, def);
  eloqstore_options_free(d);
  CHECK(eloqstore_options_validate(o));

  /* Errors: -1 unreadable, -2 a missing section, else the line at fault;
     each leaves the options unchanged and sets a message. */
  struct {
    const char *text; /* NULL: the file does not exist */
    int code;
    const char *needle;
  } bad[] = {
      {NULL, -1, "absent.ini"},
      {"[run]\nnum_threads = 2\n", -2, "[permanent]"},
      {"[permanent]\nstore_path = /x\n", -2, "[run]"},
      {"[run]\nnum_threads = 2\nno_such_key = 1\n[permanent]\nstore_path = /x\n", 3,
       "no_such_key"},
      {"[run]\nnum_threads = 2\n[permanent]\nstore_path = /x\ndata_page_size = lots\n", 5,
       "data_page_size"},
      {"[run]\nnum_threads = 2\nthis line is not ini\n[permanent]\nstore_path = /x\n", 3,
       ""},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char bpath[4096];
    if (bad[i].text != NULL) {
      h_format(bpath, sizeof bpath, "%s/bad%zu.ini", dir, i);
      write_file(bpath, bad[i].text);
    } else {
      h_format(bpath, sizeof bpath, "%s/absent.ini", dir);
    }
    int code = eloqstore_options_load_ini(o, bpath);
    CHECK_MSG(code == bad[i].code, "INI case %zu: code %d, want %d (%s)", i, code,
              bad[i].code, eloqstore_last_error_message());
    const char *msg = eloqstore_last_error_message();
    CHECK(msg[0] != '\0');
    CHECK_MSG(strstr(msg, bad[i].needle) != NULL, "INI case %zu: message %s lacks %s",
              i, msg, bad[i].needle);
    CHECK_OK(eloqstore_options_get_uint(o, "num_threads", &u));
    CHECK_EQ(u, 3);
    CHECK_EQ(eloqstore_options_store_path_count(o), 2);
  }
  CHECK_EQ(eloqstore_options_load_ini(NULL, path), -1);
  CHECK_EQ(eloqstore_options_load_ini(o, NULL), -1);
  CHECK(strstr(eloqstore_last_error_message(), "NULL") != NULL);

  /* A store opened from the INI's options works (append mode, 8 KiB
     pages, two store paths). */
  eloqstore_store *s = h_open(o);
  CHECK_OK(h_write_range(s, "ini", 0, "k", "v", 0, 50, 1));
  CHECK_EQ(h_scan_count(s, "ini", 0, NULL, NULL), 50);
  eloqstore_store_free(s);
  eloqstore_options_free(o);
}

int main(void) {
  every_field_by_kind();
  clone_and_validate();
  ini_loading();
  return h_done("test_options");
}
