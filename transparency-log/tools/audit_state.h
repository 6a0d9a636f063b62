/*
 * audit_state.h: ckv-audit's memory between runs. For each log (named by
 * its verifier key: name and key hash) the state directory holds
 *
 *   <STATE>/<name>-<keyhash8hex>/checkpoint     the last accepted signed
 *                                               checkpoint (the note bytes
 *                                               exactly as served)
 *   <STATE>/<name>-<keyhash8hex>/evidence-*.json evidence of misbehaviour
 *
 * The checkpoint is replaced only after a run found the log good, with a
 * temp file + fsync + rename, so a crash leaves the previous one.
 * Default STATE: $XDG_STATE_HOME/ckv-audit, else ~/.local/state/ckv-audit.
 */
#ifndef CKV_AUDIT_STATE_H
#define CKV_AUDIT_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "ckv/status.h"

/* The per-log directory for a state root (NULL: the default) and a key.
 * `name` is sanitized (anything but [A-Za-z0-9._-] becomes '_'). Creates it
 * (0700). On success *out is a new string (caller frees). */
ckv_status audit_state_dir(const char *state_root, const char *key_name, uint32_t key_hash,
                           char **out);

/* Read the last accepted checkpoint note. CKV_ERR_NOT_FOUND if none (first
 * run). *note is NUL-terminated, caller frees. */
ckv_status audit_state_load(const char *dir, uint8_t **note, size_t *len);

/* Store a newly accepted checkpoint note durably. */
ckv_status audit_state_save(const char *dir, const uint8_t *note, size_t len);

#endif
