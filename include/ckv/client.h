/*
 * client.h: the online half of core: talking to ckvd, and checking every key
 * it hands out against the transparency log.
 *
 * A ckv_client wraps an open profile (ckv_profile, not owned) and a pinned
 * server: the server URL and the log's verifier key are pinned in the
 * profile once (ckv_profile_pin_server, at `ckv init`) and never learned
 * from the server. Every call is blocking and must come from the thread
 * that uses the profile (libsignal calls stay on one thread); a UI runs the
 * client on a worker thread and keeps its own model.
 *
 * Key-transparency rules enforced here (DESIGN.md, main flows 2, 3, 6):
 *   - lookup: the client recomputes the leaf hash from the entry text,
 *     checks the entry's name is the one asked for, verifies the inclusion
 *     proof against the signed checkpoint, verifies that checkpoint under the
 *     pinned key and as consistent with the profile's stored view (a
 *     consistency proof from the last accepted checkpoint), and checks the
 *     account's chain (docs/directory.md). It keeps the latest version seen
 *     per name, so an older entry served later is refused (CKV_ERR_KT_STALE).
 *     A contact whose pinned key passes becomes `logged`.
 *   - before every send: the contact's pinned key must be its latest logged
 *     key under a checkpoint no older than max_age (refreshed first when
 *     older); a bundle's identity key must equal the logged key.
 *   - on receiving from a new sender (or a sender whose key changed): the
 *     sender's key is checked against the log the same way before the
 *     session is accepted or the message shown.
 *   - monitor: follows the log's entry bundles from the last checkpoint it
 *     read (a fresh profile reads the whole log once) and reports any entry
 *     under the profile's own name that this profile did not create.
 *
 * Messages carry, inside the encryption, a per-conversation sequence number;
 * the recipient reports gaps (CKV_EV_GAP) and sends an encrypted delivery
 * receipt (CKV_EV_RECEIPT on the sender's side). docs/protocol.md gives the
 * inner format.
 */
#ifndef CKV_CLIENT_H
#define CKV_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/contact.h"
#include "ckv/name.h"
#include "ckv/profile.h"
#include "ckv/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CKV_URL_MAX 1024

/* ---- pinning (once per profile, at init) ---------------------------------- */

/* Pin the server URL (http:// or https://) and the log's verifier key
 * (C2SP note verifier key "name+hash+base64"; its name is the log origin).
 * CKV_ERR_EXISTS if already pinned; CKV_ERR_TLOG_BAD_KEY for a bad key. */
CKV_MUST_USE ckv_status ckv_profile_pin_server(ckv_profile *p, const char *url,
                                               const char *log_vkey);

/* The pinned values (malloc'd strings, caller frees). CKV_ERR_KT_NOT_CONFIGURED
 * when nothing is pinned. */
CKV_MUST_USE ckv_status ckv_profile_server(ckv_profile *p, char **url_out, char **vkey_out);

/* ---- witnesses (c2sp.org/tlog-witness, c2sp.org/tlog-cosignature) -------- */

#define CKV_WITNESS_MAX 16
#define CKV_DEFAULT_MAX_VIEW_AGE 3600 /* seconds */

/* Pin the witnesses whose cosignatures every accepted checkpoint must carry:
 * vkeys[0..n-1] are cosigner verifier keys ("name+keyid+base64(0x04||pub)",
 * type 0x04, as ckv-witness writes to witness.vkey), distinct, 1 <= n <=
 * CKV_WITNESS_MAX, and 1 <= quorum <= n valid cosignatures are required.
 * Pinned once, at init, like the log key, never learned from the server:
 * CKV_ERR_EXISTS when witnesses are pinned already, CKV_ERR_TLOG_BAD_KEY for
 * a key that does not parse or is not a cosigner key, CKV_ERR_INVALID_ARG
 * for a bad quorum or a duplicate key. Nothing is stored on error. */
CKV_MUST_USE ckv_status ckv_profile_pin_witnesses(ckv_profile *p, const char *const *vkeys,
                                                  size_t n, unsigned quorum);

/* The pinned witnesses: *vkeys_out is a malloc'd string of the keys, each
 * ending in '\n' (caller frees), *n_out their number, *quorum_out K. With
 * no witness pinned: CKV_OK, *vkeys_out NULL, *n_out 0, *quorum_out 0. */
CKV_MUST_USE ckv_status ckv_profile_witnesses(ckv_profile *p, char **vkeys_out, size_t *n_out,
                                              unsigned *quorum_out);

/* ---- gossip: log views compared with each contact -------------------------- */

