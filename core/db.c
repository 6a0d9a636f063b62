/*
 * db.c: the profile's SQLite file: schema, cached prepared statements,
 * transactions and the sealed key/value table `meta`.
 *
 * Schema (format 1). Lookup columns hold no names in clear: a contact name
 * is looked up by name_h = HMAC-SHA256(index_key, normalised name). Every
 * `v` column is sealed (seal.c) with AD binding it to its table and row.
 *   header(id=1, format, salt, opslimit, memlimit, wrapped, digest)
 *       the unlock record (profile.c); the only clear-text secrets-free row
 *   meta(k TEXT PRIMARY KEY, v)            identity, account, counters
 *   sessions(name_h, device, v)            libsignal session records
 *   prekeys(id, handed_out, v)             one-time prekeys
 *   signed_prekeys(id, v)                  signed prekeys
 *   contacts(name_h, v)                    contact + trust journal
 *   messages(name_h, id, v, tag)           history (direction, time, text,
 *                                          and for a sent message its
 *                                          conversation seq and delivery
 *                                          time); id counts per contact;
 *                                          WITHOUT ROWID; tag = a keyed hash
 *                                          that finds a sent message by its
 *                                          seq when its receipt arrives
 *                                          (session.c; NULL in rows written
 *                                          before it existed, added to old
 *                                          profiles by ckv_db_migrate)
 *   sender_keys(k, v)                      group sender keys (unused by ckv yet)
 *   kt_latest(name_h, v)                   per name in the log: the latest
 *                                          version and its leaf (core/kt_monitor.c
 *                                          monitor; refuses a stale first
 *                                          lookup; a rowid table, as the
 *                                          passphrase change re-seals by
 *                                          rowid); added to old profiles
 *                                          by ckv_db_migrate
 * Durability: WAL with synchronous=NORMAL (a killed process loses nothing
 * committed; a power cut may lose the last commits, never consistency).
 * Locking: EXCLUSIVE: the process that opened a profile owns it until it
 * closes it; others get CKV_ERR_PROFILE_BUSY.
 */
#include "internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const schema_sql =
    "CREATE TABLE header(id INTEGER PRIMARY KEY CHECK (id = 1), format INTEGER NOT NULL,"
    " salt BLOB NOT NULL, opslimit INTEGER NOT NULL, memlimit INTEGER NOT NULL,"
    " wrapped BLOB NOT NULL, digest BLOB NOT NULL);"
    "CREATE TABLE meta(k TEXT PRIMARY KEY, v BLOB NOT NULL);"
    "CREATE TABLE sessions(id INTEGER PRIMARY KEY, name_h BLOB NOT NULL,"
    " device INTEGER NOT NULL, v BLOB NOT NULL, UNIQUE(name_h, device));"
    "CREATE TABLE prekeys(id INTEGER PRIMARY KEY, handed_out INTEGER NOT NULL DEFAULT 0,"
    " v BLOB NOT NULL);"
    "CREATE TABLE signed_prekeys(id INTEGER PRIMARY KEY, v BLOB NOT NULL);"
    "CREATE TABLE contacts(name_h BLOB PRIMARY KEY, v BLOB NOT NULL);"
    "CREATE TABLE messages(name_h BLOB NOT NULL, id INTEGER NOT NULL, v BLOB NOT NULL,"
    " tag BLOB, PRIMARY KEY(name_h, id)) WITHOUT ROWID;"
    "CREATE INDEX messages_tag ON messages(tag) WHERE tag IS NOT NULL;"
    "CREATE TABLE sender_keys(k BLOB PRIMARY KEY, v BLOB NOT NULL);"
    /* the latest version and leaf the log shows per name (core/kt_monitor.c) */
    "CREATE TABLE kt_latest(name_h BLOB PRIMARY KEY, v BLOB NOT NULL);";

