/*
 * cmd_directory.c: `ckv lookup`, `ckv add` and `ckv monitor` (docs/cli.md,
 * "Online"): a name's checked directory entry, a contact added from the
 * directory, and following the log for keys under our own name that this
 * profile did not create (with --acknowledge for one looked at).
 */
#include "online.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include <ckv/client.h>
#include <ckv/contact.h>
#include <ckv/fingerprint.h>
#include <ckv/profile.h>

const char cli_help_lookup[] =
    "usage: ckv [--profile NAME] lookup NAME\n"
    "Look NAME up in the key directory with every check (leaf hash, name,\n"
    "inclusion proof, checkpoint signature, consistency with our view of the\n"
    "log, the account's chain) and print the checked entry on stdout, one\n"
    "'field: value' a line: name, version, type (register, rotate, reset), key\n"
    "(hex), fingerprint (NAME's 30-digit public code for that key), leaf-index,\n"
    "entry-time, checkpoint-size.\n" HELP_TAIL;
const char cli_help_add[] =
    "usage: ckv [--profile NAME] add NAME\n"
    "Add NAME as a contact from the directory: the checked lookup, a prekey\n"
    "bundle whose identity key must equal the logged key, and a session.\n"
    "The contact starts as 'logged'.\n" HELP_TAIL;
const char cli_help_monitor[] =
    "usage: ckv [--profile NAME] monitor [--acknowledge LEAF]\n"
    "Follow the log from the last checkpoint this profile read (a fresh\n"
    "profile reads the whole log once) and check every entry under our own\n"
    "name. Prints tree-size, entries-read, own-entries, earlier-entries,\n"
    "foreign-entries and foreign-acknowledged on stdout (and\n"
    "last-foreign-leaf when there is one). Exits 3 with one line on stderr,\n"
    "and nothing on stdout, while the log holds a key under our name that\n"
    "this profile did not create after its own first entry (someone\n"
    "registered, rotated or reset our account) and that was not\n"
    "acknowledged. Entries older than this profile's first own entry (the\n"
    "keys a reset from a new device replaced) are counted as earlier-entries,\n"
    "not as an alarm.\n"
    "  --acknowledge LEAF  after looking at the alarm: LEAF must be the latest\n"
    "                      such entry (the alarm names it); the alarm stops for\n"
    "                      it and every one before, and comes back for any later\n"
    "                      one\n" HELP_TAIL;

static const char *type_name(int t)
{
    return t == 1 ? "register" : t == 2 ? "rotate" : t == 3 ? "reset" : "unknown";
}

/* "05ab..." for a key, and a contact's trust state sentence. */
static void key_hex(const uint8_t key[33], char out[67])
{
    sodium_bin2hex(out, 67, key, 33);
}

/* ---- lookup, add, monitor ----------------------------------------------------- */

/* The positional NAME of lookup/add; -1 to go on, else the exit status. */
static int one_name(const struct cli_command *cmd, int argc, char **argv, const char **name)
{
    if (optind >= argc)
        return cli_usage(cmd, "the account name is missing");
    if (optind + 1 < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind + 1]);
    *name = argv[optind];
    char norm[CKV_NAME_MAX + 1];
    if (ckv_name_normalize(*name, norm) != CKV_OK) {
        cli_error("%s: bad account name '%s': use 1-%d characters from a-z 0-9 . _ + @ -",
                  cmd->name, *name, CKV_NAME_MAX);
        return 2;
    }
    return -1;
}

int cmd_lookup(struct cli_globals *g, int argc, char **argv)
{
    const struct cli_command *cmd = cli_command_find("lookup");
    const char *name = NULL;
    ckv_profile *p = NULL;
    ckv_client *c = NULL;
    ckv_key_info ki;
    char hex[67], digits[CKV_PUBLIC_CODE_DIGITS + 1], code[64], when[32];
    int rc = cli_online_options(g, cmd, argc, argv, NULL, NULL);
    if (rc >= 0)
        return rc;
    if ((rc = one_name(cmd, argc, argv, &name)) >= 0)
        return rc;
    if (cli_online_open(g, "lookup", 0, &p, &c) != 0)
        return 1;
    ckv_status st = ckv_client_lookup(c, name, &ki);
    if (st == CKV_OK)
        st = ckv_fingerprint_half(ki.name, ki.key, CKV_FINGERPRINT_ITERATIONS, digits, NULL);
    if (st == CKV_OK)
        st = ckv_fingerprint_format(digits, code, sizeof(code));
    if (st != CKV_OK) {
        rc = cli_name_fail(c, st, "lookup", name, "");
        goto out;
    }
    key_hex(ki.key, hex);
    time_t t = (time_t)ki.entry_time;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(when, sizeof(when), "%lld", (long long)ki.entry_time);
    printf("name: %s\nversion: %llu\ntype: %s\nkey: %s\nfingerprint: %s\nleaf-index: %llu\n"
           "entry-time: %s\ncheckpoint-size: %llu\n",
           ki.name, (unsigned long long)ki.version, type_name(ki.type), hex, code,
           (unsigned long long)ki.leaf_index, when, (unsigned long long)ki.tree_size);
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    cli_online_close(p, c);
    return rc;
}

