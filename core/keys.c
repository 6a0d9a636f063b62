/*
 * keys.c: our long-term and medium-term keys: the identity key pair and
 * registration id (made once), signed prekeys (rotatable; the newest two
 * older ones are kept for in-flight PreKey messages) and one-time prekeys
 * (a batch, refilled on demand). Also the export of our prekey bundle.
 *
 * These functions, except the public ckv_profile_* ones, run inside the
 * caller's transaction. Ids: one-time prekey ids cycle through
 * 1..0xFFFFFE (0xFFFFFF is libsignal's "last resort" id, never removed);
 * signed prekey ids count up from 1.
 */
#include "internal.h"

#include <signal/curve.h>
#include <signal/key_helper.h>
#include <signal/ratchet.h>
#include <signal/session_pre_key.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define PREKEY_ID_MAX 0xFFFFFEu
#define SPK_KEEP 3 /* current + two previous */

static ckv_status put_sealed_by_id(ckv_profile *p, enum ckv_stmt_id id_stmt, int tag, uint32_t id,
                                   const uint8_t *val, size_t len)
{
    uint8_t rk[4], *sealed = NULL;
    size_t sealed_len = 0;
    sqlite3_stmt *s;
    ckv_status st;
    int rc;

    ckv_be32(rk, id);
    st = ckv_seal(p->seal_key, tag, rk, 4, val, len, &sealed, &sealed_len);
    if (st != CKV_OK)
        return st;
    s = ckv_stmt(p, id_stmt);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_blob(s, 2, sealed, (int)sealed_len, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    free(sealed);
    return rc == SQLITE_DONE ? CKV_OK : ckv_db_status(rc);
}

ckv_status ckv_keys_generate_identity(ckv_profile *p)
{
    ratchet_identity_key_pair *kp = NULL;
    signal_buffer *pub = NULL, *priv = NULL;
    uint8_t rec[CKV_IDENTITY_KEY_LEN + 32];
    uint32_t reg = 0;
    ckv_status st = CKV_ERR_SIGNAL;

    if (signal_protocol_key_helper_generate_identity_key_pair(&kp, p->sg) != 0 ||
        signal_protocol_key_helper_generate_registration_id(&reg, 0, p->sg) != 0)
        goto out;
    if (ec_public_key_serialize(&pub, ratchet_identity_key_pair_get_public(kp)) != 0 ||
        ec_private_key_serialize(&priv, ratchet_identity_key_pair_get_private(kp)) != 0)
        goto out;
    if (signal_buffer_len(pub) != CKV_IDENTITY_KEY_LEN || signal_buffer_len(priv) != 32) {
        st = CKV_ERR_INTERNAL;
        goto out;
    }
    memcpy(rec, signal_buffer_data(pub), CKV_IDENTITY_KEY_LEN);
    memcpy(rec + CKV_IDENTITY_KEY_LEN, signal_buffer_data(priv), 32);
    st = ckv_meta_put(p, "identity", rec, sizeof rec);
    if (st == CKV_OK)
        st = ckv_meta_put_u32(p, "registration_id", reg);
    if (st == CKV_OK) {
        memcpy(p->identity_pub, rec, CKV_IDENTITY_KEY_LEN);
        memcpy(p->identity_priv, rec + CKV_IDENTITY_KEY_LEN, 32);
        p->registration_id = reg;
    }
out:
    sodium_memzero(rec, sizeof rec);
    signal_buffer_free(pub);
    signal_buffer_bzero_free(priv);
    SIGNAL_UNREF(kp);
    return st;
}

/* Our identity key pair as a libsignal object (caller unrefs). */
static ckv_status identity_pair(ckv_profile *p, ratchet_identity_key_pair **out)
{
    ec_public_key *pub = NULL;
    ec_private_key *priv = NULL;
    int r = curve_decode_point(&pub, p->identity_pub, CKV_IDENTITY_KEY_LEN, p->sg);
    if (r == 0)
        r = curve_decode_private_point(&priv, p->identity_priv, 32, p->sg);
    if (r == 0)
        r = ratchet_identity_key_pair_create(out, pub, priv);
    SIGNAL_UNREF(pub);
    SIGNAL_UNREF(priv);
    return r == 0 ? CKV_OK : CKV_ERR_SIGNAL;
}

ckv_status ckv_keys_new_signed_prekey(ckv_profile *p, uint32_t *new_id)
{
    ratchet_identity_key_pair *kp = NULL;
    session_signed_pre_key *spk = NULL;
    signal_buffer *ser = NULL;
    uint32_t id = 0;
    ckv_status st;

    st = ckv_meta_get_u32(p, "spk_next", &id);
    if (st == CKV_ERR_NOT_FOUND) {
        id = 1;
        st = CKV_OK;
    }
    if (st != CKV_OK)
        return st;
    st = identity_pair(p, &kp);
    if (st != CKV_OK)
        return st;
    if (signal_protocol_key_helper_generate_signed_pre_key(&spk, kp, id,
                                                           (uint64_t)ckv_now() * 1000, p->sg) != 0 ||
        session_signed_pre_key_serialize(&ser, spk) != 0) {
        st = CKV_ERR_SIGNAL;
        goto out;
    }
    st = put_sealed_by_id(p, STMT_SPK_PUT, SEAL_SIGNED_PREKEY, id, signal_buffer_data(ser),
                          signal_buffer_len(ser));
    if (st == CKV_OK)
        st = ckv_meta_put_u32(p, "spk_current", id);
    if (st == CKV_OK)
        st = ckv_meta_put_u32(p, "spk_next", id + 1);
    if (st == CKV_OK && id > SPK_KEEP) {
        sqlite3_stmt *s = ckv_stmt(p, STMT_SPK_DEL);
        sqlite3_bind_int64(s, 1, id - SPK_KEEP);
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            st = ckv_db_status(rc);
    }
    if (st == CKV_OK && new_id != NULL)
        *new_id = id;
out:
    if (ser != NULL)
        signal_buffer_bzero_free(ser);
    SIGNAL_UNREF(spk);
    SIGNAL_UNREF(kp);
    return st;
}

static ckv_status count_available(ckv_profile *p, size_t *out)
{
    sqlite3_stmt *s = ckv_stmt(p, STMT_PREKEY_AVAILABLE);
    int rc = sqlite3_step(s);
    ckv_status st = CKV_OK;
    if (rc == SQLITE_ROW)
        *out = (size_t)sqlite3_column_int64(s, 0);
    else
        st = ckv_db_status(rc);
    sqlite3_reset(s);
    return st;
}

static int prekey_exists(ckv_profile *p, uint32_t id)
{
    sqlite3_stmt *s = ckv_stmt(p, STMT_PREKEY_HAS);
    sqlite3_bind_int64(s, 1, id);
    int r = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_reset(s);
    return r;
}

ckv_status ckv_keys_refill(ckv_profile *p, size_t target, size_t *added)
{
    size_t have = 0, made = 0;
    uint32_t next = 0;
    ckv_status st = count_available(p, &have);

    if (st != CKV_OK)
        return st;
    st = ckv_meta_get_u32(p, "prekey_next", &next);
    if (st == CKV_ERR_NOT_FOUND) {
        randombytes_buf(&next, sizeof next); /* random start, as libsignal suggests */
        next = next % PREKEY_ID_MAX + 1;
        st = CKV_OK;
    }
    if (st != CKV_OK)
        return st;
    while (have + made < target) {
        ec_key_pair *kp = NULL;
        session_pre_key *pk = NULL;
        signal_buffer *ser = NULL;
        uint32_t id = next;
        size_t tries = 0;

        while (prekey_exists(p, id)) {
            id = id % PREKEY_ID_MAX + 1;
            if (++tries > PREKEY_ID_MAX)
                return CKV_ERR_INTERNAL;
        }
        next = id % PREKEY_ID_MAX + 1;
        if (curve_generate_key_pair(p->sg, &kp) != 0 || session_pre_key_create(&pk, id, kp) != 0 ||
            session_pre_key_serialize(&ser, pk) != 0)
            st = CKV_ERR_SIGNAL;
        else
            st = put_sealed_by_id(p, STMT_PREKEY_PUT, SEAL_PREKEY, id, signal_buffer_data(ser),
                                  signal_buffer_len(ser));
        if (ser != NULL)
            signal_buffer_bzero_free(ser);
        SIGNAL_UNREF(pk);
        SIGNAL_UNREF(kp);
        if (st != CKV_OK)
            return st;
        made++;
    }
    st = ckv_meta_put_u32(p, "prekey_next", next);
    if (st == CKV_OK && added != NULL)
        *added = made;
    return st;
}

ckv_status ckv_profile_rotate_signed_prekey(ckv_profile *p, uint32_t *new_id)
{
    uint32_t id = 0;
    ckv_status st;
    if (p == NULL)
        return CKV_ERR_INVALID_ARG;
    st = ckv_db_begin(p);
    if (st != CKV_OK)
        return st;
    st = ckv_keys_new_signed_prekey(p, &id);
    if (st == CKV_OK)
        st = ckv_db_commit(p);
    else
        ckv_db_rollback(p);
    if (st == CKV_OK && new_id != NULL)
        *new_id = id;
    return st;
}

ckv_status ckv_profile_prekeys_available(ckv_profile *p, size_t *out_count)
{
    if (p == NULL || out_count == NULL)
        return CKV_ERR_INVALID_ARG;
    return count_available(p, out_count);
}

ckv_status ckv_profile_refill_prekeys(ckv_profile *p, size_t target, size_t *added)
{
    size_t n = 0;
    ckv_status st;
    if (p == NULL || target < 1 || target > 10000)
        return CKV_ERR_INVALID_ARG;
    st = ckv_db_begin(p);
    if (st != CKV_OK)
        return st;
    st = ckv_keys_refill(p, target, &n);
    if (st == CKV_OK)
        st = ckv_db_commit(p);
    else
        ckv_db_rollback(p);
    if (st == CKV_OK && added != NULL)
        *added = n;
    return st;
}

/* ---------- bundle export ---------- */

static ckv_status load_by_id(ckv_profile *p, enum ckv_stmt_id sid, int tag, uint32_t id,
                             uint8_t **out, size_t *out_len)
{
    sqlite3_stmt *s = ckv_stmt(p, sid);
    uint8_t rk[4];
    ckv_status st;
    int rc;
    ckv_be32(rk, id);
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        st = ckv_unseal(p->seal_key, tag, rk, 4, sqlite3_column_blob(s, 0),
                        (size_t)sqlite3_column_bytes(s, 0), out, out_len);
    else
        st = rc == SQLITE_DONE ? CKV_ERR_NOT_FOUND : ckv_db_status(rc);
    sqlite3_reset(s);
    return st;
}

static ckv_status pub_of(const ec_key_pair *kp, uint8_t out[33])
{
    signal_buffer *b = NULL;
    ckv_status st = CKV_ERR_SIGNAL;
    if (ec_public_key_serialize(&b, ec_key_pair_get_public(kp)) == 0 &&
        signal_buffer_len(b) == 33) {
        memcpy(out, signal_buffer_data(b), 33);
        st = CKV_OK;
    }
    signal_buffer_free(b);
    return st;
}

ckv_status ckv_profile_export_bundle(ckv_profile *p, int with_prekey, ckv_bundle *out)
{
    ckv_bundle b;
    uint8_t *rec = NULL;
    size_t rec_len = 0;
    uint32_t spk_id = 0;
    session_signed_pre_key *spk = NULL;
    session_pre_key *pk = NULL;
    int in_txn = 0;
    ckv_status st;

    if (p == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    memset(&b, 0, sizeof b);
    b.registration_id = p->registration_id;
    b.device_id = 1;
    memcpy(b.identity_key, p->identity_pub, 33);
    st = ckv_db_begin(p);
    if (st != CKV_OK)
        return st;
    in_txn = 1;
    st = ckv_meta_get_u32(p, "spk_current", &spk_id);
    if (st == CKV_OK)
        st = load_by_id(p, STMT_SPK_GET, SEAL_SIGNED_PREKEY, spk_id, &rec, &rec_len);
    if (st != CKV_OK) {
        if (st == CKV_ERR_NOT_FOUND)
            st = CKV_ERR_PROFILE_DAMAGED;
        goto out;
    }
    if (session_signed_pre_key_deserialize(&spk, rec, rec_len, p->sg) != 0 ||
        session_signed_pre_key_get_signature_len(spk) != CKV_SIGNATURE_LEN) {
        st = CKV_ERR_PROFILE_DAMAGED;
        goto out;
    }
    b.signed_prekey_id = spk_id;
    memcpy(b.signed_prekey_signature, session_signed_pre_key_get_signature(spk),
           CKV_SIGNATURE_LEN);
    st = pub_of(session_signed_pre_key_get_key_pair(spk), b.signed_prekey);
    if (st != CKV_OK)
        goto out;
    if (with_prekey) {
        size_t avail = 0;
        sqlite3_stmt *s;
        int rc;
        uint32_t id;
        uint8_t rk[4];

        st = count_available(p, &avail);
        if (st == CKV_OK && avail == 0)
            st = ckv_keys_refill(p, CKV_PREKEY_BATCH, NULL);
        if (st != CKV_OK)
            goto out;
        s = ckv_stmt(p, STMT_PREKEY_NEXT_FREE);
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW) {
            sqlite3_reset(s);
            st = rc == SQLITE_DONE ? CKV_ERR_INTERNAL : ckv_db_status(rc);
            goto out;
        }
        id = (uint32_t)sqlite3_column_int64(s, 0);
        ckv_be32(rk, id);
        ckv_wipe_free(rec, rec_len);
        rec = NULL;
        st = ckv_unseal(p->seal_key, SEAL_PREKEY, rk, 4, sqlite3_column_blob(s, 1),
                        (size_t)sqlite3_column_bytes(s, 1), &rec, &rec_len);
        sqlite3_reset(s);
        if (st != CKV_OK)
            goto out;
        if (session_pre_key_deserialize(&pk, rec, rec_len, p->sg) != 0) {
            st = CKV_ERR_PROFILE_DAMAGED;
            goto out;
        }
        st = pub_of(session_pre_key_get_key_pair(pk), b.prekey);
        if (st != CKV_OK)
            goto out;
        b.has_prekey = 1;
        b.prekey_id = id;
        s = ckv_stmt(p, STMT_PREKEY_MARK);
        sqlite3_bind_int64(s, 1, id);
        rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE) {
            st = ckv_db_status(rc);
            goto out;
        }
    }
    st = ckv_db_commit(p);
    in_txn = 0;
out:
    if (in_txn)
        ckv_db_rollback(p);
    ckv_wipe_free(rec, rec_len);
    SIGNAL_UNREF(spk);
    SIGNAL_UNREF(pk);
    if (st == CKV_OK)
        *out = b;
    return st;
}
