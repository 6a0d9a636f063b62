/*
 * receive.c: ckv_client_receive: fetch what ckvd holds for us, check a new
 * sender's key against the log before anything is decrypted, decrypt and
 * store each message with its place in the sequence (one transaction per
 * batch), post the receipts owed and acknowledge what was stored; and the
 * held envelopes (messages.c's top comment) a frozen view leaves for later.
 */
#include "messages.h"

#include <signal/protocol.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HELD_MAX 1000 /* held envelopes kept at most (more stay queued on ckvd) */
#define done ckv_client_done

/* ---- receiving -------------------------------------------------------------------- */

/* The identity key a PreKey message claims (checked against the log before
 * the message is decrypted). */
static ckv_status prekey_identity(ckv_profile *p, const ckv_envelope *env, uint8_t out[33])
{
    pre_key_signal_message *pm = NULL;
    signal_buffer *b = NULL;
    ckv_status st = CKV_ERR_INVALID_MESSAGE;
    if (pre_key_signal_message_deserialize(&pm, env->body, env->body_len, p->sg) != 0)
        goto out;
    if (ec_public_key_serialize(&b, pre_key_signal_message_get_identity_key(pm)) != 0 ||
        signal_buffer_len(b) != CKV_IDENTITY_KEY_LEN)
        goto out;
    memcpy(out, signal_buffer_data(b), CKV_IDENTITY_KEY_LEN);
    st = CKV_OK;
out:
    signal_buffer_free(b);
    SIGNAL_UNREF(pm);
    return st;
}

static int is_definitive(ckv_status st)
{
    return st == CKV_ERR_INVALID_MESSAGE || st == CKV_ERR_BAD_ENVELOPE ||
           st == CKV_ERR_NO_SESSION || st == CKV_ERR_NO_PREKEY || st == CKV_ERR_LEGACY_MESSAGE ||
           st == CKV_ERR_TOO_LARGE || st == CKV_ERR_BAD_NAME || st == CKV_ERR_KT_NOT_LOGGED ||
           st == CKV_ERR_NOT_REGISTERED;
}

struct names {
    char v[64][CKV_NAME_MAX + 1];
    size_t n;
};

static void names_add(struct names *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return;
    if (s->n < 64)
        snprintf(s->v[s->n++], sizeof s->v[0], "%s", name);
}

/* Check the checkpoint from gossiped with a message (gossip.c); a split
 * view is an alarm event. Undecided checks (network) change nothing. */
static ckv_status gossip_event(ckv_client *c, const char *from, const char *note, size_t len,
                               struct ckv_evlist *out)
{
    ckv_gossip_state g;
    ckv_event *e;
    char saved[CKV_ERRMSG_MAX];
    snprintf(saved, sizeof saved, "%s", c->err);
    if (ckv_gossip_check(c, from, note, len, &g) != CKV_OK || g.result != CKV_GOSSIP_DIFFER) {
        snprintf(c->err, sizeof c->err, "%s", saved);
        return CKV_OK;
    }
    if ((e = ckv_ev_push(out, CKV_EV_SPLIT_VIEW, from)) == NULL)
        return CKV_ERR_NOMEM;
    e->status = CKV_ERR_KT_SPLIT_VIEW;
    e->seq = g.their_size;
    e->count = g.our_size;
    e->text = strdup(c->err);
    if (e->text == NULL)
        return CKV_ERR_NOMEM;
    e->text_len = strlen(e->text);
    return CKV_OK;
}

/* ---- held envelopes (the top comment) ---------------------------------------- */

