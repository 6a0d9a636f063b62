/*
 * client.c: the online client API (include/ckv/client.h), part 1: pinning
 * the server and the log key, opening a client, and the account (register,
 * rotate, reset). Messages and contacts are in messages.c, outbox.c,
 * send.c and receive.c (messages.c's top comment); the checks
 * against the log in kt.c; HTTP in net.c; docs/protocol.md describes it all.
 *
 * Rotation and reset are crash-safe: the new key pair and our entry's leaf
 * hash are stored (pending_identity, kt_own) before the entry is posted, so
 * a crash never leaves a logged key whose private half is lost, nor an
 * entry of ours that our own monitor would take for someone else's.
 */
#include "online.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define done ckv_client_done

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- pinning ------------------------------------------------------------------ */

static int url_ok(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n >= CKV_URL_MAX)
        return 0;
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] >= 0x7f)
            return 0;
    return strchr(u + 8, '?') == NULL && strchr(u + 8, '#') == NULL;
}

ckv_status ckv_profile_pin_server(ckv_profile *p, const char *url, const char *log_vkey)
{
    ckv_tlog_verifier *v = NULL;
    uint8_t *old = NULL;
    size_t n = 0, ul;
    ckv_status st;

    if (p == NULL || url == NULL || log_vkey == NULL || !url_ok(url))
        return CKV_ERR_INVALID_ARG;
    st = ckv_tlog_verifier_parse(log_vkey, strlen(log_vkey), &v);
    if (st != CKV_OK)
        return CKV_ERR_TLOG_BAD_KEY;
    if (ckv_tlog_verifier_type(v) != CKV_TLOG_KEY_TYPE_ED25519) {
        ckv_tlog_verifier_free(v);
        return CKV_ERR_TLOG_BAD_KEY;
    }
    ckv_tlog_verifier_free(v);
    st = ckv_meta_get(p, "server_url", &old, &n);
    free(old);
    if (st == CKV_OK)
        return CKV_ERR_EXISTS;
    if (st != CKV_ERR_NOT_FOUND)
        return st;
    ul = strlen(url);
    while (ul > 8 && url[ul - 1] == '/')
        ul--;
    n = strlen(log_vkey);
    while (n > 0 && (log_vkey[n - 1] == '\n' || log_vkey[n - 1] == '\r'))
        n--;
    st = ckv_db_begin(p);
    if (st != CKV_OK)
        return st;
    st = ckv_meta_put(p, "server_url", (const uint8_t *)url, ul);
    if (st == CKV_OK)
        st = ckv_meta_put(p, "log_vkey", (const uint8_t *)log_vkey, n);
    if (st == CKV_OK)
        st = ckv_db_commit(p);
    else
        ckv_db_rollback(p);
    return st;
}

ckv_status ckv_profile_server(ckv_profile *p, char **url_out, char **vkey_out)
{
    uint8_t *u = NULL, *k = NULL;
    size_t un = 0, kn = 0;
    ckv_status st;
    if (p == NULL || url_out == NULL || vkey_out == NULL)
        return CKV_ERR_INVALID_ARG;
    st = ckv_meta_get(p, "server_url", &u, &un);
    if (st == CKV_OK)
        st = ckv_meta_get(p, "log_vkey", &k, &kn);
    if (st == CKV_ERR_NOT_FOUND)
        st = CKV_ERR_KT_NOT_CONFIGURED;
    if (st != CKV_OK) {
        free(u);
        free(k);
        return st;
    }
    /* unseal leaves a NUL after the data */
    *url_out = (char *)u;
    *vkey_out = (char *)k;
    return CKV_OK;
}

/* ---- open / close --------------------------------------------------------------- */

