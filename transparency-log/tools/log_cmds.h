/*
 * log_cmds.h: the subcommands of ckv-log, one file each (log_init.c,
 * log_append.c, log_publish.c, log_prove.c, log_export.c). Each takes the
 * argv that follows the subcommand name (argv[0] is the subcommand) and
 * returns an exit code (tool_util.h): 0 success, 1 failure, 2 usage error.
 */
#ifndef CKV_LOG_CMDS_H
#define CKV_LOG_CMDS_H

int log_cmd_init(int argc, char **argv);
int log_cmd_append(int argc, char **argv);
int log_cmd_publish(int argc, char **argv);
int log_cmd_checkpoint(int argc, char **argv);
int log_cmd_prove(int argc, char **argv);
int log_cmd_export(int argc, char **argv);

/* The help text of one subcommand (NULL name: the overview) on `out`. */
void log_usage(const char *name, int to_stderr);

/* Report a usage error ("what; try `ckv-log CMD --help`") and return 2. */
int log_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
