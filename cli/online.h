/*
 * online.h: the online commands of `ckv`: those that talk to ckvd through
 * the core library's client (include/ckv/client.h): cmd_account.c,
 * cmd_directory.c, cmd_messages.c; what they share and the hooks `ckv init`
 * uses to pin the server, the log's verifier key and witnesses (online.c).
 * Their help texts live beside the code and are referenced from the
 * command table in main.c.
 */
#ifndef CKV_CLI_ONLINE_H
#define CKV_CLI_ONLINE_H

#include "cli.h"

#include <stdint.h>

/* `init --server URL --log-key VKEY|@FILE`: check both (or neither) were
 * given, read @FILE, and check the URL and the key before the profile is
 * created. On success *vkey_out is a malloc'd key string or NULL when no
 * server was given. Returns 0, or the exit status (2) after printing the
 * error. */
int cli_online_pin_args(const char *server, const char *log_key, char **vkey_out);

/* Pin the checked server and key in the new profile (no-op when server is
 * NULL). Returns 0, or -1 after printing the error. */
struct ckv_profile;
int cli_online_pin(struct ckv_profile *p, const char *server, const char *vkey);
/* Check --witness/--quorum of init (before the profile exists): 0, or the
 * exit status after the error. args[i] may be "@FILE"; keys[i] gets each
 * key as a malloc'd string (also on error: the caller frees every non-NULL
 * keys[i]). *quorum 0 = all. */
int cli_witness_args(const char *server, char *const *args, size_t n, long *quorum, char **keys);
/* Pin them in the new profile: 0, or -1 after the error. */
int cli_witness_pin(struct ckv_profile *p, char **keys, size_t n, long quorum);
/* "agree", "differ" or "unknown". */
const char *cli_gossip_name(int result);
/* Notes on stderr: the gossip state with a contact; the pinned witnesses. */
void cli_print_gossip(struct ckv_profile *p, const char *contact);
void cli_print_witnesses(struct ckv_profile *p);

/* ---- shared by the online commands (online.c) ---- */

struct ckv_client;
struct ckv_trust_report;

/* The end of every online command's help, and the --max-age options'. */
#define HELP_TAIL                                                                                  \
    "The passphrase comes from the environment variable CKV_PASSPHRASE, else\n"                    \
    "from the first line of --passphrase-file FILE, else a prompt on the terminal.\n"              \
    "The profile must have been created with 'ckv init --server URL --log-key VKEY'.\n"

#define HELP_MAX_AGE                                                                               \
    "--max-age SECONDS (or env CKV_MAX_AGE): the oldest checkpoint a key check may\n"              \
    "rest on before it is refreshed from the log (default 60).\n"                                  \
    "--max-view-age SECONDS (or env CKV_MAX_VIEW_AGE): with witnesses pinned, the\n"               \
    "oldest the witnesses' cosignatures on our log view may be before sending\n"                   \
    "refuses (the server may be freezing our view; default 3600).\n"

enum {
    OPT_WAIT = 1,
    OPT_MAX_AGE,
    OPT_MAX_VIEW_AGE,
    OPT_ACKNOWLEDGE,
    OPT_RECOVERY_CODE,
    OPT_NEW_RECOVERY_CODE
};

/* Open the profile and a client on its pinned server (with the ages
 * cli_online_options read); -1 after an error. */
int cli_online_open(const struct cli_globals *g, const char *what, int64_t max_age,
                    struct ckv_profile **pp, struct ckv_client **cp);
void cli_online_close(struct ckv_profile *p, struct ckv_client *c);
/* One line: context, the status sentence, and the client's own reason.
 * Returns 1 (the exit status). */
int cli_online_fail(struct ckv_client *c, ckv_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* One line for a failure whose context already says what to do: the
 * context and the client's own reason (else the status sentence). 1. */
int cli_online_say(struct ckv_client *c, ckv_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A failure about another account's name: "not registered" means them. */
int cli_name_fail(struct ckv_client *c, ckv_status st, const char *cmd, const char *name,
                  const char *what);
/* Parse the options of a command that takes none of its own but --max-age
 * (when max_age) and, for recv, --wait (when wait). Returns -1 to go on,
 * else the exit status. */
int cli_online_options(struct cli_globals *g, const struct cli_command *cmd, int argc, char **argv,
                       long *max_age, long *wait);
/* Say what adding a contact did, on stderr. */
void cli_report_added(const char *name, const struct ckv_trust_report *r);

/* ---- the commands ---- */

int cmd_register(struct cli_globals *g, int argc, char **argv);
int cmd_send(struct cli_globals *g, int argc, char **argv);
int cmd_recv(struct cli_globals *g, int argc, char **argv);
int cmd_lookup(struct cli_globals *g, int argc, char **argv);
int cmd_add(struct cli_globals *g, int argc, char **argv);
int cmd_monitor(struct cli_globals *g, int argc, char **argv);
int cmd_rotate(struct cli_globals *g, int argc, char **argv);
int cmd_reset(struct cli_globals *g, int argc, char **argv);

extern const char cli_help_register[], cli_help_send[], cli_help_recv[], cli_help_lookup[],
    cli_help_add[], cli_help_monitor[], cli_help_rotate[], cli_help_reset[];

#endif
