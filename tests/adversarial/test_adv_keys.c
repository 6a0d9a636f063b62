/*
 * test_adv_keys.c: the adversarial suite, attacks on keys (issue 6, attacks
 * 1, 2, 3, 9 and 10): a real ckvd on 127.0.0.1, real profiles and clients,
 * and a lying front (liar.c) or direct writes to ckvd's database standing
 * for a server that lies. Each test says the client's state before, the
 * lie, the expected status and text, which component detects it, and
 * checks that nothing is left that would hide the attack later.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "adv.h"
#include "ckv/bundle.h"
#include "ckv/session.h"

/* ---- attack 1: a substituted key with no log entry -------------------------
 * Before: alice and bob registered; dave's client talks to ckvd through the
 * liar; dave has no contact. mallory registered "bob" on ANOTHER ckvd that
 * uses the same origin, so her entry for "bob" is well formed and signed by
 * her key, but it is not in our log.
 * Lie A (lookup): GET /v1/directory/bob answers mallory's entry with the
 * real proof and checkpoint. Expected CKV_ERR_KT_BAD_PROOF, "not proven to
 * be in the log": core/kt.c verify_entry (inclusion proof of the recomputed
 * leaf hash against the signed checkpoint).
 * Lie B (lookup): mallory's server's whole answer (its own checkpoint).
 * Expected CKV_ERR_KT_BAD_CHECKPOINT, "pinned log key": kt.c
 * accept_checkpoint (the note is not signed by the pinned log key).
 * Lie C (send): dave has bob as a logged contact; his proof is older than
 * the maximum age, so the send looks bob up again and gets lie A. Expected
 * the same BAD_PROOF; nothing is encrypted or queued.
 * Left behind: no contact (A, B), bob's pinned key and state unchanged (C),
 * no entry stored for bob (an honest lookup later gives version 1 with
 * bob's key), the view unmoved, and a second attempt fails the same way. */
static void test_attack1_unlogged_key(void **state)
{
    srv s, s2;
    liar px;
    adv_canned lie = {0};
    user a, b, d, mb;
    ckv_key_info ki;
    ckv_view v0, v1;
    uint8_t bob_key[33], mal_key[33], pinned[33];
    (void)state;

    srv_start(&s);
    srv_start(&s2);
    user_new(&a, &s, "alice", NULL);
    user_new(&b, &s, "bob", NULL);
    user_new(&mb, &s2, "bob", NULL);
    adv_register(&a);
    adv_register(&b);
    adv_register(&mb);
    ckv_profile_identity_key(b.p, bob_key);
    ckv_profile_identity_key(mb.p, mal_key);
    assert_int_equal(liar_start(&px, s.url), 0);
    adv_user_via(&d, &s, px.url, "dave");
    adv_register(&d);
    OK(d.c, ckv_client_view(d.c, &v0));

    char *real = adv_get(s.url, "/v1/directory/bob");
    char *other = adv_get(s2.url, "/v1/directory/bob");
    char *mal_entry = adv_json_get_str(other, "entry");
    char *lie_a = adv_json_set_str(strdup(real), "entry", mal_entry);

    /* A: at lookup */
    adv_lie(&px, &lie, "GET", "/v1/directory/bob", 200, lie_a);
    for (int round = 0; round < 2; round++) {
        FAILS(d.c, ckv_client_lookup(d.c, "bob", &ki), CKV_ERR_KT_BAD_PROOF,
              "not proven to be in the log");
        FAILS(d.c, ckv_client_add_contact(d.c, "bob", NULL), CKV_ERR_KT_BAD_PROOF, "bob");
        FAILS(d.c, ckv_client_send(d.c, "bob", (const uint8_t *)"hi", 2, NULL),
              CKV_ERR_KT_BAD_PROOF, "inclusion proof");
        assert_int_equal(adv_state(&d, "bob"), -1);
    }
    assert_true(lie.hits >= 6);
    /* B: the other server's whole answer */
    adv_lie(&px, &lie, "GET", "/v1/directory/bob", 200, other);
    for (int round = 0; round < 2; round++) {
        FAILS(d.c, ckv_client_lookup(d.c, "bob", &ki), CKV_ERR_KT_BAD_CHECKPOINT,
              "pinned log key");
        assert_int_equal(adv_state(&d, "bob"), -1);
    }
    OK(d.c, ckv_client_view(d.c, &v1));
    assert_int_equal(v1.tree_size, v0.tree_size);
    assert_int_equal(srv_queued(&s, "bob"), 0);

    /* honest again: bob's real key, version 1 */
    liar_hooks(&px, NULL, NULL, NULL);
    OK(d.c, ckv_client_add_contact(d.c, "bob", NULL));
    OK(d.c, ckv_client_lookup(d.c, "bob", &ki));
    assert_memory_equal(ki.key, bob_key, 33);
    assert_int_equal(ki.version, 1);
    assert_int_equal(adv_state(&d, "bob"), CKV_TRUST_LOGGED);

    /* C: at send, after the proof aged */
    adv_reopen(&d, 1);
    sleep(2);
    size_t hist = adv_history_len(&d, "bob");
    adv_lie(&px, &lie, "GET", "/v1/directory/bob", 200, lie_a);
    for (int round = 0; round < 2; round++) {
        FAILS(d.c, ckv_client_send(d.c, "bob", (const uint8_t *)"secret", 6, NULL),
              CKV_ERR_KT_BAD_PROOF, "not proven to be in the log");
        assert_true(adv_pinned(&d, "bob", pinned));
        assert_memory_equal(pinned, bob_key, 33);
        assert_memory_not_equal(pinned, mal_key, 33);
        assert_int_equal(adv_state(&d, "bob"), CKV_TRUST_LOGGED);
        assert_int_equal(adv_history_len(&d, "bob"), hist);
        assert_int_equal(srv_queued(&s, "bob"), 0);
    }
    /* honest: the same send goes to bob, once */
    liar_hooks(&px, NULL, NULL, NULL);
    OK(d.c, ckv_client_send(d.c, "bob", (const uint8_t *)"secret", 6, NULL));
    ckv_event *ev = NULL;
    size_t n = 0;
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_string_equal(adv_find(ev, n, CKV_EV_MESSAGE, 0)->text, "secret");
    assert_string_equal(adv_find(ev, n, CKV_EV_MESSAGE, 0)->contact, "dave");
    adv_events_reset(&ev, &n);

    free(real);
    free(other);
    free(mal_entry);
    free(lie_a);
    adv_canned_clear(&lie);
    user_free(&d);
    liar_stop(&px);
    user_free(&a);
    user_free(&b);
    user_free(&mb);
    srv_stop(&s);
    srv_stop(&s2);
}

