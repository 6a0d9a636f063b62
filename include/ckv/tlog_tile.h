/*
 * tlog_tile.h: C2SP tlog-tiles (c2sp.org/tlog-tiles): path math, which
 * tiles exist for a tree size, hash tiles, entry bundles, and a hash reader
 * over tiles. Everything here is pure (no I/O) except what the caller's
 * fetch callback does.
 *
 * Tile height is 8: a hash tile at level L, index N holds up to 256 hashes,
 * the nodes at tree height 8*L with indices [256*N, 256*N + W). A tile is
 * full (W = 256, path without suffix) or partial (path ".p/<W>", 1..255) and
 * only the rightmost tile of a level may be partial; a partial tile is a
 * prefix of the wider tile that replaces it. Tile bytes = W * 32 hash bytes.
 * An entry bundle (tile/entries/N) holds entries [256*N, 256*N + W), each as
 * a big-endian uint16 length followed by that many bytes.
 * Path: "tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]", where N is
 * written in 3-digit groups, all but the last prefixed with 'x':
 * 1234067 -> "x001/x234/067".
 */
#ifndef CKV_TLOG_TILE_H
#define CKV_TLOG_TILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ckv/status.h"
#include "ckv/tlog_hash.h"
#include "ckv/tlog_proof.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CKV_TLOG_TILE_HEIGHT 8
#define CKV_TLOG_TILE_WIDTH 256
#define CKV_TLOG_TILE_MAX_BYTES (CKV_TLOG_TILE_WIDTH * CKV_TLOG_HASH_SIZE)
#define CKV_TLOG_ENTRY_MAX 65535 /* bytes per entry (uint16 length prefix) */
#define CKV_TLOG_BUNDLE_MAX_BYTES (CKV_TLOG_TILE_WIDTH * (2 + CKV_TLOG_ENTRY_MAX))
#define CKV_TLOG_TILE_LEVEL_ENTRIES (-1)
#define CKV_TLOG_TILE_MAX_LEVEL 63
#define CKV_TLOG_TILE_PATH_MAX 96 /* enough for any path, with NUL */

/* One tile or bundle. level -1 (CKV_TLOG_TILE_LEVEL_ENTRIES) = entry bundle. */
typedef struct ckv_tlog_tile {
    int level;      /* -1 .. 63 */
    uint64_t index; /* tile index N at that level */
    unsigned width; /* 1 .. 256 */
} ckv_tlog_tile;

/* ---- paths ------------------------------------------------------------- */

/* Write the path of t into buf (cap >= CKV_TLOG_TILE_PATH_MAX is always
 * enough). CKV_ERR_INVALID_ARG for an impossible tile or a small buffer. */
CKV_MUST_USE ckv_status ckv_tlog_tile_path(const ckv_tlog_tile *t, char *buf, size_t cap);

/* Strict parse of a path (canonical only: no leading zeros beyond the 3-digit
 * groups, no "x000" first group, no ".p/256" or ".p/0").
 * CKV_ERR_MALFORMED otherwise; *out written only on success. */
CKV_MUST_USE ckv_status ckv_tlog_tile_parse_path(const char *path, size_t len, ckv_tlog_tile *out);

/* ---- which tiles exist ---------------------------------------------------- */

/* Width of tile (level, index) in the tree of size tree_size (0 when it does
 * not exist at that size). level -1 means the bundle (same as level 0). */
unsigned ckv_tlog_tile_width_at(int level, uint64_t index, uint64_t tree_size);

/* Iterator over the tiles a log serves for exactly tree_size: level by level
 * from 0 up, index ascending, full tiles then the one partial; with
 * bundles=true each level-0 tile is followed by its entry bundle.
 * With from_size > 0 (ckv_tlog_tile_iter_init_range) only the tiles that
 * differ from those of from_size are listed (the new full tiles and the new
 * partial ones), which is what an incremental export or audit needs. */
typedef struct ckv_tlog_tile_iter {
    uint64_t from_size, tree_size;
    bool bundles;
    int level;
    uint64_t next_index;
    bool bundle_pending;
    ckv_tlog_tile pending;
} ckv_tlog_tile_iter;

