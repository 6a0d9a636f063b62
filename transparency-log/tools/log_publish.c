/*
 * log_publish.c: `ckv-log publish --db PATH --key KEYFILE` and
 * `ckv-log checkpoint --db PATH`. Publish signs a checkpoint for the
 * current tree size (the library stores it durably only after the tree
 * data is committed) and prints the signed note; with nothing new since the
 * latest checkpoint it prints that one (exit 0).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_cmds.h"
#include "log_common.h"
#include "tool_util.h"

static int print_latest(ckv_tlog_store *s, const char *db)
{
    char *note = NULL;
    ckv_status st = ckv_tlog_store_latest_checkpoint(s, &note, NULL);
    if (st == CKV_ERR_NOT_FOUND) {
        tool_err("the log %s has no checkpoint yet; publish one with `ckv-log publish --db %s "
                 "--key KEYFILE`",
                 db, db);
        return TOOL_EXIT_FAIL;
    }
    if (st != CKV_OK)
        return log_fail(s, st, "cannot read the latest checkpoint of %s", db);
    fputs(note, stdout);
    free(note);
    return fflush(stdout) == 0 ? TOOL_EXIT_OK : TOOL_EXIT_FAIL;
}

int log_cmd_publish(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"key", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *key = NULL;
    ckv_tlog_store *s = NULL;
    ckv_tlog_signer *signer = NULL;
    char *note = NULL;
    int c, rc = TOOL_EXIT_FAIL;
    ckv_status st;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'k': key = optarg; break;
        case 'h': log_usage("publish", 0); return TOOL_EXIT_OK;
        default:
            return log_usage_error("publish", "option '%s' is unknown or misses its value",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return log_usage_error("publish", "unexpected argument '%s'", argv[optind]);
    if (db == NULL || key == NULL)
        return log_usage_error("publish", "--db and --key are both required");
    st = ckv_tlog_signer_load(key, &signer);
    if (st != CKV_OK) {
        if (st == CKV_ERR_PERM)
            tool_err("the key file %s is readable or writable by others; run `chmod 600 %s` "
                     "(and consider the key compromised if others could read it)",
                     key, key);
        else
            log_fail(NULL, st, "cannot load the signing key %s", key);
        goto out;
    }
    s = log_open_store(db, false);
    if (s == NULL)
        goto out;
    st = ckv_tlog_store_publish(s, signer, NULL, &note);
    if (st == CKV_ERR_TLOG_NOTHING_TO_PUBLISH) {
        rc = print_latest(s, db);
        goto out;
    }
    if (st == CKV_ERR_TLOG_ORIGIN) {
        tool_err("the key %s is named '%s' but the log's origin is '%s'; use the key created "
                 "by `ckv-log init` for this log",
                 key, ckv_tlog_signer_name(signer), ckv_tlog_store_origin(s));
        goto out;
    }
    if (st != CKV_OK) {
        rc = log_fail(s, st, "cannot publish a checkpoint for %s", db);
        goto out;
    }
    fputs(note, stdout);
    rc = fflush(stdout) == 0 ? TOOL_EXIT_OK : TOOL_EXIT_FAIL;
out:
    free(note);
    ckv_tlog_signer_free(signer);
    ckv_tlog_store_close(s);
    return rc;
}

int log_cmd_checkpoint(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    int c, rc;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'h': log_usage("checkpoint", 0); return TOOL_EXIT_OK;
        default:
            return log_usage_error("checkpoint", "option '%s' is unknown or misses its value",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return log_usage_error("checkpoint", "unexpected argument '%s'", argv[optind]);
    if (db == NULL)
        return log_usage_error("checkpoint", "--db PATH is required");
    ckv_tlog_store *s = log_open_store(db, true);
    if (s == NULL)
        return TOOL_EXIT_FAIL;
    rc = print_latest(s, db);
    ckv_tlog_store_close(s);
    return rc;
}