/* ---- attack 2: a substituted key logged under the victim's name ------------
 * Before: bob registered and monitors his name (one own entry); alice
 * verified bob in person and has a session; carol has bob as a logged
 * contact. The server (mallory) logs a `reset` for "bob" with mallory's key:
 * the entry is genuinely in the log, so every proof verifies.
 * Expected: bob's monitor: CKV_ERR_KT_FOREIGN_ENTRY, "ALARM" (core/kt.c
 * ckv_client_monitor: a leaf under our name that this profile did not
 * make), on every later call too and after reopening the client; alice's
 * send: CKV_ERR_KEY_CHANGED_BLOCKED (core: the verified contact's logged
 * key changed), the contact in state changed, nothing queued, and a
 * message from mallory-as-bob is not shown (KEY_CHANGED + REJECTED
 * CKV_ERR_UNTRUSTED_IDENTITY) and stays queued until alice decides.
 * Not hidden later: the alarm repeats, alice stays blocked on a second try,
 * and bob's own rotate refuses (the latest entry is not his). */
static void test_attack2_logged_substitute(void **state)
{
    srv s;
    user a, b, m;
    ckv_monitor_report rep;
    ckv_event *ev = NULL;
    size_t n = 0;
    uint8_t mal_key[33], pinned[33];
    (void)state;

    srv_start(&s);
    user_new(&a, &s, "alice", NULL);
    user_new(&b, &s, "bob", NULL);
    adv_register(&a);
    adv_register(&b);
    OK(b.c, ckv_client_monitor(b.c, &rep));
    assert_int_equal(rep.own_entries, 1);
    assert_int_equal(rep.foreign_entries, 0);
    OK(a.c, ckv_client_add_contact(a.c, "bob", NULL));
    OK(a.c, ckv_client_send(a.c, "bob", (const uint8_t *)"before", 6, NULL));
    OK(a.c, ckv_contact_verify(a.p, "bob", CKV_VERIFY_IN_PERSON, NULL));
    assert_int_equal(adv_state(&a, "bob"), CKV_TRUST_VERIFIED);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    adv_events_reset(&ev, &n);
    long long queued_bob = srv_queued(&s, "bob");

    /* mallory logs her key under bob's name */
    user_new(&m, &s, "bob", NULL);
    OK(m.c, ckv_client_reset(m.c));
    ckv_profile_identity_key(m.p, mal_key);

    /* bob's monitor: the alarm, every time */
    for (int round = 0; round < 3; round++) {
        if (round == 2)
            adv_reopen(&b, 0);
        FAILS(b.c, ckv_client_monitor(b.c, &rep), CKV_ERR_KT_FOREIGN_ENTRY, "ALARM");
        assert_non_null(strstr(ckv_client_last_error(b.c), "'bob'"));
        assert_int_equal(rep.foreign_entries, 1);
        assert_int_equal(rep.own_entries, 2);
        assert_int_equal(rep.foreign_index, rep.tree_size - 1);
    }
    FAILS(b.c, ckv_client_rotate(b.c), CKV_ERR_KT_FOREIGN_ENTRY, "bob");

    /* alice (verified bob): blocked, twice, nothing queued */
    adv_reopen(&a, 1);
    sleep(2);
    for (int round = 0; round < 2; round++) {
        FAILS(a.c, ckv_client_send(a.c, "bob", (const uint8_t *)"to mallory?", 11, NULL),
              CKV_ERR_KEY_CHANGED_BLOCKED, "bob");
        assert_int_equal(adv_state(&a, "bob"), CKV_TRUST_CHANGED);
        assert_int_equal(srv_queued(&s, "bob"), queued_bob);
    }
    assert_true(adv_pinned(&a, "bob", pinned));
    assert_memory_equal(pinned, mal_key, 33); /* pinned as changed, not trusted */

    /* mallory writes to alice as "bob" */
    OK(m.c, ckv_client_send(m.c, "alice", (const uint8_t *)"it's me, bob", 12, NULL));
    for (int round = 0; round < 2; round++) {
        adv_recv(&a, 1, &ev, &n);
        assert_int_equal(count_kind(ev, n, CKV_EV_MESSAGE), 0);
        assert_non_null(adv_find(ev, n, CKV_EV_REJECTED, 0));
        assert_int_equal(adv_find(ev, n, CKV_EV_REJECTED, 0)->status, CKV_ERR_UNTRUSTED_IDENTITY);
        adv_events_reset(&ev, &n);
        assert_int_equal(srv_queued(&s, "alice"), 1); /* waits for alice's decision */
        assert_int_equal(adv_state(&a, "bob"), CKV_TRUST_CHANGED);
    }

    user_free(&a);
    user_free(&b);
    user_free(&m);
    srv_stop(&s);
}

