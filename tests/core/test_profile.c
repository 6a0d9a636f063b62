/*
 * test_profile.c: profile files. Created 0600 in a 0700 directory; reopen
 * gives the same identity; wrong passphrase is CKV_ERR_WRONG_PASSPHRASE and
 * touches nothing; a truncated, corrupted, empty or foreign file is
 * CKV_ERR_PROFILE_DAMAGED (never a crash); unsafe permissions are refused;
 * directory resolution; prekeys: distinct per bundle, refill, rotation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "helpers.h"

struct fx {
    char *tmp, *dir, *file;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    ckv_profile *p = NULL;
    f->tmp = tmpdir_make();
    f->dir = path_join(f->tmp, "xdg/ckv/default");
    f->file = path_join(f->dir, "profile.db");
    assert_int_equal(ckv_profile_create(f->dir, "Alice", TEST_PASS, TEST_PASS_LEN, CKV_KDF_MIN, &p),
                     CKV_OK);
    ckv_profile_close(p);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tmpdir_remove(f->tmp);
    free(f->tmp);
    free(f->dir);
    free(f->file);
    free(f);
    return 0;
}

static void test_create_and_reopen(void **state)
{
    struct fx *f = *state;
    struct stat sb;
    ckv_profile *p = NULL, *q = NULL;
    uint8_t k1[33], k2[33];

    assert_int_equal(stat(f->file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(stat(f->dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_true(ckv_profile_exists(f->dir));
    assert_int_equal(ckv_profile_open(f->dir, TEST_PASS, TEST_PASS_LEN, &p), CKV_OK);
    assert_string_equal(ckv_profile_account(p), "alice");
    ckv_profile_identity_key(p, k1);
    assert_int_equal(k1[0], 0x05);
    uint32_t reg = ckv_profile_registration_id(p);
    assert_true(reg >= 1 && reg <= 16380);
    ckv_profile_close(p);
    assert_int_equal(ckv_profile_open(f->dir, TEST_PASS, TEST_PASS_LEN, &q), CKV_OK);
    ckv_profile_identity_key(q, k2);
    assert_memory_equal(k1, k2, 33);
    assert_int_equal(ckv_profile_registration_id(q), reg);
    /* the WAL file is private too; there is no -shm (exclusive locking) */
    char *wal = path_join(f->dir, "profile.db-wal");
    if (stat(wal, &sb) == 0)
        assert_int_equal(sb.st_mode & 077, 0);
    free(wal);
    char *shm = path_join(f->dir, "profile.db-shm");
    assert_int_not_equal(stat(shm, &sb), 0);
    free(shm);
    /* the profile is owned by whoever opened it */
    ckv_profile *r = (ckv_profile *)0x1;
    assert_int_equal(ckv_profile_open(f->dir, TEST_PASS, TEST_PASS_LEN, &r), CKV_ERR_PROFILE_BUSY);
    assert_ptr_equal(r, (ckv_profile *)0x1);
    ckv_profile_close(q);
    assert_int_equal(ckv_profile_open(f->dir, TEST_PASS, TEST_PASS_LEN, &r), CKV_OK);
    ckv_profile_close(r);
    /* creating again */
    assert_int_equal(ckv_profile_create(f->dir, "alice", TEST_PASS, TEST_PASS_LEN, CKV_KDF_MIN, &p),
                     CKV_ERR_PROFILE_EXISTS);
    /* bad inputs */
    char *other = path_join(f->tmp, "other");
    assert_int_equal(ckv_profile_create(other, "bad name", TEST_PASS, TEST_PASS_LEN, CKV_KDF_MIN, &p),
                     CKV_ERR_BAD_NAME);
    assert_false(ckv_profile_exists(other));
    assert_int_equal(ckv_profile_create(other, "ok", TEST_PASS, 0, CKV_KDF_MIN, &p),
                     CKV_ERR_WEAK_PASSPHRASE);
    assert_int_equal(ckv_profile_open(other, TEST_PASS, TEST_PASS_LEN, &p), CKV_ERR_NO_PROFILE);
    /* an existing directory open to others is refused at creation */
    assert_int_equal(mkdir(other, 0755), 0);
    assert_int_equal(chmod(other, 0755), 0);
    assert_int_equal(ckv_profile_create(other, "ok", TEST_PASS, TEST_PASS_LEN, CKV_KDF_MIN, &p),
                     CKV_ERR_PERM);
    assert_false(ckv_profile_exists(other));
    free(other);
    ckv_profile_close(NULL);
}

