/*
 * test_rotation.c: no message is lost across a key rotation (core/identity.c)
 * or a frozen view (core/messages.c, held envelopes), against a real ckvd on
 * 127.0.0.1. Messages and receipts queued for the rotating user under its
 * old key (on old sessions, and PreKey messages made from its old bundle)
 * are all received after the rotation; every send after it starts a new
 * session under the new key, which the peer checks against the log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define OK(c, expr)                                                                            \
    do {                                                                                       \
        ckv_status st_ = (expr);                                                               \
        if (st_ != CKV_OK)                                                                     \
            fail_msg("%s: %s: %s", #expr, ckv_status_name(st_), ckv_client_last_error(c));    \
    } while (0)

static void send_text(user *u, const char *to, const char *text, uint64_t want_seq)
{
    uint64_t seq = 0;
    OK(u->c, ckv_client_send(u->c, to, (const uint8_t *)text, strlen(text), &seq));
    assert_int_equal(seq, want_seq);
}

static int has_text(const ckv_event *ev, size_t n, const char *from, const char *text)
{
    for (size_t i = 0; i < n; i++)
        if (ev[i].kind == CKV_EV_MESSAGE && strcmp(ev[i].contact, from) == 0 &&
            ev[i].text != NULL && strcmp(ev[i].text, text) == 0)
            return 1;
    return 0;
}

static int has_receipt(const ckv_event *ev, size_t n, const char *from, uint64_t seq)
{
    for (size_t i = 0; i < n; i++)
        if (ev[i].kind == CKV_EV_RECEIPT && strcmp(ev[i].contact, from) == 0 &&
            ev[i].seq == seq)
            return 1;
    return 0;
}

/* alice rotates while bob's messages (old session) and carol's first
 * message (a PreKey message made from alice's old bundle) wait on ckvd, and
 * bob sends again right after the rotation (his proof of alice's old key is
 * still fresh): alice receives all of them, none is rejected; her replies
 * and receipts go on new sessions under her new key. */
static void test_rotate_in_flight(void **state)
{
    srv s;
    user a, b, c;
    ckv_event *ev = NULL;
    size_t n = 0;
    uint8_t old_key[33], new_key[33];
    ckv_contact *ct = NULL;
    (void)state;

    srv_start(&s);
    user_new(&a, &s, "alice", NULL);
    user_new(&b, &s, "bob", NULL);
    user_new(&c, &s, "carol", NULL);
    OK(a.c, ckv_client_register(a.c));
    OK(b.c, ckv_client_register(b.c));
    OK(c.c, ckv_client_register(c.c));

    /* bob and alice have a running (non-PreKey) session both ways */
    send_text(&b, "alice", "b1", 1);
    assert_int_equal(recv_until(&a, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    send_text(&a, "bob", "a1", 1);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;

    /* in flight when alice rotates */
    send_text(&b, "alice", "b2", 2);
    send_text(&b, "alice", "b3", 3);
    send_text(&c, "alice", "c1", 1); /* PreKey message, alice's old bundle */

    ckv_profile_identity_key(a.p, old_key);
    OK(a.c, ckv_client_rotate(a.c));
    ckv_profile_identity_key(a.p, new_key);
    assert_memory_not_equal(old_key, new_key, 33);

    /* bob still holds a fresh proof of the old key: the old session */
    send_text(&b, "alice", "b4", 4);

    assert_int_equal(recv_until(&a, CKV_EV_MESSAGE, 4, &ev, &n), 4);
    assert_int_equal(count_kind(ev, n, CKV_EV_REJECTED), 0);
    assert_true(has_text(ev, n, "bob", "b2"));
    assert_true(has_text(ev, n, "bob", "b3"));
    assert_true(has_text(ev, n, "bob", "b4"));
    assert_true(has_text(ev, n, "carol", "c1"));
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;

    /* alice's receipts came under her new key: bob and carol see the key
     * change (checked against the log) and every receipt */
    recv_until(&b, CKV_EV_RECEIPT, 4, &ev, &n);
    assert_int_equal(count_kind(ev, n, CKV_EV_REJECTED), 0);
    for (uint64_t q = 2; q <= 4; q++)
        assert_true(has_receipt(ev, n, "alice", q));
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(ckv_contact_get(b.p, "alice", &ct), CKV_OK);
    assert_memory_equal(ct->identity_key, new_key, 33);
    ckv_contact_free(ct);
    ct = NULL;
    recv_until(&c, CKV_EV_RECEIPT, 1, &ev, &n);
    assert_int_equal(count_kind(ev, n, CKV_EV_REJECTED), 0);
    assert_true(has_receipt(ev, n, "alice", 1));
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(ckv_contact_get(c.p, "alice", &ct), CKV_OK);
    assert_memory_equal(ct->identity_key, new_key, 33);
    ckv_contact_free(ct);
    ct = NULL;

    /* alice's next message: under her new key; the chat goes on both ways */
    send_text(&a, "bob", "a2", 2);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_true(has_text(ev, n, "alice", "a2"));
    assert_int_equal(count_kind(ev, n, CKV_EV_REJECTED), 0);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    send_text(&b, "alice", "b5", 5);
    send_text(&c, "alice", "c2", 2);
    assert_int_equal(recv_until(&a, CKV_EV_MESSAGE, 2, &ev, &n), 2);
    assert_true(has_text(ev, n, "bob", "b5"));
    assert_true(has_text(ev, n, "carol", "c2"));
    assert_int_equal(count_kind(ev, n, CKV_EV_REJECTED), 0);
    assert_int_equal(count_kind(ev, n, CKV_EV_GAP), 0);
    ckv_client_events_free(ev, n);

    user_free(&a);
    user_free(&b);
    user_free(&c);
    srv_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotate_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
