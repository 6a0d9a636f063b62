/*
 * entry.c: the directory entry codec and chain rules (include/ckv/dir_entry.h,
 * docs/directory.md).
 *
 * Parsing is strict by construction: the parser reads each expected line in
 * order, then re-encodes what it read and requires the bytes to be
 * identical to the input. So there is exactly one accepted encoding of an
 * entry, whatever liberties a field parser might take (leading zeros,
 * non-canonical base64, stray spaces).
 */
#include "ckv/dir_entry.h"

#include "ckv/tlog_hash.h"

#include <sodium.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAGIC "ckv-directory-entry/v1"
#define CTX_POP "ckv directory entry: proof of possession v1\n"
#define CTX_ROT "ckv directory entry: rotation by previous key v1\n"

const char *ckv_dir_type_name(ckv_dir_type t)
{
    switch (t) {
    case CKV_DIR_REGISTER:
        return "register";
    case CKV_DIR_ROTATE:
        return "rotate";
    case CKV_DIR_RESET:
        return "reset";
    }
    return "?";
}

static int valid_origin(const char *o)
{
    size_t n = strlen(o);
    if (n == 0 || n > CKV_DIR_ORIGIN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)o[i];
        if (c <= 0x20 || c >= 0x7f) /* printable ASCII, no spaces (C2SP origin) */
            return 0;
    }
    return 1;
}

static int fields_ok(const ckv_dir_entry *e)
{
    char norm[CKV_NAME_MAX + 1];
    if (!valid_origin(e->origin))
        return 0;
    if (ckv_name_normalize(e->name, norm) != CKV_OK || strcmp(norm, e->name) != 0)
        return 0;
    if (e->type != CKV_DIR_REGISTER && e->type != CKV_DIR_ROTATE && e->type != CKV_DIR_RESET)
        return 0;
    if (e->version == 0 || e->time < 0 || e->key[0] != 0x05)
        return 0;
    /* version 1 <=> register <=> no previous entry */
    if ((e->version == 1) != (e->type == CKV_DIR_REGISTER) || (e->version == 1) == !!e->has_prev)
        return 0;
    if (!!e->has_old_sig != (e->type == CKV_DIR_ROTATE))
        return 0;
    return 1;
}

/* Append printf output; fails when it does not fit. */
static int put(char *buf, size_t cap, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int put(char *buf, size_t cap, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, cap - *pos, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *pos)
        return 0;
    *pos += (size_t)n;
    return 1;
}

static void b64(char *out, size_t outlen, const uint8_t *in, size_t len)
{
    sodium_bin2base64(out, outlen, in, len, sodium_base64_VARIANT_ORIGINAL);
}

ckv_status ckv_dir_entry_body(const ckv_dir_entry *e, char *buf, size_t cap, size_t *len_out)
{
    char key[sodium_base64_ENCODED_LEN(33, sodium_base64_VARIANT_ORIGINAL)];
    char ph[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
    size_t pos = 0;

    if (!e || !buf || !len_out || cap == 0)
        return CKV_ERR_INVALID_ARG;
    if (!fields_ok(e))
        return CKV_ERR_INVALID_ARG;
    b64(key, sizeof(key), e->key, CKV_IDENTITY_KEY_LEN);
    buf[0] = 0;
    if (!put(buf, cap, &pos, MAGIC "\norigin %s\nname %s\ntype %s\nversion %llu\nkey %s\n",
             e->origin, e->name, ckv_dir_type_name(e->type), (unsigned long long)e->version,
             key))
        return CKV_ERR_TOO_LARGE;
    if (e->has_prev) {
        b64(ph, sizeof(ph), e->prev_hash, 32);
        if (!put(buf, cap, &pos, "prev-index %llu\nprev-hash %s\n",
                 (unsigned long long)e->prev_index, ph))
            return CKV_ERR_TOO_LARGE;
    } else if (!put(buf, cap, &pos, "prev-index -\nprev-hash -\n")) {
        return CKV_ERR_TOO_LARGE;
    }
    if (!put(buf, cap, &pos, "time %lld\n", (long long)e->time))
        return CKV_ERR_TOO_LARGE;
    *len_out = pos;
    return CKV_OK;
}

ckv_status ckv_dir_entry_encode(const ckv_dir_entry *e, char *buf, size_t cap, size_t *len_out)
{
    char sig[sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)];
    size_t pos = 0;
    ckv_status st = ckv_dir_entry_body(e, buf, cap, &pos);
    if (st != CKV_OK)
        return st;
    b64(sig, sizeof(sig), e->pop, 64);
    if (!put(buf, cap, &pos, "pop %s\n", sig))
        return CKV_ERR_TOO_LARGE;
    if (e->has_old_sig) {
        b64(sig, sizeof(sig), e->old_sig, 64);
        if (!put(buf, cap, &pos, "old-sig %s\n", sig))
            return CKV_ERR_TOO_LARGE;
    }
    *len_out = pos;
    return CKV_OK;
}

