/*
 * profile_open.c: find, unlock and create the profile a command works on.
 * The passphrase is fetched here, handed to core, and wiped before return.
 */
#include "cli.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ckv/profile.h>

int cli_profile_dir(const struct cli_globals *g, char **out_dir)
{
    char *dir = NULL;
    ckv_status st = ckv_profile_dir(g->profile, &dir);
    if (st == CKV_ERR_BAD_NAME) {
        cli_error("bad profile name '%s': use 1-64 characters from A-Z a-z 0-9 . _ - "
                  "not starting with '.'", g->profile);
        return -1;
    }
    if (st != CKV_OK) {
        cli_fail(st, "cannot locate profile '%s' (set XDG_DATA_HOME or HOME)", g->profile);
        return -1;
    }
    *out_dir = dir;
    return 0;
}

int cli_profile_open(const struct cli_globals *g, ckv_profile **out)
{
    struct cli_passphrase pass;
    char *dir = NULL;
    ckv_profile *p = NULL;
    int rc = -1;

    memset(&pass, 0, sizeof(pass));
    if (cli_profile_dir(g, &dir) != 0)
        goto out;
    if (!ckv_profile_exists(dir)) {
        cli_error("no profile '%s' (looked in %s); create it with 'ckv --profile %s init "
                  "--name ACCOUNT'", g->profile, dir, g->profile);
        goto out;
    }
    if (cli_passphrase_get(&pass, "CKV_PASSPHRASE", g->passphrase_file,
                           "Passphrase for profile: ", 0) != 0)
        goto out;
    ckv_status st = ckv_profile_open(dir, (const uint8_t *)pass.buf, pass.len, &p);
    if (st == CKV_ERR_WRONG_PASSPHRASE) {
        cli_error("cannot open profile '%s': the passphrase is wrong; check CKV_PASSPHRASE, "
                  "--passphrase-file or what you typed", g->profile);
        goto out;
    }
    if (st != CKV_OK) {
        cli_fail(st, "cannot open profile '%s'", g->profile);
        goto out;
    }
    *out = p;
    rc = 0;
out:
    cli_passphrase_wipe(&pass);
    free(dir);
    return rc;
}

int cli_parse_kdf(const char *s, int *out_cost)
{
    if (strcmp(s, "moderate") == 0)
        *out_cost = CKV_KDF_MODERATE;
    else if (strcmp(s, "interactive") == 0)
        *out_cost = CKV_KDF_INTERACTIVE;
    else if (strcmp(s, "min") == 0)
        *out_cost = CKV_KDF_MIN;
    else {
        cli_error("unknown --kdf cost '%s': use moderate, interactive or min", s);
        return -1;
    }
    return 0;
}
