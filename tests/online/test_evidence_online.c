/*
 * test_evidence_online.c: the client writes evidence when the server lies
 * (core/kt_evidence.c at the detection sites of core/kt.c and the bundle
 * check): a real ckvd behind a lying proxy (proxy.c) serves a wrong
 * inclusion proof, a server-made bundle key, a stale entry, a forked
 * checkpoint of the same size and a larger checkpoint the log cannot
 * prove consistent. Each time the error names an evidence file in
 * <profile dir>/evidence/ (mode 0600), and the file proves the
 * misbehaviour; the split-view hook (gossip) proves a same-size split and
 * one the server's proof cannot join: checked with the library and with `ckv-audit
 * verify-evidence --vkey` (exit 0); a copy with a flipped signature byte
 * does not (exit 1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>

#include "ckv/evidence.h"
#include "ckv/tlog.h"
#include "harness.h"
#include "kt_evidence.h" /* core/: the split-view hook gossip calls */
#include "proxy.h"

#define OK(c, x)                                                                                   \
    do {                                                                                           \
        ckv_status st_ = (x);                                                                      \
        if (st_ != CKV_OK)                                                                         \
            fail_msg("%s -> %s: %s", #x, ckv_status_name(st_), ckv_client_last_error(c));          \
    } while (0)

static int run_audit(const char *vkey, const char *path)
{
#ifdef CKV_AUDIT_PATH
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' verify-evidence --quiet --vkey '%s' '%s'", CKV_AUDIT_PATH, vkey,
             path);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
#else
    (void)vkey;
    (void)path;
    return 0;
#endif
}

/* The error of c names an evidence file of `kind` in u's profile that
 * proves it; a tampered copy does not. */
