/*
 * auth.h: ckvd's login and session tokens.
 *
 * A client logs in by signing (XEdDSA, with its identity key) a statement
 * that names the server's log, the account, the time and a fresh nonce
 * (docs/server.md). The server checks the time against its clock (a
 * replay window of CKVD_LOGIN_WINDOW seconds each way), refuses a nonce it
 * has seen within the window (nonces are kept in the database, so a restart
 * does not reopen the window), and hands out a random bearer token valid
 * for CKVD_TOKEN_TTL seconds (--token-ttl). Tokens live in memory only, as SHA-256
 * hashes: a restart logs everyone out, and a memory dump shows no usable
 * token.
 */
#ifndef CKVD_AUTH_H
#define CKVD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define CKVD_LOGIN_WINDOW 300
#define CKVD_TOKEN_TTL 900
#define CKVD_LOGIN_CONTEXT "ckv login v1\n"

struct ckvd_tokens;

struct ckvd_tokens *ckvd_tokens_new(void);
void ckvd_tokens_free(struct ckvd_tokens *t);

/* Issue a token for account, valid ttl seconds from now; token_out gets 43
 * chars of base64url + NUL (the caller wipes it after use). 0 or -1 (out of
 * memory). */
int ckvd_tokens_issue(struct ckvd_tokens *t, int64_t account, int64_t now, int ttl,
                      char token_out[64]);

/* Account of a bearer token, or -1 when unknown or expired. */
int64_t ckvd_tokens_check(struct ckvd_tokens *t, const char *token, int64_t now);

/* Forget every token of account (after a key rotation or reset). */
void ckvd_tokens_revoke_account(struct ckvd_tokens *t, int64_t account);

#endif
