/*
 * xeddsa.h: XEdDSA signatures with Signal identity keys.
 *
 * Identity keys are Curve25519 (X25519) keys, serialised as 33 bytes with a
 * 0x05 type prefix; XEdDSA (Signal's specification) signs with them. The
 * directory signs its entries and ckvd's logins with these functions, so
 * that one key is a user's identity in sessions and in the log. The
 * implementation is libsignal-protocol-c's (its curve code), kept behind
 * this header so that no libsignal type leaks out.
 */
#ifndef CKV_XEDDSA_H
#define CKV_XEDDSA_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CKV_IDENTITY_KEY_LEN 33 /* 0x05 || 32-byte Curve25519 public key */
#define CKV_PRIVATE_KEY_LEN 32
#define CKV_XEDDSA_SIG_LEN 64

/* Sign msg with a 32-byte Curve25519 private key. sig is written only on
 * success. Returns CKV_OK, CKV_ERR_INVALID_ARG, CKV_ERR_NOMEM or
 * CKV_ERR_CRYPTO. Thread-safe (no shared state). */
CKV_MUST_USE ckv_status ckv_xeddsa_sign(const uint8_t priv[CKV_PRIVATE_KEY_LEN],
                                        const uint8_t *msg, size_t len,
                                        uint8_t sig[CKV_XEDDSA_SIG_LEN]);

/* Verify sig over msg under a 33-byte identity key. Returns CKV_OK when
 * valid, CKV_ERR_DIR_BAD_SIGNATURE when not (also when its S is not
 * reduced: one signature, one encoding), CKV_ERR_DIR_BAD_KEY when the key
 * fails ckv_xeddsa_check_key. */
CKV_MUST_USE ckv_status ckv_xeddsa_verify(const uint8_t pub[CKV_IDENTITY_KEY_LEN],
                                          const uint8_t *msg, size_t len,
                                          const uint8_t sig[CKV_XEDDSA_SIG_LEN]);

/* CKV_OK when a 33-byte identity key is one a signature can prove: the
 * 0x05 prefix, a canonical u-coordinate (below 2^255 - 19) and not a point
 * of small order (for which signatures can be forged without any private
 * key); else CKV_ERR_DIR_BAD_KEY. */
CKV_MUST_USE ckv_status ckv_xeddsa_check_key(const uint8_t pub[CKV_IDENTITY_KEY_LEN]);

/* The 33-byte public key of a 32-byte private key. */
CKV_MUST_USE ckv_status ckv_xeddsa_public_key(const uint8_t priv[CKV_PRIVATE_KEY_LEN],
                                              uint8_t pub[CKV_IDENTITY_KEY_LEN]);

#ifdef __cplusplus
}
#endif
#endif
