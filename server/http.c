/*
 * http.c: ckvd's HTTP layer over libmicrohttpd (see http.h).
 *
 * Threads: MHD's one internal epoll thread runs every handler; a small timer
 * thread resumes suspended (long-poll) connections whose deadline passed.
 * The waiter list is the only state the two share; it is guarded by one
 * mutex, and a connection is registered and suspended while that mutex is
 * held, so a wake can never reach a connection before it is suspended.
 *
 * Per connection (struct ckvd_conn_state): the body collected so far (at most
 * CKVD_MAX_BODY: a larger declared Content-Length is answered 413 before
 * the body is read; a chunked body over the cap is drained, up to a bound,
 * and answered 413), and the handler's own state, kept across suspensions.
 *
 * Per connection (struct conn_watch, MHD's socket context): when it last
 * started waiting for a request's headers (opened, or answered the last
 * request) and whether a request is in hand. libmicrohttpd resets its idle
 * timer on every byte and calls ckvd only once the headers are complete,
 * so headers sent a byte at a time would hold a connection for ever; the
 * timer thread shuts down (shutdown(2); libmicrohttpd then sees the peer
 * gone and closes it) any connection still without complete headers twice
 * --idle-timeout after it began waiting. Twice: a connection that sends
 * nothing is closed by libmicrohttpd's own idle timeout first, so only one
 * that trickles reaches the cut. The same holds for the rest of a request
 * that never reaches ckvd as body bytes (a chunked body's size lines,
 * chunk extensions or trailers sent a byte at a time): the watch records
 * when the request's headers arrived, whether it is parked (a long-poll,
 * never cut) and whether it has been answered (a slow reader of an answer
 * is not cut here), and the timer shuts down a request in hand, neither
 * parked nor answered, twice --idle-timeout after its headers. The watch
 * list and these flags are guarded by the same mutex; libmicrohttpd 0.9.75
 * announces a request's completion before the connection's close, and the
 * close before it closes the descriptor, so a request's state never
 * outlives its watch and the timer never shuts down a reused descriptor.
 *
 * Shutdown (ckvd_http_stop): stop accepting, make the timer resume every
 * parked request as timed out (each answers with what is queued), give
 * the answers a moment to leave, then stop the daemon; a request that
 * would park after that point is answered 503.
 */
#include "http.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

struct ckvd_conn_state {
    struct MHD_Connection *conn;
    uint8_t *body;
    size_t len, cap;
    int too_large;
    int suspended;
    int timed_out;
    int resumed;
    size_t drained;    /* bytes of an oversized chunked body thrown away */
    uint64_t start_ms; /* when the request's headers arrived */
    struct conn_watch *watch; /* the connection's watch, or NULL (not watched) */
    void *user;
};

struct conn_watch {
    int fd;
    int busy;          /* a request's headers arrived and it is not completed yet */
    int parked;        /* the busy request is suspended (a long-poll) */
    int answered;      /* the busy request's answer is queued */
    int cut;           /* shut down by the timer */
    size_t idx;        /* position in ckvd_http.watch */
    uint64_t since_ms; /* began waiting for a request's headers, or (busy) when
                        * they arrived or the request was last resumed */
    char peer[48];
};

struct waiter {
    uint64_t key;
    uint64_t deadline_ms;
    struct ckvd_conn_state *st;
};

struct ckvd_http {
    struct MHD_Daemon *d;
    struct ckvd_http_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t timer_cv; /* wakes the timer early: a nearer deadline, or stop */
    uint64_t timer_next;     /* when the timer means to look next (under mu) */
    struct waiter *waiters;
    size_t nwaiters, capwaiters;
    struct conn_watch **watch; /* every open connection (under mu) */
    size_t nwatch, capwatch;
    uint64_t last_sweep_ms;
    pthread_t timer;
    int timer_running;
    int stopping;
};

uint64_t ckvd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ckvd_resp_json(struct ckvd_resp *resp, int status, char *json_malloced)
{
    resp->status = status;
    resp->body = json_malloced;
    resp->len = json_malloced ? strlen(json_malloced) : 0;
    resp->content_type = "application/json";
}

void ckvd_resp_error(struct ckvd_resp *resp, int status, const char *code, const char *msg)
{
    json_t *o = json_pack("{s:s, s:s}", "error", msg, "code", code);
    if (!o) /* msg is not valid UTF-8: keep the status and code, say less */
        o = json_pack("{s:s, s:s}", "error",
                      "the request was refused, and the details could not be encoded; "
                      "check the request against the API (docs/server.md)",
                      "code", code);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    ckvd_resp_json(resp, status, s);
}

