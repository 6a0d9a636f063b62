/*
 * test_tlog_vectors.c: every Merkle/tile vector of tests/vectors/tlog.json:
 * leaf hashes, roots (small and large), inclusion and consistency proofs
 * (verified, and regenerated from a hash reader and compared), the negative
 * cases, tile paths, tiles per size, the 20-leaf tile and bundle bytes, and
 * the size and SHA-256 of every tile and bundle of the 70,000-entry tree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "ckv/tlog.h"
#include "vec_util.h"

#include <sodium.h>

static json_t *V;

/* An in-memory tree with every complete-subtree hash precomputed:
 * lv[h][i] = MTH(D[i*2^h, (i+1)*2^h)). */
struct memtree {
    ckv_tlog_hash *leaves;
    uint64_t n;
    ckv_tlog_hash *lv[64];
};

static void memtree_levels(struct memtree *t)
{
    t->lv[0] = t->leaves;
    for (unsigned h = 1; h < 64; h++) {
        uint64_t c = t->n >> h;
        t->lv[h] = NULL;
        if (c == 0)
            break;
        t->lv[h] = malloc(c * sizeof(ckv_tlog_hash));
        for (uint64_t i = 0; i < c; i++)
            ckv_tlog_node_hash(&t->lv[h - 1][2 * i], &t->lv[h - 1][2 * i + 1], &t->lv[h][i]);
    }
}

static void memtree_free(struct memtree *t)
{
    for (unsigned h = 1; h < 64 && t->lv[h]; h++)
        free(t->lv[h]);
    free(t->leaves);
}

static ckv_status mem_read(void *ctx, const ckv_tlog_node_id *ids, size_t n, ckv_tlog_hash *out)
{
    struct memtree *t = ctx;
    for (size_t k = 0; k < n; k++) {
        uint64_t lo = ids[k].index << ids[k].height, cnt = (uint64_t)1 << ids[k].height;
        if (lo + cnt > t->n)
            return CKV_ERR_NOT_FOUND;
        out[k] = t->lv[ids[k].height][ids[k].index];
    }
    return CKV_OK;
}

/* leaf i = ASCII decimal of i, for the large vectors */
static struct memtree BIG;

static void big_init(uint64_t n)
{
    BIG.n = n;
    BIG.leaves = malloc(n * sizeof *BIG.leaves);
    for (uint64_t i = 0; i < n; i++) {
        char name[24];
        int k = snprintf(name, sizeof name, "%llu", (unsigned long long)i);
        ckv_tlog_leaf_hash(name, (size_t)k, &BIG.leaves[i]);
    }
    memtree_levels(&BIG);
}

/* the leaves of the 'leaves' vector (20 entries) */
static struct memtree small_tree(void)
{
    struct memtree t;
    json_t *a = json_object_get(V, "leaves");
    t.n = json_array_size(a);
    t.leaves = calloc(t.n, sizeof *t.leaves);
    for (size_t i = 0; i < t.n; i++) {
        json_t *o = json_array_get(a, i);
        size_t len;
        uint8_t *d = vec_bytes(json_string_value(json_object_get(o, "data_hex")), &len);
        ckv_tlog_hash want;
        ckv_tlog_leaf_hash(d, len, &t.leaves[i]);
        assert_int_equal(vec_hash(o, "leaf_hash", &want), 0);
        assert_memory_equal(want.b, t.leaves[i].b, 32);
        assert_int_equal(vec_u64(o, "index"), i);
        free(d);
    }
    memtree_levels(&t);
    return t;
}

