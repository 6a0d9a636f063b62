/*
 * contact.c: contacts, their trust state and journal, and the trust rules.
 *
 * A contact row is contacts(name_h, v) with v sealed (AD = name_h) holding
 * the record below; the journal lives inside the record, so it is sealed
 * with it and cannot be reordered or moved to another contact:
 *   u8 version (1) | u8 name_len | name | key[33] | u8 state | u8 method |
 *   i64 method_at | i64 first_seen | u32 n_events | n_events x event
 *   event = u8 kind | i64 at | u8 method | key[33] | old_key[33]
 * (integers big-endian). Parsing is strict; anything off is
 * CKV_ERR_PROFILE_DAMAGED.
 *
 * Trust rules (docs/core.md "Trust states"):
 *   new key for an unknown name         -> contact created, unverified
 *   same key                            -> nothing
 *   changed key, unverified or logged   -> key replaced, unverified, journaled,
 *                                          reported (never blocked)
 *   changed key, verified or changed    -> from a bundle / pin: key replaced,
 *                                          state changed (sending blocked);
 *                                          from a PreKey message: the caller
 *                                          refuses the message and journals
 *                                          the change once authenticated.
 */
#include "internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REC_VERSION 1
#define EVENT_LEN (1 + 8 + 1 + 33 + 33)
#define EVENTS_MAX 100000

static void put64(uint8_t *b, int64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
}

static int64_t get64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return (int64_t)v;
}

static ckv_status encode(const ckv_contact *c, uint8_t **out, size_t *out_len)
{
    size_t nl = strlen(c->name);
    size_t len = 1 + 1 + nl + 33 + 1 + 1 + 8 + 8 + 4 + c->n_events * EVENT_LEN;
    uint8_t *b = malloc(len), *w;
    if (b == NULL)
        return CKV_ERR_NOMEM;
    w = b;
    *w++ = REC_VERSION;
    *w++ = (uint8_t)nl;
    memcpy(w, c->name, nl);
    w += nl;
    memcpy(w, c->identity_key, 33);
    w += 33;
    *w++ = (uint8_t)c->state;
    *w++ = (uint8_t)c->method;
    put64(w, c->method_at);
    w += 8;
    put64(w, c->first_seen);
    w += 8;
    ckv_be32(w, (uint32_t)c->n_events);
    w += 4;
    for (size_t i = 0; i < c->n_events; i++) {
        const ckv_trust_event *e = &c->events[i];
        *w++ = (uint8_t)e->kind;
        put64(w, e->at);
        w += 8;
        *w++ = (uint8_t)e->method;
        memcpy(w, e->key, 33);
        w += 33;
        memcpy(w, e->old_key, 33);
        w += 33;
    }
    *out = b;
    *out_len = len;
    return CKV_OK;
}

static ckv_status decode(const uint8_t *b, size_t len, ckv_contact **out)
{
    ckv_contact *c = calloc(1, sizeof *c);
    size_t nl, off = 0;
    uint32_t n;
    if (c == NULL)
        return CKV_ERR_NOMEM;
    if (len < 2 || b[0] != REC_VERSION)
        goto bad;
    nl = b[1];
    off = 2;
    if (nl == 0 || nl > CKV_NAME_MAX || len < off + nl + 33 + 2 + 16 + 4)
        goto bad;
    memcpy(c->name, b + off, nl);
    c->name[nl] = 0;
    off += nl;
    memcpy(c->identity_key, b + off, 33);
    off += 33;
    if (b[off] > CKV_TRUST_CHANGED || b[off + 1] > CKV_VERIFY_ACCEPTED)
        goto bad;
    c->state = (ckv_trust_state)b[off];
    c->method = (ckv_verify_method)b[off + 1];
    off += 2;
    c->method_at = get64(b + off);
    c->first_seen = get64(b + off + 8);
    off += 16;
    n = ((uint32_t)b[off] << 24) | ((uint32_t)b[off + 1] << 16) | ((uint32_t)b[off + 2] << 8) |
        b[off + 3];
    off += 4;
    if (n > EVENTS_MAX || len - off != (size_t)n * EVENT_LEN)
        goto bad;
    if (n > 0) {
        c->events = calloc(n, sizeof *c->events);
        if (c->events == NULL) {
            free(c);
            return CKV_ERR_NOMEM;
        }
    }
    c->n_events = n;
    for (uint32_t i = 0; i < n; i++) {
        ckv_trust_event *e = &c->events[i];
        const uint8_t *r = b + off + (size_t)i * EVENT_LEN;
        if (r[0] < CKV_EVENT_FIRST_SEEN || r[0] > CKV_EVENT_UNVERIFIED || r[9] > CKV_VERIFY_ACCEPTED)
            goto bad;
        e->kind = (ckv_trust_event_kind)r[0];
        e->at = get64(r + 1);
        e->method = (ckv_verify_method)r[9];
        memcpy(e->key, r + 10, 33);
        memcpy(e->old_key, r + 43, 33);
    }
    *out = c;
    return CKV_OK;
bad:
    ckv_contact_free(c);
    return CKV_ERR_PROFILE_DAMAGED;
}

