/*
 * audit_state.c: the state directory of ckv-audit (see audit_state.h).
 */
#include "audit_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool_util.h"

#define STATE_NOTE_CAP (64 * 1024)

ckv_status audit_state_dir(const char *state_root, const char *key_name, uint32_t key_hash,
                           char **out)
{
    ckv_status st = CKV_OK;
    char *root = NULL, *dir = NULL, *sub = NULL;

    if (state_root != NULL) {
        root = strdup(state_root);
    } else {
        const char *x = getenv("XDG_STATE_HOME");
        const char *home = getenv("HOME");
        if (x != NULL && x[0] == '/') {
            root = tool_path_join(x, "ckv-audit");
        } else if (home != NULL && home[0] == '/') {
            root = tool_path_join(home, ".local/state/ckv-audit");
        } else {
            st = CKV_ERR_NOT_FOUND;
            goto out;
        }
    }
    if (root == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    size_t n = strlen(key_name);
    sub = malloc(n + 16);
    if (sub == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char c = key_name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_';
        sub[i] = ok ? c : '_';
    }
    snprintf(sub + n, 16, "-%08x", (unsigned)key_hash);
    if (sub[0] == '.')
        sub[0] = '_';
    dir = tool_path_join(root, sub);
    if (dir == NULL) {
        st = CKV_ERR_NOMEM;
        goto out;
    }
    st = tool_mkdir_p(dir, 0700);
    if (st != CKV_OK)
        goto out;
    *out = dir;
    dir = NULL;
out:
    free(root);
    free(sub);
    free(dir);
    return st;
}

ckv_status audit_state_load(const char *dir, uint8_t **note, size_t *len)
{
    char *p = tool_path_join(dir, "checkpoint");
    if (p == NULL)
        return CKV_ERR_NOMEM;
    ckv_status st = tool_read_file(p, STATE_NOTE_CAP, note, len);
    free(p);
    return st;
}

ckv_status audit_state_save(const char *dir, const uint8_t *note, size_t len)
{
    char *p = tool_path_join(dir, "checkpoint");
    if (p == NULL)
        return CKV_ERR_NOMEM;
    ckv_status st = tool_write_file_atomic(p, note, len, 0600);
    free(p);
    return st;
}
