/*
 * audit_check.c: the audit of one log (see audit.h for the list of
 * checks). Data flow, in the order the checks run:
 *
 *   checkpoint --verify--> (size N, root R)        state --> (M, R_M)
 *   tiles at levels >= 1 for N: lv[L] = all N >> 8L hashes of level L
 *   cross-level: lv[L][j] == MTH(lv[L-1][256j .. 256j+256))   (L >= 2)
 *   level-0 tiles needed for roots (the partial tail of N and the tile
 *   holding M's tail), each full one checked against lv[1]
 *   root(N) from those tiles == R   => every level >= 1 hash is authentic
 *   root(M) from the same tiles == R_M  => N extends M (else: fork)
 *   then level-0 tiles + entry bundles of the range to check:
 *   full tile k: MTH(tile) == lv[1][k]; bundle k: leaf hashes == tile k.
 *
 * Every object read is checked before it is used. Only hashes of level
 * >= 1 are kept for the whole run (1/256 of the leaf hashes); level-0
 * tiles and bundles are streamed, so memory stays small for big logs.
 * Partial tiles or bundles that are gone are read from the full tile that
 * replaced them (C2SP tlog-tiles allows serving either).
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "audit_dir.h"
#include "audit_evidence.h"
#include "audit_state.h"
#include "ckv/tlog.h"
#include "progress.h"
#include "tool_util.h"

enum { KEEP = 3 };

struct kept_tile {
    int used;
    uint64_t index;
    unsigned width;
    uint8_t data[CKV_TLOG_TILE_MAX_BYTES];
};

struct audit {
    const audit_opts *o;
    audit_fetcher *f;
    char *state_dir;
    uint8_t *served; /* checkpoint note as served */
    size_t served_len;
    ckv_tlog_checkpoint cp;
    uint8_t *accepted; /* checkpoint note accepted last time, or NULL */
    size_t accepted_len;
    ckv_tlog_checkpoint old;
    int top; /* highest level >= 1 with hashes, 0 if none */
    uint8_t *lv[CKV_TLOG_TILE_MAX_LEVEL + 1];
    uint64_t lvcount[CKV_TLOG_TILE_MAX_LEVEL + 1];
    struct kept_tile keep[KEEP]; /* level-0 tiles used for roots; slot 2 = scratch */
    int cb_rc;                   /* exit code set by the reader callback on failure */
    uint64_t ntiles, nbundles;
    audit_dir *dir; /* --directory: the account table */
    progress pg;
    char err[1024];
};

/* ---- outcomes ------------------------------------------------------------ */

static int unreachable(struct audit *a, const char *msg)
{
    progress_end(&a->pg);
    tool_err("%s", msg);
    return TOOL_EXIT_UNREACHABLE;
}

/* Fill the common fields, write the evidence, say where. Returns 1. */
static int misbehaved(struct audit *a, audit_evidence *ev)
{
    char *path = NULL;
    progress_end(&a->pg);
    ev->source = audit_fetcher_source(a->f);
    ev->vkey = a->o->vkey_string;
    if (ev->served_note == NULL && a->served != NULL) {
        ev->served_note = a->served;
        ev->served_len = a->served_len;
    }
    ckv_status st = audit_evidence_write(a->state_dir, ev, &path);
    if (st == CKV_OK)
        tool_err("the log misbehaved: %s; evidence written to %s", ev->summary, path);
    else
        tool_err("the log misbehaved: %s; writing the evidence into %s failed (%s)", ev->summary,
                 a->state_dir, ckv_strerror(st));
    free(path);
    return TOOL_EXIT_FAIL;
}

static void tile_path(const ckv_tlog_tile *t, char buf[CKV_TLOG_TILE_PATH_MAX])
{
    if (ckv_tlog_tile_path(t, buf, CKV_TLOG_TILE_PATH_MAX) != CKV_OK)
        snprintf(buf, CKV_TLOG_TILE_PATH_MAX, "(invalid tile)");
}

/* ---- fetching tiles ---------------------------------------------------------- */

/* Fetch tile or bundle t; falls back to the full one when a partial one is
 * not found (*full_fallback = 1, then the data is the full object). Hash
 * tiles are length-checked; *path gets the path actually read.
 * Returns 0 or an exit code (evidence written for misbehaviour). */
