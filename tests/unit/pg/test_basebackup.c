/*
 * test_basebackup.c - unit tests for the BASE_BACKUP CopyData parser
 * (pitr_pg_bb_parse), fed with crafted byte sequences. The libpq side is
 * exercised by tests/integration/test_backup_stream.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "pgpitr/pg/basebackup.h"

#define PARSE(bytes, m, err)                                                                       \
    pitr_pg_bb_parse((const unsigned char *)(bytes), sizeof(bytes) - 1, m, err)

static void bb_parse__new_archive_has_name_and_location(void **state)
{
    static const char msg[] = "n16385.tar\0/srv/tbs\0";
    struct pitr_pg_bb_msg m;
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(PARSE(msg, &m, &err), PITR_OK);
    assert_int_equal(m.kind, PITR_PG_BB_ARCHIVE);
    assert_string_equal(m.name, "16385.tar");
    assert_string_equal(m.location, "/srv/tbs");
}

static void bb_parse__base_archive_has_empty_location(void **state)
{
    static const char msg[] = "nbase.tar\0\0";
    struct pitr_pg_bb_msg m;
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(PARSE(msg, &m, &err), PITR_OK);
    assert_int_equal(m.kind, PITR_PG_BB_ARCHIVE);
    assert_string_equal(m.name, "base.tar");
    assert_string_equal(m.location, "");
}

static void bb_parse__new_archive_malformed(void **state)
{
    /* No terminator after the location; no location at all; an empty name; trailing bytes. */
    static const char no_term[] = "nbase.tar\0/x";
    static const char one_string[] = "nbase.tar\0";
    static const char empty_name[] = "n\0\0";
    static const char trailing[] = "nbase.tar\0\0x";
    struct pitr_pg_bb_msg m;
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(PARSE(no_term, &m, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "new-archive"));
    assert_int_equal(PARSE(one_string, &m, &err), PITR_EFORMAT);
    assert_int_equal(PARSE(empty_name, &m, &err), PITR_EFORMAT);
    assert_int_equal(PARSE(trailing, &m, &err), PITR_EFORMAT);
}

static void bb_parse__data_points_past_the_type_byte(void **state)
{
    static const char msg[] = "d\0\1\2tar";
    struct pitr_pg_bb_msg m;
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(PARSE(msg, &m, &err), PITR_OK);
    assert_int_equal(m.kind, PITR_PG_BB_DATA);
    assert_int_equal(m.len, 6);
    assert_ptr_equal(m.data, (const unsigned char *)msg + 1);
    assert_memory_equal(m.data, "\0\1\2tar", 6);
    /* A bare 'd' is an empty chunk, not an error. */
    assert_int_equal(pitr_pg_bb_parse((const unsigned char *)"d", 1, &m, &err), PITR_OK);
    assert_int_equal(m.len, 0);
}

static void bb_parse__progress_is_big_endian_int64(void **state)
{
    static const unsigned char msg[] = { 'p', 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06 };
    static const unsigned char short_msg[] = { 'p', 0x00, 0x01 };
    struct pitr_pg_bb_msg m;
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(pitr_pg_bb_parse(msg, sizeof(msg), &m, &err), PITR_OK);
    assert_int_equal(m.kind, PITR_PG_BB_PROGRESS);
    assert_true(m.progress == UINT64_C(0x010203040506));
    assert_int_equal(pitr_pg_bb_parse(short_msg, sizeof(short_msg), &m, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "progress message of 3 bytes"));
}

static void bb_parse__manifest_marker(void **state)
{
    struct pitr_pg_bb_msg m;
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(pitr_pg_bb_parse((const unsigned char *)"m", 1, &m, &err), PITR_OK);
    assert_int_equal(m.kind, PITR_PG_BB_MANIFEST);
    assert_int_equal(pitr_pg_bb_parse((const unsigned char *)"mx", 2, &m, &err), PITR_EFORMAT);
}

static void bb_parse__rejects_unknown_and_empty(void **state)
{
    struct pitr_pg_bb_msg m;
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(pitr_pg_bb_parse((const unsigned char *)"x123", 4, &m, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "unknown message type 0x78"));
    assert_int_equal(pitr_pg_bb_parse((const unsigned char *)"", 0, &m, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "empty message"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bb_parse__new_archive_has_name_and_location),
        cmocka_unit_test(bb_parse__base_archive_has_empty_location),
        cmocka_unit_test(bb_parse__new_archive_malformed),
        cmocka_unit_test(bb_parse__data_points_past_the_type_byte),
        cmocka_unit_test(bb_parse__progress_is_big_endian_int64),
        cmocka_unit_test(bb_parse__manifest_marker),
        cmocka_unit_test(bb_parse__rejects_unknown_and_empty),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
