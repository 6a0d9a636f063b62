/*
 * fuzz_inner.c: the inner message parser (core/inner.c) on arbitrary
 * decrypted plaintexts: never crashes, a message's text is within the
 * input's size, receipts within the cap, and a message re-encodes to a
 * plaintext that parses back to the same values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "online.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ckv_inner in, again;
    char *out = NULL;
    size_t n = 0;
    if (size > 1 << 20)
        return 0;
    if (ckv_inner_parse(data, size, &in) != CKV_OK)
        return 0;
    if (in.kind == 0 && in.text_len != size)
        abort();
    if (in.kind == 2 && (in.n_receipts == 0 || in.n_receipts > CKV_INNER_RECEIPT_MAX))
        abort();
    if (in.kind == 1 && ckv_inner_message(in.seq, in.time, in.text, in.text_len, &out, &n) ==
                            CKV_OK) {
        if (ckv_inner_parse((const uint8_t *)out, n, &again) != CKV_OK || again.kind != 1 ||
            again.seq != in.seq || again.time != in.time || again.text_len != in.text_len ||
            memcmp(again.text, in.text, in.text_len) != 0)
            abort();
        ckv_inner_clear(&again);
        free(out);
    }
    ckv_inner_clear(&in);
    return 0;
}
