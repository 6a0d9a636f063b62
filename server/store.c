/*
 * store.c: ckvd's SQLite database and its message queue (see store.h).
 *
 * Schema (messages): one row per queued envelope, keyed by a growing id, so
 * a recipient's queue is an index range scan and an acknowledgement is a
 * delete by primary key restricted to the recipient (nobody can delete
 * another account's messages, even by guessing ids).
 */
#include "store.h"

#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Queue lengths, counted once per recipient (count(*) is a range scan) and
 * then kept up to date by enqueue and ack; the store has one thread. */
struct qcount {
    int64_t recipient;
    int64_t n;
    int used;
};

struct ckvd_store {
    sqlite3 *db;
    sqlite3_stmt *enqueue, *fetch, *ack, *qlen, *begin, *commit, *rollback;
    struct qcount *qc;
    size_t qc_cap, qc_n;
    int64_t max_queue; /* messages waiting per recipient */
};

static struct qcount *qc_find(struct ckvd_store *s, int64_t r, int insert)
{
    if (insert && (s->qc_n + 1) * 2 > s->qc_cap) {
        size_t ncap = s->qc_cap ? s->qc_cap * 2 : 1024;
        struct qcount *nq = calloc(ncap, sizeof(*nq));
        if (!nq)
            return NULL;
        for (size_t i = 0; i < s->qc_cap; i++) {
            if (!s->qc[i].used)
                continue;
            size_t j = (size_t)((uint64_t)s->qc[i].recipient * 0x9E3779B97F4A7C15ull) & (ncap - 1);
            while (nq[j].used)
                j = (j + 1) & (ncap - 1);
            nq[j] = s->qc[i];
        }
        free(s->qc);
        s->qc = nq;
        s->qc_cap = ncap;
    }
    if (!s->qc_cap)
        return NULL;
    size_t j = (size_t)((uint64_t)r * 0x9E3779B97F4A7C15ull) & (s->qc_cap - 1);
    while (s->qc[j].used && s->qc[j].recipient != r)
        j = (j + 1) & (s->qc_cap - 1);
    if (s->qc[j].used)
        return &s->qc[j];
    if (!insert)
        return NULL;
    s->qc[j].used = 1;
    s->qc[j].recipient = r;
    s->qc[j].n = 0;
    s->qc_n++;
    return &s->qc[j];
}

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS messages ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  recipient INTEGER NOT NULL,"
    "  sender TEXT NOT NULL,"
    "  body BLOB NOT NULL,"
    "  ts INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS messages_by_recipient ON messages(recipient, id);";

int ckvd_store_exec(struct ckvd_store *s, const char *sql)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? CKVD_STORE_OK
                                                                   : CKVD_STORE_ERR;
}

void ckvd_store_set_max_queue(struct ckvd_store *s, int64_t n)
{
    s->max_queue = n;
}

struct sqlite3 *ckvd_store_db(struct ckvd_store *s)
{
    return s->db;
}

int ckvd_store_open(const char *path, int sync_full, struct ckvd_store **out, char *err,
                    size_t errlen)
{
    struct ckvd_store *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return CKVD_STORE_ERR;
    }
    s->max_queue = CKVD_MAX_QUEUE;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    chmod(path, 0600);
    sqlite3_busy_timeout(s->db, 5000);
    /* Normal (shared) locking: ckvd is the only writer (DIR/ckvd.lock), but
     * an operator may read the database with the sqlite3 shell while ckvd
     * runs (and the tests drop or reorder queued rows that way). EXCLUSIVE
     * would save a lock call per transaction and make every such reader
     * fail with "database is locked". */
    char pragmas[200];
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; "
             "PRAGMA foreign_keys=ON;",
             sync_full ? "FULL" : "NORMAL");
    if (sqlite3_exec(s->db, pragmas, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot set up database %s: %s (is it a ckvd database?)", path,
                 sqlite3_errmsg(s->db));
        goto fail;
    }
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO messages(recipient, sender, body, ts) VALUES(?,?,?,?)",
                           -1, &s->enqueue, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "SELECT id, sender, body, ts FROM messages WHERE recipient=? AND id>? "
                           "ORDER BY id LIMIT ?",
                           -1, &s->fetch, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "DELETE FROM messages WHERE recipient=? AND id=?", -1, &s->ack,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT count(*) FROM messages WHERE recipient=?", -1,
                           &s->qlen, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "BEGIN IMMEDIATE", -1, &s->begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "COMMIT", -1, &s->commit, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "ROLLBACK", -1, &s->rollback, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot prepare statements: %s", sqlite3_errmsg(s->db));
        goto fail;
    }
    *out = s;
    return CKVD_STORE_OK;
fail:
    ckvd_store_close(s);
    return CKVD_STORE_ERR;
}

void ckvd_store_close(struct ckvd_store *s)
{
    if (!s)
        return;
    sqlite3_finalize(s->enqueue);
    sqlite3_finalize(s->fetch);
    sqlite3_finalize(s->ack);
    sqlite3_finalize(s->qlen);
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    sqlite3_finalize(s->rollback);
    sqlite3_close(s->db);
    free(s->qc);
    free(s);
}

/* Forget every cached queue length (after a rollback undid an enqueue or
 * an ack they counted); they are counted again when next needed. */
static void qc_forget(struct ckvd_store *s)
{
    free(s->qc);
    s->qc = NULL;
    s->qc_cap = s->qc_n = 0;
}

static int step_once(sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? CKVD_STORE_OK : CKVD_STORE_ERR;
}

int ckvd_store_begin(struct ckvd_store *s)
{
    return step_once(s->begin);
}

