/*
 * provider.c: libsignal's crypto provider and lock, on libsodium and
 * OpenSSL.
 *
 * libsignal-protocol-c brings its own curve25519/XEdDSA code but asks the
 * application for random bytes, HMAC-SHA256, SHA-512 and AES. We give it:
 *   random       libsodium randombytes_buf
 *   HMAC-SHA256  libsodium crypto_auth_hmacsha256 (streaming state)
 *   SHA-512      OpenSSL EVP (digest fetched once; ~1.5x libsodium here).
 *                `final` re-initialises the context: the fingerprint code
 *                calls init once and update/final 5200 times.
 *   AES-256-CBC  OpenSSL EVP with PKCS#5 padding (libsodium has no CBC);
 *   AES-CTR      OpenSSL EVP, only for legacy v2 messages.
 * The lock is a recursive pthread mutex (libsignal re-enters it).
 *
 * A process-wide context (ckv_sg_global) serves the stateless calls; each
 * profile has its own context and lock.
 */
#include "internal.h"

#include <openssl/evp.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const EVP_MD *sha512_md(void)
{
    static const EVP_MD *md; /* fetched once; EVP_sha512 is a static object */
    if (md == NULL)
        md = EVP_sha512();
    return md;
}

static int random_cb(uint8_t *data, size_t len, void *ud)
{
    (void)ud;
    randombytes_buf(data, len);
    return 0;
}

static int hmac_init(void **ctx, const uint8_t *key, size_t key_len, void *ud)
{
    (void)ud;
    crypto_auth_hmacsha256_state *st = sodium_malloc(sizeof *st);
    if (st == NULL)
        return SG_ERR_NOMEM;
    if (crypto_auth_hmacsha256_init(st, key, key_len) != 0) {
        sodium_free(st);
        return SG_ERR_UNKNOWN;
    }
    *ctx = st;
    return 0;
}

static int hmac_update(void *ctx, const uint8_t *data, size_t len, void *ud)
{
    (void)ud;
    return crypto_auth_hmacsha256_update(ctx, data, len) == 0 ? 0 : SG_ERR_UNKNOWN;
}

static int hmac_final(void *ctx, signal_buffer **out, void *ud)
{
    (void)ud;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    signal_buffer *b = NULL;
    if (crypto_auth_hmacsha256_final(ctx, mac) != 0)
        return SG_ERR_UNKNOWN;
    b = signal_buffer_create(mac, sizeof mac);
    sodium_memzero(mac, sizeof mac);
    if (b == NULL)
        return SG_ERR_NOMEM;
    *out = b;
    return 0;
}

static void hmac_cleanup(void *ctx, void *ud)
{
    (void)ud;
    if (ctx != NULL)
        sodium_free(ctx); /* sodium_free wipes */
}

static int sha512_init(void **ctx, void *ud)
{
    (void)ud;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c == NULL)
        return SG_ERR_NOMEM;
    if (EVP_DigestInit_ex(c, sha512_md(), NULL) != 1) {
        EVP_MD_CTX_free(c);
        return SG_ERR_UNKNOWN;
    }
    *ctx = c;
    return 0;
}

static int sha512_update(void *ctx, const uint8_t *data, size_t len, void *ud)
{
    (void)ud;
    return EVP_DigestUpdate(ctx, data, len) == 1 ? 0 : SG_ERR_UNKNOWN;
}

static int sha512_final(void *ctx, signal_buffer **out, void *ud)
{
    (void)ud;
    uint8_t md[64];
    unsigned int n = 0;
    signal_buffer *b = NULL;
    if (EVP_DigestFinal_ex(ctx, md, &n) != 1 || n != sizeof md)
        return SG_ERR_UNKNOWN;
    /* leave the context ready for the next message (libsignal reuses it) */
    if (EVP_DigestInit_ex(ctx, sha512_md(), NULL) != 1)
        return SG_ERR_UNKNOWN;
    b = signal_buffer_create(md, sizeof md);
    if (b == NULL)
        return SG_ERR_NOMEM;
    *out = b;
    return 0;
}

static void sha512_cleanup(void *ctx, void *ud)
{
    (void)ud;
    EVP_MD_CTX_free(ctx);
}

static const EVP_CIPHER *pick_cipher(int cipher, size_t key_len)
{
    if (cipher == SG_CIPHER_AES_CBC_PKCS5) {
        if (key_len == 16)
            return EVP_aes_128_cbc();
        if (key_len == 24)
            return EVP_aes_192_cbc();
        if (key_len == 32)
            return EVP_aes_256_cbc();
    } else if (cipher == SG_CIPHER_AES_CTR_NOPADDING) {
        if (key_len == 16)
            return EVP_aes_128_ctr();
        if (key_len == 24)
            return EVP_aes_192_ctr();
        if (key_len == 32)
            return EVP_aes_256_ctr();
    }
    return NULL;
}

