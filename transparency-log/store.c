/*
 * store.c: the transparency log in SQLite (WAL): create/open, append
 * (integrating at once), publish, and reads (tiles, bundles, entries,
 * roots, proofs).
 *
 * Schema (version 1):
 *   meta(key TEXT PRIMARY KEY, value)   'schema'=1, 'origin', 'size',
 *                                        'vkey' (key of the latest checkpoint)
 *   tiles(id INTEGER PRIMARY KEY,       id = level * 2^56 + index
 *         width INTEGER, hashes BLOB,   C2SP tile bytes (32 * width)
 *         interior BLOB)                full tiles: the 255 interior hashes
 *   bundles(idx INTEGER PRIMARY KEY, width INTEGER, data BLOB)
 *   checkpoints(size INTEGER PRIMARY KEY, note TEXT)   signed notes
 * Invariants after every commit: meta.size = N; for each level L the tiles
 * (L, i) with i < (N >> 8L) / 256 are full rows and, when (N >> 8L) % 256
 * is not zero, the row (L, (N >> 8L) / 256) has exactly that width; the
 * bundles mirror level 0; every checkpoint has size <= N and its root is
 * the root of the stored tree of that size.
 * In memory: the right edge of each level (struct edge, expanded as hashes
 * arrive, so that a full tile's interior costs nothing more), the partial
 * bundle, and an LRU cache of expanded full tiles.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "note_internal.h"
#include "store_internal.h"

#define SCHEMA_VERSION 1
#define DEFAULT_CACHE_TILES 1024
#define APPEND_MAX 1000000

static const char *const SQL[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_GET_TILE] = "SELECT width, hashes, interior FROM tiles WHERE id = ?1",
    [ST_PUT_TILE] = "INSERT OR REPLACE INTO tiles(id, width, hashes, interior) VALUES (?1, ?2, ?3, ?4)",
    [ST_GET_BUNDLE] = "SELECT width, data FROM bundles WHERE idx = ?1",
    [ST_PUT_BUNDLE] = "INSERT OR REPLACE INTO bundles(idx, width, data) VALUES (?1, ?2, ?3)",
    [ST_GET_META] = "SELECT value FROM meta WHERE key = ?1",
    [ST_PUT_META] = "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
    [ST_LAST_CKPT] = "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
    [ST_PUT_CKPT] = "INSERT INTO checkpoints(size, note) VALUES (?1, ?2)",
};

static const char SCHEMA[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE tiles(id INTEGER PRIMARY KEY, width INTEGER NOT NULL,"
    " hashes BLOB NOT NULL, interior BLOB);"
    "CREATE TABLE bundles(idx INTEGER PRIMARY KEY, width INTEGER NOT NULL, data BLOB NOT NULL);"
    "CREATE TABLE checkpoints(size INTEGER PRIMARY KEY, note TEXT NOT NULL);";

ckv_status store_set_error(ckv_tlog_store *s, ckv_status st, const char *what)
{
    if (s == NULL)
        return st;
    if (st == CKV_ERR_DB && s->db)
        snprintf(s->err, sizeof s->err, "%s: %s", what, sqlite3_errmsg(s->db));
    else
        snprintf(s->err, sizeof s->err, "%s", what);
    return st;
}

/* Map a failed SQLite call to a status: damage is CKV_ERR_TLOG_CORRUPT. */
static ckv_status db_fail(ckv_tlog_store *s, int rc, const char *what)
{
    int prim = rc & 0xff;
    ckv_status st = (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB) ? CKV_ERR_TLOG_CORRUPT
                                                                     : CKV_ERR_DB;
    snprintf(s->err, sizeof s->err, "%s: %s", what, sqlite3_errstr(rc));
    if (s->db && sqlite3_errcode(s->db) == rc)
        snprintf(s->err, sizeof s->err, "%s: %s", what, sqlite3_errmsg(s->db));
    return st;
}

/* Run a prepared statement that returns no rows. */
static ckv_status step_done(ckv_tlog_store *s, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (rc != SQLITE_DONE)
        return db_fail(s, rc, what);
    return CKV_OK;
}

static ckv_status exec(ckv_tlog_store *s, const char *sql)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return db_fail(s, rc, sql);
    return CKV_OK;
}

/* ---- expanded tiles ------------------------------------------------------------ */

void xtile_expand(xtile *x, unsigned count)
{
    for (unsigned r = 1; r <= CKV_TLOG_TILE_HEIGHT; r++) {
        unsigned n = count >> r;
        for (unsigned i = 0; i < n; i++)
            ckv_tlog_node_hash(&x->h[XT_OFF(r - 1) + 2 * i], &x->h[XT_OFF(r - 1) + 2 * i + 1],
                               &x->h[XT_OFF(r) + i]);
    }
}

/* Add one hash to an edge; update the complete interior nodes it closes.
 * Returns 1 when the tile became full (then its root is t.h[XT_OFF(8)]). */
static int edge_push(struct edge *e, const ckv_tlog_hash *h)
{
    unsigned p = e->count;
    e->t.h[p] = *h;
    /* binary counter: node (r, p >> r) is complete when the low r bits of
     * p are all ones */
    for (unsigned r = 1; r <= CKV_TLOG_TILE_HEIGHT && ((p >> (r - 1)) & 1); r++) {
        unsigned i = p >> r;
        ckv_tlog_node_hash(&e->t.h[XT_OFF(r - 1) + 2 * i], &e->t.h[XT_OFF(r - 1) + 2 * i + 1],
                           &e->t.h[XT_OFF(r) + i]);
    }
    e->count = p + 1;
    return e->count == CKV_TLOG_TILE_WIDTH;
}

/* ---- meta --------------------------------------------------------------------------- */

