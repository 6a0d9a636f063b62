/*
 * online.c: what the online commands of `ckv` share (docs/cli.md, "Online"),
 * and the pinning done by `ckv init --server URL --log-key VKEY`:
 *   - init's hooks: check and pin the server and the log's verifier key,
 *     and the witnesses with their quorum;
 *   - opening the profile and a client on its pinned server, the options
 *     every online command takes (--max-age, --max-view-age, recv's --wait),
 *     and one-line failures (what failed, what to do, and the server's or
 *     the proof's own reason, ckv_client_last_error).
 * The commands themselves: cmd_account.c (register, rotate, reset),
 * cmd_directory.c (lookup, add, monitor), cmd_messages.c (send, recv).
 * Every check against the log happens in core (ckv_client_*); these files
 * only read arguments, print results, and turn a failure into one line.
 */
#include "online.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ckv/client.h>
#include <ckv/contact.h>
#include <ckv/profile.h>
#include <ckv/tlog_note.h>

/* --max-view-age (or env CKV_MAX_VIEW_AGE) of send/recv; 0: core's default */
static long max_view_age;

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
    return result == CKV_GOSSIP_AGREE    ? "agree"
           : result == CKV_GOSSIP_DIFFER ? "differ"
                                         : "unknown";
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
int cli_online_open(const struct cli_globals *g, const char *what, int64_t max_age,
                    ckv_profile **pp, ckv_client **cp)
{
    ckv_profile *p = NULL;
    ckv_client *c = NULL;
    ckv_client_options o;

    memset(&o, 0, sizeof(o));
    o.max_checkpoint_age = max_age;
    o.max_view_age = max_view_age;
    const char *sync_env = getenv("CKV_SYNC_FULL");
    o.sync_full = sync_env != NULL && strcmp(sync_env, "1") == 0;
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

void cli_online_close(ckv_profile *p, ckv_client *c)
{
    ckv_client_close(c);
    ckv_profile_close(p);
}

/* One line: context, the status sentence, and the client's own reason. */
int cli_online_fail(ckv_client *c, ckv_status st, const char *fmt, ...)
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
int cli_online_say(ckv_client *c, ckv_status st, const char *fmt, ...)
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
int cli_name_fail(ckv_client *c, ckv_status st, const char *cmd, const char *name, const char *what)
{
    if (st == CKV_ERR_NOT_REGISTERED)
        return cli_online_say(c, st, "%s: '%s' is not registered on the server; check the name%s",
                              cmd, name, what);
    return cli_online_fail(c, st, "%s: cannot look up '%s'%s", cmd, name, what);
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
int cli_online_options(struct cli_globals *g, const struct cli_command *cmd, int argc, char **argv,
                       long *max_age, long *wait)
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
        if (c == OPT_MAX_AGE &&
            (parse_seconds(optarg, 86400L * 365, max_age) != 0 || *max_age == 0))
            return cli_usage(cmd, "bad --max-age '%s': give whole seconds, at least 1", optarg);
        if (c == OPT_MAX_VIEW_AGE &&
            (parse_seconds(optarg, 86400L * 365, &max_view_age) != 0 || max_view_age == 0))
            return cli_usage(cmd, "bad --max-view-age '%s': give whole seconds, at least 1",
                             optarg);
    }
    return -1;
}

/* Say what adding a contact did, on stderr. */
void cli_report_added(const char *name, const ckv_trust_report *r)
{
    if (r->key_changed)
        cli_warn("%s's identity key changed; state %s%s", name, ckv_trust_state_name(r->state),
                 r->blocked ? "; sending is blocked until 'ckv verify' or 'ckv accept'" : "");
    else
        fprintf(stderr, "ckv: %s '%s' (key checked against the log; state %s)\n",
                r->new_contact ? "added contact" : "renewed the session with", name,
                ckv_trust_state_name(r->state));
}
