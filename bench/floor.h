/*
 * floor.h: what the two halves of `ckv-bench floor` share: the driver and
 * its relay server (floor.c) and the client processes it forks
 * (floor_client.c). They talk through one struct in shared memory (the
 * parameters, the start time, each client's counts and latencies) and, on
 * the wire, through the frames below.
 *
 * `ckv-bench floor` is not ckv's protocol: it is the cheapest relay that
 * still does the work every design with ckv's guarantees must do per
 * message (see floor.c), so that its latency is a lower bound for
 * `ckv-bench relay` on the same machine.
 */
#ifndef CKV_BENCH_FLOOR_H
#define CKV_BENCH_FLOOR_H
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define FLOOR_MAX_CLIENTS 256
#define FLOOR_MAX_MSGS 10000
#define FLOOR_BODY 400          /* bytes of a message body (a sealed envelope's size) */
#define FLOOR_RECEIPT_BODY 80   /* bytes of a receipt body */
#define FLOOR_MAX_FRAME 8192    /* a frame longer than this is a protocol error */
#define FLOOR_MAX_ACKS 1000     /* ids in one ACK frame */

/* Frame types. SEND: client -> server, for client `peer`; MSG: server ->
 * client, a stored SEND (id = its row); ACK: client -> server, the payload
 * is a list of 64-bit ids (delete them); HELLO: client -> server, "I am
 * client `peer`", echoed back once the server has taken it. */
enum { FLOOR_SEND = 1, FLOOR_ACK = 2, FLOOR_MSG = 3, FLOOR_HELLO = 4 };
/* kind of a SEND/MSG: a message, or the receipt for message `seq` */
enum { FLOOR_KIND_MESSAGE = 0, FLOOR_KIND_RECEIPT = 1, FLOOR_KIND_SETUP = 2 };

struct floor_hdr {
    uint32_t len; /* the whole frame, header included */
    uint8_t type, kind;
    uint16_t pad;
    uint32_t peer; /* SEND: the recipient; MSG: the sender; HELLO/ACK: the client */
    uint64_t id;   /* MSG: the server's row id */
    uint64_t seq;  /* the message's sequence number (a receipt: the one it receipts) */
} __attribute__((packed));

struct floor_result {
    int failed;
    char err[160];
    uint64_t sent, received, receipts, dup;
    uint64_t cpu_ns;  /* CPU the client process used while messages flowed */
    uint64_t done_ns; /* when its last message and receipt had arrived */
    uint32_t nlat;
    double lat_us[FLOOR_MAX_MSGS]; /* send -> receipt, per message */
};

#define FLOOR_BUNDLE_MAX 512 /* a bundle's bytes in shared memory (--signal) */

struct floor_shared {
    int n, msgs, rate, dh, work_us, ckpt_off, signal, port;
    char root[256];
    volatile int phase;    /* set by the driver: 1 set up sessions (--signal), 2 go */
    volatile int ready[2]; /* clients connected [0], with sessions [1] (atomic adds) */
    uint64_t t0;          /* the paced schedule's start (CLOCK_MONOTONIC ns) */
    struct floor_result r[FLOOR_MAX_CLIENTS];
    unsigned char bundle[FLOOR_MAX_CLIENTS][FLOOR_BUNDLE_MAX]; /* --signal: each one's */
};

/* One client process (floor_client.c); returns its exit status. */
int ckv_bench_floor_client(struct floor_shared *sh, int i);

/* Shared by both halves (floor.c). */
int floor_write_all(int fd, const void *buf, size_t n);
int floor_open_db(const char *path, int ckpt_off, const char *schema, sqlite3 **db_out,
                  char *err, size_t errlen);

#endif
