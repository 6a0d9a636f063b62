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

/* POST /v1/messages/batch: {"messages": [{"to", "envelope"}, ...] (at most
 * BATCH_MAX), "ack": [ids] (at most ACK_MAX)}, either may be absent or
 * empty. Everything is checked first (an error names the item), then one
 * transaction acknowledges and enqueues all of it: all or nothing, one
 * commit, answered only once durable. Answer {"ids": [...] in the order
 * sent, "deleted": n}. */
#define BATCH_MAX 64

/* An error about message i; single: the request was one message (POST
 * /v1/messages), so the sentence names no item. */
static void item_error(struct ckvd_resp *resp, int single, int status, const char *code, size_t i,
                       const char *what)
{
    char msg[200];
    if (single)
        snprintf(msg, sizeof(msg), "%s", what);
    else
        snprintf(msg, sizeof(msg), "messages[%zu]: %s", i, what);
    ckvd_resp_error(resp, status, code, msg);
}

/* Check and store a batch (msgs, ackv: the body's "messages" and "ack",
 * either may be NULL): everything is checked first (an error names the
 * item), then one transaction acknowledges and enqueues all of it, or
 * nothing. On success *ids_out (malloc'd, *n_out ids in the order sent)
 * and *del_out; on failure resp holds the error and -1 is returned. */
static int batch_store(struct ckvd *d, int64_t account, json_t *msgs, json_t *ackv, int single,
                       struct ckvd_resp *resp, int64_t **ids_out, size_t *n_out, size_t *del_out)
{
    static const char *const item_keys[] = {"to", "envelope", NULL};
    struct ckvd_account me, *to = NULL;
    int64_t *ids = NULL, *acks = NULL;
    char **bodies = NULL, who[32], what[200];
    size_t n = 0, nack = 0, del = 0, i;
    json_t *v;
    int retry, rc = CKVD_STORE_OK, ret = -1;
    const char *not_stored = single
                                 ? "the server database failed; the message was not stored, retry"
                                 : "the server database failed; nothing of the batch was "
                                   "stored, retry";

