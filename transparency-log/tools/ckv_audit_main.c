/*
 * ckv_audit_main.c: ckv-audit, the independent auditor of a ckv (or any
 * C2SP tlog-tiles) transparency log: command-line parsing, the verifier
 * key, the help text. The audit itself is audit_check.c.
 *
 * Exit codes (a contract): 0 the log is good; 1 the log misbehaved
 * (evidence written, its path on stderr); 2 usage error; 3 the log could
 * not be reached. `ckv-audit verify-evidence FILE`: 0 the file proves the
 * misbehaviour, 1 it does not, 2 it cannot be read (or usage error).
 */
#include <getopt.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "ckv/evidence.h"
#include "ckv/tlog_note.h"
#include "tool_util.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: ckv-audit [--state DIR] [--full] [--directory [--report FILE]]\n"
                 "                 [--timeout SECONDS] [--quiet] --vkey VKEY URL|DIR\n"
                 "       ckv-audit verify-evidence [--vkey VKEY] [--quiet] FILE\n\n"
                 "Audit a transparency log served as C2SP tlog-tiles, over http(s) or from a\n"
                 "directory (e.g. one written by `ckv-log export`):\n"
                 "  - the checkpoint is signed by VKEY and names VKEY's log (origin);\n"
                 "  - the tree rebuilt from the tiles has the checkpoint's root;\n"
                 "  - the log is consistent with the checkpoint accepted last time (kept in\n"
                 "    the state directory): no rollback, no fork;\n"
                 "  - the entry bundles hash to the level-0 tiles (the entries added since\n"
                 "    the last accepted checkpoint; all of them on a first run);\n"
                 "  - with --directory: every entry is a ckv directory entry of this log and\n"
                 "    every account's chain holds (versions +1, links to the previous\n"
                 "    entry, signatures, register/rotate/reset rules); reads every entry.\n\n"
                 "verify-evidence checks an evidence file written by ckv-audit or a ckv\n"
                 "client: it says what the log's signatures prove and what the writer only\n"
                 "reports; exit 0 when the file proves the misbehaviour, 1 when it does not,\n"
                 "2 when it cannot be read. --vkey pins the log key the file must be about.\n\n"
                 "Options:\n"
                 "  --vkey VKEY      the log's verifier key \"name+hash+base64\" (as printed by\n"
                 "                   `ckv-log init`), or @FILE, or the path of a readable file\n"
                 "                   holding it\n"
                 "  --state DIR      where the last accepted checkpoint and evidence files\n"
                 "                   are kept (default $XDG_STATE_HOME/ckv-audit, else\n"
                 "                   ~/.local/state/ckv-audit); one subdirectory per log key\n"
                 "  --full           rebuild the whole tree from every entry bundle and\n"
                 "                   compare every tile, not only what is new\n"
                 "  --directory      also check the key directory's entries and chains\n"
                 "                   (docs/directory.md) and print a report of the accounts\n"
                 "  --report FILE    with --directory: write the report as JSON to FILE\n"
                 "                   instead of printing it\n"
                 "  --timeout SECS   time limit per HTTP request (default 60)\n"
                 "  --quiet          no progress bar and no summary line\n"
                 "  --help           this text\n\n"
                 "Exit status: 0 the log is good; 1 the log misbehaved (evidence written, its\n"
                 "path printed on stderr); 2 usage error; 3 the log could not be reached.\n"
                 "See ckv-audit(1).\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "ckv-audit: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; try `ckv-audit --help`\n");
    return TOOL_EXIT_USAGE;
}

/* VKEY as a string, @FILE, or the path of a readable file. On success *out
 * (verifier) and *str (the key string, malloc'd) are written. */
static int load_vkey(const char *arg, ckv_tlog_verifier **out, char **str)
{
    uint8_t *data = NULL;
    size_t len = 0;
    const char *path = NULL;
    ckv_tlog_verifier *v = NULL;
    int rc = TOOL_EXIT_USAGE;

    if (arg[0] == '@') {
        path = arg + 1;
    } else if (ckv_tlog_verifier_parse(arg, strlen(arg), &v) == CKV_OK) {
        *str = strdup(arg);
        if (*str == NULL) {
            ckv_tlog_verifier_free(v);
            tool_err("out of memory");
            return TOOL_EXIT_FAIL;
        }
        *out = v;
        return TOOL_EXIT_OK;
    } else if (strchr(arg, '/') != NULL || strchr(arg, '+') == NULL) {
        path = arg; /* looks like a path */
    } else {
        return usage_error("--vkey '%s' is not a valid verifier key (name+hash+base64); "
                           "give the line printed by `ckv-log init`, or @FILE",
                           arg);
    }
    ckv_status st = tool_read_file(path, 4096, &data, &len);
    if (st != CKV_OK) {
        fprintf(stderr,
                "ckv-audit: cannot read the verifier key file %s: %s; give the key string or "
                "a readable file; try `ckv-audit --help`\n",
                path, st == CKV_ERR_NOT_FOUND ? "no such file" : ckv_strerror(st));
        goto out;
    }
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
        data[--len] = '\0';
    if (ckv_tlog_verifier_parse((const char *)data, len, &v) != CKV_OK) {
        fprintf(stderr,
                "ckv-audit: %s does not hold a valid verifier key (name+hash+base64); "
                "try `ckv-audit --help`\n",
                path);
        goto out;
    }
    *str = (char *)data;
    data = NULL;
    *out = v;
    rc = TOOL_EXIT_OK;
out:
    free(data);
    return rc;
}

