/*
 * cmd_session.c: the commands that move messages:
 *   start CONTACT BUNDLE.json   X3DH from the contact's bundle
 *   encrypt CONTACT             stdin plaintext -> envelope JSON on stdout
 *   decrypt CONTACT             envelope JSON on stdin -> plaintext on stdout
 * Trust reports from core become warnings on stderr; a blocked contact is
 * an error that says how to unblock.
 */
#include "cli.h"

#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <ckv/core.h>

/* Short hex of a key for warnings: the 32 key bytes after the 0x05 prefix,
 * first 8 bytes. */
static void key_hint(const uint8_t key[CKV_IDENTITY_KEY_LEN], char out[17])
{
    sodium_bin2hex(out, 17, key + 1, 8);
}

/* Report what core did to the contact. */
static void report_trust(const char *contact, const ckv_trust_report *r)
{
    char oldk[17], newk[17];
    if (r->new_contact)
        fprintf(stderr, "ckv: new contact '%s' (unverified); compare 'ckv code %s' with them, "
                        "then 'ckv verify %s'\n", contact, contact, contact);
    if (!r->key_changed)
        return;
    key_hint(r->old_key, oldk);
    key_hint(r->new_key, newk);
    if (r->blocked)
        cli_warn("%s's identity key changed (%s... -> %s...) after you verified it: sending is "
                 "blocked; compare 'ckv code %s' with them and run 'ckv verify %s', or "
                 "'ckv accept %s'", contact, oldk, newk, contact, contact, contact);
    else
        cli_warn("%s's identity key changed (%s... -> %s...); the contact is unverified: "
                 "compare 'ckv code %s' with them", contact, oldk, newk, contact);
}

static int parse_plain(struct cli_globals *g, const char *name, int argc, char **argv,
                       int nargs)
{
    const struct cli_command *cmd = cli_command_find(name);
    int c;
    while ((c = cli_getopt(g, cmd, argc, argv, "", NULL)) != -1) {
        if (c == 'h')
            return 0;
        if (c == '?')
            return 2;
    }
    if (argc - optind < nargs)
        return cli_usage(cmd, "missing argument%s", nargs > 1 ? "s" : "");
    if (argc - optind > nargs)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind + nargs]);
    return -1; /* go on */
}

int cmd_start(struct cli_globals *g, int argc, char **argv)
{
    int rc = parse_plain(g, "start", argc, argv, 2);
    if (rc >= 0)
        return rc;
    const char *contact = argv[optind], *path = argv[optind + 1];
    char *json = NULL;
    size_t len = 0;
    ckv_profile *p = NULL;
    ckv_bundle b;
    ckv_trust_report rep;
    ckv_status st;

    rc = 1;
    if (strcmp(path, "-") == 0) {
        if (cli_read_all(stdin, CKV_BUNDLE_JSON_MAX, "the bundle on stdin", &json, &len) != 0)
            goto out;
    } else if (cli_read_file(path, CKV_BUNDLE_JSON_MAX, &json, &len) != 0) {
        goto out;
    }
    st = ckv_bundle_parse(json, len, &b);
    if (st != CKV_OK) {
        cli_fail(st, "start: the bundle in %s is not usable", path);
        goto out;
    }
    if (cli_profile_open(g, &p) != 0)
        goto out;
    st = ckv_session_start(p, contact, &b, &rep);
    if (st != CKV_OK) {
        cli_fail(st, "start: cannot start a session with '%s'", contact);
        goto out;
    }
    report_trust(contact, &rep);
    fprintf(stderr, "ckv: session with '%s' started; 'ckv encrypt %s' to write to them\n",
            contact, contact);
    rc = 0;
out:
    free(json);
    ckv_profile_close(p);
    return rc;
}

int cmd_encrypt(struct cli_globals *g, int argc, char **argv)
{
    int rc = parse_plain(g, "encrypt", argc, argv, 1);
    if (rc >= 0)
        return rc;
    const char *contact = argv[optind];
    char *plain = NULL, *json = NULL;
    size_t len = 0;
    ckv_profile *p = NULL;
    ckv_envelope env = {0, NULL, 0};
    ckv_status st;

    rc = 1;
    if (cli_read_all(stdin, CKV_PLAINTEXT_MAX, "the message on stdin", &plain, &len) != 0)
        goto out;
    if (cli_profile_open(g, &p) != 0)
        goto out;
    st = ckv_session_encrypt(p, contact, (const uint8_t *)plain, len, &env);
    if (st == CKV_ERR_KEY_CHANGED_BLOCKED) {
        cli_error("encrypt: sending to '%s' is blocked: their identity key changed after you "
                  "verified it; compare 'ckv code %s' with them and run 'ckv verify %s', or "
                  "'ckv accept %s'", contact, contact, contact, contact);
        goto out;
    }
    if (st == CKV_ERR_NO_CONTACT || st == CKV_ERR_NO_SESSION) {
        cli_error("encrypt: no session with '%s'; start one with 'ckv start %s BUNDLE.json' "
                  "(their 'ckv bundle') or decrypt their first message", contact, contact);
        goto out;
    }
    if (st == CKV_OK)
        st = ckv_envelope_to_json(&env, &json);
    if (st != CKV_OK) {
        cli_fail(st, "encrypt: cannot encrypt for '%s'", contact);
        goto out;
    }
    if (cli_write_stdout(json, strlen(json)) != 0 || cli_write_stdout("\n", 1) != 0)
        goto out;
    rc = 0;
out:
    if (plain) {
        sodium_memzero(plain, len);
        free(plain);
    }
    free(json);
    ckv_envelope_clear(&env);
    ckv_profile_close(p);
    return rc;
}

int cmd_decrypt(struct cli_globals *g, int argc, char **argv)
{
    int rc = parse_plain(g, "decrypt", argc, argv, 1);
    if (rc >= 0)
        return rc;
    const char *contact = argv[optind];
    char *json = NULL;
    size_t len = 0, plen = 0;
    uint8_t *plain = NULL;
    ckv_profile *p = NULL;
    ckv_envelope env = {0, NULL, 0};
    ckv_trust_report rep;
    ckv_status st;

    rc = 1;
    if (cli_read_all(stdin, CKV_ENVELOPE_JSON_MAX, "the envelope on stdin", &json, &len) != 0)
        goto out;
    st = ckv_envelope_parse(json, len, &env);
    if (st != CKV_OK) {
        cli_fail(st, "decrypt: the envelope on stdin is not usable (expected {\"type\": 3|2, "
                     "\"body\": BASE64})");
        goto out;
    }
    if (cli_profile_open(g, &p) != 0)
        goto out;
    memset(&rep, 0, sizeof(rep));
    st = ckv_session_decrypt(p, contact, &env, &plain, &plen, &rep);
    if (st == CKV_ERR_UNTRUSTED_IDENTITY) {
        cli_error("decrypt: '%s' now uses a new identity key and you had verified the old "
                  "one; the message was not decrypted; compare 'ckv code %s' with them and run "
                  "'ckv verify %s' or 'ckv accept %s', then decrypt it again",
                  contact, contact, contact, contact);
        goto out;
    }
    if (st != CKV_OK) {
        cli_fail(st, "decrypt: message from '%s'", contact);
        goto out;
    }
    report_trust(contact, &rep);
    if (cli_write_stdout(plain, plen) != 0)
        goto out;
    rc = 0;
out:
    if (plain) {
        sodium_memzero(plain, plen);
        free(plain);
    }
    free(json);
    ckv_envelope_clear(&env);
    ckv_profile_close(p);
    return rc;
}
