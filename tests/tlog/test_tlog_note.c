/*
 * test_tlog_note.c: C2SP signed notes, keys and checkpoints against the
 * vectors (byte-identical signatures from the deterministic key, the spec's
 * example, a cosigned checkpoint) and against malformed and forged inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckv/tlog.h"
#include "vec_util.h"

static json_t *V;

static json_t *sn(const char *a, const char *b)
{
    return json_object_get(json_object_get(json_object_get(V, "signed_note"), a), b);
}

static const char *sns(const char *a, const char *b)
{
    const char *s = json_string_value(sn(a, b));
    assert_non_null(s);
    return s;
}

static ckv_tlog_verifier *vk(const char *s)
{
    ckv_tlog_verifier *v = NULL;
    assert_int_equal(ckv_tlog_verifier_parse(s, strlen(s), &v), CKV_OK);
    return v;
}

static void test_keys(void **state)
{
    const char *skey = sns("log_key", "skey"), *vkey = sns("log_key", "vkey");
    const char *seedhex = sns("log_key", "ed25519_seed_hex");
    size_t n;
    uint8_t *seed = vec_bytes(seedhex, &n);
    char *s2 = NULL, *v2 = NULL, *v3 = NULL;
    ckv_tlog_signer *sg = NULL;
    assert_int_equal(n, 32);
    assert_int_equal(ckv_tlog_signer_from_seed("example.com/test-log", seed, &s2, &v2), CKV_OK);
    assert_string_equal(s2, skey);
    assert_string_equal(v2, vkey);
    assert_int_equal(ckv_tlog_signer_parse(skey, strlen(skey), &sg), CKV_OK);
    assert_int_equal(ckv_tlog_signer_key_id(sg), 0xf92eede3u);
    assert_string_equal(ckv_tlog_signer_name(sg), "example.com/test-log");
    assert_int_equal(ckv_tlog_signer_vkey(sg, &v3), CKV_OK);
    assert_string_equal(v3, vkey);
    size_t pklen;
    uint8_t *pk = vec_bytes(sns("log_key", "public_key_hex"), &pklen);
    assert_int_equal(ckv_tlog_key_id("example.com/test-log", 1, pk), 0xf92eede3u);
    ckv_tlog_verifier *v = vk(vkey);
    assert_int_equal(ckv_tlog_verifier_key_id(v), 0xf92eede3u);
    assert_int_equal(ckv_tlog_verifier_type(v), 1);
    ckv_tlog_verifier *w = vk(sns("cosigned_checkpoint_size_20", "witness_vkey"));
    assert_int_equal(ckv_tlog_verifier_type(w), 4);
    /* malformed keys */
    const char *bad[] = {
        "example.com/test-log+f92eede4+ASQXQBOE9Z3/aZR0U8930QyV8P09aklRh+R19jHKbb11", /* id */
        "example.com/test-log+F92EEDE3+ASQXQBOE9Z3/aZR0U8930QyV8P09aklRh+R19jHKbb11", /* case */
        "example.com/test-log+f92eede3+ASQXQBOE9Z3/aZR0U8930QyV8P09aklRh+R19jHKbb1",  /* short */
        "example.com/test-log+f92eede3+AiQXQBOE9Z3/aZR0U8930QyV8P09aklRh+R19jHKbb11", /* type */
        "example com+f92eede3+ASQXQBOE9Z3/aZR0U8930QyV8P09aklRh+R19jHKbb11",
        "+f92eede3+ASQXQBOE9Z3/aZR0U8930QyV8P09aklRh+R19jHKbb11",
        "example.com/test-log+f92eede3",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ckv_tlog_verifier *x = NULL;
        if (ckv_tlog_verifier_parse(bad[i], strlen(bad[i]), &x) == CKV_OK)
            fail_msg("accepted bad vkey %zu", i);
    }
    ckv_tlog_signer *x = NULL;
    assert_int_equal(ckv_tlog_signer_parse(vkey, strlen(vkey), &x), CKV_ERR_TLOG_BAD_KEY);
    char *mod = strdup(skey);
    mod[strlen(mod) - 3] ^= 1; /* other seed: key id no longer matches */
    assert_int_equal(ckv_tlog_signer_parse(mod, strlen(mod), &x), CKV_ERR_TLOG_BAD_KEY);
    free(mod);
    ckv_tlog_verifier_free(v);
    ckv_tlog_verifier_free(w);
    ckv_tlog_signer_free(sg);
    ckv_tlog_signer_free(NULL);
    free(pk);
    free(seed);
    free(s2);
    free(v2);
    free(v3);
}

