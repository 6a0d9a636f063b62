/*
 * test_adv_msgs.c: the adversarial suite, attacks on messages (issue 6,
 * attack 12): ckvd's queue is the server's to tamper with, so the test
 * edits ckvd's own database (WAL, while it runs): replayed, duplicated,
 * altered, truncated, re-addressed, dropped and reordered envelopes, against
 * real clients.
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

#include "adv.h"
#include "ckv/session.h"

static void send_seq(user *u, const char *to, const char *text, uint64_t want)
{
    uint64_t seq = 0;
    OK(u->c, ckv_client_send(u->c, to, (const uint8_t *)text, strlen(text), &seq));
    assert_int_equal(seq, want);
}

/* The last queued envelope's id. */
static long long last_id(srv *s)
{
    return srv_sql_int(s, "SELECT max(id) FROM messages");
}

/* Run sql with its one "%lld" replaced by id. */
static void sql_ok(srv *s, const char *sql, long long id)
{
    char buf[2048];
    const char *at = strstr(sql, "%lld");
    assert_non_null(at);
    snprintf(buf, sizeof buf, "%.*s%lld%s", (int)(at - sql), sql, id, at + 4);
    assert_int_equal(srv_sql(s, buf), 0);
}

#define B64 "json_extract(CAST(body AS TEXT), '$.body')"

/* Every message event of a list, by text, must be exactly `texts` (NULL-terminated). */
static void expect_texts(const ckv_event *ev, size_t n, const char *const *texts)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].kind != CKV_EV_MESSAGE)
            continue;
        assert_non_null(texts[k]);
        assert_string_equal(ev[i].text, texts[k]);
        k++;
    }
    assert_null(texts[k]);
}

/* Before: alice and bob registered, alice added bob (logged), a session
 * both ways (bob answered once). Then, one lie at a time:
 * - replay: envelopes bob already stored (a PreKey message and a normal
 *   one) queued again, also after bob reopened his profile. Expected: not
 *   shown again, no event, acknowledged (libsignal: duplicate message;
 *   core/messages.c receive_one acks it silently).
 * - duplicate: one envelope queued twice at once. Expected: shown once.
 * - altered (a byte of the ciphertext) and truncated (8 base64 characters
 *   cut): CKV_EV_REJECTED with CKV_ERR_INVALID_MESSAGE (libsignal's MAC /
 *   parse, core/session.c), acknowledged, nothing shown or stored; the
 *   sender gets no receipt for it; the next message reveals the loss as
 *   CKV_EV_GAP (seq inside the encryption, core/messages.c).
 * - re-addressed: an envelope of alice's queued as from carol: REJECTED
 *   (no session with carol can open it), and a gap again.
 * - dropped and held back: CKV_EV_GAP (seq, count), then the late one with
 *   CKV_EV_REORDERED.
 * Left behind: the session keeps working after each lie (the next message
 * decrypts), the history holds exactly the genuine texts once each, the
 * queue is empty. */
