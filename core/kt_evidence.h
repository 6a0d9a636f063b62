/*
 * kt_evidence.h: the client's evidence files (include/ckv/evidence.h,
 * docs/evidence.md). When a key-transparency check in kt.c (or the bundle
 * check in send.c) finds the server misbehaving, these helpers write a
 * ckv-evidence/1 file into <profile dir>/evidence/ and append its path to
 * the error sentence already in c->err. Each takes the status of the
 * failure and returns it unchanged, so that a detection site reads
 *   return ckv_kt_ev_fork(c, ckv_client_fail(c, ..., "..."), note, len);
 * Writing evidence never turns a detected failure into another error: when
 * it cannot be written (in-memory profile, full disk) the sentence stays as
 * it was. Entries are proven with inclusion proofs computed from the
 * server's tiles under our view (the latest accepted checkpoint) and
 * checked against its signed root before they are put in the file.
 */
#ifndef CKV_CORE_KT_EVIDENCE_H
#define CKV_CORE_KT_EVIDENCE_H

#include "online.h"

/* Two signed checkpoints of one size with different roots: our view's
 * note and the one served now. */
ckv_status ckv_kt_ev_fork(ckv_client *c, ckv_status st, const char *served, size_t served_len);

/* A consistency proof between our view and the served checkpoint failed.
 * served_is_new: the served one is the larger. Written as a fork when the
 * proof reproduces the larger signed root but another smaller root, else
 * as bad_proof. served NULL: nothing is written (callers that are not
 * about a served checkpoint, e.g. gossip's prefix check). */
ckv_status ckv_kt_ev_consistency(ckv_client *c, ckv_status st, const char *served,
                                 size_t served_len, int served_is_new, const ckv_tlog_hash *path,
                                 size_t path_len);

/* Gossip (split view): our view and the checkpoint contact `peer` sent
 * (peer_is_new: the peer's is the larger) are not consistent: same size
 * and other roots, or the server's consistency proof between them fails:
 * pass it as path/path_len, or path NULL to have it fetched again from the
 * server (/v1/log/consistency). Kind split_view (the file proves it when
 * the sizes are equal, when the proof shows another smaller root, and when
 * the server's proof fails between the two signed checkpoints). */
ckv_status ckv_kt_ev_split_view(ckv_client *c, ckv_status st, const char *peer,
                                const char *peer_note, size_t peer_len, int peer_is_new,
                                const ckv_tlog_hash *path, size_t path_len);

/* The server's inclusion proof for entry k under checkpoint `note` fails. */
ckv_status ckv_kt_ev_bad_inclusion(ckv_client *c, ckv_status st, const char *note, size_t note_len,
                                   const ckv_kt_entry *k, const ckv_tlog_hash *path,
                                   size_t path_len);

/* kind "broken_chain" (prev may be NULL) or "stale_entry" (prev is the
 * newer entry seen before, k the older one served now). */
ckv_status ckv_kt_ev_entries(ckv_client *c, ckv_status st, const char *kind,
                             const ckv_kt_entry *prev, const ckv_kt_entry *k);

/* A bundle for name carried `served`, not the logged key (the stored
 * latest entry of name). */
ckv_status ckv_kt_ev_bundle_key(ckv_client *c, ckv_status st, const char *name,
                                const uint8_t served[CKV_IDENTITY_KEY_LEN]);

#endif
