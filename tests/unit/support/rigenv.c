/* rigenv.c - see rigenv.h. */
#include "rigenv.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pitr_test_rig_env_ok(const char *suite, const char *const *names, size_t n)
{
    size_t i;
    int ok = 1;

    for (i = 0; i < n; i++) {
        const char *v = getenv(names[i]);

        if (v == NULL || v[0] == '\0') {
            fprintf(stderr, "%s: %s is not set\n", suite, names[i]);
            ok = 0;
        }
    }
    if (!ok)
        fprintf(stderr,
                "%s: start the rig and load its environment first:\n"
                "  tests/rig/swift.sh start STATE_DIR && . STATE_DIR/env\n",
                suite);
    return ok;
}

int pitr_test_strict(void)
{
    const char *check = getenv("PITR_CHECK"), *ci = getenv("CI");

    return (check != NULL && strcmp(check, "1") == 0) || (ci != NULL && strcmp(ci, "true") == 0);
}

int pitr_test_skip_filter_ok(const char *suite)
{
    const char *skip = getenv("PITR_TEST_SKIP");

    if (skip == NULL || skip[0] == '\0')
        return 1;
    if (pitr_test_strict()) {
        fprintf(stderr,
                "%s: PITR_TEST_SKIP='%s' is refused under make check / CI: "
                "a skipped test proves nothing\n",
                suite,
                skip);
        return 0;
    }
    fprintf(stderr, "%s: # SKIPPING tests matching '%s' (PITR_TEST_SKIP)\n", suite, skip);
    cmocka_set_skip_filter(skip);
    return 1;
}
