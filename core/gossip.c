/*
 * gossip.c: the clients compare their log views (DESIGN.md main flow 7;
 * docs/protocol.md "Gossip"). Each message may carry, inside the Signal
 * encryption, the sender's newest accepted checkpoint note with its
 * witness cosignatures (inner field "cp"). The recipient opens it with the
 * pinned log key (and the witness quorum when witnesses are pinned) and
 * compares it with its own view:
 *   - same size: the roots must be equal (two signed checkpoints of one
 *     size with different roots are a proven fork);
 *   - different sizes: the smaller must be a prefix of the larger, which
 *     our server must prove (RFC 9162 §2.1.4.2); a proof that fails is a
 *     split view (the server shows us and our contact different logs).
 * The outcome per contact (agree / differ / unknown, the two sizes, the
 * time) is kept in the sealed meta table under gsp:<hash of name>:
 *   sent_size(8) sent_root(32) result(1) their_size(8) our_size(8) at(8)
 * sent_* is the view last gossiped to that contact, so a note goes out only
 * when our view moved (and always on the first message of a session).
 * A split view also writes an evidence file (kt_evidence.c, kind
 * split_view, docs/evidence.md) and is reported as CKV_EV_SPLIT_VIEW. A
 * check that cannot be decided (network, the server cannot prove a size
 * it never showed us) changes nothing.
 */
#include "kt_evidence.h"
#include "online.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GSP_LEN 65

struct gsp {
    uint64_t sent_size;
    uint8_t sent_root[32];
    ckv_gossip_state st;
};

static ckv_status gsp_load(ckv_profile *p, const char *name, struct gsp *g)
{
    char key[64];
    uint8_t *rec = NULL;
    size_t n = 0;
    ckv_status st;
    memset(g, 0, sizeof *g);
    ckv_meta_name_key(p, "gsp:", name, key);
    st = ckv_meta_get(p, key, &rec, &n);
    if (st == CKV_ERR_NOT_FOUND)
        return CKV_OK;
    if (st != CKV_OK)
        return st;
    if (n != GSP_LEN || rec[40] > CKV_GOSSIP_DIFFER) {
        free(rec);
        return CKV_ERR_PROFILE_DAMAGED;
    }
    g->sent_size = ckv_get_be64(rec);
    memcpy(g->sent_root, rec + 8, 32);
    g->st.result = (ckv_gossip_result)rec[40];
    g->st.their_size = ckv_get_be64(rec + 41);
    g->st.our_size = ckv_get_be64(rec + 49);
    g->st.checked_at = (int64_t)ckv_get_be64(rec + 57);
    free(rec);
    return CKV_OK;
}

static ckv_status gsp_store(ckv_profile *p, const char *name, const struct gsp *g)
{
    char key[64];
    uint8_t rec[GSP_LEN];
    ckv_put_be64(rec, g->sent_size);
    memcpy(rec + 8, g->sent_root, 32);
    rec[40] = (uint8_t)g->st.result;
    ckv_put_be64(rec + 41, g->st.their_size);
    ckv_put_be64(rec + 49, g->st.our_size);
    ckv_put_be64(rec + 57, (uint64_t)g->st.checked_at);
    ckv_meta_name_key(p, "gsp:", name, key);
    return ckv_meta_put(p, key, rec, sizeof rec);
}

