/*
 * test_evidence.c: the evidence library (include/ckv/evidence.h). Every
 * kind is built from a real small log (directory entries signed with
 * XEdDSA, checkpoints signed with Ed25519, proofs made by libckvlog's
 * generator), written, read back and verified: the genuine file proves the
 * misbehaviour; a tampered one (another key, a flipped signature byte, a
 * swapped or honest proof, a valid chain) does not. The consistency-roots
 * helper is compared with the Merkle tree hash of every prefix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <sodium.h>

#include "ckv/dir_entry.h"
#include "ckv/evidence.h"
#include "ckv/tlog.h"

#define ORIGIN "ckv.test/log"
#define MAXLEAVES 64

struct keypair {
    uint8_t priv[32];
    uint8_t pub[33];
};

/* A log: leaf bytes and hashes. */
struct log {
    size_t n;
    char data[MAXLEAVES][CKV_DIR_ENTRY_MAX + 1];
    size_t len[MAXLEAVES];
    ckv_tlog_hash leaf[MAXLEAVES];
};

static ckv_tlog_signer *signer;
static char *vkey;

static void new_keypair(struct keypair *k)
{
    randombytes_buf(k->priv, 32);
    assert_int_equal(ckv_xeddsa_public_key(k->priv, k->pub), CKV_OK);
}

static void append_bytes(struct log *l, const char *s, size_t n)
{
    assert_true(l->n < MAXLEAVES && n <= CKV_DIR_ENTRY_MAX);
    memcpy(l->data[l->n], s, n);
    l->data[l->n][n] = 0;
    l->len[l->n] = n;
    ckv_tlog_leaf_hash(s, n, &l->leaf[l->n]);
    l->n++;
}

static void filler(struct log *l, size_t k)
{
    char b[32];
    for (size_t i = 0; i < k; i++) {
        int n = snprintf(b, sizeof b, "filler %zu", l->n);
        append_bytes(l, b, (size_t)n);
    }
}

/* Append an entry; returns its index. prev_index < 0: none. */
static size_t add_entry(struct log *l, const char *name, ckv_dir_type t, uint64_t version,
                        const struct keypair *k, const struct keypair *old, long prev_index)
{
    ckv_dir_entry e;
    char buf[CKV_DIR_ENTRY_MAX + 1];
    size_t len = 0;
    memset(&e, 0, sizeof e);
    strcpy(e.origin, ORIGIN);
    strcpy(e.name, name);
    e.type = t;
    e.version = version;
    memcpy(e.key, k->pub, 33);
    e.time = 1764280000 + (int64_t)l->n;
    if (prev_index >= 0) {
        e.has_prev = 1;
        e.prev_index = (uint64_t)prev_index;
        memcpy(e.prev_hash, l->leaf[prev_index].b, 32);
    }
    e.has_old_sig = t == CKV_DIR_ROTATE;
    if (t == CKV_DIR_ROTATE)
        assert_int_equal(ckv_dir_entry_sign_rotation(&e, old->priv), CKV_OK);
    assert_int_equal(ckv_dir_entry_sign_pop(&e, k->priv), CKV_OK);
    assert_int_equal(ckv_dir_entry_encode(&e, buf, sizeof buf, &len), CKV_OK);
    append_bytes(l, buf, len);
    return l->n - 1;
}

static ckv_status read_nodes(void *ctx, const ckv_tlog_node_id *ids, size_t n, ckv_tlog_hash *out)
{
    const struct log *l = ctx;
    for (size_t i = 0; i < n; i++) {
        uint64_t first = ids[i].index << ids[i].height, cnt = UINT64_C(1) << ids[i].height;
        if (first + cnt > l->n)
            return CKV_ERR_NOT_FOUND;
        ckv_tlog_subtree_root(&l->leaf[first], (size_t)cnt, &out[i]);
    }
    return CKV_OK;
}

static ckv_tlog_hash_reader reader(struct log *l)
{
    ckv_tlog_hash_reader r = {read_nodes, l};
    return r;
}

