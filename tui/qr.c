/*
 * qr.c: QR codes as Unicode half blocks (qr.h). libqrencode returns one
 * byte per module with bit 0 set for dark; two module rows make one line of
 * text: U+2580 upper half, U+2584 lower half, U+2588 full block, space.
 */
#include "qr.h"

#include <stdlib.h>
#include <string.h>

#include <qrencode.h>

uint8_t *tui_qr_modules(const uint8_t *data, size_t len, size_t *size)
{
    if (!data || len == 0 || len > 2000)
        return NULL;
    QRcode *q = QRcode_encodeData((int)len, data, 0, QR_ECLEVEL_L);
    if (!q)
        return NULL;
    size_t n = (size_t)q->width;
    uint8_t *m = malloc(n * n);
    if (m) {
        for (size_t i = 0; i < n * n; i++)
            m[i] = q->data[i] & 1;
        *size = n;
    }
    QRcode_free(q);
    return m;
}

void tui_qr_free(struct tui_qr *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n_rows; i++)
        free(q->rows[i]);
    free(q->rows);
    memset(q, 0, sizeof(*q));
}

int tui_qr_render(const uint8_t *data, size_t len, struct tui_qr *out)
{
    size_t n = 0;
    uint8_t *m = tui_qr_modules(data, len, &n);
    struct tui_qr q;
    memset(&q, 0, sizeof(q));
    if (!m)
        return -1;
    size_t full = n + 2 * TUI_QR_QUIET;
    q.width = full;
    q.n_rows = (full + 1) / 2;
    q.rows = calloc(q.n_rows, sizeof(char *));
    if (!q.rows)
        goto fail;
    for (size_t r = 0; r < q.n_rows; r++) {
        char *s = malloc(full * 3 + 1);
        if (!s)
            goto fail;
        q.rows[r] = s;
        size_t o = 0;
        for (size_t c = 0; c < full; c++) {
            int light[2];
            for (int h = 0; h < 2; h++) {
                size_t y = 2 * r + (size_t)h;
                if (y >= full) {
                    light[h] = 0; /* below the code: terminal background */
                    continue;
                }
                int in = y >= TUI_QR_QUIET && y < TUI_QR_QUIET + n && c >= TUI_QR_QUIET &&
                         c < TUI_QR_QUIET + n;
                light[h] = in ? !m[(y - TUI_QR_QUIET) * n + (c - TUI_QR_QUIET)] : 1;
            }
            const char *g = light[0] && light[1] ? "\xe2\x96\x88"
                            : light[0]           ? "\xe2\x96\x80"
                            : light[1]           ? "\xe2\x96\x84"
                                                 : " ";
            size_t gl = strlen(g);
            memcpy(s + o, g, gl);
            o += gl;
        }
        s[o] = 0;
    }
    free(m);
    *out = q;
    return 0;
fail:
    free(m);
    tui_qr_free(&q);
    return -1;
}
