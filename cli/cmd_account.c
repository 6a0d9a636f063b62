/*
 * cmd_account.c: `ckv register`, `ckv rotate` and `ckv reset` (docs/cli.md,
 * "Online"): publish our identity key in the directory (a register, rotate
 * or reset entry in the log) and upload prekeys, with an optional recovery
 * code (shown once, never stored) and the one a reset must carry.
 */
#include "online.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <ckv/client.h>
#include <ckv/fingerprint.h>
#include <ckv/profile.h>

const char cli_help_register[] =
    "usage: ckv [--profile NAME] register [--new-recovery-code]\n"
    "Register the profile's account name on the pinned server: a signed\n"
    "`register` entry is appended to the key transparency log, and the signed\n"
    "prekey and one-time prekeys are uploaded. Run again to re-upload prekeys.\n"
    "Fails when someone else holds the name.\n"
    "  --new-recovery-code  protect the account with a recovery code: printed\n"
    "                       once on stdout as 'recovery-code: ...' (never\n"
    "                       stored); a later reset must carry it. Write it down\n"
    "                       and keep it offline.\n" HELP_TAIL;
const char cli_help_rotate[] =
    "usage: ckv [--profile NAME] rotate [--new-recovery-code]\n"
    "Replace our identity key: a `rotate` entry signed by the old key is\n"
    "logged, new prekeys are uploaded. Contacts see a key change (and those\n"
    "who verified us must verify again). Prints our new public code.\n"
    "  --new-recovery-code  also protect the account with a new recovery code\n"
    "                       (replacing any old one), printed once on stdout.\n" HELP_TAIL;
const char cli_help_reset[] =
    "usage: ckv [--profile NAME] reset [--recovery-code CODE|-] [--new-recovery-code]\n"
    "Replace our identity key without the old key's signature (a `reset`\n"
    "entry, for a lost or compromised device): use it from a new profile\n"
    "created with 'ckv init' under the same account name. Contacts see a key\n"
    "change. Prints our new public code.\n"
    "  --recovery-code CODE  the account's recovery code, when it has one\n"
    "                        ('-': read it from stdin)\n"
    "  --new-recovery-code   protect the account with a new code (printed once)\n" HELP_TAIL;

/* ---- register, rotate, reset -------------------------------------------------- */

static int print_public_code(ckv_profile *p)
{
    char digits[CKV_PUBLIC_CODE_DIGITS + 1], fmt[64];
    if (ckv_profile_public_code(p, digits) != CKV_OK ||
        ckv_fingerprint_format(digits, fmt, sizeof(fmt)) != CKV_OK)
        return 0;
    printf("public-code: %s\n", fmt);
    return 0;
}

/* Read a recovery code from stdin (one line). */
static int read_code_stdin(char *out, size_t cap)
{
    if (fgets(out, (int)cap, stdin) == NULL)
        return -1;
    out[strcspn(out, "\r\n")] = 0;
    return 0;
}

static int account_op(struct cli_globals *g, int argc, char **argv, const char *name)
{
    static const struct option reg_opts[] = {
        {"new-recovery-code", no_argument, NULL, OPT_NEW_RECOVERY_CODE},
        {NULL, 0, NULL, 0},
    };
    static const struct option reset_opts[] = {
        {"recovery-code", required_argument, NULL, OPT_RECOVERY_CODE},
        {"new-recovery-code", no_argument, NULL, OPT_NEW_RECOVERY_CODE},
        {NULL, 0, NULL, 0},
    };
    const struct cli_command *cmd = cli_command_find(name);
    int is_reset = strcmp(name, "reset") == 0;
    ckv_profile *p = NULL;
    ckv_client *c = NULL;
    ckv_recovery rec;
    char code[128] = "";
    int rc = 0, o;

    memset(&rec, 0, sizeof(rec));
    while ((o = cli_getopt(g, cmd, argc, argv, "", is_reset ? reset_opts : reg_opts)) != -1) {
        if (o == 'h')
            return 0;
        if (o == '?')
            return 2;
        if (o == OPT_NEW_RECOVERY_CODE)
            rec.new_code = 1;
        if (o == OPT_RECOVERY_CODE) {
            if (strcmp(optarg, "-") == 0
                    ? read_code_stdin(code, sizeof(code)) != 0
                    : snprintf(code, sizeof(code), "%s", optarg) >= (int)sizeof(code))
                return cli_usage(cmd, "bad --recovery-code: give the code printed at "
                                      "registration (or '-' and the code on stdin)");
            rec.code = code;
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (cli_online_open(g, name, 0, &p, &c) != 0)
        return 1;
    ckv_status st;
    if (strcmp(name, "register") == 0)
        st = ckv_client_register_recovery(c, &rec);
    else if (strcmp(name, "rotate") == 0)
        st = ckv_client_rotate_recovery(c, &rec);
    else
        st = ckv_client_reset_recovery(c, &rec);
    if (rec.new_code_sent) {
        /* also when the answer was lost: the server may hold it now */
        printf("recovery-code: %s\n", rec.new_code_out);
        fflush(stdout);
        fprintf(stderr,
                "ckv: write the recovery code down and keep it offline: a reset of "
                "'%s' needs it (it is not stored anywhere)\n",
                ckv_profile_account(p));
    }
    if (st == CKV_ERR_DIR_NAME_TAKEN) {
        rc = cli_online_say(c, st,
                            "%s: '%s' is registered already by another key; choose another "
                            "account name (or 'ckv reset' if you lost that key)",
                            name, ckv_profile_account(p));
    } else if (st == CKV_ERR_NOT_REGISTERED) {
        rc = cli_online_say(c, st, "%s: '%s' is not registered; run 'ckv register' first", name,
                            ckv_profile_account(p));
    } else if (st == CKV_ERR_RECOVERY) {
        rc = cli_online_say(c, st,
                            "%s: '%s' is protected by a recovery code; give it with "
                            "--recovery-code (as printed at registration)%s",
                            name, ckv_profile_account(p),
                            rec.code ? ": the one given is wrong" : "");
    } else if (st == CKV_ERR_INVALID_ARG) { /* the core's sentence says what to change */
        rc =
            cli_online_say(c, st, "%s: nothing was changed for '%s'", name, ckv_profile_account(p));
    } else if (st != CKV_OK) {
        rc = cli_online_fail(c, st,
                             "%s: '%s' failed; nothing was changed unless the server said "
                             "so; run it again",
                             name, ckv_profile_account(p));
    } else {
        rc = 0;
        if (strcmp(name, "register") == 0) {
            fprintf(stderr, "ckv: '%s' is registered and its key is in the log\n",
                    ckv_profile_account(p));
        } else {
            fprintf(stderr,
                    "ckv: '%s' has a new identity key (%s); contacts will see a key "
                    "change\n",
                    ckv_profile_account(p), name);
            print_public_code(p);
        }
    }
    sodium_memzero(code, sizeof(code));
    sodium_memzero(&rec, sizeof(rec));
    cli_online_close(p, c);
    return rc;
}

int cmd_register(struct cli_globals *g, int argc, char **argv)
{
    return account_op(g, argc, argv, "register");
}

int cmd_rotate(struct cli_globals *g, int argc, char **argv)
{
    return account_op(g, argc, argv, "rotate");
}

int cmd_reset(struct cli_globals *g, int argc, char **argv)
{
    return account_op(g, argc, argv, "reset");
}
