/*
 * fingerprint.c: safety numbers, public codes and their comparison.
 *
 * The numeric fingerprint (Signal's NumericFingerprintGenerator, version 0
 * of the hash input, as in libsignal-protocol-c fingerprint.c):
 *     H0      = 0x00 0x00 || key (33 bytes) || identifier
 *     H(i+1)  = SHA-512(H(i) || key)             i = 0 .. iterations-1
 *     half    = six groups: big-endian uint40 of bytes [5j, 5j+5) mod 100000,
 *               printed as 5 digits                (30 digits)
 *     number  = the two halves, the smaller string first (60 digits)
 * Each half depends on one party only, so we compute halves ourselves:
 * every round after the first hashes exactly 97 bytes, one padded 128-byte
 * block, so we run OpenSSL's SHA-512 compression function alone on a block
 * whose padding never changes (about 0.25 us a round here), and we cache
 * our own half per open profile. A safety number then costs one half. The scannable form is built by
 * libsignal (scannable_fingerprint_create/serialize) from the first 32
 * bytes of each half's hash, for version 1 or 2; tests check both the
 * digits and the bytes against Signal's vectors and against libsignal's own
 * fingerprint generator.
 */
#include "internal.h"

/* SHA512_Transform (the bare compression function) is "deprecated" in
 * OpenSSL 3 but present; it is what makes 5200 iterations cheap. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <signal/fingerprint.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ITER_MAX 100000

/* SHA-512 initial hash value, FIPS 180-4 §5.3.5 */
static const uint64_t sha512_iv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};

ckv_status ckv_fingerprint_half(const char *id, const uint8_t key[33], unsigned iterations,
                                char digits[CKV_PUBLIC_CODE_DIGITS + 1], uint8_t scannable32[32])
{
    static const uint8_t version[2] = {0, 0};
    uint8_t block[128], h[64];
    SHA512_CTX ctx;
    size_t id_len;

    if (id == NULL || key == NULL || iterations < 1 || iterations > ITER_MAX)
        return CKV_ERR_INVALID_ARG;
    id_len = strlen(id);
    if (id_len > 1024)
        return CKV_ERR_INVALID_ARG;
    /* first round: H1 = SHA-512(version || key || id || key) */
    if (SHA512_Init(&ctx) != 1 || SHA512_Update(&ctx, version, 2) != 1 ||
        SHA512_Update(&ctx, key, 33) != 1 || SHA512_Update(&ctx, id, id_len) != 1 ||
        SHA512_Update(&ctx, key, 33) != 1 || SHA512_Final(h, &ctx) != 1)
        return CKV_ERR_CRYPTO;
    /* every later round hashes exactly 97 bytes (H || key): one padded block
     * (FIPS 180-4 §5.1.2: 0x80, zeros, 128-bit length 776), so we run the
     * compression function alone on a block whose tail never changes */
    memset(block, 0, sizeof block);
    memcpy(block, h, 64);
    memcpy(block + 64, key, 33);
    block[97] = 0x80;
    block[126] = (uint8_t)((97 * 8) >> 8);
    block[127] = (uint8_t)(97 * 8);
    for (unsigned i = 1; i < iterations; i++) {
        memcpy(ctx.h, sha512_iv, sizeof sha512_iv);
        SHA512_Transform(&ctx, block);
        for (int w = 0; w < 8; w++)
            for (int b = 0; b < 8; b++)
                block[8 * w + b] = (uint8_t)(ctx.h[w] >> (56 - 8 * b));
    }
    memcpy(h, block, 64);
    if (digits != NULL) {
        for (int g = 0; g < 6; g++) {
            const uint8_t *c = h + 5 * g;
            uint64_t v = ((uint64_t)c[0] << 32) | ((uint64_t)c[1] << 24) | ((uint64_t)c[2] << 16) |
                         ((uint64_t)c[3] << 8) | c[4];
            snprintf(digits + 5 * g, 6, "%05u", (unsigned)(v % 100000));
        }
        digits[30] = 0;
    }
    if (scannable32 != NULL)
        memcpy(scannable32, h, 32);
    sodium_memzero(&ctx, sizeof ctx);
    return CKV_OK;
}

