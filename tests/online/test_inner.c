/*
 * test_inner.c: the offline parts of the online client: the inner message
 * format (core/inner.c, docs/protocol.md: round trips, strict parsing, the
 * raw-text fallback) and pinning the server and log key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "online.h"

static ckv_inner parse(const char *s)
{
    ckv_inner in;
    assert_int_equal(ckv_inner_parse((const uint8_t *)s, strlen(s), &in), CKV_OK);
    return in;
}

static void test_roundtrip(void **state)
{
    char *out = NULL;
    size_t n = 0;
    ckv_inner in;
    (void)state;
    const char *text = "h\xc3\xa9llo \"world\"\n";
    assert_int_equal(ckv_inner_message(7, 1764280000, (const uint8_t *)text, strlen(text), &out, &n),
                     CKV_OK);
    assert_int_equal(ckv_inner_parse((const uint8_t *)out, n, &in), CKV_OK);
    assert_int_equal(in.kind, 1);
    assert_int_equal(in.seq, 7);
    assert_int_equal(in.time, 1764280000);
    assert_int_equal(in.text_len, strlen(text));
    assert_memory_equal(in.text, text, strlen(text));
    ckv_inner_clear(&in);
    free(out);

    uint64_t seqs[3] = {1, 2, 9};
    assert_int_equal(ckv_inner_receipt(seqs, 3, &out, &n), CKV_OK);
    assert_string_equal(out, "{\"v\":1,\"receipt\":[1,2,9]}");
    in = parse(out);
    assert_int_equal(in.kind, 2);
    assert_int_equal(in.n_receipts, 3);
    assert_int_equal(in.receipts[2], 9);
    ckv_inner_clear(&in);
    free(out);
}

static void test_refused_inputs(void **state)
{
    char *out = NULL;
    size_t n = 0;
    (void)state;
    /* not UTF-8, seq 0, no receipts */
    assert_int_equal(ckv_inner_message(1, 0, (const uint8_t *)"\xff", 1, &out, &n),
                     CKV_ERR_MALFORMED);
    assert_int_equal(ckv_inner_message(0, 0, (const uint8_t *)"a", 1, &out, &n),
                     CKV_ERR_INVALID_ARG);
    assert_int_equal(ckv_inner_receipt(NULL, 0, &out, &n), CKV_ERR_INVALID_ARG);
}

/* Anything that is not exactly the inner format is raw text, shown as is. */
static void test_raw_fallback(void **state)
{
    static const char *const raw[] = {
        "plain text",
        "{\"v\":2,\"seq\":1,\"time\":1,\"text\":\"x\"}",
        "{\"v\":1,\"seq\":0,\"time\":1,\"text\":\"x\"}",
        "{\"v\":1,\"seq\":-1,\"time\":1,\"text\":\"x\"}",
        "{\"v\":1,\"seq\":1,\"time\":1,\"text\":\"x\",\"extra\":1}",
        "{\"v\":1,\"seq\":1,\"time\":1,\"text\":5}",
        "{\"v\":1,\"seq\":1,\"seq\":2,\"time\":1,\"text\":\"x\"}",
        "{\"v\":1,\"receipt\":[]}",
        "{\"v\":1,\"receipt\":[1,0]}",
        "{\"v\":1,\"receipt\":[1,\"2\"]}",
        "{\"v\":\"1\",\"receipt\":[1]}",
        "{\"v\":1,\"seq\":9007199254740993,\"time\":1,\"text\":\"x\"}",
        "{",
        "",
    };
    (void)state;
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        ckv_inner in = parse(raw[i]);
        assert_int_equal(in.kind, 0);
        assert_int_equal(in.text_len, strlen(raw[i]));
        ckv_inner_clear(&in);
    }
    /* 1001 receipts: over the cap */
    char *big = malloc(8 * 1001 + 64);
    size_t p = (size_t)sprintf(big, "{\"v\":1,\"receipt\":[");
    for (int i = 1; i <= 1001; i++)
        p += (size_t)sprintf(big + p, i > 1 ? ",%d" : "%d", i);
    strcpy(big + p, "]}");
    ckv_inner in = parse(big);
    assert_int_equal(in.kind, 0);
    ckv_inner_clear(&in);
    free(big);
}

/* The gossip field "cp": round trip, and strict: a string, not empty,
 * at most CKV_TLOG_NOTE_MAX_SIZE, only on messages. */