/* ---- attack 3: posing as a sender -------------------------------------------
 * Before: alice and bob registered. mallory holds a profile named "alice"
 * (never logged) and bob's bundle (the server hands it out); she encrypts a
 * PreKey message and the server queues it for bob as coming from "alice".
 * Case 1: alice is not yet bob's contact. Case 2: alice is bob's logged
 * contact with a session.
 * Expected: bob's receive reports CKV_EV_REJECTED with CKV_ERR_KT_NOT_LOGGED
 * (core/client.c: the PreKey message's identity key must be the sender's
 * logged key before anything is decrypted or shown) and no message; the
 * envelope is acknowledged (refused for good, not retried).
 * Left behind: no contact "alice" (case 1); alice's pinned key and state
 * unchanged (case 2); the same forgery queued again is refused again; the
 * real alice's next message is shown normally. */
static char *forge_prekey_message(user *mallory, ckv_profile *victim, const char *victim_name,
                                  const char *text)
{
    ckv_bundle bundle;
    ckv_envelope env = {0};
    char *json = NULL;
    assert_int_equal(ckv_profile_export_bundle(victim, 1, &bundle), CKV_OK);
    assert_int_equal(ckv_session_start(mallory->p, victim_name, &bundle, NULL), CKV_OK);
    assert_int_equal(ckv_session_encrypt(mallory->p, victim_name, (const uint8_t *)text,
                                         strlen(text), &env),
                     CKV_OK);
    assert_int_equal(env.type, CKV_MSG_PREKEY);
    assert_int_equal(ckv_envelope_to_json(&env, &json), CKV_OK);
    ckv_envelope_clear(&env);
    return json;
}

static void queue_as(srv *s, const char *to, const char *from, const char *env_json)
{
    char *sql = NULL;
    assert_true(asprintf(&sql,
                         "INSERT INTO messages(recipient, sender, body, ts) SELECT id, '%s', "
                         "CAST('%s' AS BLOB), strftime('%%s','now') FROM accounts WHERE name='%s'",
                         from, env_json, to) > 0);
    assert_int_equal(srv_sql(s, sql), 0);
    free(sql);
}

