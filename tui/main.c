/*
 * main.c: ckv-chat, the terminal client. Parses the flags, gets the
 * passphrase (CKV_PASSPHRASE or a no-echo prompt on the terminal), walks a
 * first-time user through creating a profile, starts the worker thread
 * (worker.c, which owns the profile) and runs the UI loop: poll() on the
 * terminal and the worker's pipe, apply keys and results to the model,
 * redraw from the model with one doupdate() per tick. SIGWINCH, SIGINT and
 * SIGTERM only set flags that the loop reads.
 *
 *   ckv-chat [--profile NAME] [--server URL] [--log-key VKEY] [--name ACCOUNT]
 *            [--kdf COST]
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <curses.h>
#include <sodium.h>

#include <ckv/name.h>
#include <ckv/profile.h>

#include "ui.h"
#include "view.h"
#include "worker.h"

#ifndef CKV_VERSION
#define CKV_VERSION "0"
#endif

static volatile sig_atomic_t got_winch, got_quit, got_abandon;

static void on_winch(int sig)
{
    (void)sig;
    got_winch = 1;
}

/* The first: quit (typed messages still queued are sent first); a second
 * while quitting: quit without them. */
static void on_quit(int sig)
{
    (void)sig;
    if (got_quit)
        got_abandon = 1;
    got_quit = 1;
}

static void usage(FILE *f)
{
    fputs("usage: ckv-chat [--profile NAME] [--server URL] [--log-key VKEY] [--name ACCOUNT]\n"
          "                [--kdf COST] [--witness VKEY]... [--quorum K] [--max-view-age S]\n"
          "                [--new-recovery-code]\n"
          "The terminal client of ckv: chat over Signal-protocol sessions, with every\n"
          "key checked against the key transparency log.\n"
          "  --profile NAME   the profile (env CKV_PROFILE; default \"default\"), kept in\n"
          "                   $XDG_DATA_HOME/ckv/NAME (default ~/.local/share)\n"
          "  --server URL     first run: the ckvd server to register with\n"
          "  --log-key VKEY   first run: the log's verifier key, from the operator\n"
          "                   (ckvd prints it at its first start), never from the server\n"
          "  --witness VKEY   first run (repeatable): pin a witness's cosigner key\n"
          "  --quorum K       first run: K witnesses must cosign (default: all)\n"
          "  --max-view-age S sending waits while the witnessed view is older (3600)\n"
          "  --name ACCOUNT   first run: the account name (else asked)\n"
          "  --kdf COST       first run: moderate (default), interactive or min (env CKV_KDF)\n"
          "  --new-recovery-code  first run: protect the account with a recovery code,\n"
          "                   shown once in the status window (a reset needs it)\n"
          "The passphrase comes from CKV_PASSPHRASE, else a prompt on the terminal.\n"
          "Inside: /help lists the commands. See ckv-chat(1).\n",
          f);
}

/* Read one line from the terminal without echo into buf (NUL-terminated,
 * newline removed). Returns the length, or -1. */
