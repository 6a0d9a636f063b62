/*
 * floor_client.c: one client process of `ckv-bench floor` (what is
 * measured, and why, is in floor.c). It connects once, sends its messages
 * on the paced schedule, and in each turn handles everything that arrived:
 * a message from the previous client is stored and receipted, a receipt
 * from the next client closes that message's latency. Each message
 * received after a change of direction costs a ratchet step (--dh X25519
 * operations); each turn is one durable commit, made before anything of
 * that turn leaves; acknowledgements and frames of a turn go out in one
 * write.
 */
#define _GNU_SOURCE
#include "bench.h"
#include "floor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#define STATE_LEN 1500 /* a conversation's state, rewritten on every step */
#define OUT_MAX (1u << 21)
#define IN_MAX (1u << 20)

struct fc {
    struct floor_shared *sh;
    struct floor_result *r;
    int me, fd;
    sqlite3 *db;
    sqlite3_stmt *upd, *ins;
    uint8_t sk[32], pk[32], state[STATE_LEN], body[FLOOR_BODY];
    int in_txn;
    char *out;
    size_t outn;
    uint64_t acks[FLOOR_MAX_ACKS];
    int nack;
};

static uint64_t proc_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fail(struct fc *c, const char *what)
{
    c->r->failed = 1;
    snprintf(c->r->err, sizeof c->r->err, "%s%s%s", what, c->db ? ": " : "",
             c->db ? sqlite3_errmsg(c->db) : "");
    return -1;
}

/* A Diffie-Hellman ratchet step's cost, and --work-us of other work. */
static void ratchet_step(struct fc *c)
{
    uint8_t shared[32];
    for (int i = 0; i < c->sh->dh; i++) {
        if (crypto_scalarmult(shared, c->sk, c->pk) != 0)
            memset(shared, 0, sizeof shared);
        c->sk[i & 31] ^= shared[0]; /* each result feeds the next */
    }
    sodium_memzero(shared, sizeof shared);
}

static void extra_work(const struct fc *c)
{
    if (c->sh->work_us <= 0)
        return;
    uint64_t end = proc_cpu_ns() + (uint64_t)c->sh->work_us * 1000u;
    while (proc_cpu_ns() < end)
        ;
}

static int begin(struct fc *c)
{
    if (c->in_txn)
        return 0;
    if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return fail(c, "begin");
    c->in_txn = 1;
    return 0;
}

/* Rewrite conversation k's state and, with a body, add a history row. */
static int store(struct fc *c, int k, int peer, uint64_t seq, const void *body, size_t blen)
{
    if (begin(c) != 0)
        return -1;
    crypto_generichash(c->state, 32, c->state, 64, NULL, 0);
    sqlite3_bind_blob(c->upd, 1, c->state, STATE_LEN, SQLITE_STATIC);
    sqlite3_bind_int(c->upd, 2, k);
    int rc = sqlite3_step(c->upd);
    sqlite3_reset(c->upd);
    if (rc != SQLITE_DONE)
        return fail(c, "state update");
    if (!body)
        return 0;
    sqlite3_bind_int(c->ins, 1, peer);
    sqlite3_bind_int64(c->ins, 2, (sqlite3_int64)seq);
    sqlite3_bind_blob(c->ins, 3, body, (int)blen, SQLITE_STATIC);
    rc = sqlite3_step(c->ins);
    sqlite3_reset(c->ins);
    if (rc != SQLITE_DONE)
        return fail(c, "history insert");
    return 0;
}

static int queue(struct fc *c, uint8_t type, uint8_t kind, uint32_t peer, uint64_t seq,
                 const void *body, size_t blen)
{
    struct floor_hdr h = {(uint32_t)(sizeof h + blen), type, kind, 0, peer, 0, seq};
    if (c->outn + sizeof h + blen > OUT_MAX)
        return fail(c, "too much to send in one turn");
    memcpy(c->out + c->outn, &h, sizeof h);
    if (blen)
        memcpy(c->out + c->outn + sizeof h, body, blen);
    c->outn += sizeof h + blen;
    return 0;
}

