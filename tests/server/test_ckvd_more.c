/*
 * test_ckvd_more.c: ckvd test groups that need a server of their own:
 * restart (kill -9 mid-conversation, SIGTERM with waiting long-polls,
 * checkpoints consistent across restarts), expiry (token lifetime), limits
 * (429 + Retry-After for registrations, lookups, sends), tls (HTTPS with a
 * self-signed certificate made by the openssl command; exit 77 = skipped
 * when it is missing).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "testsrv.h"
#include "testutil.h"

static struct srv R;
static char r_dir[600];

static void start(const char *const *extra)
{
    assert_int_equal(srv_start(&R, r_dir, extra), 0);
}

static const char *const fast_cp[] = {"--checkpoint-interval", "100", NULL};

/* --- restart ---------------------------------------------------------------- */

static void test_kill9_mid_conversation(void **state)
{
    (void)state;
    struct acct a, b;
    char t[128];
    int64_t ids[8], del;
    start(fast_cp);
    acct_new(&a, "alice");
    acct_new(&b, "bob");
    assert_int_equal(acct_register(&R, &a, 5), 200);
    assert_int_equal(acct_register(&R, &b, 5), 200);
    assert_int_equal(acct_login(&R, &a), 200);
    assert_int_equal(acct_login(&R, &b), 200);
    for (int i = 0; i < 5; i++) {
        snprintf(t, sizeof(t), "m%d", i);
        assert_int_equal(send_msg(&R, &a, "bob", t, &ids[i]), 200);
    }
    json_t *m = fetch(&R, &b, 0, 0, NULL);
    assert_int_equal(json_array_size(m), 5);
    json_decref(m);
    assert_int_equal(ack(&R, &b, ids, 2, &del), 200); /* m0, m1 handled */
    assert_int_equal(del, 2);
    assert_int_equal(send_msg(&R, &b, "alice", "reply", &ids[5]), 200);
    /* the view of the log before the crash */
    ckv_tlog_verifier *v = NULL;
    struct audit_view before, after;
    assert_int_equal(ckv_tlog_verifier_parse(R.vkey, strlen(R.vkey), &v), CKV_OK);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(audit_log(&R, v, NULL, &before), 0);
        if (before.cp.size == 2)
            break;
        audit_view_free(&before);
        sleep_ms(50);
    }
    assert_int_equal(before.cp.size, 2);
    char auddir[700];
    snprintf(auddir, sizeof(auddir), "%s.audit", r_dir);
    if (audit_tool_available())
        assert_int_equal(audit_tool_run(&R, auddir), 0);

    /* a message answered 200 just before the kill is there after it */
    assert_int_equal(send_msg(&R, &a, "bob", "last words", &ids[6]), 200);
    srv_kill9(&R);
    start(fast_cp);

    /* tokens lived in memory: log in again */
    struct http_resp r;
    http(&R, "GET", "/v1/messages", b.token, NULL, 0, &r);
    assert_int_equal(r.status, 401);
    http_resp_free(&r);
    assert_int_equal(acct_login(&R, &a), 200);
    assert_int_equal(acct_login(&R, &b), 200);
    /* exactly the unacknowledged ones, once each, in order */
    m = fetch(&R, &b, 0, 0, NULL);
    assert_int_equal(json_array_size(m), 4);
    const char *want[4] = {"m2", "m3", "m4", "last words"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(msg_text(m, i, t, sizeof(t)), want[i]);
    assert_int_equal(msg_id(m, 0), ids[2]);
    assert_int_equal(msg_id(m, 3), ids[6]);
    int64_t rest[4] = {msg_id(m, 0), msg_id(m, 1), msg_id(m, 2), msg_id(m, 3)};
    json_decref(m);
    assert_int_equal(ack(&R, &b, rest, 4, &del), 200);
    assert_int_equal(del, 4);
    m = fetch(&R, &b, 0, 0, NULL);
    assert_int_equal(json_array_size(m), 0);
    json_decref(m);
    m = fetch(&R, &a, 0, 0, NULL);
    assert_int_equal(json_array_size(m), 1);
    assert_string_equal(msg_text(m, 0, t, sizeof(t)), "reply");
    json_decref(m);
    /* ids keep growing after the restart (never reused) */
    int64_t nid;
    assert_int_equal(send_msg(&R, &a, "bob", "after", &nid), 200);
    assert_true(nid > ids[6]);
    /* prekeys survived too; the accounts' keys are the same */
    http(&R, "GET", "/v1/keys/alice", b.token, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    json_t *o = jbody(&r);
    assert_int_equal(json_integer_value(json_object_get(o, "prekey_id")), 1);
    json_decref(o);
    http_resp_free(&r);

    /* the log after the restart: consistent with before, and it grows */
    struct acct c;
    acct_new(&c, "carl");
    assert_int_equal(acct_register(&R, &c, 1), 200);
    assert_int_equal(c.leaf_index, 2);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(audit_log(&R, v, &before, &after), 0);
        if (after.cp.size == 3)
            break;
        audit_view_free(&after);
        sleep_ms(50);
    }
    assert_int_equal(after.cp.size, 3);
    if (audit_tool_available()) /* same state: consistent across the restart */
        assert_int_equal(audit_tool_run(&R, auddir), 0);
    audit_view_free(&before);

    /* a second kill -9 right after a registration is answered */
    struct acct d;
    acct_new(&d, "dora");
    assert_int_equal(acct_register(&R, &d, 1), 200);
    srv_kill9(&R);
    start(fast_cp);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(audit_log(&R, v, &after, &before), 0);
        if (before.cp.size == 4)
            break;
        audit_view_free(&before);
        sleep_ms(50);
    }
    assert_int_equal(before.cp.size, 4);
    assert_int_equal(acct_rotate(&R, &d, 1), 200); /* dora's chain goes on */
    audit_view_free(&after);
    audit_view_free(&before);
    ckv_tlog_verifier_free(v);
    assert_int_equal(srv_stop(&R), 0);
}

