/*
 * test_witness_proc.c: ckv-witness and ckvd with witnesses, as real
 * processes on 127.0.0.1 free ports (ctest runs each group by name).
 *
 *   witness DIR   ckv-witness over HTTP: first start (key 0600, vkey printed
 *                 and written), cosigning a growing log, every refusal of
 *                 c2sp.org/tlog-witness (400, 403, 404, 405, 409 with the
 *                 size, 413, 422), the conflicts command, a restart that
 *                 keeps the state, one witness per directory, SIGTERM.
 *   ckvd DIR      ckvd with three witnesses and quorum 2: /checkpoint carries
 *                 cosignatures that verify; with one witness down it still
 *                 advances; with two down it keeps serving the older cosigned
 *                 checkpoint, and lookups prove against it; a stalled witness
 *                 (SIGSTOP) does not stop the others' quorum; a restart of ckvd
 *                 serves the same; a lagging witness catches up (409, then a
 *                 proof); a witness started later (empty) cosigns; an answer
 *                 with another key's cosignature is not counted.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

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

#include "testsrv.h"
#include "tlogfix.h"

#ifndef CKV_WITNESS_BIN
#error "CKV_WITNESS_BIN must name the ckv-witness binary"
#endif

static char g_dir[512];

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *b = calloc(1, 1 << 20);
    size_t n = fread(b, 1, (1 << 20) - 1, f);
    b[n] = 0;
    fclose(f);
    return b;
}

/* ---- a ckv-witness process ------------------------------------------------ */

struct wit {
    pid_t pid;
    int port;
    char dir[600];
    char errlog[700], outlog[700];
    char vkey[512];
    struct srv http; /* port only: for http() */
};

/* Start ckv-witness on dir for the log keys (NULL-terminated). port 0:
 * any. Returns 0 when it serves, else its exit status (it stopped). */
