/*
 * tlog_store.h: durable storage of a transparency log in SQLite (WAL).
 *
 * What is stored (see docs/transparency-log.md for the schema):
 *   - entries as C2SP entry bundles, one row per 256 entries (the last one
 *     partial and rewritten as it grows);
 *   - hashes as C2SP hash tiles, one row per tile (level, index); the
 *     partial tile of each level is rewritten as it grows. A full tile read
 *     from disk is expanded (its 255 interior hashes) and verified against
 *     the hash one level up before it is used, then kept in a bounded LRU
 *     cache, so warm proofs read nothing and damage is reported, not served;
 *   - signed checkpoints, one row each, never deleted.
 * Reading a tile or a bundle is one row; a partial tile or bundle of width W
 * is served as the prefix of the stored (wider) one, so every tile of every
 * published size stays available.
 *
 * Appending integrates at once: one append call is one transaction that adds
 * the entries, their leaf hashes and every tile hash they complete, then
 * commits (fsync with synchronous=FULL unless the store was opened with
 * durable=false). Publishing computes the root of the current size, signs a
 * checkpoint and stores it in a transaction committed with synchronous=FULL;
 * because the tree data of that size was committed before, a checkpoint is
 * never durable without its data. A crash (kill -9, power loss) at any point
 * leaves a database that reopens with size >= the largest published
 * checkpoint and consistent with every published checkpoint.
 *
 * Threads: a store handle must be used by one thread at a time. One writer
 * process at a time (SQLite locking; a second writer gets CKV_ERR_DB).
 */
#ifndef CKV_TLOG_STORE_H
#define CKV_TLOG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ckv/status.h"
#include "ckv/tlog_checkpoint.h"
#include "ckv/tlog_hash.h"
#include "ckv/tlog_note.h"
#include "ckv/tlog_proof.h"
#include "ckv/tlog_tile.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ckv_tlog_store ckv_tlog_store; /* opaque */

typedef struct ckv_tlog_store_options {
    /* Tiles kept in memory (LRU) for proofs; 0 = default (1024, ~16 MiB).
     * Memory use is bounded by this, whatever the log size. */
    size_t cache_tiles;
    /* true (default when options is NULL): every append commit is fsynced
     * (synchronous=FULL). false: appends use synchronous=NORMAL (survive a
     * process crash, may lose the last appends on power loss); publish
     * always syncs fully. */
    bool durable;
    /* Open read-only (for audit/export/prove from another process). */
    bool read_only;
} ckv_tlog_store_options;

/* Create a new log database at path (must not exist: CKV_ERR_EXISTS) for
 * origin (1..255 bytes, no control characters, no '\n'). File mode 0600.
 * options may be NULL. *out is closed with ckv_tlog_store_close. */
CKV_MUST_USE ckv_status ckv_tlog_store_create(const char *path, const char *origin,
                                              const ckv_tlog_store_options *options,
                                              ckv_tlog_store **out);

/* Open an existing log database. Checks the schema and that the stored
 * tree is consistent with the latest checkpoint's size and root (cheap: it
 * recomputes that root from stored tiles). Errors: CKV_ERR_NOT_FOUND (no
 * file), CKV_ERR_TLOG_CORRUPT (not a ckv log, or inconsistent: with a
 * sentence of what is wrong via ckv_tlog_store_last_error), CKV_ERR_DB. */
CKV_MUST_USE ckv_status ckv_tlog_store_open(const char *path,
                                            const ckv_tlog_store_options *options,
                                            ckv_tlog_store **out);

/* Close; NULL is a no-op. */
void ckv_tlog_store_close(ckv_tlog_store *s);

/* A short description of the last failure on s (SQLite message or the
 * inconsistency found), or "" ; borrowed until the next call on s. */
const char *ckv_tlog_store_last_error(const ckv_tlog_store *s);

/* Borrowed origin string, valid while s lives. */
const char *ckv_tlog_store_origin(const ckv_tlog_store *s);

/* Number of entries in the tree (all appended entries are integrated). */
uint64_t ckv_tlog_store_size(const ckv_tlog_store *s);

/* ---- writing --------------------------------------------------------------- */

