/*
 * tui.c: `ckv-bench tui`, ckv-chat's responsiveness and memory.
 *
 * Set-up: a profile on disk (default KDF cost, as a user has it) whose
 * conversation with one contact holds a 10,000-message history, made
 * through core (a session from the contact's bundle, 5,000 messages each
 * way; the contact lives in memory). Then, as ckv-chat does: the worker
 * thread unlocks the profile and reads the history, the UI thread applies
 * the results to its model, and ncurses draws on a terminal whose input is
 * a pipe (the keys) and whose output goes to /dev/null.
 *
 * Figures (JSON lines, bench.h):
 *   tui_key_to_doupdate_p99 / _p50 / _max (us): from the moment get_wch()
 *     returns a key to the end of the doupdate() that shows its effect,
 *     over 1,000 keys: 400 PageUp (deep into the history), 200 typed or
 *     edited characters, 400 PageDown; at 80x24 and at 200x60.
 *   tui_rss_after_unlock (MiB): resident memory once the profile is unlocked
 *     and the 10,000 messages are in the model (the steady state; Argon2id's
 *     256 MiB are released after unlocking).
 * Options: --messages N (default 10000), --keys N (default 1000).
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include "bench.h"

#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curses.h>

#include <ckv/core.h>

#include "ui.h"
#include "view.h"
#include "worker.h"

int ckv_bench_tui(int argc, char **argv);

#define PASS "bench passphrase"

static double rss_now_mib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int seed(const char *dir, long n)
{
    ckv_profile *a = NULL, *b = NULL;
    ckv_bundle bundle;
    int rc = -1;
    ckv_status st = ckv_profile_create(dir, "alice", (const uint8_t *)PASS, strlen(PASS),
                                       CKV_KDF_MODERATE, &a);
    if (st == CKV_OK)
        st = ckv_profile_create(NULL, "bob", (const uint8_t *)PASS, strlen(PASS), CKV_KDF_MIN, &b);
    if (st == CKV_OK)
        st = ckv_profile_export_bundle(b, 1, &bundle);
    if (st == CKV_OK)
        st = ckv_session_start(a, "bob", &bundle, NULL);
    for (long i = 0; st == CKV_OK && i < n; i++) {
        char text[160];
        ckv_envelope env;
        uint8_t *pt = NULL;
        size_t len = 0;
        int out = i % 2 == 0;
        snprintf(text, sizeof(text), "message %05ld: a line of ordinary length, about as long "
                                     "as people type in a chat, with a word or two more", i);
        memset(&env, 0, sizeof(env));
        st = ckv_session_encrypt(out ? a : b, out ? "bob" : "alice", (const uint8_t *)text,
                                 strlen(text), &env);
        if (st == CKV_OK)
            st = ckv_session_decrypt(out ? b : a, out ? "alice" : "bob", &env, &pt, &len, NULL);
        free(pt);
        ckv_envelope_clear(&env);
    }
    if (st != CKV_OK)
        fprintf(stderr, "ckv-bench tui: seeding failed: %s\n", ckv_strerror(st));
    else
        rc = 0;
    ckv_profile_close(a);
    ckv_profile_close(b);
    return rc;
}

/* Wait for worker results until `want` kind arrived; apply all. */
static int pump(struct tui_ui *u, struct tui_worker *w, int want)
{
    for (int tries = 0; tries < 6000; tries++) {
        struct tui_res *r = tui_worker_pop(w);
        int got = 0;
        while (r) {
            struct tui_res *next = r->next;
            r->next = NULL;
            if (r->kind == want)
                got = 1;
            if (r->kind == TUI_RES_FATAL) {
                fprintf(stderr, "ckv-bench tui: %s\n", r->text ? r->text : "fatal");
                tui_res_free(r);
                return -1;
            }
            tui_ui_apply(u, r);
            r = next;
        }
        if (got)
            return 0;
        usleep(10000);
    }
    fprintf(stderr, "ckv-bench tui: the worker did not answer\n");
    return -1;
}

static void key_bytes(int i, int nkeys, char *buf, size_t *len)
{
    int up = nkeys * 2 / 5, type = nkeys / 5;
    if (i < up) {
        memcpy(buf, "\x1b[5~", 4); /* PageUp */
        *len = 4;
    } else if (i < up + type) {
        int k = i - up;
        buf[0] = k % 10 == 9 ? 0x7f : (char)('a' + k % 26); /* letters, some backspaces */
        *len = 1;
    } else {
        memcpy(buf, "\x1b[6~", 4); /* PageDown */
        *len = 4;
    }
}