static void test_wrong_passphrase_changes_nothing(void **state)
{
    struct fx *f = *state;
    uint8_t before[32], after[32];
    ckv_profile *p = (ckv_profile *)0x1;
    assert_int_equal(db_digest(f->file, before), 0);
    assert_int_equal(ckv_profile_open(f->dir, (const uint8_t *)"wrong", 5, &p),
                     CKV_ERR_WRONG_PASSPHRASE);
    assert_ptr_equal(p, (ckv_profile *)0x1); /* out-param untouched */
    assert_int_equal(ckv_profile_open(f->dir, TEST_PASS, TEST_PASS_LEN - 1, &p),
                     CKV_ERR_WRONG_PASSPHRASE);
    assert_int_equal(db_digest(f->file, after), 0);
    assert_memory_equal(before, after, 32);
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b, n), (ssize_t)n);
    close(fd);
}

static void expect_damaged(struct fx *f)
{
    ckv_profile *p = NULL;
    assert_int_equal(ckv_profile_open(f->dir, TEST_PASS, TEST_PASS_LEN, &p),
                     CKV_ERR_PROFILE_DAMAGED);
    assert_null(p);
}

static void test_truncated(void **state)
{
    struct fx *f = *state;
    size_t len = 0;
    char *orig = read_file_all(f->file, &len);
    assert_non_null(orig);
    assert_true(len > 8192);
    size_t cuts[] = {len / 2, len - 1, 4096, 1000, 100, 0};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_bytes(f->file, orig, cuts[i]);
        expect_damaged(f);
    }
    write_bytes(f->file, orig, len);
    ckv_profile *p = NULL;
    assert_int_equal(ckv_profile_open(f->dir, TEST_PASS, TEST_PASS_LEN, &p), CKV_OK);
    ckv_profile_close(p);
    free(orig);
}

static void test_corrupted(void **state)
{
    struct fx *f = *state;
    size_t len = 0;
    char *orig = read_file_all(f->file, &len);
    char *bad = malloc(len);
    assert_non_null(orig);
    /* the SQLite header */
    memcpy(bad, orig, len);
    memset(bad, 'X', 16);
    write_bytes(f->file, bad, len);
    expect_damaged(f);
    /* garbage over every page but the first: structure check fails */
    memcpy(bad, orig, len);
    for (size_t i = 4096; i < len; i++)
        bad[i] = (char)(i * 7);
    write_bytes(f->file, bad, len);
    expect_damaged(f);
    /* flip bits inside stored values: each flip is either caught at open or
     * not at all (the bytes of free space); never a crash or a wrong key */
    for (size_t off = 4096 + 100; off < len; off += 997) {
        memcpy(bad, orig, len);
        bad[off] ^= 0x20;
        write_bytes(f->file, bad, len);
        ckv_profile *p = NULL;
        ckv_status st = ckv_profile_open(f->dir, TEST_PASS, TEST_PASS_LEN, &p);
        assert_true(st == CKV_OK || st == CKV_ERR_PROFILE_DAMAGED);
        if (st == CKV_OK) {
            ckv_bundle b;
            ckv_status s2 = ckv_profile_export_bundle(p, 1, &b);
            assert_true(s2 == CKV_OK || s2 == CKV_ERR_PROFILE_DAMAGED);
            ckv_profile_close(p);
        }
    }
    /* a file that is not SQLite at all */
    write_bytes(f->file, "hello, this is not a profile\n", 29);
    expect_damaged(f);
    memset(bad, 0, len);
    write_bytes(f->file, bad, len);
    expect_damaged(f);
    free(bad);
    free(orig);
}

