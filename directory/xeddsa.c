/*
 * xeddsa.c: XEdDSA sign/verify with identity keys (include/ckv/xeddsa.h),
 * on libsignal-protocol-c's public curve API.
 *
 * curve_calculate_signature() draws its 64 random bytes through a
 * signal_context's crypto provider, and the library refuses a provider
 * without HMAC-SHA256. So signing builds a short-lived context whose
 * provider has exactly those two: random (libsodium) and HMAC-SHA256
 * (libsodium). Nothing else of the provider is reachable from the curve
 * calls used here. Verification needs no context.
 *
 * libsignal's verification checks the signature equation only. On top of
 * it, ckv_xeddsa_verify insists on one encoding of everything:
 *   - the key's u-coordinate is canonical (u < p = 2^255 - 19; so its top
 *     bit is clear), and not one of the points of small order: for those,
 *     a signature with S = 0 verifies for a fair share of all messages, so
 *     "proof of possession" would prove nothing (ckv_xeddsa_check_key);
 *   - the signature's S is reduced (S < L, the group order): S + L
 *     satisfies the same equation, and a second valid encoding of a signed
 *     directory entry would be a second leaf with the same content.
 */
#include "ckv/xeddsa.h"

#include <signal/curve.h>
#include <signal/signal_protocol.h>
#include <sodium.h>

#include <stdlib.h>
#include <string.h>

/* Curve25519 private keys are clamped (RFC 7748 §5); libsignal generates
 * them clamped but does not clamp what it is given, and XEdDSA signs with
 * the scalar as given. Clamping a copy makes any 32 bytes a valid key whose
 * signatures verify under the public key derived here. */
static void clamp(uint8_t out[CKV_PRIVATE_KEY_LEN], const uint8_t in[CKV_PRIVATE_KEY_LEN])
{
    memcpy(out, in, CKV_PRIVATE_KEY_LEN);
    out[0] &= 248;
    out[31] &= 127;
    out[31] |= 64;
}

static int rnd(uint8_t *data, size_t len, void *user)
{
    (void)user;
    randombytes_buf(data, len);
    return 0;
}

static int hmac_init(void **ctx, const uint8_t *key, size_t key_len, void *user)
{
    (void)user;
    crypto_auth_hmacsha256_state *st = malloc(sizeof(*st));
    if (!st)
        return SG_ERR_NOMEM;
    crypto_auth_hmacsha256_init(st, key, key_len);
    *ctx = st;
    return 0;
}

static int hmac_update(void *ctx, const uint8_t *data, size_t len, void *user)
{
    (void)user;
    return crypto_auth_hmacsha256_update(ctx, data, len) == 0 ? 0 : SG_ERR_UNKNOWN;
}

static int hmac_final(void *ctx, signal_buffer **out, void *user)
{
    (void)user;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_final(ctx, mac);
    signal_buffer *b = signal_buffer_create(mac, sizeof(mac));
    sodium_memzero(mac, sizeof(mac));
    if (!b)
        return SG_ERR_NOMEM;
    *out = b;
    return 0;
}

static void hmac_cleanup(void *ctx, void *user)
{
    (void)user;
    if (ctx) {
        sodium_memzero(ctx, sizeof(crypto_auth_hmacsha256_state));
        free(ctx);
    }
}

ckv_status ckv_xeddsa_sign(const uint8_t priv[CKV_PRIVATE_KEY_LEN], const uint8_t *msg,
                           size_t len, uint8_t sig[CKV_XEDDSA_SIG_LEN])
{
    signal_context *ctx = NULL;
    ec_private_key *key = NULL;
    signal_buffer *out = NULL;
    ckv_status st = CKV_ERR_CRYPTO;
    signal_crypto_provider prov;
    uint8_t k[CKV_PRIVATE_KEY_LEN];

    if (!priv || (!msg && len) || !sig)
        return CKV_ERR_INVALID_ARG;
    clamp(k, priv);
    if (sodium_init() < 0)
        return CKV_ERR_CRYPTO;
    memset(&prov, 0, sizeof(prov));
    prov.random_func = rnd;
    prov.hmac_sha256_init_func = hmac_init;
    prov.hmac_sha256_update_func = hmac_update;
    prov.hmac_sha256_final_func = hmac_final;
    prov.hmac_sha256_cleanup_func = hmac_cleanup;
    if (signal_context_create(&ctx, NULL) != 0) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    if (signal_context_set_crypto_provider(ctx, &prov) != 0)
        goto out;
    if (curve_decode_private_point(&key, k, CKV_PRIVATE_KEY_LEN, ctx) != 0)
        goto out;
    if (curve_calculate_signature(ctx, &out, key, msg ? msg : (const uint8_t *)"", len) != 0)
        goto out;
    if (signal_buffer_len(out) != CKV_XEDDSA_SIG_LEN)
        goto out;
    memcpy(sig, signal_buffer_data(out), CKV_XEDDSA_SIG_LEN);
    st = CKV_OK;
out:
    signal_buffer_free(out);
    SIGNAL_UNREF(key); /* note: libsignal frees its copy of the key without wiping it */
    signal_context_destroy(ctx);
    sodium_memzero(k, sizeof(k));
    return st;
}

