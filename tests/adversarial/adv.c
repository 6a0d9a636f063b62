/*
 * adv.c: see adv.h.
 */
#define _GNU_SOURCE
#include "adv.h"

#include <jansson.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckv/session.h"

void adv_user_via(user *u, const srv *s, const char *url, const char *name)
{
    srv via = *s;
    snprintf(via.url, sizeof via.url, "%s", url);
    user_new(u, &via, name, s->vkey);
}

void adv_reopen(user *u, int64_t max_age)
{
    ckv_client_options o = {0};
    o.max_checkpoint_age = max_age;
    o.timeout_ms = 5000;
    ckv_client_close(u->c);
    u->c = NULL;
    OK(NULL, ckv_client_open(u->p, &o, &u->c));
}

void adv_register(user *u)
{
    OK(u->c, ckv_client_register(u->c));
}

int adv_state(user *u, const char *name)
{
    ckv_contact *c = NULL;
    if (ckv_contact_get(u->p, name, &c) != CKV_OK)
        return -1;
    int s = (int)c->state;
    ckv_contact_free(c);
    return s;
}

int adv_pinned(user *u, const char *name, uint8_t key[33])
{
    ckv_contact *c = NULL;
    if (ckv_contact_get(u->p, name, &c) != CKV_OK)
        return 0;
    memcpy(key, c->identity_key, 33);
    ckv_contact_free(c);
    return 1;
}

const ckv_event *adv_find(const ckv_event *ev, size_t n, ckv_event_kind kind, size_t nth)
{
    for (size_t i = 0; i < n; i++)
        if (ev[i].kind == kind && nth-- == 0)
            return &ev[i];
    return NULL;
}

void adv_recv(user *u, int wait, ckv_event **all, size_t *n)
{
    ckv_event *ev = NULL;
    size_t k = 0;
    OK(u->c, ckv_client_receive(u->c, wait, &ev, &k));
    if (k > 0) {
        ckv_event *nv = realloc(*all, (*n + k) * sizeof *nv);
        assert_non_null(nv);
        memcpy(nv + *n, ev, k * sizeof *ev);
        *all = nv;
        *n += k;
    }
    free(ev);
}

void adv_events_reset(ckv_event **all, size_t *n)
{
    ckv_client_events_free(*all, *n);
    *all = NULL;
    *n = 0;
}

