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

ckv_status ckv_xeddsa_verify(const uint8_t pub[CKV_IDENTITY_KEY_LEN], const uint8_t *msg,
                             size_t len, const uint8_t sig[CKV_XEDDSA_SIG_LEN])
{
    ec_public_key *key = NULL;
    ckv_status st;

    if (!pub || (!msg && len) || !sig)
        return CKV_ERR_INVALID_ARG;
    if (pub[0] != 0x05 || curve_decode_point(&key, pub, CKV_IDENTITY_KEY_LEN, NULL) != 0)
        return CKV_ERR_DIR_BAD_KEY;
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
