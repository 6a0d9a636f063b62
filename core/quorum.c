/*
 * quorum.c: the client side of witnesses (c2sp.org/tlog-witness): pinning
 * the witnesses' cosigner keys and the quorum K in the profile, requiring K
 * valid cosignatures (c2sp.org/tlog-cosignature, type 0x04) on every
 * checkpoint the client accepts, and the freeze rule before a send.
 *
 * Why: a log operator can show one user a view nobody else sees (split
 * view) or keep a user on an old view (freeze). Witnesses cosign only
 * checkpoints consistent with everything they cosigned before, and stamp
 * each cosignature with the time, so a checkpoint with K fresh
 * cosignatures is one that K independent parties saw recently.
 *
 * Storage (meta, sealed): `witnesses` = the verifier keys, one a line;
 * `witness_quorum` = K (4 bytes). Pinned once, never learned from the
 * server (DESIGN.md, threat model).
 *
 * Rules when opening a note (ckv_quorum_open):
 *   - the log's own key must sign it and its origin must be the pinned one
 *     (c2sp.org/tlog-checkpoint);
 *   - a signature line by the log key or by a pinned witness that does not
 *     verify rejects the whole note (a forged cosignature);
 *   - at least K distinct pinned witnesses must have cosigned;
 *   - the view's witnessed time is the K-th newest of those cosignature
 *     timestamps: K witnesses vouch that the log looked like this then.
 */
#include "online.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pinning -------------------------------------------------------------------- */

static size_t trim_len(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    return n;
}

ckv_status ckv_profile_pin_witnesses(ckv_profile *p, const char *const *vkeys, size_t n,
                                     unsigned quorum)
{
    ckv_tlog_verifier *v[CKV_WITNESS_MAX] = {0};
    char *list = NULL;
    uint8_t *old = NULL;
    size_t total = 0, pos = 0, oldn = 0;
    ckv_status st = CKV_OK;

    if (p == NULL || vkeys == NULL || n == 0 || n > CKV_WITNESS_MAX || quorum == 0 ||
        quorum > n)
        return CKV_ERR_INVALID_ARG;
    for (size_t i = 0; i < n && st == CKV_OK; i++) {
        size_t l;
        if (vkeys[i] == NULL) {
            st = CKV_ERR_INVALID_ARG;
            break;
        }
        l = trim_len(vkeys[i]);
        if (memchr(vkeys[i], '\n', l) != NULL ||
            ckv_tlog_verifier_parse(vkeys[i], l, &v[i]) != CKV_OK ||
            ckv_tlog_verifier_type(v[i]) != CKV_TLOG_KEY_TYPE_COSIGNATURE) {
            st = CKV_ERR_TLOG_BAD_KEY;
            break;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(ckv_tlog_verifier_name(v[j]), ckv_tlog_verifier_name(v[i])) == 0 ||
                ckv_tlog_verifier_key_id(v[j]) == ckv_tlog_verifier_key_id(v[i]))
                st = CKV_ERR_INVALID_ARG; /* the same witness twice */
        total += l + 1;
    }
    if (st != CKV_OK)
        goto out;
    st = ckv_meta_get(p, "witnesses", &old, &oldn);
    free(old);
    if (st == CKV_OK) {
        st = CKV_ERR_EXISTS;
        goto out;
    }
    if (st != CKV_ERR_NOT_FOUND)
        goto out;
    list = malloc(total + 1);
    if (list == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t l = trim_len(vkeys[i]);
        memcpy(list + pos, vkeys[i], l);
        pos += l;
        list[pos++] = '\n';
    }
    st = ckv_db_begin(p);
    if (st != CKV_OK)
        goto out;
    st = ckv_meta_put(p, "witnesses", (const uint8_t *)list, pos);
    if (st == CKV_OK)
        st = ckv_meta_put_u32(p, "witness_quorum", quorum);
    if (st == CKV_OK)
        st = ckv_db_commit(p);
    else
        ckv_db_rollback(p);
out:
    for (size_t i = 0; i < n && i < CKV_WITNESS_MAX; i++)
        ckv_tlog_verifier_free(v[i]);
    free(list);
    return st;
}

