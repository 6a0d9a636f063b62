/*
 * internal.h: what the files of core/ share and nobody else sees.
 *
 * Layout of the profile in memory (struct ckv_profile) and on disk (see
 * db.c's schema and docs/core.md), the sealing helpers (seal.c), the
 * libsignal glue (provider.c, store.c) and the per-call "operation" record
 * through which libsignal's store callbacks report trust decisions back to
 * the call that triggered them (session.c, contact.c).
 *
 * Threading: one ckv_profile is used by one thread at a time. The
 * process-wide signal context (ckv_sg_global) is only used for stateless
 * calls (key decoding, signature checks, scannable fingerprints).
 */
#ifndef CKV_CORE_INTERNAL_H
#define CKV_CORE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <signal/signal_protocol.h>
#include <sqlite3.h>

#include "ckv/core.h"

/* ---- sealing (seal.c) ------------------------------------------------ */

#define CKV_KEY_LEN 32
/* sealed value = nonce (24) || ciphertext || tag (16) */
#define CKV_SEAL_NONCE 24
#define CKV_SEAL_TAG 16
#define CKV_SEAL_OVERHEAD (CKV_SEAL_NONCE + CKV_SEAL_TAG)

/* Associated-data tags: which table a sealed value belongs to. */
enum ckv_seal_table {
    SEAL_META = 1,
    SEAL_SESSION = 2,
    SEAL_PREKEY = 3,
    SEAL_SIGNED_PREKEY = 4,
    SEAL_CONTACT = 5,
    SEAL_MESSAGE = 6,
    SEAL_SENDER_KEY = 7,
    SEAL_KT_LATEST = 8
};

/* Seal `len` bytes with `key`, AD = "ckv1" || table || rowkey. *out is
 * malloc'd (len + CKV_SEAL_OVERHEAD bytes). */
ckv_status ckv_seal(const uint8_t key[CKV_KEY_LEN], int table, const uint8_t *rowkey,
                    size_t rowkey_len, const uint8_t *in, size_t len, uint8_t **out,
                    size_t *out_len);
/* Open a sealed value. CKV_ERR_PROFILE_DAMAGED when it does not
 * authenticate (wrong row, altered bytes). *out is malloc'd with one spare
 * NUL byte after the data; the caller wipes and frees it. */
ckv_status ckv_unseal(const uint8_t key[CKV_KEY_LEN], int table, const uint8_t *rowkey,
                      size_t rowkey_len, const uint8_t *in, size_t len, uint8_t **out,
                      size_t *out_len);
/* Wipe then free. NULL is a no-op. */
void ckv_wipe_free(void *ptr, size_t len);

/* ---- the profile --------------------------------------------------- */

enum ckv_stmt_id {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_META_GET,
    STMT_META_PUT,
    STMT_META_DEL,
    STMT_META_COUNT,
    STMT_SESSION_GET,
    STMT_SESSION_PUT,
    STMT_SESSION_HAS,
    STMT_SESSION_DEL,
    STMT_SESSION_DEL_ALL,
    STMT_SESSION_DEVICES,
    STMT_PREKEY_GET,
    STMT_PREKEY_PUT,
    STMT_PREKEY_HAS,
    STMT_PREKEY_DEL,
    STMT_PREKEY_AVAILABLE,
    STMT_PREKEY_NEXT_FREE,
    STMT_PREKEY_MARK,
    STMT_SPK_GET,
    STMT_SPK_PUT,
    STMT_SPK_HAS,
    STMT_SPK_DEL,
    STMT_CONTACT_GET,
    STMT_CONTACT_PUT,
    STMT_CONTACT_ALL,
    STMT_MSG_NEXT_ID,
    STMT_MSG_PUT,
    STMT_MSG_LIST,
    STMT_MSG_GET,
    STMT_MSG_SET,
    STMT_MSG_BY_TAG,
    STMT_SENDER_GET,
    STMT_SENDER_PUT,
    STMT_SAVEPOINT,
    STMT_RELEASE,
    STMT_ROLLBACK_TO,
    STMT_LATEST_GET,
    STMT_LATEST_PUT,
    STMT_COUNT_
};