static void test_sign_identical(void **state)
{
    const char *skey = sns("log_key", "skey");
    ckv_tlog_signer *sg = NULL;
    assert_int_equal(ckv_tlog_signer_parse(skey, strlen(skey), &sg), CKV_OK);
    const char *which[] = {"checkpoint_size_0", "checkpoint_size_20"};
    for (int i = 0; i < 2; i++) {
        const char *body = sns(which[i], "body"), *want = sns(which[i], "signed");
        char *note = NULL;
        size_t len = 0;
        assert_int_equal(ckv_tlog_note_sign(body, strlen(body), sg, &note, &len), CKV_OK);
        assert_int_equal(len, strlen(want));
        assert_string_equal(note, want);
        free(note);
    }
    /* text must end in a newline and have no control characters */
    char *note = NULL;
    assert_int_equal(ckv_tlog_note_sign("abc", 3, sg, &note, NULL), CKV_ERR_TLOG_BAD_NOTE);
    assert_int_equal(ckv_tlog_note_sign("a\tb\n", 4, sg, &note, NULL), CKV_ERR_TLOG_BAD_NOTE);
    ckv_tlog_signer_free(sg);
}

static void test_open(void **state)
{
    ckv_tlog_verifier *foo = vk(sns("spec_example", "vkey"));
    ckv_tlog_verifier *log = vk(sns("log_key", "vkey"));
    ckv_tlog_verifier *wit = vk(sns("cosigned_checkpoint_size_20", "witness_vkey"));
    const ckv_tlog_verifier *set1[] = {foo}, *set2[] = {log}, *set3[] = {log, wit}, *set4[] = {wit},
                            *set5[] = {foo, log};
    ckv_tlog_note *nt = NULL;
    const char *ex = sns("spec_example", "signed");
    assert_int_equal(ckv_tlog_note_open(ex, strlen(ex), set1, 1, &nt), CKV_OK);
    assert_string_equal(nt->text, "This is an example message.\n");
    assert_int_equal(nt->nverified, 1);
    ckv_tlog_note_free(nt);
    nt = NULL;
    /* unknown key only: no signature */
    assert_int_equal(ckv_tlog_note_open(ex, strlen(ex), set2, 1, &nt), CKV_ERR_TLOG_NO_SIGNATURE);
    assert_int_equal(ckv_tlog_note_open(ex, strlen(ex), NULL, 0, &nt), CKV_ERR_TLOG_NO_SIGNATURE);

    const char *cos = sns("cosigned_checkpoint_size_20", "signed");
    assert_int_equal(ckv_tlog_note_open(cos, strlen(cos), set2, 1, &nt), CKV_OK);
    assert_int_equal(nt->nverified, 1);
    assert_int_equal(nt->nunverified, 1);
    ckv_tlog_note_free(nt);
    nt = NULL;
    assert_int_equal(ckv_tlog_note_open(cos, strlen(cos), set3, 2, &nt), CKV_OK);
    assert_int_equal(nt->nverified, 2);
    assert_ptr_equal(nt->verified[1], wit);
    assert_int_equal(nt->cosig_time[1], 1700000000);
    ckv_tlog_note_free(nt);
    nt = NULL;

    /* checkpoint open: needs the log's own key */
    ckv_tlog_checkpoint cp;
    assert_int_equal(
        ckv_tlog_checkpoint_open(cos, strlen(cos), "example.com/test-log", set3, 2, &cp, NULL),
        CKV_OK);
    assert_int_equal(cp.size, 20);
    json_t *roots = json_object_get(V, "roots");
    ckv_tlog_hash r20;
    assert_int_equal(vec_hash(json_array_get(roots, 20), "root", &r20), 0);
    assert_int_equal(vec_u64(json_array_get(roots, 20), "tree_size"), 20);
    assert_memory_equal(cp.root.b, r20.b, 32);
    assert_int_equal(ckv_tlog_checkpoint_open(cos, strlen(cos), NULL, set4, 1, &cp, NULL),
                     CKV_ERR_TLOG_NO_SIGNATURE);
    assert_int_equal(ckv_tlog_checkpoint_open(cos, strlen(cos), "other/log", set2, 1, &cp, NULL),
                     CKV_ERR_TLOG_ORIGIN);
    /* the spec example is a valid note but not a checkpoint */
    assert_int_equal(ckv_tlog_checkpoint_open(ex, strlen(ex), NULL, set5, 2, &cp, NULL),
                     CKV_ERR_TLOG_BAD_CHECKPOINT);

    /* forged: a bit flipped in the text, in the signature, in the cosignature */
    char *m = strdup(cos);
    m[strlen("example.com/test-log\n2")] = '1';
    assert_int_equal(ckv_tlog_note_open(m, strlen(m), set2, 1, &nt), CKV_ERR_TLOG_BAD_SIGNATURE);
    free(m);
    m = strdup(cos);
    char *l1 = strstr(m, "+S7t4x2N");
    l1[10] = l1[10] == 'A' ? 'B' : 'A';
    assert_int_equal(ckv_tlog_note_open(m, strlen(m), set2, 1, &nt), CKV_ERR_TLOG_BAD_SIGNATURE);
    free(m);
    m = strdup(cos);
    char *l2 = strstr(m, "crR9yQAAAABl");
    l2[12] = l2[12] == 'A' ? 'B' : 'A'; /* timestamp or signature changes */
    assert_int_equal(ckv_tlog_note_open(m, strlen(m), set3, 2, &nt), CKV_ERR_TLOG_BAD_SIGNATURE);
    /* the witness signature is not checked when its key is unknown */
    assert_int_equal(ckv_tlog_note_open(m, strlen(m), set2, 1, &nt), CKV_OK);
    ckv_tlog_note_free(nt);
    nt = NULL;
    free(m);

    ckv_tlog_verifier_free(foo);
    ckv_tlog_verifier_free(log);
    ckv_tlog_verifier_free(wit);
}

