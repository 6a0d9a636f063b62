/*
 * floor_client.c: one client process of `ckv-bench floor` (what is
 * measured, and why, is in floor.c). It connects once, sends its messages
 * on the paced schedule, and in each turn handles everything that arrived:
 * a message from the previous client is stored and receipted, a receipt
 * from the next client closes that message's latency. Each message
 * received after a change of direction costs a ratchet step (--dh X25519
 * operations; with --signal, libckv encrypts and decrypts every message
 * and receipt instead, over sessions set up through the relay); each turn
 * is one durable commit, made before anything of that turn leaves;
 * acknowledgements and frames of a turn go out in one write.
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

#ifdef CKV_BENCH_HAVE_CORE
#include <ckv/core.h>
_Static_assert(sizeof(ckv_bundle) <= FLOOR_BUNDLE_MAX, "a bundle fits its shared slot");
#endif

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
    char *in, *out;
    size_t have, outn;
#ifdef CKV_BENCH_HAVE_CORE
    ckv_profile *prof; /* --signal: an in-memory profile, sessions with both neighbours */
#endif
    uint64_t acks[FLOOR_MAX_ACKS];
    int nack;
};

static int fail(struct fc *c, const char *what)
{
    c->r->failed = 1;
    snprintf(c->r->err, sizeof c->r->err, "%s", what);
    return -1;
}

/* A database step failed: its message too. */
static int fail_db(struct fc *c, const char *what)
{
    c->r->failed = 1;
    snprintf(c->r->err, sizeof c->r->err, "%s: %s", what, sqlite3_errmsg(c->db));
    return -1;
}

/* What a Diffie-Hellman ratchet step costs: --dh X25519 operations. */
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

/* --work-us of other work per message step (busy CPU). */
static void extra_work(const struct fc *c)
{
    if (c->sh->work_us <= 0)
        return;
    uint64_t end = ckv_bench_cpu_ns() + (uint64_t)c->sh->work_us * 1000u;
    while (ckv_bench_cpu_ns() < end)
        ;
}

static int begin(struct fc *c)
{
    if (c->in_txn)
        return 0;
    if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return fail_db(c, "begin");
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
        return fail_db(c, "state update");
    if (!body)
        return 0;
    sqlite3_bind_int(c->ins, 1, peer);
    sqlite3_bind_int64(c->ins, 2, (sqlite3_int64)seq);
    sqlite3_bind_blob(c->ins, 3, body, (int)blen, SQLITE_STATIC);
    rc = sqlite3_step(c->ins);
    sqlite3_reset(c->ins);
    if (rc != SQLITE_DONE)
        return fail_db(c, "history insert");
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
            return fail_db(c, "commit");
        c->in_txn = 0;
    }
    if (c->outn && floor_write_all(c->fd, c->out, c->outn) != 0)
        return fail(c, "write to the server");
    c->outn = 0;
    return 0;
}

/* Block for the next whole frame (set-up only); its body into body[cap]. */
static int wait_frame(struct fc *c, struct floor_hdr *h, uint8_t *body, size_t cap)
{
    for (;;) {
        if (c->have >= sizeof *h) {
            memcpy(h, c->in, sizeof *h);
            if (h->len < sizeof *h || h->len - sizeof *h > cap)
                return fail(c, "a bad frame from the server");
            if (c->have >= h->len) {
                memcpy(body, c->in + sizeof *h, h->len - sizeof *h);
                memmove(c->in, c->in + h->len, c->have - h->len);
                c->have -= h->len;
                return 0;
            }
        }
        struct pollfd q = {c->fd, POLLIN, 0};
        if (poll(&q, 1, 30000) <= 0)
            return fail(c, "nothing from the server for 30 s during set-up");
        ssize_t r = read(c->fd, c->in + c->have, IN_MAX - c->have);
        if (r <= 0)
            return fail(c, "the server closed the connection");
        c->have += (size_t)r;
    }
}

