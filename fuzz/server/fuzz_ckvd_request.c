/*
 * fuzz_ckvd_request.c: ckvd's router and handlers on arbitrary requests,
 * without a socket: every byte of a request that a client controls (method,
 * path, query string, Authorization, body) reaches the same code as over
 * HTTP. The server state (a log, a database, one registered account with
 * prekeys and a valid token) lives in a temporary directory made on the
 * first input and removed at exit.
 *
 * Input: "METHOD PATH[?QUERY]\n" then the body. A leading '!' on the first
 * line sends the valid token ("!GET /v1/messages?wait=1\n"). Every request
 * must be answered (a suspended long-poll is resumed as timed out) with a
 * status in 200..599 and a body.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "accounts.h"
#include "auth.h"
#include "ckv/dir_entry.h"
#include "log.h"

static struct ckvd d;
static char dir[64];
static char token[64];
static int ready;

static void teardown(void)
{
    char cmd[128];
    ckvd_log_close(d.log);
    ckvd_accounts_close(&d);
    ckvd_store_close(d.store);
    ckvd_tokens_free(d.tokens);
    ckvd_lookup_cache_free(d.lookups);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", dir);
}

static void run(const char *method, const char *path, const char *(*q)(struct ckvd_req *,
                                                                         const char *),
                const char *auth, const uint8_t *body, size_t len, struct ckvd_resp *resp)
{
    struct ckvd_req req;
    uint64_t key = 0, deadline = 0;
    memset(&req, 0, sizeof(req));
    memset(resp, 0, sizeof(*resp));
    req.method = method;
    req.path = path;
    req.body = body;
    req.body_len = len;
    req.authorization = auth;
    req.query = q;
    snprintf(req.peer, sizeof(req.peer), "127.0.0.1");
    if (ckvd_route(&d, &req, resp, &key, &deadline) == CKVD_SUSPEND) {
        req.resumed = 1;
        req.timed_out = 1;
        if (ckvd_route(&d, &req, resp, &key, &deadline) != CKVD_RESPOND)
            abort(); /* a timed-out request must be answered */
    }
    ckvd_free_req_user(req.user);
}

