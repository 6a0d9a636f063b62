/*
 * view.c: the screen, drawn from the model (view.h).
 *
 * Layout (80x24 and up):
 *   +-- contacts --+-- conversation title -------------------------------+
 *   | * status     | banners (alerts, key changes)                       |
 *   | ✔ bob        | 12:01 bob: hello                                    |
 *   | ? carol      | 12:02 alice: hi ✓✓                                  |
 *   +--------------+-----------------------------------------------------+
 *   | status bar: account | server | connection | log size | checkpoint  |
 *   | [bob] > input line                                                 |
 * Overlays (verification screen, own code, help) take the whole area above
 * the status bar. Trust marks: ✔ verified (green), • logged (cyan),
 * ? unverified (yellow), ! changed (red, bold); V/L/?/! without UTF-8.
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include "view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include <curses.h>

enum role {
    R_NORMAL = 0,
    R_VERIFIED,
    R_LOGGED,
    R_UNVERIFIED,
    R_CHANGED,
    R_BAR,
    R_ALERT,
    R_WARN,
    R_OWN,
    R_DIM,
    R_TITLE,
    R_SELECTED
};

void tui_view_init(struct tui_view *v, int utf8)
{
    memset(v, 0, sizeof(*v));
    v->utf8 = utf8;
    v->colors = has_colors() && getenv("NO_COLOR") == NULL;
    if (v->colors) {
        start_color();
        use_default_colors();
        init_pair(R_VERIFIED, COLOR_GREEN, -1);
        init_pair(R_LOGGED, COLOR_CYAN, -1);
        init_pair(R_UNVERIFIED, COLOR_YELLOW, -1);
        init_pair(R_CHANGED, COLOR_RED, -1);
        init_pair(R_BAR, COLOR_WHITE, COLOR_BLUE);
        init_pair(R_ALERT, COLOR_WHITE, COLOR_RED);
        init_pair(R_WARN, COLOR_YELLOW, -1);
        init_pair(R_OWN, COLOR_CYAN, -1);
        init_pair(R_DIM, COLOR_BLUE, -1);
        init_pair(R_TITLE, COLOR_BLACK, COLOR_CYAN);
        init_pair(R_SELECTED, COLOR_BLACK, COLOR_WHITE);
    }
}

void tui_view_free(struct tui_view *v)
{
    tui_qr_free(&v->qr);
}

static attr_t att(const struct tui_view *v, int role)
{
    if (v->colors) {
        attr_t a = (attr_t)COLOR_PAIR(role);
        if (role == R_CHANGED || role == R_ALERT || role == R_VERIFIED)
            a |= A_BOLD;
        return role == R_NORMAL ? A_NORMAL : a;
    }
    switch (role) {
    case R_BAR:
    case R_TITLE:
    case R_SELECTED:
    case R_ALERT:
        return A_REVERSE | (role == R_ALERT ? A_BOLD : 0);
    case R_CHANGED:
    case R_VERIFIED:
    case R_WARN:
        return A_BOLD;
    case R_OWN:
        return A_NORMAL;
    case R_DIM:
        return A_DIM;
    default:
        return A_NORMAL;
    }
}

static int trust_role(int state)
{
    switch (state) {
    case TUI_VERIFIED:
        return R_VERIFIED;
    case TUI_LOGGED:
        return R_LOGGED;
    case TUI_CHANGED:
        return R_CHANGED;
    default:
        return R_UNVERIFIED;
    }
}

/* Decode the next character of s (UTF-8); returns bytes used (>= 1). */
static size_t next_char(const char *s, wchar_t *wc, int *width)
{
    if ((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f) { /* printable ASCII */
        *wc = (wchar_t)*s;
        *width = 1;
        return 1;
    }
    mbstate_t st;
    memset(&st, 0, sizeof(st));
    size_t k = mbrtowc(wc, s, MB_CUR_MAX, &st);
    if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
        *wc = L'?';
        k = 1;
    }
    int w = wcwidth(*wc);
    if (w < 0) {
        *wc = L'?';
        w = 1;
    }
    *width = w;
    return k;
}

int tui_text_width(const char *s)
{
    int total = 0;
    while (*s) {
        wchar_t wc;
        int w;
        s += next_char(s, &wc, &w);
        total += w;
    }
    return total;
}

