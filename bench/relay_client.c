/*
 * relay_client.c: one client process of `ckv-bench relay` (the driver and
 * the description of the phases are in relay.c). Each client has its own
 * profile and ckv_client in its own process, one thread, as the client's
 * contract asks, and drives it through the public client API only: send,
 * receive (fetch, sender check, decrypt, store, receipt, ack), lookup. It
 * checks what it receives (the text sent under that sequence number, no
 * gap, no refused message, duplicates counted) and times every message
 * from the start of its send to its receipt.
 */
#define _GNU_SOURCE
#include "bench.h"
#include "relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ckv/client.h>
#include <ckv/profile.h>

#define PASS ((const uint8_t *)"bench passphrase")
#define PASS_LEN 16

/* Block (no CPU) until the parent starts phase k; -1 when the run stops. */
static int wait_phase(struct shared *sh, int k)
{
    pthread_mutex_lock(&sh->mu);
    while (sh->phase < k)
        pthread_cond_wait(&sh->go, &sh->mu);
    int stop = sh->phase == 9 && k != 9;
    pthread_mutex_unlock(&sh->mu);
    return stop ? -1 : 0;
}

static void mark_ready(struct shared *sh, int k)
{
    __atomic_add_fetch(&sh->ready[k], 1, __ATOMIC_SEQ_CST);
}

static int child_fail(struct child_result *r, const char *what, ckv_status st, ckv_client *c)
{
    r->failed = 1;
    snprintf(r->err, sizeof r->err, "%s: %s%s%s", what, ckv_strerror(st), c ? " " : "",
             c ? ckv_client_last_error(c) : "");
    fprintf(stderr, "ckv-bench relay: a client failed: %s\n", r->err);
    return 1;
}

/* Count a batch of events: messages from prev, receipts from next (with
 * their latency) whose seq is in first..last; a gap or a refused message
 * fails the client. */
static void take_events(struct child_result *r, struct msg_phase *ph, const char *prev,
                        const char *next, const ckv_event *ev, size_t n, uint64_t first,
                        uint64_t last, uint8_t *seen, uint8_t *receipted, const uint64_t *sent_at)
{
    for (size_t i = 0; i < n; i++) {
        const ckv_event *e = &ev[i];
        if (e->kind == CKV_EV_MESSAGE && strcmp(e->contact, prev) == 0 && e->seq >= first &&
            e->seq <= last) {
            char want[64];
            snprintf(want, sizeof want, "message %llu from %s", (unsigned long long)e->seq, prev);
            if (e->text == NULL || e->text_len != strlen(want) ||
                memcmp(e->text, want, e->text_len)) {
                r->failed = 1; /* not what prev sent under that seq */
                snprintf(r->err, sizeof r->err, "message %llu from %s has the wrong text",
                         (unsigned long long)e->seq, prev);
                fprintf(stderr, "ckv-bench relay: a client failed: %s\n", r->err);
                continue;
            }
            if (seen[e->seq])
                ph->duplicates++;
            else
                ph->received++;
            seen[e->seq] = 1;
        } else if (e->kind == CKV_EV_RECEIPT && strcmp(e->contact, next) == 0 && e->seq >= first &&
                   e->seq <= last) {
            if (!receipted[e->seq]) {
                receipted[e->seq] = 1;
                ph->lat_us[ph->receipts++] = (double)(ckv_bench_now_ns() - sent_at[e->seq]) / 1e3;
            }
        } else if (e->kind == CKV_EV_GAP || e->kind == CKV_EV_REJECTED) {
            r->failed = 1;
            snprintf(r->err, sizeof r->err, "event %d from %s (seq %llu, status %s)", (int)e->kind,
                     e->contact, (unsigned long long)e->seq, ckv_status_name(e->status));
            fprintf(stderr, "ckv-bench relay: a client failed: %s\n", r->err);
        }
    }
}

/* One message phase: send count messages (seq first..first+count-1) to
 * next with at most window not yet receipted, while receiving prev's and
 * the receipts; done when all were sent, receipted and received. */
