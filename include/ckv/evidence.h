/*
 * evidence.h: evidence of a misbehaving log or directory server, as one
 * self-contained JSON file (format "ckv-evidence/1", docs/evidence.md).
 *
 * Who writes it: ckv-audit (tiles, checkpoints, account chains) and the
 * clients (core/kt.c: forks, bad proofs, bundle keys, broken chains, stale
 * entries, split views found by gossip). Who reads it: anyone, with
 * `ckv-audit verify-evidence FILE`, or by hand (the format needs no ckv
 * code: signed notes, RFC 9162 proofs, base64 and hex).
 *
 * A file holds the log's verifier key, the signed checkpoints exactly as
 * served, log entries (the leaf bytes) with RFC 9162 inclusion proofs
 * under those checkpoints, at most one consistency proof, what a server
 * served outside the log (an identity key in a bundle), a sentence, and for
 * the auditor's tile checks the object at fault. Verification separates
 * what the log's signatures prove (checkpoints, and through their roots the
 * entries and proofs that verify against them) from what the writer only
 * reports (an unsigned answer of the server, e.g. a proof that fails).
 *
 * Kinds and what makes the file a proof (exit 0 of verify-evidence):
 *   fork           two checkpoints, both signed: same size and different
 *                  roots; or sizes m < n with a consistency proof that
 *                  verifies to root n but yields another root for size m.
 *   split_view     the same for our checkpoint and a peer's (gossip); a
 *                  consistency proof from the server that does not verify
 *                  between two signed checkpoints is reported as such.
 *   rollback       checkpoint "accepted_before" (size n) and a later
 *                  "served_now" of size m < n, both signed (their order is
 *                  reported by the writer, not signed).
 *   bad_proof      an inclusion proof (an entry) or a consistency proof
 *                  that does not verify against signed checkpoints (the
 *                  proof itself is the server's unsigned answer).
 *   key_not_in_log an entry proven in the log for a name, and a different
 *                  identity key served for that name (reported).
 *   broken_chain   one entry, or two entries of one account, each proven
 *                  in the log, that violate docs/directory.md's chain rules.
 *   stale_entry    two proven entries of one account; the older version was
 *                  served as the latest (reported).
 * The auditor's tile kinds (bad_signature, bad_checkpoint, bad_root,
 * bad_tile, bad_bundle, missing_data, oversized) carry the object at fault
 * and are only reported: they never verify as proofs.
 */
#ifndef CKV_EVIDENCE_H
#define CKV_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/status.h"
#include "ckv/tlog_hash.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CKV_EVIDENCE_FORMAT "ckv-evidence/1"
/* bytes of one file: room for the largest object, a whole entry bundle
 * (CKV_TLOG_BUNDLE_MAX_BYTES, about 16.8 MB) in base64, and the rest */
#define CKV_EVIDENCE_FILE_MAX (32u * 1024u * 1024u)
#define CKV_EVIDENCE_MAX_CHECKPOINTS 8
#define CKV_EVIDENCE_MAX_ENTRIES 8
#define CKV_EVIDENCE_ROLE_MAX 31   /* bytes of a role name */
#define CKV_EVIDENCE_TEXT_MAX 4096 /* summary, detail, reporter, ... */
#define CKV_EVIDENCE_IDENTITY_KEY_LEN 33

typedef struct ckv_evidence ckv_evidence; /* opaque; freed by ckv_evidence_free */

/* ---- building ------------------------------------------------------------ */

/* A new, empty piece of evidence. kind: one of the kinds above ([a-z_],
 * 1..31 bytes); summary: one sentence; log_vkey: the log's verifier key
 * string (name+id+base64, type 0x01). Strings are copied. Errors:
 * CKV_ERR_INVALID_ARG, CKV_ERR_NOMEM. *out only on success. */
CKV_MUST_USE ckv_status ckv_evidence_new(const char *kind, const char *summary,
                                         const char *log_vkey, ckv_evidence **out);

/* Free; NULL is a no-op. */
void ckv_evidence_free(ckv_evidence *ev);

/* Optional texts (copied; NULL clears): who wrote it ("ckv-audit", "ckv
 * client of alice"), where the log was read (URL/directory), free detail. */
CKV_MUST_USE ckv_status ckv_evidence_set_reporter(ckv_evidence *ev, const char *who);
CKV_MUST_USE ckv_status ckv_evidence_set_source(ckv_evidence *ev, const char *source);
CKV_MUST_USE ckv_status ckv_evidence_set_detail(ckv_evidence *ev, const char *detail);

