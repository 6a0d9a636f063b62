/*
 * session.c: sessions with contacts on libsignal (X3DH set-up from a
 * bundle, double-ratchet encrypt/decrypt) and the message history.
 *
 * Every call runs in one SQLite transaction (BEGIN IMMEDIATE ... COMMIT):
 * libsignal's store callbacks (store.c) write into it, and so do we (the
 * plaintext into `messages`, contact changes via the identity store). For a
 * decrypt the plaintext is written from libsignal's decrypt callback, which
 * runs after the message authenticated and before libsignal stores the new
 * session state; any failure rolls everything back, so a failed decrypt
 * changes nothing.
 *
 * libsignal addresses: name = the contact's normalised account name,
 * device id 1 (one device per account for now). The address and its name
 * outlive the builder/cipher that keep a pointer to them.
 */
#include "internal.h"

#include <signal/protocol.h>
#include <signal/session_builder.h>
#include <signal/session_cipher.h>
#include <signal/session_pre_key.h>
#include <signal/session_record.h>
#include <signal/session_state.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>


static void op_begin(ckv_profile *p, enum ckv_op_kind kind)
{
    memset(&p->op, 0, sizeof p->op);
    p->op.kind = kind;
}

static ckv_status op_status(ckv_profile *p, int sg)
{
    ckv_status st = p->op.err != CKV_OK ? p->op.err : ckv_sg_status(sg);
    return st;
}

static void be64(uint8_t out[8], uint64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (56 - 8 * i));
}

/*
 * A history row. v = seal(SEAL_MESSAGE, AD = name_h || be64(id)) of
 *   flags(1) || at(8) || body                          flags 0 or 1 (old rows)
 *   flags(1) || at(8) || seq(8) || delivered_at(8) || body   flags 2 or 3
 * where flags bit 0 = outgoing, bit 1 = the seq/delivery fields follow
 * (every row written now has them; delivered_at 0 = no receipt yet).
 * Direction, seq and delivery stay sealed, like the time and text: a plain
 * seq or delivered column would tell which rows we sent and when they
 * were read, which the sealed row hides. To find a sent row by its seq
 * when its receipt arrives, every row carries
 *   tag = HMAC-SHA256(index_key, "ckv-msg-tag" || name_h || kind || be64(n))
 * with kind 1, n = seq for a sent message with a seq, and kind 0, n = id
 * otherwise: 32 pseudo-random bytes in every row the online client stores
 * (sent or received: `indexed`), so the column reveals neither direction
 * nor seq. Rows stored by the offline session API (ckv encrypt/decrypt)
 * carry no seq, can never be found by one, and keep tag NULL in both
 * directions; the index on tag is partial (WHERE tag IS NOT NULL), so they
 * cost no index write (measured: the full index cost a quarter of the
 * durable one-way message rate). (Someone who watches the file over time
 * sees which row a receipt rewrote, as they see any write.)
 */
#define MSG_HDR_OLD 9
#define MSG_HDR 25

static void msg_tag(ckv_profile *p, const uint8_t name_h[32], int kind, uint64_t n,
                    uint8_t out[32])
{
    static const char label[] = "ckv-msg-tag";
    crypto_auth_hmacsha256_state stt;
    uint8_t b[9];
    b[0] = (uint8_t)kind;
    be64(b + 1, n);
    crypto_auth_hmacsha256_init(&stt, p->index_key, sizeof p->index_key);
    crypto_auth_hmacsha256_update(&stt, (const uint8_t *)label, sizeof label - 1);
    crypto_auth_hmacsha256_update(&stt, name_h, 32);
    crypto_auth_hmacsha256_update(&stt, b, sizeof b);
    crypto_auth_hmacsha256_final(&stt, out);
    sodium_memzero(&stt, sizeof stt);
}

static uint64_t get_be64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

