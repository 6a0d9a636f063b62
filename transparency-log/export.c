/*
 * export.c: write the log as a static C2SP tlog-tiles directory:
 *   DIR/tile/<L>/<N>[.p/<W>]   hash tiles
 *   DIR/tile/entries/<N>[.p/<W>] entry bundles
 *   DIR/checkpoint             the latest signed checkpoint, written last
 * for exactly the size of the latest checkpoint. Every file goes to a
 * temporary name in its directory, is fsynced, then renamed, so a web
 * server never serves half a file; full tiles (immutable) already present
 * with the right length are left alone, which makes re-export incremental.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_internal.h"

#define PATH_CAP 4096

/* mkdir -p of the directory part of path (path is modified temporarily) */
static ckv_status mkdirs_for(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0755);
        int e = errno;
        *p = '/';
        if (rc != 0 && e != EEXIST)
            return CKV_ERR_IO;
    }
    return CKV_OK;
}

static ckv_status fsync_dir_of(const char *path)
{
    char dir[PATH_CAP];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return CKV_ERR_IO;
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? CKV_OK : CKV_ERR_IO;
}

/* write data to path via path.tmp + fsync + rename */
static ckv_status write_atomic(char *path, const void *data, size_t len)
{
    char tmp[PATH_CAP + 16];
    ckv_status st = mkdirs_for(path);
    if (st != CKV_OK)
        return st;
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return CKV_ERR_IO;
    const uint8_t *p = data;
    size_t off = 0;
    st = CKV_OK;
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            st = CKV_ERR_IO;
            break;
        }
        off += (size_t)w;
    }
    if (st == CKV_OK && fsync(fd) != 0)
        st = CKV_ERR_IO;
    if (close(fd) != 0 && st == CKV_OK)
        st = CKV_ERR_IO;
    if (st == CKV_OK && rename(tmp, path) != 0)
        st = CKV_ERR_IO;
    if (st != CKV_OK)
        unlink(tmp);
    return st;
}

ckv_status ckv_tlog_store_export(ckv_tlog_store *s, const char *dir, uint64_t *size_out)
{
    char *note = NULL;
    ckv_tlog_checkpoint cp;
    ckv_tlog_tile_iter it;
    ckv_tlog_tile t;
    char path[PATH_CAP];
    ckv_status st;
    if (s == NULL || dir == NULL || strlen(dir) == 0 || strlen(dir) > PATH_CAP - 200)
        return CKV_ERR_INVALID_ARG;
    st = ckv_tlog_store_latest_checkpoint(s, &note, &cp);
    if (st != CKV_OK)
        return st;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        st = store_set_error(s, CKV_ERR_IO, "cannot create the export directory");
        goto out;
    }
    ckv_tlog_tile_iter_init(&it, cp.size, true);
    while (ckv_tlog_tile_iter_next(&it, &t)) {
        char rel[CKV_TLOG_TILE_PATH_MAX];
        uint8_t *data = NULL;
        size_t len = 0;
        st = ckv_tlog_tile_path(&t, rel, sizeof rel);
        if (st != CKV_OK)
            goto out;
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        if (t.width == CKV_TLOG_TILE_WIDTH) {
            struct stat sb;
            if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
                (t.level >= 0 ? sb.st_size == CKV_TLOG_TILE_MAX_BYTES : sb.st_size > 0))
                continue; /* immutable and already there */
        }
        st = ckv_tlog_store_read_tile(s, &t, &data, &len);
        if (st == CKV_ERR_NOT_FOUND)
            st = store_set_error(s, CKV_ERR_TLOG_CORRUPT, "a tile of the checkpoint is missing");
        if (st == CKV_OK) {
            st = write_atomic(path, data, len);
            if (st != CKV_OK)
                store_set_error(s, st, "cannot write a tile file");
        }
        free(data);
        if (st != CKV_OK)
            goto out;
    }
    /* the checkpoint last: readers see it only once its tiles exist */
    snprintf(path, sizeof path, "%s/checkpoint", dir);
    st = write_atomic(path, note, strlen(note));
    if (st == CKV_OK)
        st = fsync_dir_of(path);
    if (st != CKV_OK) {
        store_set_error(s, st, "cannot write the checkpoint file");
        goto out;
    }
    if (size_out)
        *size_out = cp.size;
out:
    free(note);
    return st;
}