static void test_attack12_messages(void **state)
{
    srv s;
    user a, b, c;
    ckv_event *ev = NULL;
    size_t n = 0;
    (void)state;

    srv_start(&s);
    user_new(&a, &s, "alice", NULL);
    user_new(&b, &s, "bob", NULL);
    user_new(&c, &s, "carol", NULL);
    adv_register(&a);
    adv_register(&b);
    adv_register(&c);
    OK(a.c, ckv_client_add_contact(a.c, "bob", NULL));

    /* replay */
    send_seq(&a, "bob", "m1", 1);
    send_seq(&a, "bob", "m2", 2);
    assert_int_equal(srv_sql(&s, "CREATE TABLE ghost AS SELECT recipient, sender, body, ts FROM "
                                 "messages WHERE sender = 'alice' ORDER BY id"),
                     0);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 2, &ev, &n), 2);
    adv_events_reset(&ev, &n);
    send_seq(&b, "alice", "b1", 1);
    assert_int_equal(recv_until(&a, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    adv_events_reset(&ev, &n);
    for (int round = 0; round < 2; round++) {
        if (round == 1) { /* again after bob reopened his profile */
            ckv_client_close(b.c);
            ckv_profile_close(b.p);
            b.c = NULL;
            OK(NULL, ckv_profile_open(b.dir, (const uint8_t *)"online test passphrase", 22, &b.p));
            adv_reopen(&b, 0);
        }
        adv_recv(&b, 0, &ev, &n); /* alice's receipt for b1 */
        adv_events_reset(&ev, &n);
        assert_int_equal(srv_queued(&s, "bob"), 0);
        assert_int_equal(srv_sql(&s, "INSERT INTO messages(recipient, sender, body, ts) SELECT * "
                                     "FROM ghost"),
                         0);
        assert_int_equal(srv_queued(&s, "bob"), 2);
        adv_recv(&b, 1, &ev, &n);
        assert_int_equal(count_kind(ev, n, CKV_EV_MESSAGE), 0);
        assert_int_equal(count_kind(ev, n, CKV_EV_GAP), 0);
        adv_events_reset(&ev, &n);
        assert_int_equal(srv_queued(&s, "bob"), 0);
        assert_int_equal(adv_history_len(&b, "alice"), 3);
    }

    /* duplicate */
    send_seq(&a, "bob", "m3", 3);
    sql_ok(&s, "INSERT INTO messages(recipient, sender, body, ts) SELECT recipient, sender, body, "
               "ts FROM messages WHERE id = %lld",
           last_id(&s));
    assert_int_equal(srv_queued(&s, "bob"), 2);
    adv_recv(&b, 1, &ev, &n);
    expect_texts(ev, n, (const char *const[]){"m3", NULL});
    adv_events_reset(&ev, &n);
    assert_int_equal(srv_queued(&s, "bob"), 0);

    /* altered, truncated, re-addressed: each refused, then a gap */
    static const char *const lies[] = {
        "UPDATE messages SET body = CAST(json_set(CAST(body AS TEXT), '$.body', substr(" B64
        ", 1, length(" B64 ") - 20) || CASE substr(" B64 ", length(" B64
        ") - 19, 1) WHEN 'A' THEN 'B' ELSE 'A' END || substr(" B64 ", length(" B64
        ") - 18)) AS BLOB) WHERE id = %lld",
        "UPDATE messages SET body = CAST(json_set(CAST(body AS TEXT), '$.body', substr(" B64
        ", 1, length(" B64 ") - 8)) AS BLOB) WHERE id = %lld",
        "UPDATE messages SET sender = 'carol' WHERE id = %lld",
    };
    static const char *const lie_text[] = {"m4", "m6", "m8"};
    static const char *const next_text[] = {"m5", "m7", "m9"};
    for (size_t i = 0; i < 3; i++) {
        uint64_t seq = 4 + 2 * i;
        send_seq(&a, "bob", lie_text[i], seq);
        sql_ok(&s, lies[i], last_id(&s));
        adv_recv(&b, 1, &ev, &n);
        assert_int_equal(count_kind(ev, n, CKV_EV_MESSAGE), 0);
        const ckv_event *r = adv_find(ev, n, CKV_EV_REJECTED, 0);
        assert_non_null(r);
        if (i < 2) {
            assert_int_equal(r->status, CKV_ERR_INVALID_MESSAGE);
            assert_string_equal(r->contact, "alice");
        } else {
            assert_string_equal(r->contact, "carol");
            assert_int_equal(adv_state(&b, "carol"), -1);
        }
        adv_events_reset(&ev, &n);
        assert_int_equal(srv_queued(&s, "bob"), 0);
        /* the next message decrypts and reveals the loss */
        send_seq(&a, "bob", next_text[i], seq + 1);
        assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
        expect_texts(ev, n, (const char *const[]){next_text[i], NULL});
        const ckv_event *g = adv_find(ev, n, CKV_EV_GAP, 0);
        assert_non_null(g);
        assert_int_equal(g->seq, seq);
        assert_int_equal(g->count, 1);
        adv_events_reset(&ev, &n);
    }

    /* dropped and held back: m10..m13, m11 held, m12 dropped */
    send_seq(&a, "bob", "m10", 10);
    send_seq(&a, "bob", "m11", 11);
    long long held = last_id(&s);
    send_seq(&a, "bob", "m12", 12);
    long long dropped = last_id(&s);
    send_seq(&a, "bob", "m13", 13);
    sql_ok(&s, "CREATE TABLE held AS SELECT recipient, sender, body, ts FROM messages WHERE id = "
               "%lld",
           held);
    sql_ok(&s, "DELETE FROM messages WHERE id = %lld", held);
    sql_ok(&s, "DELETE FROM messages WHERE id = %lld", dropped);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 2, &ev, &n), 2);
    expect_texts(ev, n, (const char *const[]){"m10", "m13", NULL});
    const ckv_event *g = adv_find(ev, n, CKV_EV_GAP, 0);
    assert_non_null(g);
    assert_int_equal(g->seq, 11);
    assert_int_equal(g->count, 2);
    adv_events_reset(&ev, &n);
    assert_int_equal(srv_sql(&s, "INSERT INTO messages(recipient, sender, body, ts) SELECT * FROM "
                                 "held"),
                     0);
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    expect_texts(ev, n, (const char *const[]){"m11", NULL});
    const ckv_event *ro = adv_find(ev, n, CKV_EV_REORDERED, 0);
    assert_non_null(ro);
    assert_int_equal(ro->seq, 11);
    assert_int_equal(count_kind(ev, n, CKV_EV_GAP), 0);
    adv_events_reset(&ev, &n);

    /* bob's history: every genuine text once; alice's receipts only for
     * what bob stored */
    static const char *const want[] = {"m1", "m2", "b1", "m3", "m5", "m7", "m9",
                                       "m10", "m13", "m11"};
    ckv_message *h = NULL;
    size_t hn = 0;
    assert_int_equal(ckv_history_list(b.p, "alice", 0, &h, &hn), CKV_OK);
    assert_int_equal(hn, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < hn; i++)
        assert_string_equal((const char *)h[i].body, want[i]);
    ckv_history_free(h, hn);
    for (int i = 0; i < 5; i++)
        adv_recv(&a, 0, &ev, &n);
    adv_events_reset(&ev, &n);
    assert_int_equal(ckv_history_list(a.p, "bob", 0, &h, &hn), CKV_OK);
    for (size_t i = 0; i < hn; i++) {
        if (!h[i].outgoing)
            continue;
        const char *t = (const char *)h[i].body;
        int lost = strcmp(t, "m4") == 0 || strcmp(t, "m6") == 0 || strcmp(t, "m8") == 0 ||
                   strcmp(t, "m12") == 0;
        if (lost != !h[i].delivered)
            fail_msg("alice's '%s': delivered=%d", t, h[i].delivered);
    }
    ckv_history_free(h, hn);
    assert_int_equal(srv_queued(&s, "bob"), 0);

    user_free(&a);
    user_free(&b);
    user_free(&c);
    srv_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attack12_messages),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
