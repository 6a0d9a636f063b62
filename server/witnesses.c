/*
 * witnesses.c: pushing checkpoints to tlog-witnesses and keeping their
 * cosignatures (witnesses.h).
 *
 * DIR/cosig.db (SQLite, WAL):
 *   checkpoints(size PK, note)   log-signed notes pushed to witnesses
 *   cosigs(witness, size, line, time, PK(witness, size))
 *                                one verified cosignature line per witness
 *                                and size (the newest: a re-push replaces it,
 *                                so timestamps stay fresh)
 * Rows below the served size are pruned once a newer checkpoint is served,
 * so the file stays small. A restart serves the same cosigned checkpoint.
 *
 * A push (c2sp.org/tlog-witness "add-checkpoint"): body "old M\n", the
 * RFC 9162 consistency proof M -> N (base64, one hash a line), "\n", the
 * note. 200: cosignature lines; each line claiming our witness's name is
 * checked with ckv_tlog_note_open against that witness's key before it is
 * kept (c2sp.org/tlog-cosignature). 409 (text/x.tlog.size): the witness's
 * size; prove from there and retry. Anything else: logged, retried at the
 * next round. Transfers are short (connect 2 s, total 5 s) and run in
 * parallel, one thread per witness.
 */
#include "witnesses.h"

#include <curl/curl.h>
#include <sodium.h>
#include <sqlite3.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckvd.h"

#define RESP_MAX 8192 /* a witness's answer: a few signature lines */

struct witness {
    char *vkey;                   /* as configured */
    ckv_tlog_verifier *v;         /* type 0x04 */
    char url[1024];               /* URL/add-checkpoint */
    uint64_t size;                /* its latest size as far as we know */
    char last_error[256];         /* to log a failure once, not every round */
    char *got_line;               /* a push's verified cosignature, until stored */
    uint64_t got_time;
};

struct ckvd_witness_set {
    struct witness w[CKVD_MAX_WITNESSES];
    size_t n;
    unsigned quorum; /* 0: all */
    unsigned refresh_s;
    sqlite3 *db;
};

struct ckvd_witness_set *ckvd_witness_set_new(void)
{
    struct ckvd_witness_set *ws = calloc(1, sizeof(*ws));
    if (ws)
        ws->refresh_s = CKVD_WITNESS_REFRESH_DEFAULT;
    return ws;
}

void ckvd_witness_set_free(struct ckvd_witness_set *ws)
{
    if (!ws)
        return;
    for (size_t i = 0; i < ws->n; i++) {
        free(ws->w[i].vkey);
        ckv_tlog_verifier_free(ws->w[i].v);
    }
    sqlite3_close(ws->db);
    free(ws);
}

