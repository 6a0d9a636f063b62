/*
 * core.c: `ckv-bench core`, the messaging core's benchmark.
 *
 * Measures, through the public libckv API only (what a client pays):
 *   one_way          encrypt+decrypt of 100-byte messages, alice -> bob
 *                    (one chain: no ratchet step per message), msgs/s;
 *   ping_pong        the same alternating alice -> bob -> alice (a DH
 *                    ratchet step on every message), msgs/s;
 *   session_setup    bob exports a bundle, alice starts a session from it,
 *                    encrypts, bob decrypts that first PreKey message, /s;
 *   safety_number    the full 60-digit safety number of two parties (two
 *                    5200-iteration halves), /s; and safety_number_cached,
 *                    a profile's number with a contact (own half cached);
 *   peak_rss         the process's peak resident memory, MiB.
 * each with the real SQLite stores in a temporary directory (store
 * "durable": WAL, synchronous=NORMAL, as core opens them) and with
 * in-memory stores (store "memory"). Profiles use the minimum KDF cost:
 * opening a profile is not what is measured. Every value is the median over
 * --runs runs; one JSON object a line (bench.h).
 */
#include "bench.h"

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ckv/core.h>

#define MSG_LEN 100
#define MAX_RUNS 50

struct opts {
    int runs;
    unsigned long messages; /* per run, one_way and ping_pong */
    unsigned long setups;   /* per run */
    unsigned long safety;   /* per run */
    int durable, memory;
    const char *only; /* comma-separated test names, or NULL for all */
};

/* 1 when test `name` is selected by --only (a comma-separated list). */
static int selected(const struct opts *o, const char *name)
{
    size_t n = strlen(name);
    if (!o->only)
        return 1;
    for (const char *s = o->only; (s = strstr(s, name)) != NULL; s += n)
        if ((s == o->only || s[-1] == ',') && (s[n] == ',' || s[n] == '\0'))
            return 1;
    return 0;
}

struct pair {
    char dir[256]; /* temporary directory (durable), "" in memory */
    ckv_profile *alice, *bob;
};

static int fail(const char *what, ckv_status st)
{
    fprintf(stderr, "ckv-bench core: %s: %s (%s)\n", what, ckv_strerror(st),
            ckv_status_name(st));
    return -1;
}

/* Remove a directory tree made by the benchmark (depth <= 3). */
static int rm_tree(const char *path, int depth)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char sub[512];
    if (!d)
        return remove(path);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        if (depth < 3)
            rm_tree(sub, depth + 1);
        else
            remove(sub);
    }
    closedir(d);
    return remove(path);
}

static void pair_close(struct pair *pr)
{
    ckv_profile_close(pr->alice);
    ckv_profile_close(pr->bob);
    pr->alice = pr->bob = NULL;
    if (pr->dir[0]) {
        if (rm_tree(pr->dir, 0) != 0)
            fprintf(stderr, "ckv-bench core: could not remove %s\n", pr->dir);
        pr->dir[0] = '\0';
    }
}

/* One message from -> to, checked. */
static int send1(ckv_profile *from, const char *to_name, ckv_profile *to, const char *from_name,
                 const uint8_t *msg, size_t len)
{
    ckv_envelope env = {0, NULL, 0};
    uint8_t *pt = NULL;
    size_t plen = 0;
    int rc = -1;
    ckv_status st = ckv_session_encrypt(from, to_name, msg, len, &env);
    if (st != CKV_OK) {
        fail("encrypt", st);
        goto out;
    }
    st = ckv_session_decrypt(to, from_name, &env, &pt, &plen, NULL);
    if (st != CKV_OK) {
        fail("decrypt", st);
        goto out;
    }
    if (plen != len || memcmp(pt, msg, len) != 0) {
        fprintf(stderr, "ckv-bench core: the decrypted message differs\n");
        goto out;
    }
    rc = 0;
out:
    free(pt);
    ckv_envelope_clear(&env);
    return rc;
}

/* alice starts from bob's bundle and sends the first (PreKey) message. */
static int setup_session(ckv_profile *alice, ckv_profile *bob, const uint8_t *msg)
{
    ckv_bundle b;
    ckv_status st = ckv_profile_export_bundle(bob, 1, &b);
    if (st != CKV_OK)
        return fail("export bundle", st);
    st = ckv_session_start(alice, "bob", &b, NULL);
    if (st != CKV_OK)
        return fail("start session", st);
    return send1(alice, "bob", bob, "alice", msg, MSG_LEN);
}