void ckvd_resp_bytes(struct ckvd_resp *resp, int status, const char *content_type,
                     const void *data, size_t len)
{
    resp->status = status;
    resp->body = malloc(len ? len : 1);
    if (resp->body && len)
        memcpy(resp->body, data, len);
    resp->len = resp->body ? len : 0;
    resp->content_type = content_type;
}

/* Remove waiter i (unordered). Caller holds mu. */
static void waiter_remove(struct ckvd_http *h, size_t i)
{
    h->waiters[i] = h->waiters[h->nwaiters - 1];
    h->nwaiters--;
}

static void resume_locked(struct ckvd_http *h, size_t i, int timed_out)
{
    struct ckvd_conn_state *st = h->waiters[i].st;
    st->timed_out = timed_out;
    st->suspended = 0;
    st->resumed = 1;
    if (st->watch) { /* the handler runs again at once: a fresh start */
        st->watch->parked = 0;
        st->watch->since_ms = ckvd_now_ms();
    }
    waiter_remove(h, i);
    MHD_resume_connection(st->conn);
}

void ckvd_http_wake(struct ckvd_http *h, uint64_t key)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->nwaiters;) {
        if (h->waiters[i].key == key)
            resume_locked(h, i, 0);
        else
            i++;
    }
    pthread_mutex_unlock(&h->mu);
}

static unsigned idle_s(const struct ckvd_http *h)
{
    return h->cfg.idle_timeout_s ? h->cfg.idle_timeout_s : 30;
}

/* Shut down every connection that has waited for a request's headers, or
 * for the rest of a request whose headers came (neither parked nor
 * answered), longer than twice the idle timeout (see the top comment).
 * Caller holds mu. */
static void sweep_locked(struct ckvd_http *h, uint64_t now)
{
    uint64_t limit = 2u * (uint64_t)idle_s(h) * 1000u;
    for (size_t i = 0; i < h->nwatch; i++) {
        struct conn_watch *w = h->watch[i];
        if (w->cut || w->fd < 0 || now - w->since_ms <= limit)
            continue;
        if (w->busy && (w->parked || w->answered))
            continue;
        w->cut = 1;
        (void)shutdown(w->fd, SHUT_RDWR);
        if (h->cfg.verbose) {
            char ts[32];
            struct tm tm;
            time_t t = time(NULL);
            gmtime_r(&t, &tm);
            strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
            fprintf(stderr, "%s ckvd: %s connection closed: %s within %u s\n", ts, w->peer,
                    w->busy ? "request not complete" : "no complete request headers",
                    2u * idle_s(h));
        }
    }
}

static void *timer_main(void *arg)
{
    struct ckvd_http *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        int stop = h->stopping;
        uint64_t now = ckvd_now_ms(), next = now + 20;
        if (!stop && now - h->last_sweep_ms >= 250) {
            sweep_locked(h, now);
            h->last_sweep_ms = now;
        }
        for (size_t i = 0; i < h->nwaiters;) {
            if (stop || h->waiters[i].deadline_ms <= now) {
                resume_locked(h, i, 1);
            } else {
                if (h->waiters[i].deadline_ms < next)
                    next = h->waiters[i].deadline_ms;
                i++;
            }
        }
        if (stop)
            break;
        /* until the nearest deadline, at most 20 ms; a request parked with
         * a nearer one (a short wait_ms) or the stop signals timer_cv */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ms = next > now ? next - now : 1;
        ts.tv_nsec += (long)(ms % 1000) * 1000000L;
        ts.tv_sec += (time_t)(ms / 1000) + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        h->timer_next = next;
        pthread_cond_timedwait(&h->timer_cv, &h->mu, &ts);
        h->timer_next = 0;
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static const char *mhd_query(struct ckvd_req *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *ckvd_http_query(struct ckvd_req *req, const char *key)
{
    return req->query ? req->query(req, key) : NULL;
}

/* The watch of conn (its socket context), or NULL when not watched. */
static struct conn_watch *watch_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void peer_of(struct MHD_Connection *conn, char *out, size_t outlen)
{
    snprintf(out, outlen, "unknown");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)outlen);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)outlen);
}

/* in (at most max bytes of it) for a log line: printable ASCII as it is,
 * every other byte and the backslash as \xNN, "..." when cut; out holds
 * at least 4 * max + 4 bytes. The path is percent-decoded by libmicrohttpd,
 * so a %0a in it would otherwise start a forged log line. */