/* A log of several full tiles (600 entries: tiles 0/000, 0/001 full, a
 * partial third, a partial level-1 tile) audits from the outside, and
 * stays consistent across a restart. */
static void test_big_log_audit(void **state)
{
    (void)state;
    static const char *const nolimit[] = {"--checkpoint-interval", "100", "--limit",
                                          "register=0/0", NULL};
    enum { N = 600 };
    start(nolimit);
    for (int i = 0; i < N; i++) {
        struct acct a;
        char name[32];
        snprintf(name, sizeof(name), "user%04d", i);
        acct_new(&a, name);
        assert_int_equal(acct_register(&R, &a, 0), 200);
        if (i % 100 == 7)
            assert_int_equal(acct_rotate(&R, &a, 0), 200);
    }
    ckv_tlog_verifier *v = NULL;
    struct audit_view v1, v2;
    assert_int_equal(ckv_tlog_verifier_parse(R.vkey, strlen(R.vkey), &v), CKV_OK);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(audit_log(&R, v, NULL, &v1), 0);
        if (v1.cp.size == N + 6)
            break;
        audit_view_free(&v1);
        sleep_ms(50);
    }
    assert_int_equal(v1.cp.size, N + 6);
    struct http_resp r;
    http(&R, "GET", "/tile/0/000", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 32 * 256);
    assert_non_null(strstr(r.cache, "immutable"));
    http_resp_free(&r);
    char auddir[700];
    snprintf(auddir, sizeof(auddir), "%s.audit", r_dir);
    if (audit_tool_available())
        assert_int_equal(audit_tool_run(&R, auddir), 0);
    assert_int_equal(srv_stop(&R), 0);
    start(nolimit);
    struct acct z;
    acct_new(&z, "zed");
    assert_int_equal(acct_register(&R, &z, 0), 200);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(audit_log(&R, v, &v1, &v2), 0);
        if (v2.cp.size == N + 7)
            break;
        audit_view_free(&v2);
        sleep_ms(50);
    }
    assert_int_equal(v2.cp.size, N + 7);
    if (audit_tool_available())
        assert_int_equal(audit_tool_run(&R, auddir), 0);
    audit_view_free(&v1);
    audit_view_free(&v2);
    ckv_tlog_verifier_free(v);
    assert_int_equal(srv_stop(&R), 0);
}

