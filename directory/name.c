/*
 * name.c: the account-name normalisation rule (include/ckv/name.h,
 * docs/core.md). One pass: trim ASCII white space, fold ASCII case, check
 * every byte against the allowed set and the first/last-byte rule.
 * Deliberately ASCII only: no Unicode folding, so that two clients written
 * in different languages cannot disagree about a name.
 */
#include "ckv/name.h"

#include <string.h>

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_alnum_lower(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

ckv_status ckv_name_normalize(const char *in, char out[CKV_NAME_MAX + 1])
{
    char buf[CKV_NAME_MAX + 1];
    size_t start = 0, end, n, ats = 0;

    if (in == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    end = strlen(in);
    while (start < end && is_space((unsigned char)in[start]))
        start++;
    while (end > start && is_space((unsigned char)in[end - 1]))
        end--;
    n = end - start;
    if (n == 0 || n > CKV_NAME_MAX)
        return CKV_ERR_BAD_NAME;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[start + i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (!is_alnum_lower(c) && c != '.' && c != '_' && c != '-' && c != '+' && c != '@')
            return CKV_ERR_BAD_NAME;
        if (c == '@' && ++ats > 1)
            return CKV_ERR_BAD_NAME;
        buf[i] = (char)c;
    }
    buf[n] = '\0';
    if (!is_alnum_lower((unsigned char)buf[0]) && buf[0] != '+')
        return CKV_ERR_BAD_NAME;
    if (!is_alnum_lower((unsigned char)buf[n - 1]))
        return CKV_ERR_BAD_NAME;
    memcpy(out, buf, n + 1);
    return CKV_OK;
}