ckv_status ckv_client_open(ckv_profile *p, const ckv_client_options *options, ckv_client **out)
{
    ckv_client *c = NULL;
    char *url = NULL, *vkey = NULL;
    ckv_status st;

    if (p == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    st = ckv_profile_server(p, &url, &vkey);
    if (st != CKV_OK)
        return st;
    pthread_once(&curl_once, curl_init_once);
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    c->p = p;
    c->url = url;
    url = NULL;
    c->max_age = CKV_DEFAULT_MAX_AGE;
    c->timeout_ms = CKV_DEFAULT_TIMEOUT_MS;
    c->max_view_age = CKV_DEFAULT_MAX_VIEW_AGE;
    if (options != NULL) {
        if (options->max_checkpoint_age < 0 || options->timeout_ms < 0) {
            st = CKV_ERR_INVALID_ARG;
            goto out;
        }
        if (options->max_checkpoint_age > 0)
            c->max_age = options->max_checkpoint_age;
        if (options->timeout_ms > 0)
            c->timeout_ms = options->timeout_ms;
        if (options->max_view_age < 0) {
            st = CKV_ERR_INVALID_ARG;
            goto out;
        }
        if (options->max_view_age > 0)
            c->max_view_age = options->max_view_age;
        c->defer_acks = options->defer_acks != 0;
        if (options->sync_full &&
            sqlite3_exec(p->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK) {
            st = CKV_ERR_DB;
            goto out;
        }
        if (options->ca_file != NULL && (c->ca_file = strdup(options->ca_file)) == NULL) {
            st = CKV_ERR_NOMEM;
            goto out;
        }
    }
    st = ckv_tlog_verifier_parse(vkey, strlen(vkey), &c->vkey);
    if (st != CKV_OK) {
        st = CKV_ERR_PROFILE_DAMAGED;
        goto out;
    }
    snprintf(c->origin, sizeof c->origin, "%s", ckv_tlog_verifier_name(c->vkey));
    st = ckv_quorum_load(c);
    if (st != CKV_OK)
        goto out;
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    *out = c;
    c = NULL;
out:
    free(url);
    free(vkey);
    ckv_client_close(c);
    return st;
}

void ckv_client_close(ckv_client *c)
{
    if (c == NULL)
        return;
    if (c->ack_pend_n > 0) {
        /* else ckvd delivers those again (dropped as seen): not worth a
         * long wait at close when the server is away */
        long t = c->timeout_ms;
        if (c->timeout_ms > 2000)
            c->timeout_ms = 2000;
        (void)ckv_client_ack_flush(c);
        c->timeout_ms = t;
    }
    (void)ckv_client_outbox_settle(c);
    free(c->ob_done);
    curl_slist_free_all(c->hdr_json);
    ckv_net_free_headers(c->hdr_auth);
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    ckv_tlog_verifier_free(c->vkey);
    for (size_t i = 0; i < c->n_witnesses; i++)
        ckv_tlog_verifier_free(c->witnesses[i]);
    free(c->view_note);
    free(c->view_cp);
    free(c->url);
    free(c->ca_file);
    sodium_memzero(c, sizeof *c);
    free(c);
}

const char *ckv_client_last_error(const ckv_client *c)
{
    return c != NULL ? c->err : "";
}

/* ---- the account ------------------------------------------------------------------ */

static json_t *spk_json(const ckv_bundle *b)
{
    char *k = ckv_b64(b->signed_prekey, 33), *s = ckv_b64(b->signed_prekey_signature, 64);
    json_t *o = NULL;
    if (k != NULL && s != NULL)
        o = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)b->signed_prekey_id, "key", k,
                      "signature", s);
    free(k);
    free(s);
    return o;
}

/* The signed prekey as JSON, and (when n > 0) n one-time prekeys from the
 * profile (marked handed out). */
static ckv_status prekeys_json(ckv_client *c, size_t n, json_t **spk_out, json_t **pks_out)
{
    ckv_bundle b;
    json_t *pks = json_array(), *spk = NULL;
    ckv_status st = ckv_profile_export_bundle(c->p, 0, &b);
    if (pks == NULL)
        return CKV_ERR_NOMEM;
    if (st == CKV_OK && (spk = spk_json(&b)) == NULL)
        st = CKV_ERR_NOMEM;
    for (size_t i = 0; i < n && st == CKV_OK; i++) {
        st = ckv_profile_export_bundle(c->p, 1, &b);
        if (st == CKV_OK) {
            char *k = ckv_b64(b.prekey, 33);
            json_t *o = k ? json_pack("{s:I, s:s}", "id", (json_int_t)b.prekey_id, "key", k) : NULL;
            free(k);
            if (o == NULL || json_array_append_new(pks, o) != 0)
                st = CKV_ERR_NOMEM;
        }
    }
    if (st != CKV_OK) {
        json_decref(pks);
        json_decref(spk);
        return ckv_client_fail(c, st, "cannot read our prekeys: %s", ckv_strerror(st));
    }
    *spk_out = spk;
    *pks_out = pks;
    return CKV_OK;
}

/* PUT /v1/keys: our signed prekey, then one-time prekeys up to a batch
 * (ckvd answers how many it holds). */
