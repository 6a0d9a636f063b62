/*
 * test_tui_units.c: the UI pieces of ckv-chat without a terminal: the line
 * editor (editing, history, completion), text cleaning of untrusted
 * message text, the model's history merge, slash-command handling into
 * worker-free state, and the QR renderer checked module by module against
 * libqrencode's grid.
 */
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edit.h"
#include "model.h"
#include "qr.h"
#include "ui.h"

static void type(struct tui_edit *e, const char *s)
{
    for (; *s; s++)
        assert_int_equal(tui_edit_insert(e, (wchar_t)(unsigned char)*s), 0);
}

static void expect(const struct tui_edit *e, const char *want)
{
    char buf[4096];
    assert_int_equal(tui_edit_get(e, buf, sizeof(buf)), 0);
    assert_string_equal(buf, want);
}

static void test_edit_keys(void **state)
{
    (void)state;
    struct tui_edit e;
    tui_edit_init(&e);
    type(&e, "hello world");
    tui_edit_kill_word(&e);
    expect(&e, "hello ");
    tui_edit_home(&e);
    tui_edit_delete(&e);
    expect(&e, "ello ");
    tui_edit_right(&e);
    tui_edit_kill_to_end(&e);
    expect(&e, "e");
    tui_edit_end(&e);
    type(&e, "xy");
    tui_edit_left(&e);
    tui_edit_backspace(&e);
    expect(&e, "ey");
    tui_edit_kill_to_start(&e);
    expect(&e, "y");
    assert_int_equal(e.cur, 0);
    /* UTF-8 round trip */
    tui_edit_set(&e, "gr\xc3\xbc\xc3\x9f dich");
    assert_int_equal(e.len, 9);
    tui_edit_left(&e);
    tui_edit_left(&e);
    tui_edit_left(&e);
    tui_edit_left(&e);
    tui_edit_left(&e);
    tui_edit_backspace(&e); /* removes the sharp s */
    expect(&e, "gr\xc3\xbc dich");
    /* full buffer refuses */
    tui_edit_clear(&e);
    for (int i = 0; i < TUI_EDIT_MAX; i++)
        assert_int_equal(tui_edit_insert(&e, L'a'), 0);
    assert_int_equal(tui_edit_insert(&e, L'a'), -1);
    tui_edit_free(&e);
}

static void test_edit_history(void **state)
{
    (void)state;
    struct tui_edit e;
    tui_edit_init(&e);
    type(&e, "one");
    free(tui_edit_take(&e));
    type(&e, "two");
    free(tui_edit_take(&e));
    type(&e, "two");
    free(tui_edit_take(&e)); /* repeated: remembered once */
    assert_int_equal(e.n_hist, 2);
    type(&e, "draft");
    tui_edit_hist_prev(&e);
    expect(&e, "two");
    tui_edit_hist_prev(&e);
    expect(&e, "one");
    tui_edit_hist_prev(&e); /* at the oldest: stays */
    expect(&e, "one");
    tui_edit_hist_next(&e);
    tui_edit_hist_next(&e);
    expect(&e, "draft"); /* the line being typed comes back */
    tui_edit_free(&e);
}

static void test_edit_complete(void **state)
{
    (void)state;
    static const char *const cmds[] = {"/accept", "/add", "/msg", "/monitor", "/verify"};
    static const char *const ncmds[] = {"/msg", "/verify"};
    static const char *const names[] = {"bob", "bobby", "carol"};
    char shown[200];
    struct tui_edit e;
    tui_edit_init(&e);
    type(&e, "/ver");
    assert_int_equal(tui_edit_complete(&e, cmds, 5, ncmds, 2, names, 3, shown, sizeof(shown)), 1);
    expect(&e, "/verify ");
    type(&e, "c");
    assert_int_equal(tui_edit_complete(&e, cmds, 5, ncmds, 2, names, 3, shown, sizeof(shown)), 1);
    expect(&e, "/verify carol ");
    tui_edit_clear(&e);
    type(&e, "/m");
    assert_int_equal(tui_edit_complete(&e, cmds, 5, ncmds, 2, names, 3, shown, sizeof(shown)), 2);
    expect(&e, "/m");
    assert_string_equal(shown, "/msg /monitor");
    tui_edit_clear(&e);
    type(&e, "/msg b");
    assert_int_equal(tui_edit_complete(&e, cmds, 5, ncmds, 2, names, 3, shown, sizeof(shown)), 2);
    expect(&e, "/msg bob"); /* common prefix of bob, bobby */
    tui_edit_clear(&e);
    type(&e, "/add b"); /* /add takes a new name: no contact completion */
    assert_int_equal(tui_edit_complete(&e, cmds, 5, ncmds, 2, names, 3, shown, sizeof(shown)), 0);
    tui_edit_clear(&e);
    type(&e, "hello b"); /* not a command: nothing */
    assert_int_equal(tui_edit_complete(&e, cmds, 5, ncmds, 2, names, 3, shown, sizeof(shown)), 0);
    tui_edit_free(&e);
}

