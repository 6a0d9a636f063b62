/*
 * test_trust.c: contacts and trust states. Verification by code (which
 * group differs), by public code; a verified contact's changed key (from a
 * bundle and from an incoming PreKey message) blocks EVERY encrypt until
 * re-verified or accepted, and survives restarts; an unverified contact's
 * change is recorded and reported, not blocked; a PreKey message whose
 * unauthenticated identity field was altered changes no trust state;
 * logged state; the journal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"

struct world {
    char *tmp;
    char *dirs[4];
    ckv_profile *p[4]; /* 0 alice, 1 bob, 2 bob after a reinstall, 3 carol */
};

static const char *const names[4] = {"alice", "bob", "bob", "carol"};
static const char *const subdirs[4] = {"alice", "bob", "bob2", "carol"};

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->tmp = tmpdir_make();
    for (int i = 0; i < 4; i++) {
        w->dirs[i] = path_join(w->tmp, subdirs[i]);
        assert_int_equal(ckv_profile_create(w->dirs[i], names[i], TEST_PASS, TEST_PASS_LEN,
                                            CKV_KDF_MIN, &w->p[i]),
                         CKV_OK);
    }
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    for (int i = 0; i < 4; i++) {
        ckv_profile_close(w->p[i]);
        free(w->dirs[i]);
    }
    tmpdir_remove(w->tmp);
    free(w->tmp);
    free(w);
    return 0;
}

static void reopen(struct world *w, int i)
{
    ckv_profile_close(w->p[i]);
    w->p[i] = NULL;
    assert_int_equal(ckv_profile_open(w->dirs[i], TEST_PASS, TEST_PASS_LEN, &w->p[i]), CKV_OK);
}

static void start(struct world *w, int from, int to, ckv_trust_report *rep)
{
    ckv_bundle b;
    assert_int_equal(ckv_profile_export_bundle(w->p[to], 1, &b), CKV_OK);
    assert_int_equal(ckv_session_start(w->p[from], names[to], &b, rep), CKV_OK);
}

static ckv_status deliver(struct world *w, int from, int to, const char *text,
                          ckv_trust_report *rep, ckv_envelope *keep)
{
    ckv_envelope e;
    uint8_t *pt = NULL;
    size_t n = 0;
    memset(&e, 0, sizeof e);
    assert_int_equal(ckv_session_encrypt(w->p[from], names[to], (const uint8_t *)text,
                                         strlen(text), &e),
                     CKV_OK);
    ckv_status st = ckv_session_decrypt(w->p[to], names[from], &e, &pt, &n, rep);
    if (st == CKV_OK) {
        assert_int_equal(n, strlen(text));
        assert_memory_equal(pt, text, n);
    } else {
        assert_null(pt);
    }
    free(pt);
    if (keep != NULL)
        *keep = e;
    else
        ckv_envelope_clear(&e);
    return st;
}

static ckv_status try_send(struct world *w, int from, const char *to)
{
    ckv_envelope e;
    memset(&e, 0, sizeof e);
    ckv_status st = ckv_session_encrypt(w->p[from], to, (const uint8_t *)"x", 1, &e);
    ckv_envelope_clear(&e);
    return st;
}

static ckv_trust_state state_of(struct world *w, int at, const char *who)
{
    ckv_contact *c = NULL;
    assert_int_equal(ckv_contact_get(w->p[at], who, &c), CKV_OK);
    ckv_trust_state s = c->state;
    ckv_contact_free(c);
    return s;
}

