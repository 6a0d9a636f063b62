/*
 * progress.c: the progress bar (see progress.h). "\r" + the bar + "\033[K"
 * (clear to end of line); the width adapts to nothing on purpose: 30 cells
 * plus counts fit any terminal of 80 columns.
 */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void progress_start(progress *p, const char *label, uint64_t total, int quiet)
{
    p->enabled = !quiet && isatty(STDERR_FILENO);
    p->label = label;
    p->total = total;
    p->done = 0;
    p->last_ns = 0;
    p->drawn = 0;
}

static void draw(progress *p)
{
    enum { CELLS = 30 };
    char bar[CELLS + 1];
    unsigned fill = 0;
    if (p->total > 0)
        fill = (unsigned)((p->done > p->total ? p->total : p->done) * CELLS / p->total);
    for (unsigned i = 0; i < CELLS; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[CELLS] = '\0';
    if (p->total > 0)
        fprintf(stderr, "\r%-8s [%s] %llu/%llu (%u%%)\033[K", p->label, bar,
                (unsigned long long)p->done, (unsigned long long)p->total,
                (unsigned)(p->done * 100 / p->total));
    else
        fprintf(stderr, "\r%-8s %llu\033[K", p->label, (unsigned long long)p->done);
    fflush(stderr);
    p->drawn = 1;
}

void progress_add(progress *p, uint64_t n)
{
    p->done += n;
    if (!p->enabled)
        return;
    uint64_t t = now_ns();
    if (p->last_ns != 0 && t - p->last_ns < 100000000u && p->done < p->total)
        return;
    p->last_ns = t;
    draw(p);
}

void progress_end(progress *p)
{
    if (p->enabled && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = 0;
}