void ckv_tlog_tile_iter_init(ckv_tlog_tile_iter *it, uint64_t tree_size, bool bundles);
void ckv_tlog_tile_iter_init_range(ckv_tlog_tile_iter *it, uint64_t from_size,
                                   uint64_t tree_size, bool bundles);
/* Next tile into *out; false at the end. */
bool ckv_tlog_tile_iter_next(ckv_tlog_tile_iter *it, ckv_tlog_tile *out);

/* ---- hash tiles ------------------------------------------------------------ */

/* Check that data is a hash tile of the given width (len == 32*width,
 * width 1..256). CKV_ERR_TLOG_BAD_TILE otherwise. */
CKV_MUST_USE ckv_status ckv_tlog_tile_check(const uint8_t *data, size_t len, unsigned width);

/* Root of the 256 hashes of a full tile: the hash that entry (index % 256)
 * of the level-(L+1) tile must hold. Also valid for width < 256 to get
 * MTH of a partial tile's hashes (not a stored node). */
void ckv_tlog_tile_root(const uint8_t *data, unsigned width, ckv_tlog_hash *out);

/* Hash of the node at height sub (0..8) and index i inside a tile, that is
 * MTH of tile hashes [i<<sub, (i+1)<<sub) which must be < width. */
CKV_MUST_USE ckv_status ckv_tlog_tile_node(const uint8_t *data, unsigned width, unsigned sub,
                                           unsigned i, ckv_tlog_hash *out);

/* ---- entry bundles ---------------------------------------------------------- */

/* A borrowed view of one entry. */
typedef struct ckv_tlog_entry {
    const uint8_t *data;
    size_t len; /* <= CKV_TLOG_ENTRY_MAX */
} ckv_tlog_entry;

/* Strict parse of a bundle expected to hold exactly width entries (1..256):
 * every length prefix within bounds, no trailing bytes. entries_out (may be
 * NULL) must hold width views pointing into data. CKV_ERR_TLOG_BAD_BUNDLE. */
CKV_MUST_USE ckv_status ckv_tlog_bundle_parse(const uint8_t *data, size_t len, unsigned width,
                                              ckv_tlog_entry *entries_out);

/* Serialise entries into a bundle. *out is malloc'd (caller frees).
 * CKV_ERR_TOO_LARGE for an entry over CKV_TLOG_ENTRY_MAX. */
CKV_MUST_USE ckv_status ckv_tlog_bundle_build(const ckv_tlog_entry *entries, unsigned n,
                                              uint8_t **out, size_t *out_len);

/* Level-0 hash tile of a bundle: parse (strict, width entries) and write
 * width leaf hashes (32*width bytes) into tile_out. */
CKV_MUST_USE ckv_status ckv_tlog_bundle_to_tile(const uint8_t *data, size_t len, unsigned width,
                                                uint8_t *tile_out);

/* ---- a hash reader over tiles (like Go's tlog.TileHashReader) ------------- */

/* Fetch the tile *t (level >= 0, width exactly as in the tree of the reader's
 * size). On CKV_OK, *data points to exactly 32*t->width bytes that stay valid
 * until the next call on the same ctx. The library re-checks nothing but
 * the length: the caller verifies what it fetched (e.g. by comparing the
 * root computed from the tiles with a signed checkpoint). */
typedef ckv_status (*ckv_tlog_tile_fetch_fn)(void *ctx, const ckv_tlog_tile *t,
                                             const uint8_t **data, size_t *len);

typedef struct ckv_tlog_tile_source {
    uint64_t tree_size; /* the tree whose tiles fetch returns */
    ckv_tlog_tile_fetch_fn fetch;
    void *ctx;
} ckv_tlog_tile_source;

/* A hash reader for any node inside the tree of src->tree_size, computed
 * from the tiles fetched through src (src must outlive the reader). With it:
 * ckv_tlog_reader_root(&r, size) recomputes the root for any size <=
 * src->tree_size (so checking a checkpoint, or consistency with an older
 * checkpoint, is a root comparison), and proofs can be produced. */
void ckv_tlog_tile_hash_reader(const ckv_tlog_tile_source *src, ckv_tlog_hash_reader *out);

#ifdef __cplusplus
}
#endif
#endif /* CKV_TLOG_TILE_H */
