/*
 * seal.c: sealing values at rest.
 *
 * Every secret or private value in a profile is stored as
 *     nonce (24 bytes, unique) || XChaCha20-Poly1305(key, nonce, AD, value)
 * with AD = "ckv1" || table tag (1 byte) || row key. The row key is what
 * identifies the row (a meta key name, a name hash and device id, a prekey
 * id, a message id ...), so a value moved to another row or table no longer
 * authenticates: rows cannot be swapped or replayed across tables
 * (XChaCha20-Poly1305 IETF, draft-irtf-cfrg-xchacha §2; libsodium
 * crypto_aead_xchacha20poly1305_ietf).
 */
#include "internal.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define AD_MAX 96

/* Nonces: a random 16-byte prefix drawn once per process (again in a
 * forked child) followed by a 64-bit counter. Unique for every value this
 * process seals (XChaCha20's 192-bit nonce leaves room for the prefix to be
 * random), and one getrandom() per process instead of one per value: the
 * system call was a visible share of the cost of a message. */
static pthread_once_t nonce_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t nonce_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t nonce_prefix[16];
static uint64_t nonce_counter;

static void nonce_reseed(void)
{
    randombytes_buf(nonce_prefix, sizeof nonce_prefix);
    nonce_counter = 0;
}

static void nonce_init(void)
{
    nonce_reseed();
    pthread_atfork(NULL, NULL, nonce_reseed);
}

static void make_nonce(uint8_t out[CKV_SEAL_NONCE])
{
    uint64_t c;
    pthread_once(&nonce_once, nonce_init);
    pthread_mutex_lock(&nonce_lock);
    c = ++nonce_counter;
    memcpy(out, nonce_prefix, 16);
    pthread_mutex_unlock(&nonce_lock);
    for (int i = 0; i < 8; i++)
        out[16 + i] = (uint8_t)(c >> (56 - 8 * i));
}

static ckv_status make_ad(int table, const uint8_t *rowkey, size_t rowkey_len,
                          uint8_t ad[AD_MAX], size_t *ad_len)
{
    if (rowkey_len > AD_MAX - 5)
        return CKV_ERR_INTERNAL;
    memcpy(ad, "ckv1", 4);
    ad[4] = (uint8_t)table;
    if (rowkey_len > 0)
        memcpy(ad + 5, rowkey, rowkey_len);
    *ad_len = 5 + rowkey_len;
    return CKV_OK;
}

ckv_status ckv_seal(const uint8_t key[CKV_KEY_LEN], int table, const uint8_t *rowkey,
                    size_t rowkey_len, const uint8_t *in, size_t len, uint8_t **out,
                    size_t *out_len)
{
    uint8_t ad[AD_MAX];
    size_t ad_len = 0;
    unsigned long long clen = 0;
    uint8_t *buf = NULL;
    ckv_status st = make_ad(table, rowkey, rowkey_len, ad, &ad_len);

    if (st != CKV_OK)
        return st;
    if (len > SIZE_MAX - CKV_SEAL_OVERHEAD)
        return CKV_ERR_TOO_LARGE;
    buf = malloc(len + CKV_SEAL_OVERHEAD);
    if (buf == NULL)
        return CKV_ERR_NOMEM;
    make_nonce(buf);
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(buf + CKV_SEAL_NONCE, &clen, in, len, ad,
                                                   ad_len, NULL, buf, key) != 0) {
        free(buf);
        return CKV_ERR_CRYPTO;
    }
    *out = buf;
    *out_len = CKV_SEAL_NONCE + (size_t)clen;
    return CKV_OK;
}

ckv_status ckv_unseal(const uint8_t key[CKV_KEY_LEN], int table, const uint8_t *rowkey,
                      size_t rowkey_len, const uint8_t *in, size_t len, uint8_t **out,
                      size_t *out_len)
{
    uint8_t ad[AD_MAX];
    size_t ad_len = 0, plen;
    unsigned long long mlen = 0;
    uint8_t *buf = NULL;
    ckv_status st = make_ad(table, rowkey, rowkey_len, ad, &ad_len);

    if (st != CKV_OK)
        return st;
    if (in == NULL || len < CKV_SEAL_OVERHEAD)
        return CKV_ERR_PROFILE_DAMAGED;
    plen = len - CKV_SEAL_OVERHEAD;
    buf = malloc(plen + 1);
    if (buf == NULL)
        return CKV_ERR_NOMEM;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(buf, &mlen, NULL, in + CKV_SEAL_NONCE,
                                                   len - CKV_SEAL_NONCE, ad, ad_len, in,
                                                   key) != 0) {
        free(buf);
        return CKV_ERR_PROFILE_DAMAGED;
    }
    buf[mlen] = 0;
    *out = buf;
    *out_len = (size_t)mlen;
    return CKV_OK;
}

void ckv_wipe_free(void *ptr, size_t len)
{
    if (ptr == NULL)
        return;
    sodium_memzero(ptr, len);
    free(ptr);
}
