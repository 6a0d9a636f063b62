/*
 * signcp.c: a test helper that signs a checkpoint the way a lying log
 * would: `signcp KEYFILE SIZE ROOT_HEX` prints the signed note for the
 * key's origin, any SIZE (far larger than the tree, say) and root. It uses
 * the library's own signer (ckv_tlog_signer_load, ckv_tlog_note_sign); the
 * audit tests use it to serve checkpoints no honest ckv-log would publish.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckv/tlog_checkpoint.h"
#include "ckv/tlog_note.h"

int main(int argc, char **argv)
{
    ckv_tlog_signer *s = NULL;
    ckv_tlog_hash root;
    char *text = NULL, *note = NULL, *end = NULL;
    size_t text_len = 0, note_len = 0;
    int rc = 1;

    if (argc != 4) {
        fprintf(stderr, "usage: signcp KEYFILE SIZE ROOT_HEX\n");
        return 2;
    }
    unsigned long long size = strtoull(argv[2], &end, 10);
    if (*argv[2] == 0 || *end != 0 || ckv_tlog_hash_from_hex(argv[3], strlen(argv[3]), &root) != CKV_OK) {
        fprintf(stderr, "signcp: bad SIZE or ROOT_HEX\n");
        return 2;
    }
    if (ckv_tlog_signer_load(argv[1], &s) != CKV_OK ||
        ckv_tlog_checkpoint_format(ckv_tlog_signer_name(s), (uint64_t)size, &root, NULL, &text,
                                   &text_len) != CKV_OK ||
        ckv_tlog_note_sign(text, text_len, s, &note, &note_len) != CKV_OK) {
        fprintf(stderr, "signcp: cannot sign\n");
        goto out;
    }
    fwrite(note, 1, note_len, stdout);
    rc = 0;
out:
    free(text);
    free(note);
    ckv_tlog_signer_free(s);
    return rc;
}
