/*
 * http.h: ckvd's HTTP layer over libmicrohttpd.
 *
 * One daemon thread (epoll) serves every connection; handlers run on it and
 * must not block. A request is collected whole (with a hard body cap) before
 * its handler runs. A handler that has nothing to return yet (a long-poll
 * fetch) answers CKVD_SUSPEND: the connection is parked without a thread and
 * resumed by ckvd_http_wake() or when its deadline passes, at which point the
 * handler runs again with `resumed` set.
 *
 * Responses are JSON. Errors are {"error": "<sentence>", "code": "<name>"}.
 */
#ifndef CKVD_HTTP_H
#define CKVD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define CKVD_MAX_BODY (256u * 1024u) /* hard cap on a request body */
#define CKVD_MAX_CONNECTIONS 4000u    /* open connections in all */
#define CKVD_MAX_CONN_PER_IP 500u     /* default of --max-connections-per-ip */

struct ckvd_http;
struct ckvd_conn_state;

struct ckvd_req {
    const char *method;       /* "GET", "POST", ... */
    const char *path;         /* URL path, no query string */
    const uint8_t *body;      /* request body (NUL-terminated copy), may be empty */
    size_t body_len;
    const char *authorization; /* Authorization header or NULL */
    char peer[64];            /* client address, for rate limits and logs */
    int resumed;              /* 1 when re-run after a suspension */
    int timed_out;            /* 1 when the suspension deadline passed */
    struct ckvd_conn_state *conn; /* opaque; for ckvd_http_query */
    /* Query-string lookup (set by the HTTP layer; a test harness may set
     * its own). Returns the value of key or NULL. */
    const char *(*query)(struct ckvd_req *req, const char *key);
    void *user;               /* handler-owned per-request state, kept across suspensions */
};

struct ckvd_resp {
    int status;               /* HTTP status */
    char *body;               /* malloc'd; taken over by the HTTP layer */
    size_t len;
    const char *content_type; /* static string */
    int retry_after;          /* seconds, > 0 adds a Retry-After header */
    int cache_seconds;        /* > 0 adds Cache-Control: public, max-age */
    int immutable;            /* with cache_seconds: add ", immutable" */
};

enum ckvd_handler_result {
    CKVD_RESPOND = 0, /* resp is filled in */
    CKVD_SUSPEND = 1, /* park the connection until woken or the deadline */
};

/* A handler fills resp (or asks to suspend, setting *wake_key and
 * *deadline_ms, a monotonic time in ms). free_user releases req->user when
 * the request ends (may be NULL). */
typedef enum ckvd_handler_result (*ckvd_handler)(void *ctx, struct ckvd_req *req,
                                                 struct ckvd_resp *resp, uint64_t *wake_key,
                                                 uint64_t *deadline_ms);

struct ckvd_http_config {
    const char *listen_addr; /* IPv4 literal, e.g. "127.0.0.1" */
    uint16_t port;           /* 0 = any free port */
    const char *tls_cert_pem; /* contents, or NULL for plain HTTP */
    const char *tls_key_pem;
    ckvd_handler handler;
    void (*free_user)(void *user);
    void *ctx;
    unsigned idle_timeout_s; /* close idle or stalled connections (0 = 30 s) */
    unsigned max_conn_per_ip; /* open connections from one address (0 = no limit) */
    int verbose;             /* log one line per request on stderr */
};

/* Start serving. Returns 0 and *out on success, -1 with a message in err. */
int ckvd_http_start(const struct ckvd_http_config *cfg, struct ckvd_http **out, char *err,
                    size_t errlen);

/* The port actually bound (useful with port 0). */
uint16_t ckvd_http_port(const struct ckvd_http *h);

/* Resume every connection suspended on wake_key. Thread-safe. h NULL is a
 * no-op. */
void ckvd_http_wake(struct ckvd_http *h, uint64_t wake_key);

/* Value of a query-string argument, or NULL. */
const char *ckvd_http_query(struct ckvd_req *req, const char *key);

/* Stop accepting, resume and finish suspended requests, free. NULL is a no-op. */
void ckvd_http_stop(struct ckvd_http *h);

/* Helpers to fill a response. They take a printf-free, already-built body. */
void ckvd_resp_json(struct ckvd_resp *resp, int status, char *json_malloced);
void ckvd_resp_error(struct ckvd_resp *resp, int status, const char *code, const char *msg);
void ckvd_resp_bytes(struct ckvd_resp *resp, int status, const char *content_type,
                     const void *data, size_t len);

uint64_t ckvd_now_ms(void); /* monotonic milliseconds */

#endif
