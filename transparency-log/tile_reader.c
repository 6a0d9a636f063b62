/*
 * tile_reader.c: a hash reader over C2SP hash tiles fetched by the caller
 * (the idea of Go's tlog.TileHashReader). A node at height h = 8L + r
 * (r < 8) with index i is MTH of the level-L tile hashes [i<<r, (i+1)<<r),
 * which all sit in one tile: number (i<<r) / 256, fetched with the width it
 * has in the reader's tree.
 */
#include "ckv/tlog_tile.h"

static ckv_status tile_read_nodes(void *ctx, const ckv_tlog_node_id *ids, size_t n,
                                  ckv_tlog_hash *out)
{
    const ckv_tlog_tile_source *src = ctx;
    for (size_t k = 0; k < n; k++) {
        unsigned level = ids[k].height / CKV_TLOG_TILE_HEIGHT;
        unsigned sub = ids[k].height % CKV_TLOG_TILE_HEIGHT;
        if (ids[k].height > 63 || ids[k].index > (UINT64_MAX >> sub))
            return CKV_ERR_TLOG_BAD_INDEX;
        uint64_t first = ids[k].index << sub;
        ckv_tlog_tile t = {(int)level, first / CKV_TLOG_TILE_WIDTH, 0};
        t.width = ckv_tlog_tile_width_at(t.level, t.index, src->tree_size);
        unsigned off = (unsigned)(first % CKV_TLOG_TILE_WIDTH);
        if (t.width == 0 || off + (1u << sub) > t.width)
            return CKV_ERR_TLOG_BAD_INDEX; /* node not complete in this tree */
        const uint8_t *data = NULL;
        size_t len = 0;
        ckv_status st = src->fetch(src->ctx, &t, &data, &len);
        if (st != CKV_OK)
            return st;
        st = ckv_tlog_tile_check(data, len, t.width);
        if (st != CKV_OK)
            return st;
        st = ckv_tlog_tile_node(data, t.width, sub, off >> sub, &out[k]);
        if (st != CKV_OK)
            return st;
    }
    return CKV_OK;
}

void ckv_tlog_tile_hash_reader(const ckv_tlog_tile_source *src, ckv_tlog_hash_reader *out)
{
    out->read_nodes = tile_read_nodes;
    out->ctx = (void *)src;
}
