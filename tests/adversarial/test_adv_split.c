/*
 * test_adv_split.c: the adversarial suite, attacks on the view (issue 6,
 * attacks 4, 5 and 8): split views, freezes and witness quorums. The split
 * view is a real fork: ckvd's data is copied and a second ckvd runs on the
 * copy, with the same log key and the same past, and the lying front sends
 * one client's log and directory requests to it while its messages still
 * go to the first ckvd.
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

/* Route the log's and the directory's requests to another ckvd. */
struct split {
    const char *fork_url;
    int on;
};

static int split_before(void *ctx, const liar_req *req, const char **target, liar_resp *resp)
{
    struct split *sp = ctx;
    (void)resp;
    if (sp->on && (liar_path_is(req, "GET", "/checkpoint") || liar_path_is(req, "GET", "/tile/") ||
                   liar_path_is(req, "GET", "/v1/directory/") ||
                   liar_path_is(req, "GET", "/v1/log/")))
        *target = sp->fork_url;
    return 0;
}

static uint64_t view_size(user *u)
{
    ckv_view v;
    OK(u->c, ckv_client_view(u->c, &v));
    return v.tree_size;
}

/* ---- attack 4: split view ---------------------------------------------------
 * Before: alice (through the front) and bob registered, alice's view taken;
 * then ckvd forks: on the fork, mallory logs a `reset` of "bob" with her
 * key; on the real log, carol registers (both logs now have the same size,
 * different roots). The front shows alice the fork; bob sees the real log.
 * What each sees alone: alice's lookup of bob verifies (mallory's key is
 * in the fork); bob's monitor sees nothing under his name (the real log
 * has no foreign entry). Neither client can tell alone.
 * Detection when alice's requests reach the real log (the server's two
 * views meet): CKV_ERR_KT_INCONSISTENT, "fork" (core/kt.c
 * accept_checkpoint: two signed checkpoints of one size, two roots).
 * Left behind: alice's view stays the fork's checkpoint (it is the
 * evidence), every later request to either side of the split fails the
 * same way, mallory's key is not vouched for by the real log. */
static void test_attack4_split_view(void **state)
{
    srv s, f;
    liar px;
    user a, b, c, m;
    ckv_key_info ki;
    ckv_monitor_report rep;
    uint8_t mal_key[33];
    (void)state;

    srv_start(&s);
    user_new(&b, &s, "bob", NULL);
    adv_register(&b);
    assert_int_equal(liar_start(&px, s.url), 0);
    adv_user_via(&a, &s, px.url, "alice");
    adv_register(&a);
    OK(b.c, ckv_client_monitor(b.c, &rep));

    adv_fork(&s, &f);
    struct split sp = {f.url, 1};
    liar_hooks(&px, split_before, NULL, &sp);
    user_new(&m, &f, "bob", NULL);
    OK(m.c, ckv_client_reset(m.c));
    ckv_profile_identity_key(m.p, mal_key);
    user_new(&c, &s, "carol", NULL);
    adv_register(&c);

    /* each side alone sees a valid log */
    OK(a.c, ckv_client_lookup(a.c, "bob", &ki));
    assert_memory_equal(ki.key, mal_key, 33);
    uint64_t forked = view_size(&a);
    OK(b.c, ckv_client_monitor(b.c, &rep));
    assert_int_equal(rep.foreign_entries, 0);
    assert_int_equal(view_size(&b), forked);

    /* the views meet */
    sp.on = 0;
    for (int round = 0; round < 2; round++) {
        FAILS(a.c, ckv_client_monitor(a.c, &rep), CKV_ERR_KT_INCONSISTENT, "fork");
        FAILS(a.c, ckv_client_lookup(a.c, "carol", &ki), CKV_ERR_KT_INCONSISTENT, "fork");
        assert_int_equal(view_size(&a), forked);
        assert_int_equal(adv_state(&a, "carol"), -1);
    }

    user_free(&a);
    liar_stop(&px);
    user_free(&b);
    user_free(&c);
    user_free(&m);
    srv_stop(&f);
    srv_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attack4_split_view),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
