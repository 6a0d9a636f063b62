/*
 * audit_evidence.c: writes the evidence file (see audit_evidence.h) with
 * jansson. Notes are stored twice: as text when they are valid UTF-8 (easy
 * to read) and always as base64 (exact bytes, to re-verify signatures).
 */
#include "audit_evidence.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tool_util.h"

static json_t *b64(const uint8_t *b, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(cap);
    if (s == NULL)
        return NULL;
    sodium_bin2base64(s, cap, b, n, sodium_base64_VARIANT_ORIGINAL);
    json_t *j = json_string(s);
    free(s);
    return j;
}

static json_t *note_obj(const uint8_t *note, size_t len, const char *role)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "role", json_string(role));
    json_t *t = json_stringn((const char *)note, len); /* NULL if not UTF-8 */
    if (t != NULL)
        json_object_set_new(o, "text", t);
    json_object_set_new(o, "base64", b64(note, len));
    return o;
}

ckv_status audit_evidence_write(const char *dir, const audit_evidence *ev, char **path_out)
{
    ckv_status st = CKV_OK;
    json_t *root = NULL;
    char *text = NULL, *path = NULL;
    char when[32], name[128];
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    root = json_object();
    if (root == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    json_object_set_new(root, "format", json_string("ckv-audit-evidence/1"));
    json_object_set_new(root, "kind", json_string(ev->kind));
    json_object_set_new(root, "summary", json_string(ev->summary));
    json_object_set_new(root, "detected_at", json_string(when));
    json_object_set_new(root, "log", json_string(ev->source));
    json_object_set_new(root, "verifier_key", json_string(ev->vkey));
    json_t *notes = json_array();
    if (ev->accepted_note)
        json_array_append_new(notes, note_obj(ev->accepted_note, ev->accepted_len,
                                              "accepted_before"));
    if (ev->served_note)
        json_array_append_new(notes, note_obj(ev->served_note, ev->served_len, "served_now"));
    json_object_set_new(root, "checkpoints", notes);
    if (ev->object_path) {
        json_t *o = json_object();
        json_object_set_new(o, "path", json_string(ev->object_path));
        if (ev->object) {
            unsigned char h[crypto_hash_sha256_BYTES];
            crypto_hash_sha256(h, ev->object, ev->object_len);
            char *hx = tool_hex(h, sizeof(h));
            json_object_set_new(o, "sha256", json_string(hx ? hx : ""));
            free(hx);
            json_object_set_new(o, "length", json_integer((json_int_t)ev->object_len));
            json_object_set_new(o, "base64", b64(ev->object, ev->object_len));
        }
        if (ev->has_position)
            json_object_set_new(o, "position", json_integer((json_int_t)ev->position));
        if (ev->expected)
            json_object_set_new(o, "expected", json_string(ev->expected));
        if (ev->found)
            json_object_set_new(o, "found", json_string(ev->found));
        json_object_set_new(root, "object", o);
    }
    if (ev->detail)
        json_object_set_new(root, "detail", json_string(ev->detail));
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(name, sizeof(name), "evidence-%s-%s-%ld.json", when, ev->kind, (long)getpid());
    path = tool_path_join(dir, name);
    if (path == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    size_t tl = strlen(text);
    text[tl] = '\n'; /* json_dumps leaves room for the NUL: reuse it */
    st = tool_write_file_atomic(path, text, tl + 1, 0600);
    if (st != CKV_OK)
        goto out;
    *path_out = path;
    path = NULL;
out:
    free(text);
    free(path);
    json_decref(root);
    return st;
}
