/*
 * kt.h: what the client's key-transparency files share, and nobody else
 * sees: kt_view.c (the accepted checkpoint and its consistency), kt.c
 * (entries, chains, lookups) and kt_monitor.c (the monitor, kt_latest).
 * kt.c's top comment describes the checks.
 */
#ifndef CKV_CORE_KT_H
#define CKV_CORE_KT_H

#include "online.h"

#define CKV_KT_PENDING_WAIT_MS 8000 /* how long a lookup waits for a 503 pending entry */

/* The accepted view as stored (meta kt_view, without the note). */
struct ckv_kt_viewrec {
    uint64_t size;
    uint8_t root[32];
    int64_t at;
};

/* The view (kt_view.c); CKV_ERR_NOT_FOUND when none was accepted yet. */
CKV_MUST_USE ckv_status ckv_kt_load_view(ckv_client *c, struct ckv_kt_viewrec *v);
/* Accept a signed checkpoint note (signature, origin, consistency with the
 * view; kt_view.c's comment); *cp gets it parsed. */
CKV_MUST_USE ckv_status ckv_kt_accept_checkpoint(ckv_client *c, const char *note, size_t len,
                                                 ckv_tlog_checkpoint *cp);
/* GET /checkpoint and accept it. */
CKV_MUST_USE ckv_status ckv_kt_fetch_checkpoint(ckv_client *c, ckv_tlog_checkpoint *cp);
/* A JSON array of base64 hashes into path (at most CKV_TLOG_MAX_PROOF). */
CKV_MUST_USE ckv_status ckv_kt_parse_path(json_t *a, ckv_tlog_hash *path, size_t *n);
void ckv_sleep_ms(long ms);
/* GET tile t of the server's log (a hash tile, or an entry bundle) into
 * *buf (malloc'd; the previous *buf is freed first, so a reader can keep
 * one buffer), at most the C2SP size of its kind: the net status. */
CKV_MUST_USE ckv_status ckv_kt_get_tile(ckv_client *c, const ckv_tlog_tile *t, uint8_t **buf,
                                        size_t *len);

/* The latest verified entry of a name (kt.c), stored. */
CKV_MUST_USE ckv_status ckv_kt_store(ckv_client *c, const ckv_kt_entry *k);
/* A broken chain between prev and k: the sentence (and evidence). */
CKV_MUST_USE ckv_status ckv_kt_chain_fail(ckv_client *c, ckv_status st, const ckv_kt_entry *prev,
                                          const ckv_kt_entry *k);
/* The leaf hashes of the entries this profile made (32 bytes each). */
CKV_MUST_USE ckv_status ckv_kt_load_own(ckv_client *c, uint8_t **list, size_t *n);

/* Before k (proven under cp) is accepted: the monitor up to cp, and k not
 * older than the latest version the log shows for its name (kt_monitor.c). */
CKV_MUST_USE ckv_status ckv_kt_check_latest(ckv_client *c, const ckv_kt_entry *k,
                                            const ckv_tlog_checkpoint *cp);

#endif /* CKV_CORE_KT_H */
