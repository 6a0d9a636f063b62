/*
 * directory.c: the key directory and the log over HTTP (docs/server.md):
 * lookups with inclusion proofs, an account's history, consistency proofs,
 * and the C2SP tlog-tiles endpoints (/checkpoint, /tile/...).
 *
 * A lookup answers with the latest entry of a name, its leaf index, the
 * inclusion proof against the latest signed checkpoint, and that checkpoint.
 * An entry that is not yet covered by a checkpoint (it was accepted less
 * than one checkpoint interval ago) is answered 503 with Retry-After: the
 * server never asks a client to trust an entry without a signed proof.
 */
#include "accounts.h"

#include <sqlite3.h>
#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* --- lookup answers, cached ---------------------------------------------
 * A lookup's answer is a function of (name, the account's latest leaf
 * index, the served checkpoint, by size and generation): reuse it while
 * they stay the same. Direct-mapped by a hash of the name; a collision just
 * recomputes. The cache holds public data only. */
#define LOOKUP_SLOTS 4096

struct lookup_slot {
    char name[CKV_NAME_MAX + 1];
    uint64_t leaf_index, cp_size, cp_gen;
    char *body; /* the JSON answer, or NULL */
    size_t len;
};

struct ckvd_lookup_cache {
    struct lookup_slot slot[LOOKUP_SLOTS];
};

struct ckvd_lookup_cache *ckvd_lookup_cache_new(void)
{
    return calloc(1, sizeof(struct ckvd_lookup_cache));
}

void ckvd_lookup_cache_free(struct ckvd_lookup_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < LOOKUP_SLOTS; i++)
        free(c->slot[i].body);
    free(c);
}

static struct lookup_slot *lookup_slot_of(struct ckvd_lookup_cache *c, const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return &c->slot[h % LOOKUP_SLOTS];
}

static json_t *hashes_b64(const ckv_tlog_hash *h, size_t n)
{
    json_t *a = json_array();
    char buf[64];
    for (size_t i = 0; i < n && a; i++) {
        sodium_bin2base64(buf, sizeof(buf), h[i].b, 32, sodium_base64_VARIANT_ORIGINAL);
        json_array_append_new(a, json_string(buf));
    }
    return a;
}

static json_t *entry_json(struct ckvd *d, uint64_t index, uint64_t size, int with_proof,
                          struct ckvd_resp *resp)
{
    uint8_t *data = NULL;
    size_t len = 0;
    if (ckvd_log_entry(d->log, index, &data, &len) != CKV_OK) {
        ckvd_resp_error(resp, 500, "log", "cannot read the entry from the log");
        return NULL;
    }
    json_t *e = json_pack("{s:s%, s:I}", "entry", (const char *)data, len, "leaf_index",
                          (json_int_t)index);
    free(data);
    if (e && with_proof) {
        ckv_tlog_inclusion_proof p;
        if (ckvd_log_inclusion(d->log, index, size, &p) != CKV_OK) {
            json_decref(e);
            ckvd_resp_error(resp, 500, "log", "cannot build the inclusion proof");
            return NULL;
        }
        json_object_set_new(e, "tree_size", json_integer((json_int_t)size));
        json_object_set_new(e, "proof", hashes_b64(p.path, p.path_len));
    }
    return e;
}

enum ckvd_handler_result ckvd_h_lookup(struct ckvd *d, struct ckvd_req *req,
                                       struct ckvd_resp *resp, const char *name, int history)
{
    struct ckvd_account a;
    char *note = NULL;
    ckv_tlog_checkpoint cp;
    uint64_t gen = 0;
    int retry;

