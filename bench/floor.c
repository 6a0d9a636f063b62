/*
 * floor.c: `ckv-bench floor`: the latency floor of any relay design on this
 * machine, for comparison with `ckv-bench relay`.
 *
 * Issue 4 asks `ckv-bench relay` for a p99 under 50 ms at 5,000 messages/s
 * with 50 clients on this 2-core machine. This area answers "what is the
 * best any design could do here?" by measuring the cheapest relay that
 * still does the work every design with ckv's guarantees must do:
 *   - one client process per user (50 by default), one server process;
 *   - every message gets an end-to-end receipt, so messages and receipts
 *     alternate in each conversation and each one received after a change
 *     of direction costs a Diffie-Hellman ratchet step: --dh X25519
 *     operations (default 3, as libsignal's step: two agreements and one
 *     new key pair), with libsodium's X25519, the fastest on this machine;
 *   - a durable commit on the sender before a message leaves, on the server
 *     before it is forwarded, and on the recipient before its receipt
 *     leaves (SQLite WAL, synchronous=NORMAL, as ckv and ckvd);
 * and nothing else: no HTTP, no JSON, no sealing at rest, no log checks,
 * no libsignal records. It is as cheap as such a system can be:
 *   - one TCP connection per client on which the server pushes messages
 *     (no request per message, no long-poll);
 *   - binary frames (floor.h); acknowledgements and receipts of one turn
 *     go out in one write;
 *   - one commit per client turn and one per server turn (group commit);
 *   - with --checkpoint off (the default) SQLite's WAL checkpoints, and the
 *     fsyncs they make, are left out of the message path altogether (a real
 *     design would run them on another thread); --checkpoint auto keeps
 *     SQLite's default (every 1,000 pages, in the committing call).
 * --work-us U adds U us of CPU to every message step (a send, a message
 * received, a receipt received): what a real design spends beyond this
 * floor. --signal replaces the bare X25519 steps by ckv's own message path
 * in memory (libckv's ckv_session_encrypt/decrypt for every message and
 * receipt: libsignal-protocol-c's double ratchet and records, sealed in an
 * in-memory profile): what ckv itself would cost with an ideal transport
 * and one durable commit per turn. Messages are paced as in `ckv-bench relay`'s paced phase: --rate
 * R messages/s for all clients together, client i sending to i+1.
 *
 * Output (bench.h): floor_messages_per_s, floor_receipt_latency_p50/p99
 * (us, from the send to its receipt), floor_client_cpu_per_message,
 * floor_server_cpu_per_message (us of CPU per delivered message),
 * floor_messages_lost; each the median over --runs runs (lost: the total).
 * It exits 1 when a message or a receipt is lost or arrives twice.
 */
#define _GNU_SOURCE
#include "bench.h"
#include "floor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

int ckv_bench_floor(int argc, char **argv);

int floor_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct pollfd q = {fd, POLLOUT, 0};
                poll(&q, 1, 1000);
                continue;
            }
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int floor_open_db(const char *path, int ckpt_off, const char *schema, sqlite3 **db_out,
                  char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    char pragmas[160];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=%d;",
             ckpt_off ? 0 : 1000);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, pragmas, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return -1;
    }
    *db_out = db;
    return 0;
}

/* ---- the server: one thread, epoll, push ------------------------------------------ */

struct sconn {
    int fd, client; /* client: its number once it said HELLO, else -1 */
    size_t have, outn;
    char in[1 << 16];
    char *out; /* what this turn pushes to it, written after the commit */
    size_t outcap;
};

static int sconn_queue(struct sconn *c, const void *a, size_t alen, const void *b, size_t blen)
{
    if (c->outn + alen + blen > c->outcap) {
        size_t cap = (c->outcap ? c->outcap * 2 : 1 << 16) + alen + blen;
        char *p = realloc(c->out, cap);
        if (!p)
            return -1;
        c->out = p;
        c->outcap = cap;
    }
    memcpy(c->out + c->outn, a, alen);
    if (blen)
        memcpy(c->out + c->outn + alen, b, blen);
    c->outn += alen + blen;
    return 0;
}

static volatile sig_atomic_t server_stop;
static void on_term(int sig)
{
    (void)sig;
    server_stop = 1;
}

/* Frames of one connection's buffer: store SENDs (forwarded after the
 * commit), delete ACKed rows. -1 on a protocol or database error. */