static ckv_tlog_hash root_of(const struct log *l, size_t size)
{
    ckv_tlog_hash h;
    if (size == 0)
        ckv_tlog_empty_root(&h);
    else
        ckv_tlog_subtree_root(l->leaf, size, &h);
    return h;
}

/* A signed checkpoint of the first `size` leaves; malloc'd. */
static char *checkpoint(const struct log *l, size_t size, size_t *len)
{
    ckv_tlog_hash r = root_of(l, size);
    char *text = NULL, *note = NULL;
    size_t tl = 0;
    assert_int_equal(ckv_tlog_checkpoint_format(ORIGIN, size, &r, NULL, &text, &tl), CKV_OK);
    assert_int_equal(ckv_tlog_note_sign(text, tl, signer, &note, len), CKV_OK);
    free(text);
    return note;
}

static void inclusion(struct log *l, size_t index, size_t size, ckv_tlog_hash *path, size_t *n)
{
    ckv_tlog_hash_reader r = reader(l);
    assert_int_equal(ckv_tlog_reader_inclusion_proof(&r, index, size, path, n), CKV_OK);
}

static ckv_evidence *new_ev(const char *kind)
{
    ckv_evidence *ev = NULL;
    assert_int_equal(ckv_evidence_new(kind, "a test", vkey, &ev), CKV_OK);
    assert_int_equal(ckv_evidence_set_reporter(ev, "test_evidence"), CKV_OK);
    return ev;
}

static void add_cp(ckv_evidence *ev, const char *role, const struct log *l, size_t size, int flip)
{
    size_t len = 0;
    char *note = checkpoint(l, size, &len);
    if (flip)
        note[len - 5] = note[len - 5] == 'A' ? 'B' : 'A'; /* inside the signature */
    assert_int_equal(ckv_evidence_add_checkpoint(ev, role, note, len, NULL), CKV_OK);
    free(note);
}

static void add_proven_entry(ckv_evidence *ev, const char *role, struct log *l, size_t index,
                             size_t cp_idx, size_t size)
{
    ckv_tlog_hash path[CKV_TLOG_MAX_PROOF];
    size_t n = 0;
    inclusion(l, index, size, path, &n);
    assert_int_equal(
        ckv_evidence_add_entry(ev, role, l->data[index], l->len[index], index, cp_idx, path, n),
        CKV_OK);
}

/* Write, read back, verify; returns proven (and checks it parses). */
static int verdict(ckv_evidence *ev, const char *expect_key)
{
    char *json = NULL;
    ckv_evidence_result r;
    assert_int_equal(ckv_evidence_to_json(ev, &json), CKV_OK);
    assert_int_equal(ckv_evidence_verify_json(json, strlen(json), expect_key, &r), CKV_OK);
    if (getenv("EVIDENCE_DEBUG"))
        fprintf(stderr, "%s\nproven: %s\nreported: %s\nwhy not: %s\n", json, r.proven_by_signatures,
                r.reported, r.why_not);
    assert_true(r.proven ? r.why_not[0] == 0 : r.why_not[0] != 0);
    free(json);
    ckv_evidence_free(ev);
    return r.proven;
}

/* ---- the helper -------------------------------------------------------------- */

