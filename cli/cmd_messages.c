/*
 * cmd_messages.c: `ckv send` and `ckv recv` (docs/cli.md, "Online"): a
 * message to a contact (added from the directory first when new; its key
 * checked against the log before every send), and the messages waiting for
 * us, printed as "SENDER: TEXT" lines with receipts, gaps and key changes
 * as notes on stderr. Text from the network is printed with control
 * characters replaced, so a sender cannot drive the terminal.
 */
#include "online.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include <ckv/client.h>
#include <ckv/contact.h>
#include <ckv/profile.h>
#include <ckv/utf8.h>

const char cli_help_send[] =
    "usage: ckv [--profile NAME] send CONTACT [TEXT...] [--max-age SECONDS]\n"
    "Send TEXT (the arguments joined by spaces; stdin when no TEXT is given; at\n"
    "most 32 KiB of UTF-8) to CONTACT. A CONTACT that is not a contact yet is added\n"
    "first: its entry is looked up and checked against the log, a prekey\n"
    "bundle is fetched (its key must be the logged key) and a session started.\n"
    "Before every send the contact's key must be its latest logged key.\n"
    "Refused while a verified contact's key has changed: compare codes and run\n"
    "'ckv verify CONTACT', or 'ckv accept CONTACT'. Prints \"sent message N to\n"
    "'CONTACT'\" (N: the message's number in the conversation) on stderr. An\n"
    "empty message is refused. Put -- before a TEXT that starts with '-'.\n" HELP_MAX_AGE HELP_TAIL;
const char cli_help_recv[] =
    "usage: ckv [--profile NAME] recv [--wait SECONDS] [--max-age SECONDS]\n"
    "Fetch queued messages, check every new sender's key against the log,\n"
    "decrypt, store, send encrypted delivery receipts, acknowledge. Each\n"
    "message is printed on stdout as one line 'SENDER: TEXT' (a line break in\n"
    "TEXT continues on the next line indented by two spaces; other control\n"
    "characters are shown as '?'). Receipts, missing or reordered messages,\n"
    "key changes and refused messages are notes on stderr.\n"
    "--wait SECONDS: wait up to SECONDS (0-3600) for a message when none is\n"
    "queued (default 0: return at once).\n" HELP_MAX_AGE HELP_TAIL;

/* Longest text `send` takes: ckvd stores an envelope of at most 64 KiB as
 * JSON with the ciphertext in base64 (4/3), so 32 KiB of text leaves room
 * for the Signal and inner-format overhead. */
#define ONLINE_TEXT_MAX (32u * 1024u)

/* Print text from the network: control characters shown as '?', a line
 * break continues on an indented line. */
/* Text from the network, printed: invalid UTF-8 and the characters a
 * terminal would act on (ckv_char_unsafe; but tab) are shown as '?'; a line
 * break continues on an indented line. */
static void put_safe(FILE *f, const char *s, size_t n)
{
    const uint8_t *u = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0;
        size_t len = ckv_utf8_decode(u + i, n - i, &cp);
        if (len == 1 && cp == '\n')
            fputs(i + 1 < n ? "\n  " : "", f);
        else if (len == 0 || (cp != '\t' && ckv_char_unsafe(cp)))
            fputc('?', f);
        else
            fwrite(u + i, 1, len, f);
        i += len ? len : 1;
    }
}

/* ---- send, recv --------------------------------------------------------------- */

