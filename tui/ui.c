/*
 * ui.c: the UI thread's logic (ui.h). Everything here is quick: it changes
 * the model and queues commands for the worker, never waits for it.
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include "ui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curses.h> /* KEY_* codes only */

#include <ckv/name.h>

static const char *const commands[] = {"/accept", "/ack",    "/add",   "/audit", "/code",
                                       "/help",   "/log",    "/monitor", "/msg", "/quit",
                                       "/trust",  "/verify"};
static const char *const name_commands[] = {"/accept", "/add", "/log", "/msg", "/trust",
                                            "/verify"};

void tui_ui_init(struct tui_ui *u, struct tui_worker *w)
{
    memset(u, 0, sizeof(*u));
    tui_model_init(&u->m);
    u->w = w;
    u->next_token = 1;
}

void tui_ui_free(struct tui_ui *u)
{
    tui_model_free(&u->m);
}

static void push(struct tui_ui *u, struct tui_cmd *c)
{
    if (!c) {
        tui_model_note(&u->m, 0, TUI_LINE_WARN, "out of memory");
        return;
    }
    if (!u->w) {
        tui_cmd_free(c);
        return;
    }
    (void)tui_worker_push(u->w, c);
}

static size_t conv_of(struct tui_ui *u, const char *name)
{
    size_t i = tui_model_conv(&u->m, name);
    return i == (size_t)-1 ? 0 : i;
}

void tui_ui_switch(struct tui_ui *u, size_t i)
{
    struct tui_model *m = &u->m;
    if (i >= m->n_convs)
        return;
    m->current = i;
    m->convs[i].unread = 0;
    if (i != 0 && m->convs[i].history_loaded == 0) {
        m->convs[i].history_loaded = 2; /* requested */
        push(u, tui_cmd_new(TUI_CMD_HISTORY, m->convs[i].name, NULL));
    }
    m->dirty = 1;
}

/* Drop live lines the stored history also holds (see tui_ui_apply). */
static void drop_stored_live(struct tui_conv *c)
{
    size_t o = 0;
    for (size_t i = 0; i < c->n; i++) {
        struct tui_line *l = &c->lines[i];
        int stored = l->kind == TUI_LINE_IN ||
                     (l->kind == TUI_LINE_OUT &&
                      (l->delivery == TUI_DLV_SENT || l->delivery == TUI_DLV_DELIVERED ||
                       l->delivery == TUI_DLV_QUEUED));
        if (stored)
            free(l->text);
        else
            c->lines[o++] = *l;
    }
    c->n = o;
}

static struct tui_line *find_out(struct tui_conv *c, uint64_t token, uint64_t seq)
{
    for (size_t i = c->n; i-- > 0;) {
        struct tui_line *l = &c->lines[i];
        if (l->kind != TUI_LINE_OUT)
            continue;
        if ((token && l->token == token) || (seq && l->seq == seq))
            return l;
    }
    return NULL;
}

