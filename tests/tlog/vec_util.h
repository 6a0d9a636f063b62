/*
 * vec_util.h: small helpers shared by the tlog unit tests: load the frozen
 * vectors (tests/vectors/tlog.json) and decode hex fields. Test-only code.
 */
#ifndef CKV_TEST_VEC_UTIL_H
#define CKV_TEST_VEC_UTIL_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckv/tlog_hash.h"

static inline json_t *vec_load(void)
{
    json_error_t err;
    json_t *j = json_load_file(CKV_TEST_VECTORS "/tlog.json", 0, &err);
    return j;
}

static inline int vec_hash(json_t *o, const char *key, ckv_tlog_hash *out)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s == NULL)
        return -1;
    return ckv_tlog_hash_from_hex(s, strlen(s), out) == CKV_OK ? 0 : -1;
}

static inline int vec_hash_str(json_t *s, ckv_tlog_hash *out)
{
    const char *v = json_string_value(s);
    if (v == NULL)
        return -1;
    return ckv_tlog_hash_from_hex(v, strlen(v), out) == CKV_OK ? 0 : -1;
}

/* path array -> hashes; returns count or -1 */
static inline long vec_path(json_t *o, const char *key, ckv_tlog_hash *out, size_t cap)
{
    json_t *a = json_object_get(o, key);
    if (!json_is_array(a) || json_array_size(a) > cap)
        return -1;
    for (size_t i = 0; i < json_array_size(a); i++) {
        if (vec_hash_str(json_array_get(a, i), &out[i]) != 0)
            return -1;
    }
    return (long)json_array_size(a);
}

/* hex string -> malloc'd bytes */
static inline uint8_t *vec_bytes(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    uint8_t *b = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        b[i] = (uint8_t)v;
    }
    *len = n;
    return b;
}

static inline uint64_t vec_u64(json_t *o, const char *key)
{
    return (uint64_t)json_integer_value(json_object_get(o, key));
}

#endif
