/* test_clock.c - unit tests for src/core/clock.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <time.h>

#include "pgpitr/core/clock.h"

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static void pitr_clock_ns__never_goes_back(void **state)
{
    int64_t a, b;

    (void)state;
    a = pitr_clock_ns();
    b = pitr_clock_ns();
    assert_true(a > 0);
    assert_true(b >= a);
}

static void pitr_clock_ms_since__counts_a_sleep(void **state)
{
    int64_t t0 = pitr_clock_ns();
    double ms;

    (void)state;
    sleep_ms(20);
    ms = pitr_clock_ms_since(t0);
    assert_true(ms >= 20.0);
    assert_true(ms < 5000.0);
}

static void pitr_clock_ms_since_start__zero_before_the_mark(void **state)
{
    (void)state;
    assert_true(pitr_clock_ms_since_start() == 0.0);
    pitr_clock_mark_start();
    sleep_ms(10);
    assert_true(pitr_clock_ms_since_start() >= 10.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_clock_ns__never_goes_back),
        cmocka_unit_test(pitr_clock_ms_since__counts_a_sleep),
        cmocka_unit_test(pitr_clock_ms_since_start__zero_before_the_mark),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