static void test_leaves_and_roots(void **state)
{
    struct memtree t = small_tree();
    ckv_tlog_hash_reader r = {mem_read, &t};
    ckv_tlog_hash want, got;
    assert_int_equal(vec_hash(V, "empty_tree_root", &want), 0);
    ckv_tlog_empty_root(&got);
    assert_memory_equal(want.b, got.b, 32);
    json_t *roots = json_object_get(V, "roots");
    assert_true(json_array_size(roots) >= 21);
    for (size_t i = 0; i < json_array_size(roots); i++) {
        json_t *o = json_array_get(roots, i);
        uint64_t n = vec_u64(o, "tree_size");
        assert_int_equal(vec_hash(o, "root", &want), 0);
        ckv_tlog_subtree_root(t.leaves, n, &got);
        assert_memory_equal(want.b, got.b, 32);
        assert_int_equal(ckv_tlog_reader_root(&r, n, &got), CKV_OK);
        assert_memory_equal(want.b, got.b, 32);
    }
    memtree_free(&t);
}

static void test_inclusion(void **state)
{
    struct memtree t = small_tree();
    ckv_tlog_hash_reader r = {mem_read, &t}, rb = {mem_read, &BIG};
    json_t *a = json_object_get(V, "inclusion");
    assert_true(json_array_size(a) > 200);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        ckv_tlog_hash leaf, root, path[CKV_TLOG_MAX_PROOF], gen[CKV_TLOG_MAX_PROOF];
        size_t glen = 0;
        uint64_t idx = vec_u64(o, "leaf_index"), n = vec_u64(o, "tree_size");
        long plen = vec_path(o, "path", path, CKV_TLOG_MAX_PROOF);
        assert_true(plen >= 0);
        assert_int_equal(vec_hash(o, "leaf_hash", &leaf), 0);
        assert_int_equal(vec_hash(o, "root", &root), 0);
        assert_int_equal(ckv_tlog_verify_inclusion(idx, n, &leaf, path, (size_t)plen, &root),
                         CKV_OK);
        assert_int_equal(ckv_tlog_reader_inclusion_proof(n <= t.n ? &r : &rb, idx, n, gen, &glen),
                         CKV_OK);
        assert_int_equal(glen, (size_t)plen);
        if (glen > 0)
            assert_memory_equal(gen, path, glen * sizeof *gen);
    }
    memtree_free(&t);
}

static void test_consistency(void **state)
{
    struct memtree t = small_tree();
    ckv_tlog_hash_reader r = {mem_read, &t}, rb = {mem_read, &BIG};
    json_t *a = json_object_get(V, "consistency");
    assert_true(json_array_size(a) > 200);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        ckv_tlog_hash r1, r2, path[CKV_TLOG_MAX_PROOF], gen[CKV_TLOG_MAX_PROOF];
        size_t glen = 0;
        uint64_t m = vec_u64(o, "old_size"), n = vec_u64(o, "new_size");
        long plen = vec_path(o, "path", path, CKV_TLOG_MAX_PROOF);
        assert_true(plen >= 0);
        assert_int_equal(vec_hash(o, "old_root", &r1), 0);
        assert_int_equal(vec_hash(o, "new_root", &r2), 0);
        assert_int_equal(ckv_tlog_verify_consistency(m, n, &r1, &r2, path, (size_t)plen), CKV_OK);
        assert_int_equal(ckv_tlog_reader_consistency_proof(n <= t.n ? &r : &rb, m, n, gen, &glen),
                         CKV_OK);
        assert_int_equal(glen, (size_t)plen);
        if (glen > 0)
            assert_memory_equal(gen, path, glen * sizeof *gen);
    }
    memtree_free(&t);
}

