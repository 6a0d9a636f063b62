/*
 * test_witness_unit.c: ckv-witness's request parser and add-checkpoint
 * decision, in process (witness/witness.h), against real logs: each test
 * log is a libckvlog store with its own Ed25519 key, so checkpoints and
 * consistency proofs are the real thing. Covers c2sp.org/tlog-witness's
 * answers (200, 400, 403, 404, 409 with the size, 413, 422), the kept
 * conflicts (fork, rollback, bad proof), a restart of the state, and two
 * racing pushes.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "witness.h"

#include "tlogfix.h"

#define ORIGIN "test.example/log"

struct fixture {
    struct tlog a;
    ckvw_config cfg;
    ckv_tlog_verifier *logs[1];
    ckvw_state *st;
    char path[128];
    ckv_tlog_verifier *wv; /* the witness's verifier key (type 0x04) */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char *vkey = NULL;
    tlog_new(&f->a, ORIGIN, 7);
    f->logs[0] = f->a.v;
    f->cfg.logs = f->logs;
    f->cfg.nlogs = 1;
    snprintf(f->cfg.name, sizeof(f->cfg.name), "witness.test");
    memset(f->cfg.seed, 42, sizeof(f->cfg.seed));
    snprintf(f->path, sizeof(f->path), "%s/witness.db", f->a.dir);
    assert_int_equal(ckvw_state_open(f->path, &f->st), CKV_OK);
    assert_int_equal(ckv_tlog_cosigner_vkey(f->cfg.name, f->cfg.seed, &vkey), CKV_OK);
    assert_int_equal(ckv_tlog_verifier_parse(vkey, strlen(vkey), &f->wv), CKV_OK);
    free(vkey);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    ckvw_state_close(f->st);
    ckv_tlog_verifier_free(f->wv);
    tlog_free(&f->a);
    free(f);
    return 0;
}

/* Submit; returns the status; *a keeps the answer (caller frees body). */
static int submit(struct fixture *f, const char *body, size_t len, uint64_t now, ckvw_answer *a)
{
    ckvw_handle_add_checkpoint(&f->cfg, f->st, body, len, now, a);
    assert_non_null(a->body);
    assert_int_equal(strlen(a->body), a->len);
    return a->status;
}

/* The cosignature in a 200 answer verifies over note with the witness's
 * key and carries timestamp now (c2sp.org/tlog-cosignature). */
static void check_cosig(struct fixture *f, const char *note, const ckvw_answer *a, uint64_t now)
{
    size_t nl = strlen(note);
    char *both = malloc(nl + a->len + 1);
    const ckv_tlog_verifier *vs[2] = {f->a.v, f->wv};
    ckv_tlog_note *opened = NULL;
    assert_int_equal(a->status, 200);
    assert_true(a->len > 4 && strncmp(a->body, "\xe2\x80\x94 witness.test ", 17) == 0);
    assert_int_equal(a->body[a->len - 1], '\n');
    assert_non_null(memchr(a->body, '\n', a->len) == a->body + a->len - 1 ? a->body : NULL);
    memcpy(both, note, nl);
    memcpy(both + nl, a->body, a->len + 1);
    assert_int_equal(ckv_tlog_note_open(both, nl + a->len, vs, 2, &opened), CKV_OK);
    assert_int_equal(opened->nverified, 2);
    assert_ptr_equal(opened->verified[1], f->wv);
    assert_int_equal(opened->cosig_time[1], now);
    ckv_tlog_note_free(opened);
    /* one flipped bit in the signature: the note no longer opens */
    both[nl + a->len - 3] = both[nl + a->len - 3] == 'A' ? 'B' : 'A';
    assert_int_not_equal(ckv_tlog_note_open(both, nl + a->len, vs, 2, &opened), CKV_OK);
    free(both);
}

static long count_conflicts(struct fixture *f, const char *kind)
{
    char *text = NULL;
    size_t tl = 0;
    FILE *m = open_memstream(&text, &tl);
    long n = ckvw_state_print_conflicts(f->st, m), k = 0;
    fclose(m);
    assert_true(n >= 0);
    char needle[64];
    snprintf(needle, sizeof(needle), ": %s, ", kind);
    for (const char *p = text; (p = strstr(p, needle)); p++)
        k++;
    free(text);
    return k;
}

