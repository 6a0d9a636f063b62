/*
 * outbox.c: the outbox (envelopes encrypted but not yet accepted by ckvd,
 * outbox:<n> in meta), posting envelopes to ckvd in batches, and the
 * acknowledgements a client owes ckvd for what it fetched and stored
 * (sent with the next request that posts anyway, when
 * ckv_client_options.defer_acks). Part of the message path: messages.c's
 * top comment.
 */
#include "messages.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OUTBOX_MAX_FLUSH 1000 /* rows one flush posts at most */

/* ---- outbox ------------------------------------------------------------------------ */

/* Add a record to the outbox inside the caller's transaction. */
ckv_status ckv_outbox_put(ckv_profile *p, const char *name, int type, const uint8_t *body,
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
 * how many, to be forgotten (ckv_outbox_forget) once that transaction committed. */
ckv_status ckv_outbox_settle_in_txn(ckv_client *c, size_t *n)
{
    ckv_status st = CKV_OK;
    *n = 0;
    for (size_t i = 0; i < c->ob_done_n && st == CKV_OK; i++)
        st = outbox_del(c, c->ob_done[i]);
    if (st == CKV_OK)
        *n = c->ob_done_n;
    return st;
}

void ckv_outbox_forget(ckv_client *c, size_t n)
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
    st = ckv_outbox_settle_in_txn(c, &n);
    if (st == CKV_OK)
        st = ckv_db_commit(c->p);
    else
        ckv_db_rollback(c->p);
    if (st == CKV_OK)
        ckv_outbox_forget(c, n);
    return st;
}

/* What one POST /v1/messages/batch may carry (docs/server.md: at most 64
 * messages, a body of at most 256 KiB; the base64 bodies are kept under
 * BATCH_B64_MAX so the JSON around them always fits). */
#define BATCH_ITEMS 64
#define BATCH_B64_MAX (160u * 1024u)

/* POST items[0..n) and acknowledge ack_ids (may be NULL) in one request:
 * ckvd stores all of it in one transaction, or nothing. */
static ckv_status post_chunk(ckv_client *c, const struct ckv_post_item *it, size_t n,
                             json_t *ack_ids)
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
/* A refusal of one envelope (not of the sender, the token or the server
 * as a whole): the recipient's rows can wait while the others go. */
static int refuses_item(long http)
{
    return (http >= 400 && http < 500 && http != 401 && http != 408 && http != 429) ||
           http == 507;
}

ckv_status ckv_post_items(ckv_client *c, const struct ckv_post_item *it, size_t n,
                          size_t *refused)
{
    json_t *acks = pending_acks(c);
    ckv_status st = CKV_OK;
    size_t i = 0;
    if (refused != NULL)
        *refused = n;
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
            for (size_t j = 0; j < k && st == CKV_OK; j++) {
                if ((st = post_chunk(c, it + i + j, 1, acks)) == CKV_OK)
                    took_acks(c, &acks);
                else if (refused != NULL && refuses_item(c->last_http))
                    *refused = i + j;
            }
        } else if (st != CKV_OK && k == 1 && refused != NULL && refuses_item(c->last_http)) {
            *refused = i;
        }
        if (st != CKV_OK)
            break;
        took_acks(c, &acks);
        i += k;
    } while (i < n);
    json_decref(acks);
    return st;
}

int ckv_outbox_refused(const ckv_client *c, const char *name)
{
    for (size_t i = 0; i < c->ob_refused_n; i++)
        if (strcmp(c->ob_refused[i], name) == 0)
            return 1;
    return 0;
}

/* Post the rows it[0..n) whose recipient was not refused in this flush;
 * a row ckvd refuses by itself adds its recipient to c->ob_refused (its
 * later rows then wait behind it) and the rest go on. CKV_OK when every
 * row went or waits behind a refused one; else the failure (the network,
 * the token, too many refused recipients). */
