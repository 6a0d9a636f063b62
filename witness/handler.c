/*
 * handler.c: the add-checkpoint decision of ckv-witness (witness.h), in the
 * order of c2sp.org/tlog-witness:
 *   413  the body is over CKVW_MAX_BODY
 *   400  the body does not parse (request.c) or the checkpoint note is
 *        malformed
 *   404  no log key is configured for the checkpoint's origin
 *   403  no configured log key signed it (or a configured key's signature
 *        fails to verify)
 *   400  old > checkpoint size, or a proof is given for old 0 (checked
 *        after reading the state, so a rollback sent this way is kept)
 *   409  old is not the size of the latest checkpoint we cosigned for the
 *        origin (body: that size, text/x.tlog.size), or old equals the
 *        checkpoint's size but the root differs (a fork)
 *   422  the consistency proof from our latest to the checkpoint fails
 *   200  cosigned: our latest is now this checkpoint; the body is one
 *        cosignature/v1 line (c2sp.org/tlog-cosignature) timestamped now.
 * A validly signed checkpoint that is a fork (same size as ours, other
 * root), a rollback (smaller than ours) or comes with a failing proof is
 * kept in the conflicts table. The first checkpoint seen for a log is
 * accepted without a proof (trust on first use; docs/witness.md).
 */
#include "witness.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void answer(ckvw_answer *a, int status, const char *ctype, const char *text)
{
    a->status = status;
    a->ctype = ctype;
    a->body = strdup(text);
    a->len = a->body ? strlen(a->body) : 0;
    if (!a->body) {
        a->status = 500;
        a->ctype = "text/plain; charset=utf-8";
    }
}

static void fail(ckvw_answer *a, int status, const char *text)
{
    answer(a, status, "text/plain; charset=utf-8", text);
}

/* 409 with the size of our latest checkpoint, c2sp.org/tlog-witness. */
static void conflict(ckvw_answer *a, uint64_t size)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)size);
    answer(a, 409, "text/x.tlog.size", buf);
}

/* The cosignature line our key adds to note (the last line of the result). */
static ckv_status cosign_line(const ckvw_config *cfg, const char *note, size_t len, uint64_t now,
                              ckvw_answer *a)
{
    char *out = NULL;
    size_t out_len = 0;
    ckv_status st = ckv_tlog_note_cosign(note, len, cfg->name, cfg->seed, now, &out, &out_len);
    if (st != CKV_OK)
        return st;
    /* out ends in "\n"; the added line starts after the newline before it */
    size_t start = out_len - 1;
    while (start > 0 && out[start - 1] != '\n')
        start--;
    memmove(out, out + start, out_len - start);
    out[out_len - start] = 0;
    a->status = 200;
    a->ctype = "text/plain; charset=utf-8";
    a->body = out;
    a->len = out_len - start;
    return CKV_OK;
}

