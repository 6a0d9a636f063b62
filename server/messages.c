/*
 * messages.c: the relay: send, long-poll fetch, acknowledge (docs/server.md).
 *
 * The server only ever sees envelopes ({"type", "body"}): ciphertext and its
 * Signal message type. A send is answered only after the row is committed,
 * so an acknowledged send survives a killed server. A fetch with nothing
 * queued parks the connection (no thread) until a send for that account
 * wakes it or `wait` seconds pass. Acknowledging deletes only rows of the
 * caller's own queue.
 */
#include "accounts.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_BATCH 100
#define ACK_MAX 1000
#define WAIT_MAX 30

/* Strict envelope: {"type": 2|3, "body": canonical base64 of 1..64 KiB}. */
static int check_envelope(json_t *env, struct ckvd_resp *resp)
{
    static const char *const allowed[] = {"type", "body", NULL};
    if (!json_is_object(env)) {
        ckvd_resp_error(resp, 400, "bad_envelope", "\"envelope\" must be {\"type\", \"body\"}");
        return -1;
    }
    if (ckvd_json_only_keys(env, allowed, "\"envelope\"", resp) != 0)
        return -1;
    json_t *t = json_object_get(env, "type");
    if (!json_is_integer(t) || (json_integer_value(t) != 2 && json_integer_value(t) != 3)) {
        ckvd_resp_error(resp, 400, "bad_envelope",
                        "envelope \"type\" must be 3 (PreKey message) or 2 (message)");
        return -1;
    }
    json_t *b = json_object_get(env, "body");
    if (json_is_string(b) &&
        json_string_length(b) > sodium_base64_ENCODED_LEN(CKVD_MAX_MESSAGE,
                                                          sodium_base64_VARIANT_ORIGINAL)) {
        ckvd_resp_error(resp, 413, "too_large",
                        "the envelope is larger than the server accepts (64 KiB of ciphertext)");
        return -1;
    }
    uint8_t *buf = malloc(CKVD_MAX_MESSAGE);
    size_t n = 0;
    if (!buf) {
        ckvd_resp_error(resp, 500, "internal", "server out of memory");
        return -1;
    }
    int rc = ckvd_json_b64(env, "body", buf, 1, CKVD_MAX_MESSAGE, &n, resp);
    free(buf);
    return rc;
}

enum ckvd_handler_result ckvd_h_send(struct ckvd *d, struct ckvd_req *req,
                                     struct ckvd_resp *resp, int64_t account)
{
    static const char *const allowed[] = {"to", "envelope", NULL};
    struct ckvd_account me, to;
    char who[32];
    int retry;
    int64_t id = 0;
    json_t *o = NULL;

    snprintf(who, sizeof(who), "%lld", (long long)account);
    if ((retry = ckvd_ratelimit_take(d->limits.send_per_account, who, ckvd_now_ms()))) {
        ckvd_resp_error(resp, 429, "rate_limited", "too many messages; retry later");
        resp->retry_after = retry;
        return CKVD_RESPOND;
    }
    if (!(o = ckvd_json_body(req, resp, allowed)))
        return CKVD_RESPOND;
    const char *name = json_string_value(json_object_get(o, "to"));
    json_t *env = json_object_get(o, "envelope");
    if (!name) {
        ckvd_resp_error(resp, 400, "bad_field", "field \"to\" (the recipient's name) is missing");
        goto out;
    }
    if (check_envelope(env, resp) != 0)
        goto out;
    /* One write transaction for the lookups and the insert: one lock and
     * one WAL commit per send. The answer goes out only after COMMIT
     * returned: the message is durable (WAL, synchronous=NORMAL or FULL). */
    if (ckvd_store_begin(d->store) != CKVD_STORE_OK) {
        ckvd_resp_error(resp, 500, "db", "the server database failed; the message was not "
                                         "stored, retry");
        goto out;
    }
    int f = ckvd_account_by_name(d, name, &to);
    if (f != 0 || ckvd_account_by_id(d, account, &me) != 0) {
        ckvd_store_rollback(d->store);
        ckvd_resp_error(resp, f < 0 ? 500 : 404, f < 0 ? "db" : "unknown_account",
                        f < 0 ? "the server database failed; retry later"
                              : "no such recipient account");
        goto out;
    }
    char *body = json_dumps(env, JSON_COMPACT | JSON_SORT_KEYS);
    if (!body) {
        ckvd_store_rollback(d->store);
        ckvd_resp_error(resp, 500, "internal", "server out of memory");
        goto out;
    }
    int rc = ckvd_store_enqueue(d->store, to.id, me.name, (const uint8_t *)body, strlen(body), &id);
    free(body);
    if (rc == CKVD_STORE_OK)
        rc = ckvd_store_commit(d->store);
    else
        ckvd_store_rollback(d->store);
    if (rc == CKVD_STORE_TOO_LARGE) {
        ckvd_resp_error(resp, 413, "too_large",
                        "the envelope is larger than the server accepts (64 KiB of body)");
        goto out;
    }
    if (rc == CKVD_STORE_FULL) {
        ckvd_resp_error(resp, 507, "queue_full",
                        "the recipient's queue is full; retry when they have caught up");
        resp->retry_after = 60;
        goto out;
    }
    if (rc != CKVD_STORE_OK) {
        ckvd_resp_error(resp, 500, "db", "the server database failed; the message was not "
                                         "stored, retry");
        goto out;
    }
    ckvd_http_wake(d->http, (uint64_t)to.id);
    ckvd_resp_obj(resp, 200, json_pack("{s:I}", "id", (json_int_t)id));
out:
    json_decref(o);
    return CKVD_RESPOND;
}

