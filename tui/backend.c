/*
 * backend.c: every call ckv-chat makes into the online client
 * (ckv/client.h), on the worker thread: pinning and registering at first
 * run, sending, polling for messages and turning core's events into
 * results for the UI, the log facts of the verification screen, /log,
 * /monitor and /audit. Built only when core provides the online client
 * (tui/CMakeLists.txt).
 */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include <ckv/client.h>
#include <ckv/contact.h>

#define BLOCKED_MAX 64

struct tui_online {
    ckv_client *c;
    ckv_profile *p;           /* borrowed */
    int conn;                 /* last state posted */
    char last_err[600];       /* last error posted (not repeated every retry) */
    char last_log_bad[600];   /* last log inconsistency posted */
    uint64_t foreign_posted;  /* foreign entries already announced */
    uint64_t tree_size;       /* last view posted */
    int64_t accepted_at;
    /* contacts whose blocked key change was already announced: core keeps
     * such a message queued until the user decides, so every poll sees it */
    char blocked[BLOCKED_MAX][CKV_NAME_MAX + 1];
    size_t n_blocked;
};

static void post_conn(struct tui_online *o, struct tui_worker *w, int conn, const char *text)
{
    if (o->conn == conn && (conn != TUI_CONN_ERROR || strcmp(o->last_err, text ? text : "") == 0))
        return;
    o->conn = conn;
    snprintf(o->last_err, sizeof(o->last_err), "%s", conn == TUI_CONN_ERROR && text ? text : "");
    struct tui_res *r = tui_res_new(TUI_RES_CONN);
    if (!r)
        return;
    r->conn = conn;
    r->text = strdup(text ? text : "");
    tui_worker_post(w, r);
}

/* A sentence for st with the client's detail, into buf. */
static const char *why(struct tui_online *o, ckv_status st, char *buf, size_t size)
{
    const char *detail = ckv_client_last_error(o->c);
    if (detail && detail[0])
        snprintf(buf, size, "%s (%s)", ckv_strerror(st), detail);
    else
        snprintf(buf, size, "%s", ckv_strerror(st));
    return buf;
}

static int is_net(ckv_status st)
{
    return st == CKV_ERR_NET || st == CKV_ERR_HTTP || st == CKV_ERR_TLOG_FETCH ||
           st == CKV_ERR_AUTH || st == CKV_ERR_RATE_LIMITED || st == CKV_ERR_CLOCK_SKEW;
}

static int is_log_bad(ckv_status st)
{
    return st == CKV_ERR_KT_INCONSISTENT || st == CKV_ERR_TLOG_FORK ||
           st == CKV_ERR_TLOG_ROLLBACK || st == CKV_ERR_KT_BAD_CHECKPOINT;
}

/* The log contradicts our view (fork, rollback, bad checkpoint): a red
 * banner saying what to do, and the detail in the status window. Posted
 * again only when the detail changes. */
static void log_bad(struct tui_online *o, struct tui_worker *w, ckv_status st)
{
    char d[600];
    why(o, st, d, sizeof(d));
    if (strcmp(d, o->last_log_bad) == 0)
        return;
    snprintf(o->last_log_bad, sizeof(o->last_log_bad), "%s", d);
    tui_worker_note(w, "", TUI_LINE_ALERT, "log check failed: %s", d);
    struct tui_res *r = tui_res_new(TUI_RES_LOG_BAD);
    if (!r)
        return;
    r->status = st;
    r->text = strdup("LOG INCONSISTENT: the server showed a log that contradicts what this client "
                     "saw before (a fork or a rollback). Do not trust new keys from it; keep this "
                     "profile as evidence, tell the operator and your contacts, and audit the log "
                     "with ckv-audit. Details in the status window; /ack hides this banner.");
    tui_worker_post(w, r);
}

/* A contact's gossiped checkpoint contradicts our view: the alarm in the
 * conversation and the red banner (docs/tui.md). */
static void split_view(struct tui_online *o, struct tui_worker *w, const ckv_event *e)
{
    (void)o;
    tui_worker_note(w, e->contact, TUI_LINE_ALERT, "%s",
                    e->text ? e->text : ckv_strerror(e->status));
    struct tui_res *r = tui_res_new(TUI_RES_LOG_BAD);
    if (!r)
        return;
    r->status = e->status;
    char buf[700];
    snprintf(buf, sizeof(buf),
             "SPLIT VIEW: %s's log (size %llu) contradicts ours (size %llu): the server shows "
             "different logs to different users. Do not trust new keys from it; the evidence "
             "is in the profile's evidence/ folder. /ack hides this banner.",
             e->contact, (unsigned long long)e->seq, (unsigned long long)e->count);
    r->text = strdup(buf);
    tui_worker_post(w, r);
}

