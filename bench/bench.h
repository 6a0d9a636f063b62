/*
 * bench.h: shared helpers of ckv-bench, the benchmark program.
 *
 * ckv-bench AREA prints one JSON object a line (DESIGN.md):
 *   {"name": "...", "value": N, "unit": "ops/s"|"us"|"MiB",
 *    "store": "durable"|"memory", "n": N, "runs": N}
 * Each area lives in its own file (tlog.c, core.c, ...) and exports
 * `int ckv_bench_<area>(int argc, char **argv)`, returning 0 on success.
 */
#ifndef CKV_BENCH_H
#define CKV_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic time in nanoseconds. */
uint64_t ckv_bench_now_ns(void);

/* CPU time of this process (all threads) in nanoseconds. */
uint64_t ckv_bench_cpu_ns(void);

/* Print one result line. store may be NULL (omitted). */
void ckv_bench_emit(const char *name, double value, const char *unit, const char *store,
                    uint64_t n, int runs);

/* CPU time of another process in ns, all its threads; 0 when unknown. */
uint64_t ckv_bench_proc_cpu_ns(int pid);

/* Remove a temporary directory and all it holds (rm -rf). */
void ckv_bench_rm_rf(const char *dir);

/* Peak resident set size of this process in MiB (from getrusage). */
double ckv_bench_peak_rss_mib(void);

/* Median and the p-th percentile (0..100) of an array of doubles; sorts it. */
double ckv_bench_median(double *v, size_t n);
double ckv_bench_percentile(double *v, size_t n, double p);

int ckv_bench_tlog(int argc, char **argv);
int ckv_bench_core(int argc, char **argv);

#endif
