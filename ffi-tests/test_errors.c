/*
 * Version, error strings, retryable codes and the per-thread last error
 * message.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

/* Upstream's ErrorString, code by code. */
static const char *const expected_strings[] = {
    "Succeed",
    "Invalid arguments",
    "Resource not found",
    "EloqStore is not running",
    "Disk data corrupted",
    "End of file",
    "Out of disk space",
    "Out of memory",
    "Too many opened files",
    "Try again later",
    "Device or resource busy",
    "Operation timeout",
    "Operation not permitted",
    "Cloud service is unavailable",
    "I/O failure",
    "Expired term",
    "No manifest found in cloud but the directory is not empty",
};

static void *other_thread(void *arg) {
  (void)arg;
  /* A thread that never failed has no message, whatever other threads did. */
  CHECK_STR(eloqstore_last_error_message(), "");
  eloqstore_options *o = eloqstore_options_new();
  CHECK_ERR(eloqstore_options_set_uint(o, "option_of_thread_two", 1),
            ELOQSTORE_INVALID_ARGS);
  CHECK(strstr(eloqstore_last_error_message(), "option_of_thread_two") != NULL);
  eloqstore_options_free(o);
  return NULL;
}

int main(void) {
  /* Version: the macros, the string macro and the function agree. */
  char v[32];
  snprintf(v, sizeof v, "%d.%d.%d", ELOQSTORE_VERSION_MAJOR,
           ELOQSTORE_VERSION_MINOR, ELOQSTORE_VERSION_PATCH);
  CHECK_STR(eloqstore_version(), ELOQSTORE_VERSION_STRING);
  CHECK_STR(eloqstore_version(), v);
  CHECK(eloqstore_version() == eloqstore_version()); /* static storage */

  /* Every code: its string, its retryability, and its enum value. */
  CHECK_EQ(ELOQSTORE_OK, 0);
  CHECK_EQ(ELOQSTORE_CLOUD_NO_MANIFEST, 16);
  CHECK_EQ(sizeof(eloqstore_error), 1);
  for (unsigned code = 0; code <= ELOQSTORE_CLOUD_NO_MANIFEST; code++) {
    CHECK_STR(eloqstore_error_string((uint8_t)code), expected_strings[code]);
    bool want = code == ELOQSTORE_OPEN_FILE_LIMIT ||
                code == ELOQSTORE_TRY_AGAIN || code == ELOQSTORE_BUSY;
    CHECK_EQ(eloqstore_error_is_retryable((uint8_t)code), want);
  }
  for (unsigned code = ELOQSTORE_CLOUD_NO_MANIFEST + 1; code < 256; code++) {
    CHECK_STR(eloqstore_error_string((uint8_t)code), "Unknown error");
    CHECK(!eloqstore_error_is_retryable((uint8_t)code));
  }

  /* The last error message is per thread. */
  CHECK_STR(eloqstore_last_error_message(), "");
  eloqstore_options *o = eloqstore_options_new();
  CHECK_ERR(eloqstore_options_set_uint(o, "no_such_option", 1),
            ELOQSTORE_INVALID_ARGS);
  const char *msg = eloqstore_last_error_message();
  CHECK(strstr(msg, "no_such_option") != NULL);
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, other_thread, NULL), 0);
  CHECK_EQ(pthread_join(t, NULL), 0);
  /* The other thread's failure did not replace this thread's message. */
  CHECK(strstr(eloqstore_last_error_message(), "no_such_option") != NULL);
  CHECK(strstr(eloqstore_last_error_message(), "option_of_thread_two") == NULL);
  /* A new failure replaces it. */
  eloqstore_store *s = NULL;
  CHECK_ERR(eloqstore_store_new(NULL, &s), ELOQSTORE_INVALID_ARGS);
  CHECK(s == NULL);
  CHECK(strstr(eloqstore_last_error_message(), "NULL") != NULL);
  eloqstore_options_free(o);
  return h_done("test_errors");
}
