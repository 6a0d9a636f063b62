/*
 * log.h: ckvd's transparency log: the tlog store (DIR/log.db), the log's
 * signing key (DIR/log.key, 0600) and a thread that publishes a signed
 * checkpoint whenever new entries are waiting, at most every interval.
 *
 * Every call locks the log, so the HTTP thread and the publisher never use
 * the store at once. The latest signed checkpoint is cached in memory, so a
 * directory lookup costs no database read for it.
 */
#ifndef CKVD_LOG_H
#define CKVD_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/tlog.h"

struct ckvd_log;
struct ckvd_witness_set;

/* Open DIR's log, creating it (and its key, and DIR/log.vkey) on first
 * start; *created tells which. origin is used only when creating; an
 * existing log keeps its own. */
int ckvd_log_open(const char *dir, const char *origin, unsigned interval_ms, int sync_full,
                  struct ckvd_log **out, int *created, char *err, size_t errlen);
/* The same with witnesses (witnesses.h; taken, freed with the log, also on
 * failure; NULL or empty: none): the publisher pushes every new checkpoint
 * to them and what is served is the newest with a quorum of cosignatures. */
int ckvd_log_open_witnessed(const char *dir, const char *origin, unsigned interval_ms,
                            int sync_full, struct ckvd_witness_set *ws, struct ckvd_log **out,
                            int *created, char *err, size_t errlen);
void ckvd_log_close(struct ckvd_log *l); /* publishes what is pending; NULL ok */

const char *ckvd_log_origin(const struct ckvd_log *l);
const char *ckvd_log_vkey(const struct ckvd_log *l);
uint64_t ckvd_log_size(struct ckvd_log *l);

ckv_status ckvd_log_append(struct ckvd_log *l, const uint8_t *entry, size_t len,
                           uint64_t *index_out);
/* Copy of the served checkpoint (malloc'd) and its parsed body: the latest
 * signed one, or with witnesses the newest cosigned by a quorum (with the
 * cosignatures). gen (may be NULL) changes whenever the served note does. */
ckv_status ckvd_log_checkpoint(struct ckvd_log *l, char **note_out, ckv_tlog_checkpoint *cp);
ckv_status ckvd_log_checkpoint_gen(struct ckvd_log *l, char **note_out, ckv_tlog_checkpoint *cp,
                                   uint64_t *gen);
ckv_status ckvd_log_inclusion(struct ckvd_log *l, uint64_t index, uint64_t size,
                              ckv_tlog_inclusion_proof *out);
ckv_status ckvd_log_consistency(struct ckvd_log *l, uint64_t old_size, uint64_t new_size,
                                ckv_tlog_consistency_proof *out);
ckv_status ckvd_log_read_tile(struct ckvd_log *l, const ckv_tlog_tile *t, uint8_t **data,
                              size_t *len);
ckv_status ckvd_log_entry(struct ckvd_log *l, uint64_t index, uint8_t **data, size_t *len);

#endif
