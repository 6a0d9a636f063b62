/*
 * test_ckvd.c: integration tests of ckvd (docs/server.md) against a real
 * server on 127.0.0.1 (random port), driven as a client would: fresh
 * identity keys, signed directory entries and logins, prekeys, messages.
 *
 *   test_ckvd GROUP DIR
 *
 * GROUP: api (accounts, prekeys, messages, long-poll, chain rules,
 * authorisation, bad input, directory proofs, audit), restart (kill -9
 * and SIGTERM), expiry (token lifetime), limits (429 + Retry-After), tls
 * (HTTPS with a self-signed certificate; exit 77 = skipped when the
 * openssl command is missing). DIR is a scratch directory.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "ckv/tlog.h"
#include "testsrv.h"
#include "testutil.h"

static struct srv S;
static char g_dir[512];
static char g_tokens[8][128]; /* tokens seen, to check none is ever logged */
static int g_ntokens;

static void keep_token(const char *t)
{
    if (g_ntokens < 8)
        snprintf(g_tokens[g_ntokens++], sizeof(g_tokens[0]), "%s", t);
}

void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

json_t *jbody(const struct http_resp *r)
{
    json_t *o = json_loadb(r->body, r->len, 0, NULL);
    assert_non_null(o);
    return o;
}

/* Register and log in a fresh account. */
static void make_user(struct acct *a, const char *name, int nprekeys)
{
    acct_new(a, name);
    assert_int_equal(acct_register(&S, a, nprekeys), 200);
    assert_int_equal(acct_login(&S, a), 200);
    keep_token(a->token);
}