static void test_consistency_roots(void **state)
{
    (void)state;
    static struct log l;
    ckv_tlog_hash_reader r = reader(&l);
    ckv_tlog_hash path[CKV_TLOG_MAX_PROOF], fr, sr;
    memset(&l, 0, sizeof l);
    filler(&l, 40);
    for (size_t n = 2; n <= 40; n++)
        for (size_t m = 1; m < n; m++) {
            size_t len = 0;
            ckv_tlog_hash sub = root_of(&l, m);
            assert_int_equal(ckv_tlog_reader_consistency_proof(&r, m, n, path, &len), CKV_OK);
            assert_int_equal(ckv_tlog_roots_from_consistency(m, n, &sub, path, len, &fr, &sr),
                             CKV_OK);
            ckv_tlog_hash wm = root_of(&l, m), wn = root_of(&l, n);
            assert_true(ckv_tlog_hash_equal(&fr, &wm));
            assert_true(ckv_tlog_hash_equal(&sr, &wn));
            if ((m & (m - 1)) != 0) { /* not a power of two: old root from the path */
                assert_int_equal(ckv_tlog_roots_from_consistency(m, n, NULL, path, len, &fr, &sr),
                                 CKV_OK);
                assert_true(ckv_tlog_hash_equal(&fr, &wm));
            } else {
                assert_int_equal(ckv_tlog_roots_from_consistency(m, n, NULL, path, len, &fr, &sr),
                                 CKV_ERR_INVALID_ARG);
            }
            if (len > 1)
                assert_int_equal(
                    ckv_tlog_roots_from_consistency(m, n, &sub, path, len - 1, &fr, &sr),
                    CKV_ERR_TLOG_BAD_PROOF);
        }
    assert_int_equal(ckv_tlog_roots_from_consistency(3, 3, NULL, path, 1, &fr, &sr),
                     CKV_ERR_INVALID_ARG);
    assert_int_equal(ckv_tlog_roots_from_consistency(0, 3, NULL, path, 1, &fr, &sr),
                     CKV_ERR_INVALID_ARG);
}

/* ---- kinds ------------------------------------------------------------------ */

static void test_fork_same_size(void **state)
{
    (void)state;
    static struct log a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    filler(&a, 7);
    filler(&b, 6);
    append_bytes(&b, "other", 5);
    for (int mode = 0; mode < 4; mode++) {
        ckv_evidence *ev = new_ev(mode == 3 ? "split_view" : "fork");
        add_cp(ev, "accepted_before", &a, 7, 0);
        add_cp(ev, "served_now", mode == 1 ? &a : &b, 7, mode == 2);
        int p = verdict(ev, mode == 0 ? vkey : NULL);
        assert_int_equal(p, mode == 0 || mode == 3);
    }
    /* evidence about another log key is refused when a key is pinned */
    char *other = NULL;
    ckv_evidence_result r;
    char *json = NULL;
    assert_int_equal(ckv_tlog_signer_generate(ORIGIN, NULL, &other), CKV_OK);
    ckv_evidence *ev = new_ev("fork");
    add_cp(ev, "accepted_before", &a, 7, 0);
    add_cp(ev, "served_now", &b, 7, 0);
    assert_int_equal(ckv_evidence_to_json(ev, &json), CKV_OK);
    assert_int_equal(ckv_evidence_verify_json(json, strlen(json), other, &r), CKV_ERR_EVIDENCE_KEY);
    free(json);
    free(other);
    ckv_evidence_free(ev);
}

/* Sizes m < n: the proof from the real tree of size n yields another
 * root for m than the (forked) signed one. */
static void test_fork_by_proof(void **state)
{
    (void)state;
    static struct log real, forked;
    ckv_tlog_hash path[CKV_TLOG_MAX_PROOF], wrong[CKV_TLOG_MAX_PROOF];
    memset(&real, 0, sizeof real);
    memset(&forked, 0, sizeof forked);
    filler(&real, 21);
    filler(&forked, 5);
    append_bytes(&forked, "rewritten", 9);
    filler(&forked, 2);
    size_t ms[] = {8, 13}; /* a power of two and not */
    for (size_t t = 0; t < 2; t++) {
        size_t m = ms[t], n = 21, len = 0, wl = 0;
        ckv_tlog_hash_reader r = reader(&real), rf = reader(&forked);
        ckv_tlog_hash sub = root_of(&real, m);
        if (m > forked.n)
            filler(&forked, m - forked.n);
        assert_int_equal(ckv_tlog_reader_consistency_proof(&r, m, n, path, &len), CKV_OK);
        for (int mode = 0; mode < 3; mode++) {
            ckv_evidence *ev = new_ev("fork");
            add_cp(ev, "accepted_before", mode == 2 ? &real : &forked, m, 0);
            add_cp(ev, "served_now", &real, n, 0);
            if (mode == 1) { /* a swapped proof: from the forked tree, m -> m+1 */
                filler(&forked, 1);
                assert_int_equal(ckv_tlog_reader_consistency_proof(&rf, m, m + 1, wrong, &wl),
                                 CKV_OK);
                assert_int_equal(
                    ckv_evidence_set_consistency(ev, 0, 1, wrong, wl, (m & (m - 1)) ? NULL : &sub),
                    CKV_OK);
                forked.n--;
            } else {
                assert_int_equal(
                    ckv_evidence_set_consistency(ev, 0, 1, path, len, (m & (m - 1)) ? NULL : &sub),
                    CKV_OK);
            }
            /* mode 0 proves a fork; a swapped proof or an honest pair does not */
            assert_int_equal(verdict(ev, vkey), mode == 0);
        }
    }
}