ckv_status ckv_profile_witnesses(ckv_profile *p, char **vkeys_out, size_t *n_out,
                                 unsigned *quorum_out)
{
    uint8_t *list = NULL;
    size_t len = 0, n = 0;
    uint32_t k = 0;
    ckv_status st;

    if (p == NULL || vkeys_out == NULL || n_out == NULL || quorum_out == NULL)
        return CKV_ERR_INVALID_ARG;
    st = ckv_meta_get(p, "witnesses", &list, &len);
    if (st == CKV_ERR_NOT_FOUND) {
        *vkeys_out = NULL;
        *n_out = 0;
        *quorum_out = 0;
        return CKV_OK;
    }
    if (st != CKV_OK)
        return st;
    st = ckv_meta_get_u32(p, "witness_quorum", &k);
    for (size_t i = 0; i < len; i++)
        n += list[i] == '\n';
    if (st == CKV_OK && (len == 0 || list[len - 1] != '\n' || n == 0 || n > CKV_WITNESS_MAX ||
                         k == 0 || k > n))
        st = CKV_ERR_PROFILE_DAMAGED;
    if (st != CKV_OK) {
        free(list);
        return st == CKV_ERR_NOT_FOUND ? CKV_ERR_PROFILE_DAMAGED : st;
    }
    *vkeys_out = (char *)list; /* unseal leaves a NUL after the data */
    *n_out = n;
    *quorum_out = k;
    return CKV_OK;
}

ckv_status ckv_quorum_load(ckv_client *c)
{
    char *list = NULL, *line;
    size_t n = 0;
    unsigned k = 0;
    ckv_status st = ckv_profile_witnesses(c->p, &list, &n, &k);
    if (st != CKV_OK || n == 0)
        return st;
    line = list;
    for (size_t i = 0; i < n; i++) {
        char *nl = strchr(line, '\n');
        if (ckv_tlog_verifier_parse(line, (size_t)(nl - line), &c->witnesses[i]) != CKV_OK ||
            ckv_tlog_verifier_type(c->witnesses[i]) != CKV_TLOG_KEY_TYPE_COSIGNATURE) {
            st = CKV_ERR_PROFILE_DAMAGED;
            break;
        }
        c->n_witnesses = i + 1;
        line = nl + 1;
    }
    if (st == CKV_OK)
        c->quorum = k;
    free(list);
    return st;
}

/* ---- opening a checkpoint ----------------------------------------------------- */

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