/* GET /v1/messages; returns the "messages" array (caller decrefs). */
json_t *fetch(const struct srv *s, const struct acct *a, int wait, int64_t after,
                     struct http_resp *out)
{
    char path[128];
    struct http_resp r;
    snprintf(path, sizeof(path), "/v1/messages?wait=%d&after=%lld", wait, (long long)after);
    assert_int_equal(http(s, "GET", path, a->token, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *o = jbody(&r);
    json_t *m = json_incref(json_object_get(o, "messages"));
    json_decref(o);
    assert_true(json_is_array(m));
    if (out)
        *out = r;
    else
        http_resp_free(&r);
    return m;
}

/* The text of message i of a fetched array (its envelope body decoded). */
const char *msg_text(json_t *msgs, size_t i, char *buf, size_t cap)
{
    json_t *m = json_array_get(msgs, i);
    const char *b = json_string_value(json_object_get(json_object_get(m, "envelope"), "body"));
    size_t n = 0;
    assert_non_null(b);
    assert_int_equal(sodium_base642bin((uint8_t *)buf, cap - 1, b, strlen(b), NULL, &n, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    buf[n] = 0;
    return buf;
}

int64_t msg_id(json_t *msgs, size_t i)
{
    return json_integer_value(json_object_get(json_array_get(msgs, i), "id"));
}

long ack(const struct srv *s, const struct acct *a, const int64_t *ids, size_t n,
                int64_t *deleted)
{
    char body[4096];
    size_t k = (size_t)snprintf(body, sizeof(body), "{\"ids\":[");
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(body + k, sizeof(body) - k, "%s%lld", i ? "," : "",
                              (long long)ids[i]);
    snprintf(body + k, sizeof(body) - k, "]}");
    struct http_resp r;
    http(s, "POST", "/v1/messages/ack", a->token, body, strlen(body), &r);
    if (r.status == 200 && deleted) {
        json_t *o = jbody(&r);
        *deleted = json_integer_value(json_object_get(o, "deleted"));
        json_decref(o);
    }
    long st = r.status;
    http_resp_free(&r);
    return st;
}

/* --- accounts, prekeys, messages ------------------------------------------ */

static void test_help(void **state)
{
    (void)state;
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "%s --help | grep -q -- --checkpoint-interval", CKVD_BIN);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s --no-such-flag 2>/dev/null", CKVD_BIN);
    int st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    snprintf(cmd, sizeof(cmd), "%s --listen 127.0.0.1:0 2>/dev/null", CKVD_BIN); /* no --data */
    st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    /* a limit with RATE 0 or BURST below 1 (other than 0/0) would turn it off
     * silently: a usage error naming the accepted forms */
    static const char *const bad_limits[] = {"send=0/5", "send=1/0", "send=1/0.5", "login=0/0.5"};
    for (size_t i = 0; i < sizeof(bad_limits) / sizeof(bad_limits[0]); i++) {
        snprintf(cmd, sizeof(cmd), "%s --limit %s --data %s 2>&1 | grep -q '0/0 to turn' && "
                 "%s --limit %s --data %s 2>/dev/null",
                 CKVD_BIN, bad_limits[i], S.dir, CKVD_BIN, bad_limits[i], S.dir);
        st = system(cmd);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    }
    /* 0/0 is accepted (this one then stops at the data directory in use) */
    snprintf(cmd, sizeof(cmd), "%s --limit send=0/0 --listen 127.0.0.1:0 --data %s 2>/dev/null",
             CKVD_BIN, S.dir);
    st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    /* a second ckvd on the same data directory is refused */
    snprintf(cmd, sizeof(cmd), "%s --listen 127.0.0.1:0 --data %s 2>/dev/null", CKVD_BIN, S.dir);
    st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
}

static void test_register_and_bundles(void **state)
{
    (void)state;
    struct acct carol, dave;
    struct http_resp r;
    make_user(&carol, "carol", 3);
    make_user(&dave, "dave", 0);

    /* three one-time prekeys, consumed lowest id first, then the signed
     * prekey alone */
    for (int i = 1; i <= 4; i++) {
        assert_int_equal(http(&S, "GET", "/v1/keys/carol", dave.token, NULL, 0, &r), 0);
        assert_int_equal(r.status, 200);
        json_t *b = jbody(&r);
        char ik[64];
        sodium_bin2base64(ik, sizeof(ik), carol.pub, 33, sodium_base64_VARIANT_ORIGINAL);
        assert_string_equal(json_string_value(json_object_get(b, "identity_key")), ik);
        assert_string_equal(json_string_value(json_object_get(b, "name")), "carol");
        assert_non_null(json_string_value(json_object_get(b, "signed_prekey")));
        assert_non_null(json_string_value(json_object_get(b, "signed_prekey_signature")));
        if (i <= 3) {
            assert_int_equal(json_integer_value(json_object_get(b, "prekey_id")), i);
            assert_non_null(json_string_value(json_object_get(b, "prekey")));
        } else {
            assert_null(json_object_get(b, "prekey"));
            assert_null(json_object_get(b, "prekey_id"));
        }
        json_decref(b);
        http_resp_free(&r);
    }
    /* carol uploads more; the next fetch gets one of them */
    uint8_t p[32], q[33];
    char kb[64], body[512];
    keypair(p, q);
    sodium_bin2base64(kb, sizeof(kb), q, 33, sodium_base64_VARIANT_ORIGINAL);
    snprintf(body, sizeof(body), "{\"prekeys\":[{\"id\":77,\"key\":\"%s\"}]}", kb);
    assert_int_equal(http(&S, "PUT", "/v1/keys", carol.token, body, strlen(body), &r), 0);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
    assert_int_equal(http(&S, "GET", "/v1/keys/carol", dave.token, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *b = jbody(&r);
    assert_int_equal(json_integer_value(json_object_get(b, "prekey_id")), 77);
    assert_string_equal(json_string_value(json_object_get(b, "prekey")), kb);
    json_decref(b);
    http_resp_free(&r);
    /* HEAD must not consume a prekey: refused */
    assert_int_equal(http(&S, "HEAD", "/v1/keys/carol", dave.token, NULL, 0, &r), 0);
    assert_int_equal(r.status, 405);
    http_resp_free(&r);
    /* no such account */
    assert_int_equal(http(&S, "GET", "/v1/keys/nobody", dave.token, NULL, 0, &r), 0);
    assert_int_equal(r.status, 404);
    http_resp_free(&r);
    /* dave has no signed prekey problem: he uploaded one at registration */
    assert_int_equal(http(&S, "GET", "/v1/keys/dave", carol.token, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
}

static void test_messages_both_ways(void **state)
{
    (void)state;
    struct acct a, b;
    char t[256];
    int64_t id, del = 0;
    make_user(&a, "erin", 1);
    make_user(&b, "frank", 1);
    assert_int_equal(send_msg(&S, &a, "frank", "hello frank 1", &id), 200);
    assert_int_equal(send_msg(&S, &a, "frank", "hello frank 2", &id), 200);
    assert_int_equal(send_msg(&S, &a, "frank", "hello frank 3", &id), 200);
    assert_int_equal(send_msg(&S, &b, "erin", "hi erin", &id), 200);
    assert_int_equal(send_msg(&S, &a, "nobody", "x", &id), 404);

    json_t *m = fetch(&S, &b, 0, 0, NULL);
    assert_int_equal(json_array_size(m), 3);
    for (size_t i = 0; i < 3; i++) {
        char want[32];
        snprintf(want, sizeof(want), "hello frank %zu", i + 1);
        assert_string_equal(msg_text(m, i, t, sizeof(t)), want);
        assert_string_equal(json_string_value(json_object_get(json_array_get(m, i), "from")),
                            "erin");
        if (i)
            assert_true(msg_id(m, i) > msg_id(m, i - 1));
    }
    /* after= skips what the client has seen */
    json_t *m2 = fetch(&S, &b, 0, msg_id(m, 0), NULL);
    assert_int_equal(json_array_size(m2), 2);
    json_decref(m2);
    int64_t ids[3] = {msg_id(m, 0), msg_id(m, 1), msg_id(m, 2)};
    json_decref(m);
    assert_int_equal(ack(&S, &b, ids, 3, &del), 200);
    assert_int_equal(del, 3);
    assert_int_equal(ack(&S, &b, ids, 3, &del), 200);
    assert_int_equal(del, 0); /* acknowledged once: gone */
    m = fetch(&S, &b, 0, 0, NULL);
    assert_int_equal(json_array_size(m), 0);
    json_decref(m);

    m = fetch(&S, &a, 0, 0, NULL);
    assert_int_equal(json_array_size(m), 1);
    assert_string_equal(msg_text(m, 0, t, sizeof(t)), "hi erin");
    ids[0] = msg_id(m, 0);
    json_decref(m);
    assert_int_equal(ack(&S, &a, ids, 1, &del), 200);
    assert_int_equal(del, 1);
}

/* POST /v1/messages/batch with body; returns the status, *ans the JSON. */
static long batch(const struct acct *a, const char *body, json_t **ans)
{
    struct http_resp r;
    http(&S, "POST", "/v1/messages/batch", a->token, body, strlen(body), &r);
    long st = r.status;
    *ans = json_loadb(r.body, r.len, 0, NULL);
    http_resp_free(&r);
    return st;
}

static size_t queued(const struct acct *a)
{
    json_t *m = fetch(&S, a, 0, 0, NULL);
    size_t n = json_array_size(m);
    json_decref(m);
    return n;
}

/* Several envelopes (to several recipients) and an ack in one request: all
 * stored in one transaction, in order, or nothing at all. */
static void test_messages_batch(void **state)
{
    (void)state;
    struct acct a, b, c;
    char body[2048], t[256];
    json_t *ans = NULL, *m;
    make_user(&a, "greta", 1);
    make_user(&b, "hugo", 1);
    make_user(&c, "ivy", 1);
    /* "b25l" "dHdv" "dGhyZWU=": one, two, three */
    snprintf(body, sizeof(body),
             "{\"messages\":[{\"to\":\"hugo\",\"envelope\":{\"type\":2,\"body\":\"b25l\"}},"
             "{\"to\":\"ivy\",\"envelope\":{\"type\":3,\"body\":\"dHdv\"}},"
             "{\"to\":\"hugo\",\"envelope\":{\"type\":2,\"body\":\"dGhyZWU=\"}}]}");
    assert_int_equal(batch(&a, body, &ans), 200);
    json_t *ids = json_object_get(ans, "ids");
    assert_int_equal(json_array_size(ids), 3);
    assert_true(json_integer_value(json_array_get(ids, 1)) >
                json_integer_value(json_array_get(ids, 0)));
    assert_int_equal(json_integer_value(json_object_get(ans, "deleted")), 0);
    long long ivy_id = (long long)json_integer_value(json_array_get(ids, 1));
    json_decref(ans);
    m = fetch(&S, &b, 0, 0, NULL);
    assert_int_equal(json_array_size(m), 2);
    assert_string_equal(msg_text(m, 0, t, sizeof(t)), "one");
    assert_string_equal(msg_text(m, 1, t, sizeof(t)), "three");
    int64_t hugo_ids[2] = {msg_id(m, 0), msg_id(m, 1)};
    json_decref(m);
    m = fetch(&S, &c, 0, 0, NULL);
    assert_int_equal(json_array_size(m), 1);
    assert_string_equal(msg_text(m, 0, t, sizeof(t)), "two");
    json_decref(m);

    /* hugo answers and acknowledges in one request; an id of another
     * account's queue is not deleted */
    snprintf(body, sizeof(body),
             "{\"messages\":[{\"to\":\"greta\",\"envelope\":{\"type\":2,\"body\":\"b25l\"}}],"
             "\"ack\":[%lld,%lld,%lld]}",
             (long long)hugo_ids[0], (long long)hugo_ids[1], ivy_id);
    assert_int_equal(batch(&b, body, &ans), 200);
    assert_int_equal(json_integer_value(json_object_get(ans, "deleted")), 2);
    json_decref(ans);
    assert_int_equal(queued(&b), 0);
    assert_int_equal(queued(&c), 1); /* ivy's message was not hugo's to delete */
    assert_int_equal(queued(&a), 1);

    /* all or nothing: an unknown recipient in the middle stores nothing and
     * acknowledges nothing, and says which item */
    m = fetch(&S, &a, 0, 0, NULL);
    snprintf(body, sizeof(body),
             "{\"messages\":[{\"to\":\"hugo\",\"envelope\":{\"type\":2,\"body\":\"b25l\"}},"
             "{\"to\":\"nobody\",\"envelope\":{\"type\":2,\"body\":\"b25l\"}}],\"ack\":[%lld]}",
             (long long)msg_id(m, 0));
    json_decref(m);
    assert_int_equal(batch(&a, body, &ans), 404);
    assert_non_null(strstr(json_string_value(json_object_get(ans, "error")), "messages[1]"));
    json_decref(ans);
    assert_int_equal(queued(&b), 0);
    assert_int_equal(queued(&a), 1);

    /* a bad item: 400 naming it, nothing stored */
    assert_int_equal(batch(&a,
                           "{\"messages\":[{\"to\":\"hugo\",\"envelope\":{\"type\":2,\"body\":"
                           "\"b25l\"}},{\"to\":\"hugo\",\"envelope\":{\"type\":9,\"body\":"
                           "\"b25l\"}}]}",
                           &ans),
                     400);
    json_decref(ans);
    assert_int_equal(batch(&a, "{\"messages\":[{\"to\":\"hugo\"}]}", &ans), 400);
    json_decref(ans);
    assert_int_equal(batch(&a,
                           "{\"messages\":[{\"to\":\"hugo\",\"envelope\":{\"type\":2,"
                           "\"body\":\"b25l\"},\"cc\":\"ivy\"}]}",
                           &ans),
                     400);
    json_decref(ans);
    assert_int_equal(batch(&a, "{\"messages\":{}}", &ans), 400);
    json_decref(ans);
    assert_int_equal(batch(&a, "{\"ack\":[0]}", &ans), 400);
    json_decref(ans);
    assert_int_equal(batch(&a, "{\"send\":[]}", &ans), 400);
    json_decref(ans);
    assert_int_equal(queued(&b), 0);

    /* more than 64 messages: refused */
    {
        size_t cap = 65 * 80 + 64, o = 0;
        char *big = malloc(cap);
        assert_non_null(big);
        o += (size_t)snprintf(big + o, cap - o, "{\"messages\":[");
        for (int i = 0; i < 65; i++)
            o += (size_t)snprintf(big + o, cap - o,
                                  "%s{\"to\":\"hugo\",\"envelope\":{\"type\":2,\"body\":\"b25l\"}}",
                                  i ? "," : "");
        snprintf(big + o, cap - o, "]}");
        assert_int_equal(batch(&a, big, &ans), 400);
        json_decref(ans);
        free(big);
    }
    assert_int_equal(queued(&b), 0);

    /* an empty batch is fine: nothing to do */
    assert_int_equal(batch(&a, "{}", &ans), 200);
    assert_int_equal(json_array_size(json_object_get(ans, "ids")), 0);
    json_decref(ans);

    /* without a token: 401 */
    struct http_resp r;
    http(&S, "POST", "/v1/messages/batch", NULL, "{}", 2, &r);
    assert_int_equal(r.status, 401);
    http_resp_free(&r);
}

struct poller {
    const struct srv *s;
    const struct acct *a;
    int wait;    /* seconds, */
    int wait_ms; /* or, when not 0, milliseconds */
    struct http_resp r;
};

static void *poll_main(void *arg)
{
    struct poller *p = arg;
    char path[64];
    if (p->wait_ms)
        snprintf(path, sizeof(path), "/v1/messages?wait_ms=%d", p->wait_ms);
    else
        snprintf(path, sizeof(path), "/v1/messages?wait=%d", p->wait);
    http(p->s, "GET", path, p->a->token, NULL, 0, &p->r);
    return NULL;
}

static void test_long_poll(void **state)
{
    (void)state;
    struct acct a, b;
    pthread_t th;
    make_user(&a, "gina", 1);
    make_user(&b, "hank", 1);

    /* nothing comes: the fetch returns empty after about `wait` seconds */
    struct http_resp r;
    json_t *m = fetch(&S, &b, 1, 0, &r);
    assert_int_equal(json_array_size(m), 0);
    assert_true(r.seconds >= 0.9 && r.seconds < 3.0);
    json_decref(m);
    http_resp_free(&r);

    /* wait_ms: a short wait ends on time (the timer sleeps until the
     * nearest deadline, not a fixed tick), while a longer one is parked;
     * out of range: 400 */
    for (int i = 0; i < 5; i++) {
        http(&S, "GET", "/v1/messages?wait_ms=150", b.token, NULL, 0, &r);
        assert_int_equal(r.status, 200);
        assert_true(r.seconds >= 0.14 && r.seconds < 1.0);
        http_resp_free(&r);
    }
    http(&S, "GET", "/v1/messages?wait_ms=30001", b.token, NULL, 0, &r);
    assert_int_equal(r.status, 400);
    http_resp_free(&r);
    http(&S, "GET", "/v1/messages?wait_ms=-1", b.token, NULL, 0, &r);
    assert_int_equal(r.status, 400);
    http_resp_free(&r);

    /* a send wakes a waiting fetch at once; the wait (10 s) is longer than
     * the server's idle timeout (3 s): a parked request is not idle */
    struct poller p = {&S, &b, 10, 0, {0}};
    assert_int_equal(pthread_create(&th, NULL, poll_main, &p), 0);
    sleep_ms(4000);
    int64_t id;
    assert_int_equal(send_msg(&S, &a, "hank", "wake up", &id), 200);
    pthread_join(th, NULL);
    assert_int_equal(p.r.status, 200);
    assert_true(p.r.seconds < 6.0);
    json_t *o = jbody(&p.r);
    m = json_object_get(o, "messages");
    char t[64];
    assert_int_equal(json_array_size(m), 1);
    assert_string_equal(msg_text(m, 0, t, sizeof(t)), "wake up");
    assert_int_equal(msg_id(m, 0), id);
    json_decref(o);
    http_resp_free(&p.r);
    assert_int_equal(ack(&S, &b, &id, 1, NULL), 200);
}

/* 200 long-polls wait at once; the server's thread count does not grow,
 * and one send wakes all of them. */
static void test_long_poll_no_thread_per_client(void **state)
{
    (void)state;
    enum { N = 200 };
    struct acct a, b;
    char url[256], auth[200];
    make_user(&a, "ivan", 1);
    make_user(&b, "jill", 1);
    int before = srv_threads(&S);
    CURLM *multi = curl_multi_init();
    CURL *h[N];
    struct curl_slist *hdr = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/messages?wait=20", S.port);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", b.token);
    hdr = curl_slist_append(hdr, auth);
    FILE *devnull = fopen("/dev/null", "w");
    for (int i = 0; i < N; i++) {
        h[i] = curl_easy_init();
        curl_easy_setopt(h[i], CURLOPT_URL, url);
        curl_easy_setopt(h[i], CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h[i], CURLOPT_WRITEDATA, devnull);
        curl_easy_setopt(h[i], CURLOPT_TIMEOUT, 60L);
        curl_multi_add_handle(multi, h[i]);
    }
    int running = N;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int sent = 0, during = 0;
    int64_t id = 0;
    while (running) {
        curl_multi_perform(multi, &running);
        curl_multi_poll(multi, NULL, 0, 50, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (!sent && el > 2.0) {
            during = srv_threads(&S);
            assert_int_equal(send_msg(&S, &a, "jill", "to everyone", &id), 200);
            sent = 1;
        }
        assert_true(el < 15.0); /* woken long before wait=20 */
    }
    int ok = 0;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
        long code = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        if (msg->msg == CURLMSG_DONE && msg->data.result == CURLE_OK && code == 200)
            ok++;
    }
    for (int i = 0; i < N; i++) {
        curl_multi_remove_handle(multi, h[i]);
        curl_easy_cleanup(h[i]);
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(hdr);
    fclose(devnull);
    assert_int_equal(ok, N);
    assert_true(before > 0);
    assert_true(during <= before); /* no thread per waiting client */
    assert_int_equal(ack(&S, &b, &id, 1, NULL), 200);
}

/* --- chain rules ----------------------------------------------------------- */

/* The latest entry of name once a checkpoint covers it (503 pending
 * meanwhile); its version. */
static uint64_t lookup_version(const char *name, uint64_t want)
{
    char path[128];
    struct http_resp r;
    uint64_t v = 0;
    snprintf(path, sizeof(path), "/v1/directory/%s", name);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(http(&S, "GET", path, NULL, NULL, 0, &r), 0);
        if (r.status == 200) {
            json_t *o = jbody(&r);
            ckv_dir_entry e;
            const char *t = json_string_value(json_object_get(o, "entry"));
            assert_int_equal(ckv_dir_entry_parse((const uint8_t *)t, strlen(t), &e), CKV_OK);
            v = e.version;
            json_decref(o);
        } else {
            assert_int_equal(r.status, 503);
        }
        http_resp_free(&r);
        if (v == want)
            break;
        sleep_ms(50);
    }
    return v;
}

static void test_chain_rules(void **state)
{
    (void)state;
    struct acct a, snap;
    char entry[CKV_DIR_ENTRY_MAX + 1];
    uint8_t np[32], nq[33], wrong[32], wq[33];
    struct http_resp r;
    make_user(&a, "kate", 2);
    char old_token[128];
    snprintf(old_token, sizeof(old_token), "%s", a.token);

    assert_int_equal(lookup_version("kate", 1), 1); /* (and now in the lookup cache) */
    /* a rotation signed by a key that is not the previous one */
    keypair(np, nq);
    keypair(wrong, wq);
    make_entry(&S, &a, CKV_DIR_ROTATE, 2, np, nq, wrong, entry, sizeof(entry));
    assert_int_equal(post_entry(&S, entry, np, 1, 1, &r), 403);
    assert_string_equal(err_code(&r), "bad_chain");
    http_resp_free(&r);
    /* a wrong link to the previous entry */
    snap = a;
    snap.leaf_index = a.leaf_index + 1;
    make_entry(&S, &snap, CKV_DIR_ROTATE, 2, np, nq, a.priv, entry, sizeof(entry));
    assert_int_equal(post_entry(&S, entry, np, 1, 1, &r), 409);
    http_resp_free(&r);
    snap = a;
    snap.leaf_hash[0] ^= 1;
    make_entry(&S, &snap, CKV_DIR_ROTATE, 2, np, nq, a.priv, entry, sizeof(entry));
    assert_int_equal(post_entry(&S, entry, np, 1, 1, &r), 409);
    http_resp_free(&r);
    /* a skipped version */
    make_entry(&S, &a, CKV_DIR_ROTATE, 3, np, nq, a.priv, entry, sizeof(entry));
    assert_int_equal(post_entry(&S, entry, np, 1, 1, &r), 409);
    http_resp_free(&r);
    /* a second register of the taken name, with another key */
    struct acct thief;
    acct_new(&thief, "kate");
    assert_int_equal(acct_register(&S, &thief, 1), 409);
    /* the same name written differently is the same name */
    acct_new(&thief, "kate");
    make_entry(&S, &thief, CKV_DIR_REGISTER, 1, thief.priv, thief.pub, NULL, entry,
               sizeof(entry));
    char *nl = strstr(entry, "\nname kate\n");
    assert_non_null(nl);
    nl[6] = 'K';
    assert_int_equal(post_entry(&S, entry, thief.priv, 1, 1, &r), 400);
    assert_string_equal(err_code(&r), "bad_entry");
    http_resp_free(&r);
    /* an entry for another log */
    struct srv other = S;
    snprintf(other.origin, sizeof(other.origin), "other.example/log");
    acct_new(&thief, "kate2");
    make_entry(&other, &thief, CKV_DIR_REGISTER, 1, thief.priv, thief.pub, NULL, entry,
               sizeof(entry));
    assert_int_equal(post_entry(&S, entry, thief.priv, 1, 1, &r), 400);
    assert_string_equal(err_code(&r), "wrong_origin");
    http_resp_free(&r);
    /* a replayed (identical) entry is refused too */
    /* the good rotation */
    uint64_t v1_index = a.leaf_index;
    assert_int_equal(acct_rotate(&S, &a, 2), 200);
    assert_int_equal(a.version, 2);
    assert_true(a.leaf_index > v1_index);
    /* the old token died with the old key */
    assert_int_equal(http(&S, "GET", "/v1/messages", old_token, NULL, 0, &r), 0);
    assert_int_equal(r.status, 401);
    http_resp_free(&r);
    assert_int_equal(acct_login(&S, &a), 200);
    assert_int_equal(lookup_version("kate", 2), 2); /* never the cached v1 */
    /* a reset: no old-key signature */
    assert_int_equal(acct_reset(&S, &a, 2), 200);
    assert_int_equal(a.version, 3);
    assert_int_equal(lookup_version("kate", 3), 3);
    assert_int_equal(acct_login(&S, &a), 200);

    /* all three are in the log, in order, with their types */
    json_t *h = NULL;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(http(&S, "GET", "/v1/directory/kate/history", NULL, NULL, 0, &r), 0);
        if (r.status == 200) {
            h = jbody(&r);
            http_resp_free(&r);
            if (json_array_size(json_object_get(h, "entries")) == 3)
                break;
            json_decref(h);
            h = NULL;
        } else {
            http_resp_free(&r);
        }
        sleep_ms(50);
    }
    assert_non_null(h);
    const char *types[3] = {"type register\n", "type rotate\n", "type reset\n"};
    for (size_t i = 0; i < 3; i++) {
        const char *e = json_string_value(
            json_object_get(json_array_get(json_object_get(h, "entries"), i), "entry"));
        assert_non_null(e);
        assert_non_null(strstr(e, types[i]));
    }
    json_decref(h);
}

/* An account registered with a recovery hash can be reset only with the
 * code; an account without one can be reset by anyone (publicly, in the
 * log: its owner's monitor sees it). */
/* A key nobody holds (Curve25519's u = 1, of small order), "signed" with
 * R = identity and S = 0, which libsignal's check alone accepted for a
 * share of all messages: ckvd refuses every attempt before the log, so no
 * one can squat a name with it and log in as that account. */
static void test_weak_key_refused(void **state)
{
    (void)state;
    struct http_resp r;
    char text[CKV_DIR_ENTRY_MAX + 1];
    for (int i = 0; i < 16; i++) {
        ckv_dir_entry e;
        size_t len = 0;
        memset(&e, 0, sizeof(e));
        snprintf(e.origin, sizeof(e.origin), "%s", S.origin);
        snprintf(e.name, sizeof(e.name), "squat%d", i);
        e.type = CKV_DIR_REGISTER;
        e.version = 1;
        e.key[0] = 0x05;
        e.key[1] = 1;
        e.time = (int64_t)time(NULL) + i;
        e.pop[0] = 1;                          /* R: the identity */
        e.pop[63] = (uint8_t)((i & 1) << 7); /* either sign of the Edwards key */
        assert_int_equal(ckv_dir_entry_encode(&e, text, sizeof(text), &len), CKV_OK);
        json_t *o = json_pack("{s:s}", "entry", text);
        char *body = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        assert_int_equal(http(&S, "POST", "/v1/accounts", NULL, body, strlen(body), &r), 0);
        free(body);
        assert_int_equal(r.status, 400);
        assert_string_equal(err_code(&r), "bad_entry");
        assert_non_null(strstr(r.body, "small order"));
        http_resp_free(&r);
    }
}

static void test_reset_recovery_code(void **state)
{
    (void)state;
    struct acct a;
    char entry[CKV_DIR_ENTRY_MAX + 1], code_b64[64], hash_b64[64], wrong_b64[64];
    uint8_t code[32], hash[32], wrong[32], np[32], nq[33];
    struct http_resp r;
    randombytes_buf(code, sizeof(code));
    randombytes_buf(wrong, sizeof(wrong));
    crypto_hash_sha256(hash, code, sizeof(code));
    sodium_bin2base64(code_b64, sizeof(code_b64), code, 32, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(wrong_b64, sizeof(wrong_b64), wrong, 32, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(hash_b64, sizeof(hash_b64), hash, 32, sodium_base64_VARIANT_ORIGINAL);
    acct_new(&a, "rhea");
    make_entry(&S, &a, CKV_DIR_REGISTER, 1, a.priv, a.pub, NULL, entry, sizeof(entry));
    assert_int_equal(post_entry_ex(&S, entry, a.priv, 1, 1, hash_b64, NULL, &r), 200);
    json_t *o = jbody(&r);
    a.leaf_index = (uint64_t)json_integer_value(json_object_get(o, "leaf_index"));
    json_decref(o);
    http_resp_free(&r);
    ckv_dir_leaf_hash((const uint8_t *)entry, strlen(entry), a.leaf_hash);
    a.version = 1;

    keypair(np, nq);
    make_entry(&S, &a, CKV_DIR_RESET, 2, np, nq, NULL, entry, sizeof(entry));
    assert_int_equal(post_entry_ex(&S, entry, np, 1, 1, NULL, NULL, &r), 403);
    assert_string_equal(err_code(&r), "recovery_required");
    http_resp_free(&r);
    assert_int_equal(post_entry_ex(&S, entry, np, 1, 1, NULL, wrong_b64, &r), 403);
    assert_string_equal(err_code(&r), "bad_recovery");
    http_resp_free(&r);
    assert_int_equal(post_entry_ex(&S, entry, np, 1, 1, NULL, code_b64, &r), 200);
    http_resp_free(&r);
    /* "recovery" belongs to resets only */
    struct acct b;
    acct_new(&b, "rhea2");
    make_entry(&S, &b, CKV_DIR_REGISTER, 1, b.priv, b.pub, NULL, entry, sizeof(entry));
    assert_int_equal(post_entry_ex(&S, entry, b.priv, 1, 1, NULL, code_b64, &r), 400);
    http_resp_free(&r);
}

/* --- authorisation ------------------------------------------------------- */

static void test_unauthorised(void **state)
{
    (void)state;
    struct acct a, b, eve;
    char body[1024];
    struct http_resp r;
    int64_t id, del = 7;
    make_user(&a, "liam", 2);
    make_user(&b, "mona", 2);
    make_user(&eve, "eve", 2);

    /* a login for mona signed by eve's key */
    login_body(&S, "mona", eve.priv, (int64_t)time(NULL), body, sizeof(body));
    http(&S, "POST", "/v1/login", NULL, body, strlen(body), &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(err_code(&r), "bad_signature");
    http_resp_free(&r);
    /* a replayed login */
    login_body(&S, "mona", b.priv, (int64_t)time(NULL), body, sizeof(body));
    http(&S, "POST", "/v1/login", NULL, body, strlen(body), &r);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
    http(&S, "POST", "/v1/login", NULL, body, strlen(body), &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(err_code(&r), "replay");
    http_resp_free(&r);
    /* clock skew: a clear error with the server's time */
    login_body(&S, "mona", b.priv, (int64_t)time(NULL) - 3600, body, sizeof(body));
    http(&S, "POST", "/v1/login", NULL, body, strlen(body), &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(err_code(&r), "clock_skew");
    json_t *o = jbody(&r);
    assert_true(json_integer_value(json_object_get(o, "server_time")) > 1700000000);
    assert_non_null(strstr(json_string_value(json_object_get(o, "error")), "clock"));
    json_decref(o);
    http_resp_free(&r);
    /* unknown account */
    login_body(&S, "nobody", b.priv, (int64_t)time(NULL), body, sizeof(body));
    http(&S, "POST", "/v1/login", NULL, body, strlen(body), &r);
    assert_int_equal(r.status, 401);
    http_resp_free(&r);
    /* no token, a made-up token */
    http(&S, "GET", "/v1/messages", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 401);
    http_resp_free(&r);
    http(&S, "GET", "/v1/messages", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, 0, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(err_code(&r), "bad_token");
    http_resp_free(&r);

    /* another account's queue: eve sees nothing of mona's, and her ack of
     * mona's message ids deletes nothing */
    assert_int_equal(send_msg(&S, &a, "mona", "for mona only", &id), 200);
    json_t *m = fetch(&S, &eve, 0, 0, NULL);
    assert_int_equal(json_array_size(m), 0);
    json_decref(m);
    int64_t guess[3] = {id, id - 1, id + 1};
    assert_int_equal(ack(&S, &eve, guess, 3, &del), 200);
    assert_int_equal(del, 0);
    m = fetch(&S, &b, 0, 0, NULL);
    assert_int_equal(json_array_size(m), 1);
    assert_int_equal(msg_id(m, 0), id);
    json_decref(m);
    assert_int_equal(ack(&S, &b, &id, 1, &del), 200);
    assert_int_equal(del, 1);

    /* keys for another account: a signed prekey signed by mona's key is
     * refused on eve's account, and without a token nothing is accepted */
    uint8_t sp[32], sq[33], sig[64];
    char kb[64], sb[100];
    keypair(sp, sq);
    assert_int_equal(ckv_xeddsa_sign(b.priv, sq, 33, sig), CKV_OK);
    sodium_bin2base64(kb, sizeof(kb), sq, 33, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(sb, sizeof(sb), sig, 64, sodium_base64_VARIANT_ORIGINAL);
    snprintf(body, sizeof(body),
             "{\"signed_prekey\":{\"id\":9,\"key\":\"%s\",\"signature\":\"%s\"}}", kb, sb);
    http(&S, "PUT", "/v1/keys", eve.token, body, strlen(body), &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(err_code(&r), "bad_signature");
    http_resp_free(&r);
    http(&S, "PUT", "/v1/keys", NULL, body, strlen(body), &r);
    assert_int_equal(r.status, 401);
    http_resp_free(&r);
    /* mona's bundle still has her own signed prekey (id 1) */
    http(&S, "GET", "/v1/keys/mona", a.token, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    o = jbody(&r);
    assert_int_equal(json_integer_value(json_object_get(o, "signed_prekey_id")), 1);
    assert_string_not_equal(json_string_value(json_object_get(o, "signed_prekey")), kb);
    json_decref(o);
    http_resp_free(&r);
}

/* --- abuse limits ---------------------------------------------------------- */

static long prekeys_left(const struct acct *a)
{
    struct http_resp r;
    http(&S, "PUT", "/v1/keys", a->token, "{}", 2, &r);
    assert_int_equal(r.status, 200);
    json_t *o = jbody(&r);
    long n = (long)json_integer_value(json_object_get(o, "prekeys"));
    json_decref(o);
    http_resp_free(&r);
    return n;
}

static void test_prekey_drain_limited(void **state)
{
    (void)state;
    struct acct victim, mal;
    struct http_resp r;
    make_user(&victim, "nina", 40);
    make_user(&mal, "mallory", 1);
    assert_int_equal(prekeys_left(&victim), 40);
    int got = 0, limited = 0;
    for (int i = 0; i < 40 && !limited; i++) {
        http(&S, "GET", "/v1/keys/nina", mal.token, NULL, 0, &r);
        if (r.status == 200) {
            got++;
        } else {
            assert_int_equal(r.status, 429);
            assert_string_equal(err_code(&r), "rate_limited");
            assert_true(atoi(r.retry_after) >= 1);
            limited = 1;
        }
        http_resp_free(&r);
    }
    assert_true(limited);
    assert_true(got <= 5);
    assert_int_equal(prekeys_left(&victim), 40 - got);
}

/* --- bad input ------------------------------------------------------------- */

static void expect_4xx(const char *method, const char *path, const char *token,
                       const char *body, size_t len, long status, const char *code)
{
    struct http_resp r;
    assert_int_equal(http(&S, method, path, token, body, len, &r), 0);
    if (r.status != status)
        fprintf(stderr, "%s %s: got %ld %s\n", method, path, r.status, r.body);
    assert_int_equal(r.status, status);
    if (code)
        assert_string_equal(err_code(&r), code);
    /* a sentence for the user */
    json_t *o = jbody(&r);
    assert_true(strlen(json_string_value(json_object_get(o, "error"))) > 10);
    json_decref(o);
    http_resp_free(&r);
}

static int connect_raw(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)S.port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

static void health_is_quick(void)
{
    struct http_resp r;
    assert_int_equal(http(&S, "GET", "/v1/health", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.seconds < 1.0);
    http_resp_free(&r);
}

/* Read until the server closes fd; returns what came, or NULL after max_s. */
static char *read_until_closed(int fd, int max_s)
{
    char *buf = calloc(1, 65536);
    size_t n = 0;
    struct pollfd p = {fd, POLLIN, 0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec > max_s) {
            free(buf);
            return NULL;
        }
        if (poll(&p, 1, 200) <= 0)
            continue;
        ssize_t k = recv(fd, buf + n, 65535 - n, 0);
        if (k <= 0)
            return buf;
        n += (size_t)k;
    }
}

/* Send one byte of bytes[i] on fd[i] (n of them) every pause_ms until each
 * is closed by the server or max_s pass, checking /v1/health is answered
 * at once meanwhile; took[i] = seconds until fd[i] was seen closed, or -1. */
static void trickle_until_closed(const int *fd, const char *bytes, size_t n, int pause_ms,
                                 int max_s, double *took)
{
    struct timespec t0, t1;
    size_t open = n;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < n; i++)
        took[i] = -1;
    for (int round = 0; open > 0; round++) {
        sleep_ms(pause_ms);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double now = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (now > max_s)
            break;
        for (size_t i = 0; i < n; i++) {
            if (took[i] >= 0)
                continue;
            int closed = send(fd[i], &bytes[i], 1, MSG_NOSIGNAL) != 1;
            if (!closed) {
                struct pollfd pf = {fd[i], POLLIN, 0};
                char b[256];
                closed = poll(&pf, 1, 0) > 0 && recv(fd[i], b, sizeof(b), MSG_DONTWAIT) <= 0;
            }
            if (closed) {
                took[i] = now;
                open--;
            }
        }
        if (round % 4 == 0)
            health_is_quick();
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    struct acct a;
    make_user(&a, "oscar", 1);
    expect_4xx("POST", "/v1/login", NULL, "{\"name\": ", 9, 400, "bad_json");
    expect_4xx("POST", "/v1/login", NULL, "[1,2]", 5, 400, "bad_json");
    expect_4xx("POST", "/v1/login", NULL, "", 0, 400, "bad_json");
    expect_4xx("POST", "/v1/login", NULL, "{\"name\":\"\xff\xfe\"}", 13, 400, "bad_json");
    expect_4xx("POST", "/v1/login", NULL, "{\"name\":\"a\",\"name\":\"b\"}", 23, 400, "bad_json");
    const char *unk = "{\"name\":\"oscar\",\"time\":1,\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAA==\","
                      "\"signature\":\"x\",\"admin\":true}";
    expect_4xx("POST", "/v1/login", NULL, unk, strlen(unk), 400, "unknown_field");
    /* an unknown field whose echoed name (at most 64 bytes) would end in the
     * middle of a UTF-8 character (63 x 'a' then U+00E9) is still 400
     * unknown_field, not a 500 from an unencodable error sentence */
    {
        char key[70], ubody[128];
        memset(key, 'a', 63);
        memcpy(key + 63, "\xc3\xa9", 3);
        snprintf(ubody, sizeof(ubody), "{\"%s\":1}", key);
        expect_4xx("POST", "/v1/login", NULL, ubody, strlen(ubody), 400, "unknown_field");
    }
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"name\":\"oscar\",\"time\":%lld,\"nonce\":\"not base64!\",\"signature\":\"AA==\"}",
             (long long)time(NULL));
    expect_4xx("POST", "/v1/login", NULL, body, strlen(body), 400, "bad_base64");
    /* non-canonical base64 (non-zero padding bits) */
    snprintf(body, sizeof(body),
             "{\"name\":\"oscar\",\"time\":%lld,\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAB==\","
             "\"signature\":\"AA==\"}",
             (long long)time(NULL));
    expect_4xx("POST", "/v1/login", NULL, body, strlen(body), 400, "bad_base64");
    /* a truncated registration */
    char entry[CKV_DIR_ENTRY_MAX + 1];
    struct acct t;
    acct_new(&t, "truncated");
    make_entry(&S, &t, CKV_DIR_REGISTER, 1, t.priv, t.pub, NULL, entry, sizeof(entry));
    json_t *o = json_pack("{s:s}", "entry", entry);
    char *full = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    expect_4xx("POST", "/v1/accounts", NULL, full, strlen(full) / 2, 400, "bad_json");
    free(full);
    /* a damaged entry */
    o = json_pack("{s:s}", "entry", "ckv-directory-entry/v1\nname x\n");
    full = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    expect_4xx("POST", "/v1/accounts", NULL, full, strlen(full), 400, "bad_entry");
    free(full);
    /* oversized: the body cap, then the envelope cap */
    size_t big = 300 * 1024;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    expect_4xx("POST", "/v1/messages", a.token, huge, big, 413, "body_too_large");
    size_t env = 70 * 1024, k = 0;
    k += (size_t)snprintf(huge, big, "{\"to\":\"oscar\",\"envelope\":{\"type\":2,\"body\":\"");
    memset(huge + k, 'A', env / 3 * 4);
    k += env / 3 * 4;
    k += (size_t)snprintf(huge + k, big - k, "\"}}");
    expect_4xx("POST", "/v1/messages", a.token, huge, k, 413, "too_large");
    /* exactly the largest envelope body (64 KiB) is accepted and stored:
     * the stored JSON is a third larger than the body, and must still fit */
    {
        size_t maxb = 64 * 1024;
        unsigned char *raw = calloc(1, maxb);
        char *b64 = malloc(sodium_base64_ENCODED_LEN(maxb, sodium_base64_VARIANT_ORIGINAL));
        assert_non_null(raw);
        assert_non_null(b64);
        sodium_bin2base64(b64, sodium_base64_ENCODED_LEN(maxb, sodium_base64_VARIANT_ORIGINAL),
                          raw, maxb, sodium_base64_VARIANT_ORIGINAL);
        k = (size_t)snprintf(huge, big, "{\"to\":\"oscar\",\"envelope\":{\"type\":2,\"body\":\"%s\"}}",
                             b64);
        struct http_resp r;
        assert_int_equal(http(&S, "POST", "/v1/messages", a.token, huge, k, &r), 0);
        if (r.status != 200)
            fprintf(stderr, "64 KiB envelope: got %ld %s\n", r.status, r.body);
        assert_int_equal(r.status, 200);
        json_t *ro = jbody(&r);
        int64_t bigid = json_integer_value(json_object_get(ro, "id"));
        json_decref(ro);
        http_resp_free(&r);
        /* it comes back whole, and is acknowledged */
        json_t *m = fetch(&S, &a, 0, 0, NULL);
        assert_int_equal(json_array_size(m), 1);
        json_t *e = json_object_get(json_array_get(m, 0), "envelope");
        assert_string_equal(json_string_value(json_object_get(e, "body")), b64);
        json_decref(m);
        assert_int_equal(ack(&S, &a, &bigid, 1, NULL), 200);
        free(b64);
        free(raw);
    }
    free(huge);
    /* wrong types and values */
    const char *badtype = "{\"to\":\"oscar\",\"envelope\":{\"type\":9,\"body\":\"AA==\"}}";
    expect_4xx("POST", "/v1/messages", a.token, badtype, strlen(badtype), 400, "bad_envelope");
    /* unknown fields are refused inside nested objects too */
    const char *unkenv =
        "{\"to\":\"oscar\",\"envelope\":{\"type\":2,\"body\":\"AA==\",\"sealed\":1}}";
    expect_4xx("POST", "/v1/messages", a.token, unkenv, strlen(unkenv), 400, "unknown_field");
    const char *unkspk = "{\"signed_prekey\":{\"id\":1,\"key\":\"AA==\",\"signature\":\"AA==\","
                         "\"expires\":0}}";
    expect_4xx("PUT", "/v1/keys", a.token, unkspk, strlen(unkspk), 400, "unknown_field");
    expect_4xx("POST", "/v1/messages/ack", a.token, "{\"ids\":[\"1\"]}", 13, 400, "bad_field");
    expect_4xx("GET", "/v1/messages?wait=abc", a.token, NULL, 0, 400, "bad_query");
    expect_4xx("GET", "/v1/messages?wait=31", a.token, NULL, 0, 400, "bad_query");
    expect_4xx("GET", "/v1/log/consistency?old=5&new=2", NULL, NULL, 0, 400, "bad_query");
    expect_4xx("GET", "/v1/directory/NOT%20normal", NULL, NULL, 0, 400, "bad_name");
    /* names not in normal form: 400 bad_name with the normal form, not 404
     * unknown_account (a recipient, a bundle's target, a batch item) */
    {
        const char *to_upper = "{\"to\":\"Oscar\",\"envelope\":{\"type\":2,\"body\":\"AA==\"}}";
        const char *batch_upper = "{\"messages\":[{\"to\":\"oscar\",\"envelope\":{\"type\":2,"
                                  "\"body\":\"AA==\"}},{\"to\":\"Oscar\",\"envelope\":{\"type\":2,"
                                  "\"body\":\"AA==\"}}]}";
        struct http_resp r;
        expect_4xx("POST", "/v1/messages", a.token, to_upper, strlen(to_upper), 400, "bad_name");
        expect_4xx("GET", "/v1/keys/Oscar", a.token, NULL, 0, 400, "bad_name");
        expect_4xx("GET", "/v1/keys/no%20such", a.token, NULL, 0, 400, "bad_name");
        http(&S, "POST", "/v1/messages", a.token, to_upper, strlen(to_upper), &r);
        assert_non_null(strstr(r.body, "\\\"oscar\\\"")); /* the normal form */
        http_resp_free(&r);
        http(&S, "POST", "/v1/messages/batch", a.token, batch_upper, strlen(batch_upper), &r);
        assert_int_equal(r.status, 400);
        assert_string_equal(err_code(&r), "bad_name");
        assert_non_null(strstr(r.body, "messages[1]"));
        http_resp_free(&r);
        assert_int_equal(queued(&a), 0); /* nothing of it was stored */
    }
    /* other paths under /v1/directory/ are not resources: 404, not 405 */
    expect_4xx("GET", "/v1/directory/a/b", NULL, NULL, 0, 404, "not_found");
    expect_4xx("GET", "/v1/directory/", NULL, NULL, 0, 404, "not_found");
    expect_4xx("GET", "/v1/directory/a/b/history", NULL, NULL, 0, 404, "not_found");
    expect_4xx("POST", "/v1/directory/oscar", NULL, NULL, 0, 405, "bad_method");
    expect_4xx("GET", "/v1/nothing", NULL, NULL, 0, 404, "not_found");
    expect_4xx("DELETE", "/v1/messages", a.token, NULL, 0, 405, "bad_method");
    expect_4xx("GET", "/tile/0/x001", NULL, NULL, 0, 404, "not_found");

    /* slow clients: half a request (headers, or a body) and silence; the
     * server keeps serving others at once, and closes the stalled ones
     * after its idle timeout (3 s here) */
    int f1 = connect_raw(), f2 = connect_raw();
    const char *half_head = "GET /v1/hea";
    const char *half_body = "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                            "Content-Type: application/json\r\n\r\n{\"name\":";
    assert_true(send(f1, half_head, strlen(half_head), 0) > 0);
    assert_true(send(f2, half_body, strlen(half_body), 0) > 0);
    for (int i = 0; i < 5; i++)
        health_is_quick();
    char *got1 = read_until_closed(f1, 10), *got2 = read_until_closed(f2, 10);
    assert_non_null(got1);
    assert_non_null(got2);
    free(got1);
    free(got2);
    close(f1);
    close(f2);
    /* a body that trickles in (a byte every 250 ms, each in time for the
     * idle timeout, the whole far too slow) is cut off too, within a few
     * seconds of the idle timeout, and the server keeps serving others */
    {
        int f5 = connect_raw();
        struct timespec t0, t1, pause = {0, 250000000L};
        int closed = 0;
        assert_true(send(f5, half_body, strlen(half_body), 0) > 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < 40 && !closed; i++) { /* up to 10 s */
            nanosleep(&pause, NULL);
            closed = send(f5, " ", 1, MSG_NOSIGNAL) != 1;
            if (!closed) {
                struct pollfd pf = {f5, POLLIN, 0};
                char b[256];
                closed = poll(&pf, 1, 0) > 0 && recv(f5, b, sizeof(b), MSG_DONTWAIT) <= 0;
            }
            if (i % 8 == 0)
                health_is_quick();
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_true(closed);
        assert_true(t1.tv_sec - t0.tv_sec <= 8); /* idle timeout 3 s here */
        close(f5);
    }
    /* headers that trickle in (a byte every 250 ms) are cut off twice the
     * idle timeout (6 s here) after the connection opened, while a
     * connection that sends one whole request a second over the same time
     * keeps being answered (its wait for headers starts again after each
     * answer) */
    {
        int f6 = connect_raw(), f7 = connect_raw();
        const char *slow_head = "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        const char *whole = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
        struct timespec t0, t1, pause = {0, 250000000L};
        int closed = 0, answered = 0;
        assert_true(send(f6, slow_head, strlen(slow_head), 0) > 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < 40 && !closed; i++) { /* up to 10 s */
            nanosleep(&pause, NULL);
            closed = send(f6, "a", 1, MSG_NOSIGNAL) != 1;
            if (!closed) {
                struct pollfd pf = {f6, POLLIN, 0};
                char b[256];
                closed = poll(&pf, 1, 0) > 0 && recv(f6, b, sizeof(b), MSG_DONTWAIT) <= 0;
            }
            if (i % 4 == 0) { /* the keep-alive connection: a whole request, answered */
                char b[1024];
                size_t got = 0;
                assert_true(send(f7, whole, strlen(whole), MSG_NOSIGNAL) == (ssize_t)strlen(whole));
                while (got < sizeof(b) - 1) {
                    struct pollfd pf = {f7, POLLIN, 0};
                    if (poll(&pf, 1, 2000) <= 0)
                        break;
                    ssize_t r = recv(f7, b + got, sizeof(b) - 1 - got, 0);
                    if (r <= 0)
                        break;
                    got += (size_t)r;
                    b[got] = 0;
                    if (strstr(b, "\r\n\r\n") && strchr(strstr(b, "\r\n\r\n"), '}'))
                        break;
                }
                b[got] = 0;
                assert_non_null(strstr(b, " 200 "));
                answered++;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_true(closed);
        double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        assert_true(took >= 5.0 && took <= 8.0);
        assert_true(answered >= 5);
        health_is_quick();
        close(f6);
        close(f7);
    }
    /* the rest of a chunked request that never reaches ckvd as body bytes,
     * sent a byte every 500 ms (each in time for the idle timeout): its
     * trailers after the last chunk, or a chunk extension, is cut off twice
     * the idle timeout (6 s here) after the headers, while the server keeps
     * answering others and a long-poll parked longer than that (8 s) is not
     * cut and answers normally */
    {
        const char *chunked = "POST /v1/login HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: application/json\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n";
        char head[512];
        int fd[2] = {connect_raw(), connect_raw()};
        double took[2];
        pthread_t th;
        struct poller p = {&S, &a, 0, 8000, {0}};
        assert_int_equal(pthread_create(&th, NULL, poll_main, &p), 0);
        snprintf(head, sizeof(head), "%s2\r\n{}\r\n0\r\nX-Trailer: ", chunked);
        assert_true(send(fd[0], head, strlen(head), 0) > 0);
        snprintf(head, sizeof(head), "%s2;e", chunked);
        assert_true(send(fd[1], head, strlen(head), 0) > 0);
        trickle_until_closed(fd, "ae", 2, 500, 12, took);
        for (int i = 0; i < 2; i++) {
            if (took[i] < 5.0 || took[i] > 7.5)
                fprintf(stderr, "chunked trickle %d: closed after %.1f s\n", i, took[i]);
            assert_true(took[i] >= 5.0 && took[i] <= 7.5);
            close(fd[i]);
        }
        pthread_join(th, NULL);
        assert_int_equal(p.r.status, 200);
        assert_true(p.r.seconds >= 7.9 && p.r.seconds < 10.0);
        json_t *po = jbody(&p.r);
        assert_int_equal(json_array_size(json_object_get(po, "messages")), 0);
        json_decref(po);
        http_resp_free(&p.r);
        health_is_quick();
    }
    /* a truncated request whose client goes away */
    int f3 = connect_raw();
    assert_true(send(f3, half_body, strlen(half_body), 0) > 0);
    close(f3);
    /* a declared body over the cap is refused before it is sent */
    int f4 = connect_raw();
    const char *decl = "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n"
                       "Expect: 100-continue\r\n\r\n";
    assert_true(send(f4, decl, strlen(decl), 0) > 0);
    char *got4 = read_until_closed(f4, 10);
    assert_non_null(got4);
    assert_non_null(strstr(got4, " 413 "));
    assert_non_null(strstr(got4, "body_too_large"));
    free(got4);
    close(f4);
    health_is_quick();
    /* nothing was lost: oscar's account still works */
    int64_t id;
    assert_int_equal(send_msg(&S, &a, "oscar", "still here", &id), 200);
    json_t *m = fetch(&S, &a, 0, 0, NULL);
    assert_int_equal(json_array_size(m), 1);
    json_decref(m);
    assert_int_equal(ack(&S, &a, &id, 1, NULL), 200);
}

/* --- directory and log ----------------------------------------------------- */

static void test_directory_proofs(void **state)
{
    (void)state;
    struct acct a;
    struct http_resp r;
    make_user(&a, "pia", 1);
    ckv_tlog_verifier *v = NULL;
    assert_int_equal(ckv_tlog_verifier_parse(S.vkey, strlen(S.vkey), &v), CKV_OK);

    /* the lookup answers once a checkpoint covers the entry (the interval
     * is 100 ms here) */
    for (int tries = 0; tries < 100; tries++) {
        http(&S, "GET", "/v1/directory/pia", NULL, NULL, 0, &r);
        if (r.status != 503)
            break;
        assert_string_equal(err_code(&r), "pending");
        assert_true(atoi(r.retry_after) >= 1);
        http_resp_free(&r);
        sleep_ms(50);
    }
    assert_int_equal(r.status, 200);
    assert_string_equal(r.cache, "public, max-age=1");
    json_t *o = jbody(&r);
    http_resp_free(&r);
    const char *note = json_string_value(json_object_get(o, "checkpoint"));
    const char *entry = json_string_value(json_object_get(o, "entry"));
    assert_non_null(note);
    assert_non_null(entry);
    ckv_tlog_checkpoint cp;
    const ckv_tlog_verifier *vs[1] = {v};
    assert_int_equal(ckv_tlog_checkpoint_open(note, strlen(note), S.origin, vs, 1, &cp, NULL),
                     CKV_OK);
    /* the entry is pia's, with her key */
    ckv_dir_entry e;
    assert_int_equal(ckv_dir_entry_parse((const uint8_t *)entry, strlen(entry), &e), CKV_OK);
    assert_string_equal(e.name, "pia");
    assert_memory_equal(e.key, a.pub, 33);
    uint64_t index = (uint64_t)json_integer_value(json_object_get(o, "leaf_index"));
    assert_int_equal(index, a.leaf_index);
    json_t *proof = json_object_get(o, "proof");
    ckv_tlog_hash path[CKV_TLOG_MAX_PROOF], leaf;
    size_t n = json_array_size(proof);
    assert_true(n <= CKV_TLOG_MAX_PROOF);
    for (size_t i = 0; i < n; i++) {
        size_t got = 0;
        const char *h = json_string_value(json_array_get(proof, i));
        assert_int_equal(sodium_base642bin(path[i].b, 32, h, strlen(h), NULL, &got, NULL,
                                           sodium_base64_VARIANT_ORIGINAL),
                         0);
        assert_int_equal(got, 32);
    }
    ckv_tlog_leaf_hash((const uint8_t *)entry, strlen(entry), &leaf);
    assert_int_equal(ckv_tlog_verify_inclusion(index, cp.size, &leaf, path, n, &cp.root), CKV_OK);
    /* a tampered proof fails */
    if (n) {
        path[0].b[0] ^= 1;
        assert_int_not_equal(ckv_tlog_verify_inclusion(index, cp.size, &leaf, path, n, &cp.root),
                             CKV_OK);
    }
    json_decref(o);

    /* consistency proofs between every old size and the latest checkpoint,
     * checked against roots recomputed from the tiles */
    struct audit_view view;
    assert_int_equal(audit_log(&S, v, NULL, &view), 0);
    for (uint64_t m = 0; m <= view.cp.size; m++) {
        char q[128];
        snprintf(q, sizeof(q), "/v1/log/consistency?old=%llu&new=%llu", (unsigned long long)m,
                 (unsigned long long)view.cp.size);
        http(&S, "GET", q, NULL, NULL, 0, &r);
        assert_int_equal(r.status, 200);
        o = jbody(&r);
        proof = json_object_get(o, "proof");
        n = json_array_size(proof);
        for (size_t i = 0; i < n; i++) {
            size_t got = 0;
            const char *h = json_string_value(json_array_get(proof, i));
            assert_int_equal(sodium_base642bin(path[i].b, 32, h, strlen(h), NULL, &got, NULL,
                                               sodium_base64_VARIANT_ORIGINAL),
                             0);
        }
        ckv_tlog_hash old_root;
        assert_int_equal(audit_root_at(&view, m, &old_root), 0);
        assert_int_equal(ckv_tlog_verify_consistency(m, view.cp.size, &old_root, &view.cp.root,
                                                     path, n),
                         CKV_OK);
        json_decref(o);
        http_resp_free(&r);
    }
    audit_view_free(&view);
    ckv_tlog_verifier_free(v);
}

/* The log over C2SP tlog-tiles, audited from the outside: before and after
 * more accounts register. */
static void test_audit_live(void **state)
{
    (void)state;
    ckv_tlog_verifier *v = NULL;
    struct audit_view v1, v2;
    struct http_resp r;
    assert_int_equal(ckv_tlog_verifier_parse(S.vkey, strlen(S.vkey), &v), CKV_OK);
    assert_int_equal(audit_log(&S, v, NULL, &v1), 0);
    assert_true(v1.cp.size > 0);
    /* content types */
    http(&S, "GET", "/checkpoint", NULL, NULL, 0, &r);
    assert_string_equal(r.ctype, "text/plain; charset=utf-8");
    http_resp_free(&r);
    http(&S, "GET", "/tile/0/000.p/1", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "application/octet-stream");
    assert_int_equal(r.len, 32);
    http_resp_free(&r);
    http(&S, "GET", "/tile/entries/000.p/1", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "application/octet-stream");
    http_resp_free(&r);
    if (audit_tool_available())
        assert_int_equal(audit_tool_run(&S, g_dir), 0);
    else
        printf("NOTE: no ckv-audit in this build (nor $CKV_AUDIT): only the library audit "
               "ran\n");

    for (int i = 0; i < 6; i++) {
        struct acct a;
        char name[32];
        snprintf(name, sizeof(name), "later%d", i);
        acct_new(&a, name);
        assert_int_equal(acct_register(&S, &a, 0), 200);
        if (i == 3)
            assert_int_equal(acct_rotate(&S, &a, 0), 200);
    }
    for (int i = 0; i < 100; i++) {
        assert_int_equal(audit_log(&S, v, &v1, &v2), 0);
        if (v2.cp.size >= v1.cp.size + 7)
            break;
        audit_view_free(&v2);
        sleep_ms(50);
    }
    assert_true(v2.cp.size >= v1.cp.size + 7);
    if (audit_tool_available())
        assert_int_equal(audit_tool_run(&S, g_dir), 0);
    audit_view_free(&v1);
    audit_view_free(&v2);
    ckv_tlog_verifier_free(v);
}

/* Nothing secret in the server's log: no token, no message body. */
static void test_nothing_secret_logged(void **state)
{
    (void)state;
    struct acct a;
    make_user(&a, "quinn", 1);
    int64_t id;
    assert_int_equal(send_msg(&S, &a, "quinn", "TOPSECRETBODY", &id), 200);
    char b64[64];
    sodium_bin2base64(b64, sizeof(b64), (const uint8_t *)"TOPSECRETBODY", 13,
                      sodium_base64_VARIANT_ORIGINAL);
    assert_true(srv_log_contains(&S, "GET /v1/messages")); /* -v logs requests */
    /* the logged path is escaped: a %0a in it cannot start a forged line */
    expect_4xx("GET", "/v1/nothing%0a2026-01-01T00:00:00Z%20ckvd:%20forged%5c%c3%a9", NULL, NULL,
               0, 404, "not_found");
    assert_true(srv_log_contains(&S, "/v1/nothing\\x0a2026-01-01T00:00:00Z ckvd: forged"
                                     "\\x5c\\xc3\\xa9 -> 404"));
    assert_false(srv_log_contains(&S, "\n2026-01-01T00:00:00Z ckvd: forged"));
    assert_false(srv_log_contains(&S, b64));
    assert_false(srv_log_contains(&S, "Bearer"));
    for (int i = 0; i < g_ntokens; i++)
        assert_false(srv_log_contains(&S, g_tokens[i]));
}

/* --- groups ------------------------------------------------------------------ */

static int api_setup(void **state)
{
    (void)state;
    static const char *const extra[] = {"--checkpoint-interval", "100", "--idle-timeout", "3",
                                        "-v", NULL};
    char sub[600];
    snprintf(sub, sizeof(sub), "%s/api", g_dir);
    return srv_start(&S, sub, extra);
}

static int api_teardown(void **state)
{
    (void)state;
    int rc = srv_stop(&S);
    if (rc != 0)
        fprintf(stderr, "ckvd exited with %d (see %s)\n", rc, S.errlog);
    return rc == 0 ? 0 : -1;
}


int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_ckvd api|restart|expiry|limits|tls DIR\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    curl_global_init(CURL_GLOBAL_ALL);
    snprintf(g_dir, sizeof(g_dir), "%s", argv[2]);
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", g_dir, g_dir);
    if (system(cmd) != 0)
        return 1;
    int rc;
    if (strcmp(argv[1], "api") == 0) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_help),
            cmocka_unit_test(test_register_and_bundles),
            cmocka_unit_test(test_messages_both_ways),
            cmocka_unit_test(test_messages_batch),
            cmocka_unit_test(test_long_poll),
            cmocka_unit_test(test_long_poll_no_thread_per_client),
            cmocka_unit_test(test_chain_rules),
            cmocka_unit_test(test_reset_recovery_code),
            cmocka_unit_test(test_weak_key_refused),
            cmocka_unit_test(test_unauthorised),
            cmocka_unit_test(test_prekey_drain_limited),
            cmocka_unit_test(test_bad_input),
            cmocka_unit_test(test_directory_proofs),
            cmocka_unit_test(test_audit_live),
            cmocka_unit_test(test_nothing_secret_logged),
        };
        rc = cmocka_run_group_tests_name("ckvd api", tests, api_setup, api_teardown);
    } else if (strcmp(argv[1], "restart") == 0) {
        rc = run_restart_tests(g_dir);
    } else if (strcmp(argv[1], "expiry") == 0) {
        rc = run_expiry_tests(g_dir);
    } else if (strcmp(argv[1], "limits") == 0) {
        rc = run_limit_tests(g_dir);
    } else if (strcmp(argv[1], "tls") == 0) {
        rc = run_tls_tests(g_dir);
    } else {
        fprintf(stderr, "unknown group %s\n", argv[1]);
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
