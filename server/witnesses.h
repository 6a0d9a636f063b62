/*
 * witnesses.h: ckvd's side of C2SP tlog-witness (c2sp.org/tlog-witness):
 * the configured witnesses (--witness VKEY,URL, --witness-quorum K,
 * --witness-refresh S), pushing a signed checkpoint to each of them with a
 * consistency proof, checking each cosignature that comes back, and the
 * durable record of collected cosignatures (DIR/cosig.db) from which the
 * checkpoint ckvd serves is built: the newest one with K cosignatures,
 * carrying the log's signature first, then every witness cosignature
 * collected for it (docs/witness.md, docs/server.md).
 *
 * Only the log's publisher thread (log.c) calls push; nothing here is used
 * by the HTTP thread, so a witness that is down or slow delays only what
 * ckvd serves next, never a request.
 */
#ifndef CKVD_WITNESSES_H
#define CKVD_WITNESSES_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/tlog.h"

#define CKVD_MAX_WITNESSES 32
#define CKVD_WITNESS_REFRESH_DEFAULT 10 /* seconds */

struct ckvd_witness_set;

/* A new empty set (quorum: all; refresh: CKVD_WITNESS_REFRESH_DEFAULT).
 * NULL when out of memory. ckvd_witness_set_free(NULL) is a no-op. */
struct ckvd_witness_set *ckvd_witness_set_new(void);
void ckvd_witness_set_free(struct ckvd_witness_set *ws);

/* Add "VKEY,URL" (split at the first comma): a cosigner verifier key (type
 * 0x04, ckv-witness's witness.vkey) and the witness's submission prefix
 * (http:// or https://; POSTs go to URL/add-checkpoint). 0, or -1 with a
 * sentence in err. */
int ckvd_witness_set_add(struct ckvd_witness_set *ws, const char *arg, char *err, size_t errlen);
/* quorum 0 = all configured witnesses. 0, or -1 with err (quorum > count). */
int ckvd_witness_set_config(struct ckvd_witness_set *ws, unsigned quorum, unsigned refresh_s,
                            char *err, size_t errlen);
size_t ckvd_witness_set_count(const struct ckvd_witness_set *ws);
unsigned ckvd_witness_set_refresh(const struct ckvd_witness_set *ws);

/* Open (create) DIR/cosig.db and learn each witness's last cosigned size.
 * 0, or -1 with err. */
int ckvd_witness_set_open(struct ckvd_witness_set *ws, const char *dir, char *err, size_t errlen);

/* The newest stored checkpoint with a quorum of cosignatures from the
 * configured witnesses, as the note to serve (malloc'd) and its body.
 * 1 found, 0 none, -1 database error. */
int ckvd_witness_set_served(struct ckvd_witness_set *ws, char **note_out, ckv_tlog_checkpoint *cp);

/* Consistency proof from the log (old <= new <= the log's size). */
typedef ckv_status (*ckvd_proof_fn)(void *ctx, uint64_t old_size, uint64_t new_size,
                                    ckv_tlog_consistency_proof *out);

/* Push note (signed by the log, body cp) to every witness, learning a
 * lagging witness's size from a 409 and proving from there; store every
 * cosignature that verifies. *stop (read atomically) aborts transfers
 * early. When cp now has a quorum, *served_out gets the note to serve
 * (malloc'd) and 1 is returned; else 0 (or -1 when the database fails). */
int ckvd_witness_set_push(struct ckvd_witness_set *ws, const char *note,
                          const ckv_tlog_checkpoint *cp, ckvd_proof_fn proof, void *proof_ctx,
                          const int *stop, char **served_out);

#endif
