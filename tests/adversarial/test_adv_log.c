/*
 * test_adv_log.c: the adversarial suite, attacks on the log itself (issue
 * 6, attacks 6, 7 and 11): a rolled-back log, proofs that do not verify or
 * belong to another entry or size, and rewritten old entries. A real ckvd
 * on 127.0.0.1, real clients, the lying front of liar.c, and a ckvd
 * restored from an old copy of its own data.
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
#include <jansson.h>

#include "adv.h"

static uint64_t view_size(user *u)
{
    ckv_view v;
    OK(u->c, ckv_client_view(u->c, &v));
    return v.tree_size;
}

/* ---- attack 6: rollback ------------------------------------------------------
 * Before: alice, bob and dave registered, dave's view at size N (monitor);
 * a copy of ckvd's data is taken; carol and erin register; dave's view
 * moves to N+2.
 * Lie A (the front): /checkpoint and alice's directory answer as they were
 * at size N (validly signed, the log key's own old checkpoint).
 * Lie B (the server): ckvd restored from the copy (kill -9, old data back):
 * its log really is at size N again.
 * Expected: CKV_ERR_TLOG_ROLLBACK, "rolled back" (core/kt.c
 * accept_checkpoint: a checkpoint smaller than the accepted view).
 * Then the restored ckvd goes on logging (two registrations): its log
 * reaches size N+2 again with other entries. Expected CKV_ERR_KT_INCONSISTENT,
 * "fork" (two signed checkpoints of one size with different roots, or a
 * consistency proof that fails).
 * Left behind: dave's view stays at N+2 with its root (never moved back or
 * sideways), a second attempt fails the same way, no contact is created
 * from a rolled-back answer. */
static void test_attack6_rollback(void **state)
{
    srv s;
    liar px;
    adv_canned lie = {0};
    user a, b, d, c, e, f, g;
    ckv_monitor_report rep;
    ckv_key_info ki;
    char snap[256];
    (void)state;

    srv_start(&s);
    user_new(&a, &s, "alice", NULL);
    user_new(&b, &s, "bob", NULL);
    adv_register(&a);
    adv_register(&b);
    assert_int_equal(liar_start(&px, s.url), 0);
    adv_user_via(&d, &s, px.url, "dave");
    adv_register(&d);
    OK(d.c, ckv_client_monitor(d.c, &rep));
    uint64_t n0 = view_size(&d);
    char *old_cp = adv_get(s.url, "/checkpoint");
    char *old_alice = adv_get(s.url, "/v1/directory/alice");
    adv_snapshot(&s, snap);

    user_new(&c, &s, "carol", NULL);
    user_new(&e, &s, "erin", NULL);
    adv_register(&c);
    adv_register(&e);
    OK(d.c, ckv_client_monitor(d.c, &rep));
    uint64_t n2 = view_size(&d);
    assert_int_equal(n2, n0 + 2);

    /* A: the front serves the old checkpoint */
    adv_lie(&px, &lie, "GET", "/checkpoint", 200, old_cp);
    for (int round = 0; round < 2; round++) {
        FAILS(d.c, ckv_client_monitor(d.c, &rep), CKV_ERR_TLOG_ROLLBACK, "rolled back");
        assert_int_equal(view_size(&d), n2);
    }
    adv_lie(&px, &lie, "GET", "/v1/directory/alice", 200, old_alice);
    for (int round = 0; round < 2; round++) {
        FAILS(d.c, ckv_client_lookup(d.c, "alice", &ki), CKV_ERR_TLOG_ROLLBACK, "rolled back");
        FAILS(d.c, ckv_client_add_contact(d.c, "alice", NULL), CKV_ERR_TLOG_ROLLBACK,
              "rolled back");
        assert_int_equal(adv_state(&d, "alice"), -1);
        assert_int_equal(view_size(&d), n2);
    }
    liar_hooks(&px, NULL, NULL, NULL);
    OK(d.c, ckv_client_monitor(d.c, &rep));

    /* B: ckvd restored from its old copy */
    adv_restore(&s, snap);
    for (int round = 0; round < 2; round++) {
        FAILS(d.c, ckv_client_monitor(d.c, &rep), CKV_ERR_TLOG_ROLLBACK, "rolled back");
        FAILS(d.c, ckv_client_lookup(d.c, "bob", &ki), CKV_ERR_TLOG_ROLLBACK, "rolled back");
        assert_int_equal(adv_state(&d, "bob"), -1);
        assert_int_equal(view_size(&d), n2);
    }
    /* the restored ckvd logs new entries: a fork of dave's view */
    user_new(&f, &s, "frank", NULL);
    user_new(&g, &s, "george", NULL);
    adv_register(&f);
    adv_register(&g);
    for (int round = 0; round < 2; round++) {
        FAILS(d.c, ckv_client_monitor(d.c, &rep), CKV_ERR_KT_INCONSISTENT, "fork");
        FAILS(d.c, ckv_client_lookup(d.c, "frank", &ki), CKV_ERR_KT_INCONSISTENT, "fork");
        assert_int_equal(view_size(&d), n2);
        assert_int_equal(adv_state(&d, "frank"), -1);
    }

    free(old_cp);
    free(old_alice);
    adv_canned_clear(&lie);
    adv_rm(snap);
    user_free(&d);
    liar_stop(&px);
    user_free(&a);
    user_free(&b);
    user_free(&c);
    user_free(&e);
    user_free(&f);
    user_free(&g);
    srv_stop(&s);
}

