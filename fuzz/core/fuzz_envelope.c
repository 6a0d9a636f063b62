/*
 * fuzz_envelope.c: ckv_envelope_parse on arbitrary bytes; an accepted
 * envelope must round-trip, and is then fed to ckv_session_decrypt on an
 * in-memory profile (libsignal's message parsers and our decrypt path must
 * reject it cleanly: nothing decrypts without a session, nothing crashes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ckv/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ckv_profile *profile; /* one per process, closed at exit */

static void close_profile(void)
{
    ckv_profile_close(profile);
    profile = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ckv_envelope e, again;
    char *json = NULL;
    uint8_t *pt = NULL;
    size_t n = 0;

    memset(&e, 0, sizeof e);
    memset(&again, 0, sizeof again);
    if (ckv_envelope_parse((const char *)data, size, &e) != CKV_OK)
        return 0;
    if (ckv_envelope_to_json(&e, &json) != CKV_OK)
        abort();
    if (ckv_envelope_parse(json, strlen(json), &again) != CKV_OK || again.type != e.type ||
        again.body_len != e.body_len || memcmp(again.body, e.body, e.body_len) != 0)
        abort();
    free(json);
    ckv_envelope_clear(&again);
    if (profile == NULL) {
        if (ckv_profile_create(NULL, "fuzz", (const uint8_t *)"x", 1, CKV_KDF_MIN, &profile) !=
                CKV_OK ||
            atexit(close_profile) != 0)
            abort();
    }
    if (ckv_session_decrypt(profile, "peer", &e, &pt, &n, NULL) == CKV_OK)
        abort(); /* no session, no valid sender: must not decrypt */
    ckv_envelope_clear(&e);
    return 0;
}
