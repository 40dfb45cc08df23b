/* progress.c - the progress line of backup and restore; see core/progress.h. */
#include "pgpitr/core/progress.h"

#include <stdio.h>
#include <string.h>

#define REDRAW_MS 1000
#define TICK_MS   100

double pitr_progress_elapsed(const struct timespec *since)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

static void mmss(double secs, char out[16])
{
    /* At most 99:59:59: a longer estimate says nothing useful. */
    unsigned s = secs < 0 ? 0u : secs > 359999 ? 359999u : (unsigned)(secs + 0.5);
    unsigned h = s / 3600 % 100, m = s / 60 % 60, sec = s % 60;

    if (h > 0)
        snprintf(out, 16, "%u:%02u:%02u", h, m, sec);
    else
        snprintf(out, 16, "%u:%02u", m % 60, sec);
}

void pitr_progress_format(char *out,
                          size_t n,
                          const char *what,
                          uint64_t done,
                          uint64_t total,
                          double secs,
                          const char *extra)
{
    double mib = (double)done / 1048576.0;
    double rate = secs > 0 ? (double)done / secs : 0.0;
    char eta[16] = "--";

    if (extra == NULL)
        extra = "";
    if (total > 0 && rate > 0)
        mmss(done >= total ? 0.0 : (double)(total - done) / rate, eta);
    if (total > 0)
        snprintf(out,
                 n,
                 "%s: %.1f of ~%.1f MiB (%d%%), %.1f MiB/s, ETA %s%s",
                 what,
                 mib,
                 (double)total / 1048576.0,
                 done >= total ? 100 : (int)((double)done * 100.0 / (double)total),
                 rate / 1048576.0,
                 eta,
                 extra);
    else
        snprintf(out, n, "%s: %.1f MiB, %.1f MiB/s%s", what, mib, rate / 1048576.0, extra);
}

void pitr_progress_draw(const char *line)
{
    /* \r and the erase-to-end-of-line sequence: one line that updates itself. */
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
}

static void draw(struct pitr_progress *p)
{
    char line[256];

    pitr_progress_format(line,
                         sizeof(line),
                         p->what,
                         atomic_load(&p->done),
                         p->total,
                         pitr_progress_elapsed(&p->t0),
                         NULL);
    pitr_progress_draw(line);
}

static void *redraw(void *arg)
{
    struct pitr_progress *p = arg;
    struct timespec tick = { 0, TICK_MS * 1000000L };
    int ticks = 0;

    while (!atomic_load(&p->stop)) {
        nanosleep(&tick, NULL);
        if (++ticks * TICK_MS >= REDRAW_MS) {
            ticks = 0;
            draw(p);
        }
    }
    return NULL;
}

void pitr_progress_start(struct pitr_progress *p, const char *what, uint64_t total, int show)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->what, sizeof(p->what), "%s", what);
    p->total = total;
    atomic_init(&p->done, 0);
    atomic_init(&p->stop, 0);
    clock_gettime(CLOCK_MONOTONIC, &p->t0);
    if (show)
        p->running = pthread_create(&p->thread, NULL, redraw, p) == 0;
}

void pitr_progress_add(struct pitr_progress *p, uint64_t n)
{
    if (p != NULL)
        atomic_fetch_add(&p->done, n);
}

void pitr_progress_stop(struct pitr_progress *p)
{
    if (p == NULL || !p->running)
        return;
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    p->running = 0;
    draw(p);
    fputc('\n', stderr);
    fflush(stderr);
}