ckv_status ckv_quorum_open(ckv_client *c, const char *note, size_t len, ckv_tlog_checkpoint *cp,
                           int64_t *witnessed_at, int verbose)
{
    const ckv_tlog_verifier *vs[1 + CKV_WITNESS_MAX];
    ckv_tlog_note *opened = NULL;
    ckv_tlog_checkpoint *tmp = malloc(sizeof *tmp);
    uint64_t times[CKV_WITNESS_MAX];
    size_t have = 0;
    int64_t wt = 0;
    ckv_status st;

    if (tmp == NULL)
        return CKV_ERR_NOMEM;
    vs[0] = c->vkey;
    for (size_t i = 0; i < c->n_witnesses; i++)
        vs[1 + i] = c->witnesses[i];
    st = ckv_tlog_checkpoint_open(note, len, c->origin, vs, 1 + c->n_witnesses, tmp, &opened);
    if (st == CKV_ERR_TLOG_BAD_SIGNATURE && c->n_witnesses > 0 &&
        ckv_tlog_checkpoint_open(note, len, c->origin, vs, 1, tmp, NULL) == CKV_OK) {
        /* the log's signature is fine: a pinned witness's line is forged */
        st = CKV_ERR_KT_BAD_CHECKPOINT;
        if (verbose)
            ckv_client_fail(c, st,
                            "the server's checkpoint carries a cosignature line with the key ID "
                            "of a pinned witness that does not verify (a forged cosignature): "
                            "the checkpoint is refused");
        goto out;
    }
    if (st != CKV_OK) {
        if (verbose)
            ckv_client_fail(c, CKV_ERR_KT_BAD_CHECKPOINT,
                            "the server's checkpoint is not a checkpoint of log '%s' signed by "
                            "the pinned log key: %s",
                            c->origin, ckv_strerror(st));
        st = CKV_ERR_KT_BAD_CHECKPOINT;
        goto out;
    }
    /* the distinct pinned witnesses that cosigned (the library refuses
     * two lines by one key), with their timestamps */
    for (size_t i = 0; i < opened->nverified; i++)
        if (ckv_tlog_verifier_type(opened->verified[i]) == CKV_TLOG_KEY_TYPE_COSIGNATURE &&
            have < CKV_WITNESS_MAX)
            times[have++] = opened->cosig_time[i];
    if (have < c->quorum) {
        st = CKV_ERR_KT_NO_QUORUM;
        if (verbose)
            ckv_client_fail(c, st,
                            "the server's checkpoint of size %llu carries %zu valid "
                            "cosignature%s from the %zu pinned witnesses, but %u are required: "
                            "refused (the witnesses did not see this view)",
                            (unsigned long long)tmp->size, have, have == 1 ? "" : "s",
                            c->n_witnesses, c->quorum);
        goto out;
    }
    if (c->quorum > 0) {
        qsort(times, have, sizeof times[0], cmp_desc);
        wt = times[c->quorum - 1] > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)times[c->quorum - 1];
    }
    c->last_witnessed = wt;
    if (witnessed_at != NULL)
        *witnessed_at = wt;
    *cp = *tmp;
out:
    ckv_tlog_note_free(opened);
    free(tmp);
    return st;
}

/* ---- the freeze rule -------------------------------------------------------------- */

static ckv_status view_witnessed(ckv_client *c, int64_t *wt)
{
    char *note = NULL;
    size_t len = 0;
    ckv_tlog_checkpoint *cp;
    ckv_status st;
    if (c->view_note != NULL && c->view_witnessed > 0) {
        *wt = c->view_witnessed;
        return CKV_OK;
    }
    st = ckv_kt_view_note(c, &note, &len);
    if (st != CKV_OK)
        return st;
    cp = malloc(sizeof *cp);
    st = cp ? ckv_quorum_open(c, note, len, cp, wt, 0) : CKV_ERR_NOMEM;
    free(cp);
    free(note);
    return st;
}

ckv_status ckv_quorum_check_view_age(ckv_client *c)
{
    int64_t wt = 0, age;
    ckv_status st;
    if (c->n_witnesses == 0)
        return CKV_OK; /* no witness pinned: no freeze rule */
    st = view_witnessed(c, &wt);
    if (st == CKV_OK && ckv_now() - wt <= c->max_view_age)
        return CKV_OK;
    /* too old (or no view yet): ask for the newest checkpoint once */
    st = ckv_kt_refresh(c);
    if (st != CKV_OK)
        return st;
    st = view_witnessed(c, &wt);
    if (st != CKV_OK)
        return ckv_client_fail(c, st, "cannot read the accepted log view: %s", ckv_strerror(st));
    age = ckv_now() - wt;
    if (age > c->max_view_age)
        return ckv_client_fail(
            c, CKV_ERR_KT_VIEW_FROZEN,
            "the newest log view the witnesses cosigned is %lld s old (at most %lld s allowed; "
            "%u of %zu pinned witnesses must have cosigned it recently): the server may be "
            "freezing our view, so sending waits; receiving still works",
            (long long)age, (long long)c->max_view_age, c->quorum, c->n_witnesses);
    return CKV_OK;
}
