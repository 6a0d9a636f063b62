/*
 * send.c: contacts from the directory (a checked lookup, the bundle's key
 * against the logged key, a new session), the check before every send
 * (the pinned key is the latest logged one under a fresh checkpoint),
 * ckv_client_send / ckv_client_send_many, and the encrypted receipts a
 * receive owes. Part of the message path: messages.c's top comment.
 */
#include "kt_evidence.h"
#include "messages.h"

#include <signal/protocol.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest inner plaintext we send: the Signal message adds at most ~150
 * bytes (header, MAC, CBC padding), so the envelope body stays under
 * ckvd's 64 KiB limit. */
#define CKV_SEND_INNER_MAX (60u * 1024u)
#define done ckv_client_done

/* ---- bundles and sessions --------------------------------------------------------- */

/* Fetch name's bundle (consumes a one-time prekey) and check that its
 * identity key is the logged key. */
static ckv_status fetch_bundle(ckv_client *c, const char *name, const uint8_t logged[33],
                               ckv_bundle *out)
{
    char path[128], *text = NULL;
    json_t *ans = NULL;
    const char *bn;
    ckv_status st;

    snprintf(path, sizeof path, "/v1/keys/%s", name);
    st = ckv_net_json(c, "GET", path, NULL, 1, 0, &ans);
    if (st != CKV_OK)
        return st;
    bn = json_string_value(json_object_get(ans, "name"));
    if (bn == NULL || strcmp(bn, name) != 0) {
        st = ckv_client_fail(c, CKV_ERR_KT_NAME_MISMATCH,
                             "asked for the bundle of '%s', the server sent one for '%s'", name,
                             bn ? bn : "(no name)");
        goto out;
    }
    json_object_del(ans, "name");
    text = json_dumps(ans, JSON_COMPACT);
    if (text == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    st = ckv_bundle_parse(text, strlen(text), out);
    if (st != CKV_OK) {
        st = ckv_client_fail(c, st, "the server's prekey bundle for '%s' is not valid: %s", name,
                             ckv_strerror(st));
        goto out;
    }
    if (sodium_memcmp(out->identity_key, logged, CKV_IDENTITY_KEY_LEN) != 0)
        st = ckv_kt_ev_bundle_key(
            c,
            ckv_client_fail(c, CKV_ERR_KT_BUNDLE_KEY,
                            "the server's prekey bundle for '%s' carries an identity key that "
                            "is not the key in the log: refused (a server-made key)",
                            name),
            name, out->identity_key);
out:
    free(text);
    json_decref(ans);
    return st;
}

/* The logged entry of name, from the store when proven under a view no
 * older than max_age, else from a fresh lookup. With witnesses pinned the
 * stored entry must also be proven under the current view's size: a view
 * that was frozen (kept fresh by the server re-serving an old checkpoint)
 * and then moved on must not vouch for a key proven under the old one. */
ckv_status ckv_fresh_entry(ckv_client *c, const char *name, ckv_kt_entry *k)
{
    uint64_t size = 0;
    ckv_status st = ckv_kt_stored(c, name, k);
    if (st == CKV_OK && ckv_now() - k->checked_at <= c->max_age && k->checked_at <= ckv_now() &&
        (c->n_witnesses == 0 ||
         (ckv_kt_view(c, &size, NULL, NULL) == CKV_OK && size == k->tree_size)))
        return CKV_OK;
    return ckv_kt_lookup(c, name, k);
}

static ckv_status start_session(ckv_client *c, const char *name, const ckv_kt_entry *k,
                                ckv_trust_report *r)
{
    ckv_bundle b;
    ckv_status st = fetch_bundle(c, name, k->e.key, &b);
    if (st != CKV_OK)
        return st;
    st = ckv_session_start(c->p, name, &b, r);
    if (st != CKV_OK)
        return ckv_client_fail(c, st, "cannot start a session with '%s': %s", name,
                               ckv_strerror(st));
    /* a new session: the next message gossips our view again */
    {
        static const uint8_t none[32];
        (void)ckv_gossip_mark_sent(c->p, name, 0, none);
    }
    return CKV_OK;
}

static ckv_status mark_logged(ckv_client *c, const char *name, const uint8_t key[33])
{
    ckv_status st = ckv_kt_vouch(c, name, key);
    if (st != CKV_OK)
        return ckv_client_fail(c, st, "cannot record that the log vouches for '%s': %s", name,
                               ckv_strerror(st));
    return CKV_OK;
}

ckv_status ckv_client_add_contact(ckv_client *c, const char *name, ckv_trust_report *r)
{
    char norm[CKV_NAME_MAX + 1];
    ckv_kt_entry *k;
    ckv_trust_report rep;
    ckv_contact *ct = NULL;
    ckv_status st;

    if (c == NULL || name == NULL)
        return CKV_ERR_INVALID_ARG;
    c->err[0] = 0;
    if (ckv_name_normalize(name, norm) != CKV_OK)
        return ckv_client_fail(c, CKV_ERR_BAD_NAME, "'%s' is not a valid account name", name);
    if (strcmp(norm, c->p->account) == 0)
        return ckv_client_fail(c, CKV_ERR_INVALID_ARG, "'%s' is this profile's own account",
                               norm);
    k = malloc(sizeof *k);
    if (k == NULL)
        return CKV_ERR_NOMEM;
    st = ckv_kt_lookup(c, norm, k);
    if (st == CKV_OK)
        st = start_session(c, norm, k, &rep);
    if (st == CKV_OK)
        st = mark_logged(c, norm, k->e.key);
    if (st == CKV_OK && ckv_contact_get(c->p, norm, &ct) == CKV_OK)
        rep.state = ct->state;
    if (st == CKV_OK && r != NULL)
        *r = rep;
    ckv_contact_free(ct);
    free(k);
    return done(c, st);
}

/* The remote identity key of our session with name; *has = 0 when none
 * (a session from before our rotation only receives: none for sending). */
static ckv_status session_key(ckv_profile *p, const char *name, uint8_t out[33], int *has)
{
    signal_protocol_address a = {name, strlen(name), 1};
    int r = ckv_session_usable(p, &a, out);
    if (r < 0)
        return CKV_ERR_DB;
    *has = r == 1;
    return CKV_OK;
}

/* The check before every send (client.h): the pinned key must be the latest
 * logged key under a fresh checkpoint; a changed key is applied with the
 * trust rules (blocking for a verified contact) and a new session started. */
static ckv_status presend(ckv_client *c, const char *name)
{
    ckv_kt_entry *k = malloc(sizeof *k);
    ckv_contact *ct = NULL;
    ckv_trust_report rep;
    uint8_t skey[CKV_IDENTITY_KEY_LEN];
    int has = 0;
    ckv_status st;

    if (k == NULL)
        return CKV_ERR_NOMEM;
    st = ckv_contact_get(c->p, name, &ct);
    if (st == CKV_ERR_NO_CONTACT) {
        free(k);
        return ckv_client_add_contact(c, name, NULL);
    }
    if (st != CKV_OK)
        goto out;
    st = ckv_fresh_entry(c, name, k);
    if (st != CKV_OK)
        goto out;
    if (sodium_memcmp(ct->identity_key, k->e.key, CKV_IDENTITY_KEY_LEN) != 0) {
        st = ckv_contact_pin(c->p, name, k->e.key, &rep);
        if (st != CKV_OK)
            goto out;
        if (rep.blocked || rep.state == CKV_TRUST_CHANGED) {
            st = ckv_client_fail(c, CKV_ERR_KEY_CHANGED_BLOCKED,
                                 "'%s' has a new key in the log (version %llu, %s): sending is "
                                 "blocked until you verify or accept the new key",
                                 name, (unsigned long long)k->e.version,
                                 ckv_dir_type_name(k->e.type));
            goto out;
        }
        st = start_session(c, name, k, NULL);
        if (st == CKV_OK)
            st = mark_logged(c, name, k->e.key);
        goto out;
    }
    if (ct->state == CKV_TRUST_CHANGED) {
        st = ckv_client_fail(c, CKV_ERR_KEY_CHANGED_BLOCKED,
                             "'%s' changed keys since you verified them: sending is blocked until "
                             "you verify or accept the new key",
                             name);
        goto out;
    }
    if (ct->state == CKV_TRUST_UNVERIFIED) {
        st = mark_logged(c, name, k->e.key);
        if (st != CKV_OK)
            goto out;
    }
    /* a session made with an older key of the contact is replaced */
    st = session_key(c->p, name, skey, &has);
    if (st == CKV_OK && (!has || sodium_memcmp(skey, k->e.key, CKV_IDENTITY_KEY_LEN) != 0))
        st = start_session(c, name, k, NULL);
out:
    ckv_contact_free(ct);
    free(k);
    return st;
}

static ckv_status encrypt_hooked(ckv_client *c, const char *name, struct ckv_hook_ctx *h,
                                 const char *plain, size_t len, ckv_envelope *env)
{
    ckv_status st;
    c->p->history_hook = ckv_history_hook;
    c->p->history_ctx = h;
    st = ckv_session_encrypt(c->p, name, (const uint8_t *)plain, len, env);
    c->p->history_hook = NULL;
    c->p->history_ctx = NULL;
    return st;
}

/* Encrypt (hooked) in one transaction that also deletes the outbox rows
 * ckvd accepted since the last one: the ratchet step, the history row and
 * the new outbox row (*ob) commit together. Inside a caller's transaction
 * (a receive's batch) this is a savepoint of it and the caller settles
 * the outbox; nothing is posted here. */
static ckv_status encrypt_to_outbox(ckv_client *c, const char *name, struct ckv_hook_ctx *h,
                                    const char *plain, size_t len, ckv_envelope *env,
                                    uint64_t *ob)
{
    int outer = c->p->txn_depth == 0;
    size_t settled = 0;
    ckv_status st;
    h->in_outbox = 0;
    st = ckv_db_begin(c->p);
    if (st != CKV_OK)
        return ckv_client_fail(c, st, "cannot write to the profile: %s", ckv_strerror(st));
    if (outer)
        st = ckv_outbox_settle_in_txn(c, &settled);
    if (st == CKV_OK) {
        st = encrypt_hooked(c, name, h, plain, len, env);
        if (st != CKV_OK)
            ckv_client_fail(c, st, "cannot encrypt for '%s': %s", name, ckv_strerror(st));
    }
    if (st == CKV_OK) {
        if (h->in_outbox)
            *ob = h->outbox_id; /* written in the encrypt's own savepoint */
        else
            st = ckv_outbox_put(c->p, name, env->type, env->body, env->body_len, ob);
    }
    if (st == CKV_OK)
        st = ckv_db_commit(c->p);
    else
        ckv_db_rollback(c->p);
    if (st != CKV_OK) {
        ckv_envelope_clear(env);
        return c->err[0] ? st : ckv_client_fail(c, st, "cannot store the message: %s",
                                                ckv_strerror(st));
    }
    ckv_outbox_forget(c, settled);
    return CKV_OK;
}

/* Encrypt one message for name (checked by presend) into the outbox,
 * inside the caller's transaction: its sequence number, the inner JSON
 * (with our view when gossip is due), the ratchet step, the history and
 * outbox rows. */
static ckv_status encrypt_text(ckv_client *c, const char *name, const uint8_t *text, size_t len,
                               ckv_envelope *env, uint64_t *ob, uint64_t *seq)
{
    struct ckv_conv *cv = malloc(sizeof *cv);
    struct ckv_hook_ctx h;
    char *plain = NULL, *cp = NULL;
    size_t plen = 0, cp_len = 0;
    ckv_status st;

    if (cv == NULL)
        return CKV_ERR_NOMEM;
    st = ckv_conv_load(c->p, name, cv);
    if (st != CKV_OK)
        goto out;
    memset(&h, 0, sizeof h);
    h.mode = CKV_HOOK_SEND;
    h.seq = cv->send_seq + 1;
    h.text = text;
    h.text_len = len;
    st = ckv_gossip_outgoing(c, name, h.seq == 1, &cp, &cp_len, &h.gossip_size, h.gossip_root);
    if (st != CKV_OK) {
        ckv_client_fail(c, st, "cannot read our log view to gossip: %s", ckv_strerror(st));
        goto out;
    }
    h.gossip_sent = cp != NULL;
    st = ckv_inner_message_cp(h.seq, ckv_now(), text, len, cp, cp_len, &plain, &plen);
    if (st != CKV_OK) {
        st = ckv_client_fail(c, st == CKV_ERR_MALFORMED ? CKV_ERR_INVALID_ARG : st,
                             "the message is not valid UTF-8 text");
        goto out;
    }
    /* The server refuses envelopes over 64 KiB (docs/server.md); one that
     * big would sit in the outbox for ever, so refuse it here, before it is
     * encrypted (the inner JSON, after escaping, is what gets encrypted). */
    if (plen > CKV_SEND_INNER_MAX) {
        st = ckv_client_fail(c, CKV_ERR_TOO_LARGE,
                             "the message is too long once encoded (%zu bytes; at most %u): "
                             "split it",
                             plen, (unsigned)CKV_SEND_INNER_MAX);
        goto out;
    }
    st = encrypt_to_outbox(c, name, &h, plain, plen, env, ob);
    if (st == CKV_OK)
        *seq = h.seq;
out:
    if (plain != NULL) {
        sodium_memzero(plain, plen);
        free(plain);
    }
    free(cp);
    free(cv);
    return st;
}

ckv_status ckv_client_send(ckv_client *c, const char *contact, const uint8_t *text, size_t len,
                           uint64_t *seq_out)
{
    ckv_text t = {text, len};
    if (c == NULL || contact == NULL || (text == NULL && len > 0))
        return CKV_ERR_INVALID_ARG;
    return ckv_client_send_many(c, contact, &t, 1, seq_out);
}

ckv_status ckv_client_send_many(ckv_client *c, const char *contact, const ckv_text *msgs, size_t n,
                                uint64_t *seqs)
{
    char norm[CKV_NAME_MAX + 1];
    ckv_envelope *envs = NULL;
    struct ckv_post_item *it = NULL;
    uint64_t *obs = NULL, seq = 0;
    size_t i, settled = 0, done_n = 0;
    int offline = 0, stored = 0;
    ckv_status behind = CKV_OK; /* a refused older row to this contact */
    char behind_why[CKV_ERRMSG_MAX] = "";
    ckv_status st;

    if (c == NULL || contact == NULL || msgs == NULL || n == 0 || n > CKV_SEND_MANY_MAX)
        return CKV_ERR_INVALID_ARG;
    c->err[0] = 0;
    for (i = 0; i < n; i++) {
        if (msgs[i].text == NULL && msgs[i].len > 0)
            return CKV_ERR_INVALID_ARG;
        if (msgs[i].len > CKV_PLAINTEXT_MAX / 2)
            return ckv_client_fail(c, CKV_ERR_TOO_LARGE, "the message is too long");
    }
    if (ckv_name_normalize(contact, norm) != CKV_OK)
        return ckv_client_fail(c, CKV_ERR_BAD_NAME, "'%s' is not a valid account name", contact);
    /* What is already in the outbox goes first. When ckvd cannot be
     * reached the new messages queue behind it (when the checks below can
     * be made without it), and go with the next flush, in order. */
    st = ckv_outbox_flush(c);
    if (st == CKV_ERR_NET) {
        offline = 1;
        st = CKV_OK;
    } else if (st != CKV_OK && c->ob_only_refused) {
        /* ckvd refused older rows to some recipients (a full queue, say):
         * to them the new messages wait behind those, in order; to anyone
         * else they go now */
        if (ckv_outbox_refused(c, norm)) {
            behind = st;
            snprintf(behind_why, sizeof behind_why, "%s", c->err);
        }
        st = CKV_OK;
        c->err[0] = 0;
    }
    if (st == CKV_OK) /* the freeze rule first (quorum.c): it may move the view */
        st = ckv_quorum_check_view_age(c);
    if (st == CKV_OK)
        st = presend(c, norm);
    if (st != CKV_OK)
        return done(c, st);
    envs = calloc(n, sizeof *envs);
    it = calloc(n, sizeof *it);
    obs = calloc(n, sizeof *obs);
    if (envs == NULL || it == NULL || obs == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    /* One transaction for all n: it also deletes the outbox rows ckvd
     * accepted since the last one; each message is a savepoint in it. */
    st = ckv_db_begin(c->p);
    if (st != CKV_OK) {
        ckv_client_fail(c, st, "cannot write to the profile: %s", ckv_strerror(st));
        goto out;
    }
    st = ckv_outbox_settle_in_txn(c, &settled);
    for (i = 0; i < n && st == CKV_OK; i++) {
        st = encrypt_text(c, norm, msgs[i].text, msgs[i].len, &envs[i], &obs[i], &seq);
        if (st == CKV_OK && seqs != NULL)
            seqs[i] = seq;
        done_n = i + 1;
    }
    if (st == CKV_OK)
        st = ckv_db_commit(c->p);
    else
        ckv_db_rollback(c->p);
    if (st != CKV_OK) {
        if (c->err[0] == 0)
            ckv_client_fail(c, st, "cannot store the message: %s", ckv_strerror(st));
        goto out;
    }
    ckv_outbox_forget(c, settled);
    stored = 1; /* from here on the messages are in the history and the outbox */
    if (offline) { /* not ahead of the older rows: all go with the next flush */
        c->ob_clean = 0;
        st = ckv_client_fail(c, CKV_ERR_NET,
                             "cannot reach the server at %s (the message is kept in the outbox "
                             "and sent with the next send or receive)",
                             c->url);
        goto out;
    }
    if (behind != CKV_OK) { /* behind a refused row to the same contact */
        c->ob_clean = 0;
        st = ckv_client_fail(c, behind,
                             "%s; this message is kept in the outbox behind them, in order",
                             behind_why);
        goto out;
    }
    for (i = 0; i < n; i++) {
        it[i].to = norm;
        it[i].type = envs[i].type;
        it[i].body = envs[i].body;
        it[i].len = envs[i].body_len;
        it[i].ob = obs[i];
    }
    st = ckv_post_items(c, it, n, NULL);
    if (st != CKV_OK) {
        char why[CKV_ERRMSG_MAX]; /* the sentence is rewritten from a copy of itself */
        snprintf(why, sizeof why, "%s", c->err);
        c->ob_clean = 0;
        ckv_client_fail(c, st,
                        "%s (the message is kept in the outbox and sent with the next send or "
                        "receive)",
                        why);
    }
out:
    if (!stored && seqs != NULL) /* nothing kept: no numbers either */
        memset(seqs, 0, n * sizeof *seqs);
    for (i = 0; envs != NULL && i < done_n; i++)
        ckv_envelope_clear(&envs[i]);
    free(envs);
    free(it);
    free(obs);
    return done(c, st);
}

/* Encrypt the receipts we owe to name into the outbox (inside the caller's
 * transaction); *out is set when there were any (out->ob != 0). */
ckv_status ckv_encrypt_receipts(ckv_client *c, const char *name, struct ckv_receipt_post *out)
{
    struct ckv_conv *cv = malloc(sizeof *cv);
    struct ckv_hook_ctx h;
    char *plain = NULL;
    size_t plen = 0;
    ckv_status st;
    memset(out, 0, sizeof *out);
    if (cv == NULL)
        return CKV_ERR_NOMEM;
    st = ckv_conv_load(c->p, name, cv);
    if (st != CKV_OK || cv->n_receipts == 0)
        goto out;
    /* After our rotation the session the messages came on only receives:
     * the receipts go on a new session under our new key (presend starts
     * it, with the same checks as any send; on failure they stay owed). */
    {
        signal_protocol_address a = {name, strlen(name), 1};
        int r = ckv_session_usable(c->p, &a, NULL);
        if (r < 0) {
            st = CKV_ERR_DB;
            goto out;
        }
        if (r == 0 && ((st = ckv_quorum_check_view_age(c)) != CKV_OK ||
                       (st = presend(c, name)) != CKV_OK))
            goto out;
    }
    st = ckv_inner_receipt(cv->receipts, cv->n_receipts, &plain, &plen);
    if (st != CKV_OK)
        goto out;
    memset(&h, 0, sizeof h);
    h.mode = CKV_HOOK_RECEIPT;
    h.n_receipts_sent = cv->n_receipts;
    st = encrypt_to_outbox(c, name, &h, plain, plen, &out->env, &out->ob);
    if (st == CKV_OK)
        snprintf(out->name, sizeof out->name, "%s", name);
    else
        out->ob = 0;
out:
    free(plain);
    free(cv);
    return st;
}