int cmd_add(struct cli_globals *g, int argc, char **argv)
{
    const struct cli_command *cmd = cli_command_find("add");
    const char *name = NULL;
    ckv_profile *p = NULL;
    ckv_client *c = NULL;
    ckv_trust_report r;
    long max_age = 0;
    int rc = cli_online_options(g, cmd, argc, argv, &max_age, NULL);
    if (rc >= 0)
        return rc;
    if ((rc = one_name(cmd, argc, argv, &name)) >= 0)
        return rc;
    if (cli_online_open(g, "add", max_age, &p, &c) != 0)
        return 1;
    memset(&r, 0, sizeof(r));
    char norm[CKV_NAME_MAX + 1];
    if (ckv_name_normalize(name, norm) == CKV_OK && strcmp(norm, ckv_profile_account(p)) == 0) {
        cli_error("add: '%s' is this profile's own account; add someone else", norm);
        cli_online_close(p, c);
        return 1;
    }
    ckv_status st = ckv_client_add_contact(c, name, &r);
    if (st != CKV_OK) {
        rc = cli_name_fail(c, st, "add", name, "; no contact was added");
    } else {
        cli_report_added(name, &r);
        rc = 0;
    }
    cli_online_close(p, c);
    return rc;
}

int cmd_monitor(struct cli_globals *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"acknowledge", required_argument, NULL, OPT_ACKNOWLEDGE},
        {NULL, 0, NULL, 0},
    };
    const struct cli_command *cmd = cli_command_find("monitor");
    ckv_profile *p = NULL;
    ckv_client *c = NULL;
    ckv_monitor_report m;
    unsigned long long ack = 0;
    int has_ack = 0, rc = 0, o;
    while ((o = cli_getopt(g, cmd, argc, argv, "", opts)) != -1) {
        char *end = NULL;
        if (o == 'h')
            return 0;
        if (o == '?')
            return 2;
        if (o == OPT_ACKNOWLEDGE) {
            errno = 0;
            ack = strtoull(optarg, &end, 10);
            if (!optarg[0] || optarg[0] == '-' || optarg[0] == '+' || *end || errno != 0)
                return cli_usage(cmd,
                                 "bad --acknowledge '%s': give the leaf number the alarm "
                                 "names",
                                 optarg);
            has_ack = 1;
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (cli_online_open(g, "monitor", 0, &p, &c) != 0)
        return 1;
    memset(&m, 0, sizeof(m));
    ckv_status st = ckv_client_monitor(c, &m);
    if (st == CKV_ERR_KT_FOREIGN_ENTRY && has_ack) {
        /* the log is read up to now: acknowledge, then report afresh */
        st = ckv_client_monitor_acknowledge(c, ack);
        if (st != CKV_OK) {
            rc = cli_online_fail(c, st, "monitor: cannot acknowledge");
            goto out;
        }
        memset(&m, 0, sizeof(m));
        st = ckv_client_monitor(c, &m);
    } else if (st == CKV_OK && has_ack && !(m.foreign_entries > 0 && m.last_foreign_index == ack)) {
        /* (acknowledging the latest again is no error) */
        cli_error("monitor: nothing to acknowledge at leaf %llu: no entry under your name '%s' "
                  "that this profile did not create is waiting for it",
                  ack, ckv_profile_account(p));
        rc = 1;
        goto out;
    }
    if (st == CKV_ERR_KT_FOREIGN_ENTRY) {
        uint64_t n = m.foreign_entries - m.foreign_acknowledged;
        cli_error("monitor: ALARM: log entry %llu puts a key under your name '%s' that this "
                  "profile did not create (%llu such entr%s not acknowledged; the latest at "
                  "leaf %llu): someone else registered, rotated or reset your account; warn "
                  "your contacts to compare safety numbers. If it was you (a reset from a new "
                  "device), `ckv monitor --acknowledge %llu` stops this alarm until another "
                  "such entry appears",
                  (unsigned long long)m.foreign_index, ckv_profile_account(p),
                  (unsigned long long)n, n == 1 ? "y" : "ies",
                  (unsigned long long)m.last_foreign_index,
                  (unsigned long long)m.last_foreign_index);
        rc = 3;
    } else if (st != CKV_OK) {
        rc = cli_online_fail(c, st, "monitor: cannot follow the log");
    } else {
        printf("tree-size: %llu\nentries-read: %llu\nown-entries: %llu\nearlier-entries: "
               "%llu\nforeign-entries: %llu\nforeign-acknowledged: %llu\n",
               (unsigned long long)m.tree_size, (unsigned long long)m.entries_read,
               (unsigned long long)m.own_entries, (unsigned long long)m.earlier_entries,
               (unsigned long long)m.foreign_entries, (unsigned long long)m.foreign_acknowledged);
        if (m.foreign_entries > 0)
            printf("last-foreign-leaf: %llu\n", (unsigned long long)m.last_foreign_index);
        rc = fflush(stdout) == 0 ? 0 : 1;
    }
out:
    cli_online_close(p, c);
    return rc;
}
