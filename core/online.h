/*
 * online.h: what the online files of core/ (net.c, kt.c, client.c,
 * inner.c, identity.c) share, and nobody else sees.
 *
 * Storage: everything the online client keeps lives in the profile's
 * sealed `meta` table (db.c), under these keys, so that a passphrase change
 * re-seals it with the rest and no schema change is needed:
 *   server_url            the pinned server URL                 (text)
 *   log_vkey              the pinned log verifier key           (text)
 *   token                 the cached bearer token: expiry(8) || token
 *   kt_view               the latest accepted checkpoint: size(8) root(32)
 *                         accepted_at(8) || note text
 *   ktcp:%020llu          every accepted checkpoint, by tree size (same record)
 *   ktn:<40 hex>          the latest verified entry of a name (name keyed by
 *                         HMAC(index_key, name), truncated): see kt.c
 *   kt_own                leaf hashes of the entries this profile made
 *   monitor_pos           how many log entries the monitor has read (8)
 *   pending_identity      a new identity key waiting for the server (rotate)
 *   conv:<40 hex>         per-conversation sequence state (client.c)
 *   outbox:%020llu        envelopes encrypted but not yet accepted by ckvd
 *   witnesses             pinned witness verifier keys, one a line    (text)
 *   witness_quorum        K (4)
 *   gsp:<40 hex>          per-contact gossip state (gossip.c)
 * Integers are big-endian.
 */
#ifndef CKV_CORE_ONLINE_H
#define CKV_CORE_ONLINE_H

#include <curl/curl.h>
#include <jansson.h>

#include "ckv/client.h"
#include "ckv/dir_entry.h"
#include "ckv/tlog.h"
#include "internal.h"

#define CKV_DEFAULT_MAX_AGE 60
#define CKV_DEFAULT_TIMEOUT_MS 10000
#define CKV_JSON_RESPONSE_MAX (4u * 1024u * 1024u) /* any JSON answer */
#define CKV_ERRMSG_MAX 512

#define CKV_ACK_PEND_MAX 256 /* owed acknowledgements kept at most (then sent alone) */
#define CKV_ACK_MAX 1000     /* ids in one acknowledgement (ckvd's limit) */
#define CKV_OB_REFUSED_MAX 8 /* recipients refused in one flush before it stops */
#define CKV_FETCH_MAX 1000   /* messages in one fetched batch (ckvd sends at most 100) */

struct ckv_client {
    ckv_profile *p;
    CURL *curl;
    char *url;                  /* pinned, without trailing '/' */
    ckv_tlog_verifier *vkey;    /* pinned log key */
    char origin[CKV_TLOG_ORIGIN_MAX + 1];
    int64_t max_age;
    long timeout_ms;
    char *ca_file;
    char token[128];            /* "" when none */
    int64_t token_expires;
    char err[CKV_ERRMSG_MAX];
    long last_http;             /* status of the last answer (0: none) */
    /* The outbox (outbox.c). ob_done: ids of rows ckvd has accepted whose
     * delete waits for the next transaction this client commits anyway;
     * ob_clean = 1 when every row in the outbox is one of those (nothing to
     * flush), 0 when unknown (after open, after a failed post). */
    uint64_t *ob_done;
    size_t ob_done_n, ob_done_cap;
    int ob_clean;
    /* Recipients whose oldest row ckvd refused in the last flush (a full
     * queue, say): their later rows wait behind it, the others go on. */
    char ob_refused[CKV_OB_REFUSED_MAX][CKV_NAME_MAX + 1];
    size_t ob_refused_n;
    int ob_only_refused; /* the last flush failed only by such refusals */
    /* Acknowledgements owed to ckvd that no request has carried yet
     * (outbox.c, receive.c): a fetched batch that owes no receipt is acknowledged
     * with the next post (a send, the next batch's receipts), or when idle,
     * or at close. Meanwhile fetches ask only for ids above fetch_after. */
    uint64_t ack_pend[CKV_ACK_PEND_MAX];
    size_t ack_pend_n;
    int64_t fetch_after;
    int defer_acks;         /* ckv_client_options.defer_acks */
    int64_t ack_pend_since; /* monotonic ms when the oldest owed one came */
    /* net.c: the handle's options that never change are set once
     * (curl_setup); the header list is rebuilt when the token changes */
    int curl_setup;
    struct curl_slist *hdr_json, *hdr_auth;
    char hdr_token[128];
    /* the note of the current view, as last accepted (so that the same
     * note is not verified again on every lookup) */
    char *view_note;
    size_t view_note_len;
    ckv_tlog_checkpoint *view_cp;
    int64_t view_refreshed; /* when kt_view's accepted_at was last written */
    /* pinned witnesses (quorum.c): K of them must cosign every checkpoint */
    ckv_tlog_verifier *witnesses[CKV_WITNESS_MAX];
    size_t n_witnesses;
    unsigned quorum;
    int64_t max_view_age;
    int64_t view_witnessed; /* K-th newest cosignature time of the view; 0: not known yet */
    int64_t last_witnessed; /* the same for the note quorum_open opened last */
    uint64_t mon_pos; /* kt_monitor.c: the monitor is known to have read this far (a lower bound) */
    /* kt_monitor.c: kt_latest rows read by lookups, direct-mapped by name; valid
     * while latest_gen is unchanged (bumped by every monitor write; the
     * profile is opened by one process, so no one else writes the table) */
    struct {
        char name[CKV_NAME_MAX + 1];
        uint64_t version, leaf, gen; /* version 0: no row */
    } latest_cache[256];
    uint64_t latest_gen; /* starts at 1: gen 0 marks an empty slot */
};

