/*
 * fuzz_tlog_proof.c: proofs in JSON from untrusted bytes. A parsed proof
 * must survive verification (any result, no crash) and format back into
 * JSON that parses to the same proof.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ckv/tlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    ckv_tlog_inclusion_proof *ip = malloc(sizeof *ip), *ip2 = malloc(sizeof *ip2);
    ckv_tlog_consistency_proof *cp = malloc(sizeof *cp), *cp2 = malloc(sizeof *cp2);
    ckv_tlog_hash root;
    char *j = NULL;
    if (!ip || !ip2 || !cp || !cp2)
        abort();
    memset(&root, 0x5a, sizeof root);
    if (ckv_tlog_inclusion_proof_from_json(s, size, ip) == CKV_OK) {
        ckv_status st = ckv_tlog_verify_inclusion(ip->leaf_index, ip->tree_size, &ip->leaf_hash,
                                                  ip->path, ip->path_len, &root);
        if (st == CKV_OK)
            abort(); /* no preimage of 5a5a... is expected */
        if (ckv_tlog_inclusion_proof_to_json(ip, &j) != CKV_OK)
            abort();
        if (ckv_tlog_inclusion_proof_from_json(j, strlen(j), ip2) != CKV_OK ||
            ip2->leaf_index != ip->leaf_index || ip2->tree_size != ip->tree_size ||
            ip2->path_len != ip->path_len ||
            memcmp(ip2->path, ip->path, ip->path_len * sizeof ip->path[0]) != 0)
            abort();
        free(j);
    }
    if (ckv_tlog_consistency_proof_from_json(s, size, cp) == CKV_OK) {
        (void)!ckv_tlog_verify_consistency(cp->old_size, cp->new_size, &cp->old_root, &cp->new_root,
                                           cp->path, cp->path_len);
        if (ckv_tlog_consistency_proof_to_json(cp, &j) != CKV_OK)
            abort();
        if (ckv_tlog_consistency_proof_from_json(j, strlen(j), cp2) != CKV_OK ||
            cp2->old_size != cp->old_size || cp2->new_size != cp->new_size ||
            cp2->path_len != cp->path_len)
            abort();
        free(j);
    }
    /* the raw bytes as a path of hashes, checked against arbitrary sizes */
    if (size >= 16) {
        uint64_t a, b;
        memcpy(&a, data, 8);
        memcpy(&b, data + 8, 8);
        size_t n = (size - 16) / 32;
        if (n > CKV_TLOG_MAX_PROOF)
            n = CKV_TLOG_MAX_PROOF;
        ckv_tlog_hash path[CKV_TLOG_MAX_PROOF];
        memcpy(path, data + 16, n * 32);
        (void)!ckv_tlog_verify_inclusion(a, b, &root, path, n, &root);
        (void)!ckv_tlog_verify_consistency(a, b, &root, &root, path, n);
    }
    free(ip);
    free(ip2);
    free(cp);
    free(cp2);
    return 0;
}
