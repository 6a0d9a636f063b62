/*
 * messages.h: what the files of the online message path share, and nobody
 * else sees: messages.c (events, the conversation's sequence state, the
 * history hook), outbox.c (the outbox, posting to ckvd, acknowledgements
 * owed), send.c (contacts from the directory, the check before a send,
 * sending, receipts) and receive.c (fetching, checking, decrypting, held
 * envelopes). messages.c's top comment says how they fit together.
 */
#ifndef CKV_CORE_MESSAGES_H
#define CKV_CORE_MESSAGES_H

#include "online.h"

#define CKV_CONV_LIST_MAX 1000  /* missing seqs and owed receipts kept per conversation */
#define CKV_ACK_PEND_FLUSH 64   /* owed acknowledgements that go at once, alone */
#define CKV_ACK_PEND_MS 2000    /* owed at most this long (checked when receiving) */

/* ---- events (messages.c) -------------------------------------------------------- */

struct ckv_evlist {
    ckv_event *v;
    size_t n, cap;
};

/* A new zeroed event at the end of l; NULL when out of memory. */
ckv_event *ckv_ev_push(struct ckv_evlist *l, ckv_event_kind kind, const char *contact);
/* Append src's events to dst (src is emptied, also on failure). */
CKV_MUST_USE ckv_status ckv_ev_move(struct ckv_evlist *dst, struct ckv_evlist *src);

/* ---- a conversation's sequence state (conv:<hash> in meta; messages.c) ------- */

struct ckv_conv {
    uint64_t send_seq, recv_max;
    size_t n_missing, n_receipts;
    uint64_t missing[CKV_CONV_LIST_MAX];
    uint64_t receipts[CKV_CONV_LIST_MAX];
};

/* Load (all zero when none yet) and store inside the caller's transaction. */
CKV_MUST_USE ckv_status ckv_conv_load(ckv_profile *p, const char *name, struct ckv_conv *cv);
CKV_MUST_USE ckv_status ckv_conv_store(ckv_profile *p, const char *name,
                                       const struct ckv_conv *cv);

/* ---- the history hook (messages.c) ---------------------------------------------- */

enum ckv_hook_mode { CKV_HOOK_SEND = 1, CKV_HOOK_RECEIPT = 2, CKV_HOOK_RECEIVE = 3 };

struct ckv_hook_ctx {
    enum ckv_hook_mode mode;
    uint64_t seq;            /* CKV_HOOK_SEND: the seq being sent */
    const uint8_t *text;     /* CKV_HOOK_SEND: what the history shows */
    size_t text_len;
    size_t n_receipts_sent;  /* CKV_HOOK_RECEIPT: how many pending receipts went out */
    int in_outbox;           /* CKV_HOOK_SEND/RECEIPT: the envelope went into the outbox */
    uint64_t outbox_id;      /*   ... under this id, in the encrypt's transaction */
    struct ckv_evlist ev;    /* CKV_HOOK_RECEIVE: events, emitted if it commits */
    char *cp;                /* CKV_HOOK_RECEIVE: the checkpoint note gossiped (malloc'd) */
    size_t cp_len;
    int gossip_sent;         /* CKV_HOOK_SEND: the message carries our view ... */
    uint64_t gossip_size;    /*   ... of this size and root (gossip.c) */
    uint8_t gossip_root[32];
};

/* Installed as p->history_hook with a struct ckv_hook_ctx around a
 * session encrypt or decrypt: writes the history row, the sequence state
 * and (sending) the outbox row in the session call's own transaction. */
CKV_MUST_USE ckv_status ckv_history_hook(ckv_profile *p, const char *name, int outgoing,
                                         const uint8_t *body, size_t len, void *ctx);

/* ---- the outbox and posting (outbox.c) ------------------------------------------ */

/* One envelope to post (its outbox row id in ob, 0 for none). */
struct ckv_post_item {
    const char *to;
    int type;
    const uint8_t *body;
    size_t len;
    uint64_t ob;
};

/* Add an envelope to the outbox inside the caller's transaction. */
CKV_MUST_USE ckv_status ckv_outbox_put(ckv_profile *p, const char *name, int type,
                                       const uint8_t *body, size_t body_len, uint64_t *id_out);
/* Delete the rows ckvd accepted inside the caller's open transaction; *n
 * gets how many, for ckv_outbox_forget once that transaction committed. */
CKV_MUST_USE ckv_status ckv_outbox_settle_in_txn(ckv_client *c, size_t *n);
void ckv_outbox_forget(ckv_client *c, size_t n);
/* Post what the outbox holds and ckvd has not accepted, oldest first. */
CKV_MUST_USE ckv_status ckv_outbox_flush(ckv_client *c);
/* Post items in order in as few requests as ckvd's limits allow, with the
 * acknowledgements owed; stops at the first failure. *refused (may be
 * NULL) gets the index of the item ckvd refused by itself (a 4xx or 507
 * that names that envelope: its recipient's queue is full, say), else n;
 * the items before it were accepted. */
CKV_MUST_USE ckv_status ckv_post_items(ckv_client *c, const struct ckv_post_item *it, size_t n,
                                       size_t *refused);
/* Is name's oldest row one the last flush saw refused? */
int ckv_outbox_refused(const ckv_client *c, const char *name);
/* Owe the acknowledgement of acked (ids out of the fetched batch msgs). */
CKV_MUST_USE ckv_status ckv_acks_owe(ckv_client *c, json_t *msgs, json_t *acked);
int64_t ckv_mono_ms(void);

/* ---- sending (send.c) ----------------------------------------------------------- */

/* The logged entry of name: stored when fresh enough, else looked up. */
CKV_MUST_USE ckv_status ckv_fresh_entry(ckv_client *c, const char *name, ckv_kt_entry *k);

/* A receipt encrypted inside a receive's transaction, posted after it
 * committed. */
struct ckv_receipt_post {
    char name[CKV_NAME_MAX + 1];
    ckv_envelope env;
    uint64_t ob;
};

/* Encrypt the receipts owed to name into the outbox (inside the caller's
 * transaction); out->ob != 0 when there were any. */
CKV_MUST_USE ckv_status ckv_encrypt_receipts(ckv_client *c, const char *name,
                                             struct ckv_receipt_post *out);

#endif /* CKV_CORE_MESSAGES_H */
