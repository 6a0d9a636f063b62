/*
 * main.c: ckvd's command line, start-up and shutdown.
 *
 *   ckvd --listen ADDR:PORT --data DIR [--checkpoint-interval MS]
 *        [--tls-cert F --tls-key F] [--origin ORIGIN] [--sync-full]
 *
 * Start-up: make DIR (0700), open or create the log (printing the verifier
 * key on first start), open the server database, repair the account index
 * from the log if a crash left it behind, then serve until SIGTERM/SIGINT.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "accounts.h"
#include "auth.h"
#include "log.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ckvd --listen ADDR:PORT --data DIR [options]\n"
            "\n"
            "ckv's server: message relay, prekeys and the key directory, whose entries\n"
            "are published in a transparency log served as C2SP tlog-tiles.\n"
            "\n"
            "  --listen ADDR:PORT         IPv4 address and port (default 127.0.0.1:8470;\n"
            "                             port 0 picks a free one and prints it)\n"
            "  --data DIR                 state directory (created 0700): ckvd.db, log.db,\n"
            "                             log.key (0600), log.vkey\n"
            "  --checkpoint-interval MS   publish a signed checkpoint at least this often\n"
            "                             when entries are waiting (default 1000)\n"
            "  --origin ORIGIN            the log's name, used when the log is created\n"
            "                             (default ckv.localhost/log)\n"
            "  --tls-cert FILE --tls-key FILE   serve HTTPS with these PEM files\n"
            "  --sync-full                fsync every commit (survives power loss)\n"
            "  -v, --verbose              log every request (never bodies or tokens)\n"
            "  -h, --help                 this text\n"
            "\n"
            "On first start ckvd prints the log's verifier key; give it to clients out of\n"
            "band (ckv init --log-key VKEY). See docs/server.md and ckvd(8).\n");
}

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

static int parse_listen(const char *s, char *addr, size_t addrlen, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= addrlen)
        return -1;
    char *end = NULL;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535)
        return -1;
    memcpy(addr, s, (size_t)(colon - s));
    addr[colon - s] = 0;
    *port = (uint16_t)p;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"data", required_argument, NULL, 'd'},
        {"checkpoint-interval", required_argument, NULL, 'i'},
        {"origin", required_argument, NULL, 'o'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"sync-full", no_argument, NULL, 'F'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen_s = "127.0.0.1:8470", *data = NULL, *origin = "ckv.localhost/log";
    const char *cert_path = NULL, *key_path = NULL;
    unsigned interval = 1000;
    int sync_full = 0, verbose = 0, c, rc = 1, created = 0;
    char addr[64], err[512];
    uint16_t port = 0;
    char *cert = NULL, *key = NULL;
    struct ckvd d;
    memset(&d, 0, sizeof(d));

    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen_s = optarg;
            break;
        case 'd':
            data = optarg;
            break;
        case 'i': {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 10 || v > 3600000) {
                fprintf(stderr, "ckvd: --checkpoint-interval must be 10..3600000 ms\n");
                return 2;
            }
            interval = (unsigned)v;
            break;
        }
        case 'o':
            origin = optarg;
            break;
        case 'c':
            cert_path = optarg;
            break;
        case 'k':
            key_path = optarg;
            break;
        case 'F':
            sync_full = 1;
            break;
        case 'v':
            verbose = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "ckvd: run 'ckvd --help' for the options\n");
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "ckvd: unexpected argument '%s'; run 'ckvd --help'\n", argv[optind]);
        return 2;
    }
    if (!data) {
        fprintf(stderr, "ckvd: --data DIR is required (where the server keeps its state)\n");
        return 2;
    }
    if (parse_listen(listen_s, addr, sizeof(addr), &port) != 0) {
        fprintf(stderr, "ckvd: --listen wants ADDR:PORT, e.g. 127.0.0.1:8470\n");
        return 2;
    }
    if (!!cert_path != !!key_path) {
        fprintf(stderr, "ckvd: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "ckvd: libsodium failed to initialise\n");
        return 1;
    }
    if (mkdir(data, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "ckvd: cannot create %s: %s\n", data, strerror(errno));
        return 1;
    }
    if (cert_path && (!(cert = read_file(cert_path, err, sizeof(err))) ||
                      !(key = read_file(key_path, err, sizeof(err))))) {
        fprintf(stderr, "ckvd: %s\n", err);
        goto out;
    }

    /* SIGINT/SIGTERM are blocked in every thread (the threads created below
     * inherit the mask) and taken synchronously by sigwait() in main. */
    sigset_t stop_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (ckvd_log_open(data, origin, interval, sync_full, &d.log, &created, err, sizeof(err)) !=
        0) {
        fprintf(stderr, "ckvd: %s\n", err);
        goto out;
    }
    d.origin = ckvd_log_origin(d.log);
    char dbpath[4096];
    snprintf(dbpath, sizeof(dbpath), "%s/ckvd.db", data);
    if (ckvd_store_open(dbpath, sync_full, &d.store, err, sizeof(err)) != CKVD_STORE_OK ||
        ckvd_accounts_init(&d, err, sizeof(err)) != 0 ||
        ckvd_accounts_catch_up(&d, err, sizeof(err)) != 0) {
        fprintf(stderr, "ckvd: %s\n", err);
        goto out;
    }
    d.tokens = ckvd_tokens_new();
    d.limits.register_per_peer = ckvd_ratelimit_new(5, 50, 10000);
    d.limits.login_per_name = ckvd_ratelimit_new(2, 20, 100000);
    d.limits.bundle_per_requester = ckvd_ratelimit_new(1, 50, 100000);
    d.limits.bundle_per_pair = ckvd_ratelimit_new(0.1, 5, 100000);
    d.limits.bundle_per_target = ckvd_ratelimit_new(1, 30, 100000);
    d.limits.lookup_per_peer = ckvd_ratelimit_new(20000, 40000, 10000);
    d.limits.send_per_account = ckvd_ratelimit_new(1000, 2000, 100000);
    if (!d.tokens || !d.limits.register_per_peer || !d.limits.login_per_name ||
        !d.limits.bundle_per_requester || !d.limits.bundle_per_pair ||
        !d.limits.bundle_per_target || !d.limits.lookup_per_peer || !d.limits.send_per_account) {
        fprintf(stderr, "ckvd: out of memory\n");
        goto out;
    }
    d.verbose = verbose;

    struct ckvd_http_config hc = {
        .listen_addr = addr,
        .port = port,
        .tls_cert_pem = cert,
        .tls_key_pem = key,
        .handler = ckvd_route,
        .free_user = ckvd_free_req_user,
        .ctx = &d,
    };
    if (ckvd_http_start(&hc, &d.http, err, sizeof(err)) != 0) {
        fprintf(stderr, "ckvd: %s\n", err);
        goto out;
    }
    if (created)
        printf("%s\n", ckvd_log_vkey(d.log));
    fflush(stdout);
    ckvd_logf("serving %s on %s://%s:%u (log %s, %llu entries; verifier key in %s/log.vkey)",
              created ? "a new log" : "its log", cert ? "https" : "http", addr,
              (unsigned)ckvd_http_port(d.http), d.origin,
              (unsigned long long)ckvd_log_size(d.log), data);
    int sig = 0;
    while (sigwait(&stop_sigs, &sig) != 0)
        ;
    ckvd_logf("stopping on signal %d", sig);
    rc = 0;
out:
    ckvd_http_stop(d.http);
    ckvd_log_close(d.log);
    ckvd_store_close(d.store);
    ckvd_tokens_free(d.tokens);
    ckvd_ratelimit_free(d.limits.register_per_peer);
    ckvd_ratelimit_free(d.limits.login_per_name);
    ckvd_ratelimit_free(d.limits.bundle_per_requester);
    ckvd_ratelimit_free(d.limits.bundle_per_pair);
    ckvd_ratelimit_free(d.limits.bundle_per_target);
    ckvd_ratelimit_free(d.limits.lookup_per_peer);
    ckvd_ratelimit_free(d.limits.send_per_account);
    if (key) {
        sodium_memzero(key, strlen(key));
        free(key);
    }
    free(cert);
    return rc;
}
