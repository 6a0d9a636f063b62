/*
 * worker.c: ckv-chat's worker thread (worker.h). It owns the profile (and,
 * through backend.c, the online client); every core call happens here.
 * The command queue is a mutex-protected list with a condition variable;
 * the result queue is a list plus a self-pipe whose read end the UI polls.
 * Offline operations (history, contacts, safety numbers, trust decisions)
 * are handled in this file; online ones are delegated to backend.c.
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <ckv/contact.h>
#include <ckv/fingerprint.h>
#include <ckv/profile.h>
#include <ckv/utf8.h>
#include <ckv/session.h>

#include "backend.h"

#define POLL_MS 700      /* how often the worker asks the server for messages */
#define RETRY_MS 5000    /* after a network error */
#define MONITOR_MS 60000 /* background monitoring of our own name */

struct tui_worker {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct tui_cmd *cmds, *cmds_tail;
    struct tui_res *res, *res_tail;
    int pipe_rd, pipe_wr;
    int quit;
    const volatile sig_atomic_t *abandon; /* set while quitting: stop sending */
    struct tui_start start; /* wiped after the profile is open */
    ckv_profile *profile;
#ifdef CKV_TUI_ONLINE
    struct tui_online *online;
#endif
};

struct tui_cmd *tui_cmd_new(int kind, const char *name, const char *text)
{
    struct tui_cmd *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->kind = kind;
    if (name)
        snprintf(c->name, sizeof(c->name), "%s", name);
    if (text) {
        c->text = strdup(text);
        if (!c->text) {
            free(c);
            return NULL;
        }
        c->text_len = strlen(text);
    }
    return c;
}

void tui_cmd_free(struct tui_cmd *c)
{
    if (!c)
        return;
    if (c->text) {
        sodium_memzero(c->text, c->text_len);
        free(c->text);
    }
    free(c);
}

struct tui_res *tui_res_new(int kind)
{
    struct tui_res *r = calloc(1, sizeof(*r));
    if (r)
        r->kind = kind;
    return r;
}

void tui_res_free(struct tui_res *r)
{
    if (!r)
        return;
    free(r->text);
    free(r->contacts);
    for (size_t i = 0; i < r->n_lines; i++)
        free(r->lines[i].text);
    free(r->lines);
    free(r->verify);
    free(r);
}

void tui_worker_post(struct tui_worker *w, struct tui_res *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&w->lock);
    if (w->res_tail)
        w->res_tail->next = r;
    else
        w->res = r;
    w->res_tail = r;
    pthread_mutex_unlock(&w->lock);
    char b = 1;
    ssize_t k;
    do
        k = write(w->pipe_wr, &b, 1);
    while (k < 0 && errno == EINTR);
    /* EAGAIN: the pipe is full of wake-ups already; the UI will drain it */
}

void tui_worker_note(struct tui_worker *w, const char *name, int line_kind, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    struct tui_res *r = tui_res_new(TUI_RES_NOTE);
    if (!r)
        return;
    snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
    r->line_kind = line_kind;
    r->text = strdup(buf);
    tui_worker_post(w, r);
}

void tui_worker_post_contacts(struct tui_worker *w)
{
    ckv_contact *list = NULL;
    size_t n = 0;
    ckv_status st = ckv_contact_list(w->profile, &list, &n);
    if (st != CKV_OK) {
        tui_worker_note(w, "", TUI_LINE_WARN, "cannot read the contacts: %s", ckv_strerror(st));
        return;
    }
    struct tui_res *r = tui_res_new(TUI_RES_CONTACTS);
    if (r && n) {
        r->contacts = calloc(n, sizeof(*r->contacts));
        if (!r->contacts) {
            free(r);
            r = NULL;
        }
    }
    if (r) {
        for (size_t i = 0; i < n; i++) {
            snprintf(r->contacts[i].name, sizeof(r->contacts[i].name), "%s", list[i].name);
            r->contacts[i].state = (int)list[i].state;
            r->contacts[i].has_session = list[i].has_session;
            memcpy(r->contacts[i].key, list[i].identity_key, 33);
        }
        r->n_contacts = n;
        tui_worker_post(w, r);
    }
    ckv_contact_list_free(list, n);
}

