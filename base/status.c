/*
 * status.c: the sentences behind ckv_status.
 *
 * One table, indexed by code: the enum name and a message that says what
 * failed and what the user can do about it. Keep it in step with
 * include/ckv/status.h.
 */
#include "ckv/status.h"

#include <stddef.h>

struct status_text {
    ckv_status code;
    const char *name;
    const char *msg;
};

#define S(c, m) {c, #c, m}
static const struct status_text table[] = {
    S(CKV_OK, "success"),
    S(CKV_ERR_NOMEM, "out of memory; free some memory and try again"),
    S(CKV_ERR_INVALID_ARG, "invalid argument (a bug in the caller)"),
    S(CKV_ERR_IO, "a file operation failed; check the path, free space and permissions"),
    S(CKV_ERR_NOT_FOUND, "not found"),
    S(CKV_ERR_EXISTS, "already exists; choose another name or remove the old one first"),
    S(CKV_ERR_TOO_LARGE, "input is larger than the allowed maximum"),
    S(CKV_ERR_MALFORMED, "input is malformed"),
    S(CKV_ERR_NONCANONICAL, "input is not in canonical form"),
    S(CKV_ERR_TRUNCATED, "input ended early (truncated)"),
    S(CKV_ERR_DB, "the database failed; check the file and free space"),
    S(CKV_ERR_CRYPTO, "a cryptographic operation failed unexpectedly"),
    S(CKV_ERR_PERM, "file permissions are unsafe; make the file private (chmod 600)"),
    S(CKV_ERR_USAGE, "usage error; see --help"),
    S(CKV_ERR_INTERNAL, "internal error (a bug in ckv); please report it"),
    S(CKV_ERR_JSON, "JSON input is malformed or misses a required field"),
    S(CKV_ERR_BASE64, "base64 input is malformed"),
    S(CKV_ERR_HEX, "hex input is malformed"),
    S(CKV_ERR_UNSUPPORTED, "unsupported version or feature"),

    S(CKV_ERR_TLOG_BAD_PROOF, "the Merkle proof does not verify: the log's answer is wrong"),
    S(CKV_ERR_TLOG_BAD_INDEX, "leaf index or tree size out of range"),
    S(CKV_ERR_TLOG_BAD_SIGNATURE, "a known key's signature on the note is invalid: the note was forged or altered"),
    S(CKV_ERR_TLOG_NO_SIGNATURE, "the note carries no signature by a trusted key; check the verifier key"),
    S(CKV_ERR_TLOG_BAD_NOTE, "the signed note is malformed"),
    S(CKV_ERR_TLOG_BAD_CHECKPOINT, "the checkpoint is malformed"),
    S(CKV_ERR_TLOG_BAD_KEY, "the signer or verifier key is malformed; check the key string or file"),
    S(CKV_ERR_TLOG_BAD_TILE, "a log tile is malformed or does not match the tree"),
    S(CKV_ERR_TLOG_BAD_BUNDLE, "an entry bundle is malformed or does not match the tree"),
    S(CKV_ERR_TLOG_ORIGIN, "the checkpoint is for another log (origin differs)"),
    S(CKV_ERR_TLOG_ROLLBACK, "the log is smaller than a checkpoint seen before: the log was rolled back"),
    S(CKV_ERR_TLOG_FORK, "two signed checkpoints are inconsistent: the log forked"),
    S(CKV_ERR_TLOG_CORRUPT, "the stored log is inconsistent; restore it from a backup"),
    S(CKV_ERR_TLOG_NOTHING_TO_PUBLISH, "no new entries to publish"),
    S(CKV_ERR_TLOG_FETCH, "the log could not be reached; check the URL or directory and the network"),

    S(CKV_ERR_WRONG_PASSPHRASE, "wrong passphrase: the profile could not be opened"),
    S(CKV_ERR_PROFILE_DAMAGED, "the profile file is damaged; restore it from a backup"),
    S(CKV_ERR_NO_PROFILE, "no such profile; create it with 'ckv init --name ACCOUNT'"),
    S(CKV_ERR_PROFILE_EXISTS, "the profile already exists; use another --profile"),
    S(CKV_ERR_BAD_NAME, "the account name is not acceptable; see the naming rule in docs/core.md"),
    S(CKV_ERR_BAD_BUNDLE, "the prekey bundle is malformed or its signature is invalid"),
    S(CKV_ERR_BAD_ENVELOPE, "the message envelope is malformed"),
    S(CKV_ERR_NO_SESSION, "no session with this contact; start one from their bundle first"),
    S(CKV_ERR_DUPLICATE_MESSAGE, "this message was already received (duplicate or replay)"),
    S(CKV_ERR_INVALID_MESSAGE, "the message failed authentication (altered, or not for this session)"),
    S(CKV_ERR_UNTRUSTED_IDENTITY, "the contact's identity key changed; verify or accept the new key"),
    S(CKV_ERR_KEY_CHANGED_BLOCKED, "sending is blocked: a verified contact's key changed; re-verify or accept it"),
    S(CKV_ERR_NO_CONTACT, "no such contact"),
    S(CKV_ERR_CODE_MISMATCH, "the verification codes differ: do not trust this contact's key"),
    S(CKV_ERR_SIGNAL, "the Signal protocol library reported an error"),
    S(CKV_ERR_NO_PREKEY, "the message uses a one-time prekey we do not have (already used?)"),
    S(CKV_ERR_LEGACY_MESSAGE, "the message uses an old protocol version"),
    S(CKV_ERR_FINGERPRINT_VERSION, "the scanned code has another version; both sides must update"),
    S(CKV_ERR_FINGERPRINT_IDENTITY, "the scanned code is for other accounts"),
    S(CKV_ERR_WEAK_PASSPHRASE, "the passphrase is empty; choose a non-empty passphrase"),
    S(CKV_ERR_PROFILE_BUSY, "the profile is in use by another ckv process; close it and try again"),

    S(CKV_ERR_DIR_BAD_ENTRY, "the directory entry is malformed"),
    S(CKV_ERR_DIR_BAD_CHAIN, "the account's chain of directory entries is broken"),
    S(CKV_ERR_DIR_BAD_SIGNATURE, "a directory entry's signature does not verify: the entry was forged or altered"),
    S(CKV_ERR_DIR_BAD_KEY, "an identity key is not valid (expected 33 bytes: 0x05, then a "
                           "canonical Curve25519 key that is not of small order)"),
    S(CKV_ERR_DIR_ORIGIN, "the directory entry belongs to another log"),
    S(CKV_ERR_DIR_NAME, "the directory entry is for another account than the one asked for"),
    S(CKV_ERR_DIR_NAME_TAKEN, "the account name is registered already; choose another name"),
    S(CKV_ERR_EVIDENCE_MALFORMED, "the evidence file is not valid ckv-evidence/1 JSON; check it "
                                  "is the file a ckv program wrote, complete and unedited"),
    S(CKV_ERR_EVIDENCE_KEY, "the evidence is about another log than the verifier key given; "
                            "check which log key the evidence should be checked against"),

    S(CKV_ERR_NET, "the server could not be reached; check the URL and that it runs"),
    S(CKV_ERR_HTTP, "the server answered with an error"),

    S(CKV_ERR_KT_NOT_LOGGED, "the server offered a key that is not the one in the transparency log: do not trust it"),
    S(CKV_ERR_KT_BAD_PROOF, "the server's transparency-log proof does not verify: the server is lying or broken"),
    S(CKV_ERR_KT_NAME_MISMATCH, "the server answered with an entry for another name than asked"),
    S(CKV_ERR_KT_STALE, "the server served an older key entry than one seen before (stale key)"),
    S(CKV_ERR_KT_INCONSISTENT, "the server's log is inconsistent with the view seen before (fork or rollback); keep the evidence and tell others"),
    S(CKV_ERR_KT_FOREIGN_ENTRY, "the log shows a key under your name that you did not create: someone may impersonate you"),
    S(CKV_ERR_KT_BUNDLE_KEY, "the server's prekey bundle carries another identity key than the logged one"),
    S(CKV_ERR_KT_NOT_CONFIGURED, "this profile has no server and log key pinned; run 'ckv init' with --server and --log-key"),
    S(CKV_ERR_KT_BAD_CHECKPOINT, "the log checkpoint is not signed by the pinned log key"),
    S(CKV_ERR_AUTH, "the server refused the login; check that this profile's key is the registered one"),
    S(CKV_ERR_CLOCK_SKEW, "this computer's clock differs too much from the server's; set the clock right"),
    S(CKV_ERR_RATE_LIMITED, "the server asks to slow down; retry later"),
    S(CKV_ERR_NOT_REGISTERED, "the account is not registered on the server; run 'ckv register'"),
    S(CKV_ERR_KT_NO_QUORUM, "the log's checkpoint carries fewer valid cosignatures from the pinned "
                            "witnesses than the quorum: it is refused; the witnesses may be down "
                            "or the server may be showing an unwitnessed view, try again later"),
    S(CKV_ERR_KT_VIEW_FROZEN, "the newest witnessed log view is older than the maximum view age: "
                              "the server may be freezing our view; sending waits (receiving "
                              "still works), try again later or report it"),
    S(CKV_ERR_KT_SPLIT_VIEW, "a contact's signed log view is not consistent with ours: the server "
                             "shows different logs to different users (split view); evidence was "
                             "kept, do not trust new keys from this server"),
    S(CKV_ERR_RECOVERY, "the account is protected by a recovery code and the reset did not "
                        "carry the right one; give the code printed at registration"),
};
#undef S

static const struct status_text *find(ckv_status st)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].code == st)
            return &table[i];
    }
    return NULL;
}

const char *ckv_strerror(ckv_status st)
{
    const struct status_text *t = find(st);
    return t ? t->msg : "unknown error";
}

const char *ckv_status_name(ckv_status st)
{
    const struct status_text *t = find(st);
    return t ? t->name : "CKV_ERR_UNKNOWN";
}