/* What the current top-level call is; store callbacks read it. */
enum ckv_op_kind { OP_NONE = 0, OP_START, OP_DECRYPT, OP_ENCRYPT };

struct ckv_op {
    enum ckv_op_kind kind;
    ckv_trust_report report; /* trust outcome: identity store (start) or decrypt */
    ckv_status err;          /* first ckv error raised inside a callback */
};

struct ckv_profile {
    sqlite3 *db;
    char *dir;                          /* NULL for an in-memory profile */
    char account[CKV_NAME_MAX + 1];
    uint8_t seal_key[CKV_KEY_LEN];      /* XChaCha20-Poly1305 key for values */
    uint8_t index_key[CKV_KEY_LEN];     /* HMAC key for name lookup columns */
    uint8_t identity_pub[CKV_IDENTITY_KEY_LEN];
    uint8_t identity_priv[32];
    uint32_t registration_id;
    signal_context *sg;
    signal_protocol_store_context *store;
    pthread_mutex_t lock;               /* recursive, for libsignal */
    sqlite3_stmt *stmt[STMT_COUNT_];
    struct ckv_op op;
    /* one-entry cache of the last name hashed */
    char hashed_name[CKV_NAME_MAX + 1];
    uint8_t hashed[32];
    int has_public_code;
    char public_code[CKV_PUBLIC_CODE_DIGITS + 1];
    uint8_t public_scan32[32];
    /* Optional (the online client, client.c): replaces what the session
     * calls write into the history, inside their transaction. NULL = the
     * plaintext as it is. */
    ckv_status (*history_hook)(ckv_profile *p, const char *name, int outgoing,
                               const uint8_t *body, size_t len, void *ctx);
    void *history_ctx;
    /* While ckv_session_encrypt calls the history (and so the hook) for an
     * outgoing message: the ciphertext it made, so that the online client
     * can put it in its outbox in the same transaction. NULL otherwise. */
    const uint8_t *pending_ct;
    size_t pending_ct_len;
    int pending_ct_type;
    /* Open ckv_db_begin levels: 0 none, 1 a transaction, >1 savepoints
     * inside it (db.c). */
    int txn_depth;
};

/* x25519.c: libsignal's curve25519_donna, computed by libsodium; how many
 * calls it served (provider.c references it, which links it in). */
uint64_t ckv_x25519_calls(void);

/* db.c */
ckv_status ckv_db_open(const char *path, int create, sqlite3 **out);
/* Bring an older profile's schema up to date (idempotent). */
ckv_status ckv_db_migrate(sqlite3 *db);
ckv_status ckv_db_schema(sqlite3 *db);
ckv_status ckv_db_prepare(ckv_profile *p);
void ckv_db_finalize(ckv_profile *p);
/* Transactions nest: the outermost begin is BEGIN IMMEDIATE, an inner one
 * a SAVEPOINT; an inner commit releases its savepoint (durable only when
 * the outermost commits), an inner rollback undoes only its own part. So a
 * caller can run several calls that each begin/commit in one transaction
 * (one WAL commit for a whole batch). */
ckv_status ckv_db_begin(ckv_profile *p);
ckv_status ckv_db_commit(ckv_profile *p);
void ckv_db_rollback(ckv_profile *p);
ckv_status ckv_db_status(int rc); /* SQLite rc -> ckv_status */
/* Reset + clear bindings and return the statement. */
sqlite3_stmt *ckv_stmt(ckv_profile *p, enum ckv_stmt_id id);

/* meta (sealed key/value) */
ckv_status ckv_meta_get(ckv_profile *p, const char *key, uint8_t **out, size_t *out_len);
ckv_status ckv_meta_put(ckv_profile *p, const char *key, const uint8_t *val, size_t len);
ckv_status ckv_meta_get_u32(ckv_profile *p, const char *key, uint32_t *out);
ckv_status ckv_meta_put_u32(ckv_profile *p, const char *key, uint32_t v);
/* Delete key (nothing when absent). */
ckv_status ckv_meta_del(ckv_profile *p, const char *key);
/* How many keys k with lo < k < hi (e.g. "held:", "held;": every "held:..."). */
ckv_status ckv_meta_count(ckv_profile *p, const char *lo, const char *hi, size_t *n);

