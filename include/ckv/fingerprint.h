/*
 * fingerprint.h: verification codes (safety numbers).
 *
 * The safety number of two parties is libsignal's numeric fingerprint: for
 * each party, H0 = 0x0000 || key || identifier, H(i+1) = SHA-512(H(i) ||
 * key), 5200 times; the first 30 bytes, as six 5-byte big-endian numbers
 * mod 100000, give that party's 30-digit half; the 60 digits are the two
 * halves sorted. The identifier is the normalised account name. A party's
 * own half is their "public code": it depends on their key and name only,
 * so they can publish it (a card, a web page) and anyone can compare.
 * The scannable form (for a QR code) is the protobuf CombinedFingerprints
 * {version, local{first 32 bytes}, remote{first 32 bytes}}, versions 1 and
 * 2 as in Signal.
 */
#ifndef CKV_FINGERPRINT_H
#define CKV_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/profile.h"
#include "ckv/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CKV_FINGERPRINT_ITERATIONS 5200
#define CKV_SAFETY_DIGITS 60      /* 12 groups of 5 */
#define CKV_PUBLIC_CODE_DIGITS 30 /* 6 groups of 5 */
#define CKV_SCANNABLE_MAX 128     /* serialised scannable fingerprint (74 bytes) */
#define CKV_SCANNABLE_VERSION 1   /* what ckv shows by default */

typedef struct ckv_safety_number {
    char digits[CKV_SAFETY_DIGITS + 1];  /* 60 digits, NUL-terminated, no spaces */
    uint8_t scannable[CKV_SCANNABLE_MAX]; /* bytes to put in a QR code */
    size_t scannable_len;
    unsigned scannable_version;
} ckv_safety_number;

/* Low level: the safety number of (local_id, local_key) and (remote_id,
 * remote_key), identifiers hashed exactly as given (NUL-terminated; callers
 * normalise names first). iterations 1..100000; scannable_version 1 or 2.
 * Keys are 33-byte serialised public keys (0x05 prefix). */
CKV_MUST_USE ckv_status ckv_fingerprint_compute(const char *local_id,
                                                const uint8_t local_key[33],
                                                const char *remote_id,
                                                const uint8_t remote_key[33],
                                                unsigned iterations, unsigned scannable_version,
                                                ckv_safety_number *out);

/* Low level: one party's 30-digit half (NUL-terminated) and the 32 bytes
 * that go into the scannable form. Either out pointer may be NULL. */
CKV_MUST_USE ckv_status ckv_fingerprint_half(const char *id, const uint8_t key[33],
                                             unsigned iterations,
                                             char digits[CKV_PUBLIC_CODE_DIGITS + 1],
                                             uint8_t scannable32[32]);

/* Format digits in groups of 5 separated by one space: 60 digits ->
 * 71 chars + NUL, 30 -> 35 + NUL. `out_len` must be large enough
 * (CKV_ERR_INVALID_ARG otherwise). */
CKV_MUST_USE ckv_status ckv_fingerprint_format(const char *digits, char *out, size_t out_len);

/* Our public code (30 digits, NUL-terminated): our own half. Cached in the
 * profile after the first call. */
CKV_MUST_USE ckv_status ckv_profile_public_code(ckv_profile *p,
                                                char out[CKV_PUBLIC_CODE_DIGITS + 1]);

/* The safety number with `contact` for their pinned key (our half cached).
 * scannable_version 1 or 2 (0 = CKV_SCANNABLE_VERSION). CKV_ERR_NO_CONTACT.
 * `contact_key` (may be NULL) receives the key the number was computed for
 * (pass it to ckv_contact_verify). */
CKV_MUST_USE ckv_status ckv_profile_safety_number(ckv_profile *p, const char *contact,
                                                  unsigned scannable_version,
                                                  ckv_safety_number *out,
                                                  uint8_t contact_key[33]);

/* How a compared code matched. */
typedef struct ckv_code_compare {
    int kind;          /* 60 = a safety number was given, 30 = a public code */
    int first_bad_group; /* 1-based group (of 5 digits) that differs first, 0 if none */
    int n_bad_groups;  /* how many groups differ */
} ckv_code_compare;

/* Compare a pasted code with the expected one for `contact`: either the
 * 60-digit safety number or the contact's 30-digit public code. Spaces,
 * tabs, '-' and newlines in `code` are ignored; anything else but digits
 * gives CKV_ERR_MALFORMED; a digit count other than 60 or 30 gives
 * CKV_ERR_MALFORMED. CKV_OK on a match, CKV_ERR_CODE_MISMATCH otherwise;
 * `result` (may be NULL) says which kind and which group differs (written
 * for OK and CODE_MISMATCH). Marks nothing: call ckv_contact_verify after. */
CKV_MUST_USE ckv_status ckv_profile_compare_code(ckv_profile *p, const char *contact,
                                                 const char *code, ckv_code_compare *result,
                                                 uint8_t contact_key[33]);

/* Compare scanned scannable-fingerprint bytes (from the contact's screen)
 * with ours for `contact`. CKV_OK on a match, CKV_ERR_CODE_MISMATCH (other
 * keys), CKV_ERR_FINGERPRINT_VERSION, CKV_ERR_FINGERPRINT_IDENTITY,
 * CKV_ERR_MALFORMED (not a scannable fingerprint). */
CKV_MUST_USE ckv_status ckv_profile_compare_scanned(ckv_profile *p, const char *contact,
                                                    const uint8_t *scanned, size_t len,
                                                    uint8_t contact_key[33]);

#ifdef __cplusplus
}
#endif
#endif /* CKV_FINGERPRINT_H */