/* Note a failure in conversation `name`, and update the connection state. */
static void failed(struct tui_online *o, struct tui_worker *w, const char *name, ckv_status st,
                   const char *what)
{
    char d[600];
    why(o, st, d, sizeof(d));
    if (is_net(st))
        post_conn(o, w, TUI_CONN_ERROR, d);
    if (is_log_bad(st))
        log_bad(o, w, st);
    if (st == CKV_ERR_KT_VIEW_FROZEN) /* the status bar says it too */
        post_conn(o, w, TUI_CONN_ERROR,
                  "log view frozen: the server may be freezing our view; sending waits");
    tui_worker_note(w, name, TUI_LINE_WARN, "%s: %s", what, d);
}

ckv_status tui_online_pin(ckv_profile *p, const char *url, const char *vkey)
{
    return ckv_profile_pin_server(p, url, vkey);
}

ckv_status tui_online_pin_witnesses(ckv_profile *p, const char witness[][512], size_t n,
                                    unsigned quorum)
{
    const char *keys[CKV_WITNESS_MAX];
    if (n == 0 || n > CKV_WITNESS_MAX)
        return CKV_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++)
        keys[i] = witness[i];
    return ckv_profile_pin_witnesses(p, keys, n, quorum ? quorum : (unsigned)n);
}

static long max_view_age;

void tui_online_set_max_view_age(long seconds)
{
    max_view_age = seconds;
}

ckv_status tui_online_open(ckv_profile *p, struct tui_online **out, char **server_out)
{
    char *url = NULL, *vkey = NULL;
    struct tui_online *o = NULL;
    ckv_status st = ckv_profile_server(p, &url, &vkey);
    if (st != CKV_OK)
        goto out;
    o = calloc(1, sizeof(*o));
    if (!o) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    o->conn = -1;
    o->p = p;
    ckv_client_options opt;
    memset(&opt, 0, sizeof opt);
    opt.max_view_age = max_view_age;
    opt.defer_acks = 1; /* the chat keeps receiving: acks ride on its next post */
    const char *sync_env = getenv("CKV_SYNC_FULL"); /* survive a power cut (fsync per commit) */
    opt.sync_full = sync_env != NULL && strcmp(sync_env, "1") == 0;
    st = ckv_client_open(p, &opt, &o->c);
    if (st != CKV_OK)
        goto out;
    *out = o;
    *server_out = url;
    url = NULL;
    o = NULL;
out:
    free(o);
    free(url);
    free(vkey);
    return st;
}

void tui_online_close(struct tui_online *o)
{
    if (!o)
        return;
    ckv_client_close(o->c);
    free(o);
}

void tui_online_view(struct tui_online *o, struct tui_worker *w)
{
    ckv_view v;
    if (ckv_client_view(o->c, &v) != CKV_OK)
        return;
    if (v.tree_size == o->tree_size && v.accepted_at == o->accepted_at)
        return;
    o->tree_size = v.tree_size;
    o->accepted_at = v.accepted_at;
    struct tui_res *r = tui_res_new(TUI_RES_VIEW);
    if (!r)
        return;
    r->tree_size = v.tree_size;
    r->at = v.accepted_at;
    tui_worker_post(w, r);
}

void tui_online_acknowledge(struct tui_online *o, struct tui_worker *w, uint64_t leaf)
{
    ckv_status st = ckv_client_monitor_acknowledge(o->c, leaf);
    if (st == CKV_OK) {
        struct tui_res *r = tui_res_new(TUI_RES_FOREIGN_ACKED);
        if (r)
            tui_worker_post(w, r);
        tui_worker_note(w, "", TUI_LINE_INFO,
                        "the entries under your name up to entry #%llu are acknowledged: the "
                        "alarm comes back only for a newer one",
                        (unsigned long long)leaf);
    } else if (st == CKV_ERR_INVALID_ARG) { /* not the latest, or nothing to acknowledge */
        tui_worker_note(w, "", TUI_LINE_WARN, "cannot acknowledge: %s (the alert stays)",
                        ckv_client_last_error(o->c));
    } else {
        failed(o, w, "", st, "cannot acknowledge");
    }
}

