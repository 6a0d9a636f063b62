/*
 * log_export.c: `ckv-log export --db PATH DIR`: the log as a static C2SP
 * tlog-tiles directory (DIR/checkpoint, DIR/tile/<L>/<N>[.p/<W>],
 * DIR/tile/entries/<N>[.p/<W>]) for the latest checkpoint, partial tiles
 * included. The library writes every file to a temporary name, fsyncs and
 * renames it, tiles first and the checkpoint last, so a web server serving
 * DIR during an export never serves a checkpoint whose tiles are missing.
 */
#include <getopt.h>
#include <stdio.h>

#include "log_cmds.h"
#include "log_common.h"
#include "tool_util.h"

int log_cmd_export(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    uint64_t size = 0;
    int c, rc = TOOL_EXIT_FAIL;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'h': log_usage("export", 0); return TOOL_EXIT_OK;
        default:
            return log_usage_error("export", "option '%s' is unknown or misses its value",
                                   argv[optind - 1]);
        }
    }
    if (db == NULL)
        return log_usage_error("export", "--db PATH is required");
    if (optind >= argc)
        return log_usage_error("export", "give the output directory DIR");
    if (optind + 1 < argc)
        return log_usage_error("export", "unexpected argument '%s'", argv[optind + 1]);
    const char *dir = argv[optind];
    ckv_tlog_store *s = log_open_store(db, true);
    if (s == NULL)
        return TOOL_EXIT_FAIL;
    ckv_status st = ckv_tlog_store_export(s, dir, &size);
    if (st == CKV_ERR_NOT_FOUND) {
        tool_err("the log %s has no checkpoint to export yet; run `ckv-log publish` first", db);
    } else if (st != CKV_OK) {
        log_fail(s, st, "cannot export the log to %s", dir);
    } else {
        printf("exported tree size %llu to %s\n", (unsigned long long)size, dir);
        rc = fflush(stdout) == 0 ? TOOL_EXIT_OK : TOOL_EXIT_FAIL;
    }
    ckv_tlog_store_close(s);
    return rc;
}
