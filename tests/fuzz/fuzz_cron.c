/*
 * fuzz_cron.c - cron schedules: pitr_cron_parse on the bytes after the
 * first (six and five fields, descriptors, "@every" durations, TZ= and
 * CRON_TZ= prefixes naming any zone, including hostile names), with the
 * default zone chosen by the first byte; then pitr_cron_next from reference
 * times around leap days, DST changes and the end of the accepted range,
 * chained four times. Besides the sanitizers, a next run that is not after
 * its reference time aborts.
 */
#include "fuzz.h"

#include <stdlib.h>

#include "pgpitr/core/err.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/sched/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const zones[] = {
        NULL, "UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Sao_Paulo"
    };
    static const int64_t starts[] = {
        0,            /* 1970-01-01 */
        951782400,    /* 2000-02-29 */
        1711846799,   /* Berlin spring forward, a second before */
        1730613600,   /* New York fall back */
        4102444800,   /* 2100-01-01, no leap day */
        253212998399, /* the last accepted reference time */
    };
    struct pitr_err err = { 0 };
    struct pitr_cron *c = NULL;
    char *spec, *note = NULL;
    size_t i;
    int k;

    if (size < 1 || size > 1200)
        return 0;
    fuzz_quiet();
    spec = fuzz_cstr(data + 1, size - 1);
    if (pitr_cron_parse(spec, zones[data[0] % 6], &c, &note, &err) == PITR_OK) {
        (void)pitr_cron_spec(c);
        for (i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
            int64_t t = starts[i];

            for (k = 0; k < 4; k++) {
                int64_t n = pitr_cron_next(c, t);

                if (n == 0)
                    break;
                if (n <= t)
                    abort();
                t = n;
            }
        }
    }
    pitr_free(note);
    pitr_cron_free(c);
    pitr_free(spec);
    return 0;
}
