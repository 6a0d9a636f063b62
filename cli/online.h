/*
 * online.h: the online commands of `ckv` (cmd_online.c): those that talk to
 * ckvd through the core library's client (include/ckv/client.h), and the
 * two hooks `ckv init` uses to pin the server and the log's verifier key.
 * Their help texts live beside the code and are referenced from the
 * command table in main.c.
 */
#ifndef CKV_CLI_ONLINE_H
#define CKV_CLI_ONLINE_H

#include "cli.h"

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
