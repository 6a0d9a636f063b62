/*
 * fuzz_tlog_tile.c: hash tiles, entry bundles and tile paths from untrusted
 * bytes. The first byte picks the expected width. A parsed path must format
 * back to the same bytes; a parsed bundle must rebuild to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ckv/tlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct one_tile {
    const uint8_t *data;
    size_t len;
};

static ckv_status fetch(void *ctx, const ckv_tlog_tile *t, const uint8_t **d, size_t *len)
{
    const struct one_tile *o = ctx;
    (void)t;
    *d = o->data;
    *len = o->len;
    return CKV_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ckv_tlog_tile t;
    if (ckv_tlog_tile_parse_path((const char *)data, size, &t) == CKV_OK) {
        char buf[CKV_TLOG_TILE_PATH_MAX];
        if (ckv_tlog_tile_path(&t, buf, sizeof buf) != CKV_OK || strlen(buf) != size ||
            memcmp(buf, data, size) != 0)
            abort();
    }
    if (size < 1)
        return 0;
    unsigned width = (unsigned)data[0] + 1;
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    ckv_tlog_entry *e = malloc(sizeof *e * width);
    uint8_t *tile = malloc((size_t)width * 32);
    if (!e || !tile)
        abort();
    if (ckv_tlog_bundle_parse(body, len, width, e) == CKV_OK) {
        uint8_t *b = NULL;
        size_t bl = 0;
        if (ckv_tlog_bundle_build(e, width, &b, &bl) != CKV_OK || bl != len ||
            memcmp(b, body, len) != 0)
            abort();
        free(b);
        if (ckv_tlog_bundle_to_tile(body, len, width, tile) != CKV_OK)
            abort();
    }
    if (ckv_tlog_tile_check(body, len, width) == CKV_OK) {
        ckv_tlog_hash h;
        ckv_tlog_tile_root(body, width, &h);
        for (unsigned sub = 0; sub <= 8; sub++)
            (void)!ckv_tlog_tile_node(body, width, sub, 0, &h);
        /* a reader over this one tile as level 0 of a tree of size width */
        struct one_tile o = {body, len};
        ckv_tlog_tile_source src = {width, fetch, &o};
        ckv_tlog_hash_reader r;
        ckv_tlog_hash path[CKV_TLOG_MAX_PROOF];
        size_t pl;
        ckv_tlog_tile_hash_reader(&src, &r);
        if (ckv_tlog_reader_root(&r, width, &h) != CKV_OK)
            abort();
        if (ckv_tlog_reader_inclusion_proof(&r, width - 1, width, path, &pl) != CKV_OK)
            abort();
        ckv_tlog_hash leaf;
        memcpy(leaf.b, body + (size_t)(width - 1) * 32, 32);
        if (ckv_tlog_verify_inclusion(width - 1, width, &leaf, path, pl, &h) != CKV_OK)
            abort();
    }
    free(e);
    free(tile);
    return 0;
}
