/*
 * edit.c: the input line editor (edit.h). The buffer holds wide characters
 * so that the cursor moves by character; conversion to and from UTF-8
 * happens only at the edges (set/get/take), with wcrtomb/mbrtowc under the
 * UTF-8 locale ckv-chat sets at start.
 */
#include "edit.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

void tui_edit_init(struct tui_edit *e)
{
    memset(e, 0, sizeof(*e));
}

void tui_edit_free(struct tui_edit *e)
{
    for (size_t i = 0; i < e->n_hist; i++)
        free(e->hist[i]);
    e->n_hist = 0;
    tui_edit_clear(e);
}

void tui_edit_clear(struct tui_edit *e)
{
    e->len = e->cur = 0;
    e->buf[0] = 0;
    e->hist_pos = e->n_hist;
}

int tui_edit_insert(struct tui_edit *e, wchar_t c)
{
    if (e->len >= TUI_EDIT_MAX)
        return -1;
    memmove(&e->buf[e->cur + 1], &e->buf[e->cur], (e->len - e->cur + 1) * sizeof(wchar_t));
    e->buf[e->cur] = c;
    e->len++;
    e->cur++;
    return 0;
}

static void cut(struct tui_edit *e, size_t from, size_t to)
{
    if (to <= from)
        return;
    memmove(&e->buf[from], &e->buf[to], (e->len - to + 1) * sizeof(wchar_t));
    e->len -= to - from;
    if (e->cur > to)
        e->cur -= to - from;
    else if (e->cur > from)
        e->cur = from;
}

void tui_edit_backspace(struct tui_edit *e)
{
    if (e->cur > 0)
        cut(e, e->cur - 1, e->cur);
}

void tui_edit_delete(struct tui_edit *e)
{
    if (e->cur < e->len)
        cut(e, e->cur, e->cur + 1);
}

void tui_edit_left(struct tui_edit *e)
{
    if (e->cur > 0)
        e->cur--;
}

void tui_edit_right(struct tui_edit *e)
{
    if (e->cur < e->len)
        e->cur++;
}

void tui_edit_home(struct tui_edit *e)
{
    e->cur = 0;
}

void tui_edit_end(struct tui_edit *e)
{
    e->cur = e->len;
}

void tui_edit_kill_to_end(struct tui_edit *e)
{
    cut(e, e->cur, e->len);
}

void tui_edit_kill_to_start(struct tui_edit *e)
{
    cut(e, 0, e->cur);
}

void tui_edit_kill_word(struct tui_edit *e)
{
    size_t i = e->cur;
    while (i > 0 && iswspace((wint_t)e->buf[i - 1]))
        i--;
    while (i > 0 && !iswspace((wint_t)e->buf[i - 1]))
        i--;
    cut(e, i, e->cur);
}

void tui_edit_set(struct tui_edit *e, const char *s)
{
    mbstate_t st;
    memset(&st, 0, sizeof(st));
    e->len = 0;
    size_t n = strlen(s);
    while (n > 0 && e->len < TUI_EDIT_MAX) {
        wchar_t wc;
        size_t k = mbrtowc(&wc, s, n, &st);
        if (k == (size_t)-1 || k == (size_t)-2) {
            memset(&st, 0, sizeof(st));
            wc = L'?';
            k = 1;
        } else if (k == 0) {
            break;
        }
        e->buf[e->len++] = wc;
        s += k;
        n -= k;
    }
    e->buf[e->len] = 0;
    e->cur = e->len;
}

int tui_edit_get(const struct tui_edit *e, char *out, size_t size)
{
    mbstate_t st;
    char tmp[MB_LEN_MAX];
    size_t o = 0;
    memset(&st, 0, sizeof(st));
    for (size_t i = 0; i < e->len; i++) {
        size_t k = wcrtomb(tmp, e->buf[i], &st);
        if (k == (size_t)-1) {
            tmp[0] = '?';
            k = 1;
            memset(&st, 0, sizeof(st));
        }
        if (o + k + 1 > size)
            return -1;
        memcpy(out + o, tmp, k);
        o += k;
    }
    if (o + 1 > size)
        return -1;
    out[o] = 0;
    return 0;
}

