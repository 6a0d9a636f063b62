/*
 * cmd_trust.c: verification codes and contact trust:
 *   code CONTACT | code --mine   safety number / our public code
 *   verify CONTACT [--code D]    mark verified (after comparing D)
 *   accept CONTACT               accept a changed key
 *   contacts                     list contacts and their trust state
 */
#include "cli.h"
#include "online.h"

#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include <ckv/client.h>
#include <ckv/core.h>

enum { OPT_MINE = 1, OPT_CODE, OPT_SCANNABLE };

int cmd_code(struct cli_globals *g, int argc, char **argv)
{
    static const struct option own[] = {
        {"mine", no_argument, NULL, OPT_MINE},
        {"scannable", no_argument, NULL, OPT_SCANNABLE},
        {NULL, 0, NULL, 0},
    };
    const struct cli_command *cmd = cli_command_find("code");
    int mine = 0, scannable = 0, c, rc = 1;
    ckv_profile *p = NULL;
    ckv_status st;
    char out[256];

    while ((c = cli_getopt(g, cmd, argc, argv, "", own)) != -1) {
        if (c == 'h')
            return 0;
        if (c == '?')
            return 2;
        if (c == OPT_MINE)
            mine = 1;
        else if (c == OPT_SCANNABLE)
            scannable = 1;
    }
    if (mine && optind < argc)
        return cli_usage(cmd, "give either CONTACT or --mine, not both");
    if (!mine && optind >= argc)
        return cli_usage(cmd, "missing CONTACT (or --mine for our public code)");
    if (argc - optind > 1)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind + 1]);
    if (mine && scannable)
        return cli_usage(cmd, "--scannable needs a CONTACT");
    if (cli_profile_open(g, &p) != 0)
        goto out;
    if (mine) {
        char digits[CKV_PUBLIC_CODE_DIGITS + 1];
        st = ckv_profile_public_code(p, digits);
        if (st == CKV_OK)
            st = ckv_fingerprint_format(digits, out, sizeof(out));
        if (st != CKV_OK) {
            cli_fail(st, "code: cannot compute our public code");
            goto out;
        }
    } else {
        const char *contact = argv[optind];
        ckv_safety_number sn;
        st = ckv_profile_safety_number(p, contact, 0, &sn, NULL);
        if (st == CKV_ERR_NO_CONTACT) {
            cli_error("code: no contact '%s'; start a session with them first ('ckv start' or "
                      "'ckv decrypt')", contact);
            goto out;
        }
        if (st == CKV_OK && scannable) {
            if (sodium_base64_ENCODED_LEN(sn.scannable_len, sodium_base64_VARIANT_ORIGINAL) >
                sizeof(out))
                st = CKV_ERR_INTERNAL;
            else
                sodium_bin2base64(out, sizeof(out), sn.scannable, sn.scannable_len,
                                  sodium_base64_VARIANT_ORIGINAL);
        } else if (st == CKV_OK) {
            st = ckv_fingerprint_format(sn.digits, out, sizeof(out));
        }
        if (st != CKV_OK) {
            cli_fail(st, "code: cannot compute the safety number with '%s'", contact);
            goto out;
        }
    }
    size_t n = strlen(out);
    out[n++] = '\n';
    if (cli_write_stdout(out, n) != 0)
        goto out;
    rc = 0;
out:
    ckv_profile_close(p);
    return rc;
}

/* verify without --code: show the safety number (stderr) and, on a
 * terminal, ask for a confirmation; key receives the key it was computed
 * for, so that only the key shown gets verified. -1 after an error. */
