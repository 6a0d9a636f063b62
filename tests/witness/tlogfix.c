/*
 * tlogfix.c: the witness tests' throw-away logs (tlogfix.h).
 */
#include "tlogfix.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tlog_new(struct tlog *t, const char *origin, uint8_t seed_byte)
{
    uint8_t seed[32];
    char *skey = NULL, *vkey = NULL, path[128];
    ckv_tlog_store_options o = {.cache_tiles = 0, .durable = false, .read_only = false};
    memset(t, 0, sizeof(*t));
    memset(seed, seed_byte, sizeof(seed));
    snprintf(t->dir, sizeof(t->dir), "/tmp/ckvw-test-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(path, sizeof(path), "%s/log.db", t->dir);
    assert_int_equal(ckv_tlog_signer_from_seed(origin, seed, &skey, &vkey), CKV_OK);
    assert_int_equal(ckv_tlog_signer_parse(skey, strlen(skey), &t->signer), CKV_OK);
    assert_int_equal(ckv_tlog_verifier_parse(vkey, strlen(vkey), &t->v), CKV_OK);
    assert_int_equal(ckv_tlog_store_create(path, origin, &o, &t->s), CKV_OK);
    snprintf(t->vkey, sizeof(t->vkey), "%s", vkey);
    sodium_memzero(skey, strlen(skey));
    free(skey);
    free(vkey);
}

void tlog_free(struct tlog *t)
{
    char cmd[128];
    ckv_tlog_store_close(t->s);
    ckv_tlog_signer_free(t->signer);
    ckv_tlog_verifier_free(t->v);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
    assert_int_equal(system(cmd), 0);
}

char *tlog_grow(struct tlog *t, uint64_t k, const char *tag)
{
    char buf[64], *note = NULL;
    for (uint64_t i = 0; i < k; i++) {
        snprintf(buf, sizeof(buf), "%s entry %llu", tag, (unsigned long long)t->n++);
        ckv_tlog_entry e = {(const uint8_t *)buf, strlen(buf)};
        assert_int_equal(ckv_tlog_store_append(t->s, &e, 1, NULL), CKV_OK);
    }
    assert_int_equal(ckv_tlog_store_publish(t->s, t->signer, NULL, &note), CKV_OK);
    return note;
}

char *tlog_body(struct tlog *t, uint64_t old, uint64_t new_size, const char *note, int corrupt,
                size_t *len)
{
    ckv_tlog_consistency_proof p;
    char *b = malloc(70000);
    size_t n;
    assert_non_null(b);
    p.path_len = 0;
    if (t && old > 0 && old < new_size)
        assert_int_equal(ckv_tlog_store_consistency_proof(t->s, old, new_size, &p), CKV_OK);
    if (corrupt && p.path_len)
        p.path[0].b[0] ^= 1;
    n = (size_t)sprintf(b, "old %llu\n", (unsigned long long)old);
    for (size_t i = 0; i < p.path_len; i++) {
        sodium_bin2base64(b + n, 45, p.path[i].b, 32, sodium_base64_VARIANT_ORIGINAL);
        n += 44;
        b[n++] = '\n';
    }
    b[n++] = '\n';
    n += (size_t)snprintf(b + n, 70000 - n, "%s", note);
    *len = n;
    return b;
}
