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
    int pasting;          /* inside a bracketed paste: line breaks do not submit */
    int fatal;            /* the worker cannot continue: exit with fatal_text */
    char fatal_text[1100];
};

void tui_ui_init(struct tui_ui *u, struct tui_worker *w);
void tui_ui_free(struct tui_ui *u);

/* Apply one worker result (consumed). */
void tui_ui_apply(struct tui_ui *u, struct tui_res *r);

/* The key codes main.c defines (define_key) for the start and the end of
 * a bracketed paste (ESC [ 200 ~ ... ESC [ 201 ~), above ncurses' KEY_MAX. */
#define TUI_KEY_PASTE_BEGIN 01001
#define TUI_KEY_PASTE_END 01002

/* One key from get_wch: is_key = 1 for KEY_* codes. Inside a paste a line
 * break becomes a space: pasted text waits in the input line, one line,
 * for the user to send or edit; a pasted line never runs a command. */
void tui_ui_key(struct tui_ui *u, int is_key, wint_t ch);

/* Run an entered line: a slash command, or a message for the current
 * conversation. */
void tui_ui_line(struct tui_ui *u, const char *line);

/* Switch to conversation i (loads its history on first use). */
void tui_ui_switch(struct tui_ui *u, size_t i);

#endif
