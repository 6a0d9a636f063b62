/*
 * helpers.c: see helpers.h.
 */
#include "helpers.h"

#include <dirent.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *tmpdir_make(void)
{
    const char *base = getenv("TMPDIR");
    char *t = malloc(512);
    if (t == NULL)
        return NULL;
    snprintf(t, 512, "%s/ckv-core-test-XXXXXX", base && base[0] ? base : "/tmp");
    if (mkdtemp(t) == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

void tmpdir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        char *p;
        struct stat sb;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        p = path_join(dir, e->d_name);
        if (p != NULL && lstat(p, &sb) == 0) {
            if (S_ISDIR(sb.st_mode))
                tmpdir_remove(p);
            else
                unlink(p);
        }
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

char *path_join(const char *dir, const char *sub)
{
    size_t n = strlen(dir) + strlen(sub) + 2;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", dir, sub);
    return p;
}

int db_digest(const char *db_file, uint8_t out[32])
{
    static const char *const tables[] = {"header", "meta", "sessions", "prekeys",
                                         "signed_prekeys", "contacts", "messages",
                                         "sender_keys"};
    crypto_generichash_state h;
    sqlite3 *db = NULL;
    int rc = -1;

    if (sqlite3_open_v2(db_file, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        goto out;
    crypto_generichash_init(&h, NULL, 0, 32);
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        char sql[128];
        sqlite3_stmt *s = NULL;
        snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY 1, 2", tables[t]);
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
            goto out;
        crypto_generichash_update(&h, (const uint8_t *)tables[t], strlen(tables[t]) + 1);
        while (sqlite3_step(s) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(s); c++) {
                const void *b = sqlite3_column_blob(s, c);
                int n = sqlite3_column_bytes(s, c);
                uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                                  (uint8_t)n};
                crypto_generichash_update(&h, len, 4);
                if (b != NULL && n > 0)
                    crypto_generichash_update(&h, b, (size_t)n);
            }
        }
        sqlite3_finalize(s);
    }
    crypto_generichash_final(&h, out, 32);
    rc = 0;
out:
    sqlite3_close(db);
    return rc;
}

char *read_file_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
            buf[n] = 0;
            if (len != NULL)
                *len = (size_t)n;
        } else {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

int hex_to_bin(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    if (sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &n, NULL) != 0)
        return -1;
    return (int)n;
}
