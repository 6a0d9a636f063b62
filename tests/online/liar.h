/*
 * liar.h: the lying server of the adversarial suite (liar.c). An HTTP front
 * for a real ckvd on 127.0.0.1: every request is forwarded to the real
 * server unless the test's hooks decide otherwise. A "before" hook sees the
 * request and may answer it itself (a canned lie, a dropped POST) or send
 * it to another backend (a second ckvd serving a forked log signed with the
 * same key); an "after" hook sees the real answer and may rewrite it (a
 * proof with one bit flipped, an older entry, a cut envelope). Everything a
 * malicious ckvd could do to a client over HTTP can be expressed this way,
 * without fault switches inside ckvd.
 *
 * One thread serves one connection at a time ("Connection: close"); hooks
 * run on that thread while the test thread is blocked in a client call, and
 * every change of hooks goes through the mutex.
 */
#ifndef CKV_TEST_ADV_LIAR_H
#define CKV_TEST_ADV_LIAR_H

#include <pthread.h>
#include <stddef.h>

typedef struct liar_req {
    const char *method;  /* "GET", "POST", ... */
    const char *path;    /* with the query string */
    const char *body;    /* request body (NUL-terminated), "" when none */
    size_t body_len;
} liar_req;

typedef struct liar_resp {
    long status;
    char *type;  /* malloc'd content type */
    char *body;  /* malloc'd, NUL-terminated */
    size_t len;
} liar_resp;

/* Return 1 to answer with *resp (fill it: status, malloc'd body/type; see
 * liar_resp_set) without forwarding; 0 to forward, optionally to *target
 * (a base URL such as "http://127.0.0.1:1234"; default: the liar's target). */
typedef int (*liar_before_fn)(void *ctx, const liar_req *req, const char **target,
                              liar_resp *resp);
/* Called with the real answer; may replace it (liar_resp_set). */
typedef void (*liar_after_fn)(void *ctx, const liar_req *req, liar_resp *resp);

typedef struct liar {
    int sock;
    pthread_t thread;
    pthread_mutex_t lock;
    volatile int stopping;
    char target[128];
    char url[64];
    liar_before_fn before;
    liar_after_fn after;
    void *ctx;
    int lies; /* answers the hooks changed or made (reset by liar_hooks) */
} liar;

/* Listen on 127.0.0.1 (a free port; px->url) and forward to target. 0 = ok. */
int liar_start(liar *px, const char *target);
/* Install hooks (either may be NULL); NULL, NULL = an honest front. */
void liar_hooks(liar *px, liar_before_fn before, liar_after_fn after, void *ctx);
/* How many answers the hooks touched since the last liar_hooks. */
int liar_lies(liar *px);
void liar_stop(liar *px);

/* Replace resp's body (copied) and status (0 = keep); type NULL = keep. */
void liar_resp_set(liar_resp *resp, long status, const char *type, const char *body, size_t len);
/* 1 when path starts with prefix. */
int liar_path_is(const liar_req *req, const char *method, const char *prefix);

/* GET base+path, 200 only (malloc'd body, *len) or NULL. */
char *liar_http_get(const char *base, const char *path, size_t *len);

#endif
