/*
 * tlog_proof.h: RFC 9162 inclusion and consistency proofs.
 *
 * Three layers, kept apart (math apart from I/O):
 *   1. Standalone verification (no I/O): ckv_tlog_verify_inclusion and
 *      ckv_tlog_verify_consistency, RFC 9162 §2.1.3.2 and §2.1.4.2.
 *   2. Generation from a "hash reader": a callback that returns the hashes
 *      of complete subtrees, addressed by (height, index): the node at height
 *      h and index i is MTH(D[i*2^h : (i+1)*2^h)), so height 0 holds the leaf
 *      hashes. The library computes which nodes it needs (a pure function),
 *      asks the reader for all of them in one call, then folds. Storage
 *      (tlog_store.h) and tiles fetched from elsewhere (tlog_tile.h) both
 *      provide such a reader; a reader only needs to answer for nodes that
 *      lie inside the tree it describes.
 *   3. A bounded strict JSON form of proofs for the tools and the wire:
 *      {"leaf_index":I,"tree_size":N,"leaf_hash":"hex","path":["hex",...]}
 *      {"old_size":M,"new_size":N,"old_root":"hex","new_root":"hex","path":[...]}
 * Proof paths run from the leaf's sibling (or the deepest node) up to the
 * root's child, exactly as RFC 9162 PATH and PROOF.
 */
#ifndef CKV_TLOG_PROOF_H
#define CKV_TLOG_PROOF_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/status.h"
#include "ckv/tlog_hash.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest proof path accepted or produced. Trees have at most 2^63 leaves,
 * so inclusion paths have at most 63 hashes and consistency paths at most
 * 2*63; anything longer is rejected as malformed. */
#define CKV_TLOG_MAX_PROOF 128

/* ---- 1. standalone verification ---------------------------------------- */

/* Verify that leaf_hash is leaf number index of the tree of size tree_size
 * whose root is root, RFC 9162 §2.1.3.2. path has path_len hashes (path may
 * be NULL when path_len is 0). Returns CKV_OK, CKV_ERR_TLOG_BAD_INDEX when
 * index >= tree_size, or CKV_ERR_TLOG_BAD_PROOF (wrong length or hashes). */
CKV_MUST_USE ckv_status ckv_tlog_verify_inclusion(uint64_t index, uint64_t tree_size,
                                                  const ckv_tlog_hash *leaf_hash,
                                                  const ckv_tlog_hash *path, size_t path_len,
                                                  const ckv_tlog_hash *root);

/* Root implied by an inclusion proof (same checks as above, without the
 * final comparison). Writes *root_out only on success. */
CKV_MUST_USE ckv_status ckv_tlog_root_from_inclusion(uint64_t index, uint64_t tree_size,
                                                     const ckv_tlog_hash *leaf_hash,
                                                     const ckv_tlog_hash *path, size_t path_len,
                                                     ckv_tlog_hash *root_out);

/* Verify that the tree of size old_size with root old_root is a prefix of
 * the tree of size new_size with root new_root, RFC 9162 §2.1.4.2.
 * old_size == new_size needs an empty path and equal roots; old_size == 0
 * needs an empty path and old_root == SHA-256("") (the empty tree is a
 * prefix of every tree). Returns CKV_OK, CKV_ERR_TLOG_BAD_INDEX when
 * old_size > new_size, or CKV_ERR_TLOG_BAD_PROOF. */
/* Both roots a consistency proof commits to (the same steps without the
 * final comparisons), for 0 < old_size < new_size: the root of old_size
 * (old_root) and of new_size (new_root). When old_size is a power of two the
 * proof omits the old root; old_subtree must then be given (the subtree
 * [0, old_size) of the new tree) and is the old root. A proof that
 * verifies to a signed new root but yields another old root than the one
 * signed proves a fork (directory/evidence). CKV_ERR_TLOG_BAD_PROOF for a
 * proof of the wrong shape; CKV_ERR_INVALID_ARG for sizes out of range or a
 * missing old_subtree. Outputs written only on success. */
CKV_MUST_USE ckv_status ckv_tlog_roots_from_consistency(uint64_t old_size, uint64_t new_size,
                                                        const ckv_tlog_hash *old_subtree,
                                                        const ckv_tlog_hash *path, size_t path_len,
                                                        ckv_tlog_hash *old_root,
                                                        ckv_tlog_hash *new_root);

CKV_MUST_USE ckv_status ckv_tlog_verify_consistency(uint64_t old_size, uint64_t new_size,
                                                    const ckv_tlog_hash *old_root,
                                                    const ckv_tlog_hash *new_root,
                                                    const ckv_tlog_hash *path, size_t path_len);

/* ---- 2. hash readers and generation ------------------------------------ */

