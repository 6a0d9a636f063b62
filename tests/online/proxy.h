/*
 * proxy.h: a lying HTTP front for ckvd (proxy.c): forwards everything to
 * the real server except one path, answered with a canned body. For the
 * tests that a wrong proof, another name's entry, a stale entry or a
 * server-made bundle key is refused. It is a fixed set of hooks on the
 * general lying front, liar.c.
 */
#ifndef CKV_TEST_ONLINE_PROXY_H
#define CKV_TEST_ONLINE_PROXY_H

#include <pthread.h>
#include <stddef.h>

#include "liar.h"

typedef struct proxy {
    liar l;               /* the HTTP front (liar.c); its lock guards what follows */
    char url[64];         /* where clients connect */
    char *override_path, *override_body;
    int hits;
    long override_status; /* 200 unless set */
    int forward_first;    /* forward the request, then answer the override */
    /* Optional (set before traffic): a rewrite of every forwarded 200
     * answer; returns a malloc'd new body (length *out_len) or NULL to keep
     * it. Runs on the proxy thread. */
    char *(*rewrite)(void *ctx, const char *path, const char *body, size_t len, size_t *out_len);
    void *rewrite_ctx;
    /* Optional: another upstream for the log and the directory (paths
     * /checkpoint, /tile/, /v1/log/, /v1/directory/): a split view. */
    char alt_target[128];
} proxy;

int proxy_start(proxy *px, const char *target); /* 0 on success */
/* Answer GET path with body (NULL path: forward everything). */
void proxy_override(proxy *px, const char *path, const char *body);
/* The same with another HTTP status. */
void proxy_override_status(proxy *px, const char *path, long status, const char *body);
/* Forward requests to path, then answer status/body instead of the real answer. */
void proxy_lie_after(proxy *px, const char *path, long status, const char *body);
void proxy_stop(proxy *px);
/* Route the log and directory paths to target from now on ("" = off). */
void proxy_split(proxy *px, const char *target);
/* GET url (malloc'd body) or NULL unless 200. */
char *http_get(const char *url);

#endif