static void test_codes_and_verification(void **state)
{
    struct world *w = *state;
    ckv_safety_number sa, sb;
    uint8_t key[33], bobkey[33];
    char bob_code[31], wrong[80];
    ckv_code_compare cmp;

    start(w, 0, 1, NULL);
    assert_int_equal(deliver(w, 0, 1, "hi", NULL, NULL), CKV_OK);
    /* both sides see the same 60 digits */
    assert_int_equal(ckv_profile_safety_number(w->p[0], "bob", 0, &sa, key), CKV_OK);
    assert_int_equal(ckv_profile_safety_number(w->p[1], "alice", 0, &sb, NULL), CKV_OK);
    assert_string_equal(sa.digits, sb.digits);
    assert_int_equal(strlen(sa.digits), 60);
    ckv_profile_identity_key(w->p[1], bobkey);
    assert_memory_equal(key, bobkey, 33);
    /* the 60 digits are the two public codes, sorted */
    char ac[31];
    assert_int_equal(ckv_profile_public_code(w->p[0], ac), CKV_OK);
    assert_int_equal(ckv_profile_public_code(w->p[1], bob_code), CKV_OK);
    assert_true(strstr(sa.digits, ac) != NULL);
    assert_true(strstr(sa.digits, bob_code) != NULL);
    /* a scanned QR from bob's screen matches alice's expectation, both versions */
    assert_int_equal(ckv_profile_compare_scanned(w->p[0], "bob", sb.scannable, sb.scannable_len,
                                                 NULL),
                     CKV_OK);
    ckv_safety_number sb2;
    assert_int_equal(ckv_profile_safety_number(w->p[1], "alice", 2, &sb2, NULL), CKV_OK);
    assert_int_equal(ckv_profile_compare_scanned(w->p[0], "bob", sb2.scannable, sb2.scannable_len,
                                                 NULL),
                     CKV_OK);
    /* alice's own code is not what she expects to scan from bob */
    assert_int_equal(ckv_profile_compare_scanned(w->p[0], "bob", sa.scannable, sa.scannable_len,
                                                 NULL),
                     CKV_ERR_CODE_MISMATCH);
    assert_int_equal(ckv_profile_compare_scanned(w->p[0], "bob", (const uint8_t *)"junk", 4, NULL),
                     CKV_ERR_MALFORMED);

    /* pasted safety number, with spaces */
    char pretty[80];
    assert_int_equal(ckv_fingerprint_format(sb.digits, pretty, sizeof pretty), CKV_OK);
    assert_int_equal(ckv_profile_compare_code(w->p[0], "bob", pretty, &cmp, NULL), CKV_OK);
    assert_int_equal(cmp.kind, 60);
    assert_int_equal(cmp.first_bad_group, 0);
    /* one digit wrong in group 7 */
    snprintf(wrong, sizeof wrong, "%s", sb.digits);
    wrong[32] = wrong[32] == '9' ? '0' : (char)(wrong[32] + 1);
    assert_int_equal(ckv_profile_compare_code(w->p[0], "bob", wrong, &cmp, NULL),
                     CKV_ERR_CODE_MISMATCH);
    assert_int_equal(cmp.first_bad_group, 7);
    assert_int_equal(cmp.n_bad_groups, 1);
    assert_int_equal(ckv_profile_compare_code(w->p[0], "bob", "12345", &cmp, NULL),
                     CKV_ERR_MALFORMED);
    assert_int_equal(ckv_profile_compare_code(w->p[0], "bob", "1234x", &cmp, NULL),
                     CKV_ERR_MALFORMED);
    /* bob's public code (30 digits); group 2 wrong */
    snprintf(wrong, sizeof wrong, "%s", bob_code);
    wrong[5] = wrong[5] == '9' ? '0' : (char)(wrong[5] + 1);
    assert_int_equal(ckv_profile_compare_code(w->p[0], "bob", wrong, &cmp, NULL),
                     CKV_ERR_CODE_MISMATCH);
    assert_int_equal(cmp.kind, 30);
    assert_int_equal(cmp.first_bad_group, 2);
    assert_int_equal(ckv_contact_get(w->p[0], "nobody", &(ckv_contact *){NULL}),
                     CKV_ERR_NO_CONTACT);
    assert_int_equal(ckv_profile_compare_code(w->p[0], "bob", bob_code, &cmp, key), CKV_OK);
    assert_int_equal(ckv_contact_verify(w->p[0], "bob", CKV_VERIFY_PUBLIC_CODE, key), CKV_OK);
    reopen(w, 0);
    ckv_contact *c = NULL;
    assert_int_equal(ckv_contact_get(w->p[0], "BOB", &c), CKV_OK);
    assert_int_equal(c->state, CKV_TRUST_VERIFIED);
    assert_int_equal(c->method, CKV_VERIFY_PUBLIC_CODE);
    assert_true(c->method_at > 0);
    assert_true(c->has_session);
    assert_int_equal(c->n_events, 2);
    assert_int_equal(c->events[0].kind, CKV_EVENT_FIRST_SEEN);
    assert_int_equal(c->events[1].kind, CKV_EVENT_VERIFIED);
    ckv_contact_free(c);
    /* verifying a key other than the pinned one is refused */
    uint8_t other[33];
    memcpy(other, key, 33);
    other[10] ^= 1;
    assert_int_equal(ckv_contact_verify(w->p[0], "bob", CKV_VERIFY_IN_PERSON, other),
                     CKV_ERR_UNTRUSTED_IDENTITY);
}

