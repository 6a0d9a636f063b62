/*
 * note.c: C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, and
 * verification of tlog-cosignature v1 (c2sp.org/tlog-cosignature).
 *
 * Layout of a note:  text "\n" ( "— " name " " base64(keyid || sig) "\n" )+
 * The text ends in '\n' and the signature block starts after the LAST
 * "\n\n" of the note. Strictness: UTF-8 without control characters, lines
 * end in '\n', names obey the key-name rule, base64 is canonical standard
 * with padding, at most CKV_TLOG_NOTE_MAX_SIGS lines and
 * CKV_TLOG_NOTE_MAX_SIZE bytes.
 * Secrets: the signer's expanded key is a fixed array wiped on free.
 */
#include "ckv/tlog_note.h"
#include "ckv/utf8.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "note_internal.h"

#define EM_DASH "\xe2\x80\x94" /* U+2014, the signature line prefix */

struct ckv_tlog_signer {
    char name[CKV_TLOG_KEY_NAME_MAX + 1];
    uint32_t key_id;
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES]; /* secret: wiped on free */
};

struct ckv_tlog_verifier {
    char name[CKV_TLOG_KEY_NAME_MAX + 1];
    uint32_t key_id;
    uint8_t type; /* 0x01 Ed25519 note signer, 0x04 cosignature witness */
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
};

/* ---- text rules ---------------------------------------------------------- */

bool ckv_tlog_text_valid(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = ckv_utf8_decode(p + i, len - i, &cp);
        if (n == 0 || (cp < 0x20 && cp != '\n') || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
            return false; /* invalid UTF-8, a control character (but the line end) */
        i += n;
    }
    return true;
}

static bool unicode_space_at(const unsigned char *p, size_t left)
{
    if (left >= 2 && p[0] == 0xc2 && p[1] == 0xa0)
        return true; /* U+00A0 */
    if (left >= 3 && p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80)
        return true; /* U+1680 */
    if (left >= 3 && p[0] == 0xe2 && p[1] == 0x80 &&
        ((p[2] >= 0x80 && p[2] <= 0x8a) || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf))
        return true; /* U+2000-200A, 2028, 2029, 202F */
    if (left >= 3 && p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f)
        return true; /* U+205F */
    if (left >= 3 && p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80)
        return true; /* U+3000 */
    return false;
}

bool ckv_tlog_name_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > CKV_TLOG_KEY_NAME_MAX || !ckv_tlog_text_valid(s, len))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ' || s[i] == '+' || s[i] == '\n' ||
            unicode_space_at((const unsigned char *)s + i, len - i))
            return false;
    }
    return true;
}

bool ckv_tlog_b64_chars_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '='))
            return false;
    }
    return true;
}

/* ---- keys ------------------------------------------------------------------ */

/* SHA-256(name || 0x0A || type || pub)[0:4] big-endian, c2sp.org/signed-note */
uint32_t ckv_tlog_key_id(const char *name, uint8_t type, const uint8_t pub[CKV_TLOG_PUBKEY_SIZE])
{
    crypto_hash_sha256_state st;
    uint8_t md[32];
    const uint8_t sep[2] = {0x0a, type};
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
    crypto_hash_sha256_update(&st, sep, 2);
    crypto_hash_sha256_update(&st, pub, CKV_TLOG_PUBKEY_SIZE);
    crypto_hash_sha256_final(&st, md);
    return ((uint32_t)md[0] << 24) | ((uint32_t)md[1] << 16) | ((uint32_t)md[2] << 8) | md[3];
}

