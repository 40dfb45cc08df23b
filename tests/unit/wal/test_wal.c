/* test_wal.c - unit tests for src/wal/wal.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "pgpitr/core/err.h"
#include "pgpitr/wal/wal.h"

/* ---- helpers ------------------------------------------------------------ */

static void put_le16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v & 0xff);
    p[1] = (unsigned char)(v >> 8);
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v & 0xff);
    p[1] = (unsigned char)((v >> 8) & 0xff);
    p[2] = (unsigned char)((v >> 16) & 0xff);
    p[3] = (unsigned char)(v >> 24);
}

/*
 * A synthetic XLogLongPageHeaderData: magic (PostgreSQL 15's 0xD110) and
 * info at 0 and 2, xlp_seg_size at 32, xlp_xlog_blcksz at 36, little endian.
 */
static void long_header(unsigned char hdr[48],
                        uint16_t magic,
                        uint16_t info,
                        uint32_t seg,
                        uint32_t blck)
{
    memset(hdr, 0, 48);
    put_le16(hdr, magic);
    put_le16(hdr + 2, info);
    put_le32(hdr + 4, 1);      /* xlp_tli */
    memset(hdr + 24, 0x77, 8); /* xlp_sysid: anything */
    put_le32(hdr + 32, seg);
    put_le32(hdr + 36, blck);
    memset(hdr + 40, 0xee, 8); /* beyond the header: ignored */
}

static void expect_name(const char *name,
                        enum pitr_wal_kind kind,
                        uint32_t tli,
                        uint32_t log,
                        uint32_t seg)
{
    struct pitr_wal_name w;
    struct pitr_err err;

    pitr_err_clear(&err);
    if (pitr_wal_parse_name(name, &w, &err) != PITR_OK) {
        print_error("'%s' was refused: %s\n", name, err.msg);
        fail();
    }
    assert_int_equal(w.kind, kind);
    assert_int_equal(w.tli, tli);
    assert_int_equal(w.log, log);
    assert_int_equal(w.seg, seg);
}

static void expect_reject(const char *name)
{
    struct pitr_wal_name w;
    struct pitr_err err;

    pitr_err_clear(&err);
    if (pitr_wal_parse_name(name, &w, &err) != PITR_EUSAGE) {
        print_error("'%s' was accepted (kind %d)\n", name, (int)w.kind);
        fail();
    }
    assert_int_equal(err.code, PITR_EUSAGE);
    if (strstr(err.msg, name) == NULL) {
        print_error("message '%s' does not name '%s'\n", err.msg, name);
        fail();
    }
}

/* ---- parse_name --------------------------------------------------------- */

static void pitr_wal_parse_name__segment(void **state)
{
    (void)state;
    expect_name("000000010000000000000001", PITR_WAL_SEGMENT, 1, 0, 1);
    expect_name("0000000200000003000000FF", PITR_WAL_SEGMENT, 2, 3, 0xff);
    expect_name(
      "FFFFFFFFFFFFFFFFFFFFFFFF", PITR_WAL_SEGMENT, 0xffffffffu, 0xffffffffu, 0xffffffffu);
    expect_name(
      "1234ABCD89ABCDEF01234567", PITR_WAL_SEGMENT, 0x1234abcdu, 0x89abcdefu, 0x01234567u);
}

static void pitr_wal_parse_name__partial(void **state)
{
    (void)state;
    expect_name("00000001000000000000000A.partial", PITR_WAL_PARTIAL, 1, 0, 0xa);
}

static void pitr_wal_parse_name__backup(void **state)
{
    (void)state;
    expect_name("000000010000000000000002.00000028.backup", PITR_WAL_BACKUP, 1, 0, 2);
    expect_name("00000003000000010000000C.0000ABCD.backup", PITR_WAL_BACKUP, 3, 1, 0xc);
}

static void pitr_wal_parse_name__history(void **state)
{
    (void)state;
    expect_name("00000002.history", PITR_WAL_HISTORY, 2, 0, 0);
    expect_name("0000001A.history", PITR_WAL_HISTORY, 0x1a, 0, 0);
}

