/*
 * backend.h: the online half of ckv-chat's worker: every call into
 * ckv/client.h (the server, the transparency-log checks, messages) lives in
 * backend.c, and only there. backend.c is built when core provides the
 * online client (CKV_TUI_ONLINE, decided by tui/CMakeLists.txt); without it
 * ckv-chat runs on the offline profile alone and says so in the status bar.
 *
 * All functions run on the worker thread. Results go to the UI with
 * tui_worker_post.
 */
#ifndef CKV_TUI_BACKEND_H
#define CKV_TUI_BACKEND_H

#include <stddef.h>

#include <ckv/profile.h>
#include <ckv/status.h>

#include "worker.h"

/* Hand a result to the UI (taken over). Worker thread only. */
void tui_worker_post(struct tui_worker *w, struct tui_res *r);
/* Post a NOTE line for conversation `name` ("" = status). */
void tui_worker_note(struct tui_worker *w, const char *name, int line_kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Re-read and post the contact list. */
void tui_worker_post_contacts(struct tui_worker *w);

#ifdef CKV_TUI_ONLINE
struct tui_online; /* the ckv_client and its polling state */

/* Pin url + log verifier key in the profile (first run). */
ckv_status tui_online_pin(ckv_profile *p, const char *url, const char *vkey);
/* Pin n witness keys with quorum K (0 = all) in a new profile. */
ckv_status tui_online_pin_witnesses(ckv_profile *p, const char witness[][512], size_t n,
                                    unsigned quorum);
/* The next tui_online_open uses this max view age (seconds; 0 = default). */
void tui_online_set_max_view_age(long seconds);
/* Open a client when the profile has a pinned server. CKV_ERR_KT_NOT_CONFIGURED
 * when it has none (then ckv-chat runs offline). *server_out: malloc'd URL. */
ckv_status tui_online_open(ckv_profile *p, struct tui_online **out, char **server_out);
void tui_online_close(struct tui_online *o);

/* The user acknowledges the foreign entries under our name up to leaf
 * (the latest): the monitor stops raising the alarm for them. */
void tui_online_acknowledge(struct tui_online *o, struct tui_worker *w, uint64_t leaf);
ckv_status tui_online_register(struct tui_online *o, struct tui_worker *w, int new_recovery_code);
/* Register when the log has no entry for account yet (a first run whose
 * registration failed, e.g. the server was down). */
void tui_online_ensure_registered(struct tui_online *o, struct tui_worker *w, const char *account);
void tui_online_send(struct tui_online *o, struct tui_worker *w, const struct tui_cmd *cmd);
void tui_online_add(struct tui_online *o, struct tui_worker *w, const char *name);
/* Receive what is queued (no waiting) and post events. */
ckv_status tui_online_poll(struct tui_online *o, struct tui_worker *w);
/* Log facts for the verification screen. */
void tui_online_lookup(struct tui_online *o, struct tui_verify *v);
void tui_online_log(struct tui_online *o, struct tui_worker *w, const char *name);
/* Follow the log; quiet = only post alerts. */
ckv_status tui_online_monitor(struct tui_online *o, struct tui_worker *w, int quiet);
void tui_online_audit(struct tui_online *o, struct tui_worker *w, ckv_profile *p);
void tui_online_view(struct tui_online *o, struct tui_worker *w);
#endif

#endif
