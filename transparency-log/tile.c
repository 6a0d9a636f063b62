/*
 * tile.c: C2SP tlog-tiles path math, tile listing, hash tiles and entry
 * bundles (c2sp.org/tlog-tiles). Pure functions: no I/O, no globals.
 *
 * Index math: the hashes at tree height 8*L are numbered 0 .. (size >> 8L)-1
 * and the level-L tile N holds numbers [256N, 256N + W). So at level L a
 * tree of size s has (s >> 8L) / 256 full tiles and, when (s >> 8L) % 256
 * is not zero, one partial tile of that width.
 */
#include "ckv/tlog_tile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* number of hashes at tree height 8*level for a tree of size n */
static uint64_t level_count(int level, uint64_t n)
{
    if (level < 0)
        level = 0;
    unsigned shift = (unsigned)level * CKV_TLOG_TILE_HEIGHT;
    return shift >= 64 ? 0 : n >> shift;
}

unsigned ckv_tlog_tile_width_at(int level, uint64_t index, uint64_t tree_size)
{
    if (level < CKV_TLOG_TILE_LEVEL_ENTRIES || level > CKV_TLOG_TILE_MAX_LEVEL)
        return 0;
    uint64_t n = level_count(level, tree_size);
    uint64_t full = n / CKV_TLOG_TILE_WIDTH;
    if (index < full)
        return CKV_TLOG_TILE_WIDTH;
    if (index == full)
        return (unsigned)(n % CKV_TLOG_TILE_WIDTH);
    return 0;
}

/* ---- paths: "tile/<L>/<N>[.p/<W>]", N as x-prefixed 3-digit groups ---- */

ckv_status ckv_tlog_tile_path(const ckv_tlog_tile *t, char *buf, size_t cap)
{
    char groups[8][4];
    int ng = 0;
    size_t off;
    int n;
    if (t == NULL || buf == NULL || t->level < CKV_TLOG_TILE_LEVEL_ENTRIES ||
        t->level > CKV_TLOG_TILE_MAX_LEVEL || t->width < 1 || t->width > CKV_TLOG_TILE_WIDTH)
        return CKV_ERR_INVALID_ARG;
    uint64_t x = t->index;
    do {
        snprintf(groups[ng++], sizeof groups[0], "%03u", (unsigned)(x % 1000));
        x /= 1000;
    } while (x > 0);
    if (t->level == CKV_TLOG_TILE_LEVEL_ENTRIES)
        n = snprintf(buf, cap, "tile/entries/");
    else
        n = snprintf(buf, cap, "tile/%d/", t->level);
    if (n < 0 || (size_t)n >= cap)
        return CKV_ERR_INVALID_ARG;
    off = (size_t)n;
    for (int g = ng - 1; g >= 0; g--) {
        n = snprintf(buf + off, cap - off, g > 0 ? "x%s/" : "%s", groups[g]);
        if (n < 0 || (size_t)n >= cap - off)
            return CKV_ERR_INVALID_ARG;
        off += (size_t)n;
    }
    if (t->width < CKV_TLOG_TILE_WIDTH) {
        n = snprintf(buf + off, cap - off, ".p/%u", t->width);
        if (n < 0 || (size_t)n >= cap - off)
            return CKV_ERR_INVALID_ARG;
    }
    return CKV_OK;
}

/* Parse a canonical decimal (no leading zero unless "0") of at most maxd
 * digits from s[*pos..len); returns -1 on error. */
static int parse_dec(const char *s, size_t len, size_t *pos, unsigned maxd, uint64_t *out)
{
    size_t p = *pos, start = p;
    uint64_t v = 0;
    while (p < len && s[p] >= '0' && s[p] <= '9' && p - start < maxd) {
        v = v * 10 + (uint64_t)(s[p] - '0');
        p++;
    }
    if (p == start || (s[start] == '0' && p - start > 1))
        return -1;
    if (p < len && s[p] >= '0' && s[p] <= '9')
        return -1;
    *pos = p;
    *out = v;
    return 0;
}

static int parse_group(const char *s, size_t len, size_t p, unsigned *out)
{
    if (p + 3 > len)
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < 3; i++) {
        if (s[p + i] < '0' || s[p + i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[p + i] - '0');
    }
    *out = v;
    return 0;
}