/* bob reinstalls (new key); alice imports his new bundle. */
static void test_verified_change_from_bundle_blocks(void **state)
{
    struct world *w = *state;
    ckv_trust_report rep;

    start(w, 0, 1, NULL);
    assert_int_equal(deliver(w, 0, 1, "one", NULL, NULL), CKV_OK);
    assert_int_equal(ckv_contact_verify(w->p[0], "bob", CKV_VERIFY_IN_PERSON, NULL), CKV_OK);
    assert_int_equal(try_send(w, 0, "bob"), CKV_OK);

    memset(&rep, 0, sizeof rep);
    start(w, 0, 2, &rep); /* new bob */
    assert_true(rep.key_changed);
    assert_true(rep.blocked);
    assert_int_equal(rep.state, CKV_TRUST_CHANGED);
    uint8_t k1[33], k2[33];
    ckv_profile_identity_key(w->p[1], k1);
    ckv_profile_identity_key(w->p[2], k2);
    assert_memory_equal(rep.old_key, k1, 33);
    assert_memory_equal(rep.new_key, k2, 33);
    /* blocked before every encrypt, across restarts */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(try_send(w, 0, "bob"), CKV_ERR_KEY_CHANGED_BLOCKED);
        reopen(w, 0);
    }
    assert_int_equal(state_of(w, 0, "bob"), CKV_TRUST_CHANGED);
    /* accept: unverified, sending allowed, journal says so */
    assert_int_equal(ckv_contact_accept(w->p[0], "bob", k2), CKV_OK);
    assert_int_equal(ckv_contact_accept(w->p[0], "bob", NULL), CKV_ERR_INVALID_ARG);
    assert_int_equal(state_of(w, 0, "bob"), CKV_TRUST_UNVERIFIED);
    assert_int_equal(deliver(w, 0, 2, "to new bob", NULL, NULL), CKV_OK);
    ckv_contact *c = NULL;
    assert_int_equal(ckv_contact_get(w->p[0], "bob", &c), CKV_OK);
    assert_int_equal(c->method, CKV_VERIFY_ACCEPTED);
    assert_int_equal(c->n_events, 4);
    assert_int_equal(c->events[2].kind, CKV_EVENT_KEY_CHANGED);
    assert_memory_equal(c->events[2].old_key, k1, 33);
    assert_memory_equal(c->events[2].key, k2, 33);
    assert_int_equal(c->events[3].kind, CKV_EVENT_ACCEPTED);
    ckv_contact_free(c);
}

static void test_reverify_lifts_block(void **state)
{
    struct world *w = *state;
    start(w, 0, 1, NULL);
    assert_int_equal(ckv_contact_verify(w->p[0], "bob", CKV_VERIFY_IN_PERSON, NULL), CKV_OK);
    start(w, 0, 2, NULL);
    assert_int_equal(try_send(w, 0, "bob"), CKV_ERR_KEY_CHANGED_BLOCKED);
    uint8_t key[33];
    ckv_safety_number sn;
    assert_int_equal(ckv_profile_safety_number(w->p[0], "bob", 1, &sn, key), CKV_OK);
    assert_int_equal(ckv_contact_verify(w->p[0], "bob", CKV_VERIFY_IN_PERSON, key), CKV_OK);
    assert_int_equal(state_of(w, 0, "bob"), CKV_TRUST_VERIFIED);
    assert_int_equal(deliver(w, 0, 2, "verified again", NULL, NULL), CKV_OK);
}

