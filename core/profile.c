/*
 * profile.c: creating, unlocking, re-keying and closing a profile.
 *
 * Unlock record (table `header`, docs/core.md):
 *   format   1
 *   salt     16 random bytes
 *   opslimit, memlimit   Argon2id cost (libsodium crypto_pwhash, ALG_ARGON2ID13)
 *   wrapped  XChaCha20-Poly1305(KEK, MK), AD "ckv1" || 0 || "header-v1"
 *            where KEK = Argon2id(passphrase, salt), MK = random data key
 *   digest   BLAKE2b-256 of all the fields above
 * The digest tells a damaged header (CKV_ERR_PROFILE_DAMAGED) from a wrong
 * passphrase (the wrap does not open: CKV_ERR_WRONG_PASSPHRASE). MK seals
 * every value; the lookup-hash key (index_key) is a random key sealed in
 * `meta`, so that name hashes stay stable across passphrase changes.
 * Changing the passphrase draws a new salt and a new MK and re-seals every
 * value in one transaction.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORMAT 1
#define SALT_LEN 16
#define WRAPPED_LEN (CKV_KEY_LEN + CKV_SEAL_OVERHEAD)
#define DB_FILE "profile.db"
static const uint8_t wrap_rowkey[] = "header-v1";

/* ---------- paths ---------- */

static int valid_profile_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > CKV_PROFILE_NAME_MAX || n[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

ckv_status ckv_profile_dir(const char *profile_name, char **out_dir)
{
    const char *name = profile_name ? profile_name : "default";
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    char *buf = NULL;
    int n;

    if (out_dir == NULL)
        return CKV_ERR_INVALID_ARG;
    if (!valid_profile_name(name))
        return CKV_ERR_BAD_NAME;
    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(NULL, 0, "%s/ckv/%s", xdg, name);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(NULL, 0, "%s/.local/share/ckv/%s", home, name);
    else
        return CKV_ERR_NOT_FOUND;
    buf = malloc((size_t)n + 1);
    if (buf == NULL)
        return CKV_ERR_NOMEM;
    if (xdg != NULL && xdg[0] == '/')
        snprintf(buf, (size_t)n + 1, "%s/ckv/%s", xdg, name);
    else
        snprintf(buf, (size_t)n + 1, "%s/.local/share/ckv/%s", home, name);
    *out_dir = buf;
    return CKV_OK;
}

static char *db_path(const char *dir)
{
    size_t n = strlen(dir) + sizeof(DB_FILE) + 2;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", dir, DB_FILE);
    return p;
}

int ckv_profile_exists(const char *dir)
{
    struct stat sb;
    char *path;
    int r;
    if (dir == NULL)
        return 0;
    path = db_path(dir);
    if (path == NULL)
        return 0;
    r = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    free(path);
    return r;
}

/* mkdir -p; components we create are 0700. */
static ckv_status make_dirs(const char *dir)
{
    char *tmp = strdup(dir);
    ckv_status st = CKV_OK;
    if (tmp == NULL)
        return CKV_ERR_NOMEM;
    for (char *s = tmp + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char saved = *s;
            *s = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
                st = CKV_ERR_IO;
                break;
            }
            *s = saved;
            if (saved == '\0')
                break;
        }
    }
    free(tmp);
    return st;
}

static void remove_db_files(const char *path)
{
    size_t n = strlen(path) + 8;
    char *aux = malloc(n);
    unlink(path);
    if (aux != NULL) {
        snprintf(aux, n, "%s-wal", path);
        unlink(aux);
        snprintf(aux, n, "%s-shm", path);
        unlink(aux);
        free(aux);
    }
}

/* ---------- KDF and the unlock record ---------- */

static ckv_status kdf_limits(ckv_kdf_cost cost, uint64_t *ops, uint64_t *mem)
{
    switch (cost) {
    case CKV_KDF_MODERATE:
        *ops = crypto_pwhash_OPSLIMIT_MODERATE;
        *mem = crypto_pwhash_MEMLIMIT_MODERATE;
        return CKV_OK;
    case CKV_KDF_INTERACTIVE:
        *ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
        *mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
        return CKV_OK;
    case CKV_KDF_MIN:
        *ops = crypto_pwhash_OPSLIMIT_MIN;
        *mem = crypto_pwhash_MEMLIMIT_MIN;
        return CKV_OK;
    }
    return CKV_ERR_INVALID_ARG;
}

