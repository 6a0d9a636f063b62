/*
 * status.h: the one status type of ckv.
 *
 * Every fallible ckv function returns a ckv_status. CKV_OK is 0; every other
 * value names one cause, and ckv_strerror() turns it into a sentence that
 * says what failed and what to do. Numbers are never reused: a code that is
 * retired keeps its number and its slot.
 *
 * Ranges (so that modules can add codes without colliding):
 *     1 -  99  generic (memory, I/O, usage, parsing)
 *   100 - 199  transparency-log (Merkle proofs, notes, checkpoints, tiles, storage)
 *   200 - 399  core (profiles, sealing, libsignal sessions, contacts, trust)
 *   400 - 499  directory (entries, chains)
 *   500 - 599  network client / server
 */
#ifndef CKV_STATUS_H
#define CKV_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CKV_MUST_USE __attribute__((warn_unused_result))
#else
#define CKV_MUST_USE
#endif

typedef enum ckv_status {
    CKV_OK = 0,

    /* generic: 1 - 99 */
    CKV_ERR_NOMEM = 1,        /* out of memory */
    CKV_ERR_INVALID_ARG = 2,  /* caller misuse: bad argument */
    CKV_ERR_IO = 3,           /* a file or device operation failed */
    CKV_ERR_NOT_FOUND = 4,    /* the thing asked for does not exist */
    CKV_ERR_EXISTS = 5,       /* the thing to create already exists */
    CKV_ERR_TOO_LARGE = 6,    /* input over a hard size cap */
    CKV_ERR_MALFORMED = 7,    /* untrusted bytes do not parse */
    CKV_ERR_NONCANONICAL = 8, /* bytes parse but are not in canonical form */
    CKV_ERR_TRUNCATED = 9,    /* input ended early */
    CKV_ERR_DB = 10,          /* the SQLite database failed */
    CKV_ERR_CRYPTO = 11,      /* a crypto primitive failed unexpectedly */
    CKV_ERR_PERM = 12,        /* file permissions are unsafe */
    CKV_ERR_USAGE = 13,       /* command-line usage error */
    CKV_ERR_INTERNAL = 14,    /* a broken internal invariant */
    CKV_ERR_JSON = 15,        /* JSON input is malformed or misses a field */
    CKV_ERR_BASE64 = 16,      /* base64 input is malformed */
    CKV_ERR_HEX = 17,         /* hex input is malformed */
    CKV_ERR_UNSUPPORTED = 18, /* a version or feature we do not support */

    /* transparency-log: 100 - 199 */
    CKV_ERR_TLOG_BAD_PROOF = 100,       /* an inclusion/consistency proof does not verify */
    CKV_ERR_TLOG_BAD_INDEX = 101,       /* leaf index / tree size out of range */
    CKV_ERR_TLOG_BAD_SIGNATURE = 102,   /* a known signer's signature failed */
    CKV_ERR_TLOG_NO_SIGNATURE = 103,    /* no signature by a known key */
    CKV_ERR_TLOG_BAD_NOTE = 104,        /* a signed note is malformed */
    CKV_ERR_TLOG_BAD_CHECKPOINT = 105,  /* a checkpoint body is malformed */
    CKV_ERR_TLOG_BAD_KEY = 106,         /* a signer/verifier key string is malformed */
    CKV_ERR_TLOG_BAD_TILE = 107,        /* a tile is malformed or does not match */
    CKV_ERR_TLOG_BAD_BUNDLE = 108,      /* an entry bundle is malformed or does not match */
    CKV_ERR_TLOG_ORIGIN = 109,          /* checkpoint origin is not the expected log */
    CKV_ERR_TLOG_ROLLBACK = 110,        /* a checkpoint is smaller than one accepted before */
    CKV_ERR_TLOG_FORK = 111,            /* two signed checkpoints are inconsistent */
    CKV_ERR_TLOG_CORRUPT = 112,         /* stored log data is inconsistent */
    CKV_ERR_TLOG_NOTHING_TO_PUBLISH = 113, /* no new entries since the last checkpoint */
    CKV_ERR_TLOG_FETCH = 114,           /* the log could not be reached */

    /* core: 200 - 399 */
    CKV_ERR_WRONG_PASSPHRASE = 200,  /* the passphrase does not open the profile */
    CKV_ERR_PROFILE_DAMAGED = 201,   /* the profile file is damaged */
    CKV_ERR_NO_PROFILE = 202,        /* no such profile */
    CKV_ERR_PROFILE_EXISTS = 203,    /* the profile already exists */
    CKV_ERR_BAD_NAME = 204,          /* an account name is not acceptable */
    CKV_ERR_BAD_BUNDLE = 205,        /* a prekey bundle is malformed or its signature fails */
    CKV_ERR_BAD_ENVELOPE = 206,      /* an envelope is malformed */
    CKV_ERR_NO_SESSION = 207,        /* no session with this contact */
    CKV_ERR_DUPLICATE_MESSAGE = 208, /* the message was already received */
    CKV_ERR_INVALID_MESSAGE = 209,   /* the message fails authentication */
    CKV_ERR_UNTRUSTED_IDENTITY = 210,/* the contact's identity key changed */
    CKV_ERR_KEY_CHANGED_BLOCKED = 211,/* sending blocked: verified contact's key changed */
    CKV_ERR_NO_CONTACT = 212,        /* no such contact */
    CKV_ERR_CODE_MISMATCH = 213,     /* a compared verification code differs */
    CKV_ERR_SIGNAL = 214,            /* libsignal reported an unexpected error */
    CKV_ERR_NO_PREKEY = 215,         /* the one-time prekey referenced is unknown */
    CKV_ERR_LEGACY_MESSAGE = 216,    /* message from an old protocol version */
    CKV_ERR_FINGERPRINT_VERSION = 217,   /* scanned code has another version */
    CKV_ERR_FINGERPRINT_IDENTITY = 218,  /* scanned code is for other people */
    CKV_ERR_WEAK_PASSPHRASE = 219,   /* the passphrase is empty */
    CKV_ERR_PROFILE_BUSY = 220,      /* another process has the profile open */

    /* directory: 400 - 499 */
    CKV_ERR_DIR_BAD_ENTRY = 400,   /* a directory entry is malformed */
    CKV_ERR_DIR_BAD_CHAIN = 401,   /* an account's chain of entries is broken */
    CKV_ERR_DIR_BAD_SIGNATURE = 402, /* an entry's signature does not verify */
    CKV_ERR_DIR_BAD_KEY = 403,     /* an identity key is not a valid 0x05 key */
    CKV_ERR_DIR_ORIGIN = 404,      /* the entry is for another log */
    CKV_ERR_DIR_NAME = 405,        /* the entry is for another name than asked */
    CKV_ERR_DIR_NAME_TAKEN = 406,  /* the name is registered already */
    CKV_ERR_EVIDENCE_MALFORMED = 407, /* an evidence file does not parse */
    CKV_ERR_EVIDENCE_KEY = 408,    /* evidence is for another log key than expected */

    /* network client / server: 500 - 599 */
    CKV_ERR_NET = 500,             /* the server could not be reached */
    CKV_ERR_HTTP = 501,            /* the server answered with an error */

    /* online client: key-transparency checks, 520 - 559 */
    CKV_ERR_KT_NOT_LOGGED = 520,     /* the key is not the one in the log */
    CKV_ERR_KT_BAD_PROOF = 521,      /* the server's proof does not verify */
    CKV_ERR_KT_NAME_MISMATCH = 522,  /* the server answered for another name */
    CKV_ERR_KT_STALE = 523,          /* the server serves an older entry than seen before */
    CKV_ERR_KT_INCONSISTENT = 524,   /* the log is inconsistent with our view (fork/rollback) */
    CKV_ERR_KT_FOREIGN_ENTRY = 525,  /* an entry under our own name we did not make */
    CKV_ERR_KT_BUNDLE_KEY = 526,     /* a bundle's identity key differs from the logged key */
    CKV_ERR_KT_NOT_CONFIGURED = 527, /* the profile has no pinned server / log key */
    CKV_ERR_KT_BAD_CHECKPOINT = 528, /* the checkpoint is not signed by the pinned log key */
    CKV_ERR_AUTH = 529,              /* the server refused our login */
    CKV_ERR_CLOCK_SKEW = 530,        /* our clock and the server's disagree */
    CKV_ERR_RATE_LIMITED = 531,      /* the server asks us to slow down */
    CKV_ERR_NOT_REGISTERED = 532,    /* the account is not registered on the server */
    CKV_ERR_KT_NO_QUORUM = 533,      /* too few pinned witnesses cosigned the checkpoint */
    CKV_ERR_KT_VIEW_FROZEN = 534,    /* the witnessed view is older than the max view age */
    CKV_ERR_KT_SPLIT_VIEW = 535,     /* a contact's log view is not consistent with ours */
    CKV_ERR_RECOVERY = 536,          /* a reset needs the account's recovery code, or it is wrong */

    CKV_STATUS_MAX_ /* not a status; keep last */
} ckv_status;

/* A sentence for a status: what failed and what to do. Never NULL; the
 * string is static. Unknown values give a generic sentence. */
const char *ckv_strerror(ckv_status st);

/* The enum name of a status ("CKV_ERR_NOMEM"), for logs and tests. */
const char *ckv_status_name(ckv_status st);

#ifdef __cplusplus
}
#endif
#endif /* CKV_STATUS_H */
