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
 *     The record holds the last PREV_MAX such key pairs, oldest first (a
 *     record of one is the format before there could be more), so that two
 *     rotations in a row lose nothing either: the identity a message needs
 *     is the oldest one whose newest signed prekey id is at least the
 *     message's (keys.c keeps the current signed prekey and two before it,
 *     which is what bounds PREV_MAX).
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
#define PREV_MAX 2 /* key pairs kept: as many as signed prekeys before the current one */

/* The kept key pairs: *rec (wipe it), *n whole entries; none when the
 * record is absent or empty (forgotten). */
static ckv_status prev_load(ckv_profile *p, uint8_t **rec, size_t *len, size_t *n)
{
    ckv_status st = ckv_meta_get(p, "identity_prev", rec, len);
    *n = 0;
    if (st == CKV_ERR_NOT_FOUND) {
        *rec = NULL;
        *len = 0;
        return CKV_OK;
    }
    if (st != CKV_OK)
        return st;
    if (*len % PREV_LEN != 0 || *len / PREV_LEN > PREV_MAX) {
        ckv_wipe_free(*rec, *len);
        *rec = NULL;
        *len = 0;
        return CKV_ERR_PROFILE_DAMAGED;
    }
    *n = *len / PREV_LEN;
    return CKV_OK;
}

static uint32_t prev_spk(const uint8_t *e)
{
    return (uint32_t)e[65] << 24 | (uint32_t)e[66] << 16 | (uint32_t)e[67] << 8 | e[68];
}

static int prev_live(const uint8_t *e, int64_t now)
{
    int64_t at = (int64_t)ckv_get_be64(e + 69);
    return at <= now && now - at <= CKV_ROTATION_GRACE;
}

ckv_status ckv_identity_prev_for_spk(ckv_profile *p, uint32_t spk_id,
                                     uint8_t pub[CKV_IDENTITY_KEY_LEN], uint8_t priv[32],
                                     int *found)
{
    uint8_t *rec = NULL;
    size_t len = 0, n = 0;
    int64_t now = ckv_now();
    ckv_status st = prev_load(p, &rec, &len, &n);
    *found = 0;
    if (st != CKV_OK)
        return st;
    /* oldest first: the first whose signed prekeys reach spk_id made it */
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = rec + i * PREV_LEN;
        if (spk_id <= prev_spk(e)) {
            if (prev_live(e, now)) {
                memcpy(pub, e, CKV_IDENTITY_KEY_LEN);
                memcpy(priv, e + CKV_IDENTITY_KEY_LEN, 32);
                *found = 1;
            }
            break;
        }
    }
    ckv_wipe_free(rec, len);
    return st;
}

/* Write the entries of rec that are still in their grace period, the
 * newest max of them (an empty record when none); only when that drops
 * one, unless force. */
static ckv_status prev_store_live(ckv_profile *p, const uint8_t *rec, size_t n, size_t max,
                                  int force)
{
    uint8_t out[PREV_LEN * (PREV_MAX + 1)];
    size_t k = 0, live = 0;
    int64_t now = ckv_now();
    ckv_status st;
    for (size_t i = 0; i < n; i++)
        live += prev_live(rec + i * PREV_LEN, now);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = rec + i * PREV_LEN;
        if (!prev_live(e, now))
            continue;
        if (live-- > max) /* the oldest go first */
            continue;
        memcpy(out + k * PREV_LEN, e, PREV_LEN);
        k++;
    }
    st = force || k != n ? ckv_meta_put(p, "identity_prev", out, k * PREV_LEN) : CKV_OK;
    sodium_memzero(out, sizeof out);
    return st;
}

ckv_status ckv_identity_prev_expire(ckv_profile *p)
{
    uint8_t *rec = NULL;
    size_t len = 0, n = 0;
    ckv_status st = prev_load(p, &rec, &len, &n);
    if (st == CKV_OK && n > 0)
        st = prev_store_live(p, rec, n, PREV_MAX, 0);
    ckv_wipe_free(rec, len);
    return st;
}

/* Keep the outgoing key pair for the grace period (see the top comment),
 * after the ones kept before. */
static ckv_status keep_prev(ckv_profile *p, const uint8_t pub[CKV_IDENTITY_KEY_LEN],
                            const uint8_t priv[32])
{
    uint8_t all[PREV_LEN * (PREV_MAX + 1)], *rec = NULL;
    size_t len = 0, n = 0;
    uint32_t spk = 0;
    ckv_status st = ckv_meta_get_u32(p, "spk_current", &spk);
    if (st == CKV_ERR_NOT_FOUND) {
        spk = 0;
        st = CKV_OK;
    }
    if (st == CKV_OK)
        st = prev_load(p, &rec, &len, &n);
    if (st != CKV_OK)
        return st;
    if (len > 0)
        memcpy(all, rec, len); /* n <= PREV_MAX entries */
    uint8_t *e = all + n * PREV_LEN;
    memcpy(e, pub, CKV_IDENTITY_KEY_LEN);
    memcpy(e + CKV_IDENTITY_KEY_LEN, priv, 32);
    e[65] = (uint8_t)(spk >> 24);
    e[66] = (uint8_t)(spk >> 16);
    e[67] = (uint8_t)(spk >> 8);
    e[68] = (uint8_t)spk;
    ckv_put_be64(e + 69, (uint64_t)ckv_now());
    st = prev_store_live(p, all, n + 1, PREV_MAX, 1);
    sodium_memzero(all, sizeof all);
    ckv_wipe_free(rec, len);
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
