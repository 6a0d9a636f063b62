/*
 * test_dir_entry.c: the directory entry codec and chain rules
 * (docs/directory.md): round trips, strictness (every non-canonical or
 * damaged variant rejected), signatures with separate contexts, and the
 * chain rules for register / rotate / reset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "ckv/dir_entry.h"

struct keypair {
    uint8_t priv[32];
    uint8_t pub[33];
};

static void new_keypair(struct keypair *k)
{
    randombytes_buf(k->priv, 32);
    k->priv[0] &= 248;
    k->priv[31] &= 127;
    k->priv[31] |= 64;
    assert_int_equal(ckv_xeddsa_public_key(k->priv, k->pub), CKV_OK);
}

static void make_entry(ckv_dir_entry *e, const char *name, ckv_dir_type t, uint64_t version,
                       const struct keypair *k)
{
    memset(e, 0, sizeof(*e));
    strcpy(e->origin, "ckv.test/log");
    strcpy(e->name, name);
    e->type = t;
    e->version = version;
    memcpy(e->key, k->pub, 33);
    e->time = 1764280000;
    e->has_old_sig = t == CKV_DIR_ROTATE;
}

static size_t encode(const ckv_dir_entry *e, char *buf, size_t cap)
{
    size_t len = 0;
    assert_int_equal(ckv_dir_entry_encode(e, buf, cap, &len), CKV_OK);
    assert_int_equal(strlen(buf), len);
    return len;
}

static void test_xeddsa(void **state)
{
    (void)state;
    struct keypair a, b;
    uint8_t sig[64];
    new_keypair(&a);
    new_keypair(&b);
    assert_int_equal(ckv_xeddsa_sign(a.priv, (const uint8_t *)"hello", 5, sig), CKV_OK);
    assert_int_equal(ckv_xeddsa_verify(a.pub, (const uint8_t *)"hello", 5, sig), CKV_OK);
    assert_int_equal(ckv_xeddsa_verify(a.pub, (const uint8_t *)"hellp", 5, sig),
                     CKV_ERR_DIR_BAD_SIGNATURE);
    assert_int_equal(ckv_xeddsa_verify(b.pub, (const uint8_t *)"hello", 5, sig),
                     CKV_ERR_DIR_BAD_SIGNATURE);
    sig[10] ^= 1;
    assert_int_equal(ckv_xeddsa_verify(a.pub, (const uint8_t *)"hello", 5, sig),
                     CKV_ERR_DIR_BAD_SIGNATURE);
    uint8_t bad[33];
    memcpy(bad, a.pub, 33);
    bad[0] = 0x06;
    assert_int_equal(ckv_xeddsa_verify(bad, (const uint8_t *)"hello", 5, sig),
                     CKV_ERR_DIR_BAD_KEY);
}

/* Keys a signature cannot prove are refused: the u-coordinates of the
 * points of small order (libsodium's X25519 refuses each, which shows they
 * are), and non-canonical encodings. With such a key, "R = identity, S = 0"
 * used to verify for a share of all messages: a proof of possession by
 * nobody. */
static void test_weak_keys(void **state)
{
    (void)state;
    static const uint8_t weak[][32] = {
        {0},
        {1},
        {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
         0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
         0xb8, 0x00},
        {0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
         0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
         0x11, 0x57},
        {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0x7f},
    };
    uint8_t pub[33], sig[64], scalar[32], out[32];
    struct keypair k;
    randombytes_buf(scalar, sizeof(scalar));
    pub[0] = 0x05;
    for (size_t i = 0; i < sizeof(weak) / sizeof(weak[0]); i++) {
        assert_int_equal(crypto_scalarmult(out, scalar, weak[i]), -1); /* small order */
        memcpy(pub + 1, weak[i], 32);
        assert_int_equal(ckv_xeddsa_check_key(pub), CKV_ERR_DIR_BAD_KEY);
        for (int m = 0; m < 64; m++) { /* the forgery: R = identity, S = 0, either sign */
            uint8_t msg = (uint8_t)m;
            memset(sig, 0, sizeof(sig));
            sig[0] = 1;
            sig[63] = (uint8_t)((m & 1) << 7);
            assert_int_equal(ckv_xeddsa_verify(pub, &msg, 1, sig), CKV_ERR_DIR_BAD_KEY);
        }
    }
    /* an entry carrying such a key does not even parse */
    new_keypair(&k);
    ckv_dir_entry e, p;
    char buf[CKV_DIR_ENTRY_MAX + 1];
    make_entry(&e, "squat", CKV_DIR_REGISTER, 1, &k);
    memcpy(e.key + 1, weak[1], 32);
    size_t len = encode(&e, buf, sizeof(buf));
    assert_int_equal(ckv_dir_entry_parse((const uint8_t *)buf, len, &p), CKV_ERR_DIR_BAD_KEY);
    /* non-canonical u: p itself, and a real key with the top bit set */
    memset(pub + 1, 0xff, 32);
    pub[1] = 0xed;
    pub[32] = 0x7f;
    assert_int_equal(ckv_xeddsa_check_key(pub), CKV_ERR_DIR_BAD_KEY);
    memcpy(pub, k.pub, 33);
    assert_int_equal(ckv_xeddsa_check_key(pub), CKV_OK);
    assert_int_equal(ckv_xeddsa_sign(k.priv, (const uint8_t *)"m", 1, sig), CKV_OK);
    assert_int_equal(ckv_xeddsa_verify(pub, (const uint8_t *)"m", 1, sig), CKV_OK);
    pub[32] |= 0x80; /* the same u mod 2^255: a second encoding of one key */
    assert_int_equal(ckv_xeddsa_check_key(pub), CKV_ERR_DIR_BAD_KEY);
    assert_int_equal(ckv_xeddsa_verify(pub, (const uint8_t *)"m", 1, sig), CKV_ERR_DIR_BAD_KEY);
}