ckv_status tui_online_register(struct tui_online *o, struct tui_worker *w, int new_recovery_code)
{
    ckv_recovery rec;
    memset(&rec, 0, sizeof(rec));
    rec.new_code = new_recovery_code;
    ckv_status st = ckv_client_register_recovery(o->c, &rec);
    if (rec.new_code_sent) /* also when the answer was lost: the server may hold it */
        tui_worker_note(w, "", TUI_LINE_ALERT,
                        "RECOVERY CODE: %s -- write it down now and keep it offline: a reset "
                        "of this account (a lost device) needs it. It is stored nowhere and "
                        "not shown again.",
                        rec.new_code_out);
    sodium_memzero(&rec, sizeof(rec));
    if (st == CKV_OK) {
        tui_worker_note(w, "", TUI_LINE_INFO,
                        "registered: your key is in the server's transparency log. "
                        "/add NAME to start a conversation, /code shows your public code.");
        post_conn(o, w, TUI_CONN_ONLINE, NULL);
        tui_online_view(o, w);
    } else if (st == CKV_ERR_DIR_NAME_TAKEN) {
        tui_worker_note(w, "", TUI_LINE_ALERT,
                        "cannot register: the name is taken on this server by another key. "
                        "Choose another account name (a new profile).");
    } else {
        failed(o, w, "", st, "cannot register");
    }
    return st;
}

void tui_online_ensure_registered(struct tui_online *o, struct tui_worker *w, const char *account)
{
    ckv_key_info ki;
    ckv_status st = ckv_client_lookup(o->c, account, &ki);
    if (st == CKV_ERR_NOT_REGISTERED || st == CKV_ERR_NOT_FOUND) {
        tui_worker_note(w, "", TUI_LINE_INFO, "%s is not registered on the server yet: registering",
                        account);
        (void)tui_online_register(o, w, 0);
    } else if (st == CKV_OK) {
        post_conn(o, w, TUI_CONN_ONLINE, NULL);
    } else {
        failed(o, w, "", st, "cannot look up your own account");
    }
}

void tui_online_send(struct tui_online *o, struct tui_worker *w, const struct tui_cmd *cmd)
{
    char d[600];
    uint64_t seq = 0;
    ckv_status st =
        ckv_client_send(o->c, cmd->name, (const uint8_t *)cmd->text, cmd->text_len, &seq);
    struct tui_res *r = tui_res_new(TUI_RES_SENT);
    if (r) {
        snprintf(r->name, sizeof(r->name), "%s", cmd->name);
        r->token = cmd->token;
        r->status = st;
        r->seq = seq;
        if (st == CKV_ERR_KEY_CHANGED_BLOCKED) {
            snprintf(d, sizeof(d),
                     "not sent: %s's key changed since you verified it; /verify %s or "
                     "/accept %s first",
                     cmd->name, cmd->name, cmd->name);
            r->text = strdup(d);
        } else if (st != CKV_OK) {
            char e[600];
            snprintf(d, sizeof(d), "%s: %s", seq != 0 ? "queued" : "not sent",
                     why(o, st, e, sizeof(e)));
            r->text = strdup(d);
        }
        tui_worker_post(w, r);
    }
    if (st == CKV_OK)
        post_conn(o, w, TUI_CONN_ONLINE, NULL);
    else if (is_net(st))
        post_conn(o, w, TUI_CONN_ERROR, why(o, st, d, sizeof(d)));
    else if (is_log_bad(st))
        log_bad(o, w, st);
    else if (st == CKV_ERR_KT_VIEW_FROZEN)
        post_conn(o, w, TUI_CONN_ERROR,
                  "log view frozen: the server may be freezing our view; sending waits");
    tui_worker_post_contacts(w); /* the pre-send check may have changed the state */
    tui_online_view(o, w);
}

void tui_online_add(struct tui_online *o, struct tui_worker *w, const char *name)
{
    ckv_trust_report rep;
    memset(&rep, 0, sizeof(rep));
    ckv_status st = ckv_client_add_contact(o->c, name, &rep);
    if (st == CKV_OK) {
        tui_worker_note(w, name, TUI_LINE_INFO,
                        "%s added: their key is in the log (%s). Compare codes with "
                        "/verify %s.",
                        name, ckv_trust_state_name(rep.state), name);
        if (rep.key_changed)
            tui_worker_note(w, name, TUI_LINE_ALERT, "%s's key differs from the one pinned before",
                            name);
        tui_worker_note(w, "", TUI_LINE_INFO, "%s added; /msg %s to talk", name, name);
        post_conn(o, w, TUI_CONN_ONLINE, NULL);
    } else if (st == CKV_ERR_NOT_FOUND || st == CKV_ERR_NOT_REGISTERED) {
        tui_worker_note(w, "", TUI_LINE_WARN, "cannot add %s: no such account on the server",
                        name);
    } else {
        failed(o, w, "", st, "cannot add contact");
    }
    tui_worker_post_contacts(w);
    tui_online_view(o, w);
}

