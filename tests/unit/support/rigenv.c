/* rigenv.c - see rigenv.h. */
#include "rigenv.h"

#include <stdio.h>
#include <stdlib.h>

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
