/*
 * model.h: ckv-chat's message model, the state the screen is drawn from.
 *
 * The UI thread owns one tui_model. Results and events from the worker
 * thread (worker.h) are applied to it (model.c), key presses edit it
 * (ui.c), and view.c draws the whole screen from it, so that a resize or a
 * late event never leaves half-drawn state behind (the Profanity habit in
 * STYLE.md). Nothing here touches ncurses, the network or the profile.
 *
 * Conversations: index 0 is the "status" window (system messages, /log,
 * /monitor and /audit output); every contact has one conversation, created
 * when the contact is first seen. Text in the model is UTF-8 already
 * cleaned of control characters (tui_text_clean), so the view can print it.
 */
#ifndef CKV_TUI_MODEL_H
#define CKV_TUI_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "edit.h"

#define TUI_NAME_MAX 64
#define TUI_TEXT_MAX 40960 /* longest text shown whole, in bytes (ckv sends at most 32 KiB) */

enum tui_line_kind {
    TUI_LINE_IN = 0,    /* a message from the contact */
    TUI_LINE_OUT = 1,   /* a message we sent */
    TUI_LINE_INFO = 2,  /* system information */
    TUI_LINE_WARN = 3,  /* something the user should notice */
    TUI_LINE_ALERT = 4  /* a security alert (key change, log problem) */
};

enum tui_delivery {
    TUI_DLV_NONE = 0,      /* from history, stored without a seq: state unknown */
    TUI_DLV_PENDING = 1,   /* handed to the worker */
    TUI_DLV_SENT = 2,      /* the server stored it */
    TUI_DLV_DELIVERED = 3, /* the contact's encrypted receipt arrived */
    TUI_DLV_FAILED = 4,    /* not sent; the line after it says why */
    TUI_DLV_QUEUED = 5     /* stored, in the outbox: goes with the next send or receive */
};

struct tui_line {
    int64_t at;       /* unix seconds */
    uint8_t kind;     /* enum tui_line_kind */
    uint8_t delivery; /* enum tui_delivery, outgoing only */
    uint64_t seq;     /* outgoing: sequence number in the conversation, 0 unknown */
    uint64_t token;   /* outgoing: the UI's id for the pending send, 0 none */
    char *text;       /* malloc'd, cleaned UTF-8 */
    /* view.c's cache: rows this line wraps to at width wrap_w with delivery
     * mark wrap_dlv (0 width = not computed) */
    uint16_t wrap_w;
    uint8_t wrap_dlv;
    uint32_t wrap_rows;
};

struct tui_conv {
    char name[TUI_NAME_MAX + 1]; /* "" for the status window */
    struct tui_line *lines;
    size_t n, cap;
    size_t scroll;      /* screen rows scrolled up from the bottom; 0 = following */
    unsigned unread;    /* lines arrived while another conversation was shown */
    int history_loaded; /* 1 after the stored history was merged in */
};

/* Trust marks (contact.h states, same numbers). */
enum tui_trust { TUI_UNVERIFIED = 0, TUI_LOGGED = 1, TUI_VERIFIED = 2, TUI_CHANGED = 3 };

struct tui_contact {
    char name[TUI_NAME_MAX + 1];
    int state;       /* enum tui_trust */
    int has_session;
    uint8_t key[33]; /* pinned key, as shown to the user */
};

enum tui_conn { TUI_CONN_OFFLINE = 0, TUI_CONN_CONNECTING, TUI_CONN_ONLINE, TUI_CONN_ERROR };

enum tui_overlay { TUI_OV_NONE = 0, TUI_OV_VERIFY, TUI_OV_CODE, TUI_OV_HELP };