static int blocked_seen(struct tui_online *o, const char *name, int add)
{
    for (size_t i = 0; i < o->n_blocked; i++)
        if (strcmp(o->blocked[i], name) == 0)
            return 1;
    if (add && o->n_blocked < BLOCKED_MAX)
        snprintf(o->blocked[o->n_blocked++], CKV_NAME_MAX + 1, "%s", name);
    return 0;
}

static void blocked_forget(struct tui_online *o, const char *name)
{
    for (size_t i = 0; i < o->n_blocked; i++)
        if (strcmp(o->blocked[i], name) == 0) {
            memmove(o->blocked[i], o->blocked[i + 1], (o->n_blocked - i - 1) * sizeof(o->blocked[0]));
            o->n_blocked--;
            return;
        }
}

ckv_status tui_online_poll(struct tui_online *o, struct tui_worker *w)
{
    ckv_event *ev = NULL;
    size_t n = 0;
    int contacts = 0;
    ckv_status st = ckv_client_receive(o->c, 0, &ev, &n);
    if (st != CKV_OK) {
        char d[600];
        why(o, st, d, sizeof(d));
        if (is_log_bad(st))
            log_bad(o, w, st);
        post_conn(o, w, TUI_CONN_ERROR, d);
        return st;
    }
    post_conn(o, w, TUI_CONN_ONLINE, NULL);
    for (size_t i = 0; i < n; i++) {
        const ckv_event *e = &ev[i];
        struct tui_res *r;
        switch (e->kind) {
        case CKV_EV_MESSAGE:
            blocked_forget(o, e->contact);
            r = tui_res_new(TUI_RES_MESSAGE);
            if (!r)
                break;
            snprintf(r->name, sizeof(r->name), "%s", e->contact);
            r->seq = e->seq;
            r->at = e->time;
            r->text = tui_text_clean(e->text ? e->text : "", e->text ? e->text_len : 0);
            tui_worker_post(w, r);
            contacts = 1;
            break;
        case CKV_EV_RECEIPT:
            r = tui_res_new(TUI_RES_RECEIPT);
            if (!r)
                break;
            snprintf(r->name, sizeof(r->name), "%s", e->contact);
            r->seq = e->seq;
            tui_worker_post(w, r);
            break;
        case CKV_EV_GAP:
            if (e->count == 1)
                tui_worker_note(w, e->contact, TUI_LINE_WARN,
                                "a message is missing (number %llu from %s never arrived)",
                                (unsigned long long)e->seq, e->contact);
            else
                tui_worker_note(w, e->contact, TUI_LINE_WARN,
                                "%llu messages are missing (numbers %llu-%llu from %s)",
                                (unsigned long long)e->count, (unsigned long long)e->seq,
                                (unsigned long long)(e->seq + e->count - 1), e->contact);
            break;
        case CKV_EV_REORDERED:
            tui_worker_note(w, e->contact, TUI_LINE_INFO,
                            "message number %llu arrived after a later one",
                            (unsigned long long)e->seq);
            break;
        case CKV_EV_KEY_CHANGED:
            if (e->state == CKV_TRUST_CHANGED && blocked_seen(o, e->contact, 1))
                break;
            r = tui_res_new(TUI_RES_KEY_CHANGED);
            if (!r)
                break;
            snprintf(r->name, sizeof(r->name), "%s", e->contact);
            r->state = (int)e->state;
            tui_worker_post(w, r);
            contacts = 1;
            break;
        case CKV_EV_REJECTED:
            if (e->status == CKV_ERR_UNTRUSTED_IDENTITY) {
                if (blocked_seen(o, e->contact, 0) == 1 && !contacts)
                    break;
                tui_worker_note(w, e->contact, TUI_LINE_ALERT,
                                "a message from %s under the new key is held back until you "
                                "/verify %s or /accept %s",
                                e->contact, e->contact, e->contact);
            } else {
                tui_worker_note(w, strcmp(e->contact, "?") == 0 ? "" : e->contact,
                                TUI_LINE_ALERT, "a message from %s was refused: %s", e->contact,
                                ckv_strerror(e->status));
            }
            break;
        case CKV_EV_SPLIT_VIEW:
            split_view(o, w, e);
            break;
        case CKV_EV_HELD:
            tui_worker_note(w, e->contact, TUI_LINE_ALERT,
                            "a message from %s is held until the log can be checked (our view "
                            "of the log is frozen); it is shown once the view is fresh",
                            e->contact);
            break;
        default:
            break;
        }
    }
    ckv_client_events_free(ev, n);
    if (contacts)
        tui_worker_post_contacts(w);
    tui_online_view(o, w);
    return CKV_OK;
}