/* Bounds for costs read from a file: a damaged or hostile file must not make
 * us allocate gigabytes or run for hours. */
static int limits_sane(uint64_t ops, uint64_t mem)
{
    return ops >= crypto_pwhash_OPSLIMIT_MIN && ops <= 16 && mem >= crypto_pwhash_MEMLIMIT_MIN &&
           mem <= (uint64_t)1 << 30;
}

static ckv_status derive_kek(const uint8_t *pass, size_t pass_len, const uint8_t salt[SALT_LEN],
                             uint64_t ops, uint64_t mem, uint8_t kek[CKV_KEY_LEN])
{
    if (crypto_pwhash(kek, CKV_KEY_LEN, (const char *)pass, pass_len, salt, ops, (size_t)mem,
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
        return CKV_ERR_NOMEM; /* libsodium fails only when it cannot allocate */
    return CKV_OK;
}

static void header_digest(const uint8_t salt[SALT_LEN], uint64_t ops, uint64_t mem,
                          const uint8_t *wrapped, size_t wrapped_len, uint8_t out[32])
{
    crypto_generichash_state h;
    uint8_t b[8];
    crypto_generichash_init(&h, NULL, 0, 32);
    crypto_generichash_update(&h, (const uint8_t *)"ckv-header-v1", 13);
    b[0] = FORMAT;
    crypto_generichash_update(&h, b, 1);
    crypto_generichash_update(&h, salt, SALT_LEN);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(ops >> (56 - 8 * i));
    crypto_generichash_update(&h, b, 8);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(mem >> (56 - 8 * i));
    crypto_generichash_update(&h, b, 8);
    crypto_generichash_update(&h, wrapped, wrapped_len);
    crypto_generichash_final(&h, out, 32);
}

/* Write the unlock record for data key `mk` under a new salt. */
static ckv_status write_header(ckv_profile *p, const uint8_t *pass, size_t pass_len,
                               ckv_kdf_cost cost, const uint8_t mk[CKV_KEY_LEN])
{
    uint8_t salt[SALT_LEN], kek[CKV_KEY_LEN], digest[32];
    uint8_t *wrapped = NULL;
    size_t wrapped_len = 0;
    uint64_t ops = 0, mem = 0;
    sqlite3_stmt *s = NULL;
    ckv_status st;

    st = kdf_limits(cost, &ops, &mem);
    if (st != CKV_OK)
        return st;
    randombytes_buf(salt, sizeof salt);
    st = derive_kek(pass, pass_len, salt, ops, mem, kek);
    if (st != CKV_OK)
        goto out;
    st = ckv_seal(kek, 0, wrap_rowkey, sizeof wrap_rowkey - 1, mk, CKV_KEY_LEN, &wrapped,
                  &wrapped_len);
    if (st != CKV_OK)
        goto out;
    header_digest(salt, ops, mem, wrapped, wrapped_len, digest);
    if (sqlite3_prepare_v2(p->db,
                           "INSERT OR REPLACE INTO header(id, format, salt, opslimit, memlimit,"
                           " wrapped, digest) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &s, NULL) != SQLITE_OK) {
        st = ckv_db_status(sqlite3_errcode(p->db));
        goto out;
    }
    sqlite3_bind_int(s, 1, FORMAT);
    sqlite3_bind_blob(s, 2, salt, SALT_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)ops);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)mem);
    sqlite3_bind_blob(s, 5, wrapped, (int)wrapped_len, SQLITE_STATIC);
    sqlite3_bind_blob(s, 6, digest, 32, SQLITE_STATIC);
    st = sqlite3_step(s) == SQLITE_DONE ? CKV_OK : ckv_db_status(sqlite3_errcode(p->db));
out:
    sqlite3_finalize(s);
    free(wrapped);
    sodium_memzero(kek, sizeof kek);
    return st;
}

