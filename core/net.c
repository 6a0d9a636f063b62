/*
 * net.c: HTTP to ckvd with libcurl (docs/server.md): JSON requests and raw
 * GETs with timeouts and hard caps on what is read, the login (an XEdDSA
 * signature by the identity key; the token is cached sealed in the
 * profile), and turning every non-2xx answer into a sentence.
 *
 * Only http:// and https:// are allowed, no redirects are followed, and no
 * answer is read past its cap: a server cannot make the client buffer more
 * than CKV_JSON_RESPONSE_MAX (or the caller's cap for raw bytes).
 */
#include "online.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGIN_CONTEXT "ckv login v1\n" /* docs/server.md, POST /v1/login */

ckv_status ckv_client_fail(ckv_client *c, ckv_status st, const char *fmt, ...)
{
    va_list ap;
    if (c == NULL)
        return st;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    /* the sentence may quote the server: keep it printable ASCII, so that
     * no server can put terminal escapes on the user's screen */
    for (char *q = c->err; *q != 0; q++)
        if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
            *q = '?';
    return st;
}

ckv_status ckv_client_done(ckv_client *c, ckv_status st)
{
    if (st != CKV_OK && c != NULL && c->err[0] == 0)
        ckv_client_fail(c, st, "%s", ckv_strerror(st));
    return st;
}

char *ckv_b64(const uint8_t *in, size_t len)
{
    size_t n = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(n);
    if (s != NULL)
        sodium_bin2base64(s, n, in, len, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

ckv_status ckv_unb64(const char *in, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t n = 0, inl = in ? strlen(in) : 0;
    const char *end = NULL;
    char *re;
    if (in == NULL || inl == 0 ||
        sodium_base642bin(out, cap, in, inl, NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) !=
            0 ||
        end != in + inl)
        return CKV_ERR_BASE64;
    re = ckv_b64(out, n); /* canonical: re-encoding gives the same text */
    if (re == NULL)
        return CKV_ERR_NOMEM;
    int same = strcmp(re, in) == 0;
    free(re);
    if (!same)
        return CKV_ERR_BASE64;
    *out_len = n;
    return CKV_OK;
}

/* ---- one request ---------------------------------------------------------- */

struct buf {
    uint8_t *data;
    size_t len, cap, max;
    int overflow;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > b->max) {
        b->overflow = 1;
        return 0; /* abort the transfer */
    }
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 4096;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        uint8_t *nd = realloc(b->data, ncap);
        if (nd == NULL)
            return 0;
        b->data = nd;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = 0;
    return n;
}

struct hdrs {
    long retry_after;
};

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct hdrs *h = ud;
    size_t n = size * nmemb;
    if (n > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0)
        h->retry_after = strtol(ptr + 12, NULL, 10);
    return n;
}

void ckv_net_free_headers(struct curl_slist *l)
{
    for (struct curl_slist *e = l; e != NULL; e = e->next)
        if (e->data != NULL)
            sodium_memzero(e->data, strlen(e->data)); /* the bearer token */
    curl_slist_free_all(l);
}

/* The header list for a request (owned by c): Accept and Content-Type,
 * plus the bearer token when one is given; rebuilt only when the token
 * changed. NULL when out of memory. */
static struct curl_slist *headers_for(ckv_client *c, const char *token)
{
    char auth[200];
    struct curl_slist *h = NULL, *n;
    if (token == NULL) {
        if (c->hdr_json == NULL) {
            h = curl_slist_append(NULL, "Accept: application/json");
            n = h ? curl_slist_append(h, "Content-Type: application/json") : NULL;
            if (n == NULL) {
                curl_slist_free_all(h);
                return NULL;
            }
            c->hdr_json = n;
        }
        return c->hdr_json;
    }
    if (c->hdr_auth != NULL && strcmp(c->hdr_token, token) == 0)
        return c->hdr_auth;
    ckv_net_free_headers(c->hdr_auth);
    c->hdr_auth = NULL;
    sodium_memzero(c->hdr_token, sizeof c->hdr_token);
    if (strlen(token) >= sizeof c->hdr_token)
        return NULL;
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    h = curl_slist_append(NULL, "Accept: application/json");
    n = h ? curl_slist_append(h, "Content-Type: application/json") : NULL;
    if (n != NULL)
        n = curl_slist_append(n, auth);
    sodium_memzero(auth, sizeof auth);
    if (n == NULL) {
        curl_slist_free_all(h);
        return NULL;
    }
    c->hdr_auth = n;
    memcpy(c->hdr_token, token, strlen(token) + 1);
    return c->hdr_auth;
}

/* Perform one request; *status the HTTP status. The handle keeps its
 * connection to ckvd between requests (HTTP/1.1 keep-alive); options that
 * never change are set on the first request only. */
static ckv_status perform(ckv_client *c, const char *method, const char *path, const char *body,
                          const char *token, long extra_ms, size_t cap, long *status,
                          struct buf *out, long *retry_after)
{
    char url[CKV_URL_MAX + 512];
    struct curl_slist *h;
    struct hdrs hd = {0};
    CURLcode rc;
    CURL *e = c->curl;

