/*
 * test_txn.c: nested transactions (core/db.c). The online client runs a
 * whole fetched batch in one transaction, each message's decrypt a
 * savepoint inside it (core/messages.c). These tests pin down what that
 * relies on:
 *   - an inner commit joins the outer transaction; an inner rollback undoes
 *     only its own part; an outer rollback undoes everything, inner commits
 *     included;
 *   - a decrypt that fails inside the batch (a tampered message) undoes
 *     only itself: the messages around it stay decrypted and stored once
 *     the batch commits, and the untampered copy still decrypts after;
 *   - a batch rolled back stores nothing: the same envelopes decrypt again
 *     (they are not taken for duplicates), even after a restart.
 * Profiles are real SQLite files, closed and reopened between steps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../core/internal.h"
#include "helpers.h"

#define BOB_PASS ((const uint8_t *)"pw-bob")
#define BOB_PASS_LEN 6

struct pair {
    char *tmp, *adir, *bdir;
    ckv_profile *a, *b;
};

static int setup(void **state)
{
    struct pair *t = calloc(1, sizeof *t);
    ckv_bundle bundle;
    ckv_trust_report rep;
    assert_non_null(t);
    t->tmp = tmpdir_make();
    assert_non_null(t->tmp);
    t->adir = path_join(t->tmp, "alice");
    t->bdir = path_join(t->tmp, "bob");
    assert_int_equal(ckv_profile_create(t->adir, "alice", TEST_PASS, TEST_PASS_LEN, CKV_KDF_MIN,
                                        &t->a),
                     CKV_OK);
    assert_int_equal(
        ckv_profile_create(t->bdir, "bob", BOB_PASS, BOB_PASS_LEN, CKV_KDF_MIN, &t->b), CKV_OK);
    assert_int_equal(ckv_profile_export_bundle(t->b, 1, &bundle), CKV_OK);
    assert_int_equal(ckv_session_start(t->a, "bob", &bundle, &rep), CKV_OK);
    /* one message each way: Alice's next ones are plain Signal messages
     * (type 2), whose last 8 bytes are the MAC */
    {
        ckv_envelope e;
        uint8_t *pt = NULL;
        size_t n = 0;
        memset(&e, 0, sizeof e);
        assert_int_equal(ckv_session_encrypt(t->a, "bob", (const uint8_t *)"hi", 2, &e), CKV_OK);
        assert_int_equal(ckv_session_decrypt(t->b, "alice", &e, &pt, &n, NULL), CKV_OK);
        free(pt);
        ckv_envelope_clear(&e);
        assert_int_equal(ckv_session_encrypt(t->b, "alice", (const uint8_t *)"yo", 2, &e), CKV_OK);
        assert_int_equal(ckv_session_decrypt(t->a, "bob", &e, &pt, &n, NULL), CKV_OK);
        free(pt);
        ckv_envelope_clear(&e);
    }
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct pair *t = *state;
    ckv_profile_close(t->a);
    ckv_profile_close(t->b);
    tmpdir_remove(t->tmp);
    free(t->tmp);
    free(t->adir);
    free(t->bdir);
    free(t);
    return 0;
}

static void reopen_bob(struct pair *t)
{
    ckv_profile_close(t->b);
    t->b = NULL;
    assert_int_equal(ckv_profile_open(t->bdir, BOB_PASS, BOB_PASS_LEN, &t->b), CKV_OK);
}

static void put(ckv_profile *p, const char *k, const char *v)
{
    assert_int_equal(ckv_meta_put(p, k, (const uint8_t *)v, strlen(v)), CKV_OK);
}

/* 1 when k holds v, 0 when k is absent (anything else fails the test). */
static int has(ckv_profile *p, const char *k, const char *v)
{
    uint8_t *got = NULL;
    size_t n = 0;
    ckv_status st = ckv_meta_get(p, k, &got, &n);
    if (st == CKV_ERR_NOT_FOUND)
        return 0;
    assert_int_equal(st, CKV_OK);
    assert_int_equal(n, strlen(v));
    assert_memory_equal(got, v, n);
    free(got);
    return 1;
}

