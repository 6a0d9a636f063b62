/*
 * test_history.c: the message history of a profile made before the
 * delivery state existed. tests/vectors/profile-format1-e05d1c5.sql is the
 * `sqlite3 .dump` of a profile made by the core of commit e05d1c5
 * (account alice, passphrase TEST_PASS, CKV_KDF_MIN) with one message sent
 * to bob and one received from him, in the old row layout and without the
 * messages.tag column. It must open, list both rows (no seq, not
 * delivered), gain the column, take new messages in the new layout, and
 * survive a passphrase change and a reopen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <sqlite3.h>

#include "helpers.h"

#define NEW_PASS ((const uint8_t *)"another passphrase")
#define NEW_PASS_LEN 18

/* Restore the dump into dir/p/profile.db; returns "dir/p" (malloc'd). */
static char *restore_old_profile(const char *dir)
{
    char *vec = path_join(CKV_TEST_VECTORS, "profile-format1-e05d1c5.sql");
    char *sql = read_file_all(vec, NULL);
    char *pdir = path_join(dir, "p");
    char *db_file = path_join(pdir, "profile.db");
    sqlite3 *db = NULL;
    assert_non_null(sql);
    assert_int_equal(mkdir(pdir, 0700), 0);
    assert_int_equal(sqlite3_open(db_file, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(chmod(db_file, 0600), 0);
    free(vec);
    free(sql);
    free(db_file);
    return pdir;
}

/* Number of rows of `sql` (an integer query) in the profile file. */
static long long query_int(const char *pdir, const char *sql)
{
    char *db_file = path_join(pdir, "profile.db");
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    long long v = -1;
    assert_int_equal(sqlite3_open_v2(db_file, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    free(db_file);
    return v;
}

static void check_old_rows(const ckv_message *h)
{
    assert_int_equal(h[0].outgoing, 1);
    assert_string_equal((const char *)h[0].body, "old hello");
    assert_int_equal(h[0].len, 9);
    assert_true(h[0].at > 1700000000);
    assert_int_equal(h[0].seq, 0);
    assert_int_equal(h[0].delivered, 0);
    assert_int_equal(h[0].delivered_at, 0);
    assert_int_equal(h[1].outgoing, 0);
    assert_string_equal((const char *)h[1].body, "old reply");
    assert_int_equal(h[1].seq, 0);
    assert_int_equal(h[1].delivered, 0);
}

static void test_old_profile_opens(void **state)
{
    char *dir = tmpdir_make(), *pdir;
    ckv_profile *p = NULL;
    ckv_message *h = NULL;
    ckv_envelope e;
    size_t n = 0;
    (void)state;

    pdir = restore_old_profile(dir);
    assert_int_equal(query_int(pdir, "SELECT count(*) FROM pragma_table_info('messages')"
                                     " WHERE name = 'tag'"), 0);
    assert_int_equal(ckv_profile_open(pdir, TEST_PASS, TEST_PASS_LEN, &p), CKV_OK);
    assert_int_equal(ckv_history_list(p, "bob", 0, &h, &n), CKV_OK);
    assert_int_equal(n, 2);
    check_old_rows(h);
    ckv_history_free(h, n);

    /* a new message is stored in the new layout, next to the old rows */
    assert_int_equal(ckv_session_encrypt(p, "bob", (const uint8_t *)"new one", 7, &e), CKV_OK);
    ckv_envelope_clear(&e);
    assert_int_equal(ckv_history_list(p, "bob", 0, &h, &n), CKV_OK);
    assert_int_equal(n, 3);
    check_old_rows(h);
    assert_string_equal((const char *)h[2].body, "new one");
    assert_int_equal(h[2].outgoing, 1);
    assert_int_equal(h[2].seq, 0); /* the session API has no sequence numbers */
    assert_int_equal(h[2].delivered, 0);
    ckv_history_free(h, n);

    /* every sealed row is re-sealed by a passphrase change */
    assert_int_equal(ckv_profile_change_passphrase(p, NEW_PASS, NEW_PASS_LEN, CKV_KDF_MIN), CKV_OK);
    ckv_profile_close(p);
    p = NULL;

    /* the file gained the column and its index; old rows keep tag NULL */
    assert_int_equal(query_int(pdir, "SELECT count(*) FROM pragma_table_info('messages')"
                                     " WHERE name = 'tag'"), 1);
    assert_int_equal(query_int(pdir, "SELECT count(*) FROM sqlite_schema"
                                     " WHERE type = 'index' AND name = 'messages_tag'"), 1);
    /* the index is partial: rows without a tag (old rows, and rows the
     * offline session API stores, like "new one") cost no index entry */
    assert_int_equal(query_int(pdir, "SELECT count(*) FROM sqlite_schema WHERE name = "
                                     "'messages_tag' AND sql LIKE '%WHERE tag IS NOT NULL%'"),
                     1);
    assert_int_equal(query_int(pdir, "SELECT count(*) FROM messages WHERE tag IS NULL"), 3);

    /* reopening (the migration is done) reads all three */
    assert_int_equal(ckv_profile_open(pdir, TEST_PASS, TEST_PASS_LEN, &p),
                     CKV_ERR_WRONG_PASSPHRASE);
    assert_int_equal(ckv_profile_open(pdir, NEW_PASS, NEW_PASS_LEN, &p), CKV_OK);
    assert_int_equal(ckv_history_list(p, "bob", 0, &h, &n), CKV_OK);
    assert_int_equal(n, 3);
    check_old_rows(h);
    assert_string_equal((const char *)h[2].body, "new one");
    ckv_history_free(h, n);
    ckv_profile_close(p);

    free(pdir);
    tmpdir_remove(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_old_profile_opens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