    size_t ul = strlen(c->url), pl = strlen(path);
    if (ul + pl >= sizeof url)
        return ckv_client_fail(c, CKV_ERR_INVALID_ARG, "the request path is too long");
    memcpy(url, c->url, ul);
    memcpy(url + ul, path, pl + 1);
    memset(out, 0, sizeof *out);
    out->max = cap;
    c->last_http = 0;
    h = headers_for(c, token);
    if (h == NULL)
        return ckv_client_fail(c, CKV_ERR_NOMEM, "out of memory");
    if (!c->curl_setup) {
        curl_easy_reset(e);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
        curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        if (c->ca_file != NULL)
            curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
        c->curl_setup = 1;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms + extra_ms);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &hd);
    if (body != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L); /* no body (drops an earlier POST's) */
    }
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    rc = curl_easy_perform(e);
    /* nothing of this request may be used by the next one */
    curl_easy_setopt(e, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, NULL);
    if (body != NULL)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
    if (out->overflow) {
        free(out->data);
        out->data = NULL;
        return ckv_client_fail(c, CKV_ERR_TOO_LARGE,
                               "the server's answer to %s %s is larger than %zu bytes: refused",
                               method, path, cap);
    }
    if (rc != CURLE_OK) {
        free(out->data);
        out->data = NULL;
        return ckv_client_fail(c, CKV_ERR_NET, "cannot reach the server at %s: %s", c->url,
                               curl_easy_strerror(rc));
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
    c->last_http = *status;
    *retry_after = hd.retry_after;
    return CKV_OK;
}

/* A non-2xx answer as a status and a sentence. */
static ckv_status http_error(ckv_client *c, const char *method, const char *path, long status,
                             const struct buf *b, long retry_after, char *code_out, size_t code_cap)
{
    json_t *o = NULL;
    const char *msg = NULL, *code = "";
    ckv_status st = CKV_ERR_HTTP;

    if (b->data != NULL)
        o = json_loadb((const char *)b->data, b->len, 0, NULL);
    if (json_is_object(o)) {
        msg = json_string_value(json_object_get(o, "error"));
        code = json_string_value(json_object_get(o, "code"));
        if (code == NULL)
            code = "";
    }
    if (code_out != NULL)
        snprintf(code_out, code_cap, "%s", code);
    if (status == 429)
        st = CKV_ERR_RATE_LIMITED;
    else if (status == 401 && strcmp(code, "clock_skew") == 0)
        st = CKV_ERR_CLOCK_SKEW;
    else if (status == 401)
        st = CKV_ERR_AUTH;
    else if (status == 409 && strcmp(code, "name_taken") == 0)
        st = CKV_ERR_DIR_NAME_TAKEN;
    else if (status == 404 && strcmp(code, "unknown_account") == 0)
        st = CKV_ERR_NOT_REGISTERED;
    else if (status == 403 &&
             (strcmp(code, "recovery_required") == 0 || strcmp(code, "bad_recovery") == 0))
        st = CKV_ERR_RECOVERY;
    if (status == 429 && retry_after > 0)
        ckv_client_fail(c, st, "the server refused %s %s (HTTP 429, retry after %ld s): %s", method,
                        path, retry_after, msg ? msg : "rate limited");
    else
        ckv_client_fail(c, st, "the server refused %s %s (HTTP %ld%s%s): %s", method, path, status,
                        code[0] ? ", " : "", code, msg ? msg : "no explanation given");
    json_decref(o);
    return st;
}

static ckv_status ensure_token(ckv_client *c)
{
    uint8_t *v = NULL;
    size_t n = 0;
    int64_t now = ckv_now();
    if (c->token[0] != 0 && c->token_expires > now + 30)
        return CKV_OK;
    if (ckv_meta_get(c->p, "token", &v, &n) == CKV_OK) {
        if (n > 8 && n - 8 < sizeof c->token) {
            int64_t exp = (int64_t)ckv_get_be64(v);
            if (exp > now + 30) {
                memcpy(c->token, v + 8, n - 8);
                c->token[n - 8] = 0;
                c->token_expires = exp;
            }
        }
        ckv_wipe_free(v, n);
        if (c->token[0] != 0 && c->token_expires > now + 30)
            return CKV_OK;
    }
    return ckv_net_login(c);
}

void ckv_net_forget_token(ckv_client *c)
{
    sodium_memzero(c->token, sizeof c->token);
    c->token_expires = 0;
    (void)ckv_meta_put(c->p, "token", (const uint8_t *)"", 0);
}

