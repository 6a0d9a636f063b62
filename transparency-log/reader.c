/*
 * reader.c: roots and proofs from a hash reader (complete-subtree hashes).
 *
 * Each function first makes a plan (pure index math): the list of complete
 * subtrees it needs and, for every output hash, which run of those subtrees
 * folds into it. Then it reads all the nodes in one call and folds. A range
 * D[lo:hi) of the RFC recursion always starts at a multiple of a power of
 * two >= its length, so it splits greedily into complete subtrees of
 * decreasing size (the set bits of hi - lo), and MTH(D[lo:hi)) is their
 * right-to-left fold (RFC 9162 §2.1.1: the left part of each split is the
 * largest power of two).
 */
#include "ckv/tlog_proof.h"

#define PLAN_MAX_IDS (2 * CKV_TLOG_MAX_PROOF)

struct plan {
    ckv_tlog_node_id ids[PLAN_MAX_IDS];
    size_t nids;
    struct {
        size_t start, count; /* run of ids folded into this output hash */
    } out[CKV_TLOG_MAX_PROOF + 1];
    size_t nout;
};

static unsigned ctz64(uint64_t x)
{
    return (unsigned)__builtin_ctzll(x);
}

static unsigned log2_floor(uint64_t x)
{
    return 63u - (unsigned)__builtin_clzll(x);
}

/* largest power of two strictly smaller than n (n >= 2), RFC 9162 §2.1.1 */
static uint64_t split_point(uint64_t n)
{
    return (uint64_t)1 << log2_floor(n - 1);
}

/* Add one output hash MTH(D[lo:hi)), lo < hi. */
static ckv_status plan_range(struct plan *p, uint64_t lo, uint64_t hi)
{
    if (p->nout >= sizeof p->out / sizeof p->out[0])
        return CKV_ERR_INTERNAL;
    p->out[p->nout].start = p->nids;
    while (lo < hi) {
        unsigned h = log2_floor(hi - lo);
        if (lo != 0 && ctz64(lo) < h)
            h = ctz64(lo); /* keep the subtree aligned (never hit by RFC ranges) */
        if (p->nids >= PLAN_MAX_IDS)
            return CKV_ERR_INTERNAL;
        p->ids[p->nids].height = h;
        p->ids[p->nids].index = lo >> h;
        p->nids++;
        lo += (uint64_t)1 << h;
    }
    p->out[p->nout].count = p->nids - p->out[p->nout].start;
    p->nout++;
    return CKV_OK;
}

/* Read the planned nodes and fold each output; outputs are written in
 * reverse plan order when reverse is set (proofs are planned top down). */
static ckv_status plan_run(const struct plan *p, const ckv_tlog_hash_reader *r,
                           ckv_tlog_hash *outs, int reverse)
{
    ckv_tlog_hash nodes[PLAN_MAX_IDS];
    if (p->nids > 0) {
        ckv_status st = r->read_nodes(r->ctx, p->ids, p->nids, nodes);
        if (st != CKV_OK)
            return st;
    }
    for (size_t k = 0; k < p->nout; k++) {
        size_t s = p->out[k].start, c = p->out[k].count;
        ckv_tlog_hash acc = nodes[s + c - 1];
        for (size_t j = c - 1; j-- > 0;)
            ckv_tlog_node_hash(&nodes[s + j], &acc, &acc);
        outs[reverse ? p->nout - 1 - k : k] = acc;
    }
    return CKV_OK;
}

