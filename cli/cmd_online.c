/*
 * cmd_online.c: the commands that talk to ckvd (docs/cli.md, "Online"):
 *   register                     publish our key in the directory, upload prekeys
 *   send CONTACT [TEXT]          (adding CONTACT from the directory when new)
 *   recv [--wait SECONDS]        print "SENDER: TEXT" lines; notes on stderr
 *   lookup NAME                  the checked directory entry of NAME
 *   add NAME                     add NAME as a contact from the directory
 *   monitor                      follow the log; alarm on a foreign entry
 *   rotate | reset               a new identity key (signed by the old / not)
 * and the pinning done by `ckv init --server URL --log-key VKEY`.
 *
 * Every check against the log happens in core (ckv_client_*); this file
 * only reads arguments, prints results, and turns a failure into one line:
 * what failed, what to do, and the server's or the proof's own reason
 * (ckv_client_last_error). Text from the network is printed with control
 * characters replaced, so a sender cannot drive the terminal.
 */
#include "online.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
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
#include <ckv/tlog_note.h>

#define HELP_TAIL                                                                          \
    "The passphrase comes from the environment variable CKV_PASSPHRASE, else\n"           \
    "from the first line of --passphrase-file FILE, else a prompt on the terminal.\n"     \
    "The profile must have been created with 'ckv init --server URL --log-key VKEY'.\n"

#define HELP_MAX_AGE                                                                       \
    "--max-age SECONDS (or env CKV_MAX_AGE): the oldest checkpoint a key check may\n"    \
    "rest on before it is refreshed from the log (default 60).\n"                        \
    "--max-view-age SECONDS (or env CKV_MAX_VIEW_AGE): with witnesses pinned, the\n"      \
    "oldest the witnesses' cosignatures on our log view may be before sending\n"         \
    "refuses (the server may be freezing our view; default 3600).\n"

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
const char cli_help_send[] =
    "usage: ckv [--profile NAME] send CONTACT [TEXT...] [--max-age SECONDS]\n"
    "Send TEXT (the arguments joined by spaces; stdin when no TEXT is given; at\n"
    "most 32 KiB of UTF-8) to CONTACT. A CONTACT that is not a contact yet is added\n"
    "first: its entry is looked up and checked against the log, a prekey\n"
    "bundle is fetched (its key must be the logged key) and a session started.\n"
    "Before every send the contact's key must be its latest logged key.\n"
    "Refused while a verified contact's key has changed: compare codes and run\n"
    "'ckv verify CONTACT', or 'ckv accept CONTACT'. Prints 'sent N' (the\n"
    "message's number in the conversation) on stderr. Put -- before a TEXT\n"
    "that starts with '-'.\n" HELP_MAX_AGE HELP_TAIL;
const char cli_help_recv[] =
    "usage: ckv [--profile NAME] recv [--wait SECONDS] [--max-age SECONDS]\n"
    "Fetch queued messages, check every new sender's key against the log,\n"
    "decrypt, store, send encrypted delivery receipts, acknowledge. Each\n"
    "message is printed on stdout as one line 'SENDER: TEXT' (a line break in\n"
    "TEXT continues on the next line indented by two spaces; other control\n"
    "characters are shown as '?'). Receipts, missing or reordered messages,\n"
    "key changes and refused messages are notes on stderr.\n"
    "--wait SECONDS: wait up to SECONDS (0-3600) for a message when none is\n"
    "queued (default 0: return at once).\n" HELP_MAX_AGE HELP_TAIL;
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

enum { OPT_WAIT = 1, OPT_MAX_AGE, OPT_MAX_VIEW_AGE, OPT_ACKNOWLEDGE, OPT_RECOVERY_CODE,
       OPT_NEW_RECOVERY_CODE };

/* --max-view-age (or env CKV_MAX_VIEW_AGE) of send/recv; 0: core's default */
static long max_view_age;

/* Longest text `send` takes: ckvd stores an envelope of at most 64 KiB as
 * JSON with the ciphertext in base64 (4/3), so 32 KiB of text leaves room
 * for the Signal and inner-format overhead. */