static void test_attack3_posing_sender(void **state)
{
    srv s;
    user a, b, m;
    ckv_event *ev = NULL;
    size_t n = 0;
    uint8_t alice_key[33], pinned[33];
    (void)state;

    srv_start(&s);
    user_new(&a, &s, "alice", NULL);
    user_new(&b, &s, "bob", NULL);
    adv_register(&a);
    adv_register(&b);
    ckv_profile_identity_key(a.p, alice_key);
    user_new(&m, &s, "alice", NULL); /* mallory's profile, never registered */

    /* case 1: a new sender */
    char *forged = forge_prekey_message(&m, b.p, "bob", "hello, I am alice");
    for (int round = 0; round < 2; round++) {
        queue_as(&s, "bob", "alice", forged);
        adv_recv(&b, 1, &ev, &n);
        assert_int_equal(count_kind(ev, n, CKV_EV_MESSAGE), 0);
        const ckv_event *r = adv_find(ev, n, CKV_EV_REJECTED, 0);
        assert_non_null(r);
        assert_int_equal(r->status, CKV_ERR_KT_NOT_LOGGED);
        assert_string_equal(r->contact, "alice");
        adv_events_reset(&ev, &n);
        assert_int_equal(adv_state(&b, "alice"), -1);
        assert_int_equal(adv_history_len(&b, "alice"), 0);
        assert_int_equal(srv_queued(&s, "bob"), 0);
    }
    free(forged);

    /* case 2: alice is bob's logged contact */
    OK(a.c, ckv_client_send(a.c, "bob", (const uint8_t *)"real alice", 10, NULL));
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    adv_events_reset(&ev, &n);
    assert_int_equal(adv_state(&b, "alice"), CKV_TRUST_LOGGED);
    size_t hist = adv_history_len(&b, "alice");
    forged = forge_prekey_message(&m, b.p, "bob", "new phone, same alice");
    for (int round = 0; round < 2; round++) {
        queue_as(&s, "bob", "alice", forged);
        adv_recv(&b, 1, &ev, &n);
        assert_int_equal(count_kind(ev, n, CKV_EV_MESSAGE), 0);
        const ckv_event *r = adv_find(ev, n, CKV_EV_REJECTED, 0);
        assert_non_null(r);
        assert_int_equal(r->status, CKV_ERR_KT_NOT_LOGGED);
        adv_events_reset(&ev, &n);
        assert_int_equal(adv_state(&b, "alice"), CKV_TRUST_LOGGED);
        assert_true(adv_pinned(&b, "alice", pinned));
        assert_memory_equal(pinned, alice_key, 33);
        assert_int_equal(adv_history_len(&b, "alice"), hist);
    }
    free(forged);
    /* the real alice still gets through */
    OK(a.c, ckv_client_send(a.c, "bob", (const uint8_t *)"still me", 8, NULL));
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_string_equal(adv_find(ev, n, CKV_EV_MESSAGE, 0)->text, "still me");
    assert_int_equal(count_kind(ev, n, CKV_EV_REJECTED), 0);
    adv_events_reset(&ev, &n);

    user_free(&a);
    user_free(&b);
    user_free(&m);
    srv_stop(&s);
}

/* ---- attack 9: a stale key after a rotation ---------------------------------
 * Before: dave (through the liar) looked bob up (version 1), bob rotated,
 * dave looked him up again (version 2, his new key pinned for the contact).
 * Lie: the server answers the lookup with bob's version-1 answer, recorded
 * before the rotation (its own old checkpoint and a valid proof).
 * Expected: CKV_ERR_TLOG_ROLLBACK, "rolled back" (core/kt.c
 * accept_checkpoint: the answer's checkpoint is older than the view); also
 * at send once the proof aged.
 * Second lie: the same old entry proven under the CURRENT checkpoint (taken
 * from the server's own history answer), so only the version gives it away:
 * also CKV_ERR_KT_STALE.
 * Left behind: the contact keeps bob's version-2 key, nothing is queued, a
 * second attempt fails the same way. */
static void stale_after(void *ctx, const liar_req *req, liar_resp *resp)
{
    /* turn GET /v1/directory/bob into the history's first entry */
    const char *srv_url = ctx;
    if (strcmp(req->method, "GET") != 0 || strcmp(req->path, "/v1/directory/bob") != 0)
        return;
    char *hist = liar_http_get(srv_url, "/v1/directory/bob/history", NULL);
    if (hist == NULL)
        return;
    json_t *h = json_loads(hist, 0, NULL), *first, *o;
    first = json_array_get(json_object_get(h, "entries"), 0);
    o = json_deep_copy(first);
    json_object_set(o, "checkpoint", json_object_get(h, "checkpoint"));
    char *body = json_dumps(o, JSON_COMPACT);
    liar_resp_set(resp, 200, NULL, body, strlen(body));
    free(body);
    json_decref(o);
    json_decref(h);
    free(hist);
}

