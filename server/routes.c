/*
 * routes.c: ckvd's router. Maps method + path to a handler, and checks the
 * bearer token for the routes that need one (docs/server.md lists them).
 */
#include "accounts.h"
#include "auth.h"

#include <stdlib.h>
#include <string.h>

void ckvd_free_req_user(void *user)
{
    free(user);
}

static int64_t authenticate(struct ckvd *d, struct ckvd_req *req, struct ckvd_resp *resp)
{
    const char *h = req->authorization;
    if (!h || strncmp(h, "Bearer ", 7) != 0) {
        ckvd_resp_error(resp, 401, "no_token",
                        "this request needs 'Authorization: Bearer TOKEN' (POST /v1/login)");
        return -1;
    }
    int64_t acct = ckvd_tokens_check(d->tokens, h + 7, ckvd_wall_time());
    if (acct < 0)
        ckvd_resp_error(resp, 401, "bad_token",
                        "the token is unknown or expired; log in again (POST /v1/login)");
    return acct;
}

static int is(const struct ckvd_req *r, const char *method, const char *path)
{
    return strcmp(r->method, method) == 0 && strcmp(r->path, path) == 0;
}

/* Path "/prefix<name>" with a name free of '/': the name, or NULL. */
static const char *tail(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0 || !path[n] || strchr(path + n, '/'))
        return NULL;
    return path + n;
}

/* "/v1/directory/NAME" or "/v1/directory/NAME/history" (NAME non-empty,
 * free of '/'). */
static int directory_path(const char *p)
{
    static const char pre[] = "/v1/directory/";
    if (tail(p, pre))
        return 1;
    if (strncmp(p, pre, sizeof(pre) - 1) != 0)
        return 0;
    const char *slash = strchr(p + sizeof(pre) - 1, '/');
    return slash && slash > p + sizeof(pre) - 1 && strcmp(slash, "/history") == 0;
}

/* A path of the API, whatever the method (for 405 against 404). */
static int known_path(const char *p)
{
    static const char *const exact[] = {
        "/checkpoint",         "/v1/health", "/v1/accounts", "/v1/login",
        "/v1/log/consistency", "/v1/keys",   "/v1/messages", "/v1/messages/ack",
        "/v1/messages/batch",  NULL};
    for (const char *const *e = exact; *e; e++)
        if (strcmp(p, *e) == 0)
            return 1;
    return strncmp(p, "/tile/", 6) == 0 || directory_path(p) || tail(p, "/v1/keys/") != NULL;
}

enum ckvd_handler_result ckvd_route(void *ctx, struct ckvd_req *req, struct ckvd_resp *resp,
                                    uint64_t *wake_key, uint64_t *deadline_ms)
{
    struct ckvd *d = ctx;
    const char *p = req->path;
    const char *name;
    int64_t acct;
    int get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;

    if (get && strcmp(p, "/checkpoint") == 0)
        return ckvd_h_checkpoint(d, req, resp);
    if (get && strncmp(p, "/tile/", 6) == 0)
        return ckvd_h_tile(d, req, resp, p + 1);
    if (get && strcmp(p, "/v1/health") == 0) {
        ckvd_resp_obj(resp, 200, json_pack("{s:b, s:s}", "ok", 1, "origin", d->origin));
        return CKVD_RESPOND;
    }
    if (is(req, "POST", "/v1/accounts"))
        return ckvd_h_register(d, req, resp);
    if (is(req, "POST", "/v1/login"))
        return ckvd_h_login(d, req, resp);
    if (get && strcmp(p, "/v1/log/consistency") == 0)
        return ckvd_h_consistency(d, req, resp);
    if (get && strncmp(p, "/v1/directory/", 14) == 0) {
        size_t n = strlen(p);
        if (n > 22 && strcmp(p + n - 8, "/history") == 0) {
            char nm[CKV_NAME_MAX + 2];
            size_t l = n - 8 - 14;
            if (l == 0 || l > CKV_NAME_MAX || memchr(p + 14, '/', l)) {
                ckvd_resp_error(resp, 404, "not_found", "no such resource");
                return CKVD_RESPOND;
            }
            memcpy(nm, p + 14, l);
            nm[l] = 0;
            return ckvd_h_lookup(d, req, resp, nm, 1);
        }
        if ((name = tail(p, "/v1/directory/")))
            return ckvd_h_lookup(d, req, resp, name, 0);
    }

    /* Everything below needs a token. */
    /* A bundle fetch consumes a prekey: GET only (not HEAD). */
    int bundle = strcmp(req->method, "GET") == 0 && tail(p, "/v1/keys/") != NULL;
    int needs_auth = is(req, "PUT", "/v1/keys") || bundle || is(req, "POST", "/v1/messages") ||
                     (get && strcmp(p, "/v1/messages") == 0) ||
                     is(req, "POST", "/v1/messages/ack") || is(req, "POST", "/v1/messages/batch");
    if (!needs_auth) {
        if (known_path(p)) {
            ckvd_resp_error(resp, 405, "bad_method",
                            "this resource does not take that method (see docs/server.md)");
            return CKVD_RESPOND;
        }
        ckvd_resp_error(resp, 404, "not_found",
                        "no such resource (see docs/server.md for the API)");
        return CKVD_RESPOND;
    }
    if ((acct = authenticate(d, req, resp)) < 0)
        return CKVD_RESPOND;
    if (is(req, "PUT", "/v1/keys"))
        return ckvd_h_keys_put(d, req, resp, acct);
    if (bundle)
        return ckvd_h_keys_get(d, req, resp, acct, tail(p, "/v1/keys/"));
    if (is(req, "POST", "/v1/messages"))
        return ckvd_h_send(d, req, resp, acct);
    if (is(req, "POST", "/v1/messages/batch"))
        return ckvd_h_send_batch(d, req, resp, acct);
    if (get && strcmp(p, "/v1/messages") == 0)
        return ckvd_h_fetch(d, req, resp, acct, wake_key, deadline_ms);
    return ckvd_h_ack(d, req, resp, acct);
}