/* Read and check the unlock record; unwrap MK into p->seal_key. */
static ckv_status unlock(ckv_profile *p, const uint8_t *pass, size_t pass_len)
{
    sqlite3_stmt *s = NULL;
    uint8_t kek[CKV_KEY_LEN], digest[32];
    uint8_t *mk = NULL;
    size_t mk_len = 0;
    ckv_status st = CKV_ERR_PROFILE_DAMAGED;
    int rc;

    rc = sqlite3_prepare_v2(p->db,
                            "SELECT format, salt, opslimit, memlimit, wrapped, digest FROM header"
                            " WHERE id = 1",
                            -1, &s, NULL);
    if (rc != SQLITE_OK) {
        st = rc == SQLITE_ERROR ? CKV_ERR_PROFILE_DAMAGED : ckv_db_status(rc);
        goto out;
    }
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        st = rc == SQLITE_DONE ? CKV_ERR_PROFILE_DAMAGED : ckv_db_status(rc);
        goto out;
    }
    {
        sqlite3_int64 format = sqlite3_column_int64(s, 0);
        const uint8_t *salt = sqlite3_column_blob(s, 1);
        int salt_len = sqlite3_column_bytes(s, 1);
        sqlite3_int64 ops = sqlite3_column_int64(s, 2);
        sqlite3_int64 mem = sqlite3_column_int64(s, 3);
        const uint8_t *wrapped = sqlite3_column_blob(s, 4);
        int wrapped_len = sqlite3_column_bytes(s, 4);
        const uint8_t *dg = sqlite3_column_blob(s, 5);
        int dg_len = sqlite3_column_bytes(s, 5);

        if (sqlite3_column_type(s, 0) != SQLITE_INTEGER || salt == NULL ||
            salt_len != SALT_LEN || wrapped == NULL || wrapped_len != WRAPPED_LEN ||
            dg == NULL || dg_len != 32 || ops < 0 || mem < 0)
            goto out;
        if (format != FORMAT) {
            st = format > FORMAT ? CKV_ERR_UNSUPPORTED : CKV_ERR_PROFILE_DAMAGED;
            goto out;
        }
        header_digest(salt, (uint64_t)ops, (uint64_t)mem, wrapped, (size_t)wrapped_len, digest);
        if (sodium_memcmp(digest, dg, 32) != 0 || !limits_sane((uint64_t)ops, (uint64_t)mem))
            goto out;
        st = derive_kek(pass, pass_len, salt, (uint64_t)ops, (uint64_t)mem, kek);
        if (st != CKV_OK)
            goto out;
        st = ckv_unseal(kek, 0, wrap_rowkey, sizeof wrap_rowkey - 1, wrapped,
                        (size_t)wrapped_len, &mk, &mk_len);
        if (st != CKV_OK || mk_len != CKV_KEY_LEN) {
            st = CKV_ERR_WRONG_PASSPHRASE;
            goto out;
        }
        memcpy(p->seal_key, mk, CKV_KEY_LEN);
    }
out:
    sqlite3_finalize(s);
    sodium_memzero(kek, sizeof kek);
    ckv_wipe_free(mk, mk_len);
    return st;
}

/* ---------- loading what the profile keeps in memory ---------- */