/* Print at most `cols` columns of s at (y, x); returns columns used. Stops
 * at `end` when not NULL. */
static int put(int y, int x, const char *s, const char *end, int cols)
{
    int used = 0;
    move(y, x);
    while (*s && (!end || s < end)) {
        wchar_t wc;
        int w;
        size_t k = next_char(s, &wc, &w);
        if (used + w > cols)
            break;
        if (w > 0) {
            addnwstr(&wc, 1);
        }
        used += w;
        s += k;
    }
    return used;
}

static void fill(int y, int x, int cols, attr_t a)
{
    attron(a);
    mvhline(y, x, ' ', cols);
    attroff(a);
}

/* Break s into rows: the first row `first` columns wide, the others `rest`.
 * Writes up to max row starts into starts (if not NULL); returns the row
 * count. Breaks at the last space that fits, else mid-word. */
static size_t wrap(const char *s, int first, int rest, const char **starts, size_t max)
{
    size_t rows = 0;
    const char *p = s;
    if (first < 1)
        first = 1;
    if (rest < 1)
        rest = 1;
    do {
        int width = rows == 0 ? first : rest;
        if (starts && rows < max)
            starts[rows] = p;
        rows++;
        int used = 0;
        const char *q = p, *space = NULL;
        while (*q) {
            wchar_t wc;
            int w;
            size_t k = next_char(q, &wc, &w);
            if (used + w > width)
                break;
            if (wc == L' ')
                space = q;
            used += w;
            q += k;
        }
        if (!*q) {
            p = q;
            break;
        }
        if (space && space > p)
            q = space + 1;
        else if (q == p) /* a character wider than the row */
            q += next_char(q, &(wchar_t){0}, &(int){0});
        p = q;
    } while (*p);
    return rows;
}

static void line_prefix(const struct tui_model *m, const struct tui_conv *c,
                        const struct tui_line *l, char *buf, size_t size)
{
    char hm[8] = "--:--";
    if (l->at > 0) {
        time_t t = (time_t)l->at;
        struct tm tm;
        if (localtime_r(&t, &tm))
            strftime(hm, sizeof(hm), "%H:%M", &tm);
    }
    switch (l->kind) {
    case TUI_LINE_IN:
        snprintf(buf, size, "%s %s: ", hm, c->name);
        break;
    case TUI_LINE_OUT:
        snprintf(buf, size, "%s %s: ", hm, m->account);
        break;
    case TUI_LINE_ALERT:
        snprintf(buf, size, "%s !! ", hm);
        break;
    default:
        snprintf(buf, size, "%s -- ", hm);
        break;
    }
}

static const char *delivery_mark(const struct tui_view *v, int d)
{
    switch (d) {
    case TUI_DLV_PENDING:
        return v->utf8 ? " \xe2\x80\xa6" : " ...";
    case TUI_DLV_SENT:
        return v->utf8 ? " \xe2\x9c\x93" : " +";
    case TUI_DLV_DELIVERED:
        return v->utf8 ? " \xe2\x9c\x93\xe2\x9c\x93" : " ++";
    case TUI_DLV_FAILED:
        return v->utf8 ? " \xe2\x9c\x97" : " x";
    case TUI_DLV_QUEUED:
        return v->utf8 ? " \xe2\x86\xbb" : " ~"; /* U+21BB: will go out again */
    default:
        return "";
    }
}

/* One message line, composed (prefix + text + delivery mark): malloc'd. */
static char *compose(const struct tui_view *v, const struct tui_model *m,
                     const struct tui_conv *c, const struct tui_line *l, int *prefix_w)
{
    char pre[TUI_NAME_MAX + 16];
    line_prefix(m, c, l, pre, sizeof(pre));
    const char *mark = l->kind == TUI_LINE_OUT ? delivery_mark(v, l->delivery) : "";
    size_t n = strlen(pre) + strlen(l->text) + strlen(mark) + 1;
    char *s = malloc(n);
    if (!s)
        return NULL;
    snprintf(s, n, "%s%s%s", pre, l->text, mark);
    *prefix_w = tui_text_width(pre);
    return s;
}

