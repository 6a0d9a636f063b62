/*
 * adv.h: helpers shared by the adversarial suite (adv.c), on top of the
 * online tests' harness (tests/online/harness.h: a real ckvd on 127.0.0.1
 * and real profiles) and the lying front (liar.h).
 *
 * Every attack test follows one pattern, stated in its comment: the
 * client's state before, the lie, the expected status and text, the
 * component that detects it, and what must NOT be left behind (no contact
 * marked logged with the bad key, no bad key pinned, no checkpoint stored,
 * no message queued or shown), checked by trying a second time.
 */
#ifndef CKV_TEST_ADV_H
#define CKV_TEST_ADV_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "harness.h"
#include "liar.h"

#include "ckv/contact.h"

#define OK(c, expr)                                                                            \
    do {                                                                                       \
        ckv_status st_ = (expr);                                                               \
        if (st_ != CKV_OK)                                                                     \
            fail_msg("%s: %s: %s", #expr, ckv_status_name(st_),                                \
                     (c) ? ckv_client_last_error(c) : "");                                     \
    } while (0)

/* expr must fail with status want and a last-error text containing frag. */
#define FAILS(c, expr, want, frag)                                                             \
    do {                                                                                       \
        ckv_status st_ = (expr);                                                               \
        if (st_ != (want))                                                                     \
            fail_msg("%s: got %s, want %s: %s", #expr, ckv_status_name(st_),                   \
                     ckv_status_name(want), ckv_client_last_error(c));                         \
        if (strstr(ckv_client_last_error(c), (frag)) == NULL)                                  \
            fail_msg("%s: error text lacks \"%s\": %s", #expr, (frag),                         \
                     ckv_client_last_error(c));                                                \
    } while (0)

/* A user whose client talks to url (a liar) instead of s's own URL. */
void adv_user_via(user *u, const srv *s, const char *url, const char *name);
/* Close and reopen u's client with a maximum checkpoint age (seconds). */
void adv_reopen(user *u, int64_t max_age);
/* Register u (OK). */
void adv_register(user *u);

/* The contact's trust state, or -1 when name is not a contact. */
int adv_state(user *u, const char *name);
/* Copy the contact's pinned key; 0 when it is not a contact. */
int adv_pinned(user *u, const char *name, uint8_t key[33]);
/* An event of a kind (nth, from 0) or NULL. */
const ckv_event *adv_find(const ckv_event *ev, size_t n, ckv_event_kind kind, size_t nth);
/* Receive once (wait seconds); the events are appended to *all. */
void adv_recv(user *u, int wait, ckv_event **all, size_t *n);
void adv_events_reset(ckv_event **all, size_t *n);

/* Fork s: stop it cleanly, copy its data directory to a new one, restart
 * s (with harness_ckvd_args as they are), and start f on the copy
 * (another port) with fork_args as its extra arguments (NULL: none, e.g. a
 * fork that does not push to witnesses): two ckvds that share the past
 * and the log key, from now on free to diverge. */
void adv_fork(srv *s, srv *f, const char *const *fork_args);

/* Snapshot s's data directory (a clean stop, a copy, a restart): snap
 * gets the copy's directory (remove it with adv_rm). adv_restore puts a
 * snapshot back under a running s (kill -9, replace, restart on the same
 * port): a server restored from an old backup. */
void adv_snapshot(srv *s, char snap[256]);
void adv_restore(srv *s, const char *snap);
void adv_rm(const char *dir);

#ifdef CKV_WITNESS_PATH
/* Stop a witness (SIGTERM) but keep its data; start it again on the same
 * port and data (a witness that was away and lags behind). */
void adv_witness_pause(witness_proc *w);
void adv_witness_resume(witness_proc *w, const char *name, const char *log_vkey);
/* The size a witness last cosigned for the log (`ckv-witness status`), or -1. */
long long adv_witness_size(witness_proc *w);
#endif

#ifdef CKV_AUDIT_PATH
/* Run ckv-audit (an outside auditor, its state in state_dir) on the log at
 * url; returns its exit status (0 good, 1 misbehaved, ...); out (may be
 * NULL) gets the evidence path it printed, if any. */
int adv_audit(const char *state_dir, const char *vkey, const char *url, char *out, size_t cap);
/* `ckv-audit verify-evidence FILE`: its exit status (0 proven, 1 not, 2 unreadable). */
int adv_verify_evidence(const char *file);
/* The client's error sentence names an evidence file ("evidence written to
 * PATH") of this kind (in its name), and ckv-audit verifies it as proven. */
void adv_expect_evidence(const char *error, const char *kind);
#endif

/* JSON edits on a malloc'd text (the old text is freed; returns the new). */
char *adv_json_set_str(char *json, const char *key, const char *value);
char *adv_json_set_int(char *json, const char *key, long long value);
/* The string field key of json (malloc'd copy) or NULL. */
char *adv_json_get_str(const char *json, const char *key);
/* Flip one bit of the base64 hash at index i of the array "key". */
char *adv_json_flip_hash(char *json, const char *key, size_t i);

/* GET base+path until it answers 200 (ckvd says 503 pending until the
 * next checkpoint); fails the test after ~5 s. malloc'd body. */
char *adv_get(const char *base, const char *path);
/* Number of history rows with contact. */
size_t adv_history_len(user *u, const char *contact);

/* A canned lie: answer method (NULL = any) + path (exactly, or as a prefix
 * when prefix is set) with status and body, instead of asking ckvd. */
typedef struct adv_canned {
    const char *method;
    char path[256];
    int prefix;
    long status;
    char *body; /* owned (adv_canned_clear frees) */
    int hits;
} adv_canned;
int adv_canned_before(void *ctx, const liar_req *req, const char **target, liar_resp *resp);
/* Install a canned lie on px (body copied). */
void adv_lie(liar *px, adv_canned *c, const char *method, const char *path, long status,
             const char *body);
void adv_canned_clear(adv_canned *c);

#endif