void adv_rm(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

void adv_snapshot(srv *s, char snap[256])
{
    char tmpl[] = "/tmp/ckv-adv-snap-XXXXXX", cmd[800];
    srv_kill(s, SIGTERM);
    assert_non_null(mkdtemp(tmpl));
    snprintf(cmd, sizeof cmd, "cp -a '%s/data' '%s/data'", s->dir, tmpl);
    assert_int_equal(system(cmd), 0);
    srv_restart(s);
    snprintf(snap, 256, "%s", tmpl);
}

void adv_restore(srv *s, const char *snap)
{
    char cmd[800];
    srv_kill(s, SIGKILL);
    snprintf(cmd, sizeof cmd, "rm -rf '%s/data' && cp -a '%s/data' '%s/data'", s->dir, snap,
             s->dir);
    assert_int_equal(system(cmd), 0);
    srv_restart(s);
}

void adv_fork(srv *s, srv *f, const char *const *fork_args)
{
    const char *const *s_args = harness_ckvd_args;
    char tmpl[] = "/tmp/ckv-adv-fork-XXXXXX", cmd[800];
    srv_kill(s, SIGTERM);
    assert_non_null(mkdtemp(tmpl));
    snprintf(cmd, sizeof cmd, "cp -a '%s/data' '%s/data'", s->dir, tmpl);
    assert_int_equal(system(cmd), 0);
    srv_restart(s);
    *f = *s;
    snprintf(f->dir, sizeof f->dir, "%s", tmpl);
    f->port = 0;
    f->pid = 0;
    harness_ckvd_args = fork_args;
    srv_restart(f);
    harness_ckvd_args = s_args;
}

static char *edit(char *json, const char *key, json_t *value)
{
    json_t *o = json_loads(json, 0, NULL);
    assert_non_null(o);
    json_object_set_new(o, key, value);
    free(json);
    json = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_non_null(json);
    return json;
}

char *adv_json_set_str(char *json, const char *key, const char *value)
{
    return edit(json, key, json_string(value));
}

char *adv_json_set_int(char *json, const char *key, long long value)
{
    return edit(json, key, json_integer(value));
}

char *adv_json_get_str(const char *json, const char *key)
{
    json_t *o = json_loads(json, 0, NULL);
    const char *v = json_string_value(json_object_get(o, key));
    char *r = v ? strdup(v) : NULL;
    json_decref(o);
    return r;
}

char *adv_json_flip_hash(char *json, const char *key, size_t i)
{
    json_t *o = json_loads(json, 0, NULL), *p;
    uint8_t h[32];
    size_t hl = 0;
    char b64[64];
    assert_non_null(o);
    p = json_object_get(o, key);
    assert_true(json_array_size(p) > i);
    assert_int_equal(sodium_base642bin(h, sizeof h, json_string_value(json_array_get(p, i)), 44,
                                       NULL, &hl, NULL, sodium_base64_VARIANT_ORIGINAL),
                     0);
    h[7] ^= 0x10;
    sodium_bin2base64(b64, sizeof b64, h, 32, sodium_base64_VARIANT_ORIGINAL);
    json_array_set_new(p, i, json_string(b64));
    free(json);
    json = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return json;
}

int adv_canned_before(void *ctx, const liar_req *req, const char **target, liar_resp *resp)
{
    adv_canned *c = ctx;
    (void)target;
    if (c->method != NULL && strcmp(c->method, req->method) != 0)
        return 0;
    if (c->prefix ? strncmp(req->path, c->path, strlen(c->path)) != 0
                  : strcmp(req->path, c->path) != 0)
        return 0;
    c->hits++;
    liar_resp_set(resp, c->status, "application/json", c->body, strlen(c->body));
    return 1;
}

void adv_lie(liar *px, adv_canned *c, const char *method, const char *path, long status,
             const char *body)
{
    liar_hooks(px, NULL, NULL, NULL);
    adv_canned_clear(c);
    c->method = method;
    snprintf(c->path, sizeof c->path, "%s", path);
    c->prefix = 0;
    c->status = status;
    c->body = strdup(body);
    c->hits = 0;
    liar_hooks(px, adv_canned_before, NULL, c);
}

void adv_canned_clear(adv_canned *c)
{
    free(c->body);
    memset(c, 0, sizeof *c);
}

char *adv_get(const char *base, const char *path)
{
    for (int i = 0; i < 100; i++) {
        char *b = liar_http_get(base, path, NULL);
        if (b != NULL)
            return b;
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
    }
    fail_msg("GET %s%s never answered 200", base, path);
    return NULL;
}

size_t adv_history_len(user *u, const char *contact)
{
    ckv_message *h = NULL;
    size_t n = 0;
    ckv_status st = ckv_history_list(u->p, contact, 0, &h, &n);
    if (st == CKV_ERR_NO_CONTACT)
        return 0;
    assert_int_equal(st, CKV_OK);
    ckv_history_free(h, n);
    return n;
}

#ifdef CKV_WITNESS_PATH
void adv_witness_pause(witness_proc *w)
{
    int st;
    assert_true(w->pid > 0);
    kill(w->pid, SIGTERM);
    waitpid(w->pid, &st, 0);
    w->pid = 0;
}

void adv_witness_resume(witness_proc *w, const char *name, const char *log_vkey)
{
    char listen[64], data[300], errlog[300];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", w->port);
    snprintf(data, sizeof data, "%s/data", w->dir);
    snprintf(errlog, sizeof errlog, "%s/stderr-again.log", w->dir);
    unlink(errlog);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a test that stopped early */
        int fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int nul = open("/dev/null", O_WRONLY);
        if (fd < 0 || nul < 0)
            _exit(127);
        dup2(fd, 2);
        dup2(nul, 1);
        execl(CKV_WITNESS_PATH, "ckv-witness", "--listen", listen, "--data", data, "--log",
              log_vkey, "--name", name, (char *)NULL);
        _exit(127);
    }
    w->pid = pid;
    for (int i = 0; i < 400; i++) {
        char buf[4096] = "";
        FILE *f = fopen(errlog, "r");
        if (f != NULL) {
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            buf[n] = 0;
            fclose(f);
        }
        if (strstr(buf, "on http://") != NULL)
            return;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            fail_msg("ckv-witness did not start again: %s", buf);
        struct timespec ts = {0, 25000000L};
        nanosleep(&ts, NULL);
    }
    fail_msg("ckv-witness did not start again");
}

long long adv_witness_size(witness_proc *w)
{
    char cmd[700], line[1024];
    long long size = -1;
    snprintf(cmd, sizeof cmd, "'%s' status --data '%s/data' 2>/dev/null", CKV_WITNESS_PATH,
             w->dir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL) {
        const char *p = strstr(line, " size ");
        if (p != NULL)
            size = strtoll(p + 6, NULL, 10);
    }
    pclose(f);
    return size;
}
#endif

#ifdef CKV_AUDIT_PATH
int adv_audit(const char *state_dir, const char *vkey, const char *url, char *out, size_t cap)
{
    char cmd[1600], line[1024];
    snprintf(cmd, sizeof cmd, "'%s' --quiet --timeout 20 --state '%s' --vkey '%s' '%s' 2>&1",
             CKV_AUDIT_PATH, state_dir, vkey, url);
    if (out != NULL && cap > 0)
        out[0] = 0;
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL) {
        const char *p = strstr(line, state_dir);
        if (p != NULL && out != NULL && strstr(line, ".json") != NULL) {
            size_t l = strcspn(p, " \n\t'\"");
            snprintf(out, cap, "%.*s", (int)l, p);
        }
    }
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int adv_verify_evidence(const char *file)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' verify-evidence '%s' >/dev/null 2>&1", CKV_AUDIT_PATH, file);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void adv_expect_evidence(const char *error, const char *kind)
{
    static const char lead[] = "evidence written to ";
    char evpath[700];
    const char *p = strstr(error, lead);
    assert_non_null(p);
    snprintf(evpath, sizeof evpath, "%s", p + strlen(lead));
    assert_non_null(strstr(evpath, kind));
    assert_int_equal(adv_verify_evidence(evpath), 0);
}
#endif
