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
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "online.h" /* ckv_meta_put: a monitor record of the first format */
#include "proxy.h"

#include <jansson.h>
#include <sodium.h>

#include "ckv/bundle.h"
#include "ckv/tlog.h"

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
    /* registering again with the same key only tops up prekeys (never
     * over ckvd's cap of 1000 stored one-time prekeys) */
    for (int i = 0; i < 12; i++)
        OK(a.c, ckv_client_register(a.c));
    assert_true(srv_sql_int(&s, "SELECT count(*) FROM prekeys") <= 200);

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
    /* lookups do not grow the contact's journal: one LOGGED per key */
    ckv_contact *ct = NULL;
    assert_int_equal(ckv_contact_get(a.p, "bob", &ct), CKV_OK);
    size_t journal = ct->n_events;
    ckv_contact_free(ct);
    for (int i = 0; i < 5; i++)
        OK(a.c, ckv_client_lookup(a.c, "bob", &ki));
    assert_int_equal(ckv_contact_get(a.p, "bob", &ct), CKV_OK);
    assert_int_equal(ct->n_events, journal);
    ckv_contact_free(ct);

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

/* Delivery state is durable: a sent message whose receipt arrived is
 * stored delivered (seq and time), one still unread is not; both survive
 * closing and reopening the profile, and a receipt arriving after the
 * reopen marks the second. */