static int flush_acks(struct fc *c)
{
    if (c->nack == 0)
        return 0;
    int rc = queue(c, FLOOR_ACK, 0, (uint32_t)c->me, 0, c->acks, (size_t)c->nack * 8);
    c->nack = 0;
    return rc;
}

/* End a turn: commit, then send what the turn produced. */
static int end_turn(struct fc *c)
{
    if (flush_acks(c) != 0)
        return -1;
    if (c->in_txn) {
        if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            return fail(c, "commit");
        c->in_txn = 0;
    }
    if (c->outn && floor_write_all(c->fd, c->out, c->outn) != 0)
        return fail(c, "write to the server");
    c->outn = 0;
    return 0;
}

static int setup(struct fc *c)
{
    char path[300], err[400];
    snprintf(path, sizeof path, "%s/client%d.db", c->sh->root, c->me);
    if (floor_open_db(path, c->sh->ckpt_off,
                      "CREATE TABLE conv(k INTEGER PRIMARY KEY, state BLOB);"
                      "CREATE TABLE history(id INTEGER PRIMARY KEY, peer INTEGER, seq INTEGER,"
                      " body BLOB);"
                      "CREATE INDEX history_peer ON history(peer, seq);"
                      "INSERT INTO conv VALUES(0, zeroblob(1500)), (1, zeroblob(1500));",
                      &c->db, err, sizeof err) != 0) {
        c->db = NULL;
        snprintf(c->r->err, sizeof c->r->err, "%.150s", err);
        c->r->failed = 1;
        return -1;
    }
    if (sqlite3_prepare_v2(c->db, "UPDATE conv SET state=? WHERE k=?", -1, &c->upd, NULL) ||
        sqlite3_prepare_v2(c->db, "INSERT INTO history(peer, seq, body) VALUES(?,?,?)", -1,
                           &c->ins, NULL))
        return fail(c, "prepare");
    randombytes_buf(c->sk, sizeof c->sk);
    randombytes_buf(c->body, sizeof c->body);
    if (crypto_scalarmult_base(c->pk, c->sk) != 0)
        return fail(c, "key");
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)c->sh->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        return fail(c, "connect to the server");
    if (queue(c, FLOOR_HELLO, 0, (uint32_t)c->me, 0, NULL, 0) != 0 || end_turn(c) != 0)
        return -1;
    return 0;
}

