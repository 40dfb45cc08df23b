/*
 * fuzz_tzif.c - time zone data: the bytes as a TZif file
 * (pitr_tz_from_tzif, versions 1-4, with footer) and as a POSIX TZ rule
 * (pitr_tz_from_posix); each zone accepted is asked for offsets and for
 * wall-clock conversions across a wide range of times.
 */
#include "fuzz.h"

#include "pgpitr/core/err.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/sched/tz.h"

static void ask(const struct pitr_tz *tz)
{
    static const int64_t times[] = { -5000000000LL, -1,         0,          1000,        951782400,
                                     1711846800,    1730613600, 4102444800, 253402300799 };
    size_t i;

    for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        (void)pitr_tz_offset(tz, times[i]);
        (void)pitr_tz_local_to_utc(tz, times[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pitr_err err = { 0 };
    struct pitr_tz *tz = NULL;
    char *rule;

    if (size > PITR_TZ_FILE_MAX)
        return 0;
    fuzz_quiet();
    if (pitr_tz_from_tzif("Fuzz/Zone", data, size, &tz, &err) == PITR_OK)
        ask(tz);
    pitr_tz_free(tz);
    tz = NULL;
    rule = fuzz_cstr(data, size);
    if (pitr_tz_from_posix("Fuzz/Rule", rule, &tz, &err) == PITR_OK)
        ask(tz);
    pitr_tz_free(tz);
    pitr_free(rule);
    return 0;
}
