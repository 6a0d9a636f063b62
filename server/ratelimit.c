/*
 * ratelimit.c: token buckets in an open-addressed hash table (see
 * ratelimit.h). Keys are copied (at most 127 bytes; longer keys are
 * truncated, which only merges buckets of absurdly long keys).
 */
#include "ratelimit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 128

struct bucket {
    char key[KEY_MAX];
    double tokens;
    uint64_t last_ms;
    int used;
};

struct ckvd_ratelimit {
    double rate, burst;
    size_t cap, n;
    struct bucket *b;
};

struct ckvd_ratelimit *ckvd_ratelimit_new(double per_second, double burst, size_t max_keys)
{
    struct ckvd_ratelimit *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->rate = per_second;
    r->burst = burst;
    r->cap = 16;
    while (r->cap < max_keys * 2)
        r->cap *= 2;
    r->b = calloc(r->cap, sizeof(*r->b));
    if (!r->b) {
        free(r);
        return NULL;
    }
    return r;
}

void ckvd_ratelimit_free(struct ckvd_ratelimit *r)
{
    if (!r)
        return;
    free(r->b);
    free(r);
}

static uint64_t hash_key(const char *k)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *k; k++) {
        h ^= (unsigned char)*k;
        h *= 1099511628211ull;
    }
    return h;
}

static void refill(struct ckvd_ratelimit *r, struct bucket *b, uint64_t now)
{
    if (now > b->last_ms) {
        b->tokens += (double)(now - b->last_ms) / 1000.0 * r->rate;
        if (b->tokens > r->burst)
            b->tokens = r->burst;
        b->last_ms = now;
    }
}

/* Drop buckets that have refilled completely: they carry no information. */
static void sweep(struct ckvd_ratelimit *r, uint64_t now)
{
    struct bucket *old = r->b;
    size_t cap = r->cap;
    struct bucket *nb = calloc(cap, sizeof(*nb));
    if (!nb)
        return;
    r->b = nb;
    r->n = 0;
    for (size_t i = 0; i < cap; i++) {
        if (!old[i].used)
            continue;
        refill(r, &old[i], now);
        if (old[i].tokens >= r->burst)
            continue;
        size_t j = hash_key(old[i].key) & (cap - 1);
        while (r->b[j].used)
            j = (j + 1) & (cap - 1);
        r->b[j] = old[i];
        r->n++;
    }
    free(old);
}

unsigned ckvd_ratelimit_most(const struct ckvd_ratelimit *r)
{
    return r ? (unsigned)floor(r->burst) : 0;
}

int ckvd_ratelimit_take(struct ckvd_ratelimit *r, const char *key, uint64_t now_ms)
{
    return ckvd_ratelimit_take_n(r, key, now_ms, 1);
}

int ckvd_ratelimit_take_n(struct ckvd_ratelimit *r, const char *key, uint64_t now_ms, unsigned n)
{
    char k[KEY_MAX];
    if (!r)
        return 0; /* this limit is turned off */
    strncpy(k, key, KEY_MAX - 1);
    k[KEY_MAX - 1] = 0;
    if (r->n * 2 >= r->cap)
        sweep(r, now_ms);
    if (r->n * 2 >= r->cap) {
        /* Still full of active buckets: forget the whole table rather than
         * grow without bound. */
        memset(r->b, 0, r->cap * sizeof(*r->b));
        r->n = 0;
    }
    size_t j = hash_key(k) & (r->cap - 1);
    while (r->b[j].used && strcmp(r->b[j].key, k) != 0)
        j = (j + 1) & (r->cap - 1);
    struct bucket *b = &r->b[j];
    if (!b->used) {
        memcpy(b->key, k, KEY_MAX);
        b->used = 1;
        b->tokens = r->burst;
        b->last_ms = now_ms;
        r->n++;
    }
    refill(r, b, now_ms);
    if (b->tokens >= (double)n) {
        b->tokens -= (double)n;
        return 0;
    }
    double wait = ((double)n - b->tokens) / r->rate;
    int secs = (int)ceil(wait);
    return secs < 1 ? 1 : secs;
}
