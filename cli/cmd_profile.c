/*
 * cmd_profile.c: the commands that manage the profile itself:
 *   init --name ACCOUNT [--kdf COST]   create it
 *   bundle [--no-prekey]               export our prekey bundle as JSON
 *   passwd [--new-passphrase-file F]   re-seal under a new passphrase
 */
#include "cli.h"
#include "online.h"

#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ckv/bundle.h>
#include <ckv/client.h>
#include <ckv/profile.h>

enum {
    OPT_NAME = 1,
    OPT_KDF,
    OPT_NO_PREKEY,
    OPT_NEW_FILE,
    OPT_SERVER,
    OPT_LOG_KEY,
    OPT_WITNESS,
    OPT_QUORUM
};

/* Default KDF cost: env CKV_KDF (moderate|interactive|min), else moderate. */
static int default_kdf(int *cost)
{
    const char *e = getenv("CKV_KDF");
    *cost = CKV_KDF_MODERATE;
    return (e && *e) ? cli_parse_kdf(e, cost) : 0;
}

int cmd_init(struct cli_globals *g, int argc, char **argv)
{
    static const struct option own[] = {
        {"name", required_argument, NULL, OPT_NAME},
        {"kdf", required_argument, NULL, OPT_KDF},
        {"server", required_argument, NULL, OPT_SERVER},
        {"log-key", required_argument, NULL, OPT_LOG_KEY},
        {"witness", required_argument, NULL, OPT_WITNESS},
        {"quorum", required_argument, NULL, OPT_QUORUM},
        {NULL, 0, NULL, 0},
    };
    const struct cli_command *cmd = cli_command_find("init");
    char *witness[CKV_WITNESS_MAX + 1] = {0}, *wkeys[CKV_WITNESS_MAX + 1] = {0};
    size_t n_witness = 0;
    long quorum = 0;
    const char *name = NULL, *server = NULL, *log_key = NULL;
    char *vkey = NULL;
    int cost = CKV_KDF_MODERATE, c;
    struct cli_passphrase pass;
    char *dir = NULL;
    ckv_profile *p = NULL;
    int rc = 1;

    memset(&pass, 0, sizeof(pass));
    if (default_kdf(&cost) != 0)
        return 2;
    while ((c = cli_getopt(g, cmd, argc, argv, "", own)) != -1) {
        if (c == 'h')
            return 0;
        if (c == '?')
            return 2;
        if (c == OPT_NAME)
            name = optarg;
        else if (c == OPT_SERVER)
            server = optarg;
        else if (c == OPT_LOG_KEY)
            log_key = optarg;
        else if (c == OPT_WITNESS && n_witness == CKV_WITNESS_MAX)
            return cli_usage(cmd, "at most %d --witness", CKV_WITNESS_MAX);
        else if (c == OPT_WITNESS)
            witness[n_witness++] = optarg;
        else if (c == OPT_QUORUM) {
            char *end = NULL;
            quorum = strtol(optarg, &end, 10);
            if (end == optarg || *end || quorum < 1 || quorum > CKV_WITNESS_MAX)
                return cli_usage(cmd, "bad --quorum '%s': give a number of witnesses, at least 1",
                                 optarg);
        }
        else if (c == OPT_KDF && cli_parse_kdf(optarg, &cost) != 0)
            return 2;
    }
    if (!name)
        return cli_usage(cmd, "the account name is missing (--name ACCOUNT)");
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    char norm[CKV_NAME_MAX + 1];
    if (ckv_name_normalize(name, norm) != CKV_OK) {
        cli_error("init: bad account name '%s': use 1-%d characters from a-z 0-9 . _ + @ -, "
                  "starting with a letter, digit or +, ending with a letter or digit",
                  name, CKV_NAME_MAX);
        return 2;
    }
    if ((rc = cli_online_pin_args(server, log_key, &vkey)) != 0)
        return rc;
    if ((rc = cli_witness_args(server, witness, n_witness, &quorum, wkeys)) != 0)
        goto out;
    rc = 1;
    if (cli_profile_dir(g, &dir) != 0)
        goto out;
    if (ckv_profile_exists(dir)) {
        cli_error("init: profile '%s' exists already in %s; choose another with --profile NAME",
                  g->profile, dir);
        goto out;
    }
    if (cli_passphrase_get(&pass, "CKV_PASSPHRASE", g->passphrase_file,
                           "New passphrase for the profile: ", 1) != 0)
        goto out;
    ckv_status st = ckv_profile_create(dir, name, (const uint8_t *)pass.buf, pass.len,
                                       (ckv_kdf_cost)cost, &p);
    if (st != CKV_OK) {
        cli_fail(st, "init: cannot create profile '%s' in %s", g->profile, dir);
        goto out;
    }
    if (cli_online_pin(p, server, vkey) != 0 || cli_witness_pin(p, wkeys, n_witness, quorum) != 0)
        goto out;
    fprintf(stderr, "ckv: created profile '%s' for account '%s' in %s%s%s%s\n",
            g->profile, ckv_profile_account(p), dir, server ? " (server " : "",
            server ? server : "", server ? ")" : "");
    rc = 0;
    if (n_witness > 0)
        fprintf(stderr, "ckv: %ld of %zu pinned witnesses must cosign every checkpoint\n", quorum,
                n_witness);
out:
    for (size_t i = 0; i < n_witness; i++)
        free(wkeys[i]);
    free(vkey);
    cli_passphrase_wipe(&pass);
    ckv_profile_close(p);
    free(dir);
    return rc;
}

