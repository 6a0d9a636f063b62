/*
 * main.c: the ckv-witness program (docs/witness.md, ckv-witness(1)).
 *
 *   ckv-witness [serve] --data DIR --log VKEY [--log VKEY]... [--listen ADDR:PORT]
 *               [--name NAME]
 *   ckv-witness conflicts --data DIR
 *   ckv-witness status --data DIR
 *
 * serve: on first start create the witness's Ed25519 key (DIR/witness.key,
 * 0600, a signed-note signer key string), write DIR/witness.vkey (its
 * cosigner verifier key, cosignature/v1 type 0x04) and print that key on
 * stdout. Then answer POST /add-checkpoint (c2sp.org/tlog-witness) with
 * libmicrohttpd until SIGTERM/SIGINT. One log line per request on stderr.
 * conflicts: print the refused (conflicting) checkpoints kept as evidence.
 * status: print the latest cosigned checkpoint of each log.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>

#include "witness.h"

#define DEFAULT_NAME "ckv-witness.localhost"
#define MAX_LOGS CKVW_MAX_LOGS

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    va_list ap;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_start(ap, fmt);
    flockfile(stderr);
    fprintf(stderr, "%s ckv-witness: ", ts);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
    va_end(ap);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ckv-witness [serve] --data DIR --log VKEY [--log VKEY]... [options]\n"
            "       ckv-witness conflicts --data DIR\n"
            "       ckv-witness status --data DIR\n"
            "\n"
            "A transparency-log witness (c2sp.org/tlog-witness): it cosigns a log's\n"
            "checkpoint only when it is consistent with the last one it cosigned for that\n"
            "log, so that a log cannot show different views to different clients.\n"
            "\n"
            "  --data DIR          state directory (created 0700): witness.key (0600),\n"
            "                      witness.vkey, witness.db\n"
            "  --log VKEY          the verifier key of a log to witness (its name is the\n"
            "                      log's origin, e.g. ckvd's DIR/log.vkey); repeatable\n"
            "  --listen ADDR:PORT  IPv4 address and port (default 127.0.0.1:8471; port 0\n"
            "                      picks a free one, shown in the start-up line)\n"
            "  --name NAME         the witness's name, used when its key is created\n"
            "                      (default " DEFAULT_NAME ")\n"
            "  -h, --help          this text\n"
            "\n"
            "conflicts  print every refused checkpoint kept as evidence (forks, rollbacks,\n"
            "           failed consistency proofs), with the request verbatim\n"
            "status     print the latest checkpoint cosigned for each log\n"
            "\n"
            "On first start the witness prints its verifier key (also in DIR/witness.vkey):\n"
            "give it to ckvd (--witness VKEY,URL) and to clients (ckv init --witness VKEY).\n"
            "See docs/witness.md and ckv-witness(1).\n");
}

/* ---- key ------------------------------------------------------------------ */

static int write_text_file(const char *path, const char *text, mode_t mode)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%.4000s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF && fflush(f) == 0 &&
             fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Read the seed out of a signer key file "PRIVATE+KEY+name+id+base64(0x01||seed)"
 * after libckvlog has checked the file (mode 0600, key ID, format). */