static void test_delivery_durable(void **state)
{
    srv s;
    user a, b;
    ckv_event *ev = NULL;
    size_t n = 0, hn = 0;
    ckv_message *h = NULL;
    ckv_trust_report r;
    ckv_client_options o = {0};
    (void)state;

    srv_start(&s);
    pair(&s, &a, &b);
    OK(a.c, ckv_client_add_contact(a.c, "bob", &r));
    send_text(&a, "bob", "read me", 1);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(recv_until(&a, CKV_EV_RECEIPT, 1, &ev, &n), 1);
    assert_int_equal(find(ev, n, CKV_EV_RECEIPT, 0)->seq, 1);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    send_text(&a, "bob", "not yet read", 2);
    /* a message bob sends: received rows carry no seq/delivery */
    send_text(&b, "alice", "from bob", 1);

    /* close and reopen alice's profile */
    ckv_client_close(a.c);
    ckv_profile_close(a.p);
    a.c = NULL;
    a.p = NULL;
    assert_int_equal(ckv_profile_open(a.dir, (const uint8_t *)"online test passphrase", 22, &a.p), CKV_OK);
    assert_int_equal(ckv_history_list(a.p, "bob", 0, &h, &hn), CKV_OK);
    assert_int_equal(hn, 2);
    assert_string_equal((const char *)h[0].body, "read me");
    assert_int_equal(h[0].outgoing, 1);
    assert_int_equal(h[0].seq, 1);
    assert_int_equal(h[0].delivered, 1);
    assert_true(h[0].delivered_at > 0);
    assert_true(h[0].delivered_at >= h[0].at);
    assert_string_equal((const char *)h[1].body, "not yet read");
    assert_int_equal(h[1].seq, 2);
    assert_int_equal(h[1].delivered, 0);
    assert_int_equal(h[1].delivered_at, 0);
    int64_t first_at = h[0].delivered_at;
    ckv_history_free(h, hn);
    h = NULL;

    /* bob reads the second; the receipt reaches the reopened profile */
    o.timeout_ms = 5000;
    assert_int_equal(ckv_client_open(a.p, &o, &a.c), CKV_OK);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_true(recv_until(&a, CKV_EV_RECEIPT, 1, &ev, &n) >= 1);
    assert_int_equal(find(ev, n, CKV_EV_RECEIPT, 0)->seq, 2);
    assert_non_null(find(ev, n, CKV_EV_MESSAGE, 0));
    ckv_client_events_free(ev, n);
    assert_int_equal(ckv_history_list(a.p, "bob", 0, &h, &hn), CKV_OK);
    assert_int_equal(hn, 3);
    assert_int_equal(h[0].delivered, 1);
    assert_int_equal(h[0].delivered_at, first_at); /* untouched by seq 2's receipt */
    assert_int_equal(h[1].delivered, 1);
    assert_int_equal(h[2].outgoing, 0);
    assert_string_equal((const char *)h[2].body, "from bob");
    assert_int_equal(h[2].seq, 0);
    assert_int_equal(h[2].delivered, 0);
    ckv_history_free(h, hn);

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


/* A rotation is a key change for the contact: a verified contact blocks
 * sending (and the new key's messages) until accepted; an unverified one
 * goes on with a new session. */
static void test_rotate(void **state)
{
    srv s;
    user a, b, c;
    ckv_event *ev = NULL;
    size_t n = 0;
    ckv_key_info ki, *hist = NULL;
    uint8_t old_key[33], new_key[33];
    (void)state;

    srv_start(&s);
    pair(&s, &a, &b);
    user_new(&c, &s, "carol", NULL);
    OK(c.c, ckv_client_register(c.c));
    OK(b.c, ckv_client_add_contact(b.c, "alice", NULL));
    OK(c.c, ckv_client_add_contact(c.c, "alice", NULL));
    send_text(&b, "alice", "from bob", 1);
    send_text(&c, "alice", "from carol", 1);
    assert_int_equal(recv_until(&a, CKV_EV_MESSAGE, 2, &ev, &n), 2);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    /* bob compared codes with alice */
    OK(b.c, ckv_contact_verify(b.p, "alice", CKV_VERIFY_IN_PERSON, NULL));

    ckv_profile_identity_key(a.p, old_key);
    OK(a.c, ckv_client_rotate(a.c));
    ckv_profile_identity_key(a.p, new_key);
    assert_memory_not_equal(old_key, new_key, 33);

    /* the log has both keys, chained */
    OK(b.c, ckv_client_key_history(b.c, "alice", &hist, &n));
    assert_int_equal(n, 2);
    assert_memory_equal(hist[0].key, old_key, 33);
    assert_memory_equal(hist[1].key, new_key, 33);
    assert_int_equal(hist[1].type, 2);
    assert_int_equal(hist[1].version, 2);
    free(hist);
    n = 0;

    /* verified bob: blocked before sending */
    uint64_t seq = 0;
    assert_int_equal(ckv_client_send(b.c, "alice", (const uint8_t *)"x", 1, &seq),
                     CKV_ERR_KEY_CHANGED_BLOCKED);
    assert_non_null(strstr(ckv_client_last_error(b.c), "alice"));
    assert_int_equal(state_of(&b, "alice"), CKV_TRUST_CHANGED);

    /* unverified carol: sees the change (lookup) and goes on */
    OK(c.c, ckv_client_lookup(c.c, "alice", &ki));
    assert_memory_equal(ki.key, new_key, 33);
    assert_int_equal(ki.version, 2);
    send_text(&c, "alice", "after rotation", 2);
    ckv_contact *cc = NULL;
    assert_int_equal(ckv_contact_get(c.p, "alice", &cc), CKV_OK);
    assert_memory_equal(cc->identity_key, new_key, 33);
    assert_int_equal(cc->events[cc->n_events - 1].kind == CKV_EVENT_KEY_CHANGED ||
                         cc->events[cc->n_events - 2].kind == CKV_EVENT_KEY_CHANGED,
                     1);
    ckv_contact_free(cc);

    /* alice, with her new key, writes to bob: bob sees the key change and
     * keeps the message queued until he accepts */
    send_text(&a, "bob", "new key here", 1);
    OK(b.c, ckv_client_receive(b.c, 1, &ev, &n));
    assert_int_equal(count_kind(ev, n, CKV_EV_MESSAGE), 0);
    assert_non_null(find(ev, n, CKV_EV_KEY_CHANGED, 0));
    assert_int_equal(find(ev, n, CKV_EV_KEY_CHANGED, 0)->state, CKV_TRUST_CHANGED);
    assert_int_equal(find(ev, n, CKV_EV_REJECTED, 0)->status, CKV_ERR_UNTRUSTED_IDENTITY);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    OK(b.c, ckv_contact_accept(b.p, "alice", new_key));
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_string_equal(find(ev, n, CKV_EV_MESSAGE, 0)->text, "new key here");
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    send_text(&b, "alice", "accepted", 2);

    /* alice gets carol's and bob's messages under her new key */
    assert_int_equal(recv_until(&a, CKV_EV_MESSAGE, 2, &ev, &n), 2);
    ckv_client_events_free(ev, n);

    user_free(&a);
    user_free(&b);
    user_free(&c);
    srv_stop(&s);
}

/* Someone else "resets" alice's name: alice's monitor raises the alarm; her
 * contact sees a key change; an older entry served later is refused. */
static void test_reset_and_monitor(void **state)
{
    srv s;
    user a, b, m;
    ckv_monitor_report rep;
    ckv_key_info ki;
    uint8_t key[33];
    (void)state;

    srv_start(&s);
    pair(&s, &a, &b);
    OK(b.c, ckv_client_add_contact(b.c, "alice", NULL));
    OK(b.c, ckv_contact_verify(b.p, "alice", CKV_VERIFY_PUBLIC_CODE, NULL));
    OK(a.c, ckv_client_monitor(a.c, &rep));
    assert_int_equal(rep.own_entries, 1);
    assert_int_equal(rep.foreign_entries, 0);
    assert_true(rep.tree_size >= 2); /* read already by the lookups (check_latest) */
    OK(a.c, ckv_client_monitor(a.c, &rep));
    assert_int_equal(rep.entries_read, 0);

    /* a rotation by alice herself is no alarm */
    OK(a.c, ckv_client_rotate(a.c));
    OK(a.c, ckv_client_monitor(a.c, &rep));
    assert_int_equal(rep.own_entries, 2);
    assert_int_equal(rep.foreign_entries, 0);

    user_new(&m, &s, "alice", NULL);
    assert_int_equal(ckv_client_register(m.c), CKV_ERR_DIR_NAME_TAKEN);
    OK(m.c, ckv_client_reset(m.c));
    ckv_profile_identity_key(m.p, key);

    assert_int_equal(ckv_client_monitor(a.c, &rep), CKV_ERR_KT_FOREIGN_ENTRY);
    assert_int_equal(rep.foreign_entries, 1);
    assert_int_equal(rep.own_entries, 3);
    assert_int_equal(rep.foreign_index, 3);
    assert_non_null(strstr(ckv_client_last_error(a.c), "alice"));

    /* bob had verified alice: the reset blocks sending to her (once his
     * proof of her old key is older than his maximum checkpoint age) */
    ckv_client_options o = {.max_checkpoint_age = 1, .timeout_ms = 5000};
    ckv_client_close(b.c);
    OK(NULL, ckv_client_open(b.p, &o, &b.c));
    sleep(2);
    assert_int_equal(ckv_client_send(b.c, "alice", (const uint8_t *)"x", 1, NULL),
                     CKV_ERR_KEY_CHANGED_BLOCKED);
    assert_int_equal(state_of(&b, "alice"), CKV_TRUST_CHANGED);
    OK(b.c, ckv_client_lookup(b.c, "alice", &ki));
    assert_int_equal(ki.type, 3);
    assert_int_equal(ki.version, 3);
    assert_memory_equal(ki.key, key, 33);
    ckv_contact *ct = NULL;
    assert_int_equal(ckv_contact_get(b.p, "alice", &ct), CKV_OK);
    assert_memory_equal(ct->identity_key, key, 33);
    int changed = 0;
    for (size_t i = 0; i < ct->n_events; i++)
        changed += ct->events[i].kind == CKV_EVENT_KEY_CHANGED;
    assert_true(changed >= 1);
    ckv_contact_free(ct);

    /* a rotation by alice now fails: the latest entry is not hers */
    assert_int_equal(ckv_client_rotate(a.c), CKV_ERR_KT_FOREIGN_ENTRY);

    /* the profile that made the reset (a new device): alice's two older
     * entries came before its own first one, the history its reset
     * replaced, so no alarm */
    OK(m.c, ckv_client_monitor(m.c, &rep));
    assert_int_equal(rep.own_entries, 3);
    assert_int_equal(rep.earlier_entries, 2);
    assert_int_equal(rep.foreign_entries, 0);

    /* the alarm stays until acknowledged, and only the latest foreign
     * entry can be acknowledged */
    assert_int_equal(ckv_client_monitor(a.c, &rep), CKV_ERR_KT_FOREIGN_ENTRY);
    assert_int_equal(rep.last_foreign_index, 3);
    assert_int_equal(rep.earlier_entries, 0);
    /* a server that stops answering does not hide the alarm on record */
    srv_kill(&s, SIGTERM);
    assert_int_equal(ckv_client_monitor(a.c, &rep), CKV_ERR_KT_FOREIGN_ENTRY);
    assert_non_null(strstr(ckv_client_last_error(a.c), "ALARM"));
    assert_non_null(strstr(ckv_client_last_error(a.c), "could not be read further"));
    assert_int_equal(rep.foreign_entries, 1);
    assert_int_equal(rep.last_foreign_index, 3);
    srv_restart(&s);
    assert_int_equal(ckv_client_monitor_acknowledge(a.c, 2), CKV_ERR_INVALID_ARG);
    assert_non_null(strstr(ckv_client_last_error(a.c), "leaf 3"));
    assert_int_equal(ckv_client_monitor(a.c, &rep), CKV_ERR_KT_FOREIGN_ENTRY);
    OK(a.c, ckv_client_monitor_acknowledge(a.c, 3));
    OK(a.c, ckv_client_monitor(a.c, &rep));
    assert_int_equal(rep.foreign_entries, 1);
    assert_int_equal(rep.foreign_acknowledged, 1);
    assert_int_equal(ckv_client_monitor_acknowledge(a.c, 3), CKV_ERR_INVALID_ARG);
    /* acknowledged for good (a new client, the same profile) ... */
    ckv_client_close(a.c);
    OK(NULL, ckv_client_open(a.p, NULL, &a.c));
    OK(a.c, ckv_client_monitor(a.c, &rep));
    /* ... but a later foreign entry raises it again, naming that one */
    OK(m.c, ckv_client_rotate(m.c));
    assert_int_equal(ckv_client_monitor(a.c, &rep), CKV_ERR_KT_FOREIGN_ENTRY);
    assert_int_equal(rep.foreign_entries, 2);
    assert_int_equal(rep.foreign_acknowledged, 1);
    assert_int_equal(rep.foreign_index, rep.last_foreign_index);
    assert_true(rep.last_foreign_index > 3);
    OK(m.c, ckv_client_monitor(m.c, &rep)); /* its own rotation: no alarm */
    assert_int_equal(rep.foreign_entries, 0);

    /* a monitor record of an older format (32 bytes: position, own,
     * foreign, first foreign leaf; 72 bytes: without the earlier entries'
     * leaves) is forgotten: the log is read again and counted afresh */
    for (size_t oldlen = 32; oldlen <= 72; oldlen += 40) {
        uint8_t old[72] = {0};
        uint64_t size = rep.tree_size;
        ckv_put_be64(old, size); /* position */
        ckv_put_be64(old + 8, 4);  /* own */
        ckv_put_be64(old + 16, 2); /* foreign (32) or earlier (72) */
        ckv_put_be64(old + 24, 3); /* first foreign leaf (32) or foreign (72) */
        OK(NULL, ckv_meta_put(a.p, "monitor_pos", old, oldlen));
        assert_int_equal(ckv_client_monitor(a.c, &rep), CKV_ERR_KT_FOREIGN_ENTRY);
        assert_int_equal(rep.entries_read, size);
        assert_int_equal(rep.own_entries, 4);
        assert_int_equal(rep.foreign_entries, 2);
        assert_int_equal(rep.foreign_acknowledged, 0);
        assert_int_equal(rep.foreign_index, 3);
    }

    user_free(&a);
    user_free(&b);
    user_free(&m);
    srv_stop(&s);
}

/* A checkpoint signed by a key that was not pinned is refused. */
static void test_unpinned_log_key(void **state)
{
    srv s1, s2;
    user u, v;
    ckv_key_info ki;
    ckv_monitor_report rep;
    (void)state;

    srv_start(&s1);
    srv_start(&s2);
    user_new(&v, &s2, "victor", NULL);
    OK(v.c, ckv_client_register(v.c));
    /* pinned to s2's URL, but with s1's log key */
    user_new(&u, &s2, "uma", s1.vkey);
    assert_int_equal(ckv_client_lookup(u.c, "victor", &ki), CKV_ERR_KT_BAD_CHECKPOINT);
    assert_non_null(strstr(ckv_client_last_error(u.c), "pinned log key"));
    assert_int_equal(ckv_client_monitor(u.c, &rep), CKV_ERR_KT_BAD_CHECKPOINT);
    assert_int_equal(ckv_client_register(u.c), CKV_ERR_KT_BAD_CHECKPOINT);
    ckv_view view;
    OK(u.c, ckv_client_view(u.c, &view));
    assert_int_equal(view.tree_size, 0);

    user_free(&u);
    user_free(&v);
    srv_stop(&s1);
    srv_stop(&s2);
}

/* kill -9 mid-conversation: nothing acknowledged is lost, nothing shown
 * twice (also when a stored message is delivered again). */
static void test_kill9(void **state)
{
    srv s;
    user a, b;
    ckv_event *ev = NULL;
    size_t n = 0;
    char txt[32];
    (void)state;

    srv_start(&s);
    pair(&s, &a, &b);
    OK(a.c, ckv_client_add_contact(a.c, "bob", NULL));
    for (int i = 1; i <= 5; i++) {
        snprintf(txt, sizeof txt, "m%d", i);
        send_text(&a, "bob", txt, (uint64_t)i);
    }
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 5, &ev, &n), 5);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    /* keep a copy of an envelope bob already stored, to deliver it again */
    assert_int_equal(srv_sql(&s, "CREATE TABLE IF NOT EXISTS ghost(recipient, sender, body, ts)"),
                     0);
    for (int i = 6; i <= 10; i++) {
        snprintf(txt, sizeof txt, "m%d", i);
        send_text(&a, "bob", txt, (uint64_t)i);
    }
    assert_int_equal(srv_sql(&s, "INSERT INTO ghost SELECT recipient, sender, body, ts FROM "
                                 "messages ORDER BY id LIMIT 1"),
                     0);
    srv_kill(&s, SIGKILL);
    /* while the server is down: sending fails, the message waits in the outbox */
    assert_int_not_equal(ckv_client_send(a.c, "bob", (const uint8_t *)"m11", 3, NULL), CKV_OK);
    srv_restart(&s);
    send_text(&a, "bob", "m12", 12);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 7, &ev, &n), 7);
    for (size_t i = 0; i < n; i++)
        if (ev[i].kind == CKV_EV_MESSAGE)
            assert_true(ev[i].seq >= 6);
    assert_int_equal(count_kind(ev, n, CKV_EV_GAP), 0);
    assert_int_equal(count_kind(ev, n, CKV_EV_REORDERED), 0);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    /* a message bob stored comes again (as after a crash before the ack) */
    assert_int_equal(srv_sql(&s, "INSERT INTO messages(recipient, sender, body, ts) SELECT * FROM "
                                 "ghost"),
                     0);
    OK(b.c, ckv_client_receive(b.c, 1, &ev, &n));
    assert_int_equal(count_kind(ev, n, CKV_EV_MESSAGE), 0);
    ckv_client_events_free(ev, n);
    assert_int_equal(srv_sql_int(&s, "SELECT count(*) FROM messages WHERE sender='alice'"), 0);
    ckv_message *h = NULL;
    size_t hn = 0;
    assert_int_equal(ckv_history_list(b.p, "alice", 0, &h, &hn), CKV_OK);
    assert_int_equal(hn, 12);
    for (size_t i = 0; i < hn; i++) {
        snprintf(txt, sizeof txt, "m%zu", i + 1);
        assert_string_equal((const char *)h[i].body, txt);
    }
    ckv_history_free(h, hn);

    user_free(&a);
    user_free(&b);
    srv_stop(&s);
}