static const char *const stmt_sql[STMT_COUNT_] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_SAVEPOINT] = "SAVEPOINT ckv_nest",
    [STMT_RELEASE] = "RELEASE ckv_nest",
    [STMT_ROLLBACK_TO] = "ROLLBACK TO ckv_nest",
    [STMT_META_GET] = "SELECT v FROM meta WHERE k = ?1",
    [STMT_META_PUT] = "INSERT OR REPLACE INTO meta(k, v) VALUES (?1, ?2)",
    [STMT_META_DEL] = "DELETE FROM meta WHERE k = ?1",
    [STMT_META_COUNT] = "SELECT count(*) FROM meta WHERE k > ?1 AND k < ?2",
    [STMT_SESSION_GET] = "SELECT v FROM sessions WHERE name_h = ?1 AND device = ?2",
    [STMT_SESSION_PUT] = ("INSERT INTO sessions(name_h, device, v) VALUES (?1, ?2, ?3)"
                          " ON CONFLICT(name_h, device) DO UPDATE SET v = excluded.v"),
    [STMT_SESSION_HAS] = "SELECT 1 FROM sessions WHERE name_h = ?1 AND device = ?2",
    [STMT_SESSION_DEL] = "DELETE FROM sessions WHERE name_h = ?1 AND device = ?2",
    [STMT_SESSION_DEL_ALL] = "DELETE FROM sessions WHERE name_h = ?1",
    [STMT_SESSION_DEVICES] = "SELECT device FROM sessions WHERE name_h = ?1 AND device != 1",
    [STMT_PREKEY_GET] = "SELECT v FROM prekeys WHERE id = ?1",
    [STMT_PREKEY_PUT] = "INSERT OR REPLACE INTO prekeys(id, handed_out, v) VALUES (?1, 0, ?2)",
    [STMT_PREKEY_HAS] = "SELECT 1 FROM prekeys WHERE id = ?1",
    [STMT_PREKEY_DEL] = "DELETE FROM prekeys WHERE id = ?1",
    [STMT_PREKEY_AVAILABLE] = "SELECT count(*) FROM prekeys WHERE handed_out = 0",
    [STMT_PREKEY_NEXT_FREE] = "SELECT id, v FROM prekeys WHERE handed_out = 0 ORDER BY id LIMIT 1",
    [STMT_PREKEY_MARK] = "UPDATE prekeys SET handed_out = 1 WHERE id = ?1",
    [STMT_SPK_GET] = "SELECT v FROM signed_prekeys WHERE id = ?1",
    [STMT_SPK_PUT] = "INSERT OR REPLACE INTO signed_prekeys(id, v) VALUES (?1, ?2)",
    [STMT_SPK_HAS] = "SELECT 1 FROM signed_prekeys WHERE id = ?1",
    [STMT_SPK_DEL] = "DELETE FROM signed_prekeys WHERE id = ?1",
    [STMT_CONTACT_GET] = "SELECT v FROM contacts WHERE name_h = ?1",
    [STMT_CONTACT_PUT] = "INSERT OR REPLACE INTO contacts(name_h, v) VALUES (?1, ?2)",
    [STMT_CONTACT_ALL] = "SELECT name_h, v FROM contacts",
    [STMT_MSG_NEXT_ID] = "SELECT coalesce(max(id), 0) + 1 FROM messages WHERE name_h = ?1",
    [STMT_MSG_PUT] = "INSERT INTO messages(id, name_h, v, tag) VALUES (?1, ?2, ?3, ?4)",
    [STMT_MSG_BY_TAG] = ("SELECT id FROM messages WHERE tag = ?1 AND name_h = ?2"
                         " ORDER BY id DESC LIMIT 1"),
    [STMT_MSG_GET] = "SELECT v FROM messages WHERE name_h = ?1 AND id = ?2",
    [STMT_MSG_SET] = "UPDATE messages SET v = ?3 WHERE name_h = ?1 AND id = ?2",
    [STMT_MSG_LIST] = "SELECT id, v FROM messages WHERE name_h = ?1 ORDER BY id DESC LIMIT ?2",
    [STMT_SENDER_GET] = "SELECT v FROM sender_keys WHERE k = ?1",
    [STMT_SENDER_PUT] = "INSERT OR REPLACE INTO sender_keys(k, v) VALUES (?1, ?2)",
    [STMT_LATEST_GET] = "SELECT v FROM kt_latest WHERE name_h = ?1",
    [STMT_LATEST_PUT] = "INSERT OR REPLACE INTO kt_latest(name_h, v) VALUES (?1, ?2)",
};

ckv_status ckv_db_status(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return CKV_OK;
    case SQLITE_NOMEM:
        return CKV_ERR_NOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
        return CKV_ERR_PROFILE_DAMAGED;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CKV_ERR_PROFILE_BUSY;
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
        return CKV_ERR_IO;
    default:
        return CKV_ERR_DB;
    }
}