#define ONLINE_TEXT_MAX (32u * 1024u)

/* ---- init: pinning ------------------------------------------------------------ */

int cli_online_pin_args(const char *server, const char *log_key, char **vkey_out)
{
    char *key = NULL;
    size_t len = 0;
    ckv_tlog_verifier *v = NULL;

    *vkey_out = NULL;
    if (!server && !log_key)
        return 0;
    if (!server || !log_key) {
        cli_error("init: --server URL and --log-key VKEY go together (the log key comes from "
                  "the server's operator, e.g. DATA/log.vkey); give both or neither");
        return 2;
    }
    if (strncmp(server, "http://", 7) != 0 && strncmp(server, "https://", 8) != 0) {
        cli_error("init: bad --server '%s': give a URL such as http://127.0.0.1:8470", server);
        return 2;
    }
    if (log_key[0] == '@') {
        if (cli_read_file(log_key + 1, 4096, &key, &len) != 0)
            return 2;
        key[strcspn(key, "\r\n")] = 0; /* the first line */
    } else {
        key = strdup(log_key);
        if (!key) {
            cli_error("init: out of memory");
            return 2;
        }
    }
    if (ckv_tlog_verifier_parse(key, strlen(key), &v) != CKV_OK ||
        ckv_tlog_verifier_type(v) != CKV_TLOG_KEY_TYPE_ED25519) {
        cli_error("init: bad --log-key: expected the log's Ed25519 note verifier key "
                  "NAME+HASH+BASE64 as ckvd wrote it to DATA/log.vkey (or @FILE to read it)");
        ckv_tlog_verifier_free(v);
        free(key);
        return 2;
    }
    ckv_tlog_verifier_free(v);
    *vkey_out = key;
    return 0;
}

int cli_online_pin(ckv_profile *p, const char *server, const char *vkey)
{
    if (!server)
        return 0;
    ckv_status st = ckv_profile_pin_server(p, server, vkey);
    if (st == CKV_ERR_INVALID_ARG) {
        cli_error("init: bad --server '%s': give http://HOST:PORT or https://HOST:PORT "
                  "without spaces, query or fragment; the profile was created without a server",
                  server);
        return -1;
    }
    if (st != CKV_OK) {
        cli_fail(st, "init: cannot pin the server in the profile");
        return -1;
    }
    return 0;
}

/* ---- init: witnesses ----------------------------------------------------------- */

int cli_witness_args(const char *server, char *const *args, size_t n, long *quorum, char **keys)
{
    for (size_t i = 0; i < n; i++) {
        char *k = NULL;
        size_t len = 0;
        ckv_tlog_verifier *v = NULL;
        if (args[i][0] == '@') {
            if (cli_read_file(args[i] + 1, 4096, &k, &len) != 0)
                return 2;
            k[strcspn(k, "\r\n")] = 0; /* the first line */
        } else if ((k = strdup(args[i])) == NULL) {
            cli_error("init: out of memory");
            return 2;
        }
        keys[i] = k; /* the caller frees */
        if (ckv_tlog_verifier_parse(k, strlen(k), &v) != CKV_OK ||
            ckv_tlog_verifier_type(v) != CKV_TLOG_KEY_TYPE_COSIGNATURE) {
            ckv_tlog_verifier_free(v);
            cli_error("init: bad --witness '%s': expected a witness's cosigner verifier key "
                      "NAME+HASH+BASE64 (type 0x04) as ckv-witness wrote it to DATA/witness.vkey "
                      "(or @FILE to read it)",
                      k);
            return 2;
        }
        for (size_t j = 0; j < i; j++) {
            ckv_tlog_verifier *u = NULL;
            int same = ckv_tlog_verifier_parse(keys[j], strlen(keys[j]), &u) == CKV_OK &&
                       strcmp(ckv_tlog_verifier_name(u), ckv_tlog_verifier_name(v)) == 0;
            ckv_tlog_verifier_free(u);
            if (same) {
                cli_error("init: witness '%s' is given twice; give each witness once",
                          ckv_tlog_verifier_name(v));
                ckv_tlog_verifier_free(v);
                return 2;
            }
        }
        ckv_tlog_verifier_free(v);
    }
    if (n > 0 && !server) {
        cli_error("init: --witness needs --server and --log-key (witnesses cosign that log)");
        return 2;
    }
    if (n == 0 && *quorum != 0) {
        cli_error("init: --quorum K needs at least one --witness VKEY");
        return 2;
    }
    if (n > 0 && *quorum == 0)
        *quorum = (long)n;
    if (n > 0 && (*quorum < 1 || *quorum > (long)n)) {
        cli_error("init: bad --quorum %ld: give a number of witnesses from 1 to %zu (the "
                  "witnesses given)",
                  *quorum, n);
        return 2;
    }
    return 0;
}