/* An outbox row ckvd accepted is deleted with the client's next
 * transaction, not at once (one commit less per send). A client that dies
 * before that posts the row again when it comes back: the recipient must
 * show each message once (libsignal refuses the copy as a duplicate, it is
 * acknowledged) and the queue must drain. A client closed normally leaves
 * nothing to post again. */
static void test_outbox_repost(void **state)
{
    srv s;
    user a, b;
    ckv_event *ev = NULL;
    ckv_client *again = NULL;
    size_t n = 0;
    (void)state;

    srv_start(&s);
    pair(&s, &a, &b);
    OK(a.c, ckv_client_add_contact(a.c, "bob", NULL));
    send_text(&a, "bob", "r1", 1);
    send_text(&a, "bob", "r2", 2);
    send_text(&a, "bob", "r3", 3);
    assert_int_equal(srv_sql_int(&s, "SELECT count(*) FROM messages WHERE sender='alice'"), 3);
    /* as after a crash of a.c: another client on the same profile finds the
     * last accepted row still in the outbox (each send deleted the rows
     * accepted before it, in its own transaction) and posts it again */
    OK(NULL, ckv_client_open(a.p, NULL, &again));
    OK(again, ckv_client_receive(again, 0, &ev, &n));
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(srv_sql_int(&s, "SELECT count(*) FROM messages WHERE sender='alice'"), 4);
    ckv_client_close(again); /* settles what it posted */
    again = NULL;
    /* bob: each message once, no refusal, the queue drains */
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 3, &ev, &n), 3);
    for (int round = 0; round < 3; round++) { /* the copies, if still queued */
        ckv_event *more = NULL;
        size_t k = 0;
        OK(b.c, ckv_client_receive(b.c, 0, &more, &k));
        assert_int_equal(count_kind(more, k, CKV_EV_MESSAGE), 0);
        assert_int_equal(count_kind(more, k, CKV_EV_REJECTED), 0);
        ckv_client_events_free(more, k);
    }
    assert_int_equal(count_kind(ev, n, CKV_EV_MESSAGE), 3);
    assert_int_equal(count_kind(ev, n, CKV_EV_REJECTED), 0);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(srv_sql_int(&s, "SELECT count(*) FROM messages WHERE sender='alice'"), 0);
    ckv_message *h = NULL;
    size_t hn = 0;
    assert_int_equal(ckv_history_list(b.p, "alice", 0, &h, &hn), CKV_OK);
    assert_int_equal(hn, 3);
    ckv_history_free(h, hn);
    /* a normal close deletes the accepted rows: a new client posts nothing */
    ckv_client_close(a.c);
    OK(NULL, ckv_client_open(a.p, NULL, &a.c));
    OK(a.c, ckv_client_receive(a.c, 0, &ev, &n));
    ckv_client_events_free(ev, n);
    assert_int_equal(srv_sql_int(&s, "SELECT count(*) FROM messages WHERE sender='alice'"), 0);

    user_free(&a);
    user_free(&b);
    srv_stop(&s);
}

