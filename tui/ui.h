/*
 * ui.h: the UI thread's logic between the terminal and the worker: applying
 * worker results to the model, key presses to the editor and the screens,
 * and slash commands to worker commands. No drawing (view.c) and no core
 * calls except the pure name normalisation.
 */
#ifndef CKV_TUI_UI_H
#define CKV_TUI_UI_H

#include <wchar.h>

#include "model.h"
#include "worker.h"

struct tui_ui {
    struct tui_model m;
    struct tui_worker *w; /* may be NULL in tests: commands are then dropped */
    uint64_t next_token;
    int page_rows;        /* conversation pane height at the last draw (PageUp step) */
    int redraw_all;       /* Ctrl-L: repaint the whole terminal */
    int edit_full;        /* the input line refused a character (said once) */
    int fatal;            /* the worker cannot continue: exit with fatal_text */
    char fatal_text[1100];
};

void tui_ui_init(struct tui_ui *u, struct tui_worker *w);
void tui_ui_free(struct tui_ui *u);

/* Apply one worker result (consumed). */
void tui_ui_apply(struct tui_ui *u, struct tui_res *r);

/* One key from get_wch: is_key = 1 for KEY_* codes. */
void tui_ui_key(struct tui_ui *u, int is_key, wint_t ch);

/* Run an entered line: a slash command, or a message for the current
 * conversation. */
void tui_ui_line(struct tui_ui *u, const char *line);

/* Switch to conversation i (loads its history on first use). */
void tui_ui_switch(struct tui_ui *u, size_t i);

#endif
