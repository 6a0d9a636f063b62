/*
 * state.c: ckv-witness's durable state (witness.h), one SQLite file in WAL
 * mode (DIR/witness.db, 0600).
 *
 *   logs(origin PK, size, root, note, updated)
 *       the latest checkpoint cosigned for each log origin; the tlog-witness
 *       spec asks a witness to keep exactly this (c2sp.org/tlog-witness).
 *   conflicts(id, origin, kind, at, had_size, had_root, size, root, body)
 *       every validly signed checkpoint refused as a fork, a rollback or with
 *       a consistency proof that does not verify, with the request verbatim:
 *       an operator lists them (`ckv-witness conflicts`) as evidence of log
 *       misbehaviour. One row per (origin, kind, size, root): a request
 *       sent again, even with other (ignored) signature lines, adds nothing,
 *       so what can be kept is bounded by the checkpoints the log signed;
 *       and capped at CONFLICT_CAP rows so that a flood cannot fill the disk
 *       (a conflict not kept then is said so, ckvw_state_add_conflict).
 *
 * One connection, one mutex: ckvw_state_begin locks the mutex and opens a
 * BEGIN IMMEDIATE transaction (which also excludes a second process), so the
 * check of a request against the stored size and the update are atomic (the
 * race described in c2sp.org/tlog-witness cannot happen).
 */
#include "witness.h"

#include <sqlite3.h>
#include <sodium.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONFLICT_CAP 100000