/* ckv_client_send_many: n messages in one commit and one request, each
 * its own sequence number and receipt; all or nothing when one cannot be
 * encrypted; kept in the outbox when the server is away. */
static void test_send_many(void **state)
{
    srv s;
    user a, b;
    ckv_event *ev = NULL;
    size_t n = 0;
    uint64_t seqs[3] = {0};
    ckv_text t[3] = {
        {(const uint8_t *)"m1", 2}, {(const uint8_t *)"m2", 2}, {(const uint8_t *)"m3", 2}};
    (void)state;

    srv_start(&s);
    pair(&s, &a, &b);
    OK(a.c, ckv_client_add_contact(a.c, "bob", NULL));
    OK(a.c, ckv_client_send_many(a.c, "bob", t, 3, seqs));
    assert_int_equal(seqs[0], 1);
    assert_int_equal(seqs[1], 2);
    assert_int_equal(seqs[2], 3);
    assert_int_equal(srv_sql_int(&s, "SELECT count(*) FROM messages WHERE sender='alice'"), 3);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 3, &ev, &n), 3);
    for (size_t i = 0; i < 3; i++) {
        const ckv_event *e = find(ev, n, CKV_EV_MESSAGE, i);
        char want[8];
        snprintf(want, sizeof want, "m%zu", i + 1);
        assert_int_equal(e->seq, i + 1);
        assert_string_equal(e->text, want);
    }
    assert_int_equal(count_kind(ev, n, CKV_EV_GAP), 0);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(recv_until(&a, CKV_EV_RECEIPT, 3, &ev, &n), 3);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;

    /* refused before anything is encrypted or stored */
    assert_int_equal(ckv_client_send_many(a.c, "bob", t, 0, seqs), CKV_ERR_INVALID_ARG);
    assert_int_equal(ckv_client_send_many(a.c, "bob", t, CKV_SEND_MANY_MAX + 1, seqs),
                     CKV_ERR_INVALID_ARG);
    /* one message not UTF-8: none of the three is sent or kept */
    ckv_text bad[3] = {
        {(const uint8_t *)"ok", 2}, {(const uint8_t *)"\xff\xfe", 2}, {(const uint8_t *)"ok", 2}};
    assert_int_equal(ckv_client_send_many(a.c, "bob", bad, 3, seqs), CKV_ERR_INVALID_ARG);
    assert_non_null(strstr(ckv_client_last_error(a.c), "UTF-8"));
    assert_int_equal(srv_sql_int(&s, "SELECT count(*) FROM messages WHERE sender='alice'"), 0);
    ckv_message *h = NULL;
    size_t hn = 0;
    assert_int_equal(ckv_history_list(a.p, "bob", 0, &h, &hn), CKV_OK);
    assert_int_equal(hn, 3);
    ckv_history_free(h, hn);

    /* the server away: both stay in the outbox and go out, in order, with
     * the next receive; the sequence numbers go on from 3 */
    srv_kill(&s, SIGKILL);
    assert_int_equal(ckv_client_send_many(a.c, "bob", t, 2, seqs), CKV_ERR_NET);
    assert_non_null(strstr(ckv_client_last_error(a.c), "outbox"));
    assert_int_equal(seqs[0], 4);
    assert_int_equal(seqs[1], 5);
    srv_restart(&s);
    OK(a.c, ckv_client_receive(a.c, 0, &ev, &n));
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 2, &ev, &n), 2);
    assert_int_equal(find(ev, n, CKV_EV_MESSAGE, 0)->seq, 4);
    assert_string_equal(find(ev, n, CKV_EV_MESSAGE, 0)->text, "m1");
    assert_int_equal(find(ev, n, CKV_EV_MESSAGE, 1)->seq, 5);
    assert_string_equal(find(ev, n, CKV_EV_MESSAGE, 1)->text, "m2");
    assert_int_equal(count_kind(ev, n, CKV_EV_REJECTED), 0);
    ckv_client_events_free(ev, n);

    user_free(&a);
    user_free(&b);
    srv_stop(&s);
}

