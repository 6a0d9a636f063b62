/*
 * proof.c: standalone verification of RFC 9162 inclusion and consistency
 * proofs (§2.1.3.2 and §2.1.4.2). No I/O, no allocation; the algorithms
 * are the RFC's step lists, with the step numbers cited beside the code.
 */
#include "ckv/tlog_proof.h"

/* RFC 9162 §2.1.3.2 steps 1-5, without the final root comparison. */
ckv_status ckv_tlog_root_from_inclusion(uint64_t index, uint64_t tree_size,
                                        const ckv_tlog_hash *leaf_hash, const ckv_tlog_hash *path,
                                        size_t path_len, ckv_tlog_hash *root_out)
{
    if (leaf_hash == NULL || root_out == NULL || (path == NULL && path_len > 0))
        return CKV_ERR_INVALID_ARG;
    /* 1. leaf_index >= tree_size: fail */
    if (index >= tree_size)
        return CKV_ERR_TLOG_BAD_INDEX;
    if (path_len > CKV_TLOG_MAX_PROOF)
        return CKV_ERR_TLOG_BAD_PROOF;
    /* 2. fn = leaf_index, sn = tree_size - 1; 3. r = hash */
    uint64_t fn = index, sn = tree_size - 1;
    ckv_tlog_hash r = *leaf_hash;
    /* 4. for each p in the inclusion path */
    for (size_t i = 0; i < path_len; i++) {
        /* a. sn == 0: fail */
        if (sn == 0)
            return CKV_ERR_TLOG_BAD_PROOF;
        if ((fn & 1) || fn == sn) {
            /* b. r = HASH(0x01 || p || r); then shift until LSB(fn) set or fn == 0 */
            ckv_tlog_node_hash(&path[i], &r, &r);
            if (!(fn & 1)) {
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            /* otherwise r = HASH(0x01 || r || p) */
            ckv_tlog_node_hash(&r, &path[i], &r);
        }
        /* c. shift fn and sn right by one */
        fn >>= 1;
        sn >>= 1;
    }
    /* 5. sn must be 0 */
    if (sn != 0)
        return CKV_ERR_TLOG_BAD_PROOF;
    *root_out = r;
    return CKV_OK;
}

ckv_status ckv_tlog_verify_inclusion(uint64_t index, uint64_t tree_size,
                                     const ckv_tlog_hash *leaf_hash, const ckv_tlog_hash *path,
                                     size_t path_len, const ckv_tlog_hash *root)
{
    ckv_tlog_hash r;
    if (root == NULL)
        return CKV_ERR_INVALID_ARG;
    ckv_status st = ckv_tlog_root_from_inclusion(index, tree_size, leaf_hash, path, path_len, &r);
    if (st != CKV_OK)
        return st;
    /* 5. compare r with root */
    return ckv_tlog_hash_equal(&r, root) ? CKV_OK : CKV_ERR_TLOG_BAD_PROOF;
}

/* RFC 9162 §2.1.4.2 steps 1-6 and the "sn == 0" of step 7, without the
 * comparisons of the two roots. */
ckv_status ckv_tlog_roots_from_consistency(uint64_t old_size, uint64_t new_size,
                                           const ckv_tlog_hash *old_subtree,
                                           const ckv_tlog_hash *path, size_t path_len,
                                           ckv_tlog_hash *old_root, ckv_tlog_hash *new_root)
{
    if (old_size == 0 || old_size >= new_size || old_root == NULL || new_root == NULL ||
        (path == NULL && path_len > 0))
        return CKV_ERR_INVALID_ARG;
    /* 1. an empty path fails */
    if (path_len == 0 || path_len > CKV_TLOG_MAX_PROOF)
        return CKV_ERR_TLOG_BAD_PROOF;
    /* 2. if first is an exact power of 2, prepend first_hash (the subtree
     * [0, first) of the new tree, which is the old root) */
    size_t i = 0;
    const ckv_tlog_hash *first_elem;
    if ((old_size & (old_size - 1)) == 0) {
        if (old_subtree == NULL)
            return CKV_ERR_INVALID_ARG;
        first_elem = old_subtree;
    } else {
        first_elem = &path[0];
        i = 1;
    }
    /* 3. fn = first - 1, sn = second - 1 */
    uint64_t fn = old_size - 1, sn = new_size - 1;
    /* 4. if LSB(fn) is set, shift fn and sn right until it is not */
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    /* 5. fr = sr = c[0] */
    ckv_tlog_hash fr = *first_elem, sr = *first_elem;
    /* 6. for each subsequent c */
    for (; i < path_len; i++) {
        const ckv_tlog_hash *c = &path[i];
        /* a. sn == 0: fail */
        if (sn == 0)
            return CKV_ERR_TLOG_BAD_PROOF;
        if ((fn & 1) || fn == sn) {
            /* b. fr = HASH(0x01||c||fr), sr = HASH(0x01||c||sr) */
            ckv_tlog_node_hash(c, &fr, &fr);
            ckv_tlog_node_hash(c, &sr, &sr);
            /* then, if LSB(fn) is not set, shift until it is or fn == 0 */
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            /* otherwise sr = HASH(0x01||sr||c) */
            ckv_tlog_node_hash(&sr, c, &sr);
        }
        /* c. shift both right by one */
        fn >>= 1;
        sn >>= 1;
    }
    /* 7. (first part) sn == 0 */
    if (sn != 0)
        return CKV_ERR_TLOG_BAD_PROOF;
    *old_root = fr;
    *new_root = sr;
    return CKV_OK;
}

ckv_status ckv_tlog_verify_consistency(uint64_t old_size, uint64_t new_size,
                                       const ckv_tlog_hash *old_root, const ckv_tlog_hash *new_root,
                                       const ckv_tlog_hash *path, size_t path_len)
{
    if (old_root == NULL || new_root == NULL || (path == NULL && path_len > 0))
        return CKV_ERR_INVALID_ARG;
    if (old_size > new_size)
        return CKV_ERR_TLOG_BAD_INDEX;
    if (path_len > CKV_TLOG_MAX_PROOF)
        return CKV_ERR_TLOG_BAD_PROOF;
    if (old_size == new_size) {
        /* equal trees: no proof, equal roots */
        if (path_len != 0)
            return CKV_ERR_TLOG_BAD_PROOF;
        return ckv_tlog_hash_equal(old_root, new_root) ? CKV_OK : CKV_ERR_TLOG_BAD_PROOF;
    }
    if (old_size == 0) {
        /* the empty tree is a prefix of every tree; the proof is empty,
         * and the old root must be the empty root SHA-256("") */
        ckv_tlog_hash empty;
        ckv_tlog_empty_root(&empty);
        if (path_len != 0 || !ckv_tlog_hash_equal(old_root, &empty))
            return CKV_ERR_TLOG_BAD_PROOF;
        return CKV_OK;
    }
    ckv_tlog_hash fr, sr;
    ckv_status st = ckv_tlog_roots_from_consistency(old_size, new_size, old_root, path, path_len,
                                                    &fr, &sr);
    if (st != CKV_OK)
        return st;
    /* 7. fr == first_hash, sr == second_hash */
    int ok = ckv_tlog_hash_equal(&fr, old_root) & ckv_tlog_hash_equal(&sr, new_root);
    return ok ? CKV_OK : CKV_ERR_TLOG_BAD_PROOF;
}