static int pair_open(struct pair *pr, int durable, const uint8_t *msg)
{
    static const uint8_t pass[] = "bench";
    char da[300], db[300];
    ckv_status st;
    memset(pr, 0, sizeof(*pr));
    if (durable) {
        const char *tmp = getenv("TMPDIR");
        snprintf(pr->dir, sizeof(pr->dir), "%s/ckv-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(pr->dir)) {
            pr->dir[0] = '\0';
            fprintf(stderr, "ckv-bench core: cannot make a temporary directory\n");
            return -1;
        }
        snprintf(da, sizeof(da), "%s/alice", pr->dir);
        snprintf(db, sizeof(db), "%s/bob", pr->dir);
    }
    st = ckv_profile_create(durable ? da : NULL, "alice", pass, sizeof(pass) - 1, CKV_KDF_MIN,
                            &pr->alice);
    if (st == CKV_OK)
        st = ckv_profile_create(durable ? db : NULL, "bob", pass, sizeof(pass) - 1,
                                CKV_KDF_MIN, &pr->bob);
    if (st != CKV_OK) {
        fail("create profile", st);
        pair_close(pr);
        return -1;
    }
    /* a session both ways, past the PreKey stage */
    if (setup_session(pr->alice, pr->bob, msg) != 0 ||
        send1(pr->bob, "alice", pr->alice, "bob", msg, MSG_LEN) != 0) {
        pair_close(pr);
        return -1;
    }
    return 0;
}

/* kind 0 = one way, 1 = ping-pong. Returns messages/s, < 0 on error. */
static double run_messages(int durable, int kind, unsigned long n, const uint8_t *msg)
{
    struct pair pr;
    if (pair_open(&pr, durable, msg) != 0)
        return -1;
    uint64_t t0 = ckv_bench_now_ns();
    for (unsigned long i = 0; i < n; i++) {
        int back = kind == 1 && (i & 1);
        if (send1(back ? pr.bob : pr.alice, back ? "alice" : "bob", back ? pr.alice : pr.bob,
                  back ? "bob" : "alice", msg, MSG_LEN) != 0) {
            pair_close(&pr);
            return -1;
        }
    }
    uint64_t t1 = ckv_bench_now_ns();
    pair_close(&pr);
    return (double)n / ((double)(t1 - t0) / 1e9);
}

static double run_setups(int durable, unsigned long n, const uint8_t *msg)
{
    struct pair pr;
    if (pair_open(&pr, durable, msg) != 0)
        return -1;
    uint64_t t0 = ckv_bench_now_ns();
    for (unsigned long i = 0; i < n; i++) {
        if (setup_session(pr.alice, pr.bob, msg) != 0) {
            pair_close(&pr);
            return -1;
        }
    }
    uint64_t t1 = ckv_bench_now_ns();
    pair_close(&pr);
    return (double)n / ((double)(t1 - t0) / 1e9);
}

/* cached = 0: ckv_fingerprint_compute (both halves); 1: the profile's
 * safety number with a contact (our half cached). */
static double run_safety(int durable, int cached, unsigned long n, const uint8_t *msg)
{
    struct pair pr;
    uint8_t ka[CKV_IDENTITY_KEY_LEN], kb[CKV_IDENTITY_KEY_LEN];
    ckv_safety_number sn;
    ckv_status st = CKV_OK;
    if (pair_open(&pr, durable, msg) != 0)
        return -1;
    ckv_profile_identity_key(pr.alice, ka);
    ckv_profile_identity_key(pr.bob, kb);
    uint64_t t0 = ckv_bench_now_ns();
    for (unsigned long i = 0; i < n && st == CKV_OK; i++) {
        if (cached)
            st = ckv_profile_safety_number(pr.alice, "bob", 0, &sn, NULL);
        else
            st = ckv_fingerprint_compute("alice", ka, "bob", kb, CKV_FINGERPRINT_ITERATIONS, 1,
                                         &sn);
    }
    uint64_t t1 = ckv_bench_now_ns();
    pair_close(&pr);
    if (st != CKV_OK)
        return fail("safety number", st);
    return (double)n / ((double)(t1 - t0) / 1e9);
}

