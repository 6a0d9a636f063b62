/*
 * audit_fetch.c: the fetcher of ckv-audit (see audit_fetch.h). One libcurl
 * easy handle is reused for every request so that the connection stays
 * open (a full audit reads thousands of tiles). Bodies are collected into a
 * buffer that refuses to grow past the caller's cap, so a hostile server
 * cannot make us allocate without bound.
 */
#include "audit_fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tool_util.h"

struct audit_fetcher {
    char *source;   /* as given */
    char *base;     /* URL with a trailing '/', or the directory */
    int is_url;
    CURL *curl;
    long timeout_s;
    uint64_t bytes;
};

struct body {
    uint8_t *buf;
    size_t len, alloc, cap;
    int over;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct body *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > b->cap) {
        b->over = 1;
        return 0; /* aborts the transfer */
    }
    if (b->len + n + 1 > b->alloc) {
        size_t na = b->alloc ? b->alloc : 4096;
        while (na < b->len + n + 1)
            na *= 2;
        if (na > b->cap + 1)
            na = b->cap + 1;
        uint8_t *nb = realloc(b->buf, na);
        if (nb == NULL)
            return 0;
        b->buf = nb;
        b->alloc = na;
    }
    memcpy(b->buf + b->len, ptr, n);
    b->len += n;
    return n;
}

static int is_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

audit_fetch_result audit_fetcher_open(const char *source, long timeout_s, audit_fetcher **out,
                                      char *err, size_t errlen)
{
    audit_fetch_result r = AUDIT_FETCH_OK;
    audit_fetcher *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return AUDIT_FETCH_NOMEM;
    f->timeout_s = timeout_s > 0 ? timeout_s : 60;
    f->source = strdup(source);
    f->is_url = is_url(source);
    size_t n = strlen(source);
    f->base = malloc(n + 2);
    if (f->source == NULL || f->base == NULL) {
        r = AUDIT_FETCH_NOMEM;
        goto out;
    }
    memcpy(f->base, source, n + 1);
    if (n == 0 || source[n - 1] != '/') {
        f->base[n] = '/';
        f->base[n + 1] = '\0';
    }
    if (f->is_url) {
        static int global_done = 0;
        if (!global_done) {
            if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                snprintf(err, errlen, "libcurl could not start; check the installation of libcurl");
                r = AUDIT_FETCH_UNREACHABLE;
                goto out;
            }
            global_done = 1;
        }
        f->curl = curl_easy_init();
        if (f->curl == NULL) {
            r = AUDIT_FETCH_NOMEM;
            goto out;
        }
    } else {
        struct stat sb;
        if (stat(source, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            snprintf(err, errlen,
                     "%s is not a readable directory (%s); give the directory written by "
                     "`ckv-log export` or an http(s) URL",
                     source, errno ? strerror(errno) : "not a directory");
            r = AUDIT_FETCH_UNREACHABLE;
            goto out;
        }
    }
    *out = f;
    f = NULL;
out:
    audit_fetcher_free(f);
    return r;
}

static audit_fetch_result fetch_url(audit_fetcher *f, const char *path, size_t cap, uint8_t **data,
                                    size_t *len, char *err, size_t errlen)
{
    audit_fetch_result r = AUDIT_FETCH_OK;
    struct body b = {.cap = cap};
    char *url = NULL;
    char curlerr[CURL_ERROR_SIZE] = "";
    CURL *c = f->curl;

    url = tool_path_join(f->base, path);
    if (url == NULL) {
        r = AUDIT_FETCH_NOMEM;
        goto out;
    }
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, f->timeout_s < 10 ? f->timeout_s : 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, f->timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ckv-audit/0.1");
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curlerr);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cap);
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (b.over || cc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(err, errlen, "%s is larger than %zu bytes, more than the format allows", url, cap);
        r = AUDIT_FETCH_TOO_LARGE;
        goto out;
    }
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "could not fetch %s: %s; check the URL and that the server is up",
                 url, curlerr[0] ? curlerr : curl_easy_strerror(cc));
        r = cc == CURLE_OUT_OF_MEMORY ? AUDIT_FETCH_NOMEM : AUDIT_FETCH_UNREACHABLE;
        goto out;
    }
    if (code == 404 || code == 410) {
        snprintf(err, errlen, "%s: the server answered HTTP %ld (not found)", url, code);
        r = AUDIT_FETCH_NOT_FOUND;
        goto out;
    }
    if (code != 200) {
        snprintf(err, errlen, "%s: the server answered HTTP %ld; check the URL and try again later",
                 url, code);
        r = AUDIT_FETCH_UNREACHABLE;
        goto out;
    }
    if (b.buf == NULL && (b.buf = malloc(1)) == NULL) {
        r = AUDIT_FETCH_NOMEM;
        goto out;
    }
    b.buf[b.len] = 0;
    f->bytes += b.len;
    *data = b.buf;
    *len = b.len;
    b.buf = NULL;
out:
    free(b.buf);
    free(url);
    return r;
}

static audit_fetch_result fetch_file(audit_fetcher *f, const char *path, size_t cap, uint8_t **data,
                                     size_t *len, char *err, size_t errlen)
{
    audit_fetch_result r = AUDIT_FETCH_OK;
    char *full = tool_path_join(f->base, path);
    if (full == NULL)
        return AUDIT_FETCH_NOMEM;
    ckv_status st = tool_read_file(full, cap, data, len);
    switch (st) {
    case CKV_OK:
        f->bytes += *len;
        break;
    case CKV_ERR_NOT_FOUND:
        snprintf(err, errlen, "%s does not exist", full);
        r = AUDIT_FETCH_NOT_FOUND;
        break;
    case CKV_ERR_TOO_LARGE:
        snprintf(err, errlen, "%s is larger than %zu bytes, more than the format allows", full, cap);
        r = AUDIT_FETCH_TOO_LARGE;
        break;
    case CKV_ERR_NOMEM:
        r = AUDIT_FETCH_NOMEM;
        break;
    default:
        snprintf(err, errlen, "could not read %s: %s; check the directory's permissions", full,
                 strerror(errno));
        r = AUDIT_FETCH_UNREACHABLE;
        break;
    }
    free(full);
    return r;
}

audit_fetch_result audit_fetch(audit_fetcher *f, const char *path, size_t cap, uint8_t **data,
                               size_t *len, char *err, size_t errlen)
{
    audit_fetch_result r = f->is_url ? fetch_url(f, path, cap, data, len, err, errlen)
                                     : fetch_file(f, path, cap, data, len, err, errlen);
    if (r == AUDIT_FETCH_NOMEM)
        snprintf(err, errlen, "out of memory while reading %s; free some memory and retry", path);
    return r;
}

const char *audit_fetcher_source(const audit_fetcher *f)
{
    return f->source;
}

uint64_t audit_fetcher_bytes(const audit_fetcher *f)
{
    return f->bytes;
}

void audit_fetcher_free(audit_fetcher *f)
{
    if (f == NULL)
        return;
    if (f->curl)
        curl_easy_cleanup(f->curl);
    free(f->source);
    free(f->base);
    free(f);
}