static ckv_status load_secrets(ckv_profile *p)
{
    uint8_t *v = NULL;
    size_t n = 0;
    ckv_status st;

    st = ckv_meta_get(p, "index_key", &v, &n);
    if (st != CKV_OK || n != CKV_KEY_LEN)
        goto bad;
    memcpy(p->index_key, v, CKV_KEY_LEN);
    ckv_wipe_free(v, n);
    v = NULL;

    st = ckv_meta_get(p, "account", &v, &n);
    if (st != CKV_OK || n == 0 || n > CKV_NAME_MAX)
        goto bad;
    memcpy(p->account, v, n);
    p->account[n] = 0;
    ckv_wipe_free(v, n);
    v = NULL;

    st = ckv_meta_get(p, "identity", &v, &n);
    if (st != CKV_OK || n != CKV_IDENTITY_KEY_LEN + 32 || v[0] != 0x05)
        goto bad;
    memcpy(p->identity_pub, v, CKV_IDENTITY_KEY_LEN);
    memcpy(p->identity_priv, v + CKV_IDENTITY_KEY_LEN, 32);
    ckv_wipe_free(v, n);
    v = NULL;

    st = ckv_meta_get_u32(p, "registration_id", &p->registration_id);
    if (st != CKV_OK)
        goto bad;
    return CKV_OK;
bad:
    ckv_wipe_free(v, n);
    if (st == CKV_OK || st == CKV_ERR_NOT_FOUND)
        st = CKV_ERR_PROFILE_DAMAGED;
    return st;
}

static ckv_status quick_check(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    ckv_status st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &s, NULL);
    if (rc != SQLITE_OK)
        return ckv_db_status(rc) == CKV_ERR_DB ? CKV_ERR_PROFILE_DAMAGED : ckv_db_status(rc);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *r = sqlite3_column_text(s, 0);
        st = (r != NULL && strcmp((const char *)r, "ok") == 0) ? CKV_OK : CKV_ERR_PROFILE_DAMAGED;
    } else {
        st = ckv_db_status(rc);
        if (st == CKV_OK || st == CKV_ERR_DB)
            st = CKV_ERR_PROFILE_DAMAGED;
    }
    sqlite3_finalize(s);
    return st;
}

static uint32_t rd32(const uint8_t *b)
{
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

/* Cheap checks of the SQLite file header before SQLite sees the file
 * (https://www.sqlite.org/fileformat2.html §1.3): the magic string, a valid
 * page size, a size that is a whole number of pages and, when there is no
 * write-ahead log to replay, the size the header records. Catches
 * truncation even where the lost bytes happened to be zero. */
static ckv_status check_file_shape(const char *path)
{
    uint8_t h[100];
    struct stat sb, wsb;
    uint32_t page, pages;
    size_t n = strlen(path) + 5;
    char *wal = NULL;
    int fd, no_wal;
    ssize_t got;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CKV_ERR_IO;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return CKV_ERR_IO;
    }
    got = read(fd, h, sizeof h);
    close(fd);
    if (got != (ssize_t)sizeof h || memcmp(h, "SQLite format 3", 16) != 0)
        return CKV_ERR_PROFILE_DAMAGED;
    page = ((uint32_t)h[16] << 8) | h[17];
    if (page == 1)
        page = 65536;
    if (page < 512 || (page & (page - 1)) != 0)
        return CKV_ERR_PROFILE_DAMAGED;
    if (sb.st_size < (off_t)page || sb.st_size % page != 0)
        return CKV_ERR_PROFILE_DAMAGED;
    wal = malloc(n);
    if (wal == NULL)
        return CKV_ERR_NOMEM;
    snprintf(wal, n, "%s-wal", path);
    no_wal = stat(wal, &wsb) != 0 || wsb.st_size == 0;
    free(wal);
    pages = rd32(h + 28);
    /* the in-header size is valid when "version-valid-for" equals the change counter */
    if (no_wal && pages != 0 && rd32(h + 92) == rd32(h + 24) &&
        (off_t)pages * page != sb.st_size)
        return CKV_ERR_PROFILE_DAMAGED;
    return CKV_OK;
}

static ckv_profile *profile_new(void)
{
    ckv_profile *p = sodium_malloc(sizeof *p); /* guarded, locked, wiped on free */
    if (p != NULL)
        memset(p, 0, sizeof *p);
    return p;
}

/* Everything after the keys are known: statements, libsignal context, store. */
static ckv_status finish_open(ckv_profile *p)
{
    ckv_status st = ckv_db_prepare(p);
    if (st != CKV_OK)
        return st;
    st = ckv_sg_context_create(&p->lock, &p->sg);
    if (st != CKV_OK)
        return st;
    return ckv_store_create(p);
}