static void test_parse(void **state)
{
    (void)state;
    ckvw_request r;
    const char *good = "old 5\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\nlog\n5\nx\n";
    assert_int_equal(ckvw_request_parse(good, strlen(good), &r), CKV_OK);
    assert_int_equal(r.old_size, 5);
    assert_int_equal(r.proof_len, 1);
    assert_string_equal(r.note, "log\n5\nx\n");
    const char *g0 = "old 0\n\nlog\n";
    assert_int_equal(ckvw_request_parse(g0, strlen(g0), &r), CKV_OK);
    assert_int_equal(r.old_size, 0);
    assert_int_equal(r.proof_len, 0);
    static const char *bad[] = {
        "",
        "old 5",
        "old 5\n",
        "old 5\n\n",                    /* no checkpoint */
        "old 05\n\nlog\n",              /* leading zero */
        "old -1\n\nlog\n",
        "old +1\n\nlog\n",
        "old 9223372036854775808\n\nlog\n", /* 2^63 */
        "old  5\n\nlog\n",
        "Old 5\n\nlog\n",
        "old 5\r\n\r\nlog\n",
        "old\n\nlog\n",
        "new 5\n\nlog\n",
        "old 5\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw\n\nlog\n",   /* no padding */
        "old 5\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkax=\n\nlog\n",  /* non-canonical */
        "old 5\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpka=\n\nlog\n",   /* 31 bytes */
        "old 5\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw= \n\nlog\n",
        "old 5\n-lRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\nlog\n",  /* url alphabet */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r.old_size = 77;
        assert_int_equal(ckvw_request_parse(bad[i], strlen(bad[i]), &r), CKV_ERR_MALFORMED);
        assert_int_equal(r.old_size, 77); /* untouched on failure */
    }
    /* 63 proof lines are fine, 64 are not */
    char *b = malloc(8000);
    for (int lines = 63; lines <= 64; lines++) {
        size_t n = (size_t)sprintf(b, "old 1\n");
        for (int i = 0; i < lines; i++)
            n += (size_t)sprintf(b + n, "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n");
        n += (size_t)sprintf(b + n, "\nlog\n");
        assert_int_equal(ckvw_request_parse(b, n, &r), lines == 63 ? CKV_OK : CKV_ERR_MALFORMED);
    }
    free(b);
    char *big = calloc(1, CKVW_MAX_BODY + 2);
    memcpy(big, "old 0\n\n", 7);
    memset(big + 7, 'a', CKVW_MAX_BODY - 6);
    assert_int_equal(ckvw_request_parse(big, CKVW_MAX_BODY + 1, &r), CKV_ERR_TOO_LARGE);
    free(big);
}

static void test_grow_and_refresh(void **state)
{
    struct fixture *f = *state;
    ckvw_answer a;
    size_t len;
    char *n3 = tlog_grow(&f->a, 3, "a");
    char *b = tlog_body(&f->a, 0, 3, n3, 0, &len);
    /* first sight: trust on first use */
    assert_int_equal(submit(f, b, len, 1000, &a), 200);
    check_cosig(f, n3, &a, 1000);
    free(a.body);
    /* the same checkpoint again, old = its size: re-cosigned, fresh time */
    free(b);
    b = tlog_body(&f->a, 3, 3, n3, 0, &len);
    assert_int_equal(submit(f, b, len, 1010, &a), 200);
    check_cosig(f, n3, &a, 1010);
    free(a.body);
    free(b);
    /* growth with proofs, several steps */
    uint64_t old = 3;
    for (int step = 0; step < 6; step++) {
        char *n = tlog_grow(&f->a, (uint64_t)(step * 7 + 1), "a");
        b = tlog_body(&f->a, old, f->a.n, n, 0, &len);
        assert_int_equal(submit(f, b, len, 1020 + (uint64_t)step, &a), 200);
        check_cosig(f, n, &a, 1020 + (uint64_t)step);
        free(a.body);
        free(b);
        free(n);
        old = f->a.n;
    }
    /* a wrong old: 409 with our size, text/x.tlog.size */
    char *n = tlog_grow(&f->a, 2, "a");
    b = tlog_body(&f->a, 3, f->a.n, n, 0, &len);
    assert_int_equal(submit(f, b, len, 1100, &a), 409);
    assert_string_equal(a.ctype, "text/x.tlog.size");
    char want[32];
    snprintf(want, sizeof(want), "%llu\n", (unsigned long long)old);
    assert_string_equal(a.body, want);
    free(a.body);
    free(b);
    /* the right old then works */
    b = tlog_body(&f->a, old, f->a.n, n, 0, &len);
    assert_int_equal(submit(f, b, len, 1101, &a), 200);
    free(a.body);
    free(b);
    free(n);
    free(n3);
    assert_int_equal(count_conflicts(f, "fork") + count_conflicts(f, "rollback") +
                         count_conflicts(f, "bad_proof"),
                     0);
}