char *tui_edit_take(struct tui_edit *e)
{
    size_t size = e->len * MB_LEN_MAX + 1;
    char *s = malloc(size);
    if (!s)
        return NULL;
    if (tui_edit_get(e, s, size) != 0) {
        free(s);
        return NULL;
    }
    if (s[0] && (e->n_hist == 0 || strcmp(e->hist[e->n_hist - 1], s) != 0)) {
        char *copy = strdup(s);
        if (copy) {
            if (e->n_hist == TUI_HIST_MAX) {
                free(e->hist[0]);
                memmove(&e->hist[0], &e->hist[1], (TUI_HIST_MAX - 1) * sizeof(char *));
                e->n_hist--;
            }
            e->hist[e->n_hist++] = copy;
        }
    }
    tui_edit_clear(e);
    return s;
}

void tui_edit_hist_prev(struct tui_edit *e)
{
    if (e->hist_pos == 0)
        return;
    if (e->hist_pos == e->n_hist)
        memcpy(e->saved, e->buf, (e->len + 1) * sizeof(wchar_t));
    e->hist_pos--;
    tui_edit_set(e, e->hist[e->hist_pos]);
}

void tui_edit_hist_next(struct tui_edit *e)
{
    if (e->hist_pos >= e->n_hist)
        return;
    e->hist_pos++;
    if (e->hist_pos == e->n_hist) {
        size_t n = wcslen(e->saved);
        memcpy(e->buf, e->saved, (n + 1) * sizeof(wchar_t));
        e->len = e->cur = n;
    } else {
        tui_edit_set(e, e->hist[e->hist_pos]);
    }
}

/* The candidates among `list` that start with the ASCII prefix `w`. */
static size_t matches(const char *w, size_t wl, const char *const *list, size_t n,
                      const char **first, size_t *common, char *shown, size_t shown_size)
{
    size_t count = 0;
    size_t used = 0;
    if (shown_size)
        shown[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(list[i], w, wl) != 0)
            continue;
        if (count == 0) {
            *first = list[i];
            *common = strlen(list[i]);
        } else {
            size_t k = 0;
            while (k < *common && (*first)[k] == list[i][k])
                k++;
            *common = k;
        }
        size_t l = strlen(list[i]);
        if (used + l + 2 < shown_size) {
            if (used)
                shown[used++] = ' ';
            memcpy(shown + used, list[i], l);
            used += l;
            shown[used] = 0;
        }
        count++;
    }
    return count;
}

size_t tui_edit_complete(struct tui_edit *e, const char *const *commands, size_t n_commands,
                         const char *const *name_commands, size_t n_name_commands,
                         const char *const *names, size_t n_names, char *shown,
                         size_t shown_size)
{
    char line[TUI_EDIT_MAX * 4 + 1];
    char word[256];
    size_t start = e->cur;
    if (shown_size)
        shown[0] = 0;
    while (start > 0 && e->buf[start - 1] != L' ')
        start--;
    /* The word as ASCII (completion candidates are ASCII). */
    size_t wl = 0;
    for (size_t i = start; i < e->cur; i++) {
        if (e->buf[i] > 127 || wl + 1 >= sizeof(word))
            return 0;
        word[wl++] = (char)e->buf[i];
    }
    word[wl] = 0;
    const char *const *list = NULL;
    size_t n = 0;
    if (e->len == 0 || e->buf[0] != L'/')
        return 0;
    if (start == 0) {
        list = commands;
        n = n_commands;
    } else {
        /* the command is the first word */
        size_t k = 0;
        while (k < e->len && e->buf[k] != L' ' && k < sizeof(line) - 1) {
            line[k] = e->buf[k] > 127 ? '?' : (char)e->buf[k];
            k++;
        }
        line[k] = 0;
        for (size_t i = 0; i < n_name_commands; i++)
            if (strcmp(line, name_commands[i]) == 0) {
                list = names;
                n = n_names;
            }
        if (!list)
            return 0;
    }
    const char *first = NULL;
    size_t common = 0;
    size_t count = matches(word, wl, list, n, &first, &common, shown, shown_size);
    if (count == 0)
        return 0;
    for (size_t i = wl; i < common; i++)
        if (tui_edit_insert(e, (wchar_t)(unsigned char)first[i]) != 0)
            return count;
    if (count == 1) {
        if (e->cur == e->len || e->buf[e->cur] != L' ')
            (void)tui_edit_insert(e, L' ');
        else
            e->cur++;
        if (shown_size)
            shown[0] = 0;
    }
    return count;
}