static int fetch_object(struct audit *a, const ckv_tlog_tile *t, uint8_t **data, size_t *len,
                        int *full_fallback, char path[CKV_TLOG_TILE_PATH_MAX])
{
    int bundle = t->level == CKV_TLOG_TILE_LEVEL_ENTRIES;
    size_t cap = bundle ? CKV_TLOG_BUNDLE_MAX_BYTES : CKV_TLOG_TILE_MAX_BYTES;
    ckv_tlog_tile use = *t;
    audit_fetch_result r;

    *full_fallback = 0;
    tile_path(&use, path);
    r = audit_fetch(a->f, path, cap, data, len, a->err, sizeof(a->err));
    if (r == AUDIT_FETCH_NOT_FOUND && t->width < CKV_TLOG_TILE_WIDTH) {
        use.width = CKV_TLOG_TILE_WIDTH;
        tile_path(&use, path);
        r = audit_fetch(a->f, path, cap, data, len, a->err, sizeof(a->err));
        if (r == AUDIT_FETCH_OK)
            *full_fallback = 1;
        else if (r == AUDIT_FETCH_NOT_FOUND)
            tile_path(t, path); /* report the partial one as missing */
    }
    if (r == AUDIT_FETCH_OK) {
        if (!bundle && ckv_tlog_tile_check(*data, *len, use.width) != CKV_OK) {
            char detail[160];
            snprintf(detail, sizeof(detail), "a tile of width %u must be %u bytes, got %zu",
                     use.width, use.width * CKV_TLOG_HASH_SIZE, *len);
            audit_evidence ev = {.kind = "bad_tile",
                                 .summary = "a hash tile has the wrong length",
                                 .object_path = path,
                                 .object = *data,
                                 .object_len = *len,
                                 .detail = detail};
            int rc = misbehaved(a, &ev);
            free(*data);
            *data = NULL;
            return rc;
        }
        if (!bundle)
            a->ntiles++;
        else
            a->nbundles++;
        progress_add(&a->pg, 1);
        return 0;
    }
    if (r == AUDIT_FETCH_NOT_FOUND) {
        audit_evidence ev = {.kind = "missing_data",
                             .summary = "the log does not serve a tile or bundle that its "
                                        "checkpoint requires",
                             .object_path = path,
                             .detail = a->err};
        return misbehaved(a, &ev);
    }
    if (r == AUDIT_FETCH_TOO_LARGE) {
        audit_evidence ev = {.kind = "oversized",
                             .summary = "the log serves a tile or bundle larger than the "
                                        "format allows",
                             .object_path = path,
                             .detail = a->err};
        return misbehaved(a, &ev);
    }
    return unreachable(a, a->err);
}

/* Fetch a hash tile of the tree of size N into dst (32*width bytes). */
static int fetch_hash_tile(struct audit *a, int level, uint64_t index, uint8_t *dst)
{
    ckv_tlog_tile t = {
        .level = level, .index = index, .width = ckv_tlog_tile_width_at(level, index, a->cp.size)};
    char path[CKV_TLOG_TILE_PATH_MAX];
    uint8_t *data = NULL;
    size_t len = 0;
    int ff;
    int rc = fetch_object(a, &t, &data, &len, &ff, path);
    if (rc != 0)
        return rc;
    memcpy(dst, data, (size_t)t.width * CKV_TLOG_HASH_SIZE);
    free(data);
    return 0;
}

/* ---- the hash reader over what we fetched ---------------------------------- */

static struct kept_tile *find_kept(struct audit *a, uint64_t index)
{
    for (int i = 0; i < KEEP; i++)
        if (a->keep[i].used && a->keep[i].index == index)
            return &a->keep[i];
    return NULL;
}

/* Fetch level-0 tile `index` of tree N into keep slot `slot`. */
static int keep_tile(struct audit *a, int slot, uint64_t index)
{
    struct kept_tile *k = &a->keep[slot];
    k->used = 0;
    k->index = index;
    k->width = ckv_tlog_tile_width_at(0, index, a->cp.size);
    int rc = fetch_hash_tile(a, 0, index, k->data);
    if (rc == 0)
        k->used = 1;
    return rc;
}