static void test_header_damage_vs_wrong_passphrase(void **state)
{
    struct fx *f = *state;
    sqlite3 *db = NULL;
    /* Altering the stored KDF parameters is damage, not a wrong passphrase */
    assert_int_equal(sqlite3_open(f->file, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE header SET opslimit = opslimit + 1", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    expect_damaged(f);
    /* so is a missing unlock record */
    assert_int_equal(sqlite3_open(f->file, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM header", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    expect_damaged(f);
}

static void test_permissions(void **state)
{
    struct fx *f = *state;
    ckv_profile *p = NULL;
    assert_int_equal(chmod(f->file, 0644), 0);
    assert_int_equal(ckv_profile_open(f->dir, TEST_PASS, TEST_PASS_LEN, &p), CKV_ERR_PERM);
    assert_int_equal(chmod(f->file, 0600), 0);
    assert_int_equal(chmod(f->dir, 0755), 0);
    assert_int_equal(ckv_profile_open(f->dir, TEST_PASS, TEST_PASS_LEN, &p), CKV_ERR_PERM);
    assert_int_equal(chmod(f->dir, 0700), 0);
    assert_int_equal(ckv_profile_open(f->dir, TEST_PASS, TEST_PASS_LEN, &p), CKV_OK);
    ckv_profile_close(p);
}

static void test_profile_dir(void **state)
{
    (void)state;
    char *d = NULL;
    char *old_xdg = getenv("XDG_DATA_HOME") ? strdup(getenv("XDG_DATA_HOME")) : NULL;
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("XDG_DATA_HOME", "/x/data", 1);
    assert_int_equal(ckv_profile_dir(NULL, &d), CKV_OK);
    assert_string_equal(d, "/x/data/ckv/default");
    free(d);
    assert_int_equal(ckv_profile_dir("work", &d), CKV_OK);
    assert_string_equal(d, "/x/data/ckv/work");
    free(d);
    unsetenv("XDG_DATA_HOME");
    setenv("HOME", "/home/u", 1);
    assert_int_equal(ckv_profile_dir("p1", &d), CKV_OK);
    assert_string_equal(d, "/home/u/.local/share/ckv/p1");
    free(d);
    assert_int_equal(ckv_profile_dir("../etc", &d), CKV_ERR_BAD_NAME);
    assert_int_equal(ckv_profile_dir("a/b", &d), CKV_ERR_BAD_NAME);
    assert_int_equal(ckv_profile_dir("", &d), CKV_ERR_BAD_NAME);
    assert_int_equal(ckv_profile_dir(".hidden", &d), CKV_ERR_BAD_NAME);
    if (old_xdg)
        setenv("XDG_DATA_HOME", old_xdg, 1);
    if (old_home)
        setenv("HOME", old_home, 1);
    free(old_xdg);
    free(old_home);
}

static void test_prekeys(void **state)
{
    struct fx *f = *state;
    ckv_profile *p = NULL;
    ckv_bundle b1, b2, b3;
    size_t n = 0, added = 0;
    uint32_t spk = 0;

    assert_int_equal(ckv_profile_open(f->dir, TEST_PASS, TEST_PASS_LEN, &p), CKV_OK);
    assert_int_equal(ckv_profile_prekeys_available(p, &n), CKV_OK);
    assert_int_equal(n, CKV_PREKEY_BATCH);
    assert_int_equal(ckv_profile_export_bundle(p, 1, &b1), CKV_OK);
    assert_int_equal(ckv_profile_export_bundle(p, 1, &b2), CKV_OK);
    assert_true(b1.has_prekey && b2.has_prekey);
    assert_int_not_equal(b1.prekey_id, b2.prekey_id);
    assert_memory_not_equal(b1.prekey, b2.prekey, 33);
    assert_int_equal(ckv_profile_export_bundle(p, 0, &b3), CKV_OK);
    assert_false(b3.has_prekey);
    assert_int_equal(ckv_profile_prekeys_available(p, &n), CKV_OK);
    assert_int_equal(n, CKV_PREKEY_BATCH - 2);
    assert_int_equal(ckv_profile_refill_prekeys(p, CKV_PREKEY_BATCH, &added), CKV_OK);
    assert_int_equal(added, 2);
    assert_int_equal(ckv_profile_refill_prekeys(p, 0, &added), CKV_ERR_INVALID_ARG);
    /* rotation: new id and key, the bundle uses it, signature checks */
    assert_int_equal(ckv_profile_rotate_signed_prekey(p, &spk), CKV_OK);
    assert_int_equal(spk, b1.signed_prekey_id + 1);
    assert_int_equal(ckv_profile_export_bundle(p, 0, &b3), CKV_OK);
    assert_int_equal(b3.signed_prekey_id, spk);
    assert_memory_not_equal(b3.signed_prekey, b1.signed_prekey, 33);
    char *json = NULL;
    assert_int_equal(ckv_bundle_to_json(&b3, &json), CKV_OK);
    ckv_bundle back;
    assert_int_equal(ckv_bundle_parse(json, strlen(json), &back), CKV_OK);
    free(json);
    ckv_profile_close(p);
    /* survives reopen */
    assert_int_equal(ckv_profile_open(f->dir, TEST_PASS, TEST_PASS_LEN, &p), CKV_OK);
    assert_int_equal(ckv_profile_export_bundle(p, 0, &b2), CKV_OK);
    assert_int_equal(b2.signed_prekey_id, spk);
    ckv_profile_close(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_passphrase_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_damage_vs_wrong_passphrase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
        cmocka_unit_test(test_profile_dir),
        cmocka_unit_test_setup_teardown(test_prekeys, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
