/*
 * test_session.c: two profiles (real SQLite files in a temporary directory)
 * talk in both directions through the JSON formats, with both profiles
 * closed and reopened between every step; out-of-order delivery; duplicate
 * and tampered messages each give their own error and change nothing in
 * the file (a digest of every row before and after); passphrase change
 * keeps every session; in-memory profiles work the same.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <signal/group_cipher.h>
#include <signal/group_session_builder.h>
#include <signal/protocol.h>

#include "../../core/internal.h"
#include "helpers.h"

struct pair {
    char *tmp;
    char *adir, *bdir;
    char *afile, *bfile;
    ckv_profile *a, *b;
    const uint8_t *apass;
    size_t apass_len;
};

static int setup(void **state)
{
    struct pair *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->tmp = tmpdir_make();
    assert_non_null(t->tmp);
    t->adir = path_join(t->tmp, "alice");
    t->bdir = path_join(t->tmp, "bob");
    t->afile = path_join(t->adir, "profile.db");
    t->bfile = path_join(t->bdir, "profile.db");
    t->apass = TEST_PASS;
    t->apass_len = TEST_PASS_LEN;
    assert_int_equal(ckv_profile_create(t->adir, "Alice", TEST_PASS, TEST_PASS_LEN, CKV_KDF_MIN,
                                        &t->a),
                     CKV_OK);
    assert_int_equal(ckv_profile_create(t->bdir, "bob", (const uint8_t *)"pw-bob", 6, CKV_KDF_MIN,
                                        &t->b),
                     CKV_OK);
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
    free(t->afile);
    free(t->bfile);
    free(t);
    return 0;
}

/* Close and reopen both profiles: state must survive every step. */
static void restart(struct pair *t)
{
    ckv_profile_close(t->a);
    ckv_profile_close(t->b);
    t->a = t->b = NULL;
    assert_int_equal(ckv_profile_open(t->adir, t->apass, t->apass_len, &t->a), CKV_OK);
    assert_int_equal(ckv_profile_open(t->bdir, (const uint8_t *)"pw-bob", 6, &t->b), CKV_OK);
}

/* Serialise to JSON and parse back, as the files between two people would. */
static void through_json(ckv_envelope *e)
{
    char *json = NULL;
    ckv_envelope back;
    memset(&back, 0, sizeof back);
    assert_int_equal(ckv_envelope_to_json(e, &json), CKV_OK);
    assert_int_equal(ckv_envelope_parse(json, strlen(json), &back), CKV_OK);
    assert_int_equal(back.type, e->type);
    assert_int_equal(back.body_len, e->body_len);
    assert_memory_equal(back.body, e->body, e->body_len);
    free(json);
    ckv_envelope_clear(e);
    *e = back;
}

static void send_msg(ckv_profile *from, const char *to, const char *text, ckv_envelope *out)
{
    memset(out, 0, sizeof *out);
    assert_int_equal(ckv_session_encrypt(from, to, (const uint8_t *)text, strlen(text), out),
                     CKV_OK);
    through_json(out);
}

static void recv_ok(ckv_profile *at, const char *from, const ckv_envelope *e, const char *want,
                    ckv_trust_report *rep)
{
    uint8_t *pt = NULL;
    size_t n = 0;
    ckv_trust_report r;
    assert_int_equal(ckv_session_decrypt(at, from, e, &pt, &n, &r), CKV_OK);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(pt, want, n);
    assert_int_equal(pt[n], 0);
    free(pt);
    if (rep != NULL)
        *rep = r;
}

/* Decrypt must fail with `want` and leave the file exactly as it was. */
static void recv_fails_unchanged(struct pair *t, const char *from, const ckv_envelope *e,
                                 ckv_status want)
{
    uint8_t before[32], after[32], *pt = NULL;
    size_t n = 0;
    ckv_profile_close(t->b);
    t->b = NULL;
    assert_int_equal(db_digest(t->bfile, before), 0);
    assert_int_equal(ckv_profile_open(t->bdir, (const uint8_t *)"pw-bob", 6, &t->b), CKV_OK);
    assert_int_equal(ckv_session_decrypt(t->b, from, e, &pt, &n, NULL), want);
    assert_null(pt);
    ckv_profile_close(t->b);
    t->b = NULL;
    assert_int_equal(db_digest(t->bfile, after), 0);
    assert_memory_equal(before, after, 32);
    assert_int_equal(ckv_profile_open(t->bdir, (const uint8_t *)"pw-bob", 6, &t->b), CKV_OK);
}

