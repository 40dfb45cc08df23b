/*
 * retry_int.h - which S3 failures are worth another attempt, and how long
 * to wait before it (module-private; the client's request loop uses it).
 *
 * Waits follow "exponential backoff with full jitter": before attempt n+1
 * (n >= 1 failed attempts so far) wait a uniformly random time in
 * [0, min(cap, base * 2^(n-1))]. The random numbers come from a small
 * caller-seeded generator (splitmix64), so tests can replay a schedule; it
 * is for spreading retries only, never for anything secret.
 */
#ifndef PGPITR_S3_RETRY_INT_H
#define PGPITR_S3_RETRY_INT_H

#include <stdint.h>

#include "pgpitr/core/err.h"

#define PITR_S3_BACKOFF_BASE_MS 100L
#define PITR_S3_BACKOFF_CAP_MS  20000L

/*
 * Every request ends, all attempts included, within its deadline:
 * max(retry_max_time, PITR_S3_DEADLINE_MIN_MS) plus 1 s per PITR_S3_MIN_RATE
 * bytes it sends or may receive. A stalled or trickling endpoint thus
 * costs a bounded time, and archive_command or restore_command returns.
 */
#define PITR_S3_DEADLINE_MIN_MS 10000L
#define PITR_S3_MIN_RATE        65536L /* bytes per second */

/* The deadline in milliseconds of a request moving `bytes` (see above). */
long pitr_s3_deadline_ms(long retry_max_time_ms, uint64_t bytes);

/* The next number of the generator whose state is *state (any seed will do). */
uint64_t pitr_s3_rng_next(uint64_t *state);

/*
 * The wait in milliseconds before the next attempt after `failures` failed
 * ones (>= 1): uniform in [0, min(cap_ms, base_ms * 2^(failures-1))].
 */
long pitr_s3_backoff_ms(unsigned failures, long base_ms, long cap_ms, uint64_t *rng);

/*
 * True when a failed request may succeed if sent again: a transport failure
 * the HTTP layer calls transient (reset, refused, timeout), HTTP 408, 429
 * and 5xx other than 501/505, and the S3 codes RequestTimeout, SlowDown,
 * InternalError and ServiceUnavailable whatever their status. Everything
 * else (other 4xx, certificate failures, local errors) fails at once.
 */
int pitr_s3_retryable(const struct pitr_err *err, int transport_transient);

#endif
