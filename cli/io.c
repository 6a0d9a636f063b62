/*
 * io.c: bounded input, all-or-nothing output and one-line errors for the
 * ckv command. Nothing here knows about messaging.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void vline(const char *prefix, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* one line: an embedded line end (e.g. from a file name) becomes a space */
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    fprintf(stderr, "ckv: %s%s\n", prefix, msg);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline("", fmt, ap);
    va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline("warning: ", fmt, ap);
    va_end(ap);
}

int cli_fail(ckv_status st, const char *fmt, ...)
{
    char ctx[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    cli_error("%s: %s", ctx, ckv_strerror(st));
    return 1;
}

int cli_read_all(FILE *f, size_t max, const char *what, char **out, size_t *out_len)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        cli_error("out of memory reading %s", what);
        return -1;
    }
    for (;;) {
        if (len == cap) {
            if (cap > max) {
                free(buf);
                cli_error("%s is larger than %zu bytes; give a smaller input", what, max);
                return -1;
            }
            size_t ncap = cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                cli_error("out of memory reading %s", what);
                return -1;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        cli_error("cannot read %s: %s", what, strerror(errno));
        return -1;
    }
    if (len > max) {
        free(buf);
        cli_error("%s is larger than %zu bytes; give a smaller input", what, max);
        return -1;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
}

int cli_read_file(const char *path, size_t max, char **out, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("cannot open %s: %s; check the path", path, strerror(errno));
        return -1;
    }
    int rc = cli_read_all(f, max, path, out, out_len);
    fclose(f);
    return rc;
}

int cli_write_stdout(const void *buf, size_t len)
{
    if ((len > 0 && fwrite(buf, 1, len, stdout) != len) || fflush(stdout) != 0) {
        cli_error("cannot write the output: %s", strerror(errno));
        return -1;
    }
    return 0;
}