static ckv_status make_scannable(unsigned version, const uint8_t local32[32],
                                 const uint8_t remote32[32], uint8_t *out, size_t *out_len)
{
    scannable_fingerprint *sf = NULL;
    signal_buffer *l = signal_buffer_create(local32, 32);
    signal_buffer *r = signal_buffer_create(remote32, 32);
    signal_buffer *ser = NULL;
    ckv_status st = CKV_ERR_SIGNAL;

    if (l == NULL || r == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    if (scannable_fingerprint_create(&sf, version, NULL, l, NULL, r) != 0 ||
        scannable_fingerprint_serialize(&ser, sf) != 0)
        goto out;
    if (signal_buffer_len(ser) > CKV_SCANNABLE_MAX) {
        st = CKV_ERR_INTERNAL;
        goto out;
    }
    memcpy(out, signal_buffer_data(ser), signal_buffer_len(ser));
    *out_len = signal_buffer_len(ser);
    st = CKV_OK;
out:
    signal_buffer_free(ser);
    signal_buffer_free(l);
    signal_buffer_free(r);
    SIGNAL_UNREF(sf);
    return st;
}

static ckv_status combine(const char local[31], const uint8_t local32[32], const char remote[31],
                          const uint8_t remote32[32], unsigned version, ckv_safety_number *out)
{
    ckv_safety_number sn;
    ckv_status st;
    memset(&sn, 0, sizeof sn);
    /* the smaller half first (libsignal displayable_fingerprint_create) */
    if (strcmp(local, remote) <= 0)
        snprintf(sn.digits, sizeof sn.digits, "%s%s", local, remote);
    else
        snprintf(sn.digits, sizeof sn.digits, "%s%s", remote, local);
    sn.scannable_version = version;
    st = make_scannable(version, local32, remote32, sn.scannable, &sn.scannable_len);
    if (st == CKV_OK)
        *out = sn;
    return st;
}

ckv_status ckv_fingerprint_compute(const char *local_id, const uint8_t local_key[33],
                                   const char *remote_id, const uint8_t remote_key[33],
                                   unsigned iterations, unsigned scannable_version,
                                   ckv_safety_number *out)
{
    char l[31], r[31];
    uint8_t l32[32], r32[32];
    ckv_status st;
    if (out == NULL || (scannable_version != 1 && scannable_version != 2))
        return CKV_ERR_INVALID_ARG;
    st = ckv_fingerprint_half(local_id, local_key, iterations, l, l32);
    if (st == CKV_OK)
        st = ckv_fingerprint_half(remote_id, remote_key, iterations, r, r32);
    if (st == CKV_OK)
        st = combine(l, l32, r, r32, scannable_version, out);
    return st;
}

ckv_status ckv_fingerprint_format(const char *digits, char *out, size_t out_len)
{
    size_t n, need, w = 0;
    if (digits == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    n = strlen(digits);
    if (n == 0 || n % 5 != 0)
        return CKV_ERR_INVALID_ARG;
    need = n + n / 5 - 1 + 1;
    if (out_len < need)
        return CKV_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && i % 5 == 0)
            out[w++] = ' ';
        out[w++] = digits[i];
    }
    out[w] = 0;
    return CKV_OK;
}

/* ---- per profile ---- */

/* Our half (digits and the 32 scannable bytes), computed once per open. */
static ckv_status own_half(ckv_profile *p)
{
    ckv_status st;
    if (p->has_public_code)
        return CKV_OK;
    st = ckv_fingerprint_half(p->account, p->identity_pub, CKV_FINGERPRINT_ITERATIONS,
                              p->public_code, p->public_scan32);
    if (st == CKV_OK)
        p->has_public_code = 1;
    return st;
}

