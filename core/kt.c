/*
 * kt.c: the client's key-transparency checks (DESIGN.md main flows 2, 3, 6;
 * docs/protocol.md "What the client checks"), part 1: entries (a lookup,
 * its proof and the account's chain, the latest verified entry per name),
 * our own entries, and the public lookup, history and view calls. The
 * view lives in kt_view.c, the monitor and kt_latest in kt_monitor.c;
 * what the three share is in kt.h.
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
#include "kt.h"
#include "kt_evidence.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

ckv_status ckv_kt_store(ckv_client *c, const ckv_kt_entry *k)
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
    if (ckv_kt_parse_path(json_object_get(o, "proof"), path, &n) != CKV_OK) {
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

/* GET a directory path, retrying while the server says its entry is not in a
 * signed checkpoint yet (503 pending). */
static ckv_status get_directory(ckv_client *c, const char *path, json_t **ans)
{
    long waited = 0;
    for (;;) {
        ckv_status st = ckv_net_json(c, "GET", path, NULL, 0, 0, ans);
        if (st != CKV_ERR_HTTP || strstr(c->err, "pending") == NULL ||
            waited >= CKV_KT_PENDING_WAIT_MS)
            return st;
        ckv_sleep_ms(100);
        waited += 100;
    }
}

/* k breaks the chain (after prev, which may be NULL): say so, with
 * evidence. */
ckv_status ckv_kt_chain_fail(ckv_client *c, ckv_status st, const ckv_kt_entry *prev,
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
    st = ckv_kt_accept_checkpoint(c, note, strlen(note), cp);
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
            st = ckv_kt_chain_fail(c, st, i > 0 ? &l[i - 1] : NULL, &l[i]);
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
    if (prev == NULL)
        return CKV_ERR_NOMEM;
    ckv_status st = ckv_kt_stored(c, k->e.name, prev);
    int have = st == CKV_OK;

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
            st = ckv_kt_chain_fail(c, st, prev, k);
        goto out;
    }
    if (!have && k->e.version == 1) {
        st = ckv_dir_chain_check(NULL, 0, NULL, &k->e);
        if (st != CKV_OK)
            st = ckv_kt_chain_fail(c, st, NULL, k);
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
    st = ckv_kt_accept_checkpoint(c, note, strlen(note), cp);
    if (st == CKV_OK)
        st = verify_entry(c, name, ans, cp, k);
    if (st == CKV_OK)
        st = ckv_kt_check_latest(c, k, cp);
    if (st == CKV_OK)
        st = check_chain(c, k, prev);
    if (st == CKV_OK) {
        /* the freshness of a proof is that of our view when it was made */
        if (c->view_note != NULL && c->view_cp->size == cp->size)
            k->checked_at = c->view_refreshed;
        /* nothing new: no write */
        if (!(prev->e.version == k->e.version && prev->leaf_index == k->leaf_index &&
              prev->tree_size == k->tree_size && prev->checked_at == k->checked_at))
            st = ckv_kt_store(c, k);
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

ckv_status ckv_kt_load_own(ckv_client *c, uint8_t **list, size_t *n)
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
    ckv_status st = ckv_kt_load_own(c, &l, &n);
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

ckv_status ckv_kt_drop_own(ckv_client *c, const uint8_t leaf_hash[32])
{
    uint8_t *l = NULL;
    size_t n = 0, k = 0;
    ckv_status st = ckv_kt_load_own(c, &l, &n);
    if (st != CKV_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        if (memcmp(l + 32 * i, leaf_hash, 32) != 0)
            memmove(l + 32 * k++, l + 32 * i, 32);
    st = k == n ? CKV_OK : ckv_meta_put(c->p, "kt_own", l, 32 * k);
    free(l);
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
    st = c->view_cp != NULL ? ckv_kt_check_latest(c, latest, c->view_cp) : CKV_OK;
    if (st == CKV_OK)
        st = check_chain(c, latest, NULL); /* never older than what we proved before */
    if (st == CKV_OK)
        st = ckv_kt_store(c, latest);
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
    struct ckv_kt_viewrec v;
    ckv_status st;
    if (c == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    st = ckv_kt_load_view(c, &v);
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