/* Ids of the held envelopes, oldest first (at most cap). */
static ckv_status held_ids(ckv_profile *p, uint64_t *ids, size_t cap, size_t *n)
{
    sqlite3_stmt *s = NULL;
    int rc;
    *n = 0;
    if (sqlite3_prepare_v2(p->db,
                           "SELECT k FROM meta WHERE k > 'held:' AND k < 'held;' ORDER BY k "
                           "LIMIT ?1",
                           -1, &s, NULL) != SQLITE_OK)
        return CKV_ERR_DB;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)cap);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < cap) {
        const char *k = (const char *)sqlite3_column_text(s, 0);
        if (k == NULL || strlen(k) != 25)
            continue;
        ids[(*n)++] = strtoull(k + 5, NULL, 10);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? CKV_OK : CKV_ERR_DB;
}

/* How many messages are held (every receive asks). */
static ckv_status held_count(ckv_client *c, size_t *n)
{
    return ckv_meta_count(c->p, "held:", "held;", n);
}

/* Keep the server's message m (from + envelope) sealed under a new id. */
static ckv_status held_put(ckv_profile *p, json_t *m)
{
    uint8_t *next = NULL, nb[8];
    size_t n = 0;
    uint64_t id = 1;
    char key[64], *text = NULL;
    ckv_status st = ckv_meta_get(p, "held_next", &next, &n);
    if (st == CKV_OK && n == 8)
        id = ckv_get_be64(next);
    else if (st == CKV_OK || st == CKV_ERR_NOT_FOUND)
        st = n == 0 || st == CKV_ERR_NOT_FOUND ? CKV_OK : CKV_ERR_PROFILE_DAMAGED;
    free(next);
    if (st != CKV_OK)
        return st;
    text = json_dumps(m, JSON_COMPACT);
    if (text == NULL)
        return CKV_ERR_NOMEM;
    ckv_put_be64(nb, id + 1);
    st = ckv_meta_put(p, "held_next", nb, 8);
    if (st == CKV_OK) {
        snprintf(key, sizeof key, "held:%020llu", (unsigned long long)id);
        st = ckv_meta_put(p, key, (const uint8_t *)text, strlen(text));
    }
    free(text);
    return st;
}

static ckv_status held_del(ckv_profile *p, uint64_t id)
{
    char key[64];
    snprintf(key, sizeof key, "held:%020llu", (unsigned long long)id);
    return ckv_meta_del(p, key);
}

/* The freeze rule now (quorum.c): CKV_OK (fresh, or no witness pinned),
 * CKV_ERR_KT_VIEW_FROZEN, or another error (the log unreachable...). On
 * CKV_OK and FROZEN c->err is left as it was. */
static ckv_status view_state(ckv_client *c)
{
    char saved[CKV_ERRMSG_MAX];
    ckv_status st;
    snprintf(saved, sizeof saved, "%s", c->err);
    st = ckv_quorum_check_view_age(c);
    if (st == CKV_OK || st == CKV_ERR_KT_VIEW_FROZEN)
        snprintf(c->err, sizeof c->err, "%s", saved);
    return st;
}

/* Handle one queued message. *ack = 1 when it may be acknowledged. A
 * returned error stops the batch (nothing more is acknowledged). *held = 1
 * when the message must wait for a fresh view: a new one is then stored
 * (held_put) unless `retry` (it is a held one already). */
static ckv_status receive_one_ex(ckv_client *c, json_t *m, struct ckv_evlist *out,
                                 struct names *rcpt, int *ack, int retry, int *held);

static ckv_status receive_one(ckv_client *c, json_t *m, struct ckv_evlist *out, struct names *rcpt,
                              int *ack)
{
    int held = 0;
    return receive_one_ex(c, m, out, rcpt, ack, 0, &held);
}

static ckv_status receive_one_ex(ckv_client *c, json_t *m, struct ckv_evlist *out,
                                 struct names *rcpt, int *ack, int retry, int *held)
{
    char from[CKV_NAME_MAX + 1], *envtext = NULL;
    const char *raw = json_string_value(json_object_get(m, "from"));
    ckv_envelope env = {0};
    ckv_trust_report rep;
    struct ckv_hook_ctx h;
    uint8_t *pt = NULL, claimed[33];
    size_t ptlen = 0;
    ckv_kt_entry *k = NULL;
    ckv_event *e;
    int checked = 0;
    ckv_status st, vs;

