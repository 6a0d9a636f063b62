/*
 * accounts.h: ckvd's accounts, their directory entries and prekeys, in the
 * server database (tables created by ckvd_accounts_init).
 *
 * The transparency log is the source of truth for keys; the `entries` table
 * is an index of it (name, version, leaf index), rebuilt from the log on
 * start if a crash left the two apart (ckvd_accounts_catch_up).
 */
#ifndef CKVD_ACCOUNTS_H
#define CKVD_ACCOUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/dir_entry.h"
#include "ckvd.h"

struct ckvd_account {
    int64_t id;
    char name[CKV_NAME_MAX + 1];
    uint64_t version;
    uint64_t leaf_index;
    uint8_t leaf_hash[32];
    uint8_t key[CKV_IDENTITY_KEY_LEN];
    uint32_t registration_id;
};

int ckvd_accounts_init(struct ckvd *d, char *err, size_t errlen);
/* Finalise the prepared statements (before the store closes). */
void ckvd_accounts_close(struct ckvd *d);

/* Apply log entries [applied, size) to the index (after a crash between the
 * log append and the index update). */
int ckvd_accounts_catch_up(struct ckvd *d, char *err, size_t errlen);

/* 0 found, 1 not found, -1 database error. */
int ckvd_account_by_name(struct ckvd *d, const char *name, struct ckvd_account *out);
int ckvd_account_by_id(struct ckvd *d, int64_t id, struct ckvd_account *out);

#endif