static int confirm_shown(ckv_profile *p, const char *contact, uint8_t key[CKV_IDENTITY_KEY_LEN])
{
    ckv_safety_number sn;
    char pretty[80], answer[16];
    ckv_status st = ckv_profile_safety_number(p, contact, 0, &sn, key);
    if (st == CKV_ERR_NO_CONTACT) {
        cli_error("verify: no contact '%s'; start a session with them first", contact);
        return -1;
    }
    if (st == CKV_OK)
        st = ckv_fingerprint_format(sn.digits, pretty, sizeof(pretty));
    if (st != CKV_OK) {
        cli_fail(st, "verify: cannot compute the safety number with '%s'", contact);
        return -1;
    }
    fprintf(stderr, "Safety number with '%s':\n  %s\n", contact, pretty);
    if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO))
        return 0; /* scripted: running the command is the statement */
    fprintf(stderr, "Does '%s' see the same number? [y/N] ", contact);
    if (!fgets(answer, sizeof(answer), stdin) || (answer[0] != 'y' && answer[0] != 'Y')) {
        cli_error("verify: not confirmed; '%s' is NOT verified", contact);
        return -1;
    }
    return 0;
}

int cmd_verify(struct cli_globals *g, int argc, char **argv)
{
    static const struct option own[] = {
        {"code", required_argument, NULL, OPT_CODE},
        {NULL, 0, NULL, 0},
    };
    const struct cli_command *cmd = cli_command_find("verify");
    const char *code = NULL;
    int c, rc = 1;
    ckv_profile *p = NULL;
    ckv_status st;
    ckv_code_compare cmp;
    uint8_t key[CKV_IDENTITY_KEY_LEN];
    ckv_verify_method method = CKV_VERIFY_IN_PERSON;

    while ((c = cli_getopt(g, cmd, argc, argv, "", own)) != -1) {
        if (c == 'h')
            return 0;
        if (c == '?')
            return 2;
        if (c == OPT_CODE)
            code = optarg;
    }
    if (optind >= argc)
        return cli_usage(cmd, "missing CONTACT");
    if (argc - optind > 1)
        return cli_usage(cmd, "unexpected argument '%s' (quote a code with spaces)",
                         argv[optind + 1]);
    const char *contact = argv[optind];
    if (cli_profile_open(g, &p) != 0)
        goto out;
    if (code) {
        memset(&cmp, 0, sizeof(cmp));
        st = ckv_profile_compare_code(p, contact, code, &cmp, key);
        if (st == CKV_ERR_CODE_MISMATCH) {
            cli_error("verify: the code does not match %s with '%s': group %d of %d differs "
                      "first (%d group%s differ); '%s' is NOT verified; check the digits, or "
                      "you may not be talking to '%s'",
                      cmp.kind == 30 ? "the public code" : "the safety number", contact,
                      cmp.first_bad_group, cmp.kind == 30 ? 6 : 12, cmp.n_bad_groups,
                      cmp.n_bad_groups == 1 ? "" : "s", contact, contact);
            goto out;
        }
        if (st == CKV_ERR_MALFORMED) { /* a bad --code value: a usage error */
            cli_error("verify: the code must be the 60-digit safety number or the contact's "
                      "30-digit public code (digits and spaces only)");
            rc = 2;
            goto out;
        }
        if (st == CKV_ERR_NO_CONTACT) {
            cli_error("verify: no contact '%s'; start a session with them first", contact);
            goto out;
        }
        if (st != CKV_OK) {
            cli_fail(st, "verify: cannot compare the code for '%s'", contact);
            goto out;
        }
        method = cmp.kind == 30 ? CKV_VERIFY_PUBLIC_CODE : CKV_VERIFY_IN_PERSON;
    } else if (confirm_shown(p, contact, key) != 0) {
        goto out;
    }
    st = ckv_contact_verify(p, contact, method, key);
    if (st == CKV_ERR_NO_CONTACT) {
        cli_error("verify: no contact '%s'; start a session with them first", contact);
        goto out;
    }
    if (st != CKV_OK) {
        cli_fail(st, "verify: cannot mark '%s' verified", contact);
        goto out;
    }
    fprintf(stderr, "ckv: '%s' is verified (%s)\n", contact, ckv_verify_method_name(method));
    cli_print_gossip(p, contact);
    rc = 0;
out:
    sodium_memzero(key, sizeof(key));
    ckv_profile_close(p);
    return rc;
}