int ckvd_witness_set_add(struct ckvd_witness_set *ws, const char *arg, char *err, size_t errlen)
{
    const char *comma = strchr(arg, ',');
    struct witness w;
    memset(&w, 0, sizeof(w));
    if (ws->n == CKVD_MAX_WITNESSES) {
        snprintf(err, errlen, "at most %d witnesses", CKVD_MAX_WITNESSES);
        return -1;
    }
    if (!comma) {
        snprintf(err, errlen, "--witness wants VKEY,URL (the witness's verifier key, a comma, "
                              "its URL)");
        return -1;
    }
    const char *url = comma + 1;
    size_t ulen = strlen(url);
    while (ulen > 0 && url[ulen - 1] == '/')
        ulen--;
    if ((strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) || ulen < 9 ||
        ulen > 900 || strpbrk(url, " \t\r\n")) {
        snprintf(err, errlen, "--witness: the URL after the comma must start with http:// or "
                              "https:// (e.g. http://127.0.0.1:8471)");
        return -1;
    }
    if (ckv_tlog_verifier_parse(arg, (size_t)(comma - arg), &w.v) != CKV_OK ||
        ckv_tlog_verifier_type(w.v) != CKV_TLOG_KEY_TYPE_COSIGNATURE) {
        ckv_tlog_verifier_free(w.v);
        snprintf(err, errlen, "--witness: '%.*s' is not a witness verifier key (cosignature/v1, "
                              "as in ckv-witness's DIR/witness.vkey)",
                 (int)((comma - arg) > 200 ? 200 : (comma - arg)), arg);
        return -1;
    }
    for (size_t i = 0; i < ws->n; i++)
        if (ckv_tlog_verifier_key_id(ws->w[i].v) == ckv_tlog_verifier_key_id(w.v) &&
            strcmp(ckv_tlog_verifier_name(ws->w[i].v), ckv_tlog_verifier_name(w.v)) == 0) {
            ckv_tlog_verifier_free(w.v);
            snprintf(err, errlen, "--witness: the same witness key is given twice");
            return -1;
        }
    if (!(w.vkey = strndup(arg, (size_t)(comma - arg)))) {
        ckv_tlog_verifier_free(w.v);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(w.url, sizeof(w.url), "%.*s/add-checkpoint", (int)ulen, url);
    ws->w[ws->n++] = w;
    return 0;
}

int ckvd_witness_set_config(struct ckvd_witness_set *ws, unsigned quorum, unsigned refresh_s,
                            char *err, size_t errlen)
{
    if (quorum > ws->n) {
        snprintf(err, errlen, "--witness-quorum %u is more than the %zu witnesses configured",
                 quorum, ws->n);
        return -1;
    }
    ws->quorum = quorum;
    ws->refresh_s = refresh_s ? refresh_s : CKVD_WITNESS_REFRESH_DEFAULT;
    return 0;
}

size_t ckvd_witness_set_count(const struct ckvd_witness_set *ws)
{
    return ws ? ws->n : 0;
}

unsigned ckvd_witness_set_refresh(const struct ckvd_witness_set *ws)
{
    return ws->refresh_s;
}

static unsigned quorum_of(const struct ckvd_witness_set *ws)
{
    return ws->quorum ? ws->quorum : (unsigned)ws->n;
}

static const char SCHEMA[] = "PRAGMA journal_mode=WAL;"
                             "CREATE TABLE IF NOT EXISTS checkpoints("
                             "  size INTEGER PRIMARY KEY, note TEXT NOT NULL);"
                             "CREATE TABLE IF NOT EXISTS cosigs("
                             "  witness TEXT NOT NULL, size INTEGER NOT NULL, line TEXT NOT NULL,"
                             "  time INTEGER NOT NULL, PRIMARY KEY(witness, size));";

int ckvd_witness_set_open(struct ckvd_witness_set *ws, const char *dir, char *err, size_t errlen)
{
    char path[4200];
    sqlite3_stmt *q = NULL;
    snprintf(path, sizeof(path), "%.4000s/cosig.db", dir);
    if (sqlite3_open_v2(path, &ws->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_busy_timeout(ws->db, 5000) != SQLITE_OK ||
        sqlite3_exec(ws->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 ws->db ? sqlite3_errmsg(ws->db) : "out of memory");
        return -1;
    }
    if (sqlite3_prepare_v2(ws->db, "SELECT max(size) FROM cosigs WHERE witness=?", -1, &q,
                           NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot read %s: %s", path, sqlite3_errmsg(ws->db));
        return -1;
    }
    for (size_t i = 0; i < ws->n; i++) {
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, ws->w[i].vkey, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) == SQLITE_INTEGER)
            ws->w[i].size = (uint64_t)sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    return 0;
}

/* The note of size `size` with the cosignatures of configured witnesses
 * (in configured order) appended; *count gets their number. NULL when the
 * checkpoint is not stored or on failure. */
static char *build_note(struct ckvd_witness_set *ws, uint64_t size, unsigned *count)
{
    sqlite3_stmt *q = NULL;
    char *out = NULL;
    size_t len = 0;
    *count = 0;
    if (sqlite3_prepare_v2(ws->db, "SELECT note FROM checkpoints WHERE size=?", -1, &q, NULL) !=
        SQLITE_OK)
        return NULL;
    sqlite3_bind_int64(q, 1, (int64_t)size);
    if (sqlite3_step(q) == SQLITE_ROW && (out = strdup((const char *)sqlite3_column_text(q, 0))))
        len = strlen(out);
    sqlite3_finalize(q);
    q = NULL;
    if (!out ||
        sqlite3_prepare_v2(ws->db, "SELECT line FROM cosigs WHERE witness=? AND size=?", -1, &q,
                           NULL) != SQLITE_OK) {
        free(out);
        return NULL;
    }
    for (size_t i = 0; i < ws->n; i++) {
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, ws->w[i].vkey, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, (int64_t)size);
        if (sqlite3_step(q) != SQLITE_ROW)
            continue;
        const char *line = (const char *)sqlite3_column_text(q, 0);
        size_t ll = strlen(line);
        char *nb = realloc(out, len + ll + 1);
        if (!nb) {
            free(out);
            out = NULL;
            break;
        }
        out = nb;
        memcpy(out + len, line, ll + 1);
        len += ll;
        (*count)++;
    }
    sqlite3_finalize(q);
    return out;
}

int ckvd_witness_set_served(struct ckvd_witness_set *ws, char **note_out, ckv_tlog_checkpoint *cp)
{
    sqlite3_stmt *q = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(ws->db, "SELECT size FROM checkpoints ORDER BY size DESC", -1, &q,
                           NULL) != SQLITE_OK)
        return -1;
    while (!found && sqlite3_step(q) == SQLITE_ROW) {
        unsigned count = 0;
        char *note = build_note(ws, (uint64_t)sqlite3_column_int64(q, 0), &count);
        ckv_tlog_checkpoint c;
        const char *text_end = note ? strstr(note, "\n\n") : NULL;
        if (note && count >= quorum_of(ws) && text_end &&
            ckv_tlog_checkpoint_parse(note, (size_t)(text_end - note) + 1, &c) == CKV_OK) {
            *note_out = note;
            *cp = c;
            found = 1;
        } else {
            free(note);
        }
    }
    sqlite3_finalize(q);
    return found;
}