void tui_ui_apply(struct tui_ui *u, struct tui_res *r)
{
    struct tui_model *m = &u->m;
    size_t ci;
    struct tui_line *l;
    m->dirty = 1;
    switch (r->kind) {
    case TUI_RES_OPENED:
        snprintf(m->account, sizeof(m->account), "%s", r->name);
        tui_model_note(m, 0, TUI_LINE_INFO, "profile of %s unlocked. /help lists the commands.",
                       r->name);
        break;
    case TUI_RES_FATAL:
        u->fatal = 1;
        snprintf(u->fatal_text, sizeof(u->fatal_text), "%s", r->text ? r->text : "fatal error");
        m->quit = 1;
        break;
    case TUI_RES_CONTACTS: {
        /* a changed key shows as the mark, the banner and the input line */
        tui_model_set_contacts(m, r->contacts, r->n_contacts);
        r->contacts = NULL;
        r->n_contacts = 0;
        break;
    }
    case TUI_RES_HISTORY:
        ci = conv_of(u, r->name);
        if (r->status != CKV_OK) {
            tui_model_note(m, ci, TUI_LINE_WARN, "cannot read the history: %s",
                           ckv_strerror(r->status));
            m->convs[ci].history_loaded = 1;
            break;
        }
        drop_stored_live(&m->convs[ci]);
        tui_model_merge_history(m, ci, r->lines, r->n_lines);
        r->lines = NULL;
        r->n_lines = 0;
        break;
    case TUI_RES_NOTE:
        tui_model_note(m, conv_of(u, r->name), r->line_kind, "%s", r->text ? r->text : "");
        break;
    case TUI_RES_SENT:
        ci = conv_of(u, r->name);
        l = find_out(&m->convs[ci], r->token, 0);
        if (r->status == CKV_OK) {
            if (l) {
                l->delivery = TUI_DLV_SENT;
                l->seq = r->seq;
            }
        } else if (r->seq != 0) { /* kept in the outbox: goes out later */
            if (l) {
                l->delivery = TUI_DLV_QUEUED;
                l->seq = r->seq; /* so that its receipt finds it */
            }
            tui_model_note(m, ci, TUI_LINE_INFO, "%s",
                           r->text ? r->text : ckv_strerror(r->status));
        } else {
            if (l)
                l->delivery = TUI_DLV_FAILED;
            tui_model_note(m, ci, TUI_LINE_WARN, "%s",
                           r->text ? r->text : ckv_strerror(r->status));
        }
        break;
    case TUI_RES_MESSAGE:
        ci = conv_of(u, r->name);
        (void)tui_model_add(m, ci, TUI_LINE_IN, r->at, r->text ? r->text : "",
                            r->text ? strlen(r->text) : 0);
        break;
    case TUI_RES_RECEIPT:
        ci = conv_of(u, r->name);
        l = find_out(&m->convs[ci], 0, r->seq);
        if (l)
            l->delivery = TUI_DLV_DELIVERED;
        break;
    case TUI_RES_CONN:
        m->conn = r->conn;
        if (r->conn == TUI_CONN_CONNECTING && r->text && r->text[0])
            snprintf(m->server, sizeof(m->server), "%s", r->text);
        if (r->text && r->text[0] && r->conn != TUI_CONN_CONNECTING &&
            strcmp(r->text, m->conn_detail) != 0)
            tui_model_note(m, 0, r->conn == TUI_CONN_ERROR ? TUI_LINE_WARN : TUI_LINE_INFO,
                           "%s", r->text);
        snprintf(m->conn_detail, sizeof(m->conn_detail), "%s", r->text ? r->text : "");
        break;
    case TUI_RES_VIEW:
        m->tree_size = r->tree_size;
        m->checkpoint_at = r->at;
        break;
    case TUI_RES_VERIFY:
        if (r->verify) {
            m->verify = *r->verify;
            m->overlay = TUI_OV_VERIFY;
            m->compare_prompt = 0;
        }
        break;
    case TUI_RES_CODE:
        if (r->verify) {
            m->verify = *r->verify;
            m->overlay = TUI_OV_CODE;
        }
        break;
    case TUI_RES_COMPARED:
        if (strcmp(m->verify.contact, r->name) == 0) {
            snprintf(m->verify.result, sizeof(m->verify.result), "%s", r->text ? r->text : "");
            m->verify.result_ok = r->status == CKV_OK;
        }
        if (r->status != CKV_OK)
            tui_model_note(m, 0, TUI_LINE_WARN, "%s: %s", r->name, r->text ? r->text : "");
        break;
    case TUI_RES_KEY_CHANGED:
        ci = conv_of(u, r->name);
        tui_model_note(m, ci, TUI_LINE_ALERT, "%s's identity key changed%s", r->name,
                       r->state == TUI_CHANGED
                           ? ": you had verified the old one, so sending is blocked until "
                             "/verify or /accept"
                           : " (not verified before: compare codes with /verify)");
        break;
    case TUI_RES_FOREIGN:
        m->foreign_alert = 1;
        snprintf(m->foreign_text, sizeof(m->foreign_text), "%s", r->text ? r->text : "");
        tui_model_note(m, 0, TUI_LINE_ALERT, "%s", m->foreign_text);
        break;
    case TUI_RES_FOREIGN_ACKED:
        m->foreign_alert = 0;
        m->dirty = 1;
        break;
    case TUI_RES_LOG_BAD:
        m->log_alert = 1;
        snprintf(m->log_text, sizeof(m->log_text), "%s", r->text ? r->text : "");
        break;
    case TUI_RES_PROGRESS:
        m->audit_total = r->total;
        m->audit_done = r->done;
        m->audit_active = r->done < r->total;
        break;
    default:
        break;
    }
    tui_res_free(r);
}