    if ((retry = ckvd_ratelimit_take(d->limits.lookup_per_peer, req->peer, ckvd_now_ms()))) {
        ckvd_resp_error(resp, 429, "rate_limited", "too many lookups; retry later");
        resp->retry_after = retry;
        return CKVD_RESPOND;
    }
    if (ckvd_name_check(name, "the name in the path", resp) != 0)
        return CKVD_RESPOND;
    int f = ckvd_account_by_name(d, name, &a);
    if (f != 0) {
        ckvd_resp_error(resp, f < 0 ? 500 : 404, f < 0 ? "db" : "unknown_account",
                        f < 0 ? "the server database failed; retry later"
                              : "no account of that name in the directory");
        return CKVD_RESPOND;
    }
    if (ckvd_log_checkpoint_gen(d->log, &note, &cp, &gen) != CKV_OK) {
        ckvd_resp_error(resp, 500, "log", "no signed checkpoint available");
        return CKVD_RESPOND;
    }
    struct lookup_slot *slot = history ? NULL : lookup_slot_of(d->lookups, name);
    /* gen: the served note changes with fresh witness cosignatures too */
    if (slot && slot->body && slot->cp_size == cp.size && slot->cp_gen == gen &&
        slot->leaf_index == a.leaf_index &&
        strcmp(slot->name, name) == 0) {
        free(note);
        ckvd_resp_bytes(resp, 200, "application/json", slot->body, slot->len);
        resp->cache_seconds = 1;
        return CKVD_RESPOND;
    }
    if (a.leaf_index >= cp.size) {
        free(note);
        ckvd_resp_error(resp, 503, "pending",
                        "the entry is not in a signed checkpoint yet; retry in a moment");
        resp->retry_after = 1;
        return CKVD_RESPOND;
    }
    json_t *out = NULL;
    if (!history) {
        out = entry_json(d, a.leaf_index, cp.size, 1, resp);
    } else {
        sqlite3_stmt *q = NULL;
        json_t *arr = json_array();
        if (sqlite3_prepare_v2(ckvd_store_db(d->store),
                               "SELECT leaf_index FROM entries WHERE name=? AND leaf_index<? "
                               "ORDER BY version",
                               -1, &q, NULL) == SQLITE_OK) {
            sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 2, (int64_t)cp.size);
            while (arr && sqlite3_step(q) == SQLITE_ROW) {
                json_t *e = entry_json(d, (uint64_t)sqlite3_column_int64(q, 0), cp.size, 1, resp);
                if (!e) {
                    json_decref(arr);
                    arr = NULL;
                    break;
                }
                json_array_append_new(arr, e);
            }
        }
        sqlite3_finalize(q);
        out = arr ? json_pack("{s:o}", "entries", arr) : NULL;
    }
    if (!out) {
        free(note);
        if (!resp->body)
            ckvd_resp_error(resp, 500, "internal", "cannot build the answer");
        return CKVD_RESPOND;
    }
    json_object_set_new(out, "checkpoint", json_string(note));
    free(note);
    ckvd_resp_obj(resp, 200, out);
    resp->cache_seconds = 1; /* cacheable: it changes at most once a checkpoint */
    if (slot && resp->status == 200 && resp->body) {
        char *copy = malloc(resp->len + 1);
        if (copy) {
            memcpy(copy, resp->body, resp->len + 1);
            free(slot->body);
            snprintf(slot->name, sizeof(slot->name), "%s", name);
            slot->leaf_index = a.leaf_index;
            slot->cp_size = cp.size;
            slot->cp_gen = gen;
            slot->body = copy;
            slot->len = resp->len;
        }
    }
    return CKVD_RESPOND;
}

enum ckvd_handler_result ckvd_h_consistency(struct ckvd *d, struct ckvd_req *req,
                                            struct ckvd_resp *resp)
{
    const char *so = ckvd_http_query(req, "old"), *sn = ckvd_http_query(req, "new");
    char *end1 = NULL, *end2 = NULL;
    if (!so || !sn) {
        ckvd_resp_error(resp, 400, "bad_query", "give ?old=M&new=N (tree sizes)");
        return CKVD_RESPOND;
    }
    unsigned long long o = strtoull(so, &end1, 10), n = strtoull(sn, &end2, 10);
    if (!*so || !*sn || *end1 || *end2 || so[0] == '-' || sn[0] == '-' || o > n ||
        n > ckvd_log_size(d->log)) {
        ckvd_resp_error(resp, 400, "bad_query",
                        "old and new must be tree sizes with old <= new <= the log's size");
        return CKVD_RESPOND;
    }
    ckv_tlog_consistency_proof p;
    if (ckvd_log_consistency(d->log, o, n, &p) != CKV_OK) {
        ckvd_resp_error(resp, 500, "log", "cannot build the consistency proof");
        return CKVD_RESPOND;
    }
    ckvd_resp_obj(resp, 200,
                  json_pack("{s:I, s:I, s:o}", "old_size", (json_int_t)o, "new_size",
                            (json_int_t)n, "proof", hashes_b64(p.path, p.path_len)));
    return CKVD_RESPOND;
}

enum ckvd_handler_result ckvd_h_checkpoint(struct ckvd *d, struct ckvd_req *req,
                                           struct ckvd_resp *resp)
{
    char *note = NULL;
    (void)req;
    if (ckvd_log_checkpoint(d->log, &note, NULL) != CKV_OK) {
        ckvd_resp_error(resp, 500, "log", "no signed checkpoint available");
        return CKVD_RESPOND;
    }
    resp->status = 200;
    resp->body = note;
    resp->len = strlen(note);
    resp->content_type = "text/plain; charset=utf-8";
    return CKVD_RESPOND;
}

enum ckvd_handler_result ckvd_h_tile(struct ckvd *d, struct ckvd_req *req,
                                     struct ckvd_resp *resp, const char *tile_path)
{
    ckv_tlog_tile t;
    uint8_t *data = NULL;
    size_t len = 0;
    (void)req;
    if (ckv_tlog_tile_parse_path(tile_path, strlen(tile_path), &t) != CKV_OK) {
        ckvd_resp_error(resp, 404, "not_found", "not a tile path (C2SP tlog-tiles)");
        return CKVD_RESPOND;
    }
    ckv_status st = ckvd_log_read_tile(d->log, &t, &data, &len);
    if (st != CKV_OK) {
        ckvd_resp_error(resp, st == CKV_ERR_NOT_FOUND ? 404 : 500,
                        st == CKV_ERR_NOT_FOUND ? "not_found" : "log",
                        st == CKV_ERR_NOT_FOUND ? "no such tile in this log"
                                                : "the server cannot read the tile from its "
                                                  "log; retry later");
        return CKVD_RESPOND;
    }
    resp->status = 200;
    resp->body = (char *)data;
    resp->len = len;
    resp->content_type = "application/octet-stream";
    if (t.width == 256) {
        resp->cache_seconds = 31536000; /* a full tile never changes */
        resp->immutable = 1;
    }
    return CKVD_RESPOND;
}