static void run_messages(struct child_result *r, struct msg_phase *ph, ckv_client *c,
                         const char *me, const char *prev, const char *next, uint64_t first,
                         uint64_t count, uint64_t window, uint64_t batch, uint64_t period_ns,
                         uint64_t offset_ns, uint8_t *seen, uint8_t *receipted, uint64_t *sent_at)
{
    uint64_t start = ckv_bench_now_ns() + offset_ns;
    uint64_t deadline = ckv_bench_now_ns() + 120ull * 1000000000ull;
    uint64_t last = first + count - 1;
    uint64_t cpu0 = ckv_bench_cpu_ns();
    ckv_status st;

    while (!r->failed && (ph->received < count || ph->receipts < ph->sent || ph->sent < count)) {
        if (ckv_bench_now_ns() > deadline) {
            r->failed = 1;
            snprintf(r->err, sizeof r->err, "timeout: sent %llu received %llu receipts %llu",
                     (unsigned long long)ph->sent, (unsigned long long)ph->received,
                     (unsigned long long)ph->receipts);
            break;
        }
        /* paced (period_ns > 0): message k is due at start + k * period */
        while (ph->sent < count && ph->sent - ph->receipts < window &&
               (period_ns == 0 || ckv_bench_now_ns() >= start + ph->sent * period_ns)) {
            /* what the window allows, at most batch messages in one call */
            char text[CKV_SEND_MANY_MAX][64];
            ckv_text t[CKV_SEND_MANY_MAX];
            uint64_t seq[CKV_SEND_MANY_MAX], t0 = ckv_bench_now_ns();
            size_t k = 0;
            while (k < batch && k < CKV_SEND_MANY_MAX && ph->sent + k < count &&
                   ph->sent + k - ph->receipts < window &&
                   (period_ns == 0 || t0 >= start + (ph->sent + k) * period_ns)) {
                int len = snprintf(text[k], sizeof text[k], "message %llu from %s",
                                   (unsigned long long)(first + ph->sent + k), me);
                t[k].text = (const uint8_t *)text[k];
                t[k].len = (size_t)len;
                k++;
            }
            st = k == 1 ? ckv_client_send(c, next, t[0].text, t[0].len, &seq[0])
                        : ckv_client_send_many(c, next, t, k, seq);
            ph->send_ns += ckv_bench_now_ns() - t0;
            ph->nsend++;
            if (st != CKV_OK) {
                child_fail(r, "send", st, c);
                break;
            }
            for (size_t j = 0; j < k; j++) {
                if (seq[j] != first + ph->sent) {
                    child_fail(r, "send (sequence numbers)", CKV_ERR_INTERNAL, c);
                    break;
                }
                sent_at[seq[j]] = t0;
                ph->sent++;
            }
            if (r->failed)
                break;
        }
        ckv_event *ev = NULL;
        size_t n = 0;
        /* wait for what arrives: up to 1 s when nothing is to be sent
         * (window full, all sent), up to the next due time when paced, not
         * at all when the window has room */
        uint64_t t0 = ckv_bench_now_ns();
        int wait_ms = 0;
        if (ph->sent == count || ph->sent - ph->receipts >= window)
            wait_ms = 1000;
        else if (period_ns > 0 && t0 < start + ph->sent * period_ns)
            wait_ms = (int)((start + ph->sent * period_ns - t0 + 999999) / 1000000);
        if (wait_ms > 1000)
            wait_ms = 1000;
        st = ckv_client_receive_ms(c, wait_ms, &ev, &n);
        ph->recv_ns += ckv_bench_now_ns() - t0;
        ph->nrecv++;
        ph->nrecv_empty += n == 0;
        if (st != CKV_OK) {
            child_fail(r, "receive", st, c);
            break;
        }
        take_events(r, ph, prev, next, ev, n, first, last, seen, receipted, sent_at);
        ckv_client_events_free(ev, n);
    }
    ph->cpu_ns = ckv_bench_cpu_ns() - cpu0;
}

