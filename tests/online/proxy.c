/*
 * proxy.c: a tiny lying HTTP front for ckvd, for the online tests: it
 * forwards every request to the real ckvd (libcurl) except the one path the
 * test overrides, which it answers with the test's canned body. One thread,
 * one connection at a time, "Connection: close" on every answer.
 */
#define _GNU_SOURCE
#include "proxy.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

static void answer(int fd, long status, const char *type, const char *body, size_t len)
{
    char h[256];
    int hl = snprintf(h, sizeof h,
                      "HTTP/1.1 %ld X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      status, type, len);
    if (write(fd, h, (size_t)hl) < 0 || (len > 0 && write(fd, body, len) < 0))
        return;
}

static void serve(proxy *px, int fd)
{
    char *req = calloc(1, 1 << 20), method[16], path[1024];
    size_t n = 0, clen = 0;
    char *hend = NULL;
    if (req == NULL)
        return;
    while (n < (1 << 20) - 1) {
        ssize_t r = read(fd, req + n, (1 << 20) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        req[n] = 0;
        hend = strstr(req, "\r\n\r\n");
        if (hend != NULL) {
            char *cl = strcasestr(req, "Content-Length:");
            clen = cl && cl < hend ? strtoul(cl + 15, NULL, 10) : 0;
            if (n >= (size_t)(hend + 4 - req) + clen)
                break;
        }
    }
    if (hend == NULL || sscanf(req, "%15s %1023s", method, path) != 2) {
        free(req);
        return;
    }
    pthread_mutex_lock(&px->lock);
    if (px->override_path != NULL && strcmp(path, px->override_path) == 0 && !px->forward_first) {
        answer(fd, px->override_status ? px->override_status : 200, "application/json",
               px->override_body, strlen(px->override_body));
        px->hits++;
        pthread_mutex_unlock(&px->lock);
        free(req);
        return;
    }
    pthread_mutex_unlock(&px->lock);
    /* forward */
    char url[1200], auth[300] = "";
    struct cbuf out = {0};
    struct curl_slist *hs = NULL;
    char *a = strcasestr(req, "\r\nAuthorization:");
    if (a != NULL && a < hend) {
        size_t l = strcspn(a + 2, "\r\n");
        if (l < sizeof auth) {
            memcpy(auth, a + 2, l);
            auth[l] = 0;
            hs = curl_slist_append(hs, auth);
        }
    }
    hs = curl_slist_append(hs, "Content-Type: application/json");
    pthread_mutex_lock(&px->lock);
    int alt = px->alt_target[0] != 0 &&
              (strcmp(path, "/checkpoint") == 0 || strncmp(path, "/tile/", 6) == 0 ||
               strncmp(path, "/v1/log/", 8) == 0 || strncmp(path, "/v1/directory/", 14) == 0);
    snprintf(url, sizeof url, "%s%s", alt ? px->alt_target : px->target, path);
    pthread_mutex_unlock(&px->lock);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 40L);
    if (clen > 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, hend + 4);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)clen);
    }
    long status = 502;
    char *ct = NULL;
    if (curl_easy_perform(e) == CURLE_OK) {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
    }
    pthread_mutex_lock(&px->lock);
    if (px->override_path != NULL && strcmp(path, px->override_path) == 0 && px->forward_first) {
        answer(fd, px->override_status, "application/json", px->override_body,
               strlen(px->override_body));
        px->hits++;
    } else {
        char *nb = NULL;
        size_t nl = 0;
        if (status == 200 && px->rewrite != NULL && out.d != NULL)
            nb = px->rewrite(px->rewrite_ctx, path, out.d, out.n, &nl);
        if (nb != NULL)
            answer(fd, status, ct ? ct : "application/json", nb, nl);
        else
            answer(fd, status, ct ? ct : "application/json", out.d ? out.d : "", out.n);
        free(nb);
    }
    pthread_mutex_unlock(&px->lock);
    curl_easy_cleanup(e);
    curl_slist_free_all(hs);
    free(out.d);
    free(req);
}

static void *run(void *arg)
{
    proxy *px = arg;
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

int proxy_start(proxy *px, const char *target)
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

void proxy_override(proxy *px, const char *path, const char *body)
{
    pthread_mutex_lock(&px->lock);
    free(px->override_path);
    free(px->override_body);
    px->override_path = path ? strdup(path) : NULL;
    px->override_body = body ? strdup(body) : NULL;
    px->hits = 0;
    px->override_status = 200;
    px->forward_first = 0;
    pthread_mutex_unlock(&px->lock);
}

void proxy_lie_after(proxy *px, const char *path, long status, const char *body)
{
    proxy_override_status(px, path, status, body);
    pthread_mutex_lock(&px->lock);
    px->forward_first = 1;
    pthread_mutex_unlock(&px->lock);
}

void proxy_override_status(proxy *px, const char *path, long status, const char *body)
{
    proxy_override(px, path, body);
    pthread_mutex_lock(&px->lock);
    px->override_status = status;
    pthread_mutex_unlock(&px->lock);
}

void proxy_split(proxy *px, const char *target)
{
    pthread_mutex_lock(&px->lock);
    snprintf(px->alt_target, sizeof px->alt_target, "%s", target);
    pthread_mutex_unlock(&px->lock);
}

void proxy_stop(proxy *px)
{
    px->stopping = 1;
    shutdown(px->sock, SHUT_RDWR);
    close(px->sock);
    pthread_join(px->thread, NULL);
    proxy_override(px, NULL, NULL);
    pthread_mutex_destroy(&px->lock);
}

char *http_get(const char *url)
{
    struct cbuf out = {0};
    long status = 0;
    CURL *e = curl_easy_init();
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
    return out.d;
}
