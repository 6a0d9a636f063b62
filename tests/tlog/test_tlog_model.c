/*
 * test_tlog_model.c: libckvlog against a naive recursive RFC 9162 model
 * written here from the RFC's definitions (MTH, PATH, PROOF/SUBPROOF):
 * roots for every size 0..300 and random sizes up to 100,000; every
 * inclusion proof and every consistency proof for all sizes up to 300, and
 * 1,000 random pairs at sizes up to 2^20 + 1000; every mutated proof (a bit
 * flipped, a wrong index or size, an element added or removed) rejected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckv/tlog.h"

/* ---- the model, straight from RFC 9162 §2.1 ---- */

static ckv_tlog_hash *L; /* leaf hashes */

static uint64_t k_split(uint64_t n) /* largest power of two < n */
{
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

/* MTH(D[lo:hi]) */
static void mth(uint64_t lo, uint64_t hi, ckv_tlog_hash *out)
{
    if (hi == lo) {
        ckv_tlog_empty_root(out);
        return;
    }
    if (hi - lo == 1) {
        *out = L[lo];
        return;
    }
    uint64_t k = k_split(hi - lo);
    ckv_tlog_hash a, b;
    mth(lo, lo + k, &a);
    mth(lo + k, hi, &b);
    ckv_tlog_node_hash(&a, &b, out);
}

/* PATH(m, D[lo:hi]) appended to p */
static void path(uint64_t m, uint64_t lo, uint64_t hi, ckv_tlog_hash *p, size_t *n)
{
    if (hi - lo <= 1)
        return;
    uint64_t k = k_split(hi - lo);
    if (m < k) {
        path(m, lo, lo + k, p, n);
        mth(lo + k, hi, &p[(*n)++]);
    } else {
        path(m - k, lo + k, hi, p, n);
        mth(lo, lo + k, &p[(*n)++]);
    }
}

/* SUBPROOF(m, D[lo:hi], b) appended to p */
static void subproof(uint64_t m, uint64_t lo, uint64_t hi, int b, ckv_tlog_hash *p, size_t *n)
{
    if (m == hi - lo) {
        if (!b)
            mth(lo, hi, &p[(*n)++]);
        return;
    }
    uint64_t k = k_split(hi - lo);
    if (m <= k) {
        subproof(m, lo, lo + k, b, p, n);
        mth(lo + k, hi, &p[(*n)++]);
    } else {
        subproof(m - k, lo + k, hi, 0, p, n);
        mth(lo, lo + k, &p[(*n)++]);
    }
}

static void proof(uint64_t m, uint64_t n, ckv_tlog_hash *p, size_t *len)
{
    *len = 0;
    if (m > 0 && m < n)
        subproof(m, 0, n, 1, p, len);
}

/* ---- a hash reader over precomputed levels ---- */

struct levels {
    ckv_tlog_hash *lv[64];
    uint64_t n;
};
static struct levels LV;

static ckv_status lv_read(void *ctx, const ckv_tlog_node_id *ids, size_t n, ckv_tlog_hash *out)
{
    struct levels *t = ctx;
    for (size_t k = 0; k < n; k++) {
        if (ids[k].height > 63 || ((ids[k].index + 1) << ids[k].height) > t->n)
            return CKV_ERR_NOT_FOUND;
        out[k] = t->lv[ids[k].height][ids[k].index];
    }
    return CKV_OK;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_roots(void **state)
{
    ckv_tlog_hash_reader r = {lv_read, &LV};
    for (uint64_t n = 0; n <= 300; n++) {
        ckv_tlog_hash want, a, b;
        mth(0, n, &want);
        ckv_tlog_subtree_root(L, n, &a);
        assert_int_equal(ckv_tlog_reader_root(&r, n, &b), CKV_OK);
        assert_memory_equal(want.b, a.b, 32);
        assert_memory_equal(want.b, b.b, 32);
    }
    for (int i = 0; i < 12; i++) {
        uint64_t n = 1 + rnd() % 100000;
        ckv_tlog_hash want, a, b;
        mth(0, n, &want);
        ckv_tlog_subtree_root(L, n, &a);
        assert_int_equal(ckv_tlog_reader_root(&r, n, &b), CKV_OK);
        assert_memory_equal(want.b, a.b, 32);
        assert_memory_equal(want.b, b.b, 32);
    }
}

/* all mutations of an inclusion proof must fail */
static int incl_ok(uint64_t i, uint64_t n, const ckv_tlog_hash *leaf, const ckv_tlog_hash *p,
                   size_t len, const ckv_tlog_hash *root)
{
    return ckv_tlog_verify_inclusion(i, n, leaf, p, len, root) == CKV_OK;
}

static void mutate_inclusion(uint64_t i, uint64_t n, const ckv_tlog_hash *p, size_t len,
                             const ckv_tlog_hash *root, const ckv_tlog_hash *roots, uint64_t nroots)
{
    ckv_tlog_hash q[CKV_TLOG_MAX_PROOF + 1];
    const ckv_tlog_hash *leaf = &LV.lv[0][i];
    /* a bit flipped in every element, and in the leaf and the root */
    for (size_t e = 0; e < len; e++) {
        memcpy(q, p, len * sizeof *p);
        q[e].b[rnd() % 32] ^= (uint8_t)(1u << (rnd() % 8));
        assert_false(incl_ok(i, n, leaf, q, len, root));
    }
    ckv_tlog_hash bad = *leaf;
    bad.b[0] ^= 0x80;
    assert_false(incl_ok(i, n, &bad, p, len, root));
    bad = *root;
    bad.b[31] ^= 1;
    assert_false(incl_ok(i, n, leaf, p, len, &bad));
    /* wrong index */
    if (i + 1 < n)
        assert_false(incl_ok(i + 1, n, leaf, p, len, root));
    if (i > 0)
        assert_false(incl_ok(i - 1, n, leaf, p, len, root));
    assert_false(incl_ok(n, n, leaf, p, len, root));
    /* wrong size, with that size's root (unless the two proofs coincide) */
    for (int d = -1; d <= 1; d += 2) {
        uint64_t n2 = n + (uint64_t)d;
        if (n2 <= i || n2 >= nroots)
            continue;
        ckv_tlog_hash p2[CKV_TLOG_MAX_PROOF];
        ckv_tlog_hash_reader r = {lv_read, &LV};
        size_t len2 = 0;
        assert_int_equal(ckv_tlog_reader_inclusion_proof(&r, i, n2, p2, &len2), CKV_OK);
        int same = len2 == len && (len == 0 || memcmp(p2, p, len * sizeof *p) == 0);
        if (!same)
            assert_false(incl_ok(i, n2, leaf, p, len, &roots[n2]));
        /* and the proof's own size with another root */
        assert_false(incl_ok(i, n, leaf, p, len, &roots[n2]));
    }
    /* an element added (at the end, at the front) or removed */
    memcpy(q, p, len * sizeof *p);
    q[len] = len ? p[0] : *leaf;
    assert_false(incl_ok(i, n, leaf, q, len + 1, root));
    q[0] = *leaf;
    memcpy(q + 1, p, len * sizeof *p);
    assert_false(incl_ok(i, n, leaf, q, len + 1, root));
    if (len > 0) {
        assert_false(incl_ok(i, n, leaf, p, len - 1, root));
        assert_false(incl_ok(i, n, leaf, p + 1, len - 1, root));
    }
}

static int cons_ok(uint64_t m, uint64_t n, const ckv_tlog_hash *rm, const ckv_tlog_hash *rn,
                   const ckv_tlog_hash *p, size_t len)
{
    return ckv_tlog_verify_consistency(m, n, rm, rn, p, len) == CKV_OK;
}

static void mutate_consistency(uint64_t m, uint64_t n, const ckv_tlog_hash *p, size_t len,
                               const ckv_tlog_hash *roots, uint64_t nroots)
{
    ckv_tlog_hash_reader r = {lv_read, &LV};
    ckv_tlog_hash q[CKV_TLOG_MAX_PROOF + 1], p2[CKV_TLOG_MAX_PROOF];
    size_t len2 = 0;
    const ckv_tlog_hash *rm = &roots[m], *rn = &roots[n];
    /* a bit flipped in every element and in each root (the new root is
     * not bound when m == 0: the empty tree is a prefix of every tree) */
    for (size_t e = 0; e < len; e++) {
        memcpy(q, p, len * sizeof *p);
        q[e].b[rnd() % 32] ^= (uint8_t)(1u << (rnd() % 8));
        assert_false(cons_ok(m, n, rm, rn, q, len));
    }
    ckv_tlog_hash bad = *rm;
    bad.b[5] ^= 4;
    assert_false(cons_ok(m, n, &bad, rn, p, len));
    bad = *rn;
    bad.b[7] ^= 2;
    if (m != 0)
        assert_false(cons_ok(m, n, rm, &bad, p, len));
    for (int d = -1; d <= 1; d += 2) {
        /* a wrong old size: with its own true root the proof fails unless
         * it is also that size's proof; with the old root it always fails */
        uint64_t m2 = m + (uint64_t)d;
        if ((d > 0 || m > 0) && m2 <= n) {
            assert_int_equal(ckv_tlog_reader_consistency_proof(&r, m2, n, p2, &len2), CKV_OK);
            if (len2 != len || (len && memcmp(p2, p, len * sizeof *p) != 0))
                assert_false(cons_ok(m2, n, &roots[m2], rn, p, len));
            assert_false(cons_ok(m2, n, rm, rn, p, len));
        }
        /* a wrong new size with its own true root, likewise (with the old
         * new root it may pass: a verifier trusts a (size, root) pair only
         * from a signed checkpoint, which binds them) */
        uint64_t n2 = n + (uint64_t)d;
        if ((d > 0 || n > 0) && n2 >= m && n2 < nroots && m > 0) {
            assert_int_equal(ckv_tlog_reader_consistency_proof(&r, m, n2, p2, &len2), CKV_OK);
            if (len2 != len || (len && memcmp(p2, p, len * sizeof *p) != 0))
                assert_false(cons_ok(m, n2, rm, &roots[n2], p, len));
        }
    }
    /* an element added or removed */
    memcpy(q, p, len * sizeof *p);
    q[len] = len ? p[len - 1] : *rm;
    assert_false(cons_ok(m, n, rm, rn, q, len + 1));
    q[0] = *rm;
    memcpy(q + 1, p, len * sizeof *p);
    assert_false(cons_ok(m, n, rm, rn, q, len + 1));
    if (len > 0) {
        assert_false(cons_ok(m, n, rm, rn, p, len - 1));
        assert_false(cons_ok(m, n, rm, rn, p + 1, len - 1));
    }
}

#define SMALL 300

static void test_small_proofs(void **state)
{
    ckv_tlog_hash_reader r = {lv_read, &LV};
    ckv_tlog_hash roots[SMALL + 2];
    for (uint64_t n = 0; n <= SMALL + 1; n++)
        mth(0, n, &roots[n]);
    size_t ninc = 0, ncons = 0;
    for (uint64_t n = 1; n <= SMALL; n++) {
        for (uint64_t i = 0; i < n; i++) {
            ckv_tlog_hash want[CKV_TLOG_MAX_PROOF], got[CKV_TLOG_MAX_PROOF];
            size_t wl = 0, gl = 0;
            path(i, 0, n, want, &wl);
            assert_int_equal(ckv_tlog_reader_inclusion_proof(&r, i, n, got, &gl), CKV_OK);
            assert_int_equal(gl, wl);
            if (wl)
                assert_memory_equal(got, want, wl * sizeof *want);
            assert_true(incl_ok(i, n, &L[i], got, gl, &roots[n]));
            mutate_inclusion(i, n, got, gl, &roots[n], roots, SMALL + 2);
            ninc++;
        }
    }
    for (uint64_t n = 0; n <= SMALL; n++) {
        for (uint64_t m = 0; m <= n; m++) {
            ckv_tlog_hash want[CKV_TLOG_MAX_PROOF], got[CKV_TLOG_MAX_PROOF];
            size_t wl = 0, gl = 0;
            proof(m, n, want, &wl);
            assert_int_equal(ckv_tlog_reader_consistency_proof(&r, m, n, got, &gl), CKV_OK);
            assert_int_equal(gl, wl);
            if (wl)
                assert_memory_equal(got, want, wl * sizeof *want);
            assert_true(cons_ok(m, n, &roots[m], &roots[n], got, gl));
            mutate_consistency(m, n, got, gl, roots, SMALL + 2);
            ncons++;
        }
    }
    assert_int_equal(ninc, SMALL * (SMALL + 1) / 2);
    assert_int_equal(ncons, (SMALL + 1) * (SMALL + 2) / 2);
    /* bad arguments */
    ckv_tlog_hash got[CKV_TLOG_MAX_PROOF];
    size_t gl;
    assert_int_equal(ckv_tlog_reader_inclusion_proof(&r, 5, 5, got, &gl), CKV_ERR_TLOG_BAD_INDEX);
    assert_int_equal(ckv_tlog_reader_consistency_proof(&r, 6, 5, got, &gl), CKV_ERR_TLOG_BAD_INDEX);
    assert_int_equal(ckv_tlog_verify_consistency(6, 5, &roots[6], &roots[5], NULL, 0),
                     CKV_ERR_TLOG_BAD_INDEX);
}

static void test_large_pairs(void **state)
{
    ckv_tlog_hash_reader r = {lv_read, &LV};
    for (int k = 0; k < 1000; k++) {
        uint64_t n = 1 + rnd() % LV.n, m = rnd() % (n + 1), i = rnd() % n;
        if (k % 4 == 0)
            n = LV.n - rnd() % 1000; /* near the top */
        if (m > n)
            m = n;
        if (i >= n)
            i = n - 1;
        ckv_tlog_hash rn, rm, p[CKV_TLOG_MAX_PROOF + 1], q[CKV_TLOG_MAX_PROOF + 1];
        size_t len = 0;
        assert_int_equal(ckv_tlog_reader_root(&r, n, &rn), CKV_OK);
        assert_int_equal(ckv_tlog_reader_root(&r, m, &rm), CKV_OK);
        assert_int_equal(ckv_tlog_reader_inclusion_proof(&r, i, n, p, &len), CKV_OK);
        assert_true(incl_ok(i, n, &L[i], p, len, &rn));
        for (size_t e = 0; e < len; e++) {
            memcpy(q, p, len * sizeof *p);
            q[e].b[rnd() % 32] ^= (uint8_t)(1u << (rnd() % 8));
            assert_false(incl_ok(i, n, &L[i], q, len, &rn));
        }
        if (i + 1 < n)
            assert_false(incl_ok(i + 1, n, &L[i], p, len, &rn));
        assert_false(incl_ok(i, n, &L[i], p, len - (len > 0), &rn) && len > 0);
        memcpy(q, p, len * sizeof *p);
        q[len] = p[0];
        assert_false(incl_ok(i, n, &L[i], q, len + 1, &rn));

        assert_int_equal(ckv_tlog_reader_consistency_proof(&r, m, n, p, &len), CKV_OK);
        assert_true(cons_ok(m, n, &rm, &rn, p, len));
        for (size_t e = 0; e < len; e++) {
            memcpy(q, p, len * sizeof *p);
            q[e].b[rnd() % 32] ^= (uint8_t)(1u << (rnd() % 8));
            assert_false(cons_ok(m, n, &rm, &rn, q, len));
        }
        if (m > 0 && m < n) {
            ckv_tlog_hash rm1;
            assert_int_equal(ckv_tlog_reader_root(&r, m + 1, &rm1), CKV_OK);
            if (m + 1 < n)
                assert_false(cons_ok(m + 1, n, &rm1, &rn, p, len));
            assert_false(cons_ok(m, n, &rm, &rn, p, len - 1));
            memcpy(q, p, len * sizeof *p);
            q[len] = p[0];
            assert_false(cons_ok(m, n, &rm, &rn, q, len + 1));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roots),
        cmocka_unit_test(test_small_proofs),
        cmocka_unit_test(test_large_pairs),
    };
    uint64_t n = ((uint64_t)1 << 20) + 1000;
    L = malloc(n * sizeof *L);
    for (uint64_t i = 0; i < n; i++) {
        char b[32];
        int k = snprintf(b, sizeof b, "model leaf %llu", (unsigned long long)i);
        ckv_tlog_leaf_hash(b, (size_t)k, &L[i]);
    }
    LV.n = n;
    LV.lv[0] = L;
    for (unsigned h = 1; h < 64 && (n >> h) > 0; h++) {
        uint64_t c = n >> h;
        LV.lv[h] = malloc(c * sizeof(ckv_tlog_hash));
        for (uint64_t i = 0; i < c; i++)
            ckv_tlog_node_hash(&LV.lv[h - 1][2 * i], &LV.lv[h - 1][2 * i + 1], &LV.lv[h][i]);
    }
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    for (unsigned h = 1; h < 64; h++)
        free(LV.lv[h]);
    free(L);
    return rc;
}
