/*
 * test_rotation.c: what an identity rotation (core/identity.c) keeps so
 * that nothing in flight is lost, offline with three profiles: a message
 * on the old session and a PreKey message made from the old bundle are
 * received after the rotation; no send uses a session made under the old
 * key; once the grace period is over, a PreKey message made from the old
 * bundle is refused and changes nothing; the old key pair is then forgotten;
 * two rotations in a row lose nothing either (the newest two old key pairs
 * are kept).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "../../core/online.h"
#include "helpers.h"

struct trio {
    char *tmp;
    ckv_profile *a, *b, *c;
};

static ckv_profile *mk(const char *tmp, const char *name)
{
    ckv_profile *p = NULL;
    char *dir = path_join(tmp, name);
    assert_int_equal(ckv_profile_create(dir, name, TEST_PASS, TEST_PASS_LEN, CKV_KDF_MIN, &p),
                     CKV_OK);
    free(dir);
    return p;
}

static int setup(void **state)
{
    struct trio *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->tmp = tmpdir_make();
    assert_non_null(t->tmp);
    t->a = mk(t->tmp, "alice");
    t->b = mk(t->tmp, "bob");
    t->c = mk(t->tmp, "carol");
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct trio *t = *state;
    ckv_profile_close(t->a);
    ckv_profile_close(t->b);
    ckv_profile_close(t->c);
    tmpdir_remove(t->tmp);
    free(t->tmp);
    free(t);
    return 0;
}

static void start(ckv_profile *from, ckv_profile *to, const char *to_name)
{
    ckv_bundle b;
    assert_int_equal(ckv_profile_export_bundle(to, 1, &b), CKV_OK);
    assert_int_equal(ckv_session_start(from, to_name, &b, NULL), CKV_OK);
}

static void send_msg(ckv_profile *from, const char *to, const char *text, ckv_envelope *out)
{
    memset(out, 0, sizeof *out);
    assert_int_equal(ckv_session_encrypt(from, to, (const uint8_t *)text, strlen(text), out),
                     CKV_OK);
}

static ckv_status recv_msg(ckv_profile *at, const char *from, const ckv_envelope *e,
                           const char *want)
{
    uint8_t *pt = NULL;
    size_t n = 0;
    ckv_status st = ckv_session_decrypt(at, from, e, &pt, &n, NULL);
    if (st == CKV_OK) {
        assert_int_equal(n, strlen(want));
        assert_memory_equal(pt, want, n);
        free(pt);
    } else {
        assert_null(pt);
    }
    return st;
}

static void rotate(ckv_profile *p)
{
    uint8_t pub[CKV_IDENTITY_KEY_LEN], priv[32], before[CKV_IDENTITY_KEY_LEN],
        after[CKV_IDENTITY_KEY_LEN];
    ckv_profile_identity_key(p, before);
    assert_int_equal(ckv_identity_generate(p, pub, priv), CKV_OK);
    assert_int_equal(ckv_identity_replace(p, pub, priv), CKV_OK);
    sodium_memzero(priv, sizeof priv);
    ckv_profile_identity_key(p, after);
    assert_memory_equal(after, pub, CKV_IDENTITY_KEY_LEN);
    assert_memory_not_equal(after, before, CKV_IDENTITY_KEY_LEN);
}

#define PREV_ENTRY (33 + 32 + 4 + 8)

/* Move the rotation time of every kept key pair back by `ago` seconds. */
static void age_prev(ckv_profile *p, int64_t ago)
{
    uint8_t *rec = NULL;
    size_t n = 0;
    assert_int_equal(ckv_meta_get(p, "identity_prev", &rec, &n), CKV_OK);
    assert_true(n > 0 && n % PREV_ENTRY == 0);
    for (size_t i = 0; i < n; i += PREV_ENTRY)
        ckv_put_be64(rec + i + 69, (uint64_t)(ckv_now() - ago));
    assert_int_equal(ckv_meta_put(p, "identity_prev", rec, n), CKV_OK);
    sodium_memzero(rec, n);
    free(rec);
}