void ckvw_handle_add_checkpoint(const ckvw_config *cfg, ckvw_state *state, const char *body,
                                size_t len, uint64_t now, ckvw_answer *a)
{
    ckvw_request req;
    ckv_tlog_checkpoint cp;
    const ckv_tlog_verifier *keys[CKVW_MAX_LOGS]; /* every key of the origin */
    char origin[CKV_TLOG_ORIGIN_MAX + 1];
    size_t nkeys = 0;
    ckvw_latest had;
    ckv_status st;
    int in_txn = 0, commit = 0;
    const char *kind = NULL;
    int kept = 0; /* the conflict: 1 kept now, 0 before, -1 not (full) */

    memset(a, 0, sizeof(*a));
    st = ckvw_request_parse(body, len, &req);
    if (st != CKV_OK) {
        if (st == CKV_ERR_TOO_LARGE)
            fail(a, 413, "the request body is too large for a checkpoint and a proof\n");
        else
            fail(a, 400,
                 "malformed add-checkpoint body: want \"old N\\n\", up to 63 base64 "
                 "proof hashes, an empty line, then the signed checkpoint "
                 "(c2sp.org/tlog-witness)\n");
        snprintf(a->logline, sizeof(a->logline), "add-checkpoint: malformed body -> %d", a->status);
        return;
    }
    /* The origin is the note's first line; find the log's keys by it. */
    const char *nl = memchr(req.note, '\n', req.note_len);
    if (!nl || nl == req.note || (size_t)(nl - req.note) > CKV_TLOG_ORIGIN_MAX) {
        fail(a, 400, "the checkpoint has no valid origin line\n");
        snprintf(a->logline, sizeof(a->logline), "add-checkpoint: no origin line -> 400");
        return;
    }
    memcpy(origin, req.note, (size_t)(nl - req.note));
    origin[nl - req.note] = 0;
    for (size_t i = 0; i < cfg->nlogs && nkeys < CKVW_MAX_LOGS; i++)
        if (strcmp(ckv_tlog_verifier_name(cfg->logs[i]), origin) == 0)
            keys[nkeys++] = cfg->logs[i];
    if (nkeys == 0) {
        fail(a, 404, "this witness does not follow a log of that origin\n");
        snprintf(a->logline, sizeof(a->logline), "add-checkpoint: unknown origin '%.255s' -> 404",
                 origin);
        return;
    }
    st = ckv_tlog_checkpoint_open(req.note, req.note_len, origin, keys, nkeys, &cp, NULL);
    if (st == CKV_ERR_TLOG_NO_SIGNATURE || st == CKV_ERR_TLOG_BAD_SIGNATURE) {
        fail(a, 403, "the checkpoint is not signed by a key this witness trusts for its log\n");
        snprintf(a->logline, sizeof(a->logline), "add-checkpoint: %.255s: %s -> 403", origin,
                 ckv_status_name(st));
        return;
    }
    if (st != CKV_OK) {
        fail(a, 400, "the checkpoint is not a valid signed note (c2sp.org/tlog-checkpoint)\n");
        snprintf(a->logline, sizeof(a->logline), "add-checkpoint: %.255s: %s -> 400", origin,
                 ckv_status_name(st));
        return;
    }

    /* Check against our latest and record, atomically. */
    in_txn = 1;
    if ((st = ckvw_state_begin(state, origin, &had)) != CKV_OK)
        goto db_error;
    if (had.known && cp.size < had.size)
        kind = "rollback";
    else if (had.known && cp.size == had.size && sodium_memcmp(cp.root.b, had.root.b, 32) != 0)
        kind = "fork";
    else if (had.known && req.old_size == had.size && req.old_size < cp.size &&
             !(req.old_size == 0 && req.proof_len != 0) &&
             ckv_tlog_verify_consistency(had.size, cp.size, &had.root, &cp.root, req.proof,
                                         req.proof_len) != CKV_OK)
        kind = "bad_proof";
    if (kind) {
        if ((st = ckvw_state_add_conflict(state, origin, kind, &had, cp.size, &cp.root, body, len,
                                          (int64_t)now, &kept)) != CKV_OK)
            goto db_error;
        commit = 1;
    }
    if (req.old_size > cp.size || (req.old_size == 0 && req.proof_len != 0)) {
        /* 400 by c2sp.org/tlog-witness; checked after the state so that a
         * rollback sent this way is kept too */
        fail(a, 400,
             req.old_size > cp.size ? "old is larger than the checkpoint's size\n"
                                    : "a proof from size 0 must be empty\n");
    } else if (req.old_size != (had.known ? had.size : 0)) {
        conflict(a, had.known ? had.size : 0);
    } else if (kind && strcmp(kind, "bad_proof") == 0) {
        fail(a, 422,
             "the consistency proof from the witness's latest checkpoint does not "
             "verify\n");
    } else if (kind) {
        conflict(a, had.size); /* a fork: same size, other root */
    } else {
        /* accepted: a first checkpoint (trust on first use), the same
         * checkpoint again (a fresh timestamp), or a proven extension */
        if ((st = ckvw_state_set_latest(state, origin, cp.size, &cp.root, req.note, req.note_len,
                                        (int64_t)now)) != CKV_OK)
            goto db_error;
        commit = 1;
        a->status = 200;
    }
    in_txn = 0;
    if ((st = ckvw_state_end(state, commit)) != CKV_OK)
        goto db_error;
    if (a->status == 200) {
        a->status = 0;
        if ((st = cosign_line(cfg, req.note, req.note_len, now, a)) != CKV_OK) {
            fail(a, 500, "the witness failed to cosign; see its log\n");
            snprintf(a->logline, sizeof(a->logline), "add-checkpoint: %.255s: cosign: %s -> 500",
                     origin, ckv_status_name(st));
            return;
        }
    }
    snprintf(a->logline, sizeof(a->logline),
             "add-checkpoint: %.255s old %llu size %llu (had %s%llu)%s%s -> %d%s", origin,
             (unsigned long long)req.old_size, (unsigned long long)cp.size,
             had.known ? "" : "nothing, ", (unsigned long long)(had.known ? had.size : 0),
             !kind       ? ""
             : kept > 0  ? ": kept as conflict "
             : kept == 0 ? ": conflict kept before: "
                         : ": conflict NOT kept (the conflicts table is full): ",
             kind ? kind : "", a->status, a->status == 200 ? " cosigned" : "");
    return;
db_error:
    if (in_txn) {
        ckv_status ignored = ckvw_state_end(state, 0); /* rolls back; the 500 says enough */
        (void)ignored;
    }
    free(a->body);
    a->body = NULL;
    fail(a, 500, "the witness's database failed; retry later\n");
    snprintf(a->logline, sizeof(a->logline), "add-checkpoint: %.255s: database: %s -> 500", origin,
             ckv_status_name(st));
}