/* "<name>+<8 hex>+<base64(type||key32)>" into a malloc'd string */
static ckv_status key_string(const char *prefix, const char *name, uint32_t id, uint8_t type,
                             const uint8_t key[32], char **out)
{
    uint8_t raw[33];
    char b64[sodium_base64_ENCODED_LEN(33, sodium_base64_VARIANT_ORIGINAL)];
    raw[0] = type;
    memcpy(raw + 1, key, 32);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(raw, sizeof raw);
    size_t n = strlen(prefix) + strlen(name) + 1 + 8 + 1 + strlen(b64) + 1;
    char *s = malloc(n);
    if (s == NULL) {
        sodium_memzero(b64, sizeof b64);
        return CKV_ERR_NOMEM;
    }
    snprintf(s, n, "%s%s+%08x+%s", prefix, name, (unsigned)id, b64);
    sodium_memzero(b64, sizeof b64);
    *out = s;
    return CKV_OK;
}

/* Split "<name>+<hex8>+<b64>" (len bytes, trailing newline already removed)
 * into name, id and the 33 decoded bytes. */
static ckv_status key_split(const char *s, size_t len, char name[CKV_TLOG_KEY_NAME_MAX + 1],
                            uint32_t *id, uint8_t raw[33])
{
    const char *p1 = memchr(s, '+', len);
    if (p1 == NULL)
        return CKV_ERR_TLOG_BAD_KEY;
    size_t nlen = (size_t)(p1 - s);
    const char *rest = p1 + 1;
    size_t rlen = len - nlen - 1;
    if (!ckv_tlog_name_valid(s, nlen) || rlen < 10 || rest[8] != '+')
        return CKV_ERR_TLOG_BAD_KEY;
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        char c = rest[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return CKV_ERR_TLOG_BAD_KEY;
        v = (v << 4) | d;
    }
    size_t blen = 0;
    const char *end = NULL;
    if (rlen - 9 != 44 || !ckv_tlog_b64_chars_valid(rest + 9, 44) ||
        sodium_base642bin(raw, 33, rest + 9, rlen - 9, NULL, &blen, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        blen != 33 || end != rest + rlen)
        return CKV_ERR_TLOG_BAD_KEY;
    memcpy(name, s, nlen);
    name[nlen] = '\0';
    *id = v;
    return CKV_OK;
}

/* strip one trailing "\n" or "\r\n" */
static size_t chomp(const char *s, size_t len)
{
    if (len > 0 && s[len - 1] == '\n') {
        len--;
        if (len > 0 && s[len - 1] == '\r')
            len--;
    }
    return len;
}

ckv_status ckv_tlog_signer_from_seed(const char *name, const uint8_t seed[CKV_TLOG_SEED_SIZE],
                                     char **skey_out, char **vkey_out)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char *skey = NULL, *vkey = NULL;
    ckv_status st;
    if (name == NULL || seed == NULL || !ckv_tlog_name_valid(name, strlen(name)))
        return CKV_ERR_INVALID_ARG;
    if (sodium_init() < 0)
        return CKV_ERR_CRYPTO;
    if (crypto_sign_seed_keypair(pk, sk, seed) != 0) {
        st = CKV_ERR_CRYPTO;
        goto out;
    }
    uint32_t id = ckv_tlog_key_id(name, CKV_TLOG_KEY_TYPE_ED25519, pk);
    st = key_string("PRIVATE+KEY+", name, id, CKV_TLOG_KEY_TYPE_ED25519, seed, &skey);
    if (st == CKV_OK)
        st = key_string("", name, id, CKV_TLOG_KEY_TYPE_ED25519, pk, &vkey);
    if (st != CKV_OK)
        goto out;
    if (skey_out) {
        *skey_out = skey;
        skey = NULL;
    }
    if (vkey_out) {
        *vkey_out = vkey;
        vkey = NULL;
    }
out:
    if (skey) {
        sodium_memzero(skey, strlen(skey));
        free(skey);
    }
    free(vkey);
    sodium_memzero(sk, sizeof sk);
    return st;
}

ckv_status ckv_tlog_signer_generate(const char *name, char **skey_out, char **vkey_out)
{
    uint8_t seed[CKV_TLOG_SEED_SIZE];
    if (sodium_init() < 0)
        return CKV_ERR_CRYPTO;
    randombytes_buf(seed, sizeof seed);
    ckv_status st = ckv_tlog_signer_from_seed(name, seed, skey_out, vkey_out);
    sodium_memzero(seed, sizeof seed);
    return st;
}

