/*
 * test_x25519.c: libsignal's X25519 runs on libsodium (core/x25519.c) and
 * gives the RFC 7748 results. The vectors are RFC 7748 §5.2 (first
 * scalar/u pair) and §6.1 (Alice and Bob), checked against OpenSSL (Python
 * cryptography 38) when written. They go through libsignal's own API
 * (curve_generate_public_key, curve_calculate_agreement), so they test what
 * the ratchet uses; the call counter shows our definition served them
 * (symbol interposition worked). Small-order inputs give all zeros, as
 * libsignal's donna does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <signal/curve.h>
#include <signal/signal_protocol.h>

#include "../../core/internal.h"
#include "helpers.h"

int curve25519_donna(uint8_t *mypublic, const uint8_t *secret, const uint8_t *basepoint);

static void unhex(const char *h, uint8_t out[32])
{
    assert_int_equal(hex_to_bin(h, out, 32), 32);
}

static ec_private_key *priv_of(signal_context *g, const char *hex)
{
    uint8_t k[32];
    ec_private_key *p = NULL;
    unhex(hex, k);
    assert_int_equal(curve_decode_private_point(&p, k, 32, g), 0);
    return p;
}

static ec_public_key *pub_of(signal_context *g, const char *hex)
{
    uint8_t k[33];
    ec_public_key *p = NULL;
    k[0] = 0x05; /* DJB_TYPE */
    unhex(hex, k + 1);
    assert_int_equal(curve_decode_point(&p, k, 33, g), 0);
    return p;
}

static void test_rfc7748_through_libsignal(void **state)
{
    static const char a_priv[] = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    static const char a_pub[] = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    static const char b_priv[] = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
    static const char b_pub[] = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
    static const char shared[] = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    static const char k52[] = "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4";
    static const char u52[] = "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c";
    static const char r52[] = "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552";
    signal_context *g = NULL;
    uint8_t want[32], *out = NULL;
    (void)state;

    assert_int_equal(signal_context_create(&g, NULL), 0);
    /* force the provider (and so x25519.c) in, as every profile does */
    ckv_profile *p = NULL;
    assert_int_equal(ckv_profile_create(NULL, "x", TEST_PASS, TEST_PASS_LEN, CKV_KDF_MIN, &p),
                     CKV_OK);
    ckv_profile_close(p);
    uint64_t before = ckv_x25519_calls();

    /* public keys: X25519(k, 9) */
    ec_private_key *ap = priv_of(g, a_priv), *bp = priv_of(g, b_priv);
    ec_public_key *apub = NULL, *bpub = NULL, *apub_want = pub_of(g, a_pub),
                  *bpub_want = pub_of(g, b_pub);
    assert_int_equal(curve_generate_public_key(&apub, ap), 0);
    assert_int_equal(curve_generate_public_key(&bpub, bp), 0);
    assert_int_equal(ec_public_key_compare(apub, apub_want), 0);
    assert_int_equal(ec_public_key_compare(bpub, bpub_want), 0);
    /* the shared secret, both ways */
    unhex(shared, want);
    assert_int_equal(curve_calculate_agreement(&out, bpub_want, ap), 32);
    assert_memory_equal(out, want, 32);
    free(out);
    assert_int_equal(curve_calculate_agreement(&out, apub_want, bp), 32);
    assert_memory_equal(out, want, 32);
    free(out);
    /* §5.2: an unclamped scalar and a u with its top bit set */
    ec_private_key *kp = priv_of(g, k52);
    ec_public_key *up = pub_of(g, u52);
    unhex(r52, want);
    assert_int_equal(curve_calculate_agreement(&out, up, kp), 32);
    assert_memory_equal(out, want, 32);
    free(out);
    /* our definition served all six calls */
    assert_true(ckv_x25519_calls() >= before + 5);

    SIGNAL_UNREF(ap);
    SIGNAL_UNREF(bp);
    SIGNAL_UNREF(apub);
    SIGNAL_UNREF(bpub);
    SIGNAL_UNREF(apub_want);
    SIGNAL_UNREF(bpub_want);
    SIGNAL_UNREF(kp);
    SIGNAL_UNREF(up);
    signal_context_destroy(g);
}

static void test_small_order_gives_zeros(void **state)
{
    uint8_t k[32], u[32] = {0}, out[32];
    static const uint8_t zero[32] = {0};
    (void)state;
    memset(k, 0x42, sizeof k);
    memset(out, 0xaa, sizeof out);
    u[0] = 1; /* u = 1: small order */
    assert_int_equal(curve25519_donna(out, k, u), 0);
    assert_memory_equal(out, zero, 32);
    memset(out, 0xaa, sizeof out);
    u[0] = 0; /* u = 0 */
    assert_int_equal(curve25519_donna(out, k, u), 0);
    assert_memory_equal(out, zero, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7748_through_libsignal),
        cmocka_unit_test(test_small_order_gives_zeros),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
