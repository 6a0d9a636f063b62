/*
 * test_adv_honest.c: the honest run of the adversarial suite (issue 6): an
 * honest ckvd, several clients, ten thousand messages, with key rotations
 * (each while messages to the rotating user, and receipts it is owed, are
 * in flight) and a ckvd killed with -9 and restarted; zero false alarms: no KT error,
 * no rejected message, no gap, no reorder, no monitor alarm, every message
 * shown exactly once and in order, every one acknowledged by an end-to-end
 * receipt.
 *
 * CKV_ADV_MESSAGES (environment) sets the number of messages (default
 * 10000); the sanitizer build sets it lower (tests/adversarial/
 * CMakeLists.txt) so that the run stays within its time.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "adv.h"

#define USERS 4
#define BURST 5 /* messages per ordered pair and round */
#define MAX_AGE 1

static const char *const names[USERS] = {"alice", "bob", "carol", "dave"};

struct run {
    srv s;
#ifdef CKV_WITNESS_PATH
    witness_proc w[3];
    char warg[3][700];
    const char *wargs[11];
    const char *wkeys[3];
#endif
    user u[USERS];
    uint64_t sent[USERS][USERS], got[USERS][USERS], receipts[USERS][USERS];
    uint64_t key_changes, messages;
    size_t outbox_pending; /* sends that failed while ckvd was down */
};

