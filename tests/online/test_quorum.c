/*
 * test_quorum.c: the client side of witnesses and gossip (issue 6) against a
 * real ckvd. Until ckvd pushes to real witnesses, a test double stands in
 * front of it (proxy.c with a rewrite): it adds tlog-cosignature lines,
 * made with libckvlog's ckv_tlog_note_cosign by witness keys this test
 * owns, to every checkpoint it forwards (GET /checkpoint and the
 * "checkpoint" field of directory answers), with the timestamps, the number
 * of witnesses and the forgeries each test asks for.
 *
 * Each case fails if its check is missing: no quorum -> refused; a forged
 * cosignature -> refused; old cosignatures -> send refused (freeze) while
 * receiving works, fresh -> sends; gossip agrees in an honest chat; two
 * clients shown different (validly signed) logs both raise the alarm.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "ckv/client.h"
#include "ckv/evidence.h"
#include "ckv/tlog_note.h"
#include "harness.h"
#include "proxy.h"

#define NW 3

/* ---- the cosigning double --------------------------------------------------- */

struct cosigner {
    pthread_mutex_t lock;
    char name[NW][32];
    uint8_t seed[NW][32];
    char *vkey[NW];
    int n_sign;        /* how many witnesses cosign (0..NW) */
    int forge;         /* 1: witness 0's line is corrupted after signing */
    int64_t offset;    /* added to now for the timestamps */
};

static void cosigner_init(struct cosigner *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->lock, NULL);
    for (int i = 0; i < NW; i++) {
        snprintf(w->name[i], sizeof w->name[i], "witness%d.test", i);
        for (int j = 0; j < 32; j++)
            w->seed[i][j] = (uint8_t)(17 * i + j + 1);
        assert_int_equal(ckv_tlog_cosigner_vkey(w->name[i], w->seed[i], &w->vkey[i]), CKV_OK);
    }
    w->n_sign = NW;
}

static void cosigner_free(struct cosigner *w)
{
    for (int i = 0; i < NW; i++)
        free(w->vkey[i]);
    pthread_mutex_destroy(&w->lock);
}

static void cosigner_set(struct cosigner *w, int n_sign, int forge, int64_t offset)
{
    pthread_mutex_lock(&w->lock);
    w->n_sign = n_sign;
    w->forge = forge;
    w->offset = offset;
    pthread_mutex_unlock(&w->lock);
}

/* Cosign a note with the configured witnesses; malloc'd. */
static char *cosign(struct cosigner *w, const char *note, size_t len, size_t *out_len)
{
    char *cur = strndup(note, len), *next = NULL;
    size_t cl = len;
    pthread_mutex_lock(&w->lock);
    uint64_t ts = (uint64_t)((int64_t)time(NULL) + w->offset);
    for (int i = 0; i < w->n_sign && cur != NULL; i++) {
        if (ckv_tlog_note_cosign(cur, cl, w->name[i], w->seed[i], ts, &next, &cl) != CKV_OK) {
            free(cur);
            cur = NULL;
            break;
        }
        free(cur);
        cur = next;
        if (i == 0 && w->forge) {
            /* flip one base64 digit inside the signature of the line just added */
            char *line = strstr(cur, w->name[0]);
            char *b64 = line ? strchr(line, ' ') : NULL;
            if (b64 != NULL && strlen(b64) > 40)
                b64[30] = b64[30] == 'A' ? 'B' : 'A';
        }
    }
    pthread_mutex_unlock(&w->lock);
    *out_len = cur ? cl : 0;
    return cur;
}

static char *rewrite(void *ctx, const char *path, const char *body, size_t len, size_t *out_len)
{
    struct cosigner *w = ctx;
    if (strcmp(path, "/checkpoint") == 0)
        return cosign(w, body, len, out_len);
    if (strncmp(path, "/v1/directory/", 14) == 0) {
        json_t *o = json_loadb(body, len, 0, NULL);
        const char *cp = json_string_value(json_object_get(o, "checkpoint"));
        char *out = NULL, *signed_cp;
        size_t sl = 0;
        if (cp != NULL && (signed_cp = cosign(w, cp, strlen(cp), &sl)) != NULL) {
            json_object_set_new(o, "checkpoint", json_stringn(signed_cp, sl));
            free(signed_cp);
            out = json_dumps(o, JSON_COMPACT);
            *out_len = out ? strlen(out) : 0;
        }
        json_decref(o);
        return out;
    }
    return NULL;
}

/* ---- fixtures ------------------------------------------------------------------- */

