/*
 * testsrv.c: the harness of ckvd's integration tests (testsrv.h): start and
 * stop a real ckvd, make HTTP requests with libcurl, and act as a client
 * (identity keys, signed directory entries, signed logins, prekeys).
 */
#define _GNU_SOURCE
#include "testsrv.h"

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CKVD_BIN
#error "CKVD_BIN must name the ckvd binary"
#endif

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (n + 1024 + 1 > cap) {
            cap *= 2;
            b = realloc(b, cap);
        }
        size_t k = fread(b + n, 1, cap - n - 1, f);
        if (k == 0)
            break;
        n += k;
    }
    fclose(f);
    b[n] = 0;
    if (len)
        *len = n;
    return b;
}

int srv_log_contains(const struct srv *s, const char *needle)
{
    char *t = slurp(s->errlog, NULL);
    int found = t && strstr(t, needle) != NULL;
    free(t);
    return found;
}

int srv_start(struct srv *s, const char *dir, const char *const *extra)
{
    const char *argv[64];
    int n = 0;
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    snprintf(s->errlog, sizeof(s->errlog), "%s.stderr.log", dir);
    mkdir(dir, 0700);
    argv[n++] = CKVD_BIN;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--data";
    argv[n++] = dir;
    for (int i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    s->tls = 0;
    for (int i = 0; i < n; i++)
        if (strcmp(argv[i], "--tls-cert") == 0)
            s->tls = 1;
    /* the previous run's log (and its port) must not be read as this one's */
    unlink(s->errlog);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(s->errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int nul = open("/dev/null", O_WRONLY);
        if (fd < 0 || nul < 0)
            _exit(127);
        dup2(fd, 2);
        dup2(nul, 1);
        execv(CKVD_BIN, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    s->port = 0;
    for (int i = 0; i < 600 && !s->port; i++) {
        struct timespec ts = {0, 25 * 1000 * 1000};
        nanosleep(&ts, NULL);
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            return -1;
        }
        char *t = slurp(s->errlog, NULL);
        /* the start-up line (other lines may name other URLs: witnesses) */
        const char *p = t ? strstr(t, "ckvd: serving ") : NULL;
        p = p ? strstr(p, "://127.0.0.1:") : NULL;
        if (p && strchr(p, '\n'))
            s->port = atoi(p + 13);
        free(t);
    }
    if (!s->port) {
        srv_kill9(s);
        return -1;
    }
    char path[600];
    snprintf(path, sizeof(path), "%s/log.vkey", dir);
    char *vk = slurp(path, NULL);
    if (!vk)
        return -1;
    vk[strcspn(vk, "\n")] = 0;
    snprintf(s->vkey, sizeof(s->vkey), "%s", vk);
    free(vk);
    snprintf(s->origin, sizeof(s->origin), "%.*s", (int)strcspn(s->vkey, "+"), s->vkey);
    return 0;
}

int srv_stop(struct srv *s)
{
    int st = 0;
    if (!s->pid)
        return -1;
    kill(s->pid, SIGTERM);
    if (waitpid(s->pid, &st, 0) != s->pid)
        return -1;
    s->pid = 0;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return -1;
}

void srv_kill9(struct srv *s)
{
    int st;
    if (!s->pid)
        return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    s->pid = 0;
}

int srv_threads(const struct srv *s)
{
    char path[64];
    int n = 0;
    snprintf(path, sizeof(path), "/proc/%d/task", (int)s->pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* --- HTTP ------------------------------------------------------------------ */

struct buf {
    char *p;
    size_t n;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;
    size_t k = size * nmemb;
    char *np = realloc(b->p, b->n + k + 1);
    if (!np)
        return 0;
    b->p = np;
    memcpy(b->p + b->n, ptr, k);
    b->n += k;
    b->p[b->n] = 0;
    return k;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0)
        return;
    const char *v = line + nl;
    size_t vl = len - nl;
    while (vl && (*v == ' '))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
    snprintf(out, cap, "%.*s", (int)vl, v);
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct http_resp *r = ud;
    size_t k = size * nmemb;
    header_value(ptr, k, "Retry-After:", r->retry_after, sizeof(r->retry_after));
    header_value(ptr, k, "Content-Type:", r->ctype, sizeof(r->ctype));
    header_value(ptr, k, "Cache-Control:", r->cache, sizeof(r->cache));
    return k;
}

void http_resp_free(struct http_resp *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

int http(const struct srv *s, const char *method, const char *path, const char *token,
         const char *body, size_t len, struct http_resp *r)
{
    char url[1024], auth[256];
    struct buf b = {NULL, 0};
    struct curl_slist *h = NULL;
    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", s->tls ? "https" : "http", s->port, path);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 90L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (s->tls)
        curl_easy_setopt(c, CURLOPT_CAINFO, s->cafile);
    h = curl_slist_append(h, "Expect:");
    if (body)
        h = curl_slist_append(h, "Content-Type: application/json");
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CURLcode rc = curl_easy_perform(c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r->body = b.p ? b.p : calloc(1, 1);
    r->len = b.n;
    return rc == CURLE_OK ? 0 : -1;
}

const char *err_code(const struct http_resp *r)
{
    static char code[64];
    code[0] = 0;
    json_t *o = json_loadb(r->body, r->len, 0, NULL);
    const char *c = json_string_value(json_object_get(o, "code"));
    if (c)
        snprintf(code, sizeof(code), "%s", c);
    json_decref(o);
    return code;
}

/* --- a client --------------------------------------------------------------- */

void keypair(uint8_t priv[32], uint8_t pub[33])
{
    randombytes_buf(priv, 32);
    priv[0] &= 248; /* Curve25519 clamping */
    priv[31] &= 127;
    priv[31] |= 64;
    if (ckv_xeddsa_public_key(priv, pub) != CKV_OK)
        abort();
}

void acct_new(struct acct *a, const char *name)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->name, sizeof(a->name), "%s", name);
    keypair(a->priv, a->pub);
    a->next_prekey_id = 1;
}

void make_entry(const struct srv *s, const struct acct *a, ckv_dir_type t, uint64_t version,
                const uint8_t new_priv[32], const uint8_t new_pub[33],
                const uint8_t *old_priv, char *buf, size_t cap)
{
    ckv_dir_entry e;
    size_t len = 0;
    memset(&e, 0, sizeof(e));
    snprintf(e.origin, sizeof(e.origin), "%s", s->origin);
    snprintf(e.name, sizeof(e.name), "%s", a->name);
    e.type = t;
    e.version = version;
    memcpy(e.key, new_pub, 33);
    if (version > 1) {
        e.has_prev = 1;
        e.prev_index = a->leaf_index;
        memcpy(e.prev_hash, a->leaf_hash, 32);
    }
    e.time = (int64_t)time(NULL);
    e.has_old_sig = t == CKV_DIR_ROTATE;
    if (ckv_dir_entry_sign_pop(&e, new_priv) != CKV_OK)
        abort();
    if (t == CKV_DIR_ROTATE && old_priv && ckv_dir_entry_sign_rotation(&e, old_priv) != CKV_OK)
        abort();
    if (ckv_dir_entry_encode(&e, buf, cap, &len) != CKV_OK)
        abort();
}

static json_t *b64j(const uint8_t *p, size_t n)
{
    char b[200];
    sodium_bin2base64(b, sizeof(b), p, n, sodium_base64_VARIANT_ORIGINAL);
    return json_string(b);
}

long post_entry(const struct srv *s, const char *entry, const uint8_t sign_priv[32],
                uint32_t first_prekey_id, int nprekeys, struct http_resp *r)
{
    return post_entry_ex(s, entry, sign_priv, first_prekey_id, nprekeys, NULL, NULL, r);
}

long post_entry_ex(const struct srv *s, const char *entry, const uint8_t sign_priv[32],
                   uint32_t first_prekey_id, int nprekeys, const char *recovery_hash,
                   const char *recovery, struct http_resp *r)
{
    uint8_t spriv[32], spub[33], sig[64];
    struct http_resp tmp;
    keypair(spriv, spub);
    if (ckv_xeddsa_sign(sign_priv, spub, 33, sig) != CKV_OK)
        abort();
    json_t *pks = json_array();
    for (int i = 0; i < nprekeys; i++) {
        uint8_t p[32], q[33];
        keypair(p, q);
        json_array_append_new(pks, json_pack("{s:I, s:o}", "id",
                                             (json_int_t)(first_prekey_id + (uint32_t)i), "key",
                                             b64j(q, 33)));
    }
    json_t *o = json_pack("{s:s, s:i, s:{s:i, s:o, s:o}, s:o}", "entry", entry,
                          "registration_id", 1234, "signed_prekey", "id", 1, "key",
                          b64j(spub, 33), "signature", b64j(sig, 64), "prekeys", pks);
    if (recovery_hash)
        json_object_set_new(o, "recovery_hash", json_string(recovery_hash));
    if (recovery)
        json_object_set_new(o, "recovery", json_string(recovery));
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!r)
        r = &tmp;
    http(s, "POST", "/v1/accounts", NULL, body, strlen(body), r);
    free(body);
    long st = r->status;
    if (r == &tmp)
        http_resp_free(&tmp);
    return st;
}

/* After an accepted entry: remember its leaf index and hash. */
static void accepted(struct acct *a, const struct http_resp *r, const char *entry,
                     uint64_t version)
{
    json_t *o = json_loadb(r->body, r->len, 0, NULL);
    a->leaf_index = (uint64_t)json_integer_value(json_object_get(o, "leaf_index"));
    json_decref(o);
    ckv_dir_leaf_hash((const uint8_t *)entry, strlen(entry), a->leaf_hash);
    a->version = version;
}

static long change_key(const struct srv *s, struct acct *a, ckv_dir_type t, int nprekeys)
{
    char entry[CKV_DIR_ENTRY_MAX + 1];
    uint8_t npriv[32], npub[33];
    struct http_resp r;
    if (t == CKV_DIR_REGISTER) {
        memcpy(npriv, a->priv, 32);
        memcpy(npub, a->pub, 33);
    } else {
        keypair(npriv, npub);
    }
    uint64_t v = t == CKV_DIR_REGISTER ? 1 : a->version + 1;
    make_entry(s, a, t, v, npriv, npub, a->priv, entry, sizeof(entry));
    long st = post_entry(s, entry, npriv, a->next_prekey_id, nprekeys, &r);
    if (st == 200) {
        accepted(a, &r, entry, v);
        memcpy(a->priv, npriv, 32);
        memcpy(a->pub, npub, 33);
        a->next_prekey_id += (uint32_t)nprekeys;
    }
    http_resp_free(&r);
    sodium_memzero(npriv, sizeof(npriv));
    return st;
}

long acct_register(const struct srv *s, struct acct *a, int nprekeys)
{
    return change_key(s, a, CKV_DIR_REGISTER, nprekeys);
}

long acct_rotate(const struct srv *s, struct acct *a, int nprekeys)
{
    return change_key(s, a, CKV_DIR_ROTATE, nprekeys);
}

long acct_reset(const struct srv *s, struct acct *a, int nprekeys)
{
    return change_key(s, a, CKV_DIR_RESET, nprekeys);
}

void login_body(const struct srv *s, const char *name, const uint8_t priv[32], int64_t t,
                char *buf, size_t cap)
{
    uint8_t nonce[24], sig[64];
    char nb[64], sb[100], msg[600];
    randombytes_buf(nonce, sizeof(nonce));
    sodium_bin2base64(nb, sizeof(nb), nonce, sizeof(nonce), sodium_base64_VARIANT_ORIGINAL);
    int ml = snprintf(msg, sizeof(msg), "ckv login v1\n%s\n%s\n%lld\n%s", s->origin, name,
                      (long long)t, nb);
    if (ckv_xeddsa_sign(priv, (const uint8_t *)msg, (size_t)ml, sig) != CKV_OK)
        abort();
    sodium_bin2base64(sb, sizeof(sb), sig, 64, sodium_base64_VARIANT_ORIGINAL);
    snprintf(buf, cap, "{\"name\":\"%s\",\"time\":%lld,\"nonce\":\"%s\",\"signature\":\"%s\"}",
             name, (long long)t, nb, sb);
}

long acct_login(const struct srv *s, struct acct *a)
{
    char body[1024];
    struct http_resp r;
    login_body(s, a->name, a->priv, (int64_t)time(NULL), body, sizeof(body));
    http(s, "POST", "/v1/login", NULL, body, strlen(body), &r);
    if (r.status == 200) {
        json_t *o = json_loadb(r.body, r.len, 0, NULL);
        const char *t = json_string_value(json_object_get(o, "token"));
        snprintf(a->token, sizeof(a->token), "%s", t ? t : "");
        json_decref(o);
    }
    long st = r.status;
    http_resp_free(&r);
    return st;
}

long send_msg(const struct srv *s, const struct acct *from, const char *to, const char *text,
              int64_t *id_out)
{
    char b64[4096], body[4400];
    struct http_resp r;
    sodium_bin2base64(b64, sizeof(b64), (const uint8_t *)text, strlen(text),
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(body, sizeof(body), "{\"to\":\"%s\",\"envelope\":{\"type\":2,\"body\":\"%s\"}}", to,
             b64);
    http(s, "POST", "/v1/messages", from->token, body, strlen(body), &r);
    if (r.status == 200 && id_out) {
        json_t *o = json_loadb(r.body, r.len, 0, NULL);
        *id_out = json_integer_value(json_object_get(o, "id"));
        json_decref(o);
    }
    long st = r.status;
    http_resp_free(&r);
    return st;
}
