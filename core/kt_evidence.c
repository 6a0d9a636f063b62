/*
 * kt_evidence.c: evidence files written by the client (kt_evidence.h).
 * Everything here runs after a failure was detected and only adds to it:
 * the file (through the evidence library) and its path in c->err.
 */
#include "kt.h"
#include "kt_evidence.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckv/evidence.h"

/* The pinned log key string and our view's note (malloc'd). */
static ckv_status load_pins(ckv_client *c, char **vkey, uint8_t **view, size_t *view_len)
{
    uint8_t *k = NULL;
    char *note = NULL;
    size_t kn = 0;
    ckv_status st = ckv_meta_get(c->p, "log_vkey", &k, &kn);
    if (st != CKV_OK)
        return st;
    char *s = malloc(kn + 1);
    if (s == NULL) {
        free(k);
        return CKV_ERR_NOMEM;
    }
    memcpy(s, k, kn);
    s[kn] = 0;
    free(k);
    *vkey = s;
    if (view == NULL)
        return CKV_OK;
    st = ckv_kt_view_note(c, &note, view_len);
    if (st == CKV_OK && *view_len == 0)
        st = CKV_ERR_PROFILE_DAMAGED;
    if (st != CKV_OK) {
        free(note);
        free(s);
        *vkey = NULL;
        return st;
    }
    *view = (uint8_t *)note;
    return CKV_OK;
}

static ckv_evidence *start(ckv_client *c, const char *kind, char **vkey)
{
    ckv_evidence *ev = NULL;
    char who[128];
    if (c->p->dir == NULL || load_pins(c, vkey, NULL, NULL) != CKV_OK)
        return NULL;
    if (ckv_evidence_new(kind, c->err, *vkey, &ev) != CKV_OK)
        return NULL;
    snprintf(who, sizeof who, "ckv client of '%s'", c->p->account);
    if (ckv_evidence_set_reporter(ev, who) != CKV_OK ||
        ckv_evidence_set_source(ev, c->url) != CKV_OK) {
        ckv_evidence_free(ev);
        return NULL;
    }
    return ev;
}

/* Write ev (consumed) and name the file in c->err. */
static ckv_status finish(ckv_client *c, ckv_evidence *ev, char *vkey, ckv_status st)
{
    char *dir = NULL, *path = NULL;
    if (ev != NULL) {
        size_t dl = strlen(c->p->dir) + 16;
        dir = malloc(dl);
        if (dir != NULL) {
            snprintf(dir, dl, "%s/evidence", c->p->dir);
            if (ckv_evidence_write(ev, dir, &path) == CKV_OK) {
                char suffix[CKV_ERRMSG_MAX];
                int sl = snprintf(suffix, sizeof suffix, "; evidence written to %s", path);
                size_t el = strlen(c->err);
                if (sl > 0 && (size_t)sl < sizeof c->err - 4) {
                    if (el + (size_t)sl >= sizeof c->err) { /* keep the path whole */
                        el = sizeof c->err - (size_t)sl - 4;
                        memcpy(c->err + el, "...", 3);
                        el += 3;
                    }
                    memcpy(c->err + el, suffix, (size_t)sl + 1);
                }
            }
        }
    }
    free(path);
    free(dir);
    free(vkey);
    ckv_evidence_free(ev);
    return st;
}

ckv_status ckv_kt_ev_fork(ckv_client *c, ckv_status st, const char *served, size_t served_len)
{
    char *vkey = NULL;
    uint8_t *view = NULL;
    size_t vl = 0;
    ckv_evidence *ev = start(c, "fork", &vkey);
    if (ev != NULL) {
        char *k2 = NULL;
        if (load_pins(c, &k2, &view, &vl) != CKV_OK ||
            ckv_evidence_add_checkpoint(ev, "ours", view, vl, NULL) != CKV_OK ||
            ckv_evidence_add_checkpoint(ev, "served_now", served, served_len, NULL) != CKV_OK) {
            ckv_evidence_free(ev);
            ev = NULL;
        }
        free(k2);
    }
    free(view);
    return finish(c, ev, vkey, st);
}

/* The server's consistency proof old -> new (for gossip, where the caller
 * did not keep it). *n = 0 when it cannot be had. c->err is kept. */
static void fetch_proof(ckv_client *c, uint64_t old_size, uint64_t new_size, ckv_tlog_hash *path,
                        size_t *n)
{
    char q[128], saved[CKV_ERRMSG_MAX];
    json_t *ans = NULL, *a;
    size_t i, got;
    *n = 0;
    memcpy(saved, c->err, sizeof saved);
    snprintf(q, sizeof q, "/v1/log/consistency?old=%llu&new=%llu", (unsigned long long)old_size,
             (unsigned long long)new_size);
    if (ckv_net_json(c, "GET", q, NULL, 0, 0, &ans) == CKV_OK &&
        json_is_array(a = json_object_get(ans, "proof")) &&
        json_array_size(a) <= CKV_TLOG_MAX_PROOF) {
        for (i = 0; i < json_array_size(a); i++) {
            const char *s = json_string_value(json_array_get(a, i));
            if (s == NULL || ckv_unb64(s, path[i].b, 32, &got) != CKV_OK || got != 32)
                break;
        }
        if (i == json_array_size(a))
            *n = i;
    }
    json_decref(ans);
    memcpy(c->err, saved, sizeof saved);
}

