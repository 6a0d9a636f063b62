/*
 * passphrase.c: how the ckv command obtains a passphrase.
 *
 * In order: a file named on the command line (its first line, without the
 * line end; an explicit option wins), the environment (CKV_PASSPHRASE, or
 * CKV_NEW_PASSPHRASE for a new one), else a prompt on the controlling terminal (/dev/tty) with echo
 * turned off through termios. A new passphrase typed at the terminal is
 * asked twice. The passphrase lives in a fixed-size buffer owned by the
 * caller, who wipes it with cli_passphrase_wipe() on every path.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

void cli_passphrase_wipe(struct cli_passphrase *p)
{
    sodium_memzero(p->buf, sizeof(p->buf));
    p->len = 0;
}

/* Copy s (NUL-terminated) without its trailing line end into p. */
static int take(struct cli_passphrase *p, const char *s, const char *where)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    if (n == 0) {
        cli_error("the passphrase from %s is empty; give a non-empty passphrase", where);
        return -1;
    }
    if (n >= sizeof(p->buf)) {
        cli_error("the passphrase from %s is longer than %zu bytes; use a shorter one", where,
                  sizeof(p->buf) - 1);
        return -1;
    }
    memcpy(p->buf, s, n);
    p->buf[n] = '\0';
    p->len = n;
    return 0;
}

static int from_file(struct cli_passphrase *p, const char *path)
{
    char line[CLI_PASSPHRASE_MAX + 2];
    int rc = -1;
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_error("cannot open the passphrase file %s: %s; check the path", path, strerror(errno));
        return -1;
    }
    if (!fgets(line, sizeof(line), f)) {
        cli_error("the passphrase file %s is empty; write the passphrase on its first line", path);
        goto out;
    }
    if (!strchr(line, '\n') && !feof(f) && fgetc(f) != EOF) {
        cli_error("the passphrase in %s is longer than %d bytes; use a shorter one", path,
                  CLI_PASSPHRASE_MAX - 1);
        goto out;
    }
    rc = take(p, line, path);
out:
    sodium_memzero(line, sizeof(line));
    fclose(f);
    return rc;
}

/* While echo is off, a signal that ends the process first restores the
 * terminal (then dies by the same signal). */
static int g_tty_fd = -1;
static struct termios g_tty_saved;

static void restore_and_die(int sig)
{
    if (g_tty_fd >= 0)
        tcsetattr(g_tty_fd, TCSAFLUSH, &g_tty_saved);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void guard(int fd, const struct termios *saved, int on)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};
    if (on) {
        g_tty_saved = *saved;
        g_tty_fd = fd;
    }
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], on ? restore_and_die : SIG_DFL);
    if (!on)
        g_tty_fd = -1;
}

/* Read one line from the terminal with echo off. */
static int prompt_once(struct cli_passphrase *p, const char *prompt)
{
    char line[CLI_PASSPHRASE_MAX + 2];
    struct termios old, quiet;
    int rc = -1, restored = 0;
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    FILE *tty = NULL;
    if (fd < 0) {
        cli_error("no passphrase: there is no terminal to ask on; set CKV_PASSPHRASE or use "
                  "--passphrase-file FILE");
        return -1;
    }
    tty = fdopen(fd, "r+");
    if (!tty) {
        close(fd);
        cli_error("cannot use the terminal: %s", strerror(errno));
        return -1;
    }
    if (tcgetattr(fd, &old) != 0) {
        cli_error("cannot read the terminal settings: %s; set CKV_PASSPHRASE or use "
                  "--passphrase-file FILE", strerror(errno));
        goto out;
    }
    quiet = old;
    quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHOE | ECHOK | ECHONL);
    quiet.c_lflag |= ICANON;
    fputs(prompt, tty);
    fflush(tty);
    guard(fd, &old, 1);
    if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
        guard(fd, &old, 0);
        cli_error("cannot turn off the terminal echo: %s", strerror(errno));
        goto out;
    }
    restored = 1;
    char *got = fgets(line, sizeof(line), tty);
    tcsetattr(fd, TCSAFLUSH, &old);
    guard(fd, &old, 0);
    restored = 0;
    fputs("\n", tty);
    fflush(tty);
    if (!got) {
        cli_error("no passphrase was typed");
        goto out;
    }
    if (!strchr(line, '\n')) {
        cli_error("the passphrase typed is longer than %d bytes; use a shorter one",
                  CLI_PASSPHRASE_MAX - 1);
        goto out;
    }
    rc = take(p, line, "the terminal");
out:
    if (restored) {
        tcsetattr(fd, TCSAFLUSH, &old);
        guard(fd, &old, 0);
    }
    sodium_memzero(line, sizeof(line));
    fclose(tty);
    return rc;
}

int cli_passphrase_get(struct cli_passphrase *p, const char *env_name, const char *file,
                       const char *prompt, int twice)
{
    const char *env = getenv(env_name);
    struct cli_passphrase again;
    int rc = -1;

    cli_passphrase_wipe(p);
    if (file)
        return from_file(p, file);
    if (env)
        return take(p, env, env_name);
    if (prompt_once(p, prompt) != 0)
        return -1;
    if (!twice)
        return 0;
    memset(&again, 0, sizeof(again));
    if (prompt_once(&again, "Repeat the passphrase: ") != 0)
        goto out;
    if (again.len != p->len || sodium_memcmp(again.buf, p->buf, p->len) != 0) {
        cli_error("the two passphrases typed differ; run the command again");
        goto out;
    }
    rc = 0;
out:
    cli_passphrase_wipe(&again);
    if (rc != 0)
        cli_passphrase_wipe(p);
    return rc;
}
