/*
 * cli.h: what the files of the ckv command share.
 *
 * The command is thin: main.c parses the global options and dispatches to
 * one function per subcommand (cmd_*.c); every bit of logic lives in the
 * core library (include/ckv/). This header holds the global options, the
 * passphrase buffer, bounded input helpers and the one-line error printer.
 *
 * Output rule: a command writes to stdout only after it has fully
 * succeeded, so that on error stdout stays empty; errors are one line on
 * stderr ("ckv: ..."), warnings start with "ckv: warning:".
 */
#ifndef CKV_CLI_H
#define CKV_CLI_H

#include <stddef.h>
#include <stdio.h>

#include <ckv/status.h>

/* Longest passphrase accepted, including the terminating NUL. */
#define CLI_PASSPHRASE_MAX 1024

/* Hard caps on what a command reads. */
#define CLI_MAX_PLAINTEXT (1u << 20)  /* 1 MiB of plaintext on stdin */
#define CLI_MAX_JSON (4u << 20)       /* 4 MiB of envelope or bundle JSON */

/* Options that apply to every subcommand. Strings point into argv or the
 * environment and are never freed. */
struct cli_globals {
    const char *profile;         /* --profile, env CKV_PROFILE, else "default" */
    const char *passphrase_file; /* --passphrase-file, or NULL */
};

/* A passphrase: fixed-size, wiped by cli_passphrase_wipe() on every path. */
struct cli_passphrase {
    char buf[CLI_PASSPHRASE_MAX];
    size_t len;
};

/* Obtain a passphrase: the first line of file (when not NULL), else the
 * environment variable env_name, else a prompt on /dev/tty with echo off
 * (asked twice when twice is non-zero). Returns 0, or -1 after printing the
 * error. p is wiped first, and again on failure. */
int cli_passphrase_get(struct cli_passphrase *p, const char *env_name, const char *file,
                       const char *prompt, int twice);
void cli_passphrase_wipe(struct cli_passphrase *p);

/* Print "ckv: <message>\n" on stderr: one line, what failed and what to do. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "ckv: warning: <message>\n" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "ckv: <context>: <ckv_strerror(st)>\n" on stderr; returns 1. */
int cli_fail(ckv_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Read all of f, at most max bytes (more is an error). On success *out is a
 * malloc'ed buffer with a NUL after the *out_len bytes; the caller frees
 * it. Returns 0, or -1 after printing the error (what names the input). */
int cli_read_all(FILE *f, size_t max, const char *what, char **out, size_t *out_len);
/* The same for a file by path. */
int cli_read_file(const char *path, size_t max, char **out, size_t *out_len);
/* Write len bytes to stdout and flush; -1 after printing the error. */
int cli_write_stdout(const void *buf, size_t len);

/* Parse the options every subcommand accepts as well (--profile,
 * --passphrase-file, --help), together with the subcommand's own.
 * See main.c. */
struct option;
enum { CLI_OPT_PROFILE = 1000, CLI_OPT_PASSPHRASE_FILE, CLI_OPT_HELP };

/* Help and usage of one subcommand. */
struct cli_command {
    const char *name;
    int (*run)(struct cli_globals *g, int argc, char **argv);
    const char *synopsis; /* "usage\tone-line description" for `ckv --help` */
    const char *help;     /* full text for `ckv COMMAND --help` */
};

/* Parses argv of a subcommand with getopt_long, handling the shared
 * options itself; returns the option char of a subcommand option, -1 at the
 * end, '?' on a usage error (already printed), 'h' for --help (help printed,
 * the caller returns 0). */
int cli_getopt(struct cli_globals *g, const struct cli_command *cmd, int argc, char **argv,
               const char *shortopts, const struct option *own);

/* Print a usage error for cmd and return 2. */
int cli_usage(const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Profiles (profile_open.c). */
struct ckv_profile;
/* The profile's directory (malloc'd) for g->profile; -1 after an error. */
int cli_profile_dir(const struct cli_globals *g, char **out_dir);
/* Get the passphrase and open the profile; -1 after printing the error. */
int cli_profile_open(const struct cli_globals *g, struct ckv_profile **out);
/* "moderate" | "interactive" | "min" -> ckv_kdf_cost; -1 after an error. */
int cli_parse_kdf(const char *s, int *out_cost);

/* The subcommands, one group per file. */
int cmd_init(struct cli_globals *g, int argc, char **argv);
int cmd_bundle(struct cli_globals *g, int argc, char **argv);
int cmd_passwd(struct cli_globals *g, int argc, char **argv);
int cmd_start(struct cli_globals *g, int argc, char **argv);
int cmd_encrypt(struct cli_globals *g, int argc, char **argv);
int cmd_decrypt(struct cli_globals *g, int argc, char **argv);
int cmd_code(struct cli_globals *g, int argc, char **argv);
int cmd_verify(struct cli_globals *g, int argc, char **argv);
int cmd_accept(struct cli_globals *g, int argc, char **argv);
int cmd_contacts(struct cli_globals *g, int argc, char **argv);

extern const struct cli_command cli_commands[];
const struct cli_command *cli_command_find(const char *name);

#endif
