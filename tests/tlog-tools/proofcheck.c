/*
 * proofcheck.c: a tiny independent checker the tool tests use to judge
 * what `ckv-log` prints, with the library's standalone verifiers only (no
 * store): it opens signed checkpoints with the verifier key and verifies
 * the printed proofs against their roots.
 *
 *   proofcheck checkpoint VKEY CP_FILE
 *       the checkpoint verifies; prints "<size> <root hex>"
 *   proofcheck inclusion VKEY CP_FILE PROOF_FILE ENTRY
 *       the proof is for the checkpoint's size, its leaf hash is
 *       SHA-256(0x00 || ENTRY), and it verifies against the signed root
 *   proofcheck consistency VKEY OLD_CP_FILE NEW_CP_FILE PROOF_FILE
 *       the proof's sizes and roots are the two signed checkpoints' and it
 *       verifies (RFC 9162 §2.1.4.2)
 * Exit 0 when the check holds, 1 when it does not, 2 on usage errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckv/tlog.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = 0;
    *len = n;
    return buf;
}

static int open_cp(ckv_tlog_verifier *v, const char *path, ckv_tlog_checkpoint *cp)
{
    size_t len = 0;
    char *note = slurp(path, &len);
    if (note == NULL) {
        fprintf(stderr, "proofcheck: cannot read %s\n", path);
        return -1;
    }
    const ckv_tlog_verifier *vs[1] = {v};
    ckv_status st = ckv_tlog_checkpoint_open(note, len, NULL, vs, 1, cp, NULL);
    free(note);
    if (st != CKV_OK) {
        fprintf(stderr, "proofcheck: %s does not verify: %s\n", path, ckv_status_name(st));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    ckv_tlog_verifier *v = NULL;
    ckv_tlog_checkpoint *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    char *json = NULL;
    size_t jlen = 0;
    int rc = 1;
    ckv_status st;

    if (argc < 4 || a == NULL || b == NULL) {
        fprintf(stderr, "usage: proofcheck checkpoint|inclusion|consistency VKEY ...\n");
        rc = 2;
        goto out;
    }
    if (ckv_tlog_verifier_parse(argv[2], strlen(argv[2]), &v) != CKV_OK) {
        fprintf(stderr, "proofcheck: bad verifier key\n");
        rc = 2;
        goto out;
    }
    if (strcmp(argv[1], "checkpoint") == 0 && argc == 4) {
        if (open_cp(v, argv[3], a) != 0)
            goto out;
        char hex[65];
        ckv_tlog_hash_to_hex(&a->root, hex);
        printf("%llu %s\n", (unsigned long long)a->size, hex);
        rc = 0;
    } else if (strcmp(argv[1], "inclusion") == 0 && argc == 6) {
        ckv_tlog_inclusion_proof *p = malloc(sizeof(*p));
        if (p == NULL || open_cp(v, argv[3], a) != 0 || (json = slurp(argv[4], &jlen)) == NULL) {
            free(p);
            goto out;
        }
        while (jlen > 0 && json[jlen - 1] == '\n')
            jlen--;
        st = ckv_tlog_inclusion_proof_from_json(json, jlen, p);
        ckv_tlog_hash leaf;
        ckv_tlog_leaf_hash(argv[5], strlen(argv[5]), &leaf);
        if (st != CKV_OK) {
            fprintf(stderr, "proofcheck: proof does not parse: %s\n", ckv_status_name(st));
        } else if (p->tree_size != a->size) {
            fprintf(stderr, "proofcheck: proof is for size %llu, checkpoint has %llu\n",
                    (unsigned long long)p->tree_size, (unsigned long long)a->size);
        } else if (!ckv_tlog_hash_equal(&leaf, &p->leaf_hash)) {
            fprintf(stderr, "proofcheck: leaf_hash is not the hash of the entry\n");
        } else if ((st = ckv_tlog_verify_inclusion(p->leaf_index, p->tree_size, &leaf, p->path,
                                                   p->path_len, &a->root)) != CKV_OK) {
            fprintf(stderr, "proofcheck: inclusion proof does not verify: %s\n",
                    ckv_status_name(st));
        } else {
            rc = 0;
        }
        free(p);
    } else if (strcmp(argv[1], "consistency") == 0 && argc == 6) {
        ckv_tlog_consistency_proof *p = malloc(sizeof(*p));
        if (p == NULL || open_cp(v, argv[3], a) != 0 || open_cp(v, argv[4], b) != 0 ||
            (json = slurp(argv[5], &jlen)) == NULL) {
            free(p);
            goto out;
        }
        while (jlen > 0 && json[jlen - 1] == '\n')
            jlen--;
        st = ckv_tlog_consistency_proof_from_json(json, jlen, p);
        if (st != CKV_OK) {
            fprintf(stderr, "proofcheck: proof does not parse: %s\n", ckv_status_name(st));
        } else if (p->old_size != a->size || p->new_size != b->size) {
            fprintf(stderr, "proofcheck: proof sizes %llu->%llu, checkpoints %llu->%llu\n",
                    (unsigned long long)p->old_size, (unsigned long long)p->new_size,
                    (unsigned long long)a->size, (unsigned long long)b->size);
        } else if ((a->size > 0 && !ckv_tlog_hash_equal(&p->old_root, &a->root)) ||
                   !ckv_tlog_hash_equal(&p->new_root, &b->root)) {
            fprintf(stderr, "proofcheck: proof roots are not the signed roots\n");
        } else if ((st = ckv_tlog_verify_consistency(a->size, b->size, &a->root, &b->root,
                                                     p->path, p->path_len)) != CKV_OK) {
            fprintf(stderr, "proofcheck: consistency proof does not verify: %s\n",
                    ckv_status_name(st));
        } else {
            rc = 0;
        }
        free(p);
    } else {
        fprintf(stderr, "proofcheck: bad arguments\n");
        rc = 2;
    }
out:
    free(json);
    free(a);
    free(b);
    ckv_tlog_verifier_free(v);
    return rc;
}
