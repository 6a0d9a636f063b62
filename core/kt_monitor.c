/*
 * kt_monitor.c: the monitor (ckv_client_monitor; kt.c's top comment). It
 * reads the log's entry bundles (C2SP tlog-tiles) from its position to the
 * accepted checkpoint; each bundle is authenticated by an inclusion proof
 * for its first leaf computed from tiles in which the bundle's own leaf
 * hashes stand for the level-0 tile, so it verifies only if every entry is
 * the one the checkpoint commits to. It reports entries under our name we
 * did not make, and records every name's latest version and leaf
 * (table kt_latest), with its position, in one transaction per run; a
 * lookup then refuses an entry older than that (ckv_kt_check_latest).
 */
#include "kt.h"
#include "kt_evidence.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    ckv_status st;
    if (t->level == 0 && t->index == tc->bundle_index) {
        *data = tc->bundle_tile;
        *len = tc->bundle_tile_len;
        return CKV_OK;
    }
    st = ckv_kt_get_tile(tc->c, t, &tc->fetched, len);
    if (st != CKV_OK) {
        tc->err = st;
        return CKV_ERR_TLOG_FETCH;
    }
    *data = tc->fetched;
    return CKV_OK;
}

/* The monitor's record (meta monitor_pos), 96 bytes, big-endian:
 *   pos      entries read
 *   own      entries under our name
 *   earlier  of those, before this profile's first own entry and not ours:
 *            the account's history that our reset replaced (a lost
 *            device's keys), not an alarm -- but only when our first own
 *            entry is a reset that links to the last of them (version + 1,
 *            prev_index); a register, or a reset linking to anything else,
 *            did not replace them, so then every one of them counts as
 *            foreign (the server logged keys under our name that our first
 *            entry does not account for: a second register, a key slipped
 *            in just before our reset)
 *   foreign  of those, not ours and not such history: the alarm
 *   first, last   leaf of the first and the latest foreign entry
 *   acked    foreign entries the user acknowledged (the first `acked`)
 *   unacked  leaf of the first foreign entry not acknowledged
 *   flags    bit 0: an entry of this profile was seen
 *   e_first, e_last, e_version   leaves of the first and the last earlier
 *            entry, and the last one's version (while no entry of ours
 *            was seen: what our first entry must link to)
 * A record of an older format (32 bytes: pos, own, foreign, first; 72
 * bytes: without the e_ fields) is forgotten: the monitor reads the log
 * again and counts afresh (an acknowledgement must then be given again). */
#define MON_REC 96
#define MON_MINE_SEEN 1u

struct mon {
    uint64_t pos, own, earlier, foreign, first, last, acked, unacked, flags;
    uint64_t e_first, e_last, e_version;
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
    if (n == 32 || n == 72) { /* an older format: read the log again */
        free(rec);
        return CKV_OK;
    }
    if (n != MON_REC) {
        free(rec);
        return CKV_ERR_PROFILE_DAMAGED;
    }
    m->pos = ckv_get_be64(rec);
    m->own = ckv_get_be64(rec + 8);
    m->earlier = ckv_get_be64(rec + 16);
    m->foreign = ckv_get_be64(rec + 24);
    m->first = ckv_get_be64(rec + 32);
    m->last = ckv_get_be64(rec + 40);
    m->acked = ckv_get_be64(rec + 48);
    m->unacked = ckv_get_be64(rec + 56);
    m->flags = ckv_get_be64(rec + 64);
    m->e_first = ckv_get_be64(rec + 72);
    m->e_last = ckv_get_be64(rec + 80);
    m->e_version = ckv_get_be64(rec + 88);
    free(rec);
    if (m->earlier + m->foreign > m->own || m->acked > m->foreign)
        return CKV_ERR_PROFILE_DAMAGED;
    return CKV_OK;
}

