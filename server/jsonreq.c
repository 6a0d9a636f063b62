/*
 * jsonreq.c: strict JSON request bodies for ckvd's handlers.
 *
 * Requests are small JSON objects. Anything else (not an object, invalid
 * UTF-8, duplicate or unknown keys, a field of the wrong type, non-canonical
 * base64) is refused with a 400 whose message names the field, so a client
 * author can fix the request without reading the server's code.
 */
#include "ckvd.h"

#include "ckv/name.h"

#include <sodium.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t ckvd_wall_time(void)
{
    return (int64_t)time(NULL);
}

void ckvd_logf(const char *fmt, ...)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s ckvd: ", ts);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void ckvd_resp_obj(struct ckvd_resp *resp, int status, json_t *obj)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    ckvd_resp_json(resp, status, s);
}

json_t *ckvd_json_body(struct ckvd_req *req, struct ckvd_resp *resp, const char *const *allowed)
{
    json_error_t err;
    char msg[256];
    if (req->body_len == 0) {
        ckvd_resp_error(resp, 400, "bad_json", "the request needs a JSON object body");
        return NULL;
    }
    json_t *o = json_loadb((const char *)req->body, req->body_len,
                           JSON_REJECT_DUPLICATES, &err);
    if (!o) {
        snprintf(msg, sizeof(msg), "the body is not valid JSON (%s at byte %d)", err.text,
                 err.position);
        ckvd_resp_error(resp, 400, "bad_json", msg);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        ckvd_resp_error(resp, 400, "bad_json", "the body must be a JSON object");
        return NULL;
    }
    if (ckvd_json_only_keys(o, allowed, "the request", resp) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* How many bytes of the valid UTF-8 string s, at most max, make whole
 * characters: an echoed name cut there stays valid UTF-8 (a cut in the
 * middle of a character would make the error answer unencodable). */
static int utf8_prefix(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    if (n == max && s[n] != '\0')
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* s[n] continues a character: cut before that character */
    return (int)n;
}

int ckvd_json_only_keys(json_t *o, const char *const *allowed, const char *what,
                        struct ckvd_resp *resp)
{
    const char *key;
    json_t *v;
    char msg[200];
    json_object_foreach(o, key, v)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            snprintf(msg, sizeof(msg), "unknown field \"%.*s\" in %.*s", utf8_prefix(key, 64),
                     key, utf8_prefix(what, 64), what);
            ckvd_resp_error(resp, 400, "unknown_field", msg);
            return -1;
        }
    }
    return 0;
}

int ckvd_name_check(const char *name, const char *what, struct ckvd_resp *resp)
{
    char norm[CKV_NAME_MAX + 1], msg[256];
    if (name && ckv_name_normalize(name, norm) == CKV_OK && strcmp(norm, name) == 0)
        return 0;
    if (name && ckv_name_normalize(name, norm) == CKV_OK)
        snprintf(msg, sizeof(msg),
                 "%s is not an account name in normal form; use \"%s\" (docs/directory.md)",
                 what, norm);
    else
        snprintf(msg, sizeof(msg),
                 "%s is not a valid account name: 1..64 of a-z 0-9 . _ + @ -, starting with "
                 "a-z 0-9 +, ending with a-z 0-9, at most one @ (docs/directory.md)",
                 what);
    ckvd_resp_error(resp, 400, "bad_name", msg);
    return -1;
}

int ckvd_json_b64(json_t *o, const char *key, uint8_t *out, size_t min, size_t max,
                  size_t *len_out, struct ckvd_resp *resp)
{
    char msg[160];
    json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);
    size_t got = 0;
    if (!s) {
        snprintf(msg, sizeof(msg), "field \"%s\" is missing or not a string", key);
        ckvd_resp_error(resp, 400, "bad_field", msg);
        return -1;
    }
    size_t slen = json_string_length(v);
    const char *end = NULL;
    if (sodium_base642bin(out, max, s, slen, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) !=
            0 ||
        end != s + slen || got < min || got > max) {
        snprintf(msg, sizeof(msg),
                 "field \"%s\" must be standard base64 of %zu..%zu bytes", key, min, max);
        ckvd_resp_error(resp, 400, "bad_base64", msg);
        return -1;
    }
    /* canonical: re-encoding gives the same text */
    size_t enc_len = sodium_base64_ENCODED_LEN(got, sodium_base64_VARIANT_ORIGINAL);
    char *enc = malloc(enc_len);
    if (!enc) {
        ckvd_resp_error(resp, 500, "internal", "server out of memory");
        return -1;
    }
    sodium_bin2base64(enc, enc_len, out, got, sodium_base64_VARIANT_ORIGINAL);
    int same = strlen(enc) == slen && memcmp(enc, s, slen) == 0;
    free(enc);
    if (!same) {
        snprintf(msg, sizeof(msg), "field \"%s\" is not canonical base64", key);
        ckvd_resp_error(resp, 400, "bad_base64", msg);
        return -1;
    }
    if (len_out)
        *len_out = got;
    return 0;
}

int ckvd_json_uint(json_t *o, const char *key, uint64_t max, uint64_t *out,
                   struct ckvd_resp *resp)
{
    char msg[160];
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > max) {
        snprintf(msg, sizeof(msg), "field \"%s\" must be an integer in 0..%llu", key,
                 (unsigned long long)max);
        ckvd_resp_error(resp, 400, "bad_field", msg);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}