ckv_status ckv_history_add(ckv_profile *p, const char *name, int outgoing, const uint8_t *body,
                           size_t len)
{
    ckv_status st;
    if (p->history_hook != NULL) { /* the hook may store through this function */
        ckv_status (*hook)(ckv_profile *, const char *, int, const uint8_t *, size_t, void *) =
            p->history_hook;
        p->history_hook = NULL;
        st = hook(p, name, outgoing, body, len, p->history_ctx);
        p->history_hook = hook;
        return st;
    }
    return ckv_history_add_seq(p, name, outgoing, 0, 0, body, len);
}

ckv_status ckv_history_add_seq(ckv_profile *p, const char *name, int outgoing, uint64_t seq,
                               int indexed, const uint8_t *body, size_t len)
{
    uint8_t rk[40], tag[32], *plain = NULL, *sealed = NULL;
    size_t sealed_len = 0;
    sqlite3_int64 id;
    sqlite3_stmt *s;
    ckv_status st;
    int rc;

    ckv_name_hash(p, name, strlen(name), rk);
    s = ckv_stmt(p, STMT_MSG_NEXT_ID);
    sqlite3_bind_blob(s, 1, rk, 32, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return ckv_db_status(rc);
    }
    id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    be64(rk + 32, (uint64_t)id);
    if (outgoing && seq != 0)
        msg_tag(p, rk, 1, seq, tag);
    else
        msg_tag(p, rk, 0, (uint64_t)id, tag);
    plain = malloc(len + MSG_HDR);
    if (plain == NULL)
        return CKV_ERR_NOMEM;
    plain[0] = (uint8_t)(2 | (outgoing ? 1 : 0));
    be64(plain + 1, (uint64_t)ckv_now());
    be64(plain + 9, outgoing ? seq : 0);
    be64(plain + 17, 0);
    if (len > 0)
        memcpy(plain + MSG_HDR, body, len);
    st = ckv_seal(p->seal_key, SEAL_MESSAGE, rk, sizeof rk, plain, len + MSG_HDR, &sealed,
                  &sealed_len);
    ckv_wipe_free(plain, len + MSG_HDR);
    if (st != CKV_OK)
        return st;
    s = ckv_stmt(p, STMT_MSG_PUT);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_blob(s, 2, rk, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, sealed, (int)sealed_len, SQLITE_STATIC);
    if (indexed)
        sqlite3_bind_blob(s, 4, tag, 32, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 4);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    free(sealed);
    return rc == SQLITE_DONE ? CKV_OK : ckv_db_status(rc);
}