/* The argument of a NAME command, normalised, or NULL with a note. */
static int arg_name(struct tui_ui *u, const char *cmd, const char *arg, char out[TUI_NAME_MAX + 1])
{
    if (!arg || !*arg) {
        tui_model_note(&u->m, u->m.current, TUI_LINE_WARN, "usage: %s NAME", cmd);
        return -1;
    }
    if (ckv_name_normalize(arg, out) != CKV_OK) {
        tui_model_note(&u->m, u->m.current, TUI_LINE_WARN,
                       "'%s' is not an account name: use letters, digits and . _ + @ -", arg);
        return -1;
    }
    return 0;
}

static int need_contact(struct tui_ui *u, const char *name)
{
    if (tui_model_contact(&u->m, name))
        return 0;
    tui_model_note(&u->m, u->m.current, TUI_LINE_WARN, "%s is not a contact: /add %s first",
                   name, name);
    return -1;
}

static void send_text(struct tui_ui *u, const char *text)
{
    struct tui_model *m = &u->m;
    char why[300];
    const char *blocked = tui_model_send_blocked(m, why, sizeof(why));
    if (blocked) {
        tui_model_note(m, m->current, TUI_LINE_WARN, "not sent: %s", blocked);
        return;
    }
    struct tui_cmd *c = tui_cmd_new(TUI_CMD_SEND, m->convs[m->current].name, text);
    if (!c) {
        tui_model_note(m, m->current, TUI_LINE_WARN, "out of memory");
        return;
    }
    c->token = u->next_token++;
    struct tui_line *l =
        tui_model_add(m, m->current, TUI_LINE_OUT, (int64_t)time(NULL), text, strlen(text));
    if (l) {
        l->delivery = TUI_DLV_PENDING;
        l->token = c->token;
    }
    m->convs[m->current].scroll = 0;
    push(u, c);
}

