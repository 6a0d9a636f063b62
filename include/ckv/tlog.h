/*
 * tlog.h: umbrella header of libckvlog, the ckv transparency log
 * (RFC 9162 Merkle tree, C2SP signed-note, tlog-checkpoint, tlog-tiles,
 * SQLite storage). Include this, or only the part you need.
 */
#ifndef CKV_TLOG_H
#define CKV_TLOG_H

#include "ckv/status.h"
#include "ckv/tlog_hash.h"
#include "ckv/tlog_proof.h"
#include "ckv/tlog_note.h"
#include "ckv/tlog_checkpoint.h"
#include "ckv/tlog_tile.h"
#include "ckv/tlog_store.h"

#endif /* CKV_TLOG_H */