/* The public keys of the kept key pairs, oldest first; returns how many. */
static size_t prev_keys(ckv_profile *p, uint8_t pubs[4][CKV_IDENTITY_KEY_LEN])
{
    uint8_t *rec = NULL;
    size_t n = 0;
    assert_int_equal(ckv_meta_get(p, "identity_prev", &rec, &n), CKV_OK);
    assert_true(n % PREV_ENTRY == 0 && n / PREV_ENTRY <= 4);
    for (size_t i = 0; i < n / PREV_ENTRY; i++)
        memcpy(pubs[i], rec + i * PREV_ENTRY, CKV_IDENTITY_KEY_LEN);
    sodium_memzero(rec, n);
    free(rec);
    return n / PREV_ENTRY;
}

static void test_in_flight_survive(void **state)
{
    struct trio *t = *state;
    ckv_envelope e1, e2, e3, e4, r1;
    int has = 0;

    /* alice <-> bob running; carol holds bob's old bundle */
    start(t->a, t->b, "bob");
    send_msg(t->a, "bob", "hello", &e1);
    assert_int_equal(recv_msg(t->b, "alice", &e1, "hello"), CKV_OK);
    send_msg(t->b, "alice", "hi", &r1);
    assert_int_equal(recv_msg(t->a, "bob", &r1, "hi"), CKV_OK);
    send_msg(t->a, "bob", "in flight", &e2); /* a normal message, old session */
    assert_int_equal(e2.type, CKV_MSG_NORMAL);
    start(t->c, t->b, "bob");
    send_msg(t->c, "bob", "from carol", &e3); /* PreKey, bob's old bundle */
    assert_int_equal(e3.type, CKV_MSG_PREKEY);

    rotate(t->b);

    /* the session is kept but only receives */
    assert_int_equal(ckv_session_exists(t->b, "alice", &has), CKV_OK);
    assert_int_equal(has, 1);
    ckv_envelope no = {0};
    assert_int_equal(ckv_session_encrypt(t->b, "alice", (const uint8_t *)"x", 1, &no),
                     CKV_ERR_NO_SESSION);
    assert_int_equal(recv_msg(t->b, "alice", &e2, "in flight"), CKV_OK);
    assert_int_equal(recv_msg(t->b, "carol", &e3, "from carol"), CKV_OK);
    /* received on an old-key session: still not used to send */
    assert_int_equal(ckv_session_encrypt(t->b, "carol", (const uint8_t *)"x", 1, &no),
                     CKV_ERR_NO_SESSION);
    assert_int_equal(ckv_session_encrypt(t->b, "alice", (const uint8_t *)"x", 1, &no),
                     CKV_ERR_NO_SESSION);
    /* a new session from alice's bundle: sends under the new key */
    start(t->b, t->a, "alice");
    send_msg(t->b, "alice", "new key", &e4);
    assert_int_equal(e4.type, CKV_MSG_PREKEY);
    ckv_trust_report rep;
    uint8_t *pt = NULL;
    size_t n = 0;
    assert_int_equal(ckv_session_decrypt(t->a, "bob", &e4, &pt, &n, &rep), CKV_OK);
    assert_true(rep.key_changed);
    free(pt);
    ckv_envelope_clear(&e1);
    ckv_envelope_clear(&e2);
    ckv_envelope_clear(&e3);
    ckv_envelope_clear(&e4);
    ckv_envelope_clear(&r1);
}

