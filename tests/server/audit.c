/*
 * audit.c: an outside audit of a live ckvd's log (audit.h), built on
 * libckvlog and directory/ only, over plain HTTP: C2SP tlog-checkpoint,
 * tlog-tiles and entry bundles; RFC 9162 roots and consistency.
 */
#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckv/dir_entry.h"

static ckv_status fetch_tile(void *ctx, const ckv_tlog_tile *t, const uint8_t **data,
                             size_t *len)
{
    struct audit_view *v = ctx;
    char path[CKV_TLOG_TILE_PATH_MAX + 1];
    if (ckv_tlog_tile_path(t, path + 1, sizeof(path) - 1) != CKV_OK)
        return CKV_ERR_INVALID_ARG;
    path[0] = '/';
    for (size_t i = 0; i < v->ntiles; i++) {
        if (strcmp(v->tiles[i].path, path) == 0) {
            *data = v->tiles[i].data;
            *len = v->tiles[i].len;
            return CKV_OK;
        }
    }
    struct http_resp r;
    if (http(v->s, "GET", path, NULL, NULL, 0, &r) != 0 || r.status != 200 ||
        strcmp(r.ctype, "application/octet-stream") != 0 ||
        (t->level >= 0 && r.len != 32u * t->width)) {
        fprintf(stderr, "audit: GET %s: status %ld, type '%s', %zu bytes\n", path, r.status,
                r.ctype, r.len);
        http_resp_free(&r);
        v->fetch_failed = 1;
        return CKV_ERR_NOT_FOUND;
    }
    if (v->ntiles == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->tiles = realloc(v->tiles, v->cap * sizeof(*v->tiles));
    }
    struct audit_tile *at = &v->tiles[v->ntiles++];
    snprintf(at->path, sizeof(at->path), "%s", path);
    at->data = (uint8_t *)r.body; /* taken over */
    at->len = r.len;
    *data = at->data;
    *len = at->len;
    return CKV_OK;
}

void audit_view_free(struct audit_view *view)
{
    for (size_t i = 0; i < view->ntiles; i++)
        free(view->tiles[i].data);
    free(view->tiles);
    memset(view, 0, sizeof(*view));
}

int audit_root_at(struct audit_view *view, uint64_t m, ckv_tlog_hash *root)
{
    if (m == 0) {
        ckv_tlog_empty_root(root);
        return 0;
    }
    return ckv_tlog_reader_root(&view->reader, m, root) == CKV_OK ? 0 : -1;
}

struct chain {
    char name[CKV_NAME_MAX + 1];
    ckv_dir_entry last;
    uint64_t index;
    uint8_t hash[32];
};

/* Every bundle equals the level-0 tiles; every entry parses; every
 * account's chain holds. */
static int check_entries(struct audit_view *v)
{
    uint64_t size = v->cp.size;
    struct chain *ch = calloc(size + 1, sizeof(*ch));
    size_t nch = 0;
    int ret = -1;
    for (uint64_t n = 0; n * 256 < size; n++) {
        unsigned w = ckv_tlog_tile_width_at(0, n, size);
        ckv_tlog_tile bt = {CKV_TLOG_TILE_LEVEL_ENTRIES, n, w}, ht = {0, n, w};
        const uint8_t *bd, *hd;
        size_t bl, hl;
        ckv_tlog_entry ents[256];
        uint8_t tile[32 * 256];
        if (fetch_tile(v, &bt, &bd, &bl) != CKV_OK)
            goto out;
        /* copy: the next fetch may move the cache */
        uint8_t *bundle = malloc(bl + 1);
        memcpy(bundle, bd, bl);
        if (ckv_tlog_bundle_parse(bundle, bl, w, ents) != CKV_OK ||
            ckv_tlog_bundle_to_tile(bundle, bl, w, tile) != CKV_OK ||
            fetch_tile(v, &ht, &hd, &hl) != CKV_OK || hl != 32u * w ||
            memcmp(tile, hd, hl) != 0) {
            fprintf(stderr, "audit: entry bundle %llu does not match its tile\n",
                    (unsigned long long)n);
            free(bundle);
            goto out;
        }
        for (unsigned i = 0; i < w; i++) {
            uint64_t index = n * 256 + i;
            ckv_dir_entry e;
            uint8_t h[32];
            ckv_status st = ckv_dir_entry_parse(ents[i].data, ents[i].len, &e);
            if (st != CKV_OK || strcmp(e.origin, v->cp.origin) != 0) {
                fprintf(stderr, "audit: entry %llu is not a directory entry of this log\n",
                        (unsigned long long)index);
                free(bundle);
                goto out;
            }
            ckv_dir_leaf_hash(ents[i].data, ents[i].len, h);
            size_t k = 0;
            while (k < nch && strcmp(ch[k].name, e.name) != 0)
                k++;
            st = k < nch ? ckv_dir_chain_check(&ch[k].last, ch[k].index, ch[k].hash, &e)
                         : ckv_dir_chain_check(NULL, 0, NULL, &e);
            if (st != CKV_OK) {
                fprintf(stderr, "audit: entry %llu (%s v%llu) breaks the chain: %s\n",
                        (unsigned long long)index, e.name, (unsigned long long)e.version,
                        ckv_strerror(st));
                free(bundle);
                goto out;
            }
            if (k == nch) {
                snprintf(ch[k].name, sizeof(ch[k].name), "%s", e.name);
                nch++;
            }
            ch[k].last = e;
            ch[k].index = index;
            memcpy(ch[k].hash, h, 32);
        }
        free(bundle);
    }
    ret = 0;
out:
    free(ch);
    return ret;
}

