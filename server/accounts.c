/*
 * accounts.c: account registration (register / rotate / reset), login, and
 * prekeys (upload, bundle fetch) for ckvd. See docs/server.md.
 *
 * Registration order, for crash safety: (1) check the entry against the
 * chain rules and the account's current entry; (1b) keep what the request
 * carries besides the entry (registration id, recovery hash, prekeys) in
 * the pending table, under the leaf index the entry is about to get and its
 * leaf hash (committed; if this fails, nothing is logged); (2) append the
 * entry to the log (committed); (3) in one transaction, update the index
 * tables, set meta.applied = index + 1, and move the pending row's contents
 * into place. A crash or a database failure between (2) and (3) is
 * repaired by ckvd_accounts_catch_up (at start, and at once after a failed
 * (3)), which replays the log's tail through the same step (3), pending
 * rows included: nothing the request carried is lost. A rotate or reset
 * ends the account's sessions as soon as it is in the log, before (3): the
 * old key must not keep a valid token because (3) failed.
 */
#include "accounts.h"

#include <sqlite3.h>
#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS accounts ("
    "  id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, version INTEGER NOT NULL,"
    "  leaf_index INTEGER NOT NULL, leaf_hash BLOB NOT NULL, key BLOB NOT NULL,"
    "  registration_id INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS entries ("
    "  leaf_index INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS entries_by_name ON entries(name, version);"
    "CREATE TABLE IF NOT EXISTS signed_prekeys ("
    "  account INTEGER PRIMARY KEY, key_id INTEGER NOT NULL, key BLOB NOT NULL,"
    "  signature BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS prekeys ("
    "  account INTEGER NOT NULL, key_id INTEGER NOT NULL, key BLOB NOT NULL,"
    "  PRIMARY KEY(account, key_id));"
    "CREATE TABLE IF NOT EXISTS recovery (account INTEGER PRIMARY KEY, hash BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS nonces (nonce BLOB PRIMARY KEY, expires INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
    /* what a registration carries besides its entry, kept from before its
     * log append until it is indexed (step (1b) above) */
    "CREATE TABLE IF NOT EXISTS pending (leaf_index INTEGER PRIMARY KEY, leaf_hash BLOB NOT NULL,"
    "  registration_id INTEGER NOT NULL, recovery_hash BLOB, prekeys TEXT NOT NULL);"
    "INSERT OR IGNORE INTO meta(k, v) VALUES('applied', 0);";

static sqlite3 *db_of(struct ckvd *d)
{
    return ckvd_store_db(d->store);
}

#define ACCOUNT_COLUMNS "SELECT id, name, version, leaf_index, leaf_hash, key, registration_id "

