/*
 * identity.c: replacing the profile's identity key (rotate and reset,
 * client.c). The identity key pair lives in meta "identity" (keys.c) and in
 * struct ckv_profile, where libsignal's identity store reads it
 * (store.c: get_identity_key_pair), so both change together, inside one
 * transaction, with everything that was bound to the old key:
 *   - a new signed prekey (signed by the new key);
 *   - the one-time prekeys never handed out are replaced (ckvd drops the
 *     published ones on a key change); those handed out are KEPT: a PreKey
 *     message made from them may still be queued for us;
 *   - the sessions are KEPT, for receiving only: envelopes already queued on
 *     ckvd (messages, receipts) were encrypted on them, and a contact whose
 *     proof of our old key is still fresh keeps sending on them. Sending
 *     never uses a session whose local identity is not our current key
 *     (session.c `ckv_session_usable`): the next send starts a new session
 *     from our contact's bundle, so the contact sees our new key in a PreKey
 *     message and checks it against the log;
 *   - the old identity key pair is kept, sealed in meta "identity_prev"
 *     (pub 33 || priv 32 || newest signed prekey id under it, 4 BE ||
 *     rotation time, 8 BE), for CKV_ROTATION_GRACE seconds: a PreKey message
 *     made from our OLD bundle (its signed prekey id is at most that id) is
 *     decrypted with it (X3DH used our old identity key). After the grace
 *     period such a message is refused as before (CKV_ERR_INVALID_MESSAGE).
 * The registration id stays.
 */
#include "online.h"

#include <signal/curve.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

ckv_status ckv_identity_generate(ckv_profile *p, uint8_t pub[CKV_IDENTITY_KEY_LEN],
                                 uint8_t priv[32])
{
    ec_key_pair *kp = NULL;
    signal_buffer *b = NULL, *s = NULL;
    ckv_status st = CKV_ERR_SIGNAL;
    if (curve_generate_key_pair(p->sg, &kp) != 0)
        goto out;
    if (ec_public_key_serialize(&b, ec_key_pair_get_public(kp)) != 0 ||
        ec_private_key_serialize(&s, ec_key_pair_get_private(kp)) != 0)
        goto out;
    if (signal_buffer_len(b) != CKV_IDENTITY_KEY_LEN || signal_buffer_len(s) != 32) {
        st = CKV_ERR_INTERNAL;
        goto out;
    }
    memcpy(pub, signal_buffer_data(b), CKV_IDENTITY_KEY_LEN);
    memcpy(priv, signal_buffer_data(s), 32);
    st = CKV_OK;
out:
    signal_buffer_free(b);
    if (s != NULL)
        signal_buffer_bzero_free(s);
    SIGNAL_UNREF(kp);
    return st;
}

#define PREV_LEN (CKV_IDENTITY_KEY_LEN + 32 + 4 + 8)

ckv_status ckv_identity_prev_for_spk(ckv_profile *p, uint32_t spk_id,
                                     uint8_t pub[CKV_IDENTITY_KEY_LEN], uint8_t priv[32],
                                     int *found)
{
    uint8_t *rec = NULL;
    size_t n = 0;
    uint32_t last;
    int64_t at, now = ckv_now();
    ckv_status st = ckv_meta_get(p, "identity_prev", &rec, &n);
    *found = 0;
    if (st == CKV_ERR_NOT_FOUND)
        return CKV_OK;
    if (st != CKV_OK)
        return st;
    if (n != PREV_LEN) {
        st = n == 0 ? CKV_OK : CKV_ERR_PROFILE_DAMAGED;
        goto out;
    }
    last = (uint32_t)rec[65] << 24 | (uint32_t)rec[66] << 16 | (uint32_t)rec[67] << 8 | rec[68];
    at = (int64_t)ckv_get_be64(rec + 69);
    if (spk_id <= last && at <= now && now - at <= CKV_ROTATION_GRACE) {
        memcpy(pub, rec, CKV_IDENTITY_KEY_LEN);
        memcpy(priv, rec + CKV_IDENTITY_KEY_LEN, 32);
        *found = 1;
    }
out:
    ckv_wipe_free(rec, n);
    return st;
}

