/*
 * main.c: the ckv command: global options, the table of subcommands with
 * their help texts, and the dispatch.
 *
 *   ckv [--profile NAME] [--passphrase-file FILE] COMMAND [ARGS]
 *
 * Global options come before the command; for convenience every command
 * accepts them after its name too. The texts here are the reference for
 * docs/cli.md and docs/man/ckv.1: keep the three in step.
 */
#include "cli.h"
#include "online.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define PASS_HELP \
    "The passphrase comes from the first line of --passphrase-file FILE, else\n" \
    "from the environment variable CKV_PASSPHRASE, else a prompt on the terminal.\n"

const struct cli_command cli_commands[] = {
    {"init", cmd_init, "init --name ACCOUNT [--server URL]\tcreate the profile (online with\n"
     "                                   --server URL --log-key VKEY)",
     "usage: ckv [--profile NAME] init --name ACCOUNT [--kdf COST]\n"
     "                                [--server URL --log-key VKEY|@FILE]\n"
     "                                [--witness VKEY|@FILE]... [--quorum K]\n"
     "Create a new profile (identity key pair, registration id, a signed prekey\n"
     "and a batch of one-time prekeys) for the account name ACCOUNT, sealed with\n"
     "a new passphrase (asked twice on a terminal).\n" PASS_HELP
     "The profile lives in $XDG_DATA_HOME/ckv/NAME/ (default ~/.local/share).\n"
     "ACCOUNT is normalised (lower case; a-z 0-9 . _ + @ -) before use.\n"
     "--kdf COST (or env CKV_KDF): the Argon2id cost, moderate (default,\n"
     "256 MiB), interactive (64 MiB) or min (for tests only: weak).\n"
     "--server URL --log-key VKEY: pin the ckvd server (http:// or https://) and\n"
     "its log's verifier key (as in the server's DATA/log.vkey; @FILE reads it\n"
     "from FILE's first line), for the online commands. Both are fixed for the\n"
     "profile's life: nothing is ever learned from the server.\n"
     "--witness VKEY (repeatable): pin a witness's cosigner key (as ckv-witness\n"
     "wrote it to DATA/witness.vkey; @FILE reads it); --quorum K (default: all\n"
     "witnesses given): every checkpoint the profile accepts must carry K valid\n"
     "cosignatures from them, and sending waits while the K-th newest is older\n"
     "than --max-view-age (the server may be freezing our view).\n"},
    {"bundle", cmd_bundle, "bundle\tprint our prekey bundle (JSON)",
     "usage: ckv [--profile NAME] bundle [--no-prekey]\n"
     "Print our prekey bundle as JSON on stdout, for a contact's `ckv start`.\n"
     "Each call hands out another one-time prekey while they last. Fields\n"
     "(binary values in standard base64): registration_id, device_id,\n"
     "identity_key (33 bytes, 0x05 prefix), signed_prekey_id, signed_prekey,\n"
     "signed_prekey_signature, prekey_id, prekey. See docs/cli.md.\n"
     "--no-prekey leaves out the one-time prekey (and hands none out).\n" PASS_HELP},
    {"start", cmd_start, "start CONTACT BUNDLE.json\tstart a session from a bundle",
     "usage: ckv [--profile NAME] start CONTACT BUNDLE.json\n"
     "Start a session with CONTACT (their account name) from their prekey\n"
     "bundle (X3DH). BUNDLE.json may be - for stdin. The contact's identity key\n"
     "is pinned; a different key for a known contact is reported (and blocks\n"
     "sending if the contact was verified). Then `ckv encrypt CONTACT`.\n" PASS_HELP},
    {"encrypt", cmd_encrypt, "encrypt CONTACT\tstdin plaintext -> envelope JSON",
     "usage: ckv [--profile NAME] encrypt CONTACT < PLAINTEXT > ENVELOPE.json\n"
     "Encrypt stdin (at most 1 MiB) for CONTACT and print the envelope\n"
     "{\"type\": 3|2, \"body\": BASE64} on stdout: type 3 is a PreKey message (sent\n"
     "until the contact has replied), 2 a normal message. Refused while a\n"
     "verified contact's key has changed: run `ckv verify` or `ckv accept`.\n" PASS_HELP},
    {"decrypt", cmd_decrypt, "decrypt CONTACT\tstdin envelope JSON -> plaintext",
     "usage: ckv [--profile NAME] decrypt CONTACT < ENVELOPE.json > PLAINTEXT\n"
     "Decrypt an envelope from CONTACT and print the plaintext on stdout. A\n"
     "PreKey message (type 3) from a new contact creates the session. A\n"
     "duplicate, a tampered or a malformed message is an error that changes\n"
     "nothing.\n" PASS_HELP},
    {"code", cmd_code, "code CONTACT | code --mine\tsafety number / our public code",
     "usage: ckv [--profile NAME] code CONTACT [--scannable]\n"
     "       ckv [--profile NAME] code --mine\n"
     "Print the safety number with CONTACT: 60 digits in 12 groups of 5, the\n"
     "same on both sides. Compare it in person, then `ckv verify CONTACT`.\n"
     "With --mine, print our own public code: our 30-digit half (6 groups of 5),\n"
     "which we may publish; a contact's half of the safety number equals it.\n"
     "--scannable prints the scannable fingerprint (QR code bytes) in base64.\n"
     PASS_HELP},
    {"verify", cmd_verify, "verify CONTACT [--code DIGITS]\tmark CONTACT verified",
     "usage: ckv [--profile NAME] verify CONTACT [--code DIGITS]\n"
     "Mark CONTACT's current identity key as verified. With --code, DIGITS\n"
     "(spaces allowed) is first compared with the safety number (60 digits) or\n"
     "with the contact's public code (30 digits); a mismatch fails and names the\n"
     "first group that differs. Without --code the safety number is shown on\n"
     "stderr and, on a terminal, you confirm that it matches (from a script,\n"
     "running the command is the statement that you compared it).\n" PASS_HELP},
    {"accept", cmd_accept, "accept CONTACT\taccept CONTACT's new key",
     "usage: ckv [--profile NAME] accept CONTACT\n"
     "Accept CONTACT's changed identity key without verifying it, which lifts\n"
     "the block on sending. The contact becomes unverified.\n" PASS_HELP},
    {"contacts", cmd_contacts, "contacts\tlist contacts and trust",
     "usage: ckv [--profile NAME] contacts\n"
     "List contacts sorted by name, one a line, fields separated by a tab:\n"
     "name, trust state (unverified, logged, verified, changed), session or\n"
     "no-session, how the last verification was made (none, in-person,\n"
     "public-code, accepted), and the first 8 bytes of the pinned identity\n"
     "key in hex.\n" PASS_HELP},
    {"passwd", cmd_passwd, "passwd\tchange the passphrase",
     "usage: ckv [--profile NAME] passwd [--new-passphrase-file FILE] [--kdf COST]\n"
     "Re-seal the profile under a new passphrase; nothing else changes.\n"
     "The current passphrase as for every command; the new one from the first\n"
     "line of --new-passphrase-file FILE, else the environment variable\n"
     "CKV_NEW_PASSPHRASE, else a prompt (asked twice). --kdf as for init.\n"},
    {"register", cmd_register, "register\tpublish our key in the directory", cli_help_register},
    {"send", cmd_send, "send CONTACT [TEXT]\tsend a message (stdin without TEXT)", cli_help_send},
    {"recv", cmd_recv, "recv [--wait SECONDS]\tprint received messages", cli_help_recv},
    {"lookup", cmd_lookup, "lookup NAME\tNAME's key, checked against the log", cli_help_lookup},
    {"add", cmd_add, "add NAME\tadd a contact from the directory", cli_help_add},
    {"monitor", cmd_monitor, "monitor\twatch the log for keys under our name", cli_help_monitor},
    {"rotate", cmd_rotate, "rotate\tnew identity key, signed by the old", cli_help_rotate},
    {"reset", cmd_reset, "reset\tnew identity key after losing the old", cli_help_reset},
    {NULL, NULL, NULL, NULL},
};