/* ---- one push ------------------------------------------------------------- */

struct buf {
    char *p;
    size_t len;
    int over;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > RESP_MAX) {
        b->over = 1;
        return 0;
    }
    char *np = realloc(b->p, b->len + n + 1);
    if (!np)
        return 0;
    b->p = np;
    memcpy(b->p + b->len, ptr, n);
    b->len += n;
    b->p[b->len] = 0;
    return n;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    return ud && __atomic_load_n((const int *)ud, __ATOMIC_RELAXED) ? 1 : 0;
}

/* POST body to w; *status the HTTP status (0 on a transport failure). */
static int post(struct witness *w, const char *body, size_t len, const int *stop, long *status,
                struct buf *resp, char *err, size_t errlen)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    CURLcode rc;
    *status = 0;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    h = curl_slist_append(h, "Content-Type: text/plain; charset=utf-8");
    curl_easy_setopt(c, CURLOPT_URL, w->url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)stop);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    else
        snprintf(err, errlen, "%s", resp->over ? "answer too large" : curl_easy_strerror(rc));
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

/* The first line of resp that is a valid cosignature by w over note:
 * checked by opening note || line with w's key alone
 * (c2sp.org/tlog-cosignature). *line_out malloc'd. */
static int pick_cosig(struct witness *w, const char *note, const char *resp, char **line_out,
                      uint64_t *time_out)
{
    const ckv_tlog_verifier *vs[1] = {w->v};
    size_t nlen = strlen(note);
    const char *p = resp;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) + 1 : 0;
        if (!nl)
            break;
        char *cand = malloc(nlen + ll + 1);
        ckv_tlog_note *opened = NULL;
        if (!cand)
            return -1;
        memcpy(cand, note, nlen);
        memcpy(cand + nlen, p, ll);
        cand[nlen + ll] = 0;
        if (ckv_tlog_note_open(cand, nlen + ll, vs, 1, &opened) == CKV_OK &&
            opened->nverified == 1) {
            *time_out = opened->cosig_time[0];
            ckv_tlog_note_free(opened);
            free(cand);
            return (*line_out = strndup(p, ll)) ? 0 : -1;
        }
        ckv_tlog_note_free(opened);
        free(cand);
        p = nl + 1;
    }
    return -1;
}