static ckv_status exec(sqlite3 *db, const char *sql)
{
    return ckv_db_status(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

ckv_status ckv_db_open(const char *path, int create, sqlite3 **out)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    ckv_status st;
    int rc;

    if (create)
        flags |= SQLITE_OPEN_CREATE;
    rc = sqlite3_open_v2(path ? path : ":memory:", &db, flags, NULL);
    if (rc != SQLITE_OK) {
        st = ckv_db_status(rc);
        goto out;
    }
    sqlite3_busy_timeout(db, 2000);
    if (path != NULL) {
        /* One process owns an open profile: EXCLUSIVE locking, set before
         * the first access so that the WAL index lives in our memory (no
         * -shm file, no lock system calls per transaction). A second
         * process gets CKV_ERR_PROFILE_BUSY instead of racing us (which
         * would be unsafe across a passphrase change: it would keep
         * sealing with the old key). */
        st = exec(db, "PRAGMA locking_mode = EXCLUSIVE");
        if (st == CKV_OK)
            st = exec(db, "PRAGMA journal_mode = WAL");
        if (st == CKV_OK)
            st = exec(db, "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 4000;"
                          " PRAGMA journal_size_limit = 16777216");
    } else {
        st = exec(db, "PRAGMA journal_mode = MEMORY");
    }
    if (st == CKV_OK)
        st = exec(db, "PRAGMA foreign_keys = OFF; PRAGMA trusted_schema = OFF");
out:
    if (st != CKV_OK) {
        sqlite3_close(db);
        return st;
    }
    *out = db;
    return CKV_OK;
}

ckv_status ckv_db_schema(sqlite3 *db)
{
    return exec(db, schema_sql);
}

ckv_status ckv_db_migrate(sqlite3 *db)
{
    /* Profiles made before messages.tag existed: add the column and its
     * index (old rows keep tag NULL: no seq, never marked delivered). */
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT tag FROM messages LIMIT 0", -1, &s, NULL);
    ckv_status st;
    sqlite3_finalize(s);
    s = NULL;
    /* Profiles made before kt_latest existed: the table, and the monitor
     * starts again from leaf 0 (its position is forgotten) so that it
     * records every name the log holds, not only the newer ones */
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM kt_latest LIMIT 0", -1, &s, NULL) != SQLITE_OK) {
        st = exec(db, "BEGIN IMMEDIATE; CREATE TABLE kt_latest(name_h BLOB PRIMARY KEY,"
                      " v BLOB NOT NULL);"
                      " DELETE FROM meta WHERE k = 'monitor_pos'; COMMIT");
        if (st != CKV_OK) {
            if (!sqlite3_get_autocommit(db))
                (void)exec(db, "ROLLBACK");
            sqlite3_finalize(s);
            return st;
        }
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_OK)
        return CKV_OK;
    st = exec(db, "BEGIN IMMEDIATE; ALTER TABLE messages ADD COLUMN tag BLOB;"
                             " CREATE INDEX messages_tag ON messages(tag) WHERE tag IS NOT NULL;"
                             " COMMIT");
    if (st != CKV_OK && !sqlite3_get_autocommit(db))
        (void)exec(db, "ROLLBACK");
    return st;
}

ckv_status ckv_db_prepare(ckv_profile *p)
{
    for (int i = 0; i < STMT_COUNT_; i++) {
        int rc = sqlite3_prepare_v3(p->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &p->stmt[i], NULL);
        if (rc != SQLITE_OK) {
            /* a table missing: not a ckv profile (or damaged) */
            return rc == SQLITE_ERROR ? CKV_ERR_PROFILE_DAMAGED : ckv_db_status(rc);
        }
    }
    return CKV_OK;
}

void ckv_db_finalize(ckv_profile *p)
{
    for (int i = 0; i < STMT_COUNT_; i++) {
        sqlite3_finalize(p->stmt[i]);
        p->stmt[i] = NULL;
    }
}

