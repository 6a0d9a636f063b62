/*
 * audit.h: an outside audit of a live ckvd's log for the tests, with
 * libckvlog only (no ckvd code): fetch and verify the signed checkpoint,
 * recompute its root from the C2SP tiles served over HTTP, check every
 * entry bundle against the level-0 tiles, parse every entry and check each
 * account's chain (docs/directory.md), and check the new checkpoint is
 * consistent with an older view.
 *
 * When the build has the project's ckv-audit tool (CKV_AUDIT_BIN), or
 * $CKV_AUDIT names one, the tests run it against the live server as well
 * (before and after more accounts register, and across restarts, with one
 * state directory, so it checks consistency between its runs).
 */
#ifndef CKV_TEST_AUDIT_H
#define CKV_TEST_AUDIT_H

#include <stdint.h>

#include "ckv/tlog.h"
#include "testsrv.h"

struct audit_tile {
    char path[CKV_TLOG_TILE_PATH_MAX + 1];
    uint8_t *data;
    size_t len;
};

struct audit_view {
    const struct srv *s;
    ckv_tlog_checkpoint cp;
    struct audit_tile *tiles; /* tiles fetched (a cache) */
    size_t ntiles, cap;
    ckv_tlog_tile_source src;
    ckv_tlog_hash_reader reader;
    int fetch_failed;
};

/* Audit the log now; prev (may be NULL) is an older view the new
 * checkpoint must be consistent with. 0 when everything checks; else -1
 * with a message on stderr. */
int audit_log(const struct srv *s, const ckv_tlog_verifier *v, const struct audit_view *prev,
              struct audit_view *out);
/* Root of the tree of size m <= view's size, from the view's tiles. */
int audit_root_at(struct audit_view *view, uint64_t m, ckv_tlog_hash *root);
void audit_view_free(struct audit_view *view);

int audit_tool_available(void);
/* Run ckv-audit --state DIR/audit-state --vkey VKEY URL; its exit status. */
int audit_tool_run(const struct srv *s, const char *dir);

#endif