/* alice verified bob; new bob starts a session with alice and writes first. */
static void test_verified_change_from_message_refused_then_accepted(void **state)
{
    struct world *w = *state;
    ckv_trust_report rep;
    ckv_envelope e;
    uint8_t *pt = NULL;
    size_t n = 0;

    start(w, 1, 0, NULL); /* old bob -> alice */
    assert_int_equal(deliver(w, 1, 0, "from old bob", NULL, NULL), CKV_OK);
    assert_int_equal(ckv_contact_verify(w->p[0], "bob", CKV_VERIFY_IN_PERSON, NULL), CKV_OK);

    start(w, 2, 0, NULL); /* new bob -> alice */
    memset(&rep, 0, sizeof rep);
    assert_int_equal(deliver(w, 2, 0, "from new bob", &rep, &e), CKV_ERR_UNTRUSTED_IDENTITY);
    assert_true(rep.key_changed);
    assert_true(rep.blocked);
    reopen(w, 0);
    assert_int_equal(state_of(w, 0, "bob"), CKV_TRUST_CHANGED);
    assert_int_equal(try_send(w, 0, "bob"), CKV_ERR_KEY_CHANGED_BLOCKED);
    /* the refused message is not in the history */
    ckv_message *m = NULL;
    size_t count = 0;
    assert_int_equal(ckv_history_list(w->p[0], "bob", 0, &m, &count), CKV_OK);
    assert_int_equal(count, 1);
    ckv_history_free(m, count);
    /* still refused when retried before a decision */
    assert_int_equal(ckv_session_decrypt(w->p[0], "bob", &e, &pt, &n, NULL),
                     CKV_ERR_UNTRUSTED_IDENTITY);
    assert_int_equal(ckv_contact_accept(w->p[0], "bob", NULL), CKV_OK);
    assert_int_equal(ckv_session_decrypt(w->p[0], "bob", &e, &pt, &n, &rep), CKV_OK);
    assert_memory_equal(pt, "from new bob", n);
    free(pt);
    ckv_envelope_clear(&e);
    assert_int_equal(deliver(w, 0, 2, "hello new bob", NULL, NULL), CKV_OK);
}

/* carol is unverified; carol's key changes: recorded, reported, not blocked. */
static void test_unverified_change_recorded_not_blocked(void **state)
{
    struct world *w = *state;
    ckv_trust_report rep;
    start(w, 1, 0, NULL); /* bob -> alice */
    assert_int_equal(deliver(w, 1, 0, "hi", &rep, NULL), CKV_OK);
    assert_true(rep.new_contact);
    assert_int_equal(rep.state, CKV_TRUST_UNVERIFIED);
    /* the log vouches for bob's key */
    uint8_t k1[33], k2[33];
    ckv_profile_identity_key(w->p[1], k1);
    ckv_profile_identity_key(w->p[2], k2);
    assert_int_equal(ckv_contact_set_logged(w->p[0], "bob", k2), CKV_ERR_UNTRUSTED_IDENTITY);
    assert_int_equal(ckv_contact_set_logged(w->p[0], "bob", k1), CKV_OK);
    assert_int_equal(state_of(w, 0, "bob"), CKV_TRUST_LOGGED);
    start(w, 2, 0, NULL);
    memset(&rep, 0, sizeof rep);
    assert_int_equal(deliver(w, 2, 0, "new key, same name", &rep, NULL), CKV_OK);
    assert_true(rep.key_changed);
    assert_false(rep.blocked);
    assert_memory_equal(rep.old_key, k1, 33);
    assert_memory_equal(rep.new_key, k2, 33);
    reopen(w, 0);
    assert_int_equal(state_of(w, 0, "bob"), CKV_TRUST_UNVERIFIED);
    assert_int_equal(deliver(w, 0, 2, "reply", NULL, NULL), CKV_OK);
    ckv_contact *c = NULL;
    assert_int_equal(ckv_contact_get(w->p[0], "bob", &c), CKV_OK);
    assert_memory_equal(c->identity_key, k2, 33);
    assert_int_equal(c->events[c->n_events - 1].kind, CKV_EVENT_KEY_CHANGED);
    ckv_contact_free(c);
    /* list */
    ckv_contact *list = NULL;
    size_t n = 0;
    assert_int_equal(ckv_contact_list(w->p[0], &list, &n), CKV_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "bob");
    ckv_contact_list_free(list, n);
}