static void log_escape(const char *in, size_t max, char *out)
{
    size_t i = 0, o = 0;
    for (; in[i] && i < max; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)sprintf(out + o, "\\x%02x", c);
    }
    if (in[i])
        o += (size_t)sprintf(out + o, "...");
    out[o] = 0;
}

/* With --verbose: one line per answered request. Method, path (no query
 * string, escaped), status and time only: never a header, a token or a
 * body. */
static void log_request(struct ckvd_http *h, struct MHD_Connection *conn, const char *method,
                        const char *url, const struct ckvd_conn_state *st, int status)
{
    char peer[64], ts[32], m[16 * 4 + 4], path[200 * 4 + 4];
    struct tm tm;
    if (!h->cfg.verbose)
        return;
    time_t now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    peer_of(conn, peer, sizeof(peer));
    log_escape(method, 16, m);
    log_escape(url, 200, path);
    fprintf(stderr, "%s ckvd: %s req %s %s -> %d (%llu ms)\n", ts, peer, m, path, status,
            (unsigned long long)(ckvd_now_ms() - st->start_ms));
}

/* Mark the connection's request as answered: the timer no longer cuts it
 * however slowly the answer is read (see the top comment). */
static void watch_answered(struct ckvd_http *h, struct MHD_Connection *conn)
{
    struct conn_watch *w = watch_of(conn);
    if (!w)
        return;
    pthread_mutex_lock(&h->mu);
    w->answered = 1;
    pthread_mutex_unlock(&h->mu);
}

/* Queue r as the answer to the connection's request and log it (-v) with
 * the status actually sent. */
static enum MHD_Result send_resp(struct ckvd_http *h, struct MHD_Connection *conn,
                                 const char *method, const char *url,
                                 const struct ckvd_conn_state *st, struct ckvd_resp *r)
{
    watch_answered(h, conn);
    if (r->status == 0)
        r->status = 500; /* a handler that set no status: a bug, not a success */
    if (!r->body && r->status != 204) {
        /* A handler that failed to allocate its body: say so plainly. */
        static const char oom[] = "{\"error\":\"server out of memory\",\"code\":\"internal\"}";
        r->status = 500;
        r->body = malloc(sizeof(oom));
        if (!r->body) {
            log_request(h, conn, method, url, st, 500);
            return MHD_NO;
        }
        memcpy(r->body, oom, sizeof(oom));
        r->len = sizeof(oom) - 1;
        r->content_type = "application/json";
    }
    log_request(h, conn, method, url, st, r->status);
    struct MHD_Response *mr =
        MHD_create_response_from_buffer(r->len, r->body ? r->body : (void *)"",
                                        r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!mr) {
        free(r->body);
        return MHD_NO;
    }
    if (r->content_type)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    char buf[64];
    if (r->retry_after > 0) {
        snprintf(buf, sizeof(buf), "%d", r->retry_after);
        MHD_add_response_header(mr, MHD_HTTP_HEADER_RETRY_AFTER, buf);
    }
    if (r->cache_seconds > 0) {
        snprintf(buf, sizeof(buf), "public, max-age=%d%s", r->cache_seconds,
                 r->immutable ? ", immutable" : "");
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, buf);
    } else {
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

/* libmicrohttpd's connection notifications: a watch for each connection
 * while it is open (see the top comment). Runs on MHD's thread. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct ckvd_http *h = cls;
    struct conn_watch *w = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        w = calloc(1, sizeof(*w));
        if (!w)
            return; /* not watched: libmicrohttpd's idle timeout still applies */
        w->fd = ci ? ci->connect_fd : -1;
        peer_of(conn, w->peer, sizeof(w->peer));
        pthread_mutex_lock(&h->mu);
        if (h->nwatch == h->capwatch) {
            size_t ncap = h->capwatch ? h->capwatch * 2 : 64;
            struct conn_watch **nw = realloc(h->watch, ncap * sizeof(*nw));
            if (!nw) {
                pthread_mutex_unlock(&h->mu);
                free(w);
                return;
            }
            h->watch = nw;
            h->capwatch = ncap;
        }
        w->since_ms = ckvd_now_ms();
        w->idx = h->nwatch;
        h->watch[h->nwatch++] = w;
        pthread_mutex_unlock(&h->mu);
        *socket_context = w;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && w) {
        pthread_mutex_lock(&h->mu);
        h->watch[w->idx] = h->watch[h->nwatch - 1];
        h->watch[w->idx]->idx = w->idx;
        h->nwatch--;
        pthread_mutex_unlock(&h->mu);
        free(w);
        *socket_context = NULL;
    }
}