    if ((msgs && !json_is_array(msgs)) || json_array_size(msgs) > BATCH_MAX) {
        ckvd_resp_error(resp, 400, "bad_field",
                        "\"messages\" must be an array of at most 64 {\"to\", \"envelope\"}");
        return -1;
    }
    if ((ackv && !json_is_array(ackv)) || json_array_size(ackv) > ACK_MAX) {
        ckvd_resp_error(resp, 400, "bad_field", "\"ack\" must be an array of at most 1000 ids");
        return -1;
    }
    n = json_array_size(msgs);
    nack = json_array_size(ackv);
    ids = calloc(n + 1, sizeof(*ids));
    acks = calloc(nack + 1, sizeof(*acks));
    bodies = calloc(n + 1, sizeof(*bodies));
    to = calloc(n + 1, sizeof(*to));
    if (!ids || !acks || !bodies || !to) {
        ckvd_resp_error(resp, 500, "internal", "server out of memory");
        goto out;
    }
    json_array_foreach(ackv, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            ckvd_resp_error(resp, 400, "bad_field", "\"ack\" must hold positive integers");
            goto out;
        }
        acks[i] = json_integer_value(v);
    }
    json_array_foreach(msgs, i, v)
    {
        if (!json_is_object(v)) {
            item_error(resp, single, 400, "bad_field", i, "must be {\"to\", \"envelope\"}");
            goto out;
        }
        if (ckvd_json_only_keys(v, item_keys, "a message", resp) != 0)
            goto out;
        if (!json_is_string(json_object_get(v, "to"))) {
            item_error(resp, single, 400, "bad_field", i,
                       "field \"to\" (the recipient's name) is missing");
            goto out;
        }
        snprintf(what, sizeof(what), single ? "field \"to\"" : "messages[%zu]: field \"to\"", i);
        if (ckvd_name_check(json_string_value(json_object_get(v, "to")), what, resp) != 0)
            goto out;
        if (check_envelope(json_object_get(v, "envelope"), resp) != 0)
            goto out;
        if (!(bodies[i] =
                  json_dumps(json_object_get(v, "envelope"), JSON_COMPACT | JSON_SORT_KEYS))) {
            ckvd_resp_error(resp, 500, "internal", "server out of memory");
            goto out;
        }
    }
    if (n == 0 && nack == 0) {
        ret = 0;
        goto out;
    }
    /* the send limit, once the request is known to be well formed (a
     * malformed one uses up nothing) */
    unsigned most = ckvd_ratelimit_most(d->limits.send_per_account);
    if (n > 0 && d->limits.send_per_account && n > most) {
        snprintf(what, sizeof(what),
                 "a batch may hold at most %u messages under this server's send limit (it has "
                 "%zu); send them in smaller batches",
                 most, n);
        ckvd_resp_error(resp, 400, "bad_field", what);
        goto out;
    }
    snprintf(who, sizeof(who), "%lld", (long long)account);
    if (n > 0 && (retry = ckvd_ratelimit_take_n(d->limits.send_per_account, who, ckvd_now_ms(),
                                                (unsigned)n))) {
        ckvd_resp_error(resp, 429, "rate_limited", "too many messages; retry later");
        resp->retry_after = retry;
        goto out;
    }
    if (ckvd_store_begin(d->store) != CKVD_STORE_OK) {
        ckvd_resp_error(resp, 500, "db", not_stored);
        goto out;
    }
    if (n > 0 && ckvd_account_by_id(d, account, &me) != 0)
        rc = CKVD_STORE_ERR;
    if (rc == CKVD_STORE_OK && nack > 0)
        rc = ckvd_store_ack_in_txn(d->store, account, acks, nack, &del);
    for (i = 0; i < n && rc == CKVD_STORE_OK; i++) {
        const char *name = json_string_value(json_object_get(json_array_get(msgs, i), "to"));
        int f = ckvd_account_by_name(d, name, &to[i]);
        if (f != 0) {
            ckvd_store_rollback(d->store);
            if (f < 0)
                ckvd_resp_error(resp, 500, "db", "the server database failed; retry later");
            else
                item_error(resp, single, 404, "unknown_account", i,
                           single ? "no such recipient account"
                                  : "no such recipient account (nothing of the batch was stored)");
            goto out;
        }
        rc = ckvd_store_enqueue(d->store, to[i].id, me.name, (const uint8_t *)bodies[i],
                                strlen(bodies[i]), &ids[i]);
    }
    if (rc == CKVD_STORE_OK)
        rc = ckvd_store_commit(d->store);
    else
        ckvd_store_rollback(d->store);
    if (rc == CKVD_STORE_TOO_LARGE) {
        ckvd_resp_error(resp, 413, "too_large",
                        "an envelope is larger than the server accepts (64 KiB of body)");
        goto out;
    }
    if (rc == CKVD_STORE_FULL) {
        ckvd_resp_error(resp, 507, "queue_full",
                        single ? "the recipient's queue is full; retry when they have caught up"
                               : "a recipient's queue is full (nothing of the batch was "
                                 "stored); retry when they have caught up");
        resp->retry_after = 60;
        goto out;
    }
    if (rc != CKVD_STORE_OK) {
        ckvd_resp_error(resp, 500, "db", not_stored);
        goto out;
    }
    for (i = 0; i < n; i++) /* a recipient woken twice is fine */
        if (i == 0 || to[i].id != to[i - 1].id)
            ckvd_http_wake(d->http, (uint64_t)to[i].id);
    ret = 0;
out:
    for (i = 0; bodies && i < n; i++)
        free(bodies[i]);
    free(bodies);
    free(to);
    free(acks);
    if (ret == 0) {
        *ids_out = ids;
        *n_out = n;
        *del_out = del;
    } else {
        free(ids);
    }
    return ret;
}