void tui_online_lookup(struct tui_online *o, struct tui_verify *v)
{
    ckv_key_info ki;
    char d[600];
    ckv_status st = ckv_client_lookup(o->c, v->contact, &ki);
    if (st != CKV_OK) {
        snprintf(v->log_note, sizeof(v->log_note), "lookup failed: %s", why(o, st, d, sizeof(d)));
        return;
    }
    if (memcmp(ki.key, v->key, 33) != 0) {
        snprintf(v->log_note, sizeof(v->log_note),
                 "the log holds another key (version %llu) than the one shown: do not mark "
                 "verified",
                 (unsigned long long)ki.version);
        return;
    }
    ckv_gossip_state gs;
    if (ckv_profile_gossip_state(o->p, v->contact, &gs) == CKV_OK) {
        v->gossip = (int)gs.result;
        v->gossip_their = gs.their_size;
        v->gossip_our = gs.our_size;
    }
    v->have_log = 1;
    v->leaf_index = ki.leaf_index;
    v->version = ki.version;
    v->tree_size = ki.tree_size;
    v->checkpoint_age = ki.checkpoint_age;
}

static const char *type_name(int t)
{
    return t == 1 ? "register" : t == 2 ? "rotate" : t == 3 ? "RESET" : "?";
}

void tui_online_log(struct tui_online *o, struct tui_worker *w, const char *name)
{
    ckv_key_info *list = NULL;
    size_t n = 0;
    ckv_status st = ckv_client_key_history(o->c, name, &list, &n);
    if (st != CKV_OK) {
        failed(o, w, "", st, "cannot read the key history");
        return;
    }
    tui_worker_note(w, "", TUI_LINE_INFO, "%s: %zu entr%s in the log, each proof checked:", name,
                    n, n == 1 ? "y" : "ies");
    for (size_t i = 0; i < n; i++) {
        char when[32] = "?";
        time_t t = (time_t)list[i].entry_time;
        struct tm tm;
        if (gmtime_r(&t, &tm))
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
        tui_worker_note(w, "", TUI_LINE_INFO,
                        "  v%llu %-8s entry #%llu  %s  key %02x%02x%02x%02x%02x%02x...  "
                        "proof ok in tree %llu",
                        (unsigned long long)list[i].version, type_name(list[i].type),
                        (unsigned long long)list[i].leaf_index, when, list[i].key[1],
                        list[i].key[2], list[i].key[3], list[i].key[4], list[i].key[5],
                        list[i].key[6], (unsigned long long)list[i].tree_size);
    }
    free(list);
    tui_online_view(o, w);
}