/* ---- attack 7: proofs that do not verify ----------------------------------------
 * Before: alice and bob registered; dave (through the front) registered,
 * his view at size N; no contacts.
 * Lies on the inclusion proof of bob's lookup: (a) one bit flipped;
 * (b) alice's proof and leaf index with bob's entry (a proof of another
 * entry); (c) the right proof announced for another tree size.
 * Expected CKV_ERR_KT_BAD_PROOF ("does not verify" / "tree size"): core/kt.c
 * verify_entry (RFC 9162 §2.1.3.2 against the signed checkpoint).
 * Lies on the consistency proof when carol's lookup moves dave's view from
 * N to N+1: (d) one bit flipped; (e) the proof of another pair of sizes
 * under the asked-for sizes; (f) an empty proof. Expected
 * CKV_ERR_KT_INCONSISTENT "consistency proof fails" (kt.c check_consistency,
 * RFC 9162 §2.1.4.2); (g) the answer names other sizes: CKV_ERR_KT_BAD_PROOF
 * "malformed".
 * Left behind: no contact, no entry stored (an honest lookup later works
 * and gives the right key), the view unmoved, each lie fails twice. */
struct consist_lie {
    const char *srv_url;
    int mode; /* 'd' flip, 'e' other sizes, 'f' empty, 'g' renamed sizes */
};

static void consistency_after(void *ctx, const liar_req *req, liar_resp *resp)
{
    struct consist_lie *cl = ctx;
    unsigned long long old = 0, nw = 0;
    char path[128];
    if (!liar_path_is(req, "GET", "/v1/log/consistency") || resp->status != 200 ||
        sscanf(req->path, "/v1/log/consistency?old=%llu&new=%llu", &old, &nw) != 2)
        return;
    json_t *o = json_loads(resp->body, 0, NULL);
    if (o == NULL)
        return;
    if (cl->mode == 'd') {
        char *t = json_dumps(o, JSON_COMPACT);
        t = adv_json_flip_hash(t, "proof", 0);
        liar_resp_set(resp, 0, NULL, t, strlen(t));
        free(t);
    } else if (cl->mode == 'e' && old > 1) {
        snprintf(path, sizeof path, "/v1/log/consistency?old=%llu&new=%llu", old - 1, nw);
        char *other = liar_http_get(cl->srv_url, path, NULL);
        json_t *x = other ? json_loads(other, 0, NULL) : NULL;
        if (x != NULL) {
            json_object_set(o, "proof", json_object_get(x, "proof"));
            char *t = json_dumps(o, JSON_COMPACT);
            liar_resp_set(resp, 0, NULL, t, strlen(t));
            free(t);
        }
        json_decref(x);
        free(other);
    } else if (cl->mode == 'f') {
        json_object_set_new(o, "proof", json_array());
        char *t = json_dumps(o, JSON_COMPACT);
        liar_resp_set(resp, 0, NULL, t, strlen(t));
        free(t);
    } else if (cl->mode == 'g') {
        json_object_set_new(o, "old_size", json_integer((json_int_t)old - 1));
        char *t = json_dumps(o, JSON_COMPACT);
        liar_resp_set(resp, 0, NULL, t, strlen(t));
        free(t);
    }
    json_decref(o);
}

