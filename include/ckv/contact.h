/*
 * contact.h: contacts and their trust state.
 *
 * A contact is a normalised account name with a pinned identity key and a
 * trust state:
 *   unverified  first seen (from a bundle, an incoming PreKey message, or a
 *               key accepted after a change); nobody compared codes.
 *   logged      the transparency log vouches for the pinned key (set by the
 *               online part through ckv_contact_set_logged).
 *   verified    the user compared codes (in person, or against the
 *               contact's published public code) for the pinned key.
 *   changed     the contact's key changed after it was verified. Sending is
 *               blocked (CKV_ERR_KEY_CHANGED_BLOCKED, checked before EVERY
 *               encrypt) until the user verifies the new key again or
 *               accepts it (ckv_contact_accept).
 * A key change for an unverified or logged contact is recorded in the
 * journal and reported (key_changed in ckv_trust_report), never blocked; the
 * state becomes unverified. Every change of key or state is appended to the
 * contact's journal (sealed at rest). docs/core.md has the full table.
 */
#ifndef CKV_CONTACT_H
#define CKV_CONTACT_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/name.h"
#include "ckv/profile.h"
#include "ckv/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ckv_trust_state {
    CKV_TRUST_UNVERIFIED = 0,
    CKV_TRUST_LOGGED = 1,
    CKV_TRUST_VERIFIED = 2,
    CKV_TRUST_CHANGED = 3
} ckv_trust_state;

/* How a contact was verified (or how the last trust decision was made). */
typedef enum ckv_verify_method {
    CKV_VERIFY_NONE = 0,        /* never verified */
    CKV_VERIFY_IN_PERSON = 1,   /* safety number compared (read out or QR) */
    CKV_VERIFY_PUBLIC_CODE = 2, /* the contact's published 30-digit code compared */
    CKV_VERIFY_ACCEPTED = 3     /* a changed key explicitly accepted, no comparison */
} ckv_verify_method;

/* One journal entry. */
typedef enum ckv_trust_event_kind {
    CKV_EVENT_FIRST_SEEN = 1,   /* contact created with `key` */
    CKV_EVENT_KEY_CHANGED = 2,  /* identity key changed to `key` (old_key before) */
    CKV_EVENT_VERIFIED = 3,     /* verified `key`; `method` says how */
    CKV_EVENT_ACCEPTED = 4,     /* changed key `key` accepted */
    CKV_EVENT_LOGGED = 5,       /* the log vouched for `key` */
    CKV_EVENT_UNVERIFIED = 6    /* verification withdrawn by the user */
} ckv_trust_event_kind;

typedef struct ckv_trust_event {
    ckv_trust_event_kind kind;
    int64_t at;                          /* unix seconds */
    ckv_verify_method method;            /* for CKV_EVENT_VERIFIED */
    uint8_t key[CKV_IDENTITY_KEY_LEN];   /* the key concerned */
    uint8_t old_key[CKV_IDENTITY_KEY_LEN]; /* for CKV_EVENT_KEY_CHANGED, else zero */
} ckv_trust_event;

/* A contact as read from the profile. Owned by the caller; free with
 * ckv_contact_free (or ckv_contact_list_free for an array). */
typedef struct ckv_contact {
    char name[CKV_NAME_MAX + 1];               /* normalised */
    uint8_t identity_key[CKV_IDENTITY_KEY_LEN]; /* pinned (current) key */
    ckv_trust_state state;
    ckv_verify_method method; /* how the last verification/acceptance was made */
    int64_t method_at;        /* when (unix seconds), 0 if never */
    int64_t first_seen;       /* unix seconds */
    int has_session;          /* 1 when a session exists */
    size_t n_events;          /* journal, oldest first */
    ckv_trust_event *events;
} ckv_contact;

/* What a session start or a decrypt did to the contact. Always written on
 * CKV_OK (and, for a blocked key change, with CKV_ERR_UNTRUSTED_IDENTITY). */
typedef struct ckv_trust_report {
    int new_contact;     /* the contact was created by this call */
    int key_changed;     /* the identity key differs from the pinned one */
    int blocked;         /* sending to this contact is now blocked */
    ckv_trust_state state; /* state after the call */
    uint8_t old_key[CKV_IDENTITY_KEY_LEN]; /* when key_changed */
    uint8_t new_key[CKV_IDENTITY_KEY_LEN]; /* the contact's key now */
} ckv_trust_report;

/* Read one contact (name is normalised first). CKV_ERR_NO_CONTACT when
 * unknown, CKV_ERR_BAD_NAME. *out is malloc'd; free with ckv_contact_free. */
CKV_MUST_USE ckv_status ckv_contact_get(ckv_profile *p, const char *name, ckv_contact **out);
void ckv_contact_free(ckv_contact *c);

/* All contacts, sorted by name. *out is an array of *count entries (NULL
 * when 0); free with ckv_contact_list_free. */
CKV_MUST_USE ckv_status ckv_contact_list(ckv_profile *p, ckv_contact **out, size_t *count);
void ckv_contact_list_free(ckv_contact *list, size_t count);

/* Mark the contact verified by `method` (IN_PERSON or PUBLIC_CODE).
 * `shown_key` is the identity key whose code the user compared (so a key
 * that changed between showing and confirming is not verified by mistake);
 * NULL means "the pinned key". CKV_ERR_UNTRUSTED_IDENTITY when shown_key is
 * not the pinned key. Lifts a block. */
CKV_MUST_USE ckv_status ckv_contact_verify(ckv_profile *p, const char *name,
                                           ckv_verify_method method,
                                           const uint8_t shown_key[CKV_IDENTITY_KEY_LEN]);

/* Accept the contact's changed key without comparing codes: the state
 * becomes unverified (method ACCEPTED recorded), sending is allowed again.
 * `shown_key` as for ckv_contact_verify. CKV_ERR_INVALID_ARG when the
 * contact is not in state changed. */
CKV_MUST_USE ckv_status ckv_contact_accept(ckv_profile *p, const char *name,
                                           const uint8_t shown_key[CKV_IDENTITY_KEY_LEN]);

/* The transparency log vouches that `key` is the contact's current key.
 * unverified -> logged when key is the pinned key. A verified or changed
 * contact keeps its state (journal entry only). CKV_ERR_UNTRUSTED_IDENTITY
 * when key differs from the pinned key (nothing changes). */
CKV_MUST_USE ckv_status ckv_contact_set_logged(ckv_profile *p, const char *name,
                                               const uint8_t key[CKV_IDENTITY_KEY_LEN]);

/* Withdraw a verification: verified/changed -> unverified. */
CKV_MUST_USE ckv_status ckv_contact_unverify(ckv_profile *p, const char *name);

/* Create a contact with `key` pinned (or apply a key change to an existing
 * one, with the rules above), without a session: for keys learnt from the
 * directory. `report` (may be NULL) says what happened. */
CKV_MUST_USE ckv_status ckv_contact_pin(ckv_profile *p, const char *name,
                                        const uint8_t key[CKV_IDENTITY_KEY_LEN],
                                        ckv_trust_report *report);

/* Names for states and methods: "unverified", "logged", "verified",
 * "changed"; "none", "in-person", "public-code", "accepted". Static. */
const char *ckv_trust_state_name(ckv_trust_state s);
const char *ckv_verify_method_name(ckv_verify_method m);

#ifdef __cplusplus
}
#endif
#endif /* CKV_CONTACT_H */