static int line_role(const struct tui_line *l)
{
    switch (l->kind) {
    case TUI_LINE_OUT:
        return R_OWN;
    case TUI_LINE_INFO:
        return R_DIM;
    case TUI_LINE_WARN:
        return R_WARN;
    case TUI_LINE_ALERT:
        return R_CHANGED;
    default:
        return R_NORMAL;
    }
}

/* The conversation pane: rows [top, top+h), columns [x, x+w). */
static void draw_conv(struct tui_view *v, struct tui_model *m, int top, int h, int x, int w)
{
    struct tui_conv *c = &m->convs[m->current];
    int indent = 6;
    static const char *starts[TUI_TEXT_MAX + 1]; /* only the UI thread draws */
    v->conv_rows = h;
    if (h <= 0 || w <= 4)
        return;
    /* Clamp the scroll: walk up until scroll + h rows are covered (row
     * counts are cached per line, so deep scrolling stays cheap). */
    size_t need = c->scroll + (size_t)h, total = 0;
    for (size_t i = c->n; i-- > 0 && total < need;) {
        struct tui_line *l = &c->lines[i];
        if (l->wrap_w != (uint16_t)w || l->wrap_dlv != l->delivery) {
            int pw;
            char *s = compose(v, m, c, l, &pw);
            if (!s)
                return;
            l->wrap_rows = (uint32_t)wrap(s, w, w - indent, NULL, 0);
            l->wrap_w = (uint16_t)w;
            l->wrap_dlv = l->delivery;
            free(s);
        }
        total += l->wrap_rows;
    }
    if (total < need)
        c->scroll = total > (size_t)h ? total - (size_t)h : 0;
    /* Draw bottom-up, skipping `scroll` rows. */
    size_t skip = c->scroll;
    int y = top + h - 1;
    for (size_t i = c->n; i-- > 0 && y >= top;) {
        const struct tui_line *l = &c->lines[i];
        int pw;
        if (skip >= l->wrap_rows && l->wrap_w == (uint16_t)w && l->wrap_dlv == l->delivery) {
            skip -= l->wrap_rows; /* entirely below the pane */
            continue;
        }
        char *s = compose(v, m, c, l, &pw);
        if (!s)
            return;
        size_t rows = wrap(s, w, w - indent, starts, sizeof(starts) / sizeof(starts[0]));
        attr_t a = att(v, line_role(l));
        for (size_t r = rows; r-- > 0 && y >= top;) {
            if (skip > 0) {
                skip--;
                continue;
            }
            const char *end = r + 1 < rows ? starts[r + 1] : NULL;
            attron(a);
            if (r == 0) {
                put(y, x, starts[0], end, w);
            } else {
                mvhline(y, x, ' ', indent);
                put(y, x + indent, starts[r], end, w - indent);
            }
            attroff(a);
            y--;
        }
        free(s);
    }
}

static int draw_banner(struct tui_view *v, int y, int x, int w, int role, const char *text)
{
    const char *starts[64];
    size_t rows = wrap(text, w - 1, w - 1, starts, 64);
    if (rows > 4)
        rows = 4;
    for (size_t r = 0; r < rows; r++) {
        fill(y + (int)r, x, w, att(v, role));
        attron(att(v, role));
        put(y + (int)r, x + 1, starts[r], r + 1 < rows ? starts[r + 1] : NULL, w - 1);
        attroff(att(v, role));
    }
    return (int)rows;
}

static void draw_contacts(struct tui_view *v, const struct tui_model *m, int h, int w)
{
    attron(att(v, R_TITLE));
    mvhline(0, 0, ' ', w);
    put(0, 1, "Contacts", NULL, w - 1);
    attroff(att(v, R_TITLE));
    int y = 1;
    for (size_t i = 0; i < m->n_convs && y < h; i++, y++) {
        const struct tui_conv *c = &m->convs[i];
        char label[TUI_NAME_MAX + 24];
        const char *mark = "*";
        int role = R_DIM;
        if (i > 0) {
            const struct tui_contact *ct = tui_model_contact(m, c->name);
            int st = ct ? ct->state : TUI_UNVERIFIED;
            mark = tui_trust_mark(st, v->utf8);
            role = trust_role(st);
        }
        if (c->unread && i != m->current)
            snprintf(label, sizeof(label), "%s (%u)", i == 0 ? "status" : c->name, c->unread);
        else
            snprintf(label, sizeof(label), "%s", i == 0 ? "status" : c->name);
        if (i == m->current)
            fill(y, 0, w, att(v, R_SELECTED));
        attron(att(v, role) | (i == m->current ? A_REVERSE : 0));
        put(y, 1, mark, NULL, 1);
        attroff(att(v, role) | (i == m->current ? A_REVERSE : 0));
        attr_t a = i == m->current ? att(v, R_SELECTED) : (c->unread ? A_BOLD : A_NORMAL);
        attron(a);
        put(y, 3, label, NULL, w - 3);
        attroff(a);
    }
    if (v->colors)
        attron(att(v, R_DIM));
    mvvline(0, w, v->utf8 ? ACS_VLINE : '|', h);
    if (v->colors)
        attroff(att(v, R_DIM));
}

