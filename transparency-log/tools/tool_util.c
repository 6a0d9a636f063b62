/*
 * tool_util.c: helpers shared by ckv-log and ckv-audit (see tool_util.h).
 * The durable write is the classic temp file + fsync + rename + directory
 * fsync: a crash leaves either the old file or the new one, never a mix.
 */
#include "tool_util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *progname = "ckv";

void tool_set_progname(const char *name)
{
    progname = name;
}

const char *tool_progname(void)
{
    return progname;
}

void tool_err(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", progname);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int tool_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (s == NULL || *s == '\0')
        return -1;
    if (s[0] == '0' && s[1] != '\0')
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

ckv_status tool_read_stream(int fd, size_t cap, uint8_t **data, size_t *len)
{
    ckv_status st = CKV_OK;
    uint8_t *buf = NULL;
    size_t n = 0, alloc = 0;

    for (;;) {
        if (alloc - n < 4096 + 1) {
            size_t na = alloc ? alloc * 2 : 8192;
            if (na > cap + 4096 + 1)
                na = cap + 4096 + 1;
            if (na <= alloc) {
                st = CKV_ERR_TOO_LARGE;
                goto out;
            }
            uint8_t *nb = realloc(buf, na);
            if (nb == NULL) {
                st = CKV_ERR_NOMEM;
                goto out;
            }
            buf = nb;
            alloc = na;
        }
        ssize_t r = read(fd, buf + n, alloc - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            st = CKV_ERR_IO;
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > cap) {
            st = CKV_ERR_TOO_LARGE;
            goto out;
        }
    }
    if (buf == NULL && (buf = malloc(1)) == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    buf = NULL;
out:
    free(buf);
    return st;
}

ckv_status tool_read_file(const char *path, size_t cap, uint8_t **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? CKV_ERR_NOT_FOUND : CKV_ERR_IO;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return CKV_ERR_IO;
    }
    if (!S_ISREG(sb.st_mode)) { /* errno says why, for the caller's message */
        close(fd);
        errno = S_ISDIR(sb.st_mode) ? EISDIR : EINVAL;
        return CKV_ERR_IO;
    }
    if ((uint64_t)sb.st_size > cap) {
        close(fd);
        return CKV_ERR_TOO_LARGE;
    }
    ckv_status st = tool_read_stream(fd, cap, data, len);
    close(fd);
    return st;
}

static ckv_status fsync_dir_of(const char *path)
{
    ckv_status st = CKV_OK;
    char *copy = strdup(path);
    if (copy == NULL)
        return CKV_ERR_NOMEM;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0)
        st = CKV_ERR_IO;
    if (dfd >= 0)
        close(dfd);
    free(copy);
    return st;
}

ckv_status tool_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    ckv_status st = CKV_OK;
    char *tmp = NULL;
    int fd = -1;
    size_t tl = strlen(path) + 32;

    tmp = malloc(tl);
    if (tmp == NULL)
        return CKV_ERR_NOMEM;
    snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        st = CKV_ERR_IO;
        goto out;
    }
    if (fchmod(fd, mode) != 0) {
        st = CKV_ERR_IO;
        goto out;
    }
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            st = CKV_ERR_IO;
            goto out;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        st = CKV_ERR_IO;
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        st = CKV_ERR_IO;
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        st = CKV_ERR_IO;
        goto out;
    }
    st = fsync_dir_of(path);
out:
    if (fd >= 0)
        close(fd);
    if (st != CKV_OK && tmp != NULL) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
    }
    free(tmp);
    return st;
}

ckv_status tool_mkdir_p(const char *path, mode_t mode)
{
    ckv_status st = CKV_OK;
    char *copy = strdup(path);
    if (copy == NULL)
        return CKV_ERR_NOMEM;
    size_t n = strlen(copy);
    for (size_t i = 1; i <= n; i++) {
        if (copy[i] == '/' || copy[i] == '\0') {
            char c = copy[i];
            copy[i] = '\0';
            if (mkdir(copy, mode) != 0 && errno != EEXIST) {
                st = CKV_ERR_IO;
                goto out;
            }
            copy[i] = c;
        }
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        st = CKV_ERR_IO;
out:
    free(copy);
    return st;
}

char *tool_path_join(const char *dir, const char *rel)
{
    size_t a = strlen(dir), b = strlen(rel);
    char *p = malloc(a + b + 2);
    if (p == NULL)
        return NULL;
    memcpy(p, dir, a);
    size_t n = a;
    if (n == 0 || p[n - 1] != '/')
        p[n++] = '/';
    memcpy(p + n, rel, b + 1);
    return p;
}

char *tool_hex(const uint8_t *b, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = malloc(2 * n + 1);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[b[i] >> 4];
        s[2 * i + 1] = digits[b[i] & 15];
    }
    s[2 * n] = '\0';
    return s;
}