static int idx(const char *name)
{
    for (int i = 0; i < USERS; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    fail_msg("event from unknown contact '%s'", name);
    return -1;
}

/* Receive everything for user i; every event must be an honest one. */
static void drain(struct run *r, int i)
{
    for (int round = 0; round < 100; round++) {
        ckv_event *ev = NULL;
        size_t n = 0;
        ckv_status st = ckv_client_receive(r->u[i].c, 0, &ev, &n);
        if (st != CKV_OK)
            fail_msg("%s receive: %s: %s", names[i], ckv_status_name(st),
                     ckv_client_last_error(r->u[i].c));
        for (size_t k = 0; k < n; k++) {
            int from = idx(ev[k].contact);
            char want[64];
            switch (ev[k].kind) {
            case CKV_EV_MESSAGE:
                snprintf(want, sizeof want, "%s>%s#%llu", names[from], names[i],
                         (unsigned long long)(r->got[from][i] + 1));
                if (strcmp(ev[k].text, want) != 0)
                    fail_msg("%s got '%s', expected '%s'", names[i], ev[k].text, want);
                r->got[from][i]++;
                if (ev[k].seq != r->got[from][i])
                    fail_msg("%s: seq %llu for '%s'", names[i], (unsigned long long)ev[k].seq,
                             want);
                r->messages++;
                break;
            case CKV_EV_RECEIPT:
                r->receipts[i][from]++;
                break;
            case CKV_EV_KEY_CHANGED:
                /* a genuine rotation: not an alarm, the contact stays usable */
                if (ev[k].state == CKV_TRUST_CHANGED)
                    fail_msg("%s: %s's rotation blocked the contact", names[i], names[from]);
                r->key_changes++;
                break;
            default:
                fail_msg("false alarm at %s: event %d from %s (status %s) after %llu messages",
                         names[i], (int)ev[k].kind, ev[k].contact,
                         ckv_status_name(ev[k].status), (unsigned long long)r->messages);
            }
        }
        ckv_client_events_free(ev, n);
        if (n == 0)
            return;
    }
}

static void send_one(struct run *r, int from, int to)
{
    char text[64];
    uint64_t seq = 0;
    snprintf(text, sizeof text, "%s>%s#%llu", names[from], names[to],
             (unsigned long long)(r->sent[from][to] + 1));
    ckv_status st = ckv_client_send(r->u[from].c, names[to], (const uint8_t *)text, strlen(text),
                                    &seq);
    if (st != CKV_OK)
        fail_msg("%s send: %s: %s", names[from], ckv_status_name(st),
                 ckv_client_last_error(r->u[from].c));
    r->sent[from][to]++;
    assert_int_equal(seq, r->sent[from][to]);
}

static void monitor_all(struct run *r)
{
    for (int i = 0; i < USERS; i++) {
        ckv_monitor_report rep;
        OK(r->u[i].c, ckv_client_monitor(r->u[i].c, &rep));
        assert_int_equal(rep.foreign_entries, 0);
    }
}

static void test_honest_run(void **state)
{
    struct run *r = calloc(1, sizeof *r);
    const char *env = getenv("CKV_ADV_MESSAGES");
    long total = env ? strtol(env, NULL, 10) : 10000;
    long per_round = USERS * (USERS - 1) * BURST;
    long rounds = (total + per_round - 1) / per_round;
    int rotations = 0, restarts = 0;
    long long lag_size = -1;
    (void)state;

    assert_non_null(r);
    assert_true(rounds >= 4);
    srv_start(&r->s);
#ifdef CKV_WITNESS_PATH
    srv_kill(&r->s, SIGTERM);
    for (int i = 0; i < 3; i++) {
        static const char *const wn[3] = {"w1.honest", "w2.honest", "w3.honest"};
        witness_start(&r->w[i], wn[i], r->s.vkey);
        snprintf(r->warg[i], sizeof r->warg[i], "%s,%s", r->w[i].vkey, r->w[i].url);
        r->wkeys[i] = r->w[i].vkey;
    }
    {
        const char *args[] = {"--witness", r->warg[0], "--witness", r->warg[1], "--witness",
                              r->warg[2], "--witness-quorum", "2", "--witness-refresh", "1",
                              NULL};
        memcpy(r->wargs, args, sizeof args);
    }
    harness_ckvd_args = r->wargs;
    srv_restart(&r->s);
    for (int i = 0; i < USERS; i++) {
        ckv_client_options o = {0};
        o.timeout_ms = 5000;
        o.max_checkpoint_age = MAX_AGE;
        o.max_view_age = 15;
        user_new_opts(&r->u[i], r->s.url, r->s.vkey, names[i], &o, r->wkeys, 3, 2);
        adv_register(&r->u[i]);
    }
#else
    for (int i = 0; i < USERS; i++) {
        user_new(&r->u[i], &r->s, names[i], NULL);
        adv_register(&r->u[i]);
        adv_reopen(&r->u[i], MAX_AGE);
    }
#endif
    for (long round = 0; round < rounds; round++) {
#ifdef CKV_WITNESS_PATH
        /* the third witness is away from a fifth to three fifths of the run */
        if (round == rounds / 5)
            adv_witness_pause(&r->w[2]);
        if (round == 3 * rounds / 5) {
            lag_size = adv_witness_size(&r->w[2]);
            adv_witness_resume(&r->w[2], "w3.honest", r->s.vkey);
        }
#endif
        /* a rotation at a quarter and at a half (by bob, then carol) */
        if (round == rounds / 4 || round == rounds / 2) {
            int who = round == rounds / 4 ? 1 : 2;
            /* while messages to it are in flight: a burst from every
             * contact waits on ckvd (on the old sessions, or PreKey
             * messages made from the old bundle) together with the
             * receipts it is owed; core/identity.c keeps what is needed
             * to receive them */
            for (int from = 0; from < USERS; from++)
                for (int k = 0; from != who && k < BURST; k++)
                    send_one(r, from, who);
            OK(r->u[who].c, ckv_client_rotate(r->u[who].c));
            rotations++;
            /* and right after it: the contacts' proofs of the old key are
             * still fresh, so they keep sending on the old sessions */
            for (int from = 0; from < USERS; from++)
                if (from != who)
                    send_one(r, from, who);
        }
        /* ckvd killed with -9 at three quarters; a send while it is down
         * waits in the outbox and leaves with the next call */
        if (round == 3 * rounds / 4) {
            srv_kill(&r->s, SIGKILL);
            char text[64];
            snprintf(text, sizeof text, "%s>%s#%llu", names[0], names[1],
                     (unsigned long long)(r->sent[0][1] + 1));
            ckv_status st = ckv_client_send(r->u[0].c, names[1], (const uint8_t *)text,
                                            strlen(text), NULL);
            if (st == CKV_OK)
                fail_msg("send succeeded while ckvd was down");
            /* encrypted into the outbox (it is in the history), or refused
             * before encrypting (the contact's proof had to be refreshed) */
            ckv_message *h = NULL;
            size_t hn = 0;
            assert_int_equal(ckv_history_list(r->u[0].p, names[1], 1, &h, &hn), CKV_OK);
            if (hn == 1 && strcmp((const char *)h[0].body, text) == 0) {
                r->sent[0][1]++;
                r->outbox_pending++;
            }
            ckv_history_free(h, hn);
            srv_restart(&r->s);
            restarts++;
        }
        for (int from = 0; from < USERS; from++)
            for (int to = 0; to < USERS; to++)
                for (int k = 0; to != from && k < BURST; k++)
                    send_one(r, from, to);
        for (int i = 0; i < USERS; i++)
            drain(r, i);
        if (round % 40 == 0)
            monitor_all(r);
    }
    /* the last receipts */
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < USERS; i++)
            drain(r, i);
    monitor_all(r);

    uint64_t sent = 0;
    for (int a = 0; a < USERS; a++)
        for (int b = 0; b < USERS; b++) {
            sent += r->sent[a][b];
            if (r->got[a][b] != r->sent[a][b])
                fail_msg("%s -> %s: %llu sent, %llu shown", names[a], names[b],
                         (unsigned long long)r->sent[a][b], (unsigned long long)r->got[a][b]);
            if (r->receipts[a][b] > r->sent[a][b])
                fail_msg("%s: more receipts than messages", names[a]);
        }
    assert_true(sent >= (uint64_t)total);
    assert_int_equal(r->messages, sent);
    assert_int_equal(rotations, 2);
    assert_int_equal(restarts, 1);
    /* every contact pins every user's current key, none is blocked */
    for (int a = 0; a < USERS; a++)
        for (int b = 0; b < USERS; b++) {
            uint8_t key[33], pinned[33];
            if (a == b)
                continue;
            ckv_profile_identity_key(r->u[b].p, key);
            assert_true(adv_pinned(&r->u[a], names[b], pinned));
            assert_memory_equal(key, pinned, 33);
            assert_int_not_equal(adv_state(&r->u[a], names[b]), CKV_TRUST_CHANGED);
        }
    assert_true(r->key_changes <= (uint64_t)rotations * (USERS - 1));
    /* no evidence written, no gossip disagreement (and gossip did run) */
    int agree = 0;
    for (int a = 0; a < USERS; a++) {
        char ev_dir[300];
        struct stat sb;
        snprintf(ev_dir, sizeof ev_dir, "%s/evidence", r->u[a].dir);
        if (stat(ev_dir, &sb) == 0) {
            char cmd[400];
            snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", ev_dir);
            FILE *f = popen(cmd, "r");
            int files = -1;
            assert_non_null(f);
            assert_int_equal(fscanf(f, "%d", &files), 1);
            pclose(f);
            if (files != 0)
                fail_msg("%s wrote %d evidence file(s) in an honest run", names[a], files);
        }
        for (int b = 0; b < USERS; b++) {
            ckv_gossip_state g;
            if (a == b)
                continue;
            OK(r->u[a].c, ckv_profile_gossip_state(r->u[a].p, names[b], &g));
            assert_int_not_equal(g.result, CKV_GOSSIP_DIFFER);
            agree += g.result == CKV_GOSSIP_AGREE;
        }
    }
    assert_int_equal(agree, USERS * (USERS - 1));
    /* delivery: every sent message is marked delivered in the sender's history */
    for (int a = 0; a < USERS; a++)
        for (int b = 0; b < USERS; b++) {
            ckv_message *h = NULL;
            size_t hn = 0, undelivered = 0;
            if (a == b)
                continue;
            assert_int_equal(ckv_history_list(r->u[a].p, names[b], 0, &h, &hn), CKV_OK);
            for (size_t i = 0; i < hn; i++)
                undelivered += h[i].outgoing && !h[i].delivered;
            ckv_history_free(h, hn);
            if (undelivered != 0)
                fail_msg("%s -> %s: %zu messages without a receipt", names[a], names[b],
                         undelivered);
        }
#ifdef CKV_WITNESS_PATH
    /* the lagging witness caught up (ckvd learned its size from a 409 and
     * proved from there) */
    {
        ckv_view v;
        long long now_size = -1;
        OK(r->u[0].c, ckv_client_view(r->u[0].c, &v));
        assert_true(lag_size > 0);
        assert_true((uint64_t)lag_size < v.tree_size);
        for (int i = 0; i < 100 && now_size < (long long)v.tree_size; i++) {
            now_size = adv_witness_size(&r->w[2]);
            if (now_size < (long long)v.tree_size)
                usleep(100000);
        }
        assert_int_equal(now_size, (long long)v.tree_size);
        printf("lagging witness: size %lld when it stopped, caught up to %llu\n", lag_size,
               (unsigned long long)v.tree_size);
    }
#endif
    printf("honest run: %llu messages, %d rotations, %d ckvd restart(s) (%zu message(s) in the "
           "outbox across it), 0 alarms\n",
           (unsigned long long)sent, rotations, restarts, r->outbox_pending);

    for (int i = 0; i < USERS; i++)
        user_free(&r->u[i]);
    srv_stop(&r->s);
#ifdef CKV_WITNESS_PATH
    harness_ckvd_args = NULL;
    for (int i = 0; i < 3; i++)
        witness_stop(&r->w[i]);
#endif
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_honest_run),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