static void test_negative(void **state)
{
    json_t *a = json_object_get(V, "negative");
    assert_true(json_array_size(a) >= 21);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        const char *type = json_string_value(json_object_get(o, "type"));
        const char *name = json_string_value(json_object_get(o, "name"));
        ckv_tlog_hash path[CKV_TLOG_MAX_PROOF];
        long plen = vec_path(o, "path", path, CKV_TLOG_MAX_PROOF);
        assert_string_equal(json_string_value(json_object_get(o, "expect")), "invalid");
        assert_true(plen >= 0);
        ckv_status st;
        if (strcmp(type, "inclusion") == 0) {
            ckv_tlog_hash leaf, root;
            assert_int_equal(vec_hash(o, "leaf_hash", &leaf), 0);
            assert_int_equal(vec_hash(o, "root", &root), 0);
            st = ckv_tlog_verify_inclusion(vec_u64(o, "leaf_index"), vec_u64(o, "tree_size"),
                                           &leaf, path, (size_t)plen, &root);
        } else {
            ckv_tlog_hash r1, r2;
            assert_string_equal(type, "consistency");
            assert_int_equal(vec_hash(o, "old_root", &r1), 0);
            assert_int_equal(vec_hash(o, "new_root", &r2), 0);
            st = ckv_tlog_verify_consistency(vec_u64(o, "old_size"), vec_u64(o, "new_size"), &r1,
                                             &r2, path, (size_t)plen);
        }
        if (st == CKV_OK)
            fail_msg("negative vector accepted: %s", name);
        assert_true(st == CKV_ERR_TLOG_BAD_PROOF || st == CKV_ERR_TLOG_BAD_INDEX);
    }
}

static void test_tile_paths(void **state)
{
    json_t *a = json_object_get(json_object_get(V, "tile_paths"), "paths");
    assert_true(json_array_size(a) >= 14);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        ckv_tlog_tile t = {(int)json_integer_value(json_object_get(o, "level")),
                           vec_u64(o, "index"), (unsigned)vec_u64(o, "width")}, back;
        const char *want = json_string_value(json_object_get(o, "path"));
        char buf[CKV_TLOG_TILE_PATH_MAX];
        assert_int_equal(ckv_tlog_tile_path(&t, buf, sizeof buf), CKV_OK);
        assert_string_equal(buf, want);
        assert_int_equal(ckv_tlog_tile_parse_path(want, strlen(want), &back), CKV_OK);
        assert_int_equal(back.level, t.level);
        assert_int_equal(back.index, t.index);
        assert_int_equal(back.width, t.width);
    }
    /* non-canonical paths are refused */
    const char *bad[] = {"tile/0/0", "tile/0/0000", "tile/00/000", "tile/0/x000/001",
                         "tile/0/000.p/256", "tile/0/000.p/0", "tile/0/000.p/01",
                         "tile/64/000", "tile/0/001/", "tile/entries/x1/000", "tile/-1/000",
                         "tile/0/000.p/", "tile//000", "tile/0/x001", "tile/0/x001/x002"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ckv_tlog_tile t;
        if (ckv_tlog_tile_parse_path(bad[i], strlen(bad[i]), &t) == CKV_OK)
            fail_msg("accepted bad path %s", bad[i]);
    }
}

static void test_tiles_for_size(void **state)
{
    json_t *a = json_object_get(json_object_get(V, "tiles_for_size"), "sets");
    assert_true(json_array_size(a) >= 7);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        json_t *tiles = json_object_get(o, "tiles");
        ckv_tlog_tile_iter it;
        ckv_tlog_tile t;
        size_t k = 0;
        ckv_tlog_tile_iter_init(&it, vec_u64(o, "tree_size"), false);
        while (ckv_tlog_tile_iter_next(&it, &t)) {
            char buf[CKV_TLOG_TILE_PATH_MAX];
            assert_int_equal(ckv_tlog_tile_path(&t, buf, sizeof buf), CKV_OK);
            assert_true(k < json_array_size(tiles));
            assert_string_equal(buf, json_string_value(json_array_get(tiles, k)));
            k++;
        }
        assert_int_equal(k, json_array_size(tiles));
    }
    /* range listing: tiles that changed between 300 and 600 */
    ckv_tlog_tile_iter it;
    ckv_tlog_tile t;
    char buf[CKV_TLOG_TILE_PATH_MAX], all[512] = "";
    ckv_tlog_tile_iter_init_range(&it, 300, 600, true);
    while (ckv_tlog_tile_iter_next(&it, &t)) {
        assert_int_equal(ckv_tlog_tile_path(&t, buf, sizeof buf), CKV_OK);
        strcat(all, buf);
        strcat(all, " ");
    }
    assert_string_equal(all, "tile/0/001 tile/entries/001 tile/0/002.p/88 "
                             "tile/entries/002.p/88 tile/1/000.p/2 ");
    ckv_tlog_tile_iter_init_range(&it, 600, 600, true);
    assert_false(ckv_tlog_tile_iter_next(&it, &t));
}