static void test_attack7_bad_proofs(void **state)
{
    srv s;
    liar px;
    adv_canned lie = {0};
    user a, b, c, d;
    ckv_key_info ki;
    uint8_t bob_key[33];
    (void)state;

    srv_start(&s);
    user_new(&a, &s, "alice", NULL);
    user_new(&b, &s, "bob", NULL);
    adv_register(&a);
    adv_register(&b);
    ckv_profile_identity_key(b.p, bob_key);
    assert_int_equal(liar_start(&px, s.url), 0);
    adv_user_via(&d, &s, px.url, "dave");
    adv_register(&d);
    char *real_bob = adv_get(s.url, "/v1/directory/bob");
    char *real_alice = adv_get(s.url, "/v1/directory/alice");
    OK(d.c, ckv_client_lookup(d.c, "alice", &ki));
    uint64_t n = view_size(&d);

    /* (a) a flipped hash */
    char *body = adv_json_flip_hash(strdup(real_bob), "proof", 0);
    adv_lie(&px, &lie, "GET", "/v1/directory/bob", 200, body);
    free(body);
    for (int round = 0; round < 2; round++) {
        FAILS(d.c, ckv_client_lookup(d.c, "bob", &ki), CKV_ERR_KT_BAD_PROOF, "does not verify");
        FAILS(d.c, ckv_client_add_contact(d.c, "bob", NULL), CKV_ERR_KT_BAD_PROOF,
              "does not verify");
        assert_int_equal(adv_state(&d, "bob"), -1);
    }
    /* (b) alice's proof and index under bob's entry */
    json_t *jb = json_loads(real_bob, 0, NULL), *ja = json_loads(real_alice, 0, NULL);
    json_object_set(jb, "proof", json_object_get(ja, "proof"));
    json_object_set(jb, "leaf_index", json_object_get(ja, "leaf_index"));
    body = json_dumps(jb, JSON_COMPACT);
    json_decref(jb);
    json_decref(ja);
    adv_lie(&px, &lie, "GET", "/v1/directory/bob", 200, body);
    free(body);
    for (int round = 0; round < 2; round++) {
        FAILS(d.c, ckv_client_lookup(d.c, "bob", &ki), CKV_ERR_KT_BAD_PROOF, "does not verify");
        assert_int_equal(adv_state(&d, "bob"), -1);
    }
    /* (c) announced for another size */
    json_t *jt = json_loads(real_bob, 0, NULL);
    body = adv_json_set_int(strdup(real_bob), "tree_size",
                            json_integer_value(json_object_get(jt, "tree_size")) - 1);
    json_decref(jt);
    adv_lie(&px, &lie, "GET", "/v1/directory/bob", 200, body);
    free(body);
    for (int round = 0; round < 2; round++) {
        FAILS(d.c, ckv_client_lookup(d.c, "bob", &ki), CKV_ERR_KT_BAD_PROOF, "tree size");
        assert_int_equal(adv_state(&d, "bob"), -1);
    }
    assert_int_equal(view_size(&d), n);

    /* consistency proofs: carol's entry moves the log to N+1 */
    user_new(&c, &s, "carol", NULL);
    adv_register(&c);
    struct consist_lie cl = {s.url, 0};
    const int modes[] = {'d', 'e', 'f'};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        cl.mode = modes[m];
        liar_hooks(&px, NULL, consistency_after, &cl);
        for (int round = 0; round < 2; round++) {
            FAILS(d.c, ckv_client_lookup(d.c, "carol", &ki), CKV_ERR_KT_INCONSISTENT,
                  "consistency proof fails");
            assert_int_equal(view_size(&d), n);
            assert_int_equal(adv_state(&d, "carol"), -1);
        }
        assert_true(liar_lies(&px) >= 2);
    }
    cl.mode = 'g';
    liar_hooks(&px, NULL, consistency_after, &cl);
    for (int round = 0; round < 2; round++) {
        FAILS(d.c, ckv_client_lookup(d.c, "carol", &ki), CKV_ERR_KT_BAD_PROOF, "malformed");
        assert_int_equal(view_size(&d), n);
    }

    /* honest: everything works and nothing was remembered from the lies */
    liar_hooks(&px, NULL, NULL, NULL);
    OK(d.c, ckv_client_add_contact(d.c, "bob", NULL));
    OK(d.c, ckv_client_lookup(d.c, "bob", &ki));
    assert_memory_equal(ki.key, bob_key, 33);
    OK(d.c, ckv_client_lookup(d.c, "carol", &ki));
    assert_true(view_size(&d) > n);

    free(real_bob);
    free(real_alice);
    adv_canned_clear(&lie);
    user_free(&d);
    liar_stop(&px);
    user_free(&a);
    user_free(&b);
    user_free(&c);
    srv_stop(&s);
}