static void test_text_clean(void **state)
{
    (void)state;
    char *s = tui_text_clean("a\x1b[31mb\tc\x7f", 10);
    assert_string_equal(s, "a\xef\xbf\xbd[31mb c\xef\xbf\xbd");
    free(s);
    s = tui_text_clean("\xc0\xaf ok \xe2\x80\xae!", 10); /* overlong '/', RLO */
    assert_string_equal(s, "\xef\xbf\xbd\xef\xbf\xbd ok \xef\xbf\xbd!");
    free(s);
    s = tui_text_clean("\xf0\x9f\x94\x91 key \xc3\xa9", 11);
    assert_string_equal(s, "\xf0\x9f\x94\x91 key \xc3\xa9");
    free(s);
    s = tui_text_clean("\xc2\x9b" "x", 3); /* C1 CSI */
    assert_string_equal(s, "\xef\xbf\xbdx");
    free(s);
    /* the same set as ckv recv (ckv_char_unsafe): LRM, line separator */
    s = tui_text_clean("a\xe2\x80\x8e" "b\xe2\x80\xa8" "c", 9);
    assert_string_equal(s, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c");
    free(s);
    /* a message of 12,014 bytes is shown whole (it used to stop at 4,096);
     * one over TUI_TEXT_MAX is cut at a character boundary and says so */
    size_t big = TUI_TEXT_MAX + 100;
    char *t = malloc(big);
    assert_non_null(t);
    memset(t, 'a', big);
    memcpy(t + 12000, "END", 3);
    s = tui_text_shown(t, 12014);
    assert_int_equal(strlen(s), 12014);
    assert_memory_equal(s + 12000, "END", 3);
    free(s);
    memcpy(t + TUI_TEXT_MAX - 1, "\xc3\xa9", 2); /* an 'é' across the limit */
    s = tui_text_shown(t, big);
    assert_int_equal(strlen(s), TUI_TEXT_MAX - 1 + strlen(" [... 101 more bytes not shown]"));
    assert_string_equal(s + TUI_TEXT_MAX - 1, " [... 101 more bytes not shown]");
    free(s);
    free(t);
}

static void test_model_history_merge(void **state)
{
    (void)state;
    struct tui_model m;
    tui_model_init(&m);
    size_t c = tui_model_conv(&m, "bob");
    assert_int_equal(c, 1);
    assert_int_equal(tui_model_conv(&m, "bob"), 1);
    struct tui_line *live = tui_model_add(&m, c, TUI_LINE_OUT, 10, "live", 4);
    assert_non_null(live);
    struct tui_line *h = calloc(2, sizeof(*h));
    h[0].text = strdup("old1");
    h[0].kind = TUI_LINE_IN;
    h[1].text = strdup("old2");
    h[1].kind = TUI_LINE_OUT;
    tui_model_merge_history(&m, c, h, 2);
    assert_int_equal(m.convs[c].n, 3);
    assert_string_equal(m.convs[c].lines[0].text, "old1");
    assert_string_equal(m.convs[c].lines[2].text, "live");
    assert_int_equal(m.convs[c].unread, 1); /* added while "status" was current */
    tui_model_free(&m);
}

static struct tui_res *contacts_res(int state)
{
    struct tui_res *r = tui_res_new(TUI_RES_CONTACTS);
    r->contacts = calloc(1, sizeof(*r->contacts));
    strcpy(r->contacts[0].name, "bob");
    r->contacts[0].state = state;
    r->n_contacts = 1;
    return r;
}

static void test_ui_blocking(void **state)
{
    (void)state;
    struct tui_ui u;
    char why[300];
    tui_ui_init(&u, NULL);
    tui_ui_apply(&u, contacts_res(TUI_VERIFIED));
    tui_ui_line(&u, "/msg Bob");
    assert_string_equal(u.m.convs[u.m.current].name, "bob");
    assert_null(tui_model_send_blocked(&u.m, why, sizeof(why)));
    tui_ui_line(&u, "hi");
    struct tui_conv *c = &u.m.convs[u.m.current];
    assert_int_equal(c->lines[c->n - 1].kind, TUI_LINE_OUT);
    assert_int_equal(c->lines[c->n - 1].delivery, TUI_DLV_PENDING);
    /* the key changes after verification: blocked with the reason, not sent */
    tui_ui_apply(&u, contacts_res(TUI_CHANGED));
    c = &u.m.convs[u.m.current];
    assert_non_null(tui_model_send_blocked(&u.m, why, sizeof(why)));
    assert_non_null(strstr(why, "/accept bob"));
    size_t before = c->n;
    tui_ui_line(&u, "second");
    c = &u.m.convs[u.m.current];
    assert_int_equal(c->n, before + 1);
    assert_int_equal(c->lines[c->n - 1].kind, TUI_LINE_WARN); /* "not sent: ..." */
    /* a receipt for an unknown seq changes nothing; unknown commands warn */
    tui_ui_line(&u, "/frobnicate");
    assert_non_null(strstr(u.m.convs[u.m.current].lines[u.m.convs[u.m.current].n - 1].text,
                           "unknown command /frobnicate"));
    tui_ui_line(&u, "/msg nobody");
    assert_string_equal(u.m.convs[u.m.current].name, "bob");
    tui_ui_free(&u);
}

/* A paste longer than the input line: what fits is taken, and one warning
 * says the rest was not (it used to vanish silently). */
static void test_ui_edit_full(void **state)
{
    (void)state;
    struct tui_ui u;
    tui_ui_init(&u, NULL);
    struct tui_conv *c = &u.m.convs[u.m.current];
    size_t before = c->n;
    for (int i = 0; i < TUI_EDIT_MAX + 50; i++)
        tui_ui_key(&u, 0, (wint_t)'x');
    c = &u.m.convs[u.m.current];
    assert_int_equal(u.m.edit.len, TUI_EDIT_MAX);
    assert_int_equal(c->n, before + 1);
    assert_int_equal(c->lines[c->n - 1].kind, TUI_LINE_WARN);
    assert_non_null(strstr(c->lines[c->n - 1].text, "input line is full"));
    tui_ui_free(&u);
}

static void test_qr_render(void **state)
{
    (void)state;
    const uint8_t data[] = "ckv:alice:123451234512345123451234512345";
    size_t n = 0;
    uint8_t *mod = tui_qr_modules(data, sizeof(data) - 1, &n);
    assert_non_null(mod);
    assert_true(n >= 21 && (n - 17) % 4 == 0); /* a QR version's size */
    struct tui_qr q;
    assert_int_equal(tui_qr_render(data, sizeof(data) - 1, &q), 0);
    assert_int_equal(q.width, n + 2 * TUI_QR_QUIET);
    assert_int_equal(q.n_rows, (q.width + 1) / 2);
    /* decode the half blocks back into modules and compare */
    for (size_t r = 0; r < q.n_rows; r++) {
        const char *s = q.rows[r];
        for (size_t col = 0; col < q.width; col++) {
            int top, bottom;
            if (strncmp(s, "\xe2\x96\x88", 3) == 0) {
                top = bottom = 1;
                s += 3;
            } else if (strncmp(s, "\xe2\x96\x80", 3) == 0) {
                top = 1, bottom = 0;
                s += 3;
            } else if (strncmp(s, "\xe2\x96\x84", 3) == 0) {
                top = 0, bottom = 1;
                s += 3;
            } else {
                assert_int_equal(*s, ' ');
                top = bottom = 0;
                s++;
            }
            for (int h = 0; h < 2; h++) {
                size_t y = 2 * r + (size_t)h;
                int light = h ? bottom : top;
                if (y >= q.width) {
                    assert_int_equal(light, 0);
                    continue;
                }
                int in = y >= TUI_QR_QUIET && y < TUI_QR_QUIET + n && col >= TUI_QR_QUIET &&
                         col < TUI_QR_QUIET + n;
                int want = in ? !mod[(y - TUI_QR_QUIET) * n + col - TUI_QR_QUIET] : 1;
                assert_int_equal(light, want);
            }
        }
        assert_int_equal(*s, 0);
    }
    tui_qr_free(&q);
    free(mod);
    assert_int_equal(tui_qr_render(data, 0, &q), -1);
}

int main(void)
{
    setlocale(LC_ALL, "C.UTF-8");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edit_keys),     cmocka_unit_test(test_edit_history),
        cmocka_unit_test(test_edit_complete), cmocka_unit_test(test_text_clean),
        cmocka_unit_test(test_ui_edit_full),
        cmocka_unit_test(test_model_history_merge), cmocka_unit_test(test_ui_blocking),
        cmocka_unit_test(test_qr_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
