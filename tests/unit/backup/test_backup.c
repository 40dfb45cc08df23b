/*
 * test_backup.c - unit tests for the server-free parts of src/backup/backup.c:
 * the progress line (bytes, estimate, rate, ETA). The sequence itself runs
 * against real servers in tests/integration/test_backup*.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "backup/backup_int.h"

#define MIB ((uint64_t)1 << 20)

static void format_progress__rate_percent_and_eta(void **state)
{
    char line[256];

    (void)state;
    /* 100 of 400 MiB in 10 s: 10 MiB/s, 300 MiB left = 30 s. */
    pitr_backup_format_progress(
      line, sizeof(line), "20261126T010203", 100 * MIB, 20 * MIB, 400 * MIB, 10.0);
    assert_string_equal(line,
                        "backup 20261126T010203: 100.0 of ~400.0 MiB (25%), 10.0 MiB/s, "
                        "ETA 0:30, 20.0 MiB stored");
}

static void format_progress__hours_and_overshoot(void **state)
{
    char line[256];

    (void)state;
    /* 1 MiB/s with 2 h 5 min 7 s left. */
    pitr_backup_format_progress(line, sizeof(line), "X", 10 * MIB, 0, 10 * MIB + 7507 * MIB, 10.0);
    assert_non_null(strstr(line, "ETA 2:05:07"));
    /* An estimate the copy outgrew (files grew while we read): 100%, nothing left. */
    pitr_backup_format_progress(line, sizeof(line), "X", 12 * MIB, MIB, 10 * MIB, 3.0);
    assert_non_null(strstr(line, "(100%)"));
    assert_non_null(strstr(line, "ETA 0:00"));
}

static void format_progress__unknown_total_or_no_time(void **state)
{
    char line[256];

    (void)state;
    pitr_backup_format_progress(line, sizeof(line), "X", 5 * MIB, 2 * MIB, 0, 2.0);
    assert_string_equal(line, "backup X: 5.0 MiB, 2.5 MiB/s, 2.0 MiB stored");
    /* No time elapsed yet: no rate, no ETA, no division by zero. */
    pitr_backup_format_progress(line, sizeof(line), "X", 0, 0, 10 * MIB, 0.0);
    assert_non_null(strstr(line, "0.0 MiB/s, ETA --"));
    /* A small buffer is truncated, never overrun. */
    {
        char small[12];

        memset(small, 'z', sizeof(small));
        pitr_backup_format_progress(small, sizeof(small), "X", 5 * MIB, 2 * MIB, 0, 2.0);
        assert_int_equal(strlen(small), sizeof(small) - 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_progress__rate_percent_and_eta),
        cmocka_unit_test(format_progress__hours_and_overshoot),
        cmocka_unit_test(format_progress__unknown_total_or_no_time),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
