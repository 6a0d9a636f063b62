/*
 * log.c: ckvd's transparency log and its checkpoint publisher (log.h).
 *
 * Crash safety comes from the store: an append is committed before it is
 * acknowledged, and a checkpoint is signed only over data already committed
 * (ckv_tlog_store_publish syncs fully). The publisher wakes every interval
 * and publishes when the tree grew; close() publishes once more so that a
 * clean shutdown leaves nothing unpublished.
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
    char *note;               /* latest signed checkpoint */
    ckv_tlog_checkpoint cp;   /* its body */
};

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
    free(l->note);
    l->note = note;
    l->cp = cp;
    return 0;
}

static void *publisher(void *arg)
{
    struct ckvd_log *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)l->interval_ms * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        if (ckv_tlog_store_size(l->s) > l->cp.size)
            publish_locked(l);
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
    char dbpath[4096], keypath[4096], vkeypath[4096];
    char *skey = NULL;
    struct stat st;
    ckv_status rc;
    struct ckvd_log *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
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
    if (ckv_tlog_store_latest_checkpoint(l->s, &l->note, &l->cp) != CKV_OK ||
        ckv_tlog_store_size(l->s) > l->cp.size) {
        if (publish_locked(l) != 0) {
            snprintf(err, errlen, "cannot publish a checkpoint of the log %s", dbpath);
            goto fail;
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
        l->stop = 1;
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->th, NULL);
        if (ckv_tlog_store_size(l->s) > l->cp.size)
            publish_locked(l);
    }
    ckv_tlog_store_close(l->s);
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
    pthread_mutex_lock(&l->mu);
    char *n = l->note ? strdup(l->note) : NULL;
    if (cp)
        *cp = l->cp;
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