typedef enum ckv_gossip_result {
    CKV_GOSSIP_UNKNOWN = 0, /* no checkpoint from the contact checked yet */
    CKV_GOSSIP_AGREE = 1,   /* their checkpoint is consistent with our view */
    CKV_GOSSIP_DIFFER = 2,  /* split view: their signed checkpoint contradicts ours */
} ckv_gossip_result;

typedef struct ckv_gossip_state {
    ckv_gossip_result result;
    uint64_t their_size; /* tree size of the contact's last checked checkpoint */
    uint64_t our_size;   /* our view's size when it was checked */
    int64_t checked_at;  /* unix seconds; 0 when unknown */
} ckv_gossip_state;

/* The last gossip result for contact (no network; a DIFFER stays until a
 * later check of that contact agrees). Unknown contacts give UNKNOWN. */
CKV_MUST_USE ckv_status ckv_profile_gossip_state(ckv_profile *p, const char *contact,
                                                 ckv_gossip_state *out);

/* ---- the client ------------------------------------------------------------ */

typedef struct ckv_client ckv_client; /* opaque */

typedef struct ckv_client_options {
    int64_t max_checkpoint_age; /* seconds; 0 = default (60) */
    long timeout_ms;            /* per HTTP request; 0 = default (10000) */
    const char *ca_file;        /* PEM bundle for https, or NULL for the system's */
    /* With witnesses pinned: the oldest the witnessed view may be before
     * sending refuses (CKV_ERR_KT_VIEW_FROZEN); seconds, 0 = default
     * (CKV_DEFAULT_MAX_VIEW_AGE). The view's age is now minus the K-th
     * newest pinned-witness cosignature time on the newest accepted
     * checkpoint; when too old, /checkpoint is fetched once more first. */
    int64_t max_view_age;
    /* For a client that keeps receiving (a chat, a bot): a fetched batch
     * that owes no receipt (receipts for us, say) is acknowledged to the
     * server with this client's next request that posts anyway (a send,
     * the next batch's receipts), at the latest about 2 s later or at
     * ckv_client_close, instead of with a request of its own. Receipts
     * still go out at once. 0 (default): every batch is acknowledged
     * before ckv_client_receive returns. */
    int defer_acks;
    /* 1: every commit of the profile reaches the disk before the client
     * tells the server anything that rests on it (SQLite's
     * synchronous=FULL: an fsync per commit). Survives a power cut or an
     * OS crash; costs about a third of the messages per second and
     * several times the latency on this machine (docs/protocol.md,
     * "Durability"). 0 (default): synchronous=NORMAL, which survives a
     * killed process but not a power cut: the last commits may roll back
     * after the server acted on them (acknowledged messages lost, a
     * message key used twice). ckv and ckv-chat set it from
     * CKV_SYNC_FULL=1. */
    int sync_full;
} ckv_client_options;

/* Open a client on p (which must have a pinned server). options may be NULL.
 * The client borrows p: close the client before the profile. */
CKV_MUST_USE ckv_status ckv_client_open(ckv_profile *p, const ckv_client_options *options,
                                        ckv_client **out);
void ckv_client_close(ckv_client *c); /* NULL is a no-op */

/* A sentence about the last failure (the server's own error message, the
 * proof that failed, ...), or "". Borrowed until the next call on c. */
const char *ckv_client_last_error(const ckv_client *c);

/* ---- account --------------------------------------------------------------- */

/* Register the profile's account (a `register` entry) and upload its signed
 * prekey and one-time prekeys. When the account is already registered with
 * this profile's key, only re-uploads prekeys. CKV_ERR_DIR_NAME_TAKEN when
 * someone else holds the name. */
CKV_MUST_USE ckv_status ckv_client_register(ckv_client *c);

/* Replace the identity key: a `rotate` entry signed by the old key (rotate)
 * or a `reset` entry without it (reset, after losing the old key). The
 * profile's identity key, signed prekey and one-time prekeys are replaced
 * and uploaded. Contacts see a key change. */
CKV_MUST_USE ckv_status ckv_client_rotate(ckv_client *c);
CKV_MUST_USE ckv_status ckv_client_reset(ckv_client *c);

/* Recovery codes (docs/protocol.md "Recovery codes"). A reset needs no old
 * key, so by default anyone may log one for any name (the owner's monitor
 * and every contact see it). An account that set a recovery code can be
 * reset only with that code: ckvd keeps its SHA-256 and refuses a reset
 * without it (a lying server could still log one: the monitor still
 * catches that). The code is 16 random bytes shown as 32 hex digits in
 * groups of four ("1f0c-9a7e-..."); it is never stored in the profile:
 * the user keeps it offline. */
