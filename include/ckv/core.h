/*
 * core.h: everything of libckv (the messaging core) in one include.
 */
#ifndef CKV_CORE_H
#define CKV_CORE_H

#include "ckv/bundle.h"
#include "ckv/contact.h"
#include "ckv/fingerprint.h"
#include "ckv/name.h"
#include "ckv/profile.h"
#include "ckv/session.h"
#include "ckv/status.h"

#endif /* CKV_CORE_H */