static void test_attack9_stale_key(void **state)
{
    srv s;
    liar px;
    adv_canned lie = {0};
    user b, d;
    ckv_key_info ki;
    uint8_t new_key[33], pinned[33];
    (void)state;

    srv_start(&s);
    user_new(&b, &s, "bob", NULL);
    adv_register(&b);
    assert_int_equal(liar_start(&px, s.url), 0);
    adv_user_via(&d, &s, px.url, "dave");
    adv_register(&d);
    OK(d.c, ckv_client_add_contact(d.c, "bob", NULL));
    OK(d.c, ckv_client_lookup(d.c, "bob", &ki));
    assert_int_equal(ki.version, 1);
    char *v1 = adv_get(s.url, "/v1/directory/bob");
    OK(b.c, ckv_client_rotate(b.c));
    ckv_profile_identity_key(b.p, new_key);
    OK(d.c, ckv_client_lookup(d.c, "bob", &ki));
    assert_int_equal(ki.version, 2);
    assert_memory_equal(ki.key, new_key, 33);
    OK(d.c, ckv_client_send(d.c, "bob", (const uint8_t *)"to v2", 5, NULL));
    long long queued = srv_queued(&s, "bob");

    /* the recorded version-1 answer */
    adv_lie(&px, &lie, "GET", "/v1/directory/bob", 200, v1);
    for (int round = 0; round < 2; round++) {
        FAILS(d.c, ckv_client_lookup(d.c, "bob", &ki), CKV_ERR_TLOG_ROLLBACK, "rolled back");
        assert_true(adv_pinned(&d, "bob", pinned));
        assert_memory_equal(pinned, new_key, 33);
    }
    adv_reopen(&d, 1);
    sleep(2);
    FAILS(d.c, ckv_client_send(d.c, "bob", (const uint8_t *)"x", 1, NULL), CKV_ERR_TLOG_ROLLBACK,
          "rolled back");
    assert_int_equal(srv_queued(&s, "bob"), queued);

    /* version 1 proven under the current checkpoint */
    liar_hooks(&px, NULL, stale_after, s.url);
    for (int round = 0; round < 2; round++) {
        FAILS(d.c, ckv_client_lookup(d.c, "bob", &ki), CKV_ERR_KT_STALE, "version 1");
        FAILS(d.c, ckv_client_send(d.c, "bob", (const uint8_t *)"x", 1, NULL), CKV_ERR_KT_STALE,
              "hides the newer key");
        assert_int_equal(srv_queued(&s, "bob"), queued);
        assert_true(liar_lies(&px) > 0);
        assert_true(adv_pinned(&d, "bob", pinned));
        assert_memory_equal(pinned, new_key, 33);
    }
    liar_hooks(&px, NULL, NULL, NULL);
    OK(d.c, ckv_client_lookup(d.c, "bob", &ki));
    assert_int_equal(ki.version, 2);

    free(v1);
    adv_canned_clear(&lie);
    user_free(&d);
    liar_stop(&px);
    user_free(&b);
    srv_stop(&s);
}

/* The stale key for a client that never saw the newer one.
 * Before: bob registered and rotated (versions 1 and 2); erin (through the
 * front) is fresh: she never looked bob up. Lie: bob's version 1, proven
 * under the current checkpoint (a genuine entry, a genuine proof), and an
 * old bundle of bob's (signed by his old key).
 * The proof alone cannot tell (the log proves inclusion, not that an entry
 * is the newest of its name; docs/threat-model.md). Detection: before
 * accepting any entry, the lookup brings erin's monitor up to the accepted
 * checkpoint (core/kt.c check_latest): it reads every entry bundle,
 * authenticated by tiles, and records the latest version of every name,
 * so the FIRST lookup is already CKV_ERR_KT_STALE "version 1 of 2", with
 * stale_entry evidence that an outside auditor verifies; no contact, no
 * session, nothing queued; the same at send, and at receive: bob's own
 * message, under his new key, stops erin's receive with the same status
 * and stays queued while the lie goes on.
 * Honest again: erin's lookup gives bob's version 2, and the chat works. */
struct stale_ctx {
    const char *srv_url;
    const char *old_bundle;
};

static void stale_fresh_after(void *ctx, const liar_req *req, liar_resp *resp)
{
    struct stale_ctx *sc = ctx;
    if (strcmp(req->method, "GET") == 0 && strcmp(req->path, "/v1/keys/bob") == 0) {
        liar_resp_set(resp, 200, NULL, sc->old_bundle, strlen(sc->old_bundle));
        return;
    }
    stale_after((void *)sc->srv_url, req, resp);
}

