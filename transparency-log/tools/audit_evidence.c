/*
 * audit_evidence.c: turns what the auditor found (audit_evidence.h) into a
 * ckv-evidence/1 file through the evidence library (include/ckv/evidence.h),
 * so that ckv-audit and the clients write one format. Checkpoints get the
 * roles "accepted_before" (the state's note) and "served_now".
 */
#include "audit_evidence.h"

#include <stdlib.h>

#include "ckv/evidence.h"
#include "ckv/tlog_note.h"

ckv_status audit_evidence_write(const char *dir, const audit_evidence *ev, char **path_out)
{
    ckv_evidence *e = NULL;
    size_t acc = 0, srv = 0;
    int has_acc = 0, has_srv = 0;
    ckv_status st = ckv_evidence_new(ev->kind, ev->summary, ev->vkey, &e);

    if (st == CKV_OK)
        st = ckv_evidence_set_reporter(e, "ckv-audit");
    if (st == CKV_OK)
        st = ckv_evidence_set_source(e, ev->source);
    if (st == CKV_OK && ev->detail != NULL)
        st = ckv_evidence_set_detail(e, ev->detail);
    /* an empty or oversized note (what a lying log served) cannot be kept
     * as a checkpoint: the evidence goes without it (its detail says what
     * was wrong), rather than not at all */
    if (st == CKV_OK && ev->accepted_note != NULL && ev->accepted_len > 0 &&
        ev->accepted_len <= CKV_TLOG_NOTE_MAX_SIZE) {
        st = ckv_evidence_add_checkpoint(e, "accepted_before", ev->accepted_note, ev->accepted_len,
                                         &acc);
        has_acc = st == CKV_OK;
    }
    if (st == CKV_OK && ev->served_note != NULL && ev->served_len > 0 &&
        ev->served_len <= CKV_TLOG_NOTE_MAX_SIZE) {
        st = ckv_evidence_add_checkpoint(e, "served_now", ev->served_note, ev->served_len, &srv);
        has_srv = st == CKV_OK;
    }
    if (st == CKV_OK && ev->has_cons && has_acc && has_srv)
        st =
            ckv_evidence_set_consistency(e, acc, srv, ev->cons_path, ev->cons_len, ev->old_subtree);
    for (size_t i = 0; st == CKV_OK && i < ev->nentries; i++) {
        const audit_evidence_entry *x = &ev->entries[i];
        st = ckv_evidence_add_entry(e, x->role, x->data, x->len, x->index, srv,
                                    has_srv ? x->path : NULL, x->path_len);
    }
    if (st == CKV_OK && ev->object_path != NULL)
        st = ckv_evidence_set_object(e, ev->object_path, ev->object, ev->object_len,
                                     ev->has_position, ev->position, ev->expected, ev->found);
    if (st == CKV_OK)
        st = ckv_evidence_write(e, dir, path_out);
    ckv_evidence_free(e);
    return st;
}