static ckv_status reader_fetch(void *ctx, const ckv_tlog_tile *t, const uint8_t **data, size_t *len)
{
    struct audit *a = ctx;
    if (t->level >= 1) {
        if (t->level > a->top)
            return CKV_ERR_NOT_FOUND;
        uint64_t first = t->index * CKV_TLOG_TILE_WIDTH;
        if (first + t->width > a->lvcount[t->level])
            return CKV_ERR_NOT_FOUND;
        *data = a->lv[t->level] + first * CKV_TLOG_HASH_SIZE;
        *len = (size_t)t->width * CKV_TLOG_HASH_SIZE;
        return CKV_OK;
    }
    if (t->level != 0)
        return CKV_ERR_NOT_FOUND;
    struct kept_tile *k = find_kept(a, t->index);
    if (k == NULL) {
        int rc = keep_tile(a, KEEP - 1, t->index);
        if (rc != 0) {
            a->cb_rc = rc;
            return CKV_ERR_TLOG_FETCH;
        }
        k = &a->keep[KEEP - 1];
    }
    if (t->width > k->width)
        return CKV_ERR_NOT_FOUND;
    *data = k->data;
    *len = (size_t)t->width * CKV_TLOG_HASH_SIZE;
    return CKV_OK;
}

/* root of size `size` from the tiles; returns 0 or an exit code. */
static int root_from_tiles(struct audit *a, uint64_t size, ckv_tlog_hash *root)
{
    ckv_tlog_tile_source src = {.tree_size = a->cp.size, .fetch = reader_fetch, .ctx = a};
    ckv_tlog_hash_reader r;
    ckv_tlog_tile_hash_reader(&src, &r);
    a->cb_rc = 0;
    ckv_status st = ckv_tlog_reader_root(&r, size, root);
    if (st == CKV_OK)
        return 0;
    if (a->cb_rc != 0)
        return a->cb_rc;
    progress_end(&a->pg);
    tool_err("cannot recompute the root of size %" PRIu64 " from the tiles: %s", size,
             ckv_strerror(st));
    return TOOL_EXIT_UNREACHABLE;
}

/* ---- checks ------------------------------------------------------------------ */

static int open_checkpoint(struct audit *a)
{
    const ckv_tlog_verifier *vs[1] = {a->o->vkey};
    const char *name = ckv_tlog_verifier_name(a->o->vkey);
    audit_fetch_result r = audit_fetch(a->f, "checkpoint", CKV_TLOG_NOTE_MAX_SIZE, &a->served,
                                       &a->served_len, a->err, sizeof(a->err));
    if (r == AUDIT_FETCH_NOT_FOUND) {
        char msg[1200];
        snprintf(msg, sizeof(msg),
                 "no checkpoint at %s (%s); check that it is the log's URL or "
                 "directory",
                 audit_fetcher_source(a->f), a->err);
        return unreachable(a, msg);
    }
    if (r == AUDIT_FETCH_TOO_LARGE) {
        audit_evidence ev = {.kind = "oversized",
                             .summary = "the checkpoint is too large",
                             .object_path = "checkpoint",
                             .detail = a->err};
        return misbehaved(a, &ev);
    }
    if (r != AUDIT_FETCH_OK)
        return unreachable(a, a->err);

    ckv_status st =
        ckv_tlog_checkpoint_open((const char *)a->served, a->served_len, name, vs, 1, &a->cp, NULL);
    if (st == CKV_OK)
        return 0;
    char summary[512];
    audit_evidence ev = {.kind = "bad_checkpoint", .summary = summary, .detail = ckv_strerror(st)};
    switch (st) {
    case CKV_ERR_TLOG_BAD_SIGNATURE:
        ev.kind = "bad_signature";
        snprintf(summary, sizeof(summary),
                 "the checkpoint carries a signature by key %s that does not verify", name);
        break;
    case CKV_ERR_TLOG_NO_SIGNATURE:
        ev.kind = "bad_signature";
        snprintf(summary, sizeof(summary), "the checkpoint is not signed by the log's key %s",
                 name);
        break;
    case CKV_ERR_TLOG_ORIGIN:
        snprintf(summary, sizeof(summary), "the checkpoint's origin is not '%s'", name);
        break;
    default:
        snprintf(summary, sizeof(summary), "the checkpoint is malformed (%s)", ckv_status_name(st));
        break;
    }
    return misbehaved(a, &ev);
}

static int load_state(struct audit *a)
{
    const ckv_tlog_verifier *vs[1] = {a->o->vkey};
    ckv_status st = audit_state_load(a->state_dir, &a->accepted, &a->accepted_len);
    if (st == CKV_ERR_NOT_FOUND)
        return 0;
    if (st == CKV_OK)
        st = ckv_tlog_checkpoint_open((const char *)a->accepted, a->accepted_len,
                                      ckv_tlog_verifier_name(a->o->vkey), vs, 1, &a->old, NULL);
    if (st != CKV_OK) {
        free(a->accepted);
        a->accepted = NULL;
        tool_err("the accepted checkpoint in %s/checkpoint cannot be used (%s); if the state "
                 "directory was damaged, move that file away to start over",
                 a->state_dir, ckv_strerror(st));
        return TOOL_EXIT_UNREACHABLE;
    }
    return 0;
}