static ckv_status meta_get_text(ckv_tlog_store *s, const char *key, char *buf, size_t cap)
{
    sqlite3_stmt *q = s->st[ST_GET_META];
    ckv_status st = CKV_OK;
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(q, 0);
        int n = sqlite3_column_bytes(q, 0);
        if (v == NULL || n < 0 || (size_t)n >= cap)
            st = store_set_error(s, CKV_ERR_TLOG_CORRUPT, "meta value is missing or too long");
        else {
            memcpy(buf, v, (size_t)n);
            buf[n] = '\0';
        }
    } else if (rc == SQLITE_DONE) {
        st = CKV_ERR_NOT_FOUND;
    } else {
        st = db_fail(s, rc, "read meta");
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return st;
}

static ckv_status meta_get_u64(ckv_tlog_store *s, const char *key, uint64_t *out)
{
    sqlite3_stmt *q = s->st[ST_GET_META];
    ckv_status st = CKV_OK;
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_type(q, 0) != SQLITE_INTEGER || sqlite3_column_int64(q, 0) < 0)
            st = store_set_error(s, CKV_ERR_TLOG_CORRUPT, "meta value is not a size");
        else
            *out = (uint64_t)sqlite3_column_int64(q, 0);
    } else if (rc == SQLITE_DONE) {
        st = store_set_error(s, CKV_ERR_TLOG_CORRUPT, "meta value missing");
    } else {
        st = db_fail(s, rc, "read meta");
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return st;
}

static ckv_status meta_put_u64(ckv_tlog_store *s, const char *key, uint64_t v)
{
    sqlite3_stmt *q = s->st[ST_PUT_META];
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)v);
    return step_done(s, q, "write meta");
}

static ckv_status meta_put_text(ckv_tlog_store *s, const char *key, const char *v)
{
    sqlite3_stmt *q = s->st[ST_PUT_META];
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, v, -1, SQLITE_STATIC);
    return step_done(s, q, "write meta");
}

/* ---- rows ---------------------------------------------------------------------------- */

/* Read the tile row (level, index): width and a copy of its hashes (and of
 * its interior when interior is not NULL and the row has one: *has_interior). */
static ckv_status row_tile(ckv_tlog_store *s, int level, uint64_t index, unsigned *width,
                           ckv_tlog_hash *hashes, ckv_tlog_hash *interior, int *has_interior)
{
    sqlite3_stmt *q = s->st[ST_GET_TILE];
    ckv_status st = CKV_OK;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)TILE_ID(level, index));
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        sqlite3_int64 w = sqlite3_column_int64(q, 0);
        const void *b = sqlite3_column_blob(q, 1);
        int n = sqlite3_column_bytes(q, 1);
        if (w < 1 || w > CKV_TLOG_TILE_WIDTH || b == NULL || n != w * CKV_TLOG_HASH_SIZE) {
            st = store_set_error(s, CKV_ERR_TLOG_CORRUPT, "a stored tile has a wrong length");
        } else {
            *width = (unsigned)w;
            memcpy(hashes, b, (size_t)n);
            if (interior) {
                const void *ib = sqlite3_column_blob(q, 2);
                int in = sqlite3_column_bytes(q, 2);
                *has_interior = 0;
                if (ib != NULL && w == CKV_TLOG_TILE_WIDTH) {
                    if (in != (XT_HASHES - CKV_TLOG_TILE_WIDTH) * CKV_TLOG_HASH_SIZE)
                        st = store_set_error(s, CKV_ERR_TLOG_CORRUPT,
                                             "a stored tile interior has a wrong length");
                    else {
                        memcpy(interior, ib, (size_t)in);
                        *has_interior = 1;
                    }
                }
            }
        }
    } else if (rc == SQLITE_DONE) {
        st = CKV_ERR_NOT_FOUND;
    } else {
        st = db_fail(s, rc, "read tile");
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return st;
}

static ckv_status put_tile(ckv_tlog_store *s, int level, uint64_t index, const xtile *x,
                           unsigned width)
{
    sqlite3_stmt *q = s->st[ST_PUT_TILE];
    sqlite3_bind_int64(q, 1, (sqlite3_int64)TILE_ID(level, index));
    sqlite3_bind_int(q, 2, (int)width);
    sqlite3_bind_blob(q, 3, x->h, (int)(width * CKV_TLOG_HASH_SIZE), SQLITE_STATIC);
    sqlite3_bind_null(q, 4); /* reserved: interiors are recomputed (and so verified) on load */
    return step_done(s, q, "write tile");
}

static ckv_status put_bundle(ckv_tlog_store *s, uint64_t index, const uint8_t *data, size_t len,
                             unsigned width)
{
    sqlite3_stmt *q = s->st[ST_PUT_BUNDLE];
    sqlite3_bind_int64(q, 1, (sqlite3_int64)index);
    sqlite3_bind_int(q, 2, (int)width);
    sqlite3_bind_blob(q, 3, len ? (const void *)data : "", (int)len, SQLITE_STATIC);
    return step_done(s, q, "write bundle");
}

/* Read bundle row index: width and a malloc'd copy of its bytes. */
static ckv_status row_bundle(ckv_tlog_store *s, uint64_t index, unsigned *width, uint8_t **data,
                             size_t *len)
{
    sqlite3_stmt *q = s->st[ST_GET_BUNDLE];
    ckv_status st = CKV_OK;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)index);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        sqlite3_int64 w = sqlite3_column_int64(q, 0);
        const void *b = sqlite3_column_blob(q, 1);
        int n = sqlite3_column_bytes(q, 1);
        if (w < 1 || w > CKV_TLOG_TILE_WIDTH || n < 2 * w || (size_t)n > CKV_TLOG_BUNDLE_MAX_BYTES ||
            b == NULL) {
            st = store_set_error(s, CKV_ERR_TLOG_CORRUPT, "a stored bundle has a wrong length");
        } else {
            uint8_t *c = malloc((size_t)n);
            if (c == NULL)
                st = CKV_ERR_NOMEM;
            else {
                memcpy(c, b, (size_t)n);
                *data = c;
                *len = (size_t)n;
                *width = (unsigned)w;
            }
        }
    } else if (rc == SQLITE_DONE) {
        st = CKV_ERR_NOT_FOUND;
    } else {
        st = db_fail(s, rc, "read bundle");
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return st;
}