/* --- parsing ----------------------------------------------------------- */

struct cursor {
    const char *p, *end;
};

/* Take the next line, which must start with `key ` (or equal key when key
 * ends the line, for the magic). Sets val and vlen to the rest of the line. */
static int take_line(struct cursor *c, const char *key, const char **val, size_t *vlen)
{
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    if (!nl)
        return 0;
    size_t klen = strlen(key);
    size_t llen = (size_t)(nl - c->p);
    if (!val) {
        if (llen != klen || memcmp(c->p, key, klen) != 0)
            return 0;
    } else {
        if (llen < klen + 2 || memcmp(c->p, key, klen) != 0 || c->p[klen] != ' ')
            return 0;
        *val = c->p + klen + 1;
        *vlen = llen - klen - 1;
    }
    c->p = nl + 1;
    return 1;
}

static int peek_key(const struct cursor *c, const char *key)
{
    size_t klen = strlen(key);
    return (size_t)(c->end - c->p) > klen && memcmp(c->p, key, klen) == 0 && c->p[klen] == ' ';
}

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 20)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

static int parse_b64(const char *s, size_t n, uint8_t *out, size_t want)
{
    size_t got = 0;
    if (sodium_base642bin(out, want, s, n, NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) !=
            0 ||
        got != want)
        return 0;
    return 1;
}

static int copy_str(const char *s, size_t n, char *out, size_t cap)
{
    if (n >= cap || memchr(s, 0, n))
        return 0;
    memcpy(out, s, n);
    out[n] = 0;
    return 1;
}