    *ack = 0;
    *held = 0;
    memset(&h, 0, sizeof h);
    memset(&rep, 0, sizeof rep);
    if (raw == NULL || ckv_name_normalize(raw, from) != CKV_OK || strcmp(from, raw) != 0) {
        *ack = 1;
        if ((e = ckv_ev_push(out, CKV_EV_REJECTED, "?")) == NULL)
            return CKV_ERR_NOMEM;
        e->status = CKV_ERR_BAD_NAME;
        return CKV_OK;
    }
    envtext = json_dumps(json_object_get(m, "envelope"), JSON_COMPACT);
    st = envtext ? ckv_envelope_parse(envtext, strlen(envtext), &env) : CKV_ERR_BAD_ENVELOPE;
    free(envtext);
    if (st == CKV_OK && env.type == CKV_MSG_PREKEY) {
        /* a new session (new sender, or a new key): check the key against
         * the log before anything is accepted or shown */
        st = prekey_identity(c->p, &env, claimed);
        if (st == CKV_OK) {
            k = malloc(sizeof *k);
            st = k ? ckv_fresh_entry(c, from, k) : CKV_ERR_NOMEM;
            if (st == CKV_OK && sodium_memcmp(k->e.key, claimed, 33) != 0 &&
                (st = ckv_kt_lookup(c, from, k)) == CKV_OK &&
                sodium_memcmp(k->e.key, claimed, 33) != 0)
                st = ckv_client_fail(c, CKV_ERR_KT_NOT_LOGGED,
                                     "a message from '%s' uses an identity key that is not "
                                     "their key in the log: refused",
                                     from);
            checked = st == CKV_OK;
        }
        vs = st == CKV_ERR_KT_NOT_LOGGED ? view_state(c) : CKV_OK;
        if (vs != CKV_OK && vs != CKV_ERR_KT_VIEW_FROZEN)
            st = vs; /* cannot tell whether the view is frozen: kept queued */
        if (vs == CKV_ERR_KT_VIEW_FROZEN) {
            /* our frozen view may just not show the contact's new key yet:
             * hold the message (sealed, in this transaction), try again
             * once the view is fresh */
            size_t nh = 0;
            *held = 1;
            st = CKV_OK;
            if (retry)
                goto out;
            st = held_count(c, &nh);
            if (st == CKV_OK && nh >= HELD_MAX)
                st = ckv_client_fail(c, CKV_ERR_KT_VIEW_FROZEN,
                                     "too many messages are held until the log can be checked: "
                                     "the rest stay queued on the server");
            if (st == CKV_OK)
                st = held_put(c->p, m);
            if (st != CKV_OK)
                goto out;
            *ack = 1;
            if ((e = ckv_ev_push(out, CKV_EV_HELD, from)) == NULL) {
                st = CKV_ERR_NOMEM;
                goto out;
            }
            e->status = CKV_ERR_KT_VIEW_FROZEN;
            goto out;
        }
    }
    if (st == CKV_OK) {
        h.mode = CKV_HOOK_RECEIVE;
        c->p->history_hook = ckv_history_hook;
        c->p->history_ctx = &h;
        st = ckv_session_decrypt(c->p, from, &env, &pt, &ptlen, &rep);
        c->p->history_hook = NULL;
        c->p->history_ctx = NULL;
    }
    if (st == CKV_OK) {
        *ack = 1;
        if (rep.key_changed) {
            if ((e = ckv_ev_push(out, CKV_EV_KEY_CHANGED, from)) == NULL) {
                st = CKV_ERR_NOMEM;
                goto out;
            }
            e->state = rep.state;
        }
        if (checked && (rep.new_contact || rep.key_changed || rep.state == CKV_TRUST_UNVERIFIED))
            (void)ckv_kt_vouch(c, from, k->e.key); /* the key was checked just above */
        st = ckv_ev_move(out, &h.ev);
        if (st == CKV_OK && h.cp != NULL)
            st = gossip_event(c, from, h.cp, h.cp_len, out);
        names_add(rcpt, from);
        goto out;
    }
    if (st == CKV_ERR_DUPLICATE_MESSAGE) { /* stored before a crash: ack, show nothing */
        *ack = 1;
        st = CKV_OK;
        goto out;
    }
    if (st == CKV_ERR_UNTRUSTED_IDENTITY) { /* verified contact, new key: kept queued */
        if ((e = ckv_ev_push(out, CKV_EV_KEY_CHANGED, from)) == NULL) {
            st = CKV_ERR_NOMEM;
            goto out;
        }
        e->state = CKV_TRUST_CHANGED;
        if ((e = ckv_ev_push(out, CKV_EV_REJECTED, from)) == NULL) {
            st = CKV_ERR_NOMEM;
            goto out;
        }
        e->status = CKV_ERR_UNTRUSTED_IDENTITY;
        st = CKV_OK;
        goto out;
    }
    if (is_definitive(st)) {
        *ack = 1;
        if ((e = ckv_ev_push(out, CKV_EV_REJECTED, from)) == NULL) {
            st = CKV_ERR_NOMEM;
            goto out;
        }
        e->status = st;
        st = CKV_OK;
        goto out;
    }
    /* anything else (network, database, the log unreachable): stop here,
     * the message stays queued */
    if (c->err[0] == 0)
        ckv_client_fail(c, st, "cannot process a message from '%s': %s", from, ckv_strerror(st));
out:
    ckv_client_events_free(h.ev.v, h.ev.n);
    free(h.cp);
    if (pt != NULL) {
        sodium_memzero(pt, ptlen);
        free(pt);
    }
    ckv_envelope_clear(&env);
    free(k);
    return st;
}

