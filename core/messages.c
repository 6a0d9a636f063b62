/*
 * messages.c: the online client's message path, part 1: events, each
 * conversation's sequence state, and the history hook. The path's other
 * files: outbox.c (the outbox, posting to ckvd, the acknowledgements
 * owed), send.c (contacts from the directory, the check before every send,
 * ckv_client_send_many, receipts), receive.c (ckv_client_receive: fetch,
 * check new senders against the log, decrypt, held envelopes); what they
 * share is in messages.h. They use the key-transparency checks of kt.c and
 * the inner message format of inner.c (sequence numbers, receipts).
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
#include "messages.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* ---- events ------------------------------------------------------------------------ */

ckv_event *ckv_ev_push(struct ckv_evlist *l, ckv_event_kind kind, const char *contact)
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
ckv_status ckv_ev_move(struct ckv_evlist *dst, struct ckv_evlist *src)
{
    for (size_t i = 0; i < src->n; i++) {
        ckv_event *e = ckv_ev_push(dst, src->v[i].kind, src->v[i].contact);
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

ckv_status ckv_conv_load(ckv_profile *p, const char *name, struct ckv_conv *cv)
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
    if (cv->n_missing > CKV_CONV_LIST_MAX || cv->n_receipts > CKV_CONV_LIST_MAX)
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

ckv_status ckv_conv_store(ckv_profile *p, const char *name, const struct ckv_conv *cv)
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

static ckv_status hook_receive(ckv_profile *p, const char *name, const uint8_t *pt, size_t len,
                               struct ckv_hook_ctx *h)
{
    ckv_inner in;
    struct ckv_conv *cv = NULL;
    ckv_event *e;
    ckv_status st = ckv_inner_parse(pt, len, &in);
    if (st != CKV_OK)
        return st;
    if (in.kind == 2) { /* a receipt: nothing for the history */
        for (size_t i = 0; i < in.n_receipts; i++) {
            if ((e = ckv_ev_push(&h->ev, CKV_EV_RECEIPT, name)) == NULL) {
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
        st = ckv_conv_load(p, name, cv);
        if (st != CKV_OK)
            goto out;
        if (in.seq > cv->recv_max + 1) {
            uint64_t first = cv->recv_max + 1, count = in.seq - first;
            if ((e = ckv_ev_push(&h->ev, CKV_EV_GAP, name)) == NULL) {
                st = CKV_ERR_NOMEM;
                goto out;
            }
            e->seq = first;
            e->count = count;
            for (uint64_t s = count > CKV_CONV_LIST_MAX ? in.seq - CKV_CONV_LIST_MAX : first;
                 s < in.seq; s++) {
                if (cv->n_missing == CKV_CONV_LIST_MAX) { /* forget the oldest */
                    memmove(cv->missing, cv->missing + 1,
                            sizeof cv->missing[0] * (CKV_CONV_LIST_MAX - 1));
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
            if ((e = ckv_ev_push(&h->ev, CKV_EV_REORDERED, name)) == NULL) {
                st = CKV_ERR_NOMEM;
                goto out;
            }
            e->seq = in.seq;
        }
        if (cv->n_receipts < CKV_CONV_LIST_MAX)
            cv->receipts[cv->n_receipts++] = in.seq;
        st = ckv_conv_store(p, name, cv);
        if (st != CKV_OK)
            goto out;
    }
    if ((e = ckv_ev_push(&h->ev, CKV_EV_MESSAGE, name)) == NULL) {
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

ckv_status ckv_history_hook(ckv_profile *p, const char *name, int outgoing, const uint8_t *body,
                            size_t len, void *ctx)
{
    struct ckv_hook_ctx *h = ctx;
    struct ckv_conv *cv;
    ckv_status st;

    if (h->mode == CKV_HOOK_RECEIVE && !outgoing)
        return hook_receive(p, name, body, len, h);
    if (!outgoing)
        return CKV_ERR_INTERNAL;
    cv = malloc(sizeof *cv);
    if (cv == NULL)
        return CKV_ERR_NOMEM;
    st = ckv_conv_load(p, name, cv);
    if (st == CKV_OK && h->mode == CKV_HOOK_SEND) {
        st = ckv_history_add_seq(p, name, 1, h->seq, 1, h->text, h->text_len);
        cv->send_seq = h->seq;
        if (st == CKV_OK && h->gossip_sent)
            st = ckv_gossip_mark_sent(p, name, h->gossip_size, h->gossip_root);
    } else if (st == CKV_OK && h->mode == CKV_HOOK_RECEIPT) {
        size_t k = h->n_receipts_sent <= cv->n_receipts ? h->n_receipts_sent : cv->n_receipts;
        memmove(cv->receipts, cv->receipts + k, sizeof cv->receipts[0] * (cv->n_receipts - k));
        cv->n_receipts -= k;
    }
    if (st == CKV_OK)
        st = ckv_conv_store(p, name, cv);
    /* The ciphertext goes into the outbox in the encrypt's own transaction:
     * a crash can no longer fall between the ratchet step and the outbox. */
    if (st == CKV_OK && p->pending_ct != NULL) {
        st = ckv_outbox_put(p, name, p->pending_ct_type, p->pending_ct, p->pending_ct_len,
                        &h->outbox_id);
        h->in_outbox = st == CKV_OK;
    }
    free(cv);
    return st;
}
