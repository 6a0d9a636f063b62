/*
 * test_fingerprint.c: safety numbers against Signal's vectors
 * (tests/vectors/fingerprint.json, computed with Signal's official
 * libsignal): the same 60 digits and the same scannable bytes, versions 1
 * and 2. Also: our fast halves agree with libsignal-protocol-c's own
 * fingerprint generator (which runs on our crypto provider, so this also
 * checks the provider's SHA-512 re-init after final), and formatting.
 * The provider's HMAC-SHA256 is checked through libsignal's HKDF against
 * RFC 5869 A.1 and A.2 (A.2 has an 80-byte salt: the long-key path).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal/curve.h>
#include <signal/fingerprint.h>
#include <signal/hkdf.h>
#include <sodium.h>

#include "../../core/internal.h"
#include "helpers.h"

static void test_vectors(void **state)
{
    (void)state;
    json_error_t err;
    json_t *root = json_load_file(CKV_TEST_VECTORS "/fingerprint.json", 0, &err);
    assert_non_null(root);
    json_t *vs = json_object_get(root, "vectors");
    assert_true(json_is_array(vs));
    size_t i, seen_v1 = 0, seen_v2 = 0;
    json_t *v;
    json_array_foreach(vs, i, v)
    {
        uint8_t lk[33], rk[33], want_scan[256];
        const char *lid = json_string_value(json_object_get(v, "local_id"));
        const char *rid = json_string_value(json_object_get(v, "remote_id"));
        unsigned iters = (unsigned)json_integer_value(json_object_get(v, "iterations"));
        unsigned version = (unsigned)json_integer_value(json_object_get(v, "version"));
        const char *disp = json_string_value(json_object_get(v, "displayable"));
        assert_non_null(lid);
        assert_non_null(rid);
        assert_int_equal(hex_to_bin(json_string_value(json_object_get(v, "local_pub")), lk, 33), 33);
        assert_int_equal(hex_to_bin(json_string_value(json_object_get(v, "remote_pub")), rk, 33), 33);
        int scan_len = hex_to_bin(json_string_value(json_object_get(v, "scannable")), want_scan,
                                  sizeof want_scan);
        assert_true(scan_len > 0);
        /* identifiers are hashed exactly: check the hex matches the string */
        uint8_t idb[128];
        assert_int_equal(hex_to_bin(json_string_value(json_object_get(v, "local_id_hex")), idb,
                                    sizeof idb),
                         (int)strlen(lid));
        assert_memory_equal(idb, lid, strlen(lid));

        ckv_safety_number sn;
        assert_int_equal(ckv_fingerprint_compute(lid, lk, rid, rk, iters, version, &sn), CKV_OK);
        assert_string_equal(sn.digits, disp);
        assert_int_equal(sn.scannable_len, (size_t)scan_len);
        assert_memory_equal(sn.scannable, want_scan, (size_t)scan_len);
        if (version == 1)
            seen_v1++;
        else
            seen_v2++;
    }
    assert_true(seen_v1 >= 1);
    assert_true(seen_v2 >= 1);
    json_decref(root);
}

