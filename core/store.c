/*
 * store.c: libsignal's five stores (identity, prekeys, signed prekeys,
 * sessions, sender keys), backed by the profile's SQLite file.
 *
 * Every callback runs inside the transaction of the ckv call that made
 * libsignal call it (session.c opens it), so a libsignal operation and what
 * it produced commit or roll back together. Values are sealed (seal.c);
 * names are looked up by their keyed hash. Return conventions follow
 * signal_protocol.h: load_session 1/0, load_(signed_)pre_key SG_SUCCESS or
 * SG_ERR_INVALID_KEY_ID, contains_* 1/0; errors are negative. A ckv error
 * met inside a callback is kept in p->op.err so the caller can report the
 * real cause (e.g. CKV_ERR_PROFILE_DAMAGED) rather than a libsignal code.
 *
 * Identity trust: libsignal asks is_trusted_identity only at session
 * set-up. We answer "trusted" and apply ckv's trust rules ourselves
 * (contact.c: ckv_trust_observe): in save_identity for a session started
 * from a bundle, and for a PreKey message after it decrypted, with the
 * remote identity key of the session that authenticated it (session.c).
 * The send block is enforced by ckv_session_encrypt.
 */
#include "internal.h"

#include <signal/signal_protocol.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static int fail(ckv_profile *p, ckv_status st)
{
    if (p->op.err == CKV_OK)
        p->op.err = st;
    return st == CKV_ERR_NOMEM ? SG_ERR_NOMEM : SG_ERR_UNKNOWN;
}

static int addr_rowkey(ckv_profile *p, const signal_protocol_address *a, uint8_t rk[36])
{
    if (a == NULL || a->name == NULL || a->name_len == 0 || a->name_len > CKV_NAME_MAX)
        return -1;
    ckv_name_hash(p, a->name, a->name_len, rk);
    ckv_be32(rk + 32, (uint32_t)a->device_id);
    return 0;
}

/* ---- sessions ---- */

static int load_session(signal_buffer **record, signal_buffer **user_record,
                        const signal_protocol_address *a, void *ud)
{
    ckv_profile *p = ud;
    uint8_t rk[36], *plain = NULL;
    size_t plain_len = 0;
    sqlite3_stmt *s;
    ckv_status st;
    int rc;

    if (addr_rowkey(p, a, rk) != 0)
        return fail(p, CKV_ERR_BAD_NAME);
    s = ckv_stmt(p, STMT_SESSION_GET);
    sqlite3_bind_blob(s, 1, rk, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, a->device_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(s);
        return 0;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return fail(p, ckv_db_status(rc));
    }
    st = ckv_unseal(p->seal_key, SEAL_SESSION, rk, 36, sqlite3_column_blob(s, 0),
                    (size_t)sqlite3_column_bytes(s, 0), &plain, &plain_len);
    sqlite3_reset(s);
    if (st != CKV_OK)
        return fail(p, st);
    *record = signal_buffer_create(plain, plain_len);
    ckv_wipe_free(plain, plain_len);
    if (*record == NULL)
        return fail(p, CKV_ERR_NOMEM);
    if (user_record != NULL)
        *user_record = NULL;
    return 1;
}

static int sub_device_sessions(signal_int_list **sessions, const char *name, size_t name_len,
                               void *ud)
{
    ckv_profile *p = ud;
    uint8_t h[32];
    signal_int_list *l;
    sqlite3_stmt *s;
    int rc;

    if (name == NULL || name_len == 0 || name_len > CKV_NAME_MAX)
        return fail(p, CKV_ERR_BAD_NAME);
    ckv_name_hash(p, name, name_len, h);
    l = signal_int_list_alloc();
    if (l == NULL)
        return fail(p, CKV_ERR_NOMEM);
    s = ckv_stmt(p, STMT_SESSION_DEVICES);
    sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        signal_int_list_push_back(l, sqlite3_column_int(s, 0));
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        signal_int_list_free(l);
        return fail(p, ckv_db_status(rc));
    }
    *sessions = l;
    return (int)signal_int_list_size(l);
}