/* AES in CBC (PKCS#5 padding) or CTR (no padding), one shot. */
static int aes_run(signal_buffer **output, int cipher, const uint8_t *key, size_t key_len,
                   const uint8_t *iv, size_t iv_len, const uint8_t *in, size_t in_len, int enc)
{
    const EVP_CIPHER *c = pick_cipher(cipher, key_len);
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t *buf = NULL;
    size_t cap;
    int n1 = 0, n2 = 0, rc = SG_ERR_UNKNOWN;

    if (c == NULL || iv_len != 16 || in_len > (size_t)INT32_MAX - 32)
        return SG_ERR_INVAL;
    cap = in_len + 16;
    buf = malloc(cap);
    ctx = EVP_CIPHER_CTX_new();
    if (buf == NULL || ctx == NULL) {
        rc = SG_ERR_NOMEM;
        goto out;
    }
    if (EVP_CipherInit_ex(ctx, c, NULL, key, iv, enc) != 1)
        goto out;
    if (EVP_CipherUpdate(ctx, buf, &n1, in, (int)in_len) != 1)
        goto out;
    if (EVP_CipherFinal_ex(ctx, buf + n1, &n2) != 1)
        goto out; /* bad padding on decrypt */
    *output = signal_buffer_create(buf, (size_t)n1 + (size_t)n2);
    rc = *output ? 0 : SG_ERR_NOMEM;
out:
    if (buf != NULL) {
        sodium_memzero(buf, cap);
        free(buf);
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

static int encrypt_cb(signal_buffer **output, int cipher, const uint8_t *key, size_t key_len,
                      const uint8_t *iv, size_t iv_len, const uint8_t *pt, size_t pt_len, void *ud)
{
    (void)ud;
    return aes_run(output, cipher, key, key_len, iv, iv_len, pt, pt_len, 1);
}

static int decrypt_cb(signal_buffer **output, int cipher, const uint8_t *key, size_t key_len,
                      const uint8_t *iv, size_t iv_len, const uint8_t *ct, size_t ct_len, void *ud)
{
    (void)ud;
    return aes_run(output, cipher, key, key_len, iv, iv_len, ct, ct_len, 0);
}

static void lock_cb(void *ud)
{
    pthread_mutex_lock(ud);
}

static void unlock_cb(void *ud)
{
    pthread_mutex_unlock(ud);
}

ckv_status ckv_sg_context_create(pthread_mutex_t *lock, signal_context **out)
{
    signal_crypto_provider prov = {
        .random_func = random_cb,
        .hmac_sha256_init_func = hmac_init,
        .hmac_sha256_update_func = hmac_update,
        .hmac_sha256_final_func = hmac_final,
        .hmac_sha256_cleanup_func = hmac_cleanup,
        .sha512_digest_init_func = sha512_init,
        .sha512_digest_update_func = sha512_update,
        .sha512_digest_final_func = sha512_final,
        .sha512_digest_cleanup_func = sha512_cleanup,
        .encrypt_func = encrypt_cb,
        .decrypt_func = decrypt_cb,
        .user_data = NULL,
    };
    signal_context *ctx = NULL;
    pthread_mutexattr_t attr;

    if (sodium_init() < 0)
        return CKV_ERR_CRYPTO;
    if (pthread_mutexattr_init(&attr) != 0)
        return CKV_ERR_INTERNAL;
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    if (pthread_mutex_init(lock, &attr) != 0) {
        pthread_mutexattr_destroy(&attr);
        return CKV_ERR_INTERNAL;
    }
    pthread_mutexattr_destroy(&attr);
    if (signal_context_create(&ctx, lock) != 0) /* user data = the mutex */
        goto fail;
    if (signal_context_set_crypto_provider(ctx, &prov) != 0 ||
        signal_context_set_locking_functions(ctx, lock_cb, unlock_cb) != 0)
        goto fail;
    *out = ctx;
    return CKV_OK;
fail:
    signal_context_destroy(ctx);
    pthread_mutex_destroy(lock);
    return CKV_ERR_SIGNAL;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t global_lock;
static signal_context *global_ctx;

static void global_init(void)
{
    if (ckv_sg_context_create(&global_lock, &global_ctx) != CKV_OK)
        global_ctx = NULL;
}

signal_context *ckv_sg_global(void)
{
    pthread_once(&global_once, global_init);
    return global_ctx;
}

ckv_status ckv_sg_status(int r)
{
    switch (r) {
    case SG_SUCCESS:
        return CKV_OK;
    case SG_ERR_NOMEM:
        return CKV_ERR_NOMEM;
    case SG_ERR_DUPLICATE_MESSAGE:
        return CKV_ERR_DUPLICATE_MESSAGE;
    case SG_ERR_INVALID_MAC:
    case SG_ERR_INVALID_MESSAGE:
        return CKV_ERR_INVALID_MESSAGE;
    case SG_ERR_INVALID_KEY_ID:
        return CKV_ERR_NO_PREKEY;
    case SG_ERR_INVALID_PROTO_BUF:
    case SG_ERR_INVAL:
    case SG_ERR_INVALID_VERSION:
        return CKV_ERR_BAD_ENVELOPE;
    case SG_ERR_LEGACY_MESSAGE:
        return CKV_ERR_LEGACY_MESSAGE;
    case SG_ERR_NO_SESSION:
        return CKV_ERR_NO_SESSION;
    case SG_ERR_UNTRUSTED_IDENTITY:
        return CKV_ERR_UNTRUSTED_IDENTITY;
    case SG_ERR_INVALID_KEY:
        return CKV_ERR_BAD_BUNDLE;
    case SG_ERR_FP_VERSION_MISMATCH:
        return CKV_ERR_FINGERPRINT_VERSION;
    case SG_ERR_FP_IDENT_MISMATCH:
        return CKV_ERR_FINGERPRINT_IDENTITY;
    default:
        return CKV_ERR_SIGNAL;
    }
}
