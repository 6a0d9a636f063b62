/*
 * proxy.c: a tiny lying HTTP front for ckvd, for the online tests: it
 * forwards every request to the real ckvd except the one path the test
 * overrides, which it answers with the test's canned body (before or after
 * forwarding), optionally rewrites every forwarded 200 answer, and can send
 * the log's and directory's paths to another upstream (a split view). The
 * HTTP side is liar.c's; this file is only the fixed set of hooks.
 */
#include "proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_override(const proxy *px, const liar_req *req)
{
    return px->override_path != NULL && strcmp(req->path, px->override_path) == 0;
}

static void canned(proxy *px, liar_resp *resp)
{
    liar_resp_set(resp, px->override_status ? px->override_status : 200, "application/json",
                  px->override_body, strlen(px->override_body));
    px->hits++;
}

/* Runs under px->l.lock (liar.c). */
static int before(void *ctx, const liar_req *req, const char **target, liar_resp *resp)
{
    proxy *px = ctx;
    if (is_override(px, req) && !px->forward_first) {
        canned(px, resp);
        return 1;
    }
    if (px->alt_target[0] != 0 &&
        (strcmp(req->path, "/checkpoint") == 0 || liar_path_is(req, NULL, "/tile/") ||
         liar_path_is(req, NULL, "/v1/log/") || liar_path_is(req, NULL, "/v1/directory/")))
        *target = px->alt_target;
    return 0;
}

static void after(void *ctx, const liar_req *req, liar_resp *resp)
{
    proxy *px = ctx;
    if (is_override(px, req) && px->forward_first) {
        canned(px, resp);
        return;
    }
    if (resp->status == 200 && px->rewrite != NULL && resp->body != NULL) {
        size_t nl = 0;
        char *nb = px->rewrite(px->rewrite_ctx, req->path, resp->body, resp->len, &nl);
        if (nb != NULL) {
            free(resp->body);
            resp->body = nb;
            resp->len = nl;
        }
    }
}

int proxy_start(proxy *px, const char *target)
{
    memset(px, 0, sizeof *px);
    if (liar_start(&px->l, target) != 0)
        return -1;
    snprintf(px->url, sizeof px->url, "%s", px->l.url);
    liar_hooks(&px->l, before, after, px);
    return 0;
}

static void set_override(proxy *px, const char *path, long status, const char *body, int first)
{
    free(px->override_path);
    free(px->override_body);
    px->override_path = path ? strdup(path) : NULL;
    px->override_body = body ? strdup(body) : NULL;
    px->hits = 0;
    px->override_status = status;
    px->forward_first = first;
}

void proxy_override(proxy *px, const char *path, const char *body)
{
    proxy_override_status(px, path, 200, body);
}

void proxy_override_status(proxy *px, const char *path, long status, const char *body)
{
    pthread_mutex_lock(&px->l.lock);
    set_override(px, path, status, body, 0);
    pthread_mutex_unlock(&px->l.lock);
}

void proxy_lie_after(proxy *px, const char *path, long status, const char *body)
{
    pthread_mutex_lock(&px->l.lock);
    set_override(px, path, status, body, 1);
    pthread_mutex_unlock(&px->l.lock);
}

void proxy_split(proxy *px, const char *target)
{
    pthread_mutex_lock(&px->l.lock);
    snprintf(px->alt_target, sizeof px->alt_target, "%s", target);
    pthread_mutex_unlock(&px->l.lock);
}

void proxy_stop(proxy *px)
{
    liar_stop(&px->l);
    set_override(px, NULL, 0, NULL, 0);
}

char *http_get(const char *url)
{
    return liar_http_get(url, "", NULL);
}