int cmd_bundle(struct cli_globals *g, int argc, char **argv)
{
    static const struct option own[] = {
        {"no-prekey", no_argument, NULL, OPT_NO_PREKEY},
        {NULL, 0, NULL, 0},
    };
    const struct cli_command *cmd = cli_command_find("bundle");
    int with_prekey = 1, c, rc = 1;
    ckv_profile *p = NULL;
    ckv_bundle b;
    char *json = NULL;

    while ((c = cli_getopt(g, cmd, argc, argv, "", own)) != -1) {
        if (c == 'h')
            return 0;
        if (c == '?')
            return 2;
        if (c == OPT_NO_PREKEY)
            with_prekey = 0;
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (cli_profile_open(g, &p) != 0)
        goto out;
    ckv_status st = ckv_profile_export_bundle(p, with_prekey, &b);
    if (st == CKV_OK)
        st = ckv_bundle_to_json(&b, &json);
    if (st != CKV_OK) {
        cli_fail(st, "bundle: cannot export the bundle");
        goto out;
    }
    size_t n = strlen(json);
    if (cli_write_stdout(json, n) != 0 || cli_write_stdout("\n", 1) != 0)
        goto out;
    rc = 0;
out:
    free(json);
    ckv_profile_close(p);
    return rc;
}

int cmd_passwd(struct cli_globals *g, int argc, char **argv)
{
    static const struct option own[] = {
        {"new-passphrase-file", required_argument, NULL, OPT_NEW_FILE},
        {"kdf", required_argument, NULL, OPT_KDF},
        {NULL, 0, NULL, 0},
    };
    const struct cli_command *cmd = cli_command_find("passwd");
    const char *new_file = NULL;
    int cost = CKV_KDF_MODERATE, c, rc = 1;
    struct cli_passphrase pass;
    ckv_profile *p = NULL;

    memset(&pass, 0, sizeof(pass));
    if (default_kdf(&cost) != 0)
        return 2;
    while ((c = cli_getopt(g, cmd, argc, argv, "", own)) != -1) {
        if (c == 'h')
            return 0;
        if (c == '?')
            return 2;
        if (c == OPT_NEW_FILE)
            new_file = optarg;
        else if (c == OPT_KDF && cli_parse_kdf(optarg, &cost) != 0)
            return 2;
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (cli_profile_open(g, &p) != 0)
        goto out;
    if (cli_passphrase_get(&pass, "CKV_NEW_PASSPHRASE", new_file,
                           "New passphrase for the profile: ", 1) != 0)
        goto out;
    ckv_status st = ckv_profile_change_passphrase(p, (const uint8_t *)pass.buf, pass.len,
                                                  (ckv_kdf_cost)cost);
    if (st != CKV_OK) {
        cli_fail(st, "passwd: cannot change the passphrase of profile '%s' (it is unchanged)",
                 g->profile);
        goto out;
    }
    fprintf(stderr, "ckv: the passphrase of profile '%s' was changed\n", g->profile);
    rc = 0;
out:
    cli_passphrase_wipe(&pass);
    ckv_profile_close(p);
    return rc;
}
