/*
 * log_append.c: `ckv-log append --db PATH [FILE...]`.
 * Without FILE: each line of stdin is one entry (the '\n' is not part of
 * it; a final line without '\n' counts; an empty line is an empty entry).
 * With FILEs: each file's whole content is one entry.
 * Entries are appended in batches of BATCH, each batch one durable
 * transaction (the library integrates them into the tree at once), so a
 * crash keeps whole batches and never a part of one. Memory stays bounded
 * (one batch) whatever the size of the input.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_cmds.h"
#include "log_common.h"
#include "tool_util.h"

enum { BATCH = 1000 };

struct batch {
    ckv_tlog_entry e[BATCH];
    uint8_t *owned[BATCH];
    size_t n;
    uint64_t appended;
    uint64_t first;
};

static void batch_clear(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->owned[i]);
    b->n = 0;
}

static ckv_status batch_flush(ckv_tlog_store *s, struct batch *b)
{
    uint64_t first = 0;
    if (b->n == 0)
        return CKV_OK;
    ckv_status st = ckv_tlog_store_append(s, b->e, b->n, &first);
    if (st == CKV_OK) {
        if (b->appended == 0)
            b->first = first;
        b->appended += b->n;
    }
    batch_clear(b);
    return st;
}

/* Takes ownership of data. */
static ckv_status batch_add(ckv_tlog_store *s, struct batch *b, uint8_t *data, size_t len)
{
    b->owned[b->n] = data;
    b->e[b->n].data = data;
    b->e[b->n].len = len;
    b->n++;
    return b->n == BATCH ? batch_flush(s, b) : CKV_OK;
}

static int report(ckv_tlog_store *s, const struct batch *b)
{
    if (b->appended == 0)
        printf("appended 0 entries; tree size %llu\n",
               (unsigned long long)ckv_tlog_store_size(s));
    else
        printf("appended %llu entries (index %llu to %llu); tree size %llu\n",
               (unsigned long long)b->appended, (unsigned long long)b->first,
               (unsigned long long)(b->first + b->appended - 1),
               (unsigned long long)ckv_tlog_store_size(s));
    return fflush(stdout) == 0 ? TOOL_EXIT_OK : TOOL_EXIT_FAIL;
}

int log_cmd_append(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    ckv_tlog_store *s = NULL;
    struct batch *b = NULL;
    char *line = NULL;
    size_t cap = 0;
    uint64_t lineno = 0;
    int c, rc = TOOL_EXIT_FAIL;
    ckv_status st = CKV_OK;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'h': log_usage("append", 0); return TOOL_EXIT_OK;
        default:
            return log_usage_error("append", "option '%s' is unknown or misses its value",
                                   argv[optind - 1]);
        }
    }
    if (db == NULL)
        return log_usage_error("append", "--db PATH is required");
    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        rc = log_fail(NULL, CKV_ERR_NOMEM, "cannot append");
        goto out;
    }
    s = log_open_store(db, false);
    if (s == NULL)
        goto out;
    if (optind < argc) {
        for (int i = optind; i < argc; i++) {
            uint8_t *data = NULL;
            size_t len = 0;
            st = tool_read_file(argv[i], CKV_TLOG_ENTRY_MAX, &data, &len);
            if (st != CKV_OK) {
                if (st == CKV_ERR_TOO_LARGE)
                    tool_err("%s is larger than %d bytes, the largest entry a log accepts; "
                             "nothing was appended",
                             argv[i], CKV_TLOG_ENTRY_MAX);
                else
                    tool_err("cannot read %s: %s; nothing was appended", argv[i],
                             st == CKV_ERR_NOT_FOUND ? "no such file" : strerror(errno));
                goto out;
            }
            /* all files go in together when they fit one batch */
            st = batch_add(s, b, data, len);
            if (st != CKV_OK) {
                rc = log_fail(s, st, "cannot append %s", argv[i]);
                goto out;
            }
        }
    } else {
        for (;;) {
            errno = 0;
            ssize_t n = getline(&line, &cap, stdin);
            if (n < 0) {
                if (ferror(stdin)) {
                    tool_err("cannot read stdin: %s", strerror(errno));
                    goto flush_then_fail;
                }
                break;
            }
            lineno++;
            size_t len = (size_t)n;
            if (len > 0 && line[len - 1] == '\n')
                len--;
            if (len > CKV_TLOG_ENTRY_MAX) {
                tool_err("line %llu of stdin is %zu bytes, more than the %d a log entry may "
                         "hold; split it or append it as a FILE",
                         (unsigned long long)lineno, len, CKV_TLOG_ENTRY_MAX);
                goto flush_then_fail;
            }
            uint8_t *data = malloc(len ? len : 1);
            if (data == NULL) {
                rc = log_fail(s, CKV_ERR_NOMEM, "cannot append line %llu",
                              (unsigned long long)lineno);
                goto out;
            }
            memcpy(data, line, len);
            st = batch_add(s, b, data, len);
            if (st != CKV_OK) {
                rc = log_fail(s, st, "cannot append (after %llu entries were appended)",
                              (unsigned long long)b->appended);
                goto out;
            }
        }
    }
    st = batch_flush(s, b);
    if (st != CKV_OK) {
        rc = log_fail(s, st, "cannot append (after %llu entries were appended)",
                      (unsigned long long)b->appended);
        goto out;
    }
    rc = report(s, b);
    goto out;

flush_then_fail:
    /* Lines before the bad one are kept only in whole committed batches;
     * the current partial batch is dropped so the failure is clear. */
    tool_err("%llu entries were appended before the failure; nothing after it",
             (unsigned long long)b->appended);
out:
    if (b)
        batch_clear(b);
    free(b);
    free(line);
    ckv_tlog_store_close(s);
    return rc;
}