ckv_status ckv_net_json(ckv_client *c, const char *method, const char *path, json_t *body,
                        int auth, long extra_ms, json_t **out)
{
    char *text = NULL, code[64];
    struct buf b = {0};
    long status = 0, retry = 0;
    json_t *o = NULL;
    json_error_t jerr;
    ckv_status st = CKV_OK;

    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        if (text == NULL)
            return ckv_client_fail(c, CKV_ERR_NOMEM, "out of memory");
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (auth) {
            st = ensure_token(c);
            if (st != CKV_OK)
                goto out;
        }
        st = perform(c, method, path, text, auth ? c->token : NULL, extra_ms,
                     CKV_JSON_RESPONSE_MAX, &status, &b, &retry);
        if (st != CKV_OK)
            goto out;
        if (status >= 200 && status < 300)
            break;
        st = http_error(c, method, path, status, &b, retry, code, sizeof code);
        free(b.data);
        b.data = NULL;
        if (!(auth && attempt == 0 && status == 401 && strcmp(code, "bad_token") == 0))
            goto out;
        ckv_net_forget_token(c); /* expired or revoked: log in again once */
        st = CKV_OK;
    }
    o = json_loadb(b.data ? (const char *)b.data : "", b.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        st = ckv_client_fail(c, CKV_ERR_JSON,
                             "the server's answer to %s %s is not a JSON object: %s", method, path,
                             o == NULL ? jerr.text : "another JSON type");
        json_decref(o);
        o = NULL;
        goto out;
    }
    *out = o;
out:
    if (b.data != NULL) {
        sodium_memzero(b.data, b.len);
        free(b.data);
    }
    if (text != NULL) {
        sodium_memzero(text, strlen(text));
        free(text);
    }
    return st;
}

ckv_status ckv_net_get_raw(ckv_client *c, const char *path, size_t cap, uint8_t **data,
                           size_t *len)
{
    struct buf b = {0};
    long status = 0, retry = 0;
    ckv_status st = perform(c, "GET", path, NULL, NULL, 0, cap, &status, &b, &retry);
    if (st != CKV_OK)
        return st;
    if (status != 200) {
        st = http_error(c, "GET", path, status, &b, retry, NULL, 0);
        free(b.data);
        return st;
    }
    if (b.data == NULL) {
        b.data = malloc(1);
        if (b.data == NULL)
            return CKV_ERR_NOMEM;
    }
    *data = b.data;
    *len = b.len;
    return CKV_OK;
}

/* ---- login ---------------------------------------------------------------- */

ckv_status ckv_net_login(ckv_client *c)
{
    uint8_t nonce[24], sig[CKV_XEDDSA_SIG_LEN], *rec = NULL;
    char *nonce_b64 = NULL, *sig_b64 = NULL, *msg = NULL;
    json_t *req = NULL, *ans = NULL;
    int64_t now = ckv_now();
    const char *tok;
    json_int_t ttl;
    size_t mlen, tlen;
    ckv_status st;

    randombytes_buf(nonce, sizeof nonce);
    nonce_b64 = ckv_b64(nonce, sizeof nonce);
    mlen = strlen(LOGIN_CONTEXT) + strlen(c->origin) + strlen(c->p->account) + 64;
    msg = malloc(mlen);
    if (nonce_b64 == NULL || msg == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    /* "ckv login v1\n" || origin "\n" name "\n" time "\n" nonce-base64 */
    int ml = snprintf(msg, mlen, "%s%s\n%s\n%lld\n%s", LOGIN_CONTEXT, c->origin, c->p->account,
                      (long long)now, nonce_b64);
    st = ckv_xeddsa_sign(c->p->identity_priv, (const uint8_t *)msg, (size_t)ml, sig);
    if (st != CKV_OK)
        goto out;
    sig_b64 = ckv_b64(sig, sizeof sig);
    req = json_pack("{s:s, s:I, s:s, s:s}", "name", c->p->account, "time", (json_int_t)now,
                    "nonce", nonce_b64, "signature", sig_b64 ? sig_b64 : "");
    if (sig_b64 == NULL || req == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    st = ckv_net_json(c, "POST", "/v1/login", req, 0, 0, &ans);
    if (st != CKV_OK) {
        if (st == CKV_ERR_NOT_REGISTERED)
            st = ckv_client_fail(c, st, "the server does not know account '%s': register first",
                                 c->p->account);
        goto out;
    }
    tok = json_string_value(json_object_get(ans, "token"));
    ttl = json_integer_value(json_object_get(ans, "expires_in"));
    if (tok == NULL || (tlen = strlen(tok)) == 0 || tlen >= sizeof c->token || ttl <= 0 ||
        ttl > 86400) {
        st = ckv_client_fail(c, CKV_ERR_JSON,
                             "the server's login answer has no usable token/expires_in");
        goto out;
    }
    memcpy(c->token, tok, tlen + 1);
    c->token_expires = now + ttl;
    rec = malloc(8 + tlen);
    if (rec != NULL) {
        ckv_put_be64(rec, (uint64_t)c->token_expires);
        memcpy(rec + 8, tok, tlen);
        (void)ckv_meta_put(c->p, "token", rec, 8 + tlen); /* a cache: failure is harmless */
        ckv_wipe_free(rec, 8 + tlen);
    }
out:
    sodium_memzero(sig, sizeof sig);
    free(nonce_b64);
    free(sig_b64);
    free(msg);
    json_decref(req);
    json_decref(ans);
    return st;
}