static int store_session(const signal_protocol_address *a, uint8_t *record, size_t record_len,
                         uint8_t *user_record, size_t user_record_len, void *ud)
{
    ckv_profile *p = ud;
    uint8_t rk[36], *sealed = NULL;
    size_t sealed_len = 0;
    sqlite3_stmt *s;
    ckv_status st;
    int rc;

    (void)user_record;
    (void)user_record_len;
    if (addr_rowkey(p, a, rk) != 0)
        return fail(p, CKV_ERR_BAD_NAME);
    st = ckv_seal(p->seal_key, SEAL_SESSION, rk, 36, record, record_len, &sealed, &sealed_len);
    if (st != CKV_OK)
        return fail(p, st);
    s = ckv_stmt(p, STMT_SESSION_PUT);
    sqlite3_bind_blob(s, 1, rk, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, a->device_id);
    sqlite3_bind_blob(s, 3, sealed, (int)sealed_len, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    free(sealed);
    return rc == SQLITE_DONE ? 0 : fail(p, ckv_db_status(rc));
}

static int contains_session(const signal_protocol_address *a, void *ud)
{
    ckv_profile *p = ud;
    uint8_t rk[36];
    sqlite3_stmt *s;
    int rc;
    if (addr_rowkey(p, a, rk) != 0)
        return fail(p, CKV_ERR_BAD_NAME);
    s = ckv_stmt(p, STMT_SESSION_HAS);
    sqlite3_bind_blob(s, 1, rk, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, a->device_id);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : fail(p, ckv_db_status(rc));
}

static int delete_session(const signal_protocol_address *a, void *ud)
{
    ckv_profile *p = ud;
    uint8_t rk[36];
    sqlite3_stmt *s;
    int rc;
    if (addr_rowkey(p, a, rk) != 0)
        return fail(p, CKV_ERR_BAD_NAME);
    s = ckv_stmt(p, STMT_SESSION_DEL);
    sqlite3_bind_blob(s, 1, rk, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, a->device_id);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return fail(p, ckv_db_status(rc));
    return sqlite3_changes(p->db) > 0 ? 1 : 0;
}

static int delete_all_sessions(const char *name, size_t name_len, void *ud)
{
    ckv_profile *p = ud;
    uint8_t h[32];
    sqlite3_stmt *s;
    int rc;
    if (name == NULL || name_len == 0 || name_len > CKV_NAME_MAX)
        return fail(p, CKV_ERR_BAD_NAME);
    ckv_name_hash(p, name, name_len, h);
    s = ckv_stmt(p, STMT_SESSION_DEL_ALL);
    sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return fail(p, ckv_db_status(rc));
    return sqlite3_changes(p->db);
}

/* ---- prekeys and signed prekeys ---- */

static int load_by_id(ckv_profile *p, enum ckv_stmt_id sid, int tag, signal_buffer **record,
                      uint32_t id)
{
    uint8_t rk[4], *plain = NULL;
    size_t plain_len = 0;
    sqlite3_stmt *s = ckv_stmt(p, sid);
    ckv_status st;
    int rc;

    ckv_be32(rk, id);
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(s);
        return SG_ERR_INVALID_KEY_ID;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return fail(p, ckv_db_status(rc));
    }
    st = ckv_unseal(p->seal_key, tag, rk, 4, sqlite3_column_blob(s, 0),
                    (size_t)sqlite3_column_bytes(s, 0), &plain, &plain_len);
    sqlite3_reset(s);
    if (st != CKV_OK)
        return fail(p, st);
    *record = signal_buffer_create(plain, plain_len);
    ckv_wipe_free(plain, plain_len);
    return *record ? SG_SUCCESS : fail(p, CKV_ERR_NOMEM);
}

