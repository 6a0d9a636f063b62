/*
 * test_big.c: the monitor over more than one entry bundle (C2SP tiles at
 * two levels): a real ckvd (its registration limit turned off) gets 600
 * directory entries posted directly; a profile's monitor reads the whole
 * log, authenticating two full bundles and a partial one, and raises the alarm
 * for a reset of its name that sits in the third bundle; a fresh profile
 * reads everything once without an alarm. When Go and x/mod are installed
 * (CKV_GOTLOG_PATH), the same log is also audited by tests/interop/gotlog,
 * Go's own tlog and note code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sodium.h>

#include "ckv/dir_entry.h"
#include "harness.h"

#define N_DUMMIES 598

static size_t sink(char *p, size_t s, size_t m, void *ud)
{
    (void)p;
    (void)ud;
    return s * m;
}

/* POST a register entry for name with a random key; retries on 429. */
static void post_register(const srv *s, const char *origin, const char *name)
{
    ckv_dir_entry e;
    uint8_t priv[32];
    char text[CKV_DIR_ENTRY_MAX + 1], body[4096], url[128];
    size_t len = 0;
    memset(&e, 0, sizeof e);
    randombytes_buf(priv, sizeof priv);
    priv[0] &= 248; /* a Curve25519 private key, clamped (RFC 7748 §5) */
    priv[31] = (uint8_t)((priv[31] & 127) | 64);
    snprintf(e.origin, sizeof e.origin, "%s", origin);
    snprintf(e.name, sizeof e.name, "%s", name);
    e.type = CKV_DIR_REGISTER;
    e.version = 1;
    e.time = (int64_t)time(NULL);
    assert_int_equal(ckv_xeddsa_public_key(priv, e.key), CKV_OK);
    assert_int_equal(ckv_dir_entry_sign_pop(&e, priv), CKV_OK);
    assert_int_equal(ckv_dir_entry_encode(&e, text, sizeof text, &len), CKV_OK);
    /* the entry is JSON-safe except for newlines */
    size_t o = (size_t)snprintf(body, sizeof body, "{\"entry\":\"");
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') {
            body[o++] = '\\';
            body[o++] = 'n';
        } else {
            body[o++] = text[i];
        }
    }
    snprintf(body + o, sizeof body - o, "\"}");
    snprintf(url, sizeof url, "%s/v1/accounts", s->url);
    for (int tries = 0; tries < 100; tries++) {
        CURL *c = curl_easy_init();
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        long status = 0;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        if (status == 200)
            return;
        assert_int_equal(status, 429);
        struct timespec ts = {0, 210000000L};
        nanosleep(&ts, NULL);
    }
    fail_msg("ckvd kept refusing registrations");
}

static void test_monitor_two_bundles(void **state)
{
    srv s;
    user a, m, f;
    ckv_monitor_report rep;
    char origin[256], name[32];
    (void)state;

    harness_limit = "register=0/0";
    srv_start(&s);
    harness_limit = NULL;
    snprintf(origin, sizeof origin, "%.*s", (int)strcspn(s.vkey, "+"), s.vkey);
    user_new(&a, &s, "alice", NULL);
    assert_int_equal(ckv_client_register(a.c), CKV_OK);
    for (int i = 0; i < N_DUMMIES; i++) {
        snprintf(name, sizeof name, "user%03d", i);
        post_register(&s, origin, name);
    }
    /* someone else resets alice: leaf N_DUMMIES + 1, in the second bundle */
    user_new(&m, &s, "alice", NULL);
    ckv_status st;
    for (int tries = 0; (st = ckv_client_reset(m.c)) == CKV_ERR_RATE_LIMITED && tries < 100;
         tries++) { /* the dummies used up the registration budget */
        struct timespec ts = {0, 250000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(st, CKV_OK);

    assert_int_equal(ckv_client_monitor(a.c, &rep), CKV_ERR_KT_FOREIGN_ENTRY);
    /* alice's registration looked her entry up: that lookup brought her
     * monitor to the checkpoint of size 1 (core/kt.c check_latest) */
    assert_int_equal(rep.entries_read, N_DUMMIES + 1);
    assert_int_equal(rep.tree_size, N_DUMMIES + 2);
    assert_int_equal(rep.own_entries, 2);
    assert_int_equal(rep.foreign_entries, 1);
    assert_int_equal(rep.foreign_index, N_DUMMIES + 1);

    /* a fresh profile (another name) reads everything once, no alarm */
    user_new(&f, &s, "frank", NULL);
    assert_int_equal(ckv_client_monitor(f.c, &rep), CKV_OK);
    assert_int_equal(rep.entries_read, N_DUMMIES + 2);
    assert_int_equal(ckv_client_monitor(f.c, &rep), CKV_OK);
    assert_int_equal(rep.entries_read, 0);

#ifdef CKV_GOTLOG_PATH
    /* the same log, audited by Go's x/mod tlog code (tests/interop/gotlog):
     * signed checkpoint, hash tiles at two levels, three entry bundles
     * (two full, one partial), every leaf */
    {
        char cmd[1024], out[512] = {0};
        snprintf(cmd, sizeof cmd, "'%s' --vkey '%s' '%s' 2>&1", CKV_GOTLOG_PATH, s.vkey, s.url);
        FILE *pf = popen(cmd, "r");
        assert_non_null(pf);
        size_t got = fread(out, 1, sizeof out - 1, pf);
        out[got] = 0;
        int rc = pclose(pf);
        if (rc != 0)
            fail_msg("gotlog -> %d: %s", rc, out);
        char want[64];
        snprintf(want, sizeof want, "size %d ", N_DUMMIES + 2);
        assert_non_null(strstr(out, want));
        snprintf(want, sizeof want, "%d entries verified", N_DUMMIES + 2);
        assert_non_null(strstr(out, want));
    }
#endif

    user_free(&a);
    user_free(&m);
    user_free(&f);
    srv_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monitor_two_bundles),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