static void draw_status(struct tui_view *v, const struct tui_model *m, int y, int w)
{
    static const char *conn_names[] = {"offline", "connecting", "online", "NO CONNECTION"};
    char age[16], buf[600], act[200] = "";
    int64_t now = (int64_t)time(NULL);
    tui_age(now, m->checkpoint_at, age, sizeof(age));
    size_t o = 0;
    for (size_t i = 1; i < m->n_convs && o + TUI_NAME_MAX + 8 < sizeof(act); i++)
        if (m->convs[i].unread && i != m->current)
            o += (size_t)snprintf(act + o, sizeof(act) - o, "%s%s(%u)", o ? "," : " act:",
                                  m->convs[i].name, m->convs[i].unread);
    int conn = m->conn >= 0 && m->conn <= 3 ? m->conn : 0;
    snprintf(buf, sizeof(buf), " %s | %s | %s | log %llu | checkpoint %s%s%s%s",
             m->account[0] ? m->account : "(locked)", m->server[0] ? m->server : "no server",
             conn_names[conn], (unsigned long long)m->tree_size, age,
             m->checkpoint_at > 0 ? " ago" : "", m->audit_active ? " | auditing" : "", act);
    fill(y, 0, w, att(v, conn == TUI_CONN_ERROR ? R_ALERT : R_BAR));
    attron(att(v, conn == TUI_CONN_ERROR ? R_ALERT : R_BAR));
    put(y, 0, buf, NULL, w);
    attroff(att(v, conn == TUI_CONN_ERROR ? R_ALERT : R_BAR));
}

/* The input line; leaves the cursor where the editor's cursor is. */
static void draw_input(struct tui_view *v, const struct tui_model *m, int y, int w)
{
    char prompt[TUI_NAME_MAX + 40], why[300];
    const char *blocked = NULL;
    if (m->compare_prompt)
        snprintf(prompt, sizeof(prompt), "code for %s> ", m->verify.contact);
    else if (m->current == 0)
        snprintf(prompt, sizeof(prompt), "[status] ");
    else
        snprintf(prompt, sizeof(prompt), "[%s] ", m->convs[m->current].name);
    if (!m->compare_prompt && m->current != 0)
        blocked = tui_model_send_blocked(m, why, sizeof(why));
    move(y, 0);
    clrtoeol();
    int pw = put(y, 0, prompt, NULL, w / 2);
    if (blocked && m->edit.len == 0) {
        attron(att(v, R_CHANGED));
        put(y, pw, blocked, NULL, w - pw);
        attroff(att(v, R_CHANGED));
        move(y, pw);
        return;
    }
    /* scroll horizontally so the cursor is visible */
    int avail = w - pw - 1;
    if (avail < 1)
        return;
    size_t start = 0;
    int cw = 0;
    for (size_t i = m->edit.cur; i > 0; i--) {
        int k = wcwidth(m->edit.buf[i - 1]);
        cw += k < 0 ? 1 : k;
        if (cw > avail) {
            start = i;
            break;
        }
    }
    int x = pw, cx = pw;
    for (size_t i = start; i < m->edit.len; i++) {
        int k = wcwidth(m->edit.buf[i]);
        if (k < 0)
            k = 1;
        if (x + k > w)
            break;
        if (i == m->edit.cur)
            cx = x;
        if (blocked)
            attron(att(v, R_CHANGED));
        mvaddnwstr(y, x, &m->edit.buf[i], 1);
        if (blocked)
            attroff(att(v, R_CHANGED));
        x += k;
    }
    if (m->edit.cur >= m->edit.len)
        cx = x;
    move(y, cx);
}