/* Add a signed checkpoint note exactly as served (bytes copied), with a role
 * ("accepted_before", "served_now", "ours", "peer", ...). *idx_out (may be
 * NULL) gets its index, used by entries and the consistency proof.
 * CKV_ERR_TOO_LARGE past CKV_EVIDENCE_MAX_CHECKPOINTS. */
CKV_MUST_USE ckv_status ckv_evidence_add_checkpoint(ckv_evidence *ev, const char *role,
                                                    const void *note, size_t len, size_t *idx_out);

/* Add a log entry (leaf bytes, copied) at leaf `index`. With path != NULL
 * (path_len hashes, RFC 9162 PATH) it carries an inclusion proof under
 * checkpoint number cp_idx; with path == NULL it has none (then it is only
 * reported). CKV_ERR_INVALID_ARG for a bad cp_idx. */
CKV_MUST_USE ckv_status ckv_evidence_add_entry(ckv_evidence *ev, const char *role, const void *data,
                                               size_t len, uint64_t index, size_t cp_idx,
                                               const ckv_tlog_hash *path, size_t path_len);

/* Set the consistency proof between checkpoints old_idx and new_idx
 * (RFC 9162 PROOF). old_subtree (may be NULL) is the hash of the subtree
 * [0, old size) of the new tree when the old size is a power of two (the
 * proof then omits it; needed to show another old root). */
CKV_MUST_USE ckv_status ckv_evidence_set_consistency(ckv_evidence *ev, size_t old_idx,
                                                     size_t new_idx, const ckv_tlog_hash *path,
                                                     size_t path_len,
                                                     const ckv_tlog_hash *old_subtree);

/* What the server served for `name` outside the log: an identity key (33
 * bytes) and a word on where ("prekey bundle", "lookup"). */
CKV_MUST_USE ckv_status
ckv_evidence_set_served_key(ckv_evidence *ev, const char *name,
                            const uint8_t key[CKV_EVIDENCE_IDENTITY_KEY_LEN], const char *what);

/* The object at fault for the auditor's tile kinds: its tlog-tiles path,
 * bytes (may be NULL), position (has_position), expected / found (hex, or
 * NULL). */
CKV_MUST_USE ckv_status ckv_evidence_set_object(ckv_evidence *ev, const char *path,
                                                const void *data, size_t len, int has_position,
                                                uint64_t position, const char *expected,
                                                const char *found);

/* ---- writing ------------------------------------------------------------- */

/* The canonical JSON (sorted keys, 2-space indent, final newline).
 * *json_out malloc'd, NUL-terminated; caller frees. */
CKV_MUST_USE ckv_status ckv_evidence_to_json(const ckv_evidence *ev, char **json_out);

/* Write to <dir>/evidence-<UTC time>-<kind>-<8 random hex>.json, mode 0600,
 * atomically (temp file, fsync, rename; a crash leaves no partial file).
 * dir is created (0700, with parents) if missing. *path_out malloc'd;
 * caller frees. */
CKV_MUST_USE ckv_status ckv_evidence_write(const ckv_evidence *ev, const char *dir,
                                           char **path_out);

/* ---- reading and verifying ------------------------------------------------ */

/* What a file shows. Texts are sentences joined by "\n". */
typedef struct ckv_evidence_result {
    int proven; /* 1: the file proves the misbehaviour of its kind */
    char kind[32];
    char origin[256];                /* the log named by the file's verifier key */
    char proven_by_signatures[2048]; /* facts that follow from the log's signatures */
    char reported[2048];             /* facts only the writer reports */
    char why_not[1024];              /* when proven == 0: why not */
} ckv_evidence_result;

/* Parse (strict, bounded: CKV_EVIDENCE_FILE_MAX, only the documented keys)
 * and check evidence. expect_vkey (may be NULL) pins the log key: the
 * file's key must equal it. Returns CKV_OK when the file could be read and
 * checked (then out->proven says whether it proves anything), or
 * CKV_ERR_EVIDENCE_MALFORMED / CKV_ERR_JSON / CKV_ERR_TOO_LARGE /
 * CKV_ERR_TLOG_BAD_KEY / CKV_ERR_EVIDENCE_KEY when it cannot be read.
 * *out is written in every case (why_not explains an error). */
CKV_MUST_USE ckv_status ckv_evidence_verify_json(const char *json, size_t len,
                                                 const char *expect_vkey, ckv_evidence_result *out);

/* The same for a file (CKV_ERR_IO / CKV_ERR_NOT_FOUND when unreadable). */
CKV_MUST_USE ckv_status ckv_evidence_verify_file(const char *path, const char *expect_vkey,
                                                 ckv_evidence_result *out);

#ifdef __cplusplus
}
#endif
#endif /* CKV_EVIDENCE_H */