/* Try the held envelopes again (oldest first) once the view is fresh,
 * inside the receive's transaction: each one shown or refused for a real
 * reason is deleted; one still waiting stays. An error stops (the rows
 * stay). */
static ckv_status held_retry(ckv_client *c, struct ckv_evlist *out, struct names *rcpt)
{
    uint64_t ids[64];
    size_t n = 0;
    ckv_status st;
    if (view_state(c) != CKV_OK) /* frozen, or cannot tell: they wait */
        return CKV_OK;
    st = held_ids(c->p, ids, 64, &n);
    for (size_t i = 0; i < n && st == CKV_OK; i++) {
        char key[64];
        uint8_t *rec = NULL;
        size_t rl = 0;
        json_t *m = NULL;
        int ack = 0, held = 0;
        snprintf(key, sizeof key, "held:%020llu", (unsigned long long)ids[i]);
        st = ckv_meta_get(c->p, key, &rec, &rl);
        if (st != CKV_OK)
            break;
        m = json_loadb((const char *)rec, rl, 0, NULL);
        free(rec);
        if (!json_is_object(m)) {
            ckv_event *e = ckv_ev_push(out, CKV_EV_REJECTED, "?");
            json_decref(m);
            if (e == NULL)
                return CKV_ERR_NOMEM;
            e->status = CKV_ERR_PROFILE_DAMAGED;
            st = held_del(c->p, ids[i]);
            continue;
        }
        st = receive_one_ex(c, m, out, rcpt, &ack, 1, &held);
        json_decref(m);
        /* shown or refused for good; a verified contact's new key (not
         * acknowledged) stays held until the user accepts it */
        if (st == CKV_OK && !held && ack)
            st = held_del(c->p, ids[i]);
    }
    return st;
}

ckv_status ckv_client_receive(ckv_client *c, int wait_seconds, ckv_event **events, size_t *count)
{
    if (wait_seconds < 0 || wait_seconds > 30)
        return CKV_ERR_INVALID_ARG;
    return ckv_client_receive_ms(c, wait_seconds * 1000, events, count);
}