/* A signature has one encoding: S + L (L the group order) satisfies the
 * same equation but is refused, so no one can turn a signed entry into a
 * second, different leaf. */
static void test_signature_malleability(void **state)
{
    (void)state;
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
                                  0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                                  0,    0,    0,    0,    0,    0,    0,    0,
                                  0,    0,    0,    0,    0,    0,    0,    0x10};
    struct keypair k;
    uint8_t sig[64], alt[64];
    new_keypair(&k);
    for (int m = 0; m < 16; m++) {
        uint8_t msg = (uint8_t)m;
        assert_int_equal(ckv_xeddsa_sign(k.priv, &msg, 1, sig), CKV_OK);
        assert_int_equal(ckv_xeddsa_verify(k.pub, &msg, 1, sig), CKV_OK);
        memcpy(alt, sig, 64);
        unsigned carry = 0;
        for (int i = 0; i < 32; i++) { /* S + L; the top bit (the key's sign) kept */
            unsigned b = (unsigned)(i == 31 ? sig[63] & 0x7f : sig[32 + i]) + L[i] + carry;
            alt[32 + i] = (uint8_t)b;
            carry = b >> 8;
        }
        alt[63] = (uint8_t)((alt[63] & 0x7f) | (sig[63] & 0x80));
        assert_int_equal(ckv_xeddsa_verify(k.pub, &msg, 1, alt), CKV_ERR_DIR_BAD_SIGNATURE);
    }
}

/* An unclamped private key signs as its clamped form: the signature
 * verifies under the public key derived from the same bytes. */
static void test_unclamped_key(void **state)
{
    (void)state;
    uint8_t priv[32], pub[33], sig[64];
    for (int i = 0; i < 16; i++) {
        randombytes_buf(priv, sizeof(priv));
        priv[0] |= 7;    /* low bits set: not clamped */
        priv[31] |= 128; /* high bit set: not clamped */
        assert_int_equal(ckv_xeddsa_public_key(priv, pub), CKV_OK);
        assert_int_equal(ckv_xeddsa_sign(priv, (const uint8_t *)"m", 1, sig), CKV_OK);
        assert_int_equal(ckv_xeddsa_verify(pub, (const uint8_t *)"m", 1, sig), CKV_OK);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    struct keypair k;
    ckv_dir_entry e, p;
    char buf[CKV_DIR_ENTRY_MAX + 1];
    new_keypair(&k);
    make_entry(&e, "alice", CKV_DIR_REGISTER, 1, &k);
    assert_int_equal(ckv_dir_entry_sign_pop(&e, k.priv), CKV_OK);
    size_t len = encode(&e, buf, sizeof(buf));
    assert_non_null(strstr(buf, "ckv-directory-entry/v1\norigin ckv.test/log\nname alice\n"
                                "type register\nversion 1\nkey "));
    assert_non_null(strstr(buf, "\nprev-index -\nprev-hash -\ntime 1764280000\npop "));
    assert_int_equal(ckv_dir_entry_parse((const uint8_t *)buf, len, &p), CKV_OK);
    assert_memory_equal(&p, &e, sizeof(e));
    assert_int_equal(ckv_dir_entry_verify(&p, NULL), CKV_OK);
    assert_int_equal(ckv_dir_chain_check(NULL, 0, NULL, &p), CKV_OK);
}

/* Every single-byte change of a valid entry is either rejected by the
 * parser or by the signature check: nothing slips through. */
static void test_every_byte_matters(void **state)
{
    (void)state;
    struct keypair k;
    ckv_dir_entry e, p;
    char buf[CKV_DIR_ENTRY_MAX + 1], mut[CKV_DIR_ENTRY_MAX + 1];
    new_keypair(&k);
    make_entry(&e, "bob", CKV_DIR_REGISTER, 1, &k);
    assert_int_equal(ckv_dir_entry_sign_pop(&e, k.priv), CKV_OK);
    size_t len = encode(&e, buf, sizeof(buf));
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(mut, buf, len);
            mut[i] = (char)(mut[i] ^ (1 << bit));
            ckv_status st = ckv_dir_entry_parse((const uint8_t *)mut, len, &p);
            if (st == CKV_OK)
                st = ckv_dir_entry_verify(&p, NULL);
            assert_int_not_equal(st, CKV_OK);
        }
    }
    /* truncations and extensions */
    for (size_t n = 0; n < len; n++)
        assert_int_not_equal(ckv_dir_entry_parse((const uint8_t *)buf, n, &p), CKV_OK);
    memcpy(mut, buf, len);
    mut[len] = '\n';
    assert_int_not_equal(ckv_dir_entry_parse((const uint8_t *)mut, len + 1, &p), CKV_OK);
}