void ckv_profile_close(ckv_profile *p)
{
    if (p == NULL)
        return;
    if (p->store != NULL)
        signal_protocol_store_context_destroy(p->store);
    if (p->sg != NULL) {
        signal_context_destroy(p->sg);
        pthread_mutex_destroy(&p->lock);
    }
    ckv_db_finalize(p);
    if (p->db != NULL)
        sqlite3_close(p->db);
    free(p->dir);
    sodium_free(p); /* wipes keys */
}

ckv_status ckv_profile_create(const char *dir, const char *account, const uint8_t *passphrase,
                              size_t passphrase_len, ckv_kdf_cost cost, ckv_profile **out)
{
    ckv_profile *p = NULL;
    char *path = NULL;
    uint8_t mk[CKV_KEY_LEN], idx[CKV_KEY_LEN];
    int fd = -1, created_file = 0;
    uint64_t ops, mem;
    ckv_status st;

    if (account == NULL || out == NULL || (passphrase == NULL && passphrase_len > 0))
        return CKV_ERR_INVALID_ARG;
    if (passphrase_len == 0)
        return CKV_ERR_WEAK_PASSPHRASE;
    if (kdf_limits(cost, &ops, &mem) != CKV_OK)
        return CKV_ERR_INVALID_ARG;
    if (sodium_init() < 0)
        return CKV_ERR_CRYPTO;
    p = profile_new();
    if (p == NULL)
        return CKV_ERR_NOMEM;
    st = ckv_name_normalize(account, p->account);
    if (st != CKV_OK)
        goto out;
    if (dir != NULL) {
        p->dir = strdup(dir);
        path = db_path(dir);
        if (p->dir == NULL || path == NULL) {
            st = CKV_ERR_NOMEM;
            goto out;
        }
        st = make_dirs(dir);
        if (st != CKV_OK)
            goto out;
        {
            /* an existing profile directory must be private too: opening
             * would refuse it later (CKV_ERR_PERM), so refuse it now */
            struct stat dsb;
            if (stat(dir, &dsb) != 0 || !S_ISDIR(dsb.st_mode)) {
                st = CKV_ERR_IO;
                goto out;
            }
            if ((dsb.st_mode & 077) != 0) {
                st = CKV_ERR_PERM;
                goto out;
            }
        }
        fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0) {
            st = errno == EEXIST ? CKV_ERR_PROFILE_EXISTS : CKV_ERR_IO;
            goto out;
        }
        created_file = 1;
        close(fd);
    }
    st = ckv_db_open(path, 1, &p->db);
    if (st != CKV_OK)
        goto out;
    st = ckv_db_schema(p->db);
    if (st != CKV_OK)
        goto out;
    randombytes_buf(mk, sizeof mk);
    randombytes_buf(idx, sizeof idx);
    memcpy(p->seal_key, mk, sizeof mk);
    memcpy(p->index_key, idx, sizeof idx);
    st = finish_open(p);
    if (st != CKV_OK)
        goto out;
    st = ckv_db_begin(p);
    if (st != CKV_OK)
        goto out;
    st = write_header(p, passphrase, passphrase_len, cost, mk);
    if (st == CKV_OK)
        st = ckv_meta_put(p, "index_key", idx, sizeof idx);
    if (st == CKV_OK)
        st = ckv_meta_put(p, "account", (const uint8_t *)p->account, strlen(p->account));
    if (st == CKV_OK)
        st = ckv_keys_generate_identity(p);
    if (st == CKV_OK)
        st = ckv_keys_new_signed_prekey(p, NULL);
    if (st == CKV_OK)
        st = ckv_keys_refill(p, CKV_PREKEY_BATCH, NULL);
    if (st == CKV_OK)
        st = ckv_db_commit(p);
    else
        ckv_db_rollback(p);
out:
    sodium_memzero(mk, sizeof mk);
    sodium_memzero(idx, sizeof idx);
    if (st != CKV_OK) {
        ckv_profile_close(p);
        if (created_file)
            remove_db_files(path);
    } else {
        *out = p;
    }
    free(path);
    return st;
}