static int wit_start(struct wit *w, const char *dir, const char *name, int port,
                     const char *const *logs)
{
    const char *argv[32];
    char listen[64];
    int n = 0;
    snprintf(w->dir, sizeof(w->dir), "%s", dir);
    snprintf(w->errlog, sizeof(w->errlog), "%s.stderr.log", dir);
    snprintf(w->outlog, sizeof(w->outlog), "%s.stdout.log", dir);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    argv[n++] = CKV_WITNESS_BIN;
    argv[n++] = "--listen";
    argv[n++] = listen;
    argv[n++] = "--data";
    argv[n++] = dir;
    argv[n++] = "--name";
    argv[n++] = name;
    for (int i = 0; logs[i] && n < 28; i++) {
        argv[n++] = "--log";
        argv[n++] = logs[i];
    }
    argv[n] = NULL;
    unlink(w->errlog);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fe = open(w->errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fo = open(w->outlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fe < 0 || fo < 0)
            _exit(127);
        dup2(fe, 2);
        dup2(fo, 1);
        execv(CKV_WITNESS_BIN, (char *const *)argv);
        _exit(127);
    }
    w->pid = pid;
    w->port = 0;
    for (int i = 0; i < 400 && !w->port; i++) {
        int st;
        sleep_ms(25);
        if (waitpid(pid, &st, WNOHANG) == pid) {
            w->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        char *t = slurp(w->errlog);
        const char *p = t ? strstr(t, "://127.0.0.1:") : NULL;
        if (p && strchr(p, '\n'))
            w->port = atoi(p + 13);
        free(t);
    }
    assert_true(w->port > 0);
    memset(&w->http, 0, sizeof(w->http));
    w->http.port = w->port;
    char path[700];
    snprintf(path, sizeof(path), "%s/witness.vkey", dir);
    char *vk = slurp(path);
    assert_non_null(vk);
    vk[strcspn(vk, "\n")] = 0;
    snprintf(w->vkey, sizeof(w->vkey), "%s", vk);
    free(vk);
    return 0;
}

/* Start on a free port below the usual ephemeral range (32768-60999), so
 * that a ckvd started later with port 0 cannot take it while the witness
 * is stopped: a restarted witness comes back on the same port. */
static int wit_start_free(struct wit *w, const char *dir, const char *name,
                          const char *const *logs)
{
    int rc = -1;
    for (int i = 0; i < 20 && rc != 0; i++)
        rc = wit_start(w, dir, name, 20000 + (int)randombytes_uniform(12000), logs);
    return rc;
}

static int wit_stop(struct wit *w)
{
    int st = 0;
    if (!w->pid)
        return -1;
    kill(w->pid, SIGTERM);
    assert_int_equal(waitpid(w->pid, &st, 0), w->pid);
    w->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run ckv-witness with args; its stdout into *out (malloc'd). Exit status. */
static int wit_run(const char *const *args, char **out)
{
    char cmd[2048];
    size_t n = (size_t)snprintf(cmd, sizeof(cmd), "'%s'", CKV_WITNESS_BIN);
    for (int i = 0; args[i]; i++)
        n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, " '%s'", args[i]);
    snprintf(cmd + n, sizeof(cmd) - n, " 2>/dev/null");
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *b = calloc(1, 1 << 20);
    size_t k = fread(b, 1, (1 << 20) - 1, p);
    b[k] = 0;
    int st = pclose(p);
    if (out)
        *out = b;
    else
        free(b);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static long post_body(struct wit *w, const char *body, size_t len, struct http_resp *r)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(http(&w->http, "POST", "/add-checkpoint", NULL, body, len, r), 0);
    return r->status;
}

/* POST and check the status; frees the answer unless r is given. */
static void expect(struct wit *w, const char *body, size_t len, long status, const char *answer)
{
    struct http_resp r;
    assert_int_equal(post_body(w, body, len, &r), status);
    if (answer)
        assert_string_equal(r.body, answer);
    if (status == 409)
        assert_string_equal(r.ctype, "text/x.tlog.size");
    http_resp_free(&r);
}

/* A 200 answer is one cosignature line by w over note. */
static void expect_cosigned(struct wit *w, const char *body, size_t len, const char *note,
                            const ckv_tlog_verifier *log)
{
    struct http_resp r;
    ckv_tlog_verifier *wv = NULL;
    ckv_tlog_note *opened = NULL;
    assert_int_equal(post_body(w, body, len, &r), 200);
    assert_int_equal(ckv_tlog_verifier_parse(w->vkey, strlen(w->vkey), &wv), CKV_OK);
    assert_int_equal(ckv_tlog_verifier_type(wv), CKV_TLOG_KEY_TYPE_COSIGNATURE);
    size_t nl = strlen(note);
    char *both = malloc(nl + r.len + 1);
    memcpy(both, note, nl);
    memcpy(both + nl, r.body, r.len + 1);
    const ckv_tlog_verifier *vs[2] = {log, wv};
    assert_int_equal(ckv_tlog_note_open(both, nl + r.len, vs, 2, &opened), CKV_OK);
    assert_int_equal(opened->nverified, 2);
    uint64_t now = (uint64_t)time(NULL);
    assert_true(opened->cosig_time[1] + 60 >= now && opened->cosig_time[1] <= now + 60);
    ckv_tlog_note_free(opened);
    ckv_tlog_verifier_free(wv);
    free(both);
    http_resp_free(&r);
}

static void test_witness_program(void **state)
{
    (void)state;
    struct tlog a, fork, other;
    struct wit w;
    char dir[600], path[700];
    size_t len;
    struct stat sb;
    tlog_new(&a, "proc.example/log", 1);
    tlog_new(&fork, "proc.example/log", 1);
    tlog_new(&other, "other.example/log", 2);
    snprintf(dir, sizeof(dir), "%s/w", g_dir);
    const char *logs[] = {a.vkey, other.vkey, NULL};

    /* bad command lines: exit 2 */
    const char *no_log[] = {"--data", dir, NULL};
    assert_int_equal(wit_run(no_log, NULL), 2);
    const char *bad_log[] = {"--data", dir, "--log", "not+a+key", NULL};
    assert_int_equal(wit_run(bad_log, NULL), 2);
    const char *help[] = {"--help", NULL};
    char *out = NULL;
    assert_int_equal(wit_run(help, &out), 0);
    assert_non_null(strstr(out, "add-checkpoint") ? out : strstr(out, "tlog-witness"));
    free(out);

    /* first start: key 0600, vkey printed and written */
    assert_int_equal(wit_start(&w, dir, "w.example", 0, logs), 0);
    snprintf(path, sizeof(path), "%s/witness.key", dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char *printed = slurp(w.outlog);
    assert_non_null(printed);
    printed[strcspn(printed, "\n")] = 0;
    assert_string_equal(printed, w.vkey);
    free(printed);
    assert_true(strncmp(w.vkey, "w.example+", 10) == 0);

    /* a second witness on the same directory is refused */
    struct wit w2;
    assert_int_equal(wit_start(&w2, dir, "w.example", 0, logs), 1);

    /* cosigning a growing log */
    char *n4 = tlog_grow(&a, 4, "a");
    char *b = tlog_body(&a, 0, 4, n4, 0, &len);
    expect_cosigned(&w, b, len, n4, a.v);
    free(b);
    char *n10 = tlog_grow(&a, 6, "a");
    b = tlog_body(&a, 4, 10, n10, 0, &len);
    expect_cosigned(&w, b, len, n10, a.v);
    free(b);
    b = tlog_body(&a, 10, 10, n10, 0, &len); /* again: fresh timestamp */
    expect_cosigned(&w, b, len, n10, a.v);
    free(b);
    /* a second log, independent */
    char *o3 = tlog_grow(&other, 3, "o");
    b = tlog_body(&other, 0, 3, o3, 0, &len);
    expect_cosigned(&w, b, len, o3, other.v);
    free(b);

    /* refusals */
    char *n12 = tlog_grow(&a, 2, "a");
    b = tlog_body(&a, 4, 12, n12, 0, &len); /* wrong old */
    expect(&w, b, len, 409, "10\n");
    free(b);
    b = tlog_body(&a, 10, 12, n12, 1, &len); /* bad proof */
    expect(&w, b, len, 422, NULL);
    free(b);
    b = tlog_body(&a, 0, 4, n4, 0, &len); /* rollback */
    expect(&w, b, len, 409, "10\n");
    free(b);
    char *f10 = tlog_grow(&fork, 10, "fork"); /* fork: same size, other root */
    b = tlog_body(NULL, 10, 10, f10, 0, &len);
    expect(&w, b, len, 409, "10\n");
    free(b);
    struct tlog stranger, unknown;
    tlog_new(&stranger, "proc.example/log", 3);
    tlog_new(&unknown, "unknown.example/log", 1);
    char *s11 = tlog_grow(&stranger, 11, "s");
    b = tlog_body(NULL, 10, 11, s11, 0, &len);
    expect(&w, b, len, 403, NULL);
    free(b);
    char *u1 = tlog_grow(&unknown, 1, "u");
    b = tlog_body(NULL, 0, 1, u1, 0, &len);
    expect(&w, b, len, 404, NULL);
    free(b);
    expect(&w, "old 1\n\n", 7, 400, NULL);
    expect(&w, "", 0, 400, NULL);
    expect(&w, "old 01\n\nproc.example/log\n1\n", 28, 400, NULL);
    char *big = malloc(80000);
    memset(big, 'x', 80000);
    memcpy(big, "old 0\n\n", 7);
    expect(&w, big, 80000, 413, NULL);
    free(big);
    /* far over the limit (2 MB): still a 413, answered before the body is
     * read (it used to be a dropped connection) */
    big = malloc(2000000);
    memset(big, 'x', 2000000);
    memcpy(big, "old 0\n\n", 7);
    expect(&w, big, 2000000, 413, NULL);
    free(big);
    struct http_resp r;
    assert_int_equal(http(&w.http, "GET", "/add-checkpoint", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 405);
    http_resp_free(&r);
    assert_int_equal(http(&w.http, "GET", "/checkpoint", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 404);
    http_resp_free(&r);
    /* the right request still works after all that */
    b = tlog_body(&a, 10, 12, n12, 0, &len);
    expect_cosigned(&w, b, len, n12, a.v);
    free(b);

    /* SIGTERM: clean exit; the conflicts are listed */
    assert_int_equal(wit_stop(&w), 0);
    const char *conflicts[] = {"conflicts", "--data", dir, NULL};
    assert_int_equal(wit_run(conflicts, &out), 0);
    assert_non_null(strstr(out, ": fork, "));
    assert_non_null(strstr(out, ": rollback, "));
    assert_non_null(strstr(out, ": bad_proof, "));
    assert_non_null(strstr(out, f10)); /* the forked checkpoint, verbatim */
    assert_null(strstr(out, s11));     /* not signed by the log's key: not evidence */
    free(out);
    const char *status[] = {"status", "--data", dir, NULL};
    assert_int_equal(wit_run(status, &out), 0);
    assert_non_null(strstr(out, "proc.example/log size 12 "));
    assert_non_null(strstr(out, "other.example/log size 3 "));
    free(out);

    /* a restart keeps the key and the state */
    char keep[512];
    snprintf(keep, sizeof(keep), "%s", w.vkey);
    assert_int_equal(wit_start(&w, dir, "w.example", 0, logs), 0);
    assert_string_equal(w.vkey, keep);
    printed = slurp(w.outlog);
    assert_string_equal(printed, ""); /* not a new key: nothing printed */
    free(printed);
    b = tlog_body(NULL, 0, 12, n12, 0, &len);
    expect(&w, b, len, 409, "12\n");
    free(b);
    /* another name for an existing key is refused */
    assert_int_equal(wit_stop(&w), 0);
    assert_int_equal(wit_start(&w, dir, "renamed.example", 0, logs), 1);

    free(n4);
    free(n10);
    free(n12);
    free(o3);
    free(f10);
    free(s11);
    free(u1);
    tlog_free(&a);
    tlog_free(&fork);
    tlog_free(&other);
    tlog_free(&stranger);
    tlog_free(&unknown);
}

/* ---- ckvd with witnesses -------------------------------------------------- */

/* The served checkpoint: its size, and how many of the witnesses' cosignatures
 * verify (the log's own signature must verify too). */
static uint64_t served(const struct srv *s, struct wit *ws, int nw, int *ncosig, char **note_out)
{
    struct http_resp r;
    ckv_tlog_verifier *vs[8];
    ckv_tlog_checkpoint cp;
    ckv_tlog_note *opened = NULL;
    int n = 0;
    assert_int_equal(ckv_tlog_verifier_parse(s->vkey, strlen(s->vkey), &vs[n++]), CKV_OK);
    for (int i = 0; i < nw; i++)
        assert_int_equal(ckv_tlog_verifier_parse(ws[i].vkey, strlen(ws[i].vkey), &vs[n++]),
                         CKV_OK);
    assert_int_equal(http(s, "GET", "/checkpoint", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(ckv_tlog_checkpoint_open(r.body, r.len, s->origin,
                                              (const ckv_tlog_verifier *const *)vs, (size_t)n,
                                              &cp, &opened),
                     CKV_OK);
    *ncosig = (int)opened->nverified - 1;
    /* the log's signature comes first */
    assert_ptr_equal(opened->verified[0], vs[0]);
    ckv_tlog_note_free(opened);
    for (int i = 0; i < n; i++)
        ckv_tlog_verifier_free(vs[i]);
    if (note_out)
        *note_out = strdup(r.body);
    http_resp_free(&r);
    return cp.size;
}

/* Wait (up to ms) until the served checkpoint has size >= want with at
 * least k verifying cosignatures. */
static int wait_served(const struct srv *s, struct wit *ws, int nw, uint64_t want, int k, int ms)
{
    for (int t = 0; t < ms; t += 100) {
        int c = 0;
        if (served(s, ws, nw, &c, NULL) >= want && c >= k)
            return 0;
        sleep_ms(100);
    }
    return -1;
}

/* Look up name: HTTP status; on 200 check the proof against the checkpoint
 * in the answer, whose size is returned in *size. */
static long lookup(const struct srv *s, const char *name, uint64_t *size)
{
    struct http_resp r;
    char path[128];
    snprintf(path, sizeof(path), "/v1/directory/%s", name);
    assert_int_equal(http(s, "GET", path, NULL, NULL, 0, &r), 0);
    long st = r.status;
    if (st == 200) {
        json_t *j = json_loadb(r.body, r.len, 0, NULL);
        assert_non_null(j);
        const char *entry = json_string_value(json_object_get(j, "entry"));
        const char *note = json_string_value(json_object_get(j, "checkpoint"));
        uint64_t idx = (uint64_t)json_integer_value(json_object_get(j, "leaf_index"));
        uint64_t ts = (uint64_t)json_integer_value(json_object_get(j, "tree_size"));
        json_t *proof = json_object_get(j, "proof");
        ckv_tlog_verifier *lv = NULL;
        ckv_tlog_checkpoint cp;
        ckv_tlog_hash leaf, path_h[64];
        size_t plen = json_array_size(proof);
        assert_true(entry && note && plen <= 64);
        assert_int_equal(ckv_tlog_verifier_parse(s->vkey, strlen(s->vkey), &lv), CKV_OK);
        const ckv_tlog_verifier *vs[1] = {lv};
        assert_int_equal(
            ckv_tlog_checkpoint_open(note, strlen(note), s->origin, vs, 1, &cp, NULL), CKV_OK);
        assert_int_equal(cp.size, ts); /* proofs are against the served size */
        for (size_t i = 0; i < plen; i++) {
            size_t bl = 0;
            const char *h = json_string_value(json_array_get(proof, i));
            assert_int_equal(sodium_base642bin(path_h[i].b, 32, h, strlen(h), NULL, &bl, NULL,
                                               sodium_base64_VARIANT_ORIGINAL),
                             0);
        }
        ckv_tlog_leaf_hash(entry, strlen(entry), &leaf);
        assert_int_equal(ckv_tlog_verify_inclusion(idx, ts, &leaf, path_h, plen, &cp.root),
                         CKV_OK);
        *size = ts;
        ckv_tlog_verifier_free(lv);
        json_decref(j);
    }
    http_resp_free(&r);
    return st;
}

static long wait_lookup(const struct srv *s, const char *name, uint64_t *size, int ms)
{
    long st = 0;
    for (int t = 0; t < ms; t += 100) {
        if ((st = lookup(s, name, size)) == 200)
            break;
        sleep_ms(100);
    }
    return st;
}

static void start_ckvd(struct srv *s, const char *dir, struct wit *ws, int nw, int quorum)
{
    static char args[8][700];
    static char q[16];
    const char *extra[32];
    int n = 0;
    for (int i = 0; i < nw; i++) {
        snprintf(args[i], sizeof(args[i]), "%s,http://127.0.0.1:%d", ws[i].vkey, ws[i].port);
        extra[n++] = "--witness";
        extra[n++] = args[i];
    }
    snprintf(q, sizeof(q), "%d", quorum);
    extra[n++] = "--witness-quorum";
    extra[n++] = q;
    extra[n++] = "--witness-refresh";
    extra[n++] = "1";
    extra[n++] = "--checkpoint-interval";
    extra[n++] = "100";
    extra[n] = NULL;
    assert_int_equal(srv_start(s, dir, extra), 0);
}

static void test_ckvd_witnesses(void **state)
{
    (void)state;
    struct srv s;
    struct wit w[4];
    char sdir[600], wdir[4][600], name[32];
    struct acct alice, bob, carol, dave;
    uint64_t size = 0;
    int c = 0;
    memset(w, 0, sizeof(w));
    snprintf(sdir, sizeof(sdir), "%s/ckvd", g_dir);
    /* create the log first: the witnesses need its key */
    assert_int_equal(srv_start(&s, sdir, NULL), 0);
    assert_int_equal(srv_stop(&s), 0);
    const char *logs[] = {s.vkey, NULL};
    for (int i = 0; i < 4; i++) {
        snprintf(wdir[i], sizeof(wdir[i]), "%s/w%d", g_dir, i + 1);
        snprintf(name, sizeof(name), "w%d.example", i + 1);
        assert_int_equal(wit_start_free(&w[i], wdir[i], name, logs), 0);
    }
    /* w4 exists (its key) but starts later, empty */
    assert_int_equal(wit_stop(&w[3]), 0);

    start_ckvd(&s, sdir, w, 3, 2);
    assert_int_equal(wait_served(&s, w, 3, 0, 3, 10000), 0);
    acct_new(&alice, "alice");
    assert_int_equal(acct_register(&s, &alice, 2), 200);
    assert_int_equal(wait_lookup(&s, "alice", &size, 10000), 200);
    assert_int_equal(size, 1);
    assert_int_equal(wait_served(&s, w, 3, 1, 3, 10000), 0);

    /* a stalled witness (SIGSTOP: connections open, no answer) delays a
     * round by at most ckvd's 5 s transfer timeout; the others' quorum is
     * served; nothing else waits for it */
    struct acct eve;
    kill(w[2].pid, SIGSTOP);
    acct_new(&eve, "eve");
    assert_int_equal(acct_register(&s, &eve, 2), 200);
    assert_int_equal(wait_lookup(&s, "eve", &size, 12000), 200);
    assert_int_equal(size, 2);
    kill(w[2].pid, SIGCONT);
    assert_int_equal(wait_served(&s, w, 3, 2, 3, 12000), 0);

    /* one witness down, quorum 2 of 3: still advances */
    assert_int_equal(wit_stop(&w[0]), 0);
    acct_new(&bob, "bob");
    assert_int_equal(acct_register(&s, &bob, 2), 200);
    assert_int_equal(wait_lookup(&s, "bob", &size, 10000), 200);
    assert_int_equal(size, 3);
    assert_int_equal(served(&s, w, 3, &c, NULL), 3);
    assert_true(c >= 2);

    /* two down: the quorum is not met; the older cosigned checkpoint stays */
    assert_int_equal(wit_stop(&w[1]), 0);
    acct_new(&carol, "carol");
    assert_int_equal(acct_register(&s, &carol, 2), 200);
    sleep_ms(2500); /* > checkpoint interval + refresh */
    char *before = NULL;
    assert_int_equal(served(&s, w, 3, &c, &before), 3);
    assert_true(c >= 2);
    assert_int_equal(lookup(&s, "carol", &size), 503); /* not in a served checkpoint */
    assert_int_equal(lookup(&s, "bob", &size), 200);   /* proofs against size 3 */
    assert_int_equal(size, 3);
    assert_true(srv_log_contains(&s, "unreachable"));

    /* ckvd restarts with a fourth witness configured (not running yet):
     * it serves the same cosigned checkpoint at once */
    assert_int_equal(srv_stop(&s), 0);
    start_ckvd(&s, sdir, w, 4, 2);
    char *after = NULL;
    assert_int_equal(served(&s, w, 4, &c, &after), 3);
    assert_true(c >= 2);
    assert_int_equal(lookup(&s, "carol", &size), 503);
    free(before);
    free(after);

    /* the lagging witness comes back (it saw size 1): ckvd learns its size
     * from a 409, proves from there, and the quorum is met again */
    assert_int_equal(wit_start(&w[0], wdir[0], "w1.example", w[0].port, logs), 0);
    assert_int_equal(wait_lookup(&s, "carol", &size, 15000), 200);
    assert_int_equal(size, 4);
    char *wlog = slurp(w[0].errlog);
    assert_non_null(strstr(wlog, "(had 2) -> 409"));
    assert_non_null(strstr(wlog, "old 2 size 4 (had 2) -> 200 cosigned"));
    free(wlog);

    /* the fourth witness starts now, empty: it accepts the first checkpoint
     * it sees (trust on first use) and its cosignature is served too */
    assert_int_equal(wit_start(&w[3], wdir[3], "w4.example", w[3].port, logs), 0);
    acct_new(&dave, "dave");
    assert_int_equal(acct_register(&s, &dave, 2), 200);
    assert_int_equal(wait_lookup(&s, "dave", &size, 15000), 200);
    assert_int_equal(wait_served(&s, w, 4, 5, 3, 15000), 0);
    wlog = slurp(w[3].errlog);
    assert_non_null(strstr(wlog, "(had nothing, 0) -> 200 cosigned"));
    free(wlog);

    /* cosignature timestamps stay fresh: the same size is re-cosigned */
    char *n1 = NULL, *n2 = NULL;
    served(&s, w, 4, &c, &n1);
    sleep_ms(2500);
    uint64_t sz = served(&s, w, 4, &c, &n2);
    assert_int_equal(sz, 5);
    assert_string_not_equal(n1, n2);
    free(n1);
    free(n2);

    assert_int_equal(srv_stop(&s), 0);
    for (int i = 0; i < 4; i++)
        if (w[i].pid)
            assert_int_equal(wit_stop(&w[i]), 0);
}

/* A witness URL that answers with another key's cosignature (same name,
 * another key): ckvd must not count it, so quorum 2 is never met, and
 * what it serves carries no line from that answer. */
static void test_ckvd_impostor(void **state)
{
    (void)state;
    struct srv s;
    struct wit real, named, impostor;
    char sdir[600], d1[600], d2[600], d3[600];
    int c = -1;
    snprintf(sdir, sizeof(sdir), "%s/ckvd-impostor", g_dir);
    snprintf(d1, sizeof(d1), "%s/real", g_dir);
    snprintf(d2, sizeof(d2), "%s/named", g_dir);
    snprintf(d3, sizeof(d3), "%s/impostor", g_dir);
    assert_int_equal(srv_start(&s, sdir, NULL), 0);
    assert_int_equal(srv_stop(&s), 0);
    const char *logs[] = {s.vkey, NULL};
    assert_int_equal(wit_start_free(&real, d1, "real.example", logs), 0);
    assert_int_equal(wit_start_free(&named, d2, "x.example", logs), 0);
    assert_int_equal(wit_stop(&named), 0); /* only its key is used */
    assert_int_equal(wit_start_free(&impostor, d3, "x.example", logs), 0);
    assert_string_not_equal(named.vkey, impostor.vkey);
    /* configured: named's key at the impostor's URL, and the real one */
    struct wit cfg[2] = {named, real};
    cfg[0].port = impostor.port;
    start_ckvd(&s, sdir, cfg, 2, 2);
    for (int i = 0; i < 50 && !srv_log_contains(&s, "without a valid cosignature"); i++)
        sleep_ms(100);
    assert_true(srv_log_contains(&s, "without a valid cosignature"));
    char *note = NULL;
    struct wit both[2] = {named, real};
    assert_int_equal(served(&s, both, 2, &c, &note), 0);
    assert_int_equal(c, 0); /* the log's own: no quorum was ever met */
    assert_null(strstr(note, "x.example"));
    free(note);
    struct acct frank;
    uint64_t size = 0;
    acct_new(&frank, "frank");
    assert_int_equal(acct_register(&s, &frank, 2), 200);
    sleep_ms(1500);
    assert_int_equal(lookup(&s, "frank", &size), 503);
    assert_int_equal(srv_stop(&s), 0);
    assert_int_equal(wit_stop(&real), 0);
    assert_int_equal(wit_stop(&impostor), 0);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_witness_proc witness|ckvd SCRATCH_DIR\n");
        return 2;
    }
    char cmd[1200];
    snprintf(g_dir, sizeof(g_dir), "%s", argv[2]);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", g_dir, g_dir);
    if (system(cmd) != 0)
        return 1;
    if (sodium_init() < 0)
        return 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    int rc;
    if (strcmp(argv[1], "witness") == 0) {
        const struct CMUnitTest t[] = {cmocka_unit_test(test_witness_program)};
        rc = cmocka_run_group_tests(t, NULL, NULL);
    } else {
        const struct CMUnitTest t[] = {cmocka_unit_test(test_ckvd_witnesses),
                                       cmocka_unit_test(test_ckvd_impostor)};
        rc = cmocka_run_group_tests(t, NULL, NULL);
    }
    curl_global_cleanup();
    return rc;
}