/* ---- attack 11: a rewritten old entry ---------------------------------------------
 * Before: alice and bob registered, bob rotated (versions 1 and 2); dave
 * (through the front) registered, never monitored, bob not known to him.
 * Lie A: the entry bundle /tile/entries/000[.p/W] with bob's first entry
 * rewritten (one digit of its time). Expected from dave's monitor
 * CKV_ERR_KT_BAD_PROOF, "does not match" (core/kt.c ckv_client_monitor: the
 * bundle's own leaf hashes must rebuild the checkpoint's root).
 * Lie B: bob's history (read because dave knows no earlier version of bob)
 * with the same rewritten first entry. Expected CKV_ERR_KT_BAD_PROOF,
 * "does not verify" (kt.c fetch_history: each entry proven).
 * ckv-audit reading through the same front exits 1 (0 when honest), and
 * also for a hash tile with one bit flipped (clients of a log this small
 * never need hash tiles: their bundle's own hashes are the level-0 tile).
 * Left behind: the monitor's position does not move (a second call fails
 * the same way; honest, it reads every entry from 0), bob is not stored. */
static char *bump_time(const char *text, size_t len, size_t *out_len)
{
    char *t = malloc(len + 1);
    assert_non_null(t);
    memcpy(t, text, len);
    t[len] = 0;
    char *p = memmem(t, len, "\ntime ", 6);
    assert_non_null(p);
    p += 6;
    while (p[1] >= '0' && p[1] <= '9')
        p++;
    *p = *p == '9' ? '8' : (char)(*p + 1);
    *out_len = len;
    return t;
}

struct rewrite_ctx {
    const char *who; /* the entry's name line, e.g. "\nname bob\n" */
};

static void bundle_after(void *ctx, const liar_req *req, liar_resp *resp)
{
    struct rewrite_ctx *rc = ctx;
    if (!liar_path_is(req, "GET", "/tile/entries/") || resp->status != 200)
        return;
    /* entries: 2-byte big-endian length + text (C2SP tlog-tiles) */
    size_t off = 0;
    while (off + 2 <= resp->len) {
        size_t l = ((size_t)(uint8_t)resp->body[off] << 8) | (uint8_t)resp->body[off + 1];
        if (off + 2 + l > resp->len)
            return;
        if (memmem(resp->body + off + 2, l, rc->who, strlen(rc->who)) != NULL) {
            size_t nl = 0;
            char *t = bump_time(resp->body + off + 2, l, &nl);
            char *nb = malloc(resp->len);
            memcpy(nb, resp->body, resp->len);
            memcpy(nb + off + 2, t, l);
            liar_resp_set(resp, 0, NULL, nb, resp->len);
            free(nb);
            free(t);
            return;
        }
        off += 2 + l;
    }
}

/* One bit of a hash tile (/tile/0/...) flipped. */
static void hash_tile_after(void *ctx, const liar_req *req, liar_resp *resp)
{
    (void)ctx;
    if (!liar_path_is(req, "GET", "/tile/0/") || resp->status != 200 || resp->len < 32)
        return;
    char *nb = malloc(resp->len);
    memcpy(nb, resp->body, resp->len);
    nb[resp->len - 1] ^= 0x01;
    liar_resp_set(resp, 0, NULL, nb, resp->len);
    free(nb);
}