static int server_frames(sqlite3 *db, sqlite3_stmt *ins, sqlite3_stmt *del, struct sconn *c,
                         struct sconn **by_client, int n, int *txn)
{
    size_t off = 0;
    while (c->have - off >= sizeof(struct floor_hdr)) {
        struct floor_hdr h;
        memcpy(&h, c->in + off, sizeof h);
        if (h.len < sizeof h || h.len > FLOOR_MAX_FRAME || h.peer >= (uint32_t)n)
            return -1;
        if (c->have - off < h.len)
            break;
        const char *body = c->in + off + sizeof h;
        size_t blen = h.len - sizeof h;
        if (h.type == FLOOR_HELLO) {
            c->client = (int)h.peer;
            by_client[h.peer] = c;
            if (sconn_queue(c, &h, sizeof h, NULL, 0) != 0) /* "you are in" */
                return -1;
        } else if (c->client < 0) {
            return -1;
        } else if (h.type == FLOOR_SEND) {
            struct sconn *to = by_client[h.peer];
            if (!to)
                return -1;
            if (!*txn && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
                return -1;
            *txn = 1;
            sqlite3_bind_int(ins, 1, (int)h.peer);
            sqlite3_bind_blob(ins, 2, body, (int)blen, SQLITE_STATIC);
            int rc = sqlite3_step(ins);
            sqlite3_reset(ins);
            if (rc != SQLITE_DONE)
                return -1;
            struct floor_hdr o = h;
            o.type = FLOOR_MSG;
            o.peer = (uint32_t)c->client;
            o.id = (uint64_t)sqlite3_last_insert_rowid(db);
            if (sconn_queue(to, &o, sizeof o, body, blen) != 0)
                return -1;
        } else if (h.type == FLOOR_ACK) {
            if (blen % 8 != 0)
                return -1;
            if (!*txn && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
                return -1;
            *txn = 1;
            for (size_t i = 0; i < blen / 8; i++) {
                uint64_t id;
                memcpy(&id, body + 8 * i, 8);
                sqlite3_bind_int64(del, 1, (sqlite3_int64)id);
                sqlite3_bind_int(del, 2, c->client);
                int rc = sqlite3_step(del);
                sqlite3_reset(del);
                if (rc != SQLITE_DONE)
                    return -1;
            }
        } else {
            return -1;
        }
        off += h.len;
    }
    memmove(c->in, c->in + off, c->have - off);
    c->have -= off;
    return 0;
}

/* The server process: returns its exit status. */
static int floor_server(int lfd, const struct floor_shared *sh)
{
    char path[300], err[400];
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL, *del = NULL;
    struct sconn *conns[FLOOR_MAX_CLIENTS] = {0}, *by_client[FLOOR_MAX_CLIENTS] = {0};
    int nconn = 0, ep = -1, rc = 1;

    signal(SIGTERM, on_term);
    signal(SIGPIPE, SIG_IGN); /* a finished client's socket */
    snprintf(path, sizeof path, "%s/server.db", sh->root);
    if (floor_open_db(path, sh->ckpt_off,
                      "CREATE TABLE m(id INTEGER PRIMARY KEY, rcpt INTEGER NOT NULL, body BLOB);"
                      "CREATE INDEX m_rcpt ON m(rcpt, id);",
                      &db, err, sizeof err) != 0) {
        fprintf(stderr, "ckv-bench floor: server: %s\n", err);
        goto out;
    }
    if (sqlite3_prepare_v2(db, "INSERT INTO m(rcpt, body) VALUES(?,?)", -1, &ins, NULL) ||
        sqlite3_prepare_v2(db, "DELETE FROM m WHERE id=? AND rcpt=?", -1, &del, NULL))
        goto out;
    ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0)
        goto out;
    while (!server_stop) {
        struct epoll_event evs[64];
        int k = epoll_wait(ep, evs, 64, 200);
        int txn = 0;
        for (int e = 0; e < k; e++) {
            if (evs[e].data.u32 == UINT32_MAX) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                    continue;
                struct sconn *c = calloc(1, sizeof *c);
                int one = 1;
                struct epoll_event cev = {.events = EPOLLIN, .data.u32 = (uint32_t)nconn};
                if (!c || nconn == FLOOR_MAX_CLIENTS ||
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) != 0) {
                    free(c);
                    close(fd);
                    continue;
                }
                c->fd = fd;
                c->client = -1;
                conns[nconn++] = c;
                continue;
            }
            struct sconn *c = conns[evs[e].data.u32];
            ssize_t r = read(c->fd, c->in + c->have, sizeof c->in - c->have);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                continue; /* a client finished */
            }
            if (r < 0)
                continue;
            c->have += (size_t)r;
            if (server_frames(db, ins, del, c, by_client, sh->n, &txn) != 0) {
                fprintf(stderr, "ckv-bench floor: server: bad frame or database error (%s)\n",
                        sqlite3_errmsg(db));
                goto out;
            }
        }
        /* group commit: everything this turn stored is durable before it is
         * pushed to its recipients */
        if (txn && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            fprintf(stderr, "ckv-bench floor: server: commit: %s\n", sqlite3_errmsg(db));
            goto out;
        }
        for (int i = 0; i < nconn; i++)
            if (conns[i]->outn) {
                floor_write_all(conns[i]->fd, conns[i]->out, conns[i]->outn);
                conns[i]->outn = 0;
            }
    }
    rc = 0;
