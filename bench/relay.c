/*
 * relay.c: `ckv-bench relay`: the whole online system on loopback. The
 * bench starts its own ckvd (127.0.0.1:0, a temporary data directory, abuse
 * limits off) and forks N client processes (default 50), each with its own
 * profile and ckv_client: libsignal objects are never shared, and each
 * process is one thread, as the client's contract asks. This file is the
 * driver (ckvd, the runs, the phases, the figures); a client process is in
 * relay_client.c, and what the two share in relay.h.
 *
 * The clients form a ring: client i sends to client i+1 and receives from
 * client i-1. Phases, each started by the parent at once for every client
 * (a barrier in shared memory):
 *   1. set-up: create the profile (weak test KDF), pin the server, register;
 *   2. contacts: add the next client from the directory (checked lookup,
 *      bundle, session) -- not timed;
 *   3. messages, loaded: each client sends M messages (at most W not yet
 *      receipted; what the window allows goes out in one call of up to B
 *      messages, ckv_client_send_many: one commit and one request for
 *      them, each still its own ratchet step, sequence number, history row
 *      and receipt; --batch 1 sends one per ckv_client_send), while
 *      receiving: every message is fetched, its sender
 *      checked, decrypted, stored, receipted (end to end, encrypted) and
 *      acknowledged, all through the public client API (ckv_client_send,
 *      ckv_client_receive), nothing skipped. messages/s = messages
 *      decrypted (with the text that was sent under that seq) by all
 *      clients / wall time of the phase; latency = from the start of
 *      ckv_client_send to the sender's CKV_EV_RECEIPT for that message (a
 *      full round trip through the relay); lost = messages whose send
 *      succeeded but that never reached the recipient (duplicates count as
 *      errors). With W in flight per client the phase is closed-loop and
 *      saturates the machine, so its latency is mostly queueing: by
 *      Little's law about N*W / (messages/s);
 *   3b. messages, paced: M2 more, offered at a set rate R for all clients
 *      together (default 1,000/s: each client one message every N/R s,
 *      the clients spread over that period; messages that fall due
 *      together go in one call, at most W2 not yet receipted), while each
 *      client waits for what arrives until its next message is due
 *      (ckv_client_receive_ms). Open loop: the latency is that of a
 *      message through the system at that load, not of a queue the bench
 *      built (--light-rate 0: closed loop with window W2 instead);
 *   4. lookups: each client looks up other clients' names for D seconds with
 *      every check (leaf hash, name, inclusion proof, checkpoint signature
 *      and consistency with its view, chain); what is already verified (the
 *      current checkpoint's signature, the consistency of a size seen
 *      before) is cached by the client.
 *
 * Output (bench.h): relay_messages_per_s, relay_receipt_latency_p50/p99
 * (us), relay_client_cpu_per_message and relay_server_cpu_per_message (us
 * of CPU per delivered message in phase 3: the clients together, ckvd;
 * steadier than the wall-clock figures on a shared machine),
 * relay_light_messages_per_s, relay_light_receipt_latency_p50/p99 and
 * relay_light_client_cpu_per_message / relay_light_server_cpu_per_message
 * (phase 3b, paced: "light" is the name the figures had when this phase
 * was a closed loop of one message), relay_lookups_per_s,
 * relay_messages_lost (3 and 3b), all store "durable" (profiles and the
 * server's database are SQLite files on disk). The whole run is made
 * --runs times (default 3: the machine's noise is large), each with a new
 * ckvd and new clients after a sync and a pause, and each figure is the
 * median over the runs ("runs" in the JSON), messages lost the total.
 *
 * The clients open with ckv_client_options.defer_acks, as ckv-chat does
 * (--defer-acks 0: every fetched batch acknowledged before the receive
 * returns).
 */
#define _GNU_SOURCE
#include "bench.h"
#include "relay.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ckv/client.h>
#include <ckv/profile.h>

/* The area's entry point (declared here: bench.h belongs to the bench's
 * owner; main.c declares it too). */
int ckv_bench_relay(int argc, char **argv);