int ckvd_store_commit(struct ckvd_store *s)
{
    if (step_once(s->commit) == CKVD_STORE_OK)
        return CKVD_STORE_OK;
    ckvd_store_rollback(s);
    return CKVD_STORE_ERR;
}

void ckvd_store_rollback(struct ckvd_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        (void)step_once(s->rollback);
    qc_forget(s);
}

int ckvd_store_queue_len(struct ckvd_store *s, int64_t recipient, int64_t *n)
{
    struct qcount *c = qc_find(s, recipient, 0);
    if (c) {
        *n = c->n;
        return CKVD_STORE_OK;
    }
    sqlite3_reset(s->qlen);
    sqlite3_bind_int64(s->qlen, 1, recipient);
    if (sqlite3_step(s->qlen) != SQLITE_ROW)
        return CKVD_STORE_ERR;
    *n = sqlite3_column_int64(s->qlen, 0);
    sqlite3_reset(s->qlen);
    if ((c = qc_find(s, recipient, 1)))
        c->n = *n;
    return CKVD_STORE_OK;
}

int ckvd_store_enqueue(struct ckvd_store *s, int64_t recipient, const char *sender,
                       const uint8_t *body, size_t len, int64_t *id_out)
{
    int64_t qn = 0;
    if (len > CKVD_MAX_STORED_ENVELOPE)
        return CKVD_STORE_TOO_LARGE;
    if (ckvd_store_queue_len(s, recipient, &qn) != CKVD_STORE_OK)
        return CKVD_STORE_ERR;
    if (qn >= s->max_queue)
        return CKVD_STORE_FULL;
    sqlite3_reset(s->enqueue);
    sqlite3_bind_int64(s->enqueue, 1, recipient);
    sqlite3_bind_text(s->enqueue, 2, sender, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s->enqueue, 3, body, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(s->enqueue, 4, (int64_t)time(NULL));
    int rc = sqlite3_step(s->enqueue);
    sqlite3_reset(s->enqueue);
    sqlite3_clear_bindings(s->enqueue);
    if (rc != SQLITE_DONE)
        return CKVD_STORE_ERR;
    *id_out = sqlite3_last_insert_rowid(s->db);
    struct qcount *c = qc_find(s, recipient, 0);
    if (c)
        c->n++;
    return CKVD_STORE_OK;
}

void ckvd_msgs_free(struct ckvd_msg *m, size_t n)
{
    if (!m)
        return;
    for (size_t i = 0; i < n; i++) {
        free(m[i].sender);
        free(m[i].body);
    }
    free(m);
}

int ckvd_store_fetch(struct ckvd_store *s, int64_t recipient, int64_t after_id, size_t limit,
                     struct ckvd_msg **out, size_t *n_out)
{
    struct ckvd_msg *m = calloc(limit ? limit : 1, sizeof(*m));
    size_t n = 0;
    int ret = CKVD_STORE_ERR;
    if (!m)
        return CKVD_STORE_ERR;
    sqlite3_reset(s->fetch);
    sqlite3_bind_int64(s->fetch, 1, recipient);
    sqlite3_bind_int64(s->fetch, 2, after_id);
    sqlite3_bind_int64(s->fetch, 3, (int64_t)limit);
    int rc;
    while (n < limit && (rc = sqlite3_step(s->fetch)) == SQLITE_ROW) {
        const unsigned char *snd = sqlite3_column_text(s->fetch, 1);
        const void *b = sqlite3_column_blob(s->fetch, 2);
        int blen = sqlite3_column_bytes(s->fetch, 2);
        m[n].id = sqlite3_column_int64(s->fetch, 0);
        m[n].ts = sqlite3_column_int64(s->fetch, 3);
        m[n].sender = strdup(snd ? (const char *)snd : "");
        m[n].body = malloc(blen > 0 ? (size_t)blen : 1);
        if (!m[n].sender || !m[n].body) {
            n++;
            goto out;
        }
        if (blen > 0)
            memcpy(m[n].body, b, (size_t)blen);
        m[n].body_len = (size_t)blen;
        n++;
    }
    ret = CKVD_STORE_OK;
    *out = m;
    *n_out = n;
    m = NULL;
out:
    sqlite3_reset(s->fetch);
    ckvd_msgs_free(m, n);
    return ret;
}

int ckvd_store_ack_in_txn(struct ckvd_store *s, int64_t recipient, const int64_t *ids, size_t n,
                          size_t *deleted)
{
    size_t del = 0;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(s->ack);
        sqlite3_bind_int64(s->ack, 1, recipient);
        sqlite3_bind_int64(s->ack, 2, ids[i]);
        if (sqlite3_step(s->ack) != SQLITE_DONE) {
            sqlite3_reset(s->ack);
            return CKVD_STORE_ERR;
        }
        del += (size_t)sqlite3_changes(s->db);
    }
    sqlite3_reset(s->ack);
    /* a rollback forgets every cached count (qc_forget) */
    struct qcount *c = qc_find(s, recipient, 0);
    if (c)
        c->n -= (int64_t)del;
    *deleted = del;
    return CKVD_STORE_OK;
}

int ckvd_store_ack(struct ckvd_store *s, int64_t recipient, const int64_t *ids, size_t n,
                   size_t *deleted)
{
    if (ckvd_store_begin(s) != CKVD_STORE_OK)
        return CKVD_STORE_ERR;
    if (ckvd_store_ack_in_txn(s, recipient, ids, n, deleted) != CKVD_STORE_OK) {
        ckvd_store_rollback(s);
        return CKVD_STORE_ERR;
    }
    return ckvd_store_commit(s);
}
