/*
 * kt_view.c: the client's view of the log (kt.c's top comment): the
 * latest checkpoint this profile accepted (meta kt_view) and every one it
 * accepted before (ktcp:<size>). A checkpoint is accepted only when it is
 * a signed note by the pinned log key for the pinned origin and is
 * consistent with the view (same size, same root; larger: a consistency
 * proof from the view, RFC 9162 §2.1.4.2; smaller: a rollback, refused).
 * Also the small helpers the key-transparency files share (big-endian
 * integers, hashed meta keys).
 */
#include "kt.h"
#include "kt_evidence.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VIEW_FIXED 48 /* size(8) root(32) accepted_at(8) */

void ckv_put_be64(uint8_t out[8], uint64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t ckv_get_be64(const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

void ckv_meta_name_key(ckv_profile *p, const char *prefix, const char *name, char out[64])
{
    uint8_t h[32];
    char hex[41];
    ckv_name_hash(p, name, strlen(name), h);
    sodium_bin2hex(hex, sizeof hex, h, 20);
    snprintf(out, 64, "%s%s", prefix, hex);
}

void ckv_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- the view --------------------------------------------------------------- */

ckv_status ckv_kt_get_tile(ckv_client *c, const ckv_tlog_tile *t, uint8_t **buf, size_t *len)
{
    char path[CKV_TLOG_TILE_PATH_MAX + 1];
    ckv_status st;
    free(*buf);
    *buf = NULL;
    path[0] = '/';
    st = ckv_tlog_tile_path(t, path + 1, sizeof path - 1);
    if (st != CKV_OK)
        return st;
    return ckv_net_get_raw(c, path,
                           t->level == CKV_TLOG_TILE_LEVEL_ENTRIES ? CKV_TLOG_BUNDLE_MAX_BYTES
                                                                   : CKV_TLOG_TILE_MAX_BYTES,
                           buf, len);
}

ckv_status ckv_kt_load_view(ckv_client *c, struct ckv_kt_viewrec *v)
{
    uint8_t *rec = NULL;
    size_t n = 0;
    ckv_status st = ckv_meta_get(c->p, "kt_view", &rec, &n);
    if (st != CKV_OK)
        return st;
    if (n < VIEW_FIXED) {
        free(rec);
        return CKV_ERR_PROFILE_DAMAGED;
    }
    v->size = ckv_get_be64(rec);
    memcpy(v->root, rec + 8, 32);
    v->at = (int64_t)ckv_get_be64(rec + 40);
    free(rec);
    return CKV_OK;
}

static ckv_status store_view(ckv_client *c, const ckv_tlog_checkpoint *cp, const char *note,
                             size_t len, int new_size)
{
    uint8_t *rec = malloc(VIEW_FIXED + len);
    char key[64];
    ckv_status st;
    if (rec == NULL)
        return CKV_ERR_NOMEM;
    ckv_put_be64(rec, cp->size);
    memcpy(rec + 8, cp->root.b, 32);
    ckv_put_be64(rec + 40, (uint64_t)ckv_now());
    memcpy(rec + VIEW_FIXED, note, len);
    st = ckv_db_begin(c->p);
    if (st == CKV_OK)
        st = ckv_meta_put(c->p, "kt_view", rec, VIEW_FIXED + len);
    if (st == CKV_OK && new_size) {
        snprintf(key, sizeof key, "ktcp:%020llu", (unsigned long long)cp->size);
        st = ckv_meta_put(c->p, key, rec, VIEW_FIXED + len);
    }
    if (st == CKV_OK)
        st = ckv_db_commit(c->p);
    else
        ckv_db_rollback(c->p);
    free(rec);
    return st;
}

ckv_status ckv_kt_view(ckv_client *c, uint64_t *size, uint8_t root[32], int64_t *accepted_at)
{
    struct ckv_kt_viewrec v;
    ckv_status st = ckv_kt_load_view(c, &v);
    if (st != CKV_OK)
        return st;
    if (size)
        *size = v.size;
    if (root)
        memcpy(root, v.root, 32);
    if (accepted_at)
        *accepted_at = v.at;
    return CKV_OK;
}

/* A JSON array of base64 hashes. */
ckv_status ckv_kt_parse_path(json_t *a, ckv_tlog_hash *path, size_t *n)
{
    size_t i, got;
    json_t *x;
    if (!json_is_array(a) || json_array_size(a) > CKV_TLOG_MAX_PROOF)
        return CKV_ERR_JSON;
    json_array_foreach(a, i, x)
    {
        const char *s = json_string_value(x);
        if (s == NULL || ckv_unb64(s, path[i].b, 32, &got) != CKV_OK || got != 32)
            return CKV_ERR_BASE64;
    }
    *n = json_array_size(a);
    return CKV_OK;
}

/* Verify that (old_size, old_root) is a prefix of (new_size, new_root) with
 * the server's consistency proof. served/served_len: the note served now
 * (the new one when served_is_new), for the evidence of a failure. */
static ckv_status check_consistency(ckv_client *c, uint64_t old_size, const uint8_t old_root[32],
                                    uint64_t new_size, const uint8_t new_root[32],
                                    const char *served, size_t served_len, int served_is_new)
{
    char path[128];
    json_t *ans = NULL;
    ckv_tlog_hash *proof = NULL, a, b;
    size_t n = 0;
    ckv_status st;

    snprintf(path, sizeof path, "/v1/log/consistency?old=%llu&new=%llu",
             (unsigned long long)old_size, (unsigned long long)new_size);
    st = ckv_net_json(c, "GET", path, NULL, 0, 0, &ans);
    if (st != CKV_OK)
        return st;
    proof = malloc(sizeof *proof * CKV_TLOG_MAX_PROOF);
    if (proof == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    if (json_integer_value(json_object_get(ans, "old_size")) != (json_int_t)old_size ||
        json_integer_value(json_object_get(ans, "new_size")) != (json_int_t)new_size ||
        ckv_kt_parse_path(json_object_get(ans, "proof"), proof, &n) != CKV_OK) {
        st = ckv_client_fail(c, CKV_ERR_KT_BAD_PROOF,
                             "the server's consistency proof %llu -> %llu is malformed",
                             (unsigned long long)old_size, (unsigned long long)new_size);
        goto out;
    }
    memcpy(a.b, old_root, 32);
    memcpy(b.b, new_root, 32);
    if (ckv_tlog_verify_consistency(old_size, new_size, &a, &b, proof, n) != CKV_OK)
        st = ckv_kt_ev_consistency(
            c,
            ckv_client_fail(c, CKV_ERR_KT_INCONSISTENT,
                            "the log's checkpoint of size %llu is not consistent with its "
                            "checkpoint of size %llu (the consistency proof fails): the server "
                            "rewrote its log or shows a forked view",
                            (unsigned long long)old_size, (unsigned long long)new_size),
            served, served_len, served_is_new, proof, n);
out:
    free(proof);
    json_decref(ans);
    return st;
}

/* Open a signed checkpoint from the server and make it part of our view
 * (see the top of the file). */
/* Remember the note of the view just stored (see struct ckv_client). */
static ckv_status cache_view(ckv_client *c, const char *note, size_t len,
                             const ckv_tlog_checkpoint *cp, ckv_status st)
{
    if (st != CKV_OK)
        return st;
    free(c->view_note);
    c->view_note = malloc(len + 1);
    if (c->view_note == NULL) {
        c->view_note_len = 0;
        return CKV_OK; /* only a cache */
    }
    if (c->view_cp == NULL && (c->view_cp = malloc(sizeof *c->view_cp)) == NULL) {
        free(c->view_note);
        c->view_note = NULL;
        return CKV_OK;
    }
    memcpy(c->view_note, note, len);
    c->view_note[len] = 0;
    c->view_note_len = len;
    *c->view_cp = *cp;
    c->view_refreshed = ckv_now();
    c->view_witnessed = c->last_witnessed; /* of this note (quorum.c) */
    return CKV_OK;
}

ckv_status ckv_kt_accept_checkpoint(ckv_client *c, const char *note, size_t len,
                                    ckv_tlog_checkpoint *cp)
{
    const ckv_tlog_verifier *vs[1] = {c->vkey};
    struct ckv_kt_viewrec v;
    ckv_status st;

    if (c->view_note != NULL && len == c->view_note_len && memcmp(note, c->view_note, len) == 0) {
        /* exactly the note of our current view, verified before */
        *cp = *c->view_cp;
        c->last_witnessed = c->view_witnessed;
        if (ckv_now() == c->view_refreshed)
            return CKV_OK;
        /* refresh accepted_at, unless another client on this profile
         * moved the view meanwhile */
        if (ckv_kt_load_view(c, &v) == CKV_OK && v.size == cp->size &&
            sodium_memcmp(v.root, cp->root.b, 32) == 0)
            return cache_view(c, note, len, cp, store_view(c, cp, note, len, 0));
        free(c->view_note);
        c->view_note = NULL;
    }
    if (c->n_witnesses > 0) {
        /* signed by the log and cosigned by a quorum of pinned witnesses */
        st = ckv_quorum_open(c, note, len, cp, NULL, 1);
        if (st != CKV_OK)
            return st;
    } else {
        st = ckv_tlog_checkpoint_open(note, len, c->origin, vs, 1, cp, NULL);
        if (st != CKV_OK)
            return ckv_client_fail(c, CKV_ERR_KT_BAD_CHECKPOINT,
                                   "the server's checkpoint is not a checkpoint of log '%s' "
                                   "signed by the pinned log key: %s",
                                   c->origin, ckv_strerror(st));
    }
    st = ckv_kt_load_view(c, &v);
    if (st == CKV_ERR_NOT_FOUND)
        return cache_view(c, note, len, cp, store_view(c, cp, note, len, 1));
    if (st != CKV_OK)
        return ckv_client_fail(c, st, "cannot read the stored log view: %s", ckv_strerror(st));
    if (cp->size == v.size) {
        if (sodium_memcmp(cp->root.b, v.root, 32) != 0)
            return ckv_kt_ev_fork(
                c,
                ckv_client_fail(c, CKV_ERR_KT_INCONSISTENT,
                                "the server signed two different checkpoints of size %llu: "
                                "the log forked (the one accepted before is kept)",
                                (unsigned long long)v.size),
                note, len);
        /* confirmed again: fresh */
        return cache_view(c, note, len, cp, store_view(c, cp, note, len, 0));
    }
    if (cp->size > v.size) {
        st = check_consistency(c, v.size, v.root, cp->size, cp->root.b, note, len, 1);
        if (st != CKV_OK)
            return st;
        return cache_view(c, note, len, cp, store_view(c, cp, note, len, 1));
    }
    /* an older checkpoint: ckvd always serves its latest one (GET
     * /checkpoint and every directory answer), so a smaller size than our
     * view is a log rolled back (or a view held back); refused, and the
     * view accepted before is kept */
    return ckv_client_fail(c, CKV_ERR_TLOG_ROLLBACK,
                           "the server's checkpoint has size %llu, smaller than the checkpoint "
                           "of size %llu accepted before: the log was rolled back (the view "
                           "accepted before is kept)",
                           (unsigned long long)cp->size, (unsigned long long)v.size);
}

ckv_status ckv_kt_fetch_checkpoint(ckv_client *c, ckv_tlog_checkpoint *cp)
{
    uint8_t *note = NULL;
    size_t len = 0;
    ckv_status st = ckv_net_get_raw(c, "/checkpoint", CKV_TLOG_NOTE_MAX_SIZE, &note, &len);
    if (st != CKV_OK)
        return st;
    st = ckv_kt_accept_checkpoint(c, (const char *)note, len, cp);
    free(note);
    return st;
}

ckv_status ckv_kt_refresh(ckv_client *c)
{
    ckv_tlog_checkpoint *cp = malloc(sizeof *cp);
    ckv_status st = cp ? ckv_kt_fetch_checkpoint(c, cp) : CKV_ERR_NOMEM;
    free(cp);
    return st;
}

ckv_status ckv_kt_prove_prefix(ckv_client *c, uint64_t old_size, const uint8_t old_root[32],
                               uint64_t new_size, const uint8_t new_root[32])
{
    return check_consistency(c, old_size, old_root, new_size, new_root, NULL, 0, 0);
}

ckv_status ckv_kt_view_note(ckv_client *c, char **note, size_t *len)
{
    uint8_t *rec = NULL;
    size_t n = 0;
    char *s;
    ckv_status st = ckv_meta_get(c->p, "kt_view", &rec, &n);
    if (st != CKV_OK)
        return st;
    if (n < VIEW_FIXED || (s = malloc(n - VIEW_FIXED + 1)) == NULL) {
        free(rec);
        return n < VIEW_FIXED ? CKV_ERR_PROFILE_DAMAGED : CKV_ERR_NOMEM;
    }
    memcpy(s, rec + VIEW_FIXED, n - VIEW_FIXED);
    s[n - VIEW_FIXED] = 0;
    *len = n - VIEW_FIXED;
    *note = s;
    free(rec);
    return CKV_OK;
}