enum ckvd_handler_result ckvd_h_send(struct ckvd *d, struct ckvd_req *req, struct ckvd_resp *resp,
                                     int64_t account)
{
    static const char *const allowed[] = {"to", "envelope", NULL};
    int64_t *ids = NULL;
    size_t n = 0, del = 0;
    json_t *o = ckvd_json_body(req, resp, allowed), *one;
    if (!o)
        return CKVD_RESPOND;
    /* a batch of one: the same checks and transaction, one message's words */
    one = json_pack("[O]", o);
    if (!one)
        ckvd_resp_error(resp, 500, "internal", "server out of memory");
    else if (batch_store(d, account, one, NULL, 1, resp, &ids, &n, &del) == 0)
        ckvd_resp_obj(resp, 200, json_pack("{s:I}", "id", (json_int_t)ids[0]));
    free(ids);
    json_decref(one);
    json_decref(o);
    return CKVD_RESPOND;
}

static json_t *ids_json(const int64_t *ids, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n && a; i++)
        json_array_append_new(a, json_integer((json_int_t)ids[i]));
    return a ? a : json_array();
}

enum ckvd_handler_result ckvd_h_send_batch(struct ckvd *d, struct ckvd_req *req,
                                           struct ckvd_resp *resp, int64_t account)
{
    static const char *const allowed[] = {"messages", "ack", NULL};
    int64_t *ids = NULL;
    size_t n = 0, del = 0;
    json_t *o = ckvd_json_body(req, resp, allowed);
    if (!o)
        return CKVD_RESPOND;
    if (batch_store(d, account, json_object_get(o, "messages"), json_object_get(o, "ack"), 0, resp,
                    &ids, &n, &del) == 0)
        ckvd_resp_obj(resp, 200,
                      json_pack("{s:o, s:I}", "ids", ids_json(ids, n), "deleted", (json_int_t)del));
    free(ids);
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

/* The fetch answer's "messages" array. */
static json_t *msgs_json(const struct ckvd_msg *m, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n && arr; i++) {
        json_t *env = json_loadb((const char *)m[i].body, m[i].body_len, 0, NULL);
        json_array_append_new(arr, json_pack("{s:I, s:s, s:o, s:I}", "id", (json_int_t)m[i].id,
                                             "from", m[i].sender, "envelope",
                                             env ? env : json_null(), "time", (json_int_t)m[i].ts));
    }
    return arr ? arr : json_array();
}

enum ckvd_handler_result ckvd_h_fetch(struct ckvd *d, struct ckvd_req *req,
                                      struct ckvd_resp *resp, int64_t account,
                                      uint64_t *wake_key, uint64_t *deadline_ms)
{
    long long wait = 0, wait_ms = 0, after = 0;
    struct ckvd_msg *m = NULL;
    size_t n = 0;

    if (query_int(req, "wait", WAIT_MAX, &wait, resp) != 0 ||
        query_int(req, "wait_ms", WAIT_MAX * 1000, &wait_ms, resp) != 0 ||
        query_int(req, "after", INT64_MAX, &after, resp) != 0)
        return CKVD_RESPOND;
    /* wait_ms: the same in milliseconds (for a client with its own timer);
     * the longer of the two counts */
    if (wait_ms < wait * 1000)
        wait_ms = wait * 1000;
    if (ckvd_store_fetch(d->store, account, after, FETCH_BATCH, &m, &n) != CKVD_STORE_OK) {
        ckvd_resp_error(resp, 500, "db", "the server database failed; retry later");
        return CKVD_RESPOND;
    }
    if (n == 0 && wait_ms > 0 && !req->timed_out) {
        ckvd_msgs_free(m, n);
        if (!req->user) {
            /* first pass: remember the deadline across resumptions */
            uint64_t *dl = malloc(sizeof(*dl));
            if (!dl) {
                ckvd_resp_error(resp, 500, "internal", "server out of memory");
                return CKVD_RESPOND;
            }
            *dl = ckvd_now_ms() + (uint64_t)wait_ms;
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
    ckvd_resp_obj(resp, 200, json_pack("{s:o}", "messages", msgs_json(m, n)));
    ckvd_msgs_free(m, n);
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