static void msleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void start_phase(struct shared *sh, int k)
{
    pthread_mutex_lock(&sh->mu);
    sh->phase = k;
    pthread_cond_broadcast(&sh->go);
    pthread_mutex_unlock(&sh->mu);
}

/* ---- the server ------------------------------------------------------------------- */

static char *slurp(const char *path, size_t max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, max + 1);
    size_t n = buf ? fread(buf, 1, max, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

static pid_t start_ckvd(const char *ckvd, struct shared *sh)
{
    char data[320], errlog[320];
    snprintf(data, sizeof data, "%s/srv", sh->root);
    snprintf(errlog, sizeof errlog, "%s/ckvd.log", sh->root);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* kept across exec: ckvd dies with the bench */
        int fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int nul = open("/dev/null", O_WRONLY);
        if (fd < 0 || nul < 0)
            _exit(127);
        dup2(fd, 2);
        dup2(nul, 1);
        execl(ckvd, "ckvd", "--listen", "127.0.0.1:0", "--data", data, "--checkpoint-interval",
              "50", "--limit", "register=0/0", "--limit", "login=0/0", "--limit", "bundle=0/0",
              "--limit", "bundle-pair=0/0", "--limit", "bundle-target=0/0", "--limit", "lookup=0/0",
              "--limit", "send=0/0", getenv("CKV_BENCH_CKVD_VERBOSE") ? "--verbose" : (char *)NULL,
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 400; i++) {
        char *log = slurp(errlog, 65536);
        const char *m = log ? strstr(log, "on http://127.0.0.1:") : NULL;
        if (m) {
            int port = atoi(m + strlen("on http://127.0.0.1:"));
            free(log);
            snprintf(data, sizeof data, "%s/srv/log.vkey", sh->root);
            char *k = slurp(data, sizeof sh->vkey - 1);
            if (!k)
                break;
            k[strcspn(k, "\r\n")] = 0;
            snprintf(sh->vkey, sizeof sh->vkey, "%s", k);
            free(k);
            snprintf(sh->url, sizeof sh->url, "http://127.0.0.1:%d", port);
            return pid;
        }
        free(log);
        int wst;
        if (waitpid(pid, &wst, WNOHANG) == pid)
            return -1;
        msleep(25);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* Wait until every client finished phase k; -1 after 300 s or when a
 * client or ckvd exited early. */
static int wait_ready(struct shared *sh, int k, int n)
{
    uint64_t end = ckv_bench_now_ns() + 300ull * 1000000000ull;
    while (__atomic_load_n(&sh->ready[k], __ATOMIC_SEQ_CST) < n) {
        int wst;
        pid_t dead = waitpid(-1, &wst, WNOHANG);
        if (ckv_bench_now_ns() > end || dead > 0) {
            fprintf(stderr, "ckv-bench relay: %s in phase %d\n",
                    dead > 0 ? "a client or ckvd exited early" : "timeout", k);
            return -1;
        }
        msleep(10); /* seldom: the parent must not steal the clients' CPU */
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ckv-bench relay [--clients N] [--messages M] [--window W] [--batch B]\n"
               "                       [--light-messages M2] [--light-rate R] [--light-window W2]\n"
               "                       [--lookup-seconds S] [--defer-acks 0|1] [--runs K]\n"
               "                       [--pause P] [--ckvd PATH]\n"
               "Starts a ckvd on 127.0.0.1 (a free port, a temporary directory) and N\n"
               "client processes in a ring (default 50), each sending M messages\n"
               "(default 200) to the next with at most W (default 16) not yet receipted,\n"
               "up to B (default 16; 1..64) in one ckv_client_send_many call (the loaded\n"
               "phase: as fast as the machine goes), then M2 more (default 50) offered at\n"
               "R messages a second for all clients together (default 1000; the paced\n"
               "phase, at most W2 (default 16) not yet receipted; R 0: closed loop with\n"
               "window W2), then looking names up for S seconds (default 3). The clients\n"
               "defer the acknowledgement of batches that owe no receipt, as ckv-chat\n"
               "does (ckv_client_options.defer_acks; --defer-acks 0: acknowledge each).\n"
               "All of it K times (default 3), each run with a new ckvd and new clients,\n"
               "after a sync and a pause of P seconds (default 15); each figure is the\n"
               "median over the runs (messages lost: the total).\n"
               "Prints relay_messages_per_s, relay_receipt_latency_p50/p99 (us) and\n"
               "relay_client/server_cpu_per_message (loaded phase);\n"
               "relay_light_messages_per_s, relay_light_receipt_latency_p50/p99 and\n"
               "relay_light_client/server_cpu_per_message (paced phase);\n"
               "relay_lookups_per_s; relay_messages_lost (both phases). Exits 1 when a\n"
               "run fails (a message lost or shown twice, a client error).\n"
               "Environment: CKV_BENCH_VERBOSE=1 prints per-client timings (=2: of the\n"
               "paced phase);\n"
               "CKV_BENCH_KEEP=1 keeps the temporary directory (with ckvd.log);\n"
               "CKV_BENCH_CKVD_VERBOSE=1 runs ckvd with --verbose (one log line a request).\n");
}

/* Totals of phase ph over all clients; *lat (malloc'd) the latencies. */
struct totals {
    uint64_t received, sent, dup, cpu_ns;
    double *lat;
    size_t nlat;
};

static int sum_phase(const struct shared *sh, int ph, struct totals *t)
{
    uint64_t nlat = 0;
    memset(t, 0, sizeof *t);
    for (int i = 0; i < sh->n; i++) {
        const struct msg_phase *p = &sh->r[i].ph[ph];
        t->received += p->received;
        t->sent += p->sent;
        t->dup += p->duplicates;
        t->cpu_ns += p->cpu_ns;
        nlat += p->receipts;
    }
    t->lat = malloc((nlat ? nlat : 1) * sizeof(double));
    if (!t->lat)
        return -1;
    for (int i = 0; i < sh->n; i++)
        for (uint64_t j = 0; j < sh->r[i].ph[ph].receipts; j++)
            t->lat[t->nlat++] = sh->r[i].ph[ph].lat_us[j];
    return 0;
}

/* The settings of a run (the command line). */
struct relay_opts {
    int n, msgs, window, batch, light_rate, light_msgs, light_window, lookup_s, defer_acks;
    const char *ckvd;
};

/* The figures, in the order they are printed; one run's in value[], their
 * sample counts in count[]. */
enum {
    F_MSGS,
    F_P50,
    F_P99,
    F_CLIENT_CPU,
    F_SERVER_CPU,
    F_LIGHT_MSGS,
    F_LIGHT_P50,
    F_LIGHT_P99,
    F_LIGHT_CLIENT_CPU,
    F_LIGHT_SERVER_CPU,
    F_LOOKUPS,
    F_LOST,
    F_COUNT
};
static const struct {
    const char *name, *unit;
    int light; /* only with a paced phase */
} fig[F_COUNT] = {
    [F_MSGS] = {"relay_messages_per_s", "ops/s", 0},
    [F_P50] = {"relay_receipt_latency_p50", "us", 0},
    [F_P99] = {"relay_receipt_latency_p99", "us", 0},
    /* CPU per delivered message (clients together, ckvd), which a shared
     * machine's load disturbs far less than the wall-clock figures */
    [F_CLIENT_CPU] = {"relay_client_cpu_per_message", "us", 0},
    [F_SERVER_CPU] = {"relay_server_cpu_per_message", "us", 0},
    [F_LIGHT_MSGS] = {"relay_light_messages_per_s", "ops/s", 1},
    [F_LIGHT_P50] = {"relay_light_receipt_latency_p50", "us", 1},
    [F_LIGHT_P99] = {"relay_light_receipt_latency_p99", "us", 1},
    [F_LIGHT_CLIENT_CPU] = {"relay_light_client_cpu_per_message", "us", 1},
    [F_LIGHT_SERVER_CPU] = {"relay_light_server_cpu_per_message", "us", 1},
    [F_LOOKUPS] = {"relay_lookups_per_s", "ops/s", 0},
    [F_LOST] = {"relay_messages_lost", "ops", 0},
};

struct relay_figs {
    int measured; /* the run got as far as its figures (it may still have failed) */
    double value[F_COUNT];
    uint64_t count[F_COUNT];
};

static double per_msg_us(uint64_t ns, uint64_t msgs)
{
    return msgs ? (double)ns / 1e3 / (double)msgs : 0;
}

/* One whole run: a ckvd, n clients, the phases; 0 when it passed (no
 * message lost or delivered twice, no client failed), its figures in *f. */
static int relay_once(const struct relay_opts *op, struct relay_figs *f)
{
    struct shared *sh = NULL;
    pid_t srv = -1, kids[MAX_CLIENTS];
    int nkids = 0, n = op->n, rc = 1;
    char root[] = "/tmp/ckv-bench-relay-XXXXXX";
    struct totals load = {0}, light = {0};

    memset(f, 0, sizeof *f);
    if (!mkdtemp(root)) {
        fprintf(stderr, "ckv-bench relay: cannot create a temporary directory: %s\n",
                strerror(errno));
        return 1;
    }
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        sh = NULL;
        goto out;
    }
    memset(sh, 0, sizeof *sh);
    sh->n = n;
    sh->msgs = op->msgs;
    sh->window = op->window;
    sh->batch = op->batch;
    sh->light_rate = op->light_rate;
    sh->defer_acks = op->defer_acks != 0;
    sh->light_msgs = op->light_msgs;
    sh->light_window = op->light_window;
    sh->lookup_ms = op->lookup_s * 1000;
    snprintf(sh->root, sizeof sh->root, "%s", root);
    {
        pthread_mutexattr_t ma;
        pthread_condattr_t ca;
        pthread_mutexattr_init(&ma);
        pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
        pthread_condattr_init(&ca);
        pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
        int e = pthread_mutex_init(&sh->mu, &ma) | pthread_cond_init(&sh->go, &ca);
        pthread_mutexattr_destroy(&ma);
        pthread_condattr_destroy(&ca);
        if (e != 0) {
            munmap(sh, sizeof *sh);
            sh = NULL;
            goto out;
        }
    }
    fflush(stdout);
    srv = start_ckvd(op->ckvd, sh);
    if (srv < 0) {
        fprintf(stderr, "ckv-bench relay: cannot start %s (see %s/ckvd.log)\n", op->ckvd, root);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            goto stop;
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the bench */
            _exit(ckv_bench_relay_client(sh, i));
        }
        kids[nkids++] = pid;
    }
    if (wait_ready(sh, 0, n) != 0)
        goto stop;
    start_phase(sh, 1);
    if (wait_ready(sh, 1, n) != 0)
        goto stop;
    uint64_t t0 = ckv_bench_now_ns(), srv_cpu0 = ckv_bench_proc_cpu_ns(srv);
    start_phase(sh, 2);
    if (wait_ready(sh, 2, n) != 0)
        goto stop;
    uint64_t t1 = ckv_bench_now_ns(), srv_cpu1 = ckv_bench_proc_cpu_ns(srv);
    start_phase(sh, 3);
    if (wait_ready(sh, 3, n) != 0)
        goto stop;
    uint64_t t2 = ckv_bench_now_ns(), srv_cpu2 = ckv_bench_proc_cpu_ns(srv);
    start_phase(sh, 4);
    if (wait_ready(sh, 4, n) != 0)
        goto stop;
    uint64_t t3 = ckv_bench_now_ns();

    uint64_t lookups = 0;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        struct child_result *r = &sh->r[i];
        if (r->failed) {
            fprintf(stderr, "ckv-bench relay: client %d: %s\n", i, r->err);
            failed++;
        }
        lookups += r->lookups;
    }
    const char *verbose = getenv("CKV_BENCH_VERBOSE");
    if (verbose)
        for (int i = 0; i < n; i++) { /* "2": the paced phase's */
            const struct msg_phase *p = &sh->r[i].ph[strcmp(verbose, "2") == 0];
            fprintf(stderr,
                    "client %d: %llu sends %.0f us each, %llu receives (%llu empty) "
                    "%.0f us each\n",
                    i, (unsigned long long)p->nsend,
                    p->nsend ? (double)p->send_ns / 1e3 / (double)p->nsend : 0,
                    (unsigned long long)p->nrecv, (unsigned long long)p->nrecv_empty,
                    p->nrecv ? (double)p->recv_ns / 1e3 / (double)p->nrecv : 0);
        }
    if (sum_phase(sh, 0, &load) != 0 || sum_phase(sh, 1, &light) != 0)
        goto stop;
    f->value[F_MSGS] = (double)load.received / ((double)(t1 - t0) / 1e9);
    f->value[F_P50] = ckv_bench_percentile(load.lat, load.nlat, 50);
    f->value[F_P99] = ckv_bench_percentile(load.lat, load.nlat, 99);
    f->value[F_CLIENT_CPU] = per_msg_us(load.cpu_ns, load.received);
    f->value[F_SERVER_CPU] = per_msg_us(srv_cpu1 - srv_cpu0, load.received);
    f->value[F_LIGHT_MSGS] = (double)light.received / ((double)(t2 - t1) / 1e9);
    f->value[F_LIGHT_P50] = ckv_bench_percentile(light.lat, light.nlat, 50);
    f->value[F_LIGHT_P99] = ckv_bench_percentile(light.lat, light.nlat, 99);
    f->value[F_LIGHT_CLIENT_CPU] = per_msg_us(light.cpu_ns, light.received);
    f->value[F_LIGHT_SERVER_CPU] = per_msg_us(srv_cpu2 - srv_cpu1, light.received);
    f->value[F_LOOKUPS] = (double)lookups / ((double)(t3 - t2) / 1e9);
    f->value[F_LOST] = (double)(load.sent - load.received + light.sent - light.received);
    f->count[F_MSGS] = f->count[F_CLIENT_CPU] = f->count[F_SERVER_CPU] = load.received;
    f->count[F_P50] = f->count[F_P99] = load.nlat;
    f->count[F_LIGHT_MSGS] = f->count[F_LIGHT_CLIENT_CPU] = f->count[F_LIGHT_SERVER_CPU] =
        light.received;
    f->count[F_LIGHT_P50] = f->count[F_LIGHT_P99] = light.nlat;
    f->count[F_LOOKUPS] = lookups;
    f->count[F_LOST] = load.sent + light.sent;
    f->measured = 1;
    if (load.dup + light.dup)
        fprintf(stderr, "ckv-bench relay: %llu messages were delivered twice\n",
                (unsigned long long)(load.dup + light.dup));
    rc = failed || load.dup || light.dup || load.sent != load.received ||
                 light.sent != light.received
             ? 1
             : 0;
stop:
    start_phase(sh, 9);
    for (int i = 0; i < nkids; i++)
        waitpid(kids[i], NULL, 0);
    if (srv > 0) {
        kill(srv, SIGTERM);
        waitpid(srv, NULL, 0);
    }
out:
    free(load.lat);
    free(light.lat);
    if (sh) {
        pthread_cond_destroy(&sh->go);
        pthread_mutex_destroy(&sh->mu);
        munmap(sh, sizeof *sh);
    }
    if (rc == 0 && !getenv("CKV_BENCH_KEEP"))
        ckv_bench_rm_rf(root);
    else
        fprintf(stderr, "ckv-bench relay: %s; files kept in %s\n", rc ? "failed" : "done", root);
    return rc;
}

