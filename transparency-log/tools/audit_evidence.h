/*
 * audit_evidence.h: the evidence file ckv-audit writes when a log
 * misbehaves. One self-contained JSON file that a third party can check
 * without ckv: the signed checkpoint note(s) exactly as served (text and
 * base64), and for a bad tile or bundle its path, its bytes (base64), the
 * position that does not match, what was expected and what was found.
 * The file is written by the evidence library (include/ckv/evidence.h,
 * format ckv-evidence/1, docs/evidence.md), the one format of every ckv
 * program; this struct only gathers what the auditor knows.
 */
#ifndef CKV_AUDIT_EVIDENCE_H
#define CKV_AUDIT_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/status.h"
#include "ckv/tlog_hash.h"

/* A log entry with its inclusion proof under the served checkpoint. */
typedef struct audit_evidence_entry {
    const char *role; /* "earlier", "later", "entry" */
    const uint8_t *data;
    size_t len;
    uint64_t index;
    const ckv_tlog_hash *path; /* NULL: no proof */
    size_t path_len;
} audit_evidence_entry;

typedef struct audit_evidence {
    const char *kind;    /* "fork", "rollback", "bad_signature", "bad_checkpoint",
                          * "bad_root", "bad_tile", "bad_bundle", "missing_data",
                          * "oversized" */
    const char *summary; /* one sentence */
    const char *source;  /* URL or directory audited */
    const char *vkey;    /* verifier key string used */

    /* The checkpoint accepted before (may be NULL) and the one served now. */
    const uint8_t *accepted_note;
    size_t accepted_len;
    const uint8_t *served_note;
    size_t served_len;

    /* The object at fault (may be NULL): tlog-tiles path and bytes. */
    const char *object_path;
    const uint8_t *object;
    size_t object_len;
    int has_position;     /* position below is meaningful */
    uint64_t position;    /* hash index (tile) or entry index (bundle) */
    const char *expected; /* hex, or NULL */
    const char *found;    /* hex, or NULL */
    const char *detail;   /* free text, or NULL */

    /* A consistency proof from the accepted checkpoint to the served one
     * (fork found from the tiles), with the old subtree hash when the old
     * size is a power of two (else NULL). */
    const ckv_tlog_hash *cons_path;
    size_t cons_len;
    int has_cons;
    const ckv_tlog_hash *old_subtree;

    /* Directory entries at fault (broken_chain), at most 2. */
    const audit_evidence_entry *entries;
    size_t nentries;
} audit_evidence;

/* Write the evidence to <dir>/evidence-<UTC time>-<kind>-<random>.json
 * (0600, durably, see ckv_evidence_write). On success *path_out is the new file's path (caller frees). */
ckv_status audit_evidence_write(const char *dir, const audit_evidence *ev, char **path_out);

#endif
