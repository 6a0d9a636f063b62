/*
 * progress.h: a one-line progress bar on stderr for long runs (ckv-audit).
 * It draws only when stderr is a terminal and redraws at most ten times a
 * second, so that logs and pipes never see control characters.
 */
#ifndef CKV_PROGRESS_H
#define CKV_PROGRESS_H

#include <stdint.h>

typedef struct progress {
    int enabled;        /* stderr is a tty and the caller did not disable it */
    const char *label;  /* what is being done ("tiles", "bundles") */
    uint64_t total;     /* units of work; 0: unknown */
    uint64_t done;
    uint64_t last_ns;   /* last redraw time */
    int drawn;          /* a line is on screen and must be cleared */
} progress;

/* Start a bar; quiet != 0 disables it. */
void progress_start(progress *p, const char *label, uint64_t total, int quiet);

/* Advance by n units; redraws if at least 100 ms passed. */
void progress_add(progress *p, uint64_t n);

/* Clear the line (call before printing anything else and at the end). */
void progress_end(progress *p);

#endif
