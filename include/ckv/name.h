/*
 * name.h: the account-name normalisation rule.
 *
 * Account names are what people type ("Alice@Example.org", "+14155550100")
 * and what safety numbers, contacts and (later) directory entries hash. Two
 * spellings of one name must give one identity, so every name is normalised
 * before it is stored, compared or hashed. The rule belongs to the directory
 * module (directory/); core and the CLI use it. docs/core.md states it.
 *
 * Rule (ASCII only, no Unicode folding):
 *   1. strip leading and trailing ASCII white space (space, \t, \r, \n);
 *   2. map 'A'-'Z' to 'a'-'z';
 *   3. the result is 1..CKV_NAME_MAX bytes from [a-z0-9._+@-];
 *   4. the first byte is [a-z0-9+], the last byte is [a-z0-9];
 *   5. at most one '@'.
 * Anything else (empty, too long, inner space, control or non-ASCII bytes,
 * other punctuation) is rejected with CKV_ERR_BAD_NAME; nothing is silently
 * dropped. Normalising a normalised name returns it unchanged.
 */
#ifndef CKV_NAME_H
#define CKV_NAME_H

#include <stddef.h>

#include "ckv/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest normalised account name, in bytes (without the NUL). */
#define CKV_NAME_MAX 64

/* Normalise `in` (NUL-terminated) into `out` (NUL-terminated, at most
 * CKV_NAME_MAX bytes + NUL). Returns CKV_OK, CKV_ERR_BAD_NAME, or
 * CKV_ERR_INVALID_ARG for NULL pointers. `out` is written only on success;
 * in and out may not overlap. */
CKV_MUST_USE ckv_status ckv_name_normalize(const char *in, char out[CKV_NAME_MAX + 1]);

#ifdef __cplusplus
}
#endif
#endif /* CKV_NAME_H */
