/* test_retry.c - unit tests for src/s3/retry.c (classification, backoff with full jitter). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "pgpitr/core/err.h"
#include "s3/retry_int.h"

static struct pitr_err http_err(long status, const char *code)
{
    struct pitr_err e;

    pitr_err_clear(&e);
    e.code = status == 404 ? PITR_ENOTFOUND : status == 403 ? PITR_EAUTH : PITR_ES3;
    e.http_status = status;
    snprintf(e.s3_code, sizeof(e.s3_code), "%s", code);
    return e;
}

static void pitr_s3_retryable__classification(void **state)
{
    static const struct {
        long status;
        const char *code;
        int want;
    } cases[] = {
        { 500, "InternalError", 1 },
        { 502, "", 1 },
        { 503, "SlowDown", 1 },
        { 503, "ServiceUnavailable", 1 },
        { 504, "", 1 },
        { 408, "", 1 },
        { 429, "", 1 },
        { 400, "RequestTimeout", 1 }, /* S3 sends RequestTimeout with 400 */
        { 200, "InternalError", 1 },  /* CompleteMultipartUpload's 200 + <Error> */
        { 501, "NotImplemented", 0 }, /* e.g. SSE on a store without it */
        { 505, "", 0 },
        { 400, "InvalidArgument", 0 },
        { 400, "EntityTooSmall", 0 },
        { 403, "SignatureDoesNotMatch", 0 },
        { 403, "AccessDenied", 0 },
        { 404, "NoSuchKey", 0 },
        { 404, "NoSuchUpload", 0 },
        { 409, "", 0 },
        { 411, "MissingContentLength", 0 },
    };
    struct pitr_err e;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        e = http_err(cases[i].status, cases[i].code);
        if (pitr_s3_retryable(&e, 0) != cases[i].want)
            fail_msg(
              "%ld %s: expected retryable=%d", cases[i].status, cases[i].code, cases[i].want);
    }
    /* Transport failures: only those the HTTP layer calls transient. */
    pitr_err_clear(&e);
    e.code = PITR_ENETWORK;
    assert_true(pitr_s3_retryable(&e, 1));  /* refused, reset, timeout */
    assert_false(pitr_s3_retryable(&e, 0)); /* certificate not verified */
    /* Local failures (no HTTP status) never are. */
    pitr_err_clear(&e);
    e.code = PITR_EFORMAT;
    assert_false(pitr_s3_retryable(&e, 0));
    e.code = PITR_EUSAGE;
    assert_false(pitr_s3_retryable(&e, 1));
}

static void pitr_s3_backoff_ms__full_jitter_bounds(void **state)
{
    uint64_t rng = 42;
    unsigned failures;
    int i;

    (void)state;
    for (failures = 1; failures <= 20; failures++) {
        long ceiling = 100L << (failures - 1 < 10 ? failures - 1 : 10);
        long lo = ceiling, hi = 0;

        if (ceiling > 5000)
            ceiling = 5000;
        for (i = 0; i < 2000; i++) {
            long w = pitr_s3_backoff_ms(failures, 100, 5000, &rng);

            assert_true(w >= 0);
            assert_true(w <= ceiling);
            lo = w < lo ? w : lo;
            hi = w > hi ? w : hi;
        }
        /* Full jitter: the whole interval is used, from near 0 to near the ceiling. */
        assert_true(lo <= ceiling / 10);
        assert_true(hi >= ceiling - ceiling / 10);
    }
    /* No base or cap: no wait. */
    assert_int_equal(pitr_s3_backoff_ms(3, 0, 5000, &rng), 0);
}

static void pitr_s3_backoff_ms__seeded_schedule_replays(void **state)
{
    uint64_t a = 7, b = 7, c = 8;
    int i, differ = 0;

    (void)state;
    for (i = 1; i <= 50; i++) {
        long x = pitr_s3_backoff_ms((unsigned)i, 100, 20000, &a);
        long y = pitr_s3_backoff_ms((unsigned)i, 100, 20000, &b);
        long z = pitr_s3_backoff_ms((unsigned)i, 100, 20000, &c);

        assert_int_equal(x, y);
        differ += x != z;
    }
    assert_true(differ > 40);
    /* Huge failure counts do not overflow the doubling. */
    a = 1;
    assert_true(pitr_s3_backoff_ms(4000000000u, 100, 20000, &a) <= 20000);
}

static void pitr_s3_deadline_ms__retry_time_plus_size(void **state)
{
    (void)state;
    /* Never below the floor, even without retries. */
    assert_int_equal(pitr_s3_deadline_ms(0, 0), 10000);
    assert_int_equal(pitr_s3_deadline_ms(3000, 0), 10000);
    assert_int_equal(pitr_s3_deadline_ms(60000, 0), 60000);
    /* One second per 64 KiB sent or expected. */
    assert_int_equal(pitr_s3_deadline_ms(5000, 65536), 11000);
    assert_int_equal(pitr_s3_deadline_ms(60000, (uint64_t)16 << 20), 60000 + 256000);
    assert_int_equal(pitr_s3_deadline_ms(60000, 32768), 60500);
    /* Huge sizes saturate instead of overflowing. */
    assert_true(pitr_s3_deadline_ms(60000, UINT64_MAX) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_s3_retryable__classification),
        cmocka_unit_test(pitr_s3_backoff_ms__full_jitter_bounds),
        cmocka_unit_test(pitr_s3_backoff_ms__seeded_schedule_replays),
        cmocka_unit_test(pitr_s3_deadline_ms__retry_time_plus_size),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
