/*
 * test_repl.c - the pure half of src/pg/repl.c: XLogData and keepalive
 * decoding (short, oversized, unknown, wrapping messages), the continuity
 * check (gap, repeat), the standby status update's bytes, slot names and
 * wal_segment_size. (The libpq half runs in test_wal_receive.sh.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "pgpitr/pg/repl.h"

static void be64(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static void decode__xlogdata_fields_and_payload(void **state)
{
    uint8_t m[25 + 5];
    struct pitr_repl_msg out;
    struct pitr_err err = { 0 };

    (void)state;
    m[0] = 'w';
    be64(m + 1, UINT64_C(0x100000028));
    be64(m + 9, UINT64_C(0x100000100));
    be64(m + 17, 12345);
    memcpy(m + 25, "hello", 5);
    assert_int_equal(pitr_repl_decode(m, sizeof(m), &out, &err), PITR_OK);
    assert_int_equal(out.kind, PITR_REPL_XLOGDATA);
    assert_true(out.start == UINT64_C(0x100000028));
    assert_true(out.wal_end == UINT64_C(0x100000100));
    assert_true(out.send_time == 12345);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, "hello", 5);
    assert_ptr_equal(out.data, m + 25);
}

static void decode__keepalive_reply_flag(void **state)
{
    uint8_t m[18] = { 'k' };
    struct pitr_repl_msg out;
    struct pitr_err err = { 0 };

    (void)state;
    be64(m + 1, UINT64_C(0x5000000));
    m[17] = 1;
    assert_int_equal(pitr_repl_decode(m, sizeof(m), &out, &err), PITR_OK);
    assert_int_equal(out.kind, PITR_REPL_KEEPALIVE);
    assert_true(out.wal_end == UINT64_C(0x5000000));
    assert_int_equal(out.reply_requested, 1);
    assert_null(out.data);
    m[17] = 7;
    assert_int_equal(pitr_repl_decode(m, sizeof(m), &out, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "reply flag"));
}

static void decode__rejects_short_messages(void **state)
{
    uint8_t m[25] = { 'w' };
    struct pitr_repl_msg out;
    struct pitr_err err = { 0 };
    size_t n;

    (void)state;
    assert_int_equal(pitr_repl_decode(m, 0, &out, &err), PITR_EFORMAT);
    for (n = 1; n < 25; n++) {
        assert_int_equal(pitr_repl_decode(m, n, &out, &err), PITR_EFORMAT);
        assert_non_null(strstr(err.msg, "short XLogData"));
    }
    m[0] = 'k';
    for (n = 1; n < 25; n++)
        if (n != 18)
            assert_int_equal(pitr_repl_decode(m, n, &out, &err), PITR_EFORMAT);
}

static void decode__rejects_oversized_message(void **state)
{
    size_t n = PITR_REPL_MAX_MSG + 1;
    uint8_t *m = calloc(1, n);
    struct pitr_repl_msg out;
    struct pitr_err err = { 0 };

    (void)state;
    assert_non_null(m);
    m[0] = 'w';
    assert_int_equal(pitr_repl_decode(m, n, &out, &err), PITR_ELIMIT);
    assert_non_null(strstr(err.msg, "limit"));
    free(m);
}

static void decode__rejects_unknown_type_and_wrap(void **state)
{
    uint8_t m[30] = { 'x' };
    struct pitr_repl_msg out;
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(pitr_repl_decode(m, sizeof(m), &out, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "unknown replication message type 0x78"));
    m[0] = 'w';
    be64(m + 1, UINT64_MAX - 2);
    assert_int_equal(pitr_repl_decode(m, sizeof(m), &out, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "LSN space"));
}

static void check_continuity__gap_and_repeat(void **state)
{
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(pitr_repl_check_continuity(0x5000000, 0x5000000, &err), PITR_OK);
    assert_int_equal(pitr_repl_check_continuity(0x5000000, 0x5002000, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "has a gap: expected data at 0/5000000"));
    assert_non_null(strstr(err.msg, "0/5002000"));
    assert_int_equal(pitr_repl_check_continuity(0x5002000, 0x5000000, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "went backwards"));
}

static void encode_status__wire_bytes(void **state)
{
    uint8_t m[PITR_REPL_STATUS_LEN];
    uint8_t want[PITR_REPL_STATUS_LEN] = { 'r' };

    (void)state;
    be64(want + 1, 0x3000);
    be64(want + 9, 0x2000);
    be64(want + 17, 0x2000);
    be64(want + 25, 99);
    want[33] = 0;
    assert_int_equal(pitr_repl_encode_status(0x3000, 0x2000, 0x2000, 99, 0, m), 34);
    assert_memory_equal(m, want, sizeof(want));
    pitr_repl_encode_status(0x3000, 0x2000, 0x2000, 99, 1, m);
    assert_int_equal(m[33], 1);
}

static void now__is_after_2020(void **state)
{
    (void)state;
    /* 2020-01-01 is 20 years after PostgreSQL's epoch. */
    assert_true(pitr_repl_now() > INT64_C(631152000) * 1000000);
}