static int put_by_id(ckv_profile *p, enum ckv_stmt_id sid, int tag, uint32_t id,
                     const uint8_t *rec, size_t len)
{
    uint8_t rk[4], *sealed = NULL;
    size_t sealed_len = 0;
    sqlite3_stmt *s;
    ckv_status st;
    int rc;
    ckv_be32(rk, id);
    st = ckv_seal(p->seal_key, tag, rk, 4, rec, len, &sealed, &sealed_len);
    if (st != CKV_OK)
        return fail(p, st);
    s = ckv_stmt(p, sid);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_blob(s, 2, sealed, (int)sealed_len, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    free(sealed);
    return rc == SQLITE_DONE ? 0 : fail(p, ckv_db_status(rc));
}

static int has_by_id(ckv_profile *p, enum ckv_stmt_id sid, uint32_t id)
{
    sqlite3_stmt *s = ckv_stmt(p, sid);
    int rc;
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : fail(p, ckv_db_status(rc));
}

static int del_by_id(ckv_profile *p, enum ckv_stmt_id sid, uint32_t id)
{
    sqlite3_stmt *s = ckv_stmt(p, sid);
    int rc;
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : fail(p, ckv_db_status(rc));
}

static int load_pre_key(signal_buffer **record, uint32_t id, void *ud)
{
    return load_by_id(ud, STMT_PREKEY_GET, SEAL_PREKEY, record, id);
}
static int store_pre_key(uint32_t id, uint8_t *rec, size_t len, void *ud)
{
    return put_by_id(ud, STMT_PREKEY_PUT, SEAL_PREKEY, id, rec, len);
}
static int contains_pre_key(uint32_t id, void *ud)
{
    return has_by_id(ud, STMT_PREKEY_HAS, id);
}
static int remove_pre_key(uint32_t id, void *ud)
{
    return del_by_id(ud, STMT_PREKEY_DEL, id);
}
static int load_spk(signal_buffer **record, uint32_t id, void *ud)
{
    return load_by_id(ud, STMT_SPK_GET, SEAL_SIGNED_PREKEY, record, id);
}
static int store_spk(uint32_t id, uint8_t *rec, size_t len, void *ud)
{
    return put_by_id(ud, STMT_SPK_PUT, SEAL_SIGNED_PREKEY, id, rec, len);
}
static int contains_spk(uint32_t id, void *ud)
{
    return has_by_id(ud, STMT_SPK_HAS, id);
}
static int remove_spk(uint32_t id, void *ud)
{
    return del_by_id(ud, STMT_SPK_DEL, id);
}

/* ---- identity ---- */

static int get_identity_key_pair(signal_buffer **pub, signal_buffer **priv, void *ud)
{
    ckv_profile *p = ud;
    signal_buffer *a = signal_buffer_create(p->identity_pub, CKV_IDENTITY_KEY_LEN);
    signal_buffer *b = signal_buffer_create(p->identity_priv, 32);
    if (a == NULL || b == NULL) {
        signal_buffer_free(a);
        signal_buffer_bzero_free(b);
        return fail(p, CKV_ERR_NOMEM);
    }
    *pub = a;
    *priv = b;
    return 0;
}

static int get_local_registration_id(void *ud, uint32_t *id)
{
    ckv_profile *p = ud;
    *id = p->registration_id;
    return 0;
}

static int save_identity(const signal_protocol_address *a, uint8_t *key, size_t key_len, void *ud)
{
    ckv_profile *p = ud;
    char name[CKV_NAME_MAX + 1];
    int blocked = 0;
    ckv_status st;

    if (key == NULL)
        return 0; /* libsignal "undo" after a failed decrypt: our rollback does it */
    if (a == NULL || a->name_len == 0 || a->name_len > CKV_NAME_MAX)
        return fail(p, CKV_ERR_BAD_NAME);
    if (key_len != CKV_IDENTITY_KEY_LEN)
        return fail(p, CKV_ERR_INVALID_MESSAGE);
    if (p->op.kind == OP_DECRYPT) {
        /* The identity key in a PreKey message is not authenticated by
         * itself (for an existing session it is not even used). The decrypt
         * applies the trust rules afterwards to the key of the session that
         * authenticated the message (session.c). */
        return 0;
    }
    memcpy(name, a->name, a->name_len);
    name[a->name_len] = 0;
    st = ckv_trust_observe(p, name, key, 0, &p->op.report, &blocked);
    if (st != CKV_OK)
        return fail(p, st);
    return 0;
}

static int is_trusted_identity(const signal_protocol_address *a, uint8_t *key, size_t key_len,
                               void *ud)
{
    (void)a;
    (void)ud;
    /* ckv's trust rules run in save_identity and before every encrypt */
    return key != NULL && key_len == CKV_IDENTITY_KEY_LEN ? 1 : 0;
}

/* ---- sender keys (group messaging; kept for completeness) ---- */

static void sender_rowkey(ckv_profile *p, const signal_protocol_sender_key_name *n, uint8_t out[32])
{
    crypto_generichash_state h;
    uint8_t b[8];
    crypto_generichash_init(&h, p->index_key, sizeof p->index_key, 32);
    ckv_be32(b, (uint32_t)n->group_id_len);
    ckv_be32(b + 4, (uint32_t)n->sender.name_len);
    crypto_generichash_update(&h, b, 8);
    crypto_generichash_update(&h, (const uint8_t *)n->group_id, n->group_id_len);
    crypto_generichash_update(&h, (const uint8_t *)n->sender.name, n->sender.name_len);
    ckv_be32(b, (uint32_t)n->sender.device_id);
    crypto_generichash_update(&h, b, 4);
    crypto_generichash_final(&h, out, 32);
}

static int store_sender_key(const signal_protocol_sender_key_name *n, uint8_t *rec, size_t len,
                            uint8_t *urec, size_t ulen, void *ud)
{
    ckv_profile *p = ud;
    uint8_t rk[32], *sealed = NULL;
    size_t sealed_len = 0;
    sqlite3_stmt *s;
    ckv_status st;
    int rc;
    (void)urec;
    (void)ulen;
    sender_rowkey(p, n, rk);
    st = ckv_seal(p->seal_key, SEAL_SENDER_KEY, rk, 32, rec, len, &sealed, &sealed_len);
    if (st != CKV_OK)
        return fail(p, st);
    s = ckv_stmt(p, STMT_SENDER_PUT);
    sqlite3_bind_blob(s, 1, rk, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, sealed, (int)sealed_len, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    free(sealed);
    return rc == SQLITE_DONE ? 0 : fail(p, ckv_db_status(rc));
}

static int load_sender_key(signal_buffer **record, signal_buffer **urec,
                           const signal_protocol_sender_key_name *n, void *ud)
{
    ckv_profile *p = ud;
    uint8_t rk[32], *plain = NULL;
    size_t plain_len = 0;
    sqlite3_stmt *s;
    ckv_status st;
    int rc;
    sender_rowkey(p, n, rk);
    s = ckv_stmt(p, STMT_SENDER_GET);
    sqlite3_bind_blob(s, 1, rk, 32, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(s);
        return 0;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return fail(p, ckv_db_status(rc));
    }
    st = ckv_unseal(p->seal_key, SEAL_SENDER_KEY, rk, 32, sqlite3_column_blob(s, 0),
                    (size_t)sqlite3_column_bytes(s, 0), &plain, &plain_len);
    sqlite3_reset(s);
    if (st != CKV_OK)
        return fail(p, st);
    *record = signal_buffer_create(plain, plain_len);
    ckv_wipe_free(plain, plain_len);
    if (urec != NULL)
        *urec = NULL;
    return *record ? 1 : fail(p, CKV_ERR_NOMEM);
}

ckv_status ckv_store_create(ckv_profile *p)
{
    signal_protocol_session_store ss = {
        .load_session_func = load_session,
        .get_sub_device_sessions_func = sub_device_sessions,
        .store_session_func = store_session,
        .contains_session_func = contains_session,
        .delete_session_func = delete_session,
        .delete_all_sessions_func = delete_all_sessions,
        .user_data = p,
    };
    signal_protocol_pre_key_store pks = {
        .load_pre_key = load_pre_key,
        .store_pre_key = store_pre_key,
        .contains_pre_key = contains_pre_key,
        .remove_pre_key = remove_pre_key,
        .user_data = p,
    };
    signal_protocol_signed_pre_key_store spks = {
        .load_signed_pre_key = load_spk,
        .store_signed_pre_key = store_spk,
        .contains_signed_pre_key = contains_spk,
        .remove_signed_pre_key = remove_spk,
        .user_data = p,
    };
    signal_protocol_identity_key_store iks = {
        .get_identity_key_pair = get_identity_key_pair,
        .get_local_registration_id = get_local_registration_id,
        .save_identity = save_identity,
        .is_trusted_identity = is_trusted_identity,
        .user_data = p,
    };
    signal_protocol_sender_key_store sks = {
        .store_sender_key = store_sender_key,
        .load_sender_key = load_sender_key,
        .user_data = p,
    };
    if (signal_protocol_store_context_create(&p->store, p->sg) != 0)
        return CKV_ERR_SIGNAL;
    if (signal_protocol_store_context_set_session_store(p->store, &ss) != 0 ||
        signal_protocol_store_context_set_pre_key_store(p->store, &pks) != 0 ||
        signal_protocol_store_context_set_signed_pre_key_store(p->store, &spks) != 0 ||
        signal_protocol_store_context_set_identity_key_store(p->store, &iks) != 0 ||
        signal_protocol_store_context_set_sender_key_store(p->store, &sks) != 0)
        return CKV_ERR_SIGNAL;
    return CKV_OK;
}
