/*
 * fuzz_tlog_note.c: signed notes, checkpoints and key strings from
 * untrusted bytes. Every input must be rejected cleanly or accepted; an
 * accepted checkpoint must format back to the same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ckv/tlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const VKEYS[] = {
    "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    "example.com/test-log+f92eede3+ASQXQBOE9Z3/aZR0U8930QyV8P09aklRh+R19jHKbb11",
    "example.com/test-witness+72b47dc9+BMJD5aGVZB+CcYbqRjZyth9Sw25R2ZIO4ct1JSi+Jgqt",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    ckv_tlog_verifier *v[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        if (ckv_tlog_verifier_parse(VKEYS[i], strlen(VKEYS[i]), &v[i]) != CKV_OK)
            abort();
    }
    const ckv_tlog_verifier *set[3] = {v[0], v[1], v[2]};

    ckv_tlog_note *nt = NULL;
    if (ckv_tlog_note_open(s, size, set, 3, &nt) == CKV_OK) {
        if (nt->nverified == 0 || nt->text_len == 0 || nt->text[nt->text_len - 1] != '\n')
            abort();
        ckv_tlog_note_free(nt);
    }
    ckv_tlog_checkpoint cp, cp2;
    if (ckv_tlog_checkpoint_open(s, size, NULL, set, 3, &cp, NULL) == CKV_OK &&
        cp.size >= (1ull << 63))
        abort();
    if (ckv_tlog_checkpoint_parse(s, size, &cp) == CKV_OK) {
        char *t = NULL;
        size_t tl = 0;
        if (ckv_tlog_checkpoint_format(cp.origin, cp.size, &cp.root, cp.ext_len ? cp.ext : NULL, &t,
                                       &tl) != CKV_OK)
            abort();
        if (tl != size || memcmp(t, s, size) != 0)
            abort(); /* parsing accepts only the canonical form */
        if (ckv_tlog_checkpoint_parse(t, tl, &cp2) != CKV_OK || cp2.size != cp.size)
            abort();
        free(t);
    }
    ckv_tlog_verifier *x = NULL;
    if (ckv_tlog_verifier_parse(s, size, &x) == CKV_OK)
        ckv_tlog_verifier_free(x);
    ckv_tlog_signer *sg = NULL;
    if (ckv_tlog_signer_parse(s, size, &sg) == CKV_OK)
        ckv_tlog_signer_free(sg);
    for (int i = 0; i < 3; i++)
        ckv_tlog_verifier_free(v[i]);
    return 0;
}