int cmd_send(struct cli_globals *g, int argc, char **argv)
{
    const struct cli_command *cmd = cli_command_find("send");
    const char *name = NULL;
    ckv_profile *p = NULL;
    ckv_client *c = NULL;
    ckv_contact *ct = NULL;
    char *text = NULL;
    size_t len = 0;
    long max_age = 0;
    uint64_t seq = 0;
    int rc = cli_online_options(g, cmd, argc, argv, &max_age, NULL);
    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return cli_usage(cmd, "the contact is missing");
    name = argv[optind];
    char norm[CKV_NAME_MAX + 1];
    if (ckv_name_normalize(name, norm) != CKV_OK) {
        cli_error("send: bad contact name '%s': use 1-%d characters from a-z 0-9 . _ + @ -", name,
                  CKV_NAME_MAX);
        return 2;
    }
    if (optind + 1 < argc) {
        for (int i = optind + 1; i < argc; i++)
            len += strlen(argv[i]) + 1;
        if (len > ONLINE_TEXT_MAX + 1) {
            cli_error("send: the text is larger than %u bytes (ckvd's envelope limit); send it in "
                      "parts",
                      ONLINE_TEXT_MAX);
            return 2;
        }
        text = calloc(1, len + 1);
        if (!text) {
            cli_error("send: out of memory");
            return 1;
        }
        for (int i = optind + 1; i < argc; i++) {
            if (i > optind + 1)
                strcat(text, " ");
            strcat(text, argv[i]);
        }
        len = strlen(text);
    } else if (cli_read_all(stdin, ONLINE_TEXT_MAX, "the message on stdin", &text, &len) != 0) {
        return 1;
    }
    if (len > ONLINE_TEXT_MAX) {
        cli_error("send: the text is larger than %u bytes (ckvd's envelope limit); send it in "
                  "parts",
                  ONLINE_TEXT_MAX);
        sodium_memzero(text, len);
        free(text);
        return 2;
    }
    if (len == 0) { /* as ckv-chat: nothing to say is not a message */
        cli_error("send: the message is empty; give TEXT, or pipe it on stdin");
        free(text);
        return 2;
    }
    rc = 1;
    if (cli_online_open(g, "send", max_age, &p, &c) != 0)
        goto out;
    if (strcmp(norm, ckv_profile_account(p)) == 0) {
        cli_error("send: '%s' is this profile's own account; send to a contact", norm);
        goto out;
    }
    ckv_status st = ckv_contact_get(p, norm, &ct);
    if (st == CKV_ERR_NO_CONTACT) {
        ckv_trust_report r;
        memset(&r, 0, sizeof(r));
        st = ckv_client_add_contact(c, norm, &r);
        if (st != CKV_OK) {
            cli_name_fail(c, st, "send", norm, "; nothing was sent");
            goto out;
        }
        cli_report_added(norm, &r);
    } else if (st != CKV_OK) {
        cli_fail(st, "send: cannot read contact '%s'", norm);
        goto out;
    }
    st = ckv_client_send(c, norm, (const uint8_t *)text, len, &seq);
    if (st == CKV_ERR_KEY_CHANGED_BLOCKED) {
        cli_online_say(
            c, st,
            "send: nothing was sent to '%s': their key changed after you verified "
            "it; compare 'ckv code %s' with them and run 'ckv verify %s', or 'ckv accept "
            "%s'",
            norm, norm, norm, norm);
        goto out;
    }
    if (st == CKV_ERR_INVALID_ARG || st == CKV_ERR_TOO_LARGE) {
        cli_online_say(c, st, "send: nothing was sent to '%s': give UTF-8 text", norm);
        goto out;
    }
    if (st != CKV_OK) {
        cli_online_fail(c, st, "send: the message to '%s' was not accepted by the server", norm);
        goto out;
    }
    /* the check before the send may have moved to a newer logged key */
    if (ct) {
        ckv_contact *now = NULL;
        if (ckv_contact_get(p, norm, &now) == CKV_OK &&
            sodium_memcmp(now->identity_key, ct->identity_key, sizeof(ct->identity_key)) != 0)
            cli_warn("%s's identity key changed (a newer key is in the log; state %s); compare "
                     "safety numbers with 'ckv code %s'",
                     norm, ckv_trust_state_name(now->state), norm);
        ckv_contact_free(now);
    }
    fprintf(stderr, "ckv: sent message %llu to '%s'\n", (unsigned long long)seq, norm);
    rc = 0;
out:
    if (text) {
        sodium_memzero(text, len);
        free(text);
    }
    ckv_contact_free(ct);
    cli_online_close(p, c);
    return rc;
}

