/*
 * kt.c: the client's key-transparency checks (DESIGN.md main flows 2, 3, 6;
 * docs/protocol.md "What the client checks").
 *
 * The view: the latest checkpoint this profile accepted (meta kt_view) and
 * every one it accepted before (ktcp:<size>). A checkpoint is accepted only
 * when (1) it is a signed note by the pinned log key whose origin is the
 * pinned origin, and (2) it is consistent with the view: same size means
 * same root; a larger one comes with a consistency proof from the view
 * (RFC 9162 §2.1.4.2); a smaller one is a rollback (CKV_ERR_TLOG_ROLLBACK:
 * the server always serves its latest checkpoint), refused.
 *
 * A lookup: the client recomputes the leaf hash from the entry text
 * (RFC 9162 §2.1.1), checks origin and name, verifies the inclusion proof
 * (§2.1.3.2) against the accepted checkpoint, and checks the account's
 * chain (docs/directory.md): against the entry it verified before when
 * that is the previous version, else by reading and verifying the whole
 * history. The latest verified entry per name is kept (ktn:<hash>), so an
 * older entry served later is refused (CKV_ERR_KT_STALE). Before any entry
 * is accepted, the monitor is brought up to the accepted checkpoint and the
 * entry must not be older than the latest version the log shows for its
 * name (table kt_latest): so even a first lookup cannot be served an older
 * genuine entry (check_latest; docs/threat-model.md attack 9).
 *
 * The monitor reads the log's entry bundles (C2SP tlog-tiles) from its
 * position to the accepted checkpoint; each bundle is authenticated by an
 * inclusion proof for its first leaf computed from tiles in which the
 * bundle's own leaf hashes stand for the level-0 tile: that path covers
 * every other leaf of the bundle, so it verifies only if every entry is
 * the one the checkpoint commits to. It records every name's latest
 * version and leaf (kt_latest), written with its position in one
 * transaction per run.
 */
#include "kt_evidence.h"
#include "online.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VIEW_FIXED 48 /* size(8) root(32) accepted_at(8) */
#define PENDING_WAIT_MS 8000

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

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- the view --------------------------------------------------------------- */

struct view {
    uint64_t size;
    uint8_t root[32];
    int64_t at;
};

