/* stub.c: temporary stubs (first commit only). */
#include "ckv/core.h"
#include <stdlib.h>

ckv_status ckv_profile_dir(const char *profile_name, char **out_dir)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_profile_create(const char *dir, const char *account,
                                           const uint8_t *passphrase, size_t passphrase_len,
                                           ckv_kdf_cost cost, ckv_profile **out)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_profile_open(const char *dir, const uint8_t *passphrase,
                                         size_t passphrase_len, ckv_profile **out)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_profile_change_passphrase(ckv_profile *p,
                                                      const uint8_t *new_passphrase,
                                                      size_t new_passphrase_len,
                                                      ckv_kdf_cost cost)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_profile_rotate_signed_prekey(ckv_profile *p, uint32_t *new_id)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_profile_prekeys_available(ckv_profile *p, size_t *out_count)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_profile_refill_prekeys(ckv_profile *p, size_t target, size_t *added)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_bundle_parse(const char *json, size_t len, ckv_bundle *out)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_bundle_to_json(const ckv_bundle *b, char **out_json)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_profile_export_bundle(ckv_profile *p, int with_prekey, ckv_bundle *out)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_contact_get(ckv_profile *p, const char *name, ckv_contact **out)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_contact_list(ckv_profile *p, ckv_contact **out, size_t *count)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_contact_verify(ckv_profile *p, const char *name,
                                           ckv_verify_method method,
                                           const uint8_t shown_key[CKV_IDENTITY_KEY_LEN])
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_contact_accept(ckv_profile *p, const char *name,
                                           const uint8_t shown_key[CKV_IDENTITY_KEY_LEN])
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_contact_set_logged(ckv_profile *p, const char *name,
                                               const uint8_t key[CKV_IDENTITY_KEY_LEN])
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_contact_unverify(ckv_profile *p, const char *name)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_contact_pin(ckv_profile *p, const char *name,
                                        const uint8_t key[CKV_IDENTITY_KEY_LEN],
                                        ckv_trust_report *report)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_envelope_parse(const char *json, size_t len, ckv_envelope *out)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_envelope_to_json(const ckv_envelope *e, char **out_json)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_session_start(ckv_profile *p, const char *contact,
                                          const ckv_bundle *bundle, ckv_trust_report *report)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_session_exists(ckv_profile *p, const char *contact, int *out)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_session_encrypt(ckv_profile *p, const char *contact,
                                            const uint8_t *plaintext, size_t len,
                                            ckv_envelope *out)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_session_decrypt(ckv_profile *p, const char *contact,
                                            const ckv_envelope *env, uint8_t **out_plaintext,
                                            size_t *out_len, ckv_trust_report *report)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_history_list(ckv_profile *p, const char *contact, size_t max,
                                         ckv_message **out, size_t *count)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_fingerprint_compute(const char *local_id,
                                                const uint8_t local_key[33],
                                                const char *remote_id,
                                                const uint8_t remote_key[33],
                                                unsigned iterations, unsigned scannable_version,
                                                ckv_safety_number *out)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_fingerprint_half(const char *id, const uint8_t key[33],
                                             unsigned iterations,
                                             char digits[CKV_PUBLIC_CODE_DIGITS + 1],
                                             uint8_t scannable32[32])
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_fingerprint_format(const char *digits, char *out, size_t out_len)
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_profile_public_code(ckv_profile *p,
                                                char out[CKV_PUBLIC_CODE_DIGITS + 1])
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_profile_safety_number(ckv_profile *p, const char *contact,
                                                  unsigned scannable_version,
                                                  ckv_safety_number *out,
                                                  uint8_t contact_key[33])
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_profile_compare_code(ckv_profile *p, const char *contact,
                                                 const char *code, ckv_code_compare *result,
                                                 uint8_t contact_key[33])
{
    return CKV_ERR_INTERNAL;
}

ckv_status ckv_profile_compare_scanned(ckv_profile *p, const char *contact,
                                                    const uint8_t *scanned, size_t len,
                                                    uint8_t contact_key[33])
{
    return CKV_ERR_INTERNAL;
}


int ckv_profile_exists(const char *dir) { (void)dir; return 0; }
void ckv_profile_close(ckv_profile *p) { (void)p; }
const char *ckv_profile_account(const ckv_profile *p) { (void)p; return ""; }
void ckv_profile_identity_key(const ckv_profile *p, uint8_t out[CKV_IDENTITY_KEY_LEN]) { (void)p; (void)out; }
uint32_t ckv_profile_registration_id(const ckv_profile *p) { (void)p; return 0; }
void ckv_envelope_clear(ckv_envelope *e) { (void)e; }
void ckv_contact_free(ckv_contact *c) { (void)c; }
void ckv_contact_list_free(ckv_contact *l, size_t n) { (void)l; (void)n; }
void ckv_history_free(ckv_message *l, size_t n) { (void)l; (void)n; }
const char *ckv_trust_state_name(ckv_trust_state s) { (void)s; return ""; }
const char *ckv_verify_method_name(ckv_verify_method m) { (void)m; return ""; }
