/*
 * test_adv_garbage.c: the adversarial suite, lies of form rather than of
 * content: answers that are too big, not JSON, truncated, of the wrong
 * type, or carry another log's entry or a sender name that is not
 * canonical. Each must give a clear error (never a crash, never a state
 * change), and the client must work again once the server answers
 * honestly. Beyond the twelve attacks, for the ones "written
 * outside the project".
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "adv.h"

/* An answer of n bytes of 'x' (or of '{' for JSON paths). */
struct big {
    const char *path;
    size_t n;
    char fill;
};

static int big_before(void *ctx, const liar_req *req, const char **target, liar_resp *resp)
{
    struct big *b = ctx;
    (void)target;
    if (strcmp(req->path, b->path) != 0)
        return 0;
    char *body = malloc(b->n);
    assert_non_null(body);
    memset(body, b->fill, b->n);
    liar_resp_set(resp, 200, NULL, body, b->n);
    free(body);
    return 1;
}

/* Before: alice and bob registered; dave (through the front) registered,
 * his view taken. Lies on bob's lookup, on /checkpoint and on the message
 * queue: a 6 MiB answer, a 100 KiB checkpoint, bytes that are not JSON, a
 * truncated answer, JSON of the wrong shape (entry a number, proof a
 * string), an entry of another log (another origin), a directory answer
 * with an HTTP error status and terminal escapes in its text, a queue
 * entry from "Alice" (not a canonical name) and one that is not an
 * envelope. Expected: a distinct error for each (checked by status), no
 * contact, no view change, nothing shown; honest again, everything works. */
