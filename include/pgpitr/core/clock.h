/*
 * clock.h - a monotonic clock for timing log lines.
 *
 * pitr_clock_mark_start() records when main() began; the wal-push path logs
 * at debug level how long each phase took ("timing: <phase> <ms> ms") and
 * how long the whole command ran since that mark, so a benchmark can tell
 * the process's start and exit (its wall time less that total) from the
 * work. No state but the start mark, written once before any thread runs.
 */
#ifndef PGPITR_CORE_CLOCK_H
#define PGPITR_CORE_CLOCK_H

#include <stdint.h>

/* Nanoseconds of CLOCK_MONOTONIC. */
int64_t pitr_clock_ns(void);

/* Milliseconds from t0 (a pitr_clock_ns() value) to now. */
double pitr_clock_ms_since(int64_t t0);

/* Record now as the process's start; call first thing in main(). */
void pitr_clock_mark_start(void);

/* Milliseconds since pitr_clock_mark_start(); 0 when it was never called. */
double pitr_clock_ms_since_start(void);

#endif