static void test_rollback(void **state)
{
    (void)state;
    static struct log l;
    memset(&l, 0, sizeof l);
    filler(&l, 9);
    ckv_evidence *ev = new_ev("rollback");
    add_cp(ev, "accepted_before", &l, 9, 0);
    add_cp(ev, "served_now", &l, 4, 0);
    assert_true(verdict(ev, vkey));
    ev = new_ev("rollback"); /* growing is no rollback */
    add_cp(ev, "accepted_before", &l, 4, 0);
    add_cp(ev, "served_now", &l, 9, 0);
    assert_false(verdict(ev, vkey));
    ev = new_ev("rollback"); /* an unsigned smaller checkpoint proves nothing */
    add_cp(ev, "accepted_before", &l, 9, 0);
    add_cp(ev, "served_now", &l, 4, 1);
    assert_false(verdict(ev, vkey));
}

static void test_bad_proof(void **state)
{
    (void)state;
    static struct log l;
    struct keypair bob;
    ckv_tlog_hash path[CKV_TLOG_MAX_PROOF];
    size_t n = 0;
    memset(&l, 0, sizeof l);
    new_keypair(&bob);
    filler(&l, 3);
    size_t i = add_entry(&l, "bob", CKV_DIR_REGISTER, 1, &bob, NULL, -1);
    filler(&l, 4);
    inclusion(&l, i, l.n, path, &n);
    for (int mode = 0; mode < 2; mode++) {
        ckv_evidence *ev = new_ev("bad_proof");
        add_cp(ev, "served_now", &l, l.n, 0);
        if (mode == 0)
            path[1].b[3] ^= 1; /* the server's wrong answer */
        assert_int_equal(ckv_evidence_add_entry(ev, "served", l.data[i], l.len[i], i, 0, path, n),
                         CKV_OK);
        assert_int_equal(verdict(ev, vkey), mode == 0);
        if (mode == 0)
            path[1].b[3] ^= 1;
    }
    /* a failing consistency proof between two signed checkpoints */
    ckv_tlog_hash_reader r = reader(&l);
    assert_int_equal(ckv_tlog_reader_consistency_proof(&r, 5, l.n, path, &n), CKV_OK);
    for (int mode = 0; mode < 2; mode++) {
        ckv_evidence *ev = new_ev("bad_proof");
        add_cp(ev, "accepted_before", &l, 5, 0);
        add_cp(ev, "served_now", &l, l.n, 0);
        if (mode == 0)
            path[0].b[0] ^= 0x80;
        assert_int_equal(ckv_evidence_set_consistency(ev, 0, 1, path, n, NULL), CKV_OK);
        assert_int_equal(verdict(ev, vkey), mode == 0);
        if (mode == 0)
            path[0].b[0] ^= 0x80;
    }
}

static void test_key_not_in_log(void **state)
{
    (void)state;
    static struct log l;
    struct keypair bob, mallory;
    memset(&l, 0, sizeof l);
    new_keypair(&bob);
    new_keypair(&mallory);
    filler(&l, 2);
    size_t i = add_entry(&l, "bob", CKV_DIR_REGISTER, 1, &bob, NULL, -1);
    for (int mode = 0; mode < 3; mode++) {
        ckv_evidence *ev = new_ev("key_not_in_log");
        add_cp(ev, "served_now", &l, l.n, 0);
        add_proven_entry(ev, "logged", &l, i, 0, l.n);
        assert_int_equal(ckv_evidence_set_served_key(ev, mode == 2 ? "carol" : "bob",
                                                     mode == 1 ? bob.pub : mallory.pub,
                                                     "prekey bundle"),
                         CKV_OK);
        assert_int_equal(verdict(ev, vkey), mode == 0);
    }
}

