/* retry.c - retry classification and backoff; see src/s3/retry_int.h. */
#include "s3/retry_int.h"

#include <limits.h>
#include <string.h>

uint64_t pitr_s3_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

long pitr_s3_deadline_ms(long retry_max_time_ms, uint64_t bytes)
{
    long base =
      retry_max_time_ms > PITR_S3_DEADLINE_MIN_MS ? retry_max_time_ms : PITR_S3_DEADLINE_MIN_MS;
    uint64_t transfer = bytes / (uint64_t)PITR_S3_MIN_RATE * 1000 +
                        bytes % (uint64_t)PITR_S3_MIN_RATE * 1000 / (uint64_t)PITR_S3_MIN_RATE;

    if (transfer > (uint64_t)(LONG_MAX / 2 - base))
        return LONG_MAX / 2;
    return base + (long)transfer;
}

long pitr_s3_backoff_ms(unsigned failures, long base_ms, long cap_ms, uint64_t *rng)
{
    long ceiling = base_ms;
    unsigned i;

    if (base_ms <= 0 || cap_ms <= 0)
        return 0;
    for (i = 1; i < failures && ceiling < cap_ms; i++)
        ceiling *= 2;
    if (ceiling > cap_ms)
        ceiling = cap_ms;
    return (long)(pitr_s3_rng_next(rng) % ((uint64_t)ceiling + 1));
}

int pitr_s3_retryable(const struct pitr_err *err, int transport_transient)
{
    static const char *const codes[] = {
        "RequestTimeout",
        "SlowDown",
        "InternalError",
        "ServiceUnavailable",
    };
    size_t i;

    if (err->code == PITR_ENETWORK)
        return transport_transient;
    if (err->http_status == 0)
        return 0; /* a local failure: sending again changes nothing */
    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(err->s3_code, codes[i]) == 0)
            return 1;
    if (err->http_status == 408 || err->http_status == 429)
        return 1;
    return err->http_status >= 500 && err->http_status != 501 && err->http_status != 505;
}
