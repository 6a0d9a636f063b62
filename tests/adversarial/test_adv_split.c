/*
 * test_adv_split.c: the adversarial suite, attacks on the view (issue 6,
 * attacks 4, 5 and 8): split views, freezes and witness quorums. The split
 * view is a real fork: ckvd's data is copied and a second ckvd runs on the
 * copy, with the same log key and the same past, and the lying front sends
 * one client's log and directory requests to it while its messages still
 * go to the first ckvd.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "adv.h"
#include "ckv/tlog_note.h"

/* Route the log's and the directory's requests to another ckvd. */
struct split {
    const char *fork_url;
    int on;
};

static int split_before(void *ctx, const liar_req *req, const char **target, liar_resp *resp)
{
    struct split *sp = ctx;
    (void)resp;
    if (sp->on && (liar_path_is(req, "GET", "/checkpoint") || liar_path_is(req, "GET", "/tile/") ||
                   liar_path_is(req, "GET", "/v1/directory/") ||
                   liar_path_is(req, "GET", "/v1/log/")))
        *target = sp->fork_url;
    return 0;
}

static uint64_t view_size(user *u)
{
    ckv_view v;
    OK(u->c, ckv_client_view(u->c, &v));
    return v.tree_size;
}

/* How many evidence files u wrote (<profile>/evidence/); first gets one path. */
static size_t evidence_files(user *u, char *first, size_t cap)
{
    char dir[300], cmd[400];
    snprintf(dir, sizeof dir, "%s/evidence", u->dir);
    snprintf(cmd, sizeof cmd, "ls '%s' 2>/dev/null", dir);
    size_t n = 0;
    FILE *f = popen(cmd, "r");
    if (f != NULL) {
        char line[256];
        while (fgets(line, sizeof line, f) != NULL) {
            line[strcspn(line, "\n")] = 0;
            if (n == 0 && first != NULL)
                snprintf(first, cap, "%s/%s", dir, line);
            n++;
        }
        pclose(f);
    }
    return n;
}

/* ---- attack 4: split view ---------------------------------------------------
 * Before: alice (through the front) and bob registered, alice's view taken;
 * then ckvd forks: on the fork, mallory logs a `reset` of "bob" with her
 * key; on the real log, carol registers (both logs now have the same size,
 * different roots). The front shows alice the fork; bob sees the real log.
 * What each sees alone: alice's lookup of bob verifies (mallory's key is
 * in the fork); bob's monitor sees nothing under his name (the real log
 * has no foreign entry). Neither client can tell alone.
 * Detection when alice's requests reach the real log (the server's two
 * views meet): CKV_ERR_KT_INCONSISTENT, "fork" (core/kt.c
 * accept_checkpoint: two signed checkpoints of one size, two roots).
 * ckv-audit, following the real log and then the fork with one state
 * directory, exits 1 and writes evidence.
 * Left behind: alice's view stays the fork's checkpoint (it is the
 * evidence), every later request to either side of the split fails the
 * same way, mallory's key is not vouched for by the real log. */
