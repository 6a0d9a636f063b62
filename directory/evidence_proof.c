/*
 * evidence_proof.c: the two roots a consistency proof commits to. This is
 * the verification algorithm of RFC 9162 §2.1.4.2 run without its final
 * comparisons, so that a proof which verifies to a signed new root, but
 * yields an old root different from the signed old one, can be shown as a
 * fork: the path is authenticated by the new root, and the old root it
 * yields is the true root of the first m leaves of the new tree.
 */
#include "ckv/evidence.h"

static int is_pow2(uint64_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

ckv_status ckv_evidence_consistency_roots(uint64_t m, uint64_t n, const ckv_tlog_hash *path,
                                          size_t path_len, const ckv_tlog_hash *old_subtree,
                                          ckv_tlog_hash *old_root, ckv_tlog_hash *new_root)
{
    const ckv_tlog_hash *c = path;
    size_t len = path_len, i = 0;
    ckv_tlog_hash fr, sr;
    uint64_t fn, sn;

    if (m == 0 || m >= n || n >= (UINT64_C(1) << 63) || old_root == NULL || new_root == NULL ||
        (path == NULL && path_len > 0))
        return CKV_ERR_INVALID_ARG;
    if (path_len == 0 || path_len > 2 * 64)
        return CKV_ERR_TLOG_BAD_PROOF;
    /* "If first is an exact power of 2, then prepend first_hash to the
     * consistency_path array." (§2.1.4.2 step 2) */
    if (is_pow2(m)) {
        if (old_subtree == NULL)
            return CKV_ERR_INVALID_ARG;
        fr = sr = *old_subtree;
    } else {
        fr = sr = c[0];
        i = 1;
    }
    fn = m - 1;
    sn = n - 1;
    /* "If LSB(fn) is set, then right-shift both fn and sn equally until
     * LSB(fn) is not set." (step 4) */
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    for (; i < len; i++) {
        if (sn == 0)
            return CKV_ERR_TLOG_BAD_PROOF;
        if ((fn & 1) || fn == sn) {
            ckv_tlog_node_hash(&c[i], &fr, &fr); /* HASH(0x01 || c || fr) */
            ckv_tlog_node_hash(&c[i], &sr, &sr);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            ckv_tlog_node_hash(&sr, &c[i], &sr); /* HASH(0x01 || sr || c) */
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return CKV_ERR_TLOG_BAD_PROOF;
    *old_root = fr;
    *new_root = sr;
    return CKV_OK;
}