static void print_lines(const char *title, const char *text)
{
    printf("%s\n", title);
    if (text[0] == 0) {
        printf("  (nothing)\n");
        return;
    }
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        printf("  - %.*s\n", (int)n, p);
        p += n + (nl != NULL);
    }
}

/* ckv-audit verify-evidence [--vkey VKEY] [--quiet] FILE */
static int verify_evidence_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"vkey", required_argument, NULL, 'k'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *vkey_arg = NULL;
    ckv_tlog_verifier *v = NULL;
    char *vstr = NULL;
    ckv_evidence_result *r = NULL;
    int c, quiet = 0, rc;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:", longopts, NULL)) != -1) {
        switch (c) {
        case 'k':
            vkey_arg = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return TOOL_EXIT_OK;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("option '%s' is unknown", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage_error("verify-evidence needs the evidence FILE");
    if (optind + 1 < argc)
        return usage_error("verify-evidence takes one FILE (extra '%s')", argv[optind + 1]);
    if (sodium_init() < 0) {
        tool_err("libsodium could not start; check the installation");
        return TOOL_EXIT_USAGE;
    }
    if (vkey_arg != NULL && (rc = load_vkey(vkey_arg, &v, &vstr)) != TOOL_EXIT_OK) {
        rc = TOOL_EXIT_USAGE;
        goto out;
    }
    r = malloc(sizeof *r);
    if (r == NULL) {
        tool_err("out of memory");
        rc = TOOL_EXIT_USAGE;
        goto out;
    }
    ckv_status st = ckv_evidence_verify_file(argv[optind], vstr, r);
    if (st == CKV_ERR_EVIDENCE_KEY) { /* readable, but about another log */
        tool_err("%s proves nothing about the log of --vkey: %s", argv[optind], r->why_not);
        rc = TOOL_EXIT_FAIL;
        goto out;
    }
    if (st != CKV_OK) {
        tool_err("cannot use %s as evidence: %s %s", argv[optind], r->why_not, ckv_strerror(st));
        rc = TOOL_EXIT_USAGE;
        goto out;
    }
    if (!quiet) {
        printf("%s: %s evidence about log %s\n", argv[optind], r->kind, r->origin);
        print_lines("proven by the log's signatures:", r->proven_by_signatures);
        print_lines("reported by the writer only (not signed by the log):", r->reported);
        if (r->proven)
            printf("verdict: PROVEN: the file proves %s by the log%s\n", r->kind,
                   vstr ? ""
                        : " (check that its verifier key is the log's real key, or pass "
                          "--vkey)");
        else
            printf("verdict: NOT PROVEN: %s\n", r->why_not);
    }
    rc = r->proven ? TOOL_EXIT_OK : TOOL_EXIT_FAIL;
out:
    free(r);
    free(vstr);
    ckv_tlog_verifier_free(v);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"state", required_argument, NULL, 's'},  {"full", no_argument, NULL, 'f'},
        {"vkey", required_argument, NULL, 'k'},   {"timeout", required_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {"directory", no_argument, NULL, 'd'},
        {"report", required_argument, NULL, 'r'}, {NULL, 0, NULL, 0},
    };
    audit_opts o = {0};
    const char *vkey_arg = NULL;
    ckv_tlog_verifier *v = NULL;
    char *vstr = NULL;
    int c, rc;

    tool_set_progname("ckv-audit");
    if (argc >= 2 && strcmp(argv[1], "verify-evidence") == 0)
        return verify_evidence_main(argc - 1, argv + 1);
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            o.state_root = optarg;
            break;
        case 'f':
            o.full = 1;
            break;
        case 'k':
            vkey_arg = optarg;
            break;
        case 'q':
            o.quiet = 1;
            break;
        case 'd':
            o.directory = 1;
            break;
        case 'r':
            o.report_path = optarg;
            break;
        case 't': {
            uint64_t t;
            if (tool_parse_u64(optarg, &t) != 0 || t == 0 || t > 3600)
                return usage_error("--timeout '%s' is not a number of seconds in 1..3600", optarg);
            o.timeout_s = (long)t;
            break;
        }
        case 'h':
            usage(stdout);
            return TOOL_EXIT_OK;
        case 'V':
            printf("ckv-audit 0.1.0\n");
            return TOOL_EXIT_OK;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("option '%s' is unknown", argv[optind - 1]);
        }
    }
    if (vkey_arg == NULL)
        return usage_error("--vkey VKEY is required (the log's verifier key)");
    if (o.report_path != NULL && !o.directory)
        return usage_error("--report FILE needs --directory");
    if (optind >= argc)
        return usage_error("give the log's URL or directory");
    if (optind + 1 < argc)
        return usage_error("too many arguments (from '%s'); give one URL or directory",
                           argv[optind + 1]);
    if (sodium_init() < 0) {
        tool_err("libsodium could not start; check the installation");
        return TOOL_EXIT_FAIL;
    }
    rc = load_vkey(vkey_arg, &v, &vstr);
    if (rc != TOOL_EXIT_OK)
        goto out;
    if (ckv_tlog_verifier_type(v) != CKV_TLOG_KEY_TYPE_ED25519) {
        rc = usage_error("--vkey '%s' is a witness (cosignature) key; give the log's own "
                         "Ed25519 verifier key",
                         vstr);
        goto out;
    }
    o.source = argv[optind];
    o.vkey = v;
    o.vkey_string = vstr;
    rc = audit_run(&o);
out:
    ckv_tlog_verifier_free(v);
    free(vstr);
    return rc;
}