/* Keyed hash of a normalised name: HMAC-SHA256(index_key, name). */
void ckv_name_hash(ckv_profile *p, const char *name, size_t len, uint8_t out[32]);

/* provider.c: libsignal context with our crypto provider and lock. */
ckv_status ckv_sg_context_create(pthread_mutex_t *lock, signal_context **out);
signal_context *ckv_sg_global(void); /* NULL if it cannot be created */
ckv_status ckv_sg_status(int sg_result); /* libsignal error -> ckv_status */

/* store.c */
ckv_status ckv_store_create(ckv_profile *p);

/* keys.c: prekeys and signed prekeys */
ckv_status ckv_keys_generate_identity(ckv_profile *p);
ckv_status ckv_keys_new_signed_prekey(ckv_profile *p, uint32_t *new_id);
ckv_status ckv_keys_refill(ckv_profile *p, size_t target, size_t *added);

/* contact.c: the trust rules, applied inside the caller's transaction. */
ckv_status ckv_trust_observe(ckv_profile *p, const char *name, const uint8_t key[33],
                             int may_block, ckv_trust_report *report, int *blocked_out);
ckv_status ckv_contact_load(ckv_profile *p, const char *name, ckv_contact **out);
ckv_status ckv_contact_record_blocked_change(ckv_profile *p, const char *name,
                                             const uint8_t key[33], ckv_trust_report *report);
ckv_status ckv_contact_check_send(ckv_profile *p, const char *name);

/* codec.c: the bundle keys decode and (verify_signature) its signature verifies */
ckv_status ckv_bundle_check(const ckv_bundle *b, int verify_signature);

/* session.c */
ckv_status ckv_history_add(ckv_profile *p, const char *name, int outgoing, const uint8_t *body,
                           size_t len);
/* Store a history row directly (no hook); `seq` is the conversation
 * sequence number of a sent message (0 = none). `indexed`: 1 for rows the
 * online client stores (they get a lookup tag, see session.c), 0 for the
 * offline session API's rows. */
ckv_status ckv_history_add_seq(ckv_profile *p, const char *name, int outgoing, uint64_t seq,
                               int indexed, const uint8_t *body, size_t len);
/* Mark the sent message with conversation seq `seq` to `name` delivered
 * now (inside the caller's transaction). No such row, or one already
 * delivered: CKV_OK, nothing changes. */
ckv_status ckv_history_mark_delivered(ckv_profile *p, const char *name, uint64_t seq);

/* misc */
int64_t ckv_now(void);

/* How long after a rotation a PreKey message made from our old bundle is
 * still decrypted with the old identity key (identity.c): 14 days. */
#define CKV_ROTATION_GRACE (14 * 24 * 3600)
/* The identity key pair we had before a rotation (one of the last two),
 * when a PreKey message naming signed prekey spk_id was made from a bundle
 * under it and its grace period runs: *found = 1 and pub/priv set (the
 * caller wipes priv); else *found = 0. identity.c. */
ckv_status ckv_identity_prev_for_spk(ckv_profile *p, uint32_t spk_id,
                                     uint8_t pub[CKV_IDENTITY_KEY_LEN], uint8_t priv[32],
                                     int *found);
/* Forget the old identity key pairs whose grace period is over (an empty
 * record when none is left; called by every receive that stores
 * something). */
ckv_status ckv_identity_prev_expire(ckv_profile *p);
/* 1 when the session with `a` exists and is usable for SENDING: its local
 * identity is our current key (after a rotation, old sessions only
 * receive); 0 when not; -1 on a database error. When remote is not NULL and
 * the answer is 1, the session's remote identity key is copied there (one
 * load of the record for both). session.c. */
int ckv_session_usable(ckv_profile *p, const signal_protocol_address *a,
                       uint8_t remote[CKV_IDENTITY_KEY_LEN]);
void ckv_be32(uint8_t out[4], uint32_t v);

#endif