/* The verification screen's content (filled by the worker). */
struct tui_verify {
    char contact[TUI_NAME_MAX + 1];
    char digits[61];          /* the safety number, 60 digits */
    uint8_t scannable[128];   /* QR payload */
    size_t scannable_len;
    char mine[31], theirs[31]; /* the two public codes */
    uint8_t key[33];          /* the contact key the number was computed for */
    int state;                /* the contact's trust state when shown */
    int have_log;             /* 1 when the log facts below are known */
    uint64_t leaf_index, version, tree_size;
    int64_t checkpoint_age;
    char log_note[200];       /* why the log facts are missing, or "" */
    int gossip;               /* ckv_gossip_result with this contact (log views) */
    uint64_t gossip_their, gossip_our; /* the sizes compared */
    char result[240];         /* outcome of the last compare / mark, or "" */
    int result_ok;            /* 1 match/marked, 0 mismatch/failure */
};

struct tui_model {
    char account[TUI_NAME_MAX + 1];
    char server[256];
    int conn; /* enum tui_conn */
    char conn_detail[200];
    uint64_t tree_size;
    int64_t checkpoint_at; /* when the last checkpoint was verified (unix s), 0 never */

    struct tui_contact *contacts;
    size_t n_contacts;
    struct tui_conv *convs;
    size_t n_convs;
    size_t current; /* index into convs */

    int foreign_alert;   /* a key under our name we did not make: until acknowledged */
    char foreign_text[512];
    int log_alert;       /* the log is inconsistent with our view */
    char log_text[600];

    int overlay; /* enum tui_overlay */
    struct tui_verify verify;
    int compare_prompt; /* 1 while the input line takes a code to compare */

    int audit_active;
    size_t audit_done, audit_total;

    struct tui_edit edit;
    char completion[200]; /* candidates shown after an ambiguous Tab */
    int quit;
    int dirty; /* something changed since the last draw */
};

void tui_model_init(struct tui_model *m);
void tui_model_free(struct tui_model *m);

/* The conversation for `name` ("" = status), created when missing. Returns
 * its index, or (size_t)-1 when out of memory. */
size_t tui_model_conv(struct tui_model *m, const char *name);
/* Index of an existing conversation, or (size_t)-1. */
size_t tui_model_find_conv(const struct tui_model *m, const char *name);

/* Append a line (text copied and cleaned). Returns the line or NULL (OOM). */
struct tui_line *tui_model_add(struct tui_model *m, size_t conv, int kind, int64_t at,
                               const char *text, size_t len);
/* printf-style system line in conversation `conv`. */
void tui_model_note(struct tui_model *m, size_t conv, int kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Insert stored history (oldest first) before the live lines of conv. The
 * arrays are taken over (each text is owned by the model afterwards). */
void tui_model_merge_history(struct tui_model *m, size_t conv, struct tui_line *lines, size_t n);

/* Replace the contact list (taken over; freed with free()). */
void tui_model_set_contacts(struct tui_model *m, struct tui_contact *list, size_t n);
const struct tui_contact *tui_model_contact(const struct tui_model *m, const char *name);

/* The reason sending to the current conversation is blocked, or NULL. */
const char *tui_model_send_blocked(const struct tui_model *m, char *buf, size_t size);

/* Clean untrusted UTF-8 for display: the characters a terminal would act
 * on (ckv_char_unsafe: C0, DEL, C1, bidi controls, line separators) and
 * invalid sequences become U+FFFD, tabs and line breaks a space.
 * Returns a malloc'd NUL-terminated string (NULL on OOM). */
char *tui_text_clean(const char *s, size_t len);
/* The same for a message's text: one longer than TUI_TEXT_MAX is cut at a
 * character boundary and ends with " [... N more bytes not shown]". */
char *tui_text_shown(const char *s, size_t len);

/* Mark and name of a trust state; `utf8` selects the Unicode symbol. */
const char *tui_trust_mark(int state, int utf8);
const char *tui_trust_word(int state);

/* "5s", "3m", "2h", "4d" for an age in seconds; "never" for t <= 0. */
void tui_age(int64_t now, int64_t t, char *buf, size_t size);

#endif
