/*
 * log.c: ckvd's transparency log and its checkpoint publisher (log.h).
 *
 * Crash safety comes from the store: an append is committed before it is
 * acknowledged, and a checkpoint is signed only over data already committed
 * (ckv_tlog_store_publish syncs fully). The publisher wakes every interval
 * and publishes when the tree grew; close() publishes once more so that a
 * clean shutdown leaves nothing unpublished.
 *
 * With witnesses (witnesses.h) the publisher also pushes the newest signed
 * checkpoint to them, when it is new and again every --witness-refresh
 * seconds, with the log's mutex released (a witness never holds up a
 * request). What ckvd serves (l->note, l->cp) is then the newest checkpoint
 * with a quorum of cosignatures, never an older one than before; without
 * witnesses it is simply the newest signed checkpoint (l->latest).
 */
#include "log.h"

#include <sodium.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ckvd.h"
#include "witnesses.h"

struct ckvd_log {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int th_running;
    int stop;
    unsigned interval_ms;
    ckv_tlog_store *s;
    ckv_tlog_signer *signer;
    char *vkey;
    char origin[CKV_TLOG_ORIGIN_MAX + 1];
    char *note;               /* the checkpoint served (cosigned by a quorum) */
    ckv_tlog_checkpoint cp;   /* its body */
    uint64_t gen;             /* bumped whenever note changes */
    char *latest;             /* newest signed checkpoint (== note without witnesses) */
    ckv_tlog_checkpoint latest_cp;
    struct ckvd_witness_set *ws; /* NULL: no witnesses */
    int pushed_once;
    int served_cosigned;      /* what is served has a quorum (else: the log's own) */
    uint64_t pushed_size;     /* size of the last checkpoint pushed */
    time_t last_push;         /* CLOCK_MONOTONIC seconds of that push */
};

/* Serve note (taken) as the current checkpoint, unless it is older. */
static void serve_locked(struct ckvd_log *l, char *note, const ckv_tlog_checkpoint *cp)
{
    if (l->note && cp->size < l->cp.size) {
        free(note);
        return;
    }
    free(l->note);
    l->note = note;
    l->cp = *cp;
    l->gen++;
}

static int publish_locked(struct ckvd_log *l)
{
    char *note = NULL;
    ckv_status st = ckv_tlog_store_publish(l->s, l->signer, NULL, &note);
    if (st == CKV_ERR_TLOG_NOTHING_TO_PUBLISH)
        return 0;
    if (st != CKV_OK) {
        ckvd_logf("cannot publish a checkpoint: %s (%s)", ckv_strerror(st),
                  ckv_tlog_store_last_error(l->s));
        return -1;
    }
    ckv_tlog_checkpoint cp;
    free(note);
    note = NULL;
    if (ckv_tlog_store_latest_checkpoint(l->s, &note, &cp) != CKV_OK)
        return -1;
    free(l->latest);
    l->latest = note;
    l->latest_cp = cp;
    if (!l->ws) {
        char *copy = strdup(note);
        if (!copy)
            return -1;
        serve_locked(l, copy, &cp);
    }
    return 0;
}

static ckv_status proof_cb(void *ctx, uint64_t old_size, uint64_t new_size,
                           ckv_tlog_consistency_proof *out)
{
    return ckvd_log_consistency(ctx, old_size, new_size, out);
}

static time_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* Push the newest checkpoint to the witnesses when it is new or the last
 * push is older than the refresh period. Called with l->mu held; releases
 * it during the transfers. */
static void push_locked(struct ckvd_log *l)
{
    time_t now = mono_s();
    if (l->pushed_once && l->pushed_size == l->latest_cp.size &&
        now - l->last_push < (time_t)ckvd_witness_set_refresh(l->ws))
        return;
    char *note = strdup(l->latest), *served = NULL;
    ckv_tlog_checkpoint cp = l->latest_cp;
    if (!note)
        return;
    pthread_mutex_unlock(&l->mu);
    int r = ckvd_witness_set_push(l->ws, note, &cp, proof_cb, l, &l->stop, &served);
    pthread_mutex_lock(&l->mu);
    if (r < 0)
        ckvd_logf("cannot read or write cosig.db: the served checkpoint does not advance");
    if (r == 1) {
        if (!l->served_cosigned || cp.size > l->cp.size)
            ckvd_logf("serving checkpoint %llu, cosigned by a quorum of witnesses",
                      (unsigned long long)cp.size);
        l->served_cosigned = 1;
        serve_locked(l, served, &cp);
    }
    l->pushed_once = 1;
    l->pushed_size = cp.size;
    l->last_push = now;
    free(note);
}

