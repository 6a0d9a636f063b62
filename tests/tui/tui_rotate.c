/*
 * tui_rotate.c: replaces a registered profile's identity key through the
 * online client, for the ckv-chat key-change test: `rotate` (a rotate entry
 * signed by the old key, ckv_client_rotate) or `reset` (ckv_client_reset).
 *
 *   tui_rotate rotate|reset PROFILE_DIR      (passphrase: CKV_PASSPHRASE)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ckv/client.h>
#include <ckv/core.h>

int main(int argc, char **argv)
{
    const char *pass = getenv("CKV_PASSPHRASE");
    ckv_profile *p = NULL;
    ckv_client *c = NULL;
    int rc = 1;
    if (argc != 3 || !pass || !*pass ||
        (strcmp(argv[1], "rotate") != 0 && strcmp(argv[1], "reset") != 0)) {
        fprintf(stderr, "usage: CKV_PASSPHRASE=... tui_rotate rotate|reset PROFILE_DIR\n");
        return 2;
    }
    int reset = strcmp(argv[1], "reset") == 0;
    ckv_status st = ckv_profile_open(argv[2], (const uint8_t *)pass, strlen(pass), &p);
    if (st == CKV_OK)
        st = ckv_client_open(p, NULL, &c);
    if (st == CKV_OK)
        st = reset ? ckv_client_reset(c) : ckv_client_rotate(c);
    if (st != CKV_OK) {
        fprintf(stderr, "tui_rotate: %s (%s) %s\n", ckv_strerror(st), ckv_status_name(st),
                c ? ckv_client_last_error(c) : "");
        goto out;
    }
    printf("%s done\n", argv[1]);
    rc = 0;
out:
    ckv_client_close(c);
    ckv_profile_close(p);
    return rc;
}