static void expect_reject(const char *text)
{
    ckv_dir_entry p;
    assert_int_not_equal(ckv_dir_entry_parse((const uint8_t *)text, strlen(text), &p), CKV_OK);
}

static void test_noncanonical(void **state)
{
    (void)state;
    struct keypair k;
    ckv_dir_entry e;
    char buf[CKV_DIR_ENTRY_MAX + 1], alt[CKV_DIR_ENTRY_MAX + 64];
    new_keypair(&k);
    make_entry(&e, "carol", CKV_DIR_REGISTER, 1, &k);
    assert_int_equal(ckv_dir_entry_sign_pop(&e, k.priv), CKV_OK);
    encode(&e, buf, sizeof(buf));
    const char *v = strstr(buf, "version 1\n");
    assert_non_null(v);
    /* leading zero */
    snprintf(alt, sizeof(alt), "%.*sversion 01\n%s", (int)(v - buf), buf, v + 10);
    expect_reject(alt);
    /* double space */
    snprintf(alt, sizeof(alt), "%.*sversion  1\n%s", (int)(v - buf), buf, v + 10);
    expect_reject(alt);
    /* CRLF */
    snprintf(alt, sizeof(alt), "%.*sversion 1\r\n%s", (int)(v - buf), buf, v + 10);
    expect_reject(alt);
    /* upper-case name (not normalised) */
    const char *n = strstr(buf, "name carol\n");
    snprintf(alt, sizeof(alt), "%.*sname Carol\n%s", (int)(n - buf), buf, n + 11);
    expect_reject(alt);
    /* unknown type, missing magic, empty */
    const char *t = strstr(buf, "type register\n");
    snprintf(alt, sizeof(alt), "%.*stype revoke\n%s", (int)(t - buf), buf, t + 14);
    expect_reject(alt);
    expect_reject(buf + 1);
    expect_reject("");
    /* an old-sig line on a register entry */
    snprintf(alt, sizeof(alt), "%sold-sig %s", buf, strstr(buf, "pop ") + 4);
    expect_reject(alt);
    /* over the size cap */
    static uint8_t big[CKV_DIR_ENTRY_MAX + 1];
    ckv_dir_entry p;
    memset(big, 'a', sizeof(big));
    assert_int_equal(ckv_dir_entry_parse(big, sizeof(big), &p), CKV_ERR_TOO_LARGE);
}