const struct cli_command *cli_command_find(const char *name)
{
    for (const struct cli_command *c = cli_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static void usage(FILE *f)
{
    fputs("usage: ckv [--profile NAME] [--passphrase-file FILE] COMMAND [ARGS]\n"
          "Signal-protocol sessions, safety numbers and contact trust: offline\n"
          "(peers exchange bundles and envelopes as JSON files) or online through a\n"
          "ckvd server, with every key checked against its transparency log.\n"
          "\n"
          "Global options:\n"
          "  --profile NAME          the profile (env CKV_PROFILE; default \"default\"),\n"
          "                          stored in $XDG_DATA_HOME/ckv/NAME/\n"
          "  --passphrase-file FILE  read the passphrase from FILE's first line\n"
          "                          (else env CKV_PASSPHRASE, else a terminal prompt)\n"
          "  -h, --help              print this help\n"
          "  --version               print the version\n"
          "\n"
          "Commands:\n",
          f);
    for (const struct cli_command *c = cli_commands; c->name; c++) {
        const char *tab = strchr(c->synopsis, '\t');
        fprintf(f, "  %-32.*s %s\n", (int)(tab - c->synopsis), c->synopsis, tab + 1);
    }
    fputs("\nRun 'ckv COMMAND --help' for one command. Errors are one line on\n"
          "stderr and a non-zero exit status; nothing is printed on stdout then.\n",
          f);
}

int cli_usage(const struct cli_command *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cli_error("%s: %s; run 'ckv %s --help'", cmd->name, msg, cmd->name);
    return 2;
}

int cli_getopt(struct cli_globals *g, const struct cli_command *cmd, int argc, char **argv,
               const char *shortopts, const struct option *own)
{
    struct option all[16];
    size_t n = 0;
    char sopts[32];
    if (own)
        for (; own[n].name && n < 12; n++)
            all[n] = own[n];
    all[n++] = (struct option){"profile", required_argument, NULL, CLI_OPT_PROFILE};
    all[n++] = (struct option){"passphrase-file", required_argument, NULL, CLI_OPT_PASSPHRASE_FILE};
    all[n++] = (struct option){"help", no_argument, NULL, 'h'};
    all[n] = (struct option){NULL, 0, NULL, 0};
    snprintf(sopts, sizeof(sopts), ":h%s", shortopts ? shortopts : "");
    for (;;) {
        int c = getopt_long(argc, argv, sopts, all, NULL);
        switch (c) {
        case CLI_OPT_PROFILE:
            g->profile = optarg;
            continue;
        case CLI_OPT_PASSPHRASE_FILE:
            g->passphrase_file = optarg;
            continue;
        case 'h':
            fputs(cmd->help, stdout);
            return 'h';
        case ':':
            cli_usage(cmd, "option %s needs a value", argv[optind - 1]);
            return '?';
        case '?':
            cli_usage(cmd, "unknown option %s", argv[optind - 1]);
            return '?';
        default:
            return c;
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"profile", required_argument, NULL, CLI_OPT_PROFILE},
        {"passphrase-file", required_argument, NULL, CLI_OPT_PASSPHRASE_FILE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct cli_globals g = {NULL, NULL};
    const char *env = getenv("CKV_PROFILE");

    g.profile = (env && *env) ? env : "default";
    if (sodium_init() < 0) {
        cli_error("cannot initialise libsodium; the system's random source may be missing");
        return 1;
    }
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "+:h", opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case CLI_OPT_PROFILE:
            g.profile = optarg;
            break;
        case CLI_OPT_PASSPHRASE_FILE:
            g.passphrase_file = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("ckv %s\n", CKV_VERSION);
            return 0;
        case ':':
            cli_error("option %s needs a value; run 'ckv --help'", argv[optind - 1]);
            return 2;
        default:
            cli_error("unknown option %s; run 'ckv --help'", argv[optind - 1]);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const struct cli_command *cmd = cli_command_find(argv[optind]);
    if (!cmd) {
        cli_error("unknown command '%s'; run 'ckv --help' for the list", argv[optind]);
        return 2;
    }
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 0; /* glibc: full re-initialisation for the subcommand */
    return cmd->run(&g, sub_argc, sub_argv);
}
