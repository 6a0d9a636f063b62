/*
 * audit_fetch.h: how ckv-audit reads a log it did not write. A source is
 * either an http(s) URL (libcurl: timeouts, a size cap per object, no
 * redirects to other protocols) or a local directory laid out as C2SP
 * tlog-tiles (the output of `ckv-log export`). Both answer the same
 * question: "give me the bytes at this tlog-tiles path", with three
 * distinct outcomes the auditor needs: found, not found (the log does not
 * serve it), unreachable (we could not ask).
 */
#ifndef CKV_AUDIT_FETCH_H
#define CKV_AUDIT_FETCH_H

#include <stddef.h>
#include <stdint.h>

typedef enum audit_fetch_result {
    AUDIT_FETCH_OK = 0,
    AUDIT_FETCH_NOT_FOUND,   /* HTTP 404/410 or no such file */
    AUDIT_FETCH_TOO_LARGE,   /* the object is over the cap: the log misbehaves */
    AUDIT_FETCH_UNREACHABLE, /* network error, timeout, HTTP 5xx, unreadable dir */
    AUDIT_FETCH_NOMEM,
} audit_fetch_result;

typedef struct audit_fetcher audit_fetcher;

/* Open a source: "http://..." or "https://..." is a URL, anything else a
 * directory. timeout_s bounds each request (0: 60 s). On success *out is a
 * new fetcher (free with audit_fetcher_free). Returns AUDIT_FETCH_UNREACHABLE
 * (with a message in err) if a directory does not exist or libcurl cannot
 * start. */
audit_fetch_result audit_fetcher_open(const char *source, long timeout_s, audit_fetcher **out,
                                      char *err, size_t errlen);

/* Fetch `path` (relative, e.g. "checkpoint" or "tile/0/x001/002.p/5") with
 * at most `cap` bytes. On AUDIT_FETCH_OK *data (malloc'd, caller frees,
 * NUL-terminated for convenience) and *len are written. On failure err holds
 * one sentence. */
audit_fetch_result audit_fetch(audit_fetcher *f, const char *path, size_t cap, uint8_t **data,
                               size_t *len, char *err, size_t errlen);

/* The source as given (URL or directory), for messages and evidence. */
const char *audit_fetcher_source(const audit_fetcher *f);

/* Total bytes fetched so far (for the summary line). */
uint64_t audit_fetcher_bytes(const audit_fetcher *f);

void audit_fetcher_free(audit_fetcher *f); /* NULL is a no-op */

#endif
