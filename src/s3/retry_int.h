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