/* Our view and a served (or gossiped) checkpoint that a consistency proof
 * failed to join: a fork when the proof reproduces the larger signed root
 * but gives another smaller root, else `fallback` (bad_proof/split_view). */
static ckv_status two_views(ckv_client *c, ckv_status st, const char *fallback,
                            const char *other_role, const char *served, size_t served_len,
                            int served_is_new, const ckv_tlog_hash *path, size_t path_len,
                            const char *detail)
{
    char *vkey = NULL, *k2 = NULL;
    uint8_t *view = NULL;
    size_t vl = 0, iv = 0, is = 0;
    ckv_tlog_checkpoint *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    ckv_tlog_hash fr, sr, *fetched = NULL;
    const char *kind = fallback;
    ckv_evidence *ev = NULL;

    if (served == NULL || a == NULL || b == NULL || c->p->dir == NULL ||
        load_pins(c, &k2, &view, &vl) != CKV_OK)
        goto out;
    /* both notes were opened before: parse the bodies for sizes and roots */
    const ckv_tlog_verifier *vs[1] = {c->vkey};
    if (ckv_tlog_checkpoint_open((const char *)view, vl, c->origin, vs, 1, a, NULL) != CKV_OK ||
        ckv_tlog_checkpoint_open(served, served_len, c->origin, vs, 1, b, NULL) != CKV_OK)
        goto out;
    const ckv_tlog_checkpoint *old = served_is_new ? a : b, *new = served_is_new ? b : a;
    if (path == NULL && old->size > 0 && old->size < new->size &&
        (fetched = malloc(sizeof *fetched * CKV_TLOG_MAX_PROOF)) != NULL) {
        fetch_proof(c, old->size, new->size, fetched, &path_len);
        path = path_len > 0 ? fetched : NULL;
    }
    if (path != NULL && old->size > 0 && old->size < new->size &&
        ckv_tlog_roots_from_consistency(old->size, new->size, NULL, path, path_len, &fr, &sr) ==
            CKV_OK &&
        ckv_tlog_hash_equal(&sr, &new->root) && !ckv_tlog_hash_equal(&fr, &old->root))
        kind = strcmp(fallback, "split_view") == 0 ? "split_view" : "fork";
    ev = start(c, kind, &vkey);
    if (ev == NULL)
        goto out;
    if (ckv_evidence_add_checkpoint(ev, "ours", view, vl, &iv) != CKV_OK ||
        ckv_evidence_add_checkpoint(ev, other_role, served, served_len, &is) != CKV_OK ||
        (path != NULL &&
         ckv_evidence_set_consistency(ev, served_is_new ? iv : is, served_is_new ? is : iv, path,
                                      path_len, NULL) != CKV_OK) ||
        (detail != NULL && ckv_evidence_set_detail(ev, detail) != CKV_OK)) {
        ckv_evidence_free(ev);
        ev = NULL;
    }
out:
    free(fetched);
    free(a);
    free(b);
    free(view);
    free(k2);
    return finish(c, ev, vkey, st);
}

ckv_status ckv_kt_ev_consistency(ckv_client *c, ckv_status st, const char *served,
                                 size_t served_len, int served_is_new, const ckv_tlog_hash *path,
                                 size_t path_len)
{
    return two_views(c, st, "bad_proof", "served_now", served, served_len, served_is_new, path,
                     path_len, NULL);
}

ckv_status ckv_kt_ev_split_view(ckv_client *c, ckv_status st, const char *peer,
                                const char *peer_note, size_t peer_len, int peer_is_new,
                                const ckv_tlog_hash *path, size_t path_len)
{
    char detail[CKV_NAME_MAX + 96];
    snprintf(detail, sizeof detail, "the other checkpoint was gossiped by contact '%s'",
             peer ? peer : "?");
    return two_views(c, st, "split_view", "peer", peer_note, peer_len, peer_is_new, path, path_len,
                     detail);
}

ckv_status ckv_kt_ev_bad_inclusion(ckv_client *c, ckv_status st, const char *note, size_t note_len,
                                   const ckv_kt_entry *k, const ckv_tlog_hash *path,
                                   size_t path_len)
{
    char *vkey = NULL;
    size_t i = 0;
    ckv_evidence *ev = start(c, "bad_proof", &vkey);
    if (ev != NULL &&
        (ckv_evidence_add_checkpoint(ev, "served_now", note, note_len, &i) != CKV_OK ||
         ckv_evidence_add_entry(ev, "served", k->text, k->text_len, k->leaf_index, i, path,
                                path_len) != CKV_OK)) {
        ckv_evidence_free(ev);
        ev = NULL;
    }
    return finish(c, ev, vkey, st);
}

