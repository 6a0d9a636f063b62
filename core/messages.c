/*
 * messages.c: the online client API (include/ckv/client.h), part 2:
 * contacts from the directory, sending and receiving through ckvd with the
 * key-transparency checks of kt.c, and the inner message format of inner.c
 * (sequence numbers, receipts).
 *
 * Atomicity. The session calls of session.c store the plaintext in the
 * history inside their transaction; the client installs a history hook
 * (p->history_hook) so that, in that same transaction, the history gets the
 * text (not the inner JSON) and the conversation's sequence state changes
 * (conv:<hash> in meta). Hence a received message, its place in the
 * sequence and the receipt we owe are stored together or not at all, and
 * only then is it acknowledged to ckvd: a crash before the ack makes ckvd
 * deliver it again, which libsignal then refuses as a duplicate (it is
 * acknowledged without being shown twice).
 *
 * Sending: an envelope is written to the outbox (outbox:<n> in meta) in
 * the same transaction as the ratchet step that made it (the history hook
 * sees the ciphertext through p->pending_ct), and removed once ckvd
 * answered with its id; the outbox is flushed before every send and
 * receive, so a message that could not reach the server is not lost, and a
 * crash can never leave a ratchet step without its envelope.
 *
 * Held envelopes. A PreKey message whose claimed key the log cannot prove
 * while our view is frozen (quorum.c: the witnesses' cosignatures are too
 * old) may be a contact's genuine new key: it is neither shown nor refused
 * but kept sealed in meta (held:<n>, the server's JSON message) in the
 * batch's transaction, and only then acknowledged (CKV_EV_HELD). Every
 * later receive tries the held envelopes first, oldest first, once the
 * view is fresh: each is then shown or refused for a real reason, and its
 * row deleted in that same transaction.
 */
#include "kt_evidence.h"
#include "online.h"

#include <signal/protocol.h>
#include <signal/session_record.h>
#include <signal/session_state.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONV_LIST_MAX 1000
#define OUTBOX_MAX_FLUSH 1000
#define HELD_MAX 1000 /* held envelopes kept at most (more stay queued on ckvd) */
/* Largest inner plaintext we send: the Signal message adds at most ~150
 * bytes (header, MAC, CBC padding), so the envelope body stays under
 * ckvd's 64 KiB limit. */
#define CKV_SEND_INNER_MAX (60u * 1024u)
#define done ckv_client_done

/* ---- events ------------------------------------------------------------------------ */

struct evlist {
    ckv_event *v;
    size_t n, cap;
};

static ckv_event *ev_push(struct evlist *l, ckv_event_kind kind, const char *contact)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        ckv_event *nv = realloc(l->v, nc * sizeof *nv);
        if (nv == NULL)
            return NULL;
        l->v = nv;
        l->cap = nc;
    }
    ckv_event *e = &l->v[l->n++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    snprintf(e->contact, sizeof e->contact, "%s", contact);
    e->time = ckv_now();
    return e;
}