static void test_refusals(void **state)
{
    struct fixture *f = *state;
    ckvw_answer a;
    size_t len;
    char *n5 = tlog_grow(&f->a, 5, "a");
    char *b = tlog_body(&f->a, 0, 5, n5, 0, &len);
    assert_int_equal(submit(f, b, len, 2000, &a), 200);
    free(a.body);
    free(b);
    char *n9 = tlog_grow(&f->a, 4, "a");

    /* a bad proof: 422, kept as a conflict */
    b = tlog_body(&f->a, 5, 9, n9, 1, &len);
    assert_int_equal(submit(f, b, len, 2001, &a), 422);
    free(a.body);
    /* the same request again is kept once */
    assert_int_equal(submit(f, b, len, 2002, &a), 422);
    free(a.body);
    free(b);
    assert_int_equal(count_conflicts(f, "bad_proof"), 1);
    /* an empty proof for a growth: 422 (the same checkpoint refused the
     * same way: kept once) */
    b = tlog_body(NULL, 5, 9, n9, 0, &len);
    assert_int_equal(submit(f, b, len, 2003, &a), 422);
    free(a.body);
    free(b);
    assert_int_equal(count_conflicts(f, "bad_proof"), 1);

    /* a fork: the same key signs another tree of the same size */
    struct tlog fork;
    tlog_new(&fork, ORIGIN, 7);
    char *f5 = tlog_grow(&fork, 5, "other");
    b = tlog_body(NULL, 5, 5, f5, 0, &len);
    assert_int_equal(submit(f, b, len, 2004, &a), 409);
    assert_string_equal(a.body, "5\n");
    free(a.body);
    free(b);
    assert_int_equal(count_conflicts(f, "fork"), 1);
    /* the fork grown, with a proof from its own 5: 422 (our root at 5 differs) */
    char *f8 = tlog_grow(&fork, 3, "other");
    b = tlog_body(&fork, 5, 8, f8, 0, &len);
    assert_int_equal(submit(f, b, len, 2005, &a), 422);
    free(a.body);
    free(b);
    assert_int_equal(count_conflicts(f, "bad_proof"), 2);

    /* the real growth is still accepted */
    b = tlog_body(&f->a, 5, 9, n9, 0, &len);
    assert_int_equal(submit(f, b, len, 2006, &a), 200);
    free(a.body);
    free(b);
    /* a rollback: the older checkpoint 5 (old 9 > 5: 400; old 5: 409) */
    b = tlog_body(NULL, 5, 5, n5, 0, &len);
    assert_int_equal(submit(f, b, len, 2007, &a), 409);
    assert_string_equal(a.body, "9\n");
    free(a.body);
    free(b);
    b = tlog_body(NULL, 9, 5, n5, 0, &len);
    assert_int_equal(submit(f, b, len, 2008, &a), 400);
    free(a.body);
    free(b);
    /* the old checkpoint again with other (ignored) signature lines, as a
     * flood would send it, each request unique: still one row */
    for (int i = 0; i < 20; i++) {
        uint8_t junk[68];
        char b64[sodium_base64_ENCODED_LEN(68, sodium_base64_VARIANT_ORIGINAL)];
        char *note = NULL;
        randombytes_buf(junk, sizeof junk);
        sodium_bin2base64(b64, sizeof b64, junk, sizeof junk, sodium_base64_VARIANT_ORIGINAL);
        assert_true(asprintf(&note, "%s\xe2\x80\x94 junk%d.example %s\n", n5, i, b64) > 0);
        b = tlog_body(NULL, 5, 5, note, 0, &len);
        assert_int_equal(submit(f, b, len, 2008 + i, &a), 409);
        free(a.body);
        free(b);
        free(note);
    }
    assert_int_equal(count_conflicts(f, "rollback"), 1);

    /* signed by another key for our origin: 403; unknown origin: 404 */
    struct tlog stranger, elsewhere;
    tlog_new(&stranger, ORIGIN, 9);
    char *s12 = tlog_grow(&stranger, 12, "s");
    b = tlog_body(NULL, 9, 12, s12, 0, &len);
    assert_int_equal(submit(f, b, len, 2009, &a), 403);
    free(a.body);
    free(b);
    tlog_new(&elsewhere, "elsewhere.example/log", 7);
    char *e2 = tlog_grow(&elsewhere, 2, "e");
    b = tlog_body(NULL, 0, 2, e2, 0, &len);
    assert_int_equal(submit(f, b, len, 2010, &a), 404);
    free(a.body);
    free(b);
    /* a forged log signature: 403 */
    char *forged = strdup(n9);
    size_t fl = strlen(forged);
    forged[fl - 3] = forged[fl - 3] == 'A' ? 'B' : 'A';
    b = tlog_body(NULL, 9, 9, forged, 0, &len);
    assert_int_equal(submit(f, b, len, 2011, &a), 403);
    free(a.body);
    free(b);
    free(forged);
    /* old > size: 400; proof with old 0: 400; a broken note: 400 */
    b = tlog_body(NULL, 10, 9, n9, 0, &len);
    assert_int_equal(submit(f, b, len, 2012, &a), 400);
    free(a.body);
    free(b);
    const char *p0 = "old 0\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\n";
    b = malloc(strlen(p0) + strlen(n9) + 1);
    sprintf(b, "%s%s", p0, n9);
    assert_int_equal(submit(f, b, strlen(b), 2013, &a), 400);
    free(a.body);
    free(b);
    const char *junk = "old 9\n\n" ORIGIN "\nnine\nroot\n\n\xe2\x80\x94 x y\n";
    assert_int_equal(submit(f, junk, strlen(junk), 2014, &a), 400);
    free(a.body);
    assert_int_equal(submit(f, "garbage", 7, 2015, &a), 400);
    free(a.body);

    /* nothing of that moved the witness: 9 is still its size */
    b = tlog_body(NULL, 9, 9, n9, 0, &len);
    assert_int_equal(submit(f, b, len, 2016, &a), 200);
    free(a.body);
    free(b);

    /* a restart keeps the state and the conflicts */
    ckvw_state_close(f->st);
    assert_int_equal(ckvw_state_open(f->path, &f->st), CKV_OK);
    b = tlog_body(NULL, 0, 9, n9, 0, &len);
    assert_int_equal(submit(f, b, len, 2017, &a), 409);
    assert_string_equal(a.body, "9\n");
    free(a.body);
    free(b);
    assert_int_equal(count_conflicts(f, "fork"), 1);
    assert_int_equal(count_conflicts(f, "rollback"), 1);
    assert_int_equal(count_conflicts(f, "bad_proof"), 2);

    free(n5);
    free(n9);
    free(f5);
    free(f8);
    free(s12);
    free(e2);
    tlog_free(&fork);
    tlog_free(&stranger);
    tlog_free(&elsewhere);
}