/* ---- entries proven from the tiles under our view ------------------------------ */

struct tiles {
    ckv_client *c;
    uint8_t *got;
};

static ckv_status get_tile(void *ctx, const ckv_tlog_tile *t, const uint8_t **data, size_t *len)
{
    struct tiles *x = ctx;
    if (ckv_kt_get_tile(x->c, t, &x->got, len) != CKV_OK)
        return CKV_ERR_TLOG_FETCH;
    *data = x->got;
    return CKV_OK;
}

/* Add k with an inclusion proof under checkpoint cpi (size/root of cp),
 * from the server's tiles, checked; without a proof when that fails. */
static ckv_status add_proven(ckv_client *c, ckv_evidence *ev, const char *role,
                             const ckv_kt_entry *k, size_t cpi, const ckv_tlog_checkpoint *cp)
{
    ckv_tlog_hash *path = malloc(sizeof *path * CKV_TLOG_MAX_PROOF), leaf;
    char saved[CKV_ERRMSG_MAX];
    struct tiles x = {c, NULL};
    ckv_tlog_tile_source src = {cp->size, get_tile, &x};
    ckv_tlog_hash_reader r;
    size_t n = 0;
    int ok = 0;
    ckv_status st;

    memcpy(saved, c->err, sizeof saved); /* the fetches must not change the sentence */
    if (path != NULL && k->leaf_index < cp->size) {
        ckv_tlog_tile_hash_reader(&src, &r);
        memcpy(leaf.b, k->leaf_hash, 32);
        ok =
            ckv_tlog_reader_inclusion_proof(&r, k->leaf_index, cp->size, path, &n) == CKV_OK &&
            ckv_tlog_verify_inclusion(k->leaf_index, cp->size, &leaf, path, n, &cp->root) == CKV_OK;
    }
    memcpy(c->err, saved, sizeof saved);
    free(x.got);
    st = ckv_evidence_add_entry(ev, role, k->text, k->text_len, k->leaf_index, cpi,
                                ok ? path : NULL, n);
    free(path);
    return st;
}

/* start() plus our view as checkpoint 0 (parsed into *cp). */
static ckv_evidence *start_with_view(ckv_client *c, const char *kind, char **vkey,
                                     ckv_tlog_checkpoint *cp)
{
    char *k2 = NULL;
    uint8_t *view = NULL;
    size_t vl = 0;
    const ckv_tlog_verifier *vs[1] = {c->vkey};
    ckv_evidence *ev = start(c, kind, vkey);
    if (ev != NULL &&
        (load_pins(c, &k2, &view, &vl) != CKV_OK ||
         ckv_tlog_checkpoint_open((const char *)view, vl, c->origin, vs, 1, cp, NULL) != CKV_OK ||
         ckv_evidence_add_checkpoint(ev, "view", view, vl, NULL) != CKV_OK)) {
        ckv_evidence_free(ev);
        ev = NULL;
    }
    free(k2);
    free(view);
    return ev;
}

ckv_status ckv_kt_ev_entries(ckv_client *c, ckv_status st, const char *kind,
                             const ckv_kt_entry *prev, const ckv_kt_entry *k)
{
    char *vkey = NULL;
    int stale = strcmp(kind, "stale_entry") == 0;
    ckv_tlog_checkpoint *cp = malloc(sizeof *cp);
    ckv_evidence *ev = cp ? start_with_view(c, kind, &vkey, cp) : NULL;
    if (ev != NULL &&
        ((prev != NULL && add_proven(c, ev, stale ? "newer" : "earlier", prev, 0, cp) != CKV_OK) ||
         add_proven(c, ev,
                    stale  ? "served"
                    : prev ? "later"
                           : "entry",
                    k, 0, cp) != CKV_OK)) {
        ckv_evidence_free(ev);
        ev = NULL;
    }
    free(cp);
    return finish(c, ev, vkey, st);
}

ckv_status ckv_kt_ev_bundle_key(ckv_client *c, ckv_status st, const char *name,
                                const uint8_t served[CKV_IDENTITY_KEY_LEN])
{
    char *vkey = NULL;
    ckv_kt_entry *k = malloc(sizeof *k);
    ckv_tlog_checkpoint *cp = malloc(sizeof *cp);
    ckv_evidence *ev = NULL;
    char saved[CKV_ERRMSG_MAX];
    memcpy(saved, c->err, sizeof saved);
    if (k != NULL && cp != NULL && ckv_kt_stored(c, name, k) == CKV_OK)
        ev = start_with_view(c, "key_not_in_log", &vkey, cp);
    memcpy(c->err, saved, sizeof saved);
    if (ev != NULL && (add_proven(c, ev, "logged", k, 0, cp) != CKV_OK ||
                       ckv_evidence_set_served_key(ev, name, served, "prekey bundle") != CKV_OK)) {
        ckv_evidence_free(ev);
        ev = NULL;
    }
    free(k);
    free(cp);
    return finish(c, ev, vkey, st);
}
