/*
 * provider.c: libsignal's crypto provider and lock, on libsodium and
 * OpenSSL.
 *
 * libsignal-protocol-c brings its own curve25519/XEdDSA code but asks the
 * application for random bytes, HMAC-SHA256, SHA-512 and AES. We give it:
 *   random       libsodium randombytes_buf
 *   HMAC-SHA256  RFC 2104 over OpenSSL's SHA-256 (SHA instructions)
 *   SHA-512      OpenSSL EVP (digest fetched once; ~1.5x libsodium here).
 *   (digests and ciphers are fetched once: OpenSSL 3's implicit fetch
 *   on every init would double the cost of small operations)
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

/* the low-level SHA-256 calls are "deprecated" in OpenSSL 3 but present
 * and much cheaper per call than EVP for HMAC's short inputs */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Digest and ciphers fetched once (OpenSSL 3 re-fetches implicitly on every
 * init when given EVP_sha512() and friends, which costs about as much as
 * the work itself here). */
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha512;
static EVP_CIPHER *ciphers[2][3]; /* [cbc, ctr][128, 192, 256] */

static void fetch_all(void)
{
    static const char *const names[2][3] = {{"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"},
                                            {"AES-128-CTR", "AES-192-CTR", "AES-256-CTR"}};
    md_sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 3; k++)
            ciphers[m][k] = EVP_CIPHER_fetch(NULL, names[m][k], NULL);
}

static const EVP_MD *sha512_md(void)
{
    pthread_once(&fetch_once, fetch_all);
    return md_sha512;
}

static int random_cb(uint8_t *data, size_t len, void *ud)
{
    (void)ud;
    randombytes_buf(data, len);
    return 0;
}

/* HMAC-SHA256 (RFC 2104) on OpenSSL's SHA-256, which uses the CPU's SHA
 * instructions here (about 3x libsodium's portable code; libsignal makes
 * several HMACs per message). */
struct hmac_ctx {
    SHA256_CTX inner;
    uint8_t opad_key[SHA256_CBLOCK]; /* K xor opad */
};

static int hmac_init(void **ctx, const uint8_t *key, size_t key_len, void *ud)
{
    (void)ud;
    uint8_t k[SHA256_CBLOCK], ipad[SHA256_CBLOCK];
    struct hmac_ctx *h = malloc(sizeof *h);
    if (h == NULL)
        return SG_ERR_NOMEM;
    memset(k, 0, sizeof k);
    if (key_len > SHA256_CBLOCK)
        SHA256(key, key_len, k); /* long keys are hashed first */
    else if (key_len > 0)
        memcpy(k, key, key_len);
    for (size_t i = 0; i < SHA256_CBLOCK; i++) {
        ipad[i] = k[i] ^ 0x36;
        h->opad_key[i] = k[i] ^ 0x5c;
    }
    SHA256_Init(&h->inner);
    SHA256_Update(&h->inner, ipad, sizeof ipad);
    sodium_memzero(k, sizeof k);
    sodium_memzero(ipad, sizeof ipad);
    *ctx = h;
    return 0;
}

static int hmac_update(void *ctx, const uint8_t *data, size_t len, void *ud)
{
    (void)ud;
    struct hmac_ctx *h = ctx;
    return SHA256_Update(&h->inner, data, len) == 1 ? 0 : SG_ERR_UNKNOWN;
}

static int hmac_final(void *ctx, signal_buffer **out, void *ud)
{
    (void)ud;
    struct hmac_ctx *h = ctx;
    uint8_t inner[SHA256_DIGEST_LENGTH], mac[SHA256_DIGEST_LENGTH];
    SHA256_CTX outer;
    signal_buffer *b;
    SHA256_Final(inner, &h->inner);
    SHA256_Init(&outer);
    SHA256_Update(&outer, h->opad_key, sizeof h->opad_key);
    SHA256_Update(&outer, inner, sizeof inner);
    SHA256_Final(mac, &outer);
    b = signal_buffer_create(mac, sizeof mac);
    sodium_memzero(inner, sizeof inner);
    sodium_memzero(mac, sizeof mac);
    sodium_memzero(&outer, sizeof outer);
    if (b == NULL)
        return SG_ERR_NOMEM;
    *out = b;
    return 0;
}

static void hmac_cleanup(void *ctx, void *ud)
{
    (void)ud;
    if (ctx != NULL) {
        sodium_memzero(ctx, sizeof(struct hmac_ctx));
        free(ctx);
    }
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
    int m = cipher == SG_CIPHER_AES_CBC_PKCS5 ? 0 : cipher == SG_CIPHER_AES_CTR_NOPADDING ? 1 : -1;
    int k = key_len == 16 ? 0 : key_len == 24 ? 1 : key_len == 32 ? 2 : -1;
    if (m < 0 || k < 0)
        return NULL;
    pthread_once(&fetch_once, fetch_all);
    return ciphers[m][k];
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
    (void)ckv_x25519_calls(); /* links x25519.c: libsignal's X25519 by libsodium */
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