static int store_cosig(struct ckvd_witness_set *ws, struct witness *w, uint64_t size,
                       const char *line, uint64_t t)
{
    sqlite3_stmt *q = NULL;
    int ok = 0;
    if (sqlite3_prepare_v2(ws->db,
                           "INSERT OR REPLACE INTO cosigs(witness, size, line, time) "
                           "VALUES(?,?,?,?)",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, w->vkey, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, (int64_t)size);
        sqlite3_bind_text(q, 3, line, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 4, (int64_t)t);
        ok = sqlite3_step(q) == SQLITE_DONE;
    }
    sqlite3_finalize(q);
    return ok ? 0 : -1;
}

static void report(struct witness *w, const char *msg)
{
    if (strcmp(w->last_error, msg) == 0)
        return; /* said already */
    snprintf(w->last_error, sizeof(w->last_error), "%s", msg);
    if (*msg)
        ckvd_logf("witness %s (%s): %s", ckv_tlog_verifier_name(w->v), w->url, msg);
    else
        ckvd_logf("witness %s (%s): cosigning again", ckv_tlog_verifier_name(w->v), w->url);
}

/* Push to one witness; 1 when it cosigned (and the cosignature is kept). */
static int push_one(struct witness *w, const char *note, const ckv_tlog_checkpoint *cp,
                    ckvd_proof_fn proof, void *pctx, const int *stop)
{
    char msg[256], err[128];
    size_t nlen = strlen(note);
    for (int attempt = 0; attempt < 3; attempt++) {
        uint64_t old = w->size;
        ckv_tlog_consistency_proof pr;
        struct buf resp = {NULL, 0, 0};
        long status = 0;
        pr.path_len = 0;
        if (old > cp->size) {
            snprintf(msg, sizeof(msg),
                     "has cosigned size %llu, larger than our log's %llu: another log under "
                     "our name? not pushing",
                     (unsigned long long)old, (unsigned long long)cp->size);
            report(w, msg);
            return 0;
        }
        if (old > 0 && old < cp->size && proof(pctx, old, cp->size, &pr) != CKV_OK) {
            report(w, "cannot build the consistency proof for it");
            return 0;
        }
        /* "old M\n" + proof lines + "\n" + note, c2sp.org/tlog-witness */
        size_t cap = 32 + pr.path_len * 45 + 1 + nlen + 1;
        char *body = malloc(cap);
        if (!body)
            return 0;
        size_t len = (size_t)snprintf(body, cap, "old %llu\n", (unsigned long long)old);
        for (size_t i = 0; i < pr.path_len; i++) {
            sodium_bin2base64(body + len, 45, pr.path[i].b, 32, sodium_base64_VARIANT_ORIGINAL);
            len += 44;
            body[len++] = '\n';
        }
        body[len++] = '\n';
        memcpy(body + len, note, nlen);
        len += nlen;
        body[len] = 0;
        int prc = post(w, body, len, stop, &status, &resp, err, sizeof(err));
        free(body);
        if (prc != 0) {
            snprintf(msg, sizeof(msg), "unreachable: %s", err);
            report(w, msg);
            free(resp.p);
            return 0;
        }
        if (status == 200) {
            char *line = NULL;
            uint64_t t = 0;
            int ok = resp.p && pick_cosig(w, note, resp.p, &line, &t) == 0;
            free(resp.p);
            if (!ok) {
                report(w, "answered 200 without a valid cosignature by its key: ignored");
                return 0;
            }
            w->got_line = line; /* stored by the caller, after every push */
            w->got_time = t;
            w->size = cp->size;
            report(w, "");
            return 1;
        }
        if (status == 409 && resp.p) {
            /* "<size>\n", text/x.tlog.size: prove from there and retry */
            char *end = NULL;
            unsigned long long s = strtoull(resp.p, &end, 10);
            int good = resp.p[0] >= '0' && resp.p[0] <= '9' && end && *end == '\n' &&
                       end[1] == 0;
            free(resp.p);
            if (!good) {
                report(w, "answered 409 without a size");
                return 0;
            }
            if (s == w->size) {
                /* the same size and old matched: a different root */
                snprintf(msg, sizeof(msg),
                         "refuses our checkpoint of size %llu: it cosigned another root at "
                         "size %llu (a fork?)",
                         (unsigned long long)cp->size, s);
                report(w, msg);
                return 0;
            }
            w->size = (uint64_t)s;
            continue;
        }
        snprintf(msg, sizeof(msg), "refused our checkpoint of size %llu with HTTP %ld%s%.80s",
                 (unsigned long long)cp->size, status, resp.p ? ": " : "",
                 resp.p ? resp.p : "");
        if (strchr(msg, '\n'))
            *strchr(msg, '\n') = 0;
        free(resp.p);
        report(w, msg);
        return 0;
    }
    report(w, "keeps changing its size; trying again later");
    return 0;
}