ckv_status ckv_tlog_tile_parse_path(const char *path, size_t len, ckv_tlog_tile *out)
{
    ckv_tlog_tile t;
    size_t p = 0;
    uint64_t v;
    if (path == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (len > CKV_TLOG_TILE_PATH_MAX || len < 5 || memcmp(path, "tile/", 5) != 0)
        return CKV_ERR_MALFORMED;
    p = 5;
    if (len - p >= 8 && memcmp(path + p, "entries/", 8) == 0) {
        t.level = CKV_TLOG_TILE_LEVEL_ENTRIES;
        p += 8;
    } else {
        if (parse_dec(path, len, &p, 2, &v) != 0 || v > CKV_TLOG_TILE_MAX_LEVEL || p >= len ||
            path[p] != '/')
            return CKV_ERR_MALFORMED;
        t.level = (int)v;
        p++;
    }
    /* index: ("x" ddd "/")* ddd ; first group of a multi-group index is not 000 */
    uint64_t idx = 0;
    int ngroups = 0;
    for (;;) {
        unsigned g;
        if (p < len && path[p] == 'x') {
            if (parse_group(path, len, p + 1, &g) != 0 || p + 4 >= len || path[p + 4] != '/')
                return CKV_ERR_MALFORMED;
            if (ngroups == 0 && g == 0)
                return CKV_ERR_MALFORMED;
            if (idx > (UINT64_MAX - g) / 1000)
                return CKV_ERR_MALFORMED;
            idx = idx * 1000 + g;
            ngroups++;
            p += 5;
            continue;
        }
        if (parse_group(path, len, p, &g) != 0)
            return CKV_ERR_MALFORMED;
        if (idx > (UINT64_MAX - g) / 1000)
            return CKV_ERR_MALFORMED;
        idx = idx * 1000 + g;
        p += 3;
        break;
    }
    t.index = idx;
    t.width = CKV_TLOG_TILE_WIDTH;
    if (p < len) {
        if (len - p < 4 || memcmp(path + p, ".p/", 3) != 0)
            return CKV_ERR_MALFORMED;
        p += 3;
        if (parse_dec(path, len, &p, 3, &v) != 0 || v < 1 || v >= CKV_TLOG_TILE_WIDTH)
            return CKV_ERR_MALFORMED;
        t.width = (unsigned)v;
    }
    if (p != len)
        return CKV_ERR_MALFORMED;
    *out = t;
    return CKV_OK;
}

/* ---- listing ------------------------------------------------------------------ */

void ckv_tlog_tile_iter_init_range(ckv_tlog_tile_iter *it, uint64_t from_size,
                                   uint64_t tree_size, bool bundles)
{
    memset(it, 0, sizeof *it);
    it->from_size = from_size > tree_size ? tree_size : from_size;
    it->tree_size = tree_size;
    it->bundles = bundles;
    it->level = 0;
    it->next_index = level_count(0, it->from_size) / CKV_TLOG_TILE_WIDTH;
}

void ckv_tlog_tile_iter_init(ckv_tlog_tile_iter *it, uint64_t tree_size, bool bundles)
{
    ckv_tlog_tile_iter_init_range(it, 0, tree_size, bundles);
}

bool ckv_tlog_tile_iter_next(ckv_tlog_tile_iter *it, ckv_tlog_tile *out)
{
    if (it->bundle_pending) {
        it->bundle_pending = false;
        *out = it->pending;
        return true;
    }
    while (it->level <= CKV_TLOG_TILE_MAX_LEVEL && level_count(it->level, it->tree_size) > 0) {
        unsigned w = ckv_tlog_tile_width_at(it->level, it->next_index, it->tree_size);
        if (w == 0) {
            it->level++;
            it->next_index = level_count(it->level, it->from_size) / CKV_TLOG_TILE_WIDTH;
            continue;
        }
        uint64_t idx = it->next_index++;
        if (w == ckv_tlog_tile_width_at(it->level, idx, it->from_size))
            continue; /* unchanged since from_size */
        out->level = it->level;
        out->index = idx;
        out->width = w;
        if (it->bundles && it->level == 0) {
            it->pending = *out;
            it->pending.level = CKV_TLOG_TILE_LEVEL_ENTRIES;
            it->bundle_pending = true;
        }
        return true;
    }
    return false;
}

/* ---- hash tiles ----------------------------------------------------------------- */

ckv_status ckv_tlog_tile_check(const uint8_t *data, size_t len, unsigned width)
{
    if (width < 1 || width > CKV_TLOG_TILE_WIDTH)
        return CKV_ERR_INVALID_ARG;
    if (data == NULL || len != (size_t)width * CKV_TLOG_HASH_SIZE)
        return CKV_ERR_TLOG_BAD_TILE;
    return CKV_OK;
}

void ckv_tlog_tile_root(const uint8_t *data, unsigned width, ckv_tlog_hash *out)
{
    ckv_tlog_hash h[CKV_TLOG_TILE_WIDTH];
    if (width > CKV_TLOG_TILE_WIDTH)
        width = CKV_TLOG_TILE_WIDTH;
    memcpy(h, data, (size_t)width * CKV_TLOG_HASH_SIZE);
    ckv_tlog_subtree_root(h, width, out);
}

ckv_status ckv_tlog_tile_node(const uint8_t *data, unsigned width, unsigned sub, unsigned i,
                              ckv_tlog_hash *out)
{
    if (data == NULL || out == NULL || sub > CKV_TLOG_TILE_HEIGHT || width > CKV_TLOG_TILE_WIDTH)
        return CKV_ERR_INVALID_ARG;
    size_t count = (size_t)1 << sub, start = (size_t)i << sub;
    if (i >= CKV_TLOG_TILE_WIDTH || start + count > width)
        return CKV_ERR_NOT_FOUND;
    ckv_tlog_tile_root(data + start * CKV_TLOG_HASH_SIZE, (unsigned)count, out);
    return CKV_OK;
}

/* ---- entry bundles: (uint16 BE length || bytes)*, C2SP tlog-tiles ---- */

ckv_status ckv_tlog_bundle_parse(const uint8_t *data, size_t len, unsigned width,
                                 ckv_tlog_entry *entries_out)
{
    size_t p = 0;
    if (width < 1 || width > CKV_TLOG_TILE_WIDTH)
        return CKV_ERR_INVALID_ARG;
    if (data == NULL && len > 0)
        return CKV_ERR_INVALID_ARG;
    if (len > CKV_TLOG_BUNDLE_MAX_BYTES)
        return CKV_ERR_TLOG_BAD_BUNDLE;
    for (unsigned k = 0; k < width; k++) {
        if (len - p < 2)
            return CKV_ERR_TLOG_BAD_BUNDLE;
        size_t n = ((size_t)data[p] << 8) | data[p + 1];
        p += 2;
        if (len - p < n)
            return CKV_ERR_TLOG_BAD_BUNDLE;
        if (entries_out) {
            entries_out[k].data = data + p;
            entries_out[k].len = n;
        }
        p += n;
    }
    if (p != len)
        return CKV_ERR_TLOG_BAD_BUNDLE;
    return CKV_OK;
}

ckv_status ckv_tlog_bundle_build(const ckv_tlog_entry *entries, unsigned n, uint8_t **out,
                                 size_t *out_len)
{
    size_t total = 0, p = 0;
    uint8_t *buf;
    if ((entries == NULL && n > 0) || out == NULL || out_len == NULL)
        return CKV_ERR_INVALID_ARG;
    for (unsigned k = 0; k < n; k++) {
        if (entries[k].len > CKV_TLOG_ENTRY_MAX)
            return CKV_ERR_TOO_LARGE;
        total += 2 + entries[k].len;
    }
    buf = malloc(total ? total : 1);
    if (buf == NULL)
        return CKV_ERR_NOMEM;
    for (unsigned k = 0; k < n; k++) {
        buf[p] = (uint8_t)(entries[k].len >> 8);
        buf[p + 1] = (uint8_t)entries[k].len;
        if (entries[k].len)
            memcpy(buf + p + 2, entries[k].data, entries[k].len);
        p += 2 + entries[k].len;
    }
    *out = buf;
    *out_len = total;
    return CKV_OK;
}

ckv_status ckv_tlog_bundle_to_tile(const uint8_t *data, size_t len, unsigned width,
                                   uint8_t *tile_out)
{
    ckv_tlog_entry *e = NULL;
    ckv_status st;
    if (tile_out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (width < 1 || width > CKV_TLOG_TILE_WIDTH)
        return CKV_ERR_INVALID_ARG;
    e = malloc(sizeof *e * width);
    if (e == NULL)
        return CKV_ERR_NOMEM;
    st = ckv_tlog_bundle_parse(data, len, width, e);
    if (st == CKV_OK) {
        for (unsigned k = 0; k < width; k++) {
            ckv_tlog_hash h;
            ckv_tlog_leaf_hash(e[k].data, e[k].len, &h);
            memcpy(tile_out + (size_t)k * CKV_TLOG_HASH_SIZE, h.b, CKV_TLOG_HASH_SIZE);
        }
    }
    free(e);
    return st;
}