/* libsignal's own generator, on our provider, gives the same digits and v1 bytes. */
static void test_matches_libsignal_generator(void **state)
{
    (void)state;
    pthread_mutex_t lock;
    signal_context *ctx = NULL;
    assert_int_equal(ckv_sg_context_create(&lock, &ctx), CKV_OK);
    for (int round = 0; round < 3; round++) {
        ec_key_pair *a = NULL, *b = NULL;
        signal_buffer *ab = NULL, *bb = NULL, *ser = NULL;
        fingerprint_generator *g = NULL;
        fingerprint *fp = NULL;
        assert_int_equal(curve_generate_key_pair(ctx, &a), 0);
        assert_int_equal(curve_generate_key_pair(ctx, &b), 0);
        assert_int_equal(ec_public_key_serialize(&ab, ec_key_pair_get_public(a)), 0);
        assert_int_equal(ec_public_key_serialize(&bb, ec_key_pair_get_public(b)), 0);
        assert_int_equal(fingerprint_generator_create(&g, 5200, 1, ctx), 0);
        assert_int_equal(fingerprint_generator_create_for(g, "alice@example.org",
                                                          ec_key_pair_get_public(a), "bob",
                                                          ec_key_pair_get_public(b), &fp),
                         0);
        ckv_safety_number sn;
        assert_int_equal(ckv_fingerprint_compute("alice@example.org", signal_buffer_data(ab),
                                                 "bob", signal_buffer_data(bb), 5200, 1, &sn),
                         CKV_OK);
        assert_string_equal(sn.digits,
                            displayable_fingerprint_text(fingerprint_get_displayable(fp)));
        assert_int_equal(scannable_fingerprint_serialize(&ser, fingerprint_get_scannable(fp)), 0);
        assert_int_equal(sn.scannable_len, signal_buffer_len(ser));
        assert_memory_equal(sn.scannable, signal_buffer_data(ser), sn.scannable_len);
        /* symmetric: the other side sees the same 60 digits */
        ckv_safety_number other;
        assert_int_equal(ckv_fingerprint_compute("bob", signal_buffer_data(bb),
                                                 "alice@example.org", signal_buffer_data(ab),
                                                 5200, 1, &other),
                         CKV_OK);
        assert_string_equal(sn.digits, other.digits);
        signal_buffer_free(ab);
        signal_buffer_free(bb);
        signal_buffer_free(ser);
        SIGNAL_UNREF(fp);
        fingerprint_generator_free(g);
        SIGNAL_UNREF(a);
        SIGNAL_UNREF(b);
    }
    signal_context_destroy(ctx);
    pthread_mutex_destroy(&lock);
}

static void hkdf_case(signal_context *ctx, const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
                      size_t salt_len, const uint8_t *info, size_t info_len, const char *okm_hex)
{
    uint8_t want[128];
    int n = hex_to_bin(okm_hex, want, sizeof want);
    hkdf_context *h = NULL;
    uint8_t *out = NULL;
    assert_true(n > 0);
    assert_int_equal(hkdf_create(&h, 3, ctx), 0);
    assert_int_equal(hkdf_derive_secrets(h, &out, ikm, ikm_len, salt, salt_len, info, info_len,
                                         (size_t)n),
                     n);
    assert_memory_equal(out, want, (size_t)n);
    free(out);
    SIGNAL_UNREF(h);
}

static void test_provider_hmac_rfc5869(void **state)
{
    (void)state;
    pthread_mutex_t lock;
    signal_context *ctx = NULL;
    uint8_t ikm[80], salt[80], info[80];
    assert_int_equal(ckv_sg_context_create(&lock, &ctx), CKV_OK);
    memset(ikm, 0x0b, 22);
    for (int i = 0; i < 13; i++)
        salt[i] = (uint8_t)i;
    for (int i = 0; i < 10; i++)
        info[i] = (uint8_t)(0xf0 + i);
    hkdf_case(ctx, ikm, 22, salt, 13, info, 10,
              "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
    for (int i = 0; i < 80; i++) {
        ikm[i] = (uint8_t)i;
        salt[i] = (uint8_t)(0x60 + i);
        info[i] = (uint8_t)(0xb0 + i);
    }
    hkdf_case(ctx, ikm, 80, salt, 80, info, 80,
              "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e"
              "590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87");
    signal_context_destroy(ctx);
    pthread_mutex_destroy(&lock);
}

static void test_format_and_args(void **state)
{
    (void)state;
    char out[72];
    const char *d = "300354477692869396892869876765458257569162576843440918079131";
    assert_int_equal(ckv_fingerprint_format(d, out, sizeof out), CKV_OK);
    assert_string_equal(out, "30035 44776 92869 39689 28698 76765 45825 75691 62576 84344 09180 79131");
    assert_int_equal(ckv_fingerprint_format(d, out, 71), CKV_ERR_INVALID_ARG);
    char half[36];
    assert_int_equal(ckv_fingerprint_format("300354477692869396892869876765", half, sizeof half),
                     CKV_OK);
    assert_string_equal(half, "30035 44776 92869 39689 28698 76765");
    uint8_t k[33] = {5};
    ckv_safety_number sn;
    assert_int_equal(ckv_fingerprint_compute("a", k, "b", k, 5200, 3, &sn), CKV_ERR_INVALID_ARG);
    assert_int_equal(ckv_fingerprint_compute("a", k, "b", k, 0, 1, &sn), CKV_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_matches_libsignal_generator),
        cmocka_unit_test(test_format_and_args),
        cmocka_unit_test(test_provider_hmac_rfc5869),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
