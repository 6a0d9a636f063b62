/*
 * main.c: ckvd's command line, start-up and shutdown.
 *
 *   ckvd --listen ADDR:PORT --data DIR [--checkpoint-interval MS]
 *        [--tls-cert F --tls-key F] [--origin ORIGIN] [--sync-full]
 *        [--limit KIND=RATE/BURST]... [--token-ttl S] [--idle-timeout S]
 *        [--max-connections-per-ip N]
 *        [--max-queue N] [--witness VKEY,URL]... [--witness-quorum K]
 *        [--witness-refresh S] [-v]
 *
 * Start-up: make DIR (0700) and lock it (one ckvd per directory), open or
 * create the log (printing the verifier key on first start), open the
 * server database, repair the account index from the log if a crash left
 * it behind, then serve until SIGTERM/SIGINT. Shutdown: stop the HTTP
 * layer (waiting long-polls are answered), publish pending entries, close
 * the databases, free everything (so LeakSanitizer can vouch for it).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "accounts.h"
#include "auth.h"
#include "log.h"
#include "witnesses.h"

#include <curl/curl.h>

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
            "                             log.key (0600), log.vkey, cosig.db (witnesses)\n"
            "  --checkpoint-interval MS   publish a signed checkpoint at least this often\n"
            "                             when entries are waiting (default 1000)\n"
            "  --origin ORIGIN            the log's name, used when the log is created\n"
            "                             (default ckv.localhost/log)\n"
            "  --tls-cert FILE --tls-key FILE   serve HTTPS with these PEM files\n"
            "  --sync-full                fsync every commit (survives power loss)\n"
            "  --limit KIND=RATE/BURST    an abuse limit: RATE requests per second, BURST\n"
            "                             at once (RATE > 0, BURST >= 1; 0/0, and only\n"
            "                             0/0, turns it off). KIND: register (per\n"
            "                             client address), login (per address), bundle (per\n"
            "                             requester), bundle-pair (requester and target),\n"
            "                             bundle-target (per target), lookup (per address),\n"
            "                             send (per account). May be repeated.\n"
            "  --token-ttl S              session token lifetime (default 900 s)\n"
            "  --idle-timeout S           close a connection idle (or stalled in the middle\n"
            "                             of a request) this long (default 30 s); a body\n"
            "                             still arriving this long after its headers: 408;\n"
            "                             headers not complete twice this long after the\n"
            "                             connection opened or last answered, or a request\n"
            "                             (not a long-poll) not complete twice this long\n"
            "                             after its headers: closed\n"
            "  --max-queue N              messages waiting per recipient (default 10000)\n"
            "  --max-connections-per-ip N open connections from one address (default 500\n"
            "                             of 4000 in all; 0: no limit, e.g. behind a\n"
            "                             reverse proxy); more are closed at once\n"
            "  --witness VKEY,URL         a tlog-witness (c2sp.org/tlog-witness): its\n"
            "                             verifier key, a comma, its URL; every new\n"
            "                             checkpoint is pushed to it. May be repeated.\n"
            "  --witness-quorum K         serve the newest checkpoint cosigned by at least K\n"
            "                             witnesses (default: all of them)\n"
            "  --witness-refresh S        push the newest checkpoint again every S seconds,\n"
            "                             so cosignature timestamps stay fresh (default 10)\n"
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

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end = NULL;
    if (!*s || *s == '-' || *s == '+')
        return -1;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* One abuse limit and the flag that sets it (--limit KIND=RATE/BURST). */
struct limit_spec {
    const char *name;
    double rate, burst;
    size_t keys; /* buckets kept at most */
    struct ckvd_ratelimit **slot;
};