static void pitr_wal_parse_name__lowercase_hex(void **state)
{
    (void)state;
    expect_name("0000000a000000bc000000de", PITR_WAL_SEGMENT, 0xa, 0xbc, 0xde);
    expect_name("0000000a000000bc000000de.partial", PITR_WAL_PARTIAL, 0xa, 0xbc, 0xde);
    expect_name("0000000a000000bc000000de.0000abcd.backup", PITR_WAL_BACKUP, 0xa, 0xbc, 0xde);
    expect_name("0000000b.history", PITR_WAL_HISTORY, 0xb, 0, 0);
}

static void pitr_wal_parse_name__rejects(void **state)
{
    (void)state;
    expect_reject("");
    expect_reject("00000001000000000000001");   /* 23 digits */
    expect_reject("0000000100000000000000012"); /* 25 digits */
    expect_reject("00000001000000000000000G");  /* non-hex */
    expect_reject("00000001 00000000000001");   /* blank */
    expect_reject("0000000100000000000000-1");
    expect_reject("000000010000000000000001.gz");
    expect_reject("000000010000000000000001.partia");
    expect_reject("000000010000000000000001.partial.gz");
    expect_reject("000000010000000000000001.PARTIAL");
    expect_reject("000000010000000000000001.0000002.backup");  /* 7 digits */
    expect_reject("000000010000000000000001.0000002X.backup"); /* non-hex offset */
    expect_reject("000000010000000000000001.00000028.backu");
    expect_reject("000000010000000000000001.00000028.backup.gz");
    expect_reject("00000001.history.gz");
    expect_reject("0000001.history");
    expect_reject("0000000G.history");
    expect_reject("00000001.History");
    expect_reject("000000010000000000000001/");
    expect_reject("pg_wal/000000010000000000000001"); /* a basename, not a path */
}

static void pitr_wal_parse_name__rejects_timeline_zero(void **state)
{
    (void)state;
    expect_reject("000000000000000000000001");
    expect_reject("000000000000000000000001.partial");
    expect_reject("000000000000000000000001.00000028.backup");
    expect_reject("00000000.history");
}

/* ---- hash_dir ----------------------------------------------------------- */

static void check_hash_dir(const char *name, const char *want)
{
    struct pitr_wal_name w;
    struct pitr_err err;
    char out[17];

    assert_int_equal(pitr_wal_parse_name(name, &w, &err), PITR_OK);
    memset(out, 'X', sizeof(out));
    pitr_wal_hash_dir(name, &w, out);
    assert_string_equal(out, want);
}

static void pitr_wal_hash_dir__first_sixteen_chars(void **state)
{
    (void)state;
    check_hash_dir("0000000100000002000000FF", "0000000100000002");
    check_hash_dir("0000000100000002000000FF.partial", "0000000100000002");
    check_hash_dir("000000010000000200000003.00000028.backup", "0000000100000002");
    check_hash_dir("0000000a0000000b0000000c", "0000000a0000000b"); /* the name's own case */
    check_hash_dir("00000002.history", "");
}

/* ---- segment_size ------------------------------------------------------- */

static void pitr_wal_segment_size__16mib_and_64mib(void **state)
{
    unsigned char hdr[48];
    struct pitr_err err;
    uint32_t size = 0;

    (void)state;
    long_header(hdr, 0xD110, 0x0002, 16u << 20, 8192);
    assert_int_equal(pitr_wal_segment_size(hdr, 40, &size, &err), PITR_OK);
    assert_int_equal(size, 16u << 20);
    long_header(hdr, 0xD110, 0x0002, 64u << 20, 8192);
    assert_int_equal(pitr_wal_segment_size(hdr, sizeof(hdr), &size, &err), PITR_OK);
    assert_int_equal(size, 64u << 20);
    /* Other flags set next to XLP_LONG_HEADER; the 1 MiB and 1 GiB extremes. */
    long_header(hdr, 0xD110, 0x0007, 1u << 20, 8192);
    assert_int_equal(pitr_wal_segment_size(hdr, 40, &size, &err), PITR_OK);
    assert_int_equal(size, 1u << 20);
    long_header(hdr, 0xD110, 0x0002, 1u << 30, 32768);
    assert_int_equal(pitr_wal_segment_size(hdr, 40, &size, &err), PITR_OK);
    assert_int_equal(size, 1u << 30);
}