ckv_status ckv_dir_entry_parse(const uint8_t *data, size_t len, ckv_dir_entry *out)
{
    ckv_dir_entry e;
    struct cursor c;
    const char *v;
    size_t vn;
    uint64_t u;
    char re[CKV_DIR_ENTRY_MAX + 1];
    size_t relen = 0;

    if (!data || !out)
        return CKV_ERR_INVALID_ARG;
    if (len > CKV_DIR_ENTRY_MAX)
        return CKV_ERR_TOO_LARGE;
    memset(&e, 0, sizeof(e));
    c.p = (const char *)data;
    c.end = c.p + len;

    if (!take_line(&c, MAGIC, NULL, NULL))
        return CKV_ERR_DIR_BAD_ENTRY;
    if (!take_line(&c, "origin", &v, &vn) || !copy_str(v, vn, e.origin, sizeof(e.origin)))
        return CKV_ERR_DIR_BAD_ENTRY;
    if (!take_line(&c, "name", &v, &vn) || !copy_str(v, vn, e.name, sizeof(e.name)))
        return CKV_ERR_DIR_BAD_ENTRY;
    if (!take_line(&c, "type", &v, &vn))
        return CKV_ERR_DIR_BAD_ENTRY;
    if (vn == 8 && memcmp(v, "register", 8) == 0)
        e.type = CKV_DIR_REGISTER;
    else if (vn == 6 && memcmp(v, "rotate", 6) == 0)
        e.type = CKV_DIR_ROTATE;
    else if (vn == 5 && memcmp(v, "reset", 5) == 0)
        e.type = CKV_DIR_RESET;
    else
        return CKV_ERR_DIR_BAD_ENTRY;
    if (!take_line(&c, "version", &v, &vn) || !parse_u64(v, vn, &e.version))
        return CKV_ERR_DIR_BAD_ENTRY;
    if (!take_line(&c, "key", &v, &vn) || !parse_b64(v, vn, e.key, CKV_IDENTITY_KEY_LEN))
        return CKV_ERR_DIR_BAD_ENTRY;
    if (ckv_xeddsa_check_key(e.key) != CKV_OK) /* canonical, not of small order */
        return CKV_ERR_DIR_BAD_KEY;
    if (!take_line(&c, "prev-index", &v, &vn))
        return CKV_ERR_DIR_BAD_ENTRY;
    if (vn == 1 && v[0] == '-') {
        if (!take_line(&c, "prev-hash", &v, &vn) || vn != 1 || v[0] != '-')
            return CKV_ERR_DIR_BAD_ENTRY;
    } else {
        e.has_prev = 1;
        if (!parse_u64(v, vn, &e.prev_index))
            return CKV_ERR_DIR_BAD_ENTRY;
        if (!take_line(&c, "prev-hash", &v, &vn) || !parse_b64(v, vn, e.prev_hash, 32))
            return CKV_ERR_DIR_BAD_ENTRY;
    }
    if (!take_line(&c, "time", &v, &vn) || !parse_u64(v, vn, &u) || u > (uint64_t)INT64_MAX)
        return CKV_ERR_DIR_BAD_ENTRY;
    e.time = (int64_t)u;
    if (!take_line(&c, "pop", &v, &vn) || !parse_b64(v, vn, e.pop, CKV_XEDDSA_SIG_LEN))
        return CKV_ERR_DIR_BAD_ENTRY;
    if (peek_key(&c, "old-sig")) {
        if (!take_line(&c, "old-sig", &v, &vn) || !parse_b64(v, vn, e.old_sig, CKV_XEDDSA_SIG_LEN))
            return CKV_ERR_DIR_BAD_ENTRY;
        e.has_old_sig = 1;
    }
    if (c.p != c.end)
        return CKV_ERR_DIR_BAD_ENTRY;
    if (!fields_ok(&e))
        return CKV_ERR_DIR_BAD_ENTRY;
    /* Canonical: re-encoding must give back the very same bytes. */
    if (ckv_dir_entry_encode(&e, re, sizeof(re), &relen) != CKV_OK || relen != len ||
        memcmp(re, data, len) != 0)
        return CKV_ERR_NONCANONICAL;
    *out = e;
    return CKV_OK;
}

/* --- signatures and chains -------------------------------------------- */

static ckv_status signed_message(const ckv_dir_entry *e, const char *ctx, uint8_t *msg,
                                 size_t cap, size_t *len)
{
    size_t clen = strlen(ctx), blen = 0;
    if (cap <= clen)
        return CKV_ERR_TOO_LARGE;
    memcpy(msg, ctx, clen);
    ckv_status st = ckv_dir_entry_body(e, (char *)msg + clen, cap - clen, &blen);
    if (st != CKV_OK)
        return st;
    *len = clen + blen;
    return CKV_OK;
}