void tui_ui_line(struct tui_ui *u, const char *line)
{
    struct tui_model *m = &u->m;
    char cmd[32], arg[256], name[TUI_NAME_MAX + 1];
    if (line[0] == 0)
        return;
    if (line[0] != '/' || line[1] == '/') {
        send_text(u, line[0] == '/' ? line + 1 : line);
        return;
    }
    cmd[0] = arg[0] = 0;
    size_t i = 0;
    while (line[i] && line[i] != ' ' && i < sizeof(cmd) - 1) {
        cmd[i] = line[i];
        i++;
    }
    cmd[i] = 0;
    while (line[i] == ' ')
        i++;
    snprintf(arg, sizeof(arg), "%s", line + i);
    size_t al = strlen(arg);
    while (al > 0 && arg[al - 1] == ' ')
        arg[--al] = 0;
    const char *cur = m->current ? m->convs[m->current].name : NULL;

    if (strcmp(cmd, "/quit") == 0) {
        m->quit = 1;
    } else if (strcmp(cmd, "/help") == 0) {
        m->overlay = TUI_OV_HELP;
    } else if (strcmp(cmd, "/ack") == 0 && arg[0] != 0) {
        /* /ack LEAF: the entries under our name up to LEAF, for good */
        size_t k = strspn(arg, "0123456789");
        if (k == 0 || k > 19 || arg[k] != 0) {
            tui_model_note(m, m->current, TUI_LINE_INFO,
                           "usage: /ack (hide the red alerts) or /ack LEAF (the entry number the "
                           "key-under-your-name alert gives: acknowledge it for good)");
        } else { /* the alert goes once the worker says it was acknowledged */
            push(u, tui_cmd_new(TUI_CMD_ACK_FOREIGN, NULL, arg));
        }
    } else if (strcmp(cmd, "/ack") == 0) {
        if (!m->foreign_alert && !m->log_alert)
            tui_model_note(m, m->current, TUI_LINE_INFO, "no alert to acknowledge");
        else
            tui_model_note(m, 0, TUI_LINE_INFO,
                           "alert acknowledged (it stays in the status window)");
        m->foreign_alert = m->log_alert = 0;
    } else if (strcmp(cmd, "/add") == 0) {
        if (arg_name(u, cmd, arg, name) == 0) {
            tui_model_note(m, 0, TUI_LINE_INFO, "looking %s up in the log...", name);
            push(u, tui_cmd_new(TUI_CMD_ADD, name, NULL));
        }
    } else if (strcmp(cmd, "/msg") == 0) {
        if (arg_name(u, cmd, arg, name) == 0 && need_contact(u, name) == 0)
            tui_ui_switch(u, conv_of(u, name));
    } else if (strcmp(cmd, "/verify") == 0) {
        if (!arg[0] && !cur)
            tui_model_note(m, 0, TUI_LINE_WARN, "usage: /verify NAME (or open a conversation)");
        else if ((arg[0] ? arg_name(u, cmd, arg, name) : (snprintf(name, sizeof(name), "%s", cur), 0)) == 0 &&
                 need_contact(u, name) == 0)
            push(u, tui_cmd_new(TUI_CMD_VERIFY, name, NULL));
    } else if (strcmp(cmd, "/code") == 0) {
        if (arg[0]) /* it shows our own code; a name would suggest otherwise */
            tui_model_note(m, m->current, TUI_LINE_INFO,
                           "usage: /code (your own public code); /verify NAME compares with "
                           "a contact");
        else
            push(u, tui_cmd_new(TUI_CMD_CODE, NULL, NULL));
    } else if (strcmp(cmd, "/trust") == 0) {
        if (arg_name(u, cmd, arg, name) == 0 && need_contact(u, name) == 0) {
            if (strcmp(m->verify.contact, name) != 0 || !m->verify.digits[0]) {
                tui_model_note(m, m->current, TUI_LINE_WARN,
                               "compare the safety number first: /verify %s, then press v",
                               name);
            } else {
                struct tui_cmd *c = tui_cmd_new(TUI_CMD_TRUST, name, NULL);
                if (c)
                    memcpy(c->key, m->verify.key, 33);
                push(u, c);
            }
        }
    } else if (strcmp(cmd, "/accept") == 0) {
        if (arg_name(u, cmd, arg, name) == 0 && need_contact(u, name) == 0) {
            struct tui_cmd *c = tui_cmd_new(TUI_CMD_ACCEPT, name, NULL);
            if (c)
                memcpy(c->key, tui_model_contact(m, name)->key, 33);
            push(u, c);
        }
    } else if (strcmp(cmd, "/log") == 0) {
        if (!arg[0] && cur)
            snprintf(arg, sizeof(arg), "%s", cur);
        if (arg_name(u, cmd, arg, name) == 0) {
            tui_ui_switch(u, 0);
            push(u, tui_cmd_new(TUI_CMD_LOG, name, NULL));
        }
    } else if (strcmp(cmd, "/monitor") == 0) {
        tui_ui_switch(u, 0);
        push(u, tui_cmd_new(TUI_CMD_MONITOR, NULL, NULL));
    } else if (strcmp(cmd, "/audit") == 0) {
        m->audit_active = 1;
        m->audit_done = 0;
        m->audit_total = 0;
        tui_ui_switch(u, 0);
        push(u, tui_cmd_new(TUI_CMD_AUDIT, NULL, NULL));
    } else {
        tui_model_note(m, m->current, TUI_LINE_WARN,
                       "unknown command %s: /help lists the commands (// sends a line "
                       "starting with /)",
                       cmd);
    }
}

static void complete(struct tui_ui *u)
{
    struct tui_model *m = &u->m;
    const char **names = calloc(m->n_contacts + 1, sizeof(char *));
    if (!names)
        return;
    for (size_t i = 0; i < m->n_contacts; i++)
        names[i] = m->contacts[i].name;
    (void)tui_edit_complete(&m->edit, commands, sizeof(commands) / sizeof(commands[0]),
                            name_commands, sizeof(name_commands) / sizeof(name_commands[0]),
                            names, m->n_contacts, m->completion, sizeof(m->completion));
    free(names);
}

static void page_scroll(struct tui_ui *u, int dir)
{
    struct tui_conv *c = &u->m.convs[u->m.current];
    size_t page = 10; /* until the pane height is known */
    if (u->page_rows > 2)
        page = (size_t)u->page_rows - 2;
    if (dir < 0)
        c->scroll += page; /* clamped when drawn */
    else
        c->scroll = c->scroll > page ? c->scroll - page : 0;
}