static void ensure_qr(struct tui_view *v, const uint8_t *data, size_t len)
{
    char key[130];
    size_t n = len < 64 ? len : 64;
    for (size_t i = 0; i < n; i++)
        snprintf(key + 2 * i, 3, "%02x", data[i]);
    key[2 * n] = 0;
    if (v->qr.rows && strcmp(key, v->qr_for) == 0)
        return;
    tui_qr_free(&v->qr);
    if (tui_qr_render(data, len, &v->qr) == 0)
        snprintf(v->qr_for, sizeof(v->qr_for), "%s", key);
}

static void groups(const char *digits, size_t from, size_t count, char *out, size_t size)
{
    size_t o = 0;
    for (size_t g = from; g < from + count && o + 7 < size; g++) {
        if (g > from)
            out[o++] = ' ';
        memcpy(out + o, digits + g * 5, 5);
        o += 5;
    }
    out[o] = 0;
}

/* Draw the QR to the right of column `left` if it fits, else a note. */
static void draw_qr(struct tui_view *v, int top, int h, int left, int w)
{
    if (!v->qr.rows) {
        put(top, left, "(no QR code: encoding failed)", NULL, w - left);
        return;
    }
    int qx = w - (int)v->qr.width - 1;
    if (qx < left || (int)v->qr.n_rows > h || !v->utf8) {
        put(top, left, v->utf8 ? "(enlarge the terminal to see the QR code)"
                               : "(the QR code needs a UTF-8 terminal)",
            NULL, w - left);
        return;
    }
    for (size_t r = 0; r < v->qr.n_rows; r++)
        put(top + (int)r, qx, v->qr.rows[r], NULL, (int)v->qr.width);
}

static void draw_verify(struct tui_view *v, struct tui_model *m, int h, int w)
{
    const struct tui_verify *vf = &m->verify;
    char buf[400], g[40];
    int64_t now = (int64_t)time(NULL);
    fill(0, 0, w, att(v, R_TITLE));
    snprintf(buf, sizeof(buf), " Verify %s: safety number", vf->contact);
    attron(att(v, R_TITLE));
    put(0, 0, buf, NULL, w);
    attroff(att(v, R_TITLE));
    ensure_qr(v, vf->scannable, vf->scannable_len);
    int y = 2;
    attron(A_BOLD);
    for (int r = 0; r < 4; r++) {
        groups(vf->digits, (size_t)r * 3, 3, g, sizeof(g));
        put(y++, 2, g, NULL, w - 2);
    }
    attroff(A_BOLD);
    y++;
    snprintf(buf, sizeof(buf), "Your public code (%s):", m->account);
    put(y++, 2, buf, NULL, w - 2);
    groups(vf->mine, 0, 6, g, sizeof(g));
    put(y++, 4, g, NULL, w - 4);
    snprintf(buf, sizeof(buf), "%s's public code:", vf->contact);
    put(y++, 2, buf, NULL, w - 2);
    groups(vf->theirs, 0, 6, g, sizeof(g));
    put(y++, 4, g, NULL, w - 4);
    y++;
    const struct tui_contact *ct = tui_model_contact(m, vf->contact);
    int st = ct ? ct->state : vf->state;
    snprintf(buf, sizeof(buf), "State: %s %s", tui_trust_mark(st, v->utf8), tui_trust_word(st));
    attron(att(v, trust_role(st)));
    put(y++, 2, buf, NULL, w - 2);
    attroff(att(v, trust_role(st)));
    if (vf->have_log) {
        char age[16];
        tui_age(now, now - vf->checkpoint_age, age, sizeof(age));
        snprintf(buf, sizeof(buf), "Log: entry #%llu, key version %llu",
                 (unsigned long long)vf->leaf_index, (unsigned long long)vf->version);
        put(y++, 2, buf, NULL, w - 2);
        snprintf(buf, sizeof(buf), "     checkpoint size %llu, verified %s ago",
                 (unsigned long long)vf->tree_size, age);
        put(y++, 2, buf, NULL, w - 2);
        /* gossip: how this contact's log view compares with ours */
        if (vf->gossip == 2) {
            snprintf(buf, sizeof(buf), "Log views: DIFFER (theirs %llu, ours %llu): split view",
                     (unsigned long long)vf->gossip_their, (unsigned long long)vf->gossip_our);
            attron(att(v, R_ALERT));
            put(y++, 2, buf, NULL, w - 2);
            attroff(att(v, R_ALERT));
        } else {
            if (vf->gossip == 1)
                snprintf(buf, sizeof(buf), "Log views: agree (size %llu)",
                         (unsigned long long)vf->gossip_their);
            else
                snprintf(buf, sizeof(buf), "Log views: unknown (no checkpoint from them yet)");
            put(y++, 2, buf, NULL, w - 2);
        }
    } else {
        snprintf(buf, sizeof(buf), "Log: %s", vf->log_note[0] ? vf->log_note : "unknown");
        const char *starts[8];
        size_t rows = wrap(buf, 36, 36, starts, 8);
        for (size_t r = 0; r < rows && r < 2; r++)
            put(y++, 2, starts[r], r + 1 < rows ? starts[r + 1] : NULL, 36);
    }
    draw_qr(v, 1, h - 1, 40, w);
    int ay = h - 3;
    if (y < ay && vf->result[0]) {
        attron(att(v, vf->result_ok ? R_VERIFIED : R_ALERT));
        put(ay - 1 > y ? ay - 1 : y, 2, vf->result, NULL, w - 2);
        attroff(att(v, vf->result_ok ? R_VERIFIED : R_ALERT));
    }
    snprintf(buf, sizeof(buf), "Compare with %s's screen, or scan the QR code.", vf->contact);
    put(h - 2, 2, buf, NULL, w - 2);
    attron(A_BOLD);
    put(h - 1, 2, "[v] mark verified  [c] compare a code  [Esc] back", NULL, w - 2);
    attroff(A_BOLD);
}

