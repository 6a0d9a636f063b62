/*
 * test_tlog_json.c: the JSON proof reader and writer. Every vector proof
 * goes through to_json -> from_json -> verify; strictness cases (unknown or
 * duplicate keys, negative, fractional or huge sizes, bad hex, too many path
 * elements, oversized input, not an object) are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ckv/tlog.h"
#include "vec_util.h"

static json_t *V;

static void test_roundtrip(void **state)
{
    json_t *a = json_object_get(V, "inclusion");
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        ckv_tlog_inclusion_proof p, q;
        ckv_tlog_hash root;
        char *text = NULL;
        p.leaf_index = vec_u64(o, "leaf_index");
        p.tree_size = vec_u64(o, "tree_size");
        assert_int_equal(vec_hash(o, "leaf_hash", &p.leaf_hash), 0);
        assert_int_equal(vec_hash(o, "root", &root), 0);
        long n = vec_path(o, "path", p.path, CKV_TLOG_MAX_PROOF);
        assert_true(n >= 0);
        p.path_len = (size_t)n;
        assert_int_equal(ckv_tlog_inclusion_proof_to_json(&p, &text), CKV_OK);
        /* the writer's output is what the vectors hold, key by key */
        json_t *back = json_loads(text, 0, NULL);
        assert_non_null(back);
        assert_true(json_equal(json_object_get(back, "path"), json_object_get(o, "path")));
        assert_true(
            json_equal(json_object_get(back, "leaf_hash"), json_object_get(o, "leaf_hash")));
        assert_int_equal(json_object_size(back), 4);
        json_decref(back);
        assert_int_equal(ckv_tlog_inclusion_proof_from_json(text, strlen(text), &q), CKV_OK);
        assert_int_equal(ckv_tlog_verify_inclusion(q.leaf_index, q.tree_size, &q.leaf_hash, q.path,
                                                   q.path_len, &root),
                         CKV_OK);
        free(text);
    }
    a = json_object_get(V, "consistency");
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        /* the vector object itself (less its optional "name") parses */
        o = json_deep_copy(o);
        json_object_del(o, "name");
        char *text = json_dumps(o, JSON_COMPACT);
        ckv_tlog_consistency_proof q;
        char *again = NULL;
        assert_int_equal(ckv_tlog_consistency_proof_from_json(text, strlen(text), &q), CKV_OK);
        assert_int_equal(ckv_tlog_verify_consistency(q.old_size, q.new_size, &q.old_root,
                                                     &q.new_root, q.path, q.path_len),
                         CKV_OK);
        assert_int_equal(ckv_tlog_consistency_proof_to_json(&q, &again), CKV_OK);
        json_t *x = json_loads(again, 0, NULL);
        assert_true(json_equal(x, o));
        json_decref(x);
        json_decref(o);
        free(again);
        free(text);
    }
}

/* tmpl with its one "%s" replaced by h (no non-literal format strings) */
static void fill(char *buf, size_t cap, const char *tmpl, const char *h)
{
    const char *at = strstr(tmpl, "%s");
    assert_non_null(at);
    size_t a = (size_t)(at - tmpl);
    assert_true(a + strlen(h) + strlen(at + 2) < cap);
    memcpy(buf, tmpl, a);
    strcpy(buf + a, h);
    strcat(buf, at + 2);
}

