/*
 * helpers.h: shared helpers of the core tests: temporary directories, a
 * digest of a profile file's whole content (to prove "changed nothing"),
 * reading vector files, hex.
 */
#ifndef CKV_TEST_CORE_HELPERS_H
#define CKV_TEST_CORE_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/core.h"

#define TEST_PASS ((const uint8_t *)"correct horse battery staple")
#define TEST_PASS_LEN 28

/* mkdtemp under $TMPDIR (or /tmp); returns a malloc'd path. */
char *tmpdir_make(void);
/* rm -rf the directory. */
void tmpdir_remove(const char *dir);
/* "<dir>/<sub>", malloc'd. */
char *path_join(const char *dir, const char *sub);
/* BLAKE2b over every row of every table of the SQLite file (a separate
 * connection). Returns 0 on success. */
int db_digest(const char *db_file, uint8_t out[32]);
/* Read a whole file (malloc'd, NUL-terminated). */
char *read_file_all(const char *path, size_t *len);
/* Hex to bytes; returns the byte count or -1. */
int hex_to_bin(const char *hex, uint8_t *out, size_t cap);

#endif