static void test_cosignature_bytes(void **state)
{
    /* the witness signature is reproducible from its seed and the message */
    size_t n;
    uint8_t *seed = vec_bytes(sns("cosigned_checkpoint_size_20", "witness_seed_hex"), &n);
    uint8_t pk[32], sk[64], sig[64], raw[76];
    const char *msg = sns("cosigned_checkpoint_size_20", "cosigned_message");
    const char *cos = sns("cosigned_checkpoint_size_20", "signed");
    assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
    crypto_sign_detached(sig, NULL, (const uint8_t *)msg, strlen(msg), sk);
    const char *b = strstr(cos, "test-witness ") + strlen("test-witness ");
    size_t rlen = 0;
    assert_int_equal(sodium_base642bin(raw, sizeof raw, b, strcspn(b, "\n"), NULL, &rlen, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    assert_int_equal(rlen, 76);
    assert_memory_equal(raw + 12, sig, 64);
    assert_int_equal(ckv_tlog_key_id("example.com/test-witness", 4, pk), 0x72b47dc9u);
    free(seed);
}

static void test_cosign(void **state)
{
    /* adding the witness line to the log-signed checkpoint reproduces the
     * cosigned vector byte for byte */
    size_t n;
    uint8_t *seed = vec_bytes(sns("cosigned_checkpoint_size_20", "witness_seed_hex"), &n);
    const char *signed20 = sns("checkpoint_size_20", "signed");
    char *out = NULL, *vkey = NULL;
    size_t len = 0;
    assert_int_equal(ckv_tlog_note_cosign(signed20, strlen(signed20), "example.com/test-witness",
                                          seed, 1700000000, &out, &len),
                     CKV_OK);
    assert_string_equal(out, sns("cosigned_checkpoint_size_20", "signed"));
    assert_int_equal(len, strlen(out));
    assert_int_equal(ckv_tlog_cosigner_vkey("example.com/test-witness", seed, &vkey), CKV_OK);
    assert_string_equal(vkey, sns("cosigned_checkpoint_size_20", "witness_vkey"));
    free(out);
    out = NULL;
    assert_int_equal(ckv_tlog_note_cosign("no blank line\n", 14, "w", seed, 1, &out, NULL),
                     CKV_ERR_TLOG_BAD_NOTE);
    assert_int_equal(
        ckv_tlog_note_cosign(signed20, strlen(signed20), "bad name", seed, 1, &out, NULL),
        CKV_ERR_INVALID_ARG);
    assert_null(out);
    free(vkey);
    free(seed);
}

static void test_malformed_notes(void **state)
{
    ckv_tlog_verifier *foo = vk(sns("spec_example", "vkey"));
    const ckv_tlog_verifier *set[] = {foo};
    const char *ex = sns("spec_example", "signed");
    const char *sig = strstr(ex, "\xe2\x80\x94");
    ckv_tlog_note *nt = NULL;
    char buf[4096];
    /* no final newline */
    assert_int_equal(ckv_tlog_note_open(ex, strlen(ex) - 1, set, 1, &nt), CKV_ERR_TLOG_BAD_NOTE);
    /* no blank line */
    snprintf(buf, sizeof buf, "This is an example message.\n%s", sig);
    assert_int_equal(ckv_tlog_note_open(buf, strlen(buf), set, 1, &nt), CKV_ERR_TLOG_BAD_NOTE);
    /* no signature line */
    snprintf(buf, sizeof buf, "This is an example message.\n\n");
    assert_int_equal(ckv_tlog_note_open(buf, strlen(buf), set, 1, &nt), CKV_ERR_TLOG_BAD_NOTE);
    /* control character in text */
    snprintf(buf, sizeof buf, "This is an\texample message.\n\n%s", sig);
    assert_int_equal(ckv_tlog_note_open(buf, strlen(buf), set, 1, &nt), CKV_ERR_TLOG_BAD_NOTE);
    /* invalid UTF-8 (an overlong, a surrogate, a cut sequence), a C1
     * control, DEL */
    const char *bad_text[] = {"\xc0\xaf", "\xed\xa0\x80", "\xe2\x80", "\xc2\x9b", "\x7f"};
    for (size_t i = 0; i < sizeof bad_text / sizeof bad_text[0]; i++) {
        snprintf(buf, sizeof buf, "This is an %s example message.\n\n%s", bad_text[i], sig);
        if (ckv_tlog_note_open(buf, strlen(buf), set, 1, &nt) != CKV_ERR_TLOG_BAD_NOTE)
            fail_msg("bad text %zu accepted", i);
    }
    /* hyphen instead of em dash, missing space, bad base64, short signature */
    const char *lines[] = {"- example.com/foo AAAAAAAA\n",
                           "\xe2\x80\x94"
                           "example.com/foo AAAAAAAA\n",
                           "\xe2\x80\x94 example.com/foo AAAA!AAA\n",
                           "\xe2\x80\x94 example.com/foo AAAA\n",
                           "\xe2\x80\x94 example.com/foo\n",
                           "\xe2\x80\x94 example.com/foo AAAAAAAA\n\n"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        snprintf(buf, sizeof buf, "This is an example message.\n\n%s%s", sig, lines[i]);
        if (ckv_tlog_note_open(buf, strlen(buf), set, 1, &nt) != CKV_ERR_TLOG_BAD_NOTE)
            fail_msg("malformed line %zu accepted", i);
    }
    /* the same known key twice */
    snprintf(buf, sizeof buf, "This is an example message.\n\n%s%s", sig, sig);
    assert_int_equal(ckv_tlog_note_open(buf, strlen(buf), set, 1, &nt), CKV_ERR_TLOG_BAD_NOTE);
    /* too many signature lines (unknown keys) */
    size_t off = (size_t)snprintf(buf, sizeof buf, "This is an example message.\n\n%s", sig);
    for (int i = 0; i < CKV_TLOG_NOTE_MAX_SIGS; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "\xe2\x80\x94 x AAAAAAAA\n");
    assert_true(off < sizeof buf - 1);
    assert_int_equal(ckv_tlog_note_open(buf, off, set, 1, &nt), CKV_ERR_TLOG_BAD_NOTE);
    /* too large */
    char *big = malloc(CKV_TLOG_NOTE_MAX_SIZE + 2);
    memset(big, 'a', CKV_TLOG_NOTE_MAX_SIZE + 1);
    big[CKV_TLOG_NOTE_MAX_SIZE + 1] = 0;
    assert_int_equal(ckv_tlog_note_open(big, CKV_TLOG_NOTE_MAX_SIZE + 1, set, 1, &nt),
                     CKV_ERR_TOO_LARGE);
    free(big);
    assert_null(nt);
    ckv_tlog_verifier_free(foo);
}

static void test_checkpoint_parse(void **state)
{
    ckv_tlog_checkpoint cp;
    const char *body = sns("checkpoint_size_20", "body");
    assert_int_equal(ckv_tlog_checkpoint_parse(body, strlen(body), &cp), CKV_OK);
    assert_string_equal(cp.origin, "example.com/test-log");
    assert_int_equal(cp.size, 20);
    assert_int_equal(cp.ext_len, 0);
    char *t = NULL;
    size_t tl = 0;
    assert_int_equal(ckv_tlog_checkpoint_format(cp.origin, cp.size, &cp.root, NULL, &t, &tl),
                     CKV_OK);
    assert_string_equal(t, body);
    free(t);
    assert_int_equal(ckv_tlog_checkpoint_format("o", 5, &cp.root, "ext one\nx\n", &t, &tl), CKV_OK);
    ckv_tlog_checkpoint cp2;
    assert_int_equal(ckv_tlog_checkpoint_parse(t, tl, &cp2), CKV_OK);
    assert_string_equal(cp2.ext, "ext one\nx\n");
    assert_int_equal(cp2.size, 5);
    free(t);
    assert_int_equal(ckv_tlog_checkpoint_format("o", 5, &cp.root, "bad\n\n", &t, &tl),
                     CKV_ERR_INVALID_ARG);
    const char *root = "uU+k9HwcZBQJcPaWW/FHvgemcWvrvQmtf/SsD9XvOP0=";
    char buf[512];
    const char *bad[][3] = {
        {"o", "020", root},
        {"o", "-1", root},
        {"o", "+1", root},
        {"o", "", root},
        {"", "20", root},
        {"o", "9223372036854775808", root},
        {"o", "99999999999999999999", root},
        {"o", "20", "uU+k9HwcZBQJcPaWW/FHvgemcWvrvQmtf/SsD9XvOA=="},
        {"o", "20", "uU+k9HwcZBQJcPaWW/FHvgemcWvrvQmtf/SsD9XvOP1="},
        {"o", "20", "uU-k9HwcZBQJcPaWW_FHvgemcWvrvQmtf/SsD9XvOP0="},
        {"o", "20", "uU+k9HwcZBQJcPaWW/FHvgemcWvrvQmtf/SsD9XvOP0"},
        {"o", "1 ", root},
        /* non-ASCII bytes that libsodium's decoder alone would take (fuzz) */
        {"o", "20",
         "uU\xd0\x94"
         "9HwcZBQJcPaWW/FHvgemcWvrvQmtf/SsD9XvOP0="},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(buf, sizeof buf, "%s\n%s\n%s\n", bad[i][0], bad[i][1], bad[i][2]);
        if (ckv_tlog_checkpoint_parse(buf, strlen(buf), &cp) == CKV_OK)
            fail_msg("bad checkpoint %zu accepted", i);
    }
    snprintf(buf, sizeof buf, "o\n20\n%s", root);
    assert_int_equal(ckv_tlog_checkpoint_parse(buf, strlen(buf), &cp), CKV_ERR_TLOG_BAD_CHECKPOINT);
    snprintf(buf, sizeof buf, "o\n20\n%s\n\n", root);
    assert_int_equal(ckv_tlog_checkpoint_parse(buf, strlen(buf), &cp), CKV_ERR_TLOG_BAD_CHECKPOINT);
    snprintf(buf, sizeof buf, "o\n20\n");
    assert_int_equal(ckv_tlog_checkpoint_parse(buf, strlen(buf), &cp), CKV_ERR_TLOG_BAD_CHECKPOINT);
    snprintf(buf, sizeof buf, "o\n9223372036854775807\n%s\n", root);
    assert_int_equal(ckv_tlog_checkpoint_parse(buf, strlen(buf), &cp), CKV_OK);
    snprintf(buf, sizeof buf, "o\n0\n%s\n", root);
    assert_int_equal(ckv_tlog_checkpoint_parse(buf, strlen(buf), &cp), CKV_OK);
}

static void test_keyfile(void **state)
{
    char dir[] = "/tmp/ckv-tlog-note-XXXXXX", path[128];
    char *skey = NULL, *vkey = NULL, *v2 = NULL;
    ckv_tlog_signer *sg = NULL;
    struct stat sb;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/key", dir);
    assert_int_equal(ckv_tlog_signer_generate("log.example/a", &skey, &vkey), CKV_OK);
    assert_int_equal(ckv_tlog_signer_generate("bad name", &skey, &vkey), CKV_ERR_INVALID_ARG);
    assert_int_equal(ckv_tlog_skey_save(path, skey), CKV_OK);
    assert_int_equal(ckv_tlog_skey_save(path, skey), CKV_ERR_EXISTS);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(ckv_tlog_signer_load(path, &sg), CKV_OK);
    assert_int_equal(ckv_tlog_signer_vkey(sg, &v2), CKV_OK);
    assert_string_equal(v2, vkey);
    ckv_tlog_signer_free(sg);
    sg = NULL;
    chmod(path, 0644);
    assert_int_equal(ckv_tlog_signer_load(path, &sg), CKV_ERR_PERM);
    assert_null(sg);
    unlink(path);
    assert_int_equal(ckv_tlog_signer_load(path, &sg), CKV_ERR_NOT_FOUND);
    rmdir(dir);
    sodium_memzero(skey, strlen(skey));
    free(skey);
    free(vkey);
    free(v2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_sign_identical),
        cmocka_unit_test(test_open),
        cmocka_unit_test(test_cosignature_bytes),
        cmocka_unit_test(test_malformed_notes),
        cmocka_unit_test(test_cosign),
        cmocka_unit_test(test_checkpoint_parse),
        cmocka_unit_test(test_keyfile),
    };
    if (sodium_init() < 0)
        return 1;
    V = vec_load();
    if (V == NULL)
        return 1;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    json_decref(V);
    return rc;
}