int ckv_bench_relay(int argc, char **argv)
{
    static const struct option opts[] = {
        {"clients", required_argument, NULL, 'c'},
        {"messages", required_argument, NULL, 'm'},
        {"window", required_argument, NULL, 'w'},
        {"lookup-seconds", required_argument, NULL, 'l'},
        {"light-messages", required_argument, NULL, 'M'},
        {"light-window", required_argument, NULL, 'W'},
        {"batch", required_argument, NULL, 'b'},
        {"light-rate", required_argument, NULL, 'r'},
        {"defer-acks", required_argument, NULL, 'A'},
        {"runs", required_argument, NULL, 'R'},
        {"pause", required_argument, NULL, 'P'},
        {"ckvd", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct relay_opts op = {.n = 50,
                            .msgs = 200,
                            .window = 16,
                            .batch = 16,
                            .light_rate = 1000,
                            .light_msgs = 50,
                            .light_window = 16,
                            .lookup_s = 3,
                            .defer_acks = 1,
                            .ckvd = CKV_BENCH_CKVD};
    int runs = 3, pause_s = 15, o, rc = 0;
    struct relay_figs f[MAX_RUNS];

    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            op.n = atoi(optarg);
            break;
        case 'm':
            op.msgs = atoi(optarg);
            break;
        case 'w':
            op.window = atoi(optarg);
            break;
        case 'M':
            op.light_msgs = atoi(optarg);
            break;
        case 'W':
            op.light_window = atoi(optarg);
            break;
        case 'b':
            op.batch = atoi(optarg);
            break;
        case 'r':
            op.light_rate = atoi(optarg);
            break;
        case 'A':
            op.defer_acks = atoi(optarg);
            break;
        case 'l':
            op.lookup_s = atoi(optarg);
            break;
        case 'R':
            runs = atoi(optarg);
            break;
        case 'P':
            pause_s = atoi(optarg);
            break;
        case 'd':
            op.ckvd = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (op.n < 2 || op.n > MAX_CLIENTS || op.msgs < 1 || op.msgs > MAX_MSGS || op.window < 1 ||
        op.batch < 1 || op.batch > CKV_SEND_MANY_MAX || op.lookup_s < 1 || op.lookup_s > 600 ||
        op.light_msgs < 0 || op.light_msgs > MAX_MSGS || op.light_window < 1 || op.light_rate < 0 ||
        op.light_rate > 1000000 || runs < 1 || runs > MAX_RUNS || pause_s < 0 || pause_s > 600) {
        fprintf(stderr,
                "ckv-bench relay: --clients 2..%d, --messages 1..%d, --window >= 1, "
                "--batch 1..%d, --light-messages 0..%d, --light-rate 0..1000000, "
                "--light-window >= 1, --lookup-seconds 1..600, --runs 1..%d, --pause 0..600\n",
                MAX_CLIENTS, MAX_MSGS, CKV_SEND_MANY_MAX, MAX_MSGS, MAX_RUNS);
        return 2;
    }
    int done = 0;
    for (int k = 0; k < runs; k++) {
        if (k > 0 && pause_s > 0) {
            /* the last run's WAL (hundreds of MB) reaches the disk before
             * the next starts: back to back, runs slow each other down */
            sync();
            sleep((unsigned)pause_s);
        }
        int failed = relay_once(&op, &f[k]);
        if (f[k].measured)
            done = k + 1;
        if (runs > 1 && f[k].measured)
            fprintf(stderr, "ckv-bench relay: run %d of %d: %.0f messages/s, paced p99 %.1f ms\n",
                    k + 1, runs, f[k].value[F_MSGS], f[k].value[F_LIGHT_P99] / 1e3);
        if (failed) {
            /* no more runs; the figures of those made are still printed,
             * so that a lost message shows */
            fprintf(stderr, "ckv-bench relay: run %d of %d failed\n", k + 1, runs);
            rc = 1;
            break;
        }
    }
    for (int j = 0; j < F_COUNT && done > 0; j++) {
        double v[MAX_RUNS], lost = 0;
        uint64_t cnt = 0;
        if (fig[j].light && op.light_msgs == 0)
            continue;
        for (int k = 0; k < done; k++) {
            v[k] = f[k].value[j];
            lost += f[k].value[j];
            cnt += f[k].count[j];
        }
        /* the median over the runs (messages lost: the total); n: the
         * samples of all runs together */
        ckv_bench_emit(fig[j].name, j == F_LOST ? lost : ckv_bench_median(v, (size_t)done),
                       fig[j].unit, "durable", cnt, done);
    }
    return rc;
}
