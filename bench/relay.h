/*
 * relay.h: what the two halves of `ckv-bench relay` share: the driver
 * (relay.c: ckvd, the runs, the figures) and the client processes it forks
 * (relay_client.c). They talk through one struct shared in shared memory:
 * the phase the driver has started (a process-shared mutex and condition),
 * how many clients finished each phase, and each client's counts and
 * latencies.
 */
#ifndef CKV_BENCH_RELAY_H
#define CKV_BENCH_RELAY_H

#include <pthread.h>
#include <stdint.h>

#define MAX_CLIENTS 256
#define MAX_MSGS 10000
#define MAX_RUNS 20

/* One message phase of one client. */
struct msg_phase {
    uint64_t sent;       /* sends that returned CKV_OK */
    uint64_t received;   /* distinct messages decrypted from the previous client */
    uint64_t duplicates; /* messages seen twice */
    uint64_t receipts;   /* distinct receipts for our messages */
    uint64_t send_ns, recv_ns, nsend, nrecv, nrecv_empty; /* where the time goes */
    uint64_t cpu_ns;                                      /* CPU this process used in the phase */
    double lat_us[MAX_MSGS];                              /* per message: send start -> receipt */
};

struct child_result {
    int failed;             /* a non-zero status: the phase went wrong */
    char err[256];          /* its sentence */
    uint64_t lookups;       /* lookups that passed every check */
    struct msg_phase ph[2]; /* [0] the loaded phase (window W), [1] the light one */
};

struct shared {
    volatile int phase;    /* set by the parent: 1 contacts, 2 messages, 3 light
                            * messages, 4 lookups, 9 stop */
    pthread_mutex_t mu;    /* process-shared: guards phase, with go */
    pthread_cond_t go;     /* broadcast when phase changes (no polling clients) */
    volatile int ready[5]; /* clients done with phase k (atomic adds) */
    int n, msgs, window, batch, light_msgs, light_window, light_rate, lookup_ms, defer_acks;
    char url[128], vkey[512], root[256];
    struct child_result r[MAX_CLIENTS];
};

/* One client process: set-up, contacts, the loaded and the paced message
 * phases, lookups, each when the driver starts it; its counts and errors in
 * sh->r[i]. Returns the process's exit status (0, or 1 on a failure). */
int ckv_bench_relay_client(struct shared *sh, int i);

#endif
