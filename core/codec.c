/*
 * codec.c: the JSON formats of core: prekey bundles and message envelopes
 * (docs/core.md). Strict, bounded parsers for untrusted input: a size cap
 * before parsing, duplicate keys rejected, no unknown keys, exact types,
 * integers in range, base64 in canonical standard form (RFC 4648 §4, with
 * padding; re-encoding must give the same text), exact binary sizes, and for
 * bundles the signed-prekey signature verified (XEdDSA, libsignal
 * curve_verify_signature).
 */
#include "internal.h"

#include <jansson.h>
#include <signal/curve.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Decode canonical standard base64 of at most `max` bytes. *out malloc'd. */
static ckv_status b64_decode(const char *text, size_t text_len, size_t max, uint8_t **out,
                             size_t *out_len)
{
    size_t cap = text_len / 4 * 3 + 3, n = 0;
    uint8_t *buf;
    char *again;
    const char *end = NULL;

    if (text_len == 0 || text_len % 4 != 0 || text_len / 4 * 3 > max + 2)
        return CKV_ERR_BASE64;
    buf = malloc(cap);
    if (buf == NULL)
        return CKV_ERR_NOMEM;
    if (sodium_base642bin(buf, cap, text, text_len, NULL, &n, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != text + text_len || n == 0 || n > max) {
        free(buf);
        return CKV_ERR_BASE64;
    }
    /* canonical: the unused bits of the last group must be zero */
    again = malloc(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL));
    if (again == NULL) {
        free(buf);
        return CKV_ERR_NOMEM;
    }
    sodium_bin2base64(again, sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), buf, n,
                      sodium_base64_VARIANT_ORIGINAL);
    if (strlen(again) != text_len || memcmp(again, text, text_len) != 0) {
        free(again);
        free(buf);
        return CKV_ERR_BASE64;
    }
    free(again);
    *out = buf;
    *out_len = n;
    return CKV_OK;
}