ckv_status ckv_profile_gossip_state(ckv_profile *p, const char *contact, ckv_gossip_state *out)
{
    char norm[CKV_NAME_MAX + 1];
    struct gsp g;
    ckv_status st;
    if (p == NULL || contact == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (ckv_name_normalize(contact, norm) != CKV_OK)
        return CKV_ERR_BAD_NAME;
    st = gsp_load(p, norm, &g);
    if (st == CKV_OK)
        *out = g.st;
    return st;
}

/* ---- sending ------------------------------------------------------------------- */

ckv_status ckv_gossip_outgoing(ckv_client *c, const char *name, int first, char **note,
                               size_t *len, uint64_t *size, uint8_t root[32])
{
    struct gsp g;
    uint64_t vs = 0;
    uint8_t vr[32];
    ckv_status st = ckv_kt_view(c, &vs, vr, NULL);
    *note = NULL;
    *len = 0;
    if (st == CKV_ERR_NOT_FOUND)
        return CKV_OK; /* no view yet: nothing to gossip */
    if (st != CKV_OK)
        return st;
    st = gsp_load(c->p, name, &g);
    if (st != CKV_OK)
        return st;
    if (!first && g.sent_size == vs && sodium_memcmp(g.sent_root, vr, 32) == 0)
        return CKV_OK; /* they have this view from us already */
    st = ckv_kt_view_note(c, note, len);
    if (st != CKV_OK)
        return st;
    *size = vs;
    memcpy(root, vr, 32);
    return CKV_OK;
}

ckv_status ckv_gossip_mark_sent(ckv_profile *p, const char *name, uint64_t size,
                                const uint8_t root[32])
{
    struct gsp g;
    ckv_status st = gsp_load(p, name, &g);
    if (st != CKV_OK)
        return st;
    g.sent_size = size;
    memcpy(g.sent_root, root, 32);
    return gsp_store(p, name, &g);
}

/* ---- receiving ------------------------------------------------------------------- */

/* Is (a_size, a_root) a prefix of (b_size, b_root) by our server's proof?
 * CKV_OK yes, CKV_ERR_KT_SPLIT_VIEW proven no, anything else: unknown. */
static ckv_status prefix(ckv_client *c, uint64_t a_size, const uint8_t a_root[32],
                         uint64_t b_size, const uint8_t b_root[32])
{
    ckv_status st = ckv_kt_prove_prefix(c, a_size, a_root, b_size, b_root);
    if (st == CKV_ERR_KT_INCONSISTENT || st == CKV_ERR_KT_BAD_PROOF)
        return CKV_ERR_KT_SPLIT_VIEW;
    return st;
}

ckv_status ckv_gossip_check(ckv_client *c, const char *name, const char *note, size_t len,
                            ckv_gossip_state *result)
{
    ckv_tlog_checkpoint *theirs = malloc(sizeof *theirs);
    uint64_t os = 0;
    uint8_t oroot[32];
    struct gsp g;
    ckv_status st;

    if (theirs == NULL)
        return CKV_ERR_NOMEM;
    /* their note must be a checkpoint of our log (with the quorum) */
    st = ckv_quorum_open(c, note, len, theirs, NULL, 0);
    if (st != CKV_OK)
        goto out;
    st = ckv_kt_view(c, &os, oroot, NULL);
    if (st == CKV_OK && theirs->size > os) {
        (void)ckv_kt_refresh(c); /* maybe we are just behind */
        st = ckv_kt_view(c, &os, oroot, NULL);
    }
    if (st != CKV_OK)
        goto out;
    if (theirs->size == os)
        st = sodium_memcmp(theirs->root.b, oroot, 32) == 0 ? CKV_OK : CKV_ERR_KT_SPLIT_VIEW;
    else if (theirs->size < os)
        st = prefix(c, theirs->size, theirs->root.b, os, oroot);
    else
        st = prefix(c, os, oroot, theirs->size, theirs->root.b);
    if (st != CKV_OK && st != CKV_ERR_KT_SPLIT_VIEW)
        goto out; /* undecided (network, server error): keep the state */
    if (gsp_load(c->p, name, &g) != CKV_OK)
        memset(&g, 0, sizeof g);
    g.st.result = st == CKV_OK ? CKV_GOSSIP_AGREE : CKV_GOSSIP_DIFFER;
    g.st.their_size = theirs->size;
    g.st.our_size = os;
    g.st.checked_at = ckv_now();
    if (st == CKV_ERR_KT_SPLIT_VIEW) {
        ckv_client_fail(c, CKV_ERR_KT_SPLIT_VIEW,
                        "ALARM: split view: '%s' holds a checkpoint of size %llu signed by the "
                        "log that is not consistent with our view of size %llu: the server "
                        "shows different logs to different users",
                        name, (unsigned long long)theirs->size, (unsigned long long)os);
        /* evidence (docs/evidence.md, kind split_view): both signed notes,
         * and the server's consistency proof between them when the sizes
         * differ; appends "; evidence written to FILE" to c->err */
        (void)ckv_kt_ev_split_view(c, st, name, note, len, theirs->size > os, NULL, 0);
    }
    {
        ckv_status s2 = gsp_store(c->p, name, &g);
        if (s2 != CKV_OK) {
            st = s2;
            goto out;
        }
    }
    *result = g.st;
    st = CKV_OK;
out:
    free(theirs);
    return st;
}