/* ---- in-memory state -------------------------------------------------------------------- */

static uint64_t level_count(unsigned level, uint64_t n)
{
    unsigned shift = level * CKV_TLOG_TILE_HEIGHT;
    return shift >= 64 ? 0 : n >> shift;
}

/* Reload the right edge of every level and the partial bundle for size
 * s->size from the database; check the rows have the widths the size
 * implies. */
static ckv_status load_state(ckv_tlog_store *s)
{
    ckv_status st;
    cache_clear(&s->cache);
    for (unsigned L = 0; L < TLOG_LEVELS; L++) {
        struct edge *e = &s->edge[L];
        uint64_t n = level_count(L, s->size);
        unsigned w = (unsigned)(n % CKV_TLOG_TILE_WIDTH), got = 0;
        e->count = 0;
        if (w == 0)
            continue;
        st = row_tile(s, (int)L, n / CKV_TLOG_TILE_WIDTH, &got, e->t.h, NULL, NULL);
        if (st == CKV_ERR_NOT_FOUND || (st == CKV_OK && got != w))
            return store_set_error(s, CKV_ERR_TLOG_CORRUPT,
                                   "the partial tile at the end of the tree is missing or has the "
                                   "wrong width");
        if (st != CKV_OK)
            return st;
        e->count = w;
        xtile_expand(&e->t, w);
    }
    free(s->bundle);
    s->bundle = NULL;
    s->bundle_len = s->bundle_cap = 0;
    s->bundle_count = 0;
    unsigned w = (unsigned)(s->size % CKV_TLOG_TILE_WIDTH);
    if (w > 0) {
        unsigned got = 0;
        uint8_t *data = NULL;
        size_t len = 0;
        st = row_bundle(s, s->size / CKV_TLOG_TILE_WIDTH, &got, &data, &len);
        if (st == CKV_ERR_NOT_FOUND || (st == CKV_OK && got != w)) {
            free(data);
            return store_set_error(s, CKV_ERR_TLOG_CORRUPT,
                                   "the partial entry bundle is missing or has the wrong width");
        }
        if (st != CKV_OK)
            return st;
        if (ckv_tlog_bundle_parse(data, len, w, NULL) != CKV_OK) {
            free(data);
            return store_set_error(s, CKV_ERR_TLOG_CORRUPT, "the partial entry bundle is malformed");
        }
        s->bundle = data;
        s->bundle_len = s->bundle_cap = len;
        s->bundle_count = w;
    }
    return CKV_OK;
}

/* Inside a write transaction: if another process appended since we
 * loaded, reload. */
static ckv_status sync_state(ckv_tlog_store *s)
{
    uint64_t n = 0;
    ckv_status st = meta_get_u64(s, "size", &n);
    if (st != CKV_OK)
        return st;
    if (n != s->size) {
        s->size = n;
        return load_state(s);
    }
    return CKV_OK;
}

/* ---- hash reader over the store ---------------------------------------------------------- */

static ckv_status store_read_nodes(void *ctx, const ckv_tlog_node_id *ids, size_t n,
                                   ckv_tlog_hash *out);

/* Expanded full tile (level, index) from the cache or the database. A tile
 * read from the database is verified before it is used or cached: its
 * root must equal the hash one level up (read the same way, or from the
 * in-memory right edge), so every hash served chains up to the edge that
 * open() checked against the signed checkpoint. */
static ckv_status full_tile(ckv_tlog_store *s, unsigned level, uint64_t index, const xtile **out)
{
    uint64_t id = TILE_ID(level, index);
    const xtile *c = cache_get(&s->cache, id);
    if (c) {
        *out = c;
        return CKV_OK;
    }
    xtile *x = malloc(sizeof *x);
    if (x == NULL)
        return CKV_ERR_NOMEM;
    unsigned w = 0;
    ckv_status st = row_tile(s, (int)level, index, &w, x->h, NULL, NULL);
    if (st == CKV_OK && w != CKV_TLOG_TILE_WIDTH)
        st = store_set_error(s, CKV_ERR_TLOG_CORRUPT, "a tile that should be full is partial");
    if (st == CKV_ERR_NOT_FOUND)
        st = store_set_error(s, CKV_ERR_TLOG_CORRUPT, "a full tile is missing");
    if (st == CKV_OK) {
        ckv_tlog_node_id up = {(level + 1) * CKV_TLOG_TILE_HEIGHT, index};
        ckv_tlog_hash parent;
        xtile_expand(x, CKV_TLOG_TILE_WIDTH);
        st = store_read_nodes(s, &up, 1, &parent);
        if (st == CKV_OK && !ckv_tlog_hash_equal(&parent, &x->h[XT_OFF(CKV_TLOG_TILE_HEIGHT)]))
            st = store_set_error(s, CKV_ERR_TLOG_CORRUPT,
                                 "a stored tile does not hash to the tree above it");
    }
    if (st == CKV_OK) {
        xtile *slot = cache_put(&s->cache, id);
        *slot = *x;
        *out = slot;
    }
    free(x);
    return st;
}