static char *b64_encode(const uint8_t *b, size_t n)
{
    size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(len);
    if (s != NULL)
        sodium_bin2base64(s, len, b, n, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

/* Only whitespace after the JSON value; jansson with DISABLE_EOF_CHECK
 * would accept trailing garbage, so we use the default (it rejects it). */
static json_t *load(const char *text, size_t len)
{
    json_error_t err;
    return json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
}

static int get_uint(json_t *o, const char *k, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(o, k);
    json_int_t i;
    if (v == NULL || !json_is_integer(v))
        return -1;
    i = json_integer_value(v);
    if (i < 0 || (uint64_t)i > max)
        return -2;
    *out = (uint64_t)i;
    return 0;
}

static ckv_status get_bin(json_t *o, const char *k, uint8_t *out, size_t want)
{
    json_t *v = json_object_get(o, k);
    uint8_t *b = NULL;
    size_t n = 0;
    ckv_status st;
    if (v == NULL || !json_is_string(v))
        return CKV_ERR_JSON;
    st = b64_decode(json_string_value(v), json_string_length(v), want, &b, &n);
    if (st == CKV_ERR_NOMEM)
        return st;
    if (st != CKV_OK || n != want) {
        free(b);
        return CKV_ERR_BAD_BUNDLE;
    }
    memcpy(out, b, want);
    free(b);
    return CKV_OK;
}

/* The bundle's keys decode and (when verify_signature) the signature verifies. */
ckv_status ckv_bundle_check(const ckv_bundle *b, int verify_signature)
{
    signal_context *g = ckv_sg_global();
    ec_public_key *ik = NULL, *spk = NULL, *pk = NULL;
    ckv_status st = CKV_ERR_BAD_BUNDLE;

    if (g == NULL)
        return CKV_ERR_SIGNAL;
    if (b->device_id < 1 || b->device_id > 0x7fffffffu)
        return CKV_ERR_BAD_BUNDLE;
    if (b->identity_key[0] != 0x05 || b->signed_prekey[0] != 0x05 ||
        (b->has_prekey && b->prekey[0] != 0x05))
        return CKV_ERR_BAD_BUNDLE;
    if (curve_decode_point(&ik, b->identity_key, 33, g) != 0 ||
        curve_decode_point(&spk, b->signed_prekey, 33, g) != 0 ||
        (b->has_prekey && curve_decode_point(&pk, b->prekey, 33, g) != 0))
        goto out;
    /* XEdDSA signature by the identity key over the serialised signed prekey */
    if (verify_signature && curve_verify_signature(ik, b->signed_prekey, 33,
                                                   b->signed_prekey_signature,
                                                   CKV_SIGNATURE_LEN) != 1)
        goto out;
    st = CKV_OK;
out:
    SIGNAL_UNREF(ik);
    SIGNAL_UNREF(spk);
    SIGNAL_UNREF(pk);
    return st;
}

ckv_status ckv_bundle_parse(const char *json, size_t len, ckv_bundle *out)
{
    static const char *const known[] = {"registration_id", "device_id", "identity_key",
                                        "signed_prekey_id", "signed_prekey",
                                        "signed_prekey_signature", "prekey_id", "prekey"};
    json_t *o = NULL;
    ckv_bundle b;
    uint64_t u = 0;
    const char *key;
    json_t *val;
    ckv_status st = CKV_ERR_JSON;
    int r;

    if (json == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (len > CKV_BUNDLE_JSON_MAX)
        return CKV_ERR_TOO_LARGE;
    memset(&b, 0, sizeof b);
    o = load(json, len);
    if (o == NULL || !json_is_object(o))
        goto out;
    json_object_foreach(o, key, val)
    {
        size_t i;
        for (i = 0; i < sizeof known / sizeof known[0]; i++)
            if (strcmp(key, known[i]) == 0)
                break;
        if (i == sizeof known / sizeof known[0])
            goto out; /* unknown field */
    }
#define UINT_FIELD(name, max, dst)                                                             \
    do {                                                                                       \
        r = get_uint(o, name, max, &u);                                                        \
        if (r != 0) {                                                                          \
            st = r == -1 ? CKV_ERR_JSON : CKV_ERR_BAD_BUNDLE;                                  \
            goto out;                                                                          \
        }                                                                                      \
        dst = (uint32_t)u;                                                                     \
    } while (0)
    UINT_FIELD("registration_id", 0xffffffffu, b.registration_id);
    UINT_FIELD("device_id", 0x7fffffffu, b.device_id);
    UINT_FIELD("signed_prekey_id", 0xffffffffu, b.signed_prekey_id);
    if ((st = get_bin(o, "identity_key", b.identity_key, 33)) != CKV_OK ||
        (st = get_bin(o, "signed_prekey", b.signed_prekey, 33)) != CKV_OK ||
        (st = get_bin(o, "signed_prekey_signature", b.signed_prekey_signature, 64)) != CKV_OK)
        goto out;
    if (json_object_get(o, "prekey_id") != NULL || json_object_get(o, "prekey") != NULL) {
        if (json_object_get(o, "prekey_id") == NULL || json_object_get(o, "prekey") == NULL) {
            st = CKV_ERR_JSON; /* one without the other */
            goto out;
        }
        UINT_FIELD("prekey_id", 0xffffffffu, b.prekey_id);
        if ((st = get_bin(o, "prekey", b.prekey, 33)) != CKV_OK)
            goto out;
        b.has_prekey = 1;
    }
#undef UINT_FIELD
    if (b.device_id == 0) {
        st = CKV_ERR_BAD_BUNDLE;
        goto out;
    }
    st = ckv_bundle_check(&b, 1);
out:
    json_decref(o);
    if (st == CKV_OK)
        *out = b;
    return st;
}

static ckv_status set_b64(json_t *o, const char *k, const uint8_t *b, size_t n)
{
    char *s = b64_encode(b, n);
    int r;
    if (s == NULL)
        return CKV_ERR_NOMEM;
    r = json_object_set_new(o, k, json_string(s));
    free(s);
    return r == 0 ? CKV_OK : CKV_ERR_NOMEM;
}

static ckv_status dump(json_t *o, char **out)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (s == NULL)
        return CKV_ERR_NOMEM;
    *out = s;
    return CKV_OK;
}

ckv_status ckv_bundle_to_json(const ckv_bundle *b, char **out_json)
{
    json_t *o;
    ckv_status st = CKV_OK;
    if (b == NULL || out_json == NULL)
        return CKV_ERR_INVALID_ARG;
    o = json_object();
    if (o == NULL)
        return CKV_ERR_NOMEM;
    if (json_object_set_new(o, "registration_id", json_integer(b->registration_id)) != 0 ||
        json_object_set_new(o, "device_id", json_integer(b->device_id)) != 0)
        st = CKV_ERR_NOMEM;
    if (st == CKV_OK)
        st = set_b64(o, "identity_key", b->identity_key, 33);
    if (st == CKV_OK &&
        json_object_set_new(o, "signed_prekey_id", json_integer(b->signed_prekey_id)) != 0)
        st = CKV_ERR_NOMEM;
    if (st == CKV_OK)
        st = set_b64(o, "signed_prekey", b->signed_prekey, 33);
    if (st == CKV_OK)
        st = set_b64(o, "signed_prekey_signature", b->signed_prekey_signature, 64);
    if (st == CKV_OK && b->has_prekey) {
        if (json_object_set_new(o, "prekey_id", json_integer(b->prekey_id)) != 0)
            st = CKV_ERR_NOMEM;
        if (st == CKV_OK)
            st = set_b64(o, "prekey", b->prekey, 33);
    }
    if (st != CKV_OK) {
        json_decref(o);
        return st;
    }
    return dump(o, out_json);
}

/* ---- envelopes ---- */

ckv_status ckv_envelope_parse(const char *json, size_t len, ckv_envelope *out)
{
    json_t *o = NULL, *t, *b;
    uint8_t *body = NULL;
    size_t body_len = 0;
    ckv_status st = CKV_ERR_BAD_ENVELOPE;
    json_int_t type;

    if (json == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (len > CKV_ENVELOPE_JSON_MAX)
        return CKV_ERR_TOO_LARGE;
    o = load(json, len);
    if (o == NULL || !json_is_object(o) || json_object_size(o) != 2)
        goto out;
    t = json_object_get(o, "type");
    b = json_object_get(o, "body");
    if (t == NULL || b == NULL || !json_is_integer(t) || !json_is_string(b))
        goto out;
    type = json_integer_value(t);
    if (type != CKV_MSG_PREKEY && type != CKV_MSG_NORMAL)
        goto out;
    st = b64_decode(json_string_value(b), json_string_length(b), CKV_ENVELOPE_BODY_MAX, &body,
                    &body_len);
    if (st != CKV_OK) {
        if (st != CKV_ERR_NOMEM)
            st = CKV_ERR_BAD_ENVELOPE;
        goto out;
    }
    out->type = (int)type;
    out->body = body;
    out->body_len = body_len;
    body = NULL;
out:
    free(body);
    json_decref(o);
    return st;
}

ckv_status ckv_envelope_to_json(const ckv_envelope *e, char **out_json)
{
    json_t *o;
    ckv_status st;
    if (e == NULL || out_json == NULL || e->body == NULL || e->body_len == 0)
        return CKV_ERR_INVALID_ARG;
    o = json_object();
    if (o == NULL)
        return CKV_ERR_NOMEM;
    if (json_object_set_new(o, "type", json_integer(e->type)) != 0) {
        json_decref(o);
        return CKV_ERR_NOMEM;
    }
    st = set_b64(o, "body", e->body, e->body_len);
    if (st != CKV_OK) {
        json_decref(o);
        return st;
    }
    return dump(o, out_json);
}

void ckv_envelope_clear(ckv_envelope *e)
{
    if (e == NULL)
        return;
    free(e->body);
    memset(e, 0, sizeof *e);
}