static int fork_evidence(struct audit *a, const char *summary, const char *detail)
{
    audit_evidence ev = {.kind = "fork",
                         .summary = summary,
                         .detail = detail,
                         .accepted_note = a->accepted,
                         .accepted_len = a->accepted_len};
    return misbehaved(a, &ev);
}

static void tile_reader(struct audit *a, ckv_tlog_tile_source *src, ckv_tlog_hash_reader *r)
{
    src->tree_size = a->cp.size;
    src->fetch = reader_fetch;
    src->ctx = a;
    ckv_tlog_tile_hash_reader(src, r);
}

/* The tiles reproduce the signed root of size N but give another root for
 * the accepted size M: the consistency proof M -> N computed from the same
 * tiles shows it to anyone (ckv_tlog_roots_from_consistency). */
static int fork_with_proof(struct audit *a, const ckv_tlog_hash *old_from_tiles,
                           const char *summary, const char *detail)
{
    ckv_tlog_tile_source src;
    ckv_tlog_hash_reader r;
    ckv_tlog_hash *path = malloc(sizeof *path * CKV_TLOG_MAX_PROOF);
    size_t len = 0;
    int rc;
    uint64_t m = a->old.size;
    audit_evidence ev = {.kind = "fork",
                         .summary = summary,
                         .detail = detail,
                         .accepted_note = a->accepted,
                         .accepted_len = a->accepted_len};
    if (path == NULL)
        return unreachable(a, "out of memory; free some memory and retry");
    tile_reader(a, &src, &r);
    a->cb_rc = 0;
    if (ckv_tlog_reader_consistency_proof(&r, m, a->cp.size, path, &len) == CKV_OK) {
        ev.has_cons = 1;
        ev.cons_path = path;
        ev.cons_len = len;
        ev.old_subtree = (m & (m - 1)) == 0 ? old_from_tiles : NULL;
    } else if (a->cb_rc != 0) {
        free(path);
        return a->cb_rc;
    }
    rc = misbehaved(a, &ev);
    free(path);
    return rc;
}

static int compare_sizes(struct audit *a)
{
    char detail[256];
    if (a->accepted == NULL)
        return 0;
    if (a->cp.size < a->old.size) {
        snprintf(detail, sizeof(detail),
                 "the log served size %" PRIu64 " after size %" PRIu64 " was accepted", a->cp.size,
                 a->old.size);
        audit_evidence ev = {.kind = "rollback",
                             .summary = "the log is smaller than a checkpoint it signed before "
                                        "(rolled back)",
                             .detail = detail,
                             .accepted_note = a->accepted,
                             .accepted_len = a->accepted_len};
        return misbehaved(a, &ev);
    }
    if (a->cp.size == a->old.size && !ckv_tlog_hash_equal(&a->cp.root, &a->old.root))
        return fork_evidence(a,
                             "two signed checkpoints give different roots for the same size "
                             "(a fork)",
                             "same tree size, different root hashes");
    return 0;
}

