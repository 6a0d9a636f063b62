/*
 * evidence_verify.c: reading an evidence file back (strict: only the keys
 * docs/evidence.md lists, bounded sizes, base64 authoritative and "text"
 * equal to it when present) and deciding what it proves.
 *
 * The rule for every kind: facts that follow from the log's Ed25519
 * signatures (a checkpoint, an entry whose inclusion proof verifies to a
 * signed root, a consistency proof that reproduces a signed root) are
 * "proven by signatures"; everything else in the file (the order in which
 * things were served, a proof that fails, a key served in a bundle) is only
 * "reported" by whoever wrote the file. A file proves misbehaviour when
 * the signed facts alone contradict an honest log, or when the reported
 * part is an unsigned server answer that an honest server never gives for
 * the signed facts (a failing proof between checkpoints it signed).
 */
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckv/dir_entry.h"
#include "ckv/tlog_checkpoint.h"
#include "ckv/tlog_note.h"
#include "evidence_internal.h"

/* ---- strict reading --------------------------------------------------------- */

static int only_keys(json_t *o, const char *const *keys)
{
    const char *k;
    json_t *v;
    if (!json_is_object(o))
        return 0;
    json_object_foreach(o, k, v)
    {
        int found = 0;
        (void)v;
        for (size_t i = 0; keys[i] != NULL && !found; i++)
            found = strcmp(k, keys[i]) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

static const char *str_of(json_t *o, const char *k, size_t max, int required, int *bad)
{
    json_t *v = json_object_get(o, k);
    if (v == NULL) {
        if (required)
            *bad = 1;
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

static int u64_of(json_t *o, const char *k, uint64_t *out)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

/* "base64" (authoritative) and optional "text" equal to it. *out malloc'd. */
static int bytes_of(json_t *o, size_t max, uint8_t **out, size_t *len)
{
    int bad = 0;
    const char *b = str_of(o, "base64", (max / 3 + 2) * 4, 1, &bad);
    const char *t = str_of(o, "text", max, 0, &bad);
    uint8_t *buf;
    size_t n = 0, bl;
    if (bad)
        return 0;
    bl = strlen(b);
    buf = malloc(bl / 4 * 3 + 3);
    if (buf == NULL)
        return 0;
    if (sodium_base642bin(buf, bl / 4 * 3 + 3, b, bl, NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        n > max || (t != NULL && (strlen(t) != n || memcmp(t, buf, n) != 0))) {
        free(buf);
        return 0;
    }
    buf[n] = 0; /* room: bl/4*3+3 > n */
    *out = buf;
    *len = n;
    return 1;
}

static int hex32(const char *s, ckv_tlog_hash *h)
{
    return s != NULL && ckv_tlog_hash_from_hex(s, strlen(s), h) == CKV_OK;
}

static int path_of(json_t *a, ckv_tlog_hash *path, size_t *n)
{
    size_t i;
    json_t *x;
    if (!json_is_array(a) || json_array_size(a) > CKV_TLOG_MAX_PROOF)
        return 0;
    json_array_foreach(a, i, x)
    {
        if (!hex32(json_string_value(x), &path[i]))
            return 0;
    }
    *n = json_array_size(a);
    return 1;
}

static ckv_status parse(json_t *root, ckv_evidence *ev)
{
    static const char *const top[] = {
        "format",      "kind",    "summary",           "detected_at", "reporter", "detail", "log",
        "checkpoints", "entries", "consistency_proof", "served",      "object",   NULL};
    static const char *const logk[] = {"origin", "verifier_key", "source", NULL};
    static const char *const cpk[] = {"role", "text", "base64", NULL};
    static const char *const enk[] = {"role",   "leaf_index",      "text",
                                      "base64", "inclusion_proof", NULL};
    static const char *const prk[] = {"checkpoint", "path", NULL};
    static const char *const cok[] = {"old_checkpoint", "new_checkpoint", "path", "old_subtree",
                                      NULL};
    static const char *const svk[] = {"name", "identity_key", "where", NULL};
    static const char *const obk[] = {"path",     "sha256",   "length", "base64",
                                      "position", "expected", "found",  NULL};
    int bad = 0;
    const char *s;
    json_t *log, *arr, *x;
    size_t i;

    if (!only_keys(root, top))
        return CKV_ERR_EVIDENCE_MALFORMED;
    s = str_of(root, "format", 64, 1, &bad);
    if (bad || strcmp(s, CKV_EVIDENCE_FORMAT) != 0)
        return CKV_ERR_EVIDENCE_MALFORMED;
    s = str_of(root, "kind", 31, 1, &bad);
    if (bad || !ckv_evidence_word_ok(s))
        return CKV_ERR_EVIDENCE_MALFORMED;
    snprintf(ev->kind, sizeof ev->kind, "%s", s);
    if ((s = str_of(root, "summary", CKV_EVIDENCE_TEXT_MAX, 1, &bad)) != NULL &&
        (ev->summary = strdup(s)) == NULL)
        return CKV_ERR_NOMEM;
    (void)str_of(root, "detected_at", 31, 1, &bad);
    (void)str_of(root, "reporter", CKV_EVIDENCE_TEXT_MAX, 0, &bad);
    (void)str_of(root, "detail", CKV_EVIDENCE_TEXT_MAX, 0, &bad);
    log = json_object_get(root, "log");
    if (bad || !only_keys(log, logk))
        return CKV_ERR_EVIDENCE_MALFORMED;
    (void)str_of(log, "origin", 255, 1, &bad);
    (void)str_of(log, "source", CKV_EVIDENCE_TEXT_MAX, 0, &bad);
    s = str_of(log, "verifier_key", 1024, 1, &bad);
    if (bad || (ev->vkey = strdup(s)) == NULL)
        return bad ? CKV_ERR_EVIDENCE_MALFORMED : CKV_ERR_NOMEM;

    arr = json_object_get(root, "checkpoints");
    if (!json_is_array(arr) || json_array_size(arr) > CKV_EVIDENCE_MAX_CHECKPOINTS)
        return CKV_ERR_EVIDENCE_MALFORMED;
    json_array_foreach(arr, i, x)
    {
        struct ev_checkpoint *c = &ev->cp[i];
        s = str_of(x, "role", CKV_EVIDENCE_ROLE_MAX, 1, &bad);
        if (bad || !only_keys(x, cpk) || !ckv_evidence_word_ok(s))
            return CKV_ERR_EVIDENCE_MALFORMED;
        snprintf(c->role, sizeof c->role, "%s", s);
        if (!bytes_of(x, CKV_TLOG_NOTE_MAX_SIZE, &c->note, &c->len))
            return CKV_ERR_EVIDENCE_MALFORMED;
        ev->ncp++;
    }
    arr = json_object_get(root, "entries");
    if (!json_is_array(arr) || json_array_size(arr) > CKV_EVIDENCE_MAX_ENTRIES)
        return CKV_ERR_EVIDENCE_MALFORMED;
    json_array_foreach(arr, i, x)
    {
        struct ev_entry *e = calloc(1, sizeof *e);
        json_t *p;
        if (e == NULL)
            return CKV_ERR_NOMEM;
        ev->ent[ev->nent++] = e;
        s = str_of(x, "role", CKV_EVIDENCE_ROLE_MAX, 1, &bad);
        if (bad || !only_keys(x, enk) || !ckv_evidence_word_ok(s) ||
            !u64_of(x, "leaf_index", &e->index) ||
            !bytes_of(x, CKV_TLOG_NOTE_MAX_SIZE, &e->data, &e->len))
            return CKV_ERR_EVIDENCE_MALFORMED;
        snprintf(e->role, sizeof e->role, "%s", s);
        p = json_object_get(x, "inclusion_proof");
        if (p != NULL) {
            uint64_t cpi;
            if (!only_keys(p, prk) || !u64_of(p, "checkpoint", &cpi) || cpi >= ev->ncp ||
                !path_of(json_object_get(p, "path"), e->path, &e->path_len))
                return CKV_ERR_EVIDENCE_MALFORMED;
            e->has_proof = 1;
            e->cp = (size_t)cpi;
        }
    }
    x = json_object_get(root, "consistency_proof");
    if (x != NULL) {
        uint64_t a, b;
        if (!only_keys(x, cok) || !u64_of(x, "old_checkpoint", &a) ||
            !u64_of(x, "new_checkpoint", &b) || a >= ev->ncp || b >= ev->ncp || a == b ||
            !path_of(json_object_get(x, "path"), ev->cons_path, &ev->cons_len))
            return CKV_ERR_EVIDENCE_MALFORMED;
        ev->cons_old = (size_t)a;
        ev->cons_new = (size_t)b;
        ev->has_cons = 1;
        if (json_object_get(x, "old_subtree") != NULL) {
            if (!hex32(json_string_value(json_object_get(x, "old_subtree")), &ev->subtree))
                return CKV_ERR_EVIDENCE_MALFORMED;
            ev->has_subtree = 1;
        }
    }
    x = json_object_get(root, "served");
    if (x != NULL) {
        const char *k = str_of(x, "identity_key", 64, 1, &bad);
        size_t kl = 0;
        s = str_of(x, "name", CKV_NAME_MAX, 1, &bad);
        (void)str_of(x, "where", CKV_EVIDENCE_TEXT_MAX, 1, &bad);
        if (bad || !only_keys(x, svk) ||
            sodium_base642bin(ev->served_key, sizeof ev->served_key, k, strlen(k), NULL, &kl, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            kl != CKV_EVIDENCE_IDENTITY_KEY_LEN)
            return CKV_ERR_EVIDENCE_MALFORMED;
        if ((ev->served_name = strdup(s)) == NULL)
            return CKV_ERR_NOMEM;
        ev->has_served = 1;
    }
    x = json_object_get(root, "object");
    if (x != NULL) {
        const char *op = str_of(x, "path", 1024, 1, &bad);
        if (!only_keys(x, obk) || op == NULL || bad)
            return CKV_ERR_EVIDENCE_MALFORMED;
        if ((ev->obj_path = strdup(op)) == NULL)
            return CKV_ERR_NOMEM;
        uint64_t pos;
        (void)str_of(x, "expected", 256, 0, &bad);
        (void)str_of(x, "found", 256, 0, &bad);
        if (bad || (json_object_get(x, "position") != NULL && !u64_of(x, "position", &pos)))
            return CKV_ERR_EVIDENCE_MALFORMED;
        ev->has_object = 1;
        if (json_object_get(x, "base64") != NULL) {
            uint64_t l;
            ckv_tlog_hash want, got;
            if (!bytes_of(x, CKV_EVIDENCE_FILE_MAX, &ev->obj, &ev->obj_len) ||
                !u64_of(x, "length", &l) || l != ev->obj_len ||
                !hex32(json_string_value(json_object_get(x, "sha256")), &want))
                return CKV_ERR_EVIDENCE_MALFORMED;
            crypto_hash_sha256(got.b, ev->obj, ev->obj_len);
            if (!ckv_tlog_hash_equal(&want, &got))
                return CKV_ERR_EVIDENCE_MALFORMED;
        }
    }
    return CKV_OK;
}

/* ---- checking ------------------------------------------------------------------ */

struct check {
    ckv_evidence *ev;
    ckv_evidence_result *r;
    ckv_tlog_verifier *v;
    int cp_ok[CKV_EVIDENCE_MAX_CHECKPOINTS];
    ckv_tlog_checkpoint *cp;              /* [ncp] */
    int ent_in[CKV_EVIDENCE_MAX_ENTRIES]; /* inclusion proof verifies */
    int ent_parsed[CKV_EVIDENCE_MAX_ENTRIES];
    ckv_dir_entry *de; /* [nent] */
};

static void add(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *buf, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;
    if (n + 2 >= cap)
        return;
    if (n > 0)
        buf[n++] = '\n';
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

#define PROVEN(c, ...)                                                                             \
    add((c)->r->proven_by_signatures, sizeof(c)->r->proven_by_signatures, __VA_ARGS__)
#define REPORTED(c, ...) add((c)->r->reported, sizeof(c)->r->reported, __VA_ARGS__)
#define WHYNOT(c, ...) add((c)->r->why_not, sizeof(c)->r->why_not, __VA_ARGS__)

static void open_checkpoints(struct check *c)
{
    const ckv_tlog_verifier *vs[1] = {c->v};
    for (size_t i = 0; i < c->ev->ncp; i++) {
        struct ev_checkpoint *x = &c->ev->cp[i];
        ckv_status st = ckv_tlog_checkpoint_open((const char *)x->note, x->len, c->r->origin, vs, 1,
                                                 &c->cp[i], NULL);
        c->cp_ok[i] = st == CKV_OK;
        if (st == CKV_OK)
            PROVEN(c, "checkpoint %zu (%s) is signed by the log: size %" PRIu64 ".", i, x->role,
                   c->cp[i].size);
        else
            REPORTED(c, "checkpoint %zu (%s) is not a valid signed checkpoint of the log (%s).", i,
                     x->role, ckv_status_name(st));
    }
}

static void check_entries(struct check *c)
{
    for (size_t i = 0; i < c->ev->nent; i++) {
        struct ev_entry *e = c->ev->ent[i];
        ckv_tlog_hash leaf;
        c->ent_parsed[i] = e->len <= CKV_DIR_ENTRY_MAX &&
                           ckv_dir_entry_parse(e->data, e->len, &c->de[i]) == CKV_OK;
        ckv_tlog_leaf_hash(e->data, e->len, &leaf);
        if (e->has_proof && c->cp_ok[e->cp] &&
            ckv_tlog_verify_inclusion(e->index, c->cp[e->cp].size, &leaf, e->path, e->path_len,
                                      &c->cp[e->cp].root) == CKV_OK) {
            c->ent_in[i] = 1;
            PROVEN(c,
                   "entry %zu (%s) is leaf %" PRIu64 " of the log (inclusion proof under "
                   "checkpoint %zu).",
                   i, e->role, e->index, e->cp);
        } else if (e->has_proof) {
            REPORTED(c,
                     "entry %zu (%s) at leaf %" PRIu64 ": its inclusion proof does not "
                     "verify against checkpoint %zu.",
                     i, e->role, e->index, e->cp);
        } else {
            REPORTED(c, "entry %zu (%s) at leaf %" PRIu64 " carries no inclusion proof.", i,
                     e->role, e->index);
        }
    }
}

/* Two signed checkpoints a (smaller or equal size) and b: 1 when they are
 * proven inconsistent (fork). *bad_proof set when a consistency proof is
 * present and does not verify (reported). */
static int fork_between(struct check *c, size_t a, size_t b, int *bad_proof)
{
    ckv_tlog_checkpoint *x = &c->cp[a], *y = &c->cp[b];
    ckv_tlog_hash fr, sr;
    char h1[65], h2[65];
    *bad_proof = 0;
    if (x->size > y->size) {
        size_t t = a;
        a = b;
        b = t;
        x = &c->cp[a];
        y = &c->cp[b];
    }
    if (x->size == y->size) {
        if (ckv_tlog_hash_equal(&x->root, &y->root)) {
            WHYNOT(c, "checkpoints %zu and %zu have the same size and the same root: no fork.", a,
                   b);
            return 0;
        }
        ckv_tlog_hash_to_hex(&x->root, h1);
        ckv_tlog_hash_to_hex(&y->root, h2);
        PROVEN(c, "the log signed two different roots for size %" PRIu64 ": %s and %s (a fork).",
               x->size, h1, h2);
        return 1;
    }
    if (!c->ev->has_cons || !((c->ev->cons_old == a && c->ev->cons_new == b))) {
        WHYNOT(c,
               "the checkpoints have different sizes and the file has no consistency proof "
               "from checkpoint %zu to %zu.",
               a, b);
        return 0;
    }
    if (x->size == 0) {
        WHYNOT(c, "the empty tree is a prefix of every tree: no fork.");
        return 0;
    }
    if (ckv_tlog_roots_from_consistency(x->size, y->size,
                                        c->ev->has_subtree ? &c->ev->subtree : NULL,
                                        c->ev->cons_path, c->ev->cons_len, &fr, &sr) != CKV_OK ||
        !ckv_tlog_hash_equal(&sr, &y->root)) {
        *bad_proof = 1;
        REPORTED(c,
                 "the consistency proof from size %" PRIu64 " to %" PRIu64
                 " does not verify to the signed root of size %" PRIu64 ".",
                 x->size, y->size, y->size);
        WHYNOT(c,
               "the consistency proof does not reproduce the signed root of size %" PRIu64
               ", so it shows nothing about the first %" PRIu64 " leaves.",
               y->size, x->size);
        return 0;
    }
    if (ckv_tlog_hash_equal(&fr, &x->root)) {
        WHYNOT(c,
               "the consistency proof verifies: the tree of size %" PRIu64
               " is a prefix of the tree of size %" PRIu64 " (no fork).",
               x->size, y->size);
        return 0;
    }
    ckv_tlog_hash_to_hex(&fr, h1);
    ckv_tlog_hash_to_hex(&x->root, h2);
    PROVEN(c,
           "the consistency proof reproduces the signed root of size %" PRIu64
           ", and by it the first %" PRIu64 " leaves of that tree hash to %s, not to the "
           "signed root %s of size %" PRIu64 " (a fork).",
           y->size, x->size, h1, h2, x->size);
    return 1;
}

static size_t signed_cps(struct check *c, size_t *first, size_t *second)
{
    size_t n = 0;
    for (size_t i = 0; i < c->ev->ncp; i++)
        if (c->cp_ok[i]) {
            if (n == 0)
                *first = i;
            else if (n == 1)
                *second = i;
            n++;
        }
    return n;
}

static int kind_fork(struct check *c, int split)
{
    size_t a = 0, b = 0;
    int bad_proof = 0, p;
    if (signed_cps(c, &a, &b) < 2) {
        WHYNOT(c, "a %s needs two checkpoints signed by the log.", split ? "split view" : "fork");
        return 0;
    }
    p = fork_between(c, a, b, &bad_proof);
    if (!p && split && bad_proof) {
        REPORTED(c, "an honest log can prove any checkpoint it signed consistent with any "
                    "larger one it signed; the server's failing proof means its views are "
                    "split or it lied in the proof (the proof itself is its unsigned answer).");
        return 1;
    }
    return p;
}

static int kind_rollback(struct check *c)
{
    size_t a = 0, b = 0;
    int bad_proof;
    if (signed_cps(c, &a, &b) < 2) {
        WHYNOT(c, "a rollback needs two checkpoints signed by the log.");
        return 0;
    }
    if (c->cp[b].size >= c->cp[a].size) {
        WHYNOT(c,
               "the later checkpoint (%s, size %" PRIu64 ") is not smaller than the earlier "
               "one (%s, size %" PRIu64 ").",
               c->ev->cp[b].role, c->cp[b].size, c->ev->cp[a].role, c->cp[a].size);
        return 0;
    }
    REPORTED(c,
             "the writer accepted checkpoint %zu (size %" PRIu64 ") first and was served "
             "checkpoint %zu (size %" PRIu64 ") later: the order is not signed.",
             a, c->cp[a].size, b, c->cp[b].size);
    if (fork_between(c, a, b, &bad_proof))
        return 1;
    c->r->why_not[0] = 0;
    return 1;
}

static int kind_bad_proof(struct check *c)
{
    int shown = 0;
    for (size_t i = 0; i < c->ev->nent; i++) {
        struct ev_entry *e = c->ev->ent[i];
        if (!e->has_proof || !c->cp_ok[e->cp] || c->ent_in[i])
            continue;
        REPORTED(c,
                 "the server answered with this inclusion proof for leaf %" PRIu64
                 " under checkpoint %zu, signed by the log; it does not verify.",
                 e->index, e->cp);
        shown = 1;
    }
    if (c->ev->has_cons && c->cp_ok[c->ev->cons_old] && c->cp_ok[c->ev->cons_new]) {
        ckv_tlog_checkpoint *x = &c->cp[c->ev->cons_old], *y = &c->cp[c->ev->cons_new];
        if (ckv_tlog_verify_consistency(x->size, y->size, &x->root, &y->root, c->ev->cons_path,
                                        c->ev->cons_len) != CKV_OK) {
            REPORTED(c,
                     "the server answered with this consistency proof from size %" PRIu64
                     " to %" PRIu64 " between checkpoints it signed; it does not verify.",
                     x->size, y->size);
            shown = 1;
        }
    }
    if (!shown)
        WHYNOT(c, "no proof in the file fails against a signed checkpoint.");
    return shown;
}

static int kind_key_not_in_log(struct check *c)
{
    if (!c->ev->has_served || c->ev->nent < 1 || !c->ent_in[0] || !c->ent_parsed[0]) {
        WHYNOT(c, "key_not_in_log needs a served key and a directory entry proven in the log.");
        return 0;
    }
    if (strcmp(c->de[0].name, c->ev->served_name) != 0) {
        WHYNOT(c, "the entry is for '%s', the served key for '%s'.", c->de[0].name,
               c->ev->served_name);
        return 0;
    }
    if (sodium_memcmp(c->de[0].key, c->ev->served_key, CKV_EVIDENCE_IDENTITY_KEY_LEN) == 0) {
        WHYNOT(c, "the served key is the logged key.");
        return 0;
    }
    PROVEN(c, "the log's entry for '%s' (version %" PRIu64 ") carries another identity key.",
           c->de[0].name, c->de[0].version);
    REPORTED(c,
             "the server served a different identity key for '%s' (the served key is its "
             "unsigned answer; that the entry was the latest is what its lookup claimed).",
             c->ev->served_name);
    return 1;
}

/* One proven entry alone breaks the rules. */
static int single_broken(struct check *c, size_t i)
{
    struct ev_entry *e = c->ev->ent[i];
    ckv_dir_entry *d = &c->de[i];
    if (!c->ent_parsed[i]) {
        PROVEN(c, "leaf %" PRIu64 " of the log is not a valid directory entry.", e->index);
        return 1;
    }
    if (strcmp(d->origin, c->r->origin) != 0) {
        PROVEN(c, "leaf %" PRIu64 " is an entry of another log ('%s').", e->index, d->origin);
        return 1;
    }
    if ((d->version == 1) != (d->type == CKV_DIR_REGISTER)) {
        PROVEN(c, "leaf %" PRIu64 " is a %s of version %" PRIu64 ".", e->index,
               ckv_dir_type_name(d->type), d->version);
        return 1;
    }
    if (d->type != CKV_DIR_ROTATE && ckv_dir_entry_verify(d, NULL) != CKV_OK) {
        PROVEN(c,
               "leaf %" PRIu64 " ('%s' version %" PRIu64 ") has a bad proof-of-possession "
               "signature.",
               e->index, d->name, d->version);
        return 1;
    }
    return 0;
}

static int kind_chain(struct check *c, int stale)
{
    size_t a = 0, b = 1;
    for (size_t i = 0; i < c->ev->nent; i++)
        if (!c->ent_in[i]) {
            WHYNOT(c, "entry %zu is not proven to be in the log.", i);
            return 0;
        }
    if (!stale && c->ev->nent == 1) {
        if (single_broken(c, 0))
            return 1;
        WHYNOT(c, "the single entry breaks no rule that can be checked on its own.");
        return 0;
    }
    if (c->ev->nent != 2 || !c->ent_parsed[0] || !c->ent_parsed[1]) {
        WHYNOT(c, "%s needs two directory entries.", stale ? "stale_entry" : "broken_chain");
        return 0;
    }
    if (!stale && (single_broken(c, 0) || single_broken(c, 1)))
        return 1;
    if (c->ev->ent[0]->index > c->ev->ent[1]->index) {
        a = 1;
        b = 0;
    }
    ckv_dir_entry *p = &c->de[a], *n = &c->de[b];
    uint64_t pi = c->ev->ent[a]->index, ni = c->ev->ent[b]->index;
    if (strcmp(p->name, n->name) != 0 || pi == ni) {
        WHYNOT(c, "the two entries are not two entries of one account.");
        return 0;
    }
    if (stale) {
        /* the served one must be older than the other */
        size_t s = strcmp(c->ev->ent[0]->role, "served") == 0 ? 0 : 1;
        if (c->de[s].version >= c->de[1 - s].version) {
            WHYNOT(c, "the served entry is not older than the other one.");
            return 0;
        }
        PROVEN(c,
               "'%s' has version %" PRIu64 " at leaf %" PRIu64 " and version %" PRIu64
               " at leaf %" PRIu64 ".",
               p->name, c->de[s].version, c->ev->ent[s]->index, c->de[1 - s].version,
               c->ev->ent[1 - s]->index);
        REPORTED(c, "the server served the older version %" PRIu64 " as the latest.",
                 c->de[s].version);
        return 1;
    }
    if (n->has_prev && n->prev_index == pi) {
        uint8_t lh[32];
        ckv_dir_leaf_hash(c->ev->ent[a]->data, c->ev->ent[a]->len, lh);
        ckv_status st = ckv_dir_chain_check(p, pi, lh, n);
        if (st == CKV_OK) {
            WHYNOT(c, "the later entry is a valid successor of the earlier one.");
            return 0;
        }
        PROVEN(c,
               "'%s' version %" PRIu64 " (leaf %" PRIu64 ") links to leaf %" PRIu64
               " but breaks the chain rules: %s",
               n->name, n->version, ni, pi, ckv_strerror(st));
        return 1;
    }
    if (n->version <= p->version + 1) {
        PROVEN(c,
               "'%s' version %" PRIu64 " at leaf %" PRIu64 " comes after version %" PRIu64
               " at leaf %" PRIu64 " without linking to it: each version must follow the "
               "previous one exactly once.",
               n->name, n->version, ni, p->version, pi);
        return 1;
    }
    WHYNOT(c, "the entries are far apart in the chain; the entries between them are needed.");
    return 0;
}

static void check(ckv_evidence *ev, ckv_evidence_result *r, ckv_tlog_verifier *v)
{
    struct check c = {.ev = ev, .r = r, .v = v};
    int p = 0;
    c.cp = calloc(CKV_EVIDENCE_MAX_CHECKPOINTS, sizeof *c.cp);
    c.de = calloc(CKV_EVIDENCE_MAX_ENTRIES, sizeof *c.de);
    if (c.cp == NULL || c.de == NULL) {
        WHYNOT(&c, "out of memory.");
        goto out;
    }
    open_checkpoints(&c);
    check_entries(&c);
    if (ev->has_served)
        REPORTED(&c, "the server served an identity key for '%s'.", ev->served_name);
    if (strcmp(ev->kind, "fork") == 0)
        p = kind_fork(&c, 0);
    else if (strcmp(ev->kind, "split_view") == 0)
        p = kind_fork(&c, 1);
    else if (strcmp(ev->kind, "rollback") == 0)
        p = kind_rollback(&c);
    else if (strcmp(ev->kind, "bad_proof") == 0)
        p = kind_bad_proof(&c);
    else if (strcmp(ev->kind, "key_not_in_log") == 0)
        p = kind_key_not_in_log(&c);
    else if (strcmp(ev->kind, "broken_chain") == 0)
        p = kind_chain(&c, 0);
    else if (strcmp(ev->kind, "stale_entry") == 0)
        p = kind_chain(&c, 1);
    else {
        REPORTED(&c, "the writer says: %s.", ev->summary ? ev->summary : "(no summary)");
        if (ev->has_object)
            REPORTED(&c, "the object at fault is %s.", ev->obj_path);
        WHYNOT(&c,
               "evidence of kind '%s' is the writer's report; it carries no proof that "
               "a third party can check.",
               ev->kind);
    }
    r->proven = p;
    if (p)
        r->why_not[0] = 0;
out:
    free(c.cp);
    free(c.de);
}

ckv_status ckv_evidence_verify_json(const char *json, size_t len, const char *expect_vkey,
                                    ckv_evidence_result *out)
{
    ckv_evidence *ev = NULL;
    ckv_tlog_verifier *v = NULL, *want = NULL;
    json_t *root = NULL;
    json_error_t jerr;
    ckv_status st;

    if (out == NULL)
        return CKV_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    if (json == NULL)
        return CKV_ERR_INVALID_ARG;
    if (len > CKV_EVIDENCE_FILE_MAX) {
        snprintf(out->why_not, sizeof out->why_not, "the file is over %u bytes.",
                 CKV_EVIDENCE_FILE_MAX);
        return CKV_ERR_TOO_LARGE;
    }
    if (sodium_init() < 0)
        return CKV_ERR_INVALID_ARG;
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(out->why_not, sizeof out->why_not, "not JSON: %s (line %d).", jerr.text,
                 jerr.line);
        return CKV_ERR_JSON;
    }
    ev = calloc(1, sizeof *ev);
    if (ev == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    st = parse(root, ev);
    if (st != CKV_OK) {
        snprintf(out->why_not, sizeof out->why_not,
                 "the file is not valid %s evidence (a key is missing, unknown or malformed).",
                 CKV_EVIDENCE_FORMAT);
        goto out;
    }
    snprintf(out->kind, sizeof out->kind, "%s", ev->kind);
    st = ckv_tlog_verifier_parse(ev->vkey, strlen(ev->vkey), &v);
    if (st != CKV_OK || ckv_tlog_verifier_type(v) != CKV_TLOG_KEY_TYPE_ED25519) {
        snprintf(out->why_not, sizeof out->why_not,
                 "the file's log verifier key is not a valid Ed25519 verifier key.");
        st = CKV_ERR_TLOG_BAD_KEY;
        goto out;
    }
    if (expect_vkey != NULL) {
        st = ckv_tlog_verifier_parse(expect_vkey, strlen(expect_vkey), &want);
        if (st != CKV_OK)
            goto out;
        if (strcmp(ckv_tlog_verifier_name(want), ckv_tlog_verifier_name(v)) != 0 ||
            ckv_tlog_verifier_key_id(want) != ckv_tlog_verifier_key_id(v) ||
            strcmp(expect_vkey, ev->vkey) != 0) {
            snprintf(out->why_not, sizeof out->why_not,
                     "the file is about log key %s, not the one given.", ev->vkey);
            st = CKV_ERR_EVIDENCE_KEY;
            goto out;
        }
    }
    snprintf(out->origin, sizeof out->origin, "%s", ckv_tlog_verifier_name(v));
    check(ev, out, v);
    st = CKV_OK;
out:
    ckv_tlog_verifier_free(v);
    ckv_tlog_verifier_free(want);
    ckv_evidence_free(ev);
    json_decref(root);
    return st;
}

ckv_status ckv_evidence_verify_file(const char *path, const char *expect_vkey,
                                    ckv_evidence_result *out)
{
    FILE *f;
    char *buf = NULL;
    size_t n;
    ckv_status st;
    if (out == NULL || path == NULL)
        return CKV_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(out->why_not, sizeof out->why_not, "cannot open %s.", path);
        return CKV_ERR_NOT_FOUND;
    }
    buf = malloc(CKV_EVIDENCE_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return CKV_ERR_NOMEM;
    }
    n = fread(buf, 1, CKV_EVIDENCE_FILE_MAX + 1, f);
    if (ferror(f)) {
        snprintf(out->why_not, sizeof out->why_not, "cannot read %s.", path);
        st = CKV_ERR_IO;
    } else {
        st = ckv_evidence_verify_json(buf, n, expect_vkey, out);
    }
    fclose(f);
    free(buf);
    return st;
}
