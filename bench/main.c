/*
 * main.c: ckv-bench, the benchmark program. `ckv-bench AREA [options]`
 * dispatches to one area; each area prints JSON lines on stdout (see
 * bench.h). Benchmarks are programs, not timed tests.
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

uint64_t ckv_bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void ckv_bench_emit(const char *name, double value, const char *unit, const char *store,
                    uint64_t n, int runs)
{
    if (store)
        printf("{\"name\": \"%s\", \"value\": %.3f, \"unit\": \"%s\", \"store\": \"%s\", "
               "\"n\": %llu, \"runs\": %d}\n",
               name, value, unit, store, (unsigned long long)n, runs);
    else
        printf("{\"name\": \"%s\", \"value\": %.3f, \"unit\": \"%s\", \"n\": %llu, "
               "\"runs\": %d}\n",
               name, value, unit, (unsigned long long)n, runs);
    fflush(stdout);
}

double ckv_bench_peak_rss_mib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_maxrss / 1024.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ckv_bench_percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_double);
    size_t i = (size_t)ceil(p / 100.0 * (double)n);
    if (i > 0)
        i--;
    if (i >= n)
        i = n - 1;
    return v[i];
}

double ckv_bench_median(double *v, size_t n)
{
    return ckv_bench_percentile(v, n, 50.0);
}

#ifdef CKV_BENCH_HAVE_RELAY
int ckv_bench_relay(int argc, char **argv); /* relay.c */
#endif
#ifdef CKV_BENCH_HAVE_TUI
int ckv_bench_tui(int argc, char **argv); /* bench/tui.c */
#endif

struct area {
    const char *name;
    int (*run)(int, char **);
    const char *what;
};

static const struct area areas[] = {
#ifdef CKV_BENCH_HAVE_TLOG
    {"tlog", ckv_bench_tlog, "transparency log: appends, proofs, memory"},
#endif
#ifdef CKV_BENCH_HAVE_CORE
    {"core", ckv_bench_core, "messaging core: encrypt/decrypt, set-ups, safety numbers"},
#endif
#ifdef CKV_BENCH_HAVE_RELAY
    {"relay", ckv_bench_relay, "ckvd and 50 clients on loopback: messages, latency, lookups"},
#endif
#ifdef CKV_BENCH_HAVE_TUI
    {"tui", ckv_bench_tui, "ckv-chat: key-to-doupdate latency, resident memory"},
#endif
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: ckv-bench AREA [options]\n"
               "Prints one JSON object a line: name, value, unit, store, n, runs.\n"
               "Areas:\n");
    for (const struct area *a = areas; a->name; a++)
        fprintf(f, "  %-6s %s\n", a->name, a->what);
    fprintf(f, "Run 'ckv-bench AREA --help' for the options of an area.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (const struct area *a = areas; a->name; a++) {
        if (strcmp(a->name, argv[1]) == 0)
            return a->run(argc - 1, argv + 1) == 0 ? 0 : 1;
    }
    fprintf(stderr, "ckv-bench: unknown area '%s'; run 'ckv-bench --help' for the list\n", argv[1]);
    return 2;
}
