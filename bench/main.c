/*
 * main.c: ckv-bench, the benchmark program. `ckv-bench AREA [options]`
 * dispatches to one area; each area prints JSON lines on stdout (see
 * bench.h). Benchmarks are programs, not timed tests.
 */
#include "bench.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t ckv_bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ckv_bench_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
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

/* CPU time of another process in ns: the sum over its threads of the first
 * field of /proc/PID/task/TID/schedstat (the process's own schedstat counts
 * its main thread only); 0 when unknown. */
uint64_t ckv_bench_proc_cpu_ns(int pid)
{
    char path[64];
    uint64_t sum = 0;
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char p2[128];
        unsigned long long ns = 0;
        if (de->d_name[0] == '.')
            continue;
        snprintf(p2, sizeof p2, "/proc/%d/task/%.20s/schedstat", pid, de->d_name);
        FILE *f = fopen(p2, "r");
        if (!f)
            continue;
        if (fscanf(f, "%llu", &ns) == 1)
            sum += (uint64_t)ns;
        fclose(f);
    }
    closedir(d);
    return sum;
}

void ckv_bench_rm_rf(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

double ckv_bench_median(double *v, size_t n)
{
    return ckv_bench_percentile(v, n, 50.0);
}

#ifdef CKV_BENCH_HAVE_FLOOR
int ckv_bench_floor(int argc, char **argv); /* floor.c */
#endif
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
#ifdef CKV_BENCH_HAVE_FLOOR
    {"floor", ckv_bench_floor, "the latency floor of any relay design on this machine"},
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
    fprintf(f, "Run 'ckv-bench AREA --help' for the options of an area.\n"
               "Exit status: 0; 1 when a measurement failed (a message lost, an error);\n"
               "2 on a usage error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (const struct area *a = areas; a->name; a++) {
        if (strcmp(a->name, argv[1]) == 0) {
            int rc = a->run(argc - 1, argv + 1); /* 2: a usage error */
            return rc == 0 || rc == 2 ? rc : 1;
        }
    }
    fprintf(stderr, "ckv-bench: unknown area '%s'; run 'ckv-bench --help' for the list\n", argv[1]);
    return 2;
}