ckv_status ckv_profile_open(const char *dir, const uint8_t *passphrase, size_t passphrase_len,
                            ckv_profile **out)
{
    ckv_profile *p = NULL;
    char *path = NULL;
    struct stat sb;
    ckv_status st;

    if (dir == NULL || out == NULL || (passphrase == NULL && passphrase_len > 0))
        return CKV_ERR_INVALID_ARG;
    if (sodium_init() < 0)
        return CKV_ERR_CRYPTO;
    path = db_path(dir);
    p = profile_new();
    if (path == NULL || p == NULL || (p->dir = strdup(dir)) == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = errno == ENOENT || errno == ENOTDIR ? CKV_ERR_NO_PROFILE : CKV_ERR_IO;
        if (stat(path, &sb) == 0)
            st = CKV_ERR_PROFILE_DAMAGED; /* exists but is not a regular file */
        goto out;
    }
    if ((sb.st_mode & 077) != 0) {
        st = CKV_ERR_PERM;
        goto out;
    }
    if (stat(dir, &sb) == 0 && (sb.st_mode & 077) != 0) {
        st = CKV_ERR_PERM;
        goto out;
    }
    st = check_file_shape(path);
    if (st != CKV_OK)
        goto out;
    st = ckv_db_open(path, 0, &p->db);
    if (st != CKV_OK) {
        if (st == CKV_ERR_DB)
            st = CKV_ERR_PROFILE_DAMAGED;
        goto out;
    }
    st = quick_check(p->db);
    if (st != CKV_OK)
        goto out;
    st = unlock(p, passphrase, passphrase_len);
    if (st != CKV_OK)
        goto out;
    st = ckv_db_migrate(p->db); /* only once unlocked: a wrong passphrase changes nothing */
    if (st != CKV_OK)
        goto out;
    st = ckv_db_prepare(p);
    if (st != CKV_OK)
        goto out;
    st = load_secrets(p);
    if (st != CKV_OK)
        goto out;
    st = ckv_sg_context_create(&p->lock, &p->sg);
    if (st == CKV_OK)
        st = ckv_store_create(p);
out:
    free(path);
    if (st != CKV_OK)
        ckv_profile_close(p);
    else
        *out = p;
    return st;
}

const char *ckv_profile_account(const ckv_profile *p)
{
    return p ? p->account : "";
}

void ckv_profile_identity_key(const ckv_profile *p, uint8_t out[CKV_IDENTITY_KEY_LEN])
{
    if (p != NULL && out != NULL)
        memcpy(out, p->identity_pub, CKV_IDENTITY_KEY_LEN);
}

uint32_t ckv_profile_registration_id(const ckv_profile *p)
{
    return p ? p->registration_id : 0;
}

/* ---------- passphrase change ---------- */

