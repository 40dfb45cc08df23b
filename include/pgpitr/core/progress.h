/*
 * progress.h - the one-line progress display that backup and restore show
 * on a terminal: "<what>: D of ~T MiB (P%), R MiB/s, ETA m:ss<extra>",
 * rewritten in place (\r, erase to end of line) on stderr.
 *
 * A meter counts bytes from any thread (pitr_progress_add is lock-free);
 * pitr_progress_start runs a thread that redraws the line every second
 * until pitr_progress_stop, which draws it a last time and ends the line.
 */
#ifndef PGPITR_CORE_PROGRESS_H
#define PGPITR_CORE_PROGRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Format the line into out (n bytes, cut when longer): done of total bytes
 * after secs seconds; total 0 means unknown (no percentage, no ETA); secs
 * 0 means no rate yet. extra (may be NULL) is appended as given.
 */
void pitr_progress_format(char *out,
                          size_t n,
                          const char *what,
                          uint64_t done,
                          uint64_t total,
                          double secs,
                          const char *extra);

/* Seconds since *since (CLOCK_MONOTONIC). */
double pitr_progress_elapsed(const struct timespec *since);

/* Draw line on stderr in place of the previous one. */
void pitr_progress_draw(const char *line);

struct pitr_progress {
    char what[128];
    uint64_t total;
    atomic_uint_least64_t done;
    atomic_int stop;
    struct timespec t0;
    pthread_t thread;
    int running;
};

/*
 * Start the meter for what (copied, cut at 127 bytes) and total bytes;
 * with show, a thread redraws the line every second. p is the caller's.
 */
void pitr_progress_start(struct pitr_progress *p, const char *what, uint64_t total, int show);

/* Count n more bytes done; p may be NULL (no meter). Thread-safe. */
void pitr_progress_add(struct pitr_progress *p, uint64_t n);

/* Stop the thread, draw the last line and end it (when shown). NULL is fine. */
void pitr_progress_stop(struct pitr_progress *p);

#endif
