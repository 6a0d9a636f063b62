/*
 * audit_dir.c: the directory mode's account table (audit_dir.h). One
 * record per account name in an open-addressing hash table (FNV-1a over
 * the name; the table doubles at 1/2 load): the latest entry's encoding
 * (needed to check the next one: previous key, leaf hash), its leaf index,
 * and counts for the report. Entries arrive in leaf order, so "the latest
 * entry" is the one a new entry of the account must link to.
 */
#include "audit_dir.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "ckv/dir_entry.h"
#include "tool_util.h"

struct account {
    char *name;      /* NULL: empty slot */
    uint8_t *latest; /* encoding of the latest entry */
    size_t latest_len;
    uint64_t latest_index, first_index;
    uint64_t version, rotations, resets;
    uint8_t key[CKV_IDENTITY_KEY_LEN];
};

struct audit_dir {
    char origin[CKV_DIR_ORIGIN_MAX + 1];
    struct account *t;
    size_t cap, n;
    uint64_t next, entries, rotations, resets;
};

audit_dir *audit_dir_new(const char *origin)
{
    audit_dir *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    snprintf(d->origin, sizeof d->origin, "%s", origin);
    d->cap = 64;
    d->t = calloc(d->cap, sizeof *d->t);
    if (d->t == NULL) {
        free(d);
        return NULL;
    }
    return d;
}

void audit_dir_free(audit_dir *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->cap; i++) {
        free(d->t[i].name);
        free(d->t[i].latest);
    }
    free(d->t);
    free(d);
}

static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return (size_t)h;
}

static struct account *slot(struct account *t, size_t cap, const char *name)
{
    size_t i = hash(name) & (cap - 1);
    while (t[i].name != NULL && strcmp(t[i].name, name) != 0)
        i = (i + 1) & (cap - 1);
    return &t[i];
}

static ckv_status grow(audit_dir *d)
{
    size_t cap = d->cap * 2;
    struct account *t = calloc(cap, sizeof *t);
    if (t == NULL)
        return CKV_ERR_NOMEM;
    for (size_t i = 0; i < d->cap; i++)
        if (d->t[i].name != NULL)
            *slot(t, cap, d->t[i].name) = d->t[i];
    free(d->t);
    d->t = t;
    d->cap = cap;
    return CKV_OK;
}

