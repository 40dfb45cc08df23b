/* clock.c - monotonic timing for log lines; see include/pgpitr/core/clock.h. */
#include <time.h>

#include "pgpitr/core/clock.h"

static int64_t start_ns;

int64_t pitr_clock_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double pitr_clock_ms_since(int64_t t0)
{
    return (double)(pitr_clock_ns() - t0) / 1e6;
}

void pitr_clock_mark_start(void)
{
    start_ns = pitr_clock_ns();
}

double pitr_clock_ms_since_start(void)
{
    return start_ns == 0 ? 0.0 : pitr_clock_ms_since(start_ns);
}
