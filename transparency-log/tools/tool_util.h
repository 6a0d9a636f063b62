/*
 * tool_util.h: small helpers shared by the command-line tools ckv-log and
 * ckv-audit: one-line error messages, exit codes, strict number parsing,
 * bounded whole-file reads, and durable file writes (temp file + fsync +
 * rename + fsync of the directory) so that nothing half-written survives a
 * crash.
 *
 * These helpers print (they belong to tools, not to the library).
 */
#ifndef CKV_TOOL_UTIL_H
#define CKV_TOOL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ckv/status.h"

/* Exit codes shared by both tools (documented in the man pages). */
enum {
    TOOL_EXIT_OK = 0,          /* success; for ckv-audit: the log is good */
    TOOL_EXIT_FAIL = 1,        /* ckv-log: the operation failed; ckv-audit: the log misbehaved */
    TOOL_EXIT_USAGE = 2,       /* bad command line */
    TOOL_EXIT_UNREACHABLE = 3, /* ckv-audit: the log could not be reached */
};

/* The program name used as the prefix of every message ("ckv-log"). */
void tool_set_progname(const char *name);
const char *tool_progname(void);

/* Print "<prog>: <message>\n" on stderr. The message should say what failed
 * and what to do. */
void tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Strict unsigned decimal: digits only, no sign, no leading zeros (except
 * "0"), no overflow. Returns 0 on success, -1 otherwise; *out written only
 * on success. */
int tool_parse_u64(const char *s, uint64_t *out);

/* Read a whole file of at most `cap` bytes. On success *data (malloc'd, one
 * extra NUL byte after the content, caller frees) and *len are written.
 * Returns CKV_ERR_NOT_FOUND if the file does not exist, CKV_ERR_TOO_LARGE
 * if it is over cap, CKV_ERR_IO otherwise (errno kept). */
ckv_status tool_read_file(const char *path, size_t cap, uint8_t **data, size_t *len);

/* Read all of a stream (stdin) up to cap bytes; same contract as above. */
ckv_status tool_read_stream(int fd, size_t cap, uint8_t **data, size_t *len);

/* Write `data` to `path` durably: write "<path>.tmp.<pid>" with `mode`,
 * fsync it, rename it over `path`, fsync the directory. On failure the old
 * file (if any) is left untouched and the temp file removed. */
ckv_status tool_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* mkdir -p with `mode` for the directories it creates. */
ckv_status tool_mkdir_p(const char *path, mode_t mode);

/* Join a directory and a relative path into a new string (caller frees);
 * NULL on out of memory. */
char *tool_path_join(const char *dir, const char *rel);

/* Lower-case hex of n bytes into a new string (caller frees), NULL on OOM. */
char *tool_hex(const uint8_t *b, size_t n);

#endif
