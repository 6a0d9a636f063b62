/*
 * test_bundle.c: the strict bundle and envelope JSON parsers. A good bundle
 * round-trips; every kind of bad input gets its own error and never
 * crashes: bad JSON, missing/unknown/duplicate fields, wrong types, values
 * out of range, bad or non-canonical base64, wrong sizes, wrong key prefix,
 * a signature that does not verify, prekey_id without prekey, oversize.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>

#include "helpers.h"

static char *good_json;

static int setup(void **state)
{
    (void)state;
    ckv_profile *p = NULL;
    ckv_bundle b;
    assert_int_equal(ckv_profile_create(NULL, "bob", TEST_PASS, TEST_PASS_LEN, CKV_KDF_MIN, &p),
                     CKV_OK);
    assert_int_equal(ckv_profile_export_bundle(p, 1, &b), CKV_OK);
    assert_int_equal(ckv_bundle_to_json(&b, &good_json), CKV_OK);
    ckv_profile_close(p);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(good_json);
    return 0;
}

static ckv_status parse_str(const char *s)
{
    ckv_bundle b;
    memset(&b, 0xAB, sizeof b);
    ckv_bundle before = b;
    ckv_status st = ckv_bundle_parse(s, strlen(s), &b);
    if (st != CKV_OK)
        assert_memory_equal(&b, &before, sizeof b); /* untouched on failure */
    return st;
}

/* The good bundle with one field replaced (value = raw JSON) or removed (NULL). */
static ckv_status parse_with(const char *field, const char *raw)
{
    json_error_t err;
    json_t *o = json_loads(good_json, 0, &err);
    assert_non_null(o);
    if (raw == NULL) {
        json_object_del(o, field);
    } else {
        json_t *v = json_loads(raw, JSON_DECODE_ANY, &err);
        assert_non_null(v);
        json_object_set_new(o, field, v);
    }
    char *s = json_dumps(o, JSON_COMPACT);
    ckv_status st = parse_str(s);
    free(s);
    json_decref(o);
    return st;
}

static char *b64(const uint8_t *b, size_t n)
{
    size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(len + 2);
    s[0] = '"';
    sodium_bin2base64(s + 1, len, b, n, sodium_base64_VARIANT_ORIGINAL);
    strcat(s, "\"");
    return s;
}

static void test_good_roundtrip(void **state)
{
    (void)state;
    ckv_bundle b;
    char *again = NULL;
    assert_int_equal(ckv_bundle_parse(good_json, strlen(good_json), &b), CKV_OK);
    assert_true(b.has_prekey);
    assert_int_equal(b.device_id, 1);
    assert_int_equal(b.identity_key[0], 0x05);
    assert_int_equal(ckv_bundle_to_json(&b, &again), CKV_OK);
    assert_string_equal(again, good_json);
    free(again);
    /* whitespace around is fine; no prekey is fine */
    char buf[4200];
    snprintf(buf, sizeof buf, "\n  %s \n", good_json);
    assert_int_equal(parse_str(buf), CKV_OK);
    json_error_t err;
    json_t *o = json_loads(good_json, 0, &err);
    json_object_del(o, "prekey");
    json_object_del(o, "prekey_id");
    char *s = json_dumps(o, 0);
    ckv_bundle nb;
    assert_int_equal(ckv_bundle_parse(s, strlen(s), &nb), CKV_OK);
    assert_false(nb.has_prekey);
    free(s);
    json_decref(o);
}