static void test_gossip_field(void **state)
{
    char *out = NULL, *big;
    size_t n = 0;
    ckv_inner in;
    (void)state;
    const char *note = "ckv.test/log\n5\nAAAA\n\n\xe2\x80\x94 ckv.test/log abcd\n";
    assert_int_equal(ckv_inner_message_cp(3, 1764280000, (const uint8_t *)"hi", 2, note,
                                          strlen(note), &out, &n),
                     CKV_OK);
    assert_non_null(strstr(out, "\"cp\""));
    in = parse(out);
    assert_int_equal(in.kind, 1);
    assert_int_equal(in.seq, 3);
    assert_non_null(in.cp);
    assert_int_equal(in.cp_len, strlen(note));
    assert_memory_equal(in.cp, note, strlen(note));
    ckv_inner_clear(&in);
    free(out);
    /* without: no cp */
    assert_int_equal(ckv_inner_message(3, 1, (const uint8_t *)"hi", 2, &out, &n), CKV_OK);
    assert_null(strstr(out, "\"cp\""));
    in = parse(out);
    assert_null(in.cp);
    ckv_inner_clear(&in);
    free(out);
    /* malformed cp: the whole thing is raw text, no gossip taken */
    in = parse("{\"v\":1,\"seq\":1,\"time\":1,\"text\":\"x\",\"cp\":5}");
    assert_int_equal(in.kind, 0);
    assert_null(in.cp);
    ckv_inner_clear(&in);
    in = parse("{\"v\":1,\"seq\":1,\"time\":1,\"text\":\"x\",\"cp\":\"\"}");
    assert_int_equal(in.kind, 0);
    ckv_inner_clear(&in);
    in = parse("{\"v\":1,\"seq\":1,\"time\":1,\"text\":\"x\",\"cq\":\"a\"}");
    assert_int_equal(in.kind, 0);
    ckv_inner_clear(&in);
    in = parse("{\"v\":1,\"receipt\":[1],\"cp\":\"a\"}");
    assert_int_equal(in.kind, 0);
    ckv_inner_clear(&in);
    /* size cap */
    big = malloc(CKV_TLOG_NOTE_MAX_SIZE + 2);
    assert_non_null(big);
    memset(big, 'a', CKV_TLOG_NOTE_MAX_SIZE + 1);
    big[CKV_TLOG_NOTE_MAX_SIZE + 1] = 0;
    assert_int_equal(ckv_inner_message_cp(1, 1, (const uint8_t *)"x", 1, big,
                                          CKV_TLOG_NOTE_MAX_SIZE + 1, &out, &n),
                     CKV_ERR_INVALID_ARG);
    free(big);
}

static void test_pin(void **state)
{
    ckv_profile *p = NULL;
    ckv_client *c = NULL;
    char *url = NULL, *key = NULL, *vkey = NULL;
    (void)state;
    assert_int_equal(ckv_tlog_signer_generate("ckv.test/log", NULL, &vkey), CKV_OK);
    assert_int_equal(ckv_profile_create(NULL, "alice", (const uint8_t *)"pw", 2, CKV_KDF_MIN, &p),
                     CKV_OK);
    assert_int_equal(ckv_profile_server(p, &url, &key), CKV_ERR_KT_NOT_CONFIGURED);
    assert_int_equal(ckv_client_open(p, NULL, &c), CKV_ERR_KT_NOT_CONFIGURED);
    assert_int_equal(ckv_profile_pin_server(p, "ftp://127.0.0.1/", vkey), CKV_ERR_INVALID_ARG);
    assert_int_equal(ckv_profile_pin_server(p, "http://127.0.0.1:1/a b", vkey),
                     CKV_ERR_INVALID_ARG);
    assert_int_equal(ckv_profile_pin_server(p, "http://127.0.0.1:1/?x", vkey),
                     CKV_ERR_INVALID_ARG);
    assert_int_equal(ckv_profile_pin_server(p, "http://127.0.0.1:1", "not a key"),
                     CKV_ERR_TLOG_BAD_KEY);
    assert_int_equal(ckv_profile_pin_server(p, "http://127.0.0.1:1/", vkey), CKV_OK);
    assert_int_equal(ckv_profile_pin_server(p, "http://127.0.0.1:2", vkey), CKV_ERR_EXISTS);
    assert_int_equal(ckv_profile_server(p, &url, &key), CKV_OK);
    assert_string_equal(url, "http://127.0.0.1:1");
    assert_string_equal(key, vkey);
    ckv_client_options o = {.max_checkpoint_age = -1};
    assert_int_equal(ckv_client_open(p, &o, &c), CKV_ERR_INVALID_ARG);
    assert_int_equal(ckv_client_open(p, NULL, &c), CKV_OK);
    ckv_view v;
    assert_int_equal(ckv_client_view(c, &v), CKV_OK);
    assert_int_equal(v.tree_size, 0);
    /* nobody listens on port 1: a sentence, not a crash */
    ckv_key_info ki;
    assert_int_equal(ckv_client_lookup(c, "bob", &ki), CKV_ERR_NET);
    assert_non_null(strstr(ckv_client_last_error(c), "cannot reach the server"));
    assert_int_equal(ckv_client_lookup(c, "not a name!", &ki), CKV_ERR_BAD_NAME);
    ckv_client_close(c);
    ckv_client_close(NULL);
    ckv_profile_close(p);
    free(url);
    free(key);
    free(vkey);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_refused_inputs),
        cmocka_unit_test(test_raw_fallback),
        cmocka_unit_test(test_gossip_field),
        cmocka_unit_test(test_pin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