int cli_witness_pin(ckv_profile *p, char **keys, size_t n, long quorum)
{
    ckv_status st;
    if (n == 0)
        return 0;
    st = ckv_profile_pin_witnesses(p, (const char *const *)keys, n, (unsigned)quorum);
    if (st == CKV_ERR_INVALID_ARG) {
        cli_error("init: the witnesses were refused (the same key twice, or more than %d); "
                  "the profile was created without witnesses",
                  CKV_WITNESS_MAX);
        return -1;
    }
    if (st != CKV_OK) {
        cli_fail(st, "init: cannot pin the witnesses in the profile");
        return -1;
    }
    return 0;
}

const char *cli_gossip_name(int result)
{
    return result == CKV_GOSSIP_AGREE ? "agree" : result == CKV_GOSSIP_DIFFER ? "differ" : "unknown";
}

void cli_print_gossip(ckv_profile *p, const char *contact)
{
    ckv_gossip_state gs;
    if (ckv_profile_gossip_state(p, contact, &gs) != CKV_OK || gs.result == CKV_GOSSIP_UNKNOWN) {
        fprintf(stderr, "ckv: log views with '%s': unknown (no checkpoint from them checked yet)\n",
                contact);
        return;
    }
    if (gs.result == CKV_GOSSIP_AGREE)
        fprintf(stderr, "ckv: log views with '%s': agree (their size %llu, ours %llu)\n", contact,
                (unsigned long long)gs.their_size, (unsigned long long)gs.our_size);
    else
        cli_warn("log views with '%s' DIFFER (their size %llu, ours %llu): the server shows us "
                 "different logs (split view); see the evidence/ folder of the profile",
                 contact, (unsigned long long)gs.their_size, (unsigned long long)gs.our_size);
}

void cli_print_witnesses(ckv_profile *p)
{
    char *keys = NULL;
    size_t n = 0;
    unsigned k = 0;
    if (ckv_profile_witnesses(p, &keys, &n, &k) == CKV_OK && n > 0)
        fprintf(stderr, "ckv: witnesses: %u of %zu pinned witnesses must cosign the log\n", k, n);
    free(keys);
}

/* ---- shared ------------------------------------------------------------------- */

/* Open the profile and a client on its pinned server; -1 after an error. */
static int online_open(const struct cli_globals *g, const char *what, int64_t max_age,
                       ckv_profile **pp, ckv_client **cp)
{
    ckv_profile *p = NULL;
    ckv_client *c = NULL;
    ckv_client_options o;

    memset(&o, 0, sizeof(o));
    o.max_checkpoint_age = max_age;
    o.max_view_age = max_view_age;
    o.ca_file = getenv("CKV_CA_FILE");
    if (o.ca_file && !*o.ca_file)
        o.ca_file = NULL;
    if (cli_profile_open(g, &p) != 0)
        return -1;
    ckv_status st = ckv_client_open(p, &o, &c);
    if (st == CKV_ERR_KT_NOT_CONFIGURED) {
        cli_error("%s: profile '%s' has no server; create an online profile with 'ckv "
                  "--profile NAME init --name ACCOUNT --server URL --log-key VKEY'",
                  what, g->profile);
        ckv_profile_close(p);
        return -1;
    }
    if (st != CKV_OK) {
        cli_fail(st, "%s: cannot start the client for profile '%s'", what, g->profile);
        ckv_profile_close(p);
        return -1;
    }
    *pp = p;
    *cp = c;
    return 0;
}