static void test_attack4_split_view(void **state)
{
    srv s, f;
    liar px;
    user a, b, c, m;
    ckv_key_info ki;
    ckv_monitor_report rep;
    uint8_t mal_key[33];
    (void)state;

    srv_start(&s);
    user_new(&b, &s, "bob", NULL);
    adv_register(&b);
    assert_int_equal(liar_start(&px, s.url), 0);
    adv_user_via(&a, &s, px.url, "alice");
    adv_register(&a);
    OK(b.c, ckv_client_monitor(b.c, &rep));

    adv_fork(&s, &f, NULL);
    struct split sp = {f.url, 1};
    liar_hooks(&px, split_before, NULL, &sp);
    user_new(&m, &f, "bob", NULL);
    OK(m.c, ckv_client_reset(m.c));
    ckv_profile_identity_key(m.p, mal_key);
    user_new(&c, &s, "carol", NULL);
    adv_register(&c);

    /* each side alone sees a valid log */
    OK(a.c, ckv_client_lookup(a.c, "bob", &ki));
    assert_memory_equal(ki.key, mal_key, 33);
    uint64_t forked = view_size(&a);
    OK(b.c, ckv_client_monitor(b.c, &rep));
    assert_int_equal(rep.foreign_entries, 0);
    assert_int_equal(view_size(&b), forked);

#ifdef CKV_AUDIT_PATH
    /* an outside auditor that follows the log from both places catches the
     * fork and writes evidence (ckv-audit, transparency-log/tools) */
    {
        char state_dir[] = "/tmp/ckv-adv-audit-XXXXXX", ev_path[700];
        struct stat sb;
        assert_non_null(mkdtemp(state_dir));
        assert_int_equal(adv_audit(state_dir, s.vkey, s.url, NULL, 0), 0);
        assert_int_equal(adv_audit(state_dir, s.vkey, f.url, ev_path, sizeof ev_path), 1);
        assert_true(ev_path[0] != 0);
        assert_int_equal(stat(ev_path, &sb), 0);
        adv_rm(state_dir);
    }
#endif
    /* the views meet */
    sp.on = 0;
    for (int round = 0; round < 2; round++) {
        FAILS(a.c, ckv_client_monitor(a.c, &rep), CKV_ERR_KT_INCONSISTENT, "fork");
        FAILS(a.c, ckv_client_lookup(a.c, "carol", &ki), CKV_ERR_KT_INCONSISTENT, "fork");
        assert_int_equal(view_size(&a), forked);
        assert_int_equal(adv_state(&a, "carol"), -1);
    }
#ifdef CKV_AUDIT_PATH
    /* the client kept evidence, and a third party checks it */
    {
        char evpath[700];
        const char *p = strstr(ckv_client_last_error(a.c), "evidence");
        assert_non_null(p);
        assert_true(evidence_files(&a, evpath, sizeof evpath) >= 1);
        assert_int_equal(adv_verify_evidence(evpath), 0);
    }
#endif

    user_free(&a);
    liar_stop(&px);
    user_free(&b);
    user_free(&c);
    user_free(&m);
    srv_stop(&f);
    srv_stop(&s);
}

/* ---- attack 4 by gossip --------------------------------------------------------
 * Before: alice (through the front) and bob registered, no witness pinned,
 * they chatted (gossip agrees). ckvd forks: on the fork mallory registers
 * "zed", on the real log carol registers (the same size, two roots). The
 * front shows alice the fork; bob sees the real log; each alone sees a
 * valid log (monitor OK).
 * Detection: the next message each sends carries, inside the encryption,
 * its newest accepted checkpoint; the receiver compares it with its own
 * view (core/gossip.c ckv_gossip_check): CKV_EV_SPLIT_VIEW with
 * CKV_ERR_KT_SPLIT_VIEW, "split view" and the evidence file (both
 * checkpoints) in <profile>/evidence/ (0600); the per-contact state becomes
 * DIFFER (shown by `ckv contacts`/`ckv verify` and ckv-chat).
 * Left behind: the DIFFER state stays after a reopen (nothing hides it),
 * the message itself is still shown (the alarm is about the server). */