void ckv_contact_free(ckv_contact *c)
{
    if (c == NULL)
        return;
    free(c->events);
    free(c);
}

void ckv_contact_list_free(ckv_contact *list, size_t count)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        free(list[i].events);
    free(list);
}

static int session_exists_h(ckv_profile *p, const uint8_t h[32])
{
    sqlite3_stmt *s = ckv_stmt(p, STMT_SESSION_HAS);
    int r;
    sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, 1);
    r = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_reset(s);
    return r;
}

/* name must be normalised. CKV_ERR_NO_CONTACT when absent. */
ckv_status ckv_contact_load(ckv_profile *p, const char *name, ckv_contact **out)
{
    uint8_t h[32], *plain = NULL;
    size_t plain_len = 0;
    sqlite3_stmt *s;
    ckv_status st;
    int rc;

    ckv_name_hash(p, name, strlen(name), h);
    s = ckv_stmt(p, STMT_CONTACT_GET);
    sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return rc == SQLITE_DONE ? CKV_ERR_NO_CONTACT : ckv_db_status(rc);
    }
    st = ckv_unseal(p->seal_key, SEAL_CONTACT, h, 32, sqlite3_column_blob(s, 0),
                    (size_t)sqlite3_column_bytes(s, 0), &plain, &plain_len);
    sqlite3_reset(s);
    if (st != CKV_OK)
        return st;
    st = decode(plain, plain_len, out);
    ckv_wipe_free(plain, plain_len);
    if (st == CKV_OK && strcmp((*out)->name, name) != 0) {
        ckv_contact_free(*out);
        st = CKV_ERR_PROFILE_DAMAGED;
    }
    if (st == CKV_OK)
        (*out)->has_session = session_exists_h(p, h);
    return st;
}

static ckv_status contact_store(ckv_profile *p, const ckv_contact *c)
{
    uint8_t h[32], *rec = NULL, *sealed = NULL;
    size_t rec_len = 0, sealed_len = 0;
    sqlite3_stmt *s;
    ckv_status st;
    int rc;

    ckv_name_hash(p, c->name, strlen(c->name), h);
    st = encode(c, &rec, &rec_len);
    if (st != CKV_OK)
        return st;
    st = ckv_seal(p->seal_key, SEAL_CONTACT, h, 32, rec, rec_len, &sealed, &sealed_len);
    ckv_wipe_free(rec, rec_len);
    if (st != CKV_OK)
        return st;
    s = ckv_stmt(p, STMT_CONTACT_PUT);
    sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, sealed, (int)sealed_len, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    free(sealed);
    return rc == SQLITE_DONE ? CKV_OK : ckv_db_status(rc);
}

static ckv_status add_event(ckv_contact *c, ckv_trust_event_kind kind, ckv_verify_method m,
                            const uint8_t key[33], const uint8_t *old_key, int64_t now)
{
    ckv_trust_event *ev;
    if (c->n_events >= EVENTS_MAX) {
        /* keep the journal bounded: drop the oldest entry after the first */
        memmove(&c->events[1], &c->events[2], (c->n_events - 2) * sizeof *c->events);
        c->n_events--;
    }
    ev = realloc(c->events, (c->n_events + 1) * sizeof *ev);
    if (ev == NULL)
        return CKV_ERR_NOMEM;
    c->events = ev;
    ev = &c->events[c->n_events++];
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    ev->at = now;
    ev->method = m;
    memcpy(ev->key, key, 33);
    if (old_key != NULL)
        memcpy(ev->old_key, old_key, 33);
    return CKV_OK;
}

