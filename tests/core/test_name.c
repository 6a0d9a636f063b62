/*
 * test_name.c: the account-name normalisation rule (docs/core.md).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ckv/name.h"

static void ok(const char *in, const char *want)
{
    char out[CKV_NAME_MAX + 1];
    assert_int_equal(ckv_name_normalize(in, out), CKV_OK);
    assert_string_equal(out, want);
    /* idempotent */
    char again[CKV_NAME_MAX + 1];
    assert_int_equal(ckv_name_normalize(out, again), CKV_OK);
    assert_string_equal(again, out);
}

static void bad(const char *in)
{
    char out[CKV_NAME_MAX + 1] = "untouched";
    assert_int_equal(ckv_name_normalize(in, out), CKV_ERR_BAD_NAME);
    assert_string_equal(out, "untouched");
}

static void test_accepts(void **state)
{
    (void)state;
    ok("alice", "alice");
    ok("  Alice@Example.ORG \n", "alice@example.org");
    ok("+14152222222", "+14152222222");
    ok("5f2a3e1c-7b4d-4c2e-9a1f-3d6b8e0c2a71", "5f2a3e1c-7b4d-4c2e-9a1f-3d6b8e0c2a71");
    ok("bob.smith_2", "bob.smith_2");
    ok("a", "a");
    char max[CKV_NAME_MAX + 1];
    memset(max, 'x', CKV_NAME_MAX);
    max[CKV_NAME_MAX] = 0;
    ok(max, max);
}

static void test_rejects(void **state)
{
    (void)state;
    bad("");
    bad("   ");
    bad("al ice");
    bad("alice!");
    bad("al\x01ice");
    bad("al\xc3\xa9ice"); /* non-ASCII */
    bad(".alice");
    bad("alice.");
    bad("-alice");
    bad("a@b@c");
    bad("alice@");
    char big[CKV_NAME_MAX + 2];
    memset(big, 'x', CKV_NAME_MAX + 1);
    big[CKV_NAME_MAX + 1] = 0;
    bad(big);
    char out[CKV_NAME_MAX + 1];
    assert_int_equal(ckv_name_normalize(NULL, out), CKV_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