/* Two pushes from the same old size to two different new sizes at once:
 * exactly one wins; the loser gets 409 naming the winner's size. Repeated
 * with threads so that a check-then-update race would show. */
struct racer {
    struct fixture *f;
    const char *body;
    size_t len;
    int status;
    char answer[32];
    pthread_barrier_t *bar;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    ckvw_answer a;
    pthread_barrier_wait(r->bar);
    ckvw_handle_add_checkpoint(&r->f->cfg, r->f->st, r->body, r->len, 3000, &a);
    r->status = a.status;
    snprintf(r->answer, sizeof(r->answer), "%s", a.body ? a.body : "");
    free(a.body);
    return NULL;
}

/* One log with many keys (--log repeated): a checkpoint signed by the
 * 17th key alone is cosigned (only the first 16 of an origin were used). */
static void test_many_keys(void **state)
{
    (void)state;
    enum { K = 17 };
    struct tlog t[K];
    ckv_tlog_verifier *logs[K];
    ckvw_config cfg;
    ckvw_state *st = NULL;
    ckvw_answer a;
    char path[128];
    size_t len = 0;
    memset(&cfg, 0, sizeof cfg);
    for (int i = 0; i < K; i++) {
        tlog_new(&t[i], ORIGIN, (uint8_t)(100 + i));
        logs[i] = t[i].v;
    }
    cfg.logs = logs;
    cfg.nlogs = K;
    snprintf(cfg.name, sizeof(cfg.name), "witness.test");
    memset(cfg.seed, 42, sizeof(cfg.seed));
    snprintf(path, sizeof(path), "%s/witness.db", t[0].dir);
    assert_int_equal(ckvw_state_open(path, &st), CKV_OK);
    char *n3 = tlog_grow(&t[K - 1], 3, "last key");
    char *b = tlog_body(NULL, 0, 3, n3, 0, &len);
    ckvw_handle_add_checkpoint(&cfg, st, b, len, 3000, &a);
    assert_int_equal(a.status, 200);
    free(a.body);
    free(b);
    free(n3);
    ckvw_state_close(st);
    for (int i = 0; i < K; i++)
        tlog_free(&t[i]);
}

