/*
 * tlog_checkpoint.h: C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint).
 *
 * A checkpoint is the text of a signed note:
 *   <origin>\n                      non-empty, no control characters
 *   <tree size>\n                   ASCII decimal, no leading zeros, < 2^63
 *   <base64 root hash>\n            std base64 with padding, exactly 32 bytes
 *   [<extension line>\n]...         optional, each non-empty
 * Parsing is strict: anything else is CKV_ERR_TLOG_BAD_CHECKPOINT.
 */
#ifndef CKV_TLOG_CHECKPOINT_H
#define CKV_TLOG_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/status.h"
#include "ckv/tlog_hash.h"
#include "ckv/tlog_note.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CKV_TLOG_ORIGIN_MAX 255    /* bytes, excluding NUL */
#define CKV_TLOG_EXT_MAX 4096      /* all extension lines together, bytes */
#define CKV_TLOG_CHECKPOINT_MAX (CKV_TLOG_ORIGIN_MAX + 1 + 20 + 1 + 44 + 1 + CKV_TLOG_EXT_MAX)

/* A parsed checkpoint body. Plain value, no heap. */
typedef struct ckv_tlog_checkpoint {
    char origin[CKV_TLOG_ORIGIN_MAX + 1]; /* NUL-terminated */
    uint64_t size;
    ckv_tlog_hash root;
    size_t ext_len;                       /* 0 when no extension lines */
    char ext[CKV_TLOG_EXT_MAX + 1];       /* extension lines, each ending in '\n'; NUL-terminated */
} ckv_tlog_checkpoint;

/* Strict parse of a checkpoint body (the note text, including the final
 * newline). *out written only on success. */
CKV_MUST_USE ckv_status ckv_tlog_checkpoint_parse(const char *text, size_t len,
                                                  ckv_tlog_checkpoint *out);

/* Format a checkpoint body. ext may be NULL; otherwise it must be a run of
 * non-empty lines each ending in '\n'. *text_out is malloc'd and
 * NUL-terminated; *text_len (may be NULL) gets its length. */
CKV_MUST_USE ckv_status ckv_tlog_checkpoint_format(const char *origin, uint64_t size,
                                                   const ckv_tlog_hash *root, const char *ext,
                                                   char **text_out, size_t *text_len);

/* Open a signed checkpoint: ckv_tlog_note_open with the verifiers, then
 * parse the text; when origin is not NULL the checkpoint's origin must equal
 * it (CKV_ERR_TLOG_ORIGIN). Besides, at least one signature must be by a
 * type-0x01 verifier whose name equals the checkpoint's origin (the log's
 * own key), else CKV_ERR_TLOG_NO_SIGNATURE. *note_out (may be NULL) receives
 * the opened note (caller frees). Outputs written only on success. */
CKV_MUST_USE ckv_status ckv_tlog_checkpoint_open(const char *note, size_t len, const char *origin,
                                                 const ckv_tlog_verifier *const *verifiers,
                                                 size_t n, ckv_tlog_checkpoint *out,
                                                 ckv_tlog_note **note_out);

#ifdef __cplusplus
}
#endif
#endif /* CKV_TLOG_CHECKPOINT_H */
