/*
 * fuzz_bundle.c: ckv_bundle_parse on arbitrary bytes. Whatever it accepts
 * must serialise back and parse to the same bundle (round trip), and it
 * must never crash or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ckv/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ckv_bundle b, again;
    char *json = NULL;
    if (ckv_bundle_parse((const char *)data, size, &b) != CKV_OK)
        return 0;
    if (ckv_bundle_to_json(&b, &json) != CKV_OK)
        abort();
    if (ckv_bundle_parse(json, strlen(json), &again) != CKV_OK ||
        memcmp(&b, &again, sizeof b) != 0)
        abort();
    free(json);
    return 0;
}