out:
    for (int i = 0; i < nconn; i++) {
        close(conns[i]->fd);
        free(conns[i]->out);
        free(conns[i]);
    }
    if (ep >= 0)
        close(ep);
    sqlite3_finalize(ins);
    sqlite3_finalize(del);
    sqlite3_close(db);
    return rc;
}

/* ---- the driver --------------------------------------------------------------------- */

struct floor_opts {
    int n, msgs, rate, dh, work_us, ckpt_off, signal, runs;
};

enum { G_MSGS, G_P50, G_P99, G_CLIENT_CPU, G_SERVER_CPU, G_N };

/* Wait until every client is done with set-up step k (0: connected, 1:
 * sessions); -1 when a client failed or it takes over 60 s. */
static int wait_ready(struct floor_shared *sh, int k)
{
    for (int waited = 0; __atomic_load_n(&sh->ready[k], __ATOMIC_SEQ_CST) < sh->n; waited++) {
        if (waited > 60000 || waitpid(-1, NULL, WNOHANG) > 0) {
            for (int i = 0; i < sh->n; i++)
                if (sh->r[i].failed)
                    fprintf(stderr, "ckv-bench floor: client %d: %s\n", i, sh->r[i].err);
            fprintf(stderr, "ckv-bench floor: the clients could not %s\n",
                    k == 0 ? "connect" : "set up their sessions");
            return -1;
        }
        usleep(1000);
    }
    return 0;
}

