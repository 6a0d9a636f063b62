/*
 * harness.h: the online tests' fixtures: a real ckvd started on 127.0.0.1
 * (a free port, its data in a temporary directory), real profiles
 * (CKV_KDF_MIN) with a client pinned to it, and direct access to ckvd's
 * message table (to drop, hold back or replay queued messages).
 */
#ifndef CKV_TEST_ONLINE_HARNESS_H
#define CKV_TEST_ONLINE_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ckv/client.h"
#include "ckv/core.h"

typedef struct srv {
    pid_t pid;
    int port;
    char dir[256];      /* temp dir: data/ and logs */
    char vkey[512];     /* the log's verifier key */
    char url[64];
} srv;

/* When set (before srv_start), ckvd gets "--limit" harness_limit, e.g.
 * "register=0/0" to turn the registration limit off. */
extern const char *harness_limit;
/* When set (before srv_start/srv_restart): more ckvd arguments, NULL-ended. */
extern const char *const *harness_ckvd_args;

/* A real ckv-witness (CKV_WITNESS_PATH) on 127.0.0.1, a free port, in a
 * temp dir, witnessing the log with verifier key log_vkey. */
typedef struct witness_proc {
    pid_t pid;
    int port;
    char dir[256];
    char vkey[512]; /* its cosigner verifier key (DIR/witness.vkey) */
    char url[64];
} witness_proc;
void witness_start(witness_proc *w, const char *name, const char *log_vkey);
void witness_stop(witness_proc *w); /* SIGTERM, wait, remove the dir */

/* Start ckvd in a new temp dir (port 0 = any free port). */
void srv_start(srv *s);
/* Start again on the same data and port (after srv_kill). */
void srv_restart(srv *s);
/* Send sig and wait for the process. */
void srv_kill(srv *s, int sig);
/* Stop (SIGTERM) and remove the temp dir. */
void srv_stop(srv *s);
/* A second ckvd on a copy of from's data (the same log key and log so
 * far): from is stopped for the copy and started again on its port. */
void srv_clone(srv *from, srv *to);
/* Run SQL on ckvd's database (WAL: safe while it runs). Returns sqlite rc. */
int srv_sql(srv *s, const char *sql);
/* Count rows of a query's first column (integer result). */
long long srv_sql_int(srv *s, const char *sql);
/* Messages waiting in ckvd's queue for account name. */
long long srv_queued(srv *s, const char *name);

typedef struct user {
    char dir[256];
    ckv_profile *p;
    ckv_client *c;
} user;

/* New profile `name` pinned to s (vkey may override the log key; NULL =
 * s's own key), with a client. */
void user_new(user *u, const srv *s, const char *name, const char *vkey);
/* The same with options and witnesses (n keys, quorum K; n 0 = none). */
void user_new_opts(user *u, const char *url, const char *vkey, const char *name,
                   const ckv_client_options *o, const char *const *witnesses, size_t n,
                   unsigned quorum);
void user_free(user *u);
/* Receive until at least `want` events of kind `kind` arrived (or ~10 s);
 * all events are appended to *all (count in *n). Returns how many of that
 * kind arrived. */
size_t recv_until(user *u, ckv_event_kind kind, size_t want, ckv_event **all, size_t *n);
/* Number of events of a kind in a list. */
size_t count_kind(const ckv_event *ev, size_t n, ckv_event_kind kind);

#endif
