/*
 * proof_json.c: the JSON form of proofs printed by ckv-log and carried on
 * the wire, with a strict bounded reader (jansson, duplicate keys rejected,
 * exactly the expected keys, non-negative integers, 64-digit hex hashes,
 * at most CKV_TLOG_MAX_PROOF path elements). Parsing never verifies: the
 * caller runs the verify functions on the result.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ckv/tlog_proof.h"

static ckv_status get_u64(json_t *o, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || !json_is_integer(v) || json_integer_value(v) < 0)
        return CKV_ERR_JSON;
    *out = (uint64_t)json_integer_value(v);
    return CKV_OK;
}

static ckv_status get_hash(json_t *v, ckv_tlog_hash *out)
{
    if (v == NULL || !json_is_string(v))
        return CKV_ERR_JSON;
    return ckv_tlog_hash_from_hex(json_string_value(v), json_string_length(v), out);
}

static ckv_status get_path(json_t *o, ckv_tlog_hash *path, size_t *len)
{
    json_t *a = json_object_get(o, "path");
    if (a == NULL || !json_is_array(a))
        return CKV_ERR_JSON;
    if (json_array_size(a) > CKV_TLOG_MAX_PROOF)
        return CKV_ERR_TOO_LARGE;
    for (size_t i = 0; i < json_array_size(a); i++) {
        ckv_status st = get_hash(json_array_get(a, i), &path[i]);
        if (st != CKV_OK)
            return st;
    }
    *len = json_array_size(a);
    return CKV_OK;
}

/* every key of o is in keys[], and the required ones are present */
static ckv_status only_keys(json_t *o, const char *const *keys, size_t nreq, size_t nall)
{
    const char *k;
    json_t *v;
    size_t found = 0;
    json_object_foreach(o, k, v)
    {
        size_t i;
        for (i = 0; i < nall; i++) {
            if (strcmp(k, keys[i]) == 0)
                break;
        }
        if (i == nall)
            return CKV_ERR_MALFORMED;
        if (i < nreq)
            found++;
    }
    return found == nreq ? CKV_OK : CKV_ERR_JSON;
}

static ckv_status load(const char *json, size_t len, json_t **out)
{
    json_error_t err;
    if (json == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (len > CKV_TLOG_PROOF_JSON_MAX)
        return CKV_ERR_TOO_LARGE;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (o == NULL)
        return CKV_ERR_JSON;
    if (!json_is_object(o)) {
        json_decref(o);
        return CKV_ERR_JSON;
    }
    *out = o;
    return CKV_OK;
}

ckv_status ckv_tlog_inclusion_proof_from_json(const char *json, size_t len,
                                              ckv_tlog_inclusion_proof *out)
{
    static const char *const keys[] = {"leaf_index", "tree_size", "leaf_hash", "path", "root"};
    json_t *o = NULL;
    ckv_tlog_inclusion_proof *p = NULL;
    ckv_status st = load(json, len, &o);
    if (st != CKV_OK)
        return st;
    p = malloc(sizeof *p);
    if (p == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    st = only_keys(o, keys, 4, 5);
    if (st == CKV_OK)
        st = get_u64(o, "leaf_index", &p->leaf_index);
    if (st == CKV_OK)
        st = get_u64(o, "tree_size", &p->tree_size);
    if (st == CKV_OK)
        st = get_hash(json_object_get(o, "leaf_hash"), &p->leaf_hash);
    if (st == CKV_OK && json_object_get(o, "root")) {
        ckv_tlog_hash ignored;
        st = get_hash(json_object_get(o, "root"), &ignored);
    }
    if (st == CKV_OK)
        st = get_path(o, p->path, &p->path_len);
    if (st == CKV_OK)
        *out = *p;
out:
    free(p);
    json_decref(o);
    return st;
}

ckv_status ckv_tlog_consistency_proof_from_json(const char *json, size_t len,
                                                ckv_tlog_consistency_proof *out)
{
    static const char *const keys[] = {"old_size", "new_size", "old_root", "new_root", "path"};
    json_t *o = NULL;
    ckv_tlog_consistency_proof *p = NULL;
    ckv_status st = load(json, len, &o);
    if (st != CKV_OK)
        return st;
    p = malloc(sizeof *p);
    if (p == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    st = only_keys(o, keys, 5, 5);
    if (st == CKV_OK)
        st = get_u64(o, "old_size", &p->old_size);
    if (st == CKV_OK)
        st = get_u64(o, "new_size", &p->new_size);
    if (st == CKV_OK)
        st = get_hash(json_object_get(o, "old_root"), &p->old_root);
    if (st == CKV_OK)
        st = get_hash(json_object_get(o, "new_root"), &p->new_root);
    if (st == CKV_OK)
        st = get_path(o, p->path, &p->path_len);
    if (st == CKV_OK)
        *out = *p;
out:
    free(p);
    json_decref(o);
    return st;
}

/* ---- formatting (fixed layout, no jansson needed) ---- */

static char *fmt_path(char *p, const ckv_tlog_hash *path, size_t n)
{
    p += sprintf(p, "\"path\":[");
    for (size_t i = 0; i < n; i++) {
        char hex[65];
        ckv_tlog_hash_to_hex(&path[i], hex);
        p += sprintf(p, "%s\"%s\"", i ? "," : "", hex);
    }
    p += sprintf(p, "]}");
    return p;
}

ckv_status ckv_tlog_inclusion_proof_to_json(const ckv_tlog_inclusion_proof *pr, char **json_out)
{
    char hex[65];
    if (pr == NULL || json_out == NULL || pr->path_len > CKV_TLOG_MAX_PROOF)
        return CKV_ERR_INVALID_ARG;
    char *s = malloc(200 + 67 * (pr->path_len + 1));
    if (s == NULL)
        return CKV_ERR_NOMEM;
    ckv_tlog_hash_to_hex(&pr->leaf_hash, hex);
    char *p = s + sprintf(s, "{\"leaf_index\":%llu,\"tree_size\":%llu,\"leaf_hash\":\"%s\",",
                          (unsigned long long)pr->leaf_index, (unsigned long long)pr->tree_size, hex);
    fmt_path(p, pr->path, pr->path_len);
    *json_out = s;
    return CKV_OK;
}

ckv_status ckv_tlog_consistency_proof_to_json(const ckv_tlog_consistency_proof *pr, char **json_out)
{
    char h1[65], h2[65];
    if (pr == NULL || json_out == NULL || pr->path_len > CKV_TLOG_MAX_PROOF)
        return CKV_ERR_INVALID_ARG;
    char *s = malloc(300 + 67 * (pr->path_len + 1));
    if (s == NULL)
        return CKV_ERR_NOMEM;
    ckv_tlog_hash_to_hex(&pr->old_root, h1);
    ckv_tlog_hash_to_hex(&pr->new_root, h2);
    char *p = s + sprintf(s,
                          "{\"old_size\":%llu,\"new_size\":%llu,\"old_root\":\"%s\",\"new_root\":"
                          "\"%s\",",
                          (unsigned long long)pr->old_size, (unsigned long long)pr->new_size, h1, h2);
    fmt_path(p, pr->path, pr->path_len);
    *json_out = s;
    return CKV_OK;
}