/* Mark the connection's request as in hand (busy: its headers arrived) or
 * completed (waiting for the next request's headers); either starts the
 * clock again. Returns the watch, or NULL. */
static struct conn_watch *watch_busy(struct ckvd_http *h, struct MHD_Connection *conn, int busy)
{
    struct conn_watch *w = watch_of(conn);
    if (!w)
        return NULL;
    pthread_mutex_lock(&h->mu);
    w->busy = busy;
    w->parked = 0;
    w->answered = 0;
    w->since_ms = ckvd_now_ms();
    pthread_mutex_unlock(&h->mu);
    return w;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct ckvd_http *h = cls;
    struct ckvd_conn_state *st = *con_cls;
    (void)version;

    if (!st) {
        st = calloc(1, sizeof(*st));
        if (!st)
            return MHD_NO;
        st->conn = conn;
        st->start_ms = ckvd_now_ms();
        *con_cls = st;
        st->watch = watch_busy(h, conn, 1);
        /* A declared body over the cap is refused before it is read (MHD
         * then sends no "100 Continue" and closes the connection). */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strlen(cl) > 0 && (strlen(cl) > 12 || strtoull(cl, NULL, 10) > CKVD_MAX_BODY)) {
            struct ckvd_resp resp = {0};
            ckvd_resp_error(&resp, 413, "body_too_large",
                            "request body is larger than the server accepts (256 KiB); send less");
            return send_resp(h, conn, method, url, st, &resp);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        unsigned idle = h->cfg.idle_timeout_s ? h->cfg.idle_timeout_s : 30;
        *upload_data_size = 0;
        if (!st->too_large && ckvd_now_ms() - st->start_ms > (uint64_t)idle * 1000u) {
            /* A body that trickles in, each piece in time for the idle
             * timeout (which libmicrohttpd resets on every byte) but the
             * whole far too slow, would hold its connection for ever: once
             * the request is older than the idle timeout it is refused and
             * the connection closed. The 408 queued here is what a client
             * would read; libmicrohttpd 0.9.75 (Debian 12's) closes the
             * connection without sending an answer queued before the body
             * is complete, so in practice the client sees the close. */
            struct ckvd_resp resp = {0};
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "the request body came too slowly: the whole request must arrive within "
                     "%u s; send it at once",
                     idle);
            ckvd_resp_error(&resp, 408, "request_timeout", msg);
            return send_resp(h, conn, method, url, st, &resp);
        }
        if (st->too_large || st->len + n > CKVD_MAX_BODY) {
            /* A chunked body over the cap: drain a little (to answer 413
             * at the end), or close the connection if it goes on. */
            st->too_large = 1;
            st->drained += n;
            return st->drained > 16u * CKVD_MAX_BODY ? MHD_NO : MHD_YES;
        }
        if (st->len + n + 1 > st->cap) {
            size_t ncap = st->cap ? st->cap : 1024;
            while (ncap < st->len + n + 1)
                ncap *= 2;
            uint8_t *nb = realloc(st->body, ncap);
            if (!nb)
                return MHD_NO;
            st->body = nb;
            st->cap = ncap;
        }
        memcpy(st->body + st->len, upload_data, n);
        st->len += n;
        st->body[st->len] = 0;
        return MHD_YES;
    }

    struct ckvd_resp resp = {0};
    if (st->too_large) {
        ckvd_resp_error(&resp, 413, "body_too_large",
                        "request body is larger than the server accepts (256 KiB); send less");
        return send_resp(h, conn, method, url, st, &resp);
    }

    struct ckvd_req req = {0};
    req.method = method;
    req.path = url;
    req.body = st->body ? st->body : (const uint8_t *)"";
    req.body_len = st->len;
    req.authorization =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    peer_of(conn, req.peer, sizeof(req.peer));
    req.resumed = st->resumed;
    req.timed_out = st->timed_out;
    req.conn = st;
    req.query = mhd_query;
    req.user = st->user;

    uint64_t key = 0, deadline = 0;
    enum ckvd_handler_result hr = h->cfg.handler(h->cfg.ctx, &req, &resp, &key, &deadline);
    st->user = req.user;
    st->resumed = 0;
    st->timed_out = 0;
    if (hr == CKVD_SUSPEND) {
        pthread_mutex_lock(&h->mu);
        if (h->stopping || (h->nwaiters == h->capwaiters && h->capwaiters >= 65536)) {
            pthread_mutex_unlock(&h->mu);
            free(resp.body);
            resp = (struct ckvd_resp){0};
            ckvd_resp_error(&resp, 503, "busy", "server is busy or shutting down; retry");
            resp.retry_after = 1;
            return send_resp(h, conn, method, url, st, &resp);
        }
        if (h->nwaiters == h->capwaiters) {
            size_t ncap = h->capwaiters ? h->capwaiters * 2 : 64;
            struct waiter *nw = realloc(h->waiters, ncap * sizeof(*nw));
            if (!nw) {
                pthread_mutex_unlock(&h->mu);
                return MHD_NO;
            }
            h->waiters = nw;
            h->capwaiters = ncap;
        }
        h->waiters[h->nwaiters++] = (struct waiter){key, deadline, st};
        if (h->timer_next != 0 && deadline < h->timer_next)
            pthread_cond_signal(&h->timer_cv);
        st->suspended = 1;
        if (st->watch)
            st->watch->parked = 1;
        MHD_suspend_connection(conn);
        pthread_mutex_unlock(&h->mu);
        return MHD_YES;
    }
    return send_resp(h, conn, method, url, st, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct ckvd_http *h = cls;
    struct ckvd_conn_state *st = *con_cls;
    (void)toe;
    watch_busy(h, conn, 0);
    if (!st)
        return;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->nwaiters; i++) {
        if (h->waiters[i].st == st) {
            waiter_remove(h, i);
            break;
        }
    }
    pthread_mutex_unlock(&h->mu);
    if (h->cfg.free_user && st->user)
        h->cfg.free_user(st->user);
    free(st->body);
    free(st);
    *con_cls = NULL;
}