/* One run; its figures in v[], messages lost in *lost. 0 when it passed. */
static int floor_once(const struct floor_opts *o, double *v, uint64_t *lost, uint64_t *count)
{
    struct floor_shared *sh = NULL;
    pid_t srv = -1, kids[FLOOR_MAX_CLIENTS];
    int nkids = 0, lfd = -1, rc = 1;
    char root[] = "/tmp/ckv-bench-floor-XXXXXX";
    double *lat = NULL;

    if (!mkdtemp(root)) {
        fprintf(stderr, "ckv-bench floor: cannot create a temporary directory: %s\n",
                strerror(errno));
        return 1;
    }
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        sh = NULL;
        goto out;
    }
    memset(sh, 0, sizeof *sh);
    sh->n = o->n;
    sh->msgs = o->msgs;
    sh->rate = o->rate;
    sh->dh = o->dh;
    sh->work_us = o->work_us;
    sh->ckpt_off = o->ckpt_off;
    sh->signal = o->signal;
    snprintf(sh->root, sizeof sh->root, "%s", root);

    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 512) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0) {
        fprintf(stderr, "ckv-bench floor: cannot listen on 127.0.0.1: %s\n", strerror(errno));
        goto out;
    }
    sh->port = ntohs(a.sin_port);
    fflush(stdout);
    srv = fork();
    if (srv < 0)
        goto out;
    if (srv == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        _exit(floor_server(lfd, sh));
    }
    for (int i = 0; i < o->n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            goto stop;
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            close(lfd);
            _exit(ckv_bench_floor_client(sh, i));
        }
        kids[nkids++] = pid;
    }
    if (wait_ready(sh, 0) != 0)
        goto stop;
    __atomic_store_n(&sh->phase, 1, __ATOMIC_SEQ_CST);
    if (wait_ready(sh, 1) != 0)
        goto stop;
    uint64_t srv_cpu0 = ckv_bench_proc_cpu_ns(srv);
    sh->t0 = ckv_bench_now_ns() + 100000000ull; /* 100 ms to spread the schedule */
    uint64_t t0 = sh->t0;
    __atomic_store_n(&sh->phase, 2, __ATOMIC_SEQ_CST);
    /* a client that fails stops the run: the others would wait for it */
    int killed = 0, srv_died = 0;
    for (int left = nkids; left > 0;) {
        int wst = 0;
        pid_t pid = waitpid(-1, &wst, 0);
        if (pid < 0)
            break;
        int bad = !WIFEXITED(wst) || WEXITSTATUS(wst) != 0;
        if (pid == srv) {
            fprintf(stderr, "ckv-bench floor: the server stopped during the run\n");
            srv = -1;
            srv_died = bad = 1;
        } else {
            left--;
        }
        if (bad && !killed) {
            killed = 1;
            for (int i = 0; i < nkids; i++)
                kill(kids[i], SIGKILL);
        }
    }
    nkids = 0;
    if (srv_died)
        goto stop;
    uint64_t srv_cpu1 = ckv_bench_proc_cpu_ns(srv), t1 = t0;

    uint64_t sent = 0, received = 0, receipts = 0, dup = 0, cpu = 0;
    size_t nlat = 0;
    int failed = 0;
    for (int i = 0; i < o->n; i++) {
        struct floor_result *r = &sh->r[i];
        if (r->failed) {
            fprintf(stderr, "ckv-bench floor: client %d: %s\n", i, r->err);
            failed = 1;
        }
        sent += r->sent;
        received += r->received;
        receipts += r->receipts;
        dup += r->dup;
        cpu += r->cpu_ns;
        nlat += r->nlat;
        if (r->done_ns > t1)
            t1 = r->done_ns;
    }
    lat = malloc((nlat ? nlat : 1) * sizeof *lat);
    if (!lat)
        goto stop;
    nlat = 0;
    for (int i = 0; i < o->n; i++)
        for (uint32_t j = 0; j < sh->r[i].nlat; j++)
            lat[nlat++] = sh->r[i].lat_us[j];
    double secs = (double)(t1 - t0) / 1e9;
    v[G_MSGS] = secs > 0 ? (double)received / secs : 0;
    v[G_P50] = nlat ? ckv_bench_percentile(lat, nlat, 50) : 0;
    v[G_P99] = nlat ? ckv_bench_percentile(lat, nlat, 99) : 0;
    v[G_CLIENT_CPU] = received ? (double)cpu / 1e3 / (double)received : 0;
    v[G_SERVER_CPU] = received ? (double)(srv_cpu1 - srv_cpu0) / 1e3 / (double)received : 0;
    *lost = sent - (received < sent ? received : sent);
    *count = received;
    if (dup)
        fprintf(stderr, "ckv-bench floor: %llu messages arrived twice\n",
                (unsigned long long)dup);
    rc = failed || dup || received != sent || receipts != sent ? 1 : 0;
stop:
    for (int i = 0; i < nkids; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    if (srv > 0) {
        kill(srv, SIGTERM);
        int wst = 0;
        waitpid(srv, &wst, 0);
        if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
            fprintf(stderr, "ckv-bench floor: the server failed\n");
            rc = 1;
        }
    }