static void test_broken_chain(void **state)
{
    (void)state;
    static struct log l;
    struct keypair k1, k2, k3, wrong;
    memset(&l, 0, sizeof l);
    new_keypair(&k1);
    new_keypair(&k2);
    new_keypair(&k3);
    new_keypair(&wrong);
    size_t v1 = add_entry(&l, "bob", CKV_DIR_REGISTER, 1, &k1, NULL, -1);
    filler(&l, 2);
    size_t v2 = add_entry(&l, "bob", CKV_DIR_ROTATE, 2, &k2, &k1, (long)v1);
    size_t bad = add_entry(&l, "bob", CKV_DIR_ROTATE, 3, &k3, &wrong, (long)v2); /* old sig */
    size_t dup = add_entry(&l, "bob", CKV_DIR_RESET, 2, &k3, NULL, (long)v1);    /* v2 again */
    size_t reg = add_entry(&l, "bob", CKV_DIR_REGISTER, 1, &k3, NULL, -1);       /* taken */
    /* {v1, dup} alone is a valid reset: only beside v2 is dup a second v2 */
    size_t pairs[][3] = {{v1, v2, 0}, {v2, bad, 1}, {v2, dup, 1}, {v1, reg, 1}, {v1, dup, 0}};
    for (size_t t = 0; t < sizeof pairs / sizeof pairs[0]; t++) {
        ckv_evidence *ev = new_ev("broken_chain");
        add_cp(ev, "served_now", &l, l.n, 0);
        add_proven_entry(ev, "earlier", &l, pairs[t][0], 0, l.n);
        add_proven_entry(ev, "later", &l, pairs[t][1], 0, l.n);
        if (getenv("EVIDENCE_DEBUG"))
            fprintf(stderr, "pair %zu\n", t);
        assert_int_equal(verdict(ev, vkey), (int)pairs[t][2]);
    }
    /* the broken pair without inclusion proofs proves nothing */
    ckv_evidence *ev = new_ev("broken_chain");
    add_cp(ev, "served_now", &l, l.n, 0);
    assert_int_equal(ckv_evidence_add_entry(ev, "earlier", l.data[v2], l.len[v2], v2, 0, NULL, 0),
                     CKV_OK);
    add_proven_entry(ev, "later", &l, bad, 0, l.n);
    assert_false(verdict(ev, vkey));
    /* one entry that is no directory entry at all */
    ev = new_ev("broken_chain");
    add_cp(ev, "served_now", &l, l.n, 0);
    add_proven_entry(ev, "entry", &l, 1, 0, l.n);
    assert_true(verdict(ev, vkey));
}

static void test_stale_entry(void **state)
{
    (void)state;
    static struct log l;
    struct keypair k1, k2;
    memset(&l, 0, sizeof l);
    new_keypair(&k1);
    new_keypair(&k2);
    size_t v1 = add_entry(&l, "bob", CKV_DIR_REGISTER, 1, &k1, NULL, -1);
    size_t v2 = add_entry(&l, "bob", CKV_DIR_ROTATE, 2, &k2, &k1, (long)v1);
    for (int mode = 0; mode < 2; mode++) {
        ckv_evidence *ev = new_ev("stale_entry");
        add_cp(ev, "served_now", &l, l.n, 0);
        add_proven_entry(ev, "served", &l, mode == 0 ? v1 : v2, 0, l.n);
        add_proven_entry(ev, "newer", &l, mode == 0 ? v2 : v1, 0, l.n);
        assert_int_equal(verdict(ev, vkey), mode == 0);
    }
}

/* ---- files and strictness ---------------------------------------------------- */

