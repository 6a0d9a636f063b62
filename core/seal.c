/*
 * seal.c: sealing values at rest.
 *
 * Every secret or private value in a profile is stored as
 *     nonce (24 random bytes) || XChaCha20-Poly1305(key, nonce, AD, value)
 * with AD = "ckv1" || table tag (1 byte) || row key. The row key is what
 * identifies the row (a meta key name, a name hash and device id, a prekey
 * id, a message id ...), so a value moved to another row or table no longer
 * authenticates: rows cannot be swapped or replayed across tables
 * (XChaCha20-Poly1305 IETF, draft-irtf-cfrg-xchacha §2; libsodium
 * crypto_aead_xchacha20poly1305_ietf).
 */
#include "internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define AD_MAX 96

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
    randombytes_buf(buf, CKV_SEAL_NONCE);
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
