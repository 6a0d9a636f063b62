/*
 * profile.h: a ckv profile, the sealed SQLite file that holds one account.
 *
 * A profile is one SQLite file, `<dir>/profile.db` (WAL journal, so also
 * profile.db-wal and profile.db-shm next to it), for one account name chosen
 * at creation. The default directory is $XDG_DATA_HOME/ckv/<profile> (with
 * $XDG_DATA_HOME defaulting to ~/.local/share); directories are made 0700,
 * files 0600. Everything secret or private in it (private keys, session
 * state, message history, contacts and their trust journal) is sealed with
 * keys derived from the passphrase: Argon2id -> XChaCha20-Poly1305, see
 * docs/core.md. Opening costs one Argon2id run; everything after is cheap.
 *
 * A ckv_profile is used from one thread at a time (libsignal's reference
 * counting is not atomic). Different profiles may live in different threads.
 * An open profile file is owned by the process that opened it (SQLite
 * EXCLUSIVE locking) until ckv_profile_close: another open of the same
 * profile, from this or another process, fails with CKV_ERR_PROFILE_BUSY
 * (after waiting up to 2 s).
 * Every function that changes the profile commits before it returns, or
 * changes nothing.
 *
 * Passphrases are bytes (pointer + length, not NUL-terminated); the caller
 * owns and wipes its copy.
 */
#ifndef CKV_PROFILE_H
#define CKV_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/name.h"
#include "ckv/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An open, unlocked profile. Opaque. */
typedef struct ckv_profile ckv_profile;

/* Serialised identity public key: 0x05 || 32-byte Curve25519 key. */
#define CKV_IDENTITY_KEY_LEN 33

/* Longest profile name (the directory name under $XDG_DATA_HOME/ckv). */
#define CKV_PROFILE_NAME_MAX 64

/* How expensive the passphrase KDF (Argon2id) is. The choice is stored in
 * the profile file; opening uses what is stored. */
typedef enum ckv_kdf_cost {
    CKV_KDF_MODERATE = 0,    /* libsodium MODERATE: 256 MiB, 3 passes. Default for users. */
    CKV_KDF_INTERACTIVE = 1, /* libsodium INTERACTIVE: 64 MiB, 2 passes. */
    CKV_KDF_MIN = 2          /* libsodium MIN: 8 KiB, 1 pass. Tests and benchmarks ONLY. */
} ckv_kdf_cost;

/* Number of one-time prekeys created by ckv_profile_create and kept
 * available by ckv_profile_refill_prekeys. */
#define CKV_PREKEY_BATCH 100

/* The directory of profile `profile_name` (NULL = "default"):
 * $XDG_DATA_HOME/ckv/<name>, or $HOME/.local/share/ckv/<name> when
 * XDG_DATA_HOME is unset or empty. The name must be 1..64 bytes of
 * [A-Za-z0-9._-] not starting with '.', else CKV_ERR_BAD_NAME. On success
 * *out_dir is a malloc'd string the caller frees with free(). Creates
 * nothing. CKV_ERR_NOT_FOUND when neither XDG_DATA_HOME nor HOME is set. */
CKV_MUST_USE ckv_status ckv_profile_dir(const char *profile_name, char **out_dir);

/* 1 when `dir` holds a profile file, 0 otherwise (also for NULL). */
int ckv_profile_exists(const char *dir);

/* Create a new profile for account `account` (normalised with
 * ckv_name_normalize) in directory `dir` (created with parents, 0700), or
 * in memory when dir is NULL (SQLite ":memory:", gone at close: for tests
 * and benchmarks). Creates the identity key pair, a registration id, a
 * signed prekey and CKV_PREKEY_BATCH one-time prekeys, all in one
 * transaction. The passphrase must be at least 1 byte
 * (CKV_ERR_WEAK_PASSPHRASE). Errors: CKV_ERR_PROFILE_EXISTS when dir
 * already holds a profile, CKV_ERR_BAD_NAME, CKV_ERR_IO, CKV_ERR_DB.
 * On success *out is an open profile; close it with ckv_profile_close. On
 * failure no profile file is left behind. */
CKV_MUST_USE ckv_status ckv_profile_create(const char *dir, const char *account,
                                           const uint8_t *passphrase, size_t passphrase_len,
                                           ckv_kdf_cost cost, ckv_profile **out);

/* Open and unlock the profile in `dir`. Errors: CKV_ERR_NO_PROFILE (no
 * file), CKV_ERR_PERM (file or directory readable by group/others),
 * CKV_ERR_WRONG_PASSPHRASE, CKV_ERR_PROFILE_DAMAGED (truncated, corrupted
 * or not a ckv profile), CKV_ERR_PROFILE_BUSY (open elsewhere),
 * CKV_ERR_UNSUPPORTED (a newer format), CKV_ERR_IO, CKV_ERR_DB. Never
 * modifies a profile it cannot unlock. */
CKV_MUST_USE ckv_status ckv_profile_open(const char *dir, const uint8_t *passphrase,
                                         size_t passphrase_len, ckv_profile **out);

/* Close the profile, wiping every key held in memory. NULL is a no-op. */
void ckv_profile_close(ckv_profile *p);

/* Change the passphrase: new salt, new KDF cost, new data keys; every sealed
 * value is re-sealed in one transaction (all or nothing). The old passphrase
 * no longer opens the file afterwards. */
CKV_MUST_USE ckv_status ckv_profile_change_passphrase(ckv_profile *p,
                                                      const uint8_t *new_passphrase,
                                                      size_t new_passphrase_len,
                                                      ckv_kdf_cost cost);

/* The profile's normalised account name. Valid until ckv_profile_close. */
const char *ckv_profile_account(const ckv_profile *p);

/* Our identity public key (0x05 || 32 bytes). */
void ckv_profile_identity_key(const ckv_profile *p, uint8_t out[CKV_IDENTITY_KEY_LEN]);

/* Our registration id (1..16380). */
uint32_t ckv_profile_registration_id(const ckv_profile *p);

/* Make a new signed prekey and use it in bundles from now on. The previous
 * two stay stored so that in-flight PreKey messages still decrypt; older
 * ones are deleted. *new_id (may be NULL) receives the new id. */
CKV_MUST_USE ckv_status ckv_profile_rotate_signed_prekey(ckv_profile *p, uint32_t *new_id);

/* Number of one-time prekeys stored and not yet handed out in a bundle. */
CKV_MUST_USE ckv_status ckv_profile_prekeys_available(ckv_profile *p, size_t *out_count);

/* Create one-time prekeys until `target` (1..10000) are available (not yet
 * handed out). *added (may be NULL) receives how many were made. */
CKV_MUST_USE ckv_status ckv_profile_refill_prekeys(ckv_profile *p, size_t target, size_t *added);

#ifdef __cplusplus
}
#endif
#endif /* CKV_PROFILE_H */