static void draw_code(struct tui_view *v, struct tui_model *m, int h, int w)
{
    char buf[300], g[40];
    fill(0, 0, w, att(v, R_TITLE));
    snprintf(buf, sizeof(buf), " Your public code (%s)", m->account);
    attron(att(v, R_TITLE));
    put(0, 0, buf, NULL, w);
    attroff(att(v, R_TITLE));
    ensure_qr(v, m->verify.scannable, m->verify.scannable_len);
    attron(A_BOLD);
    groups(m->verify.mine, 0, 3, g, sizeof(g));
    put(2, 2, g, NULL, w - 2);
    groups(m->verify.mine, 3, 3, g, sizeof(g));
    put(3, 2, g, NULL, w - 2);
    attroff(A_BOLD);
    put(5, 2, "Publish these 30 digits (a card,", NULL, w - 2);
    put(6, 2, "a web page): anyone can compare", NULL, w - 2);
    put(7, 2, "them with /verify on their side.", NULL, w - 2);
    draw_qr(v, 1, h - 1, 40, w);
    put(h - 1, 2, "[Esc] back", NULL, w - 2);
}

static void draw_help(struct tui_view *v, int h, int w)
{
    static const char *lines[] = {
        "Commands (Tab completes commands and names):",
        "  /add NAME      look NAME up in the log and start a conversation",
        "  /msg NAME      switch to NAME's conversation",
        "  /verify [NAME] safety number, QR code and log facts",
        "  /code          your public code and its QR code",
        "  /trust NAME    mark NAME verified after comparing the numbers",
        "  /accept NAME   accept NAME's changed key without comparing",
        "  /log [NAME]    NAME's key history from the log (default: this chat)",
        "  /monitor       check the log for keys under your own name",
        "  /audit         check every contact's key against the log",
        "  /ack [LEAF]    hide the red alerts; LEAF: acknowledge that key under",
        "                 your name for good (the alert names it)   /quit  leave",
        "Keys: PageUp/PageDown scroll, Ctrl-N/Ctrl-P next/previous window,",
        "  Up/Down input history, Ctrl-A/E/K/U/W edit, Esc closes this screen",
        "Marks:",
    };
    fill(0, 0, w, att(v, R_TITLE));
    attron(att(v, R_TITLE));
    put(0, 0, " Help", NULL, w);
    attroff(att(v, R_TITLE));
    int y = 1;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]) && y < h; i++)
        put(y++, 1, lines[i], NULL, w - 1);
    static const int states[] = {TUI_VERIFIED, TUI_LOGGED, TUI_UNVERIFIED, TUI_CHANGED};
    static const char *what[] = {
        "verified: you compared codes for this key",
        "logged: the transparency log vouches for the key",
        "unverified: nobody compared codes yet",
        "changed: the key changed after you verified it; sending blocked"};
    for (int i = 0; i < 4 && y < h; i++, y++) {
        attron(att(v, trust_role(states[i])));
        put(y, 3, tui_trust_mark(states[i], v->utf8), NULL, 1);
        attroff(att(v, trust_role(states[i])));
        put(y, 5, what[i], NULL, w - 5);
    }
}

