/*
 * liar.c: the lying server (liar.h). A small HTTP/1.1 reader (one request
 * per connection, Content-Length bodies only, which is all libckv sends),
 * libcurl to forward, and the test's hooks in between. Only 127.0.0.1.
 */
#define _GNU_SOURCE
#include "liar.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQ_MAX (1 << 21)

struct cbuf {
    char *d;
    size_t n;
};

static size_t collect(char *p, size_t s, size_t m, void *ud)
{
    struct cbuf *b = ud;
    char *nd = realloc(b->d, b->n + s * m + 1);
    if (nd == NULL)
        return 0;
    b->d = nd;
    memcpy(b->d + b->n, p, s * m);
    b->n += s * m;
    b->d[b->n] = 0;
    return s * m;
}

void liar_resp_set(liar_resp *resp, long status, const char *type, const char *body, size_t len)
{
    char *nb = malloc(len + 1);
    if (nb == NULL)
        return;
    memcpy(nb, body, len);
    nb[len] = 0;
    free(resp->body);
    resp->body = nb;
    resp->len = len;
    if (status != 0)
        resp->status = status;
    if (type != NULL) {
        free(resp->type);
        resp->type = strdup(type);
    }
}

int liar_path_is(const liar_req *req, const char *method, const char *prefix)
{
    return (method == NULL || strcmp(req->method, method) == 0) &&
           strncmp(req->path, prefix, strlen(prefix)) == 0;
}

static void answer(int fd, const liar_resp *r)
{
    char h[512];
    int hl = snprintf(h, sizeof h,
                      "HTTP/1.1 %ld X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      r->status, r->type ? r->type : "application/json", r->len);
    if (write(fd, h, (size_t)hl) < 0 || (r->len > 0 && write(fd, r->body, r->len) < 0))
        return;
}

/* Forward req to target; *resp gets the real answer (502 when unreachable). */
static void forward(const char *target, const liar_req *req, const char *auth, liar_resp *resp)
{
    char url[1400];
    struct cbuf out = {0};
    struct curl_slist *hs = NULL;
    char *ct = NULL;
    CURL *e = curl_easy_init();

    resp->status = 502;
    if (e == NULL)
        return;
    if (auth[0])
        hs = curl_slist_append(hs, auth);
    hs = curl_slist_append(hs, "Content-Type: application/json");
    hs = curl_slist_append(hs, "Expect:");
    snprintf(url, sizeof url, "%s%s", target, req->path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 40L);
    if (req->body_len > 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
    }
    if (curl_easy_perform(e) == CURLE_OK) {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
        curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
        resp->type = strdup(ct ? ct : "application/json");
        resp->body = out.d ? out.d : strdup("");
        resp->len = out.n;
        out.d = NULL;
    }
    free(out.d);
    curl_easy_cleanup(e);
    curl_slist_free_all(hs);
}

static void serve(liar *px, int fd)
{
    char *req = calloc(1, REQ_MAX), method[16], path[1024], auth[600] = "";
    size_t n = 0, clen = 0;
    char *hend = NULL;
    liar_req rq;
    liar_resp resp = {0};
    const char *target;
    liar_before_fn before;
    liar_after_fn after;
    void *ctx;

    if (req == NULL)
        return;
    while (n < REQ_MAX - 1) {
        ssize_t r = read(fd, req + n, REQ_MAX - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        req[n] = 0;
        hend = strstr(req, "\r\n\r\n");
        if (hend != NULL) {
            char *cl = strcasestr(req, "\r\nContent-Length:");
            clen = cl && cl < hend ? strtoul(cl + 17, NULL, 10) : 0;
            if (n >= (size_t)(hend + 4 - req) + clen)
                break;
        }
    }
    if (hend == NULL || (size_t)(hend + 4 - req) + clen >= REQ_MAX ||
        sscanf(req, "%15s %1023s", method, path) != 2) {
        free(req);
        return;
    }
    char *a = strcasestr(req, "\r\nAuthorization:");
    if (a != NULL && a < hend) {
        size_t l = strcspn(a + 2, "\r\n");
        if (l < sizeof auth) {
            memcpy(auth, a + 2, l);
            auth[l] = 0;
        }
    }
    rq.method = method;
    rq.path = path;
    rq.body = hend + 4;
    rq.body_len = clen;
    hend[4 + clen] = 0;

    pthread_mutex_lock(&px->lock);
    before = px->before;
    after = px->after;
    ctx = px->ctx;
    target = px->target;
    if (before != NULL && before(ctx, &rq, &target, &resp)) {
        px->lies++;
        if (resp.status == 0)
            resp.status = 200;
        answer(fd, &resp);
        pthread_mutex_unlock(&px->lock);
        goto out;
    }
    pthread_mutex_unlock(&px->lock);
    forward(target, &rq, auth, &resp);
    pthread_mutex_lock(&px->lock);
    if (after != NULL) {
        const char *was = resp.body;
        long st = resp.status;
        after(ctx, &rq, &resp);
        if (resp.body != was || resp.status != st)
            px->lies++;
    }
    pthread_mutex_unlock(&px->lock);
    answer(fd, &resp);
out:
    free(resp.body);
    free(resp.type);
    free(req);
}

static void *run(void *arg)
{
    liar *px = arg;
    for (;;) {
        int fd = accept(px->sock, NULL, NULL);
        if (fd < 0)
            break;
        if (px->stopping) {
            close(fd);
            break;
        }
        serve(px, fd);
        close(fd);
    }
    return NULL;
}

int liar_start(liar *px, const char *target)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    memset(px, 0, sizeof *px);
    snprintf(px->target, sizeof px->target, "%s", target);
    pthread_mutex_init(&px->lock, NULL);
    px->sock = socket(AF_INET, SOCK_STREAM, 0);
    if (px->sock < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(px->sock, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(px->sock, 16) != 0 ||
        getsockname(px->sock, (struct sockaddr *)&sa, &sl) != 0)
        return -1;
    snprintf(px->url, sizeof px->url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    return pthread_create(&px->thread, NULL, run, px) == 0 ? 0 : -1;
}

void liar_hooks(liar *px, liar_before_fn before, liar_after_fn after, void *ctx)
{
    pthread_mutex_lock(&px->lock);
    px->before = before;
    px->after = after;
    px->ctx = ctx;
    px->lies = 0;
    pthread_mutex_unlock(&px->lock);
}

int liar_lies(liar *px)
{
    pthread_mutex_lock(&px->lock);
    int n = px->lies;
    pthread_mutex_unlock(&px->lock);
    return n;
}

void liar_stop(liar *px)
{
    px->stopping = 1;
    shutdown(px->sock, SHUT_RDWR);
    close(px->sock);
    pthread_join(px->thread, NULL);
    pthread_mutex_destroy(&px->lock);
}

char *liar_http_get(const char *base, const char *path, size_t *len)
{
    char url[1400];
    struct cbuf out = {0};
    long status = 0;
    CURL *e = curl_easy_init();
    snprintf(url, sizeof url, "%s%s", base, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(e) != CURLE_OK ||
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200) {
        free(out.d);
        out.d = NULL;
    }
    curl_easy_cleanup(e);
    if (out.d != NULL && len != NULL)
        *len = out.n;
    return out.d;
}
