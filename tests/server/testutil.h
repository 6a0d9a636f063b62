/*
 * testutil.h: cmocka-asserting helpers shared by ckvd's test groups
 * (defined in test_ckvd.c).
 */
#ifndef CKV_TESTUTIL_H
#define CKV_TESTUTIL_H

#include <jansson.h>
#include <stdint.h>

#include "testsrv.h"

void sleep_ms(int ms);
json_t *jbody(const struct http_resp *r);
/* GET /v1/messages?wait=&after=; the "messages" array (caller decrefs);
 * out (may be NULL) keeps the answer. */
json_t *fetch(const struct srv *s, const struct acct *a, int wait, int64_t after,
              struct http_resp *out);
const char *msg_text(json_t *msgs, size_t i, char *buf, size_t cap);
int64_t msg_id(json_t *msgs, size_t i);
long ack(const struct srv *s, const struct acct *a, const int64_t *ids, size_t n,
         int64_t *deleted);

/* The groups with servers of their own (test_ckvd_more.c). */
int run_restart_tests(const char *dir);
int run_expiry_tests(const char *dir);
int run_limit_tests(const char *dir);
int run_tls_tests(const char *dir);

#endif