static ckv_status upload_prekeys(ckv_client *c)
{
    json_t *spk = NULL, *pks = NULL, *req, *ans = NULL;
    json_int_t held;
    ckv_status st = prekeys_json(c, 0, &spk, &pks);
    if (st != CKV_OK)
        return st;
    json_decref(pks);
    req = json_pack("{s:o}", "signed_prekey", spk);
    if (req == NULL)
        return CKV_ERR_NOMEM;
    st = ckv_net_json(c, "PUT", "/v1/keys", req, 1, 0, &ans);
    json_decref(req);
    held = json_integer_value(json_object_get(ans, "prekeys"));
    json_decref(ans);
    ans = NULL;
    if (st != CKV_OK || held >= CKV_PREKEY_BATCH / 2)
        return st;
    st = prekeys_json(c, (size_t)(CKV_PREKEY_BATCH - (held > 0 ? held : 0)), &spk, &pks);
    if (st != CKV_OK)
        return st;
    json_decref(spk);
    req = json_pack("{s:o}", "prekeys", pks);
    if (req == NULL)
        return CKV_ERR_NOMEM;
    st = ckv_net_json(c, "PUT", "/v1/keys", req, 1, 0, &ans);
    json_decref(req);
    json_decref(ans);
    return st;
}

/* Our own latest logged entry, which must carry our key. */
static ckv_status confirm_own(ckv_client *c)
{
    ckv_kt_entry *k = malloc(sizeof *k);
    ckv_status st;
    if (k == NULL)
        return CKV_ERR_NOMEM;
    st = ckv_kt_lookup(c, c->p->account, k);
    if (st == CKV_OK && sodium_memcmp(k->e.key, c->p->identity_pub, 33) != 0)
        st = ckv_client_fail(c, CKV_ERR_KT_NOT_LOGGED,
                             "the server accepted our entry, but the log's latest key for '%s' "
                             "is not ours",
                             c->p->account);
    free(k);
    return st;
}

/* What a posted entry carries about recovery codes (docs/protocol.md). */
struct recovery_req {
    int set_hash;      /* "recovery_hash": SHA-256 of a new code */
    uint8_t hash[32];
    size_t code_len;   /* "recovery": the account's code (a reset), 0: none */
    uint8_t code[16];
};

#define RECOVERY_BYTES 16

/* The user's code (hex, dashes and spaces ignored) into q->code. */
static ckv_status recovery_parse(ckv_client *c, const char *text, struct recovery_req *q)
{
    const char *end = NULL;
    size_t n = 0;
    if (sodium_hex2bin(q->code, sizeof q->code, text, strlen(text), " -", &n, &end) != 0 ||
        n != RECOVERY_BYTES || end == NULL || *end != 0) {
        sodium_memzero(q->code, sizeof q->code);
        return ckv_client_fail(c, CKV_ERR_INVALID_ARG,
                               "the recovery code is not 32 hex digits (as printed at "
                               "registration, e.g. 1f0c-9a7e-...)");
    }
    q->code_len = n;
    return CKV_OK;
}

/* From r (may be NULL) to q: the code to carry, a new code to set. */
static ckv_status recovery_prepare(ckv_client *c, ckv_recovery *r, int is_reset,
                                   struct recovery_req *q)
{
    memset(q, 0, sizeof *q);
    if (r == NULL)
        return CKV_OK;
    r->new_code_sent = 0;
    memset(r->new_code_out, 0, sizeof r->new_code_out);
    if (r->code != NULL) {
        if (!is_reset)
            return ckv_client_fail(c, CKV_ERR_INVALID_ARG,
                                   "a recovery code is needed only for a reset");
        ckv_status st = recovery_parse(c, r->code, q);
        if (st != CKV_OK)
            return st;
    }
    if (r->new_code) {
        uint8_t code[RECOVERY_BYTES];
        char hex[2 * RECOVERY_BYTES + 1];
        size_t k = 0;
        randombytes_buf(code, sizeof code);
        crypto_hash_sha256(q->hash, code, sizeof code);
        q->set_hash = 1;
        sodium_bin2hex(hex, sizeof hex, code, sizeof code);
        for (size_t i = 0; i < 2 * RECOVERY_BYTES; i++) {
            if (i > 0 && i % 4 == 0)
                r->new_code_out[k++] = '-';
            r->new_code_out[k++] = hex[i];
        }
        r->new_code_out[k] = 0;
        sodium_memzero(code, sizeof code);
        sodium_memzero(hex, sizeof hex);
    }
    return CKV_OK;
}