static void test_attack4_split_view_gossip(void **state)
{
    srv s, f;
    liar px;
    user a, b, c, m;
    ckv_monitor_report rep;
    ckv_gossip_state g;
    ckv_event *ev = NULL;
    size_t n = 0;
    char evpath[700];
    struct stat sb;
    (void)state;

    srv_start(&s);
    user_new(&b, &s, "bob", NULL);
    adv_register(&b);
    assert_int_equal(liar_start(&px, s.url), 0);
    adv_user_via(&a, &s, px.url, "alice");
    adv_register(&a);
    OK(a.c, ckv_client_send(a.c, "bob", (const uint8_t *)"hi bob", 6, NULL));
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_int_equal(count_kind(ev, n, CKV_EV_SPLIT_VIEW), 0);
    adv_events_reset(&ev, &n);
    OK(b.c, ckv_profile_gossip_state(b.p, "alice", &g));
    assert_int_equal(g.result, CKV_GOSSIP_AGREE);

    adv_fork(&s, &f, NULL);
    struct split sp = {f.url, 1};
    liar_hooks(&px, split_before, NULL, &sp);
    user_new(&m, &f, "zed", NULL);
    adv_register(&m);
    user_new(&c, &s, "carol", NULL);
    adv_register(&c);
    OK(a.c, ckv_client_monitor(a.c, &rep));
    OK(b.c, ckv_client_monitor(b.c, &rep));
    assert_int_equal(view_size(&a), view_size(&b));

    /* bob -> alice: alice sees bob's (real) checkpoint */
    OK(b.c, ckv_client_send(b.c, "alice", (const uint8_t *)"hello alice", 11, NULL));
    assert_int_equal(recv_until(&a, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    const ckv_event *sv = adv_find(ev, n, CKV_EV_SPLIT_VIEW, 0);
    assert_non_null(sv);
    assert_int_equal(sv->status, CKV_ERR_KT_SPLIT_VIEW);
    assert_string_equal(sv->contact, "bob");
    assert_non_null(sv->text);
    assert_non_null(strstr(sv->text, "split view"));
    assert_non_null(strstr(sv->text, "evidence"));
    adv_events_reset(&ev, &n);
    OK(a.c, ckv_profile_gossip_state(a.p, "bob", &g));
    assert_int_equal(g.result, CKV_GOSSIP_DIFFER);
    assert_true(evidence_files(&a, evpath, sizeof evpath) >= 1);
    assert_int_equal(stat(evpath, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
#ifdef CKV_AUDIT_PATH
    /* a third party checks it: the two signed checkpoints prove the split */
    assert_int_equal(adv_verify_evidence(evpath), 0);
#endif

    /* alice -> bob: bob sees alice's (forked) checkpoint */
    OK(a.c, ckv_client_send(a.c, "bob", (const uint8_t *)"hello bob", 9, NULL));
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_non_null(adv_find(ev, n, CKV_EV_SPLIT_VIEW, 0));
    adv_events_reset(&ev, &n);
    OK(b.c, ckv_profile_gossip_state(b.p, "alice", &g));
    assert_int_equal(g.result, CKV_GOSSIP_DIFFER);
    assert_true(evidence_files(&b, NULL, 0) >= 1);

    /* nothing hides it: the state survives a reopen */
    adv_reopen(&a, 0);
    OK(a.c, ckv_profile_gossip_state(a.p, "bob", &g));
    assert_int_equal(g.result, CKV_GOSSIP_DIFFER);

    user_free(&a);
    liar_stop(&px);
    user_free(&b);
    user_free(&c);
    user_free(&m);
    srv_stop(&f);
    srv_stop(&s);
}

/* ---- witnesses: two real ckv-witness processes, quorum 2 ---------------------- */
#ifdef CKV_WITNESS_PATH
struct wset {
    witness_proc w[2];
    char arg[2][700];
    const char *args[9];
    const char *keys[2];
};

/* ckvd with two witnesses (quorum 2, refresh every second). */
static void wstart(srv *s, struct wset *ws)
{
    srv_start(s);
    srv_kill(s, SIGTERM);
    witness_start(&ws->w[0], "w1.adv", s->vkey);
    witness_start(&ws->w[1], "w2.adv", s->vkey);
    for (int i = 0; i < 2; i++) {
        snprintf(ws->arg[i], sizeof ws->arg[i], "%s,%s", ws->w[i].vkey, ws->w[i].url);
        ws->keys[i] = ws->w[i].vkey;
    }
    const char *args[] = {"--witness",        ws->arg[0], "--witness",         ws->arg[1],
                          "--witness-quorum", "2",        "--witness-refresh", "1",
                          NULL};
    memcpy(ws->args, args, sizeof args);
    harness_ckvd_args = ws->args;
    srv_restart(s);
}

static void wstop(srv *s, struct wset *ws)
{
    srv_stop(s);
    harness_ckvd_args = NULL;
    witness_stop(&ws->w[0]);
    witness_stop(&ws->w[1]);
}

/* A user pinned to both witnesses (quorum 2), talking to url. */
static void wuser(user *u, const srv *s, const char *url, const char *name, struct wset *ws,
                  int64_t max_view_age)
{
    ckv_client_options o = {0};
    o.timeout_ms = 5000;
    o.max_checkpoint_age = 1;
    o.max_view_age = max_view_age;
    user_new_opts(u, url, s->vkey, name, &o, ws->keys, 2, 2);
}

/* Edit the signature lines of a note: drop the line of signer `name`
 * (mode 'd'), flip a bit of its signature ('f'), or add lines (extra). */
static char *note_edit(const char *note, const char *name, int mode, const char *extra)
{
    size_t len = strlen(note);
    char *out = calloc(1, len + (extra ? strlen(extra) : 0) + 8);
    char prefix[128];
    const char *p = note;
    snprintf(prefix, sizeof prefix, "\xe2\x80\x94 %s ", name ? name : "");
    assert_non_null(out);
    while (*p) {
        size_t l = strcspn(p, "\n");
        int nl = p[l] == '\n';
        if (name != NULL && strncmp(p, prefix, strlen(prefix)) == 0) {
            if (mode == 'f') {
                char line[600];
                uint8_t raw[128];
                size_t rl = 0;
                const char *b64 = p + strlen(prefix);
                size_t bl = l - strlen(prefix);
                assert_int_equal(sodium_base642bin(raw, sizeof raw, b64, bl, NULL, &rl, NULL,
                                                   sodium_base64_VARIANT_ORIGINAL),
                                 0);
                raw[rl - 1] ^= 0x01; /* the signature's last byte */
                snprintf(line, sizeof line, "%s", prefix);
                sodium_bin2base64(line + strlen(prefix), sizeof line - strlen(prefix), raw, rl,
                                  sodium_base64_VARIANT_ORIGINAL);
                strcat(out, line);
                strcat(out, "\n");
            }
        } else {
            strncat(out, p, l + (size_t)nl);
        }
        p += l + (size_t)nl;
    }
    if (extra != NULL)
        strcat(out, extra);
    return out;
}

/* A front that edits every checkpoint it forwards (GET /checkpoint and the
 * "checkpoint" field of directory answers). */
struct cp_edit {
    const char *name; /* signer whose line is edited */
    int mode;         /* 'd' drop, 'f' flip, 'u' replace by an unpinned witness's */
    const char *real_url;  /* 'c': copy the real checkpoint's cosignature lines */
    uint8_t seed[32];
};

static char *edit_one(struct cp_edit *ce, const char *note)
{
    if (ce->mode == 'u') {
        char *dropped = note_edit(note, ce->name, 'd', NULL), *out = NULL;
        /* an unpinned witness cosigns the same text (a valid signature by a
         * key the client does not know) */
        assert_int_equal(ckv_tlog_note_cosign(dropped, strlen(dropped), "w9.adv", ce->seed,
                                              (uint64_t)time(NULL), &out, NULL),
                         CKV_OK);
        free(dropped);
        return out;
    }
    if (ce->mode == 'c') {
        /* the real log's cosignature lines, pasted under the forked text */
        char *real = liar_http_get(ce->real_url, "/checkpoint", NULL), *lines = calloc(1, 4096);
        const char *p = real ? strstr(real, "\n\n") : NULL;
        assert_non_null(p);
        for (p += 2; *p; p += strcspn(p, "\n") + 1) {
            if (strncmp(p, "\xe2\x80\x94 w", 5) == 0)
                strncat(lines, p, strcspn(p, "\n") + 1);
            if (p[strcspn(p, "\n")] == 0)
                break;
        }
        char *out = note_edit(note, NULL, 0, lines);
        free(lines);
        free(real);
        return out;
    }
    return note_edit(note, ce->name, ce->mode, NULL);
}

static void cp_edit_after(void *ctx, const liar_req *req, liar_resp *resp)
{
    struct cp_edit *ce = ctx;
    if (resp->status != 200 || strcmp(req->method, "GET") != 0)
        return;
    if (strcmp(req->path, "/checkpoint") == 0) {
        char *out = edit_one(ce, resp->body);
        liar_resp_set(resp, 0, NULL, out, strlen(out));
        free(out);
        return;
    }
    if (!liar_path_is(req, "GET", "/v1/directory/"))
        return;
    json_t *o = json_loads(resp->body, 0, NULL);
    const char *note = json_string_value(json_object_get(o, "checkpoint"));
    if (note != NULL) {
        char *out = edit_one(ce, note);
        json_object_set_new(o, "checkpoint", json_string(out));
        free(out);
        char *body = json_dumps(o, JSON_COMPACT);
        liar_resp_set(resp, 0, NULL, body, strlen(body));
        free(body);
    }
    json_decref(o);
}

/* The split front and the checkpoint editor together. */
struct both {
    struct split sp;
    struct cp_edit ce;
};

static int both_before(void *ctx, const liar_req *req, const char **target, liar_resp *resp)
{
    return split_before(&((struct both *)ctx)->sp, req, target, resp);
}

static void both_after(void *ctx, const liar_req *req, liar_resp *resp)
{
    cp_edit_after(&((struct both *)ctx)->ce, req, resp);
}

/* How many conflicting checkpoints a witness kept (`ckv-witness conflicts`). */
static long witness_conflicts(witness_proc *w)
{
    char cmd[700], line[256];
    long n = -1;
    snprintf(cmd, sizeof cmd, "'%s' conflicts --data '%s/data' 2>&1 >/dev/null", CKV_WITNESS_PATH,
             w->dir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "ckv-witness: %ld conflicting", &n) == 1)
            break;
    pclose(f);
    assert_true(n >= 0);
    return n;
}

/* ---- attack 8: no quorum, forged cosignature -------------------------------------
 * Before: ckvd pushes to two real witnesses (quorum 2); dave (through the
 * front) pins both, quorum 2, and registered; bob registered and rotates
 * afterwards (so dave must accept a new checkpoint to look him up).
 * Lies, on every checkpoint the front forwards: (a) witness w2's cosignature
 * line removed; (b) a cosignature by an unpinned witness instead of w2's;
 * (c) w2's line with one bit of its signature flipped.
 * Expected: (a), (b) CKV_ERR_KT_NO_QUORUM "1 valid cosignature" (core/
 * quorum.c: valid cosignatures of distinct pinned witnesses are counted,
 * unknown signers ignored); (c) CKV_ERR_KT_BAD_CHECKPOINT "forged
 * cosignature" (a pinned witness's key ID with a bad signature rejects the
 * note, libckvlog's note opener).
 * Left behind: the view does not move, bob's new key is not stored,
 * nothing is sent; honest again, the lookup and the send work. */
static void test_attack8_quorum(void **state)
{
    srv s;
    struct wset ws;
    liar px;
    user b, d;
    ckv_key_info ki;
    ckv_view v0, v1;
    (void)state;

    wstart(&s, &ws);
    user_new_opts(&b, s.url, s.vkey, "bob", NULL, ws.keys, 2, 2);
    adv_register(&b);
    assert_int_equal(liar_start(&px, s.url), 0);
    wuser(&d, &s, px.url, "dave", &ws, 3600);
    adv_register(&d);
    OK(d.c, ckv_client_lookup(d.c, "bob", &ki));
    assert_int_equal(ki.version, 1);
    OK(b.c, ckv_client_rotate(b.c));
    OK(d.c, ckv_client_view(d.c, &v0));
    assert_true(v0.witnessed_at > 0);

    struct cp_edit ce = {"w2.adv", 'd', s.url, {0}};
    memset(ce.seed, 9, sizeof ce.seed);
    const int modes[] = {'d', 'u', 'f'};
    for (size_t i = 0; i < 3; i++) {
        ce.mode = modes[i];
        liar_hooks(&px, NULL, cp_edit_after, &ce);
        for (int round = 0; round < 2; round++) {
            ckv_status want = modes[i] == 'f' ? CKV_ERR_KT_BAD_CHECKPOINT : CKV_ERR_KT_NO_QUORUM;
            const char *frag = modes[i] == 'f' ? "forged cosignature" : "1 valid cosignature";
            FAILS(d.c, ckv_client_lookup(d.c, "bob", &ki), want, frag);
            ckv_monitor_report rep;
            FAILS(d.c, ckv_client_monitor(d.c, &rep), want, frag);
            OK(d.c, ckv_client_view(d.c, &v1));
            assert_int_equal(v1.tree_size, v0.tree_size);
        }
        assert_true(liar_lies(&px) > 0);
    }
    liar_hooks(&px, NULL, NULL, NULL);
    OK(d.c, ckv_client_lookup(d.c, "bob", &ki));
    assert_int_equal(ki.version, 2);
    OK(d.c, ckv_client_send(d.c, "bob", (const uint8_t *)"witnessed", 9, NULL));

    user_free(&d);
    liar_stop(&px);
    user_free(&b);
    wstop(&s, &ws);
}

/* ---- attack 4 against witnesses -------------------------------------------------
 * Before: ckvd pushes to two real witnesses; alice (through the front)
 * pins both (quorum 2) and registered. ckvd forks; the fork does not push
 * to the witnesses (they would refuse it); on the fork mallory registers
 * "zed"; on the real log carol registers (cosigned). The front shows alice
 * the fork.
 * Expected: the fork's checkpoint has no cosignature: CKV_ERR_KT_NO_QUORUM
 * "witnesses did not see this view"; with the real log's cosignature lines
 * pasted under the fork's text: CKV_ERR_KT_BAD_CHECKPOINT "forged
 * cosignature" (core/quorum.c). Then the fork pushes to the witnesses
 * itself: they refuse it and keep the conflicting checkpoint
 * (`ckv-witness conflicts`), so the fork can never serve "zed" with a
 * quorum: alice never gets zed's key.
 * Left behind: alice's view stays the real log's, zed unknown to her. */
static void test_attack4_split_view_witnesses(void **state)
{
    srv s, f;
    struct wset ws;
    liar px;
    user a, c, m;
    ckv_key_info ki;
    ckv_monitor_report rep;
    (void)state;

    wstart(&s, &ws);
    assert_int_equal(liar_start(&px, s.url), 0);
    wuser(&a, &s, px.url, "alice", &ws, 3600);
    adv_register(&a);
    uint64_t n0 = view_size(&a);

    adv_fork(&s, &f, NULL);
    user_new(&m, &f, "zed", NULL);
    adv_register(&m);
    /* the real log grows too, and its witnesses cosign it */
    user_new_opts(&c, s.url, s.vkey, "carol", NULL, ws.keys, 2, 2);
    adv_register(&c);
    struct split sp = {f.url, 1};
    liar_hooks(&px, split_before, NULL, &sp);
    for (int round = 0; round < 2; round++) {
        FAILS(a.c, ckv_client_lookup(a.c, "zed", &ki), CKV_ERR_KT_NO_QUORUM,
              "witnesses did not see this view");
        FAILS(a.c, ckv_client_monitor(a.c, &rep), CKV_ERR_KT_NO_QUORUM, "cosignature");
        assert_int_equal(view_size(&a), n0);
    }
    /* the real cosignatures pasted under the fork */
    struct both bo = {{f.url, 1}, {NULL, 'c', s.url, {0}}};
    liar_hooks(&px, both_before, both_after, &bo);
    for (int round = 0; round < 2; round++) {
        FAILS(a.c, ckv_client_lookup(a.c, "zed", &ki), CKV_ERR_KT_BAD_CHECKPOINT,
              "forged cosignature");
        assert_int_equal(view_size(&a), n0);
    }
    assert_true(liar_lies(&px) > 0);

    /* the fork pushes to the witnesses itself */
    assert_int_equal(witness_conflicts(&ws.w[0]) + witness_conflicts(&ws.w[1]), 0);
    liar_hooks(&px, split_before, NULL, &sp);
    srv_kill(&f, SIGTERM);
    harness_ckvd_args = ws.args;
    srv_restart(&f);
    long conflicts = 0;
    for (int i = 0; i < 100 && conflicts == 0; i++) {
        conflicts = witness_conflicts(&ws.w[0]) + witness_conflicts(&ws.w[1]);
        if (conflicts == 0)
            usleep(100000);
    }
    assert_true(conflicts >= 1);
    /* and it has no cosigned checkpoint with zed to serve: alice's view
     * stays the real log's, zed stays unknown */
    OK(a.c, ckv_client_monitor(a.c, &rep));
    assert_int_equal(view_size(&a), n0);
    char *zed = liar_http_get(f.url, "/v1/directory/zed", NULL);
    assert_null(zed); /* 503 pending: not under a checkpoint with the quorum */

    user_free(&a);
    liar_stop(&px);
    user_free(&m);
    user_free(&c);
    srv_stop(&f);
    wstop(&s, &ws);
}
/* ---- attack 5: freeze ---------------------------------------------------------
 * Before: ckvd pushes to two real witnesses (re-pushing every second, so
 * cosignatures stay fresh); alice (through the front) pins both, quorum 2,
 * maximum view age 3 s; alice and bob chatted; carol registered.
 * Lie: from now on the front answers alice's /checkpoint and directory
 * requests with what the server said at that moment (validly signed,
 * validly cosigned, consistent): her view is frozen while bob rotates.
 * Expected, once the view's K-th newest cosignature is older than 3 s:
 * sending refuses with CKV_ERR_KT_VIEW_FROZEN, "freezing" (core/quorum.c
 * ckv_quorum_check_view_age, after one refresh of /checkpoint), nothing is
 * queued; receiving still works (carol's message is shown).
 * Left behind: nothing; the second try refuses the same way; when the
 * front stops lying, alice's send refreshes her view, finds bob's new key
 * and goes out. */
struct freeze {
    char *cp;
    char *dir_bob;
    char *dir_carol;
};

static int freeze_before(void *ctx, const liar_req *req, const char **target, liar_resp *resp)
{
    struct freeze *fz = ctx;
    const char *body = NULL;
    (void)target;
    if (strcmp(req->method, "GET") != 0)
        return 0;
    if (strcmp(req->path, "/checkpoint") == 0)
        body = fz->cp;
    else if (strcmp(req->path, "/v1/directory/bob") == 0)
        body = fz->dir_bob;
    else if (strcmp(req->path, "/v1/directory/carol") == 0)
        body = fz->dir_carol;
    if (body == NULL)
        return 0;
    liar_resp_set(resp, 200, strcmp(req->path, "/checkpoint") == 0 ? "text/plain" : NULL, body,
                  strlen(body));
    return 1;
}

static void test_attack5_freeze(void **state)
{
    srv s;
    struct wset ws;
    liar px;
    user a, b, c;
    ckv_event *ev = NULL;
    size_t n = 0;
    struct freeze fz;
    (void)state;

    wstart(&s, &ws);
    user_new_opts(&b, s.url, s.vkey, "bob", NULL, ws.keys, 2, 2);
    user_new_opts(&c, s.url, s.vkey, "carol", NULL, ws.keys, 2, 2);
    adv_register(&b);
    adv_register(&c);
    assert_int_equal(liar_start(&px, s.url), 0);
    wuser(&a, &s, px.url, "alice", &ws, 3);
    adv_register(&a);
    OK(a.c, ckv_client_send(a.c, "bob", (const uint8_t *)"before", 6, NULL));
    OK(c.c, ckv_client_add_contact(c.c, "alice", NULL));
    OK(a.c, ckv_client_add_contact(a.c, "carol", NULL));

    fz.cp = adv_get(s.url, "/checkpoint");
    fz.dir_bob = adv_get(s.url, "/v1/directory/bob");
    fz.dir_carol = adv_get(s.url, "/v1/directory/carol");
    liar_hooks(&px, freeze_before, NULL, &fz);
    OK(b.c, ckv_client_rotate(b.c));
    long long queued = srv_queued(&s, "bob");
    sleep(5);

    for (int round = 0; round < 2; round++) {
        FAILS(a.c, ckv_client_send(a.c, "bob", (const uint8_t *)"frozen?", 7, NULL),
              CKV_ERR_KT_VIEW_FROZEN, "freezing");
        FAILS(a.c, ckv_client_send(a.c, "carol", (const uint8_t *)"frozen?", 7, NULL),
              CKV_ERR_KT_VIEW_FROZEN, "freezing");
        assert_int_equal(srv_queued(&s, "bob"), queued);
        assert_int_equal(srv_queued(&s, "carol"), 0);
    }
    assert_true(liar_lies(&px) > 0);
    /* receiving still works */
    OK(c.c, ckv_client_send(c.c, "alice", (const uint8_t *)"from carol", 10, NULL));
    assert_int_equal(recv_until(&a, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_string_equal(adv_find(ev, n, CKV_EV_MESSAGE, 0)->text, "from carol");
    adv_events_reset(&ev, &n);
    /* bob, rotated, writes to alice (a PreKey message under his new key,
     * which her frozen view cannot prove): held, not refused, not lost */
    OK(b.c, ckv_client_send(b.c, "alice", (const uint8_t *)"rotated", 7, NULL));
    assert_int_equal(recv_until(&a, CKV_EV_HELD, 1, &ev, &n), 1);
    assert_string_equal(adv_find(ev, n, CKV_EV_HELD, 0)->contact, "bob");
    assert_int_equal(adv_find(ev, n, CKV_EV_HELD, 0)->status, CKV_ERR_KT_VIEW_FROZEN);
    assert_int_equal(count_kind(ev, n, CKV_EV_MESSAGE), 0);
    assert_int_equal(count_kind(ev, n, CKV_EV_REJECTED), 0);
    adv_events_reset(&ev, &n);
    assert_int_equal(srv_queued(&s, "alice"), 0); /* acknowledged: it is in her profile */
    OK(a.c, ckv_client_receive(a.c, 1, &ev, &n)); /* still frozen: still held, quietly */
    assert_int_equal(count_kind(ev, n, CKV_EV_MESSAGE), 0);
    assert_int_equal(count_kind(ev, n, CKV_EV_REJECTED), 0);
    adv_events_reset(&ev, &n);

    /* the front stops lying: alice catches up and sends to bob's new key */
    liar_hooks(&px, NULL, NULL, NULL);
    OK(a.c, ckv_client_send(a.c, "bob", (const uint8_t *)"after", 5, NULL));
    /* bob also gets "before", sent to him before his rotation (kept
     * session, core/identity.c) */
    assert_int_equal(recv_until(&b, CKV_EV_MESSAGE, 2, &ev, &n), 2);
    assert_string_equal(adv_find(ev, n, CKV_EV_MESSAGE, 0)->text, "before");
    assert_string_equal(adv_find(ev, n, CKV_EV_MESSAGE, 1)->text, "after");
    assert_int_equal(count_kind(ev, n, CKV_EV_REJECTED), 0);
    adv_events_reset(&ev, &n);
    /* her view is fresh: the held message is checked against the log and
     * shown */
    assert_int_equal(recv_until(&a, CKV_EV_MESSAGE, 1, &ev, &n), 1);
    assert_string_equal(adv_find(ev, n, CKV_EV_MESSAGE, 0)->contact, "bob");
    assert_string_equal(adv_find(ev, n, CKV_EV_MESSAGE, 0)->text, "rotated");
    assert_int_equal(count_kind(ev, n, CKV_EV_REJECTED), 0);
    adv_events_reset(&ev, &n);

    free(fz.cp);
    free(fz.dir_bob);
    free(fz.dir_carol);
    user_free(&a);
    liar_stop(&px);
    user_free(&b);
    user_free(&c);
    wstop(&s, &ws);
}
#endif /* CKV_WITNESS_PATH */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attack4_split_view),
        cmocka_unit_test(test_attack4_split_view_gossip),
#ifdef CKV_WITNESS_PATH
        cmocka_unit_test(test_attack8_quorum),
        cmocka_unit_test(test_attack4_split_view_witnesses),
        cmocka_unit_test(test_attack5_freeze),
#endif
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
