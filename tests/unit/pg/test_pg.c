/*
 * test_pg.c - unit tests for the pure parts of src/pg/pg.c: LSN parsing and
 * formatting, WAL file names and offsets of an LSN, backup.info dates.
 * (The libpq parts are exercised by tests/integration/test_backup.sh.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "pgpitr/pg/pg.h"

static void parse_lsn__accepts_both_cases(void **state)
{
    struct pitr_err err = { 0 };
    uint64_t lsn = 0;

    (void)state;
    assert_int_equal(pitr_pg_parse_lsn("0/B000100", &lsn, &err), PITR_OK);
    assert_true(lsn == UINT64_C(0xB000100));
    assert_int_equal(pitr_pg_parse_lsn("1a/ffffffff", &lsn, &err), PITR_OK);
    assert_true(lsn == ((UINT64_C(0x1a) << 32) | 0xffffffffu));
}

static void parse_lsn__rejects_malformed(void **state)
{
    static const char *const bad[] = { "", "0", "/1", "1/", "0/123456789", "0/1x", "g/1", "0//1" };
    struct pitr_err err = { 0 };
    uint64_t lsn = 0;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pitr_pg_parse_lsn(bad[i], &lsn, &err), PITR_EFORMAT);
        assert_non_null(strstr(err.msg, "malformed LSN"));
    }
}

static void format_lsn__matches_postgres(void **state)
{
    char out[20];

    (void)state;
    pitr_pg_format_lsn(UINT64_C(0x6003998), out);
    assert_string_equal(out, "0/6003998");
    pitr_pg_format_lsn((UINT64_C(0x1A) << 32) | 0x28, out);
    assert_string_equal(out, "1A/28");
}

static void lsn_walfile__names_segment_and_offset(void **state)
{
    char out[25];
    uint32_t seg16 = 16u * 1024 * 1024;

    (void)state;
    /* The fixture backup: begin 0/6000028 -> ...0006 offset 40, end 0/6003998 -> offset 14744. */
    pitr_pg_lsn_walfile(1, UINT64_C(0x6000028), seg16, out);
    assert_string_equal(out, "000000010000000000000006");
    assert_true(pitr_pg_lsn_offset(UINT64_C(0x6000028), seg16) == 40);
    assert_true(pitr_pg_lsn_offset(UINT64_C(0x6003998), seg16) == 14744);
    /* Log rollover and a timeline above 9: hex, upper case. */
    pitr_pg_lsn_walfile(0x1b, (UINT64_C(2) << 32) | 0xFF000000u, seg16, out);
    assert_string_equal(out, "0000001B00000002000000FF");
    /* 1 GiB segments: 4 per log. */
    pitr_pg_lsn_walfile(1, (UINT64_C(1) << 32) | 0xC0000000u, 1024u * 1024 * 1024, out);
    assert_string_equal(out, "000000010000000100000003");
}

static void format_time__is_python_str_of_aware_datetime(void **state)
{
    struct pitr_pg_time t = { 1795468670, 753237, 0 }; /* 2026-11-23 21:17:50.753237 UTC */
    char out[64];

    (void)state;
    pitr_pg_format_time(&t, out);
    assert_string_equal(out, "2026-11-23 21:17:50.753237+00:00");
    t.usec = 0; /* Python leaves out a zero fraction */
    pitr_pg_format_time(&t, out);
    assert_string_equal(out, "2026-11-23 21:17:50+00:00");
    t.utc_offset = -(5 * 3600 + 30 * 60);
    pitr_pg_format_time(&t, out);
    assert_string_equal(out, "2026-11-23 15:47:50-05:30");
    t.utc_offset = 3600;
    t.usec = 5;
    pitr_pg_format_time(&t, out);
    assert_string_equal(out, "2026-11-23 22:17:50.000005+01:00");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_lsn__accepts_both_cases),
        cmocka_unit_test(parse_lsn__rejects_malformed),
        cmocka_unit_test(format_lsn__matches_postgres),
        cmocka_unit_test(lsn_walfile__names_segment_and_offset),
        cmocka_unit_test(format_time__is_python_str_of_aware_datetime),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