struct ckvw_state {
    sqlite3 *db;
    pthread_mutex_t mu;
};

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS logs("
    "  origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL,"
    "  note TEXT NOT NULL, updated INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS conflicts("
    "  id INTEGER PRIMARY KEY, origin TEXT NOT NULL, kind TEXT NOT NULL,"
    "  at INTEGER NOT NULL, had_size INTEGER, had_root BLOB,"
    "  size INTEGER NOT NULL, root BLOB NOT NULL, body TEXT NOT NULL,"
    "  UNIQUE(origin, body));"
    "CREATE INDEX IF NOT EXISTS conflicts_key ON conflicts(origin, size, root);";

ckv_status ckvw_state_open(const char *path, ckvw_state **out)
{
    ckvw_state *s = NULL;
    int fd;
    if (!path || !out)
        return CKV_ERR_INVALID_ARG;
    /* create the file 0600 before SQLite does (it would honour the umask) */
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return CKV_ERR_IO;
    close(fd);
    if (!(s = calloc(1, sizeof(*s))))
        return CKV_ERR_NOMEM;
    pthread_mutex_init(&s->mu, NULL);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK ||
        sqlite3_exec(s->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
        ckvw_state_close(s);
        return CKV_ERR_DB;
    }
    *out = s;
    return CKV_OK;
}

void ckvw_state_close(ckvw_state *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

ckv_status ckvw_state_begin(ckvw_state *s, const char *origin, ckvw_latest *out)
{
    sqlite3_stmt *q = NULL;
    ckv_status st = CKV_ERR_DB;
    ckvw_latest l;
    int rc;
    memset(&l, 0, sizeof(l));
    pthread_mutex_lock(&s->mu);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_prepare_v2(s->db, "SELECT size, root, updated FROM logs WHERE origin=?", -1, &q,
                           NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(q, 1, origin, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_int64(q, 0) < 0 || sqlite3_column_bytes(q, 1) != 32) {
            st = CKV_ERR_TLOG_CORRUPT;
            goto out;
        }
        l.known = 1;
        l.size = (uint64_t)sqlite3_column_int64(q, 0);
        memcpy(l.root.b, sqlite3_column_blob(q, 1), 32);
        l.updated = sqlite3_column_int64(q, 2);
    } else if (rc != SQLITE_DONE) {
        goto out;
    }
    st = CKV_OK;
out:
    sqlite3_finalize(q);
    if (st == CKV_OK)
        *out = l;
    return st; /* the caller calls ckvw_state_end in every case */
}

ckv_status ckvw_state_set_latest(ckvw_state *s, const char *origin, uint64_t size,
                                 const ckv_tlog_hash *root, const char *note, size_t note_len,
                                 int64_t now)
{
    sqlite3_stmt *q = NULL;
    ckv_status st = CKV_ERR_DB;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO logs(origin, size, root, note, updated) "
                           "VALUES(?,?,?,?,?) ON CONFLICT(origin) DO UPDATE SET "
                           "size=excluded.size, root=excluded.root, note=excluded.note, "
                           "updated=excluded.updated",
                           -1, &q, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(q, 1, origin, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, (int64_t)size);
    sqlite3_bind_blob(q, 3, root->b, 32, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, note, (int)note_len, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, now);
    if (sqlite3_step(q) == SQLITE_DONE)
        st = CKV_OK;
out:
    sqlite3_finalize(q);
    return st;
}

ckv_status ckvw_state_add_conflict(ckvw_state *s, const char *origin, const char *kind,
                                   const ckvw_latest *had, uint64_t size, const ckv_tlog_hash *root,
                                   const char *body, size_t body_len, int64_t now, int *kept)
{
    sqlite3_stmt *q = NULL;
    ckv_status st = CKV_ERR_DB;
    *kept = 0;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR IGNORE INTO conflicts(origin, kind, at, had_size, had_root,"
                           " size, root, body) SELECT ?1,?2,?3,?4,?5,?6,?7,?8 "
                           "WHERE NOT EXISTS (SELECT 1 FROM conflicts WHERE origin = ?1 AND "
                           "size = ?6 AND root = ?7 AND kind = ?2) "
                           "AND (SELECT count(*) FROM conflicts) < ?9",
                           -1, &q, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(q, 1, origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, now);
    if (had->known) {
        sqlite3_bind_int64(q, 4, (int64_t)had->size);
        sqlite3_bind_blob(q, 5, had->root.b, 32, SQLITE_STATIC);
    }
    sqlite3_bind_int64(q, 6, (int64_t)size);
    sqlite3_bind_blob(q, 7, root->b, 32, SQLITE_STATIC);
    sqlite3_bind_text(q, 8, body, (int)body_len, SQLITE_STATIC);
    sqlite3_bind_int(q, 9, CONFLICT_CAP);
    if (sqlite3_step(q) == SQLITE_DONE) {
        st = CKV_OK;
        if (sqlite3_changes(s->db) > 0) {
            *kept = 1;
        } else { /* kept before, or the table is full */
            sqlite3_stmt *e = NULL;
            *kept = -1;
            if (sqlite3_prepare_v2(s->db,
                                   "SELECT 1 FROM conflicts WHERE origin = ? AND size = ? AND "
                                   "root = ? AND kind = ?",
                                   -1, &e, NULL) == SQLITE_OK) {
                sqlite3_bind_text(e, 1, origin, -1, SQLITE_STATIC);
                sqlite3_bind_int64(e, 2, (int64_t)size);
                sqlite3_bind_blob(e, 3, root->b, 32, SQLITE_STATIC);
                sqlite3_bind_text(e, 4, kind, -1, SQLITE_STATIC);
                if (sqlite3_step(e) == SQLITE_ROW)
                    *kept = 0;
            }
            sqlite3_finalize(e);
        }
    }
out:
    sqlite3_finalize(q);
    return st;
}

ckv_status ckvw_state_end(ckvw_state *s, int commit)
{
    ckv_status st = CKV_OK;
    if (commit) {
        if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            st = CKV_ERR_DB;
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        }
    } else if (!sqlite3_get_autocommit(s->db)) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

static void b64(const void *blob, int n, char out[48])
{
    if (n != 32) {
        snprintf(out, 48, "(none)");
        return;
    }
    sodium_bin2base64(out, 48, blob, 32, sodium_base64_VARIANT_ORIGINAL);
}

static void utc(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

long ckvw_state_print_conflicts(ckvw_state *s, FILE *f)
{
    sqlite3_stmt *q = NULL;
    long n = 0;
    int rc;
    char r1[48], r2[48], when[32];
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, origin, kind, at, had_size, had_root, size, root, body "
                           "FROM conflicts ORDER BY id",
                           -1, &q, NULL) != SQLITE_OK) {
        n = -1;
        goto out;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        b64(sqlite3_column_blob(q, 5), sqlite3_column_bytes(q, 5), r1);
        b64(sqlite3_column_blob(q, 7), sqlite3_column_bytes(q, 7), r2);
        utc(sqlite3_column_int64(q, 3), when);
        fprintf(f, "# conflict %lld: %s, %s\n# origin %s\n", (long long)sqlite3_column_int64(q, 0),
                (const char *)sqlite3_column_text(q, 2), when,
                (const char *)sqlite3_column_text(q, 1));
        if (sqlite3_column_type(q, 4) == SQLITE_NULL)
            fprintf(f, "# witness had nothing for this log\n");
        else
            fprintf(f, "# witness had size %lld root %s\n", (long long)sqlite3_column_int64(q, 4),
                    r1);
        fprintf(f, "# refused size %lld root %s\n# request:\n%s\n",
                (long long)sqlite3_column_int64(q, 6), r2, (const char *)sqlite3_column_text(q, 8));
        n++;
    }
    if (rc != SQLITE_DONE)
        n = -1;
out:
    sqlite3_finalize(q);
    pthread_mutex_unlock(&s->mu);
    return n;
}

long ckvw_state_print_logs(ckvw_state *s, FILE *f)
{
    sqlite3_stmt *q = NULL;
    long n = 0;
    int rc;
    char r[48], when[32];
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, "SELECT origin, size, root, updated FROM logs ORDER BY origin",
                           -1, &q, NULL) != SQLITE_OK) {
        n = -1;
        goto out;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        b64(sqlite3_column_blob(q, 2), sqlite3_column_bytes(q, 2), r);
        utc(sqlite3_column_int64(q, 3), when);
        fprintf(f, "%s size %lld root %s cosigned %s\n", (const char *)sqlite3_column_text(q, 0),
                (long long)sqlite3_column_int64(q, 1), r, when);
        n++;
    }
    if (rc != SQLITE_DONE)
        n = -1;
out:
    sqlite3_finalize(q);
    pthread_mutex_unlock(&s->mu);
    return n;
}
