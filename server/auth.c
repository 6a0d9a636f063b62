/*
 * auth.c: bearer tokens for ckvd (auth.h). An open-addressed table keyed by
 * SHA-256(token); the token itself is never stored. Expired entries are
 * swept when the table fills. Lookups compare hashes with sodium_memcmp.
 */
#include "auth.h"

#include <sodium.h>

#include <stdlib.h>
#include <string.h>

struct slot {
    uint8_t h[32];
    int64_t account;
    int64_t expires;
    int used;
};

struct ckvd_tokens {
    struct slot *s;
    size_t cap, n;
};

struct ckvd_tokens *ckvd_tokens_new(void)
{
    struct ckvd_tokens *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->cap = 1024;
    t->s = calloc(t->cap, sizeof(*t->s));
    if (!t->s) {
        free(t);
        return NULL;
    }
    return t;
}

void ckvd_tokens_free(struct ckvd_tokens *t)
{
    if (!t)
        return;
    sodium_memzero(t->s, t->cap * sizeof(*t->s));
    free(t->s);
    free(t);
}

static size_t slot_of(const struct ckvd_tokens *t, const uint8_t h[32])
{
    uint64_t x;
    memcpy(&x, h, sizeof(x));
    return (size_t)x & (t->cap - 1);
}

static int rehash(struct ckvd_tokens *t, size_t ncap, int64_t now)
{
    struct slot *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return -1;
    struct slot *old = t->s;
    size_t ocap = t->cap;
    t->s = ns;
    t->cap = ncap;
    t->n = 0;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].used || old[i].expires <= now)
            continue;
        size_t j = slot_of(t, old[i].h);
        while (t->s[j].used)
            j = (j + 1) & (t->cap - 1);
        t->s[j] = old[i];
        t->n++;
    }
    sodium_memzero(old, ocap * sizeof(*old));
    free(old);
    return 0;
}

int ckvd_tokens_issue(struct ckvd_tokens *t, int64_t account, int64_t now, int ttl,
                      char token_out[64])
{
    uint8_t raw[32], h[32];
    if (t->n * 2 >= t->cap) {
        size_t ncap = t->cap;
        /* sweep first; grow only if still half full */
        if (rehash(t, ncap, now) != 0)
            return -1;
        if (t->n * 2 >= t->cap && rehash(t, t->cap * 2, now) != 0)
            return -1;
    }
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(token_out, 64, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    crypto_hash_sha256(h, (const uint8_t *)token_out, strlen(token_out));
    sodium_memzero(raw, sizeof(raw));
    size_t j = slot_of(t, h);
    while (t->s[j].used)
        j = (j + 1) & (t->cap - 1);
    memcpy(t->s[j].h, h, 32);
    t->s[j].account = account;
    t->s[j].expires = now + ttl;
    t->s[j].used = 1;
    t->n++;
    return 0;
}

int64_t ckvd_tokens_check(struct ckvd_tokens *t, const char *token, int64_t now)
{
    uint8_t h[32];
    size_t len = strlen(token);
    if (len == 0 || len > 128)
        return -1;
    crypto_hash_sha256(h, (const uint8_t *)token, len);
    size_t j = slot_of(t, h);
    for (size_t probes = 0; probes < t->cap && t->s[j].used; probes++) {
        if (sodium_memcmp(t->s[j].h, h, 32) == 0)
            return t->s[j].expires > now ? t->s[j].account : -1;
        j = (j + 1) & (t->cap - 1);
    }
    return -1;
}

void ckvd_tokens_revoke_account(struct ckvd_tokens *t, int64_t account)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->s[i].used && t->s[i].account == account)
            t->s[i].expires = 0; /* dead; swept at the next rehash */
}