static void be64(uint8_t out[8], uint64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* The row key that a sealed value of `table` is bound to, from the row's
 * key columns (see db.c). */
static ckv_status row_key(int table, sqlite3_stmt *s, uint8_t *rk, size_t *rk_len)
{
    const void *b;
    int bl;
    switch (table) {
    case SEAL_META:
        b = sqlite3_column_text(s, 1);
        bl = sqlite3_column_bytes(s, 1);
        if (b == NULL || bl <= 0 || bl > 64)
            return CKV_ERR_PROFILE_DAMAGED;
        memcpy(rk, b, (size_t)bl);
        *rk_len = (size_t)bl;
        return CKV_OK;
    case SEAL_SESSION:
    case SEAL_MESSAGE:
        b = sqlite3_column_blob(s, 1);
        if (b == NULL || sqlite3_column_bytes(s, 1) != 32)
            return CKV_ERR_PROFILE_DAMAGED;
        memcpy(rk, b, 32);
        if (table == SEAL_SESSION) {
            ckv_be32(rk + 32, (uint32_t)sqlite3_column_int64(s, 2));
            *rk_len = 36;
        } else {
            be64(rk + 32, (uint64_t)sqlite3_column_int64(s, 0));
            *rk_len = 40;
        }
        return CKV_OK;
    case SEAL_PREKEY:
    case SEAL_SIGNED_PREKEY:
        ckv_be32(rk, (uint32_t)sqlite3_column_int64(s, 0));
        *rk_len = 4;
        return CKV_OK;
    case SEAL_CONTACT:
    case SEAL_SENDER_KEY:
    case SEAL_KT_LATEST:
        b = sqlite3_column_blob(s, 1);
        bl = sqlite3_column_bytes(s, 1);
        if (b == NULL || bl <= 0 || bl > 64)
            return CKV_ERR_PROFILE_DAMAGED;
        memcpy(rk, b, (size_t)bl);
        *rk_len = (size_t)bl;
        return CKV_OK;
    default:
        return CKV_ERR_INTERNAL;
    }
}

static ckv_status reseal_table(ckv_profile *p, const char *table, int tag, const char *keycols,
                               const uint8_t new_key[CKV_KEY_LEN])
{
    char sql[256];
    sqlite3_stmt *sel = NULL, *upd = NULL;
    ckv_status st = CKV_OK;
    int rc;

    snprintf(sql, sizeof sql, "SELECT rowid, %s, v FROM %s ORDER BY rowid", keycols, table);
    if (sqlite3_prepare_v2(p->db, sql, -1, &sel, NULL) != SQLITE_OK)
        return ckv_db_status(sqlite3_errcode(p->db));
    snprintf(sql, sizeof sql, "UPDATE %s SET v = ?1 WHERE rowid = ?2", table);
    if (sqlite3_prepare_v2(p->db, sql, -1, &upd, NULL) != SQLITE_OK) {
        st = ckv_db_status(sqlite3_errcode(p->db));
        goto out;
    }
    int vcol = sqlite3_column_count(sel) - 1;
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        uint8_t rk[64];
        size_t rk_len = 0, plain_len = 0, sealed_len = 0;
        uint8_t *plain = NULL, *sealed = NULL;

        st = row_key(tag, sel, rk, &rk_len);
        if (st == CKV_OK)
            st = ckv_unseal(p->seal_key, tag, rk, rk_len, sqlite3_column_blob(sel, vcol),
                            (size_t)sqlite3_column_bytes(sel, vcol), &plain, &plain_len);
        if (st == CKV_OK)
            st = ckv_seal(new_key, tag, rk, rk_len, plain, plain_len, &sealed, &sealed_len);
        ckv_wipe_free(plain, plain_len);
        if (st == CKV_OK) {
            sqlite3_reset(upd);
            sqlite3_bind_blob(upd, 1, sealed, (int)sealed_len, SQLITE_STATIC);
            sqlite3_bind_int64(upd, 2, sqlite3_column_int64(sel, 0));
            rc = sqlite3_step(upd);
            if (rc != SQLITE_DONE)
                st = ckv_db_status(rc);
        }
        free(sealed);
        if (st != CKV_OK)
            goto out;
    }
    if (rc != SQLITE_DONE)
        st = ckv_db_status(rc);
out:
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    return st;
}

