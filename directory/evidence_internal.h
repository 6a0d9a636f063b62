/*
 * evidence_internal.h: the evidence object as evidence.c builds and writes
 * it and evidence_verify.c reads it back (one struct, so that what is
 * written and what is checked cannot drift apart).
 */
#ifndef CKV_EVIDENCE_INTERNAL_H
#define CKV_EVIDENCE_INTERNAL_H

#include "ckv/evidence.h"
#include "ckv/tlog_note.h"
#include "ckv/tlog_proof.h"

struct ev_checkpoint {
    char role[CKV_EVIDENCE_ROLE_MAX + 1];
    uint8_t *note; /* exact bytes, NUL-terminated copy */
    size_t len;
};

struct ev_entry {
    char role[CKV_EVIDENCE_ROLE_MAX + 1];
    uint8_t *data; /* leaf bytes */
    size_t len;
    uint64_t index;
    int has_proof;
    size_t cp; /* checkpoint index of the proof */
    size_t path_len;
    ckv_tlog_hash path[CKV_TLOG_MAX_PROOF];
};

struct ckv_evidence {
    char kind[32];
    char *summary, *vkey, *reporter, *source, *detail;
    char detected_at[32];
    size_t ncp;
    struct ev_checkpoint cp[CKV_EVIDENCE_MAX_CHECKPOINTS];
    size_t nent;
    struct ev_entry *ent[CKV_EVIDENCE_MAX_ENTRIES];
    int has_cons;
    size_t cons_old, cons_new, cons_len;
    int has_subtree;
    ckv_tlog_hash subtree;
    ckv_tlog_hash cons_path[CKV_TLOG_MAX_PROOF];
    int has_served;
    char *served_name, *served_what;
    uint8_t served_key[CKV_EVIDENCE_IDENTITY_KEY_LEN];
    int has_object;
    char *obj_path, *obj_expected, *obj_found;
    uint8_t *obj;
    size_t obj_len;
    int obj_has_pos;
    uint64_t obj_pos;
};

/* 1 when s is 1..31 bytes of [a-z_]. */
int ckv_evidence_word_ok(const char *s);

#endif