static void test_nesting_rules(void **state)
{
    struct pair *t = *state;
    ckv_profile *p = t->b;

    /* inner commit joins, inner rollback undoes its own part only */
    assert_int_equal(ckv_db_begin(p), CKV_OK);
    put(p, "t:outer", "1");
    assert_int_equal(ckv_db_begin(p), CKV_OK);
    put(p, "t:undone", "2");
    ckv_db_rollback(p);
    assert_int_equal(has(p, "t:undone", "2"), 0);
    assert_int_equal(has(p, "t:outer", "1"), 1); /* the outer part survives */
    assert_int_equal(ckv_db_begin(p), CKV_OK);
    put(p, "t:inner", "3");
    assert_int_equal(ckv_db_begin(p), CKV_OK); /* two levels deep */
    put(p, "t:deep", "4");
    assert_int_equal(ckv_db_commit(p), CKV_OK);
    assert_int_equal(ckv_db_commit(p), CKV_OK);
    assert_int_equal(p->txn_depth, 1);
    assert_int_equal(ckv_db_commit(p), CKV_OK);
    assert_int_equal(p->txn_depth, 0);
    reopen_bob(t);
    p = t->b;
    assert_int_equal(has(p, "t:outer", "1"), 1);
    assert_int_equal(has(p, "t:inner", "3"), 1);
    assert_int_equal(has(p, "t:deep", "4"), 1);
    assert_int_equal(has(p, "t:undone", "2"), 0);

    /* an outer rollback undoes inner commits too */
    assert_int_equal(ckv_db_begin(p), CKV_OK);
    assert_int_equal(ckv_db_begin(p), CKV_OK);
    put(p, "t:lost", "5");
    assert_int_equal(ckv_db_commit(p), CKV_OK);
    ckv_db_rollback(p);
    assert_int_equal(p->txn_depth, 0);
    reopen_bob(t);
    assert_int_equal(has(t->b, "t:lost", "5"), 0);

    /* a rollback with nothing open is harmless; the next begin works */
    ckv_db_rollback(t->b);
    assert_int_equal(ckv_db_begin(t->b), CKV_OK);
    put(t->b, "t:after", "6");
    assert_int_equal(ckv_db_commit(t->b), CKV_OK);
    assert_int_equal(has(t->b, "t:after", "6"), 1);
}

static void encrypt3(struct pair *t, ckv_envelope m[3])
{
    static const char *const text[3] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++) {
        memset(&m[i], 0, sizeof m[i]);
        assert_int_equal(ckv_session_encrypt(t->a, "bob", (const uint8_t *)text[i],
                                             strlen(text[i]), &m[i]),
                         CKV_OK);
    }
}

static void decrypt_is(ckv_profile *p, const ckv_envelope *e, const char *want)
{
    uint8_t *pt = NULL;
    size_t n = 0;
    assert_int_equal(ckv_session_decrypt(p, "alice", e, &pt, &n, NULL), CKV_OK);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(pt, want, n);
    free(pt);
}

static size_t history_len(ckv_profile *p)
{
    ckv_message *m = NULL;
    size_t n = 0;
    assert_int_equal(ckv_history_list(p, "alice", 100, &m, &n), CKV_OK);
    ckv_history_free(m, n);
    return n;
}

static void test_batch_with_a_failed_decrypt(void **state)
{
    struct pair *t = *state;
    ckv_envelope m[3], bad;
    uint8_t *pt = NULL;
    size_t n = 0;

    size_t h0 = history_len(t->b);
    encrypt3(t, m);
    assert_int_equal(m[1].type, CKV_MSG_NORMAL);
    memset(&bad, 0, sizeof bad);
    bad.type = m[1].type;
    bad.body_len = m[1].body_len;
    bad.body = malloc(bad.body_len);
    assert_non_null(bad.body);
    memcpy(bad.body, m[1].body, bad.body_len);
    bad.body[bad.body_len - 3] ^= 0x01; /* inside the MAC (the last 8 bytes) */

    assert_int_equal(ckv_db_begin(t->b), CKV_OK); /* the batch */
    decrypt_is(t->b, &m[0], "one");
    assert_int_not_equal(ckv_session_decrypt(t->b, "alice", &bad, &pt, &n, NULL), CKV_OK);
    assert_null(pt);
    decrypt_is(t->b, &m[2], "three");
    assert_int_equal(t->b->txn_depth, 1);
    assert_int_equal(ckv_db_commit(t->b), CKV_OK);
    reopen_bob(t);
    assert_int_equal(history_len(t->b), h0 + 2);
    /* the genuine second message still decrypts (its key was kept) */
    decrypt_is(t->b, &m[1], "two");
    assert_int_equal(history_len(t->b), h0 + 3);
    /* and all three are now duplicates */
    for (int i = 0; i < 3; i++)
        assert_int_equal(ckv_session_decrypt(t->b, "alice", &m[i], &pt, &n, NULL),
                         CKV_ERR_DUPLICATE_MESSAGE);
    ckv_envelope_clear(&bad);
    for (int i = 0; i < 3; i++)
        ckv_envelope_clear(&m[i]);
}

static void test_batch_rolled_back_stores_nothing(void **state)
{
    struct pair *t = *state;
    ckv_envelope m[3];
    size_t h0 = history_len(t->b);

    encrypt3(t, m);
    assert_int_equal(ckv_db_begin(t->b), CKV_OK);
    for (int i = 0; i < 3; i++)
        decrypt_is(t->b, &m[i], i == 0 ? "one" : i == 1 ? "two" : "three");
    ckv_db_rollback(t->b); /* e.g. the batch's commit failed */
    reopen_bob(t);
    assert_int_equal(history_len(t->b), h0);
    /* delivered again (ckvd was never told): decrypts as new, in order */
    decrypt_is(t->b, &m[0], "one");
    decrypt_is(t->b, &m[1], "two");
    decrypt_is(t->b, &m[2], "three");
    assert_int_equal(history_len(t->b), h0 + 3);
    for (int i = 0; i < 3; i++)
        ckv_envelope_clear(&m[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nesting_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_with_a_failed_decrypt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_rolled_back_stores_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