int cmd_accept(struct cli_globals *g, int argc, char **argv)
{
    const struct cli_command *cmd = cli_command_find("accept");
    int c, rc = 1;
    ckv_profile *p = NULL;
    ckv_contact *ct = NULL;
    ckv_status st;

    while ((c = cli_getopt(g, cmd, argc, argv, "", NULL)) != -1) {
        if (c == 'h')
            return 0;
        if (c == '?')
            return 2;
    }
    if (optind >= argc)
        return cli_usage(cmd, "missing CONTACT");
    if (argc - optind > 1)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind + 1]);
    const char *contact = argv[optind];
    if (cli_profile_open(g, &p) != 0)
        goto out;
    st = ckv_contact_get(p, contact, &ct);
    if (st == CKV_ERR_NO_CONTACT) {
        cli_error("accept: no contact '%s'; check the name with 'ckv contacts'", contact);
        goto out;
    }
    if (st != CKV_OK) {
        cli_fail(st, "accept: cannot read contact '%s'", contact);
        goto out;
    }
    if (ct->state != CKV_TRUST_CHANGED) {
        cli_error("accept: '%s' has no changed identity key to accept (state: %s); nothing to do",
                  contact, ckv_trust_state_name(ct->state));
        goto out;
    }
    st = ckv_contact_accept(p, contact, ct->identity_key);
    if (st != CKV_OK) {
        cli_fail(st, "accept: cannot accept the new key of '%s'", contact);
        goto out;
    }
    fprintf(stderr, "ckv: accepted the new identity key of '%s' (unverified; compare "
                    "'ckv code %s' with them when you can)\n", contact, contact);
    rc = 0;
out:
    ckv_contact_free(ct);
    ckv_profile_close(p);
    return rc;
}

int cmd_contacts(struct cli_globals *g, int argc, char **argv)
{
    const struct cli_command *cmd = cli_command_find("contacts");
    int c, rc = 1;
    ckv_profile *p = NULL;
    ckv_contact *list = NULL;
    size_t n = 0, cap = 0, len = 0;
    char *buf = NULL;
    ckv_status st;

    while ((c = cli_getopt(g, cmd, argc, argv, "", NULL)) != -1) {
        if (c == 'h')
            return 0;
        if (c == '?')
            return 2;
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (cli_profile_open(g, &p) != 0)
        goto out;
    st = ckv_contact_list(p, &list, &n);
    if (st != CKV_OK) {
        cli_fail(st, "contacts: cannot list the contacts");
        goto out;
    }
    /* name TAB state TAB session|no-session TAB how-verified TAB key-prefix
     * TAB log-views (agree|differ|unknown, from gossip) */
    cap = n * 256 + 1;
    buf = malloc(cap);
    if (!buf) {
        cli_fail(CKV_ERR_NOMEM, "contacts");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char hex[17];
        sodium_bin2hex(hex, sizeof(hex), list[i].identity_key + 1, 8);
        ckv_gossip_state gs;
        if (ckv_profile_gossip_state(p, list[i].name, &gs) != CKV_OK)
            gs.result = CKV_GOSSIP_UNKNOWN;
        int w = snprintf(buf + len, cap - len, "%s\t%s\t%s\t%s\t%s\t%s\n", list[i].name,
                         ckv_trust_state_name(list[i].state),
                         list[i].has_session ? "session" : "no-session",
                         ckv_verify_method_name(list[i].method), hex,
                         cli_gossip_name(gs.result));
        if (w < 0 || (size_t)w >= cap - len) {
            cli_fail(CKV_ERR_INTERNAL, "contacts");
            goto out;
        }
        len += (size_t)w;
    }
    if (cli_write_stdout(buf, len) != 0)
        goto out;
    cli_print_witnesses(p);
    rc = 0;
out:
    free(buf);
    ckv_contact_list_free(list, n);
    ckv_profile_close(p);
    return rc;
}