/* After the post: a new code the server may hold is shown; one it refused
 * for good (4xx) is forgotten. */
static void recovery_done(ckv_client *c, ckv_recovery *r, struct recovery_req *q, ckv_status st)
{
    if (r != NULL && q->set_hash) {
        r->new_code_sent = st == CKV_OK || !(c->last_http >= 400 && c->last_http < 500);
        if (!r->new_code_sent)
            sodium_memzero(r->new_code_out, sizeof r->new_code_out);
    }
    sodium_memzero(q, sizeof *q);
}

static ckv_status post_entry(ckv_client *c, const char *text, size_t len, json_t *spk,
                             json_t *pks, const struct recovery_req *q)
{
    json_t *req = json_pack("{s:s%}", "entry", text, len), *ans = NULL;
    ckv_status st = CKV_ERR_NOMEM;
    char *b64 = NULL;
    if (req == NULL)
        return CKV_ERR_NOMEM;
    if (spk != NULL) {
        json_object_set(req, "signed_prekey", spk);
        json_object_set(req, "prekeys", pks);
        json_object_set_new(req, "registration_id",
                            json_integer((json_int_t)ckv_profile_registration_id(c->p)));
    }
    if (q != NULL && q->set_hash) {
        if ((b64 = ckv_b64(q->hash, sizeof q->hash)) == NULL ||
            json_object_set_new(req, "recovery_hash", json_string(b64)) != 0)
            goto out;
        free(b64);
        b64 = NULL;
    }
    if (q != NULL && q->code_len > 0) {
        if ((b64 = ckv_b64(q->code, q->code_len)) == NULL ||
            json_object_set_new(req, "recovery", json_string(b64)) != 0)
            goto out;
    }
    st = ckv_net_json(c, "POST", "/v1/accounts", req, 0, 0, &ans);
out:
    if (b64 != NULL) {
        sodium_memzero(b64, strlen(b64));
        free(b64);
    }
    {
        /* jansson holds its own copy of the code: wiped before it is freed */
        char *v = (char *)json_string_value(json_object_get(req, "recovery"));
        if (v != NULL)
            sodium_memzero(v, strlen(v));
    }
    json_decref(req);
    json_decref(ans);
    return st;
}

/* Give up a rotation or reset never logged: its key is wiped, and its
 * entry is no longer ours (should the server log it later, that is a key
 * under our name whose private half no one has: the monitor's alarm). */
static ckv_status drop_pending(ckv_client *c, const uint8_t *leaf_hash)
{
    ckv_status st = ckv_db_begin(c->p);
    if (st == CKV_OK && leaf_hash != NULL)
        st = ckv_kt_drop_own(c, leaf_hash);
    if (st == CKV_OK)
        st = ckv_meta_put(c->p, "pending_identity", (const uint8_t *)"", 0);
    if (st == CKV_OK)
        return ckv_db_commit(c->p);
    ckv_db_rollback(c->p);
    return st;
}

/* Finish a rotation whose entry the server may have accepted (meta
 * pending_identity: pub(33) priv(32) leaf_hash(32) of its entry; a record
 * without the leaf hash, 65 bytes, is from an older version). */
static ckv_status finish_pending(ckv_client *c, int accepted_known)
{
    uint8_t *rec = NULL;
    size_t n = 0;
    ckv_kt_entry *k = NULL;
    ckv_status st = ckv_meta_get(c->p, "pending_identity", &rec, &n);
    if (st == CKV_ERR_NOT_FOUND)
        return CKV_OK;
    if (st != CKV_OK)
        return st;
    if (n != 65 && n != 97) {
        st = n == 0 ? CKV_OK : CKV_ERR_PROFILE_DAMAGED;
        goto out;
    }
    if (!accepted_known) {
        k = malloc(sizeof *k);
        st = k ? ckv_kt_lookup(c, c->p->account, k) : CKV_ERR_NOMEM;
        if (st != CKV_OK)
            goto out;
        if (sodium_memcmp(k->e.key, rec, 33) != 0) { /* never logged: forget it */
            st = drop_pending(c, n == 97 ? rec + 65 : NULL);
            goto out;
        }
    }
    st = ckv_identity_replace(c->p, rec, rec + 33);
    if (st == CKV_OK)
        st = ckv_meta_put(c->p, "pending_identity", (const uint8_t *)"", 0);
    if (st != CKV_OK) {
        ckv_client_fail(c, st, "cannot switch the profile to its new identity key: %s",
                        ckv_strerror(st));
        goto out;
    }
    ckv_net_forget_token(c);
    st = upload_prekeys(c);
    if (st == CKV_OK)
        st = confirm_own(c);
out:
    free(k);
    ckv_wipe_free(rec, n);
    return st;
}