static void expect_bad_header(const unsigned char *hdr, size_t len)
{
    struct pitr_err err;
    uint32_t size = 12345;

    pitr_err_clear(&err);
    assert_int_equal(pitr_wal_segment_size(hdr, len, &size, &err), PITR_EFORMAT);
    assert_int_equal(err.code, PITR_EFORMAT);
    assert_int_equal(size, 12345); /* untouched */
}

static void pitr_wal_segment_size__rejects_bad_magic(void **state)
{
    unsigned char hdr[48];

    (void)state;
    long_header(hdr, 0x1234, 0x0002, 16u << 20, 8192);
    expect_bad_header(hdr, 48);
    long_header(hdr, 0x10D1, 0x0002, 16u << 20, 8192); /* big-endian 0xD110 */
    expect_bad_header(hdr, 48);
    long_header(hdr, 0x0000, 0x0002, 16u << 20, 8192);
    expect_bad_header(hdr, 48);
}

static void pitr_wal_segment_size__rejects_short_header(void **state)
{
    unsigned char hdr[48];

    (void)state;
    long_header(hdr, 0xD110, 0x0000, 16u << 20, 8192); /* XLP_LONG_HEADER missing */
    expect_bad_header(hdr, 48);
    long_header(hdr, 0xD110, 0x0005, 16u << 20, 8192); /* other flags only */
    expect_bad_header(hdr, 48);
}

static void pitr_wal_segment_size__rejects_bad_sizes(void **state)
{
    unsigned char hdr[48];

    (void)state;
    long_header(hdr, 0xD110, 0x0002, (16u << 20) + 8192, 8192); /* not a power of two */
    expect_bad_header(hdr, 48);
    long_header(hdr, 0xD110, 0x0002, 3u << 20, 8192);
    expect_bad_header(hdr, 48);
    long_header(hdr, 0xD110, 0x0002, 0, 8192);
    expect_bad_header(hdr, 48);
    long_header(hdr, 0xD110, 0x0002, 512u << 10, 8192); /* below 1 MiB */
    expect_bad_header(hdr, 48);
    long_header(hdr, 0xD110, 0x0002, 2u << 30, 8192); /* above 1 GiB */
    expect_bad_header(hdr, 48);
    long_header(hdr, 0xD110, 0x0002, 16u << 20, 0); /* block size */
    expect_bad_header(hdr, 48);
    long_header(hdr, 0xD110, 0x0002, 16u << 20, 8000);
    expect_bad_header(hdr, 48);
    long_header(hdr, 0xD110, 0x0002, 16u << 20, 128u << 10);
    expect_bad_header(hdr, 48);
}

static void pitr_wal_segment_size__rejects_too_short(void **state)
{
    unsigned char hdr[48];

    (void)state;
    long_header(hdr, 0xD110, 0x0002, 16u << 20, 8192);
    expect_bad_header(hdr, 39);
    expect_bad_header(hdr, 0);
}

/* ---- next_segment, format_segment --------------------------------------- */

static void expect_next(uint32_t tli,
                        uint32_t log,
                        uint32_t seg,
                        uint32_t seg_size,
                        const char *want)
{
    struct pitr_wal_name w = { PITR_WAL_SEGMENT, tli, log, seg }, next;
    char out[25];

    memset(&next, 0xff, sizeof(next));
    pitr_wal_next_segment(&w, seg_size, &next);
    assert_int_equal(next.kind, PITR_WAL_SEGMENT);
    assert_int_equal(next.tli, tli);
    pitr_wal_format_segment(&next, out);
    assert_string_equal(out, want);
}