static void check_slot_name__rules(void **state)
{
    struct pitr_err err = { 0 };
    char longname[70];

    (void)state;
    assert_int_equal(pitr_repl_check_slot_name("pgpitr_1", &err), PITR_OK);
    assert_int_equal(pitr_repl_check_slot_name("", &err), PITR_EUSAGE);
    assert_int_equal(pitr_repl_check_slot_name("Bad", &err), PITR_EUSAGE);
    assert_int_equal(pitr_repl_check_slot_name("a b", &err), PITR_EUSAGE);
    assert_int_equal(pitr_repl_check_slot_name("a;DROP", &err), PITR_EUSAGE);
    memset(longname, 'a', 64);
    longname[64] = '\0';
    assert_int_equal(pitr_repl_check_slot_name(longname, &err), PITR_EUSAGE);
    longname[63] = '\0';
    assert_int_equal(pitr_repl_check_slot_name(longname, &err), PITR_OK);
}

static void parse_seg_size__units_and_bounds(void **state)
{
    struct pitr_err err = { 0 };
    uint32_t s = 0;

    (void)state;
    assert_int_equal(pitr_repl_parse_seg_size("16MB", &s, &err), PITR_OK);
    assert_int_equal(s, 16u << 20);
    assert_int_equal(pitr_repl_parse_seg_size("1GB", &s, &err), PITR_OK);
    assert_int_equal(s, 1u << 30);
    assert_int_equal(pitr_repl_parse_seg_size("1024kB", &s, &err), PITR_OK);
    assert_int_equal(s, 1u << 20);
    assert_int_equal(pitr_repl_parse_seg_size("2GB", &s, &err), PITR_EFORMAT);
    assert_int_equal(pitr_repl_parse_seg_size("512kB", &s, &err), PITR_EFORMAT);
    assert_int_equal(pitr_repl_parse_seg_size("3MB", &s, &err), PITR_EFORMAT);
    assert_int_equal(pitr_repl_parse_seg_size("16XB", &s, &err), PITR_EFORMAT);
    assert_int_equal(pitr_repl_parse_seg_size("", &s, &err), PITR_EFORMAT);
    assert_int_equal(pitr_repl_parse_seg_size("99999999999999999999GB", &s, &err), PITR_EFORMAT);
}

static void history_switch__finds_end_and_next(void **state)
{
    static const char h[] = "1\t0/3026658\tno recovery target specified\n"
                            "\n"
                            "2\t0/5000000\tbefore 2026-12-03\n";
    struct pitr_err err = { 0 };
    uint64_t end = 0;
    uint32_t next = 0;

    (void)state;
    assert_int_equal(pitr_repl_history_switch(h, strlen(h), 1, 3, &end, &next, &err), PITR_OK);
    assert_true(end == UINT64_C(0x3026658));
    assert_int_equal(next, 2);
    assert_int_equal(pitr_repl_history_switch(h, strlen(h), 2, 3, &end, &next, &err), PITR_OK);
    assert_true(end == UINT64_C(0x5000000));
    assert_int_equal(next, 3);
    assert_int_equal(pitr_repl_history_switch(h, strlen(h), 3, 3, &end, &next, &err),
                     PITR_ENOTFOUND);
}

static void history_switch__rejects_malformed_line(void **state)
{
    static const char bad[] = "1\tnot-an-lsn\treason\n";
    static const char junk[] = "x y z\n";
    struct pitr_err err = { 0 };
    uint64_t end;
    uint32_t next;

    (void)state;
    assert_int_equal(pitr_repl_history_switch(bad, strlen(bad), 1, 2, &end, &next, &err),
                     PITR_EFORMAT);
    assert_int_equal(pitr_repl_history_switch(junk, strlen(junk), 1, 2, &end, &next, &err),
                     PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "malformed timeline history line"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode__xlogdata_fields_and_payload),
        cmocka_unit_test(decode__keepalive_reply_flag),
        cmocka_unit_test(decode__rejects_short_messages),
        cmocka_unit_test(decode__rejects_oversized_message),
        cmocka_unit_test(decode__rejects_unknown_type_and_wrap),
        cmocka_unit_test(check_continuity__gap_and_repeat),
        cmocka_unit_test(encode_status__wire_bytes),
        cmocka_unit_test(now__is_after_2020),
        cmocka_unit_test(check_slot_name__rules),
        cmocka_unit_test(parse_seg_size__units_and_bounds),
        cmocka_unit_test(history_switch__finds_end_and_next),
        cmocka_unit_test(history_switch__rejects_malformed_line),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
