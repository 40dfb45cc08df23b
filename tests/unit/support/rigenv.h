/*
 * rigenv.h - the S3 rig's environment, for the C integration tests.
 *
 * tests/rig/swift.sh writes STATE_DIR/env; tests/integration/run.sh sources
 * it before running the C suites.
 */
#ifndef PGPITR_TEST_RIGENV_H
#define PGPITR_TEST_RIGENV_H

#include <stddef.h>

/*
 * Check that every variable in names[0..n) is set and not empty. Prints each
 * missing one and how to start the rig (prefixed with suite) on stderr, and
 * returns 0 then: a skipped S3 test proves nothing, so the caller fails.
 * Returns 1 when all are set.
 */
int pitr_test_rig_env_ok(const char *suite, const char *const *names, size_t n);

/*
 * True when this run must not leave anything out: under `make check`
 * (PITR_CHECK=1) or in CI (CI=true).
 */
int pitr_test_strict(void);

/*
 * Apply PITR_TEST_SKIP (a cmocka skip filter, e.g. "*200mb*"), for manual
 * runs such as valgrind's. cmocka counts a filtered test as passed, so under
 * pitr_test_strict() a set PITR_TEST_SKIP is refused: returns 0 (the caller
 * fails) with a message. Otherwise the skip is announced on stderr and 1 is
 * returned.
 */
int pitr_test_skip_filter_ok(const char *suite);

#endif
