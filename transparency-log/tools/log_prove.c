/*
 * log_prove.c: `ckv-log prove --db PATH --index I [--size N]` (inclusion
 * proof, RFC 9162 §2.1.3) and `ckv-log prove --db PATH --old M --new N`
 * (consistency proof, RFC 9162 §2.1.4), printed as one line of JSON:
 *   {"leaf_index":I,"tree_size":N,"leaf_hash":"hex","path":["hex",...]}
 *   {"old_size":M,"new_size":N,"old_root":"hex","new_root":"hex","path":[...]}
 * The JSON is produced by the library (jansson). The default --size is
 * the latest checkpoint's, so the proof matches what auditors have seen.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "log_cmds.h"
#include "log_common.h"
#include "tool_util.h"

static int parse_num(const char *opt, const char *arg, uint64_t *out)
{
    if (tool_parse_u64(arg, out) != 0 || *out >= (UINT64_C(1) << 63))
        return log_usage_error("prove", "%s '%s' is not a non-negative decimal number", opt,
                               arg);
    return TOOL_EXIT_OK;
}

int log_cmd_prove(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, 'd'},  {"index", required_argument, NULL, 'i'},
        {"size", required_argument, NULL, 's'}, {"old", required_argument, NULL, 'o'},
        {"new", required_argument, NULL, 'n'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    uint64_t index = 0, size = 0, old_size = 0, new_size = 0;
    int has_index = 0, has_size = 0, has_old = 0, has_new = 0;
    ckv_tlog_store *s = NULL;
    ckv_tlog_inclusion_proof *ip = NULL;
    ckv_tlog_consistency_proof *cp = NULL;
    char *json = NULL;
    int c, rc = TOOL_EXIT_FAIL;
    ckv_status st;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'i':
            if ((rc = parse_num("--index", optarg, &index)) != 0)
                return rc;
            has_index = 1;
            break;
        case 's':
            if ((rc = parse_num("--size", optarg, &size)) != 0)
                return rc;
            has_size = 1;
            break;
        case 'o':
            if ((rc = parse_num("--old", optarg, &old_size)) != 0)
                return rc;
            has_old = 1;
            break;
        case 'n':
            if ((rc = parse_num("--new", optarg, &new_size)) != 0)
                return rc;
            has_new = 1;
            break;
        case 'h': log_usage("prove", 0); return TOOL_EXIT_OK;
        default:
            return log_usage_error("prove", "option '%s' is unknown or misses its value",
                                   argv[optind - 1]);
        }
    }
    rc = TOOL_EXIT_FAIL;
    if (optind < argc)
        return log_usage_error("prove", "unexpected argument '%s'", argv[optind]);
    if (db == NULL)
        return log_usage_error("prove", "--db PATH is required");
    if (has_index && (has_old || has_new))
        return log_usage_error("prove", "give either --index (inclusion) or --old and --new "
                                        "(consistency), not both");
    if (!has_index && !(has_old && has_new))
        return log_usage_error("prove", "give --index I [--size N], or --old M --new N");
    if (has_size && !has_index)
        return log_usage_error("prove", "--size goes with --index");
    if (has_old && old_size > new_size)
        return log_usage_error("prove", "--old %llu is larger than --new %llu",
                               (unsigned long long)old_size, (unsigned long long)new_size);

    s = log_open_store(db, true);
    if (s == NULL)
        goto out;
    if (has_index) {
        if (!has_size) {
            ckv_tlog_checkpoint chk;
            st = ckv_tlog_store_latest_checkpoint(s, NULL, &chk);
            if (st == CKV_ERR_NOT_FOUND) {
                tool_err("the log has no checkpoint yet; publish one or give --size N");
                goto out;
            }
            if (st != CKV_OK) {
                rc = log_fail(s, st, "cannot read the latest checkpoint");
                goto out;
            }
            size = chk.size;
        }
        if (index >= size || size > ckv_tlog_store_size(s)) {
            tool_err("entry %llu is not in a tree of size %llu (the log holds %llu entries); "
                     "choose --index below the size and a --size up to the log's size",
                     (unsigned long long)index, (unsigned long long)size,
                     (unsigned long long)ckv_tlog_store_size(s));
            goto out;
        }
        ip = malloc(sizeof(*ip));
        if (ip == NULL) {
            rc = log_fail(s, CKV_ERR_NOMEM, "cannot build the proof");
            goto out;
        }
        st = ckv_tlog_store_inclusion_proof(s, index, size, ip);
        if (st == CKV_OK)
            st = ckv_tlog_inclusion_proof_to_json(ip, &json);
    } else {
        if (new_size > ckv_tlog_store_size(s)) {
            tool_err("--new %llu is larger than the log (%llu entries); choose a size up to "
                     "the log's size",
                     (unsigned long long)new_size, (unsigned long long)ckv_tlog_store_size(s));
            goto out;
        }
        cp = malloc(sizeof(*cp));
        if (cp == NULL) {
            rc = log_fail(s, CKV_ERR_NOMEM, "cannot build the proof");
            goto out;
        }
        st = ckv_tlog_store_consistency_proof(s, old_size, new_size, cp);
        if (st == CKV_OK)
            st = ckv_tlog_consistency_proof_to_json(cp, &json);
    }
    if (st != CKV_OK) {
        rc = log_fail(s, st, "cannot build the proof");
        goto out;
    }
    printf("%s\n", json);
    rc = fflush(stdout) == 0 ? TOOL_EXIT_OK : TOOL_EXIT_FAIL;
out:
    free(json);
    free(ip);
    free(cp);
    ckv_tlog_store_close(s);
    return rc;
}