static void test_chain(void **state)
{
    (void)state;
    struct keypair k1, k2, k3, evil;
    ckv_dir_entry r, rot, rst, bad;
    char buf[CKV_DIR_ENTRY_MAX + 1];
    uint8_t h1[32], h2[32];
    new_keypair(&k1);
    new_keypair(&k2);
    new_keypair(&k3);
    new_keypair(&evil);

    make_entry(&r, "dave", CKV_DIR_REGISTER, 1, &k1);
    assert_int_equal(ckv_dir_entry_sign_pop(&r, k1.priv), CKV_OK);
    size_t len = encode(&r, buf, sizeof(buf));
    ckv_dir_leaf_hash((const uint8_t *)buf, len, h1);
    assert_int_equal(ckv_dir_chain_check(NULL, 0, NULL, &r), CKV_OK);

    /* rotation at leaf 7 -> 8 */
    make_entry(&rot, "dave", CKV_DIR_ROTATE, 2, &k2);
    rot.has_prev = 1;
    rot.prev_index = 7;
    memcpy(rot.prev_hash, h1, 32);
    assert_int_equal(ckv_dir_entry_sign_pop(&rot, k2.priv), CKV_OK);
    assert_int_equal(ckv_dir_entry_sign_rotation(&rot, k1.priv), CKV_OK);
    assert_int_equal(ckv_dir_chain_check(&r, 7, h1, &rot), CKV_OK);
    /* wrong links */
    assert_int_equal(ckv_dir_chain_check(&r, 6, h1, &rot), CKV_ERR_DIR_BAD_CHAIN);
    uint8_t hx[32];
    memcpy(hx, h1, 32);
    hx[0] ^= 1;
    assert_int_equal(ckv_dir_chain_check(&r, 7, hx, &rot), CKV_ERR_DIR_BAD_CHAIN);
    /* rotation signed by someone else's key */
    bad = rot;
    assert_int_equal(ckv_dir_entry_sign_rotation(&bad, evil.priv), CKV_OK);
    assert_int_equal(ckv_dir_chain_check(&r, 7, h1, &bad), CKV_ERR_DIR_BAD_SIGNATURE);
    /* the pop signature reused as old-sig: contexts differ, so it fails */
    bad = rot;
    memcpy(bad.old_sig, bad.pop, 64);
    assert_int_equal(ckv_dir_entry_verify(&bad, k2.pub), CKV_ERR_DIR_BAD_SIGNATURE);
    /* pop by a key that is not the entry's key */
    bad = rot;
    assert_int_equal(ckv_dir_entry_sign_pop(&bad, evil.priv), CKV_ERR_INVALID_ARG);
    /* skipped version */
    bad = rot;
    bad.version = 3;
    assert_int_equal(ckv_dir_entry_sign_pop(&bad, k2.priv), CKV_OK);
    assert_int_equal(ckv_dir_entry_sign_rotation(&bad, k1.priv), CKV_OK);
    assert_int_equal(ckv_dir_chain_check(&r, 7, h1, &bad), CKV_ERR_DIR_BAD_CHAIN);
    /* a second register for a taken name */
    make_entry(&bad, "dave", CKV_DIR_REGISTER, 1, &evil);
    assert_int_equal(ckv_dir_entry_sign_pop(&bad, evil.priv), CKV_OK);
    assert_int_equal(ckv_dir_chain_check(&r, 7, h1, &bad), CKV_ERR_DIR_NAME_TAKEN);
    /* another name cannot continue dave's chain */
    bad = rot;
    strcpy(bad.name, "eve");
    assert_int_equal(ckv_dir_entry_sign_pop(&bad, k2.priv), CKV_OK);
    assert_int_equal(ckv_dir_entry_sign_rotation(&bad, k1.priv), CKV_OK);
    assert_int_equal(ckv_dir_chain_check(&r, 7, h1, &bad), CKV_ERR_DIR_BAD_CHAIN);

    /* reset after the rotation: no old key needed */
    len = encode(&rot, buf, sizeof(buf));
    ckv_dir_leaf_hash((const uint8_t *)buf, len, h2);
    make_entry(&rst, "dave", CKV_DIR_RESET, 3, &k3);
    rst.has_prev = 1;
    rst.prev_index = 8;
    memcpy(rst.prev_hash, h2, 32);
    assert_int_equal(ckv_dir_entry_sign_pop(&rst, k3.priv), CKV_OK);
    assert_int_equal(ckv_dir_chain_check(&rot, 8, h2, &rst), CKV_OK);
    len = encode(&rst, buf, sizeof(buf));
    ckv_dir_entry p;
    assert_int_equal(ckv_dir_entry_parse((const uint8_t *)buf, len, &p), CKV_OK);
    assert_int_equal(p.type, CKV_DIR_RESET);
    assert_int_equal(p.has_old_sig, 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xeddsa),
        cmocka_unit_test(test_unclamped_key),
        cmocka_unit_test(test_weak_keys),
        cmocka_unit_test(test_signature_malleability),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_byte_matters),
        cmocka_unit_test(test_noncanonical),
        cmocka_unit_test(test_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