static void test_race(void **state)
{
    struct fixture *f = *state;
    ckvw_answer a;
    size_t len;
    char *n = tlog_grow(&f->a, 1, "a");
    char *b = tlog_body(&f->a, 0, 1, n, 0, &len);
    assert_int_equal(submit(f, b, len, 3000, &a), 200);
    free(a.body);
    free(b);
    free(n);
    uint64_t base = 1;
    for (int round = 0; round < 20; round++) {
        char *n1 = tlog_grow(&f->a, 1, "a");
        uint64_t s1 = f->a.n;
        char *n2 = tlog_grow(&f->a, 1, "a");
        uint64_t s2 = f->a.n;
        size_t l1, l2;
        char *b1 = tlog_body(&f->a, base, s1, n1, 0, &l1);
        char *b2 = tlog_body(&f->a, base, s2, n2, 0, &l2);
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, 2);
        struct racer r1 = {f, b1, l1, 0, "", &bar}, r2 = {f, b2, l2, 0, "", &bar};
        pthread_t t1, t2;
        pthread_create(&t1, NULL, race, &r1);
        pthread_create(&t2, NULL, race, &r2);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        pthread_barrier_destroy(&bar);
        assert_true((r1.status == 200 && r2.status == 409) ||
                    (r1.status == 409 && r2.status == 200));
        uint64_t won = r1.status == 200 ? s1 : s2;
        char want[32];
        snprintf(want, sizeof(want), "%llu\n", (unsigned long long)won);
        assert_string_equal(r1.status == 409 ? r1.answer : r2.answer, want);
        /* the witness's size is the winner's: old = won matches */
        char *nn = tlog_grow(&f->a, 1, "a");
        char *bb = tlog_body(&f->a, won, f->a.n, nn, 0, &len);
        assert_int_equal(submit(f, bb, len, 3001, &a), 200);
        free(a.body);
        base = f->a.n;
        free(bb);
        free(nn);
        free(b1);
        free(b2);
        free(n1);
        free(n2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test_setup_teardown(test_grow_and_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race, setup, teardown),
        cmocka_unit_test(test_many_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