static ckv_status store_mon(ckv_client *c, const struct mon *m)
{
    uint8_t rec[MON_REC];
    ckv_put_be64(rec, m->pos);
    ckv_put_be64(rec + 8, m->own);
    ckv_put_be64(rec + 16, m->earlier);
    ckv_put_be64(rec + 24, m->foreign);
    ckv_put_be64(rec + 32, m->first);
    ckv_put_be64(rec + 40, m->last);
    ckv_put_be64(rec + 48, m->acked);
    ckv_put_be64(rec + 56, m->unacked);
    ckv_put_be64(rec + 64, m->flags);
    ckv_put_be64(rec + 72, m->e_first);
    ckv_put_be64(rec + 80, m->e_last);
    ckv_put_be64(rec + 88, m->e_version);
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
        if (mine && !(m->flags & MON_MINE_SEEN)) {
            m->flags |= MON_MINE_SEEN;
            if (m->earlier > 0 &&
                !(k->e.type == CKV_DIR_RESET && k->e.has_prev && k->e.prev_index == m->e_last &&
                  k->e.version == m->e_version + 1)) {
                /* our first entry does not replace the one before it: none
                 * of them is history it replaced (see the record) */
                m->foreign = m->earlier;
                m->first = m->unacked = m->e_first;
                m->last = m->e_last;
                m->earlier = 0;
            }
        } else if (mine) {
            /* ours: nothing to count */
        } else if (!(m->flags & MON_MINE_SEEN)) {
            if (m->earlier == 0)
                m->e_first = index;
            m->e_last = index;
            m->e_version = k->e.version;
            m->earlier++; /* replaced by our reset, if it links to the last one */
        } else {
            if (m->foreign == 0)
                m->first = index;
            if (m->foreign == m->acked)
                m->unacked = index;
            m->last = index;
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
            st = ckv_kt_store(c, k);
    } else if (st == CKV_OK && k->e.version == prev->e.version + 1) {
        st = ckv_dir_chain_check(&prev->e, prev->leaf_index, prev->leaf_hash, &k->e);
        if (st == CKV_OK)
            st = ckv_kt_store(c, k);
    } else if (st == CKV_OK && k->e.version <= prev->e.version &&
               k->leaf_index > prev->leaf_index) {
        st = CKV_ERR_DIR_BAD_CHAIN; /* a later leaf with an old version */
    }
    if (st == CKV_ERR_DIR_BAD_CHAIN || st == CKV_ERR_DIR_BAD_SIGNATURE ||
        st == CKV_ERR_DIR_NAME_TAKEN)
        st = ckv_kt_chain_fail(c, st, have_prev ? prev : NULL, k);
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
    st = ckv_tlog_tile_path(&t, tpath, sizeof tpath); /* for the sentences below */
    if (st == CKV_OK)
        st = ckv_kt_get_tile(c, &t, bundle, &blen);
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
        st = ckv_kt_load_own(c, &own, &n_own);
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

/* The counts of m as the public report (tree_size, entries_read apart). */
static void report(const struct mon *m, ckv_monitor_report *out)
{
    out->own_entries = m->own;
    out->earlier_entries = m->earlier;
    out->foreign_entries = m->foreign;
    out->foreign_acknowledged = m->acked;
    out->last_foreign_index = m->last;
    out->foreign_index = m->foreign > m->acked ? m->unacked : m->first;
}

/* The alarm for m's foreign entries not acknowledged; after, when not
 * NULL, says why the log could not be read further this time. */
static ckv_status foreign_alarm(ckv_client *c, const struct mon *m, const char *after)
{
    uint64_t n = m->foreign - m->acked;
    char where[64];
    if (n == 1)
        snprintf(where, sizeof where, "at leaf %llu", (unsigned long long)m->unacked);
    else
        snprintf(where, sizeof where, "the first at leaf %llu, the latest at leaf %llu",
                 (unsigned long long)m->unacked, (unsigned long long)m->last);
    return ckv_client_fail(c, CKV_ERR_KT_FOREIGN_ENTRY,
                           "ALARM: the log holds %llu entr%s under our name '%s' that this "
                           "profile did not make (%s): someone else registered, rotated or "
                           "reset this account%s%s",
                           (unsigned long long)n, n == 1 ? "y" : "ies", c->p->account, where,
                           after != NULL ? "; and the log could not be read further now: " : "",
                           after != NULL ? after : "");
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
    st = cp != NULL ? ckv_kt_fetch_checkpoint(c, cp) : CKV_ERR_NOMEM;
    if (st == CKV_OK)
        st = monitor_run(c, cp, &m, &read);
    if (st != CKV_OK) {
        /* an alarm already on record is not hidden by a server that now
         * fails its answers: it comes first, with the failure after it */
        struct mon saved;
        if (load_mon(c, &saved) == CKV_OK && saved.foreign > saved.acked) {
            char why[CKV_ERRMSG_MAX];
            snprintf(why, sizeof why, "%s", c->err[0] != 0 ? c->err : ckv_strerror(st));
            out->tree_size = saved.pos;
            out->entries_read = read;
            report(&saved, out);
            st = foreign_alarm(c, &saved, why);
        }
        goto out;
    }
    out->tree_size = cp->size > m.pos ? cp->size : m.pos;
    out->entries_read = read;
    report(&m, out);
    if (m.foreign > m.acked)
        st = foreign_alarm(c, &m, NULL);
out:
    free(cp);
    return ckv_client_done(c, st);
}

ckv_status ckv_client_monitor_acknowledge(ckv_client *c, uint64_t leaf)
{
    struct mon m;
    ckv_status st;

    if (c == NULL)
        return CKV_ERR_INVALID_ARG;
    c->err[0] = 0;
    st = ckv_db_begin(c->p);
    if (st != CKV_OK)
        return ckv_client_done(c, st);
    st = load_mon(c, &m);
    if (st != CKV_OK)
        goto out;
    if (m.foreign == m.acked) {
        st = ckv_client_fail(c, CKV_ERR_INVALID_ARG,
                             "there is no unacknowledged entry under '%s' that this profile did "
                             "not make (as far as the monitor has read: run monitor first)",
                             c->p->account);
        goto out;
    }
    if (leaf != m.last) {
        st = ckv_client_fail(c, CKV_ERR_INVALID_ARG,
                             "leaf %llu is not the latest entry under '%s' that this profile did "
                             "not make (that is leaf %llu): look at it first; only the latest "
                             "can be acknowledged, and with it every one before",
                             (unsigned long long)leaf, c->p->account, (unsigned long long)m.last);
        goto out;
    }
    m.acked = m.foreign;
    st = store_mon(c, &m);
out:
    if (st == CKV_OK)
        st = ckv_db_commit(c->p);
    else
        ckv_db_rollback(c->p);
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
ckv_status ckv_kt_check_latest(ckv_client *c, const ckv_kt_entry *k,
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
    if (k->e.version > version || version == 0 ||
        (k->e.version == version && k->leaf_index == leaf))
        return CKV_OK;
    if (k->e.version == version) {
        /* two entries of one version under one name: a fork of the
         * account's chain, which the log's rules never allow; evidence:
         * both, the earlier leaf first (docs/evidence.md, broken_chain) */
        ckv_kt_entry *other = malloc(sizeof *other);
        st = ckv_client_fail(c, CKV_ERR_DIR_BAD_CHAIN,
                             "the log holds two entries of version %llu for '%s' (leaves %llu "
                             "and %llu): the server forked the account's chain; do not trust "
                             "either key",
                             (unsigned long long)version, k->e.name, (unsigned long long)leaf,
                             (unsigned long long)k->leaf_index);
        if (other != NULL) {
            char saved[CKV_ERRMSG_MAX];
            memcpy(saved, c->err, sizeof saved);
            if (entry_at(c, cp, leaf, other) != CKV_OK || strcmp(other->e.name, k->e.name) != 0) {
                free(other);
                other = NULL;
            }
            memcpy(c->err, saved, sizeof saved);
        }
        if (other != NULL)
            st = leaf < k->leaf_index ? ckv_kt_ev_entries(c, st, "broken_chain", other, k)
                                      : ckv_kt_ev_entries(c, st, "broken_chain", k, other);
        free(other);
        return st;
    }
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