static void test_bad_json(void **state)
{
    (void)state;
    assert_int_equal(parse_str(""), CKV_ERR_JSON);
    assert_int_equal(parse_str("{"), CKV_ERR_JSON);
    assert_int_equal(parse_str("[]"), CKV_ERR_JSON);
    assert_int_equal(parse_str("null"), CKV_ERR_JSON);
    assert_int_equal(parse_str("{}"), CKV_ERR_JSON);
    char buf[4200];
    snprintf(buf, sizeof buf, "%s x", good_json);
    assert_int_equal(parse_str(buf), CKV_ERR_JSON);
    /* duplicate key */
    snprintf(buf, sizeof buf, "{\"device_id\":1,%s", good_json + 1);
    assert_int_equal(parse_str(buf), CKV_ERR_JSON);
    /* oversize */
    char *big = malloc(CKV_BUNDLE_JSON_MAX + 10);
    memset(big, ' ', CKV_BUNDLE_JSON_MAX + 9);
    big[CKV_BUNDLE_JSON_MAX + 9] = 0;
    memcpy(big, good_json, strlen(good_json));
    assert_int_equal(parse_str(big), CKV_ERR_TOO_LARGE);
    free(big);
}

static void test_fields(void **state)
{
    (void)state;
    /* missing */
    assert_int_equal(parse_with("identity_key", NULL), CKV_ERR_JSON);
    assert_int_equal(parse_with("registration_id", NULL), CKV_ERR_JSON);
    assert_int_equal(parse_with("signed_prekey_signature", NULL), CKV_ERR_JSON);
    assert_int_equal(parse_with("prekey", NULL), CKV_ERR_JSON); /* prekey_id alone */
    assert_int_equal(parse_with("prekey_id", NULL), CKV_ERR_JSON);
    /* unknown */
    assert_int_equal(parse_with("extra", "1"), CKV_ERR_JSON);
    /* types */
    assert_int_equal(parse_with("device_id", "\"1\""), CKV_ERR_JSON);
    assert_int_equal(parse_with("device_id", "1.0"), CKV_ERR_JSON);
    assert_int_equal(parse_with("identity_key", "5"), CKV_ERR_JSON);
    assert_int_equal(parse_with("signed_prekey_id", "null"), CKV_ERR_JSON);
    /* ranges */
    assert_int_equal(parse_with("device_id", "0"), CKV_ERR_BAD_BUNDLE);
    assert_int_equal(parse_with("device_id", "-1"), CKV_ERR_BAD_BUNDLE);
    assert_int_equal(parse_with("device_id", "2147483648"), CKV_ERR_BAD_BUNDLE);
    assert_int_equal(parse_with("registration_id", "4294967296"), CKV_ERR_BAD_BUNDLE);
    assert_int_equal(parse_with("prekey_id", "-5"), CKV_ERR_BAD_BUNDLE);
}

static void test_binary_values(void **state)
{
    (void)state;
    ckv_bundle b;
    assert_int_equal(ckv_bundle_parse(good_json, strlen(good_json), &b), CKV_OK);
    char *s;
    /* not base64, url-safe alphabet, no padding */
    assert_int_equal(parse_with("identity_key", "\"!!!!\""), CKV_ERR_BAD_BUNDLE);
    assert_int_equal(parse_with("identity_key", "\"\""), CKV_ERR_BAD_BUNDLE);
    s = b64(b.identity_key, 33); /* 44 chars, no padding needed for 33 bytes */
    for (char *c = s; *c; c++)
        if (*c == '+')
            *c = '-';
        else if (*c == '/')
            *c = '_';
    assert_true(parse_with("identity_key", s) == CKV_ERR_BAD_BUNDLE ||
                (strchr(s, 0x2d) == NULL && strchr(s, 0x5f) == NULL));
    free(s);
    /* sizes: 32 and 34 bytes */
    uint8_t k[65];
    memcpy(k, b.identity_key, 33);
    s = b64(k, 32);
    assert_int_equal(parse_with("identity_key", s), CKV_ERR_BAD_BUNDLE);
    free(s);
    k[33] = 0;
    s = b64(k, 34);
    assert_int_equal(parse_with("identity_key", s), CKV_ERR_BAD_BUNDLE);
    free(s);
    memcpy(k, b.signed_prekey_signature, 64);
    s = b64(k, 63);
    assert_int_equal(parse_with("signed_prekey_signature", s), CKV_ERR_BAD_BUNDLE);
    free(s);
    /* non-canonical base64: 32 bytes end in "=" with nonzero spare bits */
    s = b64(b.signed_prekey_signature, 32);
    size_t L = strlen(s);
    assert_int_equal(s[L - 2], '=');
    /* bump the last data char so its unused low bits become non-zero */
    s[L - 3] = s[L - 3] == 'A' ? 'B' : (s[L - 3] == 'B' ? 'C' : 'B');
    assert_int_equal(parse_with("signed_prekey_signature", s), CKV_ERR_BAD_BUNDLE);
    free(s);
    /* wrong key type prefix */
    memcpy(k, b.identity_key, 33);
    k[0] = 0x06;
    s = b64(k, 33);
    assert_int_equal(parse_with("identity_key", s), CKV_ERR_BAD_BUNDLE);
    free(s);
    /* signature does not verify: flipped bit, or the key of someone else */
    memcpy(k, b.signed_prekey_signature, 64);
    k[10] ^= 1;
    s = b64(k, 64);
    assert_int_equal(parse_with("signed_prekey_signature", s), CKV_ERR_BAD_BUNDLE);
    free(s);
    memcpy(k, b.signed_prekey, 33);
    k[5] ^= 1;
    s = b64(k, 33);
    assert_int_equal(parse_with("signed_prekey", s), CKV_ERR_BAD_BUNDLE);
    free(s);
    memcpy(k, b.identity_key, 33);
    k[7] ^= 1;
    s = b64(k, 33);
    assert_int_equal(parse_with("identity_key", s), CKV_ERR_BAD_BUNDLE);
    free(s);
}