/* Offline, each send queues in the outbox behind the older rows. The
 * backlog goes out in one request; when ckvd refuses that request because
 * one recipient's queue is full, that recipient's envelopes wait in the
 * outbox, in order, while everyone else's go out; receiving goes on; a new
 * message to that recipient queues behind the refused one, one to anyone
 * else goes at once; once the queue has room the rest goes, in order. */
static void test_outbox_batch_partial(void **state)
{
    static const char *const args[] = {"--max-queue", "3", NULL};
    srv s;
    user a, b, c;
    ckv_event *ev = NULL;
    size_t n = 0;
    (void)state;

    harness_ckvd_args = args;
    srv_start(&s);
    pair(&s, &a, &b);
    user_new(&c, &s, "carol", NULL);
    OK(c.c, ckv_client_register(c.c));
    OK(a.c, ckv_client_add_contact(a.c, "bob", NULL));
    OK(a.c, ckv_client_add_contact(a.c, "carol", NULL));
    /* carol's queue: full (3 messages from bob she has not fetched) */
    OK(b.c, ckv_client_add_contact(b.c, "carol", NULL));
    for (int i = 0; i < 3; i++)
        send_text(&b, "carol", "fill", (uint64_t)i + 1);
    /* the server away: alice's messages to bob, carol, carol, bob wait in
     * her outbox */
    srv_kill(&s, SIGKILL);
    assert_int_equal(ckv_client_send(a.c, "bob", (const uint8_t *)"b1", 2, NULL), CKV_ERR_NET);
    assert_int_equal(ckv_client_send(a.c, "carol", (const uint8_t *)"c1", 2, NULL), CKV_ERR_NET);
    assert_non_null(strstr(ckv_client_last_error(a.c), "kept in the outbox"));
    assert_int_equal(ckv_client_send(a.c, "carol", (const uint8_t *)"c2", 2, NULL), CKV_ERR_NET);
    assert_int_equal(ckv_client_send(a.c, "bob", (const uint8_t *)"b2", 2, NULL), CKV_ERR_NET);
    srv_restart(&s);
    /* the flush: b1 goes, c1 is refused (queue full), c2 waits behind it,
     * b2 goes; the receive itself goes on */
    OK(a.c, ckv_client_receive(a.c, 0, &ev, &n));
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(srv_sql_int(&s, "SELECT count(*) FROM messages WHERE sender='alice'"), 2);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 2, &ev, &n), 2);
    assert_string_equal(find(ev, n, CKV_EV_MESSAGE, 0)->text, "b1");
    assert_string_equal(find(ev, n, CKV_EV_MESSAGE, 1)->text, "b2");
    assert_int_equal(count_kind(ev, n, CKV_EV_GAP), 0);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    /* a new message to bob goes at once; one to carol waits behind c1, c2
     * (the sentence says why and that it is kept) */
    OK(a.c, ckv_client_send(a.c, "bob", (const uint8_t *)"b3", 2, NULL));
    assert_int_not_equal(ckv_client_send(a.c, "carol", (const uint8_t *)"c3", 2, NULL), CKV_OK);
    assert_non_null(strstr(ckv_client_last_error(a.c), "queue"));
    assert_non_null(strstr(ckv_client_last_error(a.c), "kept in the outbox behind"));
    /* queued now: b3 only (b1 and b2 were fetched and acknowledged) */
    assert_int_equal(srv_sql_int(&s, "SELECT count(*) FROM messages WHERE sender='alice'"), 1);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_string_equal(find(ev, n, CKV_EV_MESSAGE, 0)->text, "b3");
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    /* carol catches up: the rest goes, in order, with no gap */
    assert_int_equal(recv_until(&c, CKV_EV_MESSAGE, 3, &ev, &n), 3);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    OK(a.c, ckv_client_receive(a.c, 0, &ev, &n));
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(recv_until(&c, CKV_EV_MESSAGE, 3, &ev, &n), 3);
    assert_string_equal(find(ev, n, CKV_EV_MESSAGE, 0)->text, "c1");
    assert_string_equal(find(ev, n, CKV_EV_MESSAGE, 1)->text, "c2");
    assert_string_equal(find(ev, n, CKV_EV_MESSAGE, 2)->text, "c3");
    assert_int_equal(find(ev, n, CKV_EV_MESSAGE, 2)->seq, 3);
    assert_int_equal(count_kind(ev, n, CKV_EV_GAP), 0);
    assert_int_equal(count_kind(ev, n, CKV_EV_REORDERED), 0);
    ckv_client_events_free(ev, n);

    user_free(&a);
    user_free(&b);
    user_free(&c);
    srv_stop(&s);
    harness_ckvd_args = NULL;
}

