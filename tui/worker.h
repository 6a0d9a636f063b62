/*
 * worker.h: the worker thread of ckv-chat and the two queues that connect
 * it with the UI thread.
 *
 * Every call into core (the profile, libsignal, the online client) happens
 * on this one thread: the profile and the ckv_client are created, used and
 * closed here (libsignal's state is not thread-safe, and the network must
 * never block the screen). The UI pushes tui_cmd values; the worker
 * answers with tui_res values and writes one byte to a pipe that the UI
 * polls together with the terminal. When online, the worker also polls the
 * server for messages between commands and pushes them as events.
 *
 * Ownership: a pushed command or result belongs to the queue, then to the
 * popper, who frees it with tui_cmd_free / tui_res_free.
 */
#ifndef CKV_TUI_WORKER_H
#define CKV_TUI_WORKER_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include <ckv/status.h>

#include "model.h"

enum tui_cmd_kind {
    TUI_CMD_OPEN = 1,   /* open (or create) the profile, connect */
    TUI_CMD_HISTORY,    /* stored history of `name` */
    TUI_CMD_SEND,       /* send `text` to `name`; `token` identifies it */
    TUI_CMD_ADD,        /* add contact `name` (lookup + bundle + session) */
    TUI_CMD_VERIFY,     /* verification screen data for `name` */
    TUI_CMD_CODE,       /* our own public code */
    TUI_CMD_TRUST,      /* mark `name` verified for `key` (compared in person) */
    TUI_CMD_COMPARE,    /* compare code `text` for `name` (marks verified on a match) */
    TUI_CMD_ACCEPT,     /* accept `name`'s changed key `key` */
    TUI_CMD_LOG,        /* `name`'s key history from the log */
    TUI_CMD_MONITOR,    /* follow the log for entries under our name */
    TUI_CMD_AUDIT,      /* check every contact against the log, with progress */
    TUI_CMD_ACK_FOREIGN, /* acknowledge the entries under our name up to leaf `text` */
    TUI_CMD_QUIT
};

struct tui_cmd {
    int kind;
    char name[TUI_NAME_MAX + 1];
    char *text; /* malloc'd or NULL */
    size_t text_len;
    uint64_t token;
    uint8_t key[33];
    struct tui_cmd *next;
};

enum tui_res_kind {
    TUI_RES_OPENED = 1, /* profile open: account, server (text) */
    TUI_RES_FATAL,      /* cannot continue: status + text; the UI exits */
    TUI_RES_CONTACTS,   /* the contact list (contacts) */
    TUI_RES_HISTORY,    /* stored history of name (lines) */
    TUI_RES_NOTE,       /* a line for conversation name ("" = status): line_kind + text */
    TUI_RES_SENT,       /* token sent (status OK, seq) or failed (status, text) */
    TUI_RES_MESSAGE,    /* incoming message: name, seq, at, text */
    TUI_RES_RECEIPT,    /* name received our seq */
    TUI_RES_CONN,       /* connection state: conn + text */
    TUI_RES_VIEW,       /* log view: tree_size, at */
    TUI_RES_VERIFY,     /* verification screen data (verify) */
    TUI_RES_CODE,       /* our public code (verify.mine, scannable = the code) */
    TUI_RES_COMPARED,   /* compare/trust result: status + text (+ verify.state) */
    TUI_RES_KEY_CHANGED,/* name's key changed: state */
    TUI_RES_FOREIGN,    /* an entry under our name we did not make: text */
    TUI_RES_LOG_BAD,    /* the log is inconsistent with our view: text */
    TUI_RES_PROGRESS,   /* audit progress: done / total */
    TUI_RES_FOREIGN_ACKED /* the alarm for entries under our name was acknowledged */
};

struct tui_res {
    int kind;
    ckv_status status;
    char name[TUI_NAME_MAX + 1];
    char *text; /* malloc'd or NULL */
    int line_kind;
    int conn;
    int state;
    uint64_t token, seq, tree_size;
    int64_t at;
    size_t done, total;
    struct tui_contact *contacts;
    size_t n_contacts;
    struct tui_line *lines;
    size_t n_lines;
    struct tui_verify *verify;
    struct tui_res *next;
};

/* What the worker starts with. The passphrase is copied and wiped by the
 * worker after use. */
struct tui_start {
    char profile_dir[4096];
    int create;                      /* 1: first run, create the profile */
    char account[TUI_NAME_MAX + 1];  /* for create */
    int kdf_cost;                    /* ckv_kdf_cost, for create */
    char server[1024];               /* for create: URL to pin ("" = none) */
    char log_key[1024];              /* for create: log verifier key */
    int register_account;            /* for create: register after pinning */
    char witness[16][512];           /* for create: witness cosigner keys to pin */
    size_t n_witness;
    unsigned quorum;                 /* for create: K of them (0 = all) */
    int new_recovery_code;           /* for create: register with a recovery code */
    long max_view_age;               /* --max-view-age seconds (0 = core's default) */
    uint8_t pass[1024];
    size_t pass_len;
};

struct tui_worker; /* opaque */

/* Start the worker thread; it begins by running a TUI_CMD_OPEN with *start
 * (copied; the caller wipes its copy). Returns NULL on failure. */
struct tui_worker *tui_worker_start(const struct tui_start *start);

/* The fd the UI polls for readability (results pending). */
int tui_worker_fd(const struct tui_worker *w);

/* Queue a command (taken over). Returns 0, -1 on OOM (cmd freed). */
int tui_worker_push(struct tui_worker *w, struct tui_cmd *cmd);

/* Pop all queued results (a list, oldest first; NULL when none), draining
 * the wake-up pipe. */
struct tui_res *tui_worker_pop(struct tui_worker *w);

/* How many typed messages wait for the worker (not taken yet). */
size_t tui_worker_pending_sends(struct tui_worker *w);

/* Ask the worker to quit, join it, free everything. Messages the user
 * typed that are still queued are sent first, each as any send (into the
 * outbox when the server cannot be reached), unless *abandon (may be NULL)
 * becomes non-zero (a second Ctrl-C): those left then are written to
 * report (may be NULL), one line each, so that none is lost unseen.
 * Returns how many were left unsent. NULL w is a no-op (0). */
size_t tui_worker_stop(struct tui_worker *w, const volatile sig_atomic_t *abandon, FILE *report);

struct tui_cmd *tui_cmd_new(int kind, const char *name, const char *text);
void tui_cmd_free(struct tui_cmd *c);
struct tui_res *tui_res_new(int kind);
void tui_res_free(struct tui_res *r); /* one result; NULL is a no-op */

#endif
