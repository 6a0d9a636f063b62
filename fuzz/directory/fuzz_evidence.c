/*
 * fuzz_evidence.c: evidence files (include/ckv/evidence.h) from untrusted
 * bytes. Reading and checking must never crash, and the verdict must be
 * coherent: a proven file has no "why not", an unproven one says why. With
 * a pinned key that differs from the file's, nothing is proven.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ckv/evidence.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ckv_evidence_result *r = malloc(sizeof *r);
    if (r == NULL)
        abort();
    ckv_status st = ckv_evidence_verify_json((const char *)data, size, NULL, r);
    if (st == CKV_OK && (r->proven ? r->why_not[0] != 0 : r->why_not[0] == 0))
        abort();
    st = ckv_evidence_verify_json(
        (const char *)data, size,
        "other.example/log+3c2a2ab5+AQ1I+HOG5KPkDKsMQj5fvkLJKa7Z4VZn0sCkAkMWU0ru", r);
    if (st == CKV_OK && r->proven)
        abort();
    free(r);
    return 0;
}