static void wait_phase(const struct fc *c, int k)
{
    while (__atomic_load_n(&c->sh->phase, __ATOMIC_SEQ_CST) < k)
        usleep(1000);
}

#ifdef CKV_BENCH_HAVE_CORE
static int sg_fail(struct fc *c, const char *what, ckv_status st)
{
    c->r->failed = 1;
    snprintf(c->r->err, sizeof c->r->err, "%s: %s", what, ckv_strerror(st));
    return -1;
}

/* Encrypt `text` for client `peer` into out: the envelope's type, then its
 * body. */
static int sg_encrypt(struct fc *c, int peer, const char *text, uint8_t *out, size_t cap,
                      size_t *out_len)
{
    char name[32];
    ckv_envelope env = {0, NULL, 0};
    snprintf(name, sizeof name, "floor%d", peer);
    ckv_status st = ckv_session_encrypt(c->prof, name, (const uint8_t *)text, strlen(text), &env);
    if (st != CKV_OK)
        return sg_fail(c, "encrypt", st);
    if (env.body_len + 1 > cap) {
        ckv_envelope_clear(&env);
        return fail(c, "an envelope larger than a frame");
    }
    out[0] = (uint8_t)env.type;
    memcpy(out + 1, env.body, env.body_len);
    *out_len = env.body_len + 1;
    ckv_envelope_clear(&env);
    return 0;
}

/* Decrypt what client `peer` sent; it must read `want`. */
static int sg_decrypt(struct fc *c, int peer, const uint8_t *body, size_t len, const char *want)
{
    char name[32];
    uint8_t *pt = NULL;
    size_t plen = 0;
    if (len < 2)
        return fail(c, "an empty envelope");
    ckv_envelope env = {body[0], (uint8_t *)(uintptr_t)(body + 1), len - 1};
    snprintf(name, sizeof name, "floor%d", peer);
    ckv_status st = ckv_session_decrypt(c->prof, name, &env, &pt, &plen, NULL);
    if (st != CKV_OK)
        return sg_fail(c, "decrypt", st);
    int same = plen == strlen(want) && memcmp(pt, want, plen) == 0;
    free(pt);
    return same ? 0 : fail(c, "a decrypted text differs from what was sent");
}

/* --signal set-up: an in-memory profile; its bundle in shared memory; once
 * all are there (phase 1), a session with the next client (its PreKey
 * message goes through the relay) and one from the previous client's. */
static int setup_sessions(struct fc *c, int next, int prev)
{
    static const uint8_t pass[] = "floor";
    char name[32];
    uint8_t buf[FLOOR_MAX_FRAME];
    size_t len = 0;
    struct floor_hdr h;
    ckv_bundle b;
    snprintf(name, sizeof name, "floor%d", c->me);
    ckv_status st = ckv_profile_create(NULL, name, pass, sizeof pass - 1, CKV_KDF_MIN, &c->prof);
    if (st != CKV_OK)
        return sg_fail(c, "create a profile", st);
    if ((st = ckv_profile_export_bundle(c->prof, 1, &b)) != CKV_OK)
        return sg_fail(c, "export a bundle", st);
    memcpy(c->sh->bundle[c->me], &b, sizeof b);
    __atomic_add_fetch(&c->sh->ready[0], 1, __ATOMIC_SEQ_CST);
    wait_phase(c, 1);
    memcpy(&b, c->sh->bundle[next], sizeof b);
    snprintf(name, sizeof name, "floor%d", next);
    if ((st = ckv_session_start(c->prof, name, &b, NULL)) != CKV_OK)
        return sg_fail(c, "start a session", st);
    if (sg_encrypt(c, next, "hello", buf, sizeof buf, &len) != 0 ||
        queue(c, FLOOR_SEND, FLOOR_KIND_SETUP, (uint32_t)next, 0, buf, len) != 0 ||
        end_turn(c) != 0)
        return -1;
    if (wait_frame(c, &h, buf, sizeof buf) != 0)
        return -1;
    if (h.type != FLOOR_MSG || h.kind != FLOOR_KIND_SETUP || h.peer != (uint32_t)prev)
        return fail(c, "expected the previous client's first message");
    if (sg_decrypt(c, prev, buf, h.len - sizeof h, "hello") != 0)
        return -1;
    c->acks[c->nack++] = h.id;
    return 0;
}
#endif

