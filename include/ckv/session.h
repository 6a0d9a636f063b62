/*
 * session.h: Signal-protocol v3 sessions (X3DH + double ratchet) with a
 * contact, the envelope that carries a message, and the message history.
 *
 * Envelope JSON (docs/core.md): {"type": 3|2, "body": "<base64>"}, where 3
 * is a PreKey message (sent until the peer has answered) and 2 a normal
 * message; body is the libsignal-serialised message in standard base64.
 *
 * Each call is atomic: encrypt stores the new session state and the
 * outgoing plaintext in one SQLite transaction; decrypt stores the new
 * session state, the consumed one-time prekey, contact changes and the
 * plaintext in one transaction. A failed call changes nothing (with one
 * documented exception: a verified contact's authenticated key change is
 * journaled, see ckv_session_decrypt).
 */
#ifndef CKV_SESSION_H
#define CKV_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/bundle.h"
#include "ckv/contact.h"
#include "ckv/profile.h"
#include "ckv/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CKV_MSG_PREKEY 3          /* envelope type: PreKeySignalMessage */
#define CKV_MSG_NORMAL 2          /* envelope type: SignalMessage */
#define CKV_PLAINTEXT_MAX 262144  /* largest plaintext we encrypt/accept */
#define CKV_ENVELOPE_BODY_MAX (CKV_PLAINTEXT_MAX + 1024)
#define CKV_ENVELOPE_JSON_MAX (4 * (CKV_ENVELOPE_BODY_MAX / 3 + 1) + 64)

/* An envelope. `body` is malloc'd and owned by the struct; release it with
 * ckv_envelope_clear. */
typedef struct ckv_envelope {
    int type;      /* CKV_MSG_PREKEY or CKV_MSG_NORMAL */
    uint8_t *body;
    size_t body_len;
} ckv_envelope;

/* Parse envelope JSON (`len` bytes, up to CKV_ENVELOPE_JSON_MAX; trailing
 * white space allowed). Strict: an object with exactly "type" (integer 2 or
 * 3) and "body" (canonical standard base64, 1..CKV_ENVELOPE_BODY_MAX bytes
 * decoded). Errors: CKV_ERR_TOO_LARGE, CKV_ERR_BAD_ENVELOPE. *out written
 * only on success (the caller clears it). */
CKV_MUST_USE ckv_status ckv_envelope_parse(const char *json, size_t len, ckv_envelope *out);

/* One line of JSON, malloc'd; the caller frees with free(). */
CKV_MUST_USE ckv_status ckv_envelope_to_json(const ckv_envelope *e, char **out_json);

/* Free the body and zero the struct. NULL is a no-op. */
void ckv_envelope_clear(ckv_envelope *e);

/* Start a session with `contact` from their bundle (X3DH; the bundle must
 * come from ckv_bundle_parse or carry a valid signature, which is checked
 * again). Pins the bundle's identity key for the contact: a new contact is
 * created unverified; a different key than the pinned one is a key change
 * (recorded; for a verified contact the state becomes changed and sending
 * blocks until verify/accept; the session is still built so that accepting
 * is enough). An existing session is replaced. `report` (may be NULL) is
 * written on success. Errors: CKV_ERR_BAD_NAME, CKV_ERR_BAD_BUNDLE,
 * CKV_ERR_SIGNAL, CKV_ERR_DB. */
CKV_MUST_USE ckv_status ckv_session_start(ckv_profile *p, const char *contact,
                                          const ckv_bundle *bundle, ckv_trust_report *report);

/* 1 in *out when a session with the contact exists. */
CKV_MUST_USE ckv_status ckv_session_exists(ckv_profile *p, const char *contact, int *out);

/* Encrypt `len` (0..CKV_PLAINTEXT_MAX) bytes for `contact`. Before every
 * encrypt the contact's trust state is checked: state changed gives
 * CKV_ERR_KEY_CHANGED_BLOCKED. Errors: CKV_ERR_NO_CONTACT / CKV_ERR_NO_SESSION
 * (start one first), CKV_ERR_TOO_LARGE. On success *out holds the envelope
 * (type 3 until the contact has answered, then 2) and the plaintext is in
 * the history. */
CKV_MUST_USE ckv_status ckv_session_encrypt(ckv_profile *p, const char *contact,
                                            const uint8_t *plaintext, size_t len,
                                            ckv_envelope *out);

/* Decrypt an envelope from `contact`. A PreKey message (type 3) from an
 * unknown contact creates the contact (unverified, its key pinned) and the
 * session. On success *out_plaintext (malloc'd, caller frees with free();
 * a NUL byte follows the data, not counted in *out_len) and `report` (may
 * be NULL) are written; the plaintext is in the history.
 * Errors, each changing no stored state:
 *   CKV_ERR_DUPLICATE_MESSAGE  already decrypted (replay);
 *   CKV_ERR_INVALID_MESSAGE    altered, truncated, not a Signal message of
 *                              that type, or not for this session (also a
 *                              message too far ahead / from a dropped chain);
 *   CKV_ERR_BAD_ENVELOPE       the envelope's type is not 2 or 3, or it has
 *                              no body;
 *   CKV_ERR_NO_SESSION         a normal message and no session;
 *   CKV_ERR_NO_PREKEY          the PreKey message uses a one-time prekey we
 *                              no longer have (or an unknown signed prekey);
 *   CKV_ERR_LEGACY_MESSAGE     an old protocol version.
 *   CKV_ERR_UNTRUSTED_IDENTITY a PreKey message, correctly authenticated,
 *                              under a NEW identity key for a verified
 *                              contact, or any PreKey message for a contact
 *                              in state changed: the message is NOT
 *                              decrypted or stored and the session is
 *                              unchanged, but an authenticated key change
 *                              IS journaled (state changed, new key pinned,
 *                              report->key_changed = 1). After
 *                              ckv_contact_accept or ckv_contact_verify the
 *                              same envelope decrypts.
 * The trust rules use the identity key of the session that authenticated
 * the message, never the (unauthenticated) identity field of a PreKey
 * message.
 * A key change for an unverified/logged contact decrypts normally and sets
 * report->key_changed. */
CKV_MUST_USE ckv_status ckv_session_decrypt(ckv_profile *p, const char *contact,
                                            const ckv_envelope *env, uint8_t **out_plaintext,
                                            size_t *out_len, ckv_trust_report *report);

/* One stored message (history). */
typedef struct ckv_message {
    int64_t id;       /* increasing per profile */
    int outgoing;     /* 1 sent by us, 0 received */
    int64_t at;       /* unix seconds */
    uint8_t *body;    /* malloc'd, NUL after the data */
    size_t len;
    /* Sent by ckv_client_send: its conversation sequence number (the seq an
     * end-to-end receipt names; docs/protocol.md); 0 for received messages,
     * messages sent with ckv_session_encrypt and rows stored before this
     * field existed. */
    uint64_t seq;
    int delivered;        /* 1 once the recipient's receipt for seq arrived */
    int64_t delivered_at; /* unix seconds when that receipt was stored; 0 if not */
} ckv_message;

/* The last `max` messages with `contact` (0 = all), oldest first. Free with
 * ckv_history_free. */
CKV_MUST_USE ckv_status ckv_history_list(ckv_profile *p, const char *contact, size_t max,
                                         ckv_message **out, size_t *count);
void ckv_history_free(ckv_message *list, size_t count);

#ifdef __cplusplus
}
#endif
#endif /* CKV_SESSION_H */
