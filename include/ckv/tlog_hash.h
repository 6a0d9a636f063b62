/*
 * tlog_hash.h: RFC 9162 §2.1 Merkle tree hashing for the ckv transparency log.
 *
 * A hash is 32 bytes of SHA-256. Leaves and interior nodes are domain
 * separated by a one-byte prefix so that a leaf can never pass for a node:
 *   leaf hash   = SHA-256(0x00 || data)            RFC 9162 §2.1.1
 *   node hash   = SHA-256(0x01 || left || right)   RFC 9162 §2.1.1
 *   empty tree  = SHA-256("")                      RFC 9162 §2.1.1
 * SHA-256 comes from OpenSSL (it uses the CPU's SHA instructions); these
 * functions allocate nothing, cannot fail and are safe from any thread.
 */
#ifndef CKV_TLOG_HASH_H
#define CKV_TLOG_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CKV_TLOG_HASH_SIZE 32

/* One Merkle tree hash. A struct so that arrays of hashes and assignment
 * are natural; the bytes are in b. */
typedef struct ckv_tlog_hash {
    uint8_t b[CKV_TLOG_HASH_SIZE];
} ckv_tlog_hash;

/* out = SHA-256(0x00 || data[0..len)). data may be NULL when len is 0. */
void ckv_tlog_leaf_hash(const void *data, size_t len, ckv_tlog_hash *out);

/* out = SHA-256(0x01 || left || right). out may alias left or right. */
void ckv_tlog_node_hash(const ckv_tlog_hash *left, const ckv_tlog_hash *right,
                        ckv_tlog_hash *out);

/* out = SHA-256(""), the root of the empty tree. */
void ckv_tlog_empty_root(ckv_tlog_hash *out);

/* Merkle tree hash MTH(D[0:n)) of n consecutive hashes taken as the leaves'
 * hashes of a (sub)tree, RFC 9162 §2.1.1 (the split is the largest power of
 * two smaller than n). n = 0 gives the empty root. Used for the root of a
 * tile and for small trees; O(n) time, O(log n) stack. */
void ckv_tlog_subtree_root(const ckv_tlog_hash *hashes, size_t n, ckv_tlog_hash *out);

/* Hex helpers (lower case, exactly 64 digits). _to_hex writes 65 bytes
 * including the NUL. _from_hex accepts only 64 hex digits (either case) and
 * returns CKV_ERR_HEX otherwise; out is written only on success. */
void ckv_tlog_hash_to_hex(const ckv_tlog_hash *h, char hex[65]);
CKV_MUST_USE ckv_status ckv_tlog_hash_from_hex(const char *hex, size_t len, ckv_tlog_hash *out);

/* Constant-time equality (sodium_memcmp): 1 when equal, 0 otherwise. */
int ckv_tlog_hash_equal(const ckv_tlog_hash *a, const ckv_tlog_hash *b);

#ifdef __cplusplus
}
#endif
#endif /* CKV_TLOG_HASH_H */