int ckvd_accounts_init(struct ckvd *d, char *err, size_t errlen)
{
    if (ckvd_store_exec(d->store, schema) != CKVD_STORE_OK ||
        sqlite3_prepare_v2(db_of(d), ACCOUNT_COLUMNS "FROM accounts WHERE name=?", -1,
                           &d->q_by_name, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db_of(d), ACCOUNT_COLUMNS "FROM accounts WHERE id=?", -1, &d->q_by_id,
                           NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot create account tables: %s", sqlite3_errmsg(db_of(d)));
        return -1;
    }
    return 0;
}

void ckvd_accounts_close(struct ckvd *d)
{
    sqlite3_finalize(d->q_by_name);
    sqlite3_finalize(d->q_by_id);
    d->q_by_name = d->q_by_id = NULL;
}

static int read_account(sqlite3_stmt *q, struct ckvd_account *out)
{
    memset(out, 0, sizeof(*out));
    out->id = sqlite3_column_int64(q, 0);
    snprintf(out->name, sizeof(out->name), "%s", (const char *)sqlite3_column_text(q, 1));
    out->version = (uint64_t)sqlite3_column_int64(q, 2);
    out->leaf_index = (uint64_t)sqlite3_column_int64(q, 3);
    if (sqlite3_column_bytes(q, 4) != 32 || sqlite3_column_bytes(q, 5) != CKV_IDENTITY_KEY_LEN)
        return -1;
    memcpy(out->leaf_hash, sqlite3_column_blob(q, 4), 32);
    memcpy(out->key, sqlite3_column_blob(q, 5), CKV_IDENTITY_KEY_LEN);
    out->registration_id = (uint32_t)sqlite3_column_int64(q, 6);
    return 0;
}

static int account_query(struct ckvd *d, sqlite3_stmt *q, const char *s, int64_t id,
                         struct ckvd_account *out)
{
    int ret = -1;
    sqlite3_reset(q);
    if (s)
        sqlite3_bind_text(q, 1, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        ret = read_account(q, out) == 0 ? 0 : -1;
    else if (rc == SQLITE_DONE)
        ret = 1;
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    (void)d;
    return ret;
}

int ckvd_account_by_name(struct ckvd *d, const char *name, struct ckvd_account *out)
{
    return account_query(d, d->q_by_name, name, 0, out);
}

int ckvd_account_by_id(struct ckvd *d, int64_t id, struct ckvd_account *out)
{
    return account_query(d, d->q_by_id, NULL, id, out);
}

/* The index update of step (3); runs inside the caller's transaction. */
static int apply_entry(struct ckvd *d, const ckv_dir_entry *e, uint64_t index,
                       const uint8_t leaf_hash[32], int64_t *account_out)
{
    sqlite3 *db = db_of(d);
    sqlite3_stmt *q = NULL;
    int ok = 0;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO accounts(name, version, leaf_index, leaf_hash, key) "
                           "VALUES(?1,?2,?3,?4,?5) ON CONFLICT(name) DO UPDATE SET "
                           "version=?2, leaf_index=?3, leaf_hash=?4, key=?5",
                           -1, &q, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(q, 1, e->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, (int64_t)e->version);
    sqlite3_bind_int64(q, 3, (int64_t)index);
    sqlite3_bind_blob(q, 4, leaf_hash, 32, SQLITE_STATIC);
    sqlite3_bind_blob(q, 5, e->key, CKV_IDENTITY_KEY_LEN, SQLITE_STATIC);
    ok = sqlite3_step(q) == SQLITE_DONE;
    sqlite3_finalize(q);
    if (!ok)
        return -1;
    struct ckvd_account a;
    if (ckvd_account_by_name(d, e->name, &a) != 0)
        return -1;
    char sql[256];
    snprintf(sql, sizeof(sql),
             "INSERT OR REPLACE INTO entries(leaf_index, name, version) VALUES(%lld, ?, %lld)",
             (long long)index, (long long)e->version);
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(q, 1, e->name, -1, SQLITE_STATIC);
    ok = sqlite3_step(q) == SQLITE_DONE;
    sqlite3_finalize(q);
    if (!ok || sqlite3_exec(db, "UPDATE meta SET v=(SELECT max(leaf_index)+1 FROM entries) "
                                "WHERE k='applied'",
                            NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    if (e->version > 1) {
        /* a new key: the old prekeys were for the old identity */
        snprintf(sql, sizeof(sql),
                 "DELETE FROM prekeys WHERE account=%lld; "
                 "DELETE FROM signed_prekeys WHERE account=%lld;",
                 (long long)a.id, (long long)a.id);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            return -1;
    }
    *account_out = a.id;
    return 0;
}

static int pending_apply(struct ckvd *d, uint64_t index, const uint8_t leaf_hash[32],
                         int64_t account, const uint8_t identity[33]);

int ckvd_accounts_catch_up(struct ckvd *d, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int64_t applied = 0;
    if (sqlite3_prepare_v2(db_of(d), "SELECT v FROM meta WHERE k='applied'", -1, &q, NULL) !=
            SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        sqlite3_finalize(q);
        snprintf(err, errlen, "cannot read the server database: %s", sqlite3_errmsg(db_of(d)));
        return -1;
    }
    applied = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    uint64_t size = ckvd_log_size(d->log);
    if ((uint64_t)applied > size) {
        snprintf(err, errlen,
                 "the server database knows %lld log entries but the log has %llu: "
                 "ckvd.db and log.db do not belong together; restore both from one backup",
                 (long long)applied, (unsigned long long)size);
        return -1;
    }
    for (uint64_t i = (uint64_t)applied; i < size; i++) {
        uint8_t *data = NULL, h[32];
        size_t len = 0;
        ckv_dir_entry e;
        int64_t acct;
        if (ckvd_log_entry(d->log, i, &data, &len) != CKV_OK) {
            snprintf(err, errlen, "cannot read log entry %llu", (unsigned long long)i);
            return -1;
        }
        ckv_status st = ckv_dir_entry_parse(data, len, &e);
        ckv_dir_leaf_hash(data, len, h);
        free(data);
        if (st != CKV_OK) {
            snprintf(err, errlen, "log entry %llu is not a directory entry: %s",
                     (unsigned long long)i, ckv_strerror(st));
            return -1;
        }
        if (sqlite3_exec(db_of(d), "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
            apply_entry(d, &e, i, h, &acct) != 0 || pending_apply(d, i, h, acct, e.key) != 0 ||
            sqlite3_exec(db_of(d), "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            sqlite3_exec(db_of(d), "ROLLBACK", NULL, NULL, NULL);
            snprintf(err, errlen, "cannot index log entry %llu: %s", (unsigned long long)i,
                     sqlite3_errmsg(db_of(d)));
            return -1;
        }
        ckvd_logf("indexed log entry %llu (%s v%llu), left over from a crash or a failed "
                  "database step",
                  (unsigned long long)i, e.name, (unsigned long long)e.version);
    }
    return 0;
}

/* --- prekeys ------------------------------------------------------------ */

/* Parse {"id", "key", "signature"?} objects. */
static int parse_spk(json_t *o, const uint8_t identity[33], uint32_t *id, uint8_t key[33],
                     uint8_t sig[64], struct ckvd_resp *resp)
{
    uint64_t v;
    size_t n;
    static const char *const allowed[] = {"id", "key", "signature", NULL};
    if (!json_is_object(o)) {
        ckvd_resp_error(resp, 400, "bad_field", "\"signed_prekey\" must be an object");
        return -1;
    }
    if (ckvd_json_only_keys(o, allowed, "\"signed_prekey\"", resp) != 0)
        return -1;
    if (ckvd_json_uint(o, "id", UINT32_MAX, &v, resp) != 0 ||
        ckvd_json_b64(o, "key", key, 33, 33, &n, resp) != 0 ||
        ckvd_json_b64(o, "signature", sig, 64, 64, &n, resp) != 0)
        return -1;
    *id = (uint32_t)v;
    if (key[0] != 0x05 || ckv_xeddsa_verify(identity, key, 33, sig) != CKV_OK) {
        ckvd_resp_error(resp, 400, "bad_signature",
                        "the signed prekey's signature does not verify under the account's "
                        "identity key");
        return -1;
    }
    return 0;
}

/* Check a "prekeys" array before anything is written. */
static int validate_prekeys(json_t *pks, struct ckvd_resp *resp)
{
    size_t i;
    json_t *pk;
    if (!pks)
        return 0;
    if (!json_is_array(pks) || json_array_size(pks) > CKVD_MAX_PREKEYS) {
        ckvd_resp_error(resp, 400, "bad_field",
                        "\"prekeys\" must be an array of at most 1000 {\"id\", \"key\"}");
        return -1;
    }
    json_array_foreach(pks, i, pk)
    {
        uint64_t id;
        uint8_t key[33];
        size_t n;
        if (!json_is_object(pk) || json_object_size(pk) != 2 ||
            ckvd_json_uint(pk, "id", UINT32_MAX, &id, resp) != 0 ||
            ckvd_json_b64(pk, "key", key, 33, 33, &n, resp) != 0 || key[0] != 0x05) {
            free(resp->body);
            resp->body = NULL;
            ckvd_resp_error(resp, 400, "bad_field",
                            "each prekey must be {\"id\": N, \"key\": base64 of 33 bytes "
                            "starting 0x05}");
            return -1;
        }
    }
    return 0;
}

static int store_prekeys(struct ckvd *d, int64_t account, json_t *spk, json_t *pks,
                         const uint8_t identity[33], struct ckvd_resp *resp)
{
    sqlite3 *db = db_of(d);
    sqlite3_stmt *q = NULL;
    if (spk) {
        uint32_t id;
        uint8_t key[33], sig[64];
        if (parse_spk(spk, identity, &id, key, sig, resp) != 0)
            return -1;
        if (sqlite3_prepare_v2(db,
                               "INSERT OR REPLACE INTO signed_prekeys(account, key_id, key, "
                               "signature) VALUES(?,?,?,?)",
                               -1, &q, NULL) != SQLITE_OK)
            goto dberr;
        sqlite3_bind_int64(q, 1, account);
        sqlite3_bind_int64(q, 2, id);
        sqlite3_bind_blob(q, 3, key, 33, SQLITE_TRANSIENT);
        sqlite3_bind_blob(q, 4, sig, 64, SQLITE_TRANSIENT);
        int rc = sqlite3_step(q);
        sqlite3_finalize(q);
        q = NULL;
        if (rc != SQLITE_DONE)
            goto dberr;
    }
    if (pks) {
        if (validate_prekeys(pks, resp) != 0)
            return -1;
        if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO prekeys(account, key_id, key) "
                                   "VALUES(?,?,?)",
                               -1, &q, NULL) != SQLITE_OK)
            goto dberr;
        size_t i;
        json_t *pk;
        json_array_foreach(pks, i, pk)
        {
            uint64_t id;
            uint8_t key[33];
            size_t n;
            if (ckvd_json_uint(pk, "id", UINT32_MAX, &id, resp) != 0 ||
                ckvd_json_b64(pk, "key", key, 33, 33, &n, resp) != 0) {
                sqlite3_finalize(q);
                return -1;
            }
            sqlite3_reset(q);
            sqlite3_bind_int64(q, 1, account);
            sqlite3_bind_int64(q, 2, (int64_t)id);
            sqlite3_bind_blob(q, 3, key, 33, SQLITE_TRANSIENT);
            if (sqlite3_step(q) != SQLITE_DONE)
                goto dberr;
        }
        sqlite3_finalize(q);
        q = NULL;
        /* cap the stored total */
        char sql[200];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM prekeys WHERE account=%lld",
                 (long long)account);
        if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK || sqlite3_step(q) != SQLITE_ROW)
            goto dberr;
        int64_t total = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        q = NULL;
        if (total > CKVD_MAX_PREKEYS) {
            ckvd_resp_error(resp, 400, "too_many_prekeys",
                            "at most 1000 one-time prekeys may be stored per account");
            return -1;
        }
    }
    return 0;
dberr:
    sqlite3_finalize(q);
    ckvd_resp_error(resp, 500, "db", "the server database failed; retry later");
    return -1;
}

static int set_registration_id(struct ckvd *d, int64_t account, uint32_t regid)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db_of(d), "UPDATE accounts SET registration_id=? WHERE id=?", -1, &q,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(q, 1, regid);
    sqlite3_bind_int64(q, 2, account);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* --- recovery codes ------------------------------------------------------- */

/* The account's recovery hash: 0 found, 1 none, -1 database error. */
static int get_recovery(struct ckvd *d, int64_t account, uint8_t hash[32])
{
    sqlite3_stmt *q = NULL;
    int ret = -1;
    if (sqlite3_prepare_v2(db_of(d), "SELECT hash FROM recovery WHERE account=?", -1, &q,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(q, 1, account);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(q, 0) == 32) {
        memcpy(hash, sqlite3_column_blob(q, 0), 32);
        ret = 0;
    } else if (rc == SQLITE_DONE) {
        ret = 1;
    }
    sqlite3_finalize(q);
    return ret;
}

static int set_recovery(struct ckvd *d, int64_t account, const uint8_t hash[32])
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db_of(d), "INSERT OR REPLACE INTO recovery(account, hash) VALUES(?,?)",
                           -1, &q, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(q, 1, account);
    sqlite3_bind_blob(q, 2, hash, 32, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* --- the pending table (steps (1b) and (3)) --------------------------------- */

/* Step (1b): keep the request's extras under the leaf index and hash the
 * entry is about to get. Autocommit: durable before the log append. */
static int pending_put(struct ckvd *d, uint64_t index, const uint8_t leaf_hash[32],
                       uint32_t regid, const uint8_t *rhash, json_t *spk, json_t *pks)
{
    sqlite3_stmt *q = NULL;
    json_t *x = json_object();
    char *text = NULL;
    int ret = -1;
    if (!x || (spk && json_object_set(x, "signed_prekey", spk) != 0) ||
        (pks && json_object_set(x, "prekeys", pks) != 0) ||
        !(text = json_dumps(x, JSON_COMPACT)))
        goto out;
    if (sqlite3_prepare_v2(db_of(d),
                           "INSERT OR REPLACE INTO pending(leaf_index, leaf_hash, "
                           "registration_id, recovery_hash, prekeys) VALUES(?,?,?,?,?)",
                           -1, &q, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(q, 1, (int64_t)index);
    sqlite3_bind_blob(q, 2, leaf_hash, 32, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, regid);
    if (rhash)
        sqlite3_bind_blob(q, 4, rhash, 32, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 4);
    sqlite3_bind_text(q, 5, text, -1, SQLITE_STATIC);
    ret = sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
out:
    sqlite3_finalize(q);
    free(text);
    json_decref(x);
    return ret;
}

/* Step (3), the extras: when a pending row was kept for this leaf (same
 * index and hash), store its registration id, recovery hash and prekeys
 * for the account, then drop it and any older ones. Inside the caller's
 * transaction. */
static int pending_apply(struct ckvd *d, uint64_t index, const uint8_t leaf_hash[32],
                         int64_t account, const uint8_t identity[33])
{
    sqlite3_stmt *q = NULL;
    json_t *x = NULL;
    struct ckvd_resp scratch = {0};
    int ret = -1;
    char sql[120];
    if (sqlite3_prepare_v2(db_of(d),
                           "SELECT leaf_hash, registration_id, recovery_hash, prekeys FROM "
                           "pending WHERE leaf_index=?",
                           -1, &q, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(q, 1, (int64_t)index);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(q, 0) == 32 &&
        memcmp(sqlite3_column_blob(q, 0), leaf_hash, 32) == 0) {
        const unsigned char *text = sqlite3_column_text(q, 3);
        x = text ? json_loads((const char *)text, 0, NULL) : NULL;
        if (!json_is_object(x) ||
            set_registration_id(d, account, (uint32_t)sqlite3_column_int64(q, 1)) != 0 ||
            (sqlite3_column_bytes(q, 2) == 32 &&
             set_recovery(d, account, sqlite3_column_blob(q, 2)) != 0) ||
            store_prekeys(d, account, json_object_get(x, "signed_prekey"),
                          json_object_get(x, "prekeys"), identity, &scratch) != 0)
            goto out;
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        goto out;
    }
    snprintf(sql, sizeof(sql), "DELETE FROM pending WHERE leaf_index <= %lld", (long long)index);
    ret = sqlite3_exec(db_of(d), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
out:
    sqlite3_finalize(q);
    json_decref(x);
    free(scratch.body);
    return ret;
}

/* A reset of an account that set a recovery hash must carry the code:
 * SHA-256(code) == hash (compared in constant time). 0 allowed. */
static int check_recovery(struct ckvd *d, int64_t account, json_t *o, uint8_t code[64],
                          size_t *len, struct ckvd_resp *resp)
{
    uint8_t want[32], got[32];
    int f = get_recovery(d, account, want);
    if (f < 0) {
        ckvd_resp_error(resp, 500, "db", "the server database failed; retry later");
        return -1;
    }
    if (f == 1)
        return 0; /* no recovery code set: the reset is public in the log */
    if (!json_object_get(o, "recovery")) {
        ckvd_resp_error(resp, 403, "recovery_required",
                        "this account is protected by a recovery code; a reset must carry it "
                        "in \"recovery\"");
        return -1;
    }
    if (ckvd_json_b64(o, "recovery", code, 16, 64, len, resp) != 0)
        return -1;
    crypto_hash_sha256(got, code, *len);
    int ok = sodium_memcmp(got, want, 32) == 0;
    sodium_memzero(got, sizeof(got));
    if (!ok) {
        ckvd_resp_error(resp, 403, "bad_recovery", "the recovery code is wrong");
        return -1;
    }
    return 0;
}

/* --- handlers ------------------------------------------------------------ */

enum ckvd_handler_result ckvd_h_register(struct ckvd *d, struct ckvd_req *req,
                                         struct ckvd_resp *resp)
{
    static const char *const allowed[] = {"entry",   "registration_id", "signed_prekey",
                                          "prekeys", "recovery_hash",   "recovery",
                                          NULL};
    json_t *o = NULL;
    ckv_dir_entry e;
    struct ckvd_account prev;
    uint8_t rhash[32], rcode[64];
    size_t rlen = 0;
    int has_rhash = 0;
    uint64_t regid = 0, index = 0;
    int64_t acct = 0;
    uint8_t h[32];
    char msg[256];
    int retry;

    if (d->index_broken) {
        ckvd_resp_error(resp, 503, "busy",
                        "the server's account index is out of step with its log; the operator "
                        "must restart ckvd");
        resp->retry_after = 60;
        return CKVD_RESPOND;
    }
    if ((retry = ckvd_ratelimit_take(d->limits.register_per_peer, req->peer, ckvd_now_ms()))) {
        ckvd_resp_error(resp, 429, "rate_limited",
                        "too many registrations from this address; retry later");
        resp->retry_after = retry;
        return CKVD_RESPOND;
    }
    if (!(o = ckvd_json_body(req, resp, allowed)))
        return CKVD_RESPOND;
    const char *text = json_string_value(json_object_get(o, "entry"));
    if (!text) {
        ckvd_resp_error(resp, 400, "bad_field", "field \"entry\" (the directory entry text) is missing");
        goto out;
    }
    size_t tlen = json_string_length(json_object_get(o, "entry"));
    ckv_status st = ckv_dir_entry_parse((const uint8_t *)text, tlen, &e);
    if (st != CKV_OK) {
        snprintf(msg, sizeof(msg), "the directory entry is not valid: %s (docs/directory.md)",
                 ckv_strerror(st));
        ckvd_resp_error(resp, 400, "bad_entry", msg);
        goto out;
    }
    if (strcmp(e.origin, d->origin) != 0) {
        snprintf(msg, sizeof(msg), "the entry is for log '%.100s', this server's log is '%.100s'",
                 e.origin, d->origin);
        ckvd_resp_error(resp, 400, "wrong_origin", msg);
        goto out;
    }
    if (json_object_get(o, "registration_id") &&
        ckvd_json_uint(o, "registration_id", UINT32_MAX, &regid, resp) != 0)
        goto out;
    int found = ckvd_account_by_name(d, e.name, &prev);
    if (found < 0) {
        ckvd_resp_error(resp, 500, "db", "the server database failed; retry later");
        goto out;
    }
    if (found == 1)
        st = ckv_dir_chain_check(NULL, 0, NULL, &e);
    else {
        ckv_dir_entry pe;
        uint8_t *pdata = NULL;
        size_t plen = 0;
        if (ckvd_log_entry(d->log, prev.leaf_index, &pdata, &plen) != CKV_OK ||
            ckv_dir_entry_parse(pdata, plen, &pe) != CKV_OK) {
            free(pdata);
            ckvd_resp_error(resp, 500, "internal", "cannot read the account's current entry");
            goto out;
        }
        free(pdata);
        st = ckv_dir_chain_check(&pe, prev.leaf_index, prev.leaf_hash, &e);
    }
    if (st == CKV_ERR_DIR_NAME_TAKEN) {
        ckvd_resp_error(resp, 409, "name_taken",
                        "this name is registered already; choose another name (or rotate/reset "
                        "your own key)");
        goto out;
    }
    if (st != CKV_OK) {
        snprintf(msg, sizeof(msg), "the entry breaks the account's chain: %s", ckv_strerror(st));
        ckvd_resp_error(resp, st == CKV_ERR_DIR_BAD_SIGNATURE ? 403 : 409, "bad_chain", msg);
        goto out;
    }
    /* A reset replaces the key without the old one: when the account set a
     * recovery code, only its holder may reset. */
    if (json_object_get(o, "recovery_hash")) {
        if (ckvd_json_b64(o, "recovery_hash", rhash, 32, 32, NULL, resp) != 0)
            goto out;
        has_rhash = 1;
    }
    if (json_object_get(o, "recovery") && e.type != CKV_DIR_RESET) {
        ckvd_resp_error(resp, 400, "bad_field", "\"recovery\" goes only with a reset entry");
        goto out;
    }
    if (e.type == CKV_DIR_RESET && found == 0) {
        int rc = check_recovery(d, prev.id, o, rcode, &rlen, resp);
        sodium_memzero(rcode, sizeof(rcode));
        if (rc != 0)
            goto out;
    }
    /* Prekeys are checked before anything is written. */
    json_t *spk = json_object_get(o, "signed_prekey");
    if (spk) {
        uint32_t id;
        uint8_t key[33], sig[64];
        if (parse_spk(spk, e.key, &id, key, sig, resp) != 0)
            goto out;
    }
    if (validate_prekeys(json_object_get(o, "prekeys"), resp) != 0)
        goto out;
    /* (1b) what the request carries besides the entry, then (2) the log,
     * then (3) the index with those extras (the top of this file) */
    uint64_t next = ckvd_log_size(d->log);
    ckv_dir_leaf_hash((const uint8_t *)text, tlen, h);
    if (pending_put(d, next, h, (uint32_t)regid, has_rhash ? rhash : NULL, spk,
                    json_object_get(o, "prekeys")) != 0) {
        ckvd_resp_error(resp, 500, "db",
                        "the server database failed; nothing was logged; retry later");
        goto out;
    }
    if ((st = ckvd_log_append(d->log, (const uint8_t *)text, tlen, &index)) != CKV_OK) {
        ckvd_resp_error(resp, 500, "log", "the server could not append to its log; retry later");
        goto out;
    }
    if (found == 0) /* a rotate or reset is public now: the old key's sessions end */
        ckvd_tokens_revoke_account(d->tokens, prev.id);
    if (index != next) /* never on one HTTP thread; if it did, keep the extras findable */
        (void)pending_put(d, index, h, (uint32_t)regid, has_rhash ? rhash : NULL, spk,
                          json_object_get(o, "prekeys"));
    sqlite3 *db = db_of(d);
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        apply_entry(d, &e, index, h, &acct) != 0 ||
        pending_apply(d, index, h, acct, e.key) != 0 ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        /* The entry is in the log but not in the index: index it now, with
         * its extras (the pending row), or refuse every further
         * registration until a restart does, so the index never checks a
         * new entry against a stale chain. */
        char err[200];
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        if (ckvd_accounts_catch_up(d, err, sizeof(err)) != 0) {
            ckvd_logf("%s; refusing registrations until a restart", err);
            d->index_broken = 1;
            free(resp->body);
            resp->body = NULL;
            ckvd_resp_error(resp, 500, "db",
                            "the entry is in the log, but the server database failed while "
                            "indexing it; ckvd finishes that, with the prekeys, registration "
                            "id and recovery code sent with it, when it is restarted");
            goto out;
        }
        ckvd_logf("indexed leaf %llu on a second try", (unsigned long long)index);
    }
    ckvd_logf("%s: %s v%llu at leaf %llu", ckv_dir_type_name(e.type), e.name,
              (unsigned long long)e.version, (unsigned long long)index);
    ckvd_resp_obj(resp, 200,
                  json_pack("{s:I, s:I, s:s}", "leaf_index", (json_int_t)index, "version",
                            (json_int_t)e.version, "name", e.name));
out:
    json_decref(o);
    return CKVD_RESPOND;
}

/* Record a login nonce; 0 fresh, 1 seen, -1 error. */
static int nonce_fresh(struct ckvd *d, const uint8_t *nonce, size_t n, int64_t now)
{
    sqlite3 *db = db_of(d);
    sqlite3_stmt *q = NULL;
    char sql[100];
    snprintf(sql, sizeof(sql), "DELETE FROM nonces WHERE expires < %lld", (long long)now);
    sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (sqlite3_prepare_v2(db, "INSERT INTO nonces(nonce, expires) VALUES(?, ?)", -1, &q,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_blob(q, 1, nonce, (int)n, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, now + 2 * CKVD_LOGIN_WINDOW);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc == SQLITE_DONE)
        return 0;
    return (rc & 0xff) == SQLITE_CONSTRAINT ? 1 : -1;
}

enum ckvd_handler_result ckvd_h_login(struct ckvd *d, struct ckvd_req *req,
                                      struct ckvd_resp *resp)
{
    static const char *const allowed[] = {"name", "time", "nonce", "signature", NULL};
    json_t *o = NULL;
    char name[CKV_NAME_MAX + 1], msg[256], token[64];
    uint8_t nonce[64], sig[64];
    size_t nlen = 0, slen = 0;
    uint64_t t = 0;
    struct ckvd_account a;
    int retry;

    if ((retry = ckvd_ratelimit_take(d->limits.login_per_peer, req->peer, ckvd_now_ms()))) {
        ckvd_resp_error(resp, 429, "rate_limited",
                        "too many logins from this address; retry after the Retry-After delay");
        resp->retry_after = retry;
        return CKVD_RESPOND;
    }
    if (!(o = ckvd_json_body(req, resp, allowed)))
        return CKVD_RESPOND;
    const char *raw = json_string_value(json_object_get(o, "name"));
    if (!raw) {
        ckvd_resp_error(resp, 400, "bad_name", "field \"name\" is missing or not a string");
        goto out;
    }
    if (ckvd_name_check(raw, "field \"name\"", resp) != 0)
        goto out;
    snprintf(name, sizeof(name), "%s", raw);
    if (ckvd_json_uint(o, "time", INT64_MAX, &t, resp) != 0 ||
        ckvd_json_b64(o, "nonce", nonce, 16, 64, &nlen, resp) != 0 ||
        ckvd_json_b64(o, "signature", sig, 64, 64, &slen, resp) != 0)
        goto out;
    int64_t now = ckvd_wall_time();
    if ((int64_t)t > now + CKVD_LOGIN_WINDOW || (int64_t)t < now - CKVD_LOGIN_WINDOW) {
        snprintf(msg, sizeof(msg),
                 "the login's time is %lld s away from the server's clock (allowed: %d s); "
                 "set your clock right and retry",
                 (long long)((int64_t)t - now), CKVD_LOGIN_WINDOW);
        json_t *e = json_pack("{s:s, s:s, s:I}", "error", msg, "code", "clock_skew",
                              "server_time", (json_int_t)now);
        ckvd_resp_obj(resp, 401, e);
        goto out;
    }
    int found = ckvd_account_by_name(d, name, &a);
    if (found != 0) {
        ckvd_resp_error(resp, found < 0 ? 500 : 401, found < 0 ? "db" : "unknown_account",
                        found < 0 ? "the server database failed; retry later"
                                  : "no such account; register first");
        goto out;
    }
    /* "ckv login v1\n" || origin "\n" name "\n" time "\n" nonce(base64 as sent) */
    const char *nonce_txt = json_string_value(json_object_get(o, "nonce"));
    size_t mlen = strlen(CKVD_LOGIN_CONTEXT) + strlen(d->origin) + strlen(name) +
                  strlen(nonce_txt) + 32;
    char *m = malloc(mlen);
    if (!m) {
        ckvd_resp_error(resp, 500, "internal", "server out of memory");
        goto out;
    }
    int ml = snprintf(m, mlen, "%s%s\n%s\n%llu\n%s", CKVD_LOGIN_CONTEXT, d->origin, name,
                      (unsigned long long)t, nonce_txt);
    ckv_status st = ckv_xeddsa_verify(a.key, (const uint8_t *)m, (size_t)ml, sig);
    free(m);
    if (st != CKV_OK) {
        ckvd_resp_error(resp, 401, "bad_signature",
                        "the login signature does not verify under the account's current key");
        goto out;
    }
    int fresh = nonce_fresh(d, nonce, nlen, now);
    if (fresh != 0) {
        ckvd_resp_error(resp, fresh < 0 ? 500 : 401, fresh < 0 ? "db" : "replay",
                        fresh < 0 ? "the server database failed; retry later"
                                  : "this login was used before (replay); make a new one");
        goto out;
    }
    if (ckvd_tokens_issue(d->tokens, a.id, now, d->token_ttl, token) != 0) {
        ckvd_resp_error(resp, 500, "internal", "server out of memory");
        goto out;
    }
    ckvd_resp_obj(resp, 200,
                  json_pack("{s:s, s:i}", "token", token, "expires_in", d->token_ttl));
    sodium_memzero(token, sizeof(token));
out:
    json_decref(o);
    return CKVD_RESPOND;
}

enum ckvd_handler_result ckvd_h_keys_put(struct ckvd *d, struct ckvd_req *req,
                                         struct ckvd_resp *resp, int64_t account)
{
    static const char *const allowed[] = {"signed_prekey", "prekeys", NULL};
    struct ckvd_account a;
    json_t *o = ckvd_json_body(req, resp, allowed);
    if (!o)
        return CKVD_RESPOND;
    if (ckvd_account_by_id(d, account, &a) != 0) {
        ckvd_resp_error(resp, 500, "db", "the server database failed; retry later");
        goto out;
    }
    sqlite3 *db = db_of(d);
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        ckvd_resp_error(resp, 500, "db", "the server database failed; retry later");
        goto out;
    }
    if (store_prekeys(d, account, json_object_get(o, "signed_prekey"),
                      json_object_get(o, "prekeys"), a.key, resp) != 0) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        goto out;
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        ckvd_resp_error(resp, 500, "db", "the server database failed; retry later");
        goto out;
    }
    sqlite3_stmt *q = NULL;
    int64_t n = 0;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM prekeys WHERE account=?", -1, &q, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_int64(q, 1, account);
        if (sqlite3_step(q) == SQLITE_ROW)
            n = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    ckvd_resp_obj(resp, 200, json_pack("{s:I}", "prekeys", (json_int_t)n));
out:
    json_decref(o);
    return CKVD_RESPOND;
}

static char *b64(const uint8_t *p, size_t n, char *buf, size_t cap)
{
    return sodium_bin2base64(buf, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
}

enum ckvd_handler_result ckvd_h_keys_get(struct ckvd *d, struct ckvd_req *req,
                                         struct ckvd_resp *resp, int64_t account,
                                         const char *name)
{
    struct ckvd_account t;
    char pair[160], who[32], k1[64], k2[64], s1[100];
    int retry;
    sqlite3 *db = db_of(d);
    sqlite3_stmt *q = NULL;
    (void)req;

    if (ckvd_name_check(name, "the name in the path", resp) != 0)
        return CKVD_RESPOND; /* before the limits: a misspelt name costs nothing */
    snprintf(who, sizeof(who), "%lld", (long long)account);
    snprintf(pair, sizeof(pair), "%lld>%s", (long long)account, name);
    uint64_t now = ckvd_now_ms();
    if ((retry = ckvd_ratelimit_take(d->limits.bundle_per_requester, who, now)) ||
        (retry = ckvd_ratelimit_take(d->limits.bundle_per_pair, pair, now)) ||
        (retry = ckvd_ratelimit_take(d->limits.bundle_per_target, name, now))) {
        ckvd_resp_error(resp, 429, "rate_limited",
                        "too many bundle fetches (each consumes a one-time prekey); retry later");
        resp->retry_after = retry;
        return CKVD_RESPOND;
    }
    int found = ckvd_account_by_name(d, name, &t);
    if (found != 0) {
        ckvd_resp_error(resp, found < 0 ? 500 : 404, found < 0 ? "db" : "unknown_account",
                        found < 0 ? "the server database failed; retry later" : "no such account");
        return CKVD_RESPOND;
    }
    if (sqlite3_prepare_v2(db, "SELECT key_id, key, signature FROM signed_prekeys WHERE account=?",
                           -1, &q, NULL) != SQLITE_OK) {
        ckvd_resp_error(resp, 500, "db", "the server database failed; retry later");
        return CKVD_RESPOND;
    }
    sqlite3_bind_int64(q, 1, t.id);
    if (sqlite3_step(q) != SQLITE_ROW || sqlite3_column_bytes(q, 1) != 33 ||
        sqlite3_column_bytes(q, 2) != 64) {
        sqlite3_finalize(q);
        ckvd_resp_error(resp, 404, "no_prekeys",
                        "this account has uploaded no signed prekey yet; ask them to go online");
        return CKVD_RESPOND;
    }
    json_t *b = json_pack("{s:s, s:I, s:i, s:s, s:I, s:s, s:s}", "name", t.name,
                          "registration_id", (json_int_t)t.registration_id, "device_id", 1,
                          "identity_key", b64(t.key, 33, k1, sizeof(k1)), "signed_prekey_id",
                          (json_int_t)sqlite3_column_int64(q, 0), "signed_prekey",
                          b64(sqlite3_column_blob(q, 1), 33, k2, sizeof(k2)),
                          "signed_prekey_signature",
                          b64(sqlite3_column_blob(q, 2), 64, s1, sizeof(s1)));
    sqlite3_finalize(q);
    q = NULL;
    /* consume one one-time prekey (the lowest id) */
    if (sqlite3_prepare_v2(db,
                           "DELETE FROM prekeys WHERE rowid = (SELECT rowid FROM prekeys WHERE "
                           "account=? ORDER BY key_id LIMIT 1) RETURNING key_id, key",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, t.id);
        if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_bytes(q, 1) == 33) {
            json_object_set_new(b, "prekey_id", json_integer(sqlite3_column_int64(q, 0)));
            json_object_set_new(b, "prekey",
                                json_string(b64(sqlite3_column_blob(q, 1), 33, k2, sizeof(k2))));
        }
        while (sqlite3_step(q) == SQLITE_ROW)
            ;
    }
    sqlite3_finalize(q);
    ckvd_resp_obj(resp, 200, b);
    return CKVD_RESPOND;
}