int ckv_bench_relay_client(struct shared *sh, int i)
{
    struct child_result *r = &sh->r[i];
    char dir[320], me[32], next[32], prev[32];
    ckv_profile *p = NULL;
    ckv_client *c = NULL;
    ckv_client_options o;
    size_t nseq = (size_t)sh->msgs + (size_t)sh->light_msgs + 1;
    uint8_t *seen = calloc(nseq, 1);
    uint8_t *receipted = calloc(nseq, 1);
    uint64_t *sent_at = calloc(nseq, sizeof(uint64_t));
    ckv_status st;

    snprintf(me, sizeof me, "bench%d", i);
    snprintf(next, sizeof next, "bench%d", (i + 1) % sh->n);
    snprintf(prev, sizeof prev, "bench%d", (i + sh->n - 1) % sh->n);
    snprintf(dir, sizeof dir, "%s/p%d", sh->root, i);
    memset(&o, 0, sizeof o);
    o.timeout_ms = 30000;
    o.max_checkpoint_age = 3600;   /* the lookup phase measures lookups; sends check as usual */
    o.defer_acks = sh->defer_acks; /* as ckv-chat (default): the clients keep receiving */
    if (!seen || !receipted || !sent_at) {
        r->failed = 1;
        goto out;
    }
    /* 1. set-up */
    st = ckv_profile_create(dir, me, PASS, PASS_LEN, CKV_KDF_MIN, &p);
    if (st == CKV_OK)
        st = ckv_profile_pin_server(p, sh->url, sh->vkey);
    if (st == CKV_OK)
        st = ckv_client_open(p, &o, &c);
    if (st == CKV_OK)
        st = ckv_client_register(c);
    if (st != CKV_OK)
        child_fail(r, "set-up", st, c);
    mark_ready(sh, 0);
    /* 2. contacts */
    if (wait_phase(sh, 1) != 0)
        goto out;
    if (!r->failed && (st = ckv_client_add_contact(c, next, NULL)) != CKV_OK)
        child_fail(r, "add contact", st, c);
    mark_ready(sh, 1);
    /* 3. messages, loaded (window W), then light (window W2) */
    if (wait_phase(sh, 2) != 0)
        goto out;
    if (!r->failed)
        run_messages(r, &r->ph[0], c, me, prev, next, 1, (uint64_t)sh->msgs, (uint64_t)sh->window,
                     (uint64_t)sh->batch, 0, 0, seen, receipted, sent_at);
    mark_ready(sh, 2);
    if (wait_phase(sh, 3) != 0)
        goto out;
    if (!r->failed && sh->light_msgs > 0) {
        /* paced: the clients together offer light_rate messages a second,
         * each client one every n / light_rate s, the clients spread over
         * that period; 0: closed loop (window W2) */
        uint64_t period =
            sh->light_rate > 0 ? (uint64_t)((double)sh->n * 1e9 / (double)sh->light_rate) : 0;
        run_messages(r, &r->ph[1], c, me, prev, next, (uint64_t)sh->msgs + 1,
                     (uint64_t)sh->light_msgs, (uint64_t)sh->light_window, (uint64_t)sh->batch,
                     period, period * (uint64_t)i / (uint64_t)sh->n, seen, receipted, sent_at);
    }
    mark_ready(sh, 3);
    /* 4. lookups */
    if (wait_phase(sh, 4) != 0)
        goto out;
    if (!r->failed) {
        uint64_t end = ckv_bench_now_ns() + (uint64_t)sh->lookup_ms * 1000000ull;
        unsigned k = (unsigned)i * 7919u;
        while (ckv_bench_now_ns() < end) {
            char name[32];
            ckv_key_info ki;
            snprintf(name, sizeof name, "bench%u", (k++ * 31u) % (unsigned)sh->n);
            st = ckv_client_lookup(c, name, &ki);
            if (st != CKV_OK) {
                child_fail(r, "lookup", st, c);
                break;
            }
            r->lookups++;
        }
    }
    mark_ready(sh, 4);
    (void)wait_phase(sh, 9);
out:
    ckv_client_close(c);
    ckv_profile_close(p);
    free(seen);
    free(receipted);
    free(sent_at);
    return r->failed ? 1 : 0;
}
