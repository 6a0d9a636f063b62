/*
 * evidence.c: building an evidence object and writing it as canonical
 * JSON (docs/evidence.md): jansson with sorted keys, byte strings in
 * standard base64 (exact bytes, to re-verify signatures) and, when they are
 * UTF-8, also as text for the reader. Files are written 0600 through a
 * temporary file, fsync and rename, so nothing half-written survives.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "evidence_internal.h"

#include "ckv/tlog_tile.h"

int ckv_evidence_word_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > CKV_EVIDENCE_ROLE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
            return 0;
    return 1;
}

static int text_ok(const char *s)
{
    return s != NULL && strlen(s) <= CKV_EVIDENCE_TEXT_MAX;
}

/* Replace *dst with a copy of src (NULL clears). */
static ckv_status set_str(char **dst, const char *src)
{
    char *c = NULL;
    if (src != NULL) {
        if (!text_ok(src))
            return CKV_ERR_INVALID_ARG;
        if ((c = strdup(src)) == NULL)
            return CKV_ERR_NOMEM;
    }
    free(*dst);
    *dst = c;
    return CKV_OK;
}

ckv_status ckv_evidence_new(const char *kind, const char *summary, const char *log_vkey,
                            ckv_evidence **out)
{
    ckv_evidence *ev = NULL;
    time_t now = time(NULL);
    struct tm tm;

    if (out == NULL || !ckv_evidence_word_ok(kind) || !text_ok(summary) || !text_ok(log_vkey))
        return CKV_ERR_INVALID_ARG;
    ev = calloc(1, sizeof *ev);
    if (ev == NULL)
        return CKV_ERR_NOMEM;
    snprintf(ev->kind, sizeof ev->kind, "%s", kind);
    if (set_str(&ev->summary, summary) != CKV_OK || set_str(&ev->vkey, log_vkey) != CKV_OK) {
        ckv_evidence_free(ev);
        return CKV_ERR_NOMEM;
    }
    gmtime_r(&now, &tm);
    strftime(ev->detected_at, sizeof ev->detected_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    *out = ev;
    return CKV_OK;
}

void ckv_evidence_free(ckv_evidence *ev)
{
    if (ev == NULL)
        return;
    for (size_t i = 0; i < ev->ncp; i++)
        free(ev->cp[i].note);
    for (size_t i = 0; i < ev->nent; i++) {
        free(ev->ent[i]->data);
        free(ev->ent[i]);
    }
    free(ev->summary);
    free(ev->vkey);
    free(ev->reporter);
    free(ev->source);
    free(ev->detail);
    free(ev->served_name);
    free(ev->served_what);
    free(ev->obj_path);
    free(ev->obj_expected);
    free(ev->obj_found);
    free(ev->obj);
    free(ev);
}

ckv_status ckv_evidence_set_reporter(ckv_evidence *ev, const char *who)
{
    return ev ? set_str(&ev->reporter, who) : CKV_ERR_INVALID_ARG;
}

ckv_status ckv_evidence_set_source(ckv_evidence *ev, const char *source)
{
    return ev ? set_str(&ev->source, source) : CKV_ERR_INVALID_ARG;
}

ckv_status ckv_evidence_set_detail(ckv_evidence *ev, const char *detail)
{
    return ev ? set_str(&ev->detail, detail) : CKV_ERR_INVALID_ARG;
}

static uint8_t *dup_bytes(const void *p, size_t n)
{
    uint8_t *c = malloc(n + 1);
    if (c == NULL)
        return NULL;
    if (n > 0)
        memcpy(c, p, n);
    c[n] = 0;
    return c;
}

ckv_status ckv_evidence_add_checkpoint(ckv_evidence *ev, const char *role, const void *note,
                                       size_t len, size_t *idx_out)
{
    if (ev == NULL || !ckv_evidence_word_ok(role) || note == NULL || len == 0 ||
        len > CKV_TLOG_NOTE_MAX_SIZE)
        return CKV_ERR_INVALID_ARG;
    if (ev->ncp >= CKV_EVIDENCE_MAX_CHECKPOINTS)
        return CKV_ERR_TOO_LARGE;
    struct ev_checkpoint *c = &ev->cp[ev->ncp];
    if ((c->note = dup_bytes(note, len)) == NULL)
        return CKV_ERR_NOMEM;
    c->len = len;
    snprintf(c->role, sizeof c->role, "%s", role);
    if (idx_out != NULL)
        *idx_out = ev->ncp;
    ev->ncp++;
    return CKV_OK;
}

ckv_status ckv_evidence_add_entry(ckv_evidence *ev, const char *role, const void *data, size_t len,
                                  uint64_t index, size_t cp_idx, const ckv_tlog_hash *path,
                                  size_t path_len)
{
    struct ev_entry *e = NULL;
    if (ev == NULL || !ckv_evidence_word_ok(role) || (data == NULL && len > 0) ||
        len > CKV_TLOG_NOTE_MAX_SIZE || index >= (UINT64_C(1) << 63) ||
        (path != NULL && (cp_idx >= ev->ncp || path_len > CKV_TLOG_MAX_PROOF)))
        return CKV_ERR_INVALID_ARG;
    if (ev->nent >= CKV_EVIDENCE_MAX_ENTRIES)
        return CKV_ERR_TOO_LARGE;
    e = calloc(1, sizeof *e);
    if (e == NULL || (e->data = dup_bytes(data, len)) == NULL) {
        free(e);
        return CKV_ERR_NOMEM;
    }
    snprintf(e->role, sizeof e->role, "%s", role);
    e->len = len;
    e->index = index;
    if (path != NULL) {
        e->has_proof = 1;
        e->cp = cp_idx;
        e->path_len = path_len;
        if (path_len > 0)
            memcpy(e->path, path, path_len * sizeof *path);
    }
    ev->ent[ev->nent++] = e;
    return CKV_OK;
}

ckv_status ckv_evidence_set_consistency(ckv_evidence *ev, size_t old_idx, size_t new_idx,
                                        const ckv_tlog_hash *path, size_t path_len,
                                        const ckv_tlog_hash *old_subtree)
{
    if (ev == NULL || old_idx >= ev->ncp || new_idx >= ev->ncp || old_idx == new_idx ||
        path_len > CKV_TLOG_MAX_PROOF || (path == NULL && path_len > 0))
        return CKV_ERR_INVALID_ARG;
    ev->has_cons = 1;
    ev->cons_old = old_idx;
    ev->cons_new = new_idx;
    ev->cons_len = path_len;
    if (path_len > 0)
        memcpy(ev->cons_path, path, path_len * sizeof *path);
    ev->has_subtree = old_subtree != NULL;
    if (old_subtree != NULL)
        ev->subtree = *old_subtree;
    return CKV_OK;
}

ckv_status ckv_evidence_set_served_key(ckv_evidence *ev, const char *name,
                                       const uint8_t key[CKV_EVIDENCE_IDENTITY_KEY_LEN],
                                       const char *what)
{
    if (ev == NULL || name == NULL || key == NULL || what == NULL)
        return CKV_ERR_INVALID_ARG;
    ckv_status st = set_str(&ev->served_name, name);
    if (st == CKV_OK)
        st = set_str(&ev->served_what, what);
    if (st != CKV_OK)
        return st;
    memcpy(ev->served_key, key, CKV_EVIDENCE_IDENTITY_KEY_LEN);
    ev->has_served = 1;
    return CKV_OK;
}

ckv_status ckv_evidence_set_object(ckv_evidence *ev, const char *path, const void *data, size_t len,
                                   int has_position, uint64_t position, const char *expected,
                                   const char *found)
{
    if (ev == NULL || path == NULL || (data == NULL && len > 0) || len > CKV_TLOG_BUNDLE_MAX_BYTES)
        return CKV_ERR_INVALID_ARG;
    ckv_status st = set_str(&ev->obj_path, path);
    if (st == CKV_OK)
        st = set_str(&ev->obj_expected, expected);
    if (st == CKV_OK)
        st = set_str(&ev->obj_found, found);
    if (st != CKV_OK)
        return st;
    free(ev->obj);
    ev->obj = NULL;
    ev->obj_len = 0;
    if (data != NULL) {
        if ((ev->obj = dup_bytes(data, len)) == NULL)
            return CKV_ERR_NOMEM;
        ev->obj_len = len;
    }
    ev->obj_has_pos = has_position;
    ev->obj_pos = position;
    ev->has_object = 1;
    return CKV_OK;
}

/* ---- JSON ------------------------------------------------------------------ */

static json_t *b64(const uint8_t *b, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(cap);
    json_t *j;
    if (s == NULL)
        return NULL;
    sodium_bin2base64(s, cap, b, n, sodium_base64_VARIANT_ORIGINAL);
    j = json_string(s);
    free(s);
    return j;
}

static json_t *hex(const uint8_t *b, size_t n)
{
    char s[2 * 64 + 1];
    if (n > 64)
        return NULL;
    sodium_bin2hex(s, sizeof s, b, n);
    return json_string(s);
}

static json_t *path_array(const ckv_tlog_hash *p, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        if (json_array_append_new(a, hex(p[i].b, 32)) != 0) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

/* "text" (when UTF-8 without NUL) and "base64" of bytes into o. */
static void put_bytes(json_t *o, const uint8_t *b, size_t n)
{
    if (memchr(b, 0, n) == NULL) {
        json_t *t = json_stringn((const char *)b, n); /* NULL unless UTF-8 */
        if (t != NULL)
            json_object_set_new(o, "text", t);
    }
    json_object_set_new(o, "base64", b64(b, n));
}

static void put_opt(json_t *o, const char *k, const char *v)
{
    if (v != NULL)
        json_object_set_new(o, k, json_string(v));
}

static json_t *build(const ckv_evidence *ev)
{
    json_t *root = json_object(), *log = json_object(), *cps = json_array(), *ents = json_array();
    char origin[256];
    const char *plus = strchr(ev->vkey, '+');

    if (root == NULL || log == NULL || cps == NULL || ents == NULL) {
        json_decref(root);
        json_decref(log);
        json_decref(cps);
        json_decref(ents);
        return NULL;
    }
    snprintf(origin, sizeof origin, "%.*s", plus ? (int)(plus - ev->vkey) : 0, ev->vkey);
    json_object_set_new(root, "format", json_string(CKV_EVIDENCE_FORMAT));
    json_object_set_new(root, "kind", json_string(ev->kind));
    json_object_set_new(root, "summary", json_string(ev->summary));
    json_object_set_new(root, "detected_at", json_string(ev->detected_at));
    put_opt(root, "reporter", ev->reporter);
    put_opt(root, "detail", ev->detail);
    json_object_set_new(log, "origin", json_string(origin));
    json_object_set_new(log, "verifier_key", json_string(ev->vkey));
    put_opt(log, "source", ev->source);
    json_object_set_new(root, "log", log);
    for (size_t i = 0; i < ev->ncp; i++) {
        json_t *c = json_object();
        json_object_set_new(c, "role", json_string(ev->cp[i].role));
        put_bytes(c, ev->cp[i].note, ev->cp[i].len);
        json_array_append_new(cps, c);
    }
    json_object_set_new(root, "checkpoints", cps);
    for (size_t i = 0; i < ev->nent; i++) {
        const struct ev_entry *e = ev->ent[i];
        json_t *o = json_object();
        json_object_set_new(o, "role", json_string(e->role));
        json_object_set_new(o, "leaf_index", json_integer((json_int_t)e->index));
        put_bytes(o, e->data, e->len);
        if (e->has_proof) {
            json_t *p = json_object();
            json_object_set_new(p, "checkpoint", json_integer((json_int_t)e->cp));
            json_object_set_new(p, "path", path_array(e->path, e->path_len));
            json_object_set_new(o, "inclusion_proof", p);
        }
        json_array_append_new(ents, o);
    }
    json_object_set_new(root, "entries", ents);
    if (ev->has_cons) {
        json_t *c = json_object();
        json_object_set_new(c, "old_checkpoint", json_integer((json_int_t)ev->cons_old));
        json_object_set_new(c, "new_checkpoint", json_integer((json_int_t)ev->cons_new));
        json_object_set_new(c, "path", path_array(ev->cons_path, ev->cons_len));
        if (ev->has_subtree)
            json_object_set_new(c, "old_subtree", hex(ev->subtree.b, 32));
        json_object_set_new(root, "consistency_proof", c);
    }
    if (ev->has_served) {
        json_t *s = json_object();
        json_object_set_new(s, "name", json_string(ev->served_name));
        json_object_set_new(s, "identity_key", b64(ev->served_key, sizeof ev->served_key));
        json_object_set_new(s, "where", json_string(ev->served_what));
        json_object_set_new(root, "served", s);
    }
    if (ev->has_object) {
        json_t *o = json_object();
        json_object_set_new(o, "path", json_string(ev->obj_path));
        if (ev->obj != NULL) {
            uint8_t h[crypto_hash_sha256_BYTES];
            crypto_hash_sha256(h, ev->obj, ev->obj_len);
            json_object_set_new(o, "sha256", hex(h, sizeof h));
            json_object_set_new(o, "length", json_integer((json_int_t)ev->obj_len));
            json_object_set_new(o, "base64", b64(ev->obj, ev->obj_len));
        }
        if (ev->obj_has_pos)
            json_object_set_new(o, "position", json_integer((json_int_t)ev->obj_pos));
        put_opt(o, "expected", ev->obj_expected);
        put_opt(o, "found", ev->obj_found);
        json_object_set_new(root, "object", o);
    }
    return root;
}

ckv_status ckv_evidence_to_json(const ckv_evidence *ev, char **json_out)
{
    json_t *root;
    char *text, *withnl;
    size_t n;
    if (ev == NULL || json_out == NULL)
        return CKV_ERR_INVALID_ARG;
    if (sodium_init() < 0)
        return CKV_ERR_CRYPTO;
    root = build(ev);
    if (root == NULL)
        return CKV_ERR_NOMEM;
    text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    if (text == NULL)
        return CKV_ERR_NOMEM;
    n = strlen(text);
    withnl = realloc(text, n + 2);
    if (withnl == NULL) {
        free(text);
        return CKV_ERR_NOMEM;
    }
    withnl[n] = '\n';
    withnl[n + 1] = 0;
    *json_out = withnl;
    return CKV_OK;
}

/* ---- files ----------------------------------------------------------------- */

static ckv_status mkdir_p(const char *dir)
{
    char *p = strdup(dir);
    ckv_status st = CKV_OK;
    if (p == NULL)
        return CKV_ERR_NOMEM;
    for (char *s = p + 1; st == CKV_OK; s++) {
        if (*s != '/' && *s != 0)
            continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            st = CKV_ERR_IO;
        *s = c;
        if (c == 0)
            break;
    }
    free(p);
    return st;
}

static ckv_status write_atomic(const char *dir, const char *path, const char *data, size_t len)
{
    size_t tl = strlen(path) + 16;
    char *tmp = malloc(tl);
    int fd = -1;
    ckv_status st = CKV_ERR_IO;
    if (tmp == NULL)
        return CKV_ERR_NOMEM;
    snprintf(tmp, tl, "%s.tmpXXXXXX", path);
    fd = mkstemp(tmp); /* mode 0600 */
    if (fd < 0)
        goto out;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto out;
        off += (size_t)w;
    }
    if (fchmod(fd, 0600) != 0 || fsync(fd) != 0)
        goto out;
    if (close(fd) != 0) {
        fd = -1;
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto out;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    st = CKV_OK;
out:
    if (fd >= 0)
        close(fd);
    if (st != CKV_OK)
        unlink(tmp);
    free(tmp);
    return st;
}

ckv_status ckv_evidence_write(const ckv_evidence *ev, const char *dir, char **path_out)
{
    char *json = NULL, *path = NULL, when[32], rnd[9];
    uint8_t r[4];
    time_t now = time(NULL);
    struct tm tm;
    size_t pl;
    ckv_status st;

    if (ev == NULL || dir == NULL || *dir == 0 || path_out == NULL)
        return CKV_ERR_INVALID_ARG;
    st = ckv_evidence_to_json(ev, &json);
    if (st == CKV_OK)
        st = mkdir_p(dir);
    if (st != CKV_OK)
        goto out;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tm);
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(rnd, sizeof rnd, r, sizeof r);
    pl = strlen(dir) + strlen(ev->kind) + 64;
    path = malloc(pl);
    if (path == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    snprintf(path, pl, "%s/evidence-%s-%s-%s.json", dir, when, ev->kind, rnd);
    st = write_atomic(dir, path, json, strlen(json));
    if (st != CKV_OK)
        goto out;
    *path_out = path;
    path = NULL;
out:
    free(json);
    free(path);
    return st;
}
