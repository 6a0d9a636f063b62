/*
 * tlogfix.h: a throw-away transparency log for the witness tests: a
 * libckvlog store in a temporary directory with a deterministic Ed25519 key,
 * so that tests can make real checkpoints, forks (same key, other entries)
 * and consistency proofs, and the add-checkpoint bodies that carry them.
 */
#ifndef CKV_TEST_TLOGFIX_H
#define CKV_TEST_TLOGFIX_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/tlog.h"

struct tlog {
    char dir[64];
    ckv_tlog_store *s;
    ckv_tlog_signer *signer;
    ckv_tlog_verifier *v;
    char vkey[512]; /* the verifier key string */
    uint64_t n;
};

/* A new empty log of origin whose key seed is 32 bytes of seed_byte. */
void tlog_new(struct tlog *t, const char *origin, uint8_t seed_byte);
void tlog_free(struct tlog *t); /* removes its directory */
/* Append k entries tagged tag and sign a checkpoint (malloc'd note). */
char *tlog_grow(struct tlog *t, uint64_t k, const char *tag);
/* An add-checkpoint body: "old N", the proof old -> new_size from t (none
 * when t is NULL; the first hash flipped when corrupt), "", note. */
char *tlog_body(struct tlog *t, uint64_t old, uint64_t new_size, const char *note, int corrupt,
                size_t *len);

#endif