static void fill_report(ckv_trust_report *r, const ckv_contact *c)
{
    if (r == NULL)
        return;
    r->state = c->state;
    r->blocked = c->state == CKV_TRUST_CHANGED;
    memcpy(r->new_key, c->identity_key, 33);
}

/* Apply a key change (or first sighting) with the rules above. */
static ckv_status apply_key(ckv_profile *p, ckv_contact **cp, const char *name,
                            const uint8_t key[33], int may_block, ckv_trust_report *report,
                            int *blocked_out)
{
    ckv_contact *c = *cp;
    int64_t now = ckv_now();
    ckv_status st;

    if (c == NULL) {
        c = calloc(1, sizeof *c);
        if (c == NULL)
            return CKV_ERR_NOMEM;
        *cp = c;
        snprintf(c->name, sizeof c->name, "%s", name);
        memcpy(c->identity_key, key, 33);
        c->state = CKV_TRUST_UNVERIFIED;
        c->first_seen = now;
        st = add_event(c, CKV_EVENT_FIRST_SEEN, CKV_VERIFY_NONE, key, NULL, now);
        if (st == CKV_OK)
            st = contact_store(p, c);
        if (st == CKV_OK && report != NULL)
            report->new_contact = 1;
        fill_report(report, c);
        return st;
    }
    if (may_block && c->state == CKV_TRUST_CHANGED) {
        /* PreKey messages stay refused until the user accepts or verifies */
        *blocked_out = 1;
        fill_report(report, c);
        if (report != NULL && sodium_memcmp(c->identity_key, key, 33) != 0) {
            report->key_changed = 1;
            memcpy(report->old_key, c->identity_key, 33);
            memcpy(report->new_key, key, 33);
        }
        return CKV_OK;
    }
    if (sodium_memcmp(c->identity_key, key, 33) == 0) {
        fill_report(report, c);
        return CKV_OK;
    }
    if (report != NULL) {
        report->key_changed = 1;
        memcpy(report->old_key, c->identity_key, 33);
    }
    if (c->state == CKV_TRUST_VERIFIED || c->state == CKV_TRUST_CHANGED) {
        if (may_block) {
            /* a PreKey message under a new key: the caller refuses it */
            *blocked_out = 1;
            fill_report(report, c);
            if (report != NULL) {
                report->blocked = 1;
                report->state = CKV_TRUST_CHANGED;
                memcpy(report->new_key, key, 33);
            }
            return CKV_OK;
        }
        st = add_event(c, CKV_EVENT_KEY_CHANGED, CKV_VERIFY_NONE, key, c->identity_key, now);
        c->state = CKV_TRUST_CHANGED;
        *blocked_out = 1;
    } else {
        st = add_event(c, CKV_EVENT_KEY_CHANGED, CKV_VERIFY_NONE, key, c->identity_key, now);
        c->state = CKV_TRUST_UNVERIFIED;
    }
    memcpy(c->identity_key, key, 33);
    if (st == CKV_OK)
        st = contact_store(p, c);
    fill_report(report, c);
    return st;
}

ckv_status ckv_trust_observe(ckv_profile *p, const char *name, const uint8_t key[33],
                             int may_block, ckv_trust_report *report, int *blocked_out)
{
    ckv_contact *c = NULL;
    ckv_status st = ckv_contact_load(p, name, &c);
    if (st == CKV_ERR_NO_CONTACT)
        st = CKV_OK;
    if (st == CKV_OK)
        st = apply_key(p, &c, name, key, may_block, report, blocked_out);
    ckv_contact_free(c);
    return st;
}

ckv_status ckv_contact_record_blocked_change(ckv_profile *p, const char *name,
                                             const uint8_t key[33], ckv_trust_report *report)
{
    int blocked = 0;
    ckv_status st = ckv_db_begin(p);
    if (st != CKV_OK)
        return st;
    st = ckv_trust_observe(p, name, key, 0, report, &blocked);
    if (st == CKV_OK)
        st = ckv_db_commit(p);
    else
        ckv_db_rollback(p);
    return st;
}

ckv_status ckv_contact_check_send(ckv_profile *p, const char *name)
{
    ckv_contact *c = NULL;
    ckv_status st = ckv_contact_load(p, name, &c);
    if (st == CKV_OK && c->state == CKV_TRUST_CHANGED)
        st = CKV_ERR_KEY_CHANGED_BLOCKED;
    ckv_contact_free(c);
    return st;
}

