/*
 * inner.c: the plaintext the online client puts inside the Signal
 * encryption (docs/protocol.md "Inner messages"):
 *   message  {"v":1,"seq":N,"time":T,"text":"..."}
 *   receipt  {"v":1,"receipt":[N,...]}
 * seq counts the messages of one conversation in one direction from 1;
 * time is the sender's clock (unix seconds); text is UTF-8 (jansson
 * rejects invalid UTF-8). A receipt lists the seqs the recipient stored.
 * Parsing is strict: exactly these keys, integers in range, at most
 * CKV_INNER_RECEIPT_MAX receipts. A message may carry one more key, "cp":
 * the sender's newest accepted checkpoint note with its cosignatures
 * (gossip.c), a string of at most CKV_TLOG_NOTE_MAX_SIZE bytes. A plaintext that is not such an object
 * is "raw text" (kind 0): what an offline ckv sends through the same
 * sessions; it is shown as it is, without a sequence number.
 */
#include "online.h"

#include <stdlib.h>
#include <string.h>

#define SEQ_MAX ((json_int_t)1 << 53)

static ckv_status dump(json_t *o, char **out, size_t *out_len)
{
    char *s;
    if (o == NULL)
        return CKV_ERR_NOMEM;
    s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (s == NULL)
        return CKV_ERR_NOMEM;
    *out = s;
    *out_len = strlen(s);
    return CKV_OK;
}

ckv_status ckv_inner_message_cp(uint64_t seq, int64_t time, const uint8_t *text, size_t len,
                                const char *cp, size_t cp_len, char **out, size_t *out_len)
{
    json_t *t, *o, *j = NULL;
    if (seq == 0 || seq > (uint64_t)SEQ_MAX || (text == NULL && len > 0) ||
        (cp != NULL && (cp_len == 0 || cp_len > CKV_TLOG_NOTE_MAX_SIZE)))
        return CKV_ERR_INVALID_ARG;
    t = json_stringn((const char *)(text ? text : (const uint8_t *)""), len);
    if (t == NULL)
        return CKV_ERR_MALFORMED; /* not UTF-8 */
    if (cp != NULL && (j = json_stringn(cp, cp_len)) == NULL) {
        json_decref(t);
        return CKV_ERR_INVALID_ARG;
    }
    o = json_pack("{s:i, s:I, s:I, s:o}", "v", 1, "seq", (json_int_t)seq, "time",
                  (json_int_t)time, "text", t);
    if (o != NULL && j != NULL && json_object_set_new(o, "cp", j) != 0) {
        json_decref(o);
        return CKV_ERR_NOMEM;
    }
    if (o == NULL)
        json_decref(j);
    return dump(o, out, out_len);
}

ckv_status ckv_inner_message(uint64_t seq, int64_t time, const uint8_t *text, size_t len,
                             char **out, size_t *out_len)
{
    return ckv_inner_message_cp(seq, time, text, len, NULL, 0, out, out_len);
}

ckv_status ckv_inner_receipt(const uint64_t *seqs, size_t n, char **out, size_t *out_len)
{
    json_t *a = json_array();
    if (a == NULL)
        return CKV_ERR_NOMEM;
    if (n == 0 || n > CKV_INNER_RECEIPT_MAX) {
        json_decref(a);
        return CKV_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer((json_int_t)seqs[i]));
    return dump(json_pack("{s:i, s:o}", "v", 1, "receipt", a), out, out_len);
}

static int seq_ok(json_t *x)
{
    return json_is_integer(x) && json_integer_value(x) > 0 && json_integer_value(x) <= SEQ_MAX;
}

ckv_status ckv_inner_parse(const uint8_t *pt, size_t len, ckv_inner *out)
{
    json_t *o = NULL;
    ckv_inner in;
    memset(&in, 0, sizeof in);
    if (len > 0 && pt[0] == '{')
        o = json_loadb((const char *)pt, len, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(o) && json_integer_value(json_object_get(o, "v")) == 1 &&
        json_is_integer(json_object_get(o, "v"))) {
        json_t *text = json_object_get(o, "text"), *rc = json_object_get(o, "receipt");
        json_t *seq = json_object_get(o, "seq"), *tm = json_object_get(o, "time");
        json_t *cp = json_object_get(o, "cp");
        size_t keys = json_object_size(o) - (cp != NULL);
        int cp_ok = cp == NULL || (json_is_string(cp) && json_string_length(cp) > 0 &&
                                   json_string_length(cp) <= CKV_TLOG_NOTE_MAX_SIZE);
        if (keys == 4 && cp_ok && json_is_string(text) && seq_ok(seq) && json_is_integer(tm)) {
            if (cp != NULL) {
                in.cp_len = json_string_length(cp);
                in.cp = malloc(in.cp_len + 1);
                if (in.cp == NULL) {
                    json_decref(o);
                    return CKV_ERR_NOMEM;
                }
                memcpy(in.cp, json_string_value(cp), in.cp_len);
                in.cp[in.cp_len] = 0;
            }
            in.kind = 1;
            in.seq = (uint64_t)json_integer_value(seq);
            in.time = (int64_t)json_integer_value(tm);
            in.text_len = json_string_length(text);
            in.text_owned = malloc(in.text_len + 1);
            if (in.text_owned == NULL) {
                free(in.cp);
                json_decref(o);
                return CKV_ERR_NOMEM;
            }
            memcpy(in.text_owned, json_string_value(text), in.text_len);
            in.text_owned[in.text_len] = 0;
            in.text = (const uint8_t *)in.text_owned;
        } else if (cp == NULL && json_object_size(o) == 2 && json_is_array(rc) && json_array_size(rc) > 0 &&
                   json_array_size(rc) <= CKV_INNER_RECEIPT_MAX) {
            size_t i;
            json_t *x;
            in.receipts = malloc(json_array_size(rc) * sizeof *in.receipts);
            if (in.receipts == NULL) {
                json_decref(o);
                return CKV_ERR_NOMEM;
            }
            in.kind = 2;
            json_array_foreach(rc, i, x)
            {
                if (!seq_ok(x)) {
                    in.kind = 0;
                    break;
                }
                in.receipts[i] = (uint64_t)json_integer_value(x);
            }
            in.n_receipts = in.kind == 2 ? json_array_size(rc) : 0;
            if (in.kind == 0) {
                free(in.receipts);
                in.receipts = NULL;
            }
        }
    }
    json_decref(o);
    if (in.kind == 0) {
        in.text = pt;
        in.text_len = len;
    }
    *out = in;
    return CKV_OK;
}

void ckv_inner_clear(ckv_inner *in)
{
    if (in == NULL)
        return;
    if (in->text_owned != NULL) {
        memset(in->text_owned, 0, in->text_len);
        free(in->text_owned);
    }
    free(in->receipts);
    free(in->cp);
    memset(in, 0, sizeof *in);
}
