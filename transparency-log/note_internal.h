/*
 * note_internal.h: helpers shared by note.c, keyfile.c and checkpoint.c
 * (not public): text validity rules of c2sp.org/signed-note.
 */
#ifndef CKV_TLOG_NOTE_INTERNAL_H
#define CKV_TLOG_NOTE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* Valid UTF-8 (shortest form, no surrogates, <= U+10FFFF) and no control
 * characters other than '\n' (C0 controls, DEL). */
bool ckv_tlog_text_valid(const char *s, size_t len);

/* A key name: non-empty, <= 255 bytes, valid UTF-8, no control chars, no
 * ASCII space, no '+'. (Unicode spaces other than ASCII are rejected too:
 * U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.) */
bool ckv_tlog_name_valid(const char *s, size_t len);

#endif