static int set_limit(struct limit_spec *ls, const char *arg)
{
    const char *eq = strchr(arg, '=');
    for (; eq && ls->name; ls++) {
        if (strlen(ls->name) != (size_t)(eq - arg) || strncmp(ls->name, arg, (size_t)(eq - arg)))
            continue;
        char *end = NULL, *end2 = NULL;
        double r = strtod(eq + 1, &end);
        if (end == eq + 1 || *end != '/')
            break;
        double b = strtod(end + 1, &end2);
        if (end2 == end + 1 || *end2 || !(r >= 0 && r <= 1e9) || !(b >= 0 && b <= 1e9))
            break;
        if (!(r == 0 && b == 0) && !(r > 0 && b >= 1)) {
            /* 0/B or R/0.5 would turn the limit off without saying so */
            fprintf(stderr,
                    "ckvd: --limit %s: RATE must be above 0 and BURST at least 1 (e.g. "
                    "%s=0.1/5), or 0/0 to turn the limit off\n",
                    ls->name, ls->name);
            return -1;
        }
        ls->rate = r;
        ls->burst = b;
        return 0;
    }
    fprintf(stderr,
            "ckvd: --limit wants KIND=RATE/BURST (e.g. bundle-pair=0.1/5); KIND is one of "
            "register, login, bundle, bundle-pair, bundle-target, lookup, send\n");
    return -1;
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
        {"limit", required_argument, NULL, 'L'},
        {"token-ttl", required_argument, NULL, 'T'},
        {"idle-timeout", required_argument, NULL, 'I'},
        {"max-queue", required_argument, NULL, 'Q'},
        {"max-connections-per-ip", required_argument, NULL, 'P'},
        {"witness", required_argument, NULL, 'W'},
        {"witness-quorum", required_argument, NULL, 'K'},
        {"witness-refresh", required_argument, NULL, 'R'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ckvd d;
    memset(&d, 0, sizeof(d));
    const char *listen_s = "127.0.0.1:8470", *data = NULL, *origin = "ckv.localhost/log";
    const char *cert_path = NULL, *key_path = NULL;
    unsigned interval = 1000, token_ttl = CKVD_TOKEN_TTL, idle_timeout = 30;
    unsigned max_queue = CKVD_MAX_QUEUE, max_per_ip = CKVD_MAX_CONN_PER_IP;
    unsigned wquorum = 0, wrefresh = CKVD_WITNESS_REFRESH_DEFAULT;
    struct ckvd_witness_set *ws = ckvd_witness_set_new();
    if (!ws) {
        fprintf(stderr, "ckvd: out of memory\n");
        return 1;
    }
    struct limit_spec limits[] = {
        {"register", 5, 50, 10000, &d.limits.register_per_peer},
        {"login", 20, 200, 10000, &d.limits.login_per_peer},
        {"bundle", 1, 50, 100000, &d.limits.bundle_per_requester},
        {"bundle-pair", 0.1, 5, 100000, &d.limits.bundle_per_pair},
        {"bundle-target", 1, 30, 100000, &d.limits.bundle_per_target},
        {"lookup", 20000, 40000, 10000, &d.limits.lookup_per_peer},
        {"send", 1000, 2000, 100000, &d.limits.send_per_account},
        {NULL, 0, 0, 0, NULL},
    };
    int sync_full = 0, verbose = 0, c, rc = 1, created = 0, lockfd = -1;
    char addr[64], err[512];
    uint16_t port = 0;
    char *cert = NULL, *key = NULL;

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
                ckvd_witness_set_free(ws);
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
        case 'L':
            if (set_limit(limits, optarg) != 0) {
                ckvd_witness_set_free(ws);
                return 2;
            }
            break;
        case 'T':
            if (parse_uint(optarg, 1, 86400, &token_ttl) != 0) {
                fprintf(stderr, "ckvd: --token-ttl must be 1..86400 seconds\n");
                ckvd_witness_set_free(ws);
                return 2;
            }
            break;
        case 'I':
            if (parse_uint(optarg, 1, 3600, &idle_timeout) != 0) {
                fprintf(stderr, "ckvd: --idle-timeout must be 1..3600 seconds\n");
                ckvd_witness_set_free(ws);
                return 2;
            }
            break;
        case 'P':
            if (parse_uint(optarg, 0, CKVD_MAX_CONNECTIONS, &max_per_ip) != 0) {
                fprintf(stderr, "ckvd: --max-connections-per-ip must be 0..%u (0: no limit)\n",
                        CKVD_MAX_CONNECTIONS);
                ckvd_witness_set_free(ws);
                return 2;
            }
            break;
        case 'Q':
            if (parse_uint(optarg, 1, 10000000, &max_queue) != 0) {
                fprintf(stderr, "ckvd: --max-queue must be 1..10000000 messages\n");
                ckvd_witness_set_free(ws);
                return 2;
            }
            break;
        case 'W':
            if (ckvd_witness_set_add(ws, optarg, err, sizeof(err)) != 0) {
                fprintf(stderr, "ckvd: %s\n", err);
                ckvd_witness_set_free(ws);
                return 2;
            }
            break;
        case 'K':
            if (parse_uint(optarg, 1, CKVD_MAX_WITNESSES, &wquorum) != 0) {
                fprintf(stderr, "ckvd: --witness-quorum must be 1..%d\n", CKVD_MAX_WITNESSES);
                ckvd_witness_set_free(ws);
                return 2;
            }
            break;
        case 'R':
            if (parse_uint(optarg, 1, 86400, &wrefresh) != 0) {
                fprintf(stderr, "ckvd: --witness-refresh must be 1..86400 seconds\n");
                ckvd_witness_set_free(ws);
                return 2;
            }
            break;
        case 'v':
            verbose = 1;
            break;
        case 'h':
            usage(stdout);
            ckvd_witness_set_free(ws);
            return 0;
        default:
            fprintf(stderr, "ckvd: run 'ckvd --help' for the options\n");
            ckvd_witness_set_free(ws);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "ckvd: unexpected argument '%s'; run 'ckvd --help'\n", argv[optind]);
        ckvd_witness_set_free(ws);
        return 2;
    }
    if (!data) {
        fprintf(stderr, "ckvd: --data DIR is required (where the server keeps its state)\n");
        ckvd_witness_set_free(ws);
        return 2;
    }
    if (wquorum && !ckvd_witness_set_count(ws)) {
        fprintf(stderr, "ckvd: --witness-quorum needs --witness VKEY,URL\n");
        ckvd_witness_set_free(ws);
        return 2;
    }
    if (ckvd_witness_set_config(ws, wquorum, wrefresh, err, sizeof(err)) != 0) {
        fprintf(stderr, "ckvd: %s\n", err);
        ckvd_witness_set_free(ws);
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
    /* One server per data directory: two would interleave the log. */
    char lockpath[4096];
    snprintf(lockpath, sizeof(lockpath), "%s/ckvd.lock", data);
    lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "ckvd: %s is in use by another ckvd (or cannot be locked: %s); stop "
                        "that one first\n",
                data, strerror(errno));
        goto out;
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
    /* Long-polls keep connections open: allow many descriptors. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max && rl.rlim_cur < 8192) {
        rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: witness pushes */
    size_t nwitnesses = ckvd_witness_set_count(ws);
    unsigned shown_quorum = wquorum ? wquorum : (unsigned)nwitnesses;
    int lrc = ckvd_log_open_witnessed(data, origin, interval, sync_full, ws, &d.log, &created,
                                      err, sizeof(err));
    ws = NULL; /* taken by the log */
    if (lrc != 0) {
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
    ckvd_store_set_max_queue(d.store, max_queue);
    d.tokens = ckvd_tokens_new();
    d.lookups = ckvd_lookup_cache_new();
    if (!d.tokens || !d.lookups) {
        fprintf(stderr, "ckvd: out of memory\n");
        goto out;
    }
    for (struct limit_spec *ls = limits; ls->name; ls++) {
        if (ls->rate == 0 && ls->burst == 0)
            continue; /* turned off (0/0; set_limit refuses anything else below 1) */
        if (!(*ls->slot = ckvd_ratelimit_new(ls->rate, ls->burst, ls->keys))) {
            fprintf(stderr, "ckvd: out of memory\n");
            goto out;
        }
    }
    d.token_ttl = (int)token_ttl;
    d.verbose = verbose;

    struct ckvd_http_config hc = {
        .listen_addr = addr,
        .port = port,
        .tls_cert_pem = cert,
        .tls_key_pem = key,
        .handler = ckvd_route,
        .free_user = ckvd_free_req_user,
        .ctx = &d,
        .idle_timeout_s = idle_timeout,
        .max_conn_per_ip = max_per_ip,
        .verbose = verbose,
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
    if (nwitnesses)
        ckvd_logf("pushing checkpoints to %zu witness%s; serving what %u cosign%s",
                  nwitnesses, nwitnesses == 1 ? "" : "es", shown_quorum,
                  shown_quorum == 1 ? "s" : "");
    int sig = 0;
    while (sigwait(&stop_sigs, &sig) != 0)
        ;
    ckvd_logf("stopping on signal %d", sig);
    rc = 0;
out:
    ckvd_http_stop(d.http);
    ckvd_log_close(d.log);
    ckvd_accounts_close(&d);
    ckvd_store_close(d.store);
    ckvd_lookup_cache_free(d.lookups);
    ckvd_tokens_free(d.tokens);
    for (struct limit_spec *ls = limits; ls->name; ls++)
        ckvd_ratelimit_free(*ls->slot);
    if (key) {
        sodium_memzero(key, strlen(key));
        free(key);
    }
    free(cert);
    if (lockfd >= 0)
        close(lockfd); /* releases the lock */
    ckvd_witness_set_free(ws); /* when the log did not take it */
    curl_global_cleanup();
    return rc;
}