ckv_status tui_online_monitor(struct tui_online *o, struct tui_worker *w, int quiet)
{
    ckv_monitor_report rep;
    memset(&rep, 0, sizeof(rep));
    ckv_status st = ckv_client_monitor(o->c, &rep);
    if (st == CKV_ERR_KT_FOREIGN_ENTRY) {
        /* the banner again only for entries not announced yet (it was
         * acknowledged or is still up); /monitor always says it */
        uint64_t n = rep.foreign_entries - rep.foreign_acknowledged;
        if (rep.foreign_entries <= o->foreign_posted) {
            if (!quiet)
                tui_worker_note(w, "", TUI_LINE_ALERT,
                                "monitor: still %llu entr%s under your name that this profile "
                                "did not create (first: entry #%llu)",
                                (unsigned long long)n, n == 1 ? "y" : "ies",
                                (unsigned long long)rep.foreign_index);
            tui_online_view(o, w);
            return CKV_OK;
        }
        o->foreign_posted = rep.foreign_entries;
        struct tui_res *r = tui_res_new(TUI_RES_FOREIGN);
        if (r) {
            r->text = malloc(700);
            if (r->text)
                snprintf(r->text, 700,
                         "KEY UNDER YOUR NAME: the log holds %llu entr%s under your name that "
                         "this profile did not create (first: entry #%llu). Someone may be "
                         "impersonating you: tell your contacts to compare codes with you, and "
                         "tell the server's operator. /ack hides this banner; if it was you, "
                         "/ack %llu ends the alarm.",
                         (unsigned long long)n, n == 1 ? "y" : "ies",
                         (unsigned long long)rep.foreign_index,
                         (unsigned long long)rep.last_foreign_index);
            tui_worker_post(w, r);
        }
        tui_online_view(o, w);
        return CKV_OK;
    }
    if (st != CKV_OK) {
        if (!quiet)
            failed(o, w, "", st, "monitor failed");
        else if (is_log_bad(st))
            log_bad(o, w, st);
        return st;
    }
    if (!quiet && rep.earlier_entries == 0 && rep.foreign_entries == 0)
        tui_worker_note(w, "", TUI_LINE_INFO,
                        "monitor: log read up to tree size %llu (%llu new entries); %llu "
                        "entr%s under your name, all made by this profile",
                        (unsigned long long)rep.tree_size, (unsigned long long)rep.entries_read,
                        (unsigned long long)rep.own_entries, rep.own_entries == 1 ? "y" : "ies");
    else if (!quiet)
        tui_worker_note(w, "", TUI_LINE_INFO,
                        "monitor: log read up to tree size %llu (%llu new entries); %llu "
                        "entr%s under your name: %llu made by this profile, %llu older ones "
                        "its reset replaced, %llu acknowledged",
                        (unsigned long long)rep.tree_size, (unsigned long long)rep.entries_read,
                        (unsigned long long)rep.own_entries, rep.own_entries == 1 ? "y" : "ies",
                        (unsigned long long)(rep.own_entries - rep.earlier_entries -
                                             rep.foreign_entries),
                        (unsigned long long)rep.earlier_entries,
                        (unsigned long long)rep.foreign_acknowledged);
    tui_online_view(o, w);
    return CKV_OK;
}

static void progress(struct tui_worker *w, size_t done, size_t total)
{
    struct tui_res *r = tui_res_new(TUI_RES_PROGRESS);
    if (!r)
        return;
    r->done = done;
    r->total = total;
    tui_worker_post(w, r);
}

void tui_online_audit(struct tui_online *o, struct tui_worker *w, ckv_profile *p)
{
    ckv_contact *list = NULL;
    size_t n = 0, bad = 0;
    ckv_status st = ckv_contact_list(p, &list, &n);
    if (st != CKV_OK) {
        tui_worker_note(w, "", TUI_LINE_WARN, "audit: cannot read the contacts: %s",
                        ckv_strerror(st));
        progress(w, 1, 1);
        return;
    }
    size_t total = n + 1;
    progress(w, 0, total);
    st = tui_online_monitor(o, w, 0);
    if (st != CKV_OK)
        bad++;
    progress(w, 1, total);
    for (size_t i = 0; i < n; i++) {
        ckv_key_info ki;
        char d[600];
        st = ckv_client_lookup(o->c, list[i].name, &ki);
        if (st != CKV_OK) {
            bad++;
            tui_worker_note(w, "", TUI_LINE_WARN, "audit: %s FAILED: %s", list[i].name,
                            why(o, st, d, sizeof(d)));
            if (is_log_bad(st))
                log_bad(o, w, st);
        } else if (memcmp(ki.key, list[i].identity_key, 33) != 0) {
            bad++;
            tui_worker_note(w, list[i].name, TUI_LINE_ALERT,
                            "audit: %s's logged key (version %llu) is not the pinned one",
                            list[i].name, (unsigned long long)ki.version);
        } else {
            tui_worker_note(w, "", TUI_LINE_INFO,
                            "audit: %s ok: pinned key is logged (version %llu, entry #%llu, "
                            "tree %llu)",
                            list[i].name, (unsigned long long)ki.version,
                            (unsigned long long)ki.leaf_index, (unsigned long long)ki.tree_size);
        }
        progress(w, i + 2, total);
    }
    tui_worker_note(w, "", bad ? TUI_LINE_WARN : TUI_LINE_INFO,
                    "audit done: %zu contact%s checked against the log, %zu problem%s", n,
                    n == 1 ? "" : "s", bad, bad == 1 ? "" : "s");
    ckv_contact_list_free(list, n);
    tui_worker_post_contacts(w);
    tui_online_view(o, w);
}
