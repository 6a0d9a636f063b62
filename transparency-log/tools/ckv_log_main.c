/*
 * ckv_log_main.c: ckv-log, the operator's command-line tool for a ckv
 * transparency log: `ckv-log COMMAND [options]`. This file holds the
 * dispatcher and every help text; each command lives in its own file
 * (log_cmds.h). Exit codes: 0 success, 1 the operation failed, 2 usage.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log_cmds.h"
#include "tool_util.h"

struct cmd {
    const char *name;
    int (*run)(int, char **);
    const char *synopsis;
    const char *help;
};

static const struct cmd cmds[] = {
    {"init", log_cmd_init, "init --db PATH --origin ORIGIN --key KEYFILE",
     "Create a new, empty log in the SQLite database PATH with the origin line\n"
     "ORIGIN (e.g. ckv.example/log), and a new Ed25519 signing key written to\n"
     "KEYFILE (mode 0600; neither file may exist). Prints the verifier key\n"
     "(name+hash+base64) on stdout: give it to auditors (ckv-audit --vkey).\n"},
    {"append", log_cmd_append, "append --db PATH [FILE...]",
     "Append entries. Without FILE, each line of stdin is one entry (the\n"
     "newline is not part of the entry; a last line without newline counts).\n"
     "With FILEs, the content of each FILE is one entry. Entries are durable\n"
     "when the command returns but are not in a checkpoint until `publish`.\n"
     "Prints the index of the first and last entry appended on stdout.\n"},
    {"publish", log_cmd_publish, "publish --db PATH --key KEYFILE",
     "Integrate the appended entries into the tree, then sign and store a\n"
     "checkpoint for the new size (only after the tree is durably committed).\n"
     "Prints the signed checkpoint. With nothing new, re-prints the latest.\n"},
    {"checkpoint", log_cmd_checkpoint, "checkpoint --db PATH",
     "Print the latest signed checkpoint (C2SP tlog-checkpoint in a signed note).\n"},
    {"prove", log_cmd_prove, "prove --db PATH --index I [--size N] | --old M --new N",
     "Print an inclusion proof of entry I in the tree of size N (default: the\n"
     "latest checkpoint's size) as\n"
     "  {\"leaf_index\":I,\"tree_size\":N,\"leaf_hash\":hex,\"path\":[hex,...]}\n"
     "or a consistency proof between tree sizes M <= N as\n"
     "  {\"old_size\":M,\"new_size\":N,\"old_root\":hex,\"new_root\":hex,\"path\":[hex,...]}\n"},
    {"export", log_cmd_export, "export --db PATH DIR",
     "Write the log as a static C2SP tlog-tiles directory: DIR/checkpoint,\n"
     "DIR/tile/<L>/<N>[.p/<W>] and DIR/tile/entries/<N>[.p/<W>], including the\n"
     "partial tiles of the current size. Any static web server can serve DIR.\n"
     "Re-exporting into the same DIR adds what is new; files are written with\n"
     "temp file + rename, the checkpoint last.\n"},
};

static const struct cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(cmds[i].name, name) == 0)
            return &cmds[i];
    return NULL;
}

void log_usage(const char *name, int to_stderr)
{
    FILE *out = to_stderr ? stderr : stdout;
    const struct cmd *c = name ? find_cmd(name) : NULL;
    if (c != NULL) {
        fprintf(out, "Usage: ckv-log %s\n\n%s\nExit status: 0 success, 1 failure, 2 usage error.\n",
                c->synopsis, c->help);
        return;
    }
    fprintf(out, "Usage: ckv-log COMMAND [options]\n\n"
                 "Operate a ckv transparency log (RFC 9162 Merkle tree, C2SP checkpoints\n"
                 "and tiles) stored in one SQLite database.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        fprintf(out, "  ckv-log %s\n", cmds[i].synopsis);
    fprintf(out, "\n`ckv-log COMMAND --help` describes one command; see also ckv-log(1).\n"
                 "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

int log_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "ckv-log: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "; try `ckv-log %s --help`\n", cmd);
    else
        fprintf(stderr, "; try `ckv-log --help`\n");
    return TOOL_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    tool_set_progname("ckv-log");
    if (argc < 2)
        return log_usage_error(NULL, "no command given");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        log_usage(argc > 2 ? argv[2] : NULL, 0);
        return TOOL_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("ckv-log 0.1.0\n");
        return TOOL_EXIT_OK;
    }
    const struct cmd *c = find_cmd(argv[1]);
    if (c == NULL)
        return log_usage_error(NULL, "unknown command '%s'", argv[1]);
    return c->run(argc - 1, argv + 1);
}
