/*
 * tlog.c: `ckv-bench tlog`, the transparency-log benchmark (a program, not
 * a test). It reports, one JSON line each (bench.h):
 *   tlog_append_durable       entries appended per second into a durable
 *                             SQLite log (fsync per batch), ops/s
 *   tlog_inclusion_prove      median / p99 time to produce an inclusion
 *                             proof from the store, warm, bounded tile cache
 *   tlog_inclusion_verify     median / p99 time to verify one
 *   tlog_consistency_prove    the same for consistency proofs (old random,
 *   tlog_consistency_verify   new = the log's size)
 *   tlog_peak_rss             peak resident memory of a whole run, for the
 *                             full size and for runs at a tenth and at twice
 *                             the size (child processes), to show that
 *                             memory is bounded whatever the log's size
 * Options: --entries N (1000000) --batch B (1000) --entry-size S (100)
 *          --proofs P (20000) --cache-tiles C (0: library default) --dir DIR (.)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "ckv/tlog.h"

struct cfg {
    uint64_t entries;
    unsigned batch;
    unsigned entry_size;
    unsigned proofs;
    size_t cache_tiles;
    const char *dir;
};

/* xorshift64*: reproducible indexes without libc rand's small range. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static void cleanup_db(const char *db)
{
    char p[4300];
    unlink(db);
    snprintf(p, sizeof(p), "%s-wal", db);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", db);
    unlink(p);
    snprintf(p, sizeof(p), "%s-journal", db);
    unlink(p);
}

static void fail(const char *what, ckv_status st)
{
    fprintf(stderr, "ckv-bench tlog: %s: %s\n", what, ckv_strerror(st));
}

/* One whole run; emit = 0 runs silently (the child of the memory check). */
static int run(const struct cfg *c, int emit)
{
    char dir[4096], db[4200];
    ckv_tlog_store *s = NULL;
    ckv_tlog_entry *e = NULL;
    uint8_t *buf = NULL;
    double *t = NULL;
    ckv_tlog_inclusion_proof *ip = NULL;
    ckv_tlog_consistency_proof *cp = NULL;
    int rc = 1;
    ckv_status st;

    snprintf(dir, sizeof(dir), "%s/ckv-bench-tlog.XXXXXX", c->dir);
    if (mkdtemp(dir) == NULL) {
        perror("ckv-bench tlog: mkdtemp");
        return 1;
    }
    snprintf(db, sizeof(db), "%s/log.db", dir);
    e = calloc(c->batch, sizeof(*e));
    buf = malloc((size_t)c->batch * c->entry_size);
    t = calloc(c->proofs, sizeof(*t));
    ip = malloc(sizeof(*ip));
    cp = malloc(sizeof(*cp));
    if (!e || !buf || !t || !ip || !cp) {
        fail("allocation", CKV_ERR_NOMEM);
        goto out;
    }
    for (size_t i = 0; i < (size_t)c->batch * c->entry_size; i++)
        buf[i] = (uint8_t)rnd();
    for (unsigned i = 0; i < c->batch; i++) {
        e[i].data = buf + (size_t)i * c->entry_size;
        e[i].len = c->entry_size;
    }

    /* ---- durable appends ---- */
    ckv_tlog_store_options wo = {.cache_tiles = c->cache_tiles, .durable = true};
    st = ckv_tlog_store_create(db, "bench.example/log", &wo, &s);
    if (st != CKV_OK) {
        fail("create", st);
        goto out;
    }
    uint64_t t0 = ckv_bench_now_ns();
    for (uint64_t done = 0; done < c->entries;) {
        unsigned n = c->batch;
        if (c->entries - done < n)
            n = (unsigned)(c->entries - done);
        for (unsigned i = 0; i < n; i++) /* distinct entries: a counter in front */
            memcpy(buf + (size_t)i * c->entry_size, &(uint64_t){done + i},
                   c->entry_size >= 8 ? 8 : c->entry_size);
        st = ckv_tlog_store_append(s, e, n, NULL);
        if (st != CKV_OK) {
            fail("append", st);
            goto out;
        }
        done += n;
    }
    double secs = (double)(ckv_bench_now_ns() - t0) / 1e9;
    if (emit)
        ckv_bench_emit("tlog_append_durable", (double)c->entries / secs, "ops/s", "durable",
                       c->entries, 1);
    ckv_tlog_store_close(s);
    s = NULL;

    /* ---- proofs: reopen (cold process cache), warm up, then measure ---- */
    ckv_tlog_store_options ro = {.cache_tiles = c->cache_tiles, .durable = true};
    st = ckv_tlog_store_open(db, &ro, &s);
    if (st != CKV_OK) {
        fail("open", st);
        goto out;
    }
    uint64_t n = ckv_tlog_store_size(s);
    ckv_tlog_hash root;
    st = ckv_tlog_store_root(s, n, &root);
    if (st != CKV_OK) {
        fail("root", st);
        goto out;
    }
    for (unsigned i = 0; i < c->proofs; i++) { /* warm-up */
        st = ckv_tlog_store_inclusion_proof(s, rnd() % n, n, ip);
        if (st != CKV_OK) {
            fail("inclusion proof", st);
            goto out;
        }
    }
    for (unsigned i = 0; i < c->proofs; i++) {
        uint64_t idx = rnd() % n;
        uint64_t a = ckv_bench_now_ns();
        st = ckv_tlog_store_inclusion_proof(s, idx, n, ip);
        t[i] = (double)(ckv_bench_now_ns() - a) / 1e3;
        if (st != CKV_OK) {
            fail("inclusion proof", st);
            goto out;
        }
    }
    if (emit) {
        ckv_bench_emit("tlog_inclusion_prove_median", ckv_bench_median(t, c->proofs), "us",
                       "durable", n, (int)c->proofs);
        ckv_bench_emit("tlog_inclusion_prove_p99", ckv_bench_percentile(t, c->proofs, 99), "us",
                       "durable", n, (int)c->proofs);
    }
    for (unsigned i = 0; i < c->proofs; i++) {
        st = ckv_tlog_store_inclusion_proof(s, rnd() % n, n, ip);
        if (st != CKV_OK) {
            fail("inclusion proof", st);
            goto out;
        }
        uint64_t a = ckv_bench_now_ns();
        st = ckv_tlog_verify_inclusion(ip->leaf_index, ip->tree_size, &ip->leaf_hash, ip->path,
                                       ip->path_len, &root);
        t[i] = (double)(ckv_bench_now_ns() - a) / 1e3;
        if (st != CKV_OK) {
            fail("inclusion proof does not verify", st);
            goto out;
        }
    }
    if (emit) {
        ckv_bench_emit("tlog_inclusion_verify_median", ckv_bench_median(t, c->proofs), "us",
                       "memory", n, (int)c->proofs);
        ckv_bench_emit("tlog_inclusion_verify_p99", ckv_bench_percentile(t, c->proofs, 99), "us",
                       "memory", n, (int)c->proofs);
    }
    for (unsigned i = 0; i < c->proofs; i++) {
        uint64_t old = 1 + rnd() % (n - 1 ? n - 1 : 1);
        if (old > n)
            old = n;
        uint64_t a = ckv_bench_now_ns();
        st = ckv_tlog_store_consistency_proof(s, old, n, cp);
        t[i] = (double)(ckv_bench_now_ns() - a) / 1e3;
        if (st != CKV_OK) {
            fail("consistency proof", st);
            goto out;
        }
    }
    if (emit) {
        ckv_bench_emit("tlog_consistency_prove_median", ckv_bench_median(t, c->proofs), "us",
                       "durable", n, (int)c->proofs);
        ckv_bench_emit("tlog_consistency_prove_p99", ckv_bench_percentile(t, c->proofs, 99), "us",
                       "durable", n, (int)c->proofs);
    }
    for (unsigned i = 0; i < c->proofs; i++) {
        uint64_t old = 1 + rnd() % (n - 1 ? n - 1 : 1);
        if (old > n)
            old = n;
        st = ckv_tlog_store_consistency_proof(s, old, n, cp);
        if (st != CKV_OK) {
            fail("consistency proof", st);
            goto out;
        }
        uint64_t a = ckv_bench_now_ns();
        st = ckv_tlog_verify_consistency(cp->old_size, cp->new_size, &cp->old_root, &cp->new_root,
                                         cp->path, cp->path_len);
        t[i] = (double)(ckv_bench_now_ns() - a) / 1e3;
        if (st != CKV_OK) {
            fail("consistency proof does not verify", st);
            goto out;
        }
    }
    if (emit) {
        ckv_bench_emit("tlog_consistency_verify_median", ckv_bench_median(t, c->proofs), "us",
                       "memory", n, (int)c->proofs);
        ckv_bench_emit("tlog_consistency_verify_p99", ckv_bench_percentile(t, c->proofs, 99), "us",
                       "memory", n, (int)c->proofs);
    }
    rc = 0;
out:
    ckv_tlog_store_close(s);
    cleanup_db(db);
    rmdir(dir);
    free(e);
    free(buf);
    free(t);
    free(ip);
    free(cp);
    return rc;
}

