/*
 * test_audit_parts.c: unit tests of the tools' building blocks that the
 * script tests reach only indirectly: strict number parsing, durable file
 * writes (content, mode, no temp file left), the state directory's naming
 * and round trip, the evidence file (valid JSON with the notes' exact bytes
 * and the object), and the directory fetcher's three outcomes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_evidence.h"
#include "audit_fetch.h"
#include "audit_state.h"
#include "tool_util.h"

static char tmpdir[64];

static int setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ckv-audit-parts.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_parse_u64(void **state)
{
    uint64_t v = 7;
    assert_int_equal(tool_parse_u64("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(tool_parse_u64("18446744073709551615", &v), 0);
    assert_true(v == UINT64_MAX);
    v = 7;
    assert_int_equal(tool_parse_u64("18446744073709551616", &v), -1);
    assert_int_equal(tool_parse_u64("01", &v), -1);
    assert_int_equal(tool_parse_u64("", &v), -1);
    assert_int_equal(tool_parse_u64("-1", &v), -1);
    assert_int_equal(tool_parse_u64("+1", &v), -1);
    assert_int_equal(tool_parse_u64("1 ", &v), -1);
    assert_int_equal(tool_parse_u64("1e3", &v), -1);
    assert_int_equal(v, 7); /* untouched on failure */
}

static void test_atomic_write(void **state)
{
    char *p = tool_path_join(tmpdir, "f");
    uint8_t *data = NULL;
    size_t len = 0;
    struct stat sb;
    assert_int_equal(tool_write_file_atomic(p, "one", 3, 0600), CKV_OK);
    assert_int_equal(tool_write_file_atomic(p, "second", 6, 0600), CKV_OK);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(tool_read_file(p, 100, &data, &len), CKV_OK);
    assert_int_equal(len, 6);
    assert_memory_equal(data, "second", 6);
    free(data);
    assert_int_equal(tool_read_file(p, 5, &data, &len), CKV_ERR_TOO_LARGE);
    /* no temp file left behind */
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    assert_int_equal(n, 1);
    /* a write into a missing directory fails and leaves nothing */
    char *q = tool_path_join(tmpdir, "no/such/file");
    assert_int_not_equal(tool_write_file_atomic(q, "x", 1, 0600), CKV_OK);
    free(q);
    free(p);
}

static void test_state(void **state)
{
    char *dir = NULL;
    uint8_t *note = NULL;
    size_t len = 0;
    assert_int_equal(audit_state_dir(tmpdir, "example.org/log", 0x1a2b3c4d, &dir), CKV_OK);
    char want[128];
    snprintf(want, sizeof(want), "%s/example.org_log-1a2b3c4d", tmpdir);
    assert_string_equal(dir, want);
    assert_int_equal(audit_state_load(dir, &note, &len), CKV_ERR_NOT_FOUND);
    assert_int_equal(audit_state_save(dir, (const uint8_t *)"cp\n", 3), CKV_OK);
    assert_int_equal(audit_state_load(dir, &note, &len), CKV_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(note, "cp\n", 3);
    free(note);
    free(dir);
    /* names cannot escape the state root */
    assert_int_equal(audit_state_dir(tmpdir, "../../etc", 1, &dir), CKV_OK);
    snprintf(want, sizeof(want), "%s/_._.._etc-00000001", tmpdir);
    assert_string_equal(dir, want);
    free(dir);
}

static void test_evidence(void **state)
{
    static const uint8_t bad_utf8[] = {'o', 'k', '\n', 0xff, '\n'};
    static const uint8_t tile[] = {1, 2, 3};
    char *path = NULL;
    audit_evidence ev = {.kind = "bad_tile",
                         .summary = "s",
                         .source = "http://127.0.0.1:1/",
                         .vkey = "k+1+x",
                         .accepted_note = (const uint8_t *)"a\n",
                         .accepted_len = 2,
                         .served_note = bad_utf8,
                         .served_len = sizeof(bad_utf8),
                         .object_path = "tile/0/000",
                         .object = tile,
                         .object_len = sizeof(tile),
                         .has_position = 1,
                         .position = 5,
                         .expected = "aa",
                         .found = "bb"};
    assert_int_equal(audit_evidence_write(tmpdir, &ev, &path), CKV_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "bad_tile");
    json_t *cps = json_object_get(j, "checkpoints");
    assert_int_equal(json_array_size(cps), 2);
    json_t *served = json_array_get(cps, 1);
    assert_string_equal(json_string_value(json_object_get(served, "role")), "served_now");
    assert_null(json_object_get(served, "text")); /* not UTF-8: base64 only */
    uint8_t raw[16];
    size_t rawlen = 0;
    const char *b64 = json_string_value(json_object_get(served, "base64"));
    assert_int_equal(sodium_base642bin(raw, sizeof(raw), b64, strlen(b64), NULL, &rawlen, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    assert_int_equal(rawlen, sizeof(bad_utf8));
    assert_memory_equal(raw, bad_utf8, sizeof(bad_utf8));
    json_t *o = json_object_get(j, "object");
    assert_int_equal(json_integer_value(json_object_get(o, "position")), 5);
    assert_int_equal(json_integer_value(json_object_get(o, "length")), 3);
    assert_string_equal(json_string_value(json_object_get(o, "path")), "tile/0/000");
    json_decref(j);
    free(path);
}

static void test_fetch_dir(void **state)
{
    audit_fetcher *f = NULL;
    char err[512];
    uint8_t *data = NULL;
    size_t len = 0;
    char *p = tool_path_join(tmpdir, "checkpoint");
    assert_int_equal(tool_write_file_atomic(p, "hello", 5, 0644), CKV_OK);
    free(p);
    assert_int_equal(audit_fetcher_open(tmpdir, 0, &f, err, sizeof(err)), AUDIT_FETCH_OK);
    assert_int_equal(audit_fetch(f, "checkpoint", 100, &data, &len, err, sizeof(err)),
                     AUDIT_FETCH_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(data, "hello", 5);
    free(data);
    assert_int_equal(audit_fetch(f, "checkpoint", 4, &data, &len, err, sizeof(err)),
                     AUDIT_FETCH_TOO_LARGE);
    assert_int_equal(audit_fetch(f, "tile/0/000", 100, &data, &len, err, sizeof(err)),
                     AUDIT_FETCH_NOT_FOUND);
    assert_int_equal(audit_fetcher_bytes(f), 5);
    audit_fetcher_free(f);
    f = NULL;
    char *missing = tool_path_join(tmpdir, "nope");
    assert_int_equal(audit_fetcher_open(missing, 0, &f, err, sizeof(err)), AUDIT_FETCH_UNREACHABLE);
    assert_null(f);
    assert_non_null(strstr(err, "nope"));
    free(missing);
    audit_fetcher_free(NULL);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test_setup_teardown(test_atomic_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