/* ---- public API ---- */

ckv_status ckv_contact_get(ckv_profile *p, const char *name, ckv_contact **out)
{
    char norm[CKV_NAME_MAX + 1];
    ckv_status st;
    if (p == NULL || name == NULL || out == NULL)
        return CKV_ERR_INVALID_ARG;
    st = ckv_name_normalize(name, norm);
    if (st != CKV_OK)
        return st;
    return ckv_contact_load(p, norm, out);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const ckv_contact *)a)->name, ((const ckv_contact *)b)->name);
}

ckv_status ckv_contact_list(ckv_profile *p, ckv_contact **out, size_t *count)
{
    ckv_contact *list = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s;
    ckv_status st = CKV_OK;
    int rc;

    if (p == NULL || out == NULL || count == NULL)
        return CKV_ERR_INVALID_ARG;
    s = ckv_stmt(p, STMT_CONTACT_ALL);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const uint8_t *h = sqlite3_column_blob(s, 0);
        uint8_t *plain = NULL;
        size_t plain_len = 0;
        ckv_contact *c = NULL;
        if (h == NULL || sqlite3_column_bytes(s, 0) != 32) {
            st = CKV_ERR_PROFILE_DAMAGED;
            break;
        }
        st = ckv_unseal(p->seal_key, SEAL_CONTACT, h, 32, sqlite3_column_blob(s, 1),
                        (size_t)sqlite3_column_bytes(s, 1), &plain, &plain_len);
        if (st == CKV_OK)
            st = decode(plain, plain_len, &c);
        ckv_wipe_free(plain, plain_len);
        if (st != CKV_OK)
            break;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            ckv_contact *nl = realloc(list, ncap * sizeof *nl);
            if (nl == NULL) {
                ckv_contact_free(c);
                st = CKV_ERR_NOMEM;
                break;
            }
            list = nl;
            cap = ncap;
        }
        list[n] = *c;
        free(c); /* events now owned by list[n] */
        n++;
    }
    if (st == CKV_OK && rc != SQLITE_DONE)
        st = ckv_db_status(rc);
    sqlite3_reset(s);
    if (st == CKV_OK) {
        for (size_t i = 0; i < n; i++) {
            uint8_t h[32];
            ckv_name_hash(p, list[i].name, strlen(list[i].name), h);
            list[i].has_session = session_exists_h(p, h);
        }
        if (n > 1)
            qsort(list, n, sizeof *list, by_name);
        *out = n ? list : NULL;
        *count = n;
        if (n == 0)
            free(list);
        return CKV_OK;
    }
    ckv_contact_list_free(list, n);
    return st;
}

/* Load, let `fn` change, store: one transaction. */
typedef ckv_status (*mutate_fn)(ckv_contact *c, const void *arg, int64_t now);

static ckv_status mutate(ckv_profile *p, const char *name, mutate_fn fn, const void *arg)
{
    char norm[CKV_NAME_MAX + 1];
    ckv_contact *c = NULL;
    ckv_status st;

    if (p == NULL || name == NULL)
        return CKV_ERR_INVALID_ARG;
    st = ckv_name_normalize(name, norm);
    if (st != CKV_OK)
        return st;
    st = ckv_db_begin(p);
    if (st != CKV_OK)
        return st;
    st = ckv_contact_load(p, norm, &c);
    if (st == CKV_OK)
        st = fn(c, arg, ckv_now());
    if (st == CKV_OK)
        st = contact_store(p, c);
    if (st == CKV_OK)
        st = ckv_db_commit(p);
    else
        ckv_db_rollback(p);
    ckv_contact_free(c);
    return st;
}

struct verify_arg {
    ckv_verify_method method;
    const uint8_t *key;
};

static ckv_status do_verify(ckv_contact *c, const void *a, int64_t now)
{
    const struct verify_arg *va = a;
    if (va->key != NULL && sodium_memcmp(va->key, c->identity_key, 33) != 0)
        return CKV_ERR_UNTRUSTED_IDENTITY;
    c->state = CKV_TRUST_VERIFIED;
    c->method = va->method;
    c->method_at = now;
    return add_event(c, CKV_EVENT_VERIFIED, va->method, c->identity_key, NULL, now);
}