/* --sync-full: the same guarantees (and the data directory's modes). */
static void test_sync_full_and_modes(void **state)
{
    (void)state;
    static const char *const full[] = {"--sync-full", NULL};
    struct acct a;
    int64_t id;
    char t[64], path[800];
    struct stat st;
    start(full);
    acct_new(&a, "solo");
    assert_int_equal(acct_register(&R, &a, 0), 200);
    assert_int_equal(acct_login(&R, &a), 200);
    assert_int_equal(send_msg(&R, &a, "solo", "to myself", &id), 200);
    srv_kill9(&R);
    start(full);
    assert_int_equal(acct_login(&R, &a), 200);
    json_t *m = fetch(&R, &a, 0, 0, NULL);
    assert_int_equal(json_array_size(m), 1);
    assert_string_equal(msg_text(m, 0, t, sizeof(t)), "to myself");
    json_decref(m);
    assert_int_equal(srv_stop(&R), 0);
    assert_int_equal(stat(r_dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(path, sizeof(path), "%s/log.key", r_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0077, 0);
    snprintf(path, sizeof(path), "%s/ckvd.db", r_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0077, 0);
}

struct poller {
    const struct srv *s;
    const struct acct *a;
    struct http_resp r;
};

static void *poll_main(void *arg)
{
    struct poller *p = arg;
    http(p->s, "GET", "/v1/messages?wait=25", p->a->token, NULL, 0, &p->r);
    return NULL;
}

/* SIGTERM with long-polls waiting: they are answered, pending entries are
 * published, the process exits 0 (and, under ASan, leak-free). */
static void test_sigterm_graceful(void **state)
{
    (void)state;
    struct acct a;
    pthread_t th[3];
    struct poller p[3];
    static const char *const slow_cp[] = {"--checkpoint-interval", "3600000", NULL};
    start(slow_cp);
    acct_new(&a, "erik");
    assert_int_equal(acct_register(&R, &a, 1), 200);
    assert_int_equal(acct_login(&R, &a), 200);
    for (int i = 0; i < 3; i++) {
        p[i] = (struct poller){&R, &a, {0}};
        assert_int_equal(pthread_create(&th[i], NULL, poll_main, &p[i]), 0);
    }
    sleep_ms(1500); /* the three are parked (on a loaded machine too) */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(srv_stop(&R), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 10);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(p[i].r.status, 200);
        json_t *o = jbody(&p[i].r);
        assert_int_equal(json_array_size(json_object_get(o, "messages")), 0);
        json_decref(o);
        http_resp_free(&p[i].r);
    }
    assert_true(srv_log_contains(&R, "stopping on signal"));
    /* the entry accepted under a one-hour interval was published at exit */
    start(slow_cp);
    struct http_resp r;
    http(&R, "GET", "/v1/directory/erik", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
    assert_int_equal(srv_stop(&R), 0);
}

/* --- expiry --------------------------------------------------------------- */

static void test_token_expires(void **state)
{
    (void)state;
    static const char *const ttl[] = {"--token-ttl", "1", NULL};
    struct acct a;
    struct http_resp r;
    start(ttl);
    acct_new(&a, "fay");
    assert_int_equal(acct_register(&R, &a, 1), 200);
    assert_int_equal(acct_login(&R, &a), 200);
    http(&R, "GET", "/v1/messages", a.token, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
    sleep_ms(2500);
    http(&R, "GET", "/v1/messages", a.token, NULL, 0, &r);
    assert_int_equal(r.status, 401);
    json_t *o = jbody(&r);
    assert_string_equal(json_string_value(json_object_get(o, "code")), "bad_token");
    json_decref(o);
    http_resp_free(&r);
    assert_int_equal(acct_login(&R, &a), 200);
    http(&R, "GET", "/v1/messages", a.token, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
    assert_int_equal(srv_stop(&R), 0);
}

/* GET /v1/directory/NAME, waiting out 503 pending (the entry not yet under
 * a signed checkpoint); the 200 body. */
static json_t *lookup(const struct srv *s, const char *name)
{
    char path[100];
    struct http_resp r;
    snprintf(path, sizeof(path), "/v1/directory/%s", name);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(http(s, "GET", path, NULL, NULL, 0, &r), 0);
        if (r.status == 200) {
            json_t *o = jbody(&r);
            http_resp_free(&r);
            return o;
        }
        assert_int_equal(r.status, 503);
        http_resp_free(&r);
        usleep(50000);
    }
    fail_msg("%s: still not under a signed checkpoint after 5 s", path);
    return NULL;
}

/* Run SQL on ckvd.db from outside ckvd (as an operator's sqlite3 shell). */
static void db_exec(const char *dir, const char *sql)
{
    char path[700];
    sqlite3 *db = NULL;
    snprintf(path, sizeof(path), "%s/ckvd.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* A rotation whose extras cannot be kept (ckvd.db is write-locked by
 * another process past ckvd's busy timeout) is refused before the log: the
 * old key keeps working. A rotation that reaches the log but whose index
 * step fails (a trigger makes storing its prekeys fail) ends the old
 * key's sessions at once and answers 500; ckvd refuses registrations until
 * it is restarted, and the restart stores everything the request carried:
 * the new key logs in, its prekeys and registration id are served, and its
 * recovery hash protects it from a reset without the code. */
static void test_rotate_index_failure(void **state)
{
    (void)state;
    struct acct a, b;
    struct http_resp r;
    char entry[CKV_DIR_ENTRY_MAX + 1], path[700], rh[64];
    uint8_t np[32], npub[33], code[32], hash[32];
    sqlite3 *db = NULL;
    start(fast_cp);
    acct_new(&a, "rita");
    acct_new(&b, "rory");
    assert_int_equal(acct_register(&R, &a, 1), 200);
    assert_int_equal(acct_login(&R, &a), 200);
    assert_int_equal(acct_register(&R, &b, 1), 200);
    assert_int_equal(acct_login(&R, &b), 200);
    keypair(np, npub);
    make_entry(&R, &a, CKV_DIR_ROTATE, a.version + 1, np, npub, a.priv, entry, sizeof(entry));
    randombytes_buf(code, sizeof(code));
    crypto_hash_sha256(hash, code, sizeof(code));
    sodium_bin2base64(rh, sizeof(rh), hash, sizeof(hash), sodium_base64_VARIANT_ORIGINAL);

    /* locked: refused before the log */
    snprintf(path, sizeof(path), "%s/ckvd.db", R.dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    long st = post_entry_ex(&R, entry, np, 50, 2, rh, NULL, &r);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    assert_int_equal(st, 500);
    assert_string_equal(err_code(&r), "db");
    assert_non_null(strstr(r.body, "nothing was logged"));
    http_resp_free(&r);
    json_t *o = lookup(&R, "rita");
    assert_non_null(json_string_value(json_object_get(o, "entry")));
    assert_null(strstr(json_string_value(json_object_get(o, "entry")), "type rotate"));
    json_decref(o);
    assert_int_equal(http(&R, "GET", "/v1/messages", a.token, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200); /* the old key still holds the account */
    http_resp_free(&r);

    /* logged, then the index step fails */
    db_exec(R.dir, "CREATE TRIGGER test_fault BEFORE INSERT ON prekeys "
                   "BEGIN SELECT RAISE(FAIL, 'injected by the test'); END;");
    st = post_entry_ex(&R, entry, np, 50, 2, rh, NULL, &r);
    if (st != 500)
        fprintf(stderr, "rotation with a failing index step: got %ld %s\n", st, r.body);
    assert_int_equal(st, 500);
    assert_string_equal(err_code(&r), "db");
    assert_non_null(strstr(r.body, "when it is restarted"));
    http_resp_free(&r);
    /* the old key's token no longer works */
    assert_int_equal(http(&R, "GET", "/v1/messages", a.token, NULL, 0, &r), 0);
    assert_int_equal(r.status, 401);
    assert_string_equal(err_code(&r), "bad_token");
    http_resp_free(&r);
    /* registrations wait for the restart */
    struct acct c;
    acct_new(&c, "ruby");
    assert_int_equal(acct_register(&R, &c, 1), 503);
    db_exec(R.dir, "DROP TRIGGER test_fault");
    assert_int_equal(srv_stop(&R), 0);

    /* the restart indexes the rotation with everything it carried */
    start(fast_cp);
    assert_true(srv_log_contains(&R, "left over from a crash or a failed database step"));
    memcpy(a.priv, np, sizeof(np));
    memcpy(a.pub, npub, sizeof(npub));
    a.version++;
    assert_int_equal(acct_login(&R, &a), 200);
    assert_int_equal(acct_login(&R, &b), 200);
    assert_int_equal(http(&R, "GET", "/v1/keys/rita", b.token, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    o = jbody(&r);
    assert_int_equal(json_integer_value(json_object_get(o, "registration_id")), 1234);
    assert_int_equal(json_integer_value(json_object_get(o, "prekey_id")), 50);
    assert_non_null(json_string_value(json_object_get(o, "signed_prekey")));
    json_decref(o);
    http_resp_free(&r);
    /* the recovery hash sent with the rotation now guards the account */
    ckv_dir_leaf_hash((const uint8_t *)entry, strlen(entry), a.leaf_hash);
    o = lookup(&R, "rita");
    assert_non_null(strstr(json_string_value(json_object_get(o, "entry")), "type rotate"));
    a.leaf_index = (uint64_t)json_integer_value(json_object_get(o, "leaf_index"));
    json_decref(o);
    keypair(np, npub);
    make_entry(&R, &a, CKV_DIR_RESET, a.version + 1, np, npub, NULL, entry, sizeof(entry));
    assert_int_equal(post_entry_ex(&R, entry, np, 1, 1, NULL, NULL, &r), 403);
    assert_string_equal(err_code(&r), "recovery_required");
    http_resp_free(&r);
    /* and registrations are open again */
    assert_int_equal(acct_register(&R, &c, 1), 200);
    assert_int_equal(srv_stop(&R), 0);
}

/* --- limits --------------------------------------------------------------- */

static void expect_limited(long status, const struct http_resp *r)
{
    (void)status;
    assert_int_equal(r->status, 429);
    assert_true(atoi(r->retry_after) >= 1);
    json_t *o = jbody(r);
    assert_string_equal(json_string_value(json_object_get(o, "code")), "rate_limited");
    json_decref(o);
}

static void test_limits(void **state)
{
    (void)state;
    static const char *const lim[] = {"--limit", "register=0.01/3", "--limit", "lookup=0.01/2",
                                      "--limit", "send=0.01/2",     "--limit", "login=0.01/4",
                                      "--checkpoint-interval", "100", NULL};
    struct acct a[4];
    struct http_resp r;
    char entry[CKV_DIR_ENTRY_MAX + 1];
    start(lim);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "user%d", i);
        acct_new(&a[i], name);
        assert_int_equal(acct_register(&R, &a[i], 1), 200);
    }
    acct_new(&a[3], "user3");
    make_entry(&R, &a[3], CKV_DIR_REGISTER, 1, a[3].priv, a[3].pub, NULL, entry, sizeof(entry));
    post_entry(&R, entry, a[3].priv, 1, 1, &r);
    expect_limited(429, &r);
    http_resp_free(&r);
    /* sends: malformed ones use up nothing (checked before the limit) */
    assert_int_equal(acct_login(&R, &a[0]), 200);
    int64_t id;
    const char *bad = "{\"to\":\"user1\",\"envelope\":{\"type\":9,\"body\":\"AA==\"}}";
    for (int i = 0; i < 3; i++) {
        http(&R, "POST", "/v1/messages", a[0].token, bad, strlen(bad), &r);
        assert_int_equal(r.status, 400);
        http_resp_free(&r);
    }
    /* a batch larger than the send limit's burst (2) can never pass: 400
     * saying how many a batch may hold, not 429 */
    {
        const char *three = "{\"messages\":["
                            "{\"to\":\"user1\",\"envelope\":{\"type\":2,\"body\":\"AA==\"}},"
                            "{\"to\":\"user1\",\"envelope\":{\"type\":2,\"body\":\"AA==\"}},"
                            "{\"to\":\"user1\",\"envelope\":{\"type\":2,\"body\":\"AA==\"}}]}";
        http(&R, "POST", "/v1/messages/batch", a[0].token, three, strlen(three), &r);
        assert_int_equal(r.status, 400);
        json_t *o = jbody(&r);
        assert_string_equal(json_string_value(json_object_get(o, "code")), "bad_field");
        assert_non_null(strstr(json_string_value(json_object_get(o, "error")), "at most 2"));
        assert_string_equal(r.retry_after, "");
        json_decref(o);
        http_resp_free(&r);
    }
    assert_int_equal(send_msg(&R, &a[0], "user1", "1", &id), 200);
    assert_int_equal(send_msg(&R, &a[0], "user1", "2", &id), 200);
    assert_int_equal(send_msg(&R, &a[0], "user1", "3", &id), 429);
    /* lookups */
    sleep_ms(300);
    for (int i = 0; i < 2; i++) {
        http(&R, "GET", "/v1/directory/user0", NULL, NULL, 0, &r);
        assert_int_equal(r.status, 200);
        http_resp_free(&r);
    }
    http(&R, "GET", "/v1/directory/user0", NULL, NULL, 0, &r);
    expect_limited(429, &r);
    http_resp_free(&r);
    /* logins (per address) */
    for (int i = 1; i < 4; i++)
        assert_int_equal(acct_login(&R, &a[i - 1]), 200);
    assert_int_equal(acct_login(&R, &a[2]), 429);
    /* the log and the tiles are not limited */
    http(&R, "GET", "/checkpoint", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
    assert_int_equal(srv_stop(&R), 0);
}

/* --max-connections-per-ip: one address holds at most N connections (5
 * here); the next is closed at once without an answer; once one of its
 * connections closes, a new one is served again. */
static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

/* Send a health request on fd; 1 when a 200 comes back, 0 when the
 * connection is closed (or nothing comes within 3 s). */
static int raw_health(int fd)
{
    const char *req = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
    char b[512];
    size_t got = 0;
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
        return 0;
    while (got < sizeof(b) - 1) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 3000) <= 0)
            return 0;
        ssize_t r = recv(fd, b + got, sizeof(b) - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        b[got] = 0;
        if (strstr(b, " 200 ") != NULL)
            return 1;
    }
    return 0;
}

static void test_connections_per_ip(void **state)
{
    (void)state;
    static const char *const args[] = {"--max-connections-per-ip", "5", NULL};
    int fd[6];
    start(args);
    for (int i = 0; i < 5; i++) {
        fd[i] = raw_connect(R.port);
        assert_int_equal(raw_health(fd[i]), 1); /* keep-alive: each stays open */
    }
    fd[5] = raw_connect(R.port); /* the kernel accepts; ckvd closes it */
    assert_int_equal(raw_health(fd[5]), 0);
    close(fd[5]);
    close(fd[0]);
    sleep_ms(300);
    fd[0] = raw_connect(R.port);
    assert_int_equal(raw_health(fd[0]), 1);
    for (int i = 0; i < 5; i++)
        close(fd[i]);
    assert_int_equal(srv_stop(&R), 0);
}

/* The recipient's queue is capped; acknowledging makes room again; the
 * count is right after a restart too. */
static void test_queue_cap(void **state)
{
    (void)state;
    static const char *const cap[] = {"--max-queue", "3", NULL};
    struct acct a, b;
    int64_t id[4], del;
    struct http_resp r;
    start(cap);
    acct_new(&a, "qa");
    acct_new(&b, "qb");
    assert_int_equal(acct_register(&R, &a, 0), 200);
    assert_int_equal(acct_register(&R, &b, 0), 200);
    assert_int_equal(acct_login(&R, &a), 200);
    assert_int_equal(acct_login(&R, &b), 200);
    for (int i = 0; i < 3; i++)
        assert_int_equal(send_msg(&R, &a, "qb", "x", &id[i]), 200);
    char body[200];
    snprintf(body, sizeof(body), "{\"to\":\"qb\",\"envelope\":{\"type\":2,\"body\":\"AA==\"}}");
    http(&R, "POST", "/v1/messages", a.token, body, strlen(body), &r);
    assert_int_equal(r.status, 507);
    json_t *o = jbody(&r);
    assert_string_equal(json_string_value(json_object_get(o, "code")), "queue_full");
    json_decref(o);
    assert_true(atoi(r.retry_after) >= 1);
    http_resp_free(&r);
    assert_int_equal(send_msg(&R, &b, "qa", "other queue", &id[3]), 200); /* per recipient */
    assert_int_equal(ack(&R, &b, id, 1, &del), 200);
    assert_int_equal(del, 1);
    assert_int_equal(send_msg(&R, &a, "qb", "room again", &id[0]), 200);
    assert_int_equal(send_msg(&R, &a, "qb", "full again", &id[0]), 507);
    assert_int_equal(srv_stop(&R), 0);
    start(cap);
    assert_int_equal(acct_login(&R, &a), 200);
    assert_int_equal(send_msg(&R, &a, "qb", "still full", &id[0]), 507);
    assert_int_equal(srv_stop(&R), 0);
}

/* --- tls ---------------------------------------------------------------------- */

static void test_tls(void **state)
{
    (void)state;
    char cert[700], key[700], cmd[2000];
    snprintf(cert, sizeof(cert), "%s.cert.pem", r_dir);
    snprintf(key, sizeof(key), "%s.key.pem", r_dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout '%s' -out '%s' "
             ">/dev/null 2>&1",
             key, cert);
    assert_int_equal(system(cmd), 0);
    const char *const extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    start(extra);
    snprintf(R.cafile, sizeof(R.cafile), "%s", cert);
    assert_true(srv_log_contains(&R, "https://127.0.0.1:"));
    struct http_resp r;
    assert_int_equal(http(&R, "GET", "/v1/health", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
    struct acct a;
    acct_new(&a, "tina");
    assert_int_equal(acct_register(&R, &a, 1), 200);
    assert_int_equal(acct_login(&R, &a), 200);
    int64_t id;
    assert_int_equal(send_msg(&R, &a, "tina", "over tls", &id), 200);
    json_t *m = fetch(&R, &a, 0, 0, NULL);
    assert_int_equal(json_array_size(m), 1);
    json_decref(m);
    /* plain HTTP to the TLS port gets no answer */
    R.tls = 0;
    assert_int_not_equal(http(&R, "GET", "/v1/health", NULL, NULL, 0, &r), 0);
    http_resp_free(&r);
    R.tls = 1;
    assert_int_equal(srv_stop(&R), 0);
}

static int group_setup(void **state)
{
    (void)state;
    return 0;
}

static int each_setup(void **state)
{
    (void)state;
    static int n;
    char cmd[700];
    snprintf(r_dir, sizeof(r_dir), "%s/srv%d", getenv("CKVD_TEST_DIR"), n++);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int each_teardown(void **state)
{
    (void)state;
    srv_kill9(&R); /* after a failed assertion */
    return 0;
}

static int run(const char *name, const struct CMUnitTest *t, size_t n, const char *dir)
{
    setenv("CKVD_TEST_DIR", dir, 1);
    return _cmocka_run_group_tests(name, t, n, group_setup, NULL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, each_setup, each_teardown)

int run_restart_tests(const char *dir)
{
    const struct CMUnitTest t[] = {T(test_kill9_mid_conversation), T(test_sigterm_graceful),
                                   T(test_sync_full_and_modes), T(test_big_log_audit),
                                   T(test_rotate_index_failure)};
    return run("ckvd restart", t, sizeof(t) / sizeof(t[0]), dir);
}

int run_expiry_tests(const char *dir)
{
    const struct CMUnitTest t[] = {T(test_token_expires)};
    return run("ckvd expiry", t, 1, dir);
}

int run_limit_tests(const char *dir)
{
    const struct CMUnitTest t[] = {T(test_limits), T(test_queue_cap),
                                   T(test_connections_per_ip)};
    return run("ckvd limits", t, 3, dir);
}

int run_tls_tests(const char *dir)
{
    if (system("command -v openssl >/dev/null 2>&1") != 0) {
        printf("SKIPPED: the openssl command is not installed; the TLS test did not run\n");
        return 77;
    }
    const struct CMUnitTest t[] = {T(test_tls)};
    return run("ckvd tls", t, 1, dir);
}
