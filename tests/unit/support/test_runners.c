/*
 * test_runners.c - the test runners cannot pass what did not run: a set
 * PITR_TEST_SKIP is refused under make check (PITR_CHECK=1) and CI
 * (CI=true), and tools/run-unit.sh fails on a missing unit binary, one that
 * dies on a signal, a unit source without binary, and an empty run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "rigenv.h"
#include "tmpdir.h"

/* Run cmd (from the top folder); its output in out, its exit status returned. */
static int run(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    int st;

    assert_non_null(p);
    while (n + 1 < size) {
        size_t got = fread(out + n, 1, size - 1 - n, p);

        if (got == 0)
            break;
        n += got;
    }
    out[n] = '\0';
    st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

static void strict_env(const char *check, const char *ci)
{
    if (check != NULL)
        setenv("PITR_CHECK", check, 1);
    else
        unsetenv("PITR_CHECK");
    if (ci != NULL)
        setenv("CI", ci, 1);
    else
        unsetenv("CI");
}

static void skip_filter__refused_under_make_check(void **state)
{
    (void)state;
    strict_env("1", NULL);
    setenv("PITR_TEST_SKIP", "*200mb*", 1);
    assert_int_equal(pitr_test_skip_filter_ok("test_runners"), 0);
    unsetenv("PITR_TEST_SKIP");
}

static void skip_filter__refused_in_ci(void **state)
{
    (void)state;
    strict_env(NULL, "true");
    setenv("PITR_TEST_SKIP", "*", 1);
    assert_int_equal(pitr_test_skip_filter_ok("test_runners"), 0);
    unsetenv("PITR_TEST_SKIP");
}

static void skip_filter__unset_is_fine_under_make_check(void **state)
{
    (void)state;
    strict_env("1", "true");
    unsetenv("PITR_TEST_SKIP");
    assert_int_equal(pitr_test_skip_filter_ok("test_runners"), 1);
}

static void skip_filter__applied_by_hand(void **state)
{
    (void)state;
    strict_env(NULL, NULL);
    setenv("PITR_TEST_SKIP", "no_test_is_named_like_this*", 1);
    assert_int_equal(pitr_test_skip_filter_ok("test_runners"), 1);
    unsetenv("PITR_TEST_SKIP");
}

/* A fake build tree with one executable "unit binary" holding script. */
static void fake_unit(const char *root, const char *rel, const char *script)
{
    char path[512];

    assert_int_equal(pitr_test_write_file(root, rel, script), 0);
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    assert_int_equal(chmod(path, 0700), 0);
}

static void run_unit__missing_binary_fails(void **state)
{
    char dir[] = "/tmp/pgpitr-runners.XXXXXX", cmd[1024], out[65536];

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd), "tools/run-unit.sh %s/tests/unit/core/test_buf 2>&1", dir);
    assert_int_not_equal(run(cmd, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "is missing (not built)"));
    assert_non_null(strstr(out, " 0 passed, "));
    pitr_test_rm_rf(dir);
}

static void run_unit__binary_killed_by_a_signal_fails(void **state)
{
    char dir[] = "/tmp/pgpitr-runners.XXXXXX", cmd[1024], out[65536];

    (void)state;
    assert_non_null(mkdtemp(dir));
    fake_unit(dir, "tests/unit/core/test_buf", "#!/bin/sh\nkill -SEGV $$\n");
    snprintf(cmd, sizeof(cmd), "tools/run-unit.sh %s/tests/unit/core/test_buf 2>&1", dir);
    assert_int_not_equal(run(cmd, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "died on signal 11 (SEGV)"));
    pitr_test_rm_rf(dir);
}

static void run_unit__source_without_binary_fails(void **state)
{
    char dir[] = "/tmp/pgpitr-runners.XXXXXX", cmd[1024], out[65536];

    (void)state;
    assert_non_null(mkdtemp(dir));
    fake_unit(dir, "tests/unit/core/test_buf", "#!/bin/sh\nexit 0\n");
    snprintf(cmd, sizeof(cmd), "tools/run-unit.sh %s/tests/unit/core/test_buf 2>&1", dir);
    assert_int_not_equal(run(cmd, out, sizeof(out)), 0);
    /* The one binary given passed; every other unit source is named as missing. */
    assert_non_null(strstr(out, "unit binaries: 1 passed, "));
    assert_non_null(strstr(out, "tests/unit/support/test_runners.c has no binary in this run"));
    assert_null(strstr(out, "tests/unit/core/test_buf.c has no binary"));
    pitr_test_rm_rf(dir);
}

static void run_unit__no_binaries_fails(void **state)
{
    char out[4096];

    (void)state;
    assert_int_not_equal(run("tools/run-unit.sh 2>&1", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "no unit binaries given"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(skip_filter__refused_under_make_check),
        cmocka_unit_test(skip_filter__refused_in_ci),
        cmocka_unit_test(skip_filter__unset_is_fine_under_make_check),
        cmocka_unit_test(skip_filter__applied_by_hand),
        cmocka_unit_test(run_unit__missing_binary_fails),
        cmocka_unit_test(run_unit__binary_killed_by_a_signal_fails),
        cmocka_unit_test(run_unit__source_without_binary_fails),
        cmocka_unit_test(run_unit__no_binaries_fails),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
