/*
 * view.h: drawing the screen from the model (the only ncurses output code).
 * Each tick that changed something erases the screen, draws everything from
 * the model, and ends with one doupdate(); ncurses sends only the
 * difference to the terminal.
 */
#ifndef CKV_TUI_VIEW_H
#define CKV_TUI_VIEW_H

#include "model.h"
#include "qr.h"

struct tui_view {
    int utf8;   /* the locale is UTF-8: Unicode marks and half blocks */
    int colors; /* the terminal has colours; otherwise bold/reverse/underline */
    struct tui_qr qr;         /* the QR of the overlay being shown */
    char qr_for[130];         /* which payload qr belongs to (hex prefix) */
    int conv_rows;            /* rows of the conversation pane at the last draw */
};

/* After initscr(): colours and the monochrome fallback. */
void tui_view_init(struct tui_view *v, int utf8);
void tui_view_free(struct tui_view *v);

/* Draw everything, then doupdate(). Clamps scroll positions in m. */
void tui_view_draw(struct tui_view *v, struct tui_model *m);

/* Display width of UTF-8 text (wcwidth; unprintable counts 1). */
int tui_text_width(const char *s);

#endif