ckv_status ckv_contact_verify(ckv_profile *p, const char *name, ckv_verify_method method,
                              const uint8_t shown_key[CKV_IDENTITY_KEY_LEN])
{
    struct verify_arg a = {method, shown_key};
    if (method != CKV_VERIFY_IN_PERSON && method != CKV_VERIFY_PUBLIC_CODE)
        return CKV_ERR_INVALID_ARG;
    return mutate(p, name, do_verify, &a);
}

static ckv_status do_accept(ckv_contact *c, const void *a, int64_t now)
{
    const uint8_t *key = a;
    if (c->state != CKV_TRUST_CHANGED)
        return CKV_ERR_INVALID_ARG;
    if (key != NULL && sodium_memcmp(key, c->identity_key, 33) != 0)
        return CKV_ERR_UNTRUSTED_IDENTITY;
    c->state = CKV_TRUST_UNVERIFIED;
    c->method = CKV_VERIFY_ACCEPTED;
    c->method_at = now;
    return add_event(c, CKV_EVENT_ACCEPTED, CKV_VERIFY_ACCEPTED, c->identity_key, NULL, now);
}

ckv_status ckv_contact_accept(ckv_profile *p, const char *name,
                              const uint8_t shown_key[CKV_IDENTITY_KEY_LEN])
{
    return mutate(p, name, do_accept, shown_key);
}

static ckv_status do_logged(ckv_contact *c, const void *a, int64_t now)
{
    const uint8_t *key = a;
    if (sodium_memcmp(key, c->identity_key, 33) != 0)
        return CKV_ERR_UNTRUSTED_IDENTITY;
    if (c->state == CKV_TRUST_UNVERIFIED)
        c->state = CKV_TRUST_LOGGED;
    return add_event(c, CKV_EVENT_LOGGED, CKV_VERIFY_NONE, key, NULL, now);
}

ckv_status ckv_contact_set_logged(ckv_profile *p, const char *name,
                                  const uint8_t key[CKV_IDENTITY_KEY_LEN])
{
    if (key == NULL)
        return CKV_ERR_INVALID_ARG;
    return mutate(p, name, do_logged, key);
}

static ckv_status do_unverify(ckv_contact *c, const void *a, int64_t now)
{
    (void)a;
    if (c->state != CKV_TRUST_VERIFIED && c->state != CKV_TRUST_CHANGED)
        return CKV_OK;
    c->state = CKV_TRUST_UNVERIFIED;
    return add_event(c, CKV_EVENT_UNVERIFIED, CKV_VERIFY_NONE, c->identity_key, NULL, now);
}

ckv_status ckv_contact_unverify(ckv_profile *p, const char *name)
{
    return mutate(p, name, do_unverify, NULL);
}

ckv_status ckv_contact_pin(ckv_profile *p, const char *name,
                           const uint8_t key[CKV_IDENTITY_KEY_LEN], ckv_trust_report *report)
{
    char norm[CKV_NAME_MAX + 1];
    ckv_trust_report r;
    int blocked = 0;
    ckv_status st;

    if (p == NULL || name == NULL || key == NULL)
        return CKV_ERR_INVALID_ARG;
    if (key[0] != 0x05)
        return CKV_ERR_BAD_BUNDLE;
    st = ckv_name_normalize(name, norm);
    if (st != CKV_OK)
        return st;
    memset(&r, 0, sizeof r);
    st = ckv_db_begin(p);
    if (st != CKV_OK)
        return st;
    st = ckv_trust_observe(p, norm, key, 0, &r, &blocked);
    if (st == CKV_OK)
        st = ckv_db_commit(p);
    else
        ckv_db_rollback(p);
    if (st == CKV_OK && report != NULL)
        *report = r;
    return st;
}

const char *ckv_trust_state_name(ckv_trust_state s)
{
    switch (s) {
    case CKV_TRUST_UNVERIFIED:
        return "unverified";
    case CKV_TRUST_LOGGED:
        return "logged";
    case CKV_TRUST_VERIFIED:
        return "verified";
    case CKV_TRUST_CHANGED:
        return "changed";
    }
    return "unknown";
}

const char *ckv_verify_method_name(ckv_verify_method m)
{
    switch (m) {
    case CKV_VERIFY_NONE:
        return "none";
    case CKV_VERIFY_IN_PERSON:
        return "in-person";
    case CKV_VERIFY_PUBLIC_CODE:
        return "public-code";
    case CKV_VERIFY_ACCEPTED:
        return "accepted";
    }
    return "unknown";
}