/* Append n entries (each <= CKV_TLOG_ENTRY_MAX bytes; n <= 1,000,000) in
 * one transaction, integrating them into the tree. *first_index (may be
 * NULL) receives the index of the first one. On failure nothing is appended.
 * Batches of ~1,000 give the best throughput. */
CKV_MUST_USE ckv_status ckv_tlog_store_append(ckv_tlog_store *s, const ckv_tlog_entry *entries,
                                              size_t n, uint64_t *first_index);

/* Sign a checkpoint for the current size with signer (its name must equal
 * the origin: CKV_ERR_TLOG_ORIGIN otherwise) and store it durably
 * (synchronous=FULL). ext: extension lines or NULL. Returns
 * CKV_ERR_TLOG_NOTHING_TO_PUBLISH when a checkpoint of the current size
 * already exists (except for the very first publish, which may be size 0).
 * *note_out (may be NULL) receives the signed note (malloc'd,
 * NUL-terminated, caller frees). */
CKV_MUST_USE ckv_status ckv_tlog_store_publish(ckv_tlog_store *s, const ckv_tlog_signer *signer,
                                               const char *ext, char **note_out);

/* ---- reading --------------------------------------------------------------- */

/* Latest stored signed checkpoint (malloc'd note text, caller frees) and,
 * when cp is not NULL, its parsed body. CKV_ERR_NOT_FOUND when none. */
CKV_MUST_USE ckv_status ckv_tlog_store_latest_checkpoint(ckv_tlog_store *s, char **note_out,
                                                         ckv_tlog_checkpoint *cp);

/* Root of the tree of size tree_size <= ckv_tlog_store_size(s). */
CKV_MUST_USE ckv_status ckv_tlog_store_root(ckv_tlog_store *s, uint64_t tree_size,
                                            ckv_tlog_hash *root_out);

/* Leaf hash of entry index (< size). */
CKV_MUST_USE ckv_status ckv_tlog_store_leaf_hash(ckv_tlog_store *s, uint64_t index,
                                                 ckv_tlog_hash *out);

/* Entry index: *data_out malloc'd copy (caller frees), *len_out its length. */
CKV_MUST_USE ckv_status ckv_tlog_store_entry(ckv_tlog_store *s, uint64_t index,
                                             uint8_t **data_out, size_t *len_out);

/* Inclusion proof of leaf index in the tree of size tree_size (<= size).
 * Fills every field of *out (leaf_hash included). */
CKV_MUST_USE ckv_status ckv_tlog_store_inclusion_proof(ckv_tlog_store *s, uint64_t index,
                                                       uint64_t tree_size,
                                                       ckv_tlog_inclusion_proof *out);

/* Consistency proof between sizes old_size <= new_size <= size; fills
 * every field of *out (both roots included). */
CKV_MUST_USE ckv_status ckv_tlog_store_consistency_proof(ckv_tlog_store *s, uint64_t old_size,
                                                         uint64_t new_size,
                                                         ckv_tlog_consistency_proof *out);

/* A hash reader over the stored tree (valid while s lives and is not used
 * from another thread meanwhile). */
void ckv_tlog_store_hash_reader(ckv_tlog_store *s, ckv_tlog_hash_reader *out);

/* Read tile t (level -1 = entry bundle) as it is in the tree of any size
 * where it has width t->width: the tile must exist with at least that width
 * (else CKV_ERR_NOT_FOUND). *data_out malloc'd (caller frees): exactly
 * 32*width bytes for a hash tile, the bundle bytes for a bundle. */
CKV_MUST_USE ckv_status ckv_tlog_store_read_tile(ckv_tlog_store *s, const ckv_tlog_tile *t,
                                                 uint8_t **data_out, size_t *len_out);

/* Write the static C2SP tlog-tiles tree for the latest checkpoint into dir
 * (created if needed): every tile and entry bundle of that size under
 * dir/tile/..., then dir/checkpoint last. Files are written to a temporary
 * name, fsynced and renamed, so a reader never sees a half file; full tiles
 * already present with the right size are not rewritten. *size_out (may be
 * NULL) receives the exported tree size. CKV_ERR_NOT_FOUND when nothing was
 * published yet. */
CKV_MUST_USE ckv_status ckv_tlog_store_export(ckv_tlog_store *s, const char *dir,
                                              uint64_t *size_out);

#ifdef __cplusplus
}
#endif
#endif /* CKV_TLOG_STORE_H */
