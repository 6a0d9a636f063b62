/*
 * testsrv.h: the harness of ckvd's integration tests.
 *
 * A real ckvd is started as a child process on 127.0.0.1 with port 0 (its
 * stderr goes to DIR.stderr.log; the port is read from its "serving ... on
 * http://127.0.0.1:PORT" line). Requests go over libcurl; accounts are
 * real: fresh identity keys, directory entries built and signed with
 * directory/, logins signed with XEdDSA, as a client would.
 */
#ifndef CKV_TESTSRV_H
#define CKV_TESTSRV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ckv/dir_entry.h"

struct srv {
    pid_t pid;
    int port;
    int tls;                /* 1: https with cafile */
    char dir[512];          /* --data */
    char errlog[600];       /* DIR.stderr.log */
    char cafile[1024];
    char origin[256];
    char vkey[512];         /* contents of DIR/log.vkey */
};

/* Start ckvd on dir (created if missing) with extra args (NULL-terminated,
 * may be NULL). Waits for the port. 0 or -1. */
int srv_start(struct srv *s, const char *dir, const char *const *extra);
/* SIGTERM, wait; returns the exit status (0 = clean) or -1 when killed. */
int srv_stop(struct srv *s);
/* SIGKILL, wait. */
void srv_kill9(struct srv *s);
/* Number of threads of the running ckvd. */
int srv_threads(const struct srv *s);
/* 1 when the server's stderr log contains needle. */
int srv_log_contains(const struct srv *s, const char *needle);

struct http_resp {
    long status;             /* 0 when the request failed at the transport */
    char *body;              /* NUL-terminated, malloc'd */
    size_t len;
    char retry_after[32];    /* Retry-After header or "" */
    char ctype[128];         /* Content-Type or "" */
    char cache[128];         /* Cache-Control or "" */
    double seconds;          /* wall time of the request */
};
void http_resp_free(struct http_resp *r);

/* One request; body may be NULL. token may be NULL (no Authorization). */
int http(const struct srv *s, const char *method, const char *path, const char *token,
         const char *body, size_t len, struct http_resp *r);
/* The JSON "code" of an error answer, or "" (static buffer). */
const char *err_code(const struct http_resp *r);

struct acct {
    char name[CKV_NAME_MAX + 1];
    uint8_t priv[32];
    uint8_t pub[33];
    uint64_t version;        /* of the last accepted entry, 0 before */
    uint64_t leaf_index;
    uint8_t leaf_hash[32];
    char token[128];
    uint32_t next_prekey_id;
};

void acct_new(struct acct *a, const char *name);
void keypair(uint8_t priv[32], uint8_t pub[33]);

/* Build a signed entry of type t for a (version/prev from a's state), with
 * the new key (new_priv/new_pub) and, for rotate, the old-key signature by
 * old_priv. Text into buf. */
void make_entry(const struct srv *s, const struct acct *a, ckv_dir_type t, uint64_t version,
                const uint8_t new_priv[32], const uint8_t new_pub[33],
                const uint8_t *old_priv, char *buf, size_t cap);

/* POST /v1/accounts with the entry text and a signed prekey + nprekeys
 * one-time prekeys, signed by sign_priv (the new key). Returns the HTTP
 * status; r (may be NULL) gets the answer. */
long post_entry(const struct srv *s, const char *entry, const uint8_t sign_priv[32],
                uint32_t first_prekey_id, int nprekeys, struct http_resp *r);

/* The same with the optional recovery fields (base64 text, or NULL). */
long post_entry_ex(const struct srv *s, const char *entry, const uint8_t sign_priv[32],
                   uint32_t first_prekey_id, int nprekeys, const char *recovery_hash,
                   const char *recovery, struct http_resp *r);

/* register / rotate / reset a, updating a's state on success. Return the
 * HTTP status. */
long acct_register(const struct srv *s, struct acct *a, int nprekeys);
long acct_rotate(const struct srv *s, struct acct *a, int nprekeys);
long acct_reset(const struct srv *s, struct acct *a, int nprekeys);

/* Login body signed by priv for name at time t with a fresh nonce. */
void login_body(const struct srv *s, const char *name, const uint8_t priv[32], int64_t t,
                char *buf, size_t cap);
/* Log in; token into a->token. Returns the HTTP status. */
long acct_login(const struct srv *s, struct acct *a);

/* Send text (as an envelope body) from a to name; *id_out the message id. */
long send_msg(const struct srv *s, const struct acct *from, const char *to, const char *text,
              int64_t *id_out);

#endif