/* What a message or receipt from `peer` costs in crypto: with --signal it
 * is decrypted (it must read `want`); otherwise a bare ratchet step when
 * `step` says it brings a new ratchet key. */
static int open_body(struct fc *c, int peer, int step, const uint8_t *body, size_t len,
                     const char *want)
{
#ifdef CKV_BENCH_HAVE_CORE
    if (c->sh->signal)
        return sg_decrypt(c, peer, body, len, want);
#endif
    (void)peer, (void)body, (void)len, (void)want;
    if (step)
        ratchet_step(c);
    return 0;
}

/* The body of a message or receipt for `peer`: with --signal `text`
 * encrypted; otherwise `plain_len` bytes of filler. */
static int make_body(struct fc *c, int peer, const char *text, size_t plain_len, uint8_t *out,
                     size_t *out_len)
{
#ifdef CKV_BENCH_HAVE_CORE
    if (c->sh->signal)
        return sg_encrypt(c, peer, text, out, FLOOR_MAX_FRAME - sizeof(struct floor_hdr),
                          out_len);
#endif
    (void)peer, (void)text;
    memcpy(out, c->body, plain_len);
    *out_len = plain_len;
    return 0;
}

static int setup(struct fc *c, int next, int prev)
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
        return fail_db(c, "prepare");
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
    struct floor_hdr h;
    uint8_t none[1];
    if (wait_frame(c, &h, none, 0) != 0)
        return -1;
    if (h.type != FLOOR_HELLO)
        return fail(c, "the server did not take our hello");
#ifdef CKV_BENCH_HAVE_CORE
    if (c->sh->signal) {
        if (setup_sessions(c, next, prev) != 0)
            return -1;
    } else
#endif
    {
        (void)next;
        (void)prev;
        __atomic_add_fetch(&c->sh->ready[0], 1, __ATOMIC_SEQ_CST);
        wait_phase(c, 1);
    }
    __atomic_add_fetch(&c->sh->ready[1], 1, __ATOMIC_SEQ_CST);
    wait_phase(c, 2);
    return 0;
}