static void test_grace_over(void **state)
{
    struct trio *t = *state;
    ckv_envelope e1, e2;
    uint8_t *rec = NULL;
    size_t n = 0;

    start(t->c, t->b, "bob");
    send_msg(t->c, "bob", "late", &e1);
    rotate(t->b);
    age_prev(t->b, CKV_ROTATION_GRACE + 10);
    /* after the grace period: refused (nothing consumed: see below) */
    assert_int_equal(recv_msg(t->b, "carol", &e1, "late"), CKV_ERR_INVALID_MESSAGE);
    /* within it: received */
    age_prev(t->b, CKV_ROTATION_GRACE - 100);
    assert_int_equal(recv_msg(t->b, "carol", &e1, "late"), CKV_OK);
    /* the old key pair is forgotten once the period is over */
    assert_int_equal(ckv_identity_prev_expire(t->b), CKV_OK);
    assert_int_equal(ckv_meta_get(t->b, "identity_prev", &rec, &n), CKV_OK);
    assert_int_equal(n, 33 + 32 + 4 + 8);
    sodium_memzero(rec, n);
    free(rec);
    age_prev(t->b, CKV_ROTATION_GRACE + 10);
    assert_int_equal(ckv_identity_prev_expire(t->b), CKV_OK);
    rec = NULL;
    assert_int_equal(ckv_meta_get(t->b, "identity_prev", &rec, &n), CKV_OK);
    assert_int_equal(n, 0);
    free(rec);
    /* a PreKey message made from the new bundle is received */
    ckv_envelope_clear(&e1);
    start(t->a, t->b, "bob");
    send_msg(t->a, "bob", "fresh", &e2);
    assert_int_equal(recv_msg(t->b, "alice", &e2, "fresh"), CKV_OK);
    ckv_envelope_clear(&e2);
}

/* Two rotations in a row: a PreKey message made from each of the two old
 * bundles is still received; a third rotation keeps the newest two old key
 * pairs, and a message made from the first bundle is then refused. */
static void test_rotations_in_a_row(void **state)
{
    struct trio *t = *state;
    ckv_envelope e1, e2, e1b;
    uint8_t k1[CKV_IDENTITY_KEY_LEN], k2[CKV_IDENTITY_KEY_LEN], k3[CKV_IDENTITY_KEY_LEN];
    uint8_t pubs[4][CKV_IDENTITY_KEY_LEN];
    ckv_bundle b1;

    ckv_profile_identity_key(t->b, k1);
    assert_int_equal(ckv_profile_export_bundle(t->b, 1, &b1), CKV_OK); /* kept for later */
    start(t->c, t->b, "bob");
    send_msg(t->c, "bob", "from bundle 1", &e1);
    rotate(t->b);
    ckv_profile_identity_key(t->b, k2);
    start(t->a, t->b, "bob");
    send_msg(t->a, "bob", "from bundle 2", &e2);
    rotate(t->b);
    ckv_profile_identity_key(t->b, k3);
    assert_int_equal(prev_keys(t->b, pubs), 2);
    assert_memory_equal(pubs[0], k1, CKV_IDENTITY_KEY_LEN);
    assert_memory_equal(pubs[1], k2, CKV_IDENTITY_KEY_LEN);
    assert_int_equal(recv_msg(t->b, "alice", &e2, "from bundle 2"), CKV_OK);
    assert_int_equal(recv_msg(t->b, "carol", &e1, "from bundle 1"), CKV_OK);
    /* expiry keeps what is in its grace period */
    assert_int_equal(ckv_identity_prev_expire(t->b), CKV_OK);
    assert_int_equal(prev_keys(t->b, pubs), 2);

    /* a third rotation: the newest two are kept */
    rotate(t->b);
    assert_int_equal(prev_keys(t->b, pubs), 2);
    assert_memory_equal(pubs[0], k2, CKV_IDENTITY_KEY_LEN);
    assert_memory_equal(pubs[1], k3, CKV_IDENTITY_KEY_LEN);
    /* a new sender with the first bundle: refused (its signed prekey is
     * gone too: the current one and two before it are kept) */
    {
        ckv_profile *d = mk(t->tmp, "dave");
        assert_int_equal(ckv_session_start(d, "bob", &b1, NULL), CKV_OK);
        send_msg(d, "bob", "too late", &e1b);
        assert_int_equal(recv_msg(t->b, "dave", &e1b, "too late"), CKV_ERR_NO_PREKEY);
        ckv_envelope_clear(&e1b);
        ckv_profile_close(d);
    }
    ckv_envelope_clear(&e1);
    ckv_envelope_clear(&e2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_in_flight_survive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grace_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotations_in_a_row, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