static void usage(FILE *f)
{
    fputs("usage: ckv-bench core [--runs N] [--messages N] [--setups N] [--safety N]\n"
          "                      [--store durable|memory|both] [--only T1,T2] [--quick]\n"
          "Defaults: --runs 5 --messages 2000 --setups 200 --safety 200 --store both.\n"
          "--quick: --runs 1 --messages 200 --setups 20 --safety 20.\n"
          "Prints JSON lines: one_way, ping_pong (msgs/s), session_setup,\n"
          "safety_number, safety_number_cached (ops/s) per store, peak_rss (MiB).\n"
          "--only runs the named tests only (e.g. --only one_way,ping_pong).\n",
          f);
}

static int parse_count(const char *s, unsigned long *out)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || v == 0 || v > 100000000ul)
        return -1;
    *out = v;
    return 0;
}

int ckv_bench_core(int argc, char **argv)
{
    static const struct option lo[] = {
        {"runs", required_argument, NULL, 'r'}, {"messages", required_argument, NULL, 'm'},
        {"setups", required_argument, NULL, 's'}, {"safety", required_argument, NULL, 'f'},
        {"store", required_argument, NULL, 'S'}, {"quick", no_argument, NULL, 'q'},
        {"only", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    struct opts o = {5, 2000, 200, 200, 1, 1, NULL};
    unsigned long v;
    int c;
    uint8_t msg[MSG_LEN];

    optind = 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'r':
            if (parse_count(optarg, &v) != 0 || v > MAX_RUNS) {
                fprintf(stderr, "ckv-bench core: --runs must be 1..%d\n", MAX_RUNS);
                return 2;
            }
            o.runs = (int)v;
            break;
        case 'm':
        case 's':
        case 'f':
            if (parse_count(optarg, &v) != 0) {
                fprintf(stderr, "ckv-bench core: %s needs a positive count\n", argv[optind - 1]);
                return 2;
            }
            *(c == 'm' ? &o.messages : c == 's' ? &o.setups : &o.safety) = v;
            break;
        case 'S':
            o.durable = strcmp(optarg, "memory") != 0;
            o.memory = strcmp(optarg, "durable") != 0;
            if (strcmp(optarg, "durable") && strcmp(optarg, "memory") && strcmp(optarg, "both")) {
                fprintf(stderr, "ckv-bench core: --store durable|memory|both\n");
                return 2;
            }
            break;
        case 'o':
            o.only = optarg;
            break;
        case 'q':
            o.runs = 1;
            o.messages = 200;
            o.setups = 20;
            o.safety = 20;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)('a' + i % 26);

    for (int durable = 1; durable >= 0; durable--) {
        if ((durable && !o.durable) || (!durable && !o.memory))
            continue;
        const char *store = durable ? "durable" : "memory";
        double r[MAX_RUNS];
        struct {
            const char *name;
            unsigned long n;
        } tests[] = {{"one_way", o.messages}, {"ping_pong", o.messages},
                     {"session_setup", o.setups}, {"safety_number", o.safety},
                     {"safety_number_cached", o.safety}};
        for (size_t t = 0; t < sizeof(tests) / sizeof(tests[0]); t++) {
            if (!selected(&o, tests[t].name))
                continue;
            for (int i = 0; i < o.runs; i++) {
                switch (t) {
                case 0: r[i] = run_messages(durable, 0, tests[t].n, msg); break;
                case 1: r[i] = run_messages(durable, 1, tests[t].n, msg); break;
                case 2: r[i] = run_setups(durable, tests[t].n, msg); break;
                case 3: r[i] = run_safety(durable, 0, tests[t].n, msg); break;
                default: r[i] = run_safety(durable, 1, tests[t].n, msg); break;
                }
                if (r[i] < 0)
                    return 1;
            }
            ckv_bench_emit(tests[t].name, ckv_bench_median(r, (size_t)o.runs), "ops/s", store,
                           tests[t].n, o.runs);
        }
    }
    ckv_bench_emit("peak_rss", ckv_bench_peak_rss_mib(), "MiB", NULL, 1, 1);
    return 0;
}
