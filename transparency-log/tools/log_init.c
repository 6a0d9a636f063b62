/*
 * log_init.c: `ckv-log init --db PATH --origin ORIGIN --key KEYFILE`.
 * Creates the signing key first (the key file must not exist; 0600, the
 * secret string wiped after use), then the database; if the database
 * cannot be created the new key file is removed again, so a failed init
 * leaves nothing behind. The key's name is the origin (C2SP convention:
 * the checkpoint's origin names the log's key).
 */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log_cmds.h"
#include "log_common.h"
#include "tool_util.h"

int log_cmd_init(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"origin", required_argument, NULL, 'o'},
        {"key", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *origin = NULL, *key = NULL;
    char *skey = NULL, *vkey = NULL;
    ckv_tlog_store *s = NULL;
    int c, rc = TOOL_EXIT_FAIL, key_written = 0;
    struct stat sb;
    ckv_status st;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'o': origin = optarg; break;
        case 'k': key = optarg; break;
        case 'h': log_usage("init", 0); return TOOL_EXIT_OK;
        default:
            return log_usage_error("init", "option '%s' is unknown or misses its value",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return log_usage_error("init", "unexpected argument '%s'", argv[optind]);
    if (db == NULL || origin == NULL || key == NULL)
        return log_usage_error("init", "--db, --origin and --key are all required");
    if (stat(db, &sb) == 0)
        return log_fail(NULL, CKV_ERR_EXISTS, "%s already exists; choose a new --db path", db);
    st = ckv_tlog_signer_generate(origin, &skey, &vkey);
    if (st != CKV_OK) {
        if (st == CKV_ERR_TLOG_BAD_KEY || st == CKV_ERR_INVALID_ARG)
            return log_usage_error("init",
                                   "--origin '%s' is not a valid log name (1..255 printable "
                                   "bytes without spaces or '+')",
                                   origin);
        rc = log_fail(NULL, st, "cannot generate a signing key");
        goto out;
    }
    st = ckv_tlog_skey_save(key, skey);
    if (st != CKV_OK) {
        rc = log_fail(NULL, st, "cannot write the key file %s%s", key,
                      st == CKV_ERR_EXISTS ? " (it exists; choose a new --key path)" : "");
        goto out;
    }
    key_written = 1;
    st = ckv_tlog_store_create(db, origin, NULL, &s);
    if (st != CKV_OK) {
        rc = log_fail(NULL, st, "cannot create the log database %s", db);
        goto out;
    }
    key_written = 0; /* the log exists now: keep its key whatever happens */
    printf("%s\n", vkey);
    if (fflush(stdout) != 0) {
        rc = log_fail(NULL, CKV_ERR_IO, "cannot print the verifier key");
        goto out;
    }
    rc = TOOL_EXIT_OK;
out:
    if (rc != TOOL_EXIT_OK && key_written)
        unlink(key);
    ckv_tlog_store_close(s);
    if (skey) {
        sodium_memzero(skey, strlen(skey));
        free(skey);
    }
    free(vkey);
    return rc;
}