ckv_status ckv_client_register(ckv_client *c)
{
    return ckv_client_register_recovery(c, NULL);
}

ckv_status ckv_client_register_recovery(ckv_client *c, ckv_recovery *r)
{
    ckv_kt_entry *k = NULL;
    ckv_dir_entry e;
    char text[CKV_DIR_ENTRY_MAX + 1];
    uint8_t h[32];
    size_t len = 0;
    json_t *spk = NULL, *pks = NULL;
    struct recovery_req q;
    ckv_status st;

    memset(&q, 0, sizeof q);
    if (c == NULL)
        return CKV_ERR_INVALID_ARG;
    c->err[0] = 0;
    if (r != NULL)
        r->new_code_sent = 0;
    st = finish_pending(c, 0);
    if (st != CKV_OK && st != CKV_ERR_NOT_REGISTERED)
        return st;
    k = malloc(sizeof *k);
    if (k == NULL)
        return CKV_ERR_NOMEM;
    st = ckv_kt_lookup(c, c->p->account, k);
    if (st == CKV_OK) {
        if (sodium_memcmp(k->e.key, c->p->identity_pub, 33) != 0) {
            st = ckv_client_fail(c, CKV_ERR_DIR_NAME_TAKEN,
                                 "'%s' is registered with another key (version %llu, leaf %llu); "
                                 "if it was yours on a lost device, use reset",
                                 c->p->account, (unsigned long long)k->e.version,
                                 (unsigned long long)k->leaf_index);
            goto out;
        }
        if (r != NULL && r->new_code) {
            st = ckv_client_fail(c, CKV_ERR_INVALID_ARG,
                                 "'%s' is registered already: a recovery code can only be set "
                                 "with the registration or with a rotation (ckv rotate "
                                 "--new-recovery-code)",
                                 c->p->account);
            goto out;
        }
        st = upload_prekeys(c); /* registered already with our key */
        goto out;
    }
    if (st != CKV_ERR_NOT_REGISTERED)
        goto out;
    st = recovery_prepare(c, r, 0, &q);
    if (st != CKV_OK)
        goto out;
    memset(&e, 0, sizeof e);
    snprintf(e.origin, sizeof e.origin, "%s", c->origin);
    snprintf(e.name, sizeof e.name, "%s", c->p->account);
    e.type = CKV_DIR_REGISTER;
    e.version = 1;
    memcpy(e.key, c->p->identity_pub, 33);
    e.time = ckv_now();
    st = ckv_dir_entry_sign_pop(&e, c->p->identity_priv);
    if (st == CKV_OK)
        st = ckv_dir_entry_encode(&e, text, sizeof text, &len);
    if (st != CKV_OK)
        goto out;
    ckv_dir_leaf_hash((const uint8_t *)text, len, h);
    st = ckv_kt_add_own(c, h); /* before the server sees it: never our own alarm */
    if (st == CKV_OK)
        st = prekeys_json(c, CKV_PREKEY_BATCH, &spk, &pks);
    if (st == CKV_OK) {
        st = post_entry(c, text, len, spk, pks, &q);
        recovery_done(c, r, &q, st);
    }
    if (st == CKV_OK)
        st = confirm_own(c);
out:
    sodium_memzero(&q, sizeof q);
    if (r != NULL && !r->new_code_sent) /* never sent: nothing to show */
        sodium_memzero(r->new_code_out, sizeof r->new_code_out);
    json_decref(spk);
    json_decref(pks);
    free(k);
    return done(c, st);
}