void ckv_client_events_free(ckv_event *events, size_t count)
{
    if (events == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        if (events[i].text != NULL) {
            sodium_memzero(events[i].text, events[i].text_len);
            free(events[i].text);
        }
    free(events);
}

/* Move src's events to the end of dst. */
static ckv_status ev_move(struct evlist *dst, struct evlist *src)
{
    for (size_t i = 0; i < src->n; i++) {
        ckv_event *e = ev_push(dst, src->v[i].kind, src->v[i].contact);
        if (e == NULL)
            return CKV_ERR_NOMEM;
        *e = src->v[i];
        src->v[i].text = NULL;
    }
    ckv_client_events_free(src->v, src->n);
    memset(src, 0, sizeof *src);
    return CKV_OK;
}

/* ---- conversation state (conv:<hash>) --------------------------------------- */

struct conv {
    uint64_t send_seq, recv_max;
    size_t n_missing, n_receipts;
    uint64_t missing[CONV_LIST_MAX];
    uint64_t receipts[CONV_LIST_MAX];
};

static ckv_status conv_load(ckv_profile *p, const char *name, struct conv *cv)
{
    char key[64];
    uint8_t *rec = NULL;
    size_t n = 0, need;
    ckv_status st;
    memset(cv, 0, sizeof *cv);
    ckv_meta_name_key(p, "conv:", name, key);
    st = ckv_meta_get(p, key, &rec, &n);
    if (st == CKV_ERR_NOT_FOUND)
        return CKV_OK;
    if (st != CKV_OK)
        return st;
    st = CKV_ERR_PROFILE_DAMAGED;
    if (n < 24)
        goto out;
    cv->send_seq = ckv_get_be64(rec);
    cv->recv_max = ckv_get_be64(rec + 8);
    cv->n_missing = (size_t)(ckv_get_be64(rec + 16) >> 32);
    cv->n_receipts = (size_t)(ckv_get_be64(rec + 16) & 0xffffffffu);
    if (cv->n_missing > CONV_LIST_MAX || cv->n_receipts > CONV_LIST_MAX)
        goto out;
    need = 24 + 8 * (cv->n_missing + cv->n_receipts);
    if (n != need)
        goto out;
    for (size_t i = 0; i < cv->n_missing; i++)
        cv->missing[i] = ckv_get_be64(rec + 24 + 8 * i);
    for (size_t i = 0; i < cv->n_receipts; i++)
        cv->receipts[i] = ckv_get_be64(rec + 24 + 8 * (cv->n_missing + i));
    st = CKV_OK;
out:
    free(rec);
    return st;
}

static ckv_status conv_store(ckv_profile *p, const char *name, const struct conv *cv)
{
    char key[64];
    size_t n = 24 + 8 * (cv->n_missing + cv->n_receipts);
    uint8_t *rec = malloc(n);
    ckv_status st;
    if (rec == NULL)
        return CKV_ERR_NOMEM;
    ckv_put_be64(rec, cv->send_seq);
    ckv_put_be64(rec + 8, cv->recv_max);
    ckv_put_be64(rec + 16, ((uint64_t)cv->n_missing << 32) | cv->n_receipts);
    for (size_t i = 0; i < cv->n_missing; i++)
        ckv_put_be64(rec + 24 + 8 * i, cv->missing[i]);
    for (size_t i = 0; i < cv->n_receipts; i++)
        ckv_put_be64(rec + 24 + 8 * (cv->n_missing + i), cv->receipts[i]);
    ckv_meta_name_key(p, "conv:", name, key);
    st = ckv_meta_put(p, key, rec, n);
    free(rec);
    return st;
}

/* ---- the history hook ----------------------------------------------------------- */

enum hook_mode { HOOK_SEND = 1, HOOK_RECEIPT = 2, HOOK_RECEIVE = 3 };

struct hook_ctx {
    enum hook_mode mode;
    uint64_t seq;            /* HOOK_SEND: the seq being sent */
    const uint8_t *text;     /* HOOK_SEND: what the history shows */
    size_t text_len;
    size_t n_receipts_sent;  /* HOOK_RECEIPT: how many pending receipts went out */
    int in_outbox;           /* HOOK_SEND/RECEIPT: the envelope went into the outbox */
    uint64_t outbox_id;      /*   ... under this id, in the encrypt's transaction */
    struct evlist ev;        /* HOOK_RECEIVE: events, emitted if it commits */
    char *cp;                /* HOOK_RECEIVE: the checkpoint note gossiped (malloc'd) */
    size_t cp_len;
    int gossip_sent;         /* HOOK_SEND: the message carries our view ... */
    uint64_t gossip_size;    /*   ... of this size and root (gossip.c) */
    uint8_t gossip_root[32];
};

static ckv_status hook_receive(ckv_profile *p, const char *name, const uint8_t *pt, size_t len,
                               struct hook_ctx *h)
{
    ckv_inner in;
    struct conv *cv = NULL;
    ckv_event *e;
    ckv_status st = ckv_inner_parse(pt, len, &in);
    if (st != CKV_OK)
        return st;
    if (in.kind == 2) { /* a receipt: nothing for the history */
        for (size_t i = 0; i < in.n_receipts; i++) {
            if ((e = ev_push(&h->ev, CKV_EV_RECEIPT, name)) == NULL) {
                st = CKV_ERR_NOMEM;
                goto out;
            }
            e->seq = in.receipts[i];
            /* the receipt's effect, in the decrypt's transaction */
            st = ckv_history_mark_delivered(p, name, in.receipts[i]);
            if (st != CKV_OK)
                goto out;
        }
        goto out;
    }
    st = ckv_history_add_seq(p, name, 0, 0, 1, in.text, in.text_len);
    if (st != CKV_OK)
        goto out;
    if (in.kind == 1 && in.cp != NULL) { /* checked after the commit (network) */
        free(h->cp);
        h->cp = in.cp;
        h->cp_len = in.cp_len;
        in.cp = NULL;
    }
    if (in.kind == 1) {
        cv = malloc(sizeof *cv);
        if (cv == NULL) {
            st = CKV_ERR_NOMEM;
            goto out;
        }
        st = conv_load(p, name, cv);
        if (st != CKV_OK)
            goto out;
        if (in.seq > cv->recv_max + 1) {
            uint64_t first = cv->recv_max + 1, count = in.seq - first;
            if ((e = ev_push(&h->ev, CKV_EV_GAP, name)) == NULL) {
                st = CKV_ERR_NOMEM;
                goto out;
            }
            e->seq = first;
            e->count = count;
            for (uint64_t s = count > CONV_LIST_MAX ? in.seq - CONV_LIST_MAX : first; s < in.seq;
                 s++) {
                if (cv->n_missing == CONV_LIST_MAX) { /* forget the oldest */
                    memmove(cv->missing, cv->missing + 1, sizeof cv->missing[0] * (CONV_LIST_MAX - 1));
                    cv->n_missing--;
                }
                cv->missing[cv->n_missing++] = s;
            }
        }
        if (in.seq > cv->recv_max) {
            cv->recv_max = in.seq;
        } else {
            for (size_t i = 0; i < cv->n_missing; i++)
                if (cv->missing[i] == in.seq) {
                    memmove(cv->missing + i, cv->missing + i + 1,
                            sizeof cv->missing[0] * (cv->n_missing - i - 1));
                    cv->n_missing--;
                    break;
                }
            if ((e = ev_push(&h->ev, CKV_EV_REORDERED, name)) == NULL) {
                st = CKV_ERR_NOMEM;
                goto out;
            }
            e->seq = in.seq;
        }
        if (cv->n_receipts < CONV_LIST_MAX)
            cv->receipts[cv->n_receipts++] = in.seq;
        st = conv_store(p, name, cv);
        if (st != CKV_OK)
            goto out;
    }
    if ((e = ev_push(&h->ev, CKV_EV_MESSAGE, name)) == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    e->seq = in.kind == 1 ? in.seq : 0;
    e->time = in.kind == 1 ? in.time : ckv_now();
    e->text = malloc(in.text_len + 1);
    if (e->text == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    memcpy(e->text, in.text, in.text_len);
    e->text[in.text_len] = 0;
    e->text_len = in.text_len;
out:
    free(cv);
    ckv_inner_clear(&in);
    return st;
}

static ckv_status outbox_put(ckv_profile *p, const char *name, int type, const uint8_t *body,
                             size_t body_len, uint64_t *id_out);

static ckv_status history_hook(ckv_profile *p, const char *name, int outgoing, const uint8_t *body,
                               size_t len, void *ctx)
{
    struct hook_ctx *h = ctx;
    struct conv *cv;
    ckv_status st;

    if (h->mode == HOOK_RECEIVE && !outgoing)
        return hook_receive(p, name, body, len, h);
    if (!outgoing)
        return CKV_ERR_INTERNAL;
    cv = malloc(sizeof *cv);
    if (cv == NULL)
        return CKV_ERR_NOMEM;
    st = conv_load(p, name, cv);
    if (st == CKV_OK && h->mode == HOOK_SEND) {
        st = ckv_history_add_seq(p, name, 1, h->seq, 1, h->text, h->text_len);
        cv->send_seq = h->seq;
        if (st == CKV_OK && h->gossip_sent)
            st = ckv_gossip_mark_sent(p, name, h->gossip_size, h->gossip_root);
    } else if (st == CKV_OK && h->mode == HOOK_RECEIPT) {
        size_t k = h->n_receipts_sent <= cv->n_receipts ? h->n_receipts_sent : cv->n_receipts;
        memmove(cv->receipts, cv->receipts + k, sizeof cv->receipts[0] * (cv->n_receipts - k));
        cv->n_receipts -= k;
    }
    if (st == CKV_OK)
        st = conv_store(p, name, cv);
    /* The ciphertext goes into the outbox in the encrypt's own transaction:
     * a crash can no longer fall between the ratchet step and the outbox. */
    if (st == CKV_OK && p->pending_ct != NULL) {
        st = outbox_put(p, name, p->pending_ct_type, p->pending_ct, p->pending_ct_len,
                        &h->outbox_id);
        h->in_outbox = st == CKV_OK;
    }
    free(cv);
    return st;
}

/* ---- outbox ------------------------------------------------------------------------ */

/* Add a record to the outbox inside the caller's transaction. */
static ckv_status outbox_put(ckv_profile *p, const char *name, int type, const uint8_t *body,
                             size_t body_len, uint64_t *id_out)
{
    uint8_t *next = NULL, nb[8], *rec;
    size_t n = 0, nl = strlen(name), rl = 2 + nl + body_len;
    uint64_t id = 1;
    char key[64];
    ckv_status st;

    rec = malloc(rl);
    if (rec == NULL)
        return CKV_ERR_NOMEM;
    rec[0] = (uint8_t)nl;
    memcpy(rec + 1, name, nl);
    rec[1 + nl] = (uint8_t)type;
    memcpy(rec + 2 + nl, body, body_len);
    st = ckv_meta_get(p, "outbox_next", &next, &n);
    if (st == CKV_OK && n == 8)
        id = ckv_get_be64(next);
    else if (st == CKV_OK || st == CKV_ERR_NOT_FOUND)
        st = n == 0 || st == CKV_ERR_NOT_FOUND ? CKV_OK : CKV_ERR_PROFILE_DAMAGED;
    free(next);
    if (st == CKV_OK) {
        ckv_put_be64(nb, id + 1);
        st = ckv_meta_put(p, "outbox_next", nb, 8);
    }
    if (st == CKV_OK) {
        snprintf(key, sizeof key, "outbox:%020llu", (unsigned long long)id);
        st = ckv_meta_put(p, key, rec, rl);
    }
    if (st == CKV_OK)
        *id_out = id;
    free(rec);
    return st;
}

/* ---- outbox: accepted rows, deleted in the next transaction -------------- */
/*
 * Deleting an outbox row right after ckvd accepted its envelope would cost
 * a commit of its own per message. Instead its id waits in c->ob_done and
 * the row is deleted inside the next transaction the client commits anyway
 * (the next send's or receive's), or by ckv_client_close. A crash in
 * between only means the envelope is posted again on restart; the
 * recipient's libsignal refuses it as a duplicate and it is acknowledged
 * without being shown -- as a crash between a post and its delete always
 * could. ob_done ids are never posted again by this client.
 */

static int ob_is_done(const ckv_client *c, uint64_t id)
{
    for (size_t i = 0; i < c->ob_done_n; i++)
        if (c->ob_done[i] == id)
            return 1;
    return 0;
}

static ckv_status outbox_del(ckv_client *c, uint64_t id)
{
    char key[64];
    snprintf(key, sizeof key, "outbox:%020llu", (unsigned long long)id);
    return ckv_meta_del(c->p, key);
}

/* ckvd accepted row id: remember it for the next transaction (or, when
 * memory is short, delete it now in a commit of its own). */
static ckv_status ob_mark_done(ckv_client *c, uint64_t id)
{
    if (c->ob_done_n == c->ob_done_cap) {
        size_t nc = c->ob_done_cap ? c->ob_done_cap * 2 : 64;
        uint64_t *nv = nc <= 4096 ? realloc(c->ob_done, nc * sizeof *nv) : NULL;
        if (nv == NULL)
            return outbox_del(c, id);
        c->ob_done = nv;
        c->ob_done_cap = nc;
    }
    c->ob_done[c->ob_done_n++] = id;
    return CKV_OK;
}

/* Delete the accepted rows inside the caller's open transaction; *n gets
 * how many, to be forgotten (ob_forget) once that transaction committed. */
static ckv_status ob_settle_in_txn(ckv_client *c, size_t *n)
{
    ckv_status st = CKV_OK;
    *n = 0;
    for (size_t i = 0; i < c->ob_done_n && st == CKV_OK; i++)
        st = outbox_del(c, c->ob_done[i]);
    if (st == CKV_OK)
        *n = c->ob_done_n;
    return st;
}

static void ob_forget(ckv_client *c, size_t n)
{
    if (n > c->ob_done_n)
        n = c->ob_done_n;
    if (n == 0)
        return; /* also: ob_done may still be NULL */
    memmove(c->ob_done, c->ob_done + n, (c->ob_done_n - n) * sizeof c->ob_done[0]);
    c->ob_done_n -= n;
}

ckv_status ckv_client_outbox_settle(ckv_client *c)
{
    size_t n = 0;
    ckv_status st;
    if (c == NULL || c->p == NULL || c->ob_done_n == 0)
        return CKV_OK;
    st = ckv_db_begin(c->p);
    if (st != CKV_OK)
        return st;
    st = ob_settle_in_txn(c, &n);
    if (st == CKV_OK)
        st = ckv_db_commit(c->p);
    else
        ckv_db_rollback(c->p);
    if (st == CKV_OK)
        ob_forget(c, n);
    return st;
}

/* One envelope to post (its outbox row id in ob, 0 for none). */
struct post_item {
    const char *to;
    int type;
    const uint8_t *body;
    size_t len;
    uint64_t ob;
};

/* What one POST /v1/messages/batch may carry (docs/server.md: at most 64
 * messages, a body of at most 256 KiB; the base64 bodies are kept under
 * BATCH_B64_MAX so the JSON around them always fits). */
#define BATCH_ITEMS 64
#define BATCH_B64_MAX (160u * 1024u)

/* POST items[0..n) and acknowledge ack_ids (may be NULL) in one request:
 * ckvd stores all of it in one transaction, or nothing. */
static ckv_status post_chunk(ckv_client *c, const struct post_item *it, size_t n, json_t *ack_ids)
{
    json_t *req = json_object(), *arr = json_array(), *ans = NULL, *ids;
    ckv_status st = CKV_ERR_NOMEM;
    if (req == NULL || arr == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        char *b64 = ckv_b64(it[i].body, it[i].len);
        json_t *m = b64 ? json_pack("{s:s, s:{s:i, s:s}}", "to", it[i].to, "envelope", "type",
                                    it[i].type, "body", b64)
                        : NULL;
        free(b64);
        if (m == NULL || json_array_append_new(arr, m) != 0)
            goto out;
    }
    if (json_object_set(req, "messages", arr) != 0 ||
        (ack_ids != NULL && json_array_size(ack_ids) > 0 &&
         json_object_set(req, "ack", ack_ids) != 0))
        goto out;
    st = ckv_net_json(c, "POST", "/v1/messages/batch", req, 1, 0, &ans);
    if (st != CKV_OK)
        goto out;
    ids = json_object_get(ans, "ids");
    if (!json_is_array(ids) || json_array_size(ids) != n) {
        st = ckv_client_fail(c, CKV_ERR_JSON, "the server did not answer the send with its ids");
        goto out;
    }
    for (size_t i = 0; i < n && st == CKV_OK; i++)
        if (it[i].ob != 0)
            st = ob_mark_done(c, it[i].ob);
out:
    json_decref(arr);
    json_decref(req);
    json_decref(ans);
    return st;
}

/* The acknowledgements owed (c->ack_pend) as a JSON array; NULL when none
 * (or out of memory: they stay owed). */
static json_t *pending_acks(const ckv_client *c)
{
    json_t *a;
    if (c->ack_pend_n == 0 || (a = json_array()) == NULL)
        return NULL;
    for (size_t i = 0; i < c->ack_pend_n; i++)
        if (json_array_append_new(a, json_integer((json_int_t)c->ack_pend[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* ckvd took them: nothing is owed, and fetches start from the first id
 * again (ids below the cursor may be messages left queued on purpose, or
 * a restored server's). */
static void pending_clear(ckv_client *c)
{
    c->ack_pend_n = 0;
    c->fetch_after = 0;
}

/* The owed acknowledgements a request carried were taken: forget them. */
static void took_acks(ckv_client *c, json_t **acks)
{
    if (*acks != NULL) {
        pending_clear(c);
        json_decref(*acks);
        *acks = NULL;
    }
}

/* Post items in as few requests as the limits allow, in order, the
 * acknowledgements owed with the first; stops at the first failure (what
 * was not accepted stays in the outbox, what was not acknowledged stays
 * owed). */
static ckv_status post_items(ckv_client *c, const struct post_item *it, size_t n)
{
    json_t *acks = pending_acks(c);
    ckv_status st = CKV_OK;
    size_t i = 0;
    do {
        size_t k = 0, b64 = 0;
        while (i + k < n && k < BATCH_ITEMS) {
            size_t e = sodium_base64_encoded_len(it[i + k].len, sodium_base64_VARIANT_ORIGINAL);
            if (k > 0 && b64 + e > BATCH_B64_MAX)
                break;
            b64 += e;
            k++;
        }
        st = post_chunk(c, it + i, k, acks);
        if (st != CKV_OK && k > 1 && c->last_http >= 400) {
            /* ckvd refused the chunk as a whole (one recipient's queue
             * full, say): what comes before the refused envelope still
             * goes out, one at a time, as without batches */
            st = CKV_OK;
            for (size_t j = 0; j < k && st == CKV_OK; j++)
                if ((st = post_chunk(c, it + i + j, 1, acks)) == CKV_OK)
                    took_acks(c, &acks);
        }
        if (st != CKV_OK)
            break;
        took_acks(c, &acks);
        i += k;
    } while (i < n);
    json_decref(acks);
    return st;
}

/* Send every row of the outbox ckvd has not accepted yet, oldest first,
 * up to 64 rows a request. Nothing to do (no query) when c->ob_clean says
 * there is none. */
static ckv_status outbox_flush(ckv_client *c)
{
    sqlite3_stmt *s = NULL;
    ckv_status st = CKV_OK;
    char after[64] = "outbox:";
    struct post_item it[BATCH_ITEMS];
    char names[BATCH_ITEMS][CKV_NAME_MAX + 1];
    uint8_t *recs[BATCH_ITEMS];
    uint64_t ids[BATCH_ITEMS];
    size_t n = 0, nk;
    int rc;

    if (c->ob_clean)
        return CKV_OK;
    for (int round = 0; round < OUTBOX_MAX_FLUSH / BATCH_ITEMS; round++) {
        n = 0;
        if (sqlite3_prepare_v2(c->p->db,
                               "SELECT k FROM meta WHERE k > ?1 AND k < 'outbox;' "
                               "ORDER BY k LIMIT 64",
                               -1, &s, NULL) != SQLITE_OK)
            return CKV_ERR_DB;
        sqlite3_bind_text(s, 1, after, -1, SQLITE_TRANSIENT);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < BATCH_ITEMS) {
            const char *k = (const char *)sqlite3_column_text(s, 0);
            ids[n++] = strtoull(k + 7, NULL, 10);
            snprintf(after, sizeof after, "%s", k);
        }
        sqlite3_finalize(s);
        if (n == 0) {
            c->ob_clean = 1;
            return CKV_OK;
        }
        nk = 0;
        for (size_t i = 0; i < n && st == CKV_OK; i++) {
            char key[64];
            uint8_t *rec = NULL;
            size_t rl = 0;
            if (ob_is_done(c, ids[i]))
                continue;
            snprintf(key, sizeof key, "outbox:%020llu", (unsigned long long)ids[i]);
            st = ckv_meta_get(c->p, key, &rec, &rl);
            if (st != CKV_OK)
                break;
            if (rl < 3 || rec[0] == 0 || rec[0] > CKV_NAME_MAX || rl < 2u + rec[0] + 1) {
                free(rec);
                st = CKV_ERR_PROFILE_DAMAGED;
                break;
            }
            memcpy(names[nk], rec + 1, rec[0]);
            names[nk][rec[0]] = 0;
            recs[nk] = rec;
            it[nk].to = names[nk];
            it[nk].type = rec[1 + rec[0]];
            it[nk].body = rec + 2 + rec[0];
            it[nk].len = rl - 2 - rec[0];
            it[nk].ob = ids[i];
            nk++;
        }
        if (st == CKV_OK && nk > 0)
            st = post_items(c, it, nk);
        for (size_t i = 0; i < nk; i++)
            free(recs[i]);
        if (st != CKV_OK)
            return st;
    }
    return st;
}

/* ---- bundles and sessions --------------------------------------------------------- */

/* Fetch name's bundle (consumes a one-time prekey) and check that its
 * identity key is the logged key. */
static ckv_status fetch_bundle(ckv_client *c, const char *name, const uint8_t logged[33],
                               ckv_bundle *out)
{
    char path[128], *text = NULL;
    json_t *ans = NULL;
    const char *bn;
    ckv_status st;

    snprintf(path, sizeof path, "/v1/keys/%s", name);
    st = ckv_net_json(c, "GET", path, NULL, 1, 0, &ans);
    if (st != CKV_OK)
        return st;
    bn = json_string_value(json_object_get(ans, "name"));
    if (bn == NULL || strcmp(bn, name) != 0) {
        st = ckv_client_fail(c, CKV_ERR_KT_NAME_MISMATCH,
                             "asked for the bundle of '%s', the server sent one for '%s'", name,
                             bn ? bn : "(no name)");
        goto out;
    }
    json_object_del(ans, "name");
    text = json_dumps(ans, JSON_COMPACT);
    if (text == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    st = ckv_bundle_parse(text, strlen(text), out);
    if (st != CKV_OK) {
        st = ckv_client_fail(c, st, "the server's prekey bundle for '%s' is not valid: %s", name,
                             ckv_strerror(st));
        goto out;
    }
    if (sodium_memcmp(out->identity_key, logged, CKV_IDENTITY_KEY_LEN) != 0)
        st = ckv_kt_ev_bundle_key(
            c,
            ckv_client_fail(c, CKV_ERR_KT_BUNDLE_KEY,
                            "the server's prekey bundle for '%s' carries an identity key that "
                            "is not the key in the log: refused (a server-made key)",
                            name),
            name, out->identity_key);
out:
    free(text);
    json_decref(ans);
    return st;
}

/* The logged entry of name, from the store when proven under a view no
 * older than max_age, else from a fresh lookup. With witnesses pinned the
 * stored entry must also be proven under the current view's size: a view
 * that was frozen (kept fresh by the server re-serving an old checkpoint)
 * and then moved on must not vouch for a key proven under the old one. */
static ckv_status fresh_entry(ckv_client *c, const char *name, ckv_kt_entry *k)
{
    uint64_t size = 0;
    ckv_status st = ckv_kt_stored(c, name, k);
    if (st == CKV_OK && ckv_now() - k->checked_at <= c->max_age && k->checked_at <= ckv_now() &&
        (c->n_witnesses == 0 ||
         (ckv_kt_view(c, &size, NULL, NULL) == CKV_OK && size == k->tree_size)))
        return CKV_OK;
    return ckv_kt_lookup(c, name, k);
}

static ckv_status start_session(ckv_client *c, const char *name, const ckv_kt_entry *k,
                                ckv_trust_report *r)
{
    ckv_bundle b;
    ckv_status st = fetch_bundle(c, name, k->e.key, &b);
    if (st != CKV_OK)
        return st;
    st = ckv_session_start(c->p, name, &b, r);
    if (st != CKV_OK)
        return ckv_client_fail(c, st, "cannot start a session with '%s': %s", name,
                               ckv_strerror(st));
    /* a new session: the next message gossips our view again */
    {
        static const uint8_t none[32];
        (void)ckv_gossip_mark_sent(c->p, name, 0, none);
    }
    return CKV_OK;
}

static ckv_status mark_logged(ckv_client *c, const char *name, const uint8_t key[33])
{
    ckv_status st = ckv_kt_vouch(c, name, key);
    if (st != CKV_OK)
        return ckv_client_fail(c, st, "cannot record that the log vouches for '%s': %s", name,
                               ckv_strerror(st));
    return CKV_OK;
}

ckv_status ckv_client_add_contact(ckv_client *c, const char *name, ckv_trust_report *r)
{
    char norm[CKV_NAME_MAX + 1];
    ckv_kt_entry *k;
    ckv_trust_report rep;
    ckv_contact *ct = NULL;
    ckv_status st;

    if (c == NULL || name == NULL)
        return CKV_ERR_INVALID_ARG;
    c->err[0] = 0;
    if (ckv_name_normalize(name, norm) != CKV_OK)
        return ckv_client_fail(c, CKV_ERR_BAD_NAME, "'%s' is not a valid account name", name);
    if (strcmp(norm, c->p->account) == 0)
        return ckv_client_fail(c, CKV_ERR_INVALID_ARG, "'%s' is this profile's own account",
                               norm);
    k = malloc(sizeof *k);
    if (k == NULL)
        return CKV_ERR_NOMEM;
    st = ckv_kt_lookup(c, norm, k);
    if (st == CKV_OK)
        st = start_session(c, norm, k, &rep);
    if (st == CKV_OK)
        st = mark_logged(c, norm, k->e.key);
    if (st == CKV_OK && ckv_contact_get(c->p, norm, &ct) == CKV_OK)
        rep.state = ct->state;
    if (st == CKV_OK && r != NULL)
        *r = rep;
    ckv_contact_free(ct);
    free(k);
    return done(c, st);
}

/* The remote identity key of our session with name; *has = 0 when none
 * (a session from before our rotation only receives: none for sending). */
static ckv_status session_key(ckv_profile *p, const char *name, uint8_t out[33], int *has)
{
    signal_protocol_address a = {name, strlen(name), 1};
    int r = ckv_session_usable(p, &a, out);
    if (r < 0)
        return CKV_ERR_DB;
    *has = r == 1;
    return CKV_OK;
}

/* The check before every send (client.h): the pinned key must be the latest
 * logged key under a fresh checkpoint; a changed key is applied with the
 * trust rules (blocking for a verified contact) and a new session started. */
static ckv_status presend(ckv_client *c, const char *name)
{
    ckv_kt_entry *k = malloc(sizeof *k);
    ckv_contact *ct = NULL;
    ckv_trust_report rep;
    uint8_t skey[CKV_IDENTITY_KEY_LEN];
    int has = 0;
    ckv_status st;

    if (k == NULL)
        return CKV_ERR_NOMEM;
    st = ckv_contact_get(c->p, name, &ct);
    if (st == CKV_ERR_NO_CONTACT) {
        free(k);
        return ckv_client_add_contact(c, name, NULL);
    }
    if (st != CKV_OK)
        goto out;
    st = fresh_entry(c, name, k);
    if (st != CKV_OK)
        goto out;
    if (sodium_memcmp(ct->identity_key, k->e.key, CKV_IDENTITY_KEY_LEN) != 0) {
        st = ckv_contact_pin(c->p, name, k->e.key, &rep);
        if (st != CKV_OK)
            goto out;
        if (rep.blocked || rep.state == CKV_TRUST_CHANGED) {
            st = ckv_client_fail(c, CKV_ERR_KEY_CHANGED_BLOCKED,
                                 "'%s' has a new key in the log (version %llu, %s): sending is "
                                 "blocked until you verify or accept the new key",
                                 name, (unsigned long long)k->e.version,
                                 ckv_dir_type_name(k->e.type));
            goto out;
        }
        st = start_session(c, name, k, NULL);
        if (st == CKV_OK)
            st = mark_logged(c, name, k->e.key);
        goto out;
    }
    if (ct->state == CKV_TRUST_CHANGED) {
        st = ckv_client_fail(c, CKV_ERR_KEY_CHANGED_BLOCKED,
                             "'%s' changed keys since you verified them: sending is blocked until "
                             "you verify or accept the new key",
                             name);
        goto out;
    }
    if (ct->state == CKV_TRUST_UNVERIFIED) {
        st = mark_logged(c, name, k->e.key);
        if (st != CKV_OK)
            goto out;
    }
    /* a session made with an older key of the contact is replaced */
    st = session_key(c->p, name, skey, &has);
    if (st == CKV_OK && (!has || sodium_memcmp(skey, k->e.key, CKV_IDENTITY_KEY_LEN) != 0))
        st = start_session(c, name, k, NULL);
out:
    ckv_contact_free(ct);
    free(k);
    return st;
}

static ckv_status encrypt_hooked(ckv_client *c, const char *name, struct hook_ctx *h,
                                 const char *plain, size_t len, ckv_envelope *env)
{
    ckv_status st;
    c->p->history_hook = history_hook;
    c->p->history_ctx = h;
    st = ckv_session_encrypt(c->p, name, (const uint8_t *)plain, len, env);
    c->p->history_hook = NULL;
    c->p->history_ctx = NULL;
    return st;
}

/* Encrypt (hooked) in one transaction that also deletes the outbox rows
 * ckvd accepted since the last one: the ratchet step, the history row and
 * the new outbox row (*ob) commit together. Inside a caller's transaction
 * (a receive's batch) this is a savepoint of it and the caller settles
 * the outbox; nothing is posted here. */
static ckv_status encrypt_to_outbox(ckv_client *c, const char *name, struct hook_ctx *h,
                                    const char *plain, size_t len, ckv_envelope *env,
                                    uint64_t *ob)
{
    int outer = c->p->txn_depth == 0;
    size_t settled = 0;
    ckv_status st;
    h->in_outbox = 0;
    st = ckv_db_begin(c->p);
    if (st != CKV_OK)
        return ckv_client_fail(c, st, "cannot write to the profile: %s", ckv_strerror(st));
    if (outer)
        st = ob_settle_in_txn(c, &settled);
    if (st == CKV_OK) {
        st = encrypt_hooked(c, name, h, plain, len, env);
        if (st != CKV_OK)
            ckv_client_fail(c, st, "cannot encrypt for '%s': %s", name, ckv_strerror(st));
    }
    if (st == CKV_OK) {
        if (h->in_outbox)
            *ob = h->outbox_id; /* written in the encrypt's own savepoint */
        else
            st = outbox_put(c->p, name, env->type, env->body, env->body_len, ob);
    }
    if (st == CKV_OK)
        st = ckv_db_commit(c->p);
    else
        ckv_db_rollback(c->p);
    if (st != CKV_OK) {
        ckv_envelope_clear(env);
        return c->err[0] ? st : ckv_client_fail(c, st, "cannot store the message: %s",
                                                ckv_strerror(st));
    }
    ob_forget(c, settled);
    return CKV_OK;
}

/* Encrypt one message for name (checked by presend) into the outbox,
 * inside the caller's transaction: its sequence number, the inner JSON
 * (with our view when gossip is due), the ratchet step, the history and
 * outbox rows. */
static ckv_status encrypt_text(ckv_client *c, const char *name, const uint8_t *text, size_t len,
                               ckv_envelope *env, uint64_t *ob, uint64_t *seq)
{
    struct conv *cv = malloc(sizeof *cv);
    struct hook_ctx h;
    char *plain = NULL, *cp = NULL;
    size_t plen = 0, cp_len = 0;
    ckv_status st;

    if (cv == NULL)
        return CKV_ERR_NOMEM;
    st = conv_load(c->p, name, cv);
    if (st != CKV_OK)
        goto out;
    memset(&h, 0, sizeof h);
    h.mode = HOOK_SEND;
    h.seq = cv->send_seq + 1;
    h.text = text;
    h.text_len = len;
    st = ckv_gossip_outgoing(c, name, h.seq == 1, &cp, &cp_len, &h.gossip_size, h.gossip_root);
    if (st != CKV_OK) {
        ckv_client_fail(c, st, "cannot read our log view to gossip: %s", ckv_strerror(st));
        goto out;
    }
    h.gossip_sent = cp != NULL;
    st = ckv_inner_message_cp(h.seq, ckv_now(), text, len, cp, cp_len, &plain, &plen);
    if (st != CKV_OK) {
        st = ckv_client_fail(c, st == CKV_ERR_MALFORMED ? CKV_ERR_INVALID_ARG : st,
                             "the message is not valid UTF-8 text");
        goto out;
    }
    /* The server refuses envelopes over 64 KiB (docs/server.md); one that
     * big would sit in the outbox for ever, so refuse it here, before it is
     * encrypted (the inner JSON, after escaping, is what gets encrypted). */
    if (plen > CKV_SEND_INNER_MAX) {
        st = ckv_client_fail(c, CKV_ERR_TOO_LARGE,
                             "the message is too long once encoded (%zu bytes; at most %u): "
                             "split it",
                             plen, (unsigned)CKV_SEND_INNER_MAX);
        goto out;
    }
    st = encrypt_to_outbox(c, name, &h, plain, plen, env, ob);
    if (st == CKV_OK)
        *seq = h.seq;
out:
    if (plain != NULL) {
        sodium_memzero(plain, plen);
        free(plain);
    }
    free(cp);
    free(cv);
    return st;
}

ckv_status ckv_client_send(ckv_client *c, const char *contact, const uint8_t *text, size_t len,
                           uint64_t *seq_out)
{
    ckv_text t = {text, len};
    if (c == NULL || contact == NULL || (text == NULL && len > 0))
        return CKV_ERR_INVALID_ARG;
    return ckv_client_send_many(c, contact, &t, 1, seq_out);
}

ckv_status ckv_client_send_many(ckv_client *c, const char *contact, const ckv_text *msgs, size_t n,
                                uint64_t *seqs)
{
    char norm[CKV_NAME_MAX + 1];
    ckv_envelope *envs = NULL;
    struct post_item *it = NULL;
    uint64_t *obs = NULL, seq = 0;
    size_t i, settled = 0, done_n = 0;
    int offline = 0;
    ckv_status st;

    if (c == NULL || contact == NULL || msgs == NULL || n == 0 || n > CKV_SEND_MANY_MAX)
        return CKV_ERR_INVALID_ARG;
    c->err[0] = 0;
    for (i = 0; i < n; i++) {
        if (msgs[i].text == NULL && msgs[i].len > 0)
            return CKV_ERR_INVALID_ARG;
        if (msgs[i].len > CKV_PLAINTEXT_MAX / 2)
            return ckv_client_fail(c, CKV_ERR_TOO_LARGE, "the message is too long");
    }
    if (ckv_name_normalize(contact, norm) != CKV_OK)
        return ckv_client_fail(c, CKV_ERR_BAD_NAME, "'%s' is not a valid account name", contact);
    /* What is already in the outbox goes first. When ckvd cannot be
     * reached the new messages queue behind it (when the checks below can
     * be made without it), and go with the next flush, in order. */
    st = outbox_flush(c);
    if (st == CKV_ERR_NET) {
        offline = 1;
        st = CKV_OK;
    }
    if (st == CKV_OK) /* the freeze rule first (quorum.c): it may move the view */
        st = ckv_quorum_check_view_age(c);
    if (st == CKV_OK)
        st = presend(c, norm);
    if (st != CKV_OK)
        return done(c, st);
    envs = calloc(n, sizeof *envs);
    it = calloc(n, sizeof *it);
    obs = calloc(n, sizeof *obs);
    if (envs == NULL || it == NULL || obs == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    /* One transaction for all n: it also deletes the outbox rows ckvd
     * accepted since the last one; each message is a savepoint in it. */
    st = ckv_db_begin(c->p);
    if (st != CKV_OK) {
        ckv_client_fail(c, st, "cannot write to the profile: %s", ckv_strerror(st));
        goto out;
    }
    st = ob_settle_in_txn(c, &settled);
    for (i = 0; i < n && st == CKV_OK; i++) {
        st = encrypt_text(c, norm, msgs[i].text, msgs[i].len, &envs[i], &obs[i], &seq);
        if (st == CKV_OK && seqs != NULL)
            seqs[i] = seq;
        done_n = i + 1;
    }
    if (st == CKV_OK)
        st = ckv_db_commit(c->p);
    else
        ckv_db_rollback(c->p);
    if (st != CKV_OK) {
        if (c->err[0] == 0)
            ckv_client_fail(c, st, "cannot store the message: %s", ckv_strerror(st));
        goto out;
    }
    ob_forget(c, settled);
    if (offline) { /* not ahead of the older rows: all go with the next flush */
        c->ob_clean = 0;
        st = ckv_client_fail(c, CKV_ERR_NET,
                             "cannot reach the server at %s (the message is kept in the outbox "
                             "and sent with the next send or receive)",
                             c->url);
        goto out;
    }
    for (i = 0; i < n; i++) {
        it[i].to = norm;
        it[i].type = envs[i].type;
        it[i].body = envs[i].body;
        it[i].len = envs[i].body_len;
        it[i].ob = obs[i];
    }
    st = post_items(c, it, n);
    if (st != CKV_OK) {
        c->ob_clean = 0;
        ckv_client_fail(c, st,
                        "%s (the message is kept in the outbox and sent with the next send or "
                        "receive)",
                        c->err);
    }
out:
    for (i = 0; envs != NULL && i < done_n; i++)
        ckv_envelope_clear(&envs[i]);
    free(envs);
    free(it);
    free(obs);
    return done(c, st);
}

/* A receipt encrypted inside a receive's transaction, posted after it
 * committed. */
struct receipt_post {
    char name[CKV_NAME_MAX + 1];
    ckv_envelope env;
    uint64_t ob;
};

/* Encrypt the receipts we owe to name into the outbox (inside the caller's
 * transaction); *out is set when there were any (out->ob != 0). */
static ckv_status encrypt_receipts(ckv_client *c, const char *name, struct receipt_post *out)
{
    struct conv *cv = malloc(sizeof *cv);
    struct hook_ctx h;
    char *plain = NULL;
    size_t plen = 0;
    ckv_status st;
    memset(out, 0, sizeof *out);
    if (cv == NULL)
        return CKV_ERR_NOMEM;
    st = conv_load(c->p, name, cv);
    if (st != CKV_OK || cv->n_receipts == 0)
        goto out;
    /* After our rotation the session the messages came on only receives:
     * the receipts go on a new session under our new key (presend starts
     * it, with the same checks as any send; on failure they stay owed). */
    {
        signal_protocol_address a = {name, strlen(name), 1};
        int r = ckv_session_usable(c->p, &a, NULL);
        if (r < 0) {
            st = CKV_ERR_DB;
            goto out;
        }
        if (r == 0 && ((st = ckv_quorum_check_view_age(c)) != CKV_OK ||
                       (st = presend(c, name)) != CKV_OK))
            goto out;
    }
    st = ckv_inner_receipt(cv->receipts, cv->n_receipts, &plain, &plen);
    if (st != CKV_OK)
        goto out;
    memset(&h, 0, sizeof h);
    h.mode = HOOK_RECEIPT;
    h.n_receipts_sent = cv->n_receipts;
    st = encrypt_to_outbox(c, name, &h, plain, plen, &out->env, &out->ob);
    if (st == CKV_OK)
        snprintf(out->name, sizeof out->name, "%s", name);
    else
        out->ob = 0;
out:
    free(plain);
    free(cv);
    return st;
}

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
                               struct evlist *out)
{
    ckv_gossip_state g;
    ckv_event *e;
    char saved[CKV_ERRMSG_MAX];
    snprintf(saved, sizeof saved, "%s", c->err);
    if (ckv_gossip_check(c, from, note, len, &g) != CKV_OK || g.result != CKV_GOSSIP_DIFFER) {
        snprintf(c->err, sizeof c->err, "%s", saved);
        return CKV_OK;
    }
    if ((e = ev_push(out, CKV_EV_SPLIT_VIEW, from)) == NULL)
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
static ckv_status receive_one_ex(ckv_client *c, json_t *m, struct evlist *out,
                                 struct names *rcpt, int *ack, int retry, int *held);

static ckv_status receive_one(ckv_client *c, json_t *m, struct evlist *out, struct names *rcpt,
                              int *ack)
{
    int held = 0;
    return receive_one_ex(c, m, out, rcpt, ack, 0, &held);
}

static ckv_status receive_one_ex(ckv_client *c, json_t *m, struct evlist *out,
                                 struct names *rcpt, int *ack, int retry, int *held)
{
    char from[CKV_NAME_MAX + 1], *envtext = NULL;
    const char *raw = json_string_value(json_object_get(m, "from"));
    ckv_envelope env = {0};
    ckv_trust_report rep;
    struct hook_ctx h;
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
        if ((e = ev_push(out, CKV_EV_REJECTED, "?")) == NULL)
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
            st = k ? fresh_entry(c, from, k) : CKV_ERR_NOMEM;
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
            if ((e = ev_push(out, CKV_EV_HELD, from)) == NULL) {
                st = CKV_ERR_NOMEM;
                goto out;
            }
            e->status = CKV_ERR_KT_VIEW_FROZEN;
            goto out;
        }
    }
    if (st == CKV_OK) {
        h.mode = HOOK_RECEIVE;
        c->p->history_hook = history_hook;
        c->p->history_ctx = &h;
        st = ckv_session_decrypt(c->p, from, &env, &pt, &ptlen, &rep);
        c->p->history_hook = NULL;
        c->p->history_ctx = NULL;
    }
    if (st == CKV_OK) {
        *ack = 1;
        if (rep.key_changed) {
            if ((e = ev_push(out, CKV_EV_KEY_CHANGED, from)) == NULL) {
                st = CKV_ERR_NOMEM;
                goto out;
            }
            e->state = rep.state;
        }
        if (checked && (rep.new_contact || rep.key_changed || rep.state == CKV_TRUST_UNVERIFIED))
            (void)ckv_kt_vouch(c, from, k->e.key); /* the key was checked just above */
        st = ev_move(out, &h.ev);
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
        if ((e = ev_push(out, CKV_EV_KEY_CHANGED, from)) == NULL) {
            st = CKV_ERR_NOMEM;
            goto out;
        }
        e->state = CKV_TRUST_CHANGED;
        if ((e = ev_push(out, CKV_EV_REJECTED, from)) == NULL) {
            st = CKV_ERR_NOMEM;
            goto out;
        }
        e->status = CKV_ERR_UNTRUSTED_IDENTITY;
        st = CKV_OK;
        goto out;
    }
    if (is_definitive(st)) {
        *ack = 1;
        if ((e = ev_push(out, CKV_EV_REJECTED, from)) == NULL) {
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
static ckv_status held_retry(ckv_client *c, struct evlist *out, struct names *rcpt)
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
            ckv_event *e = ev_push(out, CKV_EV_REJECTED, "?");
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

/* POST /v1/messages/ack for ids (nothing when empty). */
static ckv_status ack_ids(ckv_client *c, json_t *ids)
{
    json_t *req, *ans = NULL;
    ckv_status st;
    if (json_array_size(ids) == 0)
        return CKV_OK;
    req = json_pack("{s:O}", "ids", ids);
    if (req == NULL)
        return CKV_ERR_NOMEM;
    st = ckv_net_json(c, "POST", "/v1/messages/ack", req, 1, 0, &ans);
    json_decref(req);
    json_decref(ans);
    return st;
}

ckv_status ckv_client_ack_flush(ckv_client *c)
{
    json_t *acks;
    ckv_status st;
    if (c == NULL || c->ack_pend_n == 0)
        return CKV_OK;
    if ((acks = pending_acks(c)) == NULL)
        return CKV_ERR_NOMEM;
    st = ack_ids(c, acks);
    if (st == CKV_OK)
        took_acks(c, &acks);
    json_decref(acks);
    return st;
}

/* Owe the acknowledgement of the stored (or refused) messages acked, out
 * of the fetched batch msgs: they go with the next request that posts
 * (now, when there are receipts to post), or when idle, or at close.
 * Until then fetches ask only for ids above the acknowledged ones, and
 * below any message of the batch left queued (that one comes again). When
 * too many are owed, they go now, alone. */
#define ACK_PEND_FLUSH 64
#define ACK_PEND_MS 2000 /* owed at most this long (checked when receiving) */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ckv_status owe_acks(ckv_client *c, json_t *msgs, json_t *acked)
{
    int64_t max_acked = 0, min_left = 0;
    size_t i, j, n = json_array_size(acked);
    json_t *m, *v;
    if (n == 0)
        return CKV_OK;
    if (c->ack_pend_n + n > CKV_ACK_PEND_MAX && ckv_client_ack_flush(c) != CKV_OK)
        return ack_ids(c, acked); /* these at least */
    if (c->ack_pend_n == 0)
        c->ack_pend_since = mono_ms();
    json_array_foreach(acked, i, v)
    {
        int64_t id = (int64_t)json_integer_value(v);
        c->ack_pend[c->ack_pend_n++] = (uint64_t)id;
        if (id > max_acked)
            max_acked = id;
    }
    json_array_foreach(msgs, i, m)
    {
        json_t *idv = json_object_get(m, "id");
        int64_t id = json_is_integer(idv) ? (int64_t)json_integer_value(idv) : 0;
        int found = 0;
        if (id <= 0)
            continue;
        for (j = 0; j < n && !found; j++)
            found = json_integer_value(json_array_get(acked, j)) == id;
        if (!found && (min_left == 0 || id < min_left))
            min_left = id;
    }
    if (max_acked > c->fetch_after)
        c->fetch_after = max_acked;
    if (min_left > 0 && min_left - 1 < c->fetch_after)
        c->fetch_after = min_left - 1;
    return CKV_OK;
}

ckv_status ckv_client_receive(ckv_client *c, int wait_seconds, ckv_event **events, size_t *count)
{
    if (wait_seconds < 0 || wait_seconds > 30)
        return CKV_ERR_INVALID_ARG;
    return ckv_client_receive_ms(c, wait_seconds * 1000, events, count);
}

ckv_status ckv_client_receive_ms(ckv_client *c, int wait_ms, ckv_event **events, size_t *count)
{
    struct evlist out = {0};
    struct names *rcpt = NULL;
    struct receipt_post *posts = NULL;
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
    st = outbox_flush(c);
    if (st != CKV_OK)
        goto out;
    if (c->ack_pend_n > 0 && mono_ms() - c->ack_pend_since >= ACK_PEND_MS &&
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
    st = ob_settle_in_txn(c, &settled);
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
            if (encrypt_receipts(c, rcpt->v[i], &posts[nposts]) == CKV_OK && posts[nposts].ob)
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
    ob_forget(c, settled);
    /* The receipts (the senders wait for them; they are in the outbox,
     * so posting them with the ack risks nothing) and the acknowledgement
     * of what is stored (or refused for good), even after an error: one
     * request. Should ckvd refuse the receipts (a sender's queue full),
     * the ack still goes out alone and the receipts stay in the outbox. A
     * batch that owes no receipt (receipts for us, say) is acknowledged
     * with the next request that posts (owe_acks). */
    st2 = owe_acks(c, msgs, ids);
    if (nposts > 0) {
        struct post_item *it = calloc(nposts, sizeof *it);
        st2 = it ? CKV_OK : CKV_ERR_NOMEM;
        for (i = 0; it != NULL && i < nposts; i++) {
            it[i].to = posts[i].name;
            it[i].type = posts[i].env.type;
            it[i].body = posts[i].env.body;
            it[i].len = posts[i].env.body_len;
            it[i].ob = posts[i].ob;
        }
        if (it != NULL)
            st2 = post_items(c, it, nposts);
        free(it);
        if (st2 != CKV_OK) {
            c->ob_clean = 0; /* what was not accepted goes with the next flush */
            st2 = ckv_client_ack_flush(c);
        }
    } else if (!c->defer_acks || c->ack_pend_n >= ACK_PEND_FLUSH) {
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
