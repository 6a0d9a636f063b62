/*
 * store.h: ckvd's durable state in one SQLite database (WAL).
 *
 * Accounts, prekeys and the message queue. A message is committed before its
 * send is answered (synchronous=NORMAL survives a killed server; FULL, by
 * flag, survives power loss). Every function runs on the HTTP thread; the
 * store is not shared between threads.
 */
#ifndef CKVD_STORE_H
#define CKVD_STORE_H

#include <stddef.h>
#include <stdint.h>

struct ckvd_store;

#define CKVD_MAX_QUEUE 10000        /* messages waiting per recipient (default) */
#define CKVD_MAX_MESSAGE (64u * 1024u) /* one envelope's decoded body */
/* One stored envelope: its JSON text ({"body": base64, "type": N}), so the
 * base64 of a CKVD_MAX_MESSAGE body plus a little JSON. */
#define CKVD_MAX_STORED_ENVELOPE ((((CKVD_MAX_MESSAGE + 2u) / 3u) * 4u) + 64u)
#define CKVD_MAX_PREKEYS 1000       /* one-time prekeys stored per account */

enum ckvd_store_rc {
    CKVD_STORE_OK = 0,
    CKVD_STORE_NOT_FOUND = 1,
    CKVD_STORE_FULL = 2,   /* a queue or table hit its cap */
    CKVD_STORE_EXISTS = 3,
    CKVD_STORE_ERR = 4,    /* the database failed */
    CKVD_STORE_TOO_LARGE = 5, /* one row is over its size cap */
};

int ckvd_store_open(const char *path, int sync_full, struct ckvd_store **out, char *err,
                    size_t errlen);
void ckvd_store_close(struct ckvd_store *s);
/* Change the per-recipient queue cap (--max-queue). */
void ckvd_store_set_max_queue(struct ckvd_store *s, int64_t n);

/* Messages. */
struct ckvd_msg {
    int64_t id;
    char *sender;  /* malloc'd */
    uint8_t *body; /* malloc'd */
    size_t body_len;
    int64_t ts;    /* server receive time, unix seconds */
};
void ckvd_msgs_free(struct ckvd_msg *m, size_t n);

/* An explicit write transaction around several calls (a send's account
 * lookups and its insert: one lock and one commit instead of three
 * statement transactions). commit returns CKVD_STORE_ERR when the data is
 * not durable (and then rolls back); rollback never fails. Not nested. */
int ckvd_store_begin(struct ckvd_store *s);
int ckvd_store_commit(struct ckvd_store *s);
void ckvd_store_rollback(struct ckvd_store *s);

int ckvd_store_enqueue(struct ckvd_store *s, int64_t recipient, const char *sender,
                       const uint8_t *body, size_t len, int64_t *id_out);
int ckvd_store_fetch(struct ckvd_store *s, int64_t recipient, int64_t after_id, size_t limit,
                     struct ckvd_msg **out, size_t *n_out);
int ckvd_store_ack(struct ckvd_store *s, int64_t recipient, const int64_t *ids, size_t n,
                   size_t *deleted);
/* The same inside the caller's transaction (ckvd_store_begin): nothing is
 * committed or rolled back here. */
int ckvd_store_ack_in_txn(struct ckvd_store *s, int64_t recipient, const int64_t *ids, size_t n,
                          size_t *deleted);
int ckvd_store_queue_len(struct ckvd_store *s, int64_t recipient, int64_t *n);

/* Raw handle for modules that add their own tables (accounts, prekeys). */
struct sqlite3 *ckvd_store_db(struct ckvd_store *s);

/* Run a statement list (schema) once. */
int ckvd_store_exec(struct ckvd_store *s, const char *sql);

#endif
