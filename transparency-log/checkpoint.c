/*
 * checkpoint.c: C2SP tlog-checkpoint bodies (c2sp.org/tlog-checkpoint):
 * strict parsing and formatting, and opening a signed checkpoint.
 *   origin "\n" decimal-size "\n" base64(root[32]) "\n" (extension "\n")*
 */
#include "ckv/tlog_checkpoint.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "note_internal.h"

/* next line [*pos, eol) ; returns length or -1 when no '\n' remains */
static long next_line(const char *s, size_t len, size_t *pos, const char **line)
{
    if (*pos >= len)
        return -1;
    const char *eol = memchr(s + *pos, '\n', len - *pos);
    if (eol == NULL)
        return -1;
    *line = s + *pos;
    long n = (long)(eol - (s + *pos));
    *pos += (size_t)n + 1;
    return n;
}

ckv_status ckv_tlog_checkpoint_parse(const char *text, size_t len, ckv_tlog_checkpoint *out)
{
    ckv_tlog_checkpoint cp;
    const char *line = NULL;
    size_t pos = 0;
    long n;
    if (text == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (len > CKV_TLOG_CHECKPOINT_MAX || len == 0 || text[len - 1] != '\n' ||
        !ckv_tlog_text_valid(text, len))
        return CKV_ERR_TLOG_BAD_CHECKPOINT;
    /* origin: non-empty */
    n = next_line(text, len, &pos, &line);
    if (n <= 0 || n > CKV_TLOG_ORIGIN_MAX)
        return CKV_ERR_TLOG_BAD_CHECKPOINT;
    memcpy(cp.origin, line, (size_t)n);
    cp.origin[n] = '\0';
    /* size: ASCII decimal, no leading zeros, < 2^63 */
    n = next_line(text, len, &pos, &line);
    if (n <= 0 || n > 19 || (line[0] == '0' && n > 1))
        return CKV_ERR_TLOG_BAD_CHECKPOINT;
    uint64_t size = 0;
    for (long i = 0; i < n; i++) {
        if (line[i] < '0' || line[i] > '9')
            return CKV_ERR_TLOG_BAD_CHECKPOINT;
        size = size * 10 + (uint64_t)(line[i] - '0'); /* 19 digits cannot overflow */
    }
    if (size >= ((uint64_t)1 << 63))
        return CKV_ERR_TLOG_BAD_CHECKPOINT;
    cp.size = size;
    /* root: standard base64 with padding of exactly 32 bytes */
    n = next_line(text, len, &pos, &line);
    size_t blen = 0;
    const char *end = NULL;
    if (n != 44 ||
        sodium_base642bin(cp.root.b, sizeof cp.root.b, line, (size_t)n, NULL, &blen, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        blen != 32 || end != line + n)
        return CKV_ERR_TLOG_BAD_CHECKPOINT;
    /* extension lines: each non-empty */
    size_t ext_start = pos;
    while (pos < len) {
        n = next_line(text, len, &pos, &line);
        if (n <= 0)
            return CKV_ERR_TLOG_BAD_CHECKPOINT;
    }
    cp.ext_len = len - ext_start;
    if (cp.ext_len > CKV_TLOG_EXT_MAX)
        return CKV_ERR_TLOG_BAD_CHECKPOINT;
    memcpy(cp.ext, text + ext_start, cp.ext_len);
    cp.ext[cp.ext_len] = '\0';
    *out = cp;
    return CKV_OK;
}

ckv_status ckv_tlog_checkpoint_format(const char *origin, uint64_t size, const ckv_tlog_hash *root,
                                      const char *ext, char **text_out, size_t *text_len)
{
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
    if (origin == NULL || root == NULL || text_out == NULL)
        return CKV_ERR_INVALID_ARG;
    size_t olen = strlen(origin), elen = ext ? strlen(ext) : 0;
    if (olen == 0 || olen > CKV_TLOG_ORIGIN_MAX || memchr(origin, '\n', olen) ||
        !ckv_tlog_text_valid(origin, olen) || size >= ((uint64_t)1 << 63) ||
        elen > CKV_TLOG_EXT_MAX)
        return CKV_ERR_INVALID_ARG;
    if (elen > 0) {
        if (ext[elen - 1] != '\n' || !ckv_tlog_text_valid(ext, elen) || ext[0] == '\n' ||
            strstr(ext, "\n\n"))
            return CKV_ERR_INVALID_ARG;
    }
    sodium_bin2base64(b64, sizeof b64, root->b, 32, sodium_base64_VARIANT_ORIGINAL);
    size_t cap = olen + 1 + 20 + 1 + strlen(b64) + 1 + elen + 1;
    char *s = malloc(cap);
    if (s == NULL)
        return CKV_ERR_NOMEM;
    int k = snprintf(s, cap, "%s\n%llu\n%s\n%s", origin, (unsigned long long)size, b64,
                     ext ? ext : "");
    if (k < 0 || (size_t)k >= cap) {
        free(s);
        return CKV_ERR_INTERNAL;
    }
    *text_out = s;
    if (text_len)
        *text_len = (size_t)k;
    return CKV_OK;
}

ckv_status ckv_tlog_checkpoint_open(const char *note, size_t len, const char *origin,
                                    const ckv_tlog_verifier *const *verifiers, size_t n,
                                    ckv_tlog_checkpoint *out, ckv_tlog_note **note_out)
{
    ckv_tlog_note *nt = NULL;
    ckv_tlog_checkpoint cp;
    ckv_status st;
    if (note == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    st = ckv_tlog_note_open(note, len, verifiers, n, &nt);
    if (st != CKV_OK)
        return st;
    st = ckv_tlog_checkpoint_parse(nt->text, nt->text_len, &cp);
    if (st != CKV_OK)
        goto out;
    if (origin != NULL && strcmp(origin, cp.origin) != 0) {
        st = CKV_ERR_TLOG_ORIGIN;
        goto out;
    }
    /* the log's own key (type 0x01, named like the origin) must have signed */
    st = CKV_ERR_TLOG_NO_SIGNATURE;
    for (size_t i = 0; i < nt->nverified; i++) {
        if (ckv_tlog_verifier_type(nt->verified[i]) == CKV_TLOG_KEY_TYPE_ED25519 &&
            strcmp(ckv_tlog_verifier_name(nt->verified[i]), cp.origin) == 0)
            st = CKV_OK;
    }
    if (st != CKV_OK)
        goto out;
    *out = cp;
    if (note_out) {
        *note_out = nt;
        nt = NULL;
    }
out:
    ckv_tlog_note_free(nt);
    return st;
}