/* Build the tiles of a tree whose entries are given; check one file. */
static void sha256_hex(const uint8_t *d, size_t n, char hex[65])
{
    unsigned char md[32];
    unsigned int mdl = 32;
    EVP_Digest(d, n, md, &mdl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
}

static void test_small_tree_tile(void **state)
{
    struct memtree t = small_tree();
    json_t *o = json_object_get(V, "tiles_small_tree_20");
    size_t tlen, blen, mylen;
    uint8_t *tile = vec_bytes(json_string_value(json_object_get(o, "tile/0/000.p/20")), &tlen);
    uint8_t *bundle = vec_bytes(json_string_value(json_object_get(o, "tile/entries/000.p/20")), &blen);
    uint8_t mytile[20 * 32], *mybundle = NULL;
    ckv_tlog_entry e[20];
    uint8_t *data[20];
    json_t *leaves = json_object_get(V, "leaves");
    assert_int_equal(tlen, 20 * 32);
    assert_memory_equal(tile, t.leaves, tlen);
    for (size_t i = 0; i < 20; i++) {
        data[i] = vec_bytes(json_string_value(json_object_get(json_array_get(leaves, i), "data_hex")),
                            &e[i].len);
        e[i].data = data[i];
    }
    assert_int_equal(ckv_tlog_bundle_build(e, 20, &mybundle, &mylen), CKV_OK);
    assert_int_equal(mylen, blen);
    assert_memory_equal(mybundle, bundle, blen);
    assert_int_equal(ckv_tlog_bundle_to_tile(bundle, blen, 20, mytile), CKV_OK);
    assert_memory_equal(mytile, tile, tlen);
    /* strictness: wrong width, truncated, trailing byte */
    assert_int_equal(ckv_tlog_bundle_to_tile(bundle, blen, 19, mytile), CKV_ERR_TLOG_BAD_BUNDLE);
    assert_int_equal(ckv_tlog_bundle_to_tile(bundle, blen, 21, mytile), CKV_ERR_TLOG_BAD_BUNDLE);
    assert_int_equal(ckv_tlog_bundle_parse(bundle, blen - 1, 20, NULL), CKV_ERR_TLOG_BAD_BUNDLE);
    uint8_t *longer = malloc(blen + 1);
    memcpy(longer, bundle, blen);
    longer[blen] = 0;
    assert_int_equal(ckv_tlog_bundle_parse(longer, blen + 1, 20, NULL), CKV_ERR_TLOG_BAD_BUNDLE);
    assert_int_equal(ckv_tlog_tile_check(tile, tlen, 20), CKV_OK);
    assert_int_equal(ckv_tlog_tile_check(tile, tlen - 1, 20), CKV_ERR_TLOG_BAD_TILE);
    assert_int_equal(ckv_tlog_tile_check(tile, tlen, 19), CKV_ERR_TLOG_BAD_TILE);
    for (size_t i = 0; i < 20; i++)
        free(data[i]);
    free(longer);
    free(mybundle);
    free(tile);
    free(bundle);
    memtree_free(&t);
}

/* ---- the 70,000-entry tree: all tiles and bundles by hash ---- */

#define BIG_N 70000

struct bigtree {
    uint8_t *levels[3]; /* tile-level hashes at heights 0, 8, 16 */
    uint64_t counts[3];
};

static ckv_status big_fetch(void *ctx, const ckv_tlog_tile *t, const uint8_t **data, size_t *len)
{
    struct bigtree *b = ctx;
    if (t->level < 0 || t->level > 2)
        return CKV_ERR_NOT_FOUND;
    uint64_t first = t->index * 256;
    if (first + t->width > b->counts[t->level])
        return CKV_ERR_NOT_FOUND;
    *data = b->levels[t->level] + first * 32;
    *len = (size_t)t->width * 32;
    return CKV_OK;
}

static void test_big_tree(void **state)
{
    struct bigtree b;
    char name[32];
    json_t *files = json_object_get(json_object_get(V, "tiles_large_tree_70000"), "files");
    assert_true(json_array_size(files) > 500);
    b.counts[0] = BIG_N;
    b.counts[1] = BIG_N >> 8;
    b.counts[2] = BIG_N >> 16;
    for (int l = 0; l < 3; l++)
        b.levels[l] = malloc(b.counts[l] * 32 + 1);
    for (uint64_t i = 0; i < BIG_N; i++) {
        int n = snprintf(name, sizeof name, "%llu", (unsigned long long)i);
        ckv_tlog_hash h;
        ckv_tlog_leaf_hash(name, (size_t)n, &h);
        memcpy(b.levels[0] + i * 32, h.b, 32);
    }
    for (int l = 1; l < 3; l++) {
        for (uint64_t i = 0; i < b.counts[l]; i++) {
            ckv_tlog_hash h;
            ckv_tlog_tile_root(b.levels[l - 1] + i * 256 * 32, 256, &h);
            memcpy(b.levels[l] + i * 32, h.b, 32);
        }
    }
    /* the listing is exactly the vector's file list, in order */
    ckv_tlog_tile_iter it;
    ckv_tlog_tile t;
    size_t k = 0;
    ckv_tlog_tile_iter_init(&it, BIG_N, true);
    while (ckv_tlog_tile_iter_next(&it, &t)) {
        char path[CKV_TLOG_TILE_PATH_MAX], hex[65];
        json_t *f = json_array_get(files, k++);
        assert_non_null(f);
        assert_int_equal(ckv_tlog_tile_path(&t, path, sizeof path), CKV_OK);
        assert_string_equal(path, json_string_value(json_object_get(f, "path")));
        if (t.level == CKV_TLOG_TILE_LEVEL_ENTRIES) {
            ckv_tlog_entry e[256];
            char names[256][8];
            uint8_t *bundle = NULL, tile[256 * 32];
            size_t blen = 0;
            for (unsigned j = 0; j < t.width; j++) {
                int n = snprintf(names[j], sizeof names[j], "%llu",
                                 (unsigned long long)(t.index * 256 + j));
                e[j].data = (const uint8_t *)names[j];
                e[j].len = (size_t)n;
            }
            assert_int_equal(ckv_tlog_bundle_build(e, t.width, &bundle, &blen), CKV_OK);
            assert_int_equal(blen, vec_u64(f, "size"));
            sha256_hex(bundle, blen, hex);
            assert_string_equal(hex, json_string_value(json_object_get(f, "sha256")));
            /* and the bundle hashes to the level-0 tile */
            assert_int_equal(ckv_tlog_bundle_to_tile(bundle, blen, t.width, tile), CKV_OK);
            assert_memory_equal(tile, b.levels[0] + t.index * 256 * 32, t.width * 32);
            free(bundle);
        } else {
            const uint8_t *d = NULL;
            size_t len = 0;
            assert_int_equal(big_fetch(&b, &t, &d, &len), CKV_OK);
            assert_int_equal(len, vec_u64(f, "size"));
            sha256_hex(d, len, hex);
            assert_string_equal(hex, json_string_value(json_object_get(f, "sha256")));
        }
    }
    assert_int_equal(k, json_array_size(files));

    /* roots from tiles for every large_roots size <= 70000 and proofs via tiles */
    ckv_tlog_tile_source src = {BIG_N, big_fetch, &b};
    ckv_tlog_hash_reader r;
    ckv_tlog_tile_hash_reader(&src, &r);
    json_t *lr = json_object_get(V, "large_roots");
    int checked = 0;
    for (size_t i = 0; i < json_array_size(lr); i++) {
        json_t *o = json_array_get(lr, i);
        uint64_t n = vec_u64(o, "tree_size");
        ckv_tlog_hash want, got;
        assert_int_equal(vec_hash(o, "root", &want), 0);
        if (n > BIG_N)
            continue;
        assert_int_equal(ckv_tlog_reader_root(&r, n, &got), CKV_OK);
        assert_memory_equal(want.b, got.b, 32);
        checked++;
    }
    assert_true(checked >= 9);
    ckv_tlog_hash root, old, path[CKV_TLOG_MAX_PROOF];
    size_t plen;
    assert_int_equal(ckv_tlog_reader_root(&r, BIG_N, &root), CKV_OK);
    for (uint64_t i = 0; i < BIG_N; i += 997) {
        ckv_tlog_hash leaf;
        memcpy(leaf.b, b.levels[0] + i * 32, 32);
        assert_int_equal(ckv_tlog_reader_inclusion_proof(&r, i, BIG_N, path, &plen), CKV_OK);
        assert_int_equal(ckv_tlog_verify_inclusion(i, BIG_N, &leaf, path, plen, &root), CKV_OK);
        assert_int_equal(ckv_tlog_reader_root(&r, i + 1, &old), CKV_OK);
        assert_int_equal(ckv_tlog_reader_consistency_proof(&r, i + 1, BIG_N, path, &plen), CKV_OK);
        assert_int_equal(ckv_tlog_verify_consistency(i + 1, BIG_N, &old, &root, path, plen), CKV_OK);
    }
    for (int l = 0; l < 3; l++)
        free(b.levels[l]);
}

/* large_roots up to 1,048,577 (leaf i = decimal(i)) */
static void test_large_roots(void **state)
{
    json_t *lr = json_object_get(V, "large_roots");
    ckv_tlog_hash_reader r = {mem_read, &BIG};
    assert_true(json_array_size(lr) >= 12);
    for (size_t i = 0; i < json_array_size(lr); i++) {
        json_t *o = json_array_get(lr, i);
        ckv_tlog_hash want, got, fromb64;
        uint64_t n = vec_u64(o, "tree_size");
        const char *b64 = json_string_value(json_object_get(o, "root_base64"));
        size_t blen = 0;
        assert_int_equal(vec_hash(o, "root", &want), 0);
        assert_int_equal(sodium_base642bin(fromb64.b, 32, b64, strlen(b64), NULL, &blen, NULL,
                                           sodium_base64_VARIANT_ORIGINAL), 0);
        assert_int_equal(blen, 32);
        assert_memory_equal(want.b, fromb64.b, 32);
        assert_true(n <= BIG.n);
        assert_int_equal(ckv_tlog_reader_root(&r, n, &got), CKV_OK);
        assert_memory_equal(want.b, got.b, 32);
        if (n < 100000) {
            ckv_tlog_subtree_root(BIG.leaves, n, &got);
            assert_memory_equal(want.b, got.b, 32);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leaves_and_roots), cmocka_unit_test(test_inclusion),
        cmocka_unit_test(test_consistency),      cmocka_unit_test(test_negative),
        cmocka_unit_test(test_tile_paths),       cmocka_unit_test(test_tiles_for_size),
        cmocka_unit_test(test_small_tree_tile),  cmocka_unit_test(test_big_tree),
        cmocka_unit_test(test_large_roots),
    };
    V = vec_load();
    if (V == NULL) {
        fprintf(stderr, "cannot load %s/tlog.json\n", CKV_TEST_VECTORS);
        return 1;
    }
    big_init(1048577);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    memtree_free(&BIG);
    json_decref(V);
    return rc;
}
