/*
 * mkentries.c: writes a small key directory's entries (docs/directory.md),
 * one file per entry (e000, e001, ...), for `ckv-log append` in the
 * directory-mode tests of ckv-audit. The scenario decides entry 3:
 *   good           bob rotates properly (version 2)
 *   bad_rotation   bob "rotates" with a signature by a key that is not his
 *   dup_version    alice gets a second version 2 (a reset linked to v1)
 *   skip_version   bob jumps to version 3, linked to his version 1
 *   taken          a second register for alice
 *   not_entry      a line of text that is no directory entry
 *   big_bad_rotation  bad_rotation, then registers fill005..fill299: 300
 *                  entries, so that the break is in a full level-0 tile
 * Entries 0..2: alice register, bob register, alice rotate; entry 4: carol
 * register. Usage: mkentries ORIGIN OUTDIR SCENARIO
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckv/dir_entry.h"

struct kp {
    uint8_t priv[32];
    uint8_t pub[33];
};

static const char *origin, *outdir;
static int count;
static char enc[8][CKV_DIR_ENTRY_MAX + 1];
static size_t enclen[8];

static void die(const char *what)
{
    fprintf(stderr, "mkentries: %s\n", what);
    exit(2);
}

static void newkey(struct kp *k)
{
    randombytes_buf(k->priv, 32);
    if (ckv_xeddsa_public_key(k->priv, k->pub) != CKV_OK)
        die("key");
}

static void put(const char *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/e%03d", outdir, count);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        die("cannot write an entry file");
    if (count < 8) { /* the first entries, for prev-hash links */
        memcpy(enc[count], data, len);
        enclen[count] = len;
    }
    count++;
}

static void entry(const char *name, ckv_dir_type t, uint64_t v, const struct kp *k,
                  const struct kp *old, int prev)
{
    ckv_dir_entry e;
    char buf[CKV_DIR_ENTRY_MAX + 1];
    size_t len = 0;
    memset(&e, 0, sizeof e);
    snprintf(e.origin, sizeof e.origin, "%s", origin);
    snprintf(e.name, sizeof e.name, "%s", name);
    e.type = t;
    e.version = v;
    memcpy(e.key, k->pub, 33);
    e.time = 1764280000 + count;
    if (prev >= 0) {
        e.has_prev = 1;
        e.prev_index = (uint64_t)prev;
        ckv_dir_leaf_hash((const uint8_t *)enc[prev], enclen[prev], e.prev_hash);
    }
    e.has_old_sig = t == CKV_DIR_ROTATE;
    if (t == CKV_DIR_ROTATE && ckv_dir_entry_sign_rotation(&e, old->priv) != CKV_OK)
        die("sign rotation");
    if (ckv_dir_entry_sign_pop(&e, k->priv) != CKV_OK ||
        ckv_dir_entry_encode(&e, buf, sizeof buf, &len) != CKV_OK)
        die("encode");
    put(buf, len);
}

int main(int argc, char **argv)
{
    struct kp a1, a2, b1, b2, c1, x;
    if (argc != 4)
        die("usage: mkentries ORIGIN OUTDIR SCENARIO");
    origin = argv[1];
    outdir = argv[2];
    const char *s = argv[3];
    if (sodium_init() < 0)
        die("sodium");
    newkey(&a1), newkey(&a2), newkey(&b1), newkey(&b2), newkey(&c1), newkey(&x);
    entry("alice", CKV_DIR_REGISTER, 1, &a1, NULL, -1);
    entry("bob", CKV_DIR_REGISTER, 1, &b1, NULL, -1);
    entry("alice", CKV_DIR_ROTATE, 2, &a2, &a1, 0);
    if (strcmp(s, "good") == 0)
        entry("bob", CKV_DIR_ROTATE, 2, &b2, &b1, 1);
    else if (strcmp(s, "bad_rotation") == 0 || strcmp(s, "big_bad_rotation") == 0)
        entry("bob", CKV_DIR_ROTATE, 2, &b2, &x, 1);
    else if (strcmp(s, "dup_version") == 0)
        entry("alice", CKV_DIR_RESET, 2, &x, NULL, 0);
    else if (strcmp(s, "skip_version") == 0)
        entry("bob", CKV_DIR_RESET, 3, &b2, NULL, 1);
    else if (strcmp(s, "taken") == 0)
        entry("alice", CKV_DIR_REGISTER, 1, &x, NULL, -1);
    else if (strcmp(s, "not_entry") == 0)
        put("hello, not an entry", 19);
    else
        die("unknown scenario");
    entry("carol", CKV_DIR_REGISTER, 1, &c1, NULL, -1);
    while (strcmp(s, "big_bad_rotation") == 0 && count < 300) {
        char name[16];
        snprintf(name, sizeof name, "fill%03d", count);
        entry(name, CKV_DIR_REGISTER, 1, &x, NULL, -1);
    }
    return 0;
}
