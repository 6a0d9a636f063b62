/*
 * model.c: the message model (model.h): conversations as growable arrays of
 * lines, the contact list, alerts, and the text cleaning that makes
 * untrusted message text safe to print on a terminal.
 */
#include "model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ckv/utf8.h>

void tui_model_init(struct tui_model *m)
{
    memset(m, 0, sizeof(*m));
    tui_edit_init(&m->edit);
    (void)tui_model_conv(m, "");
    m->dirty = 1;
}

static void conv_free(struct tui_conv *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->lines[i].text);
    free(c->lines);
}

void tui_model_free(struct tui_model *m)
{
    for (size_t i = 0; i < m->n_convs; i++)
        conv_free(&m->convs[i]);
    free(m->convs);
    free(m->contacts);
    tui_edit_free(&m->edit);
    memset(m, 0, sizeof(*m));
}

size_t tui_model_find_conv(const struct tui_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_convs; i++)
        if (strcmp(m->convs[i].name, name) == 0)
            return i;
    return (size_t)-1;
}

size_t tui_model_conv(struct tui_model *m, const char *name)
{
    size_t i = tui_model_find_conv(m, name);
    if (i != (size_t)-1)
        return i;
    if (strlen(name) > TUI_NAME_MAX)
        return (size_t)-1;
    struct tui_conv *n = realloc(m->convs, (m->n_convs + 1) * sizeof(*n));
    if (!n)
        return (size_t)-1;
    m->convs = n;
    memset(&n[m->n_convs], 0, sizeof(*n));
    strcpy(n[m->n_convs].name, name);
    m->dirty = 1;
    return m->n_convs++;
}

static int grow(struct tui_conv *c, size_t extra)
{
    if (c->n + extra <= c->cap)
        return 0;
    size_t cap = c->cap ? c->cap : 64;
    while (cap < c->n + extra)
        cap *= 2;
    struct tui_line *l = realloc(c->lines, cap * sizeof(*l));
    if (!l)
        return -1;
    c->lines = l;
    c->cap = cap;
    return 0;
}

struct tui_line *tui_model_add(struct tui_model *m, size_t conv, int kind, int64_t at,
                               const char *text, size_t len)
{
    if (conv >= m->n_convs)
        return NULL;
    struct tui_conv *c = &m->convs[conv];
    if (grow(c, 1) != 0)
        return NULL;
    char *t = tui_text_shown(text, len);
    if (!t)
        return NULL;
    struct tui_line *l = &c->lines[c->n++];
    memset(l, 0, sizeof(*l));
    l->at = at;
    l->kind = (uint8_t)kind;
    l->text = t;
    if (conv != m->current)
        c->unread++;
    m->dirty = 1;
    return l;
}

void tui_model_note(struct tui_model *m, size_t conv, int kind, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    (void)tui_model_add(m, conv, kind, (int64_t)time(NULL), buf, strlen(buf));
}

void tui_model_merge_history(struct tui_model *m, size_t conv, struct tui_line *lines, size_t n)
{
    if (conv >= m->n_convs) {
        for (size_t i = 0; i < n; i++)
            free(lines[i].text);
        free(lines);
        return;
    }
    struct tui_conv *c = &m->convs[conv];
    c->history_loaded = 1;
    if (n == 0) {
        free(lines);
        return;
    }
    if (grow(c, n) != 0) {
        for (size_t i = 0; i < n; i++)
            free(lines[i].text);
        free(lines);
        return;
    }
    memmove(&c->lines[n], &c->lines[0], c->n * sizeof(*lines));
    memcpy(&c->lines[0], lines, n * sizeof(*lines));
    c->n += n;
    free(lines);
    m->dirty = 1;
}

void tui_model_set_contacts(struct tui_model *m, struct tui_contact *list, size_t n)
{
    free(m->contacts);
    m->contacts = list;
    m->n_contacts = n;
    for (size_t i = 0; i < n; i++)
        (void)tui_model_conv(m, list[i].name);
    m->dirty = 1;
}

const struct tui_contact *tui_model_contact(const struct tui_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_contacts; i++)
        if (strcmp(m->contacts[i].name, name) == 0)
            return &m->contacts[i];
    return NULL;
}

const char *tui_model_send_blocked(const struct tui_model *m, char *buf, size_t size)
{
    if (m->current >= m->n_convs || m->current == 0) {
        snprintf(buf, size, "this is the status window: /msg NAME opens a conversation");
        return buf;
    }
    const char *name = m->convs[m->current].name;
    const struct tui_contact *c = tui_model_contact(m, name);
    if (c && c->state == TUI_CHANGED) {
        snprintf(buf, size, "blocked: %s's key changed; /verify %s or /accept %s", name, name,
                 name);
        return buf;
    }
    return NULL;
}

char *tui_text_shown(const char *s, size_t len)
{
    size_t cut = len;
    char *t, *out;
    if (len <= TUI_TEXT_MAX)
        return tui_text_clean(s, len);
    cut = TUI_TEXT_MAX;
    while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
        cut--; /* not in the middle of a character */
    t = tui_text_clean(s, cut);
    if (!t)
        return NULL;
    size_t tl = strlen(t);
    out = realloc(t, tl + 64);
    if (!out) {
        free(t);
        return NULL;
    }
    snprintf(out + tl, 64, " [... %zu more bytes not shown]", len - cut);
    return out;
}

char *tui_text_clean(const char *s, size_t len)
{
    /* worst case: every byte becomes U+FFFD (3 bytes) */
    char *out = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t k = ckv_utf8_decode(p + i, len - i, &cp);
        if (k == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
            continue;
        }
        if (cp == '\t' || cp == '\n' || cp == '\r') {
            out[o++] = ' ';
        } else if (ckv_char_unsafe(cp)) {
            /* control characters and bidi controls never reach the terminal */
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
        } else {
            memcpy(out + o, p + i, k);
            o += k;
        }
        i += k;
    }
    out[o] = 0;
    return out;
}

const char *tui_trust_mark(int state, int utf8)
{
    switch (state) {
    case TUI_VERIFIED:
        return utf8 ? "\xe2\x9c\x94" : "V"; /* ✔ */
    case TUI_LOGGED:
        return utf8 ? "\xe2\x80\xa2" : "L"; /* • */
    case TUI_CHANGED:
        return "!";
    default:
        return "?";
    }
}

const char *tui_trust_word(int state)
{
    switch (state) {
    case TUI_VERIFIED:
        return "verified";
    case TUI_LOGGED:
        return "logged";
    case TUI_CHANGED:
        return "CHANGED";
    default:
        return "unverified";
    }
}

void tui_age(int64_t now, int64_t t, char *buf, size_t size)
{
    if (t <= 0) {
        snprintf(buf, size, "never");
        return;
    }
    int64_t d = now - t;
    if (d < 0)
        d = 0;
    if (d < 120)
        snprintf(buf, size, "%llds", (long long)d);
    else if (d < 7200)
        snprintf(buf, size, "%lldm", (long long)(d / 60));
    else if (d < 172800)
        snprintf(buf, size, "%lldh", (long long)(d / 3600));
    else
        snprintf(buf, size, "%lldd", (long long)(d / 86400));
}