static int read_secret(const char *prompt, char *buf, size_t size)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    struct termios old, quiet;
    int restore = 0, n = -1;
    if (fd < 0)
        return -1;
    if (tcgetattr(fd, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        if (tcsetattr(fd, TCSAFLUSH, &quiet) == 0)
            restore = 1;
    }
    if (write(fd, prompt, strlen(prompt)) < 0)
        goto out;
    size_t len = 0;
    for (;;) {
        char c;
        ssize_t k = read(fd, &c, 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            goto out;
        if (c == '\n' || c == '\r')
            break;
        if (len + 1 < size)
            buf[len++] = c;
    }
    buf[len] = 0;
    n = (int)len;
out:
    if (restore)
        (void)tcsetattr(fd, TCSAFLUSH, &old);
    if (write(fd, "\n", 1) < 0) {
        /* nothing to do */
    }
    close(fd);
    return n;
}

/* Read one visible line from the terminal (stdin). */
static int read_line(const char *prompt, char *buf, size_t size)
{
    fputs(prompt, stdout);
    fflush(stdout);
    if (!fgets(buf, (int)size, stdin))
        return -1;
    buf[strcspn(buf, "\r\n")] = 0;
    return (int)strlen(buf);
}

static int get_passphrase(struct tui_start *s, int twice)
{
    const char *env = getenv("CKV_PASSPHRASE");
    if (env && *env) {
        size_t n = strlen(env);
        if (n >= sizeof(s->pass)) {
            fprintf(stderr, "ckv-chat: CKV_PASSPHRASE is longer than %zu bytes\n",
                    sizeof(s->pass) - 1);
            return -1;
        }
        memcpy(s->pass, env, n);
        s->pass_len = n;
        return 0;
    }
    char a[sizeof(s->pass)], b[sizeof(s->pass)];
    int rc = -1;
    int n = read_secret(twice ? "New passphrase for the profile: " : "Passphrase: ", a,
                        sizeof(a));
    if (n < 0) {
        fprintf(stderr, "ckv-chat: cannot read the passphrase: no terminal (set CKV_PASSPHRASE)\n");
        goto out;
    }
    if (n == 0) {
        fprintf(stderr, "ckv-chat: the passphrase is empty; choose one with at least 1 character\n");
        goto out;
    }
    if (twice) {
        if (read_secret("Again, to be sure: ", b, sizeof(b)) != n ||
            sodium_memcmp(a, b, (size_t)n) != 0) {
            fprintf(stderr, "ckv-chat: the two passphrases differ; nothing was created\n");
            goto out;
        }
    }
    memcpy(s->pass, a, (size_t)n);
    s->pass_len = (size_t)n;
    rc = 0;
out:
    sodium_memzero(a, sizeof(a));
    sodium_memzero(b, sizeof(b));
    return rc;
}

static int parse_kdf(const char *s, int *out)
{
    if (strcmp(s, "moderate") == 0)
        *out = CKV_KDF_MODERATE;
    else if (strcmp(s, "interactive") == 0)
        *out = CKV_KDF_INTERACTIVE;
    else if (strcmp(s, "min") == 0)
        *out = CKV_KDF_MIN;
    else {
        fprintf(stderr, "ckv-chat: unknown --kdf cost '%s': use moderate, interactive or min\n",
                s);
        return -1;
    }
    return 0;
}

/* First run: ask what the flags did not say. */
static int first_run(struct tui_start *s, const char *profile, const char *name,
                     const char *server, const char *vkey)
{
    char buf[1024], norm[CKV_NAME_MAX + 1];
    printf("Welcome to ckv-chat. There is no profile '%s' yet (%s);\n"
           "this sets one up: your identity key stays on this machine, sealed\n"
           "with a passphrase, and its public half is published in the server's\n"
           "key transparency log so that your contacts can check it.\n\n",
           profile, s->profile_dir);
    if (!name) {
        if (read_line("Account name (e.g. alice@example.org): ", buf, sizeof(buf)) < 0)
            return -1;
        name = buf;
    }
    if (ckv_name_normalize(name, norm) != CKV_OK) {
        fprintf(stderr, "ckv-chat: '%s' is not an account name: 1-64 of a-z 0-9 . _ + @ -\n",
                name);
        return -1;
    }
    snprintf(s->account, sizeof(s->account), "%s", norm);
    if (!server) {
        if (read_line("Server URL (empty: no server for now): ", buf, sizeof(buf)) < 0)
            return -1;
        server = buf;
    }
    snprintf(s->server, sizeof(s->server), "%s", server);
    if (s->server[0] && !vkey) {
        printf("The log's verifier key comes from the server's operator (ckvd prints it\n"
               "at its first start and keeps it in DATA/log.vkey), never from the server.\n");
        if (read_line("Log verifier key: ", buf, sizeof(buf)) <= 0) {
            fprintf(stderr, "ckv-chat: a server needs its log verifier key (--log-key VKEY)\n");
            return -1;
        }
        vkey = buf;
    }
    snprintf(s->log_key, sizeof(s->log_key), "%s", vkey ? vkey : "");
    s->create = 1;
    s->register_account = s->server[0] != 0;
    return get_passphrase(s, 1);
}

static void handle_resize(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
        resizeterm(ws.ws_row, ws.ws_col);
    else {
        endwin();
        refresh();
    }
}

static int run(struct tui_start *start)
{
    struct tui_ui u;
    struct tui_view v;
    struct tui_worker *w = tui_worker_start(start);
    sodium_memzero(start->pass, sizeof(start->pass));
    if (!w) {
        fprintf(stderr, "ckv-chat: cannot start the worker thread\n");
        return 1;
    }
    int utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    initscr();
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    /* bracketed paste: a pasted text arrives between these two, so that
     * its line breaks do not send lines or run commands (ui.c) */
    define_key("\033[200~", TUI_KEY_PASTE_BEGIN);
    define_key("\033[201~", TUI_KEY_PASTE_END);
    fputs("\033[?2004h", stdout);
    fflush(stdout);
    tui_view_init(&v, utf8);
    tui_ui_init(&u, w);
    tui_model_note(&u.m, 0, TUI_LINE_INFO, "unlocking the profile...");
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_winch;
    sigaction(SIGWINCH, &sa, NULL);
    sa.sa_handler = on_quit;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    time_t last = 0;
    while (!u.m.quit && !got_quit) {
        if (got_winch) {
            got_winch = 0;
            handle_resize();
            u.m.dirty = 1;
        }
        if (u.redraw_all) {
            u.redraw_all = 0;
            clearok(curscr, TRUE);
            u.m.dirty = 1;
        }
        time_t now = time(NULL);
        if (now != last) { /* ages in the status bar */
            last = now;
            u.m.dirty = 1;
        }
        if (u.m.dirty) {
            tui_view_draw(&v, &u.m);
            u.page_rows = v.conv_rows;
        }
        struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                              {.fd = tui_worker_fd(w), .events = POLLIN}};
        int k = poll(p, 2, 1000);
        if (k < 0 && errno != EINTR)
            break;
        if (p[0].revents & (POLLHUP | POLLERR))
            break;
        wint_t ch;
        int r;
        while (!u.m.quit && (r = get_wch(&ch)) != ERR) { /* nothing after /quit */
            if (r == KEY_CODE_YES && ch == KEY_RESIZE) {
                got_winch = 1;
                continue;
            }
            tui_ui_key(&u, r == KEY_CODE_YES, ch);
        }
        struct tui_res *res = tui_worker_pop(w);
        while (res) {
            struct tui_res *next = res->next;
            res->next = NULL;
            tui_ui_apply(&u, res);
            res = next;
        }
    }
    fputs("\033[?2004l", stdout); /* bracketed paste off */
    fflush(stdout);
    endwin();
    got_quit = 1; /* from here a Ctrl-C means: quit without the queued messages */
    size_t pending = tui_worker_pending_sends(w);
    if (pending > 0)
        fprintf(stderr,
                "ckv-chat: sending the %zu message%s typed before quitting (Ctrl-C to quit "
                "without %s)...\n",
                pending, pending == 1 ? "" : "s", pending == 1 ? "it" : "them");
    int rc = 0;
    if (tui_worker_stop(w, &got_abandon, stderr) > 0)
        rc = 1;
    if (u.fatal) {
        fprintf(stderr, "ckv-chat: %s\n", u.fatal_text);
        rc = 1;
    }
    tui_view_free(&v);
    tui_ui_free(&u);
    return rc;
}