/* Peak RSS (MiB) of a silent run at `entries`, in a child process. */
static double child_peak_rss(const struct cfg *c, uint64_t entries)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        struct cfg cc = *c;
        cc.entries = entries;
        _exit(run(&cc, 0) == 0 ? 0 : 1);
    }
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return (double)ru.ru_maxrss / 1024.0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int ckv_bench_tlog(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"entries", required_argument, NULL, 'n'},
        {"batch", required_argument, NULL, 'b'},
        {"entry-size", required_argument, NULL, 's'},
        {"proofs", required_argument, NULL, 'p'},
        {"cache-tiles", required_argument, NULL, 'c'},
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cfg c = {.entries = 1000000,
                    .batch = 1000,
                    .entry_size = 100,
                    .proofs = 20000,
                    .cache_tiles = 0,
                    .dir = "."};
    uint64_t v;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (o == 'h') {
            printf("Usage: ckv-bench tlog [--entries N] [--batch B] [--entry-size S] "
                   "[--proofs P] [--cache-tiles C] [--dir DIR]\n");
            return 0;
        }
        if (o == 'd') {
            c.dir = optarg;
            continue;
        }
        if (o == '?' || parse_u64(optarg, &v) != 0 || (v == 0 && o != 'c')) {
            fprintf(stderr, "ckv-bench tlog: bad option or value; try --help\n");
            return 2;
        }
        switch (o) {
        case 'n':
            c.entries = v;
            break;
        case 'b':
            c.batch = v > 1000000 ? 1000000 : (unsigned)v;
            break;
        case 's':
            c.entry_size = v > CKV_TLOG_ENTRY_MAX ? CKV_TLOG_ENTRY_MAX : (unsigned)v;
            break;
        case 'p':
            c.proofs = v > 10000000 ? 10000000 : (unsigned)v;
            break;
        case 'c':
            c.cache_tiles = (size_t)v;
            break;
        }
    }
    if (c.entries < 2) {
        fprintf(stderr, "ckv-bench tlog: --entries must be at least 2\n");
        return 2;
    }
    fprintf(stderr,
            "# ckv-bench tlog: %llu entries of %u bytes, batches of %u, %u proofs, "
            "cache %zu tiles (0: the library's default), in %s\n",
            (unsigned long long)c.entries, c.entry_size, c.batch, c.proofs, c.cache_tiles, c.dir);
    /* memory of whole runs at a tenth and at twice the size (child
     * processes), then the full run in this one: memory is bounded by the
     * tile cache, whatever the size of the log */
    uint64_t at[2] = {c.entries / 10 > 1 ? c.entries / 10 : 2, c.entries * 2};
    double rss[2];
    for (int i = 0; i < 2; i++)
        rss[i] = child_peak_rss(&c, at[i]);
    if (run(&c, 1) != 0)
        return 1;
    if (rss[0] >= 0)
        ckv_bench_emit("tlog_peak_rss", rss[0], "MiB", "durable", at[0], 1);
    ckv_bench_emit("tlog_peak_rss", ckv_bench_peak_rss_mib(), "MiB", "durable", c.entries, 1);
    if (rss[1] >= 0)
        ckv_bench_emit("tlog_peak_rss", rss[1], "MiB", "durable", at[1], 1);
    return 0;
}