static void *publisher(void *arg)
{
    struct ckvd_log *l = arg;
    pthread_mutex_lock(&l->mu);
    if (l->ws && !l->stop)
        push_locked(l); /* at once: the first cosignatures */
    while (!l->stop) {
        struct timespec ts; /* l->cv waits on CLOCK_MONOTONIC: a wall-clock step
                             * back must not stall publishing */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)l->interval_ms * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        if (l->stop)
            break;
        if (ckv_tlog_store_size(l->s) > l->latest_cp.size)
            publish_locked(l);
        if (l->ws)
            push_locked(l);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static int write_text_file(const char *path, const char *text, mode_t mode)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%.4000s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    chmod(tmp, mode);
    int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF && fflush(f) == 0 &&
             fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int ckvd_log_open(const char *dir, const char *origin, unsigned interval_ms, int sync_full,
                  struct ckvd_log **out, int *created, char *err, size_t errlen)
{
    return ckvd_log_open_witnessed(dir, origin, interval_ms, sync_full, NULL, out, created, err,
                                   errlen);
}

int ckvd_log_open_witnessed(const char *dir, const char *origin, unsigned interval_ms,
                            int sync_full, struct ckvd_witness_set *ws, struct ckvd_log **out,
                            int *created, char *err, size_t errlen)
{
    char dbpath[4096], keypath[4096], vkeypath[4096];
    char *skey = NULL;
    struct stat st;
    ckv_status rc;
    struct ckvd_log *l = calloc(1, sizeof(*l));
    if (!l) {
        ckvd_witness_set_free(ws);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    l->ws = ckvd_witness_set_count(ws) ? ws : NULL;
    if (!l->ws)
        ckvd_witness_set_free(ws);
    pthread_mutex_init(&l->mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&l->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    l->interval_ms = interval_ms ? interval_ms : 1000;
    snprintf(dbpath, sizeof(dbpath), "%s/log.db", dir);
    snprintf(keypath, sizeof(keypath), "%s/log.key", dir);
    snprintf(vkeypath, sizeof(vkeypath), "%s/log.vkey", dir);
    ckv_tlog_store_options opts = {.cache_tiles = 0, .durable = sync_full ? true : false,
                                   .read_only = false};
    *created = 0;

    if (stat(dbpath, &st) != 0) {
        /* First start: key, verifier key file, empty log, first checkpoint. */
        if (stat(keypath, &st) == 0) {
            snprintf(err, errlen,
                     "%s exists but %s does not: refusing to start a new log with an old key; "
                     "move the key away or restore the log",
                     keypath, dbpath);
            goto fail;
        }
        if ((rc = ckv_tlog_signer_generate(origin, &skey, NULL)) != CKV_OK ||
            (rc = ckv_tlog_skey_save(keypath, skey)) != CKV_OK) {
            snprintf(err, errlen, "cannot create the log key %s: %s", keypath, ckv_strerror(rc));
            goto fail;
        }
        if ((rc = ckv_tlog_store_create(dbpath, origin, &opts, &l->s)) != CKV_OK) {
            snprintf(err, errlen, "cannot create the log %s: %s", dbpath, ckv_strerror(rc));
            goto fail;
        }
        *created = 1;
    } else if ((rc = ckv_tlog_store_open(dbpath, &opts, &l->s)) != CKV_OK) {
        snprintf(err, errlen, "cannot open the log %s: %s", dbpath, ckv_strerror(rc));
        goto fail;
    }
    if ((rc = ckv_tlog_signer_load(keypath, &l->signer)) != CKV_OK) {
        snprintf(err, errlen, "cannot load the log key %s: %s", keypath, ckv_strerror(rc));
        goto fail;
    }
    snprintf(l->origin, sizeof(l->origin), "%s", ckv_tlog_store_origin(l->s));
    if (strcmp(ckv_tlog_signer_name(l->signer), l->origin) != 0) {
        snprintf(err, errlen, "the key in %s is for log '%s', but %s is log '%s'", keypath,
                 ckv_tlog_signer_name(l->signer), dbpath, l->origin);
        goto fail;
    }
    if ((rc = ckv_tlog_signer_vkey(l->signer, &l->vkey)) != CKV_OK) {
        snprintf(err, errlen, "cannot derive the verifier key: %s", ckv_strerror(rc));
        goto fail;
    }
    if (write_text_file(vkeypath, l->vkey, 0644) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", vkeypath, strerror(errno));
        goto fail;
    }
    /* Publish what a crash may have left unpublished (or the first, empty
     * checkpoint), then load the latest. */
    if (ckv_tlog_store_latest_checkpoint(l->s, &l->latest, &l->latest_cp) != CKV_OK ||
        ckv_tlog_store_size(l->s) > l->latest_cp.size) {
        if (publish_locked(l) != 0) {
            snprintf(err, errlen, "cannot publish a checkpoint of the log %s", dbpath);
            goto fail;
        }
    }
    if (!l->ws) {
        char *copy = strdup(l->latest);
        if (!copy) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        serve_locked(l, copy, &l->latest_cp);
    } else {
        /* Serve what a quorum cosigned before (cosig.db), else the log's own
         * checkpoint until the witnesses answer: it is not older than any
         * checkpoint they will cosign, so what is served never goes back. */
        char *served = NULL;
        ckv_tlog_checkpoint scp;
        int found;
        if (ckvd_witness_set_open(l->ws, dir, err, errlen) != 0)
            goto fail;
        found = ckvd_witness_set_served(l->ws, &served, &scp);
        if (found < 0) {
            snprintf(err, errlen, "cannot read %s/cosig.db", dir);
            goto fail;
        }
        if (found && scp.size <= l->latest_cp.size) {
            serve_locked(l, served, &scp);
            l->served_cosigned = 1;
        } else {
            free(served);
            char *copy = strdup(l->latest);
            if (!copy) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            serve_locked(l, copy, &l->latest_cp);
            ckvd_logf("no checkpoint has a quorum of witness cosignatures yet: serving the "
                      "log's own (size %llu) until the witnesses cosign",
                      (unsigned long long)l->latest_cp.size);
        }
    }
    if (pthread_create(&l->th, NULL, publisher, l) != 0) {
        snprintf(err, errlen, "cannot start the checkpoint thread");
        goto fail;
    }
    l->th_running = 1;
    if (skey) {
        sodium_memzero(skey, strlen(skey));
        free(skey);
    }
    *out = l;
    return 0;
fail:
    if (skey) {
        sodium_memzero(skey, strlen(skey));
        free(skey);
    }
    ckvd_log_close(l);
    return -1;
}

void ckvd_log_close(struct ckvd_log *l)
{
    if (!l)
        return;
    if (l->th_running) {
        pthread_mutex_lock(&l->mu);
        __atomic_store_n(&l->stop, 1, __ATOMIC_RELAXED);
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->th, NULL);
        if (ckv_tlog_store_size(l->s) > l->latest_cp.size)
            publish_locked(l);
    }
    ckv_tlog_store_close(l->s);
    ckvd_witness_set_free(l->ws);
    free(l->latest);
    ckv_tlog_signer_free(l->signer);
    free(l->vkey);
    free(l->note);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

const char *ckvd_log_origin(const struct ckvd_log *l)
{
    return l->origin;
}

const char *ckvd_log_vkey(const struct ckvd_log *l)
{
    return l->vkey;
}

uint64_t ckvd_log_size(struct ckvd_log *l)
{
    pthread_mutex_lock(&l->mu);
    uint64_t n = ckv_tlog_store_size(l->s);
    pthread_mutex_unlock(&l->mu);
    return n;
}

ckv_status ckvd_log_append(struct ckvd_log *l, const uint8_t *entry, size_t len,
                           uint64_t *index_out)
{
    ckv_tlog_entry e = {entry, len};
    pthread_mutex_lock(&l->mu);
    ckv_status st = ckv_tlog_store_append(l->s, &e, 1, index_out);
    if (st != CKV_OK)
        ckvd_logf("log append failed: %s (%s)", ckv_strerror(st), ckv_tlog_store_last_error(l->s));
    pthread_mutex_unlock(&l->mu);
    return st;
}

ckv_status ckvd_log_checkpoint(struct ckvd_log *l, char **note_out, ckv_tlog_checkpoint *cp)
{
    return ckvd_log_checkpoint_gen(l, note_out, cp, NULL);
}

ckv_status ckvd_log_checkpoint_gen(struct ckvd_log *l, char **note_out, ckv_tlog_checkpoint *cp,
                                   uint64_t *gen)
{
    pthread_mutex_lock(&l->mu);
    char *n = l->note ? strdup(l->note) : NULL;
    if (cp)
        *cp = l->cp;
    if (gen)
        *gen = l->gen;
    pthread_mutex_unlock(&l->mu);
    if (!n)
        return CKV_ERR_NOMEM;
    *note_out = n;
    return CKV_OK;
}

ckv_status ckvd_log_inclusion(struct ckvd_log *l, uint64_t index, uint64_t size,
                              ckv_tlog_inclusion_proof *out)
{
    pthread_mutex_lock(&l->mu);
    ckv_status st = ckv_tlog_store_inclusion_proof(l->s, index, size, out);
    pthread_mutex_unlock(&l->mu);
    return st;
}

ckv_status ckvd_log_consistency(struct ckvd_log *l, uint64_t old_size, uint64_t new_size,
                                ckv_tlog_consistency_proof *out)
{
    pthread_mutex_lock(&l->mu);
    ckv_status st = ckv_tlog_store_consistency_proof(l->s, old_size, new_size, out);
    pthread_mutex_unlock(&l->mu);
    return st;
}

ckv_status ckvd_log_read_tile(struct ckvd_log *l, const ckv_tlog_tile *t, uint8_t **data,
                              size_t *len)
{
    pthread_mutex_lock(&l->mu);
    ckv_status st = ckv_tlog_store_read_tile(l->s, t, data, len);
    pthread_mutex_unlock(&l->mu);
    return st;
}

ckv_status ckvd_log_entry(struct ckvd_log *l, uint64_t index, uint8_t **data, size_t *len)
{
    pthread_mutex_lock(&l->mu);
    ckv_status st = ckv_tlog_store_entry(l->s, index, data, len);
    pthread_mutex_unlock(&l->mu);
    return st;
}
