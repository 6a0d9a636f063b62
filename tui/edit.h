/*
 * edit.h: the input line editor: a wide-character buffer with a cursor,
 * emacs-style editing keys, a history of entered lines and Tab completion
 * of slash commands and contact names. Pure data, no ncurses: ui.c maps
 * keys to these calls and view.c draws the buffer.
 */
#ifndef CKV_TUI_EDIT_H
#define CKV_TUI_EDIT_H

#include <stddef.h>
#include <wchar.h>

#define TUI_EDIT_MAX 8000 /* characters in the input line (ckv sends at most 32 KiB) */
#define TUI_HIST_MAX 200  /* remembered lines */

struct tui_edit {
    wchar_t buf[TUI_EDIT_MAX + 1]; /* NUL-terminated */
    size_t len, cur;               /* characters, cursor position 0..len */
    char *hist[TUI_HIST_MAX];      /* oldest first, UTF-8, malloc'd */
    size_t n_hist;
    size_t hist_pos;               /* n_hist = editing a new line */
    wchar_t saved[TUI_EDIT_MAX + 1]; /* the new line while browsing history */
};

void tui_edit_init(struct tui_edit *e);
void tui_edit_free(struct tui_edit *e);
void tui_edit_clear(struct tui_edit *e);

int tui_edit_insert(struct tui_edit *e, wchar_t c); /* 0, or -1 when full */
void tui_edit_backspace(struct tui_edit *e);
void tui_edit_delete(struct tui_edit *e);
void tui_edit_left(struct tui_edit *e);
void tui_edit_right(struct tui_edit *e);
void tui_edit_home(struct tui_edit *e);
void tui_edit_end(struct tui_edit *e);
void tui_edit_kill_to_end(struct tui_edit *e);   /* Ctrl-K */
void tui_edit_kill_to_start(struct tui_edit *e); /* Ctrl-U */
void tui_edit_kill_word(struct tui_edit *e);     /* Ctrl-W */
void tui_edit_hist_prev(struct tui_edit *e);     /* Up */
void tui_edit_hist_next(struct tui_edit *e);     /* Down */

/* Set the buffer from UTF-8 (cursor at the end). */
void tui_edit_set(struct tui_edit *e, const char *utf8);

/* The line as UTF-8 into out (size bytes); returns 0, or -1 if it does not
 * fit. */
int tui_edit_get(const struct tui_edit *e, char *out, size_t size);

/* Take the line: returns it as malloc'd UTF-8 (NULL on OOM), remembers it in
 * the history (unless empty or equal to the last one) and clears the buffer. */
char *tui_edit_take(struct tui_edit *e);

/* Tab completion. The word before the cursor is completed: the first word
 * of a line starting with '/' against `commands`, a later word of a command
 * in `name_commands` against `names`. One match: the word is completed and
 * a space added; several: the common prefix is inserted and the candidates
 * are written to `shown` (space-separated). Returns the number of matches. */
size_t tui_edit_complete(struct tui_edit *e, const char *const *commands, size_t n_commands,
                         const char *const *name_commands, size_t n_name_commands,
                         const char *const *names, size_t n_names, char *shown,
                         size_t shown_size);

#endif