static void history_after(void *ctx, const liar_req *req, liar_resp *resp)
{
    (void)ctx;
    if (!liar_path_is(req, "GET", "/v1/directory/bob/history") || resp->status != 200)
        return;
    json_t *o = json_loads(resp->body, 0, NULL);
    json_t *first = json_array_get(json_object_get(o, "entries"), 0);
    const char *text = json_string_value(json_object_get(first, "entry"));
    size_t nl = 0;
    char *t = bump_time(text, strlen(text), &nl);
    json_object_set_new(first, "entry", json_string(t));
    char *body = json_dumps(o, JSON_COMPACT);
    liar_resp_set(resp, 0, NULL, body, strlen(body));
    free(body);
    free(t);
    json_decref(o);
}

static void test_attack11_rewritten_entry(void **state)
{
    srv s;
    liar px;
    user a, b, d;
    ckv_monitor_report rep;
    ckv_key_info ki;
    struct rewrite_ctx rc = {"\nname bob\n"};
    (void)state;

    srv_start(&s);
    user_new(&a, &s, "alice", NULL);
    user_new(&b, &s, "bob", NULL);
    adv_register(&a);
    adv_register(&b);
    OK(b.c, ckv_client_rotate(b.c));
    assert_int_equal(liar_start(&px, s.url), 0);
    adv_user_via(&d, &s, px.url, "dave");
    adv_register(&d);
    /* dave's registration lookup brought his monitor to the log's size
     * (core/kt.c check_latest): alice's rotation gives it a bundle to read */
    OK(a.c, ckv_client_rotate(a.c));

    /* A: the entry bundle */
    liar_hooks(&px, NULL, bundle_after, &rc);
    for (int round = 0; round < 2; round++) {
        FAILS(d.c, ckv_client_monitor(d.c, &rep), CKV_ERR_KT_BAD_PROOF, "does not match");
        assert_true(liar_lies(&px) >= 1);
    }
#ifdef CKV_AUDIT_PATH
    /* an outside auditor reading through the same front: exit 1, evidence */
    {
        char state_dir[] = "/tmp/ckv-adv-audit-XXXXXX";
        assert_non_null(mkdtemp(state_dir));
        assert_int_equal(adv_audit(state_dir, s.vkey, px.url, NULL, 0), 1);
        adv_rm(state_dir);
        char state2[] = "/tmp/ckv-adv-audit-XXXXXX";
        assert_non_null(mkdtemp(state2));
        liar_hooks(&px, NULL, NULL, NULL);
        assert_int_equal(adv_audit(state2, s.vkey, px.url, NULL, 0), 0);
        adv_rm(state2);
        /* a rewritten hash tile */
        char state3[] = "/tmp/ckv-adv-audit-XXXXXX";
        assert_non_null(mkdtemp(state3));
        liar_hooks(&px, NULL, hash_tile_after, NULL);
        assert_int_equal(adv_audit(state3, s.vkey, px.url, NULL, 0), 1);
        assert_true(liar_lies(&px) >= 1);
        adv_rm(state3);
        liar_hooks(&px, NULL, bundle_after, &rc);
    }
#endif
    /* B: the history */
    liar_hooks(&px, NULL, history_after, NULL);
    for (int round = 0; round < 2; round++) {
        FAILS(d.c, ckv_client_lookup(d.c, "bob", &ki), CKV_ERR_KT_BAD_PROOF, "does not verify");
        assert_true(liar_lies(&px) >= 1);
        assert_int_equal(adv_state(&d, "bob"), -1);
    }
    /* honest: the lookups of B (honest bundles there) brought the monitor
     * to the log's 5 entries; bob's history checks */
    liar_hooks(&px, NULL, NULL, NULL);
    OK(d.c, ckv_client_monitor(d.c, &rep));
    assert_int_equal(rep.entries_read, 0);
    assert_int_equal(rep.tree_size, 5);
    OK(d.c, ckv_client_lookup(d.c, "bob", &ki));
    assert_int_equal(ki.version, 2);

    user_free(&d);
    liar_stop(&px);
    user_free(&a);
    user_free(&b);
    srv_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attack6_rollback),
        cmocka_unit_test(test_attack7_bad_proofs),
        cmocka_unit_test(test_attack11_rewritten_entry),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