static int load_key(const char *path, char name[CKV_TLOG_KEY_NAME_MAX + 1],
                    uint8_t seed[CKV_TLOG_SEED_SIZE], char *err, size_t errlen)
{
    ckv_tlog_signer *sg = NULL;
    char buf[1100];
    uint8_t raw[1 + CKV_TLOG_SEED_SIZE];
    size_t n = 0, raw_len = 0;
    int rc = -1;
    FILE *f = NULL;
    char *plus, *again = NULL;
    ckv_status st = ckv_tlog_signer_load(path, &sg);
    if (st != CKV_OK) {
        snprintf(err, errlen, "cannot load the witness key %s: %s", path, ckv_strerror(st));
        goto out;
    }
    if (!(f = fopen(path, "r")) || (n = fread(buf, 1, sizeof(buf) - 1, f)) == 0) {
        snprintf(err, errlen, "cannot read %s", path);
        goto out;
    }
    buf[n] = 0;
    buf[strcspn(buf, "\r\n")] = 0;
    /* the base64 part follows the fourth '+' (it may itself hold '+') */
    plus = buf;
    for (int k = 0; k < 4 && plus; k++)
        plus = strchr(k ? plus + 1 : plus, '+');
    if (!plus || sodium_base642bin(raw, sizeof(raw), plus + 1, strlen(plus + 1), NULL, &raw_len,
                                   NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        raw_len != sizeof(raw) || raw[0] != CKV_TLOG_KEY_TYPE_ED25519) {
        snprintf(err, errlen, "%s is not an Ed25519 signer key", path);
        goto out;
    }
    /* Re-derive the key string from the seed: it must be the file's. */
    if (ckv_tlog_signer_from_seed(ckv_tlog_signer_name(sg), raw + 1, &again, NULL) != CKV_OK ||
        strcmp(again, buf) != 0) {
        snprintf(err, errlen, "%s does not hold a canonical key", path);
        goto out;
    }
    snprintf(name, CKV_TLOG_KEY_NAME_MAX + 1, "%s", ckv_tlog_signer_name(sg));
    memcpy(seed, raw + 1, CKV_TLOG_SEED_SIZE);
    rc = 0;
out:
    if (f)
        fclose(f);
    if (again) {
        sodium_memzero(again, strlen(again));
        free(again);
    }
    sodium_memzero(buf, sizeof(buf));
    sodium_memzero(raw, sizeof(raw));
    ckv_tlog_signer_free(sg);
    return rc;
}

/* Create the key on first start; load it; write witness.vkey. *vkey_out is
 * malloc'd. *created tells whether the key is new. */
static int setup_key(const char *dir, const char *want_name, ckvw_config *cfg, char **vkey_out,
                     int *created, char *err, size_t errlen)
{
    char keypath[4096], vkeypath[4096];
    char *skey = NULL, *vkey = NULL;
    uint8_t seed[CKV_TLOG_SEED_SIZE];
    struct stat sb;
    ckv_status st;
    int rc = -1;
    snprintf(keypath, sizeof(keypath), "%s/witness.key", dir);
    snprintf(vkeypath, sizeof(vkeypath), "%s/witness.vkey", dir);
    *created = 0;
    if (stat(keypath, &sb) != 0) {
        randombytes_buf(seed, sizeof(seed));
        if ((st = ckv_tlog_signer_from_seed(want_name ? want_name : DEFAULT_NAME, seed, &skey,
                                            NULL)) != CKV_OK) {
            snprintf(err, errlen, "cannot create a key named '%s': %s (a name is printable, "
                                  "without spaces or '+')",
                     want_name ? want_name : DEFAULT_NAME, ckv_strerror(st));
            goto out;
        }
        if ((st = ckv_tlog_skey_save(keypath, skey)) != CKV_OK) {
            snprintf(err, errlen, "cannot write %s: %s", keypath, ckv_strerror(st));
            goto out;
        }
        *created = 1;
    }
    if (load_key(keypath, cfg->name, cfg->seed, err, errlen) != 0)
        goto out;
    if (want_name && strcmp(want_name, cfg->name) != 0) {
        snprintf(err, errlen, "%s is the key of witness '%s', not '%s'; drop --name or use "
                              "another --data",
                 keypath, cfg->name, want_name);
        goto out;
    }
    if ((st = ckv_tlog_cosigner_vkey(cfg->name, cfg->seed, &vkey)) != CKV_OK) {
        snprintf(err, errlen, "cannot derive the verifier key: %s", ckv_strerror(st));
        goto out;
    }
    if (write_text_file(vkeypath, vkey, 0644) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", vkeypath, strerror(errno));
        goto out;
    }
    *vkey_out = vkey;
    vkey = NULL;
    rc = 0;
out:
    if (skey) {
        sodium_memzero(skey, strlen(skey));
        free(skey);
    }
    free(vkey);
    sodium_memzero(seed, sizeof(seed));
    return rc;
}

/* ---- HTTP ---------------------------------------------------------------- */

struct server {
    ckvw_config *cfg;
    ckvw_state *state;
};

struct conn {
    char *body;
    size_t len, cap;
    int too_large;
    size_t drained; /* bytes of an oversized body thrown away */
};

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *ctype,
                             char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body ? body : (void *)"",
                                                             body ? MHD_RESPMEM_MUST_FREE
                                                                  : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, int status, const char *text)
{
    char *b = strdup(text);
    return reply(c, status, "text/plain; charset=utf-8", b, b ? strlen(b) : 0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct server *srv = cls;
    struct conn *st = *con_cls;
    (void)version;
    if (!st) {
        if (!(st = calloc(1, sizeof(*st))))
            return MHD_NO;
        *con_cls = st;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > CKVW_MAX_BODY) {
            /* declared too large: 413 before the body is read (no "100
             * Continue"; libmicrohttpd closes the connection after it) */
            st->too_large = 1;
            logf_("add-checkpoint: declared body over %u bytes -> 413", (unsigned)CKVW_MAX_BODY);
            return reply_text(c, 413,
                              "the request body is too large for a checkpoint and a proof\n");
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (st->too_large) {
            /* drain a little so the 413 can be read; close on a flood */
            st->drained += *upload_size;
            *upload_size = 0;
            return st->drained > 4u * CKVW_MAX_BODY ? MHD_NO : MHD_YES;
        }
        if (st->len + *upload_size > CKVW_MAX_BODY) {
            st->too_large = 1;
        } else {
            if (st->len + *upload_size > st->cap) {
                size_t cap = st->cap ? st->cap : 4096;
                while (cap < st->len + *upload_size)
                    cap *= 2;
                char *nb = realloc(st->body, cap);
                if (!nb)
                    return MHD_NO;
                st->body = nb;
                st->cap = cap;
            }
            memcpy(st->body + st->len, upload, *upload_size);
            st->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/add-checkpoint") != 0) {
        logf_("%s %s -> 404", method, url);
        return reply_text(c, 404, "not found: this witness serves POST /add-checkpoint\n");
    }
    if (strcmp(method, "POST") != 0) {
        logf_("%s %s -> 405", method, url);
        return reply_text(c, 405, "use POST for /add-checkpoint\n");
    }
    if (st->too_large) {
        logf_("add-checkpoint: body over %u bytes -> 413", (unsigned)CKVW_MAX_BODY);
        return reply_text(c, 413, "the request body is too large for a checkpoint and a proof\n");
    }
    ckvw_answer a;
    ckvw_handle_add_checkpoint(srv->cfg, srv->state, st->body ? st->body : "", st->len,
                               (uint64_t)time(NULL), &a);
    logf_("%s", a.logline);
    return reply(c, a.status, a.ctype, a.body, a.len);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn *st = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (st) {
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
}

static int parse_listen(const char *s, struct sockaddr_in *sin)
{
    char addr[64];
    const char *colon = strrchr(s, ':');
    char *end = NULL;
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof(addr))
        return -1;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535)
        return -1;
    memcpy(addr, s, (size_t)(colon - s));
    addr[colon - s] = 0;
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)p);
    return inet_pton(AF_INET, addr, &sin->sin_addr) == 1 ? 0 : -1;
}

