/*
 * audit.h: the audit of one log by ckv-audit (audit_check.c), separated
 * from the command line (ckv_audit_main.c).
 *
 * What a run checks, in order (each failure is misbehaviour, exit 1, with
 * evidence; failing to reach the log is exit 3):
 *   1. the checkpoint is a signed note by the verifier key, and a strict
 *      C2SP checkpoint whose origin is the key's name;
 *   2. against the checkpoint accepted last time (state directory): not
 *      smaller (rollback), same root at the same size, else a fork;
 *   3. every tile at level >= 1 for the new size, and each one's hashes are
 *      the roots of the 256-hash runs of the level below (where both are
 *      read); the root recomputed from the tiles equals the checkpoint's;
 *   4. the root of the previously accepted size recomputed from the same
 *      tiles equals the previously accepted root (consistency);
 *   5. the level-0 tiles and entry bundles from the previously accepted size
 *      on (all of them with --full, or on a first run): each full level-0
 *      tile hashes to its level-1 hash, and each bundle's entries hash to
 *      the level-0 tile's leaf hashes.
 *   6. with `directory`: every entry (all of them, from leaf 0) is a strict
 *      directory entry of this log, and each account's chain holds
 *      (audit_dir.h); a violation is a broken_chain with the entries and
 *      their inclusion proofs under the served checkpoint.
 * Only then the new checkpoint is stored as accepted.
 */
#ifndef CKV_AUDIT_H
#define CKV_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "audit_fetch.h"
#include "ckv/tlog_note.h"

typedef struct audit_opts {
    const char *source;      /* URL or directory */
    const char *vkey_string; /* the verifier key string (for evidence) */
    const ckv_tlog_verifier *vkey;
    const char *state_root; /* NULL: default */
    int full;               /* re-check every tile and bundle */
    int quiet;              /* no progress bar, no summary */
    long timeout_s;
    int directory;           /* also check directory entries and chains */
    const char *report_path; /* directory report as JSON here (NULL: stdout text) */
} audit_opts;

/* Run one audit; returns the exit code: 0 good, 1 misbehaviour (evidence
 * written), 3 the audit could not be done (log unreachable, or a local
 * failure such as an unwritable state directory; a message says which).
 * Messages go to stderr, the summary to stdout. */
int audit_run(const audit_opts *o);

#endif