out:
    free(lat);
    if (lfd >= 0)
        close(lfd);
    if (sh)
        munmap(sh, sizeof *sh);
    ckv_bench_rm_rf(root);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ckv-bench floor [--clients N] [--messages M] [--rate R] [--dh D]\n"
            "                       [--work-us U] [--checkpoint off|auto] [--signal]\n"
            "                       [--runs K]\n"
            "The latency floor of any relay design on this machine: N client processes\n"
            "(default 50) each send M messages (default 1000) to the next, R messages/s\n"
            "in all (default 5000), through one server process; every message gets an\n"
            "end-to-end receipt. Per message it does only what any design with ckv's\n"
            "guarantees must: a Diffie-Hellman ratchet step of D X25519 operations\n"
            "(default 3) on each change of direction, and a durable SQLite commit on\n"
            "the sender, the server and the recipient; on one pushed TCP connection\n"
            "per client with binary frames, one commit per turn, no HTTP or JSON.\n"
            "--work-us U adds U us of CPU to each message step (a send, a message, a\n"
            "receipt): what a real design spends beyond the floor.\n"
            "--checkpoint auto keeps SQLite's WAL checkpoints (and their fsyncs) in\n"
            "the commit path; off (default) leaves them out.\n"
            "--signal replaces the bare X25519 steps with ckv's own message path in\n"
            "memory: each message and receipt is encrypted and decrypted by libckv\n"
            "(libsignal-protocol-c's double ratchet, records sealed in an in-memory\n"
            "profile), as ckv would with an ideal transport and storage.\n"
            "Prints floor_messages_per_s, floor_receipt_latency_p50/p99 (us),\n"
            "floor_client_cpu_per_message, floor_server_cpu_per_message (us) and\n"
            "floor_messages_lost, medians over K runs (default 3). Exit 1 when a\n"
            "message or receipt is lost or duplicated, 2 on a usage error.\n");
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int ckv_bench_floor(int argc, char **argv)
{
    static const struct option opts[] = {
        {"clients", required_argument, NULL, 'n'},  {"messages", required_argument, NULL, 'm'},
        {"rate", required_argument, NULL, 'r'},     {"dh", required_argument, NULL, 'd'},
        {"work-us", required_argument, NULL, 'w'},  {"checkpoint", required_argument, NULL, 'c'},
        {"runs", required_argument, NULL, 'k'},     {"signal", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct floor_opts o = {.n = 50, .msgs = 1000, .rate = 5000, .dh = 3, .ckpt_off = 1, .runs = 3};
    int c, bad = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': bad |= parse_int(optarg, 2, FLOOR_MAX_CLIENTS, &o.n); break;
        case 'm': bad |= parse_int(optarg, 1, FLOOR_MAX_MSGS - 1, &o.msgs); break;
        case 'r': bad |= parse_int(optarg, 1, 1000000, &o.rate); break;
        case 'd': bad |= parse_int(optarg, 0, 100, &o.dh); break;
        case 'w': bad |= parse_int(optarg, 0, 100000, &o.work_us); break;
        case 'k': bad |= parse_int(optarg, 1, 20, &o.runs); break;
        case 'c':
            if (strcmp(optarg, "off") == 0)
                o.ckpt_off = 1;
            else if (strcmp(optarg, "auto") == 0)
                o.ckpt_off = 0;
            else
                bad = 1;
            break;
        case 's':
#ifdef CKV_BENCH_HAVE_CORE
            o.signal = 1;
#else
            fprintf(stderr, "ckv-bench floor: --signal needs libckv, which was not built\n");
            return 2;
#endif
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (bad || optind != argc) {
        fprintf(stderr, "ckv-bench floor: --clients 2..%d, --messages 1..%d, --rate 1..1000000, "
                        "--dh 0..100, --work-us 0..100000, --checkpoint off|auto, --runs 1..20\n",
                FLOOR_MAX_CLIENTS, FLOOR_MAX_MSGS - 1);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "ckv-bench floor: libsodium failed to initialise\n");
        return 1;
    }
    double v[G_N][20];
    uint64_t lost = 0, count = 0;
    int failed = 0;
    for (int k = 0; k < o.runs; k++) {
        double one[G_N];
        uint64_t l = 0, cnt = 0;
        failed |= floor_once(&o, one, &l, &cnt);
        for (int g = 0; g < G_N; g++)
            v[g][k] = one[g];
        lost += l;
        count += cnt;
    }
    static const char *names[G_N] = {"floor_messages_per_s", "floor_receipt_latency_p50",
                                     "floor_receipt_latency_p99", "floor_client_cpu_per_message",
                                     "floor_server_cpu_per_message"};
    static const char *units[G_N] = {"ops/s", "us", "us", "us", "us"};
    for (int g = 0; g < G_N; g++)
        ckv_bench_emit(names[g], ckv_bench_median(v[g], (size_t)o.runs), units[g], "durable",
                       count / (uint64_t)o.runs, o.runs);
    ckv_bench_emit("floor_messages_lost", (double)lost, "ops", "durable",
                   (uint64_t)o.n * (uint64_t)o.msgs * (uint64_t)o.runs, o.runs);
    return failed ? 1 : 0;
}
