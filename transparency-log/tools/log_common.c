/*
 * log_common.c: helpers shared by the ckv-log subcommands (log_common.h).
 */
#include "log_common.h"

#include <stdarg.h>
#include <stdio.h>

#include "tool_util.h"

int log_fail(ckv_tlog_store *s, ckv_status st, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "ckv-log: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    const char *detail = s ? ckv_tlog_store_last_error(s) : "";
    if (detail != NULL && detail[0] != '\0')
        fprintf(stderr, ": %s (%s)\n", ckv_strerror(st), detail);
    else
        fprintf(stderr, ": %s\n", ckv_strerror(st));
    return TOOL_EXIT_FAIL;
}

ckv_tlog_store *log_open_store(const char *path, bool read_only)
{
    ckv_tlog_store *s = NULL;
    ckv_tlog_store_options o = {.cache_tiles = 0, .durable = true, .read_only = read_only};
    ckv_status st = ckv_tlog_store_open(path, &o, &s);
    if (st == CKV_ERR_NOT_FOUND) {
        tool_err("no log database at %s; create one with `ckv-log init --db %s --origin ORIGIN "
                 "--key KEYFILE`",
                 path, path);
        return NULL;
    }
    if (st != CKV_OK) {
        log_fail(NULL, st, "cannot open the log database %s", path);
        return NULL;
    }
    return s;
}