void tui_view_draw(struct tui_view *v, struct tui_model *m)
{
    int h = LINES, w = COLS;
    erase();
    if (h < 10 || w < 40) {
        put(0, 0, "ckv-chat needs at least 40x10 (80x24 is best)", NULL, w);
        wnoutrefresh(stdscr);
        doupdate();
        return;
    }
    int body = h - 2;
    if (m->overlay == TUI_OV_VERIFY) {
        draw_verify(v, m, body, w);
    } else if (m->overlay == TUI_OV_CODE) {
        draw_code(v, m, body, w);
    } else if (m->overlay == TUI_OV_HELP) {
        draw_help(v, body, w);
    } else {
        int cw = w >= 70 ? 18 : 12;
        draw_contacts(v, m, body, cw);
        int x = cw + 1, pw = w - x;
        const struct tui_conv *c = &m->convs[m->current];
        char title[300];
        if (m->current == 0) {
            snprintf(title, sizeof(title), " status");
        } else {
            const struct tui_contact *ct = tui_model_contact(m, c->name);
            int st = ct ? ct->state : TUI_UNVERIFIED;
            snprintf(title, sizeof(title), " %s  %s %s", c->name, tui_trust_mark(st, v->utf8),
                     tui_trust_word(st));
        }
        if (c->scroll)
            snprintf(title + strlen(title), sizeof(title) - strlen(title),
                     "  [scrolled up %zu rows: PageDown]", c->scroll);
        fill(0, x, pw, att(v, R_TITLE));
        attron(att(v, R_TITLE));
        put(0, x, title, NULL, pw);
        attroff(att(v, R_TITLE));
        int y = 1;
        if (m->foreign_alert)
            y += draw_banner(v, y, x, pw, R_ALERT, m->foreign_text);
        if (m->log_alert)
            y += draw_banner(v, y, x, pw, R_ALERT, m->log_text);
        if (m->current != 0) {
            const struct tui_contact *ct = tui_model_contact(m, c->name);
            if (ct && ct->state == TUI_CHANGED) {
                char b[400];
                snprintf(b, sizeof(b),
                         "KEY CHANGED: %s has a new identity key since you verified it. "
                         "Sending is blocked. Compare codes with /verify %s, or /accept %s.",
                         c->name, c->name, c->name);
                y += draw_banner(v, y, x, pw, R_ALERT, b);
            }
        }
        if (m->audit_active && m->audit_total) {
            char b[200];
            int bar = pw - 24;
            if (bar < 10)
                bar = 10;
            int done = (int)((double)bar * (double)m->audit_done / (double)m->audit_total);
            int o = snprintf(b, sizeof(b), "audit [");
            for (int i = 0; i < bar && o < (int)sizeof(b) - 20; i++)
                b[o++] = i < done ? '#' : '.';
            snprintf(b + o, sizeof(b) - (size_t)o, "] %zu/%zu", m->audit_done, m->audit_total);
            put(y++, x, b, NULL, pw);
        }
        draw_conv(v, m, y, body - y, x, pw);
    }
    draw_status(v, m, h - 2, w);
    if (m->completion[0]) {
        attron(att(v, R_BAR) | A_BOLD);
        int cwid = tui_text_width(m->completion);
        if (cwid > w / 2)
            cwid = w / 2;
        put(h - 2, w - cwid - 1, m->completion, NULL, cwid);
        attroff(att(v, R_BAR) | A_BOLD);
    }
    draw_input(v, m, h - 1, w);
    wnoutrefresh(stdscr);
    doupdate();
    m->dirty = 0;
}