static int fetch_upper_levels(struct audit *a)
{
    uint64_t n = a->cp.size;
    for (int L = 1; L <= CKV_TLOG_TILE_MAX_LEVEL && L * CKV_TLOG_TILE_HEIGHT < 64; L++) {
        uint64_t count = n >> (L * CKV_TLOG_TILE_HEIGHT);
        if (count == 0)
            break;
        if (count > SIZE_MAX / CKV_TLOG_HASH_SIZE) {
            progress_end(&a->pg);
            tool_err("the checkpoint's tree size %" PRIu64 " is too large to audit here", n);
            return TOOL_EXIT_UNREACHABLE;
        }
        uint64_t tiles = (count + CKV_TLOG_TILE_WIDTH - 1) / CKV_TLOG_TILE_WIDTH;
        {
            /* The level's last tile first: a log that signs a tree far
             * larger than it serves is caught here (missing data, exit 1)
             * before the level's hashes are allocated (out of memory,
             * exit 3, would only be retried). */
            uint8_t last[CKV_TLOG_TILE_WIDTH * CKV_TLOG_HASH_SIZE];
            int rc = fetch_hash_tile(a, L, tiles - 1, last);
            if (rc != 0)
                return rc;
        }
        a->lv[L] = malloc((size_t)count * CKV_TLOG_HASH_SIZE);
        if (a->lv[L] == NULL) {
            progress_end(&a->pg);
            tool_err("out of memory for %" PRIu64 " hashes of level %d; free some memory", count,
                     L);
            return TOOL_EXIT_UNREACHABLE;
        }
        a->lvcount[L] = count;
        a->top = L;
        for (uint64_t i = 0; i < tiles; i++) {
            int rc =
                fetch_hash_tile(a, L, i, a->lv[L] + i * CKV_TLOG_TILE_WIDTH * CKV_TLOG_HASH_SIZE);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* A full tile's root must equal the hash one level up. */
static int check_tile_root(struct audit *a, int level, uint64_t index, const uint8_t *tile)
{
    ckv_tlog_hash got;
    const uint8_t *want = a->lv[level + 1] + index * CKV_TLOG_HASH_SIZE;
    ckv_tlog_tile_root(tile, CKV_TLOG_TILE_WIDTH, &got);
    if (sodium_memcmp(got.b, want, CKV_TLOG_HASH_SIZE) == 0)
        return 0;
    char path[CKV_TLOG_TILE_PATH_MAX], detail[300];
    char exp[65], fnd[65];
    ckv_tlog_tile t = {.level = level, .index = index, .width = CKV_TLOG_TILE_WIDTH};
    tile_path(&t, path);
    ckv_tlog_hash w;
    memcpy(w.b, want, CKV_TLOG_HASH_SIZE);
    ckv_tlog_hash_to_hex(&w, exp);
    ckv_tlog_hash_to_hex(&got, fnd);
    ckv_tlog_tile up = {
        .level = level + 1,
        .index = index / CKV_TLOG_TILE_WIDTH,
        .width = ckv_tlog_tile_width_at(level + 1, index / CKV_TLOG_TILE_WIDTH, a->cp.size)};
    char uppath[CKV_TLOG_TILE_PATH_MAX];
    tile_path(&up, uppath);
    snprintf(detail, sizeof(detail),
             "the root of the 256 hashes of %s is not hash %" PRIu64 " of %s, whose hashes "
             "the signed root vouches for",
             path, index % CKV_TLOG_TILE_WIDTH, uppath);
    audit_evidence ev = {.kind = "bad_tile",
                         .summary = "a hash tile does not match the tree",
                         .object_path = path,
                         .object = tile,
                         .object_len = CKV_TLOG_TILE_MAX_BYTES,
                         .expected = exp,
                         .found = fnd,
                         .detail = detail};
    return misbehaved(a, &ev);
}

static int check_cross_levels(struct audit *a)
{
    for (int L = 2; L <= a->top; L++) {
        for (uint64_t j = 0; j < a->lvcount[L]; j++) {
            int rc = check_tile_root(a, L - 1, j,
                                     a->lv[L - 1] + j * CKV_TLOG_TILE_WIDTH * CKV_TLOG_HASH_SIZE);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int check_roots(struct audit *a)
{
    uint64_t n = a->cp.size;
    int rc;
    /* the level-0 tiles the roots of N and M need, checked against level 1 */
    if (n % CKV_TLOG_TILE_WIDTH != 0 && (rc = keep_tile(a, 0, n / CKV_TLOG_TILE_WIDTH)) != 0)
        return rc;
    if (a->accepted != NULL && a->old.size % CKV_TLOG_TILE_WIDTH != 0 &&
        a->old.size / CKV_TLOG_TILE_WIDTH != n / CKV_TLOG_TILE_WIDTH) {
        if ((rc = keep_tile(a, 1, a->old.size / CKV_TLOG_TILE_WIDTH)) != 0)
            return rc;
        if ((rc = check_tile_root(a, 0, a->keep[1].index, a->keep[1].data)) != 0)
            return rc;
    }
    ckv_tlog_hash root;
    char exp[65], fnd[65], detail[300];
    if ((rc = root_from_tiles(a, n, &root)) != 0)
        return rc;
    if (!ckv_tlog_hash_equal(&root, &a->cp.root)) {
        ckv_tlog_hash_to_hex(&a->cp.root, exp);
        ckv_tlog_hash_to_hex(&root, fnd);
        snprintf(detail, sizeof(detail),
                 "the root recomputed from the tiles for size %" PRIu64 " is not the signed root",
                 n);
        audit_evidence ev = {.kind = "bad_root",
                             .summary = "the tiles do not hash to the checkpoint's root",
                             .expected = exp,
                             .found = fnd,
                             .detail = detail};
        return misbehaved(a, &ev);
    }
    if (a->accepted != NULL && a->old.size > 0 && a->old.size < n) {
        if ((rc = root_from_tiles(a, a->old.size, &root)) != 0)
            return rc;
        if (!ckv_tlog_hash_equal(&root, &a->old.root)) {
            ckv_tlog_hash_to_hex(&a->old.root, exp);
            ckv_tlog_hash_to_hex(&root, fnd);
            snprintf(detail, sizeof(detail),
                     "the tree of size %" PRIu64 " does not contain the tree of size %" PRIu64
                     " accepted before: its first %" PRIu64 " entries hash to %s, the accepted "
                     "root is %s",
                     n, a->old.size, a->old.size, fnd, exp);
            return fork_with_proof(a, &root,
                                   "the log is not an extension of the checkpoint accepted "
                                   "before (a fork)",
                                   detail);
        }
    }
    return 0;
}

/* Inclusion proof of leaf `index` (the entry `data`) under the served
 * checkpoint, from the tiles. The level-0 tile may be fetched again here,
 * unchecked, so the path is verified against the signed root before it is
 * used: a server that answers the repeat fetch differently gets no proof
 * into the evidence, not a false one (-1: no proof). */
static int entry_proof(struct audit *a, uint64_t index, const uint8_t *data, size_t dlen,
                       ckv_tlog_hash *path, size_t *len)
{
    ckv_tlog_tile_source src;
    ckv_tlog_hash_reader r;
    ckv_tlog_hash leaf;
    tile_reader(a, &src, &r);
    a->cb_rc = 0;
    ckv_status st = ckv_tlog_reader_inclusion_proof(&r, index, a->cp.size, path, len);
    if (st != CKV_OK && a->cb_rc != 0)
        return a->cb_rc;
    if (st != CKV_OK)
        return -1;
    ckv_tlog_leaf_hash(data, dlen, &leaf);
    return ckv_tlog_verify_inclusion(index, a->cp.size, &leaf, path, *len, &a->cp.root) == CKV_OK
               ? 0
               : -1;
}

/* --directory: feed bundle k's first w entries to the account table; a
 * violation becomes broken_chain evidence with both entries and their
 * inclusion proofs. */
static int check_directory(struct audit *a, uint64_t k, const uint8_t *bundle, size_t blen,
                           unsigned bw, unsigned w)
{
    ckv_tlog_entry *en = malloc(sizeof *en * CKV_TLOG_TILE_WIDTH);
    ckv_tlog_hash *p1 = malloc(sizeof *p1 * CKV_TLOG_MAX_PROOF),
                  *p2 = malloc(sizeof *p2 * CKV_TLOG_MAX_PROOF);
    audit_dir_violation v;
    int rc = 0;

    if (en == NULL || p1 == NULL || p2 == NULL) {
        rc = unreachable(a, "out of memory; free some memory and retry");
        goto out;
    }
    if (ckv_tlog_bundle_parse(bundle, blen, bw, en) != CKV_OK) {
        rc = unreachable(a, "an entry bundle that hashed correctly does not parse");
        goto out;
    }
    for (unsigned i = 0; i < w; i++) {
        uint64_t index = k * CKV_TLOG_TILE_WIDTH + i;
        ckv_status st = audit_dir_add(a->dir, index, en[i].data, en[i].len, &v);
        if (st == CKV_OK)
            continue;
        if (st != CKV_ERR_DIR_BAD_CHAIN) {
            rc = unreachable(a, "out of memory while checking the directory; free some memory");
            goto out;
        }
        audit_evidence_entry ents[2];
        size_t n = 0, l1 = 0, l2 = 0;
        int prc;
        if (v.has_prev) {
            if ((prc = entry_proof(a, v.prev_index, v.prev_data, v.prev_len, p1, &l1)) > 0) {
                rc = prc;
                goto out;
            }
            ents[n++] = (audit_evidence_entry){"earlier",    v.prev_data,          v.prev_len,
                                               v.prev_index, prc == 0 ? p1 : NULL, l1};
        }
        if ((prc = entry_proof(a, index, en[i].data, en[i].len, p2, &l2)) > 0) {
            rc = prc;
            goto out;
        }
        ents[n++] = (audit_evidence_entry){
            v.has_prev ? "later" : "entry", en[i].data, en[i].len, index, prc == 0 ? p2 : NULL, l2};
        char summary[700];
        snprintf(summary, sizeof summary, "a directory entry breaks its account's chain (%s)",
                 v.why);
        audit_evidence ev = {.kind = "broken_chain",
                             .summary = summary,
                             .detail = v.why,
                             .entries = ents,
                             .nentries = n};
        rc = misbehaved(a, &ev);
        goto out;
    }
out:
    free(en);
    free(p1);
    free(p2);
    return rc;
}

/* Level-0 tile k and bundle k of the range. */
static int check_leaves(struct audit *a, uint64_t k)
{
    uint64_t n = a->cp.size;
    unsigned w = ckv_tlog_tile_width_at(0, k, n);
    uint8_t *tile = NULL, *bundle = NULL, *hashes = NULL;
    size_t blen = 0;
    int rc = 0, ff = 0;
    char path[CKV_TLOG_TILE_PATH_MAX];
    struct kept_tile *kept = find_kept(a, k);

    if (kept != NULL && kept->width == w) {
        tile = kept->data; /* the very bytes the roots were computed from */
    } else {
        tile = malloc(CKV_TLOG_TILE_MAX_BYTES);
        if (tile == NULL) {
            rc = unreachable(a, "out of memory; free some memory and retry");
            goto out;
        }
        if ((rc = fetch_hash_tile(a, 0, k, tile)) != 0)
            goto out;
    }
    /* a full tile must hash to its level-1 hash; the partial one was part
     * of the root computation */
    if (w == CKV_TLOG_TILE_WIDTH && (rc = check_tile_root(a, 0, k, tile)) != 0)
        goto out;
    ckv_tlog_tile bt = {.level = CKV_TLOG_TILE_LEVEL_ENTRIES, .index = k, .width = w};
    if ((rc = fetch_object(a, &bt, &bundle, &blen, &ff, path)) != 0)
        goto out;
    unsigned bw = ff ? CKV_TLOG_TILE_WIDTH : w;
    hashes = malloc(CKV_TLOG_TILE_MAX_BYTES);
    if (hashes == NULL) {
        rc = unreachable(a, "out of memory; free some memory and retry");
        goto out;
    }
    ckv_status st = ckv_tlog_bundle_to_tile(bundle, blen, bw, hashes);
    if (st != CKV_OK) {
        char detail[200];
        snprintf(detail, sizeof(detail), "the bundle does not parse as %u entries (%s)", bw,
                 ckv_strerror(st));
        audit_evidence ev = {.kind = "bad_bundle",
                             .summary = "an entry bundle is malformed",
                             .object_path = path,
                             .object = bundle,
                             .object_len = blen,
                             .detail = detail};
        rc = misbehaved(a, &ev);
        goto out;
    }
    for (unsigned i = 0; i < w; i++) {
        const uint8_t *want = tile + (size_t)i * CKV_TLOG_HASH_SIZE;
        const uint8_t *got = hashes + (size_t)i * CKV_TLOG_HASH_SIZE;
        if (sodium_memcmp(want, got, CKV_TLOG_HASH_SIZE) == 0)
            continue;
        char *exp = tool_hex(want, CKV_TLOG_HASH_SIZE), *fnd = tool_hex(got, CKV_TLOG_HASH_SIZE);
        char detail[300], tpath[CKV_TLOG_TILE_PATH_MAX];
        ckv_tlog_tile t0 = {.level = 0, .index = k, .width = w};
        tile_path(&t0, tpath);
        snprintf(detail, sizeof(detail),
                 "entry %" PRIu64 " (position %u of the bundle) has leaf hash %s, but %s "
                 "(vouched for by the signed root) says %s",
                 k * CKV_TLOG_TILE_WIDTH + i, i, fnd ? fnd : "?", tpath, exp ? exp : "?");
        audit_evidence ev = {.kind = "bad_bundle",
                             .summary = "an entry does not hash to the leaf hash in the tree",
                             .object_path = path,
                             .object = bundle,
                             .object_len = blen,
                             .has_position = 1,
                             .position = k * CKV_TLOG_TILE_WIDTH + i,
                             .expected = exp,
                             .found = fnd,
                             .detail = detail};
        rc = misbehaved(a, &ev);
        free(exp);
        free(fnd);
        goto out;
    }
    if (a->dir != NULL)
        rc = check_directory(a, k, bundle, blen, bw, w);
out:
    if (kept == NULL || tile != kept->data)
        free(tile);
    free(bundle);
    free(hashes);
    return rc;
}

/* ---- the run ------------------------------------------------------------------- */

int audit_run(const audit_opts *o)
{
    struct audit *a = calloc(1, sizeof(*a));
    int rc;
    if (a == NULL) {
        tool_err("out of memory; free some memory and retry");
        return TOOL_EXIT_UNREACHABLE;
    }
    a->o = o;
    progress_start(&a->pg, "audit", 0, 1);

    if (audit_fetcher_open(o->source, o->timeout_s, &a->f, a->err, sizeof(a->err)) !=
        AUDIT_FETCH_OK) {
        rc = unreachable(a, a->err[0] ? a->err : "out of memory");
        goto out;
    }
    ckv_status st = audit_state_dir(o->state_root, ckv_tlog_verifier_name(o->vkey),
                                    ckv_tlog_verifier_key_id(o->vkey), &a->state_dir);
    if (st != CKV_OK) {
        tool_err("cannot use the state directory %s: %s; give a writable --state DIR",
                 o->state_root ? o->state_root : "(default)", ckv_strerror(st));
        rc = TOOL_EXIT_UNREACHABLE;
        goto out;
    }
    if ((rc = load_state(a)) != 0 || (rc = open_checkpoint(a)) != 0 || (rc = compare_sizes(a)) != 0)
        goto out;

    uint64_t n = a->cp.size;
    uint64_t from = (o->full || o->directory || a->accepted == NULL) ? 0 : a->old.size;
    if (o->directory && (a->dir = audit_dir_new(a->cp.origin)) == NULL) {
        rc = unreachable(a, "out of memory; free some memory and retry");
        goto out;
    }
    uint64_t k0 = from / CKV_TLOG_TILE_WIDTH;
    uint64_t kend = (n + CKV_TLOG_TILE_WIDTH - 1) / CKV_TLOG_TILE_WIDTH; /* exclusive */
    if (k0 > kend)
        k0 = kend;
    uint64_t upper = 0;
    for (int L = 1; L * CKV_TLOG_TILE_HEIGHT < 64; L++) {
        uint64_t c = n >> (L * CKV_TLOG_TILE_HEIGHT);
        if (c == 0)
            break;
        upper += (c + CKV_TLOG_TILE_WIDTH - 1) / CKV_TLOG_TILE_WIDTH;
    }
    progress_start(&a->pg, "audit", upper + 2 * (kend - k0) + 2, o->quiet);

    if ((rc = fetch_upper_levels(a)) != 0 || (rc = check_cross_levels(a)) != 0 ||
        (rc = check_roots(a)) != 0)
        goto out;
    for (uint64_t k = k0; k < kend; k++)
        if ((rc = check_leaves(a, k)) != 0)
            goto out;
    progress_end(&a->pg);
    if (a->dir != NULL && o->report_path != NULL) {
        st = audit_dir_write_json(a->dir, o->report_path, n);
        if (st != CKV_OK) {
            tool_err("the log is good but the report could not be written to %s: %s; give a "
                     "writable --report FILE",
                     o->report_path, ckv_strerror(st));
            rc = TOOL_EXIT_UNREACHABLE;
            goto out;
        }
    }

    st = audit_state_save(a->state_dir, a->served, a->served_len);
    if (st != CKV_OK) {
        tool_err("the log is good but the new checkpoint could not be saved in %s: %s; "
                 "check the state directory",
                 a->state_dir, ckv_strerror(st));
        rc = TOOL_EXIT_UNREACHABLE;
        goto out;
    }
    if (!o->quiet) {
        char hex[65];
        ckv_tlog_hash_to_hex(&a->cp.root, hex);
        printf("ok: %s size %" PRIu64 " root %s", a->cp.origin, n, hex);
        if (a->accepted != NULL)
            printf("; consistent with size %" PRIu64 " accepted before", a->old.size);
        printf("; checked %" PRIu64 " tiles and %" PRIu64 " bundles (entries %" PRIu64 "..%" PRIu64
               ")\n",
               a->ntiles, a->nbundles, k0 * CKV_TLOG_TILE_WIDTH, n);
        if (a->dir != NULL && o->report_path == NULL)
            audit_dir_print(a->dir, stdout);
        fflush(stdout);
    }
    rc = TOOL_EXIT_OK;
out:
    progress_end(&a->pg);
    for (int L = 0; L <= CKV_TLOG_TILE_MAX_LEVEL; L++)
        free(a->lv[L]);
    free(a->served);
    free(a->accepted);
    free(a->state_dir);
    audit_dir_free(a->dir);
    audit_fetcher_free(a->f);
    free(a);
    return rc;
}