ckv_status ckv_tlog_reader_root(const ckv_tlog_hash_reader *r, uint64_t tree_size,
                                ckv_tlog_hash *root_out)
{
    struct plan p;
    ckv_tlog_hash out[1];
    ckv_status st;
    if (r == NULL || r->read_nodes == NULL || root_out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (tree_size == 0) {
        ckv_tlog_empty_root(root_out);
        return CKV_OK;
    }
    if (tree_size > ((uint64_t)1 << 63))
        return CKV_ERR_TLOG_BAD_INDEX;
    p.nids = p.nout = 0;
    st = plan_range(&p, 0, tree_size);
    if (st == CKV_OK)
        st = plan_run(&p, r, out, 0);
    if (st == CKV_OK)
        *root_out = out[0];
    return st;
}

/* PATH(m, D[0:n)), RFC 9162 §2.1.3.1, unrolled: at each split keep the half
 * holding m and record the other half as the next (higher) proof element. */
ckv_status ckv_tlog_reader_inclusion_proof(const ckv_tlog_hash_reader *r, uint64_t index,
                                           uint64_t tree_size, ckv_tlog_hash *path_out,
                                           size_t *path_len)
{
    struct plan p;
    ckv_tlog_hash out[CKV_TLOG_MAX_PROOF + 1];
    ckv_status st = CKV_OK;
    if (r == NULL || r->read_nodes == NULL || path_out == NULL || path_len == NULL)
        return CKV_ERR_INVALID_ARG;
    if (index >= tree_size || tree_size > ((uint64_t)1 << 63))
        return CKV_ERR_TLOG_BAD_INDEX;
    p.nids = p.nout = 0;
    uint64_t lo = 0, hi = tree_size;
    while (st == CKV_OK && hi - lo > 1) {
        uint64_t k = split_point(hi - lo);
        if (index < lo + k) {
            st = plan_range(&p, lo + k, hi); /* PATH(m, D[0:k]) : MTH(D[k:n]) */
            hi = lo + k;
        } else {
            st = plan_range(&p, lo, lo + k); /* PATH(m-k, D[k:n]) : MTH(D[0:k]) */
            lo += k;
        }
    }
    if (st == CKV_OK)
        st = plan_run(&p, r, out, 1);
    if (st != CKV_OK)
        return st;
    for (size_t i = 0; i < p.nout; i++)
        path_out[i] = out[i];
    *path_len = p.nout;
    return CKV_OK;
}

/* PROOF(m, D[0:n)) = SUBPROOF(m, D[0:n), true), RFC 9162 §2.1.4.1. */
ckv_status ckv_tlog_reader_consistency_proof(const ckv_tlog_hash_reader *r, uint64_t old_size,
                                             uint64_t new_size, ckv_tlog_hash *path_out,
                                             size_t *path_len)
{
    struct plan p;
    ckv_tlog_hash out[CKV_TLOG_MAX_PROOF + 1];
    ckv_status st = CKV_OK;
    if (r == NULL || r->read_nodes == NULL || path_out == NULL || path_len == NULL)
        return CKV_ERR_INVALID_ARG;
    if (old_size > new_size || new_size > ((uint64_t)1 << 63))
        return CKV_ERR_TLOG_BAD_INDEX;
    p.nids = p.nout = 0;
    if (old_size > 0 && old_size < new_size) {
        uint64_t lo = 0, hi = new_size;
        int b = 1;
        for (;;) {
            if (old_size == hi) {
                /* SUBPROOF(m, D[m], b): [] if b, else [MTH(D[m])] */
                if (!b)
                    st = plan_range(&p, lo, hi);
                break;
            }
            uint64_t k = split_point(hi - lo);
            if (old_size - lo <= k) {
                st = plan_range(&p, lo + k, hi); /* SUBPROOF(m, D[0:k], b) : MTH(D[k:n]) */
                hi = lo + k;
            } else {
                st = plan_range(&p, lo, lo + k); /* SUBPROOF(m-k, D[k:n], false) : MTH(D[0:k]) */
                lo += k;
                b = 0;
            }
            if (st != CKV_OK)
                break;
        }
    }
    if (st == CKV_OK)
        st = plan_run(&p, r, out, 1);
    if (st != CKV_OK)
        return st;
    for (size_t i = 0; i < p.nout; i++)
        path_out[i] = out[i];
    *path_len = p.nout;
    return CKV_OK;
}
