/*
 * fuzz_witness_request.c: ckv-witness's add-checkpoint handling (the strict
 * body parser, the note and checkpoint parsers behind it, and the decision
 * against a real SQLite state) on arbitrary bodies. The witness follows the
 * log "fuzz.example/log" whose Ed25519 seed is 32 bytes of 0x01, so corpus
 * entries can carry validly signed checkpoints.
 */
#include <sodium.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "witness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ckvw_config cfg;
static ckv_tlog_verifier *logs[1];
static ckvw_state *state;
static char dir[] = "/tmp/ckvw-fuzz-XXXXXX";

static void cleanup(void)
{
    static const char *const files[] = {"witness.db", "witness.db-wal", "witness.db-shm"};
    char path[64];
    ckvw_state_close(state);
    ckv_tlog_verifier_free(logs[0]);
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static int init(void)
{
    char path[64], *vkey = NULL;
    uint8_t seed[32];
    if (!mkdtemp(dir) || sodium_init() < 0)
        return -1;
    memset(seed, 1, sizeof(seed));
    if (ckv_tlog_signer_from_seed("fuzz.example/log", seed, NULL, &vkey) != CKV_OK ||
        ckv_tlog_verifier_parse(vkey, strlen(vkey), &logs[0]) != CKV_OK)
        return -1;
    free(vkey);
    snprintf(path, sizeof(path), "%s/witness.db", dir);
    if (ckvw_state_open(path, &state) != CKV_OK)
        return -1;
    snprintf(cfg.name, sizeof(cfg.name), "fuzz.example/witness");
    memset(cfg.seed, 2, sizeof(cfg.seed));
    cfg.logs = logs;
    cfg.nlogs = 1;
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    ckvw_answer a;
    if (!ready) {
        if (init() != 0)
            abort();
        ready = 1;
    }
    ckvw_handle_add_checkpoint(&cfg, state, (const char *)data, size, 1700000000, &a);
    if (!a.body || (a.status != 200 && a.status != 400 && a.status != 403 && a.status != 404 &&
                    a.status != 409 && a.status != 413 && a.status != 422))
        abort();
    free(a.body);
    return 0;
}