static int run_keys(struct tui_ui *u, struct tui_view *v, int rows, int cols, int nkeys,
                    const char *label)
{
    double *lat = calloc((size_t)nkeys, sizeof(double));
    double *cpu = calloc((size_t)nkeys, sizeof(double));
    if (!lat || !cpu) {
        free(lat);
        free(cpu);
        return -1;
    }
    resizeterm(rows, cols);
    u->m.convs[u->m.current].scroll = 0;
    tui_view_draw(v, &u->m);
    u->page_rows = v->conv_rows;
    for (int i = 0; i < nkeys; i++) {
        wint_t ch;
        int r = get_wch(&ch);
        if (r == ERR) {
            free(lat);
            free(cpu);
            fprintf(stderr, "ckv-bench tui: key %d not read\n", i);
            return -1;
        }
        uint64_t t0 = ckv_bench_now_ns(), c0 = thread_cpu_ns();
        tui_ui_key(u, r == KEY_CODE_YES, ch);
        tui_view_draw(v, &u->m); /* ends with doupdate() */
        u->page_rows = v->conv_rows;
        lat[i] = (double)(ckv_bench_now_ns() - t0) / 1000.0;
        cpu[i] = (double)(thread_cpu_ns() - c0) / 1000.0;
    }
    char name[96];
    double p50 = ckv_bench_percentile(lat, (size_t)nkeys, 50);
    double p99 = ckv_bench_percentile(lat, (size_t)nkeys, 99);
    double mx = ckv_bench_percentile(lat, (size_t)nkeys, 100);
    snprintf(name, sizeof(name), "tui_key_to_doupdate_p99_%s", label);
    ckv_bench_emit(name, p99, "us", "durable", (uint64_t)nkeys, 1);
    snprintf(name, sizeof(name), "tui_key_to_doupdate_p50_%s", label);
    ckv_bench_emit(name, p50, "us", "durable", (uint64_t)nkeys, 1);
    snprintf(name, sizeof(name), "tui_key_to_doupdate_max_%s", label);
    ckv_bench_emit(name, mx, "us", "durable", (uint64_t)nkeys, 1);
    /* the same on the UI thread's CPU clock: without the time other
     * processes held the CPU (the wall-clock tail on a loaded machine) */
    snprintf(name, sizeof(name), "tui_key_to_doupdate_cpu_p99_%s", label);
    ckv_bench_emit(name, ckv_bench_percentile(cpu, (size_t)nkeys, 99), "us", "durable",
                   (uint64_t)nkeys, 1);
    free(lat);
    free(cpu);
    return 0;
}

int ckv_bench_tui(int argc, char **argv)
{
    long n = 10000;
    int nkeys = 1000, rc = 1;
    char tmpl[] = "/tmp/ckv-bench-tui-XXXXXX", dir[300], cmd[400];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
            n = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc)
            nkeys = (int)strtol(argv[++i], NULL, 10);
        else {
            int help = strcmp(argv[i], "--help") == 0;
            fprintf(help ? stdout : stderr, "usage: ckv-bench tui [--messages N] [--keys N]\n");
            return help ? 0 : 2;
        }
    }
    if (n < 1 || n > 1000000 || nkeys < 10 || nkeys > 1000000) {
        fprintf(stderr, "ckv-bench tui: --messages 1..1000000, --keys 10..1000000\n");
        return 2;
    }
    if (!mkdtemp(tmpl))
        return 1;
    if (!setlocale(LC_ALL, "C.UTF-8"))
        fprintf(stderr, "ckv-bench tui: no C.UTF-8 locale; measuring in the C locale\n");
    snprintf(dir, sizeof(dir), "%s/alice", tmpl);
    fprintf(stderr, "ckv-bench tui: seeding %ld messages...\n", n);
    if (seed(dir, n) != 0)
        goto out;

    /* The keys: written to a pipe that is the terminal's input. */
    int kp[2];
    if (pipe(kp) != 0)
        goto out;
    for (int i = 0; i < 2 * nkeys; i++) {
        char b[8];
        size_t len;
        key_bytes(i % nkeys, nkeys, b, &len);
        if (write(kp[1], b, len) != (ssize_t)len) {
            fprintf(stderr, "ckv-bench tui: the key pipe is full (use fewer --keys)\n");
            goto out;
        }
    }
    FILE *in = fdopen(kp[0], "r");
    FILE *outf = fopen("/dev/null", "w");
    if (!in || !outf)
        goto out;
    SCREEN *scr = newterm("xterm-256color", outf, in);
    if (!scr) {
        fprintf(stderr, "ckv-bench tui: no terminfo entry for xterm-256color\n");
        goto out;
    }
    set_term(scr);
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    set_escdelay(25);

    struct tui_start start;
    memset(&start, 0, sizeof(start));
    snprintf(start.profile_dir, sizeof(start.profile_dir), "%s", dir);
    memcpy(start.pass, PASS, strlen(PASS));
    start.pass_len = strlen(PASS);
    struct tui_worker *w = tui_worker_start(&start);
    struct tui_ui u;
    struct tui_view v;
    tui_view_init(&v, 1);
    tui_ui_init(&u, w);
    if (!w || pump(&u, w, TUI_RES_CONTACTS) != 0)
        goto end;
    tui_ui_switch(&u, tui_model_find_conv(&u.m, "bob"));
    if (pump(&u, w, TUI_RES_HISTORY) != 0)
        goto end;
    if (u.m.convs[u.m.current].n < (size_t)n) {
        fprintf(stderr, "ckv-bench tui: history has %zu lines, want %ld\n",
                u.m.convs[u.m.current].n, n);
        goto end;
    }
    tui_view_draw(&v, &u.m);
    usleep(200000);
    ckv_bench_emit("tui_rss_after_unlock", rss_now_mib(), "MiB", "durable", (uint64_t)n, 1);
    if (run_keys(&u, &v, 24, 80, nkeys, "80x24") != 0 ||
        run_keys(&u, &v, 60, 200, nkeys, "200x60") != 0)
        goto end;
    ckv_bench_emit("tui_rss_after_keys", rss_now_mib(), "MiB", "durable", (uint64_t)n, 1);
    rc = 0;
end:
    endwin();
    tui_worker_stop(w, NULL, NULL);
    tui_view_free(&v);
    tui_ui_free(&u);
    delscreen(scr);
    fclose(in);
    fclose(outf);
out:
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
    if (system(cmd) != 0)
        fprintf(stderr, "ckv-bench tui: could not remove %s\n", tmpl);
    return rc;
}