static void test_garbage_answers(void **state)
{
    srv s, s2;
    liar px;
    adv_canned lie = {0};
    user a, b, d, o;
    ckv_key_info ki;
    ckv_monitor_report rep;
    ckv_view v0, v1;
    (void)state;

    srv_start(&s);
    user_new(&a, &s, "alice", NULL);
    user_new(&b, &s, "bob", NULL);
    adv_register(&a);
    adv_register(&b);
    assert_int_equal(liar_start(&px, s.url), 0);
    adv_user_via(&d, &s, px.url, "dave");
    adv_register(&d);
    OK(d.c, ckv_client_view(d.c, &v0));
    char *real = adv_get(s.url, "/v1/directory/bob");

    /* too big */
    struct big bg = {"/v1/directory/bob", 6u << 20, '{'};
    liar_hooks(&px, big_before, NULL, &bg);
    for (int round = 0; round < 2; round++) {
        ckv_status st = ckv_client_lookup(d.c, "bob", &ki);
        assert_int_not_equal(st, CKV_OK);
        assert_true(strlen(ckv_client_last_error(d.c)) > 0);
        assert_int_equal(adv_state(&d, "bob"), -1);
    }
    struct big bc = {"/checkpoint", 100u << 10, 'x'};
    liar_hooks(&px, big_before, NULL, &bc);
    assert_int_not_equal(ckv_client_monitor(d.c, &rep), CKV_OK);
    assert_true(strlen(ckv_client_last_error(d.c)) > 0);

    /* not JSON, truncated, wrong types */
    const char *bodies[] = {"this is not json", "{\"entry\":\"ckv-directory-entry/v1\\nori",
                            "{\"entry\":5,\"leaf_index\":\"x\",\"proof\":\"y\",\"checkpoint\":7}",
                            "[]", "null"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        adv_lie(&px, &lie, "GET", "/v1/directory/bob", 200, bodies[i]);
        ckv_status st = ckv_client_lookup(d.c, "bob", &ki);
        if (st == CKV_OK)
            fail_msg("lookup accepted '%s'", bodies[i]);
        assert_true(strlen(ckv_client_last_error(d.c)) > 0);
        assert_int_equal(adv_state(&d, "bob"), -1);
    }
    /* half of a real answer */
    char *half = strndup(real, strlen(real) / 2);
    adv_lie(&px, &lie, "GET", "/v1/directory/bob", 200, half);
    assert_int_not_equal(ckv_client_lookup(d.c, "bob", &ki), CKV_OK);
    free(half);

    /* an entry of another log (a ckvd with another origin) */
    const char *const origin_args[] = {"--origin", "other.example/log", NULL};
    harness_ckvd_args = origin_args;
    srv_start(&s2);
    harness_ckvd_args = NULL;
    user_new(&o, &s2, "bob", NULL);
    adv_register(&o);
    char *other = adv_get(s2.url, "/v1/directory/bob");
    char *oentry = adv_json_get_str(other, "entry");
    char *body = adv_json_set_str(strdup(real), "entry", oentry);
    adv_lie(&px, &lie, "GET", "/v1/directory/bob", 200, body);
    FAILS(d.c, ckv_client_lookup(d.c, "bob", &ki), CKV_ERR_DIR_ORIGIN, "other.example/log");
    free(body);
    /* its whole answer: a checkpoint of another origin */
    adv_lie(&px, &lie, "GET", "/v1/directory/bob", 200, other);
    FAILS(d.c, ckv_client_lookup(d.c, "bob", &ki), CKV_ERR_KT_BAD_CHECKPOINT, "pinned");

    /* an error status with terminal escapes */
    adv_lie(&px, &lie, "GET", "/v1/directory/bob", 500,
            "{\"error\":\"\\u001b]0;owned\\u0007\\u001b[2Jboom\",\"code\":\"x\"}");
    FAILS(d.c, ckv_client_lookup(d.c, "bob", &ki), CKV_ERR_HTTP, "boom");
    assert_null(strchr(ckv_client_last_error(d.c), '\x1b'));
    assert_null(strchr(ckv_client_last_error(d.c), '\a'));
    OK(d.c, ckv_client_view(d.c, &v1));
    assert_int_equal(v1.tree_size, v0.tree_size);

    /* the queue: a non-canonical sender, a body that is not an envelope */
    liar_hooks(&px, NULL, NULL, NULL);
    assert_int_equal(srv_sql(&s, "INSERT INTO messages(recipient, sender, body, ts) SELECT id, "
                                 "'Alice', CAST('{\"body\":\"AAAA\",\"type\":3}' AS BLOB), 1 FROM "
                                 "accounts WHERE name='dave'"),
                     0);
    assert_int_equal(srv_sql(&s, "INSERT INTO messages(recipient, sender, body, ts) SELECT id, "
                                 "'alice', CAST('{\"body\":\"AAAA\",\"type\":2}' AS BLOB), 1 FROM "
                                 "accounts WHERE name='dave'"),
                     0);
    ckv_event *ev = NULL;
    size_t n = 0;
    adv_recv(&d, 1, &ev, &n);
    assert_int_equal(count_kind(ev, n, CKV_EV_MESSAGE), 0);
    assert_int_equal(count_kind(ev, n, CKV_EV_REJECTED), 2);
    adv_events_reset(&ev, &n);
    assert_int_equal(srv_queued(&s, "dave"), 0);
    assert_int_equal(adv_state(&d, "alice"), -1);

    /* a batch larger than ckvd ever sends (100): 300 messages, each
     * refused (a sender that is not a name) and so owed an acknowledgement,
     * more than the client keeps owed (256): they are acknowledged at once,
     * nothing is written past the end of what is owed (ASan), and the
     * client goes on; more than 1,000 in one batch are refused whole */
    for (int round = 0; round < 2; round++) {
        size_t count = round == 0 ? 300 : 1001, cap = count * 96 + 64, k = 0;
        char *many = malloc(cap);
        assert_non_null(many);
        k += (size_t)snprintf(many + k, cap - k, "{\"messages\":[");
        for (size_t i = 0; i < count; i++)
            k += (size_t)snprintf(many + k, cap - k,
                                  "%s{\"id\":%zu,\"from\":\"!bad\",\"envelope\":{\"type\":2,"
                                  "\"body\":\"AAAA\"},\"time\":1}",
                                  i ? "," : "", 1000000 + i);
        snprintf(many + k, cap - k, "]}");
        adv_lie(&px, &lie, "GET", "/v1/messages", 200, many);
        lie.prefix = 1; /* /v1/messages?wait_ms=... */
        free(many);
        ev = NULL;
        n = 0;
        if (round == 0) {
            OK(d.c, ckv_client_receive(d.c, 0, &ev, &n));
            assert_int_equal(count_kind(ev, n, CKV_EV_REJECTED), 300);
            assert_int_equal(count_kind(ev, n, CKV_EV_MESSAGE), 0);
            ckv_client_events_free(ev, n);
        } else {
            FAILS(d.c, ckv_client_receive(d.c, 0, &ev, &n), CKV_ERR_JSON, "misbehaving");
            assert_int_equal(n, 0);
        }
    }
    liar_hooks(&px, NULL, NULL, NULL);
    assert_int_equal(adv_history_len(&d, "alice"), 0);

    /* honest again */
    OK(d.c, ckv_client_add_contact(d.c, "bob", NULL));
    OK(d.c, ckv_client_monitor(d.c, &rep));
    OK(d.c, ckv_client_send(d.c, "bob", (const uint8_t *)"fine", 4, NULL));
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    adv_events_reset(&ev, &n);

    free(real);
    free(other);
    free(oentry);
    adv_canned_clear(&lie);
    user_free(&d);
    liar_stop(&px);
    user_free(&a);
    user_free(&b);
    user_free(&o);
    srv_stop(&s);
    srv_stop(&s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_garbage_answers),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