static void save_checkpoint(struct ckvd_witness_set *ws, const char *note, uint64_t size)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(ws->db, "INSERT OR IGNORE INTO checkpoints(size, note) VALUES(?,?)",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, (int64_t)size);
        sqlite3_bind_text(q, 2, note, -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE)
            ckvd_logf("cannot store checkpoint %llu in cosig.db: %s", (unsigned long long)size,
                      sqlite3_errmsg(ws->db));
    }
    sqlite3_finalize(q);
}

static void prune_below(struct ckvd_witness_set *ws, uint64_t size)
{
    sqlite3_stmt *q = NULL;
    const char *sql[2] = {"DELETE FROM checkpoints WHERE size<?", "DELETE FROM cosigs WHERE size<?"};
    for (int i = 0; i < 2; i++) {
        if (sqlite3_prepare_v2(ws->db, sql[i], -1, &q, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(q, 1, (int64_t)size);
            (void)sqlite3_step(q);
        }
        sqlite3_finalize(q);
        q = NULL;
    }
}

/* One thread per witness and round, so that a slow witness does not hold
 * up the others; each touches only its own struct witness (the proof
 * callback locks the log itself). The database is written after the join. */
struct push_job {
    struct witness *w;
    const char *note;
    const ckv_tlog_checkpoint *cp;
    ckvd_proof_fn proof;
    void *pctx;
    const int *stop;
};

static void *push_thread(void *arg)
{
    struct push_job *j = arg;
    (void)push_one(j->w, j->note, j->cp, j->proof, j->pctx, j->stop);
    return NULL;
}

int ckvd_witness_set_push(struct ckvd_witness_set *ws, const char *note,
                          const ckv_tlog_checkpoint *cp, ckvd_proof_fn proof, void *proof_ctx,
                          const int *stop, char **served_out)
{
    unsigned count = 0;
    char *served = NULL;
    struct push_job jobs[CKVD_MAX_WITNESSES];
    pthread_t th[CKVD_MAX_WITNESSES];
    int started[CKVD_MAX_WITNESSES];
    save_checkpoint(ws, note, cp->size);
    for (size_t i = 0; i < ws->n; i++) {
        jobs[i] = (struct push_job){&ws->w[i], note, cp, proof, proof_ctx, stop};
        started[i] = pthread_create(&th[i], NULL, push_thread, &jobs[i]) == 0;
        if (!started[i])
            push_thread(&jobs[i]); /* no thread: push from here */
    }
    for (size_t i = 0; i < ws->n; i++)
        if (started[i])
            pthread_join(th[i], NULL);
    for (size_t i = 0; i < ws->n; i++) {
        struct witness *w = &ws->w[i];
        if (!w->got_line)
            continue;
        if (store_cosig(ws, w, cp->size, w->got_line, w->got_time) != 0)
            report(w, "cannot store its cosignature");
        free(w->got_line);
        w->got_line = NULL;
    }
    served = build_note(ws, cp->size, &count);
    if (!served)
        return -1;
    if (count < quorum_of(ws)) {
        free(served);
        return 0;
    }
    prune_below(ws, cp->size);
    *served_out = served;
    return 1;
}
