/*
 * ckvd.h: the server's shared context and the handlers' entry points.
 *
 * One struct ckvd holds what every handler needs: the SQLite store
 * (accounts, prekeys, messages, nonces), the transparency log (behind
 * struct ckvd_log, which owns its own thread for checkpoints), the rate
 * limits and the session tokens. Handlers run on the HTTP thread only;
 * only ckvd_log is shared with another thread, and it locks itself.
 */
#ifndef CKVD_H
#define CKVD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "http.h"
#include "ratelimit.h"
#include "store.h"

struct ckvd_log;
struct ckvd_tokens;
struct ckvd_lookup_cache;
struct sqlite3_stmt;

/* Abuse limits; a NULL limit is turned off (--limit KIND=0/0). */
struct ckvd_limits {
    struct ckvd_ratelimit *register_per_peer;  /* account creation per client address */
    struct ckvd_ratelimit *login_per_peer;     /* logins per client address */
    struct ckvd_ratelimit *bundle_per_requester; /* bundle fetches by one account */
    struct ckvd_ratelimit *bundle_per_pair;    /* requester -> target */
    struct ckvd_ratelimit *bundle_per_target;  /* all fetches of one target */
    struct ckvd_ratelimit *lookup_per_peer;
    struct ckvd_ratelimit *send_per_account;
};

struct ckvd {
    struct ckvd_store *store;
    struct ckvd_log *log;
    struct ckvd_tokens *tokens;
    struct ckvd_limits limits;
    struct ckvd_http *http;
    const char *origin;   /* the log's origin (borrowed from log) */
    struct ckvd_lookup_cache *lookups; /* answers of GET /v1/directory/NAME */
    struct sqlite3_stmt *q_by_name, *q_by_id; /* prepared account queries */
    int token_ttl;        /* seconds a session token lives */
    int index_broken;     /* the account index fell behind the log: no registrations */
    int verbose;
};

/* The lookup answer cache (directory.c): an answer is reused while the
 * published checkpoint and the account's latest entry stay the same. */
struct ckvd_lookup_cache *ckvd_lookup_cache_new(void);
void ckvd_lookup_cache_free(struct ckvd_lookup_cache *c);

/* Router: the ckvd_handler for the HTTP layer. */
enum ckvd_handler_result ckvd_route(void *ctx, struct ckvd_req *req, struct ckvd_resp *resp,
                                    uint64_t *wake_key, uint64_t *deadline_ms);
void ckvd_free_req_user(void *user);

/* Handlers (one file per group). */
enum ckvd_handler_result ckvd_h_register(struct ckvd *d, struct ckvd_req *req,
                                         struct ckvd_resp *resp);
enum ckvd_handler_result ckvd_h_login(struct ckvd *d, struct ckvd_req *req,
                                      struct ckvd_resp *resp);
enum ckvd_handler_result ckvd_h_keys_put(struct ckvd *d, struct ckvd_req *req,
                                         struct ckvd_resp *resp, int64_t account);
enum ckvd_handler_result ckvd_h_keys_get(struct ckvd *d, struct ckvd_req *req,
                                         struct ckvd_resp *resp, int64_t account,
                                         const char *name);
enum ckvd_handler_result ckvd_h_send_batch(struct ckvd *d, struct ckvd_req *req,
                                           struct ckvd_resp *resp, int64_t account);
enum ckvd_handler_result ckvd_h_send(struct ckvd *d, struct ckvd_req *req,
                                     struct ckvd_resp *resp, int64_t account);
enum ckvd_handler_result ckvd_h_fetch(struct ckvd *d, struct ckvd_req *req,
                                      struct ckvd_resp *resp, int64_t account,
                                      uint64_t *wake_key, uint64_t *deadline_ms);
enum ckvd_handler_result ckvd_h_ack(struct ckvd *d, struct ckvd_req *req,
                                    struct ckvd_resp *resp, int64_t account);
enum ckvd_handler_result ckvd_h_lookup(struct ckvd *d, struct ckvd_req *req,
                                       struct ckvd_resp *resp, const char *name, int history);
enum ckvd_handler_result ckvd_h_consistency(struct ckvd *d, struct ckvd_req *req,
                                            struct ckvd_resp *resp);
enum ckvd_handler_result ckvd_h_checkpoint(struct ckvd *d, struct ckvd_req *req,
                                           struct ckvd_resp *resp);
enum ckvd_handler_result ckvd_h_tile(struct ckvd *d, struct ckvd_req *req,
                                     struct ckvd_resp *resp, const char *tile_path);

/* JSON request helpers (jsonreq.c). Parse the body as one JSON object whose
 * keys are all in `allowed` (NULL-terminated); on failure fill resp with a
 * 400 and return NULL. */
json_t *ckvd_json_body(struct ckvd_req *req, struct ckvd_resp *resp, const char *const *allowed);
/* 0 when every key of object o is in allowed (NULL-terminated); else -1
 * and a 400 "unknown_field" naming the key and `what` ("the request",
 * "\"envelope\"", ...). */
int ckvd_json_only_keys(json_t *o, const char *const *allowed, const char *what,
                        struct ckvd_resp *resp);
/* 0 when name is a normalised account name (docs/directory.md); else -1
 * and a 400 "bad_name" in resp whose sentence starts with `what` (e.g.
 * "field \"to\"") and gives the normal form when there is one. */
int ckvd_name_check(const char *name, const char *what, struct ckvd_resp *resp);
/* Base64 (standard, padded, canonical) string field of exactly/at most n
 * bytes; -1 and a 400 in resp on failure. */
int ckvd_json_b64(json_t *o, const char *key, uint8_t *out, size_t min, size_t max,
                  size_t *len_out, struct ckvd_resp *resp);
int ckvd_json_uint(json_t *o, const char *key, uint64_t max, uint64_t *out,
                   struct ckvd_resp *resp);
/* Serialise and respond 200 (steals the reference). */
void ckvd_resp_obj(struct ckvd_resp *resp, int status, json_t *obj);

/* Seconds of the wall clock. */
int64_t ckvd_wall_time(void);

void ckvd_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