ckv_status ckv_dir_entry_sign_pop(ckv_dir_entry *e, const uint8_t priv[CKV_PRIVATE_KEY_LEN])
{
    uint8_t msg[CKV_DIR_ENTRY_MAX + 128];
    uint8_t pub[CKV_IDENTITY_KEY_LEN];
    size_t len = 0;
    ckv_status st;

    if (!e || !priv)
        return CKV_ERR_INVALID_ARG;
    if ((st = ckv_xeddsa_public_key(priv, pub)) != CKV_OK)
        return st;
    if (sodium_memcmp(pub, e->key, CKV_IDENTITY_KEY_LEN) != 0)
        return CKV_ERR_INVALID_ARG; /* the private key is not the entry's key */
    if ((st = signed_message(e, CTX_POP, msg, sizeof(msg), &len)) != CKV_OK)
        return st;
    return ckv_xeddsa_sign(priv, msg, len, e->pop);
}

ckv_status ckv_dir_entry_sign_rotation(ckv_dir_entry *e,
                                       const uint8_t old_priv[CKV_PRIVATE_KEY_LEN])
{
    uint8_t msg[CKV_DIR_ENTRY_MAX + 128];
    size_t len = 0;
    ckv_status st;

    if (!e || !old_priv || e->type != CKV_DIR_ROTATE)
        return CKV_ERR_INVALID_ARG;
    e->has_old_sig = 1;
    if ((st = signed_message(e, CTX_ROT, msg, sizeof(msg), &len)) != CKV_OK)
        return st;
    return ckv_xeddsa_sign(old_priv, msg, len, e->old_sig);
}

ckv_status ckv_dir_entry_verify(const ckv_dir_entry *e, const uint8_t *prev_key)
{
    uint8_t msg[CKV_DIR_ENTRY_MAX + 128];
    size_t len = 0;
    ckv_status st;

    if (!e)
        return CKV_ERR_INVALID_ARG;
    if ((st = signed_message(e, CTX_POP, msg, sizeof(msg), &len)) != CKV_OK)
        return st == CKV_ERR_INVALID_ARG ? CKV_ERR_DIR_BAD_ENTRY : st;
    if ((st = ckv_xeddsa_verify(e->key, msg, len, e->pop)) != CKV_OK)
        return st;
    if (e->type == CKV_DIR_ROTATE) {
        if (!prev_key || !e->has_old_sig)
            return CKV_ERR_DIR_BAD_SIGNATURE;
        if ((st = signed_message(e, CTX_ROT, msg, sizeof(msg), &len)) != CKV_OK)
            return st;
        if ((st = ckv_xeddsa_verify(prev_key, msg, len, e->old_sig)) != CKV_OK)
            return st;
    }
    return CKV_OK;
}

ckv_status ckv_dir_chain_check(const ckv_dir_entry *prev, uint64_t prev_index,
                               const uint8_t prev_leaf_hash[32], const ckv_dir_entry *next)
{
    if (!next)
        return CKV_ERR_INVALID_ARG;
    if (!prev) {
        if (next->type != CKV_DIR_REGISTER || next->version != 1 || next->has_prev)
            return CKV_ERR_DIR_BAD_CHAIN;
        return ckv_dir_entry_verify(next, NULL);
    }
    if (!prev_leaf_hash)
        return CKV_ERR_INVALID_ARG;
    if (next->type == CKV_DIR_REGISTER)
        return CKV_ERR_DIR_NAME_TAKEN;
    if (strcmp(prev->name, next->name) != 0 || strcmp(prev->origin, next->origin) != 0)
        return CKV_ERR_DIR_BAD_CHAIN;
    if (prev->version == UINT64_MAX || next->version != prev->version + 1 || !next->has_prev ||
        next->prev_index != prev_index || sodium_memcmp(next->prev_hash, prev_leaf_hash, 32) != 0)
        return CKV_ERR_DIR_BAD_CHAIN;
    return ckv_dir_entry_verify(next, prev->key);
}

void ckv_dir_leaf_hash(const uint8_t *encoded, size_t len, uint8_t out[32])
{
    ckv_tlog_hash h;
    ckv_tlog_leaf_hash(encoded, len, &h); /* SHA-256(0x00 || entry), RFC 9162 §2.1.1 */
    memcpy(out, h.b, 32);
}
