/*
 * store_cache.c: a bounded LRU cache of expanded tiles for the log store,
 * so that warm proofs read no rows and hash nothing but the fold. Fixed
 * number of slots chosen at open; memory use never depends on log size.
 * Hash buckets chain slots by index; the LRU order is a doubly linked list
 * of slot indices.
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define NIL UINT32_MAX

int cache_init(struct tile_cache *c, size_t nslots)
{
    memset(c, 0, sizeof *c);
    if (nslots == 0 || nslots > (1u << 24))
        return -1;
    c->nslots = (uint32_t)nslots;
    c->nbuckets = 1;
    while (c->nbuckets < 2 * c->nslots)
        c->nbuckets <<= 1;
    c->slots = calloc(c->nslots, sizeof *c->slots);
    c->buckets = malloc(sizeof *c->buckets * c->nbuckets);
    if (c->slots == NULL || c->buckets == NULL) {
        cache_free(c);
        return -1;
    }
    cache_clear(c);
    return 0;
}

void cache_clear(struct tile_cache *c)
{
    for (uint32_t i = 0; i < c->nbuckets; i++)
        c->buckets[i] = NIL;
    for (uint32_t i = 0; i < c->nslots; i++)
        c->slots[i].used = 0;
    c->nused = 0;
    c->head = c->tail = NIL;
}

void cache_free(struct tile_cache *c)
{
    free(c->slots);
    free(c->buckets);
    memset(c, 0, sizeof *c);
}

static uint32_t bucket_of(const struct tile_cache *c, uint64_t id)
{
    uint64_t x = id * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(x >> 32) & (c->nbuckets - 1);
}

static void lru_unlink(struct tile_cache *c, uint32_t i)
{
    struct cache_slot *s = &c->slots[i];
    if (s->prev != NIL)
        c->slots[s->prev].next = s->next;
    else
        c->head = s->next;
    if (s->next != NIL)
        c->slots[s->next].prev = s->prev;
    else
        c->tail = s->prev;
}

static void lru_push_head(struct tile_cache *c, uint32_t i)
{
    struct cache_slot *s = &c->slots[i];
    s->prev = NIL;
    s->next = c->head;
    if (c->head != NIL)
        c->slots[c->head].prev = i;
    c->head = i;
    if (c->tail == NIL)
        c->tail = i;
}

const xtile *cache_get(struct tile_cache *c, uint64_t id)
{
    if (c->slots == NULL)
        return NULL;
    for (uint32_t i = c->buckets[bucket_of(c, id)]; i != NIL; i = c->slots[i].bnext) {
        if (c->slots[i].id == id) {
            if (c->head != i) {
                lru_unlink(c, i);
                lru_push_head(c, i);
            }
            return &c->slots[i].t;
        }
    }
    return NULL;
}

static void bucket_remove(struct tile_cache *c, uint32_t i)
{
    uint32_t *pp = &c->buckets[bucket_of(c, c->slots[i].id)];
    while (*pp != NIL && *pp != i)
        pp = &c->slots[*pp].bnext;
    if (*pp == i)
        *pp = c->slots[i].bnext;
}

xtile *cache_put(struct tile_cache *c, uint64_t id)
{
    uint32_t i;
    if (c->slots == NULL)
        return NULL;
    if (c->nused < c->nslots) {
        i = c->nused++;
    } else {
        i = c->tail; /* evict the least recently used */
        lru_unlink(c, i);
        bucket_remove(c, i);
    }
    struct cache_slot *s = &c->slots[i];
    s->id = id;
    s->used = 1;
    uint32_t b = bucket_of(c, id);
    s->bnext = c->buckets[b];
    c->buckets[b] = i;
    lru_push_head(c, i);
    return &s->t;
}
