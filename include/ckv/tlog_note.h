/*
 * tlog_note.h: C2SP signed notes (c2sp.org/signed-note) with Ed25519, and
 * verification of C2SP tlog-cosignature v1 lines (c2sp.org/tlog-cosignature).
 *
 * A note is UTF-8 text, ending in a newline, then a blank line, then one or
 * more signature lines "— <name> <base64(keyid[4] || sig)>\n" (the dash is
 * U+2014). The signed message is the text including its final newline.
 *   key ID     = SHA-256(name || 0x0A || type || public key)[0:4]
 *   type 0x01  = Ed25519 over the text                       (signed-note)
 *   type 0x04  = timestamp[8] BE || Ed25519("cosignature/v1\ntime <T>\n"
 *                || text)                                    (tlog-cosignature)
 * Key strings (libsodium base64, standard alphabet with padding):
 *   signer key   "PRIVATE+KEY+<name>+<keyid hex>+base64(0x01 || seed[32])"
 *   verifier key "<name>+<keyid hex>+base64(type || public key[32])"
 * The library calls sodium_init() itself where it needs libsodium.
 * Opening a note: signatures by unknown keys are ignored; a signature by a
 * known key that fails verification rejects the whole note; at least one
 * known key must have signed. All parsing is bounded and strict.
 */
#ifndef CKV_TLOG_NOTE_H
#define CKV_TLOG_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CKV_TLOG_NOTE_MAX_SIZE 65536  /* whole note, bytes */
#define CKV_TLOG_NOTE_MAX_SIGS 64     /* signature lines in one note */
#define CKV_TLOG_KEY_NAME_MAX 255     /* key name, bytes */
#define CKV_TLOG_SEED_SIZE 32
#define CKV_TLOG_PUBKEY_SIZE 32

#define CKV_TLOG_KEY_TYPE_ED25519 0x01
#define CKV_TLOG_KEY_TYPE_COSIGNATURE 0x04

/* ---- signer keys (secret) ----------------------------------------------- */

typedef struct ckv_tlog_signer ckv_tlog_signer; /* opaque; secret, wiped on free */

/* Generate a new random Ed25519 key named name. On success *skey_out and
 * *vkey_out are malloc'd NUL-terminated key strings; the caller must wipe
 * (sodium_memzero of strlen bytes) and free *skey_out. A name is 1..255
 * bytes of printable ASCII/UTF-8 without spaces, '+' or control characters.
 * Either out pointer may be NULL when not wanted. */
CKV_MUST_USE ckv_status ckv_tlog_signer_generate(const char *name, char **skey_out,
                                                 char **vkey_out);

/* The same from a given 32-byte RFC 8032 seed (deterministic; for tests and
 * for keys kept elsewhere). */
CKV_MUST_USE ckv_status ckv_tlog_signer_from_seed(const char *name,
                                                  const uint8_t seed[CKV_TLOG_SEED_SIZE],
                                                  char **skey_out, char **vkey_out);

/* Parse a signer key string (trailing "\n" or "\r\n" tolerated, nothing
 * else). Checks the key ID. CKV_ERR_TLOG_BAD_KEY when malformed. *out is
 * freed with ckv_tlog_signer_free. */
CKV_MUST_USE ckv_status ckv_tlog_signer_parse(const char *skey, size_t len,
                                              ckv_tlog_signer **out);

/* Wipe and free; NULL is a no-op. */
void ckv_tlog_signer_free(ckv_tlog_signer *s);

/* Borrowed, valid while s lives. */
const char *ckv_tlog_signer_name(const ckv_tlog_signer *s);
uint32_t ckv_tlog_signer_key_id(const ckv_tlog_signer *s);

/* The verifier key string for s (malloc'd; caller frees). */
CKV_MUST_USE ckv_status ckv_tlog_signer_vkey(const ckv_tlog_signer *s, char **vkey_out);

/* Read a signer key file: must be a regular file not readable or writable
 * by group or others (else CKV_ERR_PERM), at most 1 KiB. Write one: creates
 * path with mode 0600, fails with CKV_ERR_EXISTS if it exists, fsyncs. */
CKV_MUST_USE ckv_status ckv_tlog_signer_load(const char *path, ckv_tlog_signer **out);
CKV_MUST_USE ckv_status ckv_tlog_skey_save(const char *path, const char *skey);

/* ---- verifier keys (public) --------------------------------------------- */

typedef struct ckv_tlog_verifier ckv_tlog_verifier; /* opaque */

/* Parse "<name>+<keyid hex>+<base64>" of type 0x01 (Ed25519 note signer) or
 * 0x04 (tlog-cosignature witness). Trailing newline tolerated. Checks the
 * key ID against name and key. CKV_ERR_TLOG_BAD_KEY when malformed. */
CKV_MUST_USE ckv_status ckv_tlog_verifier_parse(const char *vkey, size_t len,
                                                ckv_tlog_verifier **out);
void ckv_tlog_verifier_free(ckv_tlog_verifier *v);
const char *ckv_tlog_verifier_name(const ckv_tlog_verifier *v);
uint32_t ckv_tlog_verifier_key_id(const ckv_tlog_verifier *v);
uint8_t ckv_tlog_verifier_type(const ckv_tlog_verifier *v);

/* Key ID = first 4 bytes (big-endian) of SHA-256(name || 0x0A || type || pub). */
uint32_t ckv_tlog_key_id(const char *name, uint8_t type, const uint8_t pub[CKV_TLOG_PUBKEY_SIZE]);

/* ---- signing and opening ------------------------------------------------ */

/* Sign text (must be non-empty, end in '\n', be valid UTF-8 without other
 * control characters than '\n', at most CKV_TLOG_NOTE_MAX_SIZE/2) with s,
 * giving text || "\n" || "— name base64(keyid||sig)\n". *note_out is
 * malloc'd, NUL-terminated (length *note_len, excluding the NUL). */
CKV_MUST_USE ckv_status ckv_tlog_note_sign(const char *text, size_t text_len,
                                           const ckv_tlog_signer *s, char **note_out,
                                           size_t *note_len);

/* An opened note. text points into a private copy; freed by ckv_tlog_note_free. */
typedef struct ckv_tlog_note {
    char *text;           /* the signed text incl. final '\n', NUL-terminated */
    size_t text_len;
    size_t nverified;     /* how many known verifiers' signatures verified */
    const ckv_tlog_verifier *verified[CKV_TLOG_NOTE_MAX_SIGS]; /* borrowed from caller's set */
    uint64_t cosig_time[CKV_TLOG_NOTE_MAX_SIGS]; /* for type 0x04 verifiers: timestamp; else 0 */
    size_t nunverified;   /* signature lines from unknown keys (ignored) */
} ckv_tlog_note;

/* Parse and verify a signed note against the verifiers (n may be 0, then
 * every note fails with CKV_ERR_TLOG_NO_SIGNATURE). Errors:
 * CKV_ERR_TOO_LARGE, CKV_ERR_TLOG_BAD_NOTE (malformed; also a duplicate
 * signature line by the same known key),
 * CKV_ERR_TLOG_BAD_SIGNATURE (a known key's signature fails),
 * CKV_ERR_TLOG_NO_SIGNATURE (no known key signed). *out only on success. */
CKV_MUST_USE ckv_status ckv_tlog_note_open(const char *note, size_t len,
                                           const ckv_tlog_verifier *const *verifiers, size_t n,
                                           ckv_tlog_note **out);
void ckv_tlog_note_free(ckv_tlog_note *note);

#ifdef __cplusplus
}
#endif
#endif /* CKV_TLOG_NOTE_H */