static int query_int(struct ckvd_req *req, const char *key, long long max, long long *out,
                     struct ckvd_resp *resp)
{
    const char *s = ckvd_http_query(req, key);
    char msg[120];
    *out = 0;
    if (!s)
        return 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < 0 || v > max || (s[0] == '0' && s[1])) {
        snprintf(msg, sizeof(msg), "query parameter \"%s\" must be an integer in 0..%lld", key,
                 max);
        ckvd_resp_error(resp, 400, "bad_query", msg);
        return -1;
    }
    *out = v;
    return 0;
}

enum ckvd_handler_result ckvd_h_fetch(struct ckvd *d, struct ckvd_req *req,
                                      struct ckvd_resp *resp, int64_t account,
                                      uint64_t *wake_key, uint64_t *deadline_ms)
{
    long long wait = 0, after = 0;
    struct ckvd_msg *m = NULL;
    size_t n = 0;

    if (query_int(req, "wait", WAIT_MAX, &wait, resp) != 0 ||
        query_int(req, "after", INT64_MAX, &after, resp) != 0)
        return CKVD_RESPOND;
    if (ckvd_store_fetch(d->store, account, after, FETCH_BATCH, &m, &n) != CKVD_STORE_OK) {
        ckvd_resp_error(resp, 500, "db", "the server database failed; retry later");
        return CKVD_RESPOND;
    }
    if (n == 0 && wait > 0 && !req->timed_out) {
        ckvd_msgs_free(m, n);
        if (!req->user) {
            /* first pass: remember the deadline across resumptions */
            uint64_t *dl = malloc(sizeof(*dl));
            if (!dl) {
                ckvd_resp_error(resp, 500, "internal", "server out of memory");
                return CKVD_RESPOND;
            }
            *dl = ckvd_now_ms() + (uint64_t)wait * 1000u;
            req->user = dl;
        }
        *wake_key = (uint64_t)account;
        *deadline_ms = *(uint64_t *)req->user;
        if (*deadline_ms > ckvd_now_ms())
            return CKVD_SUSPEND;
        if (ckvd_store_fetch(d->store, account, after, FETCH_BATCH, &m, &n) != CKVD_STORE_OK) {
            ckvd_resp_error(resp, 500, "db", "the server database failed; retry later");
            return CKVD_RESPOND;
        }
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n && arr; i++) {
        json_t *env = json_loadb((const char *)m[i].body, m[i].body_len, 0, NULL);
        json_array_append_new(arr, json_pack("{s:I, s:s, s:o, s:I}", "id", (json_int_t)m[i].id,
                                             "from", m[i].sender, "envelope",
                                             env ? env : json_null(), "time",
                                             (json_int_t)m[i].ts));
    }
    ckvd_msgs_free(m, n);
    ckvd_resp_obj(resp, 200, json_pack("{s:o}", "messages", arr ? arr : json_array()));
    return CKVD_RESPOND;
}

enum ckvd_handler_result ckvd_h_ack(struct ckvd *d, struct ckvd_req *req,
                                    struct ckvd_resp *resp, int64_t account)
{
    static const char *const allowed[] = {"ids", NULL};
    json_t *o = ckvd_json_body(req, resp, allowed);
    int64_t *ids = NULL;
    size_t del = 0, i;
    json_t *v;
    if (!o)
        return CKVD_RESPOND;
    json_t *arr = json_object_get(o, "ids");
    if (!json_is_array(arr) || json_array_size(arr) > ACK_MAX) {
        ckvd_resp_error(resp, 400, "bad_field", "\"ids\" must be an array of at most 1000 ids");
        goto out;
    }
    ids = calloc(json_array_size(arr) + 1, sizeof(*ids));
    if (!ids) {
        ckvd_resp_error(resp, 500, "internal", "server out of memory");
        goto out;
    }
    json_array_foreach(arr, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            ckvd_resp_error(resp, 400, "bad_field", "\"ids\" must hold positive integers");
            goto out;
        }
        ids[i] = json_integer_value(v);
    }
    if (ckvd_store_ack(d->store, account, ids, json_array_size(arr), &del) != CKVD_STORE_OK) {
        ckvd_resp_error(resp, 500, "db", "the server database failed; retry later");
        goto out;
    }
    ckvd_resp_obj(resp, 200, json_pack("{s:I}", "deleted", (json_int_t)del));
out:
    free(ids);
    json_decref(o);
    return CKVD_RESPOND;
}
