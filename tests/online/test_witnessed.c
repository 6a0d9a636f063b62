/*
 * test_witnessed.c: clients pinned to real witnesses. A real ckvd pushes
 * its checkpoints to two real ckv-witness processes (--witness VKEY,URL,
 * --witness-quorum 2, --witness-refresh 1) and serves the newest checkpoint
 * both cosigned; clients pin both witness keys (quorum 2).
 *   - an honest chat works and gossip agrees;
 *   - a client that also requires a third witness nobody runs refuses the
 *     checkpoints (no quorum);
 *   - when one witness stops, ckvd can only serve a checkpoint whose
 *     cosignature from it grows old: once older than the client's max view
 *     age, sending refuses (the freeze rule) while receiving still works.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ckv/client.h"
#include "ckv/tlog_note.h"
#include "harness.h"

static void send_ok(user *u, const char *to, const char *text)
{
    ckv_status st = ckv_client_send(u->c, to, (const uint8_t *)text, strlen(text), NULL);
    if (st != CKV_OK)
        fail_msg("send: %s: %s", ckv_status_name(st), ckv_client_last_error(u->c));
}

static void register_ok(user *u)
{
    ckv_status st = ckv_client_register(u->c);
    if (st != CKV_OK)
        fail_msg("register: %s: %s", ckv_status_name(st), ckv_client_last_error(u->c));
}

static void test_real_witnesses(void **state)
{
    (void)state;
    srv s;
    witness_proc w1, w2;
    user a, b, x;
    char arg1[700], arg2[700];
    const char *keys[3];
    char *unknown = NULL;
    uint8_t seed[32];
    ckv_client_options o = {0};
    ckv_event *ev = NULL;
    size_t n = 0;
    ckv_gossip_state g;
    ckv_view v;

    /* ckvd once without witnesses: it creates its log key */
    srv_start(&s);
    srv_kill(&s, SIGTERM);
    witness_start(&w1, "w1.test", s.vkey);
    witness_start(&w2, "w2.test", s.vkey);
    snprintf(arg1, sizeof arg1, "%s,%s", w1.vkey, w1.url);
    snprintf(arg2, sizeof arg2, "%s,%s", w2.vkey, w2.url);
    const char *const args[] = {"--witness",        arg1, "--witness",         arg2,
                                "--witness-quorum", "2",  "--witness-refresh", "1",
                                NULL};
    harness_ckvd_args = args;
    srv_restart(&s);

    keys[0] = w1.vkey;
    keys[1] = w2.vkey;
    memset(seed, 7, sizeof seed);
    assert_int_equal(ckv_tlog_cosigner_vkey("nobody.test", seed, &unknown), CKV_OK);
    keys[2] = unknown;
    o.timeout_ms = 5000;
    o.max_view_age = 4;
    user_new_opts(&a, s.url, s.vkey, "alice", &o, keys, 2, 2);
    user_new_opts(&b, s.url, s.vkey, "bob", &o, keys, 2, 2);
    user_new_opts(&x, s.url, s.vkey, "xavier", &o, keys, 3, 3);

    register_ok(&a);
    register_ok(&b);
    assert_int_equal(ckv_client_view(a.c, &v), CKV_OK);
    assert_true(v.tree_size >= 1);
    assert_true(v.witnessed_at >= time(NULL) - 30);
    /* three required, two exist: refused */
    assert_int_equal(ckv_client_register(x.c), CKV_ERR_KT_NO_QUORUM);

    send_ok(&a, "bob", "witnessed hello");
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_int_equal(count_kind(ev, n, CKV_EV_SPLIT_VIEW), 0);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(ckv_profile_gossip_state(b.p, "alice", &g), CKV_OK);
    assert_int_equal(g.result, CKV_GOSSIP_AGREE);
    send_ok(&b, "alice", "queued for alice");

    /* one witness goes away: its last cosignature ages */
    witness_stop(&w2);
    sleep(7);
    ckv_status st = ckv_client_send(a.c, "bob", (const uint8_t *)"late", 4, NULL);
    if (st != CKV_ERR_KT_VIEW_FROZEN)
        fail_msg("send on a stale view: %s: %s", ckv_status_name(st),
                 ckv_client_last_error(a.c));
    assert_non_null(strstr(ckv_client_last_error(a.c), "freezing"));
    /* receiving still works */
    assert_int_equal(recv_until(&a, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    for (size_t i = 0; i < n; i++)
        if (ev[i].kind == CKV_EV_MESSAGE)
            assert_string_equal(ev[i].text, "queued for alice");
    ckv_client_events_free(ev, n);

    user_free(&a);
    user_free(&b);
    user_free(&x);
    free(unknown);
    srv_stop(&s);
    harness_ckvd_args = NULL;
    witness_stop(&w1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_witnesses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