ckv_status audit_dir_add(audit_dir *d, uint64_t index, const uint8_t *data, size_t len,
                         audit_dir_violation *v)
{
    ckv_dir_entry *e = NULL, *prev = NULL;
    struct account *a;
    uint8_t *copy = NULL;
    ckv_status st;

    if (index != d->next)
        return CKV_ERR_INVALID_ARG;
    e = malloc(sizeof *e);
    prev = malloc(sizeof *prev);
    if (e == NULL || prev == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    memset(v, 0, sizeof *v);
    v->index = index;
    st = len > CKV_DIR_ENTRY_MAX ? CKV_ERR_TOO_LARGE : ckv_dir_entry_parse(data, len, e);
    if (st != CKV_OK) {
        snprintf(v->why, sizeof v->why, "leaf %llu is not a directory entry (%s)",
                 (unsigned long long)index, ckv_status_name(st));
        st = CKV_ERR_DIR_BAD_CHAIN;
        goto out;
    }
    if (strcmp(e->origin, d->origin) != 0) {
        snprintf(v->why, sizeof v->why, "leaf %llu is an entry of another log ('%s')",
                 (unsigned long long)index, e->origin);
        st = CKV_ERR_DIR_BAD_CHAIN;
        goto out;
    }
    if (d->n + 1 > d->cap / 2 && (st = grow(d)) != CKV_OK)
        goto out;
    a = slot(d->t, d->cap, e->name);
    if (a->name != NULL) {
        uint8_t plh[32];
        if (ckv_dir_entry_parse(a->latest, a->latest_len, prev) != CKV_OK) {
            st = CKV_ERR_INVALID_ARG; /* we stored it: cannot happen */
            goto out;
        }
        ckv_dir_leaf_hash(a->latest, a->latest_len, plh);
        st = ckv_dir_chain_check(prev, a->latest_index, plh, e);
    } else {
        st = ckv_dir_chain_check(NULL, 0, NULL, e);
    }
    if (st != CKV_OK) {
        if (a->name != NULL) {
            v->has_prev = 1;
            v->prev_index = a->latest_index;
            v->prev_data = a->latest;
            v->prev_len = a->latest_len;
            snprintf(v->why, sizeof v->why,
                     "'%s' %s version %llu at leaf %llu does not follow version %llu at leaf "
                     "%llu: %s",
                     e->name, ckv_dir_type_name(e->type), (unsigned long long)e->version,
                     (unsigned long long)index, (unsigned long long)a->version,
                     (unsigned long long)a->latest_index, ckv_strerror(st));
        } else {
            snprintf(v->why, sizeof v->why,
                     "'%s' %s version %llu at leaf %llu is not a valid first entry: %s", e->name,
                     ckv_dir_type_name(e->type), (unsigned long long)e->version,
                     (unsigned long long)index, ckv_strerror(st));
        }
        st = CKV_ERR_DIR_BAD_CHAIN;
        goto out;
    }
    copy = malloc(len);
    if (copy == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    memcpy(copy, data, len);
    if (a->name == NULL) {
        if ((a->name = strdup(e->name)) == NULL) {
            st = CKV_ERR_NOMEM;
            goto out;
        }
        a->first_index = index;
        d->n++;
    }
    free(a->latest);
    a->latest = copy;
    copy = NULL;
    a->latest_len = len;
    a->latest_index = index;
    a->version = e->version;
    memcpy(a->key, e->key, sizeof a->key);
    if (e->type == CKV_DIR_ROTATE) {
        a->rotations++;
        d->rotations++;
    } else if (e->type == CKV_DIR_RESET) {
        a->resets++;
        d->resets++;
    }
    d->entries++;
    d->next++;
out:
    free(copy);
    free(e);
    free(prev);
    return st;
}

static int by_name(const void *x, const void *y)
{
    const struct account *a = *(const struct account *const *)x,
                         *b = *(const struct account *const *)y;
    return strcmp(a->name, b->name);
}

/* The accounts sorted by name (array of pointers; caller frees). */
static const struct account **sorted(const audit_dir *d)
{
    const struct account **l = malloc((d->n + 1) * sizeof *l);
    size_t k = 0;
    if (l == NULL)
        return NULL;
    for (size_t i = 0; i < d->cap; i++)
        if (d->t[i].name != NULL)
            l[k++] = &d->t[i];
    qsort(l, k, sizeof *l, by_name);
    return l;
}

void audit_dir_print(const audit_dir *d, FILE *out)
{
    const struct account **l = sorted(d);
    fprintf(out,
            "directory: %llu entries, %zu accounts, %llu key rotations, %llu resets; every "
            "chain holds\n",
            (unsigned long long)d->entries, d->n, (unsigned long long)d->rotations,
            (unsigned long long)d->resets);
    for (size_t i = 0; l != NULL && i < d->n; i++)
        fprintf(out,
                "account %s: version %llu (latest at leaf %llu), %llu key change%s (%llu "
                "rotation%s, %llu reset%s)\n",
                l[i]->name, (unsigned long long)l[i]->version,
                (unsigned long long)l[i]->latest_index, (unsigned long long)(l[i]->version - 1),
                l[i]->version == 2 ? "" : "s", (unsigned long long)l[i]->rotations,
                l[i]->rotations == 1 ? "" : "s", (unsigned long long)l[i]->resets,
                l[i]->resets == 1 ? "" : "s");
    free(l);
}

ckv_status audit_dir_write_json(const audit_dir *d, const char *path, uint64_t tree_size)
{
    const struct account **l = sorted(d);
    json_t *root = json_object(), *arr = json_array();
    char *text = NULL;
    ckv_status st = CKV_ERR_NOMEM;

    if (l == NULL || root == NULL || arr == NULL)
        goto out;
    json_object_set_new(root, "format", json_string("ckv-audit-directory-report/1"));
    json_object_set_new(root, "origin", json_string(d->origin));
    json_object_set_new(root, "tree_size", json_integer((json_int_t)tree_size));
    json_object_set_new(root, "entries", json_integer((json_int_t)d->entries));
    json_object_set_new(root, "account_count", json_integer((json_int_t)d->n));
    json_object_set_new(root, "rotations", json_integer((json_int_t)d->rotations));
    json_object_set_new(root, "resets", json_integer((json_int_t)d->resets));
    for (size_t i = 0; i < d->n; i++) {
        char b64[64];
        json_t *o = json_object();
        sodium_bin2base64(b64, sizeof b64, l[i]->key, sizeof l[i]->key,
                          sodium_base64_VARIANT_ORIGINAL);
        json_object_set_new(o, "name", json_string(l[i]->name));
        json_object_set_new(o, "version", json_integer((json_int_t)l[i]->version));
        json_object_set_new(o, "key_changes", json_integer((json_int_t)(l[i]->version - 1)));
        json_object_set_new(o, "rotations", json_integer((json_int_t)l[i]->rotations));
        json_object_set_new(o, "resets", json_integer((json_int_t)l[i]->resets));
        json_object_set_new(o, "first_leaf", json_integer((json_int_t)l[i]->first_index));
        json_object_set_new(o, "latest_leaf", json_integer((json_int_t)l[i]->latest_index));
        json_object_set_new(o, "identity_key", json_string(b64));
        json_array_append_new(arr, o);
    }
    json_object_set_new(root, "accounts", arr);
    arr = NULL;
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text == NULL)
        goto out;
    size_t n = strlen(text);
    char *t2 = realloc(text, n + 2);
    if (t2 == NULL)
        goto out;
    text = t2;
    text[n] = '\n';
    st = tool_write_file_atomic(path, text, n + 1, 0600);
out:
    free(text);
    free(l);
    json_decref(arr);
    json_decref(root);
    return st;
}