ckv_status ckv_identity_prev_expire(ckv_profile *p)
{
    uint8_t *rec = NULL;
    size_t n = 0;
    int64_t at, now = ckv_now();
    ckv_status st = ckv_meta_get(p, "identity_prev", &rec, &n);
    if (st == CKV_ERR_NOT_FOUND)
        return CKV_OK;
    if (st != CKV_OK)
        return st;
    if (n == PREV_LEN) {
        at = (int64_t)ckv_get_be64(rec + 69);
        if (at > now || now - at > CKV_ROTATION_GRACE)
            st = ckv_meta_put(p, "identity_prev", (const uint8_t *)"", 0);
    }
    ckv_wipe_free(rec, n);
    return st;
}

/* Keep the outgoing key pair for the grace period (see the top comment). */
static ckv_status keep_prev(ckv_profile *p, const uint8_t pub[CKV_IDENTITY_KEY_LEN],
                            const uint8_t priv[32])
{
    uint8_t rec[PREV_LEN];
    uint32_t spk = 0;
    ckv_status st = ckv_meta_get_u32(p, "spk_current", &spk);
    if (st == CKV_ERR_NOT_FOUND) {
        spk = 0;
        st = CKV_OK;
    }
    if (st != CKV_OK)
        return st;
    memcpy(rec, pub, CKV_IDENTITY_KEY_LEN);
    memcpy(rec + CKV_IDENTITY_KEY_LEN, priv, 32);
    rec[65] = (uint8_t)(spk >> 24);
    rec[66] = (uint8_t)(spk >> 16);
    rec[67] = (uint8_t)(spk >> 8);
    rec[68] = (uint8_t)spk;
    ckv_put_be64(rec + 69, (uint64_t)ckv_now());
    st = ckv_meta_put(p, "identity_prev", rec, sizeof rec);
    sodium_memzero(rec, sizeof rec);
    return st;
}

static ckv_status exec(ckv_profile *p, const char *sql)
{
    return ckv_db_status(sqlite3_exec(p->db, sql, NULL, NULL, NULL));
}

ckv_status ckv_identity_replace(ckv_profile *p, const uint8_t pub[CKV_IDENTITY_KEY_LEN],
                                const uint8_t priv[32])
{
    uint8_t rec[CKV_IDENTITY_KEY_LEN + 32], old_pub[CKV_IDENTITY_KEY_LEN], old_priv[32];
    ckv_status st;

    memcpy(old_pub, p->identity_pub, sizeof old_pub);
    memcpy(old_priv, p->identity_priv, sizeof old_priv);
    memcpy(rec, pub, CKV_IDENTITY_KEY_LEN);
    memcpy(rec + CKV_IDENTITY_KEY_LEN, priv, 32);
    st = ckv_db_begin(p);
    if (st != CKV_OK)
        goto out;
    st = keep_prev(p, old_pub, old_priv); /* before spk_current moves on */
    if (st == CKV_OK)
        st = ckv_meta_put(p, "identity", rec, sizeof rec);
    if (st == CKV_OK) {
        /* the signed prekey is signed with the key in the profile struct */
        memcpy(p->identity_pub, pub, CKV_IDENTITY_KEY_LEN);
        memcpy(p->identity_priv, priv, 32);
        p->has_public_code = 0; /* cached for the old key */
        st = ckv_keys_new_signed_prekey(p, NULL);
    }
    if (st == CKV_OK)
        st = exec(p, "DELETE FROM prekeys WHERE handed_out = 0;");
    if (st == CKV_OK)
        st = ckv_keys_refill(p, CKV_PREKEY_BATCH, NULL);
    if (st == CKV_OK)
        st = ckv_db_commit(p);
    else
        ckv_db_rollback(p);
    if (st != CKV_OK) { /* nothing changed on disk: nor in memory */
        memcpy(p->identity_pub, old_pub, sizeof old_pub);
        memcpy(p->identity_priv, old_priv, sizeof old_priv);
    }
out:
    sodium_memzero(rec, sizeof rec);
    sodium_memzero(old_priv, sizeof old_priv);
    return st;
}