static void test_attack9_stale_first_lookup(void **state)
{
    srv s;
    liar px;
    user b, e;
    ckv_key_info ki;
    ckv_monitor_report rep;
    ckv_bundle old;
    ckv_event *ev = NULL;
    size_t n = 0;
    char *old_json = NULL;
    uint8_t old_key[33], new_key[33], pinned[33];
    (void)state;

    srv_start(&s);
    user_new(&b, &s, "bob", NULL);
    adv_register(&b);
    ckv_profile_identity_key(b.p, old_key);
    assert_int_equal(ckv_profile_export_bundle(b.p, 0, &old), CKV_OK);
    assert_int_equal(ckv_bundle_to_json(&old, &old_json), CKV_OK);
    old_json = adv_json_set_str(old_json, "name", "bob");
    OK(b.c, ckv_client_rotate(b.c));
    ckv_profile_identity_key(b.p, new_key);
    assert_int_equal(liar_start(&px, s.url), 0);
    adv_user_via(&e, &s, px.url, "erin");
    adv_register(&e);

    struct stale_ctx sc = {s.url, old_json};
    liar_hooks(&px, NULL, stale_fresh_after, &sc);
    /* the first lookup is refused: no contact, no pin */
    for (int round = 0; round < 2; round++) {
        FAILS(e.c, ckv_client_add_contact(e.c, "bob", NULL), CKV_ERR_KT_STALE, "version 1 of 2");
        assert_non_null(strstr(ckv_client_last_error(e.c), "older key of 'bob'"));
        assert_true(liar_lies(&px) > 0);
        assert_false(adv_pinned(&e, "bob", pinned));
    }
#ifdef CKV_AUDIT_PATH
    /* the evidence names both entries; a third party checks it */
    adv_expect_evidence(ckv_client_last_error(e.c), "stale_entry");
#endif
    /* the lookups already brought the monitor to the checkpoint */
    OK(e.c, ckv_client_monitor(e.c, &rep));
    assert_int_equal(rep.entries_read, 0);
    assert_int_equal(rep.foreign_entries, 0);
    for (int round = 0; round < 2; round++) {
        FAILS(e.c, ckv_client_lookup(e.c, "bob", &ki), CKV_ERR_KT_STALE, "version 1 of 2");
        adv_reopen(&e, 1);
        sleep(2);
        FAILS(e.c, ckv_client_send(e.c, "bob", (const uint8_t *)"x", 1, NULL), CKV_ERR_KT_STALE,
              "hides the newer key");
        assert_int_equal(srv_queued(&s, "bob"), 0);
        assert_false(adv_pinned(&e, "bob", pinned));
    }
    /* bob writes with his new key: while the front lies, erin's receive
     * stops on it (the sender's key check meets the stale answer) and the
     * message stays queued */
    OK(b.c, ckv_client_send(b.c, "erin", (const uint8_t *)"from the new key", 16, NULL));
    for (int round = 0; round < 2; round++) {
        ckv_status st = ckv_client_receive(e.c, 1, &ev, &n);
        assert_int_equal(count_kind(ev, n, CKV_EV_MESSAGE), 0);
        ckv_client_events_free(ev, n);
        ev = NULL;
        n = 0;
        assert_int_equal(st, CKV_ERR_KT_STALE);
        assert_non_null(strstr(ckv_client_last_error(e.c), "hides the newer key"));
        assert_int_equal(srv_queued(&s, "erin"), 1);
    }

    /* honest: bob's new key, the chat works */
    liar_hooks(&px, NULL, NULL, NULL);
    OK(e.c, ckv_client_add_contact(e.c, "bob", NULL));
    OK(e.c, ckv_client_lookup(e.c, "bob", &ki));
    assert_int_equal(ki.version, 2);
    assert_true(adv_pinned(&e, "bob", pinned));
    assert_memory_equal(pinned, new_key, 33);
    assert_int_equal(recv_until(&e, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_string_equal(adv_find(ev, n, CKV_EV_MESSAGE, 0)->text, "from the new key");
    adv_events_reset(&ev, &n);
    OK(e.c, ckv_client_send(e.c, "bob", (const uint8_t *)"hello v2", 8, NULL));
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_string_equal(adv_find(ev, n, CKV_EV_MESSAGE, 0)->text, "hello v2");
    adv_events_reset(&ev, &n);

    free(old_json);
    user_free(&e);
    liar_stop(&px);
    user_free(&b);
    srv_stop(&s);
}

/* ---- attack 10: a bad bundle -------------------------------------------------
 * Before: alice and bob registered; dave (through the liar) has no contact.
 * Lie A: GET /v1/keys/bob answers bob's real bundle with one bit of the
 * signed prekey's signature flipped. Expected CKV_ERR_BAD_BUNDLE (core/
 * bundle.c: the signed prekey's XEdDSA signature under the identity key).
 * Lie B: a bundle of alice's (valid signature) renamed to bob: its identity
 * key is not bob's logged key. Expected CKV_ERR_KT_BUNDLE_KEY (core/
 * client.c: a bundle must carry the logged key).
 * Left behind: no contact bob, no session, nothing queued; a second try
 * fails the same way; honest again, dave adds bob with bob's key. */
static void test_attack10_bad_bundle(void **state)
{
    srv s;
    liar px;
    adv_canned lie = {0};
    user a, b, d;
    ckv_bundle real, fake;
    char *j = NULL;
    uint8_t bob_key[33], pinned[33];
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

    /* A: a broken signed-prekey signature */
    assert_int_equal(ckv_profile_export_bundle(b.p, 1, &real), CKV_OK);
    real.signed_prekey_signature[10] ^= 0x01;
    assert_int_equal(ckv_bundle_to_json(&real, &j), CKV_OK);
    j = adv_json_set_str(j, "name", "bob");
    adv_lie(&px, &lie, "GET", "/v1/keys/bob", 200, j);
    free(j);
    for (int round = 0; round < 2; round++) {
        ckv_status st = ckv_client_add_contact(d.c, "bob", NULL);
        if (st != CKV_ERR_BAD_BUNDLE)
            fail_msg("add_contact: %s: %s", ckv_status_name(st), ckv_client_last_error(d.c));
        assert_true(strlen(ckv_client_last_error(d.c)) > 0);
        FAILS(d.c, ckv_client_send(d.c, "bob", (const uint8_t *)"hi", 2, NULL), CKV_ERR_BAD_BUNDLE,
              "bob");
        assert_int_equal(adv_state(&d, "bob"), -1);
        assert_int_equal(srv_queued(&s, "bob"), 0);
    }
    assert_true(lie.hits >= 4);

    /* B: another account's (valid) bundle */
    assert_int_equal(ckv_profile_export_bundle(a.p, 1, &fake), CKV_OK);
    assert_int_equal(ckv_bundle_to_json(&fake, &j), CKV_OK);
    j = adv_json_set_str(j, "name", "bob");
    adv_lie(&px, &lie, "GET", "/v1/keys/bob", 200, j);
    free(j);
    for (int round = 0; round < 2; round++) {
        FAILS(d.c, ckv_client_add_contact(d.c, "bob", NULL), CKV_ERR_KT_BUNDLE_KEY, "bob");
        FAILS(d.c, ckv_client_send(d.c, "bob", (const uint8_t *)"hi", 2, NULL),
              CKV_ERR_KT_BUNDLE_KEY, "bob");
        assert_int_equal(adv_state(&d, "bob"), -1);
        assert_int_equal(srv_queued(&s, "bob"), 0);
    }

    /* honest */
    liar_hooks(&px, NULL, NULL, NULL);
    OK(d.c, ckv_client_add_contact(d.c, "bob", NULL));
    assert_true(adv_pinned(&d, "bob", pinned));
    assert_memory_equal(pinned, bob_key, 33);
    assert_int_equal(adv_state(&d, "bob"), CKV_TRUST_LOGGED);

    adv_canned_clear(&lie);
    user_free(&d);
    liar_stop(&px);
    user_free(&a);
    user_free(&b);
    srv_stop(&s);
}

/* ---- attack 13: a second register slipped in before ours -------------------
 * Before: alice registered. The lie: mallory registers "bob" first (her
 * key, v1 at leaf X), then the server forgets it (its account rows are
 * deleted from ckvd's database) and accepts the real bob's register too: v1
 * again, at leaf X+1. An honest log never holds two entries of one version
 * under one name.
 * Expected: bob's register fails with CKV_ERR_DIR_BAD_CHAIN (its check
 * that the log's latest entry for bob is his finds two of version 1);
 * bob's monitor raises the alarm for leaf X (core/kt_monitor.c:
 * an entry under our name before our first own entry is history only when
 * that entry is a reset linking to it; a register replaces nothing), every
 * run; alice's lookup of bob (whose latest entry she read as v1 at leaf X)
 * fails with CKV_ERR_DIR_BAD_CHAIN, "two entries of version 1"
 * (ckv_kt_check_latest: a fork), with broken_chain evidence that an outside
 * auditor verifies. Left behind: no contact for alice, the same failure a
 * second time. */
static void test_attack13_second_register(void **state)
{
    srv s;
    user a, b, m;
    ckv_monitor_report rep;
    ckv_key_info ki;
    (void)state;

    srv_start(&s);
    user_new(&a, &s, "alice", NULL);
    adv_register(&a);
    user_new(&m, &s, "bob", NULL);
    adv_register(&m);
    uint64_t x = (uint64_t)srv_sql_int(&s, "SELECT leaf_index FROM accounts WHERE name='bob'");
    assert_int_equal(srv_sql(&s, "DELETE FROM prekeys WHERE account IN (SELECT id FROM accounts "
                                 "WHERE name='bob'); DELETE FROM signed_prekeys WHERE account IN "
                                 "(SELECT id FROM accounts WHERE name='bob'); DELETE FROM entries "
                                 "WHERE name='bob'; DELETE FROM accounts WHERE name='bob'"),
                     0);
    user_new(&b, &s, "bob", NULL);
    /* the server takes bob's register; his client, checking that the log's
     * latest key for bob is now his, finds the fork at once */
    FAILS(b.c, ckv_client_register(b.c), CKV_ERR_DIR_BAD_CHAIN, "two entries of version 1");
    assert_int_equal(srv_sql_int(&s, "SELECT leaf_index FROM accounts WHERE name='bob'"),
                     (long long)x + 1);

    for (int round = 0; round < 2; round++) {
        if (round == 1)
            adv_reopen(&b, 0);
        FAILS(b.c, ckv_client_monitor(b.c, &rep), CKV_ERR_KT_FOREIGN_ENTRY, "ALARM");
        assert_int_equal(rep.own_entries, 2);
        assert_int_equal(rep.earlier_entries, 0);
        assert_int_equal(rep.foreign_entries, 1);
        assert_int_equal(rep.foreign_index, x);
    }

    for (int round = 0; round < 2; round++) {
        FAILS(a.c, ckv_client_lookup(a.c, "bob", &ki), CKV_ERR_DIR_BAD_CHAIN,
              "two entries of version 1");
        assert_int_equal(adv_state(&a, "bob"), -1);
    }
    FAILS(a.c, ckv_client_add_contact(a.c, "bob", NULL), CKV_ERR_DIR_BAD_CHAIN, "forked");
    assert_int_equal(adv_state(&a, "bob"), -1);
#ifdef CKV_AUDIT_PATH
    adv_expect_evidence(ckv_client_last_error(a.c), "broken_chain");
#endif

    user_free(&a);
    user_free(&b);
    user_free(&m);
    srv_stop(&s);
}

/* ---- attack 14: a rotation answered "refused" but logged -------------------
 * Before: bob registered, his client talks through the liar. The lie: bob's
 * rotation is forwarded to ckvd, which logs it, but the liar answers 400.
 * Expected: the rotation fails; bob's client gives the new key up (wiped)
 * and keeps his old one; and since the entry is no longer his (its private
 * half is gone), his monitor raises the alarm for it (core/client.c
 * drop_pending: the entry's leaf hash leaves kt_own) instead of counting a
 * key no one can use as his own. */
static void after_refuse_accounts(void *ctx, const liar_req *req, liar_resp *resp)
{
    static const char body[] = "{\"error\":\"refused\",\"code\":\"bad_field\"}";
    (void)ctx;
    if (liar_path_is(req, "POST", "/v1/accounts"))
        liar_resp_set(resp, 400, NULL, body, sizeof body - 1);
}

static void test_attack14_refused_but_logged(void **state)
{
    srv s;
    liar px;
    user b;
    ckv_monitor_report rep;
    uint8_t before[33], after[33];
    (void)state;

    srv_start(&s);
    assert_int_equal(liar_start(&px, s.url), 0);
    adv_user_via(&b, &s, px.url, "bob");
    adv_register(&b);
    OK(b.c, ckv_client_monitor(b.c, &rep));
    ckv_profile_identity_key(b.p, before);
    long long entries = srv_sql_int(&s, "SELECT COUNT(*) FROM entries WHERE name='bob'");

    liar_hooks(&px, NULL, after_refuse_accounts, NULL);
    assert_int_not_equal(ckv_client_rotate(b.c), CKV_OK);
    assert_true(liar_lies(&px) > 0);
    liar_hooks(&px, NULL, NULL, NULL);
    assert_int_equal(srv_sql_int(&s, "SELECT COUNT(*) FROM entries WHERE name='bob'"),
                     entries + 1); /* ckvd logged it */
    ckv_profile_identity_key(b.p, after);
    assert_memory_equal(before, after, 33); /* the new key was given up */

    /* once a checkpoint covers it */
    uint64_t want = (uint64_t)srv_sql_int(&s, "SELECT MAX(leaf_index) + 1 FROM entries");
    for (int i = 0; i < 100; i++) {
        ckv_status st = ckv_client_monitor(b.c, &rep);
        if (st != CKV_OK || rep.tree_size >= want)
            break;
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
    }
    for (int round = 0; round < 2; round++) {
        FAILS(b.c, ckv_client_monitor(b.c, &rep), CKV_ERR_KT_FOREIGN_ENTRY, "ALARM");
        assert_int_equal(rep.foreign_entries, 1);
        assert_int_equal(rep.own_entries, 2);
    }

    user_free(&b);
    liar_stop(&px);
    srv_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attack1_unlogged_key),
        cmocka_unit_test(test_attack2_logged_substitute),
        cmocka_unit_test(test_attack3_posing_sender),
        cmocka_unit_test(test_attack9_stale_key),
        cmocka_unit_test(test_attack9_stale_first_lookup),
        cmocka_unit_test(test_attack10_bad_bundle),
        cmocka_unit_test(test_attack13_second_register),
        cmocka_unit_test(test_attack14_refused_but_logged),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