static ckv_status store_read_nodes(void *ctx, const ckv_tlog_node_id *ids, size_t n,
                                   ckv_tlog_hash *out)
{
    ckv_tlog_store *s = ctx;
    for (size_t k = 0; k < n; k++) {
        unsigned h = ids[k].height;
        if (h > 63 || ids[k].index > (UINT64_MAX >> (h % 8)))
            return CKV_ERR_TLOG_BAD_INDEX;
        unsigned L = h / CKV_TLOG_TILE_HEIGHT, r = h % CKV_TLOG_TILE_HEIGHT;
        if (L >= TLOG_LEVELS)
            return CKV_ERR_TLOG_BAD_INDEX;
        uint64_t first = ids[k].index << r;
        uint64_t t = first / CKV_TLOG_TILE_WIDTH;
        unsigned i = (unsigned)(first % CKV_TLOG_TILE_WIDTH) >> r;
        uint64_t nl = level_count(L, s->size);
        if (t < nl / CKV_TLOG_TILE_WIDTH) {
            const xtile *x = NULL;
            ckv_status st = full_tile(s, L, t, &x);
            if (st != CKV_OK)
                return st;
            out[k] = x->h[XT_OFF(r) + i];
        } else if (t == nl / CKV_TLOG_TILE_WIDTH && (((uint64_t)i + 1) << r) <= s->edge[L].count) {
            out[k] = s->edge[L].t.h[XT_OFF(r) + i];
        } else {
            return CKV_ERR_TLOG_BAD_INDEX;
        }
    }
    return CKV_OK;
}

void ckv_tlog_store_hash_reader(ckv_tlog_store *s, ckv_tlog_hash_reader *out)
{
    out->read_nodes = store_read_nodes;
    out->ctx = s;
}

/* ---- open / create / close ------------------------------------------------------------------ */

static ckv_status prepare_all(ckv_tlog_store *s)
{
    for (int i = 0; i < ST_COUNT; i++) {
        int rc = sqlite3_prepare_v3(s->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK)
            return db_fail(s, rc, "prepare");
    }
    return CKV_OK;
}