int ckvd_http_start(const struct ckvd_http_config *cfg, struct ckvd_http **out, char *err,
                    size_t errlen)
{
    struct ckvd_http *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    h->cfg = *cfg;
    pthread_mutex_init(&h->mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&h->timer_cv, &ca);
        pthread_condattr_destroy(&ca);
    }

    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(cfg->port);
    if (inet_pton(AF_INET, cfg->listen_addr, &sin.sin_addr) != 1) {
        snprintf(err, errlen, "cannot listen on '%s': not an IPv4 address", cfg->listen_addr);
        goto fail;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC;
    unsigned idle = cfg->idle_timeout_s ? cfg->idle_timeout_s : 30;
    if (cfg->tls_cert_pem)
        flags |= MHD_USE_TLS;
    if (cfg->tls_cert_pem) {
        h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, &sin,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                                MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                                MHD_OPTION_CONNECTION_TIMEOUT, idle,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)CKVD_MAX_CONNECTIONS,
                                MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_conn_per_ip,
                                MHD_OPTION_HTTPS_MEM_CERT, cfg->tls_cert_pem,
                                MHD_OPTION_HTTPS_MEM_KEY, cfg->tls_key_pem, MHD_OPTION_END);
    } else {
        h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, &sin,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                                MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                                MHD_OPTION_CONNECTION_TIMEOUT, idle,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)CKVD_MAX_CONNECTIONS,
                                MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_conn_per_ip,
                                MHD_OPTION_END);
    }
    if (!h->d) {
        snprintf(err, errlen, "cannot listen on %s:%u (port in use, or bad TLS files?)",
                 cfg->listen_addr, (unsigned)cfg->port);
        goto fail;
    }
    if (pthread_create(&h->timer, NULL, timer_main, h) != 0) {
        snprintf(err, errlen, "cannot start the timer thread");
        MHD_stop_daemon(h->d);
        goto fail;
    }
    h->timer_running = 1;
    *out = h;
    return 0;
fail:
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->timer_cv);
    free(h);
    return -1;
}

uint16_t ckvd_http_port(const struct ckvd_http *h)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    return di ? di->port : 0;
}

void ckvd_http_stop(struct ckvd_http *h)
{
    if (!h)
        return;
    MHD_socket ls = MHD_quiesce_daemon(h->d);
    if (ls != MHD_INVALID_SOCKET)
        close(ls); /* quiesce hands the listening socket back to us */
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    pthread_cond_signal(&h->timer_cv);
    pthread_mutex_unlock(&h->mu);
    if (h->timer_running)
        pthread_join(h->timer, NULL);
    /* Let the resumed long-polls answer before the daemon goes away. */
    for (int i = 0; i < 50; i++) {
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (!di || di->num_connections == 0)
            break;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(h->d);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->timer_cv);
    free(h->waiters);
    free(h->watch);
    free(h);
}