/* Print one event: messages on stdout, everything else on stderr.
 * Returns 1 for a message. */
static int print_event(const ckv_event *e)
{
    switch (e->kind) {
    case CKV_EV_MESSAGE:
        printf("%s: ", e->contact);
        put_safe(stdout, e->text ? e->text : "", e->text ? e->text_len : 0);
        putchar('\n');
        return 1;
    case CKV_EV_RECEIPT:
        fprintf(stderr, "ckv: %s received message %llu\n", e->contact, (unsigned long long)e->seq);
        break;
    case CKV_EV_GAP:
        cli_warn("%llu message%s from %s (number %llu%s) did not arrive: lost or withheld by the "
                 "server",
                 (unsigned long long)e->count, e->count == 1 ? "" : "s", e->contact,
                 (unsigned long long)e->seq, e->count == 1 ? "" : " on");
        break;
    case CKV_EV_REORDERED:
        cli_warn("message %llu from %s arrived after a later one", (unsigned long long)e->seq,
                 e->contact);
        break;
    case CKV_EV_KEY_CHANGED:
        cli_warn("%s's identity key changed (state %s)%s", e->contact,
                 ckv_trust_state_name(e->state),
                 e->state == CKV_TRUST_CHANGED
                     ? "; sending to them is blocked until 'ckv verify' or 'ckv accept'"
                     : "; compare safety numbers with 'ckv code'");
        break;
    case CKV_EV_REJECTED:
        cli_warn("a message from %s was refused: %s", e->contact, ckv_strerror(e->status));
        break;
    case CKV_EV_SPLIT_VIEW:
        cli_error("%s", e->text ? e->text : ckv_strerror(e->status));
        break;
    case CKV_EV_HELD:
        cli_warn("a message from %s is held until the log can be checked (our view of the log "
                 "is frozen); 'ckv recv' shows or refuses it once the view is fresh",
                 e->contact);
        break;
    }
    return 0;
}

int cmd_recv(struct cli_globals *g, int argc, char **argv)
{
    const struct cli_command *cmd = cli_command_find("recv");
    ckv_profile *p = NULL;
    ckv_client *c = NULL;
    long max_age = 0, wait = 0;
    int rc = cli_online_options(g, cmd, argc, argv, &max_age, &wait);
    if (rc >= 0)
        return rc;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (cli_online_open(g, "recv", max_age, &p, &c) != 0)
        return 1;
    /* Messages are printed as they are stored (core has already acknowledged
     * them), so output goes out batch by batch, never held back. */
    time_t deadline = time(NULL) + wait;
    int got = 0;
    rc = 0;
    for (;;) {
        ckv_event *ev = NULL;
        size_t n = 0;
        long left = (long)(deadline - time(NULL));
        int w = got ? 0 : (int)(left < 0 ? 0 : left > 30 ? 30 : left);
        ckv_status st = ckv_client_receive(c, w, &ev, &n);
        if (st != CKV_OK) {
            rc = cli_online_fail(c, st, "recv: cannot fetch messages%s",
                                 got ? " (the messages above were received)" : "");
            break;
        }
        int msgs = 0;
        for (size_t i = 0; i < n; i++)
            msgs += print_event(&ev[i]);
        ckv_client_events_free(ev, n);
        if (fflush(stdout) != 0) {
            cli_error("recv: cannot write to stdout");
            rc = 1;
            break;
        }
        got += msgs;
        if (n == 0 && (got || time(NULL) >= deadline))
            break;
        if (n == 0 && wait == 0)
            break;
        if (got && n == 0)
            break;
    }
    cli_online_close(p, c);
    return rc;
}
