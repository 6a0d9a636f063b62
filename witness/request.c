/*
 * request.c: the strict parser of a tlog-witness add-checkpoint body
 * (c2sp.org/tlog-witness, "add-checkpoint"). Pure: no allocation, no I/O.
 *
 * Grammar (every line ends in U+000A, nothing else is accepted):
 *   body       = old-line *63proof-line empty-line checkpoint
 *   old-line   = "old " decimal "\n"   ; no leading zeros unless "0", < 2^63
 *   proof-line = 44 base64 chars "\n"  ; canonical, standard alphabet, padded,
 *                                      ; exactly one 32-byte hash
 *   empty-line = "\n"
 * The checkpoint (a signed note) is returned as a slice; the note and
 * checkpoint parsers of libckvlog check it strictly later.
 */
#include "witness.h"

#include <sodium.h>

#include <string.h>

/* ASCII decimal without leading zeros (unless exactly "0"), < 2^63. */
static int parse_size(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 19 || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v >= (UINT64_C(1) << 63))
        return -1;
    *out = v;
    return 0;
}

/* One hash in canonical standard base64 (44 characters with padding). */
static int parse_hash(const char *s, size_t n, ckv_tlog_hash *out)
{
    char again[48];
    size_t bin_len = 0;
    ckv_tlog_hash h;
    if (n != 44)
        return -1;
    if (sodium_base642bin(h.b, sizeof(h.b), s, n, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        bin_len != sizeof(h.b))
        return -1;
    /* canonical: the re-encoding is the same text (no stray low bits) */
    sodium_bin2base64(again, sizeof(again), h.b, sizeof(h.b), sodium_base64_VARIANT_ORIGINAL);
    if (memcmp(again, s, 44) != 0)
        return -1;
    *out = h;
    return 0;
}

ckv_status ckvw_request_parse(const char *body, size_t len, ckvw_request *out)
{
    ckvw_request r;
    const char *p = body, *end = body + len, *nl;

    if (!body || !out)
        return CKV_ERR_INVALID_ARG;
    if (len > CKVW_MAX_BODY)
        return CKV_ERR_TOO_LARGE;
    memset(&r, 0, sizeof(r));
    /* old size line */
    nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || nl - p < 5 || memcmp(p, "old ", 4) != 0 ||
        parse_size(p + 4, (size_t)(nl - p - 4), &r.old_size) != 0)
        return CKV_ERR_MALFORMED;
    p = nl + 1;
    /* proof lines up to the empty line */
    for (;;) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return CKV_ERR_MALFORMED;
        if (nl == p)
            break;
        if (r.proof_len == CKVW_MAX_PROOF_LINES ||
            parse_hash(p, (size_t)(nl - p), &r.proof[r.proof_len]) != 0)
            return CKV_ERR_MALFORMED;
        r.proof_len++;
        p = nl + 1;
    }
    p = nl + 1;
    if (p == end)
        return CKV_ERR_MALFORMED; /* no checkpoint */
    r.note = p;
    r.note_len = (size_t)(end - p);
    *out = r;
    return CKV_OK;
}