void tui_ui_key(struct tui_ui *u, int is_key, wint_t ch)
{
    struct tui_model *m = &u->m;
    m->dirty = 1;
    if (!(is_key == 0 && ch == L'\t'))
        m->completion[0] = 0;

    /* Screens over the main one take their own keys. */
    if (m->overlay != TUI_OV_NONE && !m->compare_prompt) {
        if (!is_key && (ch == 27 || ch == L'q' || ch == L'\n' || ch == L'\r')) {
            m->overlay = TUI_OV_NONE;
            return;
        }
        if (m->overlay == TUI_OV_VERIFY && !is_key && (ch == L'v' || ch == L'V')) {
            struct tui_cmd *c = tui_cmd_new(TUI_CMD_TRUST, m->verify.contact, NULL);
            if (c)
                memcpy(c->key, m->verify.key, 33);
            push(u, c);
            return;
        }
        if (m->overlay == TUI_OV_VERIFY && !is_key && (ch == L'c' || ch == L'C')) {
            m->compare_prompt = 1;
            tui_edit_clear(&m->edit);
            return;
        }
        return;
    }

    if (is_key && ch == TUI_KEY_PASTE_BEGIN) {
        u->pasting = 1;
        return;
    }
    if (is_key && ch == TUI_KEY_PASTE_END) {
        u->pasting = 0;
        return;
    }
    if (u->pasting && !is_key && (ch == L'\n' || ch == L'\r'))
        ch = L' ';
    if (is_key) {
        switch (ch) {
        case KEY_LEFT:
            tui_edit_left(&m->edit);
            break;
        case KEY_RIGHT:
            tui_edit_right(&m->edit);
            break;
        case KEY_HOME:
            tui_edit_home(&m->edit);
            break;
        case KEY_END:
            tui_edit_end(&m->edit);
            break;
        case KEY_BACKSPACE:
            tui_edit_backspace(&m->edit);
            break;
        case KEY_DC:
            tui_edit_delete(&m->edit);
            break;
        case KEY_UP:
            tui_edit_hist_prev(&m->edit);
            break;
        case KEY_DOWN:
            tui_edit_hist_next(&m->edit);
            break;
        case KEY_PPAGE:
            page_scroll(u, -1);
            break;
        case KEY_NPAGE:
            page_scroll(u, 1);
            break;
        case KEY_ENTER:
            tui_ui_key(u, 0, L'\n');
            break;
        default:
            break;
        }
        return;
    }
    switch (ch) {
    case L'\n':
    case L'\r': {
        char *line = tui_edit_take(&m->edit);
        if (!line)
            break;
        if (m->compare_prompt) {
            m->compare_prompt = 0;
            if (line[0])
                push(u, tui_cmd_new(TUI_CMD_COMPARE, m->verify.contact, line));
        } else {
            tui_ui_line(u, line);
        }
        free(line);
        break;
    }
    case 27: /* Esc */
        if (m->compare_prompt) {
            m->compare_prompt = 0;
            tui_edit_clear(&m->edit);
        }
        break;
    case L'\t':
        complete(u);
        break;
    case 1: /* Ctrl-A */
        tui_edit_home(&m->edit);
        break;
    case 5: /* Ctrl-E */
        tui_edit_end(&m->edit);
        break;
    case 2: /* Ctrl-B */
        tui_edit_left(&m->edit);
        break;
    case 6: /* Ctrl-F */
        tui_edit_right(&m->edit);
        break;
    case 4: /* Ctrl-D */
        tui_edit_delete(&m->edit);
        break;
    case 11: /* Ctrl-K */
        tui_edit_kill_to_end(&m->edit);
        break;
    case 21: /* Ctrl-U */
        tui_edit_kill_to_start(&m->edit);
        break;
    case 23: /* Ctrl-W */
        tui_edit_kill_word(&m->edit);
        break;
    case 8:
    case 127:
        tui_edit_backspace(&m->edit);
        break;
    case 14: /* Ctrl-N */
        tui_ui_switch(u, (m->current + 1) % m->n_convs);
        break;
    case 16: /* Ctrl-P */
        tui_ui_switch(u, (m->current + m->n_convs - 1) % m->n_convs);
        break;
    case 12: /* Ctrl-L */
        u->redraw_all = 1;
        break;
    default:
        if (ch >= 32 && ch != 127) {
            if (tui_edit_insert(&m->edit, (wchar_t)ch) == 0) {
                u->edit_full = 0;
            } else if (!u->edit_full) { /* say it once, not for every key */
                u->edit_full = 1;
                tui_model_note(m, m->current, TUI_LINE_WARN,
                               "the input line is full (%d characters): what you type or paste "
                               "beyond that is not taken; send this part first",
                               TUI_EDIT_MAX);
            }
        }
        break;
    }
}