static void post_fatal(struct tui_worker *w, ckv_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void post_fatal(struct tui_worker *w, ckv_status st, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    struct tui_res *r = tui_res_new(TUI_RES_FATAL);
    if (!r)
        return;
    r->status = st;
    r->text = strdup(buf);
    tui_worker_post(w, r);
}

/* ---- offline commands ------------------------------------------------------ */

static void do_history(struct tui_worker *w, const char *name)
{
    ckv_message *msgs = NULL;
    size_t n = 0;
    ckv_status st = ckv_history_list(w->profile, name, 0, &msgs, &n);
    struct tui_res *r = tui_res_new(TUI_RES_HISTORY);
    if (!r)
        goto out;
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->status = st;
    if (st == CKV_OK && n) {
        r->lines = calloc(n, sizeof(*r->lines));
        if (!r->lines) {
            r->status = CKV_ERR_NOMEM;
            goto post;
        }
        for (size_t i = 0; i < n; i++) {
            struct tui_line *l = &r->lines[r->n_lines];
            l->text = tui_text_shown((const char *)msgs[i].body, msgs[i].len);
            if (!l->text)
                break;
            l->at = msgs[i].at;
            l->kind = msgs[i].outgoing ? TUI_LINE_OUT : TUI_LINE_IN;
            /* a stored sent message with a seq was sent by the client: its
             * receipt's arrival is stored with it (seq 0: state unknown) */
            l->seq = msgs[i].outgoing ? msgs[i].seq : 0;
            l->delivery = TUI_DLV_NONE;
            if (l->seq != 0)
                l->delivery = msgs[i].delivered ? TUI_DLV_DELIVERED : TUI_DLV_SENT;
            r->n_lines++;
        }
    }
post:
    tui_worker_post(w, r);
out:
    ckv_history_free(msgs, n);
}

static void do_verify(struct tui_worker *w, const char *name)
{
    ckv_safety_number sn;
    ckv_contact *c = NULL;
    struct tui_verify *v = calloc(1, sizeof(*v));
    ckv_status st = CKV_ERR_NOMEM;
    if (!v)
        goto fail;
    snprintf(v->contact, sizeof(v->contact), "%s", name);
    st = ckv_contact_get(w->profile, name, &c);
    if (st != CKV_OK)
        goto fail;
    st = ckv_profile_safety_number(w->profile, name, 0, &sn, v->key);
    if (st != CKV_OK)
        goto fail;
    memcpy(v->digits, sn.digits, sizeof(v->digits));
    memcpy(v->scannable, sn.scannable, sn.scannable_len);
    v->scannable_len = sn.scannable_len;
    st = ckv_profile_public_code(w->profile, v->mine);
    if (st != CKV_OK)
        goto fail;
    st = ckv_fingerprint_half(c->name, v->key, CKV_FINGERPRINT_ITERATIONS, v->theirs, NULL);
    if (st != CKV_OK)
        goto fail;
    v->state = (int)c->state;
#ifdef CKV_TUI_ONLINE
    if (w->online)
        tui_online_lookup(w->online, v);
    else
        snprintf(v->log_note, sizeof(v->log_note), "no server pinned: log facts unavailable");
#else
    snprintf(v->log_note, sizeof(v->log_note),
             "this build has no online client: log facts unavailable");
#endif
    struct tui_res *r = tui_res_new(TUI_RES_VERIFY);
    if (!r)
        goto fail;
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->verify = v;
    tui_worker_post(w, r);
    ckv_contact_free(c);
    return;
fail:
    free(v);
    ckv_contact_free(c);
    tui_worker_note(w, "", TUI_LINE_WARN, "cannot show the safety number for %s: %s", name,
                    ckv_strerror(st));
}

static void do_code(struct tui_worker *w)
{
    struct tui_verify *v = calloc(1, sizeof(*v));
    ckv_status st = CKV_ERR_NOMEM;
    if (!v)
        goto fail;
    st = ckv_profile_public_code(w->profile, v->mine);
    if (st != CKV_OK)
        goto fail;
    snprintf(v->contact, sizeof(v->contact), "%s", ckv_profile_account(w->profile));
    /* The QR payload of a public code: account and the 30 digits as text. */
    int k = snprintf((char *)v->scannable, sizeof(v->scannable), "ckv:%s:%s",
                     ckv_profile_account(w->profile), v->mine);
    if (k < 0 || (size_t)k >= sizeof(v->scannable)) {
        st = CKV_ERR_INTERNAL;
        goto fail;
    }
    v->scannable_len = (size_t)k;
    struct tui_res *r = tui_res_new(TUI_RES_CODE);
    if (!r)
        goto fail;
    r->verify = v;
    tui_worker_post(w, r);
    return;
fail:
    free(v);
    tui_worker_note(w, "", TUI_LINE_WARN, "cannot compute your public code: %s",
                    ckv_strerror(st));
}

static void post_compared(struct tui_worker *w, const char *name, ckv_status st, int state,
                          const char *text)
{
    struct tui_res *r = tui_res_new(TUI_RES_COMPARED);
    if (!r)
        return;
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->status = st;
    r->state = state;
    r->text = strdup(text);
    tui_worker_post(w, r);
}

static void do_trust(struct tui_worker *w, const struct tui_cmd *cmd)
{
    char msg[300];
    ckv_status st = ckv_contact_verify(w->profile, cmd->name, CKV_VERIFY_IN_PERSON, cmd->key);
    if (st == CKV_OK)
        snprintf(msg, sizeof(msg), "%s marked verified (safety number compared)", cmd->name);
    else if (st == CKV_ERR_UNTRUSTED_IDENTITY)
        snprintf(msg, sizeof(msg),
                 "not marked: %s's key changed while the number was shown; compare again",
                 cmd->name);
    else
        snprintf(msg, sizeof(msg), "cannot mark %s verified: %s", cmd->name, ckv_strerror(st));
    post_compared(w, cmd->name, st, st == CKV_OK ? TUI_VERIFIED : -1, msg);
    tui_worker_note(w, cmd->name, st == CKV_OK ? TUI_LINE_INFO : TUI_LINE_WARN, "%s", msg);
    tui_worker_post_contacts(w);
}

static void do_compare(struct tui_worker *w, const struct tui_cmd *cmd)
{
    char msg[300];
    ckv_code_compare cmp;
    uint8_t key[33];
    memset(&cmp, 0, sizeof(cmp));
    ckv_status st = ckv_profile_compare_code(w->profile, cmd->name, cmd->text ? cmd->text : "",
                                             &cmp, key);
    if (st == CKV_ERR_CODE_MISMATCH) {
        int total = cmp.kind == 60 ? 12 : 6;
        int first = cmp.first_bad_group;
        snprintf(msg, sizeof(msg),
                 "MISMATCH: group %d of %d differs (digits %d-%d)%s%d group%s differ%s. "
                 "Do not mark %s verified.",
                 first, total, (first - 1) * 5 + 1, first * 5,
                 cmp.kind == 30 ? " of their public code; " : "; ", cmp.n_bad_groups,
                 cmp.n_bad_groups == 1 ? "" : "s", cmp.n_bad_groups == 1 ? "s" : "",
                 cmd->name);
        post_compared(w, cmd->name, st, -1, msg);
        return;
    }
    if (st == CKV_ERR_MALFORMED) {
        snprintf(msg, sizeof(msg),
                 "not a code: paste the 60-digit safety number or the 30-digit public code");
        post_compared(w, cmd->name, st, -1, msg);
        return;
    }
    if (st != CKV_OK) {
        snprintf(msg, sizeof(msg), "cannot compare: %s", ckv_strerror(st));
        post_compared(w, cmd->name, st, -1, msg);
        return;
    }
    ckv_verify_method how = cmp.kind == 30 ? CKV_VERIFY_PUBLIC_CODE : CKV_VERIFY_IN_PERSON;
    st = ckv_contact_verify(w->profile, cmd->name, how, key);
    if (st == CKV_OK)
        snprintf(msg, sizeof(msg), "codes match (all %d groups): %s marked verified",
                 cmp.kind == 30 ? 6 : 12, cmd->name);
    else
        snprintf(msg, sizeof(msg), "codes match, but marking failed: %s", ckv_strerror(st));
    post_compared(w, cmd->name, st, st == CKV_OK ? TUI_VERIFIED : -1, msg);
    tui_worker_note(w, cmd->name, TUI_LINE_INFO, "%s", msg);
    tui_worker_post_contacts(w);
}

static void do_accept(struct tui_worker *w, const struct tui_cmd *cmd)
{
    ckv_status st = ckv_contact_accept(w->profile, cmd->name, cmd->key);
    if (st == CKV_OK)
        tui_worker_note(w, cmd->name, TUI_LINE_INFO,
                        "new key of %s accepted without comparing codes (now unverified); "
                        "sending is allowed again",
                        cmd->name);
    else if (st == CKV_ERR_INVALID_ARG)
        tui_worker_note(w, cmd->name, TUI_LINE_WARN, "%s's key has not changed: nothing to accept",
                        cmd->name);
    else if (st == CKV_ERR_UNTRUSTED_IDENTITY)
        tui_worker_note(w, cmd->name, TUI_LINE_WARN,
                        "%s's key changed again since it was shown; look at /verify %s first",
                        cmd->name, cmd->name);
    else
        tui_worker_note(w, cmd->name, TUI_LINE_WARN, "cannot accept %s's key: %s", cmd->name,
                        ckv_strerror(st));
    tui_worker_post_contacts(w);
}

/* ---- the thread ------------------------------------------------------------ */

static int open_profile(struct tui_worker *w)
{
    struct tui_start *s = &w->start;
    ckv_status st;
    if (s->create) {
        st = ckv_profile_create(s->profile_dir, s->account, s->pass, s->pass_len,
                                (ckv_kdf_cost)s->kdf_cost, &w->profile);
    } else {
        st = ckv_profile_open(s->profile_dir, s->pass, s->pass_len, &w->profile);
    }
    sodium_memzero(s->pass, sizeof(s->pass));
    s->pass_len = 0;
    if (st != CKV_OK) {
        post_fatal(w, st, "cannot %s the profile in %s: %s", s->create ? "create" : "open",
                   s->profile_dir, ckv_strerror(st));
        return -1;
    }
    struct tui_res *r = tui_res_new(TUI_RES_OPENED);
    if (r) {
        snprintf(r->name, sizeof(r->name), "%s", ckv_profile_account(w->profile));
        tui_worker_post(w, r);
    }
    if (s->create)
        tui_worker_note(w, "", TUI_LINE_INFO, "profile for %s created in %s",
                        ckv_profile_account(w->profile), s->profile_dir);
    tui_worker_post_contacts(w);
    return 0;
}

static void post_conn(struct tui_worker *w, int conn, const char *text)
{
    struct tui_res *r = tui_res_new(TUI_RES_CONN);
    if (!r)
        return;
    r->conn = conn;
    r->text = strdup(text ? text : "");
    tui_worker_post(w, r);
}

#ifdef CKV_TUI_ONLINE
static void go_online(struct tui_worker *w)
{
    struct tui_start *s = &w->start;
    char *server = NULL;
    ckv_status st;
    if (s->create && s->server[0]) {
        st = tui_online_pin(w->profile, s->server, s->log_key);
        if (st == CKV_OK && s->n_witness > 0)
            st = tui_online_pin_witnesses(w->profile, s->witness, s->n_witness, s->quorum);
        if (st != CKV_OK) {
            tui_worker_note(w, "", TUI_LINE_ALERT, "cannot pin server %s: %s", s->server,
                            ckv_strerror(st));
            post_conn(w, TUI_CONN_OFFLINE, "no server pinned");
            return;
        }
    }
    tui_online_set_max_view_age(s->max_view_age);
    st = tui_online_open(w->profile, &w->online, &server);
    if (st == CKV_ERR_KT_NOT_CONFIGURED) {
        post_conn(w, TUI_CONN_OFFLINE, "no server pinned (ckv init --server URL --log-key VKEY)");
        return;
    }
    if (st != CKV_OK) {
        post_conn(w, TUI_CONN_ERROR, ckv_strerror(st));
        return;
    }
    post_conn(w, TUI_CONN_CONNECTING, server);
    free(server);
    if (s->create && s->register_account) {
        st = tui_online_register(w->online, w, s->new_recovery_code);
        if (st != CKV_OK)
            return;
    } else {
        tui_online_ensure_registered(w->online, w, ckv_profile_account(w->profile));
    }
    tui_online_view(w->online, w);
}
#endif

/* Quitting: the messages the user typed and we did not take yet are sent
 * (the rest of the queue is dropped), until the queue holds none or the
 * user asks to quit without them (*w->abandon). */
static int handle(struct tui_worker *w, struct tui_cmd *c);
static void drain_sends(struct tui_worker *w)
{
    for (;;) {
        struct tui_cmd *c = NULL;
        pthread_mutex_lock(&w->lock);
        if (!(w->abandon && *w->abandon)) {
            while (w->cmds && w->cmds->kind != TUI_CMD_SEND) {
                struct tui_cmd *d = w->cmds;
                w->cmds = d->next;
                tui_cmd_free(d);
            }
            if (w->cmds) {
                c = w->cmds;
                w->cmds = c->next;
                c->next = NULL;
            }
            if (!w->cmds)
                w->cmds_tail = NULL;
        }
        pthread_mutex_unlock(&w->lock);
        if (!c)
            return;
        (void)handle(w, c);
        tui_cmd_free(c);
    }
}

static struct tui_cmd *next_cmd(struct tui_worker *w, long wait_ms)
{
    struct tui_cmd *c = NULL;
    pthread_mutex_lock(&w->lock);
    if (!w->cmds && !w->quit) {
        if (wait_ms < 0) {
            pthread_cond_wait(&w->cond, &w->lock);
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += wait_ms / 1000;
            ts.tv_nsec += (wait_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&w->cond, &w->lock, &ts);
        }
    }
    if (w->cmds) {
        c = w->cmds;
        w->cmds = c->next;
        if (!w->cmds)
            w->cmds_tail = NULL;
        c->next = NULL;
    }
    pthread_mutex_unlock(&w->lock);
    return c;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void offline_note(struct tui_worker *w, const char *what)
{
#ifdef CKV_TUI_ONLINE
    tui_worker_note(w, "", TUI_LINE_WARN,
                    "%s needs the server: this profile has no server pinned "
                    "(create it with --server URL --log-key VKEY)",
                    what);
#else
    tui_worker_note(w, "", TUI_LINE_WARN,
                    "%s needs the server, and this ckv-chat was built without the online "
                    "client",
                    what);
#endif
}

static int handle(struct tui_worker *w, struct tui_cmd *c)
{
#ifdef CKV_TUI_ONLINE
    struct tui_online *o = w->online;
#endif
    switch (c->kind) {
    case TUI_CMD_QUIT:
        return 1;
    case TUI_CMD_HISTORY:
        do_history(w, c->name);
        break;
    case TUI_CMD_VERIFY:
        do_verify(w, c->name);
        break;
    case TUI_CMD_CODE:
        do_code(w);
        break;
    case TUI_CMD_TRUST:
        do_trust(w, c);
        break;
    case TUI_CMD_COMPARE:
        do_compare(w, c);
        break;
    case TUI_CMD_ACCEPT:
        do_accept(w, c);
        break;
    case TUI_CMD_SEND:
#ifdef CKV_TUI_ONLINE
        if (o) {
            tui_online_send(o, w, c);
            break;
        }
#endif
        {
            struct tui_res *r = tui_res_new(TUI_RES_SENT);
            if (r) {
                snprintf(r->name, sizeof(r->name), "%s", c->name);
                r->token = c->token;
                r->status = CKV_ERR_NET;
                r->text = strdup("not sent: no server (this profile is offline)");
                tui_worker_post(w, r);
            }
        }
        break;
    case TUI_CMD_ADD:
#ifdef CKV_TUI_ONLINE
        if (o) {
            tui_online_add(o, w, c->name);
            break;
        }
#endif
        offline_note(w, "/add");
        break;
    case TUI_CMD_LOG:
#ifdef CKV_TUI_ONLINE
        if (o) {
            tui_online_log(o, w, c->name);
            break;
        }
#endif
        offline_note(w, "/log");
        break;
    case TUI_CMD_MONITOR:
#ifdef CKV_TUI_ONLINE
        if (o) {
            (void)tui_online_monitor(o, w, 0);
            break;
        }
#endif
        offline_note(w, "/monitor");
        break;
    case TUI_CMD_AUDIT:
#ifdef CKV_TUI_ONLINE
        if (o) {
            tui_online_audit(o, w, w->profile);
            break;
        }
#endif
        offline_note(w, "/audit");
        break;
    case TUI_CMD_ACK_FOREIGN:
#ifdef CKV_TUI_ONLINE
        if (o) {
            tui_online_acknowledge(o, w, strtoull(c->text ? c->text : "0", NULL, 10));
            break;
        }
#endif
        offline_note(w, "/ack");
        break;
    default:
        break;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    struct tui_worker *w = arg;
    if (open_profile(w) != 0)
        goto wait_quit;
#ifdef CKV_TUI_ONLINE
    go_online(w);
    int64_t next_poll = 0, next_monitor = 0;
#else
    post_conn(w, TUI_CONN_OFFLINE, "built without the online client");
#endif
    for (;;) {
        long wait = -1;
#ifdef CKV_TUI_ONLINE
        if (w->online) {
            int64_t now = now_ms();
            if (now >= next_monitor) {
                ckv_status st = tui_online_monitor(w->online, w, 1);
                next_monitor = now + (st == CKV_OK ? MONITOR_MS : RETRY_MS);
            }
            if (now >= next_poll) {
                ckv_status st = tui_online_poll(w->online, w);
                next_poll = now_ms() + (st == CKV_OK ? POLL_MS : RETRY_MS);
            }
            wait = (long)(next_poll - now_ms());
            if (wait < 0)
                wait = 0;
        }
#else
        (void)now_ms;
#endif
        struct tui_cmd *c = next_cmd(w, wait);
        int stop = 0;
        if (c) {
            stop = handle(w, c);
            tui_cmd_free(c);
        }
        pthread_mutex_lock(&w->lock);
        stop |= w->quit;
        pthread_mutex_unlock(&w->lock);
        if (stop) {
            drain_sends(w);
            break;
        }
    }
    goto done;
wait_quit:
    /* the UI shows the fatal error and then stops us */
    for (;;) {
        struct tui_cmd *c = next_cmd(w, -1);
        tui_cmd_free(c);
        pthread_mutex_lock(&w->lock);
        int q = w->quit;
        pthread_mutex_unlock(&w->lock);
        if (q)
            break;
    }
done:
#ifdef CKV_TUI_ONLINE
    tui_online_close(w->online);
    w->online = NULL;
#endif
    ckv_profile_close(w->profile);
    w->profile = NULL;
    return NULL;
}

struct tui_worker *tui_worker_start(const struct tui_start *start)
{
    struct tui_worker *w = calloc(1, sizeof(*w));
    int fds[2];
    if (!w)
        return NULL;
    if (pipe(fds) != 0) {
        free(w);
        return NULL;
    }
    w->pipe_rd = fds[0];
    w->pipe_wr = fds[1];
    (void)fcntl(w->pipe_rd, F_SETFL, O_NONBLOCK);
    (void)fcntl(w->pipe_wr, F_SETFL, O_NONBLOCK);
    (void)fcntl(w->pipe_rd, F_SETFD, FD_CLOEXEC);
    (void)fcntl(w->pipe_wr, F_SETFD, FD_CLOEXEC);
    memcpy(&w->start, start, sizeof(*start));
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        sodium_memzero(&w->start, sizeof(w->start));
        close(fds[0]);
        close(fds[1]);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w);
        return NULL;
    }
    return w;
}

int tui_worker_fd(const struct tui_worker *w)
{
    return w->pipe_rd;
}

int tui_worker_push(struct tui_worker *w, struct tui_cmd *cmd)
{
    if (!cmd)
        return -1;
    pthread_mutex_lock(&w->lock);
    if (w->cmds_tail)
        w->cmds_tail->next = cmd;
    else
        w->cmds = cmd;
    w->cmds_tail = cmd;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

struct tui_res *tui_worker_pop(struct tui_worker *w)
{
    char buf[256];
    while (read(w->pipe_rd, buf, sizeof(buf)) > 0)
        ;
    pthread_mutex_lock(&w->lock);
    struct tui_res *r = w->res;
    w->res = w->res_tail = NULL;
    pthread_mutex_unlock(&w->lock);
    return r;
}

size_t tui_worker_pending_sends(struct tui_worker *w)
{
    size_t n = 0;
    pthread_mutex_lock(&w->lock);
    for (const struct tui_cmd *c = w->cmds; c; c = c->next)
        n += c->kind == TUI_CMD_SEND;
    pthread_mutex_unlock(&w->lock);
    return n;
}

size_t tui_worker_stop(struct tui_worker *w, const volatile sig_atomic_t *abandon, FILE *report)
{
    size_t unsent = 0;
    if (!w)
        return 0;
    pthread_mutex_lock(&w->lock);
    w->abandon = abandon;
    w->quit = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    struct tui_cmd *c = w->cmds;
    while (c) {
        struct tui_cmd *n = c->next;
        if (c->kind == TUI_CMD_SEND) {
            unsent++;
            if (report) { /* the user's own words, so that they can type them again */
                const uint8_t *t = (const uint8_t *)(c->text ? c->text : "");
                size_t tl = strlen((const char *)t);
                fprintf(report, "ckv-chat: not sent to %s: ", c->name);
                for (size_t i = 0; i < tl;) {
                    uint32_t cp;
                    size_t k = ckv_utf8_decode(t + i, tl - i, &cp);
                    if (k == 0 || ckv_char_unsafe(cp))
                        fputc('?', report);
                    else
                        fwrite(t + i, 1, k, report);
                    i += k ? k : 1;
                }
                fputc('\n', report);
            }
        }
        tui_cmd_free(c);
        c = n;
    }
    struct tui_res *r = w->res;
    while (r) {
        struct tui_res *n = r->next;
        tui_res_free(r);
        r = n;
    }
    close(w->pipe_rd);
    close(w->pipe_wr);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    sodium_memzero(&w->start, sizeof(w->start));
    free(w);
    return unsent;
}
