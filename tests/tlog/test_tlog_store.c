/*
 * test_tlog_store.c: the SQLite log store. Appends in odd batch sizes,
 * publish (byte-identical to the vector checkpoint), tiles and bundles from
 * storage equal to the vectors (20-leaf bytes, 70,000-entry SHA-256s),
 * partial tiles served as prefixes, proofs from storage equal to an
 * in-memory reference, reopen, export, rollback on bad input, and damaged
 * databases refused with a clear status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckv/tlog.h"
#include "vec_util.h"

static json_t *V;
static char DIRP[64];

static void path_in(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", DIRP, name);
}

static void rm_rf(const char *p)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    assert_int_equal(system(cmd), 0);
}

static ckv_tlog_signer *vector_signer(void)
{
    const char *skey = json_string_value(
        json_object_get(json_object_get(json_object_get(V, "signed_note"), "log_key"), "skey"));
    ckv_tlog_signer *s = NULL;
    assert_int_equal(ckv_tlog_signer_parse(skey, strlen(skey), &s), CKV_OK);
    return s;
}

static void sha256_hex(const uint8_t *d, size_t n, char hex[65])
{
    unsigned char md[32];
    unsigned int mdl = 32;
    EVP_Digest(d, n, md, &mdl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
}

/* The 20 vector leaves, appended in batches 1, 5, 14; publish; compare. */
static void test_small(void **state)
{
    char db[128];
    ckv_tlog_store *s = NULL;
    ckv_tlog_entry e[20];
    uint8_t *data[20];
    json_t *leaves = json_object_get(V, "leaves");
    struct stat sb;
    path_in(db, sizeof db, "small.db");
    assert_int_equal(ckv_tlog_store_create(db, "example.com/test-log", NULL, &s), CKV_OK);
    assert_int_equal(stat(db, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    ckv_tlog_store *s2 = NULL;
    assert_int_equal(ckv_tlog_store_create(db, "example.com/test-log", NULL, &s2), CKV_ERR_EXISTS);
    for (size_t i = 0; i < 20; i++) {
        data[i] = vec_bytes(json_string_value(json_object_get(json_array_get(leaves, i), "data_hex")),
                            &e[i].len);
        e[i].data = data[i];
    }
    ckv_tlog_signer *sg = vector_signer();
    char *note = NULL;
    /* first publish of the empty log: the size-0 vector checkpoint */
    assert_int_equal(ckv_tlog_store_publish(s, sg, NULL, &note), CKV_OK);
    assert_string_equal(note, json_string_value(json_object_get(
                                  json_object_get(json_object_get(V, "signed_note"), "checkpoint_size_0"),
                                  "signed")));
    free(note);
    note = NULL;
    assert_int_equal(ckv_tlog_store_publish(s, sg, NULL, &note), CKV_ERR_TLOG_NOTHING_TO_PUBLISH);
    uint64_t first = 99;
    assert_int_equal(ckv_tlog_store_append(s, e, 1, &first), CKV_OK);
    assert_int_equal(first, 0);
    assert_int_equal(ckv_tlog_store_append(s, e + 1, 5, &first), CKV_OK);
    assert_int_equal(first, 1);
    /* an entry that is too large: nothing appended */
    ckv_tlog_entry big = {data[0], CKV_TLOG_ENTRY_MAX + 1};
    ckv_tlog_entry two[2] = {e[6], big};
    assert_int_equal(ckv_tlog_store_append(s, two, 2, NULL), CKV_ERR_TOO_LARGE);
    assert_int_equal(ckv_tlog_store_size(s), 6);
    assert_int_equal(ckv_tlog_store_append(s, e + 6, 14, &first), CKV_OK);
    assert_int_equal(first, 6);
    assert_int_equal(ckv_tlog_store_size(s), 20);
    assert_int_equal(ckv_tlog_store_append(s, e, 0, NULL), CKV_OK);

    /* the publish is byte-identical to the size-20 vector */
    assert_int_equal(ckv_tlog_store_publish(s, sg, NULL, &note), CKV_OK);
    assert_string_equal(note, json_string_value(json_object_get(
                                  json_object_get(json_object_get(V, "signed_note"), "checkpoint_size_20"),
                                  "signed")));
    free(note);
    note = NULL;
    ckv_tlog_checkpoint cp;
    assert_int_equal(ckv_tlog_store_latest_checkpoint(s, &note, &cp), CKV_OK);
    assert_int_equal(cp.size, 20);
    free(note);

    /* tile and bundle bytes */
    json_t *o = json_object_get(V, "tiles_small_tree_20");
    size_t tlen, blen, len;
    uint8_t *tile = vec_bytes(json_string_value(json_object_get(o, "tile/0/000.p/20")), &tlen);
    uint8_t *bundle = vec_bytes(json_string_value(json_object_get(o, "tile/entries/000.p/20")), &blen);
    uint8_t *got = NULL;
    ckv_tlog_tile t = {0, 0, 20};
    assert_int_equal(ckv_tlog_store_read_tile(s, &t, &got, &len), CKV_OK);
    assert_int_equal(len, tlen);
    assert_memory_equal(got, tile, tlen);
    free(got);
    t.width = 7; /* a partial tile of an older size: a prefix */
    assert_int_equal(ckv_tlog_store_read_tile(s, &t, &got, &len), CKV_OK);
    assert_int_equal(len, 7 * 32);
    assert_memory_equal(got, tile, len);
    free(got);
    t.width = 21;
    assert_int_equal(ckv_tlog_store_read_tile(s, &t, &got, &len), CKV_ERR_NOT_FOUND);
    t = (ckv_tlog_tile){CKV_TLOG_TILE_LEVEL_ENTRIES, 0, 20};
    assert_int_equal(ckv_tlog_store_read_tile(s, &t, &got, &len), CKV_OK);
    assert_int_equal(len, blen);
    assert_memory_equal(got, bundle, blen);
    free(got);
    t.width = 3;
    assert_int_equal(ckv_tlog_store_read_tile(s, &t, &got, &len), CKV_OK);
    assert_int_equal(ckv_tlog_bundle_parse(got, len, 3, NULL), CKV_OK);
    assert_memory_equal(got, bundle, len);
    free(got);
    t = (ckv_tlog_tile){1, 0, 1};
    assert_int_equal(ckv_tlog_store_read_tile(s, &t, &got, &len), CKV_ERR_NOT_FOUND);
    /* entries */
    for (uint64_t i = 0; i < 20; i++) {
        assert_int_equal(ckv_tlog_store_entry(s, i, &got, &len), CKV_OK);
        assert_int_equal(len, e[i].len);
        if (len)
            assert_memory_equal(got, e[i].data, len);
        free(got);
    }
    assert_int_equal(ckv_tlog_store_entry(s, 20, &got, &len), CKV_ERR_TLOG_BAD_INDEX);
    /* a signer for another origin is refused */
    char *sk2 = NULL;
    ckv_tlog_signer *other = NULL;
    assert_int_equal(ckv_tlog_signer_generate("other.example/log", &sk2, NULL), CKV_OK);
    assert_int_equal(ckv_tlog_signer_parse(sk2, strlen(sk2), &other), CKV_OK);
    assert_int_equal(ckv_tlog_store_publish(s, other, NULL, NULL), CKV_ERR_TLOG_ORIGIN);
    ckv_tlog_signer_free(other);
    free(sk2);

    ckv_tlog_store_close(s);
    /* reopen: same state */
    assert_int_equal(ckv_tlog_store_open(db, NULL, &s), CKV_OK);
    assert_int_equal(ckv_tlog_store_size(s), 20);
    assert_string_equal(ckv_tlog_store_origin(s), "example.com/test-log");
    ckv_tlog_hash root, want;
    assert_int_equal(ckv_tlog_store_root(s, 20, &root), CKV_OK);
    assert_int_equal(vec_hash(json_array_get(json_object_get(V, "roots"), 20), "root", &want), 0);
    assert_memory_equal(root.b, want.b, 32);
    ckv_tlog_store_close(s);
    ckv_tlog_signer_free(sg);
    for (size_t i = 0; i < 20; i++)
        free(data[i]);
    free(tile);
    free(bundle);
}

/* ---- big: 70,000 decimal entries ---- */

#define BIG 70000

static ckv_tlog_hash *ref_leaves(uint64_t n)
{
    ckv_tlog_hash *l = malloc(n * sizeof *l);
    for (uint64_t i = 0; i < n; i++) {
        char name[24];
        int k = snprintf(name, sizeof name, "%llu", (unsigned long long)i);
        ckv_tlog_leaf_hash(name, (size_t)k, &l[i]);
    }
    return l;
}

static void append_decimal(ckv_tlog_store *s, uint64_t from, uint64_t to, uint32_t seed)
{
    static char names[4096][24];
    ckv_tlog_entry e[4096];
    uint64_t i = from;
    while (i < to) {
        seed = seed * 1103515245u + 12345u;
        uint64_t n = 1 + (seed >> 8) % 3000;
        if (n > to - i)
            n = to - i;
        for (uint64_t k = 0; k < n; k++) {
            int len = snprintf(names[k], sizeof names[k], "%llu", (unsigned long long)(i + k));
            e[k].data = (const uint8_t *)names[k];
            e[k].len = (size_t)len;
        }
        uint64_t first = 0;
        assert_int_equal(ckv_tlog_store_append(s, e, n, &first), CKV_OK);
        assert_int_equal(first, i);
        i += n;
    }
}

static void test_big(void **state)
{
    char db[128], out[128];
    ckv_tlog_store *s = NULL;
    ckv_tlog_store_options opt = {.cache_tiles = 16, .durable = false};
    path_in(db, sizeof db, "big.db");
    path_in(out, sizeof out, "export");
    assert_int_equal(ckv_tlog_store_create(db, "example.com/test-log", &opt, &s), CKV_OK);
    append_decimal(s, 0, 300, 1);
    /* the partial tile 0/001.p/44 exists now ... */
    ckv_tlog_tile t = {0, 1, 44};
    uint8_t *got = NULL, *got2 = NULL;
    size_t len = 0, len2 = 0;
    assert_int_equal(ckv_tlog_store_read_tile(s, &t, &got, &len), CKV_OK);
    append_decimal(s, 300, 40000, 2);
    ckv_tlog_store_close(s);
    /* reopen in the middle, continue */
    assert_int_equal(ckv_tlog_store_open(db, &opt, &s), CKV_OK);
    assert_int_equal(ckv_tlog_store_size(s), 40000);
    append_decimal(s, 40000, BIG, 3);
    /* ... and is still served, as a prefix of the full tile */
    assert_int_equal(ckv_tlog_store_read_tile(s, &t, &got2, &len2), CKV_OK);
    assert_int_equal(len, len2);
    assert_memory_equal(got, got2, len);
    free(got);
    free(got2);

    ckv_tlog_signer *sg = vector_signer();
    char *note = NULL;
    assert_int_equal(ckv_tlog_store_publish(s, sg, NULL, &note), CKV_OK);
    free(note);

    /* every tile and bundle equals the vector */
    json_t *files = json_object_get(json_object_get(V, "tiles_large_tree_70000"), "files");
    assert_true(json_array_size(files) > 500);
    for (size_t i = 0; i < json_array_size(files); i++) {
        json_t *f = json_array_get(files, i);
        const char *p = json_string_value(json_object_get(f, "path"));
        char hex[65];
        assert_int_equal(ckv_tlog_tile_parse_path(p, strlen(p), &t), CKV_OK);
        assert_int_equal(ckv_tlog_store_read_tile(s, &t, &got, &len), CKV_OK);
        assert_int_equal(len, vec_u64(f, "size"));
        sha256_hex(got, len, hex);
        assert_string_equal(hex, json_string_value(json_object_get(f, "sha256")));
        free(got);
    }
    /* roots and proofs equal the reference */
    ckv_tlog_hash *ref = ref_leaves(BIG);
    json_t *lr = json_object_get(V, "large_roots");
    for (size_t i = 0; i < json_array_size(lr); i++) {
        json_t *o = json_array_get(lr, i);
        ckv_tlog_hash want, root;
        if (vec_u64(o, "tree_size") > BIG)
            continue;
        assert_int_equal(vec_hash(o, "root", &want), 0);
        assert_int_equal(ckv_tlog_store_root(s, vec_u64(o, "tree_size"), &root), CKV_OK);
        assert_memory_equal(root.b, want.b, 32);
    }
    uint32_t seed = 7;
    for (int k = 0; k < 300; k++) {
        seed = seed * 1103515245u + 12345u;
        uint64_t n = 1 + (seed >> 4) % BIG;
        seed = seed * 1103515245u + 12345u;
        uint64_t m = (seed >> 4) % (n + 1), idx = (seed >> 3) % n;
        ckv_tlog_hash rn, rm;
        ckv_tlog_subtree_root(ref, n, &rn);
        ckv_tlog_subtree_root(ref, m, &rm);
        ckv_tlog_inclusion_proof ip;
        ckv_tlog_consistency_proof cpf;
        assert_int_equal(ckv_tlog_store_inclusion_proof(s, idx, n, &ip), CKV_OK);
        assert_memory_equal(ip.leaf_hash.b, ref[idx].b, 32);
        assert_int_equal(ckv_tlog_verify_inclusion(idx, n, &ref[idx], ip.path, ip.path_len, &rn),
                         CKV_OK);
        assert_int_equal(ckv_tlog_store_consistency_proof(s, m, n, &cpf), CKV_OK);
        assert_memory_equal(cpf.old_root.b, rm.b, 32);
        assert_memory_equal(cpf.new_root.b, rn.b, 32);
        assert_int_equal(ckv_tlog_verify_consistency(m, n, &rm, &rn, cpf.path, cpf.path_len), CKV_OK);
    }
    ckv_tlog_inclusion_proof ip;
    assert_int_equal(ckv_tlog_store_inclusion_proof(s, BIG, BIG + 1, &ip), CKV_ERR_TLOG_BAD_INDEX);

    /* export: every file equals the vector, checkpoint last */
    uint64_t esize = 0;
    assert_int_equal(ckv_tlog_store_export(s, out, &esize), CKV_OK);
    assert_int_equal(esize, BIG);
    for (size_t i = 0; i < json_array_size(files); i++) {
        json_t *f = json_array_get(files, i);
        char fp[256], hex[65];
        snprintf(fp, sizeof fp, "%s/%s", out, json_string_value(json_object_get(f, "path")));
        FILE *fh = fopen(fp, "rb");
        assert_non_null(fh);
        uint8_t *buf = malloc(70000);
        size_t n = fread(buf, 1, 70000, fh);
        fclose(fh);
        assert_int_equal(n, vec_u64(f, "size"));
        sha256_hex(buf, n, hex);
        assert_string_equal(hex, json_string_value(json_object_get(f, "sha256")));
        free(buf);
    }
    /* re-export is incremental and idempotent */
    assert_int_equal(ckv_tlog_store_export(s, out, &esize), CKV_OK);
    ckv_tlog_store_close(s);
    ckv_tlog_signer_free(sg);

    /* read-only open sees the same */
    ckv_tlog_store_options ro = {.read_only = true};
    assert_int_equal(ckv_tlog_store_open(db, &ro, &s), CKV_OK);
    assert_int_equal(ckv_tlog_store_size(s), BIG);
    ckv_tlog_entry e = {(const uint8_t *)"x", 1};
    assert_int_equal(ckv_tlog_store_append(s, &e, 1, NULL), CKV_ERR_INVALID_ARG);
    ckv_tlog_store_close(s);
    free(ref);
}

static int exec_sql(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    int rc = sqlite3_open(db, &h);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    sqlite3_close(h);
    return rc;
}

static void make_log(const char *db, uint64_t n)
{
    ckv_tlog_store *s = NULL;
    char name[32];
    unlink(db);
    assert_int_equal(ckv_tlog_store_create(db, "example.com/test-log", NULL, &s), CKV_OK);
    for (uint64_t i = 0; i < n; i++) {
        ckv_tlog_entry e = {(const uint8_t *)name, (size_t)snprintf(name, sizeof name, "e%llu",
                                                                    (unsigned long long)i)};
        assert_int_equal(ckv_tlog_store_append(s, &e, 1, NULL), CKV_OK);
    }
    ckv_tlog_signer *sg = vector_signer();
    assert_int_equal(ckv_tlog_store_publish(s, sg, NULL, NULL), CKV_OK);
    ckv_tlog_signer_free(sg);
    ckv_tlog_store_close(s);
}

static void test_damaged(void **state)
{
    char db[128];
    ckv_tlog_store *s = NULL;
    path_in(db, sizeof db, "damaged.db");
    unlink(db);
    assert_int_equal(ckv_tlog_store_open(db, NULL, &s), CKV_ERR_NOT_FOUND);
    /* not a database at all */
    FILE *f = fopen(db, "wb");
    for (int i = 0; i < 5000; i++)
        fputc(i * 7, f);
    fclose(f);
    assert_int_equal(ckv_tlog_store_open(db, NULL, &s), CKV_ERR_TLOG_CORRUPT);
    assert_null(s);
    /* an SQLite database that is not a log */
    unlink(db);
    assert_int_equal(exec_sql(db, "CREATE TABLE x(y)"), SQLITE_OK);
    assert_int_equal(ckv_tlog_store_open(db, NULL, &s), CKV_ERR_TLOG_CORRUPT);
    /* a flipped hash in a tile covered by the checkpoint */
    make_log(db, 300);
    assert_int_equal(ckv_tlog_store_open(db, NULL, &s), CKV_OK);
    ckv_tlog_store_close(s);
    s = NULL;
    assert_int_equal(exec_sql(db, "UPDATE tiles SET hashes = zeroblob(8192) WHERE id = 0"), SQLITE_OK);
    /* open checks the edge against the checkpoint; the full tile is
     * verified against the tree above it when it is first read */
    assert_int_equal(ckv_tlog_store_open(db, NULL, &s), CKV_OK);
    ckv_tlog_inclusion_proof ip;
    assert_int_equal(ckv_tlog_store_inclusion_proof(s, 5, 300, &ip), CKV_ERR_TLOG_CORRUPT);
    assert_true(strlen(ckv_tlog_store_last_error(s)) > 0);
    uint8_t *d = NULL;
    size_t dl = 0;
    ckv_tlog_tile t0 = {0, 0, 256}, b0 = {CKV_TLOG_TILE_LEVEL_ENTRIES, 0, 256};
    assert_int_equal(ckv_tlog_store_read_tile(s, &t0, &d, &dl), CKV_ERR_TLOG_CORRUPT);
    assert_int_equal(ckv_tlog_store_read_tile(s, &b0, &d, &dl), CKV_ERR_TLOG_CORRUPT);
    assert_int_equal(ckv_tlog_store_inclusion_proof(s, 299, 300, &ip), CKV_OK);
    ckv_tlog_store_close(s);
    s = NULL;
    /* an altered entry in a full bundle */
    make_log(db, 300);
    assert_int_equal(exec_sql(db, "UPDATE bundles SET data = replace(data, 'e17', 'e71') WHERE idx = 0"),
                     SQLITE_OK);
    assert_int_equal(ckv_tlog_store_open(db, NULL, &s), CKV_OK);
    assert_int_equal(ckv_tlog_store_read_tile(s, &b0, &d, &dl), CKV_ERR_TLOG_CORRUPT);
    assert_int_equal(ckv_tlog_store_entry(s, 17, &d, &dl), CKV_ERR_TLOG_CORRUPT);
    ckv_tlog_store_close(s);
    s = NULL;
    /* a tile row of the wrong length */
    make_log(db, 300);
    assert_int_equal(exec_sql(db, "UPDATE tiles SET hashes = x'00' WHERE id = 1"), SQLITE_OK);
    assert_int_equal(ckv_tlog_store_open(db, NULL, &s), CKV_ERR_TLOG_CORRUPT);
    /* the partial bundle gone */
    make_log(db, 300);
    assert_int_equal(exec_sql(db, "DELETE FROM bundles WHERE idx = 1"), SQLITE_OK);
    assert_int_equal(ckv_tlog_store_open(db, NULL, &s), CKV_ERR_TLOG_CORRUPT);
    /* size rolled back below the checkpoint */
    make_log(db, 300);
    assert_int_equal(exec_sql(db, "UPDATE meta SET value = 256 WHERE key = 'size'"), SQLITE_OK);
    assert_int_equal(ckv_tlog_store_open(db, NULL, &s), CKV_ERR_TLOG_CORRUPT);
    /* a checkpoint whose signature was altered */
    make_log(db, 300);
    assert_int_equal(exec_sql(db, "UPDATE checkpoints SET note = replace(note, '300', '299')"),
                     SQLITE_OK);
    assert_int_equal(ckv_tlog_store_open(db, NULL, &s), CKV_ERR_TLOG_CORRUPT);
    assert_null(s);
    /* a truncated file */
    make_log(db, 3000);
    assert_int_equal(exec_sql(db, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE"),
                     SQLITE_OK);
    assert_int_equal(truncate(db, 8192 * 3), 0);
    ckv_status st = ckv_tlog_store_open(db, NULL, &s);
    assert_true(st == CKV_ERR_TLOG_CORRUPT);
    unlink(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small),
        cmocka_unit_test(test_big),
        cmocka_unit_test(test_damaged),
    };
    if (sodium_init() < 0)
        return 1;
    V = vec_load();
    if (V == NULL)
        return 1;
    snprintf(DIRP, sizeof DIRP, "/tmp/ckv-tlog-store-XXXXXX");
    if (mkdtemp(DIRP) == NULL)
        return 1;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rm_rf(DIRP);
    json_decref(V);
    return rc;
}