ckv_status ckv_profile_public_code(ckv_profile *p, char out[CKV_PUBLIC_CODE_DIGITS + 1])
{
    ckv_status st;
    if (p == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    st = own_half(p);
    if (st == CKV_OK)
        memcpy(out, p->public_code, sizeof p->public_code);
    return st;
}

/* The contact's pinned key and their half. */
static ckv_status their_half(ckv_profile *p, const char *contact, char name[CKV_NAME_MAX + 1],
                             uint8_t key[33], char digits[31], uint8_t scan32[32])
{
    ckv_contact *c = NULL;
    ckv_status st = ckv_name_normalize(contact, name);
    if (st != CKV_OK)
        return st;
    st = ckv_contact_load(p, name, &c);
    if (st != CKV_OK)
        return st;
    memcpy(key, c->identity_key, 33);
    ckv_contact_free(c);
    return ckv_fingerprint_half(name, key, CKV_FINGERPRINT_ITERATIONS, digits, scan32);
}

ckv_status ckv_profile_safety_number(ckv_profile *p, const char *contact,
                                     unsigned scannable_version, ckv_safety_number *out,
                                     uint8_t contact_key[33])
{
    char name[CKV_NAME_MAX + 1], r[31];
    uint8_t key[33], r32[32];
    ckv_status st;

    if (p == NULL || contact == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (scannable_version == 0)
        scannable_version = CKV_SCANNABLE_VERSION;
    if (scannable_version != 1 && scannable_version != 2)
        return CKV_ERR_INVALID_ARG;
    st = own_half(p);
    if (st == CKV_OK)
        st = their_half(p, contact, name, key, r, r32);
    if (st == CKV_OK)
        st = combine(p->public_code, p->public_scan32, r, r32, scannable_version, out);
    if (st == CKV_OK && contact_key != NULL)
        memcpy(contact_key, key, 33);
    return st;
}

ckv_status ckv_profile_compare_code(ckv_profile *p, const char *contact, const char *code,
                                    ckv_code_compare *result, uint8_t contact_key[33])
{
    char given[61], name[CKV_NAME_MAX + 1], r[31];
    const char *expected;
    uint8_t key[33], r32[32];
    ckv_safety_number sn;
    ckv_code_compare cmp;
    size_t n = 0;
    ckv_status st;

    if (p == NULL || contact == NULL || code == NULL)
        return CKV_ERR_INVALID_ARG;
    for (const char *c = code; *c != '\0'; c++) {
        if (*c == ' ' || *c == '\t' || *c == '-' || *c == '\n' || *c == '\r')
            continue;
        if (*c < '0' || *c > '9' || n >= 60)
            return CKV_ERR_MALFORMED;
        given[n++] = *c;
    }
    given[n] = 0;
    if (n != 60 && n != 30)
        return CKV_ERR_MALFORMED;
    st = own_half(p);
    if (st == CKV_OK)
        st = their_half(p, contact, name, key, r, r32);
    if (st != CKV_OK)
        return st;
    if (n == 60) {
        st = combine(p->public_code, p->public_scan32, r, r32, CKV_SCANNABLE_VERSION, &sn);
        if (st != CKV_OK)
            return st;
        expected = sn.digits;
    } else {
        expected = r; /* the contact's own published half */
    }
    memset(&cmp, 0, sizeof cmp);
    cmp.kind = (int)n;
    for (size_t g = 0; g < n / 5; g++) {
        if (sodium_memcmp(given + 5 * g, expected + 5 * g, 5) != 0) {
            if (cmp.first_bad_group == 0)
                cmp.first_bad_group = (int)g + 1;
            cmp.n_bad_groups++;
        }
    }
    if (result != NULL)
        *result = cmp;
    if (contact_key != NULL)
        memcpy(contact_key, key, 33);
    return cmp.n_bad_groups == 0 ? CKV_OK : CKV_ERR_CODE_MISMATCH;
}

ckv_status ckv_profile_compare_scanned(ckv_profile *p, const char *contact,
                                       const uint8_t *scanned, size_t len,
                                       uint8_t contact_key[33])
{
    char name[CKV_NAME_MAX + 1], r[31];
    uint8_t key[33], r32[32];
    scannable_fingerprint *theirs = NULL, *ours = NULL;
    signal_buffer *l = NULL, *rb = NULL;
    signal_context *g = ckv_sg_global();
    uint32_t version;
    ckv_status st;
    int cr;

    if (p == NULL || contact == NULL || scanned == NULL)
        return CKV_ERR_INVALID_ARG;
    if (g == NULL)
        return CKV_ERR_SIGNAL;
    if (len == 0 || len > CKV_SCANNABLE_MAX ||
        scannable_fingerprint_deserialize(&theirs, scanned, len, g) != 0)
        return CKV_ERR_MALFORMED;
    version = scannable_fingerprint_get_version(theirs);
    if (version != 1 && version != 2) {
        st = CKV_ERR_FINGERPRINT_VERSION;
        goto out;
    }
    st = own_half(p);
    if (st == CKV_OK)
        st = their_half(p, contact, name, key, r, r32);
    if (st != CKV_OK)
        goto out;
    l = signal_buffer_create(p->public_scan32, 32);
    rb = signal_buffer_create(r32, 32);
    if (l == NULL || rb == NULL ||
        scannable_fingerprint_create(&ours, version, NULL, l, NULL, rb) != 0) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    cr = scannable_fingerprint_compare(ours, theirs);
    if (cr == 1)
        st = CKV_OK;
    else if (cr == 0)
        st = CKV_ERR_CODE_MISMATCH;
    else if (cr == SG_ERR_FP_VERSION_MISMATCH)
        st = CKV_ERR_FINGERPRINT_VERSION;
    else if (cr == SG_ERR_FP_IDENT_MISMATCH)
        st = CKV_ERR_FINGERPRINT_IDENTITY;
    else
        st = CKV_ERR_MALFORMED;
    if (st == CKV_OK && contact_key != NULL)
        memcpy(contact_key, key, 33);
out:
    signal_buffer_free(l);
    signal_buffer_free(rb);
    SIGNAL_UNREF(ours);
    SIGNAL_UNREF(theirs);
    return st;
}