static void test_envelopes(void **state)
{
    (void)state;
    ckv_envelope e;
    memset(&e, 0, sizeof e);
    assert_int_equal(ckv_envelope_parse("{\"type\":3,\"body\":\"AAEC\"}", 24, &e), CKV_OK);
    assert_int_equal(e.type, 3);
    assert_int_equal(e.body_len, 3);
    char *json = NULL;
    assert_int_equal(ckv_envelope_to_json(&e, &json), CKV_OK);
    assert_string_equal(json, "{\"type\":3,\"body\":\"AAEC\"}");
    free(json);
    ckv_envelope_clear(&e);
    ckv_envelope_clear(NULL);
    static const char *const bad[] = {
        "", "{}", "[]", "{\"type\":3}", "{\"body\":\"AAEC\"}",
        "{\"type\":1,\"body\":\"AAEC\"}", "{\"type\":4,\"body\":\"AAEC\"}",
        "{\"type\":\"3\",\"body\":\"AAEC\"}", "{\"type\":3.0,\"body\":\"AAEC\"}",
        "{\"type\":3,\"body\":\"AAE\"}", "{\"type\":3,\"body\":\"AA==\"}" /* ok len but 1 byte */,
        "{\"type\":3,\"body\":\"AB==\"}", "{\"type\":3,\"body\":\"\"}",
        "{\"type\":3,\"body\":\"AAEC\",\"x\":1}", "{\"type\":3,\"type\":2,\"body\":\"AAEC\"}",
        "{\"type\":3,\"body\":\"AA EC\"}", "{\"type\":3,\"body\":5}",
        "{\"type\":3,\"body\":\"AAEC\"} trailing",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ckv_status st = ckv_envelope_parse(bad[i], strlen(bad[i]), &e);
        if (i == 10) { /* "AA==" is canonical base64 of one zero byte: accepted */
            assert_int_equal(st, CKV_OK);
            ckv_envelope_clear(&e);
            continue;
        }
        assert_int_equal(st, CKV_ERR_BAD_ENVELOPE);
    }
    char *big = malloc(CKV_ENVELOPE_JSON_MAX + 2);
    memset(big, ' ', CKV_ENVELOPE_JSON_MAX + 1);
    big[CKV_ENVELOPE_JSON_MAX + 1] = 0;
    assert_int_equal(ckv_envelope_parse(big, CKV_ENVELOPE_JSON_MAX + 1, &e), CKV_ERR_TOO_LARGE);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_roundtrip),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_binary_values),
        cmocka_unit_test(test_envelopes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