/* Altering the (unauthenticated) identity field of a PreKey message. */
static void test_prekey_identity_field_tampering(void **state)
{
    struct world *w = *state;
    ckv_envelope e, bad;
    ckv_trust_report rep;
    uint8_t *pt = NULL, carol_key[33];
    size_t n = 0;

    ckv_profile_identity_key(w->p[3], carol_key);
    start(w, 3, 0, NULL); /* carol -> alice */
    memset(&e, 0, sizeof e);
    assert_int_equal(ckv_session_encrypt(w->p[3], "alice", (const uint8_t *)"m1", 2, &e), CKV_OK);
    assert_int_equal(e.type, CKV_MSG_PREKEY);
    /* find carol's identity key inside the message and alter it */
    size_t off = 0;
    for (off = 0; off + 33 <= e.body_len; off++)
        if (memcmp(e.body + off, carol_key, 33) == 0)
            break;
    assert_true(off + 33 <= e.body_len);
    bad.type = e.type;
    bad.body_len = e.body_len;
    bad.body = malloc(e.body_len);
    memcpy(bad.body, e.body, e.body_len);
    bad.body[off + 20] ^= 0x04;
    /* new session: X3DH with the wrong key does not authenticate; no contact made */
    assert_int_equal(ckv_session_decrypt(w->p[0], "carol", &bad, &pt, &n, NULL),
                     CKV_ERR_INVALID_MESSAGE);
    assert_int_equal(ckv_contact_get(w->p[0], "carol", &(ckv_contact *){NULL}), CKV_ERR_NO_CONTACT);
    assert_int_equal(ckv_session_decrypt(w->p[0], "carol", &e, &pt, &n, &rep), CKV_OK);
    free(pt);
    assert_true(rep.new_contact);
    ckv_envelope_clear(&e);
    ckv_envelope_clear(&bad);
    /* existing session: a second PreKey message with an altered identity
     * field decrypts under the session's (authentic) key and changes no
     * trust state */
    memset(&e, 0, sizeof e);
    assert_int_equal(ckv_session_encrypt(w->p[3], "alice", (const uint8_t *)"m2", 2, &e), CKV_OK);
    assert_int_equal(e.type, CKV_MSG_PREKEY);
    for (off = 0; off + 33 <= e.body_len; off++)
        if (memcmp(e.body + off, carol_key, 33) == 0)
            break;
    assert_true(off + 33 <= e.body_len);
    e.body[off + 20] ^= 0x04;
    memset(&rep, 0, sizeof rep);
    assert_int_equal(ckv_session_decrypt(w->p[0], "carol", &e, &pt, &n, &rep), CKV_OK);
    free(pt);
    assert_false(rep.key_changed);
    ckv_contact *c = NULL;
    assert_int_equal(ckv_contact_get(w->p[0], "carol", &c), CKV_OK);
    assert_memory_equal(c->identity_key, carol_key, 33);
    assert_int_equal(c->n_events, 1);
    ckv_contact_free(c);
    ckv_envelope_clear(&e);
}

static void test_names(void **state)
{
    struct world *w = *state;
    assert_string_equal(ckv_trust_state_name(CKV_TRUST_CHANGED), "changed");
    assert_string_equal(ckv_verify_method_name(CKV_VERIFY_PUBLIC_CODE), "public-code");
    assert_int_equal(ckv_contact_verify(w->p[0], "nobody", CKV_VERIFY_IN_PERSON, NULL),
                     CKV_ERR_NO_CONTACT);
    assert_int_equal(ckv_contact_verify(w->p[0], "bob", CKV_VERIFY_ACCEPTED, NULL),
                     CKV_ERR_INVALID_ARG);
    uint8_t k[33];
    ckv_profile_identity_key(w->p[1], k);
    ckv_trust_report rep;
    assert_int_equal(ckv_contact_pin(w->p[0], "Bob", k, &rep), CKV_OK);
    assert_true(rep.new_contact);
    assert_int_equal(ckv_contact_unverify(w->p[0], "bob"), CKV_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_codes_and_verification, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verified_change_from_bundle_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reverify_lifts_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verified_change_from_message_refused_then_accepted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_unverified_change_recorded_not_blocked, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prekey_identity_field_tampering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
