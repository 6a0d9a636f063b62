/*
 * dir_entry.h: the key directory entry (one transparency-log leaf) and the
 * per-account chain rules. docs/directory.md is the specification; this is
 * its only implementation (ckvd, core and ckv-audit all use it).
 */
#ifndef CKV_DIR_ENTRY_H
#define CKV_DIR_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/name.h"
#include "ckv/status.h"
#include "ckv/xeddsa.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CKV_DIR_ENTRY_MAX 1024 /* bytes of one encoded entry */
#define CKV_DIR_ORIGIN_MAX 255

typedef enum ckv_dir_type {
    CKV_DIR_REGISTER = 1, /* first entry of a name */
    CKV_DIR_ROTATE = 2,   /* new key, signed by the previous key */
    CKV_DIR_RESET = 3,    /* new key without the previous key (lost device) */
} ckv_dir_type;

typedef struct ckv_dir_entry {
    char origin[CKV_DIR_ORIGIN_MAX + 1]; /* the log's origin line */
    char name[CKV_NAME_MAX + 1];         /* normalised account name */
    ckv_dir_type type;
    uint64_t version;                    /* 1, 2, ... */
    uint8_t key[CKV_IDENTITY_KEY_LEN];   /* identity key, 0x05 prefix */
    int has_prev;                        /* 0 for version 1, else 1 */
    uint64_t prev_index;                 /* leaf index of the previous entry */
    uint8_t prev_hash[32];               /* its RFC 9162 leaf hash */
    int64_t time;                        /* unix seconds, >= 0 */
    uint8_t pop[CKV_XEDDSA_SIG_LEN];     /* by `key`, over the body */
    int has_old_sig;                     /* 1 exactly for ROTATE */
    uint8_t old_sig[CKV_XEDDSA_SIG_LEN]; /* by the previous key */
} ckv_dir_entry;

/* "register", "rotate", "reset" (or "?" for anything else). */
const char *ckv_dir_type_name(ckv_dir_type t);

/* The signed body (every line before `pop`) into buf. *len_out gets its
 * length; buf is NUL-terminated. CKV_ERR_INVALID_ARG if the entry's fields
 * are out of range, CKV_ERR_TOO_LARGE if cap is too small. */
CKV_MUST_USE ckv_status ckv_dir_entry_body(const ckv_dir_entry *e, char *buf, size_t cap,
                                           size_t *len_out);

/* The whole canonical encoding (NUL-terminated; *len_out excludes the NUL). */
CKV_MUST_USE ckv_status ckv_dir_entry_encode(const ckv_dir_entry *e, char *buf, size_t cap,
                                             size_t *len_out);

/* Strict parse of untrusted bytes. Accepts only the canonical encoding (the
 * one ckv_dir_entry_encode produces), at most CKV_DIR_ENTRY_MAX bytes.
 * Signatures are NOT checked here (see ckv_dir_entry_verify). *out is
 * written only on success. Errors: CKV_ERR_DIR_BAD_ENTRY, CKV_ERR_TOO_LARGE,
 * CKV_ERR_NONCANONICAL (well-formed but not the canonical encoding),
 * CKV_ERR_DIR_BAD_KEY (the key fails ckv_xeddsa_check_key). */
CKV_MUST_USE ckv_status ckv_dir_entry_parse(const uint8_t *data, size_t len, ckv_dir_entry *out);

/* Fill e->pop by signing with the new key's private half (which must match
 * e->key: checked). */
CKV_MUST_USE ckv_status ckv_dir_entry_sign_pop(ckv_dir_entry *e,
                                               const uint8_t priv[CKV_PRIVATE_KEY_LEN]);

/* Fill e->old_sig (ROTATE) by signing with the previous key. */
CKV_MUST_USE ckv_status ckv_dir_entry_sign_rotation(ckv_dir_entry *e,
                                                    const uint8_t old_priv[CKV_PRIVATE_KEY_LEN]);

/* Check the entry's own signatures: pop under e->key, and for ROTATE
 * old_sig under prev_key (required then; ignored otherwise).
 * CKV_OK or CKV_ERR_DIR_BAD_SIGNATURE / CKV_ERR_DIR_BAD_KEY /
 * CKV_ERR_INVALID_ARG. */
CKV_MUST_USE ckv_status ckv_dir_entry_verify(const ckv_dir_entry *e,
                                             const uint8_t *prev_key /* 33 bytes or NULL */);

/* Chain rules (docs/directory.md). prev is the account's previous entry (or
 * NULL when next is to be its first), stored at leaf prev_index with leaf
 * hash prev_leaf_hash. Checks type/version/links, same name and origin, and
 * every signature of next. CKV_OK or CKV_ERR_DIR_BAD_CHAIN (links, versions,
 * types), CKV_ERR_DIR_BAD_SIGNATURE, CKV_ERR_DIR_NAME_TAKEN (a register for
 * a name that has entries). */
CKV_MUST_USE ckv_status ckv_dir_chain_check(const ckv_dir_entry *prev, uint64_t prev_index,
                                            const uint8_t prev_leaf_hash[32],
                                            const ckv_dir_entry *next);

/* RFC 9162 leaf hash of an encoded entry (SHA-256(0x00 || bytes)). */
void ckv_dir_leaf_hash(const uint8_t *encoded, size_t len, uint8_t out[32]);

#ifdef __cplusplus
}
#endif
#endif
