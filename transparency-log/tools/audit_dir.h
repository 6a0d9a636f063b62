/*
 * audit_dir.h: ckv-audit's directory mode: every log entry, in leaf
 * order, through directory/'s codec and chain rules (docs/directory.md),
 * with one record per account (its latest entry), and the report of
 * accounts, key changes and resets. Knows nothing of tiles or HTTP: the
 * audit (audit_check.c) feeds verified entries in and turns a violation
 * into evidence with inclusion proofs.
 */
#ifndef CKV_AUDIT_DIR_H
#define CKV_AUDIT_DIR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ckv/status.h"

typedef struct audit_dir audit_dir;

/* A violation: the entry at `index` breaks the rules; when has_prev, in
 * relation to the account's previous entry at prev_index (prev_data is
 * its encoding, valid until the next audit_dir call). */
typedef struct audit_dir_violation {
    uint64_t index;
    int has_prev;
    uint64_t prev_index;
    const uint8_t *prev_data;
    size_t prev_len;
    char why[512];
} audit_dir_violation;

/* A tracker for the log named origin. NULL on out of memory. */
audit_dir *audit_dir_new(const char *origin);
void audit_dir_free(audit_dir *d); /* NULL is a no-op */

/* Feed leaf `index` (must be the next one, from 0). CKV_OK, or
 * CKV_ERR_DIR_BAD_CHAIN with *v filled (v untouched otherwise), or
 * CKV_ERR_NOMEM. */
ckv_status audit_dir_add(audit_dir *d, uint64_t index, const uint8_t *data, size_t len,
                         audit_dir_violation *v);

/* The report: as text lines on out, or as JSON into path (0600, atomic). */
void audit_dir_print(const audit_dir *d, FILE *out);
ckv_status audit_dir_write_json(const audit_dir *d, const char *path, uint64_t tree_size);

#endif