/* One account "fuzz" with a signed prekey and 1000 one-time prekeys. */
static int setup(void)
{
    char err[256], entry[CKV_DIR_ENTRY_MAX + 1], b[200];
    int created = 0;
    uint8_t priv[32], pub[33], sp[32], sq[33], sig[64];
    ckv_dir_entry e;
    size_t elen = 0;
    if (sodium_init() < 0)
        return -1;
    snprintf(dir, sizeof(dir), "/tmp/ckvd-fuzz-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    atexit(teardown);
    if (ckvd_log_open(dir, "fuzz.example/log", 3600000, 0, &d.log, &created, err,
                      sizeof(err)) != 0)
        return -1;
    d.origin = ckvd_log_origin(d.log);
    char db[128];
    snprintf(db, sizeof(db), "%s/ckvd.db", dir);
    if (ckvd_store_open(db, 0, &d.store, err, sizeof(err)) != CKVD_STORE_OK ||
        ckvd_accounts_init(&d, err, sizeof(err)) != 0)
        return -1;
    d.tokens = ckvd_tokens_new();
    d.lookups = ckvd_lookup_cache_new();
    d.token_ttl = 900;
    if (!d.tokens || !d.lookups)
        return -1;
    randombytes_buf(priv, 32);
    priv[0] &= 248;
    priv[31] = (uint8_t)((priv[31] & 127) | 64);
    if (ckv_xeddsa_public_key(priv, pub) != CKV_OK)
        return -1;
    memset(&e, 0, sizeof(e));
    snprintf(e.origin, sizeof(e.origin), "%s", d.origin);
    snprintf(e.name, sizeof(e.name), "fuzz");
    e.type = CKV_DIR_REGISTER;
    e.version = 1;
    memcpy(e.key, pub, 33);
    e.time = (int64_t)time(NULL);
    if (ckv_dir_entry_sign_pop(&e, priv) != CKV_OK ||
        ckv_dir_entry_encode(&e, entry, sizeof(entry), &elen) != CKV_OK)
        return -1;
    memcpy(sp, priv, 32);
    sp[5] ^= 1;
    if (ckv_xeddsa_public_key(sp, sq) != CKV_OK || ckv_xeddsa_sign(priv, sq, 33, sig) != CKV_OK)
        return -1;
    json_t *pks = json_array();
    for (int i = 1; i <= 1000; i++)
        json_array_append_new(pks, json_pack("{s:i, s:s}", "id", i, "key",
                                             sodium_bin2base64(b, sizeof(b), sq, 33,
                                                               sodium_base64_VARIANT_ORIGINAL)));
    char kb[64], sb[100];
    sodium_bin2base64(kb, sizeof(kb), sq, 33, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(sb, sizeof(sb), sig, 64, sodium_base64_VARIANT_ORIGINAL);
    json_t *o = json_pack("{s:s, s:{s:i, s:s, s:s}, s:o}", "entry", entry, "signed_prekey",
                          "id", 1, "key", kb, "signature", sb, "prekeys", pks);
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    struct ckvd_resp resp;
    run("POST", "/v1/accounts", NULL, NULL, (const uint8_t *)body, strlen(body), &resp);
    free(body);
    int ok = resp.status == 200;
    free(resp.body);
    struct ckvd_account a;
    if (!ok || ckvd_account_by_name(&d, "fuzz", &a) != 0 ||
        ckvd_tokens_issue(d.tokens, a.id, (int64_t)time(NULL), 900, token) != 0)
        return -1;
    sodium_memzero(priv, sizeof(priv));
    return 0;
}

/* The query string of the current input, as key=value pairs (no decoding). */
static char qbuf[1024];

static const char *fuzz_query(struct ckvd_req *req, const char *key)
{
    static char val[1024];
    size_t kl = strlen(key);
    (void)req;
    for (char *p = qbuf; *p;) {
        char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            snprintf(val, sizeof(val), "%.*s", (int)(n - kl - 1), p + kl + 1);
            return val;
        }
        p += n + (amp ? 1 : 0);
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char line[1024], method[32], path[1024], auth[128];
    if (!ready) {
        if (setup() != 0) {
            fprintf(stderr, "fuzz: cannot set up a server state\n");
            abort();
        }
        ready = 1;
    }
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ll = nl ? (size_t)(nl - data) : size;
    if (ll >= sizeof(line) || memchr(data, 0, ll))
        return 0;
    memcpy(line, data, ll);
    line[ll] = 0;
    const uint8_t *body = nl ? nl + 1 : data + size;
    size_t blen = (size_t)(data + size - body);
    int with_token = line[0] == '!';
    char *l = line + with_token;
    char *sp = strchr(l, ' ');
    if (!sp || (size_t)(sp - l) >= sizeof(method))
        return 0;
    snprintf(method, sizeof(method), "%.*s", (int)(sp - l), l);
    char *q = strchr(sp + 1, '?');
    if (q) {
        snprintf(qbuf, sizeof(qbuf), "%s", q + 1);
        *q = 0;
    } else {
        qbuf[0] = 0;
    }
    snprintf(path, sizeof(path), "%s", sp + 1);
    snprintf(auth, sizeof(auth), "Bearer %s", token);
    /* the body is NUL-terminated, as the HTTP layer hands it over */
    uint8_t *b = malloc(blen + 1);
    if (!b)
        return 0;
    memcpy(b, body, blen);
    b[blen] = 0;
    struct ckvd_resp resp;
    run(method, path, fuzz_query, with_token ? auth : NULL, b, blen, &resp);
    if (resp.status < 200 || resp.status > 599 || (!resp.body && resp.status != 204))
        abort();
    free(resp.body);
    free(b);
    return 0;
}
