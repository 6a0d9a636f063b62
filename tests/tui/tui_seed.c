/*
 * tui_seed.c: prepares profiles for the ckv-chat tests through core, with
 * no server: two profiles that talk (a session from a bundle, N messages
 * each way in the history), and a key change (a new profile for the same
 * account whose bundle the other side starts a session from).
 *
 *   tui_seed pair DIR_A NAME_A DIR_B NAME_B N   create both, N messages A->B, N B->A
 *   tui_seed rekey DIR_A NAME_B DIR_NEW          new key for NAME_B, seen by A
 * The passphrase is CKV_PASSPHRASE; profiles use the test-only KDF cost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ckv/core.h>

static const char *pass;

static int fail(const char *what, ckv_status st)
{
    fprintf(stderr, "tui_seed: %s: %s (%s)\n", what, ckv_strerror(st), ckv_status_name(st));
    return 1;
}

static ckv_status one(ckv_profile *from, const char *to_name, ckv_profile *to,
                      const char *from_name, const char *text)
{
    ckv_envelope env;
    uint8_t *pt = NULL;
    size_t len = 0;
    memset(&env, 0, sizeof(env));
    ckv_status st = ckv_session_encrypt(from, to_name, (const uint8_t *)text, strlen(text), &env);
    if (st == CKV_OK)
        st = ckv_session_decrypt(to, from_name, &env, &pt, &len, NULL);
    free(pt);
    ckv_envelope_clear(&env);
    return st;
}

static int pair(char **argv)
{
    ckv_profile *a = NULL, *b = NULL;
    ckv_bundle bundle;
    ckv_status st;
    int rc = 1;
    long n = strtol(argv[6], NULL, 10);
    st = ckv_profile_create(argv[2], argv[3], (const uint8_t *)pass, strlen(pass), CKV_KDF_MIN, &a);
    if (st != CKV_OK)
        return fail("create A", st);
    st = ckv_profile_create(argv[4], argv[5], (const uint8_t *)pass, strlen(pass), CKV_KDF_MIN, &b);
    if (st != CKV_OK) {
        rc = fail("create B", st);
        goto out;
    }
    st = ckv_profile_export_bundle(b, 1, &bundle);
    if (st == CKV_OK)
        st = ckv_session_start(a, argv[5], &bundle, NULL);
    if (st != CKV_OK) {
        rc = fail("session", st);
        goto out;
    }
    char text[128];
    for (long i = 1; i <= n; i++) {
        snprintf(text, sizeof(text), "message %04ld from %s", i, argv[3]);
        st = one(a, argv[5], b, argv[3], text);
        if (st != CKV_OK) {
            rc = fail("message A->B", st);
            goto out;
        }
        snprintf(text, sizeof(text), "reply %04ld from %s", i, argv[5]);
        st = one(b, argv[3], a, argv[5], text);
        if (st != CKV_OK) {
            rc = fail("message B->A", st);
            goto out;
        }
    }
    rc = 0;
out:
    ckv_profile_close(a);
    ckv_profile_close(b);
    return rc;
}

static int rekey(char **argv)
{
    ckv_profile *a = NULL, *nb = NULL;
    ckv_bundle bundle;
    ckv_trust_report rep;
    int rc = 1;
    ckv_status st = ckv_profile_open(argv[2], (const uint8_t *)pass, strlen(pass), &a);
    if (st != CKV_OK)
        return fail("open A", st);
    st = ckv_profile_create(argv[4], argv[3], (const uint8_t *)pass, strlen(pass), CKV_KDF_MIN,
                            &nb);
    if (st == CKV_OK)
        st = ckv_profile_export_bundle(nb, 1, &bundle);
    if (st == CKV_OK)
        st = ckv_session_start(a, argv[3], &bundle, &rep);
    if (st != CKV_OK) {
        rc = fail("rekey", st);
        goto out;
    }
    printf("key_changed=%d blocked=%d state=%s\n", rep.key_changed, rep.blocked,
           ckv_trust_state_name(rep.state));
    rc = 0;
out:
    ckv_profile_close(a);
    ckv_profile_close(nb);
    return rc;
}

int main(int argc, char **argv)
{
    pass = getenv("CKV_PASSPHRASE");
    if (!pass || !*pass) {
        fprintf(stderr, "tui_seed: set CKV_PASSPHRASE\n");
        return 2;
    }
    if (argc == 7 && strcmp(argv[1], "pair") == 0)
        return pair(argv);
    if (argc == 5 && strcmp(argv[1], "rekey") == 0)
        return rekey(argv);
    fprintf(stderr, "usage: tui_seed pair DIR_A NAME_A DIR_B NAME_B N | rekey DIR_A NAME_B DIR_NEW\n");
    return 2;
}