static ckv_status load_view(ckv_client *c, struct view *v)
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
    struct view v;
    ckv_status st = load_view(c, &v);
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
static ckv_status parse_path(json_t *a, ckv_tlog_hash *path, size_t *n)
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
        parse_path(json_object_get(ans, "proof"), proof, &n) != CKV_OK) {
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

static ckv_status accept_checkpoint(ckv_client *c, const char *note, size_t len,
                                    ckv_tlog_checkpoint *cp)
{
    const ckv_tlog_verifier *vs[1] = {c->vkey};
    struct view v;
    ckv_status st;

    if (c->view_note != NULL && len == c->view_note_len && memcmp(note, c->view_note, len) == 0) {
        /* exactly the note of our current view, verified before */
        *cp = *c->view_cp;
        c->last_witnessed = c->view_witnessed;
        if (ckv_now() == c->view_refreshed)
            return CKV_OK;
        /* refresh accepted_at, unless another client on this profile
         * moved the view meanwhile */
        if (load_view(c, &v) == CKV_OK && v.size == cp->size &&
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
    st = load_view(c, &v);
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

static ckv_status fetch_checkpoint(ckv_client *c, ckv_tlog_checkpoint *cp)
{
    uint8_t *note = NULL;
    size_t len = 0;
    ckv_status st = ckv_net_get_raw(c, "/checkpoint", CKV_TLOG_NOTE_MAX_SIZE, &note, &len);
    if (st != CKV_OK)
        return st;
    st = accept_checkpoint(c, (const char *)note, len, cp);
    free(note);
    return st;
}

ckv_status ckv_kt_refresh(ckv_client *c)
{
    ckv_tlog_checkpoint *cp = malloc(sizeof *cp);
    ckv_status st = cp ? fetch_checkpoint(c, cp) : CKV_ERR_NOMEM;
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

/* ---- stored entries per name -------------------------------------------- */

static ckv_status kt_parse_record(const uint8_t *rec, size_t n, ckv_kt_entry *out)
{
    ckv_kt_entry k;
    if (n < 24 || n - 24 > CKV_DIR_ENTRY_MAX)
        return CKV_ERR_PROFILE_DAMAGED;
    memset(&k, 0, sizeof k);
    k.leaf_index = ckv_get_be64(rec);
    k.tree_size = ckv_get_be64(rec + 8);
    k.checked_at = (int64_t)ckv_get_be64(rec + 16);
    k.text_len = n - 24;
    memcpy(k.text, rec + 24, k.text_len);
    if (ckv_dir_entry_parse((const uint8_t *)k.text, k.text_len, &k.e) != CKV_OK)
        return CKV_ERR_PROFILE_DAMAGED;
    ckv_dir_leaf_hash((const uint8_t *)k.text, k.text_len, k.leaf_hash);
    *out = k;
    return CKV_OK;
}

ckv_status ckv_kt_stored(ckv_client *c, const char *name, ckv_kt_entry *out)
{
    char key[64];
    uint8_t *rec = NULL;
    size_t n = 0;
    ckv_status st;
    ckv_meta_name_key(c->p, "ktn:", name, key);
    st = ckv_meta_get(c->p, key, &rec, &n);
    if (st != CKV_OK)
        return st;
    st = kt_parse_record(rec, n, out);
    free(rec);
    return st;
}

static ckv_status kt_store(ckv_client *c, const ckv_kt_entry *k)
{
    uint8_t rec[24 + CKV_DIR_ENTRY_MAX];
    char key[64];
    ckv_put_be64(rec, k->leaf_index);
    ckv_put_be64(rec + 8, k->tree_size);
    ckv_put_be64(rec + 16, (uint64_t)k->checked_at);
    memcpy(rec + 24, k->text, k->text_len);
    ckv_meta_name_key(c->p, "ktn:", k->e.name, key);
    return ckv_meta_put(c->p, key, rec, 24 + k->text_len);
}

void ckv_kt_info(const ckv_kt_entry *k, ckv_key_info *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", k->e.name);
    out->version = k->e.version;
    out->type = (int)k->e.type;
    memcpy(out->key, k->e.key, sizeof out->key);
    out->leaf_index = k->leaf_index;
    out->entry_time = k->e.time;
    out->tree_size = k->tree_size;
    out->checkpoint_age = ckv_now() - k->checked_at;
    if (out->checkpoint_age < 0)
        out->checkpoint_age = 0;
}

/* One {"entry", "leaf_index", "tree_size", "proof"} object, proven against
 * the accepted checkpoint cp. */
static ckv_status verify_entry(ckv_client *c, const char *name, json_t *o,
                               const ckv_tlog_checkpoint *cp, ckv_kt_entry *out)
{
    ckv_kt_entry k;
    ckv_tlog_hash *path = NULL, leaf;
    size_t n = 0;
    json_t *je = json_object_get(o, "entry"), *ji = json_object_get(o, "leaf_index"),
           *jt = json_object_get(o, "tree_size");
    ckv_status st;

    memset(&k, 0, sizeof k);
    if (!json_is_string(je) || !json_is_integer(ji) || json_integer_value(ji) < 0 ||
        (jt != NULL && !json_is_integer(jt)))
        return ckv_client_fail(c, CKV_ERR_JSON,
                               "the server's directory answer for '%s' lacks entry/leaf_index",
                               name);
    if (jt != NULL && json_integer_value(jt) != (json_int_t)cp->size)
        return ckv_client_fail(c, CKV_ERR_KT_BAD_PROOF,
                               "the server's proof for '%s' is for tree size %lld, but its "
                               "checkpoint has size %llu",
                               name, (long long)json_integer_value(jt),
                               (unsigned long long)cp->size);
    k.text_len = json_string_length(je);
    if (k.text_len > CKV_DIR_ENTRY_MAX)
        return ckv_client_fail(c, CKV_ERR_DIR_BAD_ENTRY,
                               "the server sent a directory entry for '%s' over %d bytes", name,
                               CKV_DIR_ENTRY_MAX);
    memcpy(k.text, json_string_value(je), k.text_len);
    st = ckv_dir_entry_parse((const uint8_t *)k.text, k.text_len, &k.e);
    if (st != CKV_OK)
        return ckv_client_fail(c, CKV_ERR_DIR_BAD_ENTRY,
                               "the server sent a directory entry for '%s' that does not parse: %s",
                               name, ckv_strerror(st));
    if (strcmp(k.e.origin, c->origin) != 0)
        return ckv_client_fail(c, CKV_ERR_DIR_ORIGIN,
                               "the server sent an entry of log '%s', not of the pinned log '%s'",
                               k.e.origin, c->origin);
    if (strcmp(k.e.name, name) != 0)
        return ckv_client_fail(c, CKV_ERR_KT_NAME_MISMATCH,
                               "asked for '%s', the server answered with an entry for '%s'", name,
                               k.e.name);
    k.leaf_index = (uint64_t)json_integer_value(ji);
    k.tree_size = cp->size;
    ckv_dir_leaf_hash((const uint8_t *)k.text, k.text_len, k.leaf_hash);
    path = malloc(sizeof *path * CKV_TLOG_MAX_PROOF);
    if (path == NULL)
        return CKV_ERR_NOMEM;
    if (parse_path(json_object_get(o, "proof"), path, &n) != CKV_OK) {
        st = ckv_client_fail(c, CKV_ERR_KT_BAD_PROOF,
                             "the server's inclusion proof for '%s' is malformed", name);
        goto out;
    }
    memcpy(leaf.b, k.leaf_hash, 32);
    if (ckv_tlog_verify_inclusion(k.leaf_index, cp->size, &leaf, path, n, &cp->root) != CKV_OK) {
        st = ckv_client_fail(c, CKV_ERR_KT_BAD_PROOF,
                             "the server's inclusion proof for '%s' (leaf %llu) does not verify "
                             "against its signed checkpoint of size %llu: the entry is not "
                             "proven to be in the log",
                             name, (unsigned long long)k.leaf_index, (unsigned long long)cp->size);
        /* the served checkpoint is our view's note when it has that size */
        if (c->view_note != NULL && c->view_cp->size == cp->size &&
            ckv_tlog_hash_equal(&c->view_cp->root, &cp->root))
            st = ckv_kt_ev_bad_inclusion(c, st, c->view_note, c->view_note_len, &k, path, n);
        goto out;
    }
    k.checked_at = ckv_now();
    *out = k;
out:
    free(path);
    return st;
}

static ckv_status check_latest(ckv_client *c, const ckv_kt_entry *k,
                               const ckv_tlog_checkpoint *cp);

/* GET a directory path, retrying while the server says its entry is not in a
 * signed checkpoint yet (503 pending). */
static ckv_status get_directory(ckv_client *c, const char *path, json_t **ans)
{
    long waited = 0;
    for (;;) {
        ckv_status st = ckv_net_json(c, "GET", path, NULL, 0, 0, ans);
        if (st != CKV_ERR_HTTP || strstr(c->err, "pending") == NULL || waited >= PENDING_WAIT_MS)
            return st;
        sleep_ms(100);
        waited += 100;
    }
}

/* k breaks the chain (after prev, which may be NULL): say so, with
 * evidence. */
static ckv_status chain_fail(ckv_client *c, ckv_status st, const ckv_kt_entry *prev,
                             const ckv_kt_entry *k)
{
    return ckv_kt_ev_entries(c,
                             ckv_client_fail(c, st,
                                             "the log's entry for '%s' version %llu (leaf %llu) "
                                             "breaks the account's chain: %s",
                                             k->e.name, (unsigned long long)k->e.version,
                                             (unsigned long long)k->leaf_index,
                                             ckv_strerror(st)),
                             "broken_chain", prev, k);
}

/* The whole history of name, every entry proven and the chain checked.
 * *list malloc'd, oldest first. */
static ckv_status fetch_history(ckv_client *c, const char *name, ckv_kt_entry **list,
                                size_t *count)
{
    char path[128];
    json_t *ans = NULL, *arr, *x;
    ckv_tlog_checkpoint *cp = NULL;
    ckv_kt_entry *l = NULL;
    const char *note;
    size_t i, n = 0;
    ckv_status st;

    snprintf(path, sizeof path, "/v1/directory/%s/history", name);
    st = get_directory(c, path, &ans);
    if (st != CKV_OK)
        return st;
    cp = malloc(sizeof *cp);
    arr = json_object_get(ans, "entries");
    note = json_string_value(json_object_get(ans, "checkpoint"));
    if (cp == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    if (!json_is_array(arr) || note == NULL || json_array_size(arr) == 0 ||
        json_array_size(arr) > 100000) {
        st = ckv_client_fail(c, CKV_ERR_JSON,
                             "the server's history of '%s' lacks entries or checkpoint", name);
        goto out;
    }
    st = accept_checkpoint(c, note, strlen(note), cp);
    if (st != CKV_OK)
        goto out;
    l = calloc(json_array_size(arr), sizeof *l);
    if (l == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    json_array_foreach(arr, i, x)
    {
        st = verify_entry(c, name, x, cp, &l[i]);
        if (st != CKV_OK)
            goto out;
        if (i == 0)
            st = ckv_dir_chain_check(NULL, 0, NULL, &l[i].e);
        else
            st = ckv_dir_chain_check(&l[i - 1].e, l[i - 1].leaf_index, l[i - 1].leaf_hash,
                                     &l[i].e);
        if (st != CKV_OK) {
            st = chain_fail(c, st, i > 0 ? &l[i - 1] : NULL, &l[i]);
            goto out;
        }
        n++;
    }
    *list = l;
    *count = n;
    l = NULL;
out:
    free(l);
    free(cp);
    json_decref(ans);
    return st;
}

/* Check k (verified under a checkpoint) against what we know of its name:
 * never older, never a different entry for a known version, and a valid
 * chain. */
static ckv_status check_chain(ckv_client *c, ckv_kt_entry *k, ckv_kt_entry *stored_out)
{
    ckv_kt_entry *prev = malloc(sizeof *prev), *hist = NULL;
    size_t nh = 0;
    ckv_status st = ckv_kt_stored(c, k->e.name, prev);
    int have = st == CKV_OK;

    if (prev == NULL)
        return CKV_ERR_NOMEM;
    if (st != CKV_OK && st != CKV_ERR_NOT_FOUND)
        goto out;
    if (have && k->e.version < prev->e.version) {
        st = ckv_client_fail(c, CKV_ERR_KT_STALE,
                             "the server serves version %llu of '%s', but version %llu (leaf %llu) "
                             "was proven before: it hides the newer key",
                             (unsigned long long)k->e.version, k->e.name,
                             (unsigned long long)prev->e.version,
                             (unsigned long long)prev->leaf_index);
        st = ckv_kt_ev_entries(c, st, "stale_entry", prev, k);
        goto out;
    }
    if (have && k->e.version == prev->e.version) {
        if (k->leaf_index != prev->leaf_index ||
            sodium_memcmp(k->leaf_hash, prev->leaf_hash, 32) != 0)
            st = ckv_kt_ev_entries(
                c,
                ckv_client_fail(c, CKV_ERR_KT_INCONSISTENT,
                                "the log holds two different entries for '%s' version %llu "
                                "(leaves %llu and %llu)",
                                k->e.name, (unsigned long long)k->e.version,
                                (unsigned long long)prev->leaf_index,
                                (unsigned long long)k->leaf_index),
                "broken_chain", prev->leaf_index < k->leaf_index ? prev : k,
                prev->leaf_index < k->leaf_index ? k : prev);
        else
            st = CKV_OK;
        goto out;
    }
    if (have && k->e.version == prev->e.version + 1) {
        st = ckv_dir_chain_check(&prev->e, prev->leaf_index, prev->leaf_hash, &k->e);
        if (st != CKV_OK)
            st = chain_fail(c, st, prev, k);
        goto out;
    }
    if (!have && k->e.version == 1) {
        st = ckv_dir_chain_check(NULL, 0, NULL, &k->e);
        if (st != CKV_OK)
            st = chain_fail(c, st, NULL, k);
        goto out;
    }
    /* a gap: read and check the whole chain, which must end in k and
     * contain what we knew */
    st = fetch_history(c, k->e.name, &hist, &nh);
    if (st != CKV_OK)
        goto out;
    if (nh < k->e.version || hist[k->e.version - 1].leaf_index != k->leaf_index ||
        sodium_memcmp(hist[k->e.version - 1].leaf_hash, k->leaf_hash, 32) != 0 ||
        (have && (nh < prev->e.version ||
                  sodium_memcmp(hist[prev->e.version - 1].leaf_hash, prev->leaf_hash, 32) != 0))) {
        st = ckv_client_fail(c, CKV_ERR_KT_INCONSISTENT,
                             "the server's history of '%s' does not contain the entries it "
                             "proved before",
                             k->e.name);
        goto out;
    }
    st = CKV_OK;
out:
    if (st == CKV_OK && stored_out != NULL) {
        if (have)
            *stored_out = *prev;
        else
            stored_out->e.version = 0;
    }
    free(hist);
    free(prev);
    return st;
}

ckv_status ckv_kt_lookup(ckv_client *c, const char *name, ckv_kt_entry *out)
{
    char path[128];
    json_t *ans = NULL;
    ckv_tlog_checkpoint *cp = malloc(sizeof *cp);
    ckv_kt_entry *k = malloc(sizeof *k), *prev = malloc(sizeof *prev);
    const char *note;
    ckv_status st;

    if (cp == NULL || k == NULL || prev == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    snprintf(path, sizeof path, "/v1/directory/%s", name);
    st = get_directory(c, path, &ans);
    if (st != CKV_OK) {
        if (st == CKV_ERR_NOT_REGISTERED)
            ckv_client_fail(c, st, "'%s' is not in the server's directory", name);
        goto out;
    }
    note = json_string_value(json_object_get(ans, "checkpoint"));
    if (note == NULL) {
        st = ckv_client_fail(c, CKV_ERR_JSON,
                             "the server's directory answer for '%s' has no checkpoint", name);
        goto out;
    }
    st = accept_checkpoint(c, note, strlen(note), cp);
    if (st == CKV_OK)
        st = verify_entry(c, name, ans, cp, k);
    if (st == CKV_OK)
        st = check_latest(c, k, cp);
    if (st == CKV_OK)
        st = check_chain(c, k, prev);
    if (st == CKV_OK) {
        /* the freshness of a proof is that of our view when it was made */
        if (c->view_note != NULL && c->view_cp->size == cp->size)
            k->checked_at = c->view_refreshed;
        /* nothing new: no write */
        if (!(prev->e.version == k->e.version && prev->leaf_index == k->leaf_index &&
              prev->tree_size == k->tree_size && prev->checked_at == k->checked_at))
            st = kt_store(c, k);
    }
    if (st == CKV_OK)
        *out = *k;
out:
    free(cp);
    free(k);
    free(prev);
    json_decref(ans);
    return st;
}

/* ---- own entries -------------------------------------------------------------- */

static ckv_status load_own(ckv_client *c, uint8_t **list, size_t *n)
{
    size_t len = 0;
    ckv_status st = ckv_meta_get(c->p, "kt_own", list, &len);
    if (st == CKV_ERR_NOT_FOUND) {
        *list = NULL;
        *n = 0;
        return CKV_OK;
    }
    if (st == CKV_OK && len % 32 != 0) {
        free(*list);
        return CKV_ERR_PROFILE_DAMAGED;
    }
    if (st == CKV_OK)
        *n = len / 32;
    return st;
}

ckv_status ckv_kt_add_own(ckv_client *c, const uint8_t leaf_hash[32])
{
    uint8_t *l = NULL, *nl;
    size_t n = 0;
    ckv_status st = load_own(c, &l, &n);
    if (st != CKV_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        if (memcmp(l + 32 * i, leaf_hash, 32) == 0) {
            free(l);
            return CKV_OK;
        }
    nl = realloc(l, 32 * (n + 1));
    if (nl == NULL) {
        free(l);
        return CKV_ERR_NOMEM;
    }
    memcpy(nl + 32 * n, leaf_hash, 32);
    st = ckv_meta_put(c->p, "kt_own", nl, 32 * (n + 1));
    free(nl);
    return st;
}

ckv_status ckv_kt_vouch(ckv_client *c, const char *name, const uint8_t key[CKV_IDENTITY_KEY_LEN])
{
    ckv_contact *ct = NULL;
    int known = 0;
    ckv_status st = ckv_contact_get(c->p, name, &ct);
    if (st != CKV_OK)
        return st;
    if (sodium_memcmp(ct->identity_key, key, CKV_IDENTITY_KEY_LEN) != 0) {
        ckv_contact_free(ct);
        return CKV_ERR_UNTRUSTED_IDENTITY;
    }
    for (size_t i = 0; i < ct->n_events; i++)
        known |= ct->events[i].kind == CKV_EVENT_LOGGED &&
                 sodium_memcmp(ct->events[i].key, key, CKV_IDENTITY_KEY_LEN) == 0;
    if (ct->state == CKV_TRUST_UNVERIFIED || !known)
        st = ckv_contact_set_logged(c->p, name, key);
    ckv_contact_free(ct);
    return st;
}

/* ---- public: lookup, history, view ------------------------------------- */

ckv_status ckv_client_lookup(ckv_client *c, const char *name, ckv_key_info *out)
{
    char norm[CKV_NAME_MAX + 1];
    ckv_kt_entry *k;
    ckv_contact *ct = NULL;
    ckv_status st;

    if (c == NULL || name == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    c->err[0] = 0;
    st = ckv_name_normalize(name, norm);
    if (st != CKV_OK)
        return ckv_client_fail(c, st, "'%s' is not a valid account name", name);
    k = malloc(sizeof *k);
    if (k == NULL)
        return CKV_ERR_NOMEM;
    st = ckv_kt_lookup(c, norm, k);
    if (st != CKV_OK)
        goto out;
    /* a contact: the log vouches for its key, or reports that it changed */
    if (ckv_contact_get(c->p, norm, &ct) == CKV_OK) {
        if (sodium_memcmp(ct->identity_key, k->e.key, CKV_IDENTITY_KEY_LEN) == 0)
            st = ckv_kt_vouch(c, norm, k->e.key);
        else
            st = ckv_contact_pin(c->p, norm, k->e.key, NULL);
        if (st != CKV_OK) {
            ckv_client_fail(c, st, "cannot update contact '%s': %s", norm, ckv_strerror(st));
            goto out;
        }
    }
    ckv_kt_info(k, out);
out:
    ckv_contact_free(ct);
    free(k);
    return ckv_client_done(c, st);
}

ckv_status ckv_client_key_history(ckv_client *c, const char *name, ckv_key_info **out,
                                  size_t *count)
{
    char norm[CKV_NAME_MAX + 1];
    ckv_kt_entry *l = NULL, *latest = NULL;
    ckv_key_info *info = NULL;
    size_t n = 0;
    ckv_status st;

    if (c == NULL || name == NULL || out == NULL || count == NULL)
        return CKV_ERR_INVALID_ARG;
    c->err[0] = 0;
    st = ckv_name_normalize(name, norm);
    if (st != CKV_OK)
        return ckv_client_fail(c, st, "'%s' is not a valid account name", name);
    st = fetch_history(c, norm, &l, &n);
    if (st != CKV_OK)
        goto out;
    latest = &l[n - 1];
    st = c->view_cp != NULL ? check_latest(c, latest, c->view_cp) : CKV_OK;
    if (st == CKV_OK)
        st = check_chain(c, latest, NULL); /* never older than what we proved before */
    if (st == CKV_OK)
        st = kt_store(c, latest);
    if (st != CKV_OK)
        goto out;
    info = calloc(n, sizeof *info);
    if (info == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        ckv_kt_info(&l[i], &info[i]);
    *out = info;
    *count = n;
out:
    free(l);
    return ckv_client_done(c, st);
}

ckv_status ckv_client_view(ckv_client *c, ckv_view *out)
{
    struct view v;
    ckv_status st;
    if (c == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    st = load_view(c, &v);
    if (st == CKV_ERR_NOT_FOUND) {
        memset(out, 0, sizeof *out);
        out->n_witnesses = (unsigned)c->n_witnesses;
        out->quorum = c->quorum;
        return CKV_OK;
    }
    if (st != CKV_OK)
        return st;
    out->tree_size = v.size;
    out->accepted_at = v.at;
    out->witnessed_at = 0;
    out->n_witnesses = (unsigned)c->n_witnesses;
    out->quorum = c->quorum;
    if (c->n_witnesses > 0) {
        /* the stored note was opened when it was accepted: read its time */
        char *note = NULL;
        size_t len = 0;
        ckv_tlog_checkpoint *cp = malloc(sizeof *cp);
        int64_t wt = 0;
        if (cp != NULL && ckv_kt_view_note(c, &note, &len) == CKV_OK &&
            ckv_quorum_open(c, note, len, cp, &wt, 0) == CKV_OK)
            out->witnessed_at = wt;
        free(note);
        free(cp);
    }
    return CKV_OK;
}

/* ---- monitor ------------------------------------------------------------------- */

struct tile_ctx {
    ckv_client *c;
    uint64_t bundle_index;
    const uint8_t *bundle_tile; /* level-0 hashes of our bundle */
    size_t bundle_tile_len;
    uint8_t *fetched;
    ckv_status err;
};

static ckv_status fetch_tile(void *ctx, const ckv_tlog_tile *t, const uint8_t **data, size_t *len)
{
    struct tile_ctx *tc = ctx;
    char path[CKV_TLOG_TILE_PATH_MAX + 1];
    ckv_status st;
    if (t->level == 0 && t->index == tc->bundle_index) {
        *data = tc->bundle_tile;
        *len = tc->bundle_tile_len;
        return CKV_OK;
    }
    path[0] = '/';
    st = ckv_tlog_tile_path(t, path + 1, sizeof path - 1);
    if (st != CKV_OK)
        return st;
    free(tc->fetched);
    tc->fetched = NULL;
    st = ckv_net_get_raw(tc->c, path, CKV_TLOG_TILE_MAX_BYTES, &tc->fetched, len);
    if (st != CKV_OK) {
        tc->err = st;
        return CKV_ERR_TLOG_FETCH;
    }
    *data = tc->fetched;
    return CKV_OK;
}

struct mon {
    uint64_t pos, own, foreign, foreign_index;
};

static ckv_status load_mon(ckv_client *c, struct mon *m)
{
    uint8_t *rec = NULL;
    size_t n = 0;
    ckv_status st = ckv_meta_get(c->p, "monitor_pos", &rec, &n);
    memset(m, 0, sizeof *m);
    if (st == CKV_ERR_NOT_FOUND)
        return CKV_OK;
    if (st != CKV_OK)
        return st;
    if (n != 32) {
        free(rec);
        return CKV_ERR_PROFILE_DAMAGED;
    }
    m->pos = ckv_get_be64(rec);
    m->own = ckv_get_be64(rec + 8);
    m->foreign = ckv_get_be64(rec + 16);
    m->foreign_index = ckv_get_be64(rec + 24);
    free(rec);
    return CKV_OK;
}

static ckv_status store_mon(ckv_client *c, const struct mon *m)
{
    uint8_t rec[32];
    ckv_put_be64(rec, m->pos);
    ckv_put_be64(rec + 8, m->own);
    ckv_put_be64(rec + 16, m->foreign);
    ckv_put_be64(rec + 24, m->foreign_index);
    return ckv_meta_put(c->p, "monitor_pos", rec, sizeof rec);
}

/* ---- the latest version per name (table kt_latest) -------------------------------
 * One row per name the monitor saw: name_h = the profile's keyed name hash,
 * v = sealed version(8) || leaf(8), big-endian. Names and versions are
 * public log data; they are sealed like every other row of the profile. */

#define LATEST_REC 16

static ckv_status latest_get(ckv_client *c, const uint8_t h[32], uint64_t *version,
                             uint64_t *leaf)
{
    sqlite3_stmt *s = ckv_stmt(c->p, STMT_LATEST_GET);
    uint8_t *rec = NULL;
    size_t n = 0;
    ckv_status st;
    int rc;

    sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        st = CKV_ERR_NOT_FOUND;
    else if (rc != SQLITE_ROW)
        st = ckv_db_status(rc);
    else
        st = ckv_unseal(c->p->seal_key, SEAL_KT_LATEST, h, 32, sqlite3_column_blob(s, 0),
                        (size_t)sqlite3_column_bytes(s, 0), &rec, &n);
    sqlite3_reset(s);
    if (st == CKV_OK && n != LATEST_REC)
        st = CKV_ERR_PROFILE_DAMAGED;
    if (st == CKV_OK) {
        *version = ckv_get_be64(rec);
        *leaf = ckv_get_be64(rec + 8);
    }
    free(rec);
    return st;
}

static ckv_status latest_put(ckv_client *c, const uint8_t h[32], uint64_t version, uint64_t leaf)
{
    uint8_t rec[LATEST_REC], *sealed = NULL;
    size_t sealed_len = 0;
    sqlite3_stmt *s;
    ckv_status st;
    int rc;

    ckv_put_be64(rec, version);
    ckv_put_be64(rec + 8, leaf);
    st = ckv_seal(c->p->seal_key, SEAL_KT_LATEST, h, 32, rec, sizeof rec, &sealed, &sealed_len);
    if (st != CKV_OK)
        return st;
    s = ckv_stmt(c->p, STMT_LATEST_PUT);
    sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, sealed, (int)sealed_len, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    free(sealed);
    return rc == SQLITE_DONE ? CKV_OK : ckv_db_status(rc);
}

/* What one monitor run saw: an open-addressing set keyed by name hash, the
 * highest version per name (a later leaf with a lower version is a broken
 * chain, which the log's checks refuse; the set keeps the highest anyway). */
struct latest {
    uint8_t h[32];
    uint64_t version, leaf;
    int used;
};

struct latest_set {
    struct latest *v;
    size_t n, cap; /* cap: 0 or a power of two */
};

static struct latest *latest_slot(struct latest *v, size_t cap, const uint8_t h[32])
{
    size_t i = (size_t)ckv_get_be64(h) & (cap - 1);
    while (v[i].used && memcmp(v[i].h, h, 32) != 0)
        i = (i + 1) & (cap - 1);
    return &v[i];
}

static ckv_status latest_note(struct latest_set *ls, const uint8_t h[32], uint64_t version,
                              uint64_t leaf)
{
    struct latest *sl;
    if (2 * (ls->n + 1) > ls->cap) {
        size_t cap = ls->cap ? 2 * ls->cap : 256;
        struct latest *v = calloc(cap, sizeof *v);
        if (v == NULL)
            return CKV_ERR_NOMEM;
        for (size_t i = 0; i < ls->cap; i++)
            if (ls->v[i].used)
                *latest_slot(v, cap, ls->v[i].h) = ls->v[i];
        free(ls->v);
        ls->v = v;
        ls->cap = cap;
    }
    sl = latest_slot(ls->v, ls->cap, h);
    if (!sl->used) {
        memcpy(sl->h, h, 32);
        sl->used = 1;
        ls->n++;
    } else if (sl->version >= version) {
        return CKV_OK;
    }
    sl->version = version;
    sl->leaf = leaf;
    return CKV_OK;
}

/* One log entry seen by the monitor. */
static ckv_status monitor_entry(ckv_client *c, uint64_t index, const ckv_tlog_entry *en,
                                const uint8_t *own, size_t n_own, const ckv_contact *contacts,
                                size_t n_contacts, uint64_t tree_size, struct mon *m,
                                struct latest_set *ls)
{
    uint8_t h[32];
    ckv_kt_entry *k = malloc(sizeof *k), *prev = NULL;
    ckv_status st;
    int is_contact = 0, have_prev = 0;

    if (k == NULL)
        return CKV_ERR_NOMEM;
    memset(k, 0, sizeof *k);
    if (en->len > CKV_DIR_ENTRY_MAX ||
        ckv_dir_entry_parse(en->data, en->len, &k->e) != CKV_OK) {
        st = ckv_client_fail(c, CKV_ERR_DIR_BAD_ENTRY,
                             "log entry %llu is not a directory entry: the server logged "
                             "something that is not a key",
                             (unsigned long long)index);
        goto out;
    }
    if (strcmp(k->e.origin, c->origin) != 0) {
        st = ckv_client_fail(c, CKV_ERR_DIR_ORIGIN, "log entry %llu is for another log ('%s')",
                             (unsigned long long)index, k->e.origin);
        goto out;
    }
    memcpy(k->text, en->data, en->len);
    k->text_len = en->len;
    k->leaf_index = index;
    k->tree_size = tree_size;
    k->checked_at = ckv_now();
    ckv_dir_leaf_hash(en->data, en->len, k->leaf_hash);
    /* every name: its latest version (lookups refuse anything older) */
    ckv_name_hash(c->p, k->e.name, strlen(k->e.name), h);
    st = latest_note(ls, h, k->e.version, index);
    if (st != CKV_OK)
        goto out;
    if (strcmp(k->e.name, c->p->account) == 0) {
        int mine = 0;
        for (size_t i = 0; i < n_own; i++)
            mine |= sodium_memcmp(own + 32 * i, k->leaf_hash, 32) == 0;
        m->own++;
        if (!mine) {
            if (m->foreign == 0)
                m->foreign_index = index;
            m->foreign++;
        }
        goto out;
    }
    for (size_t i = 0; i < n_contacts; i++)
        is_contact |= strcmp(contacts[i].name, k->e.name) == 0;
    if (!is_contact)
        goto out;
    /* a contact: keep its latest version (lookups refuse anything older) */
    prev = malloc(sizeof *prev);
    if (prev == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    st = ckv_kt_stored(c, k->e.name, prev);
    have_prev = st == CKV_OK;
    if (st == CKV_ERR_NOT_FOUND) {
        st = k->e.version == 1 ? ckv_dir_chain_check(NULL, 0, NULL, &k->e) : CKV_OK;
        if (st == CKV_OK && k->e.version == 1)
            st = kt_store(c, k);
    } else if (st == CKV_OK && k->e.version == prev->e.version + 1) {
        st = ckv_dir_chain_check(&prev->e, prev->leaf_index, prev->leaf_hash, &k->e);
        if (st == CKV_OK)
            st = kt_store(c, k);
    } else if (st == CKV_OK && k->e.version <= prev->e.version && k->leaf_index > prev->leaf_index) {
        st = CKV_ERR_DIR_BAD_CHAIN; /* a later leaf with an old version */
    }
    if (st == CKV_ERR_DIR_BAD_CHAIN || st == CKV_ERR_DIR_BAD_SIGNATURE ||
        st == CKV_ERR_DIR_NAME_TAKEN)
        st = chain_fail(c, st, have_prev ? prev : NULL, k);
out:
    free(prev);
    free(k);
    return st;
}

/* Bundle bi of the log under cp (C2SP tlog-tiles), authenticated: its
 * first leaf's inclusion path, computed from tiles in which the bundle's
 * own leaf hashes stand for the level-0 tile, must verify to cp's root
 * (RFC 9162 §2.1.3.2). entries[0..*width) point into *bundle (malloc'd,
 * the caller frees it); tile0 has room for CKV_TLOG_TILE_MAX_BYTES. */
static ckv_status read_bundle(ckv_client *c, const ckv_tlog_checkpoint *cp, uint64_t bi,
                              uint8_t **bundle, ckv_tlog_entry *entries, uint8_t *tile0,
                              ckv_tlog_hash *path, unsigned *width)
{
    ckv_tlog_tile t = {CKV_TLOG_TILE_LEVEL_ENTRIES, bi, 0};
    char tpath[CKV_TLOG_TILE_PATH_MAX + 1];
    ckv_tlog_hash_reader r;
    ckv_tlog_tile_source src;
    struct tile_ctx tc;
    size_t plen = 0, blen = 0;
    ckv_status st;

    t.width = ckv_tlog_tile_width_at(CKV_TLOG_TILE_LEVEL_ENTRIES, bi, cp->size);
    tpath[0] = '/';
    st = ckv_tlog_tile_path(&t, tpath + 1, sizeof tpath - 1);
    if (st != CKV_OK)
        return st;
    free(*bundle);
    *bundle = NULL;
    st = ckv_net_get_raw(c, tpath, CKV_TLOG_BUNDLE_MAX_BYTES, bundle, &blen);
    if (st != CKV_OK)
        return st;
    if (ckv_tlog_bundle_parse(*bundle, blen, t.width, entries) != CKV_OK ||
        ckv_tlog_bundle_to_tile(*bundle, blen, t.width, tile0) != CKV_OK)
        return ckv_client_fail(c, CKV_ERR_TLOG_BAD_BUNDLE,
                               "the server's entry bundle %s is malformed (expected %u entries)",
                               tpath, t.width);
    memset(&tc, 0, sizeof tc);
    tc.c = c;
    tc.bundle_index = bi;
    tc.bundle_tile = tile0;
    tc.bundle_tile_len = (size_t)t.width * 32;
    src.tree_size = cp->size;
    src.fetch = fetch_tile;
    src.ctx = &tc;
    ckv_tlog_tile_hash_reader(&src, &r);
    st = ckv_tlog_reader_inclusion_proof(&r, bi * CKV_TLOG_TILE_WIDTH, cp->size, path, &plen);
    free(tc.fetched);
    if (st == CKV_ERR_TLOG_FETCH && tc.err != CKV_OK)
        return tc.err;
    if (st == CKV_OK) {
        ckv_tlog_hash leaf;
        memcpy(leaf.b, tile0, 32);
        st = ckv_tlog_verify_inclusion(bi * CKV_TLOG_TILE_WIDTH, cp->size, &leaf, path, plen,
                                       &cp->root);
    }
    if (st != CKV_OK)
        return ckv_client_fail(c, CKV_ERR_KT_BAD_PROOF,
                               "the server's entry bundle %s (or its tiles) does not match its "
                               "signed checkpoint of size %llu: %s",
                               tpath, (unsigned long long)cp->size, ckv_strerror(st));
    *width = t.width;
    return CKV_OK;
}

/* The names seen and the new position, in one transaction: a row is
 * replaced only by a higher version. */
static ckv_status latest_flush(ckv_client *c, const struct latest_set *ls, const struct mon *m)
{
    ckv_status st = ckv_db_begin(c->p);
    c->latest_gen++; /* whatever happens below, the cached rows are old */
    if (st != CKV_OK)
        return st;
    for (size_t i = 0; i < ls->cap && st == CKV_OK; i++) {
        uint64_t v = 0, leaf = 0;
        if (!ls->v[i].used)
            continue;
        st = latest_get(c, ls->v[i].h, &v, &leaf);
        if (st == CKV_OK && v >= ls->v[i].version)
            continue;
        if (st == CKV_OK || st == CKV_ERR_NOT_FOUND)
            st = latest_put(c, ls->v[i].h, ls->v[i].version, ls->v[i].leaf);
    }
    if (st == CKV_OK)
        st = store_mon(c, m);
    if (st == CKV_OK)
        st = ckv_db_commit(c->p);
    else
        ckv_db_rollback(c->p);
    return st;
}

/* Read every entry from the monitor's position to cp (an accepted
 * checkpoint), bundle by bundle; the names seen and the position are
 * written once at the end (also after an error, up to the last whole
 * bundle). *m: the position and counts after the run. */
static ckv_status monitor_run(ckv_client *c, const ckv_tlog_checkpoint *cp, struct mon *m,
                              uint64_t *read)
{
    ckv_tlog_hash *path = malloc(sizeof *path * CKV_TLOG_MAX_PROOF);
    ckv_tlog_entry *entries = malloc(sizeof *entries * CKV_TLOG_TILE_WIDTH);
    uint8_t *tile0 = malloc(CKV_TLOG_TILE_MAX_BYTES), *own = NULL, *bundle = NULL;
    ckv_contact *contacts = NULL;
    struct latest_set ls = {NULL, 0, 0};
    size_t n_own = 0, n_contacts = 0;
    uint64_t start = 0;
    struct mon done;
    ckv_status st, fst;

    *read = 0;
    memset(&done, 0, sizeof done);
    if (path == NULL || entries == NULL || tile0 == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    st = load_mon(c, &done);
    if (st == CKV_OK)
        st = load_own(c, &own, &n_own);
    if (st == CKV_OK)
        st = ckv_contact_list(c->p, &contacts, &n_contacts);
    if (st != CKV_OK)
        goto out;
    start = done.pos;
    *m = done;
    while (st == CKV_OK && m->pos < cp->size) {
        uint64_t bi = m->pos / CKV_TLOG_TILE_WIDTH;
        unsigned width = 0;
        st = read_bundle(c, cp, bi, &bundle, entries, tile0, path, &width);
        for (uint64_t i = m->pos - bi * CKV_TLOG_TILE_WIDTH; st == CKV_OK && i < width; i++) {
            st = monitor_entry(c, bi * CKV_TLOG_TILE_WIDTH + i, &entries[i], own, n_own,
                               contacts, n_contacts, cp->size, m, &ls);
            if (st == CKV_OK)
                (*read)++;
        }
        if (st == CKV_OK) {
            m->pos = bi * CKV_TLOG_TILE_WIDTH + width;
            done = *m;
        }
    }
    if (done.pos > start) {
        fst = latest_flush(c, &ls, &done);
        if (st == CKV_OK)
            st = fst;
    }
    /* the cache only once committed (an outer transaction may roll back) */
    if (st == CKV_OK && c->p->txn_depth == 0)
        c->mon_pos = m->pos;
    if (st != CKV_OK)
        *m = done;
out:
    ckv_contact_list_free(contacts, n_contacts);
    free(ls.v);
    free(own);
    free(bundle);
    free(tile0);
    free(entries);
    free(path);
    return st;
}

ckv_status ckv_client_monitor(ckv_client *c, ckv_monitor_report *out)
{
    ckv_tlog_checkpoint *cp = NULL;
    struct mon m;
    uint64_t read = 0;
    ckv_status st;

    if (c == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    c->err[0] = 0;
    memset(&m, 0, sizeof m);
    cp = malloc(sizeof *cp);
    st = cp != NULL ? fetch_checkpoint(c, cp) : CKV_ERR_NOMEM;
    if (st == CKV_OK)
        st = monitor_run(c, cp, &m, &read);
    if (st != CKV_OK)
        goto out;
    out->tree_size = cp->size > m.pos ? cp->size : m.pos;
    out->entries_read = read;
    out->own_entries = m.own;
    out->foreign_entries = m.foreign;
    out->foreign_index = m.foreign_index;
    if (m.foreign > 0)
        st = ckv_client_fail(c, CKV_ERR_KT_FOREIGN_ENTRY,
                             "ALARM: the log holds %llu entr%s under our name '%s' that this "
                             "profile did not make (the first at leaf %llu): someone else "
                             "registered a key for this account",
                             (unsigned long long)m.foreign, m.foreign == 1 ? "y" : "ies",
                             c->p->account, (unsigned long long)m.foreign_index);
out:
    free(cp);
    return ckv_client_done(c, st);
}

/* Entry leaf of the log under cp, read from its authenticated bundle (for
 * evidence). */
static ckv_status entry_at(ckv_client *c, const ckv_tlog_checkpoint *cp, uint64_t leaf,
                           ckv_kt_entry *k)
{
    ckv_tlog_hash *path = malloc(sizeof *path * CKV_TLOG_MAX_PROOF);
    ckv_tlog_entry *entries = malloc(sizeof *entries * CKV_TLOG_TILE_WIDTH);
    uint8_t *tile0 = malloc(CKV_TLOG_TILE_MAX_BYTES), *bundle = NULL;
    uint64_t bi = leaf / CKV_TLOG_TILE_WIDTH, i = leaf % CKV_TLOG_TILE_WIDTH;
    unsigned width = 0;
    ckv_status st = CKV_ERR_NOMEM;

    if (path != NULL && entries != NULL && tile0 != NULL && leaf < cp->size)
        st = read_bundle(c, cp, bi, &bundle, entries, tile0, path, &width);
    if (st == CKV_OK && (i >= width || entries[i].len > CKV_DIR_ENTRY_MAX ||
                         ckv_dir_entry_parse(entries[i].data, entries[i].len, &k->e) != CKV_OK))
        st = CKV_ERR_DIR_BAD_ENTRY;
    if (st == CKV_OK) {
        memcpy(k->text, entries[i].data, entries[i].len);
        k->text_len = entries[i].len;
        k->leaf_index = leaf;
        k->tree_size = cp->size;
        k->checked_at = ckv_now();
        ckv_dir_leaf_hash(entries[i].data, entries[i].len, k->leaf_hash);
    }
    free(bundle);
    free(tile0);
    free(entries);
    free(path);
    return st;
}

/* Before accepting k (proven under cp, our accepted view): the monitor is
 * brought up to cp (incremental: nothing to read when it is there
 * already), then k must not be older than the latest version the log
 * shows for its name, else CKV_ERR_KT_STALE with stale_entry evidence.
 * This is what makes a FIRST lookup safe: inclusion alone does not say
 * that an entry is the newest of its name (docs/threat-model.md). */
static ckv_status check_latest(ckv_client *c, const ckv_kt_entry *k,
                               const ckv_tlog_checkpoint *cp)
{
    uint8_t h[32];
    uint64_t version = 0, leaf = 0;
    ckv_kt_entry *newer = NULL;
    ckv_status st = CKV_OK;

    if (c->mon_pos < cp->size) {
        struct mon m;
        st = load_mon(c, &m);
        if (st == CKV_OK && m.pos < cp->size) {
            uint64_t read = 0;
            st = monitor_run(c, cp, &m, &read);
        } else if (st == CKV_OK && c->p->txn_depth == 0) {
            c->mon_pos = m.pos;
        }
        if (st != CKV_OK)
            return st;
    }
    /* a cached row (one lookup after another under the same checkpoint
     * costs no profile read); slot by FNV-1a of the name */
    uint32_t fnv = 2166136261u;
    for (const char *q = k->e.name; *q != 0; q++)
        fnv = (fnv ^ (uint8_t)*q) * 16777619u;
    if (c->latest_gen == 0)
        c->latest_gen = 1;
    size_t slot = fnv % (sizeof c->latest_cache / sizeof c->latest_cache[0]);
    if (c->latest_cache[slot].gen == c->latest_gen &&
        strcmp(c->latest_cache[slot].name, k->e.name) == 0) {
        version = c->latest_cache[slot].version;
        leaf = c->latest_cache[slot].leaf;
    } else {
        ckv_name_hash(c->p, k->e.name, strlen(k->e.name), h);
        st = latest_get(c, h, &version, &leaf);
        if (st == CKV_ERR_NOT_FOUND)
            st = CKV_OK; /* version 0: the monitor reached cp and k's own leaf
                            is in it, so only for an entry it has not read */
        if (st != CKV_OK)
            return st;
        if (c->p->txn_depth == 0 && strlen(k->e.name) <= CKV_NAME_MAX) {
            snprintf(c->latest_cache[slot].name, sizeof c->latest_cache[slot].name, "%s",
                     k->e.name);
            c->latest_cache[slot].version = version;
            c->latest_cache[slot].leaf = leaf;
            c->latest_cache[slot].gen = c->latest_gen;
        }
    }
    if (k->e.version >= version)
        return CKV_OK;
    st = ckv_client_fail(c, CKV_ERR_KT_STALE,
                         "the server served an older key of '%s' than the log holds: version "
                         "%llu of %llu (the newest is at leaf %llu): it hides the newer key",
                         k->e.name, (unsigned long long)k->e.version,
                         (unsigned long long)version, (unsigned long long)leaf);
    newer = malloc(sizeof *newer);
    if (newer != NULL) {
        char saved[CKV_ERRMSG_MAX];
        memcpy(saved, c->err, sizeof saved); /* the fetch must not change the sentence */
        if (entry_at(c, cp, leaf, newer) != CKV_OK ||
            strcmp(newer->e.name, k->e.name) != 0) {
            free(newer);
            newer = NULL;
        }
        memcpy(c->err, saved, sizeof saved);
    }
    st = ckv_kt_ev_entries(c, st, "stale_entry", newer, k);
    free(newer);
    return st;
}