/* defer_acks: a batch that owes no receipt is acknowledged with the next
 * request that posts (a send), else about 2 s later, else at close; in the
 * meantime it is not fetched (or shown) again. A batch that owes receipts
 * is acknowledged with them at once. */
static void test_defer_acks(void **state)
{
    srv s;
    user a, b;
    ckv_client_options o;
    ckv_event *ev = NULL;
    size_t n = 0;
    (void)state;

    memset(&o, 0, sizeof o);
    o.defer_acks = 1;
    srv_start(&s);
    user_new_opts(&a, s.url, s.vkey, "alice", &o, NULL, 0, 0);
    user_new(&b, &s, "bob", NULL);
    OK(a.c, ckv_client_register(a.c));
    OK(b.c, ckv_client_register(b.c));
    OK(a.c, ckv_client_add_contact(a.c, "bob", NULL));

    /* bob's receipt for m1: shown once, its ack owed */
    send_text(&a, "bob", "m1", 1);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(recv_until(&a, CKV_EV_RECEIPT, 1, &ev, &n), 1);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(srv_queued(&s, "alice"), 1);
    OK(a.c, ckv_client_receive(a.c, 0, &ev, &n)); /* not fetched again */
    assert_int_equal(n, 0);
    assert_int_equal(srv_queued(&s, "alice"), 1);
    /* the next send carries it */
    send_text(&a, "bob", "m2", 2);
    assert_int_equal(srv_queued(&s, "alice"), 0);

    /* a message (owes a receipt): acknowledged with the receipt, at once */
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    send_text(&b, "alice", "b1", 1);
    assert_int_equal(recv_until(&a, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_int_equal(count_kind(ev, n, CKV_EV_RECEIPT), 1); /* for m2 */
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(srv_queued(&s, "alice"), 0);
    assert_int_equal(recv_until(&b, CKV_EV_RECEIPT, 1, &ev, &n), 1); /* for b1 */
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;

    /* owed too long: the next receive settles it */
    send_text(&a, "bob", "m3", 3);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(recv_until(&a, CKV_EV_RECEIPT, 1, &ev, &n), 1);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(srv_queued(&s, "alice"), 1);
    struct timespec ts = {2, 200000000L};
    nanosleep(&ts, NULL);
    OK(a.c, ckv_client_receive(a.c, 0, &ev, &n));
    assert_int_equal(n, 0);
    assert_int_equal(srv_queued(&s, "alice"), 0);

    /* at close */
    send_text(&a, "bob", "m4", 4);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(recv_until(&a, CKV_EV_RECEIPT, 1, &ev, &n), 1);
    ckv_client_events_free(ev, n);
    ev = NULL;
    n = 0;
    assert_int_equal(srv_queued(&s, "alice"), 1);
    ckv_client_close(a.c);
    a.c = NULL;
    assert_int_equal(srv_queued(&s, "alice"), 0);
    OK(NULL, ckv_client_open(a.p, &o, &a.c));
    OK(a.c, ckv_client_receive(a.c, 0, &ev, &n));
    assert_int_equal(n, 0); /* nothing shown twice */

    user_free(&a);
    user_free(&b);
    srv_stop(&s);
}

/* A server that lies: a wrong inclusion proof, another name's entry, an
 * older entry than one proven before, a bundle with a key that is not in
 * the log, a forked checkpoint signed by the log key. Each is refused with
 * a sentence, and changes no contact. */
static char *flip_proof(const char *json)
{
    json_t *o = json_loads(json, 0, NULL);
    json_t *p = json_object_get(o, "proof");
    uint8_t h[32];
    size_t hl = 0;
    char b64[64];
    assert_true(json_array_size(p) > 0);
    assert_int_equal(sodium_base642bin(h, sizeof h, json_string_value(json_array_get(p, 0)),
                                       44, NULL, &hl, NULL, sodium_base64_VARIANT_ORIGINAL),
                     0);
    h[5] ^= 1;
    sodium_bin2base64(b64, sizeof b64, h, 32, sodium_base64_VARIANT_ORIGINAL);
    json_array_set_new(p, 0, json_string(b64));
    char *out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return out;
}

static void test_lying_server(void **state)
{
    srv s;
    proxy px;
    user a, b, d;
    ckv_key_info ki;
    ckv_monitor_report rep;
    char url[256], *real_bob, *real_alice, *body;
    (void)state;

    srv_start(&s);
    pair(&s, &a, &b);
    assert_int_equal(proxy_start(&px, s.url), 0);
    srv ps = s;
    snprintf(ps.url, sizeof ps.url, "%s", px.url);
    user_new(&d, &ps, "dave", NULL);
    OK(d.c, ckv_client_register(d.c));

    snprintf(url, sizeof url, "%s/v1/directory/bob", s.url);
    real_bob = http_get(url);
    snprintf(url, sizeof url, "%s/v1/directory/alice", s.url);
    real_alice = http_get(url);
    assert_non_null(real_bob);
    assert_non_null(real_alice);

    /* a wrong inclusion proof */
    body = flip_proof(real_bob);
    proxy_override(&px, "/v1/directory/bob", body);
    free(body);
    assert_int_equal(ckv_client_lookup(d.c, "bob", &ki), CKV_ERR_KT_BAD_PROOF);
    assert_non_null(strstr(ckv_client_last_error(d.c), "inclusion proof"));
    assert_int_equal(ckv_client_add_contact(d.c, "bob", NULL), CKV_ERR_KT_BAD_PROOF);
    ckv_contact *ct = NULL;
    assert_int_equal(ckv_contact_get(d.p, "bob", &ct), CKV_ERR_NO_CONTACT);

    /* an error message with terminal escapes reaches the user as plain text */
    proxy_override_status(&px, "/v1/directory/bob", 400,
                          "{\"error\":\"nope \\u001b[2J\\u001b]0;pwned\\u0007\",\"code\":\"x\"}");
    assert_int_equal(ckv_client_lookup(d.c, "bob", &ki), CKV_ERR_HTTP);
    assert_non_null(strstr(ckv_client_last_error(d.c), "nope"));
    assert_null(strchr(ckv_client_last_error(d.c), '\x1b'));
    assert_null(strchr(ckv_client_last_error(d.c), '\a'));

    /* another name's entry */
    proxy_override(&px, "/v1/directory/bob", real_alice);
    assert_int_equal(ckv_client_lookup(d.c, "bob", &ki), CKV_ERR_KT_NAME_MISMATCH);

    /* a bundle whose identity key is not bob's logged key */
    ckv_bundle fake;
    char *bj = NULL;
    assert_int_equal(ckv_profile_export_bundle(a.p, 0, &fake), CKV_OK);
    assert_int_equal(ckv_bundle_to_json(&fake, &bj), CKV_OK);
    json_t *bo = json_loads(bj, 0, NULL);
    json_object_set_new(bo, "name", json_string("bob"));
    body = json_dumps(bo, JSON_COMPACT);
    json_decref(bo);
    free(bj);
    proxy_override(&px, "/v1/keys/bob", body);
    free(body);
    assert_int_equal(ckv_client_add_contact(d.c, "bob", NULL), CKV_ERR_KT_BUNDLE_KEY);
    assert_int_equal(ckv_contact_get(d.p, "bob", &ct), CKV_ERR_NO_CONTACT);
    proxy_override(&px, NULL, NULL);
    OK(d.c, ckv_client_add_contact(d.c, "bob", NULL));

    /* an older entry than one proven before */
    OK(d.c, ckv_client_lookup(d.c, "alice", &ki));
    assert_int_equal(ki.version, 1);
    OK(a.c, ckv_client_rotate(a.c));
    OK(d.c, ckv_client_lookup(d.c, "alice", &ki));
    assert_int_equal(ki.version, 2);
    /* (recorded under an older checkpoint: refused as a rollback; the same
     * entry proven under the current checkpoint is CKV_ERR_KT_STALE, see
     * tests/adversarial test_attack9_stale_key) */
    proxy_override(&px, "/v1/directory/alice", real_alice);
    assert_int_equal(ckv_client_lookup(d.c, "alice", &ki), CKV_ERR_TLOG_ROLLBACK);
    assert_non_null(strstr(ckv_client_last_error(d.c), "rolled back"));
    proxy_override(&px, NULL, NULL);

    /* a forked checkpoint: same size, another root, signed by the log key */
    ckv_view v;
    ckv_tlog_signer *signer = NULL;
    ckv_tlog_hash root;
    char kpath[300], *text = NULL, *note = NULL;
    size_t tl = 0, nl = 0;
    OK(d.c, ckv_client_view(d.c, &v));
    snprintf(kpath, sizeof kpath, "%s/data/log.key", s.dir);
    assert_int_equal(ckv_tlog_signer_load(kpath, &signer), CKV_OK);
    memset(root.b, 0x42, sizeof root.b);
    assert_int_equal(ckv_tlog_checkpoint_format(ckv_tlog_signer_name(signer), v.tree_size, &root,
                                                NULL, &text, &tl),
                     CKV_OK);
    assert_int_equal(ckv_tlog_note_sign(text, tl, signer, &note, &nl), CKV_OK);
    proxy_override(&px, "/checkpoint", note);
    assert_int_equal(ckv_client_monitor(d.c, &rep), CKV_ERR_KT_INCONSISTENT);
    assert_non_null(strstr(ckv_client_last_error(d.c), "forked"));
    ckv_view v2;
    OK(d.c, ckv_client_view(d.c, &v2));
    assert_int_equal(v2.tree_size, v.tree_size);
    proxy_override(&px, NULL, NULL);
    OK(d.c, ckv_client_monitor(d.c, &rep));
    ckv_tlog_signer_free(signer);
    free(text);
    free(note);

    /* the server applies dave's rotation but answers 500: the new key is
     * kept pending, and the next register finds it in the log and
     * finishes the switch (no key is lost, no alarm for our own entry) */
    uint8_t k_before[33], k_after[33];
    ckv_profile_identity_key(d.p, k_before);
    proxy_lie_after(&px, "/v1/accounts", 500, "{\"error\":\"oops\",\"code\":\"db\"}");
    assert_int_equal(ckv_client_rotate(d.c), CKV_ERR_HTTP);
    ckv_profile_identity_key(d.p, k_after);
    assert_memory_equal(k_before, k_after, 33);
    proxy_override(&px, NULL, NULL);
    OK(d.c, ckv_client_register(d.c));
    ckv_profile_identity_key(d.p, k_after);
    assert_memory_not_equal(k_before, k_after, 33);
    OK(d.c, ckv_client_lookup(d.c, "dave", &ki));
    assert_memory_equal(ki.key, k_after, 33);
    assert_int_equal(ki.version, 2);
    OK(d.c, ckv_client_monitor(d.c, &rep));
    assert_int_equal(rep.own_entries, 2);
    assert_int_equal(rep.foreign_entries, 0);
    /* and it still chats: bob writes to the new key */
    OK(b.c, ckv_client_send(b.c, "dave", (const uint8_t *)"hi dave", 7, NULL));
    ckv_event *ev = NULL;
    size_t n = 0;
    assert_int_equal(recv_until(&d, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    ckv_client_events_free(ev, n);

    free(real_bob);
    free(real_alice);
    user_free(&d);
    proxy_stop(&px);
    user_free(&a);
    user_free(&b);
    srv_stop(&s);
}

/* name's entry of version v (1-based) from the real server's history, as a
 * directory answer under the current checkpoint (a genuine entry with a
 * genuine proof, only not the newest). malloc'd. */
static char *old_answer(const srv *s, const char *name, size_t v)
{
    char url[256], *hist, *body;
    json_t *h, *o;
    snprintf(url, sizeof url, "%s/v1/directory/%s/history", s->url, name);
    hist = http_get(url);
    assert_non_null(hist);
    h = json_loads(hist, 0, NULL);
    assert_non_null(h);
    o = json_deep_copy(json_array_get(json_object_get(h, "entries"), v - 1));
    assert_non_null(o);
    json_object_set(o, "checkpoint", json_object_get(h, "checkpoint"));
    body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    json_decref(h);
    free(hist);
    return body;
}

/* The monitor records the latest version of every name in the log (core/
 * kt.c kt_latest), not only contacts': a fresh client that never looked
 * anyone up refuses an older genuine entry at its first lookup, also after
 * an incremental monitor run that only saw a rotation. */
static void test_latest_versions(void **state)
{
    srv s;
    proxy px;
    user a, b, cr, f;
    ckv_key_info ki;
    ckv_monitor_report rep;
    char *body;
    (void)state;

    srv_start(&s);
    pair(&s, &a, &b);
    user_new(&cr, &s, "carol", NULL);
    OK(cr.c, ckv_client_register(cr.c));
    OK(b.c, ckv_client_rotate(b.c));
    OK(b.c, ckv_client_rotate(b.c));  /* bob: version 3 */
    OK(cr.c, ckv_client_rotate(cr.c)); /* carol: version 2 */
    assert_int_equal(proxy_start(&px, s.url), 0);
    srv ps = s;
    snprintf(ps.url, sizeof ps.url, "%s", px.url);
    user_new(&f, &ps, "frank", NULL);
    /* frank (not registered) reads the whole log once: 6 entries */
    OK(f.c, ckv_client_monitor(f.c, &rep));
    assert_int_equal(rep.entries_read, 6);
    assert_int_equal(rep.tree_size, 6);
    OK(f.c, ckv_client_monitor(f.c, &rep));
    assert_int_equal(rep.entries_read, 0);
    /* the recorded versions are re-sealed with the rest of the profile */
    assert_int_equal(
        ckv_profile_change_passphrase(f.p, (const uint8_t *)"another", 7, CKV_KDF_MIN), CKV_OK);

    /* older genuine entries of names frank never looked up: refused */
    static const struct {
        const char *name;
        size_t served;
        const char *frag;
    } stale[] = {{"bob", 1, "version 1 of 3"}, {"bob", 2, "version 2 of 3"},
                 {"carol", 1, "version 1 of 2"}};
    for (size_t i = 0; i < sizeof stale / sizeof stale[0]; i++) {
        body = old_answer(&s, stale[i].name, stale[i].served);
        char path[64];
        snprintf(path, sizeof path, "/v1/directory/%s", stale[i].name);
        proxy_override(&px, path, body);
        free(body);
        assert_int_equal(ckv_client_lookup(f.c, stale[i].name, &ki), CKV_ERR_KT_STALE);
        assert_non_null(strstr(ckv_client_last_error(f.c), stale[i].frag));
        assert_non_null(strstr(ckv_client_last_error(f.c), "stale_entry"));
        assert_int_equal(ckv_client_add_contact(f.c, stale[i].name, NULL), CKV_ERR_KT_STALE);
        ckv_contact *ct = NULL;
        assert_int_equal(ckv_contact_get(f.p, stale[i].name, &ct), CKV_ERR_NO_CONTACT);
    }
    /* alice's only entry is her latest: accepted through the same path */
    body = old_answer(&s, "alice", 1);
    proxy_override(&px, "/v1/directory/alice", body);
    free(body);
    OK(f.c, ckv_client_lookup(f.c, "alice", &ki));
    assert_int_equal(ki.version, 1);

    /* alice rotates; frank's monitor reads only that entry and records
     * version 2: her version 1 (served by the front) is now refused */
    OK(a.c, ckv_client_rotate(a.c));
    OK(f.c, ckv_client_monitor(f.c, &rep));
    assert_int_equal(rep.entries_read, 1);
    assert_int_equal(rep.tree_size, 7);
    body = old_answer(&s, "alice", 1); /* under the checkpoint of size 7 */
    proxy_override(&px, "/v1/directory/alice", body);
    free(body);
    assert_int_equal(ckv_client_lookup(f.c, "alice", &ki), CKV_ERR_KT_STALE);
    assert_non_null(strstr(ckv_client_last_error(f.c), "version 1 of 2"));

    /* honest: the latest versions */
    proxy_override(&px, NULL, NULL);
    OK(f.c, ckv_client_lookup(f.c, "alice", &ki));
    assert_int_equal(ki.version, 2);
    OK(f.c, ckv_client_lookup(f.c, "bob", &ki));
    assert_int_equal(ki.version, 3);
    OK(f.c, ckv_client_lookup(f.c, "carol", &ki));
    assert_int_equal(ki.version, 2);

    user_free(&f);
    proxy_stop(&px);
    user_free(&cr);
    user_free(&a);
    user_free(&b);
    srv_stop(&s);
}

/* ckv_client_options.sync_full: the profile's commits are synchronous=FULL
 * (an fsync each) while the client is open; the default stays NORMAL. */
static int profile_sync_level(ckv_profile *p)
{
    sqlite3_stmt *q = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(p->db, "PRAGMA synchronous", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return v;
}

static void test_sync_full(void **state)
{
    srv s;
    user a, b;
    ckv_client_options o;
    ckv_event *ev = NULL;
    size_t n = 0;
    (void)state;

    srv_start(&s);
    pair(&s, &a, &b);
    assert_int_equal(profile_sync_level(a.p), 1); /* NORMAL */
    ckv_client_close(a.c);
    memset(&o, 0, sizeof o);
    o.sync_full = 1;
    OK(NULL, ckv_client_open(a.p, &o, &a.c));
    assert_int_equal(profile_sync_level(a.p), 2); /* FULL */
    OK(a.c, ckv_client_add_contact(a.c, "bob", NULL));
    send_text(&a, "bob", "durable", 1);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_string_equal(find(ev, n, CKV_EV_MESSAGE, 0)->text, "durable");
    ckv_client_events_free(ev, n);
    user_free(&a);
    user_free(&b);
    srv_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat),
        cmocka_unit_test(test_delivery_durable),
        cmocka_unit_test(test_gap_reorder),
        cmocka_unit_test(test_rotate),
        cmocka_unit_test(test_reset_and_monitor),
        cmocka_unit_test(test_unpinned_log_key),
        cmocka_unit_test(test_kill9),
        cmocka_unit_test(test_outbox_repost),
        cmocka_unit_test(test_send_many),
        cmocka_unit_test(test_outbox_batch_partial),
        cmocka_unit_test(test_defer_acks),
        cmocka_unit_test(test_lying_server),
        cmocka_unit_test(test_latest_versions),
        cmocka_unit_test(test_sync_full),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
