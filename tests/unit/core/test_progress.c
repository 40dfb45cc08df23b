/*
 * test_progress.c - the progress line shared by backup and restore
 * (src/core/progress.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static void progress_start__shown_line_redraws_and_ends(void **state)
{
    char path[] = "/tmp/pgpitr-test-progress-XXXXXX", text[4096] = "";
    int fd = mkstemp(path), saved = dup(2);
    struct pitr_progress p;
    ssize_t n;

    (void)state;
    assert_true(fd >= 0 && saved >= 0);
    fflush(stderr);
    assert_int_equal(dup2(fd, 2), 2);
    pitr_progress_start(&p, "restore x", 10 * MIB, 1);
    pitr_progress_add(&p, 5 * MIB);
    usleep(1300 * 1000); /* one redraw */
    pitr_progress_stop(&p);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    n = pread(fd, text, sizeof(text) - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    /* The redraw, then the last line and its end. */
    assert_non_null(strstr(text, "\rrestore x: 5.0 of ~10.0 MiB (50%)"));
    assert_int_equal(text[n - 1], '\n');
    assert_int_equal(p.running, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(progress_format__restore_line_with_eta),
        cmocka_unit_test(progress_format__unknown_total_and_extra),
        cmocka_unit_test(progress_add__counts_and_stop_without_thread),
        cmocka_unit_test(progress_start__shown_line_redraws_and_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