ckv_status ckv_tlog_signer_parse(const char *skey, size_t len, ckv_tlog_signer **out)
{
    static const char prefix[] = "PRIVATE+KEY+";
    uint8_t raw[33];
    ckv_tlog_signer *s = NULL;
    ckv_status st = CKV_ERR_TLOG_BAD_KEY;
    if (skey == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (len > 1024)
        return CKV_ERR_TLOG_BAD_KEY;
    if (sodium_init() < 0) /* sodium_malloc needs it; idempotent */
        return CKV_ERR_CRYPTO;
    len = chomp(skey, len);
    if (len < sizeof prefix - 1 || memcmp(skey, prefix, sizeof prefix - 1) != 0)
        return CKV_ERR_TLOG_BAD_KEY;
    s = sodium_malloc(sizeof *s);
    if (s == NULL)
        return CKV_ERR_NOMEM;
    st = key_split(skey + sizeof prefix - 1, len - (sizeof prefix - 1), s->name, &s->key_id, raw);
    if (st != CKV_OK)
        goto out;
    if (raw[0] != CKV_TLOG_KEY_TYPE_ED25519 ||
        crypto_sign_seed_keypair(s->pk, s->sk, raw + 1) != 0 ||
        ckv_tlog_key_id(s->name, CKV_TLOG_KEY_TYPE_ED25519, s->pk) != s->key_id) {
        st = CKV_ERR_TLOG_BAD_KEY;
        goto out;
    }
    *out = s;
    s = NULL;
    st = CKV_OK;
out:
    sodium_memzero(raw, sizeof raw);
    ckv_tlog_signer_free(s);
    return st;
}

void ckv_tlog_signer_free(ckv_tlog_signer *s)
{
    if (s == NULL)
        return;
    sodium_free(s); /* sodium_free wipes the memory */
}

const char *ckv_tlog_signer_name(const ckv_tlog_signer *s)
{
    return s->name;
}

uint32_t ckv_tlog_signer_key_id(const ckv_tlog_signer *s)
{
    return s->key_id;
}

ckv_status ckv_tlog_signer_vkey(const ckv_tlog_signer *s, char **vkey_out)
{
    if (s == NULL || vkey_out == NULL)
        return CKV_ERR_INVALID_ARG;
    return key_string("", s->name, s->key_id, CKV_TLOG_KEY_TYPE_ED25519, s->pk, vkey_out);
}

ckv_status ckv_tlog_verifier_parse(const char *vkey, size_t len, ckv_tlog_verifier **out)
{
    uint8_t raw[33];
    ckv_tlog_verifier v;
    ckv_status st;
    if (vkey == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (len > 1024)
        return CKV_ERR_TLOG_BAD_KEY;
    len = chomp(vkey, len);
    st = key_split(vkey, len, v.name, &v.key_id, raw);
    if (st != CKV_OK)
        return st;
    if (raw[0] != CKV_TLOG_KEY_TYPE_ED25519 && raw[0] != CKV_TLOG_KEY_TYPE_COSIGNATURE)
        return CKV_ERR_TLOG_BAD_KEY;
    v.type = raw[0];
    memcpy(v.pk, raw + 1, 32);
    if (ckv_tlog_key_id(v.name, v.type, v.pk) != v.key_id)
        return CKV_ERR_TLOG_BAD_KEY;
    ckv_tlog_verifier *p = malloc(sizeof *p);
    if (p == NULL)
        return CKV_ERR_NOMEM;
    *p = v;
    *out = p;
    return CKV_OK;
}

void ckv_tlog_verifier_free(ckv_tlog_verifier *v)
{
    free(v);
}

const char *ckv_tlog_verifier_name(const ckv_tlog_verifier *v)
{
    return v->name;
}

uint32_t ckv_tlog_verifier_key_id(const ckv_tlog_verifier *v)
{
    return v->key_id;
}

uint8_t ckv_tlog_verifier_type(const ckv_tlog_verifier *v)
{
    return v->type;
}

/* ---- signing ------------------------------------------------------------------- */

ckv_status ckv_tlog_note_sign(const char *text, size_t text_len, const ckv_tlog_signer *s,
                              char **note_out, size_t *note_len)
{
    uint8_t raw[4 + crypto_sign_BYTES];
    char b64[sodium_base64_ENCODED_LEN(sizeof raw, sodium_base64_VARIANT_ORIGINAL)];
    if (text == NULL || s == NULL || note_out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (text_len == 0 || text_len > CKV_TLOG_NOTE_MAX_SIZE / 2 || text[text_len - 1] != '\n' ||
        !ckv_tlog_text_valid(text, text_len))
        return CKV_ERR_TLOG_BAD_NOTE;
    raw[0] = (uint8_t)(s->key_id >> 24);
    raw[1] = (uint8_t)(s->key_id >> 16);
    raw[2] = (uint8_t)(s->key_id >> 8);
    raw[3] = (uint8_t)s->key_id;
    /* Ed25519 over the text, including its final newline (signed-note) */
    if (crypto_sign_detached(raw + 4, NULL, (const uint8_t *)text, text_len, s->sk) != 0)
        return CKV_ERR_CRYPTO;
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    size_t n = text_len + 1 + strlen(EM_DASH " ") + strlen(s->name) + 1 + strlen(b64) + 1;
    char *note = malloc(n + 1);
    if (note == NULL)
        return CKV_ERR_NOMEM;
    memcpy(note, text, text_len);
    int k = snprintf(note + text_len, n + 1 - text_len, "\n" EM_DASH " %s %s\n", s->name, b64);
    if (k < 0 || (size_t)k != n - text_len) {
        free(note);
        return CKV_ERR_INTERNAL;
    }
    *note_out = note;
    if (note_len)
        *note_len = n;
    return CKV_OK;
}

/* ---- opening ---------------------------------------------------------------------- */

/* Verify one signature (decoded bytes after the key id) for verifier v. */
static ckv_status verify_sig(const ckv_tlog_verifier *v, const char *text, size_t text_len,
                             const uint8_t *sig, size_t sig_len, uint64_t *time_out)
{
    if (v->type == CKV_TLOG_KEY_TYPE_ED25519) {
        if (sig_len != crypto_sign_BYTES)
            return CKV_ERR_TLOG_BAD_SIGNATURE;
        if (crypto_sign_verify_detached(sig, (const uint8_t *)text, text_len, v->pk) != 0)
            return CKV_ERR_TLOG_BAD_SIGNATURE;
        *time_out = 0;
        return CKV_OK;
    }
    /* tlog-cosignature v1: timestamp[8] || Ed25519("cosignature/v1\ntime T\n" || text) */
    if (sig_len != 8 + crypto_sign_BYTES)
        return CKV_ERR_TLOG_BAD_SIGNATURE;
    uint64_t t = 0;
    for (int i = 0; i < 8; i++)
        t = (t << 8) | sig[i];
    char head[64];
    int hn = snprintf(head, sizeof head, "cosignature/v1\ntime %llu\n", (unsigned long long)t);
    if (hn < 0 || (size_t)hn >= sizeof head)
        return CKV_ERR_INTERNAL;
    uint8_t *msg = malloc((size_t)hn + text_len);
    if (msg == NULL)
        return CKV_ERR_NOMEM;
    memcpy(msg, head, (size_t)hn);
    memcpy(msg + hn, text, text_len);
    int bad = crypto_sign_verify_detached(sig + 8, msg, (size_t)hn + text_len, v->pk);
    free(msg);
    if (bad)
        return CKV_ERR_TLOG_BAD_SIGNATURE;
    *time_out = t;
    return CKV_OK;
}

ckv_status ckv_tlog_note_open(const char *note, size_t len,
                              const ckv_tlog_verifier *const *verifiers, size_t n,
                              ckv_tlog_note **out)
{
    ckv_tlog_note *res = NULL;
    ckv_status st = CKV_ERR_TLOG_BAD_NOTE;
    bool used[CKV_TLOG_NOTE_MAX_SIGS] = {false};
    if (note == NULL || out == NULL || (verifiers == NULL && n > 0))
        return CKV_ERR_INVALID_ARG;
    if (len > CKV_TLOG_NOTE_MAX_SIZE)
        return CKV_ERR_TOO_LARGE;
    if (n > CKV_TLOG_NOTE_MAX_SIGS)
        return CKV_ERR_INVALID_ARG;
    if (!ckv_tlog_text_valid(note, len) || len < 2 || note[len - 1] != '\n')
        return CKV_ERR_TLOG_BAD_NOTE;
    /* the signature block starts after the last "\n\n" */
    size_t split = len;
    for (size_t i = len - 1; i-- > 0;) {
        if (note[i] == '\n' && note[i + 1] == '\n') {
            split = i;
            break;
        }
    }
    if (split == len)
        return CKV_ERR_TLOG_BAD_NOTE;
    size_t text_len = split + 1; /* text includes its final newline */
    res = calloc(1, sizeof *res);
    if (res == NULL)
        return CKV_ERR_NOMEM;
    size_t p = split + 2, nsigs = 0;
    if (p >= len)
        goto out; /* no signature lines */
    while (p < len) {
        const char *line = note + p;
        const char *eol = memchr(line, '\n', len - p);
        size_t llen = (size_t)(eol - line); /* eol exists: note ends in '\n' */
        p += llen + 1;
        if (++nsigs > CKV_TLOG_NOTE_MAX_SIGS)
            goto out;
        /* "— " name " " base64 */
        if (llen < 4 || memcmp(line, EM_DASH " ", 4) != 0)
            goto out;
        const char *name = line + 4;
        const char *sp = memchr(name, ' ', llen - 4);
        if (sp == NULL)
            goto out;
        size_t nlen = (size_t)(sp - name);
        const char *b64 = sp + 1;
        size_t blen = llen - 4 - nlen - 1;
        if (!ckv_tlog_name_valid(name, nlen) || blen == 0 || blen > 4 * ((4 + 8 + 64 + 2) / 3) + 4)
            goto out;
        uint8_t raw[128];
        size_t rlen = 0;
        const char *end = NULL;
        if (!ckv_tlog_b64_chars_valid(b64, blen) ||
            sodium_base642bin(raw, sizeof raw, b64, blen, NULL, &rlen, &end,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            end != b64 + blen || rlen < 5)
            goto out;
        uint32_t id =
            ((uint32_t)raw[0] << 24) | ((uint32_t)raw[1] << 16) | ((uint32_t)raw[2] << 8) | raw[3];
        size_t k;
        for (k = 0; k < n; k++) {
            const ckv_tlog_verifier *v = verifiers[k];
            if (v->key_id == id && strlen(v->name) == nlen && memcmp(v->name, name, nlen) == 0)
                break;
        }
        if (k == n) {
            res->nunverified++; /* unknown signer: ignored */
            continue;
        }
        if (used[k])
            goto out; /* the same known key twice */
        used[k] = true;
        uint64_t t = 0;
        st = verify_sig(verifiers[k], note, text_len, raw + 4, rlen - 4, &t);
        if (st != CKV_OK)
            goto out;
        st = CKV_ERR_TLOG_BAD_NOTE;
        res->verified[res->nverified] = verifiers[k];
        res->cosig_time[res->nverified] = t;
        res->nverified++;
    }
    if (res->nverified == 0) {
        st = CKV_ERR_TLOG_NO_SIGNATURE;
        goto out;
    }
    res->text = malloc(text_len + 1);
    if (res->text == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    memcpy(res->text, note, text_len);
    res->text[text_len] = '\0';
    res->text_len = text_len;
    *out = res;
    res = NULL;
    st = CKV_OK;
out:
    ckv_tlog_note_free(res);
    return st;
}

void ckv_tlog_note_free(ckv_tlog_note *note)
{
    if (note == NULL)
        return;
    free(note->text);
    free(note);
}

/* ---- witness cosignatures ------------------------------------------------ */

ckv_status ckv_tlog_cosigner_vkey(const char *name, const uint8_t seed[CKV_TLOG_SEED_SIZE],
                                  char **vkey_out)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    ckv_status st;
    if (name == NULL || seed == NULL || vkey_out == NULL ||
        !ckv_tlog_name_valid(name, strlen(name)))
        return CKV_ERR_INVALID_ARG;
    if (sodium_init() < 0 || crypto_sign_seed_keypair(pk, sk, seed) != 0) {
        sodium_memzero(sk, sizeof sk);
        return CKV_ERR_CRYPTO;
    }
    sodium_memzero(sk, sizeof sk);
    st = key_string("", name, ckv_tlog_key_id(name, CKV_TLOG_KEY_TYPE_COSIGNATURE, pk),
                    CKV_TLOG_KEY_TYPE_COSIGNATURE, pk, vkey_out);
    return st;
}

ckv_status ckv_tlog_note_cosign(const char *note, size_t len, const char *name,
                                const uint8_t seed[CKV_TLOG_SEED_SIZE], uint64_t timestamp,
                                char **note_out, size_t *note_len)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    uint8_t raw[4 + 8 + crypto_sign_BYTES];
    char b64[sodium_base64_ENCODED_LEN(sizeof raw, sodium_base64_VARIANT_ORIGINAL)];
    char head[64];
    uint8_t *msg = NULL;
    char *out = NULL;
    ckv_status st = CKV_ERR_TLOG_BAD_NOTE;
    if (note == NULL || name == NULL || seed == NULL || note_out == NULL ||
        !ckv_tlog_name_valid(name, strlen(name)))
        return CKV_ERR_INVALID_ARG;
    if (len > CKV_TLOG_NOTE_MAX_SIZE / 2 || len < 2 || note[len - 1] != '\n' ||
        !ckv_tlog_text_valid(note, len))
        return CKV_ERR_TLOG_BAD_NOTE;
    /* the text ends at the last "\n\n" (signed-note) */
    size_t split = len;
    for (size_t i = len - 1; i-- > 0;) {
        if (note[i] == '\n' && note[i + 1] == '\n') {
            split = i;
            break;
        }
    }
    if (split == len)
        return CKV_ERR_TLOG_BAD_NOTE;
    size_t text_len = split + 1;
    if (sodium_init() < 0 || crypto_sign_seed_keypair(pk, sk, seed) != 0) {
        st = CKV_ERR_CRYPTO;
        goto out;
    }
    uint32_t id = ckv_tlog_key_id(name, CKV_TLOG_KEY_TYPE_COSIGNATURE, pk);
    int hn =
        snprintf(head, sizeof head, "cosignature/v1\ntime %llu\n", (unsigned long long)timestamp);
    msg = malloc((size_t)hn + text_len);
    if (msg == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    memcpy(msg, head, (size_t)hn);
    memcpy(msg + hn, note, text_len);
    for (int i = 0; i < 4; i++)
        raw[i] = (uint8_t)(id >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        raw[4 + i] = (uint8_t)(timestamp >> (56 - 8 * i));
    if (crypto_sign_detached(raw + 12, NULL, msg, (size_t)hn + text_len, sk) != 0) {
        st = CKV_ERR_CRYPTO;
        goto out;
    }
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    size_t n = len + strlen(EM_DASH " ") + strlen(name) + 1 + strlen(b64) + 1;
    out = malloc(n + 1);
    if (out == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    memcpy(out, note, len);
    snprintf(out + len, n + 1 - len, EM_DASH " %s %s\n", name, b64);
    *note_out = out;
    if (note_len)
        *note_len = n;
    out = NULL;
    st = CKV_OK;
out:
    sodium_memzero(sk, sizeof sk);
    free(msg);
    free(out);
    return st;
}