int main(int argc, char **argv)
{
    static struct tui_start start; /* large; holds the passphrase until the worker copies it */
    const char *profile = getenv("CKV_PROFILE");
    const char *server = NULL, *vkey = NULL, *name = NULL;
    const char *kdf = getenv("CKV_KDF");
    char *dir = NULL;
    int rc = 1;
    enum { O_PROFILE = 256, O_SERVER, O_LOGKEY, O_NAME, O_KDF, O_VERSION, O_WITNESS, O_QUORUM,
           O_MAXVIEW, O_RECOVERY };
    static const struct option opts[] = {{"profile", required_argument, NULL, O_PROFILE},
                                         {"server", required_argument, NULL, O_SERVER},
                                         {"log-key", required_argument, NULL, O_LOGKEY},
                                         {"name", required_argument, NULL, O_NAME},
                                         {"kdf", required_argument, NULL, O_KDF},
                                         {"witness", required_argument, NULL, O_WITNESS},
                                         {"quorum", required_argument, NULL, O_QUORUM},
                                         {"max-view-age", required_argument, NULL, O_MAXVIEW},
                                         {"new-recovery-code", no_argument, NULL, O_RECOVERY},
                                         {"version", no_argument, NULL, O_VERSION},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    setlocale(LC_ALL, "");
    if (!profile || !*profile)
        profile = "default";
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_PROFILE:
            profile = optarg;
            break;
        case O_SERVER:
            server = optarg;
            break;
        case O_LOGKEY:
            vkey = optarg;
            break;
        case O_NAME:
            name = optarg;
            break;
        case O_KDF:
            kdf = optarg;
            break;
        case O_WITNESS:
            if (start.n_witness == 16 || strlen(optarg) >= sizeof(start.witness[0])) {
                fprintf(stderr, "ckv-chat: at most 16 --witness keys, each a verifier key\n");
                return 2;
            }
            snprintf(start.witness[start.n_witness++], sizeof(start.witness[0]), "%s", optarg);
            break;
        case O_QUORUM:
        case O_MAXVIEW: {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end || v < 1 || (c == O_QUORUM && v > 16) ||
                v > 86400L * 365) {
                fprintf(stderr, "ckv-chat: bad --%s '%s': give a whole number, at least 1\n",
                        c == O_QUORUM ? "quorum" : "max-view-age", optarg);
                return 2;
            }
            if (c == O_QUORUM)
                start.quorum = (unsigned)v;
            else
                start.max_view_age = v;
            break;
        }
        case O_RECOVERY:
            start.new_recovery_code = 1;
            break;
        case O_VERSION:
            printf("ckv-chat %s\n", CKV_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "ckv-chat: run 'ckv-chat --help' for the options\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ckv-chat: unexpected argument '%s'; run 'ckv-chat --help'\n",
                argv[optind]);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "ckv-chat: libsodium failed to start\n");
        return 1;
    }
    if (start.quorum > start.n_witness) {
        fprintf(stderr, "ckv-chat: --quorum %u needs at least that many --witness keys (%zu given)\n",
                start.quorum, start.n_witness);
        return 2;
    }
    start.kdf_cost = CKV_KDF_MODERATE;
    if (kdf && *kdf && parse_kdf(kdf, &start.kdf_cost) != 0)
        return 2;
    ckv_status st = ckv_profile_dir(profile, &dir);
    if (st == CKV_ERR_BAD_NAME) {
        fprintf(stderr, "ckv-chat: bad profile name '%s': use 1-64 characters from A-Z a-z 0-9 "
                        ". _ - not starting with '.'\n", profile);
        return 2;
    }
    if (st != CKV_OK) {
        fprintf(stderr, "ckv-chat: cannot use profile '%s': %s\n", profile, ckv_strerror(st));
        return 1;
    }
    snprintf(start.profile_dir, sizeof(start.profile_dir), "%s", dir);
    if (!ckv_profile_exists(dir)) {
        if (!isatty(STDIN_FILENO)) {
            fprintf(stderr, "ckv-chat: no profile '%s' in %s; run ckv-chat on a terminal to "
                            "create one\n", profile, dir);
            goto out;
        }
        if (first_run(&start, profile, name, server, vkey) != 0)
            goto out;
    } else {
        if (server || vkey || name || start.n_witness > 0 || start.new_recovery_code)
            fprintf(stderr, "ckv-chat: note: profile '%s' exists; --server, --log-key, "
                            "--witness, --quorum, --name and --new-recovery-code only apply "
                            "when creating one (ckv rotate --new-recovery-code sets a code "
                            "later)\n",
                    profile);
        if (get_passphrase(&start, 0) != 0)
            goto out;
    }
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "ckv-chat: needs a terminal (use the ckv command for scripts)\n");
        goto out;
    }
    rc = run(&start);
out:
    sodium_memzero(&start, sizeof(start));
    free(dir);
    return rc;
}
