/*
 * keyfile.c: signer key files. A key file holds one signer key string and
 * a newline, mode 0600, created exclusively and fsynced. Loading refuses a
 * file that group or others may read or write, or that is not a regular
 * file, so a leaked permission is noticed instead of silently used.
 */
#include "ckv/tlog_note.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYFILE_MAX 1024

ckv_status ckv_tlog_signer_load(const char *path, ckv_tlog_signer **out)
{
    char buf[KEYFILE_MAX + 1];
    struct stat sb;
    ckv_status st = CKV_ERR_IO;
    size_t len = 0;
    int fd;
    if (path == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? CKV_ERR_NOT_FOUND : CKV_ERR_IO;
    if (fstat(fd, &sb) != 0)
        goto out;
    if (!S_ISREG(sb.st_mode)) {
        st = CKV_ERR_TLOG_BAD_KEY;
        goto out;
    }
    if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
        st = CKV_ERR_PERM;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof buf - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > KEYFILE_MAX) {
            st = CKV_ERR_TLOG_BAD_KEY;
            goto out;
        }
    }
    st = ckv_tlog_signer_parse(buf, len, out);
out:
    sodium_memzero(buf, sizeof buf);
    close(fd);
    return st;
}

ckv_status ckv_tlog_skey_save(const char *path, const char *skey)
{
    ckv_status st = CKV_ERR_IO;
    int fd;
    if (path == NULL || skey == NULL)
        return CKV_ERR_INVALID_ARG;
    size_t len = strlen(skey);
    if (len == 0 || len > KEYFILE_MAX - 1)
        return CKV_ERR_INVALID_ARG;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return errno == EEXIST ? CKV_ERR_EXISTS : CKV_ERR_IO;
    if (fchmod(fd, 0600) != 0)
        goto out;
    size_t off = 0;
    while (off < len + 1) {
        ssize_t w = off < len ? write(fd, skey + off, len - off) : write(fd, "\n", 1);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0)
        goto out;
    st = CKV_OK;
out:
    if (close(fd) != 0 && st == CKV_OK)
        st = CKV_ERR_IO;
    if (st != CKV_OK)
        unlink(path);
    return st;
}
