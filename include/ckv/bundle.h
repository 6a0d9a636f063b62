/*
 * bundle.h: prekey bundles, the public half of an X3DH session set-up.
 *
 * A bundle is what one party publishes so that another can start a session
 * without a round trip. On the wire it is a JSON object (docs/core.md):
 *   {"registration_id": 1234, "device_id": 1,
 *    "identity_key": "<base64, 33 bytes, 0x05 prefix>",
 *    "signed_prekey_id": 1, "signed_prekey": "<base64, 33 bytes>",
 *    "signed_prekey_signature": "<base64, 64 bytes>",
 *    "prekey_id": 7, "prekey": "<base64, 33 bytes>"}      (last two optional)
 * Binary values are standard base64 with padding (RFC 4648 §4). Parsing is
 * strict: every required field exactly once with its type and size, ids in
 * range, no unknown fields, and the signed-prekey signature (XEdDSA by the
 * identity key over the serialised signed prekey) must verify.
 */
#ifndef CKV_BUNDLE_H
#define CKV_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/profile.h"
#include "ckv/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CKV_PUBLIC_KEY_LEN 33 /* 0x05 || Curve25519 public key */
#define CKV_SIGNATURE_LEN 64  /* XEdDSA signature */
#define CKV_BUNDLE_JSON_MAX 4096 /* hard cap on a bundle's JSON text */

/* A parsed or exported bundle. Plain data, no ownership. */
typedef struct ckv_bundle {
    uint32_t registration_id; /* any uint32 (ours: 1..16380, 14 bits) */
    uint32_t device_id;       /* 1..2^31-1 */
    uint8_t identity_key[CKV_PUBLIC_KEY_LEN];
    uint32_t signed_prekey_id; /* any uint32 */
    uint8_t signed_prekey[CKV_PUBLIC_KEY_LEN];
    uint8_t signed_prekey_signature[CKV_SIGNATURE_LEN];
    int has_prekey;            /* 1 when prekey_id/prekey are present */
    uint32_t prekey_id;        /* any uint32, when has_prekey */
    uint8_t prekey[CKV_PUBLIC_KEY_LEN];
} ckv_bundle;

/* Parse and check bundle JSON (`len` bytes; no NUL needed, up to
 * CKV_BUNDLE_JSON_MAX). Verifies the signed-prekey signature and that the
 * keys are valid Curve25519 points with the 0x05 prefix. Errors:
 * CKV_ERR_TOO_LARGE, CKV_ERR_JSON (not a JSON object, duplicate or unknown
 * key, missing field, wrong type), CKV_ERR_BAD_BUNDLE (a value out of range,
 * bad base64 or size, bad key, signature does not verify). *out is written
 * only on success. */
CKV_MUST_USE ckv_status ckv_bundle_parse(const char *json, size_t len, ckv_bundle *out);

/* Serialise a bundle as one line of JSON (no trailing newline). On success
 * *out_json is a malloc'd NUL-terminated string the caller frees with
 * free(). Does not check the signature. */
CKV_MUST_USE ckv_status ckv_bundle_to_json(const ckv_bundle *b, char **out_json);

/* Export our bundle: identity key, registration id, device id 1, the current
 * signed prekey and, when with_prekey is 1, one one-time prekey.
 * One-time prekeys: each export hands out a prekey that no earlier export
 * handed out (it is marked "handed out" in the same transaction, and the
 * batch is refilled to CKV_PREKEY_BATCH when none is left), so two people
 * never get the same one. The prekey stays stored until a PreKey message
 * that uses it decrypts; then it is deleted. with_prekey = 0 consumes and
 * marks nothing (X3DH without a one-time prekey is still valid). */
CKV_MUST_USE ckv_status ckv_profile_export_bundle(ckv_profile *p, int with_prekey, ckv_bundle *out);

#ifdef __cplusplus
}
#endif
#endif /* CKV_BUNDLE_H */