sqlite3_stmt *ckv_stmt(ckv_profile *p, enum ckv_stmt_id id)
{
    sqlite3_stmt *s = p->stmt[id];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

static ckv_status step_done(ckv_profile *p, enum ckv_stmt_id id)
{
    sqlite3_stmt *s = ckv_stmt(p, id);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? CKV_OK : ckv_db_status(rc);
}

ckv_status ckv_db_begin(ckv_profile *p)
{
    ckv_status st;
    if (p->txn_depth > 0 && sqlite3_get_autocommit(p->db))
        p->txn_depth = 0; /* SQLite ended the transaction itself (I/O error, full disk) */
    st = step_done(p, p->txn_depth == 0 ? STMT_BEGIN : STMT_SAVEPOINT);
    if (st == CKV_OK)
        p->txn_depth++;
    return st;
}

ckv_status ckv_db_commit(ckv_profile *p)
{
    ckv_status st;
    if (p->txn_depth <= 1) {
        st = step_done(p, STMT_COMMIT);
        if (st != CKV_OK)
            ckv_db_rollback(p);
        p->txn_depth = 0;
        return st;
    }
    /* an inner level: its changes join the enclosing transaction */
    st = step_done(p, STMT_RELEASE);
    if (st != CKV_OK)
        ckv_db_rollback(p);
    else
        p->txn_depth--;
    return st;
}

void ckv_db_rollback(ckv_profile *p)
{
    if (sqlite3_get_autocommit(p->db)) {
        p->txn_depth = 0;
        return;
    }
    if (p->txn_depth <= 1) {
        (void)step_done(p, STMT_ROLLBACK);
        p->txn_depth = 0;
        return;
    }
    /* undo this level only; ROLLBACK TO keeps the savepoint open */
    (void)step_done(p, STMT_ROLLBACK_TO);
    (void)step_done(p, STMT_RELEASE);
    p->txn_depth--;
}

ckv_status ckv_meta_get(ckv_profile *p, const char *key, uint8_t **out, size_t *out_len)
{
    sqlite3_stmt *s = ckv_stmt(p, STMT_META_GET);
    ckv_status st;
    int rc;

    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        st = CKV_ERR_NOT_FOUND;
    else if (rc != SQLITE_ROW)
        st = ckv_db_status(rc);
    else
        st = ckv_unseal(p->seal_key, SEAL_META, (const uint8_t *)key, strlen(key),
                        sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0), out,
                        out_len);
    sqlite3_reset(s);
    return st;
}

ckv_status ckv_meta_put(ckv_profile *p, const char *key, const uint8_t *val, size_t len)
{
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    sqlite3_stmt *s;
    ckv_status st;
    int rc;

    st = ckv_seal(p->seal_key, SEAL_META, (const uint8_t *)key, strlen(key), val, len, &sealed,
                  &sealed_len);
    if (st != CKV_OK)
        return st;
    s = ckv_stmt(p, STMT_META_PUT);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, sealed, (int)sealed_len, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    free(sealed);
    return rc == SQLITE_DONE ? CKV_OK : ckv_db_status(rc);
}

ckv_status ckv_meta_del(ckv_profile *p, const char *key)
{
    sqlite3_stmt *s = ckv_stmt(p, STMT_META_DEL);
    int rc;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? CKV_OK : ckv_db_status(rc);
}

ckv_status ckv_meta_count(ckv_profile *p, const char *lo, const char *hi, size_t *n)
{
    sqlite3_stmt *s = ckv_stmt(p, STMT_META_COUNT);
    int rc;
    sqlite3_bind_text(s, 1, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, hi, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *n = (size_t)sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? CKV_OK : ckv_db_status(rc);
}

ckv_status ckv_meta_get_u32(ckv_profile *p, const char *key, uint32_t *out)
{
    uint8_t *v = NULL;
    size_t n = 0;
    ckv_status st = ckv_meta_get(p, key, &v, &n);
    if (st != CKV_OK)
        return st;
    if (n != 4) {
        free(v);
        return CKV_ERR_PROFILE_DAMAGED;
    }
    *out = ((uint32_t)v[0] << 24) | ((uint32_t)v[1] << 16) | ((uint32_t)v[2] << 8) | v[3];
    free(v);
    return CKV_OK;
}

ckv_status ckv_meta_put_u32(ckv_profile *p, const char *key, uint32_t v)
{
    uint8_t b[4];
    ckv_be32(b, v);
    return ckv_meta_put(p, key, b, sizeof b);
}

void ckv_name_hash(ckv_profile *p, const char *name, size_t len, uint8_t out[32])
{
    if (len <= CKV_NAME_MAX && strlen(p->hashed_name) == len &&
        memcmp(p->hashed_name, name, len) == 0 && len > 0) {
        memcpy(out, p->hashed, 32);
        return;
    }
    crypto_auth_hmacsha256_state stt;
    crypto_auth_hmacsha256_init(&stt, p->index_key, sizeof p->index_key);
    crypto_auth_hmacsha256_update(&stt, (const uint8_t *)name, len);
    crypto_auth_hmacsha256_final(&stt, out);
    sodium_memzero(&stt, sizeof stt);
    if (len <= CKV_NAME_MAX) {
        memcpy(p->hashed_name, name, len);
        p->hashed_name[len] = 0;
        memcpy(p->hashed, out, 32);
    }
}

int64_t ckv_now(void)
{
    return (int64_t)time(NULL);
}

void ckv_be32(uint8_t out[4], uint32_t v)
{
    out[0] = (uint8_t)(v >> 24);
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
}