struct env {
    srv s;
    proxy px;
    struct cosigner w;
};

static void env_start(struct env *e)
{
    srv_start(&e->s);
    cosigner_init(&e->w);
    assert_int_equal(proxy_start(&e->px, e->s.url), 0);
    e->px.rewrite = rewrite;
    e->px.rewrite_ctx = &e->w;
}

static void env_stop(struct env *e)
{
    proxy_stop(&e->px);
    cosigner_free(&e->w);
    srv_stop(&e->s);
}

static void witnessed_user(struct env *e, user *u, const char *name, size_t n, unsigned k,
                           int64_t max_view_age)
{
    ckv_client_options o = {0};
    o.timeout_ms = 5000;
    o.max_view_age = max_view_age;
    user_new_opts(u, e->px.url, e->s.vkey, name, &o, (const char *const *)e->w.vkey, n, k);
}

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

/* ---- pinning ----------------------------------------------------------------- */

static void test_pinning(void **state)
{
    (void)state;
    struct cosigner w;
    ckv_profile *p = NULL;
    char *keys = NULL;
    size_t n = 0;
    unsigned k = 0;
    const char *two[2], *dup[2], *logkey[1] = {"ckv.test/log+00000000+AQ=="};
    char *lk = NULL;
    cosigner_init(&w);
    two[0] = w.vkey[0];
    two[1] = w.vkey[1];
    dup[0] = dup[1] = w.vkey[0];
    assert_int_equal(ckv_profile_create(NULL, "alice", (const uint8_t *)"pass phrase long", 16,
                                        CKV_KDF_MIN, &p),
                     CKV_OK);
    assert_int_equal(ckv_profile_witnesses(p, &keys, &n, &k), CKV_OK);
    assert_null(keys);
    assert_int_equal(n, 0);
    assert_int_equal(ckv_profile_pin_witnesses(p, two, 2, 0), CKV_ERR_INVALID_ARG); /* K = 0 */
    assert_int_equal(ckv_profile_pin_witnesses(p, two, 2, 3), CKV_ERR_INVALID_ARG); /* K > n */
    assert_int_equal(ckv_profile_pin_witnesses(p, dup, 2, 1), CKV_ERR_INVALID_ARG); /* twice */
    assert_int_equal(ckv_profile_pin_witnesses(p, logkey, 1, 1), CKV_ERR_TLOG_BAD_KEY);
    /* a log (type 0x01) key is not a witness key */
    assert_int_equal(ckv_tlog_signer_from_seed("ckv.test/log", w.seed[0], NULL, &lk), CKV_OK);
    logkey[0] = lk;
    assert_int_equal(ckv_profile_pin_witnesses(p, logkey, 1, 1), CKV_ERR_TLOG_BAD_KEY);
    assert_int_equal(ckv_profile_witnesses(p, &keys, &n, &k), CKV_OK);
    assert_int_equal(n, 0); /* nothing stored by the failures */
    assert_int_equal(ckv_profile_pin_witnesses(p, two, 2, 2), CKV_OK);
    assert_int_equal(ckv_profile_pin_witnesses(p, two, 1, 1), CKV_ERR_EXISTS);
    assert_int_equal(ckv_profile_witnesses(p, &keys, &n, &k), CKV_OK);
    assert_int_equal(n, 2);
    assert_int_equal(k, 2);
    assert_non_null(strstr(keys, w.vkey[0]));
    assert_non_null(strstr(keys, w.vkey[1]));
    free(keys);
    free(lk);
    ckv_profile_close(p);
    cosigner_free(&w);
}

/* ---- acceptance ------------------------------------------------------------------ */

static void test_no_quorum(void **state)
{
    (void)state;
    struct env e;
    user a;
    ckv_status st;
    env_start(&e);
    witnessed_user(&e, &a, "alice", 3, 2, 0);
    cosigner_set(&e.w, 1, 0, 0); /* one cosignature, two required */
    st = ckv_client_register(a.c);
    assert_int_equal(st, CKV_ERR_KT_NO_QUORUM);
    assert_non_null(strstr(ckv_client_last_error(a.c), "1 valid cosignature"));
    assert_non_null(strstr(ckv_client_last_error(a.c), "2 are required"));
    /* unknown witnesses do not count: the log's own signature alone neither */
    cosigner_set(&e.w, 0, 0, 0);
    assert_int_equal(ckv_client_register(a.c), CKV_ERR_KT_NO_QUORUM);
    cosigner_set(&e.w, 2, 0, 0); /* the quorum */
    register_ok(&a);
    ckv_view v;
    assert_int_equal(ckv_client_view(a.c, &v), CKV_OK);
    assert_true(v.tree_size >= 1);
    assert_int_equal(v.quorum, 2);
    assert_int_equal(v.n_witnesses, 3);
    assert_true(v.witnessed_at > time(NULL) - 60 && v.witnessed_at <= time(NULL) + 1);
    /* the same profile without witnesses would accept the bare checkpoint:
     * the refusal above came from the quorum rule */
    user b;
    user_new(&b, &e.s, "bob", NULL);
    register_ok(&b);
    user_free(&b);
    user_free(&a);
    env_stop(&e);
}

