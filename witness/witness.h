/*
 * witness.h: ckv-witness, a C2SP tlog-witness (c2sp.org/tlog-witness) that
 * returns C2SP tlog-cosignature/v1 cosignatures (c2sp.org/tlog-cosignature)
 * for the checkpoints of the logs it is configured with.
 *
 * Three parts, kept apart so that each can be tested alone:
 *   - request.c: the strict, bounded parser of an add-checkpoint body (pure,
 *     no I/O; fuzzed).
 *   - state.c: the witness's SQLite state (DIR/witness.db, WAL): per log
 *     origin the latest cosigned checkpoint (size, root, note), and the
 *     conflicting checkpoints it refused (kept as evidence for an operator).
 *   - handler.c: the add-checkpoint decision (open the note with the log's
 *     key, check old size / root / consistency proof against the stored
 *     state and record the new one in ONE transaction, then cosign).
 * main.c is the program: command line, key file, libmicrohttpd, signals.
 */
#ifndef CKV_WITNESS_H
#define CKV_WITNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ckv/status.h"
#include "ckv/tlog.h"

/* Largest request body accepted: a whole signed note plus 63 proof lines
 * (44 base64 characters and a newline each) plus the old size line. */
#define CKVW_MAX_PROOF_LINES 63
#define CKVW_MAX_BODY (CKV_TLOG_NOTE_MAX_SIZE + CKVW_MAX_PROOF_LINES * 45 + 32)

/* A parsed add-checkpoint body. note points into the caller's buffer. */
typedef struct ckvw_request {
    uint64_t old_size;
    size_t proof_len; /* 0..CKVW_MAX_PROOF_LINES */
    ckv_tlog_hash proof[CKVW_MAX_PROOF_LINES];
    const char *note; /* the signed checkpoint note (borrowed) */
    size_t note_len;
} ckvw_request;

/* Strict parse, c2sp.org/tlog-witness "add-checkpoint":
 *   "old <size>\n"  (ASCII decimal, no leading zeros, < 2^63)
 *   0..63 lines of canonical standard base64 of exactly 32 bytes
 *   "\n"
 *   the checkpoint note (non-empty; checked later by the note parser).
 * body need not be NUL-terminated. CKV_ERR_TOO_LARGE above CKVW_MAX_BODY,
 * CKV_ERR_MALFORMED otherwise; *out written only on success. */
CKV_MUST_USE ckv_status ckvw_request_parse(const char *body, size_t len, ckvw_request *out);

/* ---- state (state.c) ----------------------------------------------------- */

typedef struct ckvw_state ckvw_state; /* one SQLite connection + a mutex */

/* Open or create DIR/witness.db (WAL, 0600). NULL-safe free. */
CKV_MUST_USE ckv_status ckvw_state_open(const char *path, ckvw_state **out);
void ckvw_state_close(ckvw_state *s);

/* The latest cosigned checkpoint of a log, as stored. */
typedef struct ckvw_latest {
    int known; /* 0: never cosigned anything for this origin */
    uint64_t size;
    ckv_tlog_hash root;
    int64_t updated; /* unix seconds of the last cosignature */
} ckvw_latest;

/* Print the refused (conflicting) checkpoints, oldest first, to f as text
 * blocks (the program's `conflicts` command). Returns the number printed, or
 * -1 on a database error. */
long ckvw_state_print_conflicts(ckvw_state *s, FILE *f);
/* Print the latest checkpoint per log (the program's `status` command). */
long ckvw_state_print_logs(ckvw_state *s, FILE *f);

/* ---- the add-checkpoint decision (handler.c) ------------------------------ */

#define CKVW_MAX_LOGS 64 /* --log keys (several may be one log's) */

/* The witness's configuration: its name and Ed25519 seed (secret), and the
 * verifier keys of the logs it follows (type 0x01, name = origin). */
typedef struct ckvw_config {
    char name[CKV_TLOG_KEY_NAME_MAX + 1];
    uint8_t seed[CKV_TLOG_SEED_SIZE];
    ckv_tlog_verifier **logs;
    size_t nlogs;
} ckvw_config;

/* An HTTP answer: status, content type (static string), body (malloc'd,
 * NUL-terminated; caller frees) and one log line for stderr. */
typedef struct ckvw_answer {
    int status;
    const char *ctype;
    char *body;
    size_t len;
    char logline[512];
} ckvw_answer;

/* Handle one add-checkpoint body at time now (unix seconds, the
 * cosignature's timestamp). Always fills *a (status 500 when memory or the
 * database fails). Concurrency-safe: the check against the stored state and
 * the update are one transaction under the state's mutex. */
void ckvw_handle_add_checkpoint(const ckvw_config *cfg, ckvw_state *st, const char *body,
                                size_t len, uint64_t now, ckvw_answer *a);

/* ---- internal to state.c / handler.c ---------------------------------------- */

/* Begin an IMMEDIATE transaction and lock the mutex; read the latest of
 * origin. Always pair with ckvw_state_end. */
CKV_MUST_USE ckv_status ckvw_state_begin(ckvw_state *s, const char *origin, ckvw_latest *out);
/* Store the new latest checkpoint (inside the transaction). */
CKV_MUST_USE ckv_status ckvw_state_set_latest(ckvw_state *s, const char *origin, uint64_t size,
                                              const ckv_tlog_hash *root, const char *note,
                                              size_t note_len, int64_t now);
/* Keep a refused checkpoint (inside the transaction). kind: "fork",
 * "rollback" or "bad_proof"; body is the whole request (kept verbatim).
 * One row per origin, kind, size and root (the first request); at most
 * 100000 rows. *kept: 1 kept now, 0 kept before, -1 not kept (full). */
CKV_MUST_USE ckv_status ckvw_state_add_conflict(ckvw_state *s, const char *origin, const char *kind,
                                                const ckvw_latest *had, uint64_t size,
                                                const ckv_tlog_hash *root, const char *body,
                                                size_t body_len, int64_t now, int *kept);
/* Commit (commit != 0) or roll back, and unlock. */
CKV_MUST_USE ckv_status ckvw_state_end(ckvw_state *s, int commit);

#endif