static ckv_status set_sync(ckv_tlog_store *s, int full)
{
    if (s->read_only || s->in_sync_full == full)
        return CKV_OK;
    ckv_status st = exec(s, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    if (st == CKV_OK)
        s->in_sync_full = full;
    return st;
}

static ckv_tlog_store *store_new(const ckv_tlog_store_options *o)
{
    ckv_tlog_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->durable = o ? o->durable : 1;
    s->read_only = o ? o->read_only : 0;
    s->in_sync_full = -1;
    size_t ct = (o && o->cache_tiles) ? o->cache_tiles : DEFAULT_CACHE_TILES;
    if (cache_init(&s->cache, ct) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

static ckv_status open_db(ckv_tlog_store *s, const char *path, int flags)
{
    int rc = sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return db_fail(s, rc, "open database");
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, 10000);
    return CKV_OK;
}

static bool origin_valid(const char *o)
{
    size_t n = strlen(o);
    return n > 0 && n <= CKV_TLOG_ORIGIN_MAX && ckv_tlog_text_valid(o, n) && !memchr(o, '\n', n);
}

ckv_status ckv_tlog_store_create(const char *path, const char *origin,
                                 const ckv_tlog_store_options *options, ckv_tlog_store **out)
{
    ckv_tlog_store *s = NULL;
    ckv_status st;
    int fd;
    if (path == NULL || origin == NULL || out == NULL || !origin_valid(origin))
        return CKV_ERR_INVALID_ARG;
    if (options && options->read_only)
        return CKV_ERR_INVALID_ARG;
    /* create the file exclusively with mode 0600; SQLite then fills it */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? CKV_ERR_EXISTS : CKV_ERR_IO;
    close(fd);
    s = store_new(options);
    if (s == NULL) {
        unlink(path);
        return CKV_ERR_NOMEM;
    }
    st = open_db(s, path, SQLITE_OPEN_READWRITE);
    if (st == CKV_OK)
        st = exec(s, "PRAGMA page_size=8192; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "PRAGMA wal_autocheckpoint=4096; PRAGMA cache_size=-16384;");
    if (st == CKV_OK)
        st = exec(s, "BEGIN IMMEDIATE");
    if (st == CKV_OK)
        st = exec(s, SCHEMA);
    if (st == CKV_OK)
        st = prepare_all(s);
    if (st == CKV_OK)
        st = meta_put_u64(s, "schema", SCHEMA_VERSION);
    if (st == CKV_OK)
        st = meta_put_u64(s, "size", 0);
    if (st == CKV_OK)
        st = meta_put_text(s, "origin", origin);
    if (st == CKV_OK)
        st = exec(s, "COMMIT");
    if (st != CKV_OK) {
        ckv_tlog_store_close(s);
        unlink(path);
        return st;
    }
    s->in_sync_full = 1;
    snprintf(s->origin, sizeof s->origin, "%s", origin);
    st = set_sync(s, s->durable);
    if (st != CKV_OK) {
        ckv_tlog_store_close(s);
        return st;
    }
    *out = s;
    return CKV_OK;
}

/* The latest checkpoint must be a well-formed checkpoint of our origin,
 * signed by the key recorded at publish time, not larger than the tree,
 * with the root of the stored tree of its size. */
static ckv_status check_latest(ckv_tlog_store *s)
{
    char *note = NULL;
    ckv_tlog_checkpoint cp;
    ckv_tlog_verifier *v = NULL;
    char vkey[1100];
    ckv_status st = ckv_tlog_store_latest_checkpoint(s, &note, NULL);
    if (st == CKV_ERR_NOT_FOUND)
        return CKV_OK;
    if (st != CKV_OK)
        return st;
    st = meta_get_text(s, "vkey", vkey, sizeof vkey);
    if (st == CKV_OK)
        st = ckv_tlog_verifier_parse(vkey, strlen(vkey), &v);
    if (st == CKV_OK) {
        const ckv_tlog_verifier *set[1] = {v};
        st = ckv_tlog_checkpoint_open(note, strlen(note), s->origin, set, 1, &cp, NULL);
    }
    if (st != CKV_OK) {
        st = store_set_error(s, CKV_ERR_TLOG_CORRUPT,
                             "the latest stored checkpoint does not verify with the recorded key");
        goto out;
    }
    if (cp.size > s->size) {
        st = store_set_error(s, CKV_ERR_TLOG_CORRUPT,
                             "the latest checkpoint is larger than the stored tree");
        goto out;
    }
    ckv_tlog_hash root;
    ckv_tlog_hash_reader r;
    ckv_tlog_store_hash_reader(s, &r);
    st = ckv_tlog_reader_root(&r, cp.size, &root);
    if (st == CKV_OK && !ckv_tlog_hash_equal(&root, &cp.root))
        st = store_set_error(s, CKV_ERR_TLOG_CORRUPT,
                             "the stored tree does not match the latest checkpoint's root");
out:
    ckv_tlog_verifier_free(v);
    free(note);
    return st;
}

ckv_status ckv_tlog_store_open(const char *path, const ckv_tlog_store_options *options,
                               ckv_tlog_store **out)
{
    ckv_tlog_store *s = NULL;
    ckv_status st;
    struct stat sb;
    uint64_t schema = 0;
    if (path == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (stat(path, &sb) != 0)
        return errno == ENOENT ? CKV_ERR_NOT_FOUND : CKV_ERR_IO;
    s = store_new(options);
    if (s == NULL)
        return CKV_ERR_NOMEM;
    st = open_db(s, path, s->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE);
    if (st == CKV_OK && !s->read_only)
        st = exec(s, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=4096;"
                     "PRAGMA cache_size=-16384;");
    if (st == CKV_OK)
        st = prepare_all(s);
    if (st == CKV_ERR_DB)
        st = store_set_error(s, CKV_ERR_TLOG_CORRUPT, "not a ckv log database (schema missing)");
    if (st == CKV_OK)
        st = meta_get_u64(s, "schema", &schema);
    if (st == CKV_OK && schema != SCHEMA_VERSION)
        st = store_set_error(s, CKV_ERR_UNSUPPORTED, "unknown log database schema version");
    if (st == CKV_OK) {
        st = meta_get_text(s, "origin", s->origin, sizeof s->origin);
        if (st == CKV_ERR_NOT_FOUND || (st == CKV_OK && !origin_valid(s->origin)))
            st = store_set_error(s, CKV_ERR_TLOG_CORRUPT, "the log's origin is missing or invalid");
    }
    if (st == CKV_OK)
        st = meta_get_u64(s, "size", &s->size);
    if (st == CKV_OK && s->size >= ((uint64_t)1 << 63))
        st = store_set_error(s, CKV_ERR_TLOG_CORRUPT, "the stored tree size is out of range");
    if (st == CKV_OK)
        st = load_state(s);
    if (st == CKV_OK)
        st = check_latest(s);
    if (st == CKV_OK)
        st = set_sync(s, s->durable);
    if (st != CKV_OK) {
        /* keep the explanation for the caller through stderr-free means:
         * the status and this message are all we can return */
        ckv_tlog_store_close(s);
        return st;
    }
    *out = s;
    return CKV_OK;
}

void ckv_tlog_store_close(ckv_tlog_store *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    if (s->db)
        sqlite3_close(s->db);
    cache_free(&s->cache);
    free(s->bundle);
    free(s);
}

const char *ckv_tlog_store_last_error(const ckv_tlog_store *s)
{
    return s ? s->err : "";
}

const char *ckv_tlog_store_origin(const ckv_tlog_store *s)
{
    return s->origin;
}

uint64_t ckv_tlog_store_size(const ckv_tlog_store *s)
{
    return s->size;
}

/* ---- append ------------------------------------------------------------------------------------- */

static ckv_status bundle_add(ckv_tlog_store *s, const ckv_tlog_entry *e)
{
    size_t need = s->bundle_len + 2 + e->len;
    if (need > s->bundle_cap) {
        size_t cap = s->bundle_cap ? s->bundle_cap : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *b = realloc(s->bundle, cap);
        if (b == NULL)
            return CKV_ERR_NOMEM;
        s->bundle = b;
        s->bundle_cap = cap;
    }
    /* uint16 big-endian length, then the bytes: C2SP tlog-tiles entry bundle */
    s->bundle[s->bundle_len] = (uint8_t)(e->len >> 8);
    s->bundle[s->bundle_len + 1] = (uint8_t)e->len;
    if (e->len)
        memcpy(s->bundle + s->bundle_len + 2, e->data, e->len);
    s->bundle_len = need;
    s->bundle_count++;
    return CKV_OK;
}

/* Add one leaf hash: cascade full tiles up the levels, writing each. */
static ckv_status push_hash(ckv_tlog_store *s, uint64_t leaf_index, const ckv_tlog_hash *leaf)
{
    ckv_tlog_hash h = *leaf;
    for (unsigned L = 0; L < TLOG_LEVELS; L++) {
        struct edge *e = &s->edge[L];
        if (!edge_push(e, &h))
            return CKV_OK;
        /* tile (L, index) is full: store it with its interior, cache it,
         * and carry its root to level L+1 */
        uint64_t index = (leaf_index >> (8 * L)) / CKV_TLOG_TILE_WIDTH;
        ckv_status st = put_tile(s, (int)L, index, &e->t, CKV_TLOG_TILE_WIDTH);
        if (st != CKV_OK)
            return st;
        xtile *c = cache_put(&s->cache, TILE_ID(L, index));
        if (c)
            *c = e->t;
        h = e->t.h[XT_OFF(CKV_TLOG_TILE_HEIGHT)];
        e->count = 0;
    }
    return CKV_OK;
}

ckv_status ckv_tlog_store_append(ckv_tlog_store *s, const ckv_tlog_entry *entries, size_t n,
                                 uint64_t *first_index)
{
    ckv_status st;
    if (s == NULL || (entries == NULL && n > 0))
        return CKV_ERR_INVALID_ARG;
    if (s->read_only)
        return store_set_error(s, CKV_ERR_INVALID_ARG, "the log is open read-only");
    if (n > APPEND_MAX)
        return CKV_ERR_TOO_LARGE;
    for (size_t i = 0; i < n; i++) {
        if (entries[i].len > CKV_TLOG_ENTRY_MAX)
            return store_set_error(s, CKV_ERR_TOO_LARGE, "an entry is longer than 65535 bytes");
        if (entries[i].data == NULL && entries[i].len > 0)
            return CKV_ERR_INVALID_ARG;
    }
    st = step_done(s, s->st[ST_BEGIN], "begin");
    if (st != CKV_OK)
        return st;
    st = sync_state(s);
    if (st != CKV_OK)
        goto out;
    uint64_t first = s->size;
    if (n > ((uint64_t)1 << 62) - first) {
        st = CKV_ERR_TOO_LARGE;
        goto out;
    }
    for (size_t i = 0; i < n && st == CKV_OK; i++) {
        ckv_tlog_hash h;
        ckv_tlog_leaf_hash(entries[i].data, entries[i].len, &h);
        st = bundle_add(s, &entries[i]);
        if (st == CKV_OK && s->bundle_count == CKV_TLOG_TILE_WIDTH) {
            st = put_bundle(s, (first + i) / CKV_TLOG_TILE_WIDTH, s->bundle, s->bundle_len,
                            CKV_TLOG_TILE_WIDTH);
            s->bundle_len = 0;
            s->bundle_count = 0;
        }
        if (st == CKV_OK)
            st = push_hash(s, first + i, &h);
    }
    if (st != CKV_OK)
        goto out;
    uint64_t size = first + n;
    /* the partial rows at the new right edge */
    for (unsigned L = 0; L < TLOG_LEVELS && st == CKV_OK; L++) {
        uint64_t nl = level_count(L, size);
        if (s->edge[L].count > 0 && level_count(L, first) != nl)
            st = put_tile(s, (int)L, nl / CKV_TLOG_TILE_WIDTH, &s->edge[L].t, s->edge[L].count);
    }
    if (st == CKV_OK && s->bundle_count > 0 && n > 0)
        st = put_bundle(s, size / CKV_TLOG_TILE_WIDTH, s->bundle, s->bundle_len, s->bundle_count);
    if (st == CKV_OK)
        st = meta_put_u64(s, "size", size);
    if (st == CKV_OK)
        st = step_done(s, s->st[ST_COMMIT], "commit");
    if (st == CKV_OK) {
        s->size = size;
        if (first_index)
            *first_index = first;
        return CKV_OK;
    }
out:
    /* undo: roll back and rebuild the in-memory edge from the database */
    {
        int rc = sqlite3_step(s->st[ST_ROLLBACK]);
        sqlite3_reset(s->st[ST_ROLLBACK]);
        (void)rc;
        char keep[sizeof s->err];
        memcpy(keep, s->err, sizeof keep);
        uint64_t n0 = 0;
        if (meta_get_u64(s, "size", &n0) == CKV_OK) {
            s->size = n0;
            (void)load_state(s);
        }
        memcpy(s->err, keep, sizeof keep);
    }
    return st;
}

/* ---- checkpoints ----------------------------------------------------------------------------------- */

ckv_status ckv_tlog_store_latest_checkpoint(ckv_tlog_store *s, char **note_out,
                                            ckv_tlog_checkpoint *cp)
{
    sqlite3_stmt *q;
    ckv_status st = CKV_OK;
    char *note = NULL;
    ckv_tlog_checkpoint c;
    if (s == NULL || note_out == NULL)
        return CKV_ERR_INVALID_ARG;
    q = s->st[ST_LAST_CKPT];
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(q, 1);
        int n = sqlite3_column_bytes(q, 1);
        if (t == NULL || n <= 0 || n > CKV_TLOG_NOTE_MAX_SIZE) {
            st = store_set_error(s, CKV_ERR_TLOG_CORRUPT, "a stored checkpoint is empty or too large");
        } else if ((note = malloc((size_t)n + 1)) == NULL) {
            st = CKV_ERR_NOMEM;
        } else {
            memcpy(note, t, (size_t)n);
            note[n] = '\0';
        }
    } else if (rc == SQLITE_DONE) {
        st = CKV_ERR_NOT_FOUND;
    } else {
        st = db_fail(s, rc, "read checkpoint");
    }
    sqlite3_reset(q);
    if (st == CKV_OK && cp) {
        /* parse the body: the text before the signature block */
        const char *sep = NULL;
        for (const char *p = strstr(note, "\n\n"); p; p = strstr(p + 1, "\n\n"))
            sep = p;
        if (sep == NULL || ckv_tlog_checkpoint_parse(note, (size_t)(sep - note) + 1, &c) != CKV_OK)
            st = store_set_error(s, CKV_ERR_TLOG_CORRUPT, "a stored checkpoint is malformed");
        else
            *cp = c;
    }
    if (st != CKV_OK) {
        free(note);
        return st;
    }
    *note_out = note;
    return CKV_OK;
}

ckv_status ckv_tlog_store_publish(ckv_tlog_store *s, const ckv_tlog_signer *signer,
                                  const char *ext, char **note_out)
{
    char *text = NULL, *note = NULL, *last = NULL, *vkey = NULL;
    ckv_tlog_checkpoint prev;
    ckv_tlog_hash root;
    ckv_tlog_hash_reader r;
    ckv_status st;
    if (s == NULL || signer == NULL)
        return CKV_ERR_INVALID_ARG;
    if (s->read_only)
        return store_set_error(s, CKV_ERR_INVALID_ARG, "the log is open read-only");
    if (strcmp(ckv_tlog_signer_name(signer), s->origin) != 0)
        return store_set_error(s, CKV_ERR_TLOG_ORIGIN,
                               "the signing key's name is not the log's origin");
    /* every commit from here is fsynced: the tree data committed before is
     * durable before the checkpoint that covers it */
    st = set_sync(s, 1);
    if (st != CKV_OK)
        return st;
    st = step_done(s, s->st[ST_BEGIN], "begin");
    if (st != CKV_OK)
        goto restore;
    st = sync_state(s);
    if (st != CKV_OK)
        goto out;
    st = ckv_tlog_store_latest_checkpoint(s, &last, &prev);
    if (st == CKV_OK && prev.size == s->size) {
        st = CKV_ERR_TLOG_NOTHING_TO_PUBLISH;
        goto out;
    }
    if (st == CKV_OK && prev.size > s->size) {
        st = store_set_error(s, CKV_ERR_TLOG_CORRUPT, "a checkpoint is larger than the tree");
        goto out;
    }
    if (st != CKV_OK && st != CKV_ERR_NOT_FOUND)
        goto out;
    ckv_tlog_store_hash_reader(s, &r);
    st = ckv_tlog_reader_root(&r, s->size, &root);
    if (st == CKV_OK)
        st = ckv_tlog_checkpoint_format(s->origin, s->size, &root, ext, &text, NULL);
    if (st == CKV_OK)
        st = ckv_tlog_note_sign(text, strlen(text), signer, &note, NULL);
    if (st == CKV_OK)
        st = ckv_tlog_signer_vkey(signer, &vkey);
    if (st == CKV_OK)
        st = meta_put_text(s, "vkey", vkey);
    if (st == CKV_OK) {
        sqlite3_stmt *q = s->st[ST_PUT_CKPT];
        sqlite3_bind_int64(q, 1, (sqlite3_int64)s->size);
        sqlite3_bind_text(q, 2, note, -1, SQLITE_STATIC);
        st = step_done(s, q, "write checkpoint");
    }
    if (st == CKV_OK)
        st = step_done(s, s->st[ST_COMMIT], "commit checkpoint");
    if (st == CKV_OK) {
        if (note_out) {
            *note_out = note;
            note = NULL;
        }
        goto restore;
    }
out:
    sqlite3_step(s->st[ST_ROLLBACK]);
    sqlite3_reset(s->st[ST_ROLLBACK]);
restore:
    if (set_sync(s, s->durable) != CKV_OK && st == CKV_OK)
        st = CKV_ERR_DB;
    free(text);
    free(note);
    free(last);
    free(vkey);
    return st;
}

/* ---- reads ------------------------------------------------------------------------------------------ */

ckv_status ckv_tlog_store_root(ckv_tlog_store *s, uint64_t tree_size, ckv_tlog_hash *root_out)
{
    ckv_tlog_hash_reader r;
    if (s == NULL || root_out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (tree_size > s->size)
        return CKV_ERR_TLOG_BAD_INDEX;
    ckv_tlog_store_hash_reader(s, &r);
    return ckv_tlog_reader_root(&r, tree_size, root_out);
}

ckv_status ckv_tlog_store_leaf_hash(ckv_tlog_store *s, uint64_t index, ckv_tlog_hash *out)
{
    ckv_tlog_node_id id = {0, index};
    if (s == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (index >= s->size)
        return CKV_ERR_TLOG_BAD_INDEX;
    return store_read_nodes(s, &id, 1, out);
}

ckv_status ckv_tlog_store_inclusion_proof(ckv_tlog_store *s, uint64_t index, uint64_t tree_size,
                                          ckv_tlog_inclusion_proof *out)
{
    ckv_tlog_hash_reader r;
    ckv_status st;
    if (s == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (tree_size > s->size || index >= tree_size)
        return CKV_ERR_TLOG_BAD_INDEX;
    ckv_tlog_store_hash_reader(s, &r);
    st = ckv_tlog_store_leaf_hash(s, index, &out->leaf_hash);
    if (st == CKV_OK)
        st = ckv_tlog_reader_inclusion_proof(&r, index, tree_size, out->path, &out->path_len);
    if (st == CKV_OK) {
        out->leaf_index = index;
        out->tree_size = tree_size;
    }
    return st;
}

ckv_status ckv_tlog_store_consistency_proof(ckv_tlog_store *s, uint64_t old_size,
                                            uint64_t new_size, ckv_tlog_consistency_proof *out)
{
    ckv_tlog_hash_reader r;
    ckv_status st;
    if (s == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (new_size > s->size || old_size > new_size)
        return CKV_ERR_TLOG_BAD_INDEX;
    ckv_tlog_store_hash_reader(s, &r);
    st = ckv_tlog_reader_root(&r, old_size, &out->old_root);
    if (st == CKV_OK)
        st = ckv_tlog_reader_root(&r, new_size, &out->new_root);
    if (st == CKV_OK)
        st = ckv_tlog_reader_consistency_proof(&r, old_size, new_size, out->path, &out->path_len);
    if (st == CKV_OK) {
        out->old_size = old_size;
        out->new_size = new_size;
    }
    return st;
}

/* The first `width` hashes of tile (level, index) in the current tree:
 * from a verified full tile or from the in-memory edge. Borrowed until the
 * next call on s. CKV_ERR_NOT_FOUND when the tile is not that wide. */
static ckv_status tile_hashes(ckv_tlog_store *s, unsigned level, uint64_t index, unsigned width,
                              const ckv_tlog_hash **out)
{
    uint64_t nl = level_count(level, s->size);
    if (level >= TLOG_LEVELS)
        return CKV_ERR_NOT_FOUND;
    if (index < nl / CKV_TLOG_TILE_WIDTH) {
        const xtile *x = NULL;
        ckv_status st = full_tile(s, level, index, &x);
        if (st == CKV_OK)
            *out = x->h;
        return st;
    }
    if (index == nl / CKV_TLOG_TILE_WIDTH && width <= s->edge[level].count) {
        *out = s->edge[level].t.h;
        return CKV_OK;
    }
    return CKV_ERR_NOT_FOUND;
}

/* byte length of the first `width` entries of a bundle (strict walk) */
static ckv_status bundle_prefix(const uint8_t *data, size_t len, unsigned width, size_t *out)
{
    size_t p = 0;
    for (unsigned k = 0; k < width; k++) {
        if (len - p < 2)
            return CKV_ERR_TLOG_CORRUPT;
        size_t n = ((size_t)data[p] << 8) | data[p + 1];
        if (len - p - 2 < n)
            return CKV_ERR_TLOG_CORRUPT;
        p += 2 + n;
    }
    *out = p;
    return CKV_OK;
}

ckv_status ckv_tlog_store_read_tile(ckv_tlog_store *s, const ckv_tlog_tile *t, uint8_t **data_out,
                                    size_t *len_out)
{
    unsigned w = 0;
    ckv_status st;
    if (s == NULL || t == NULL || data_out == NULL || len_out == NULL ||
        t->level < CKV_TLOG_TILE_LEVEL_ENTRIES || t->level >= TLOG_LEVELS || t->width < 1 ||
        t->width > CKV_TLOG_TILE_WIDTH)
        return CKV_ERR_INVALID_ARG;
    if (t->level == CKV_TLOG_TILE_LEVEL_ENTRIES) {
        uint8_t *data = NULL;
        size_t len = 0, plen = 0;
        st = row_bundle(s, t->index, &w, &data, &len);
        if (st != CKV_OK)
            return st;
        if (w < t->width) {
            free(data);
            return CKV_ERR_NOT_FOUND;
        }
        st = bundle_prefix(data, len, t->width, &plen);
        if (st != CKV_OK || (w == t->width && plen != len)) {
            free(data);
            return store_set_error(s, CKV_ERR_TLOG_CORRUPT, "a stored bundle is malformed");
        }
        /* the entries must hash to the (verified) level-0 tile */
        const ckv_tlog_hash *want = NULL;
        uint8_t *leaves = malloc((size_t)t->width * CKV_TLOG_HASH_SIZE);
        st = leaves ? tile_hashes(s, 0, t->index, t->width, &want) : CKV_ERR_NOMEM;
        if (st == CKV_OK && (ckv_tlog_bundle_to_tile(data, plen, t->width, leaves) != CKV_OK ||
                             memcmp(leaves, want, (size_t)t->width * CKV_TLOG_HASH_SIZE) != 0))
            st = store_set_error(s, CKV_ERR_TLOG_CORRUPT,
                                 "a stored entry bundle does not match its leaf hashes");
        free(leaves);
        if (st != CKV_OK) {
            free(data);
            return st;
        }
        *data_out = data;
        *len_out = plen;
        return CKV_OK;
    }
    const ckv_tlog_hash *src = NULL;
    st = tile_hashes(s, (unsigned)t->level, t->index, t->width, &src);
    if (st != CKV_OK)
        return st;
    uint8_t *h = malloc((size_t)t->width * CKV_TLOG_HASH_SIZE);
    if (h == NULL)
        return CKV_ERR_NOMEM;
    memcpy(h, src, (size_t)t->width * CKV_TLOG_HASH_SIZE);
    *data_out = h;
    *len_out = (size_t)t->width * CKV_TLOG_HASH_SIZE;
    return CKV_OK;
}

ckv_status ckv_tlog_store_entry(ckv_tlog_store *s, uint64_t index, uint8_t **data_out,
                                size_t *len_out)
{
    ckv_tlog_tile t = {CKV_TLOG_TILE_LEVEL_ENTRIES, index / CKV_TLOG_TILE_WIDTH, 0};
    ckv_tlog_entry e[CKV_TLOG_TILE_WIDTH];
    uint8_t *data = NULL, *copy = NULL;
    size_t len = 0;
    ckv_status st;
    if (s == NULL || data_out == NULL || len_out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (index >= s->size)
        return CKV_ERR_TLOG_BAD_INDEX;
    t.width = (unsigned)(index % CKV_TLOG_TILE_WIDTH) + 1;
    st = ckv_tlog_store_read_tile(s, &t, &data, &len);
    if (st == CKV_ERR_NOT_FOUND)
        st = store_set_error(s, CKV_ERR_TLOG_CORRUPT, "an entry bundle is missing");
    if (st == CKV_OK && ckv_tlog_bundle_parse(data, len, t.width, e) != CKV_OK)
        st = store_set_error(s, CKV_ERR_TLOG_CORRUPT, "a stored bundle is malformed");
    if (st == CKV_OK) {
        const ckv_tlog_entry *x = &e[t.width - 1];
        copy = malloc(x->len ? x->len : 1);
        if (copy == NULL)
            st = CKV_ERR_NOMEM;
        else {
            if (x->len)
                memcpy(copy, x->data, x->len);
            *data_out = copy;
            *len_out = x->len;
        }
    }
    free(data);
    return st;
}