static void test_forged_cosignature(void **state)
{
    (void)state;
    struct env e;
    user a;
    env_start(&e);
    /* K = 1 of 3: the two honest cosignatures would be enough, but a
     * forged line by a pinned witness rejects the note */
    witnessed_user(&e, &a, "alice", 3, 1, 0);
    cosigner_set(&e.w, 3, 1, 0);
    assert_int_equal(ckv_client_register(a.c), CKV_ERR_KT_BAD_CHECKPOINT);
    assert_non_null(strstr(ckv_client_last_error(a.c), "forged"));
    cosigner_set(&e.w, 3, 0, 0);
    register_ok(&a);
    /* a forged cosignature on a later checkpoint is refused too */
    cosigner_set(&e.w, 3, 1, 0);
    ckv_key_info ki;
    assert_int_equal(ckv_client_lookup(a.c, "alice", &ki), CKV_ERR_KT_BAD_CHECKPOINT);
    user_free(&a);
    env_stop(&e);
}

/* ---- freeze ---------------------------------------------------------------------- */

static void test_freeze(void **state)
{
    (void)state;
    struct env e;
    user a, b;
    ckv_event *ev = NULL;
    size_t n = 0;
    ckv_key_info ki;
    env_start(&e);
    witnessed_user(&e, &a, "alice", 2, 2, 600);
    witnessed_user(&e, &b, "bob", 2, 2, 600);
    register_ok(&a);
    register_ok(&b);
    send_ok(&b, "alice", "before the freeze");
    /* the server now serves checkpoints whose cosignatures are two hours old */
    cosigner_set(&e.w, 2, 0, -7200);
    assert_int_equal(ckv_client_lookup(a.c, "bob", &ki), CKV_OK); /* accepted (a view) ... */
    ckv_status st = ckv_client_send(a.c, "bob", (const uint8_t *)"frozen?", 7, NULL);
    assert_int_equal(st, CKV_ERR_KT_VIEW_FROZEN); /* ... but too old to send on */
    assert_non_null(strstr(ckv_client_last_error(a.c), "freezing"));
    /* receiving still works */
    assert_int_equal(recv_until(&a, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    for (size_t i = 0; i < n; i++)
        if (ev[i].kind == CKV_EV_MESSAGE)
            assert_string_equal(ev[i].text, "before the freeze");
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    /* fresh cosignatures again: the send refreshes /checkpoint and goes */
    cosigner_set(&e.w, 2, 0, 0);
    send_ok(&a, "bob", "thawed");
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    ckv_client_events_free(ev, n);
    user_free(&a);
    user_free(&b);
    env_stop(&e);
}

/* ---- gossip ---------------------------------------------------------------------- */

static size_t count_split(const ckv_event *ev, size_t n)
{
    return count_kind(ev, n, CKV_EV_SPLIT_VIEW);
}

static void test_gossip_agree(void **state)
{
    (void)state;
    struct env e;
    user a, b;
    ckv_event *ev = NULL;
    size_t n = 0;
    ckv_gossip_state g;
    env_start(&e);
    witnessed_user(&e, &a, "alice", 2, 1, 0);
    witnessed_user(&e, &b, "bob", 2, 1, 0);
    register_ok(&a);
    register_ok(&b);
    assert_int_equal(ckv_profile_gossip_state(b.p, "alice", &g), CKV_OK);
    assert_int_equal(g.result, CKV_GOSSIP_UNKNOWN);
    send_ok(&a, "bob", "hello bob");
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_int_equal(count_split(ev, n), 0);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(ckv_profile_gossip_state(b.p, "alice", &g), CKV_OK);
    assert_int_equal(g.result, CKV_GOSSIP_AGREE);
    assert_true(g.their_size >= 2 && g.checked_at > 0);
    send_ok(&b, "alice", "hello alice");
    assert_int_equal(recv_until(&a, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_int_equal(count_split(ev, n), 0);
    ckv_client_events_free(ev, n);
    assert_int_equal(ckv_profile_gossip_state(a.p, "bob", &g), CKV_OK);
    assert_int_equal(g.result, CKV_GOSSIP_AGREE);
    user_free(&a);
    user_free(&b);
    env_stop(&e);
}

/* The split-view event names its evidence file: it must prove the split
 * (ckv_evidence_verify_file, docs/evidence.md) under the log key. */
static void expect_split_evidence(const ckv_event *ev, size_t n, const char *log_vkey)
{
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].kind != CKV_EV_SPLIT_VIEW)
            continue;
        const char *at = ev[i].text ? strstr(ev[i].text, "evidence written to ") : NULL;
        char path[1024];
        ckv_evidence_result r;
        struct stat sb;
        assert_int_equal(ev[i].status, CKV_ERR_KT_SPLIT_VIEW);
        assert_non_null(strstr(ev[i].text, "split view"));
        if (at == NULL)
            fail_msg("no evidence file in: %s", ev[i].text);
        snprintf(path, sizeof path, "%s", at + strlen("evidence written to "));
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
        assert_int_equal(ckv_evidence_verify_file(path, log_vkey, &r), CKV_OK);
        if (!r.proven || strcmp(r.kind, "split_view") != 0)
            fail_msg("%s: kind %s proven %d: %s", path, r.kind, r.proven, r.why_not);
        seen++;
    }
    assert_int_equal(seen, 1);
}

static void test_gossip_split_view(void **state)
{
    (void)state;
    struct env e;
    srv fork;
    proxy pb;
    user a, b, c, d;
    ckv_event *ev = NULL;
    size_t n = 0;
    ckv_key_info ki;
    ckv_gossip_state g;
    ckv_client_options o = {0};
    env_start(&e);
    o.timeout_ms = 5000;
    assert_int_equal(proxy_start(&pb, e.s.url), 0);
    pb.rewrite = rewrite;
    pb.rewrite_ctx = &e.w;
    witnessed_user(&e, &a, "alice", 2, 1, 0);
    user_new_opts(&b, pb.url, e.s.vkey, "bob", &o, (const char *const *)e.w.vkey, 2, 1);
    register_ok(&a);
    register_ok(&b);
    send_ok(&a, "bob", "one");
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    /* the operator forks its log: a copy with the same key goes on
     * separately, and bob's log and directory requests go to the copy */
    srv_clone(&e.s, &fork);
    user_new(&c, &e.s, "carol", NULL);
    register_ok(&c);
    user_new(&d, &fork, "dave", NULL);
    register_ok(&d);
    proxy_split(&pb, fork.url);
    assert_int_equal(ckv_client_lookup(a.c, "bob", &ki), CKV_OK);   /* alice: main log */
    assert_int_equal(ckv_client_lookup(b.c, "alice", &ki), CKV_OK); /* bob: the fork */
    /* each view is validly signed and consistent on its own; gossip shows
     * the contradiction to both */
    send_ok(&a, "bob", "two");
    assert_int_equal(recv_until(&b, CKV_EV_SPLIT_VIEW, 1, &ev, &n), 1);
    assert_int_equal(count_kind(ev, n, CKV_EV_MESSAGE), 1); /* the message itself is shown */
    expect_split_evidence(ev, n, e.s.vkey);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(ckv_profile_gossip_state(b.p, "alice", &g), CKV_OK);
    assert_int_equal(g.result, CKV_GOSSIP_DIFFER);
    send_ok(&b, "alice", "three");
    assert_int_equal(recv_until(&a, CKV_EV_SPLIT_VIEW, 1, &ev, &n), 1);
    expect_split_evidence(ev, n, e.s.vkey);
    ckv_client_events_free(ev, n);
    assert_int_equal(ckv_profile_gossip_state(a.p, "bob", &g), CKV_OK);
    assert_int_equal(g.result, CKV_GOSSIP_DIFFER);
    user_free(&a);
    user_free(&b);
    user_free(&c);
    user_free(&d);
    proxy_stop(&pb);
    srv_stop(&fork);
    env_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pinning),
        cmocka_unit_test(test_no_quorum),
        cmocka_unit_test(test_forged_cosignature),
        cmocka_unit_test(test_freeze),
        cmocka_unit_test(test_gossip_agree),
        cmocka_unit_test(test_gossip_split_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