/* A complete subtree: height h (0 = leaf), index i: leaves [i<<h, (i+1)<<h). */
typedef struct ckv_tlog_node_id {
    uint32_t height; /* 0..63 */
    uint64_t index;
} ckv_tlog_node_id;

/* Fill out[k] with the hash of node ids[k] for k in [0, n). Return CKV_OK or
 * an error status (propagated to the caller unchanged): e.g. CKV_ERR_NOT_FOUND,
 * CKV_ERR_DB, CKV_ERR_TLOG_BAD_TILE, CKV_ERR_TLOG_FETCH. n <= 2*CKV_TLOG_MAX_PROOF. */
typedef ckv_status (*ckv_tlog_read_nodes_fn)(void *ctx, const ckv_tlog_node_id *ids, size_t n,
                                             ckv_tlog_hash *out);

typedef struct ckv_tlog_hash_reader {
    ckv_tlog_read_nodes_fn read_nodes;
    void *ctx;
} ckv_tlog_hash_reader;

/* Root of the tree of size tree_size (0 gives the empty root), from the
 * complete subtrees that make it up (at most 64 nodes, one read). */
CKV_MUST_USE ckv_status ckv_tlog_reader_root(const ckv_tlog_hash_reader *r, uint64_t tree_size,
                                             ckv_tlog_hash *root_out);

/* Inclusion proof PATH(index, D[0:tree_size)), RFC 9162 §2.1.3.1. path_out
 * must hold CKV_TLOG_MAX_PROOF hashes; *path_len receives the length.
 * CKV_ERR_TLOG_BAD_INDEX when index >= tree_size. Outputs written only on
 * success. */
CKV_MUST_USE ckv_status ckv_tlog_reader_inclusion_proof(const ckv_tlog_hash_reader *r,
                                                        uint64_t index, uint64_t tree_size,
                                                        ckv_tlog_hash *path_out, size_t *path_len);

/* Consistency proof PROOF(old_size, D[0:new_size)), RFC 9162 §2.1.4.1
 * (empty when old_size is 0 or equal to new_size). Same conventions. */
CKV_MUST_USE ckv_status ckv_tlog_reader_consistency_proof(const ckv_tlog_hash_reader *r,
                                                          uint64_t old_size, uint64_t new_size,
                                                          ckv_tlog_hash *path_out,
                                                          size_t *path_len);

/* ---- 3. proofs as values and as JSON ------------------------------------ */

typedef struct ckv_tlog_inclusion_proof {
    uint64_t leaf_index;
    uint64_t tree_size;
    ckv_tlog_hash leaf_hash;
    size_t path_len; /* <= CKV_TLOG_MAX_PROOF */
    ckv_tlog_hash path[CKV_TLOG_MAX_PROOF];
} ckv_tlog_inclusion_proof;

typedef struct ckv_tlog_consistency_proof {
    uint64_t old_size;
    uint64_t new_size;
    ckv_tlog_hash old_root;
    ckv_tlog_hash new_root;
    size_t path_len; /* <= CKV_TLOG_MAX_PROOF */
    ckv_tlog_hash path[CKV_TLOG_MAX_PROOF];
} ckv_tlog_consistency_proof;

/* Largest JSON proof accepted by the parsers (bytes). */
#define CKV_TLOG_PROOF_JSON_MAX 16384

/* Strict parse of the JSON forms above (untrusted input, at most
 * CKV_TLOG_PROOF_JSON_MAX bytes, need not be NUL-terminated). Exactly the
 * listed keys, each once (an extra "root" key is accepted and ignored in an
 * inclusion proof); sizes are JSON integers in [0, 2^63); hashes are 64 hex
 * digits. Parsing does NOT verify the proof: call the verify functions.
 * Returns CKV_ERR_JSON, CKV_ERR_HEX, CKV_ERR_TOO_LARGE or CKV_ERR_MALFORMED;
 * *out written only on success. */
CKV_MUST_USE ckv_status ckv_tlog_inclusion_proof_from_json(const char *json, size_t len,
                                                           ckv_tlog_inclusion_proof *out);
CKV_MUST_USE ckv_status ckv_tlog_consistency_proof_from_json(const char *json, size_t len,
                                                             ckv_tlog_consistency_proof *out);

/* Format as compact one-line JSON (keys in the order shown above, lower-case
 * hex, no trailing newline). *json_out is malloc'd; the caller frees it. */
CKV_MUST_USE ckv_status ckv_tlog_inclusion_proof_to_json(const ckv_tlog_inclusion_proof *p,
                                                         char **json_out);
CKV_MUST_USE ckv_status ckv_tlog_consistency_proof_to_json(const ckv_tlog_consistency_proof *p,
                                                           char **json_out);

#ifdef __cplusplus
}
#endif
#endif /* CKV_TLOG_PROOF_H */
