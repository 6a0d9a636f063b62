/*
 * harness.c: see harness.h. ckvd is the real binary (CKVD_PATH, set by
 * CMake), started with --listen 127.0.0.1:0; the port is read from its
 * "serving ... on http://127.0.0.1:PORT" log line on stderr.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#define PASS ((const uint8_t *)"online test passphrase")
#define PASS_LEN 22

static void msleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    size_t n;
    if (f == NULL)
        return NULL;
    buf = calloc(1, 65536);
    n = buf ? fread(buf, 1, 65535, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

const char *harness_limit = NULL;
const char *const *harness_ckvd_args = NULL;

/* Start path with argv, stderr to errlog; wait for its "serving ... on
 * http://127.0.0.1:PORT" line and return the port. */
static int spawn_prog(const char *path, char *const argv[], const char *errlog, pid_t *pid_out,
                      int may_fail)
{
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
        execv(path, argv);
        _exit(127);
    }
    *pid_out = pid;
    for (int i = 0; i < 400; i++) {
        char *log = slurp(errlog);
        const char *m = log ? strstr(log, "on http://127.0.0.1:") : NULL;
        if (m != NULL) {
            int port = atoi(m + strlen("on http://127.0.0.1:"));
            free(log);
            return port;
        }
        free(log);
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            if (may_fail)
                return -1;
            fail_msg("%s exited at start", argv[0]);
        }
        msleep(25);
    }
    fail_msg("%s did not start", argv[0]);
    return -1;
}

static void spawn(srv *s)
{
    char listen[64], data[300], errlog[300];
    char *argv[48];
    int n = 0;
    snprintf(listen, sizeof listen, "127.0.0.1:%d", s->port);
    snprintf(data, sizeof data, "%s/data", s->dir);
    snprintf(errlog, sizeof errlog, "%s/stderr.log", s->dir);
    argv[n++] = (char *)"ckvd";
    argv[n++] = (char *)"--listen";
    argv[n++] = listen;
    argv[n++] = (char *)"--data";
    argv[n++] = data;
    argv[n++] = (char *)"--checkpoint-interval";
    argv[n++] = (char *)"50";
    if (harness_limit != NULL) {
        argv[n++] = (char *)"--limit";
        argv[n++] = (char *)harness_limit;
    }
    for (size_t i = 0; harness_ckvd_args != NULL && harness_ckvd_args[i] != NULL && n < 46; i++)
        argv[n++] = (char *)harness_ckvd_args[i];
    argv[n] = NULL;
    s->port = spawn_prog(CKVD_PATH, argv, errlog, &s->pid, 0);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
}

#ifdef CKV_WITNESS_PATH
void witness_start(witness_proc *w, const char *name, const char *log_vkey)
{
    char tmpl[] = "/tmp/ckv-online-witness-XXXXXX", data[300], errlog[300], path[320];
    char *argv[] = {(char *)"ckv-witness", (char *)"--listen", (char *)"127.0.0.1:0",
                    (char *)"--data",      data,              (char *)"--log",
                    (char *)log_vkey,      (char *)"--name",  (char *)name,
                    NULL};
    memset(w, 0, sizeof *w);
    assert_non_null(mkdtemp(tmpl));
    snprintf(w->dir, sizeof w->dir, "%s", tmpl);
    snprintf(data, sizeof data, "%s/data", w->dir);
    snprintf(errlog, sizeof errlog, "%s/stderr.log", w->dir);
    w->port = spawn_prog(CKV_WITNESS_PATH, argv, errlog, &w->pid, 1);
    assert_true(w->port > 0);
    snprintf(w->url, sizeof w->url, "http://127.0.0.1:%d", w->port);
    snprintf(path, sizeof path, "%s/witness.vkey", data);
    char *k = slurp(path);
    assert_non_null(k);
    k[strcspn(k, "\r\n")] = 0;
    snprintf(w->vkey, sizeof w->vkey, "%s", k);
    free(k);
}

