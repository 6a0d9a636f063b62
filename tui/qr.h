/*
 * qr.h: a QR code as lines of Unicode half blocks, two modules per
 * character cell vertically (libqrencode does the encoding).
 */
#ifndef CKV_TUI_QR_H
#define CKV_TUI_QR_H

#include <stddef.h>
#include <stdint.h>

#define TUI_QR_QUIET 2 /* quiet-zone modules on each side (the standard asks 4; terminals are small) */

struct tui_qr {
    char **rows;  /* n_rows NUL-terminated UTF-8 strings */
    size_t n_rows;
    size_t width; /* columns of each row */
};

/* Encode `len` bytes (8-bit mode, error correction level L) and draw them:
 * light modules (and the quiet zone) as blocks, dark modules as spaces, as
 * `qrencode -t UTF8` does, which scans on a terminal with a dark
 * background. Returns 0, or -1 (too long, out of memory). *out is written
 * on success only; free with tui_qr_free. */
int tui_qr_render(const uint8_t *data, size_t len, struct tui_qr *out);
void tui_qr_free(struct tui_qr *q);

/* The module grid (for tests): 1 dark, 0 light; *size modules a side.
 * Returns a malloc'd array of size*size bytes, or NULL. */
uint8_t *tui_qr_modules(const uint8_t *data, size_t len, size_t *size);

#endif
