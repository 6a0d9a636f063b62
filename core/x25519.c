/*
 * x25519.c: X25519 for libsignal-protocol-c, computed by libsodium.
 *
 * libsignal-protocol-c does every Diffie-Hellman of X3DH and of the double
 * ratchet (curve_calculate_agreement) and derives every public key
 * (curve_generate_public_key) with its bundled curve25519-donna, the
 * portable 32-bit code, through the exported function curve25519_donna,
 * which the library calls through its own PLT. Defining that function here
 * makes the dynamic linker bind those calls to this definition (ELF symbol
 * interposition: an executable that links libckv exports it), so the
 * ratchet runs on libsodium's X25519 instead. Measured on this 2-vCPU
 * machine: 164 us a call in donna, 41 us in libsodium; a DH ratchet step
 * costs three calls, and a chat turns the ratchet on every change of
 * direction (every receipt).
 *
 * It is the same function, RFC 7748 §5: the scalar is clamped (bits 0-2
 * and 255 cleared, bit 254 set) and the u-coordinate's top bit masked, by
 * both. The only difference is in the return value: libsodium refuses
 * inputs of small order (the result would be all zeros) and leaves the
 * output unwritten; donna writes the all-zero result and returns 0, which
 * is what libsignal expects, so that is what we do too.
 *
 * When the interposition does not take (a static libsignal, another
 * loader), libsignal keeps its own donna: same results, slower. The test
 * tests/core/test_x25519.c checks RFC 7748 vectors through libsignal's own
 * API and that this definition is the one in use.
 */
#include "internal.h"

#include <sodium.h>
#include <string.h>

static uint64_t calls;

/* The symbol libsignal calls (see above); not in any header on purpose. */
int curve25519_donna(uint8_t *mypublic, const uint8_t *secret, const uint8_t *basepoint);

int curve25519_donna(uint8_t *mypublic, const uint8_t *secret, const uint8_t *basepoint)
{
    static const uint8_t nine[32] = {9};
    int r;
    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
    if (sodium_memcmp(basepoint, nine, sizeof nine) == 0)
        r = crypto_scalarmult_curve25519_base(mypublic, secret); /* X25519(k, 9): a public key */
    else
        r = crypto_scalarmult_curve25519(mypublic, secret, basepoint);
    if (r != 0)
        memset(mypublic, 0, crypto_scalarmult_curve25519_BYTES); /* small order: u = 0 */
    return 0;
}

uint64_t ckv_x25519_calls(void)
{
    return __atomic_load_n(&calls, __ATOMIC_RELAXED);
}