ckv_status ckv_client_receive_ms(ckv_client *c, int wait_ms, ckv_event **events, size_t *count)
{
    struct ckv_evlist out = {0};
    struct names *rcpt = NULL;
    struct ckv_receipt_post *posts = NULL;
    json_t *ans = NULL, *msgs, *m, *ids = NULL;
    char path[64];
    size_t i, settled = 0, nposts = 0, nheld = 0;
    int in_txn = 0;
    ckv_status st, st2;

    if (c == NULL || events == NULL || count == NULL || wait_ms < 0 || wait_ms > 30000)
        return CKV_ERR_INVALID_ARG;
    c->err[0] = 0;
    rcpt = calloc(1, sizeof *rcpt);
    ids = json_array();
    if (rcpt == NULL || ids == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    st = ckv_outbox_flush(c);
    if (st != CKV_OK && c->ob_only_refused) {
        /* rows ckvd refused (a recipient's full queue) wait in the
         * outbox; that must not stop us from receiving */
        st = CKV_OK;
        c->err[0] = 0;
    }
    if (st != CKV_OK)
        goto out;
    if (c->ack_pend_n > 0 && ckv_mono_ms() - c->ack_pend_since >= CKV_ACK_PEND_MS &&
        ckv_client_ack_flush(c) != CKV_OK)
        c->err[0] = 0;     /* still owed: tried again with the next post or receive */
    if (c->ack_pend_n > 0) /* what is owed an ack is not fetched again */
        snprintf(path, sizeof path, "/v1/messages?wait_ms=%d&after=%lld", wait_ms,
                 (long long)c->fetch_after);
    else
        snprintf(path, sizeof path, "/v1/messages?wait_ms=%d", wait_ms);
    st = ckv_net_json(c, "GET", path, NULL, 1, (long)wait_ms, &ans);
    if (st != CKV_OK)
        goto out;
    msgs = json_object_get(ans, "messages");
    if (!json_is_array(msgs)) {
        st = ckv_client_fail(c, CKV_ERR_JSON, "the server's message list is malformed");
        goto out;
    }
    if (json_array_size(msgs) > CKV_FETCH_MAX) {
        st = ckv_client_fail(c, CKV_ERR_JSON,
                             "the server sent %zu messages in one batch (at most %d are taken; "
                             "ckvd sends at most 100): the server is misbehaving",
                             json_array_size(msgs), CKV_FETCH_MAX);
        goto out;
    }
    st = held_count(c, &nheld);
    if (st != CKV_OK)
        goto out;
    if (json_array_size(msgs) == 0 && nheld == 0) {
        /* idle (a wait of a second or more found nothing): settle the
         * acknowledgements owed; a failure leaves them owed */
        if (wait_ms >= 1000 && ckv_client_ack_flush(c) != CKV_OK)
            c->err[0] = 0;
        goto done;
    }
    /* The whole batch -- every message's ratchet step, history row and
     * sequence state, and the receipts we then owe -- is one transaction
     * (each message a savepoint in it): one commit per fetch, not one per
     * message and receipt. Only after it committed is anything acknowledged
     * or posted, so a crash at any point loses nothing: ckvd delivers the
     * batch again. */
    st = ckv_db_begin(c->p);
    if (st != CKV_OK) {
        st = ckv_client_fail(c, st, "cannot write to the profile: %s", ckv_strerror(st));
        goto out;
    }
    in_txn = 1;
    st = ckv_outbox_settle_in_txn(c, &settled);
    if (st != CKV_OK)
        goto out;
    st = ckv_identity_prev_expire(c->p);
    if (st != CKV_OK)
        goto out;
    if (nheld > 0) /* before the new ones: they came first */
        st = held_retry(c, &out, rcpt);
    json_array_foreach(msgs, i, m)
    {
        if (st != CKV_OK)
            break;
        json_t *id = json_object_get(m, "id");
        int ack = 0;
        if (!json_is_object(m) || !json_is_integer(id) || json_integer_value(id) <= 0) {
            st = ckv_client_fail(c, CKV_ERR_JSON, "the server's message list is malformed");
            break;
        }
        st = receive_one(c, m, &out, rcpt, &ack);
        if (st != CKV_OK)
            break;
        if (ack && json_array_append(ids, id) != 0) {
            st = CKV_ERR_NOMEM;
            break;
        }
    }
    /* receipts for what was stored (even when a later message failed) */
    if (rcpt->n > 0 && (posts = calloc(rcpt->n, sizeof *posts)) != NULL)
        for (i = 0; i < rcpt->n; i++)
            if (ckv_encrypt_receipts(c, rcpt->v[i], &posts[nposts]) == CKV_OK && posts[nposts].ob)
                nposts++; /* on failure the owed receipts stay stored for the next batch */
    st2 = ckv_db_commit(c->p);
    in_txn = 0;
    if (st2 != CKV_OK) {
        /* nothing of the batch is stored: nothing is acknowledged, nothing
         * shown; ckvd delivers it again */
        ckv_client_events_free(out.v, out.n);
        memset(&out, 0, sizeof out);
        st = ckv_client_fail(c, st2, "cannot store the received messages: %s",
                             ckv_strerror(st2));
        goto out;
    }
    ckv_outbox_forget(c, settled);
    /* The receipts (the senders wait for them; they are in the outbox,
     * so posting them with the ack risks nothing) and the acknowledgement
     * of what is stored (or refused for good), even after an error: one
     * request. Should ckvd refuse the receipts (a sender's queue full),
     * the ack still goes out alone and the receipts stay in the outbox. A
     * batch that owes no receipt (receipts for us, say) is acknowledged
     * with the next request that posts (ckv_acks_owe). */
    st2 = ckv_acks_owe(c, msgs, ids);
    if (nposts > 0) {
        struct ckv_post_item *it = calloc(nposts, sizeof *it);
        st2 = it ? CKV_OK : CKV_ERR_NOMEM;
        for (i = 0; it != NULL && i < nposts; i++) {
            it[i].to = posts[i].name;
            it[i].type = posts[i].env.type;
            it[i].body = posts[i].env.body;
            it[i].len = posts[i].env.body_len;
            it[i].ob = posts[i].ob;
        }
        if (it != NULL)
            st2 = ckv_post_items(c, it, nposts, NULL);
        free(it);
        if (st2 != CKV_OK) {
            c->ob_clean = 0; /* what was not accepted goes with the next flush */
            st2 = ckv_client_ack_flush(c);
        }
    } else if (!c->defer_acks || c->ack_pend_n >= CKV_ACK_PEND_FLUSH) {
        st2 = ckv_client_ack_flush(c);
    }
    if (st == CKV_OK)
        st = st2;
done:
    if (st == CKV_OK || out.n > 0) {
        /* events of what was stored are returned even when a later
         * message failed: they are in the history and acknowledged */
        if (st != CKV_OK && c->err[0] == 0)
            ckv_client_fail(c, st, "%s", ckv_strerror(st));
        *events = out.v;
        *count = out.n;
        out.v = NULL;
        out.n = 0;
        st = CKV_OK;
    }
out:
    if (in_txn)
        ckv_db_rollback(c->p);
    if (in_txn && out.n > 0) { /* rolled back: nothing of it was stored */
        ckv_client_events_free(out.v, out.n);
        memset(&out, 0, sizeof out);
    }
    for (i = 0; posts != NULL && i < nposts; i++)
        ckv_envelope_clear(&posts[i].env);
    free(posts);
    ckv_client_events_free(out.v, out.n);
    json_decref(ans);
    json_decref(ids);
    free(rcpt);
    return done(c, st);
}