static ckv_status replace_key(ckv_client *c, ckv_dir_type type, ckv_recovery *r)
{
    ckv_kt_entry *k = NULL;
    ckv_dir_entry e;
    char text[CKV_DIR_ENTRY_MAX + 1];
    uint8_t h[32], rec[97]; /* pending_identity: pub, priv, our entry's leaf hash */
    size_t len = 0;
    struct recovery_req q;
    ckv_status st;

    memset(&q, 0, sizeof q);
    if (c == NULL)
        return CKV_ERR_INVALID_ARG;
    c->err[0] = 0;
    st = recovery_prepare(c, r, type == CKV_DIR_RESET, &q);
    if (st != CKV_OK)
        return done(c, st);
    st = finish_pending(c, 0);
    if (st != CKV_OK) {
        sodium_memzero(&q, sizeof q);
        if (r != NULL)
            sodium_memzero(r->new_code_out, sizeof r->new_code_out);
        return st;
    }
    k = malloc(sizeof *k);
    if (k == NULL) {
        st = CKV_ERR_NOMEM;
        goto out; /* which wipes the recovery codes */
    }
    st = ckv_kt_lookup(c, c->p->account, k);
    if (st == CKV_ERR_NOT_REGISTERED)
        ckv_client_fail(c, st, "'%s' is not registered: nothing to %s", c->p->account,
                        ckv_dir_type_name(type));
    if (st != CKV_OK)
        goto out;
    if (type == CKV_DIR_ROTATE && sodium_memcmp(k->e.key, c->p->identity_pub, 33) != 0) {
        st = ckv_client_fail(c, CKV_ERR_KT_FOREIGN_ENTRY,
                             "the log's latest key for '%s' is not this profile's key, so it "
                             "cannot sign a rotation: run monitor; reset if the account is yours",
                             c->p->account);
        goto out;
    }
    memset(&e, 0, sizeof e);
    snprintf(e.origin, sizeof e.origin, "%s", c->origin);
    snprintf(e.name, sizeof e.name, "%s", c->p->account);
    e.type = type;
    e.version = k->e.version + 1;
    e.has_prev = 1;
    e.prev_index = k->leaf_index;
    memcpy(e.prev_hash, k->leaf_hash, 32);
    e.time = ckv_now();
    e.has_old_sig = type == CKV_DIR_ROTATE;
    st = ckv_identity_generate(c->p, rec, rec + 33);
    if (st != CKV_OK)
        goto out;
    memcpy(e.key, rec, 33);
    st = ckv_dir_entry_sign_pop(&e, rec + 33);
    if (st == CKV_OK && type == CKV_DIR_ROTATE)
        st = ckv_dir_entry_sign_rotation(&e, c->p->identity_priv);
    if (st == CKV_OK)
        st = ckv_dir_entry_encode(&e, text, sizeof text, &len);
    if (st != CKV_OK)
        goto out;
    ckv_dir_leaf_hash((const uint8_t *)text, len, h);
    memcpy(rec + 65, h, 32);
    /* remember the new key and our entry before the server sees it */
    st = ckv_db_begin(c->p);
    if (st == CKV_OK)
        st = ckv_kt_add_own(c, h);
    if (st == CKV_OK)
        st = ckv_meta_put(c->p, "pending_identity", rec, sizeof rec);
    if (st == CKV_OK)
        st = ckv_db_commit(c->p);
    else
        ckv_db_rollback(c->p);
    if (st != CKV_OK)
        goto out;
    st = post_entry(c, text, len, NULL, NULL, &q);
    recovery_done(c, r, &q, st);
    if (st == CKV_OK)
        st = finish_pending(c, 1);
    else if (c->last_http >= 400 && c->last_http < 500)
        (void)drop_pending(c, h); /* refused */
    /* else (no answer, a 5xx): the outcome is unknown; the next register,
     * rotate or reset finishes or drops the switch by reading the log */
out:
    sodium_memzero(rec, sizeof rec);
    sodium_memzero(&e, sizeof e);
    sodium_memzero(&q, sizeof q);
    if (r != NULL && !r->new_code_sent) /* never sent: nothing to show */
        sodium_memzero(r->new_code_out, sizeof r->new_code_out);
    free(k);
    return done(c, st);
}

ckv_status ckv_client_rotate(ckv_client *c)
{
    return replace_key(c, CKV_DIR_ROTATE, NULL);
}

ckv_status ckv_client_reset(ckv_client *c)
{
    return replace_key(c, CKV_DIR_RESET, NULL);
}

ckv_status ckv_client_rotate_recovery(ckv_client *c, ckv_recovery *r)
{
    return replace_key(c, CKV_DIR_ROTATE, r);
}

ckv_status ckv_client_reset_recovery(ckv_client *c, ckv_recovery *r)
{
    return replace_key(c, CKV_DIR_RESET, r);
}
