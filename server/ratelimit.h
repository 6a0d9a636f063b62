/*
 * ratelimit.h: token buckets keyed by a string (an account name, a peer
 * address, "requester->target"), for ckvd's abuse limits.
 *
 * Each bucket holds up to `burst` tokens and refills at `per_second`. A
 * request takes one token; when none is left, the caller answers 429 with
 * the Retry-After this returns. The table is bounded: when full, the
 * stalest buckets are dropped (a dropped bucket is a full one, so dropping
 * errs towards allowing, never towards blocking an honest user forever).
 */
#ifndef CKVD_RATELIMIT_H
#define CKVD_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ckvd_ratelimit;

struct ckvd_ratelimit *ckvd_ratelimit_new(double per_second, double burst, size_t max_keys);
void ckvd_ratelimit_free(struct ckvd_ratelimit *r);

/* Take one token for key at time now_ms. Returns 0 when allowed; otherwise
 * the number of seconds (>= 1) after which a token will be there. A NULL
 * r (a limit turned off) always allows. */
int ckvd_ratelimit_take(struct ckvd_ratelimit *r, const char *key, uint64_t now_ms);
/* The same for n tokens at once (all or none; n above the burst is never
 * granted: the caller bounds n, e.g. a batch of sends). */
int ckvd_ratelimit_take_n(struct ckvd_ratelimit *r, const char *key, uint64_t now_ms, unsigned n);
/* The most tokens one take_n can ever be granted (the whole burst), or 0
 * for a NULL r (no limit). */
unsigned ckvd_ratelimit_most(const struct ckvd_ratelimit *r);

#endif