static void start_alice_to_bob(struct pair *t)
{
    ckv_bundle b, parsed;
    char *json = NULL;
    ckv_trust_report rep;
    assert_int_equal(ckv_profile_export_bundle(t->b, 1, &b), CKV_OK);
    assert_true(b.has_prekey);
    assert_int_equal(ckv_bundle_to_json(&b, &json), CKV_OK);
    assert_int_equal(ckv_bundle_parse(json, strlen(json), &parsed), CKV_OK);
    assert_memory_equal(&parsed, &b, sizeof b);
    free(json);
    restart(t);
    assert_int_equal(ckv_session_start(t->a, " BOB ", &parsed, &rep), CKV_OK);
    assert_true(rep.new_contact);
    assert_false(rep.key_changed);
    assert_int_equal(rep.state, CKV_TRUST_UNVERIFIED);
    restart(t);
}

static void test_both_ways_with_restarts(void **state)
{
    struct pair *t = *state;
    ckv_envelope e1, e2, e3, e4;
    ckv_trust_report rep;
    size_t avail_before = 0, avail_after = 0;
    int has = 0;

    assert_int_equal(ckv_session_exists(t->a, "bob", &has), CKV_OK);
    assert_false(has);
    assert_int_equal(ckv_profile_prekeys_available(t->b, &avail_before), CKV_OK);
    start_alice_to_bob(t);
    assert_int_equal(ckv_session_exists(t->a, "bob", &has), CKV_OK);
    assert_true(has);

    send_msg(t->a, "bob", "hello bob", &e1);
    assert_int_equal(e1.type, CKV_MSG_PREKEY);
    restart(t);
    recv_ok(t->b, "alice", &e1, "hello bob", &rep);
    assert_true(rep.new_contact);
    restart(t);
    /* the one-time prekey was used and deleted: a replay is a duplicate */
    recv_fails_unchanged(t, "alice", &e1, CKV_ERR_DUPLICATE_MESSAGE);
    assert_int_equal(ckv_profile_prekeys_available(t->b, &avail_after), CKV_OK);
    assert_int_equal(avail_after + 1, avail_before);

    send_msg(t->b, "alice", "hi alice", &e2);
    assert_int_equal(e2.type, CKV_MSG_NORMAL);
    restart(t);
    recv_ok(t->a, "bob", &e2, "hi alice", NULL);
    restart(t);
    send_msg(t->a, "bob", "now normal", &e3);
    assert_int_equal(e3.type, CKV_MSG_NORMAL);
    restart(t);
    recv_ok(t->b, "alice", &e3, "now normal", NULL);
    restart(t);
    /* empty message */
    send_msg(t->b, "alice", "", &e4);
    restart(t);
    recv_ok(t->a, "bob", &e4, "", NULL);

    /* history on both sides, oldest first */
    ckv_message *m = NULL;
    size_t n = 0;
    assert_int_equal(ckv_history_list(t->a, "bob", 0, &m, &n), CKV_OK);
    assert_int_equal(n, 4);
    assert_true(m[0].outgoing);
    assert_memory_equal(m[0].body, "hello bob", 9);
    assert_false(m[1].outgoing);
    assert_memory_equal(m[1].body, "hi alice", 8);
    assert_int_equal(m[3].len, 0);
    ckv_history_free(m, n);
    assert_int_equal(ckv_history_list(t->b, "alice", 2, &m, &n), CKV_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(m[0].body, "now normal", 10);
    ckv_history_free(m, n);

    ckv_envelope_clear(&e1);
    ckv_envelope_clear(&e2);
    ckv_envelope_clear(&e3);
    ckv_envelope_clear(&e4);
}

static void test_out_of_order_duplicate_tampered(void **state)
{
    struct pair *t = *state;
    ckv_envelope e[6], bad;
    char text[32];

    start_alice_to_bob(t);
    /* first exchange, so that alice's next messages are normal (type 2)
     * and every byte of them is authenticated */
    send_msg(t->a, "bob", "setup", &bad);
    recv_ok(t->b, "alice", &bad, "setup", NULL);
    ckv_envelope_clear(&bad);
    send_msg(t->b, "alice", "ack", &bad);
    recv_ok(t->a, "bob", &bad, "ack", NULL);
    ckv_envelope_clear(&bad);
    restart(t);
    for (int i = 0; i < 6; i++) {
        snprintf(text, sizeof text, "message %d", i);
        send_msg(t->a, "bob", text, &e[i]);
        assert_int_equal(e[i].type, CKV_MSG_NORMAL);
        restart(t);
    }
    /* deliver 0, then 3 before 1 and 2 */
    recv_ok(t->b, "alice", &e[0], "message 0", NULL);
    restart(t);
    recv_ok(t->b, "alice", &e[3], "message 3", NULL);
    restart(t);
    recv_ok(t->b, "alice", &e[1], "message 1", NULL);
    restart(t);
    /* duplicates: each its own error, nothing changes */
    recv_fails_unchanged(t, "alice", &e[3], CKV_ERR_DUPLICATE_MESSAGE);
    recv_fails_unchanged(t, "alice", &e[1], CKV_ERR_DUPLICATE_MESSAGE);
    /* tampered: flip one bit in the ciphertext, in the MAC, in the version */
    size_t spots[3];
    spots[0] = e[4].body_len / 2;
    spots[1] = e[4].body_len - 1;
    spots[2] = 0; /* the version byte */
    for (int s = 0; s < 3; s++) {
        memset(&bad, 0, sizeof bad);
        bad.type = e[4].type;
        bad.body_len = e[4].body_len;
        bad.body = malloc(bad.body_len);
        assert_non_null(bad.body);
        memcpy(bad.body, e[4].body, bad.body_len);
        bad.body[spots[s]] ^= s == 2 ? 0x40 : 0x01;
        recv_fails_unchanged(t, "alice", &bad, CKV_ERR_INVALID_MESSAGE);
        ckv_envelope_clear(&bad);
    }
    /* truncated */
    memset(&bad, 0, sizeof bad);
    bad.type = e[4].type;
    bad.body_len = e[4].body_len - 10;
    bad.body = malloc(bad.body_len);
    memcpy(bad.body, e[4].body, bad.body_len);
    recv_fails_unchanged(t, "alice", &bad, CKV_ERR_INVALID_MESSAGE);
    ckv_envelope_clear(&bad);
    /* the genuine ones still decrypt afterwards */
    recv_ok(t->b, "alice", &e[4], "message 4", NULL);
    restart(t);
    recv_ok(t->b, "alice", &e[2], "message 2", NULL);
    restart(t);
    recv_ok(t->b, "alice", &e[5], "message 5", NULL);
    for (int i = 0; i < 6; i++)
        ckv_envelope_clear(&e[i]);
}

static void test_no_session_errors(void **state)
{
    struct pair *t = *state;
    ckv_envelope e;
    uint8_t *pt = NULL;
    size_t n = 0;
    memset(&e, 0, sizeof e);
    assert_int_equal(ckv_session_encrypt(t->a, "nobody", (const uint8_t *)"x", 1, &e),
                     CKV_ERR_NO_CONTACT);
    assert_int_equal(ckv_session_encrypt(t->a, "bad name!", (const uint8_t *)"x", 1, &e),
                     CKV_ERR_BAD_NAME);
    start_alice_to_bob(t);
    send_msg(t->a, "bob", "first", &e);
    /* a PreKey body in a normal-type envelope does not parse as a message */
    e.type = CKV_MSG_NORMAL;
    recv_fails_unchanged(t, "alice", &e, CKV_ERR_INVALID_MESSAGE);
    e.type = CKV_MSG_PREKEY;
    recv_ok(t->b, "alice", &e, "first", NULL);
    ckv_envelope_clear(&e);
    send_msg(t->b, "alice", "reply", &e);
    recv_ok(t->a, "bob", &e, "reply", NULL);
    ckv_envelope_clear(&e);
    send_msg(t->a, "bob", "normal", &e);
    assert_int_equal(e.type, CKV_MSG_NORMAL);
    /* a normal message from someone we have no session with */
    recv_fails_unchanged(t, "mallory", &e, CKV_ERR_NO_SESSION);
    ckv_envelope_clear(&e);
    /* garbage PreKey body */
    uint8_t junk[40];
    memset(junk, 0x33, sizeof junk);
    e.type = CKV_MSG_PREKEY;
    e.body = junk;
    e.body_len = sizeof junk;
    assert_int_equal(ckv_session_decrypt(t->b, "alice", &e, &pt, &n, NULL),
                     CKV_ERR_INVALID_MESSAGE);
    e.type = 7;
    assert_int_equal(ckv_session_decrypt(t->b, "alice", &e, &pt, &n, NULL), CKV_ERR_BAD_ENVELOPE);
}

static void test_passphrase_change_keeps_everything(void **state)
{
    struct pair *t = *state;
    ckv_envelope e1, e2;
    static const uint8_t newpass[] = "a new passphrase";
    uint8_t key_before[33], key_after[33];

    start_alice_to_bob(t);
    send_msg(t->a, "bob", "before", &e1);
    restart(t);
    recv_ok(t->b, "alice", &e1, "before", NULL);
    ckv_profile_identity_key(t->a, key_before);
    assert_int_equal(ckv_profile_change_passphrase(t->a, newpass, sizeof newpass - 1, CKV_KDF_MIN),
                     CKV_OK);
    /* keeps working in the same session of the profile */
    send_msg(t->a, "bob", "during", &e2);
    recv_ok(t->b, "alice", &e2, "during", NULL);
    ckv_envelope_clear(&e2);
    ckv_profile_close(t->a);
    t->a = NULL;
    assert_int_equal(ckv_profile_open(t->adir, TEST_PASS, TEST_PASS_LEN, &t->a),
                     CKV_ERR_WRONG_PASSPHRASE);
    assert_null(t->a);
    t->apass = newpass;
    t->apass_len = sizeof newpass - 1;
    restart(t);
    ckv_profile_identity_key(t->a, key_after);
    assert_memory_equal(key_before, key_after, 33);
    assert_string_equal(ckv_profile_account(t->a), "alice");
    send_msg(t->b, "alice", "after", &e2);
    restart(t);
    recv_ok(t->a, "bob", &e2, "after", NULL);
    ckv_message *m = NULL;
    size_t n = 0;
    assert_int_equal(ckv_history_list(t->a, "bob", 0, &m, &n), CKV_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(m[0].body, "before", 6);
    ckv_history_free(m, n);
    ckv_contact *c = NULL;
    assert_int_equal(ckv_contact_get(t->a, "bob", &c), CKV_OK);
    assert_true(c->has_session);
    ckv_contact_free(c);
    ckv_envelope_clear(&e1);
    ckv_envelope_clear(&e2);
}

static void test_memory_profiles(void **state)
{
    (void)state;
    ckv_profile *a = NULL, *b = NULL;
    ckv_bundle bb;
    ckv_envelope e;
    assert_int_equal(ckv_profile_create(NULL, "m-alice", TEST_PASS, TEST_PASS_LEN, CKV_KDF_MIN, &a),
                     CKV_OK);
    assert_int_equal(ckv_profile_create(NULL, "m-bob", TEST_PASS, TEST_PASS_LEN, CKV_KDF_MIN, &b),
                     CKV_OK);
    assert_int_equal(ckv_profile_export_bundle(b, 0, &bb), CKV_OK);
    assert_false(bb.has_prekey);
    assert_int_equal(ckv_session_start(a, "m-bob", &bb, NULL), CKV_OK);
    for (int i = 0; i < 50; i++) {
        send_msg(i % 2 ? b : a, i % 2 ? "m-alice" : "m-bob", "ping", &e);
        recv_ok(i % 2 ? a : b, i % 2 ? "m-bob" : "m-alice", &e, "ping", NULL);
        ckv_envelope_clear(&e);
    }
    ckv_profile_close(a);
    ckv_profile_close(b);
}

/* A bundle struct with a bad signature (not from the parser) is refused by
 * session start, and nothing is stored. */
static void test_start_refuses_bad_signature(void **state)
{
    struct pair *t = *state;
    ckv_bundle b;
    uint8_t before[32], after[32];
    ckv_contact *c = NULL;
    assert_int_equal(ckv_profile_export_bundle(t->b, 1, &b), CKV_OK);
    b.signed_prekey_signature[3] ^= 0x10;
    ckv_profile_close(t->a);
    t->a = NULL;
    assert_int_equal(db_digest(t->afile, before), 0);
    assert_int_equal(ckv_profile_open(t->adir, t->apass, t->apass_len, &t->a), CKV_OK);
    assert_int_equal(ckv_session_start(t->a, "bob", &b, NULL), CKV_ERR_BAD_BUNDLE);
    assert_int_equal(ckv_contact_get(t->a, "bob", &c), CKV_ERR_NO_CONTACT);
    b.signed_prekey_signature[3] ^= 0x10;
    b.identity_key[0] = 0x06;
    assert_int_equal(ckv_session_start(t->a, "bob", &b, NULL), CKV_ERR_BAD_BUNDLE);
    ckv_profile_close(t->a);
    t->a = NULL;
    assert_int_equal(db_digest(t->afile, after), 0);
    assert_memory_equal(before, after, 32);
    assert_int_equal(ckv_profile_open(t->adir, t->apass, t->apass_len, &t->a), CKV_OK);
}

/* The sender-key store (group messaging; libsignal's API directly): a
 * distribution message, then a group message, with restarts between. */
static void test_sender_key_store(void **state)
{
    struct pair *t = *state;
    signal_protocol_sender_key_name sk = {"group-1", 7, {"alice", 5, 1}};
    group_session_builder *gb = NULL;
    sender_key_distribution_message *dist = NULL, *dist_in = NULL;
    group_cipher *gc = NULL;
    ciphertext_message *ct = NULL;
    sender_key_message *skm = NULL;
    signal_buffer *pt = NULL, *ser = NULL;

    assert_int_equal(group_session_builder_create(&gb, t->a->store, t->a->sg), 0);
    assert_int_equal(group_session_builder_create_session(gb, &dist, &sk), 0);
    ser = signal_buffer_copy(ciphertext_message_get_serialized((ciphertext_message *)dist));
    group_session_builder_free(gb);
    SIGNAL_UNREF(dist);
    restart(t);
    assert_int_equal(group_session_builder_create(&gb, t->b->store, t->b->sg), 0);
    assert_int_equal(sender_key_distribution_message_deserialize(
                         &dist_in, signal_buffer_data(ser), signal_buffer_len(ser), t->b->sg),
                     0);
    assert_int_equal(group_session_builder_process_session(gb, &sk, dist_in), 0);
    group_session_builder_free(gb);
    SIGNAL_UNREF(dist_in);
    signal_buffer_free(ser);
    restart(t);
    assert_int_equal(group_cipher_create(&gc, t->a->store, &sk, t->a->sg), 0);
    assert_int_equal(group_cipher_encrypt(gc, (const uint8_t *)"to the group", 12, &ct), 0);
    ser = signal_buffer_copy(ciphertext_message_get_serialized(ct));
    group_cipher_free(gc);
    SIGNAL_UNREF(ct);
    restart(t);
    assert_int_equal(group_cipher_create(&gc, t->b->store, &sk, t->b->sg), 0);
    assert_int_equal(sender_key_message_deserialize(&skm, signal_buffer_data(ser),
                                                    signal_buffer_len(ser), t->b->sg),
                     0);
    assert_int_equal(group_cipher_decrypt(gc, skm, NULL, &pt), 0);
    assert_int_equal(signal_buffer_len(pt), 12);
    assert_memory_equal(signal_buffer_data(pt), "to the group", 12);
    /* a replay is refused */
    signal_buffer_free(pt);
    pt = NULL;
    assert_int_equal(group_cipher_decrypt(gc, skm, NULL, &pt), SG_ERR_DUPLICATE_MESSAGE);
    group_cipher_free(gc);
    SIGNAL_UNREF(skm);
    signal_buffer_free(ser);
}

static void test_too_large(void **state)
{
    struct pair *t = *state;
    ckv_envelope e;
    uint8_t *big = calloc(1, CKV_PLAINTEXT_MAX + 1);
    assert_non_null(big);
    start_alice_to_bob(t);
    memset(&e, 0, sizeof e);
    assert_int_equal(ckv_session_encrypt(t->a, "bob", big, CKV_PLAINTEXT_MAX + 1, &e),
                     CKV_ERR_TOO_LARGE);
    assert_int_equal(ckv_session_encrypt(t->a, "bob", big, CKV_PLAINTEXT_MAX, &e), CKV_OK);
    through_json(&e);
    uint8_t *pt = NULL;
    size_t n = 0;
    assert_int_equal(ckv_session_decrypt(t->b, "alice", &e, &pt, &n, NULL), CKV_OK);
    assert_int_equal(n, CKV_PLAINTEXT_MAX);
    free(pt);
    ckv_envelope_clear(&e);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_both_ways_with_restarts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order_duplicate_tampered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_session_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_passphrase_change_keeps_everything, setup, teardown),
        cmocka_unit_test(test_memory_profiles),
        cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_refuses_bad_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sender_key_store, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
