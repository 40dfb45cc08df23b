/*
 * test_progress.c - the progress line shared by backup and restore
 * (src/core/progress.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "pgpitr/core/progress.h"

#define MIB ((uint64_t)1 << 20)

static void progress_format__restore_line_with_eta(void **state)
{
    char line[256];

    (void)state;
    pitr_progress_format(
      line, sizeof(line), "restore 20261203T101010", 25 * MIB, 100 * MIB, 5.0, NULL);
    assert_string_equal(line,
                        "restore 20261203T101010: 25.0 of ~100.0 MiB (25%), 5.0 MiB/s, ETA 0:15");
}

static void progress_format__unknown_total_and_extra(void **state)
{
    char line[256];

    (void)state;
    pitr_progress_format(line, sizeof(line), "x", 3 * MIB, 0, 0.0, ", 1 more");
    assert_string_equal(line, "x: 3.0 MiB, 0.0 MiB/s, 1 more");
    /* Past the estimate: 100 %, ETA 0:00. */
    pitr_progress_format(line, sizeof(line), "x", 12 * MIB, 10 * MIB, 2.0, NULL);
    assert_string_equal(line, "x: 12.0 of ~10.0 MiB (100%), 6.0 MiB/s, ETA 0:00");
}

static void progress_add__counts_and_stop_without_thread(void **state)
{
    struct pitr_progress p;

    (void)state;
    pitr_progress_start(&p, "restore x", 10 * MIB, 0);
    pitr_progress_add(&p, MIB);
    pitr_progress_add(&p, 2 * MIB);
    pitr_progress_add(NULL, MIB); /* no meter: nothing */
    assert_int_equal(atomic_load(&p.done), 3 * MIB);
    assert_int_equal(p.running, 0);
    pitr_progress_stop(&p);
    pitr_progress_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(progress_format__restore_line_with_eta),
        cmocka_unit_test(progress_format__unknown_total_and_extra),
        cmocka_unit_test(progress_add__counts_and_stop_without_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