static void expect_evidence(const user *u, const srv *s, const char *kind)
{
    const char *err = ckv_client_last_error(u->c);
    const char *at = strstr(err, "evidence written to ");
    char path[1024], dir[512], copy[1100];
    ckv_evidence_result r;
    struct stat sb;
    if (at == NULL)
        fail_msg("no evidence in the error: %s", err);
    snprintf(path, sizeof path, "%s", at + strlen("evidence written to "));
    snprintf(dir, sizeof dir, "%s/", u->dir);
    assert_non_null(strstr(path, "/evidence/evidence-"));
    assert_non_null(strstr(path, kind));
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(ckv_evidence_verify_file(path, s->vkey, &r), CKV_OK);
    if (!r.proven || strcmp(r.kind, kind) != 0)
        fail_msg("%s: kind %s proven %d: %s / %s / %s", path, r.kind, r.proven,
                 r.proven_by_signatures, r.reported, r.why_not);
    assert_int_equal(run_audit(s->vkey, path), 0);

    /* flip one byte of the first checkpoint's signature */
    json_t *j = json_load_file(path, 0, NULL);
    json_t *cp = json_array_get(json_object_get(j, "checkpoints"), 0);
    const char *b64 = json_string_value(json_object_get(cp, "base64"));
    uint8_t raw[4096];
    size_t n = 0;
    char enc[6000];
    assert_int_equal(sodium_base642bin(raw, sizeof raw, b64, strlen(b64), NULL, &n, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    raw[n - 8] ^= 1;
    sodium_bin2base64(enc, sizeof enc, raw, n, sodium_base64_VARIANT_ORIGINAL);
    json_object_set_new(cp, "base64", json_string(enc));
    json_object_del(cp, "text");
    snprintf(copy, sizeof copy, "%s.tampered", path);
    assert_int_equal(json_dump_file(j, copy, 0), 0);
    json_decref(j);
    assert_int_equal(ckv_evidence_verify_file(copy, s->vkey, &r), CKV_OK);
    assert_false(r.proven);
    assert_int_equal(run_audit(s->vkey, copy), 1);
    remove(copy);
}

static char *flip_proof(const char *json)
{
    json_t *o = json_loads(json, 0, NULL);
    json_t *p = json_object_get(o, "proof");
    uint8_t h[32];
    size_t hl = 0;
    char b64[64];
    assert_true(json_array_size(p) > 0);
    assert_int_equal(sodium_base642bin(h, sizeof h, json_string_value(json_array_get(p, 0)), 44,
                                       NULL, &hl, NULL, sodium_base64_VARIANT_ORIGINAL),
                     0);
    h[5] ^= 1;
    sodium_bin2base64(b64, sizeof b64, h, 32, sodium_base64_VARIANT_ORIGINAL);
    json_array_set_new(p, 0, json_string(b64));
    char *out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return out;
}

static char *signed_checkpoint(const srv *s, uint64_t size, uint8_t fill)
{
    ckv_tlog_signer *signer = NULL;
    ckv_tlog_hash root;
    char kpath[300], *text = NULL, *note = NULL;
    size_t tl = 0, nl = 0;
    snprintf(kpath, sizeof kpath, "%s/data/log.key", s->dir);
    assert_int_equal(ckv_tlog_signer_load(kpath, &signer), CKV_OK);
    memset(root.b, fill, sizeof root.b);
    assert_int_equal(
        ckv_tlog_checkpoint_format(ckv_tlog_signer_name(signer), size, &root, NULL, &text, &tl),
        CKV_OK);
    assert_int_equal(ckv_tlog_note_sign(text, tl, signer, &note, &nl), CKV_OK);
    ckv_tlog_signer_free(signer);
    free(text);
    return note;
}

static void test_client_evidence(void **state)
{
    srv s;
    proxy px;
    user a, b, d;
    ckv_key_info ki;
    ckv_monitor_report rep;
    ckv_view v;
    char url[256], *real_bob, *real_alice, *body, *note;
    (void)state;

    srv_start(&s);
    user_new(&a, &s, "alice", NULL);
    user_new(&b, &s, "bob", NULL);
    OK(a.c, ckv_client_register(a.c));
    OK(b.c, ckv_client_register(b.c));
    assert_int_equal(proxy_start(&px, s.url), 0);
    srv ps = s;
    snprintf(ps.url, sizeof ps.url, "%s", px.url);
    user_new(&d, &ps, "dave", NULL);
    OK(d.c, ckv_client_register(d.c));
    snprintf(url, sizeof url, "%s/v1/directory/bob", s.url);
    real_bob = http_get(url);
    snprintf(url, sizeof url, "%s/v1/directory/alice", s.url);
    real_alice = http_get(url);
    assert_non_null(real_bob);
    assert_non_null(real_alice);

    /* bad_proof: a wrong inclusion proof under the signed checkpoint */
    body = flip_proof(real_bob);
    proxy_override(&px, "/v1/directory/bob", body);
    free(body);
    assert_int_equal(ckv_client_lookup(d.c, "bob", &ki), CKV_ERR_KT_BAD_PROOF);
    expect_evidence(&d, &s, "bad_proof");

    /* key_not_in_log: a bundle with alice's key for bob */
    proxy_override(&px, NULL, NULL);
    ckv_bundle fake;
    char *bj = NULL;
    assert_int_equal(ckv_profile_export_bundle(a.p, 0, &fake), CKV_OK);
    assert_int_equal(ckv_bundle_to_json(&fake, &bj), CKV_OK);
    json_t *bo = json_loads(bj, 0, NULL);
    json_object_set_new(bo, "name", json_string("bob"));
    body = json_dumps(bo, JSON_COMPACT);
    json_decref(bo);
    free(bj);
    proxy_override(&px, "/v1/keys/bob", body);
    free(body);
    assert_int_equal(ckv_client_add_contact(d.c, "bob", NULL), CKV_ERR_KT_BUNDLE_KEY);
    expect_evidence(&d, &s, "key_not_in_log");
    proxy_override(&px, NULL, NULL);

    /* stale_entry: alice's version 1 served after version 2 was proven,
     * proven under the current checkpoint (the server's own history
     * answer); under the checkpoint it was recorded with, it would be
     * refused earlier, as a rollback */
    OK(d.c, ckv_client_lookup(d.c, "alice", &ki));
    OK(a.c, ckv_client_rotate(a.c));
    OK(d.c, ckv_client_lookup(d.c, "alice", &ki));
    assert_int_equal(ki.version, 2);
    snprintf(url, sizeof url, "%s/v1/directory/alice/history", s.url);
    char *hist = http_get(url);
    assert_non_null(hist);
    json_t *ho = json_loads(hist, 0, NULL), *first = json_deep_copy(
                                                 json_array_get(json_object_get(ho, "entries"), 0));
    json_object_set(first, "checkpoint", json_object_get(ho, "checkpoint"));
    char *stale = json_dumps(first, JSON_COMPACT);
    json_decref(first);
    json_decref(ho);
    free(hist);
    proxy_override(&px, "/v1/directory/alice", stale);
    free(stale);
    assert_int_equal(ckv_client_lookup(d.c, "alice", &ki), CKV_ERR_KT_STALE);
    expect_evidence(&d, &s, "stale_entry");
    proxy_override(&px, NULL, NULL);

    /* fork: a second signed checkpoint of our view's size */
    OK(d.c, ckv_client_monitor(d.c, &rep));
    OK(d.c, ckv_client_view(d.c, &v));
    note = signed_checkpoint(&s, v.tree_size, 0x42);
    proxy_override(&px, "/checkpoint", note);
    free(note);
    assert_int_equal(ckv_client_monitor(d.c, &rep), CKV_ERR_KT_INCONSISTENT);
    expect_evidence(&d, &s, "fork");

    /* bad_proof: a larger signed checkpoint no consistency proof reaches */
    note = signed_checkpoint(&s, v.tree_size + 1, 0x17);
    proxy_override(&px, "/checkpoint", note);
    free(note);
    OK(b.c, ckv_client_rotate(b.c)); /* the real log grows to that size */
    assert_int_equal(ckv_client_monitor(d.c, &rep), CKV_ERR_KT_INCONSISTENT);
    expect_evidence(&d, &s, "bad_proof");
    proxy_override(&px, NULL, NULL);
    OK(d.c, ckv_client_monitor(d.c, &rep));

    /* split_view (gossip): bob's checkpoint of our size with another root */
    OK(d.c, ckv_client_view(d.c, &v));
    note = signed_checkpoint(&s, v.tree_size, 0x33);
    assert_int_equal(ckv_kt_ev_split_view(
                         d.c, ckv_client_fail(d.c, CKV_ERR_KT_INCONSISTENT, "split view with bob"),
                         "bob", note, strlen(note), 0, NULL, 0),
                     CKV_ERR_KT_INCONSISTENT);
    free(note);
    expect_evidence(&d, &s, "split_view");
    /* a larger one from bob: the server's proof (fetched again) fails */
    OK(a.c, ckv_client_rotate(a.c));
    note = signed_checkpoint(&s, v.tree_size + 1, 0x34);
    for (int i = 0; i < 100; i++) { /* until ckvd can prove size + 1 */
        char u2[300], *cp2;
        snprintf(u2, sizeof u2, "%s/checkpoint", s.url);
        cp2 = http_get(u2);
        int ready = cp2 != NULL && strtoull(strchr(cp2, '\n') + 1, NULL, 10) > v.tree_size;
        free(cp2);
        if (ready)
            break;
        usleep(50000);
    }
    assert_int_equal(ckv_kt_ev_split_view(
                         d.c, ckv_client_fail(d.c, CKV_ERR_KT_INCONSISTENT, "split view with bob"),
                         "bob", note, strlen(note), 1, NULL, 0),
                     CKV_ERR_KT_INCONSISTENT);
    free(note);
    expect_evidence(&d, &s, "split_view");

    free(real_bob);
    free(real_alice);
    user_free(&d);
    proxy_stop(&px);
    user_free(&a);
    user_free(&b);
    srv_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_evidence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