int ckv_bench_floor_client(struct floor_shared *sh, int i)
{
    struct fc c = {.sh = sh, .r = &sh->r[i], .me = i, .fd = -1};
    char *in = malloc(IN_MAX);
    uint8_t *seen = calloc(FLOOR_MAX_MSGS, 1);
    uint64_t *sent_at = calloc(FLOOR_MAX_MSGS, sizeof *sent_at);
    size_t have = 0;
    int rc = 1, m = sh->msgs, next = (i + 1) % sh->n, prev = (i + sh->n - 1) % sh->n;
    /* When does a frame bring a new ratchet key (and so cost a step)? A
     * receipt does when we sent a message since the last step of that
     * conversation; a message does when a receipt of ours left since. */
    int sent_since = 0, receipted_since = 0, receipted_now = 0;
    c.out = malloc(OUT_MAX);
    if (!in || !seen || !sent_at || !c.out) {
        fail(&c, "out of memory");
        goto out;
    }
    if (setup(&c) != 0)
        goto out;
    __atomic_add_fetch(&sh->ready, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&sh->go, __ATOMIC_SEQ_CST))
        usleep(1000);
    uint64_t period = (uint64_t)sh->n * 1000000000ull / (uint64_t)sh->rate;
    uint64_t start = sh->t0 + (uint64_t)i * period / (uint64_t)sh->n;
    uint64_t cpu0 = proc_cpu_ns(), last_progress = ckv_bench_now_ns();
    while (c.r->received < (uint64_t)m || c.r->receipts < (uint64_t)m) {
        uint64_t now = ckv_bench_now_ns();
        int timeout = 200;
        if (c.r->sent < (uint64_t)m) {
            uint64_t due = start + c.r->sent * period;
            timeout = due <= now ? 0 : (int)((due - now) / 1000000u) + 1;
        }
        if (now - last_progress > 30000000000ull) {
            fail(&c, "nothing arrived for 30 s");
            goto out;
        }
        struct pollfd q = {c.fd, POLLIN, 0};
        if (poll(&q, 1, timeout) > 0) {
            ssize_t r = read(c.fd, in + have, IN_MAX - have);
            if (r <= 0) {
                fail(&c, "the server closed the connection");
                goto out;
            }
            have += (size_t)r;
            last_progress = ckv_bench_now_ns();
            size_t off = 0;
            while (have - off >= sizeof(struct floor_hdr)) {
                struct floor_hdr h;
                memcpy(&h, in + off, sizeof h);
                if (h.len < sizeof h || h.len > FLOOR_MAX_FRAME || h.type != FLOOR_MSG ||
                    h.seq >= FLOOR_MAX_MSGS) {
                    fail(&c, "a bad frame from the server");
                    goto out;
                }
                if (have - off < h.len)
                    break;
                const char *body = in + off + sizeof h;
                if (c.nack == FLOOR_MAX_ACKS && flush_acks(&c) != 0)
                    goto out;
                c.acks[c.nack++] = h.id;
                if (h.kind == FLOOR_KIND_MESSAGE && h.peer == (uint32_t)prev) {
                    if (receipted_since)
                        ratchet_step(&c);
                    receipted_since = 0;
                    if (seen[h.seq]) {
                        c.r->dup++;
                    } else {
                        seen[h.seq] = 1;
                        c.r->received++;
                        if (store(&c, 1, prev, h.seq, body, h.len - sizeof h) != 0)
                            goto out;
                        extra_work(&c);
                    }
                    receipted_now = 1; /* leaves with this turn's write */
                    if (queue(&c, FLOOR_SEND, FLOOR_KIND_RECEIPT, (uint32_t)prev, h.seq,
                              c.body, FLOOR_RECEIPT_BODY) != 0)
                        goto out;
                } else if (h.kind == FLOOR_KIND_RECEIPT && h.peer == (uint32_t)next) {
                    if (sent_since)
                        ratchet_step(&c);
                    sent_since = 0;
                    if (sent_at[h.seq] == 0) {
                        c.r->dup++;
                    } else {
                        if (c.r->nlat < FLOOR_MAX_MSGS)
                            c.r->lat_us[c.r->nlat++] =
                                (double)(ckv_bench_now_ns() - sent_at[h.seq]) / 1e3;
                        sent_at[h.seq] = 0;
                        c.r->receipts++;
                        if (store(&c, 0, next, h.seq, NULL, 0) != 0)
                            goto out;
                        extra_work(&c);
                    }
                } else {
                    fail(&c, "a frame from an unexpected client");
                    goto out;
                }
                off += h.len;
            }
            if (off == 0 && have == IN_MAX) {
                fail(&c, "a frame larger than the buffer");
                goto out;
            }
            memmove(in, in + off, have - off);
            have -= off;
        }
        now = ckv_bench_now_ns();
        while (c.r->sent < (uint64_t)m && start + c.r->sent * period <= now) {
            uint64_t seq = c.r->sent + 1; /* seqs from 1; 0 is "none" */
            sent_since = 1;
            if (store(&c, 0, next, seq, c.body, FLOOR_BODY) != 0)
                goto out;
            extra_work(&c);
            sent_at[seq] = now;
            if (queue(&c, FLOOR_SEND, FLOOR_KIND_MESSAGE, (uint32_t)next, seq, c.body,
                      FLOOR_BODY) != 0)
                goto out;
            c.r->sent++;
        }
        if (end_turn(&c) != 0)
            goto out;
        receipted_since |= receipted_now;
        receipted_now = 0;
    }
    c.r->cpu_ns = proc_cpu_ns() - cpu0;
    c.r->done_ns = ckv_bench_now_ns(); /* before sqlite3_close's checkpoint */
    rc = c.r->failed;
out:
    if (c.fd >= 0)
        close(c.fd);
    sqlite3_finalize(c.upd);
    sqlite3_finalize(c.ins);
    sqlite3_close(c.db);
    sodium_memzero(c.sk, sizeof c.sk);
    free(in);
    free(seen);
    free(sent_at);
    free(c.out);
    return rc;
}
