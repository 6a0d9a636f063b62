/*
 * identity.c: replacing the profile's identity key (rotate and reset,
 * client.c). The identity key pair lives in meta "identity" (keys.c) and in
 * struct ckv_profile, where libsignal's identity store reads it
 * (store.c: get_identity_key_pair), so both change together, inside one
 * transaction, with everything that was bound to the old key:
 *   - a new signed prekey (signed by the new key);
 *   - the one-time prekeys are replaced (they were published with the old
 *     key; ckvd drops them on a key change);
 *   - every session is deleted: sessions were authenticated with the old
 *     key, and a peer must see the new key in a PreKey message, check it
 *     against the log and apply its trust rules.
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
    st = ckv_meta_put(p, "identity", rec, sizeof rec);
    if (st == CKV_OK) {
        /* the signed prekey is signed with the key in the profile struct */
        memcpy(p->identity_pub, pub, CKV_IDENTITY_KEY_LEN);
        memcpy(p->identity_priv, priv, 32);
        p->has_public_code = 0; /* cached for the old key */
        st = ckv_keys_new_signed_prekey(p, NULL);
    }
    if (st == CKV_OK)
        st = exec(p, "DELETE FROM prekeys; DELETE FROM sessions;");
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
