/*
 * test_status.c: every status code has its own name and a sentence, and
 * no two codes share a number or a name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ckv/status.h"

static void test_every_code_has_text(void **state)
{
    (void)state;
    int known = 0;
    for (int c = 0; c < CKV_STATUS_MAX_; c++) {
        const char *name = ckv_status_name((ckv_status)c);
        if (strcmp(name, "CKV_ERR_UNKNOWN") == 0)
            continue;
        known++;
        assert_true(strncmp(name, "CKV_", 4) == 0);
        assert_true(strlen(ckv_strerror((ckv_status)c)) > 5);
        for (int d = c + 1; d < CKV_STATUS_MAX_; d++)
            assert_string_not_equal(name, ckv_status_name((ckv_status)d));
    }
    assert_true(known > 10);
    assert_string_equal(ckv_status_name(CKV_OK), "CKV_OK");
    assert_string_equal(ckv_strerror((ckv_status)9999), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
