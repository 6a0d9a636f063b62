/*
 * log_common.h: what the ckv-log subcommands share: opening the store with
 * a useful message, reporting a library failure in one line, and a tiny
 * getopt_long wrapper convention (every command accepts --help).
 */
#ifndef CKV_LOG_COMMON_H
#define CKV_LOG_COMMON_H

#include <stdbool.h>

#include "ckv/tlog.h"

/* Open the log at path; prints one line and returns NULL on failure. */
ckv_tlog_store *log_open_store(const char *path, bool read_only);

/* Print "ckv-log: <what>: <ckv_strerror(st)> [(<store detail>)]". s may be
 * NULL. Returns TOOL_EXIT_FAIL. */
int log_fail(ckv_tlog_store *s, ckv_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