#define CKV_RECOVERY_CODE_STR 40 /* 39 characters and the NUL */
typedef struct ckv_recovery {
    const char *code;    /* reset: the account's code (NULL: none); dashes,
                          * spaces and case do not matter */
    int new_code;        /* register, rotate, reset: protect the account
                          * with a new code, replacing any old one */
    int new_code_sent;   /* out: the new code went to the server (also when
                          * the answer was lost): show it to the user */
    char new_code_out[CKV_RECOVERY_CODE_STR]; /* out, when new_code_sent */
} ckv_recovery;

/* The same with a recovery code (r may be NULL: as without). Register
 * with r->new_code on an account registered already with this key is
 * refused (CKV_ERR_INVALID_ARG): rotate to set a code. A reset refused for
 * the code gives CKV_ERR_RECOVERY. */
CKV_MUST_USE ckv_status ckv_client_register_recovery(ckv_client *c, ckv_recovery *r);
CKV_MUST_USE ckv_status ckv_client_rotate_recovery(ckv_client *c, ckv_recovery *r);
CKV_MUST_USE ckv_status ckv_client_reset_recovery(ckv_client *c, ckv_recovery *r);

/* ---- directory ------------------------------------------------------------- */

typedef struct ckv_key_info {
    char name[CKV_NAME_MAX + 1];
    uint64_t version;          /* 1, 2, ... */
    int type;                  /* ckv_dir_type: 1 register, 2 rotate, 3 reset */
    uint8_t key[33];           /* identity key, 0x05 prefix */
    uint64_t leaf_index;       /* the entry's index in the log */
    int64_t entry_time;        /* the entry's own timestamp (unix seconds) */
    uint64_t tree_size;        /* size of the checkpoint that proved it */
    int64_t checkpoint_age;    /* seconds since that checkpoint was accepted */
} ckv_key_info;

/* Look NAME up with every check above. Updates the contact's state (logged,
 * or changed/reported) when NAME is a contact. */
CKV_MUST_USE ckv_status ckv_client_lookup(ckv_client *c, const char *name, ckv_key_info *out);

/* Every entry of NAME, oldest first, each with its proof checked.
 * *out is malloc'd (free with free()). */
CKV_MUST_USE ckv_status ckv_client_key_history(ckv_client *c, const char *name,
                                               ckv_key_info **out, size_t *count);

/* Add a contact: lookup (checked), fetch a bundle (its identity key must
 * equal the logged key), start the session. r as for ckv_session_start. */
CKV_MUST_USE ckv_status ckv_client_add_contact(ckv_client *c, const char *name,
                                               ckv_trust_report *r);

/* ---- messages -------------------------------------------------------------- */

/* Send text to contact (after the checks above; CKV_ERR_KEY_CHANGED_BLOCKED
 * when blocked). *seq_out (may be NULL) gets the message's sequence number
 * in this conversation; the message is stored in the history as sent.
 * text must be UTF-8 (else CKV_ERR_INVALID_ARG). A name that is not a
 * contact yet is added first (ckv_client_add_contact). When the server
 * cannot be reached after the message was encrypted, the call fails but the
 * message stays in the profile's outbox and goes out, in order, with the
 * next send or receive (docs/protocol.md). *seq_out is not 0 exactly when
 * the message was stored (in the history, and posted or kept in the
 * outbox): after a failure, 0 means nothing was kept, another number that
 * the message is queued and will go out. */
CKV_MUST_USE ckv_status ckv_client_send(ckv_client *c, const char *contact, const uint8_t *text,
                                        size_t len, uint64_t *seq_out);

/* One message of ckv_client_send_many. */
typedef struct ckv_text {
    const uint8_t *text; /* UTF-8 */
    size_t len;
} ckv_text;

#define CKV_SEND_MANY_MAX 64

/* Send n (1..CKV_SEND_MANY_MAX) messages to contact, in order, as
 * ckv_client_send would one after the other (each its own ratchet step,
 * sequence number, history row and receipt), but with one pre-send check,
 * one commit and one request to ckvd for all of them. All or nothing up to
 * the post: when one cannot be encrypted (e.g. not UTF-8) none is sent;
 * when the server cannot be reached they all stay in the outbox. seqs (may
 * be NULL) gets n sequence numbers (all 0 when none was kept, as for
 * ckv_client_send). */
CKV_MUST_USE ckv_status ckv_client_send_many(ckv_client *c, const char *contact,
                                             const ckv_text *msgs, size_t n, uint64_t *seqs);