/* Set c->err (printf-like). Returns st, for `return fail(c, st, ...)`. */
ckv_status ckv_client_fail(ckv_client *c, ckv_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* st, after making sure c->err has a sentence when st is an error. */
ckv_status ckv_client_done(ckv_client *c, ckv_status st);

/* Delete the outbox rows ckvd has accepted (one transaction); for
 * ckv_client_close. Rows not deleted are posted again by the next client:
 * harmless (the recipient refuses the duplicate without showing it). */
ckv_status ckv_client_outbox_settle(ckv_client *c);
/* Send the acknowledgements still owed (ckv_client_close; outbox.c). */
ckv_status ckv_client_ack_flush(ckv_client *c);

/* ---- net.c ---------------------------------------------------------------- */

/* One HTTP request to the pinned server. path starts with '/'. body (may be
 * NULL) is sent as JSON. auth: 1 adds the bearer token (logging in first,
 * and once more on a 401 bad_token). extra_ms is added to the timeout (for
 * long polls). On CKV_OK *out is the parsed JSON object (caller decrefs).
 * Any non-2xx answer is an error with c->err saying what the server said. */
ckv_status ckv_net_json(ckv_client *c, const char *method, const char *path, json_t *body,
                        int auth, long extra_ms, json_t **out);

/* GET path, raw bytes (at most cap). *http_status gets the status; a
 * non-200 is CKV_ERR_HTTP. *data is malloc'd. */
ckv_status ckv_net_get_raw(ckv_client *c, const char *path, size_t cap, uint8_t **data,
                           size_t *len);

/* Log in (POST /v1/login) with the profile's identity key. */
ckv_status ckv_net_login(ckv_client *c);
/* Forget the cached token (after our key changed). */
void ckv_net_forget_token(ckv_client *c);
/* Free a header list, its strings wiped first (one holds the token). */
struct curl_slist;
void ckv_net_free_headers(struct curl_slist *l);

/* base64 helpers (standard, padded, canonical). */
char *ckv_b64(const uint8_t *in, size_t len); /* malloc'd */
ckv_status ckv_unb64(const char *in, uint8_t *out, size_t cap, size_t *out_len);

/* ---- kt.c, kt_view.c, kt_monitor.c ---------------------------------------------------------- */

/* A verified entry of a name. */
typedef struct ckv_kt_entry {
    ckv_dir_entry e;
    uint64_t leaf_index;
    uint8_t leaf_hash[32];
    uint64_t tree_size;
    int64_t checked_at;     /* when the checkpoint that proved it was accepted */
    char text[CKV_DIR_ENTRY_MAX + 1];
    size_t text_len;
} ckv_kt_entry;

/* Look name (normalised) up with every check; *out the latest entry. Does
 * not touch contacts. */
ckv_status ckv_kt_lookup(ckv_client *c, const char *name, ckv_kt_entry *out);

/* The stored latest verified entry of name: CKV_ERR_NOT_FOUND when none. */
ckv_status ckv_kt_stored(ckv_client *c, const char *name, ckv_kt_entry *out);

/* Latest accepted view: CKV_ERR_NOT_FOUND when none. */
ckv_status ckv_kt_view(ckv_client *c, uint64_t *size, uint8_t root[32], int64_t *accepted_at);

/* Remember that this profile made the entry with this leaf hash. */
ckv_status ckv_kt_add_own(ckv_client *c, const uint8_t leaf_hash[32]);
/* Forget it (a rotation or reset given up, its private key wiped: should
 * the entry appear in the log after all, the monitor raises the alarm). */
ckv_status ckv_kt_drop_own(ckv_client *c, const uint8_t leaf_hash[32]);

/* The log vouches for contact name's pinned key: unverified -> logged; the
 * journal gets one LOGGED event per key (not one per lookup). */
ckv_status ckv_kt_vouch(ckv_client *c, const char *name, const uint8_t key[CKV_IDENTITY_KEY_LEN]);

/* Fill a public ckv_key_info from a verified entry. */
void ckv_kt_info(const ckv_kt_entry *k, ckv_key_info *out);

/* Fetch /checkpoint and accept it (the same rules as every checkpoint). */
ckv_status ckv_kt_refresh(ckv_client *c);
/* Verify with the server's consistency proof that (old_size, old_root) is a
 * prefix of (new_size, new_root): CKV_ERR_KT_INCONSISTENT when it fails. */
ckv_status ckv_kt_prove_prefix(ckv_client *c, uint64_t old_size, const uint8_t old_root[32],
                               uint64_t new_size, const uint8_t new_root[32]);
/* The note of the latest accepted view (malloc'd, NUL-terminated);
 * CKV_ERR_NOT_FOUND when none. */
ckv_status ckv_kt_view_note(ckv_client *c, char **note, size_t *len);

/* ---- quorum.c: pinned witnesses, checkpoint quorum, view freeze --------- */

/* Load the pinned witnesses and quorum into c (at open). */
ckv_status ckv_quorum_load(ckv_client *c);
/* Open a checkpoint note: signed by the pinned log key for the pinned
 * origin and, with witnesses pinned, cosigned by at least K of them (every
 * signature line by a known key must verify). *witnessed_at (may be NULL)
 * gets the K-th newest cosignature time (0 without witnesses). verbose: set
 * c->err on failure. */
ckv_status ckv_quorum_open(ckv_client *c, const char *note, size_t len, ckv_tlog_checkpoint *cp,
                           int64_t *witnessed_at, int verbose);
/* The freeze rule before a send (client.h, max_view_age). */
ckv_status ckv_quorum_check_view_age(ckv_client *c);

/* ---- gossip.c: checkpoints exchanged inside messages -------------------- */

/* The view note to gossip to name with the next message (malloc'd), or
 * *note NULL when it was sent already (first: always, e.g. seq 1).
 * size/root: what to record with ckv_gossip_mark_sent. */
ckv_status ckv_gossip_outgoing(ckv_client *c, const char *name, int first, char **note,
                               size_t *len, uint64_t *size, uint8_t root[32]);
/* Record (inside the send's transaction) that the view (size, root) went to name. */
ckv_status ckv_gossip_mark_sent(ckv_profile *p, const char *name, uint64_t size,
                                const uint8_t root[32]);
/* Check a checkpoint note name gossiped against our view and store the
 * result. CKV_OK with *result; on DIFFER, c->err explains (with the
 * evidence file). Other errors: nothing could be decided (state kept). */
ckv_status ckv_gossip_check(ckv_client *c, const char *name, const char *note, size_t len,
                            ckv_gossip_state *result);

/* ---- inner.c: the plaintext inside the Signal encryption ---------------- */

#define CKV_INNER_RECEIPT_MAX 1000

typedef struct ckv_inner {
    int kind;                /* 1 message, 2 receipt, 0 raw text (no inner format) */
    uint64_t seq;            /* message */
    int64_t time;            /* message */
    const uint8_t *text;     /* message: points into the parsed buffer */
    size_t text_len;
    char *text_owned;        /* internal */
    uint64_t *receipts;      /* receipt: malloc'd list */
    size_t n_receipts;
    char *cp;                /* message: gossiped checkpoint note (malloc'd) or NULL */
    size_t cp_len;
} ckv_inner;

ckv_status ckv_inner_message(uint64_t seq, int64_t time, const uint8_t *text, size_t len,
                             char **out, size_t *out_len);
/* The same with a gossiped checkpoint note ("cp"; NULL = none). */
ckv_status ckv_inner_message_cp(uint64_t seq, int64_t time, const uint8_t *text, size_t len,
                                const char *cp, size_t cp_len, char **out, size_t *out_len);
ckv_status ckv_inner_receipt(const uint64_t *seqs, size_t n, char **out, size_t *out_len);
/* Parse a decrypted plaintext. Anything that is not our inner JSON is kind
 * 0 (raw text, e.g. from an offline ckv). */
ckv_status ckv_inner_parse(const uint8_t *pt, size_t len, ckv_inner *out);
void ckv_inner_clear(ckv_inner *in);

/* ---- identity.c ------------------------------------------------------------- */

/* A new identity key pair (not stored). */
ckv_status ckv_identity_generate(ckv_profile *p, uint8_t pub[CKV_IDENTITY_KEY_LEN],
                                 uint8_t priv[32]);
/* Replace the profile's identity key by (pub, priv) in one transaction: the
 * identity record, a new signed prekey, fresh one-time prekeys; the old key
 * pair is kept sealed for CKV_ROTATION_GRACE seconds (with the one before
 * it, when that one's period still runs) and the sessions are
 * kept for receiving only (identity.c top comment). */
ckv_status ckv_identity_replace(ckv_profile *p, const uint8_t pub[CKV_IDENTITY_KEY_LEN],
                                const uint8_t priv[32]);

/* meta helpers for keys with a name hash: prefix + 40 hex of HMAC(name). */
void ckv_meta_name_key(ckv_profile *p, const char *prefix, const char *name, char out[64]);
void ckv_put_be64(uint8_t out[8], uint64_t v);
uint64_t ckv_get_be64(const uint8_t in[8]);

#endif