int audit_log(const struct srv *s, const ckv_tlog_verifier *ver, const struct audit_view *prev,
              struct audit_view *out)
{
    struct http_resp r;
    struct audit_view v;
    memset(&v, 0, sizeof(v));
    v.s = s;
    if (http(s, "GET", "/checkpoint", NULL, NULL, 0, &r) != 0 || r.status != 200) {
        fprintf(stderr, "audit: GET /checkpoint failed (%ld)\n", r.status);
        http_resp_free(&r);
        return -1;
    }
    const ckv_tlog_verifier *vs[1] = {ver};
    ckv_status st = ckv_tlog_checkpoint_open(r.body, r.len, s->origin, vs, 1, &v.cp, NULL);
    http_resp_free(&r);
    if (st != CKV_OK) {
        fprintf(stderr, "audit: the checkpoint does not verify: %s\n", ckv_strerror(st));
        return -1;
    }
    v.src.tree_size = v.cp.size;
    v.src.fetch = fetch_tile;
    v.src.ctx = &v;
    ckv_tlog_tile_hash_reader(&v.src, &v.reader);
    /* the root, recomputed from the tiles, is the signed one */
    ckv_tlog_hash root;
    if (audit_root_at(&v, v.cp.size, &root) != 0 || memcmp(root.b, v.cp.root.b, 32) != 0) {
        fprintf(stderr, "audit: the tiles do not give the checkpoint's root\n");
        goto fail;
    }
    /* append-only since the older view */
    if (prev) {
        if (prev->cp.size > v.cp.size) {
            fprintf(stderr, "audit: the log shrank from %llu to %llu\n",
                    (unsigned long long)prev->cp.size, (unsigned long long)v.cp.size);
            goto fail;
        }
        if (audit_root_at(&v, prev->cp.size, &root) != 0 ||
            memcmp(root.b, prev->cp.root.b, 32) != 0) {
            fprintf(stderr, "audit: checkpoint %llu is not consistent with %llu\n",
                    (unsigned long long)v.cp.size, (unsigned long long)prev->cp.size);
            goto fail;
        }
    }
    if (check_entries(&v) != 0)
        goto fail;
    *out = v;
    /* the reader's ctx pointed at the local copy: repoint it */
    out->src.ctx = out;
    ckv_tlog_tile_hash_reader(&out->src, &out->reader);
    return 0;
fail:
    audit_view_free(&v);
    return -1;
}

/* The ckv-audit binary: the build's own (CKV_AUDIT_BIN) or $CKV_AUDIT. */
static const char *audit_tool(void)
{
    const char *env = getenv("CKV_AUDIT");
    if (env && *env)
        return env;
#ifdef CKV_AUDIT_BIN
    return CKV_AUDIT_BIN;
#else
    return NULL;
#endif
}

int audit_tool_available(void)
{
    const char *t = audit_tool();
    return t && access(t, X_OK) == 0;
}

int audit_tool_run(const struct srv *s, const char *dir)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' --state '%s/audit-state' --vkey '%s' http://127.0.0.1:%d",
             audit_tool(), dir, s->vkey, s->port);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