int ckv_bench_floor_client(struct floor_shared *sh, int i)
{
    struct fc c = {.sh = sh, .r = &sh->r[i], .me = i, .fd = -1};
    uint8_t *seen = calloc(FLOOR_MAX_MSGS, 1);
    uint64_t *sent_at = calloc(FLOOR_MAX_MSGS, sizeof *sent_at);
    int rc = 1, m = sh->msgs, next = (i + 1) % sh->n, prev = (i + sh->n - 1) % sh->n;
    /* When does a frame bring a new ratchet key (and so cost a step)? A
     * receipt does when we sent a message since the last step of that
     * conversation; a message does when a receipt of ours left since. */
    int sent_since = 0, receipted_since = 0, receipted_now = 0;
    uint8_t env[FLOOR_MAX_FRAME];
    size_t env_len = 0;
    char text[64];
    c.in = malloc(IN_MAX);
    c.out = malloc(OUT_MAX);
    if (!c.in || !seen || !sent_at || !c.out) {
        fail(&c, "out of memory");
        goto out;
    }
    if (setup(&c, next, prev) != 0)
        goto out;
    uint64_t period = (uint64_t)sh->n * 1000000000ull / (uint64_t)sh->rate;
    uint64_t start = sh->t0 + (uint64_t)i * period / (uint64_t)sh->n;
    uint64_t cpu0 = ckv_bench_cpu_ns(), last_progress = ckv_bench_now_ns();
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
            ssize_t r = read(c.fd, c.in + c.have, IN_MAX - c.have);
            if (r <= 0) {
                fail(&c, "the server closed the connection");
                goto out;
            }
            c.have += (size_t)r;
            last_progress = ckv_bench_now_ns();
            size_t off = 0;
            while (c.have - off >= sizeof(struct floor_hdr)) {
                struct floor_hdr h;
                memcpy(&h, c.in + off, sizeof h);
                if (h.len < sizeof h || h.len > FLOOR_MAX_FRAME || h.type != FLOOR_MSG ||
                    h.seq >= FLOOR_MAX_MSGS) {
                    fail(&c, "a bad frame from the server");
                    goto out;
                }
                if (c.have - off < h.len)
                    break;
                const uint8_t *body = (const uint8_t *)c.in + off + sizeof h;
                size_t blen = h.len - sizeof h;
                if (c.nack == FLOOR_MAX_ACKS && flush_acks(&c) != 0)
                    goto out;
                c.acks[c.nack++] = h.id;
                if (h.kind == FLOOR_KIND_MESSAGE && h.peer == (uint32_t)prev) {
                    snprintf(text, sizeof text, "message %llu", (unsigned long long)h.seq);
                    if (open_body(&c, prev, receipted_since, body, blen, text) != 0)
                        goto out;
                    receipted_since = 0;
                    if (seen[h.seq]) {
                        c.r->dup++;
                    } else {
                        seen[h.seq] = 1;
                        c.r->received++;
                        if (store(&c, 1, prev, h.seq, body, blen) != 0)
                            goto out;
                        extra_work(&c);
                    }
                    receipted_now = 1; /* leaves with this turn's write */
                    snprintf(text, sizeof text, "receipt %llu", (unsigned long long)h.seq);
                    if (make_body(&c, prev, text, FLOOR_RECEIPT_BODY, env, &env_len) != 0 ||
                        queue(&c, FLOOR_SEND, FLOOR_KIND_RECEIPT, (uint32_t)prev, h.seq, env,
                              env_len) != 0)
                        goto out;
                } else if (h.kind == FLOOR_KIND_RECEIPT && h.peer == (uint32_t)next) {
                    snprintf(text, sizeof text, "receipt %llu", (unsigned long long)h.seq);
                    if (open_body(&c, next, sent_since, body, blen, text) != 0)
                        goto out;
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
            if (off == 0 && c.have == IN_MAX) {
                fail(&c, "a frame larger than the buffer");
                goto out;
            }
            memmove(c.in, c.in + off, c.have - off);
            c.have -= off;
        }
        now = ckv_bench_now_ns();
        while (c.r->sent < (uint64_t)m && start + c.r->sent * period <= now) {
            uint64_t seq = c.r->sent + 1; /* seqs from 1; 0 is "none" */
            sent_since = 1;
            sent_at[seq] = now;
            snprintf(text, sizeof text, "message %llu", (unsigned long long)seq);
            if (make_body(&c, next, text, FLOOR_BODY, env, &env_len) != 0 ||
                store(&c, 0, next, seq, env, env_len) != 0)
                goto out;
            extra_work(&c);
            if (queue(&c, FLOOR_SEND, FLOOR_KIND_MESSAGE, (uint32_t)next, seq, env, env_len) != 0)
                goto out;
            c.r->sent++;
        }
        if (end_turn(&c) != 0)
            goto out;
        receipted_since |= receipted_now;
        receipted_now = 0;
    }
    c.r->cpu_ns = ckv_bench_cpu_ns() - cpu0;
    c.r->done_ns = ckv_bench_now_ns(); /* before sqlite3_close's checkpoint */
    rc = c.r->failed;
out:
    if (c.fd >= 0)
        close(c.fd);
    sqlite3_finalize(c.upd);
    sqlite3_finalize(c.ins);
    sqlite3_close(c.db);
    sodium_memzero(c.sk, sizeof c.sk);
#ifdef CKV_BENCH_HAVE_CORE
    ckv_profile_close(c.prof);
#endif
    free(c.in);
    free(seen);
    free(sent_at);
    free(c.out);
    return rc;
}
