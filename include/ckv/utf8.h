/*
 * utf8.h: decoding UTF-8 strictly and telling which characters must not
 * reach a terminal as they are. Shared by the programs that print text
 * from the network (ckv recv, ckv-chat), each with its own replacement.
 */
#ifndef CKV_UTF8_H
#define CKV_UTF8_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The UTF-8 sequence at s[0..n) (n >= 1): its length (1..4) and code point
 * in *cp, or 0 when it is not a valid shortest-form sequence (RFC 3629: no
 * overlongs, no surrogates, at most U+10FFFF). */
size_t ckv_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);

/* 1 for a character a terminal acts on or that reorders what is shown: C0
 * controls (tab and line breaks included: callers that keep them check
 * first), DEL, C1 controls (U+0080-U+009F, e.g. CSI), the bidirectional
 * marks, embeddings, overrides and isolates, and the line and paragraph
 * separators. */
int ckv_char_unsafe(uint32_t cp);

#ifdef __cplusplus
}
#endif

#endif