static void online_close(ckv_profile *p, ckv_client *c)
{
    ckv_client_close(c);
    ckv_profile_close(p);
}

/* One line: context, the status sentence, and the client's own reason. */
static int online_fail(ckv_client *c, ckv_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int online_fail(ckv_client *c, ckv_status st, const char *fmt, ...)
{
    char ctx[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    const char *why = c ? ckv_client_last_error(c) : "";
    if (why && *why)
        cli_error("%s: %s (%s)", ctx, ckv_strerror(st), why);
    else
        cli_error("%s: %s", ctx, ckv_strerror(st));
    return 1;
}

/* One line for a failure whose context already says what to do: the
 * context and the client's own reason (else the status sentence). */
static int online_say(ckv_client *c, ckv_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int online_say(ckv_client *c, ckv_status st, const char *fmt, ...)
{
    char ctx[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    const char *why = c ? ckv_client_last_error(c) : "";
    cli_error("%s (%s)", ctx, why && *why ? why : ckv_strerror(st));
    return 1;
}

/* A failure about another account's name: "not registered" means them. */
static int name_fail(ckv_client *c, ckv_status st, const char *cmd, const char *name,
                     const char *what)
{
    if (st == CKV_ERR_NOT_REGISTERED)
        return online_say(c, st, "%s: '%s' is not registered on the server; check the name%s",
                          cmd, name, what);
    return online_fail(c, st, "%s: cannot look up '%s'%s", cmd, name, what);
}

/* Parse a non-negative integer in [0, max]; -1 on a bad value. */
static int parse_seconds(const char *s, long max, long *out)
{
    char *end = NULL;
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    long v = strtol(s, &end, 10);
    if (*end || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

/* --max-age default from CKV_MAX_AGE; 0 means core's default. */
static int default_max_age(const struct cli_command *cmd, long *out)
{
    const char *e = getenv("CKV_MAX_AGE");
    *out = 0;
    if (e && *e && (parse_seconds(e, 86400 * 365, out) != 0 || *out == 0))
        return cli_usage(cmd, "bad CKV_MAX_AGE '%s': give whole seconds, at least 1", e);
    return 0;
}

/* Parse the options of a command that takes none of its own but --max-age
 * and, for recv, --wait. Returns -1 to go on, else the exit status. */
static int parse_common(struct cli_globals *g, const struct cli_command *cmd, int argc,
                        char **argv, long *max_age, long *wait)
{
    static const struct option with_wait[] = {
        {"wait", required_argument, NULL, OPT_WAIT},
        {"max-age", required_argument, NULL, OPT_MAX_AGE},
        {"max-view-age", required_argument, NULL, OPT_MAX_VIEW_AGE},
        {NULL, 0, NULL, 0},
    };
    static const struct option age_only[] = {
        {"max-age", required_argument, NULL, OPT_MAX_AGE},
        {"max-view-age", required_argument, NULL, OPT_MAX_VIEW_AGE},
        {NULL, 0, NULL, 0},
    };
    const char *ev = getenv("CKV_MAX_VIEW_AGE");
    int c;
    if (max_age && default_max_age(cmd, max_age) != 0)
        return 2;
    max_view_age = 0;
    if (ev && *ev && (parse_seconds(ev, 86400L * 365, &max_view_age) != 0 || max_view_age == 0))
        return cli_usage(cmd, "bad CKV_MAX_VIEW_AGE '%s': give whole seconds, at least 1", ev);
    while ((c = cli_getopt(g, cmd, argc, argv, "",
                           wait ? with_wait : (max_age ? age_only : NULL))) != -1) {
        if (c == 'h')
            return 0;
        if (c == '?')
            return 2;
        if (c == OPT_WAIT && parse_seconds(optarg, 3600, wait) != 0)
            return cli_usage(cmd, "bad --wait '%s': give whole seconds from 0 to 3600", optarg);
        if (c == OPT_MAX_AGE && (parse_seconds(optarg, 86400L * 365, max_age) != 0 ||
                                 *max_age == 0))
            return cli_usage(cmd, "bad --max-age '%s': give whole seconds, at least 1", optarg);
        if (c == OPT_MAX_VIEW_AGE &&
            (parse_seconds(optarg, 86400L * 365, &max_view_age) != 0 || max_view_age == 0))
            return cli_usage(cmd, "bad --max-view-age '%s': give whole seconds, at least 1",
                             optarg);
    }
    return -1;
}

static const char *type_name(int t)
{
    return t == 1 ? "register" : t == 2 ? "rotate" : t == 3 ? "reset" : "unknown";
}

/* Print text from the network: control characters shown as '?', a line
 * break continues on an indented line. */
static void put_safe(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n')
            fputs(i + 1 < n ? "\n  " : "", f);
        else if (ch == '\t' || (ch >= 0x20 && ch != 0x7f))
            fputc(ch, f);
        else
            fputc('?', f);
    }
}

/* "05ab..." for a key, and a contact's trust state sentence. */
static void key_hex(const uint8_t key[33], char out[67])
{
    sodium_bin2hex(out, 67, key, 33);
}

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
            if (strcmp(optarg, "-") == 0 ? read_code_stdin(code, sizeof(code)) != 0
                                         : snprintf(code, sizeof(code), "%s", optarg) >=
                                               (int)sizeof(code))
                return cli_usage(cmd, "bad --recovery-code: give the code printed at "
                                      "registration (or '-' and the code on stdin)");
            rec.code = code;
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (online_open(g, name, 0, &p, &c) != 0)
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
        fprintf(stderr, "ckv: write the recovery code down and keep it offline: a reset of "
                        "'%s' needs it (it is not stored anywhere)\n",
                ckv_profile_account(p));
    }
    if (st == CKV_ERR_DIR_NAME_TAKEN) {
        rc = online_say(c, st, "%s: '%s' is registered already by another key; choose another "
                        "account name (or 'ckv reset' if you lost that key)", name,
                        ckv_profile_account(p));
    } else if (st == CKV_ERR_NOT_REGISTERED) {
        rc = online_say(c, st, "%s: '%s' is not registered; run 'ckv register' first", name,
                        ckv_profile_account(p));
    } else if (st == CKV_ERR_RECOVERY) {
        rc = online_say(c, st, "%s: '%s' is protected by a recovery code; give it with "
                        "--recovery-code (as printed at registration)%s", name,
                        ckv_profile_account(p), rec.code ? ": the one given is wrong" : "");
    } else if (st == CKV_ERR_INVALID_ARG) { /* the core's sentence says what to change */
        rc = online_say(c, st, "%s: nothing was changed for '%s'", name, ckv_profile_account(p));
    } else if (st != CKV_OK) {
        rc = online_fail(c, st, "%s: '%s' failed; nothing was changed unless the server said "
                         "so; run it again", name, ckv_profile_account(p));
    } else {
        rc = 0;
        if (strcmp(name, "register") == 0) {
            fprintf(stderr, "ckv: '%s' is registered and its key is in the log\n",
                    ckv_profile_account(p));
        } else {
            fprintf(stderr, "ckv: '%s' has a new identity key (%s); contacts will see a key "
                    "change\n", ckv_profile_account(p), name);
            print_public_code(p);
        }
    }
    sodium_memzero(code, sizeof(code));
    sodium_memzero(&rec, sizeof(rec));
    online_close(p, c);
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
    int rc = parse_common(g, cmd, argc, argv, NULL, NULL);
    if (rc >= 0)
        return rc;
    if ((rc = one_name(cmd, argc, argv, &name)) >= 0)
        return rc;
    if (online_open(g, "lookup", 0, &p, &c) != 0)
        return 1;
    ckv_status st = ckv_client_lookup(c, name, &ki);
    if (st == CKV_OK)
        st = ckv_fingerprint_half(ki.name, ki.key, CKV_FINGERPRINT_ITERATIONS, digits, NULL);
    if (st == CKV_OK)
        st = ckv_fingerprint_format(digits, code, sizeof(code));
    if (st != CKV_OK) {
        rc = name_fail(c, st, "lookup", name, "");
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
    online_close(p, c);
    return rc;
}

/* Say what adding a contact did, on stderr. */
static void report_added(const char *name, const ckv_trust_report *r)
{
    if (r->key_changed)
        cli_warn("%s's identity key changed; state %s%s", name, ckv_trust_state_name(r->state),
                 r->blocked ? "; sending is blocked until 'ckv verify' or 'ckv accept'" : "");
    else
        fprintf(stderr, "ckv: %s '%s' (key checked against the log; state %s)\n",
                r->new_contact ? "added contact" : "renewed the session with", name,
                ckv_trust_state_name(r->state));
}

int cmd_add(struct cli_globals *g, int argc, char **argv)
{
    const struct cli_command *cmd = cli_command_find("add");
    const char *name = NULL;
    ckv_profile *p = NULL;
    ckv_client *c = NULL;
    ckv_trust_report r;
    long max_age = 0;
    int rc = parse_common(g, cmd, argc, argv, &max_age, NULL);
    if (rc >= 0)
        return rc;
    if ((rc = one_name(cmd, argc, argv, &name)) >= 0)
        return rc;
    if (online_open(g, "add", max_age, &p, &c) != 0)
        return 1;
    memset(&r, 0, sizeof(r));
    char norm[CKV_NAME_MAX + 1];
    if (ckv_name_normalize(name, norm) == CKV_OK && strcmp(norm, ckv_profile_account(p)) == 0) {
        cli_error("add: '%s' is this profile's own account; add someone else", norm);
        online_close(p, c);
        return 1;
    }
    ckv_status st = ckv_client_add_contact(c, name, &r);
    if (st != CKV_OK) {
        rc = name_fail(c, st, "add", name, "; no contact was added");
    } else {
        report_added(name, &r);
        rc = 0;
    }
    online_close(p, c);
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
                return cli_usage(cmd, "bad --acknowledge '%s': give the leaf number the alarm "
                                      "names",
                                 optarg);
            has_ack = 1;
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (online_open(g, "monitor", 0, &p, &c) != 0)
        return 1;
    memset(&m, 0, sizeof(m));
    ckv_status st = ckv_client_monitor(c, &m);
    if (st == CKV_ERR_KT_FOREIGN_ENTRY && has_ack) {
        /* the log is read up to now: acknowledge, then report afresh */
        st = ckv_client_monitor_acknowledge(c, ack);
        if (st != CKV_OK) {
            rc = online_fail(c, st, "monitor: cannot acknowledge");
            goto out;
        }
        memset(&m, 0, sizeof(m));
        st = ckv_client_monitor(c, &m);
    } else if (st == CKV_OK && has_ack &&
               !(m.foreign_entries > 0 && m.last_foreign_index == ack)) {
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
        rc = online_fail(c, st, "monitor: cannot follow the log");
    } else {
        printf("tree-size: %llu\nentries-read: %llu\nown-entries: %llu\nearlier-entries: "
               "%llu\nforeign-entries: %llu\nforeign-acknowledged: %llu\n",
               (unsigned long long)m.tree_size, (unsigned long long)m.entries_read,
               (unsigned long long)m.own_entries, (unsigned long long)m.earlier_entries,
               (unsigned long long)m.foreign_entries,
               (unsigned long long)m.foreign_acknowledged);
        if (m.foreign_entries > 0)
            printf("last-foreign-leaf: %llu\n", (unsigned long long)m.last_foreign_index);
        rc = fflush(stdout) == 0 ? 0 : 1;
    }
out:
    online_close(p, c);
    return rc;
}

/* ---- send, recv --------------------------------------------------------------- */

int cmd_send(struct cli_globals *g, int argc, char **argv)
{
    const struct cli_command *cmd = cli_command_find("send");
    const char *name = NULL;
    ckv_profile *p = NULL;
    ckv_client *c = NULL;
    ckv_contact *ct = NULL;
    char *text = NULL;
    size_t len = 0;
    long max_age = 0;
    uint64_t seq = 0;
    int rc = parse_common(g, cmd, argc, argv, &max_age, NULL);
    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return cli_usage(cmd, "the contact is missing");
    name = argv[optind];
    char norm[CKV_NAME_MAX + 1];
    if (ckv_name_normalize(name, norm) != CKV_OK) {
        cli_error("send: bad contact name '%s': use 1-%d characters from a-z 0-9 . _ + @ -",
                  name, CKV_NAME_MAX);
        return 2;
    }
    if (optind + 1 < argc) {
        for (int i = optind + 1; i < argc; i++)
            len += strlen(argv[i]) + 1;
        if (len > ONLINE_TEXT_MAX + 1) {
            cli_error("send: the text is larger than %u bytes (ckvd's envelope limit); send it in "
                      "parts", ONLINE_TEXT_MAX);
            return 2;
        }
        text = calloc(1, len + 1);
        if (!text) {
            cli_error("send: out of memory");
            return 1;
        }
        for (int i = optind + 1; i < argc; i++) {
            if (i > optind + 1)
                strcat(text, " ");
            strcat(text, argv[i]);
        }
        len = strlen(text);
    } else if (cli_read_all(stdin, ONLINE_TEXT_MAX, "the message on stdin", &text, &len) != 0) {
        return 1;
    }
    if (len > ONLINE_TEXT_MAX) {
        cli_error("send: the text is larger than %u bytes (ckvd's envelope limit); send it in "
                  "parts", ONLINE_TEXT_MAX);
        sodium_memzero(text, len);
        free(text);
        return 2;
    }
    rc = 1;
    if (online_open(g, "send", max_age, &p, &c) != 0)
        goto out;
    if (strcmp(norm, ckv_profile_account(p)) == 0) {
        cli_error("send: '%s' is this profile's own account; send to a contact", norm);
        goto out;
    }
    ckv_status st = ckv_contact_get(p, norm, &ct);
    if (st == CKV_ERR_NO_CONTACT) {
        ckv_trust_report r;
        memset(&r, 0, sizeof(r));
        st = ckv_client_add_contact(c, norm, &r);
        if (st != CKV_OK) {
            name_fail(c, st, "send", norm, "; nothing was sent");
            goto out;
        }
        report_added(norm, &r);
    } else if (st != CKV_OK) {
        cli_fail(st, "send: cannot read contact '%s'", norm);
        goto out;
    }
    st = ckv_client_send(c, norm, (const uint8_t *)text, len, &seq);
    if (st == CKV_ERR_KEY_CHANGED_BLOCKED) {
        online_say(c, st, "send: nothing was sent to '%s': their key changed after you verified "
                   "it; compare 'ckv code %s' with them and run 'ckv verify %s', or 'ckv accept "
                   "%s'", norm, norm, norm, norm);
        goto out;
    }
    if (st == CKV_ERR_INVALID_ARG || st == CKV_ERR_TOO_LARGE) {
        online_say(c, st, "send: nothing was sent to '%s': give UTF-8 text", norm);
        goto out;
    }
    if (st != CKV_OK) {
        online_fail(c, st, "send: the message to '%s' was not accepted by the server", norm);
        goto out;
    }
    /* the check before the send may have moved to a newer logged key */
    if (ct) {
        ckv_contact *now = NULL;
        if (ckv_contact_get(p, norm, &now) == CKV_OK &&
            sodium_memcmp(now->identity_key, ct->identity_key, sizeof(ct->identity_key)) != 0)
            cli_warn("%s's identity key changed (a newer key is in the log; state %s); compare "
                     "safety numbers with 'ckv code %s'", norm, ckv_trust_state_name(now->state),
                     norm);
        ckv_contact_free(now);
    }
    fprintf(stderr, "ckv: sent message %llu to '%s'\n", (unsigned long long)seq, norm);
    rc = 0;
out:
    if (text) {
        sodium_memzero(text, len);
        free(text);
    }
    ckv_contact_free(ct);
    online_close(p, c);
    return rc;
}

/* Print one event: messages on stdout, everything else on stderr.
 * Returns 1 for a message. */
static int print_event(const ckv_event *e)
{
    switch (e->kind) {
    case CKV_EV_MESSAGE:
        printf("%s: ", e->contact);
        put_safe(stdout, e->text ? e->text : "", e->text ? e->text_len : 0);
        putchar('\n');
        return 1;
    case CKV_EV_RECEIPT:
        fprintf(stderr, "ckv: %s received message %llu\n", e->contact,
                (unsigned long long)e->seq);
        break;
    case CKV_EV_GAP:
        cli_warn("%llu message%s from %s (number %llu%s) did not arrive: lost or withheld by the "
                 "server", (unsigned long long)e->count, e->count == 1 ? "" : "s", e->contact,
                 (unsigned long long)e->seq, e->count == 1 ? "" : " on");
        break;
    case CKV_EV_REORDERED:
        cli_warn("message %llu from %s arrived after a later one", (unsigned long long)e->seq,
                 e->contact);
        break;
    case CKV_EV_KEY_CHANGED:
        cli_warn("%s's identity key changed (state %s)%s", e->contact,
                 ckv_trust_state_name(e->state),
                 e->state == CKV_TRUST_CHANGED
                     ? "; sending to them is blocked until 'ckv verify' or 'ckv accept'"
                     : "; compare safety numbers with 'ckv code'");
        break;
    case CKV_EV_REJECTED:
        cli_warn("a message from %s was refused: %s", e->contact, ckv_strerror(e->status));
        break;
    case CKV_EV_SPLIT_VIEW:
        cli_error("%s", e->text ? e->text : ckv_strerror(e->status));
        break;
    case CKV_EV_HELD:
        cli_warn("a message from %s is held until the log can be checked (our view of the log "
                 "is frozen); 'ckv recv' shows or refuses it once the view is fresh",
                 e->contact);
        break;
    }
    return 0;
}

int cmd_recv(struct cli_globals *g, int argc, char **argv)
{
    const struct cli_command *cmd = cli_command_find("recv");
    ckv_profile *p = NULL;
    ckv_client *c = NULL;
    long max_age = 0, wait = 0;
    int rc = parse_common(g, cmd, argc, argv, &max_age, &wait);
    if (rc >= 0)
        return rc;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (online_open(g, "recv", max_age, &p, &c) != 0)
        return 1;
    /* Messages are printed as they are stored (core has already acknowledged
     * them), so output goes out batch by batch, never held back. */
    time_t deadline = time(NULL) + wait;
    int got = 0;
    rc = 0;
    for (;;) {
        ckv_event *ev = NULL;
        size_t n = 0;
        long left = (long)(deadline - time(NULL));
        int w = got ? 0 : (int)(left < 0 ? 0 : left > 30 ? 30 : left);
        ckv_status st = ckv_client_receive(c, w, &ev, &n);
        if (st != CKV_OK) {
            rc = online_fail(c, st, "recv: cannot fetch messages%s",
                             got ? " (the messages above were received)" : "");
            break;
        }
        int msgs = 0;
        for (size_t i = 0; i < n; i++)
            msgs += print_event(&ev[i]);
        ckv_client_events_free(ev, n);
        if (fflush(stdout) != 0) {
            cli_error("recv: cannot write to stdout");
            rc = 1;
            break;
        }
        got += msgs;
        if (n == 0 && (got || time(NULL) >= deadline))
            break;
        if (n == 0 && wait == 0)
            break;
        if (got && n == 0)
            break;
    }
    online_close(p, c);
    return rc;
}