/* ---- commands ------------------------------------------------------------- */

static int cmd_list(const char *dir, int conflicts)
{
    char path[4096];
    ckvw_state *s = NULL;
    struct stat sb;
    snprintf(path, sizeof(path), "%s/witness.db", dir);
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "ckv-witness: %s does not exist: is --data the witness's directory?\n",
                path);
        return 1;
    }
    ckv_status st = ckvw_state_open(path, &s);
    if (st != CKV_OK) {
        fprintf(stderr, "ckv-witness: cannot open %s: %s\n", path, ckv_strerror(st));
        return 1;
    }
    long n = conflicts ? ckvw_state_print_conflicts(s, stdout) : ckvw_state_print_logs(s, stdout);
    ckvw_state_close(s);
    if (n < 0) {
        fprintf(stderr, "ckv-witness: cannot read %s\n", path);
        return 1;
    }
    if (conflicts)
        fprintf(stderr, "ckv-witness: %ld conflicting checkpoint%s\n", n, n == 1 ? "" : "s");
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'}, {"data", required_argument, NULL, 'd'},
        {"name", required_argument, NULL, 'n'},   {"log", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *listen_s = "127.0.0.1:8471", *data = NULL, *name = NULL, *cmd = "serve";
    const char *log_args[MAX_LOGS];
    size_t nlog_args = 0;
    ckv_tlog_verifier *logs[MAX_LOGS];
    ckvw_config cfg;
    ckvw_state *state = NULL;
    struct MHD_Daemon *d = NULL;
    struct sockaddr_in sin;
    char err[8400], path[4096];
    char *vkey = NULL;
    int c, rc = 1, created = 0, lockfd = -1;
    memset(&cfg, 0, sizeof(cfg));
    memset(logs, 0, sizeof(logs));

    if (argc > 1 && argv[1][0] != '-') {
        cmd = argv[1];
        argv[1] = argv[0];
        argc--;
        argv++;
        if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "conflicts") != 0 &&
            strcmp(cmd, "status") != 0) {
            fprintf(stderr, "ckv-witness: unknown command '%s' (serve, conflicts, status); run "
                            "'ckv-witness --help'\n",
                    cmd);
            return 2;
        }
    }
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen_s = optarg;
            break;
        case 'd':
            data = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'L':
            if (nlog_args == MAX_LOGS) {
                fprintf(stderr, "ckv-witness: at most %d --log keys\n", MAX_LOGS);
                return 2;
            }
            log_args[nlog_args++] = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "ckv-witness: run 'ckv-witness --help' for the options\n");
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "ckv-witness: unexpected argument '%s'; run 'ckv-witness --help'\n",
                argv[optind]);
        return 2;
    }
    if (!data) {
        fprintf(stderr, "ckv-witness: --data DIR is required (where the witness keeps its key "
                        "and state)\n");
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "ckv-witness: libsodium failed to initialise\n");
        return 1;
    }
    if (strcmp(cmd, "serve") != 0)
        return cmd_list(data, strcmp(cmd, "conflicts") == 0);

    if (nlog_args == 0) {
        fprintf(stderr, "ckv-witness: give at least one --log VKEY (the verifier key of a log "
                        "to witness, e.g. the contents of ckvd's DIR/log.vkey)\n");
        return 2;
    }
    for (size_t i = 0; i < nlog_args; i++) {
        ckv_status st = ckv_tlog_verifier_parse(log_args[i], strlen(log_args[i]), &logs[i]);
        if (st != CKV_OK || ckv_tlog_verifier_type(logs[i]) != CKV_TLOG_KEY_TYPE_ED25519) {
            fprintf(stderr, "ckv-witness: --log '%.200s' is not an Ed25519 log verifier key "
                            "(NAME+KEYID+BASE64, like ckvd's log.vkey)\n",
                    log_args[i]);
            rc = 2;
            goto out;
        }
    }
    cfg.logs = logs;
    cfg.nlogs = nlog_args;
    if (parse_listen(listen_s, &sin) != 0) {
        fprintf(stderr, "ckv-witness: --listen wants IPV4ADDR:PORT, e.g. 127.0.0.1:8471\n");
        rc = 2;
        goto out;
    }
    if (mkdir(data, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "ckv-witness: cannot create %s: %s\n", data, strerror(errno));
        goto out;
    }
    snprintf(path, sizeof(path), "%s/witness.lock", data);
    lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "ckv-witness: %s is in use by another ckv-witness (or cannot be "
                        "locked: %s); stop that one first\n",
                data, strerror(errno));
        goto out;
    }
    if (setup_key(data, name, &cfg, &vkey, &created, err, sizeof(err)) != 0) {
        fprintf(stderr, "ckv-witness: %s\n", err);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/witness.db", data);
    ckv_status st = ckvw_state_open(path, &state);
    if (st != CKV_OK) {
        fprintf(stderr, "ckv-witness: cannot open %s: %s\n", path, ckv_strerror(st));
        goto out;
    }

    sigset_t stop_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct server srv = {&cfg, state};
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC, 0, NULL,
                         NULL, on_request, &srv, MHD_OPTION_SOCK_ADDR, &sin,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                         MHD_OPTION_THREAD_POOL_SIZE, (unsigned)4,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "ckv-witness: cannot listen on %s (in use, or not a local address?)\n",
                listen_s);
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sin.sin_addr, addr, sizeof(addr));
    if (created)
        printf("%s\n", vkey);
    fflush(stdout);
    logf_("serving %s witness %s on http://%s:%u (%zu log%s; verifier key in %s/witness.vkey)",
          created ? "a new" : "the", cfg.name, addr, di ? (unsigned)di->port : 0u, cfg.nlogs,
          cfg.nlogs == 1 ? "" : "s", data);
    for (size_t i = 0; i < cfg.nlogs; i++)
        logf_("witnessing log %s", ckv_tlog_verifier_name(logs[i]));
    int sig = 0;
    while (sigwait(&stop_sigs, &sig) != 0)
        ;
    logf_("stopping on signal %d", sig);
    rc = 0;
out:
    if (d)
        MHD_stop_daemon(d);
    ckvw_state_close(state);
    for (size_t i = 0; i < MAX_LOGS; i++)
        ckv_tlog_verifier_free(logs[i]);
    sodium_memzero(cfg.seed, sizeof(cfg.seed));
    free(vkey);
    if (lockfd >= 0)
        close(lockfd);
    return rc;
}