/* messages has no rowid: list the keys first, then re-seal row by row. */
static ckv_status reseal_messages(ckv_profile *p, const uint8_t new_key[CKV_KEY_LEN])
{
    sqlite3_stmt *sel = NULL;
    uint8_t *keys = NULL; /* n x (name_h 32 || id 8) */
    size_t n = 0, cap = 0;
    ckv_status st = CKV_OK;
    int rc;

    if (sqlite3_prepare_v2(p->db, "SELECT name_h, id FROM messages", -1, &sel, NULL) != SQLITE_OK)
        return ckv_db_status(sqlite3_errcode(p->db));
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        const void *h = sqlite3_column_blob(sel, 0);
        if (h == NULL || sqlite3_column_bytes(sel, 0) != 32) {
            st = CKV_ERR_PROFILE_DAMAGED;
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            uint8_t *nk = realloc(keys, ncap * 40);
            if (nk == NULL) {
                st = CKV_ERR_NOMEM;
                break;
            }
            keys = nk;
            cap = ncap;
        }
        memcpy(keys + n * 40, h, 32);
        be64(keys + n * 40 + 32, (uint64_t)sqlite3_column_int64(sel, 1));
        n++;
    }
    if (st == CKV_OK && rc != SQLITE_DONE)
        st = ckv_db_status(rc);
    sqlite3_finalize(sel);
    for (size_t i = 0; i < n && st == CKV_OK; i++) {
        const uint8_t *rk = keys + i * 40;
        sqlite3_int64 id = 0;
        uint8_t *plain = NULL, *sealed = NULL;
        size_t plain_len = 0, sealed_len = 0;
        sqlite3_stmt *s;
        for (int b = 0; b < 8; b++)
            id = (sqlite3_int64)(((uint64_t)id << 8) | rk[32 + b]);
        s = ckv_stmt(p, STMT_MSG_GET);
        sqlite3_bind_blob(s, 1, rk, 32, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, id);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            st = ckv_unseal(p->seal_key, SEAL_MESSAGE, rk, 40, sqlite3_column_blob(s, 0),
                            (size_t)sqlite3_column_bytes(s, 0), &plain, &plain_len);
        else
            st = rc == SQLITE_DONE ? CKV_ERR_INTERNAL : ckv_db_status(rc);
        sqlite3_reset(s);
        if (st == CKV_OK)
            st = ckv_seal(new_key, SEAL_MESSAGE, rk, 40, plain, plain_len, &sealed, &sealed_len);
        ckv_wipe_free(plain, plain_len);
        if (st == CKV_OK) {
            s = ckv_stmt(p, STMT_MSG_SET);
            sqlite3_bind_blob(s, 1, rk, 32, SQLITE_STATIC);
            sqlite3_bind_int64(s, 2, id);
            sqlite3_bind_blob(s, 3, sealed, (int)sealed_len, SQLITE_STATIC);
            rc = sqlite3_step(s);
            sqlite3_reset(s);
            if (rc != SQLITE_DONE)
                st = ckv_db_status(rc);
        }
        free(sealed);
    }
    free(keys);
    return st;
}

ckv_status ckv_profile_change_passphrase(ckv_profile *p, const uint8_t *new_passphrase,
                                         size_t new_passphrase_len, ckv_kdf_cost cost)
{
    static const struct {
        const char *table;
        int tag;
        const char *keycols;
    } tables[] = {
        {"meta", SEAL_META, "k"},
        {"sessions", SEAL_SESSION, "name_h, device"},
        {"prekeys", SEAL_PREKEY, "id"},
        {"signed_prekeys", SEAL_SIGNED_PREKEY, "id"},
        {"contacts", SEAL_CONTACT, "name_h"},
        {"sender_keys", SEAL_SENDER_KEY, "k"},
        {"kt_latest", SEAL_KT_LATEST, "name_h"},
    };
    uint8_t mk[CKV_KEY_LEN];
    uint64_t ops, mem;
    ckv_status st;

    if (p == NULL || (new_passphrase == NULL && new_passphrase_len > 0))
        return CKV_ERR_INVALID_ARG;
    if (new_passphrase_len == 0)
        return CKV_ERR_WEAK_PASSPHRASE;
    if (kdf_limits(cost, &ops, &mem) != CKV_OK)
        return CKV_ERR_INVALID_ARG;
    randombytes_buf(mk, sizeof mk);
    st = ckv_db_begin(p);
    if (st != CKV_OK)
        goto out;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0] && st == CKV_OK; i++)
        st = reseal_table(p, tables[i].table, tables[i].tag, tables[i].keycols, mk);
    if (st == CKV_OK)
        st = reseal_messages(p, mk);
    if (st == CKV_OK)
        st = write_header(p, new_passphrase, new_passphrase_len, cost, mk);
    if (st == CKV_OK)
        st = ckv_db_commit(p);
    else
        ckv_db_rollback(p);
    if (st == CKV_OK)
        memcpy(p->seal_key, mk, sizeof mk);
out:
    sodium_memzero(mk, sizeof mk);
    return st;
}