typedef enum ckv_event_kind {
    CKV_EV_MESSAGE = 1,     /* a message: contact, seq, time, text */
    CKV_EV_RECEIPT = 2,     /* contact received our message number seq */
    CKV_EV_GAP = 3,         /* messages seq .. seq+count-1 from contact are missing */
    CKV_EV_KEY_CHANGED = 4, /* contact's key changed (state says whether sending is blocked) */
    CKV_EV_REJECTED = 5,    /* a message from contact was refused: status says why */
    CKV_EV_REORDERED = 6,   /* message seq arrived after a later one */
    /* ALARM: the checkpoint contact gossiped (inside the encryption)
     * contradicts our view: seq = their size, count = our size, status =
     * CKV_ERR_KT_SPLIT_VIEW, text = the explanation with the evidence file */
    CKV_EV_SPLIT_VIEW = 7,
    /* a message from contact is held until the log can be checked: it
     * claims a key our frozen view cannot prove yet (status =
     * CKV_ERR_KT_VIEW_FROZEN). It is kept sealed in the profile and tried
     * again by every receive once the view is fresh; then it is shown
     * (CKV_EV_MESSAGE) or refused for a real reason (CKV_EV_REJECTED). */
    CKV_EV_HELD = 8,
} ckv_event_kind;

typedef struct ckv_event {
    ckv_event_kind kind;
    char contact[CKV_NAME_MAX + 1];
    uint64_t seq;
    uint64_t count;      /* CKV_EV_GAP: how many are missing */
    int64_t time;        /* sender's time for messages, else receive time */
    char *text;          /* CKV_EV_MESSAGE (and SPLIT_VIEW): NUL-terminated copy (malloc'd) */
    size_t text_len;
    ckv_status status;   /* CKV_EV_REJECTED: the reason */
    ckv_trust_state state; /* CKV_EV_KEY_CHANGED: the contact's new state */
} ckv_event;

/* Fetch what is queued (waiting up to wait_seconds, 0..30, when nothing is),
 * check new senders against the log, decrypt, store in the history, send
 * receipts, and acknowledge to the server only what was stored or
 * definitively refused. *events is malloc'd (ckv_client_events_free).
 * When a later message of the batch fails (network, a proof that does not
 * verify), the events of the messages stored before it are still returned
 * with CKV_OK and ckv_client_last_error says what stopped the batch; the
 * failed message stays queued. */
CKV_MUST_USE ckv_status ckv_client_receive(ckv_client *c, int wait_seconds, ckv_event **events,
                                           size_t *count);

/* The same with the wait in milliseconds (0..30000), for a caller with a
 * timer of its own (e.g. something to send at a set time). */
CKV_MUST_USE ckv_status ckv_client_receive_ms(ckv_client *c, int wait_ms, ckv_event **events,
                                              size_t *count);
void ckv_client_events_free(ckv_event *events, size_t count);

/* ---- monitoring and the client's view of the log --------------------------- */

typedef struct ckv_monitor_report {
    uint64_t tree_size;        /* size of the checkpoint monitored up to */
    uint64_t entries_read;     /* entries read by this call */
    uint64_t own_entries;      /* entries under our name seen in total */
    /* of those, not made by this profile and older than its first own
     * entry: the account's history our register or reset replaced (a lost
     * device's keys); never an alarm */
    uint64_t earlier_entries;
    /* of those, not made by this profile and newer than its first own
     * entry: someone else registered, rotated or reset our account */
    uint64_t foreign_entries;
    uint64_t foreign_acknowledged; /* of the foreign ones, acknowledged (the oldest) */
    uint64_t foreign_index;    /* leaf of the first foreign one not acknowledged
                                * (the first one when all are) */
    uint64_t last_foreign_index; /* leaf of the latest foreign one */
} ckv_monitor_report;

/* Follow the log; CKV_ERR_KT_FOREIGN_ENTRY (with *out filled) while a key
 * under our name that we did not create is not acknowledged. */
CKV_MUST_USE ckv_status ckv_client_monitor(ckv_client *c, ckv_monitor_report *out);

/* The user has looked at the foreign entries up to leaf (which must be the
 * latest the monitor found: last_foreign_index): the monitor stops raising
 * the alarm for them, and raises it again for any later one. No network;
 * CKV_ERR_INVALID_ARG (with a sentence) when leaf is not the latest or
 * nothing is to be acknowledged. */
CKV_MUST_USE ckv_status ckv_client_monitor_acknowledge(ckv_client *c, uint64_t leaf);

typedef struct ckv_view {
    uint64_t tree_size;      /* latest accepted checkpoint's size (0 when none) */
    int64_t accepted_at;     /* when it was accepted (unix seconds; 0 when none) */
    /* with witnesses pinned: the K-th newest pinned-witness cosignature
     * time on that checkpoint (what the freeze rule measures); else 0 */
    int64_t witnessed_at;
    unsigned n_witnesses, quorum; /* pinned witnesses and K (0 when none) */
} ckv_view;

/* The profile's current view (no network). */
CKV_MUST_USE ckv_status ckv_client_view(ckv_client *c, ckv_view *out);

#ifdef __cplusplus
}
#endif
#endif /* CKV_CLIENT_H */