static void test_strict(void **state)
{
    const char *h = "\"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d\"";
    char buf[2048];
    ckv_tlog_inclusion_proof p;
    ckv_tlog_consistency_proof c;
    const char *incl_bad[] = {
        "{\"leaf_index\":0,\"tree_size\":1,\"leaf_hash\":%s,\"path\":[],\"extra\":1}",
        "{\"leaf_index\":0,\"leaf_index\":0,\"tree_size\":1,\"leaf_hash\":%s,\"path\":[]}",
        "{\"leaf_index\":-1,\"tree_size\":1,\"leaf_hash\":%s,\"path\":[]}",
        "{\"leaf_index\":0.5,\"tree_size\":1,\"leaf_hash\":%s,\"path\":[]}",
        "{\"leaf_index\":\"0\",\"tree_size\":1,\"leaf_hash\":%s,\"path\":[]}",
        "{\"leaf_index\":0,\"tree_size\":1,\"leaf_hash\":%s}",
        "{\"leaf_index\":0,\"tree_size\":1,\"leaf_hash\":%s,\"path\":{}}",
        "{\"leaf_index\":0,\"tree_size\":1,\"leaf_hash\":%s,\"path\":[\"00\"]}",
        "{\"leaf_index\":0,\"tree_size\":1,\"leaf_hash\":%s,\"path\":[1]}",
        "{\"leaf_index\":0,\"tree_size\":99999999999999999999,\"leaf_hash\":%s,\"path\":[]}",
        "[%s]",
        "{\"leaf_index\":0,\"tree_size\":1,\"leaf_hash\":%s,\"path\":[]} trailing",
    };
    for (size_t i = 0; i < sizeof incl_bad / sizeof incl_bad[0]; i++) {
        fill(buf, sizeof buf, incl_bad[i], h);
        if (ckv_tlog_inclusion_proof_from_json(buf, strlen(buf), &p) == CKV_OK)
            fail_msg("accepted bad inclusion JSON %zu: %s", i, buf);
    }
    snprintf(buf, sizeof buf, "{\"leaf_index\":0,\"tree_size\":1,\"leaf_hash\":%s,\"path\":[]}", h);
    assert_int_equal(ckv_tlog_inclusion_proof_from_json(buf, strlen(buf), &p), CKV_OK);
    snprintf(buf, sizeof buf,
             "{\"leaf_index\":0,\"tree_size\":1,\"leaf_hash\":%s,\"root\":%s,\"path\":[]}", h, h);
    assert_int_equal(ckv_tlog_inclusion_proof_from_json(buf, strlen(buf), &p), CKV_OK);
    /* bad hex in the leaf hash: upper-case G, 63 digits */
    snprintf(buf, sizeof buf,
             "{\"leaf_index\":0,\"tree_size\":1,\"leaf_hash\":\"%064d\",\"path\":[]}", 0);
    assert_int_equal(ckv_tlog_inclusion_proof_from_json(buf, strlen(buf), &p), CKV_OK);
    buf[strlen("{\"leaf_index\":0,\"tree_size\":1,\"leaf_hash\":\"") + 3] = 'G';
    assert_int_not_equal(ckv_tlog_inclusion_proof_from_json(buf, strlen(buf), &p), CKV_OK);
    /* too many path elements */
    size_t off = (size_t)snprintf(
        buf, sizeof buf,
        "{\"old_size\":1,\"new_size\":2,\"old_root\":%s,\"new_root\":%s,\"path\":[", h, h);
    char *big = malloc(CKV_TLOG_PROOF_JSON_MAX * 2);
    memcpy(big, buf, off);
    for (int i = 0; i <= CKV_TLOG_MAX_PROOF; i++)
        off += (size_t)sprintf(big + off, "%s%s", i ? "," : "", h);
    off += (size_t)sprintf(big + off, "]}");
    ckv_status st = ckv_tlog_consistency_proof_from_json(big, off, &c);
    assert_true(st == CKV_ERR_TOO_LARGE);
    /* oversized input */
    memset(big, ' ', CKV_TLOG_PROOF_JSON_MAX + 1);
    assert_int_equal(ckv_tlog_consistency_proof_from_json(big, CKV_TLOG_PROOF_JSON_MAX + 1, &c),
                     CKV_ERR_TOO_LARGE);
    free(big);
    snprintf(buf, sizeof buf, "{\"old_size\":1,\"new_size\":2,\"old_root\":%s,\"path\":[]}", h);
    assert_int_not_equal(ckv_tlog_consistency_proof_from_json(buf, strlen(buf), &c), CKV_OK);
    assert_int_not_equal(ckv_tlog_consistency_proof_from_json("", 0, &c), CKV_OK);
    assert_int_not_equal(ckv_tlog_consistency_proof_from_json("{", 1, &c), CKV_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_strict),
    };
    V = vec_load();
    if (V == NULL)
        return 1;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    json_decref(V);
    return rc;
}