static void test_file_and_strictness(void **state)
{
    (void)state;
    static struct log l;
    char dir[] = "/tmp/ckv-evidence-XXXXXX", *path = NULL, *json = NULL, sub[128];
    ckv_evidence_result r;
    struct stat sb;
    memset(&l, 0, sizeof l);
    filler(&l, 3);
    assert_non_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/a/evidence", dir);
    ckv_evidence *ev = new_ev("rollback");
    add_cp(ev, "accepted_before", &l, 3, 0);
    add_cp(ev, "served_now", &l, 1, 0);
    assert_int_equal(ckv_evidence_set_detail(ev, "detail"), CKV_OK);
    assert_int_equal(ckv_evidence_set_source(ev, "http://127.0.0.1:1"), CKV_OK);
    assert_int_equal(ckv_evidence_write(ev, sub, &path), CKV_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_non_null(strstr(path, "-rollback-"));
    assert_int_equal(ckv_evidence_verify_file(path, vkey, &r), CKV_OK);
    assert_true(r.proven);
    assert_string_equal(r.kind, "rollback");
    assert_string_equal(r.origin, ORIGIN);
    assert_int_equal(ckv_evidence_to_json(ev, &json), CKV_OK);
    size_t n = strlen(json);
    /* every truncation is an error, never a crash */
    for (size_t k = 0; k < n - 2; k += 7)
        assert_int_not_equal(ckv_evidence_verify_json(json, k, NULL, &r), CKV_OK);
    /* an unknown key, a wrong format, text that differs from base64 */
    const char *subs[][2] = {{"\"kind\"", "\"kinx\""},
                             {"ckv-evidence/1", "ckv-evidence/2"},
                             {"\"role\": \"served_now\"", "\"role\": \"served_now\", \"x\": 1"},
                             {"\"text\": \"ckv.test/log", "\"text\": \"ckv.test/lox"}};
    for (size_t t = 0; t < 4; t++) {
        char *at = strstr(json, subs[t][0]);
        assert_non_null(at);
        size_t pre = (size_t)(at - json), a = strlen(subs[t][0]), b = strlen(subs[t][1]);
        char *m = malloc(n - a + b + 1);
        memcpy(m, json, pre);
        memcpy(m + pre, subs[t][1], b);
        strcpy(m + pre + b, at + a);
        ckv_status st = ckv_evidence_verify_json(m, strlen(m), NULL, &r);
        assert_true(st == CKV_ERR_EVIDENCE_MALFORMED || st == CKV_ERR_JSON);
        free(m);
    }
    assert_int_equal(ckv_evidence_verify_file("/nonexistent/e.json", NULL, &r), CKV_ERR_NOT_FOUND);
    /* misuse */
    assert_int_equal(ckv_evidence_add_entry(ev, "x", "a", 1, 0, 7, (ckv_tlog_hash *)json, 0),
                     CKV_ERR_INVALID_ARG);
    assert_int_equal(ckv_evidence_new("Bad Kind", "s", vkey, &ev), CKV_ERR_INVALID_ARG);
    ckv_evidence_free(NULL);
    free(json);
    unlink(path);
    free(path);
    rmdir(sub);
    snprintf(sub, sizeof sub, "%s/a", dir);
    rmdir(sub);
    rmdir(dir);
    ckv_evidence_free(ev);
}

static int setup(void **state)
{
    (void)state;
    uint8_t seed[32];
    char *skey = NULL;
    if (sodium_init() < 0)
        return -1;
    memset(seed, 7, sizeof seed);
    if (ckv_tlog_signer_from_seed(ORIGIN, seed, &skey, &vkey) != CKV_OK)
        return -1;
    ckv_status st = ckv_tlog_signer_parse(skey, strlen(skey), &signer);
    sodium_memzero(skey, strlen(skey));
    free(skey);
    return st == CKV_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ckv_tlog_signer_free(signer);
    free(vkey);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consistency_roots),   cmocka_unit_test(test_fork_same_size),
        cmocka_unit_test(test_fork_by_proof),       cmocka_unit_test(test_rollback),
        cmocka_unit_test(test_bad_proof),           cmocka_unit_test(test_key_not_in_log),
        cmocka_unit_test(test_broken_chain),        cmocka_unit_test(test_stale_entry),
        cmocka_unit_test(test_file_and_strictness),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