ckv_status ckv_history_mark_delivered(ckv_profile *p, const char *name, uint64_t seq)
{
    uint8_t rk[40], tag[32], *plain = NULL, *sealed = NULL;
    size_t plain_len = 0, sealed_len = 0;
    sqlite3_int64 id;
    sqlite3_stmt *s;
    ckv_status st = CKV_OK;
    int rc;

    if (seq == 0)
        return CKV_OK;
    ckv_name_hash(p, name, strlen(name), rk);
    msg_tag(p, rk, 1, seq, tag);
    s = ckv_stmt(p, STMT_MSG_BY_TAG);
    sqlite3_bind_blob(s, 1, tag, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, rk, 32, SQLITE_STATIC);
    rc = sqlite3_step(s);
    id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return CKV_OK; /* a receipt for a message we have no row for */
    if (rc != SQLITE_ROW)
        return ckv_db_status(rc);
    be64(rk + 32, (uint64_t)id);
    s = ckv_stmt(p, STMT_MSG_GET);
    sqlite3_bind_blob(s, 1, rk, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        st = ckv_unseal(p->seal_key, SEAL_MESSAGE, rk, sizeof rk, sqlite3_column_blob(s, 0),
                        (size_t)sqlite3_column_bytes(s, 0), &plain, &plain_len);
    else
        st = rc == SQLITE_DONE ? CKV_ERR_INTERNAL : ckv_db_status(rc);
    sqlite3_reset(s);
    /* A row that does not open or is not that sent message (a damaged
     * file; ckv_history_list reports it) is left alone: the receipt still
     * decrypts, so that one bad row cannot wedge receiving. */
    if (st == CKV_ERR_PROFILE_DAMAGED ||
        (st == CKV_OK && (plain_len < MSG_HDR || plain[0] != 3 || get_be64(plain + 9) != seq))) {
        st = CKV_OK;
        goto out;
    }
    if (st != CKV_OK)
        goto out;
    if (get_be64(plain + 17) != 0)
        goto out; /* already delivered: keep the first time */
    be64(plain + 17, ckv_now() > 0 ? (uint64_t)ckv_now() : 1);
    st = ckv_seal(p->seal_key, SEAL_MESSAGE, rk, sizeof rk, plain, plain_len, &sealed,
                  &sealed_len);
    if (st != CKV_OK)
        goto out;
    s = ckv_stmt(p, STMT_MSG_SET);
    sqlite3_bind_blob(s, 1, rk, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, id);
    sqlite3_bind_blob(s, 3, sealed, (int)sealed_len, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        st = ckv_db_status(rc);
out:
    free(sealed);
    ckv_wipe_free(plain, plain_len);
    return st;
}

static int has_session(ckv_profile *p, const signal_protocol_address *a)
{
    uint8_t h[32];
    sqlite3_stmt *s;
    int r;
    ckv_name_hash(p, a->name, a->name_len, h);
    s = ckv_stmt(p, STMT_SESSION_HAS);
    sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, a->device_id);
    r = sqlite3_step(s);
    sqlite3_reset(s);
    if (r == SQLITE_ROW)
        return 1;
    return r == SQLITE_DONE ? 0 : -1;
}

/* Whether the current state of the session with `a` was made under our
 * current identity key (internal.h). */
int ckv_session_usable(ckv_profile *p, const signal_protocol_address *a,
                       uint8_t remote[CKV_IDENTITY_KEY_LEN])
{
    session_record *rec = NULL;
    session_state *state;
    signal_buffer *b = NULL, *rb = NULL;
    ec_public_key *k, *rk;
    int r = has_session(p, a);
    if (r <= 0)
        return r;
    if (signal_protocol_session_load_session(p->store, &rec, a) != 0)
        return -1;
    r = 0;
    state = session_record_get_state(rec);
    k = state ? session_state_get_local_identity_key(state) : NULL;
    if (k != NULL && session_state_has_sender_chain(state) &&
        ec_public_key_serialize(&b, k) == 0 && signal_buffer_len(b) == CKV_IDENTITY_KEY_LEN &&
        sodium_memcmp(signal_buffer_data(b), p->identity_pub, CKV_IDENTITY_KEY_LEN) == 0)
        r = 1;
    if (r == 1 && remote != NULL) {
        rk = session_state_get_remote_identity_key(state);
        if (rk == NULL || ec_public_key_serialize(&rb, rk) != 0 ||
            signal_buffer_len(rb) != CKV_IDENTITY_KEY_LEN)
            r = 0; /* no remote key: not a session to send on */
        else
            memcpy(remote, signal_buffer_data(rb), CKV_IDENTITY_KEY_LEN);
    }
    signal_buffer_free(b);
    signal_buffer_free(rb);
    SIGNAL_UNREF(rec);
    return r;
}

ckv_status ckv_session_start(ckv_profile *p, const char *contact, const ckv_bundle *bundle,
                             ckv_trust_report *report)
{
    char name[CKV_NAME_MAX + 1];
    signal_protocol_address addr;
    session_builder *builder = NULL;
    session_pre_key_bundle *pkb = NULL;
    ec_public_key *ik = NULL, *spk = NULL, *pk = NULL;
    int r, in_txn = 0;
    ckv_status st;

    if (p == NULL || contact == NULL || bundle == NULL)
        return CKV_ERR_INVALID_ARG;
    st = ckv_name_normalize(contact, name);
    if (st != CKV_OK)
        return st;
    /* keys and ranges here; libsignal's session builder verifies the
     * signed-prekey signature itself (SG_ERR_INVALID_KEY -> BAD_BUNDLE), so
     * we do not pay for a second XEdDSA verification */
    st = ckv_bundle_check(bundle, 0);
    if (st != CKV_OK)
        return st;
    if (curve_decode_point(&ik, bundle->identity_key, 33, p->sg) != 0 ||
        curve_decode_point(&spk, bundle->signed_prekey, 33, p->sg) != 0 ||
        (bundle->has_prekey && curve_decode_point(&pk, bundle->prekey, 33, p->sg) != 0)) {
        st = CKV_ERR_BAD_BUNDLE;
        goto out;
    }
    if (session_pre_key_bundle_create(&pkb, bundle->registration_id, (int)bundle->device_id,
                                      bundle->has_prekey ? bundle->prekey_id : 0, pk,
                                      bundle->signed_prekey_id, spk,
                                      bundle->signed_prekey_signature, CKV_SIGNATURE_LEN,
                                      ik) != 0) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    addr.name = name;
    addr.name_len = strlen(name);
    addr.device_id = 1;
    if (session_builder_create(&builder, p->store, &addr, p->sg) != 0) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    st = ckv_db_begin(p);
    if (st != CKV_OK)
        goto out;
    in_txn = 1;
    op_begin(p, OP_START);
    r = session_builder_process_pre_key_bundle(builder, pkb);
    if (r < 0) {
        st = op_status(p, r);
        goto out;
    }
    st = ckv_db_commit(p);
    in_txn = 0;
    if (st == CKV_OK && report != NULL)
        *report = p->op.report;
out:
    if (in_txn)
        ckv_db_rollback(p);
    op_begin(p, OP_NONE);
    session_builder_free(builder);
    SIGNAL_UNREF(pkb);
    SIGNAL_UNREF(ik);
    SIGNAL_UNREF(spk);
    SIGNAL_UNREF(pk);
    return st;
}

ckv_status ckv_session_exists(ckv_profile *p, const char *contact, int *out)
{
    char name[CKV_NAME_MAX + 1];
    signal_protocol_address addr;
    ckv_status st;
    int r;
    if (p == NULL || contact == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    st = ckv_name_normalize(contact, name);
    if (st != CKV_OK)
        return st;
    addr.name = name;
    addr.name_len = strlen(name);
    addr.device_id = 1;
    r = has_session(p, &addr);
    if (r < 0)
        return CKV_ERR_DB;
    *out = r;
    return CKV_OK;
}

ckv_status ckv_session_encrypt(ckv_profile *p, const char *contact, const uint8_t *plaintext,
                               size_t len, ckv_envelope *out)
{
    char name[CKV_NAME_MAX + 1];
    signal_protocol_address addr;
    session_cipher *cipher = NULL;
    ciphertext_message *msg = NULL;
    signal_buffer *ser;
    uint8_t *body = NULL;
    int r, type, in_txn = 0;
    ckv_status st;

    if (p == NULL || contact == NULL || out == NULL || (plaintext == NULL && len > 0))
        return CKV_ERR_INVALID_ARG;
    if (len > CKV_PLAINTEXT_MAX)
        return CKV_ERR_TOO_LARGE;
    st = ckv_name_normalize(contact, name);
    if (st != CKV_OK)
        return st;
    addr.name = name;
    addr.name_len = strlen(name);
    addr.device_id = 1;
    st = ckv_db_begin(p);
    if (st != CKV_OK)
        return st;
    in_txn = 1;
    op_begin(p, OP_ENCRYPT);
    /* the trust gate, before EVERY encrypt */
    st = ckv_contact_check_send(p, name);
    if (st != CKV_OK)
        goto out;
    /* a session from before a rotation only receives (identity.c) */
    r = ckv_session_usable(p, &addr, NULL);
    if (r <= 0) {
        st = r == 0 ? CKV_ERR_NO_SESSION : CKV_ERR_DB;
        goto out;
    }
    if (session_cipher_create(&cipher, p->store, &addr, p->sg) != 0) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    r = session_cipher_encrypt(cipher, plaintext ? plaintext : (const uint8_t *)"", len, &msg);
    if (r < 0) {
        st = op_status(p, r);
        goto out;
    }
    type = ciphertext_message_get_type(msg);
    ser = ciphertext_message_get_serialized(msg);
    if ((type != CKV_MSG_PREKEY && type != CKV_MSG_NORMAL) || ser == NULL) {
        st = CKV_ERR_INTERNAL;
        goto out;
    }
    body = malloc(signal_buffer_len(ser));
    if (body == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    memcpy(body, signal_buffer_data(ser), signal_buffer_len(ser));
    p->pending_ct = body;
    p->pending_ct_len = signal_buffer_len(ser);
    p->pending_ct_type = type;
    st = ckv_history_add(p, name, 1, plaintext, len);
    p->pending_ct = NULL;
    p->pending_ct_len = 0;
    if (st != CKV_OK)
        goto out;
    st = ckv_db_commit(p);
    in_txn = 0;
    if (st == CKV_OK) {
        out->type = type;
        out->body = body;
        out->body_len = signal_buffer_len(ser);
        body = NULL;
    }
out:
    if (in_txn)
        ckv_db_rollback(p);
    op_begin(p, OP_NONE);
    free(body);
    SIGNAL_UNREF(msg);
    session_cipher_free(cipher);
    return st;
}

struct decrypt_ctx {
    ckv_profile *p;
    const char *name;
};

/* Runs after the message authenticated, before libsignal stores the new
 * session state: store the plaintext in the same transaction. */
static int on_decrypted(session_cipher *cipher, signal_buffer *plaintext, void *ctx)
{
    struct decrypt_ctx *dc = ctx;
    ckv_status st;
    (void)cipher;
    if (signal_buffer_len(plaintext) > CKV_PLAINTEXT_MAX) {
        dc->p->op.err = CKV_ERR_TOO_LARGE;
        return SG_ERR_INVAL;
    }
    st = ckv_history_add(dc->p, dc->name, 0, signal_buffer_data(plaintext),
                         signal_buffer_len(plaintext));
    if (st != CKV_OK) {
        dc->p->op.err = st;
        return SG_ERR_UNKNOWN;
    }
    return 0;
}

/* The remote identity key of the current session with `a` (just stored,
 * inside the transaction). */
static ckv_status session_identity(ckv_profile *p, const signal_protocol_address *a,
                                   uint8_t out[CKV_IDENTITY_KEY_LEN])
{
    session_record *rec = NULL;
    signal_buffer *ser = NULL;
    ec_public_key *k;
    ckv_status st = CKV_ERR_SIGNAL;
    if (signal_protocol_session_load_session(p->store, &rec, a) != 0)
        goto out;
    k = session_state_get_remote_identity_key(session_record_get_state(rec));
    if (k == NULL || ec_public_key_serialize(&ser, k) != 0 ||
        signal_buffer_len(ser) != CKV_IDENTITY_KEY_LEN)
        goto out;
    memcpy(out, signal_buffer_data(ser), CKV_IDENTITY_KEY_LEN);
    st = CKV_OK;
out:
    if (st != CKV_OK && p->op.err != CKV_OK)
        st = p->op.err;
    signal_buffer_free(ser);
    SIGNAL_UNREF(rec);
    return st;
}

/* Errors of parsing a message body: altered or not a Signal message. */
static ckv_status parse_status(int r)
{
    if (r == SG_ERR_LEGACY_MESSAGE)
        return CKV_ERR_LEGACY_MESSAGE;
    if (r == SG_ERR_NOMEM)
        return CKV_ERR_NOMEM;
    return CKV_ERR_INVALID_MESSAGE;
}

ckv_status ckv_session_decrypt(ckv_profile *p, const char *contact, const ckv_envelope *env,
                               uint8_t **out_plaintext, size_t *out_len, ckv_trust_report *report)
{
    char name[CKV_NAME_MAX + 1];
    signal_protocol_address addr;
    session_cipher *cipher = NULL;
    pre_key_signal_message *pm = NULL;
    signal_message *sm = NULL;
    signal_buffer *pt = NULL;
    struct decrypt_ctx dc;
    uint8_t *copy = NULL;
    int r, in_txn = 0;
    ckv_status st;

    if (p == NULL || contact == NULL || env == NULL || out_plaintext == NULL || out_len == NULL)
        return CKV_ERR_INVALID_ARG;
    if ((env->type != CKV_MSG_PREKEY && env->type != CKV_MSG_NORMAL) || env->body == NULL ||
        env->body_len == 0)
        return CKV_ERR_BAD_ENVELOPE;
    if (env->body_len > CKV_ENVELOPE_BODY_MAX)
        return CKV_ERR_TOO_LARGE;
    st = ckv_name_normalize(contact, name);
    if (st != CKV_OK)
        return st;
    addr.name = name;
    addr.name_len = strlen(name);
    addr.device_id = 1;
    dc.p = p;
    dc.name = name;

    if (env->type == CKV_MSG_PREKEY)
        r = pre_key_signal_message_deserialize(&pm, env->body, env->body_len, p->sg);
    else
        r = signal_message_deserialize(&sm, env->body, env->body_len, p->sg);
    if (r < 0) {
        st = parse_status(r);
        goto out;
    }
    if (session_cipher_create(&cipher, p->store, &addr, p->sg) != 0) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    session_cipher_set_decryption_callback(cipher, on_decrypted);
    st = ckv_db_begin(p);
    if (st != CKV_OK)
        goto out;
    in_txn = 1;
    op_begin(p, OP_DECRYPT);
    if (pm != NULL) {
        /* made from our bundle before a rotation: X3DH used our old
         * identity key, which libsignal reads from p (store.c) */
        uint8_t old_pub[CKV_IDENTITY_KEY_LEN], old_priv[32];
        uint8_t cur_pub[CKV_IDENTITY_KEY_LEN], cur_priv[32];
        int prev = 0;
        st = ckv_identity_prev_for_spk(p, pre_key_signal_message_get_signed_pre_key_id(pm),
                                       old_pub, old_priv, &prev);
        if (st != CKV_OK)
            goto out;
        if (prev) {
            memcpy(cur_pub, p->identity_pub, sizeof cur_pub);
            memcpy(cur_priv, p->identity_priv, sizeof cur_priv);
            memcpy(p->identity_pub, old_pub, sizeof old_pub);
            memcpy(p->identity_priv, old_priv, sizeof old_priv);
        }
        r = session_cipher_decrypt_pre_key_signal_message(cipher, pm, &dc, &pt);
        if (prev) {
            memcpy(p->identity_pub, cur_pub, sizeof cur_pub);
            memcpy(p->identity_priv, cur_priv, sizeof cur_priv);
        }
        sodium_memzero(old_priv, sizeof old_priv);
        sodium_memzero(cur_priv, sizeof cur_priv);
    } else {
        r = has_session(p, &addr);
        if (r <= 0) {
            st = r == 0 ? CKV_ERR_NO_SESSION : CKV_ERR_DB;
            goto out;
        }
        r = session_cipher_decrypt_signal_message(cipher, sm, &dc, &pt);
    }
    if (r < 0) {
        st = op_status(p, r);
        if (st == CKV_ERR_BAD_ENVELOPE || st == CKV_ERR_BAD_BUNDLE)
            st = CKV_ERR_INVALID_MESSAGE;
        goto out;
    }
    if (pm != NULL) {
        /* The message authenticated under the session's remote identity
         * key: apply the trust rules to THAT key (not to the unauthenticated
         * identity field of the PreKey message). */
        uint8_t key[CKV_IDENTITY_KEY_LEN];
        int blocked = 0;
        st = session_identity(p, &addr, key);
        if (st == CKV_OK)
            st = ckv_trust_observe(p, name, key, 1, &p->op.report, &blocked);
        if (st != CKV_OK)
            goto out;
        if (blocked) {
            /* a verified contact's new key: refuse the message, but journal
             * the authenticated change (outside the rolled-back
             * transaction) so that the user can accept or verify it */
            ckv_trust_report rep = p->op.report;
            ckv_db_rollback(p);
            in_txn = 0;
            st = ckv_contact_record_blocked_change(p, name, key, NULL);
            if (st == CKV_OK)
                st = CKV_ERR_UNTRUSTED_IDENTITY;
            if (report != NULL)
                *report = rep;
            goto out;
        }
    }
    copy = malloc(signal_buffer_len(pt) + 1); /* before the commit: no failure after it */
    if (copy == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    memcpy(copy, signal_buffer_data(pt), signal_buffer_len(pt));
    copy[signal_buffer_len(pt)] = 0;
    st = ckv_db_commit(p);
    in_txn = 0;
    if (st != CKV_OK) {
        ckv_wipe_free(copy, signal_buffer_len(pt));
        goto out;
    }
    *out_plaintext = copy;
    *out_len = signal_buffer_len(pt);
    if (report != NULL)
        *report = p->op.report;
out:
    if (in_txn)
        ckv_db_rollback(p);
    op_begin(p, OP_NONE);
    if (pt != NULL)
        signal_buffer_bzero_free(pt);
    SIGNAL_UNREF(pm);
    SIGNAL_UNREF(sm);
    session_cipher_free(cipher);
    return st;
}

ckv_status ckv_history_list(ckv_profile *p, const char *contact, size_t max, ckv_message **out,
                            size_t *count)
{
    char name[CKV_NAME_MAX + 1];
    uint8_t rk[40];
    ckv_message *list = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s;
    ckv_status st;
    int rc;

    if (p == NULL || contact == NULL || out == NULL || count == NULL)
        return CKV_ERR_INVALID_ARG;
    st = ckv_name_normalize(contact, name);
    if (st != CKV_OK)
        return st;
    ckv_name_hash(p, name, strlen(name), rk);
    s = ckv_stmt(p, STMT_MSG_LIST);
    sqlite3_bind_blob(s, 1, rk, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, max == 0 ? -1 : (sqlite3_int64)max);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        uint8_t *plain = NULL;
        size_t plain_len = 0;
        sqlite3_int64 id = sqlite3_column_int64(s, 0);
        be64(rk + 32, (uint64_t)id);
        st = ckv_unseal(p->seal_key, SEAL_MESSAGE, rk, sizeof rk, sqlite3_column_blob(s, 1),
                        (size_t)sqlite3_column_bytes(s, 1), &plain, &plain_len);
        if (st == CKV_OK && (plain_len < MSG_HDR_OLD || plain[0] > 3 ||
                             (plain[0] >= 2 && plain_len < MSG_HDR)))
            st = CKV_ERR_PROFILE_DAMAGED;
        if (st == CKV_OK && n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            ckv_message *nl = realloc(list, ncap * sizeof *nl);
            if (nl == NULL)
                st = CKV_ERR_NOMEM;
            else {
                list = nl;
                cap = ncap;
            }
        }
        if (st == CKV_OK) {
            ckv_message *m = &list[n];
            size_t hdr = plain[0] >= 2 ? MSG_HDR : MSG_HDR_OLD;
            memset(m, 0, sizeof *m);
            m->id = id;
            m->outgoing = plain[0] & 1;
            m->at = (int64_t)get_be64(plain + 1);
            if (hdr == MSG_HDR) {
                m->seq = get_be64(plain + 9);
                m->delivered_at = (int64_t)get_be64(plain + 17);
                m->delivered = m->delivered_at != 0;
            }
            m->len = plain_len - hdr;
            m->body = malloc(m->len + 1);
            if (m->body == NULL)
                st = CKV_ERR_NOMEM;
            else {
                memcpy(m->body, plain + hdr, m->len);
                m->body[m->len] = 0;
                n++;
            }
        }
        ckv_wipe_free(plain, plain_len);
        if (st != CKV_OK)
            break;
    }
    if (st == CKV_OK && rc != SQLITE_DONE)
        st = ckv_db_status(rc);
    sqlite3_reset(s);
    if (st != CKV_OK) {
        ckv_history_free(list, n);
        return st;
    }
    for (size_t i = 0; i < n / 2; i++) { /* oldest first */
        ckv_message t = list[i];
        list[i] = list[n - 1 - i];
        list[n - 1 - i] = t;
    }
    if (n == 0) {
        free(list);
        list = NULL;
    }
    *out = list;
    *count = n;
    return CKV_OK;
}

void ckv_history_free(ckv_message *list, size_t count)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        ckv_wipe_free(list[i].body, list[i].len);
    free(list);
}