/* The u-coordinates of Curve25519's points of small order (8P = O), little
 * endian: 0, 1, the two of order 8 (325606250916557431795983626356110631
 * 294008115727848805560023387167927233504 and 393823572354896145817230607
 * 81553021112529911719440698176882885853963445705823), and p - 1. Computed
 * from those numbers; test_dir_entry checks each against libsodium's
 * X25519, which refuses exactly these. */
static const uint8_t small_order[][32] = {
    {0},
    {1},
    {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
     0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
    {0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
     0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
};

/* 1 when the little-endian u is below p = 2^255 - 19. */
static int below_p(const uint8_t u[32])
{
    if (u[31] != 0x7f)
        return u[31] < 0x7f;
    for (int i = 30; i >= 1; i--)
        if (u[i] != 0xff)
            return 1;
    return u[0] < 0xed;
}

ckv_status ckv_xeddsa_check_key(const uint8_t pub[CKV_IDENTITY_KEY_LEN])
{
    if (!pub)
        return CKV_ERR_INVALID_ARG;
    if (pub[0] != 0x05 || !below_p(pub + 1))
        return CKV_ERR_DIR_BAD_KEY;
    for (size_t i = 0; i < sizeof(small_order) / sizeof(small_order[0]); i++)
        if (memcmp(pub + 1, small_order[i], 32) == 0)
            return CKV_ERR_DIR_BAD_KEY;
    return CKV_OK;
}

/* 1 when the signature's S (its last 32 bytes, without the top bit, which
 * carries the Edwards key's sign in libsignal's format) is below L. */
static int s_reduced(const uint8_t sig[CKV_XEDDSA_SIG_LEN])
{
    uint8_t wide[64] = {0}, reduced[32];
    memcpy(wide, sig + 32, 32);
    wide[31] &= 0x7f;
    crypto_core_ed25519_scalar_reduce(reduced, wide);
    return memcmp(reduced, wide, 32) == 0;
}

ckv_status ckv_xeddsa_verify(const uint8_t pub[CKV_IDENTITY_KEY_LEN], const uint8_t *msg,
                             size_t len, const uint8_t sig[CKV_XEDDSA_SIG_LEN])
{
    ec_public_key *key = NULL;
    ckv_status st;

    if (!pub || (!msg && len) || !sig)
        return CKV_ERR_INVALID_ARG;
    if (ckv_xeddsa_check_key(pub) != CKV_OK ||
        curve_decode_point(&key, pub, CKV_IDENTITY_KEY_LEN, NULL) != 0)
        return CKV_ERR_DIR_BAD_KEY;
    if (!s_reduced(sig)) {
        SIGNAL_UNREF(key);
        return CKV_ERR_DIR_BAD_SIGNATURE;
    }
    /* curve_verify_signature: 1 = valid, 0 = invalid, < 0 = error. */
    int r = curve_verify_signature(key, msg ? msg : (const uint8_t *)"", len, sig,
                                   CKV_XEDDSA_SIG_LEN);
    st = r == 1 ? CKV_OK : CKV_ERR_DIR_BAD_SIGNATURE;
    SIGNAL_UNREF(key);
    return st;
}

ckv_status ckv_xeddsa_public_key(const uint8_t priv[CKV_PRIVATE_KEY_LEN],
                                 uint8_t pub[CKV_IDENTITY_KEY_LEN])
{
    ec_private_key *k = NULL;
    ec_public_key *p = NULL;
    signal_buffer *b = NULL;
    ckv_status st = CKV_ERR_CRYPTO;
    uint8_t c[CKV_PRIVATE_KEY_LEN];

    if (!priv || !pub)
        return CKV_ERR_INVALID_ARG;
    clamp(c, priv);
    if (curve_decode_private_point(&k, c, CKV_PRIVATE_KEY_LEN, NULL) != 0)
        goto out;
    if (curve_generate_public_key(&p, k) != 0)
        goto out;
    if (ec_public_key_serialize(&b, p) != 0 || signal_buffer_len(b) != CKV_IDENTITY_KEY_LEN)
        goto out;
    memcpy(pub, signal_buffer_data(b), CKV_IDENTITY_KEY_LEN);
    st = CKV_OK;
out:
    signal_buffer_free(b);
    SIGNAL_UNREF(p);
    SIGNAL_UNREF(k);
    sodium_memzero(c, sizeof(c));
    return st;
}