static void pitr_wal_next_segment__16mib(void **state)
{
    (void)state;
    expect_next(1, 0, 1, 16u << 20, "000000010000000000000002");
    expect_next(1, 0, 0xFE, 16u << 20, "0000000100000000000000FF");
    expect_next(1, 0, 0xFF, 16u << 20, "000000010000000100000000"); /* log boundary */
    expect_next(3, 0x1A, 0xFF, 16u << 20, "000000030000001B00000000");
}

static void pitr_wal_next_segment__other_sizes(void **state)
{
    (void)state;
    expect_next(1, 5, 2, 1u << 30, "000000010000000500000003");
    expect_next(1, 5, 3, 1u << 30, "000000010000000600000000"); /* 4 segments per log */
    expect_next(1, 0, 0x3F, 64u << 20, "000000010000000100000000");
    expect_next(1, 0, 0x3E, 64u << 20, "00000001000000000000003F");
    expect_next(1, 0, 0xFFF, 1u << 20, "000000010000000100000000");
}

/* A .partial (or any kind) steps to the next full segment on the same timeline. */
static void pitr_wal_next_segment__from_partial(void **state)
{
    struct pitr_wal_name w, next;
    struct pitr_err err;
    char out[25];

    (void)state;
    assert_int_equal(pitr_wal_parse_name("0000000200000000000000FF.partial", &w, &err), PITR_OK);
    pitr_wal_next_segment(&w, 16u << 20, &next);
    assert_int_equal(next.kind, PITR_WAL_SEGMENT);
    pitr_wal_format_segment(&next, out);
    assert_string_equal(out, "000000020000000100000000");
}

static void pitr_wal_format_segment__uppercase_24_digits(void **state)
{
    struct pitr_wal_name w = { PITR_WAL_SEGMENT, 0xa, 0xbc, 0xdef };
    char out[25];

    (void)state;
    memset(out, 'X', sizeof(out));
    pitr_wal_format_segment(&w, out);
    assert_string_equal(out, "0000000A000000BC00000DEF");
    w.tli = 0xffffffffu;
    w.log = 0;
    w.seg = 0x12345678u;
    pitr_wal_format_segment(&w, out);
    assert_string_equal(out, "FFFFFFFF0000000012345678");
}

/* parse -> format gives back an upper-case segment name. */
static void pitr_wal_format_segment__round_trip(void **state)
{
    struct pitr_wal_name w;
    struct pitr_err err;
    char out[25];

    (void)state;
    assert_int_equal(pitr_wal_parse_name("0000000a000000bc000000de", &w, &err), PITR_OK);
    pitr_wal_format_segment(&w, out);
    assert_string_equal(out, "0000000A000000BC000000DE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_wal_parse_name__segment),
        cmocka_unit_test(pitr_wal_parse_name__partial),
        cmocka_unit_test(pitr_wal_parse_name__backup),
        cmocka_unit_test(pitr_wal_parse_name__history),
        cmocka_unit_test(pitr_wal_parse_name__lowercase_hex),
        cmocka_unit_test(pitr_wal_parse_name__rejects),
        cmocka_unit_test(pitr_wal_parse_name__rejects_timeline_zero),
        cmocka_unit_test(pitr_wal_hash_dir__first_sixteen_chars),
        cmocka_unit_test(pitr_wal_segment_size__16mib_and_64mib),
        cmocka_unit_test(pitr_wal_segment_size__rejects_bad_magic),
        cmocka_unit_test(pitr_wal_segment_size__rejects_short_header),
        cmocka_unit_test(pitr_wal_segment_size__rejects_bad_sizes),
        cmocka_unit_test(pitr_wal_segment_size__rejects_too_short),
        cmocka_unit_test(pitr_wal_next_segment__16mib),
        cmocka_unit_test(pitr_wal_next_segment__other_sizes),
        cmocka_unit_test(pitr_wal_next_segment__from_partial),
        cmocka_unit_test(pitr_wal_format_segment__uppercase_24_digits),
        cmocka_unit_test(pitr_wal_format_segment__round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
