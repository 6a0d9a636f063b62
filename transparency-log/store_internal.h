/*
 * store_internal.h: private layout of the SQLite log store, shared by
 * store.c (open, append, publish, reads), store_cache.c (bounded LRU of
 * expanded tiles) and export.c. Not a public header.
 *
 * An "expanded tile" is a tile with its interior: 511 hashes, sub-height r
 * (0..8) starting at XT_OFF(r) = 512 - (512 >> r); node (r, i) is
 * h[XT_OFF(r) + i]. Sub-height 0 is the tile's 256 hashes (the C2SP tile
 * bytes), sub-height 8 is the tile's root (the hash stored one level up).
 */
#ifndef CKV_TLOG_STORE_INTERNAL_H
#define CKV_TLOG_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdint.h>

#include "ckv/tlog_store.h"

#define XT_HASHES 511
#define XT_OFF(r) (512u - (512u >> (r)))
#define TLOG_LEVELS 8 /* tree sizes < 2^63 need tile levels 0..7 */

typedef struct xtile {
    ckv_tlog_hash h[XT_HASHES];
} xtile;

/* tiles.id = level * 2^56 + index */
#define TILE_ID(level, index) (((uint64_t)(level) << 56) | (uint64_t)(index))

/* One slot of the LRU cache. */
struct cache_slot {
    uint64_t id;
    int used;
    uint32_t prev, next;   /* LRU list (most recent at head) */
    uint32_t bnext;        /* next slot in the same hash bucket */
    xtile t;
};

struct tile_cache {
    struct cache_slot *slots;
    uint32_t *buckets; /* head slot per bucket, UINT32_MAX = empty */
    uint32_t nslots, nbuckets, nused, head, tail;
};

int cache_init(struct tile_cache *c, size_t nslots);
void cache_free(struct tile_cache *c);
/* the cached tile or NULL; a hit moves it to the head */
const xtile *cache_get(struct tile_cache *c, uint64_t id);
/* a slot to fill for id (evicting the least recently used) */
xtile *cache_put(struct tile_cache *c, uint64_t id);
void cache_clear(struct tile_cache *c);

/* The right edge of one level: the partial tile, expanded as it grows. */
struct edge {
    xtile t;
    unsigned count; /* hashes in the partial tile, 0..255 */
};

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_GET_TILE,
    ST_PUT_TILE,
    ST_GET_BUNDLE,
    ST_PUT_BUNDLE,
    ST_GET_META,
    ST_PUT_META,
    ST_LAST_CKPT,
    ST_PUT_CKPT,
    ST_COUNT
};

struct ckv_tlog_store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    char origin[CKV_TLOG_ORIGIN_MAX + 1];
    uint64_t size;
    int durable, read_only, in_sync_full;
    struct edge edge[TLOG_LEVELS];
    uint8_t *bundle;   /* partial bundle bytes */
    size_t bundle_len, bundle_cap;
    unsigned bundle_count;
    struct tile_cache cache;
    char err[256];
};

/* fill x->h[256..511) from x->h[0..256) for the first `count` hashes */
void xtile_expand(xtile *x, unsigned count);

ckv_status store_set_error(ckv_tlog_store *s, ckv_status st, const char *what);

#endif