static ckv_status post_rows(ckv_client *c, struct ckv_post_item *it, size_t n,
                            ckv_status *refusal, char *why, size_t whylen)
{
    ckv_status st = CKV_OK;
    size_t from = 0;
    while (from < n) {
        size_t m = 0, refused = 0;
        for (size_t i = from; i < n; i++)
            if (!ckv_outbox_refused(c, it[i].to))
                it[m++] = it[i];
        if (m == 0)
            return CKV_OK;
        st = ckv_post_items(c, it, m, &refused);
        if (st == CKV_OK || refused >= m || c->ob_refused_n == CKV_OB_REFUSED_MAX)
            return st;
        if (*refusal == CKV_OK) { /* the first refusal, and its sentence */
            *refusal = st;
            snprintf(why, whylen, "%s", c->err);
        }
        snprintf(c->ob_refused[c->ob_refused_n++], sizeof c->ob_refused[0], "%s",
                 it[refused].to);
        memmove(it, it + refused + 1, (m - refused - 1) * sizeof *it);
        n = m - refused - 1;
        from = 0;
    }
    return CKV_OK;
}

/* Send every row of the outbox ckvd has not accepted yet, oldest first,
 * up to 64 rows a request. Nothing to do (no query) when c->ob_clean says
 * there is none. A row ckvd refuses by itself (its recipient's queue is
 * full, say) stays, and so do that recipient's later rows (their order
 * kept); the other recipients' rows go on. Returns CKV_OK when nothing
 * was refused; else the first refusal (with its sentence), or the failure
 * that stopped the flush. */
ckv_status ckv_outbox_flush(ckv_client *c)
{
    sqlite3_stmt *s = NULL;
    ckv_status st = CKV_OK;
    char after[64] = "outbox:";
    struct ckv_post_item it[BATCH_ITEMS];
    char names[BATCH_ITEMS][CKV_NAME_MAX + 1];
    uint8_t *recs[BATCH_ITEMS];
    uint64_t ids[BATCH_ITEMS];
    size_t n = 0, nk;
    int rc;

    char first[CKV_ERRMSG_MAX] = "";
    ckv_status first_st = CKV_OK;

    c->ob_refused_n = 0;
    c->ob_only_refused = 0;
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
            if (c->ob_refused_n == 0)
                c->ob_clean = 1;
            break;
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
        if (st == CKV_OK && nk > 0) {
            st = post_rows(c, it, nk, &first_st, first, sizeof first);
        }
        for (size_t i = 0; i < nk; i++)
            free(recs[i]);
        if (st != CKV_OK)
            return st;
    }
    if (st == CKV_OK && first_st != CKV_OK) {
        c->ob_only_refused = 1;
        st = ckv_client_fail(c, first_st,
                             "%s (the messages to '%s' wait in the outbox and go once the "
                             "server takes them; messages to others went on)",
                             first, c->ob_refused[0]);
    }
    return st;
}

/* POST /v1/messages/ack for ids (nothing when empty), in requests of at
 * most CKV_ACK_MAX ids (ckvd's limit). */
static ckv_status ack_ids(ckv_client *c, json_t *ids)
{
    size_t n = json_array_size(ids);
    ckv_status st = CKV_OK;
    for (size_t at = 0; at < n && st == CKV_OK; at += CKV_ACK_MAX) {
        json_t *part = json_array(), *req = NULL, *ans = NULL;
        for (size_t i = at; part != NULL && i < n && i < at + CKV_ACK_MAX; i++)
            if (json_array_append(part, json_array_get(ids, i)) != 0) {
                json_decref(part);
                part = NULL;
            }
        req = part != NULL ? json_pack("{s:o}", "ids", part) : NULL;
        if (req == NULL)
            return CKV_ERR_NOMEM;
        st = ckv_net_json(c, "POST", "/v1/messages/ack", req, 1, 0, &ans);
        json_decref(req);
        json_decref(ans);
    }
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
/* A monotonic clock in milliseconds (how long acknowledgements are owed). */
int64_t ckv_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ckv_status ckv_acks_owe(ckv_client *c, json_t *msgs, json_t *acked)
{
    int64_t max_acked = 0, min_left = 0;
    size_t i, j, n = json_array_size(acked);
    json_t *m, *v;
    if (n == 0)
        return CKV_OK;
    if (c->ack_pend_n + n > CKV_ACK_PEND_MAX &&
        (ckv_client_ack_flush(c) != CKV_OK || c->ack_pend_n + n > CKV_ACK_PEND_MAX))
        return ack_ids(c, acked); /* these at least; or more than may be owed: at once */
    if (c->ack_pend_n == 0)
        c->ack_pend_since = ckv_mono_ms();
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