void witness_stop(witness_proc *w)
{
    int st;
    char cmd[600];
    if (w->pid > 0) {
        kill(w->pid, SIGTERM);
        waitpid(w->pid, &st, 0);
        w->pid = 0;
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", w->dir);
    if (w->dir[0] && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", w->dir);
}
#endif

void srv_start(srv *s)
{
    char tmpl[] = "/tmp/ckv-online-XXXXXX", path[300];
    memset(s, 0, sizeof *s);
    assert_non_null(mkdtemp(tmpl));
    snprintf(s->dir, sizeof s->dir, "%s", tmpl);
    spawn(s);
    snprintf(path, sizeof path, "%s/data/log.vkey", s->dir);
    char *k = slurp(path);
    assert_non_null(k);
    size_t n = strcspn(k, "\r\n");
    k[n] = 0;
    snprintf(s->vkey, sizeof s->vkey, "%s", k);
    free(k);
}

void srv_clone(srv *from, srv *to)
{
    char tmpl[] = "/tmp/ckv-online-XXXXXX", cmd[700];
    memset(to, 0, sizeof *to);
    assert_non_null(mkdtemp(tmpl));
    snprintf(to->dir, sizeof to->dir, "%s", tmpl);
    srv_kill(from, SIGTERM);
    snprintf(cmd, sizeof cmd, "cp -a '%s/data' '%s/data'", from->dir, to->dir);
    assert_int_equal(system(cmd), 0);
    spawn(from);
    spawn(to);
    snprintf(to->vkey, sizeof to->vkey, "%s", from->vkey);
}

void srv_restart(srv *s)
{
    spawn(s);
}

void srv_kill(srv *s, int sig)
{
    int st;
    if (s->pid <= 0)
        return;
    kill(s->pid, sig);
    waitpid(s->pid, &st, 0);
    s->pid = 0;
}

static void rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

void srv_stop(srv *s)
{
    srv_kill(s, SIGTERM);
    rm_rf(s->dir);
}

static sqlite3 *srv_db(srv *s)
{
    char path[300];
    sqlite3 *db = NULL;
    snprintf(path, sizeof path, "%s/data/ckvd.db", s->dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

int srv_sql(srv *s, const char *sql)
{
    sqlite3 *db = srv_db(s);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

long long srv_sql_int(srv *s, const char *sql)
{
    sqlite3 *db = srv_db(s);
    sqlite3_stmt *q = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

long long srv_queued(srv *s, const char *name)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM messages WHERE recipient = (SELECT id FROM accounts WHERE "
             "name = '%s')",
             name);
    return srv_sql_int(s, sql);
}

void user_new(user *u, const srv *s, const char *name, const char *vkey)
{
    char tmpl[] = "/tmp/ckv-online-user-XXXXXX";
    ckv_client_options o = {0};
    memset(u, 0, sizeof *u);
    assert_non_null(mkdtemp(tmpl));
    snprintf(u->dir, sizeof u->dir, "%s/p", tmpl);
    assert_int_equal(ckv_profile_create(u->dir, name, PASS, PASS_LEN, CKV_KDF_MIN, &u->p), CKV_OK);
    assert_int_equal(ckv_profile_pin_server(u->p, s->url, vkey ? vkey : s->vkey), CKV_OK);
    o.timeout_ms = 5000;
    assert_int_equal(ckv_client_open(u->p, &o, &u->c), CKV_OK);
}

void user_new_opts(user *u, const char *url, const char *vkey, const char *name,
                   const ckv_client_options *o, const char *const *witnesses, size_t n,
                   unsigned quorum)
{
    char tmpl[] = "/tmp/ckv-online-user-XXXXXX";
    memset(u, 0, sizeof *u);
    assert_non_null(mkdtemp(tmpl));
    snprintf(u->dir, sizeof u->dir, "%s/p", tmpl);
    assert_int_equal(ckv_profile_create(u->dir, name, PASS, PASS_LEN, CKV_KDF_MIN, &u->p), CKV_OK);
    assert_int_equal(ckv_profile_pin_server(u->p, url, vkey), CKV_OK);
    if (n > 0)
        assert_int_equal(ckv_profile_pin_witnesses(u->p, witnesses, n, quorum), CKV_OK);
    assert_int_equal(ckv_client_open(u->p, o, &u->c), CKV_OK);
}

void user_free(user *u)
{
    char *slash;
    ckv_client_close(u->c);
    ckv_profile_close(u->p);
    slash = strrchr(u->dir, '/');
    if (slash != NULL) {
        *slash = 0;
        rm_rf(u->dir);
    }
    memset(u, 0, sizeof *u);
}

size_t count_kind(const ckv_event *ev, size_t n, ckv_event_kind kind)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ev[i].kind == kind;
    return k;
}

size_t recv_until(user *u, ckv_event_kind kind, size_t want, ckv_event **all, size_t *n)
{
    for (int round = 0; round < 10 && count_kind(*all, *n, kind) < want; round++) {
        ckv_event *ev = NULL;
        size_t k = 0;
        ckv_status st = ckv_client_receive(u->c, 1, &ev, &k);
        if (st != CKV_OK)
            fail_msg("receive: %s: %s", ckv_status_name(st), ckv_client_last_error(u->c));
        if (k > 0) {
            ckv_event *nv = realloc(*all, (*n + k) * sizeof *nv);
            assert_non_null(nv);
            memcpy(nv + *n, ev, k * sizeof *ev);
            *all = nv;
            *n += k;
            free(ev); /* texts moved */
        } else {
            free(ev);
        }
    }
    return count_kind(*all, *n, kind);
}
