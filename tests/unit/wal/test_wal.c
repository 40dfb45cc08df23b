/* test_wal.c - unit tests for src/wal/ (names, headers, the check and decoder). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "pgpitr/codec/codec.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"
#include "pgpitr/wal/decode.h"
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

/* ---- check_segment and decode -------------------------------------------- */

/* A 1 MiB segment header for name: its address, timeline tli. */
static void seg_header(unsigned char hdr[48],
                       const char *name,
                       uint32_t tli,
                       struct pitr_wal_name *w)
{
    uint64_t addr;

    assert_int_equal(pitr_wal_parse_name(name, w, NULL), PITR_OK);
    long_header(hdr, 0xD110, 0x0002, 1u << 20, 8192);
    put_le32(hdr + 4, tli);
    addr = ((uint64_t)w->log * 4096 + w->seg) << 20;
    put_le32(hdr + 8, (uint32_t)addr);
    put_le32(hdr + 12, (uint32_t)(addr >> 32));
}

static void check_hdr(const unsigned char *hdr,
                      uint64_t size,
                      const struct pitr_wal_name *w,
                      pitr_rc want,
                      const char *msg_part)
{
    struct pitr_err err;
    uint32_t seg = 0;

    pitr_err_clear(&err);
    assert_int_equal(pitr_wal_check_segment(hdr, 48, size, w, &seg, &err), want);
    if (want == PITR_OK)
        assert_int_equal(seg, 1u << 20);
    if (msg_part != NULL && strstr(err.msg, msg_part) == NULL) {
        print_error("'%s' does not contain '%s'\n", err.msg, msg_part);
        fail();
    }
}

static void pitr_wal_check_segment__the_segment_named(void **state)
{
    unsigned char hdr[48];
    struct pitr_wal_name w;

    (void)state;
    seg_header(hdr, "000000030000000100000005", 3, &w);
    check_hdr(hdr, 1u << 20, &w, PITR_OK, NULL);
    /* The first segment of a new timeline starts with the old timeline's pages. */
    seg_header(hdr, "000000030000000100000005", 2, &w);
    check_hdr(hdr, 1u << 20, &w, PITR_OK, NULL);
}

/* Segment 04's bytes stored under 05's name: refused, whatever else is right. */
static void pitr_wal_check_segment__other_address(void **state)
{
    unsigned char hdr[48];
    struct pitr_wal_name w4, w5;

    (void)state;
    seg_header(hdr, "000000010000000000000004", 1, &w4);
    assert_int_equal(pitr_wal_parse_name("000000010000000000000005", &w5, NULL), PITR_OK);
    check_hdr(
      hdr, 1u << 20, &w5, PITR_EFORMAT, "its first page is at 0/400000, its name says 0/500000");
    /* Another log with the same segment number. */
    seg_header(hdr, "000000010000000200000005", 1, &w4);
    check_hdr(hdr, 1u << 20, &w5, PITR_EFORMAT, "its first page is at 2/500000");
    /* A segment number beyond what a log holds at this size. */
    assert_int_equal(pitr_wal_parse_name("000000010000000000001000", &w5, NULL), PITR_OK);
    check_hdr(hdr, 1u << 20, &w5, PITR_EFORMAT, "its name says");
}

static void pitr_wal_check_segment__timeline_above_the_name(void **state)
{
    unsigned char hdr[48];
    struct pitr_wal_name w;

    (void)state;
    seg_header(hdr, "000000020000000000000005", 3, &w);
    check_hdr(hdr, 1u << 20, &w, PITR_EFORMAT, "timeline 3, its name says 2");
    seg_header(hdr, "000000020000000000000005", 0, &w);
    check_hdr(hdr, 1u << 20, &w, PITR_EFORMAT, "timeline 0");
}

static void pitr_wal_check_segment__size_is_the_headers(void **state)
{
    unsigned char hdr[48];
    struct pitr_wal_name w, p;

    (void)state;
    seg_header(hdr, "000000010000000000000005", 1, &w);
    check_hdr(hdr, (1u << 20) - 8192, &w, PITR_EFORMAT, "its header says 1048576");
    check_hdr(hdr, (1u << 20) + 1, &w, PITR_EFORMAT, "its header says 1048576");
    check_hdr(hdr, 0, &w, PITR_EFORMAT, NULL);
    /* A .partial may be shorter, never longer. */
    assert_int_equal(pitr_wal_parse_name("000000010000000000000005.partial", &p, NULL), PITR_OK);
    check_hdr(hdr, 1u << 19, &p, PITR_OK, NULL);
    check_hdr(hdr, (1u << 20) + 1, &p, PITR_EFORMAT, NULL);
    /* Without a header nothing else is looked at. */
    hdr[1] = 0;
    check_hdr(hdr, 1u << 20, &w, PITR_EFORMAT, "magic");
}

/* A full segment named name, zeros after the header. */
static unsigned char *zero_segment(const char *name, size_t len, struct pitr_wal_name *w)
{
    unsigned char *seg = calloc(1, len);

    assert_non_null(seg);
    seg_header(seg, name, 1, w);
    memset(seg + 40, 0, 8);
    return seg;
}

static void pitr_wal_decode__checks_every_codec(void **state)
{
    struct pitr_wal_name w, w6;
    unsigned char *seg = zero_segment("000000010000000000000005", 1u << 20, &w);
    struct pitr_buf packed, plain;
    struct pitr_err err;

    (void)state;
    assert_int_equal(pitr_wal_parse_name("000000010000000000000006", &w6, NULL), PITR_OK);
    for (int c = 0; c < PITR_CODEC_COUNT; c++) {
        pitr_buf_init(&packed, 4u << 20);
        pitr_buf_init(&plain, PITR_WAL_SEG_MAX);
        assert_int_equal(pitr_codec_compress((enum pitr_codec)c, 0, seg, 1u << 20, &packed, &err),
                         PITR_OK);
        assert_int_equal(
          pitr_wal_decode((enum pitr_codec)c, packed.data, packed.len, &w, &plain, &err), PITR_OK);
        assert_int_equal(plain.len, 1u << 20);
        assert_memory_equal(plain.data, seg, 1u << 20);
        assert_int_equal(
          pitr_wal_decode((enum pitr_codec)c, packed.data, packed.len, &w6, &plain, &err),
          PITR_EFORMAT);
        assert_non_null(strstr(err.msg, "its name says 0/600000"));
        pitr_buf_release(&packed);
        pitr_buf_release(&plain);
    }
    free(seg);
}

/*
 * A gzip bomb: 64 MiB of zeros behind a header that says 1 MiB. Decoding
 * stops at the header's size: the buffer never holds more.
 */
static void pitr_wal_decode__bounded_by_the_headers_size(void **state)
{
    struct pitr_wal_name w;
    size_t big = (size_t)64 << 20;
    unsigned char *bomb = zero_segment("000000010000000000000005", big, &w);
    struct pitr_buf packed, plain;
    struct pitr_err err;

    (void)state;
    pitr_buf_init(&packed, 2 * big);
    pitr_buf_init(&plain, PITR_WAL_SEG_MAX);
    assert_int_equal(pitr_codec_compress(PITR_CODEC_GZIP, 9, bomb, big, &packed, &err), PITR_OK);
    assert_true(packed.len < big / 100); /* a bomb: 100 times smaller than it decodes */
    assert_int_equal(pitr_wal_decode(PITR_CODEC_GZIP, packed.data, packed.len, &w, &plain, &err),
                     PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "more than the 1048576 bytes its header announces"));
    assert_true(plain.cap <= (2u << 20));
    pitr_buf_release(&packed);
    pitr_buf_release(&plain);
    free(bomb);
}

static void pitr_wal_decode__history_bounded_and_not_empty(void **state)
{
    struct pitr_wal_name w;
    struct pitr_buf packed, plain;
    struct pitr_err err;
    size_t big = PITR_WAL_AUX_MAX + 1;
    char *text = malloc(big);
    const char *line = "1\t0/5000000\tno recovery target specified\n";

    (void)state;
    assert_non_null(text);
    memset(text, 'x', big);
    assert_int_equal(pitr_wal_parse_name("00000002.history", &w, NULL), PITR_OK);
    pitr_buf_init(&packed, 2 * big);
    pitr_buf_init(&plain, PITR_WAL_SEG_MAX);
    assert_int_equal(pitr_wal_decode(PITR_CODEC_NONE, "", 0, &w, &plain, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "empty"));
    assert_int_equal(pitr_wal_decode(PITR_CODEC_NONE, line, strlen(line), &w, &plain, &err),
                     PITR_OK);
    assert_int_equal(plain.len, strlen(line));
    assert_int_equal(pitr_codec_compress(PITR_CODEC_GZIP, 0, text, big, &packed, &err), PITR_OK);
    assert_int_equal(pitr_wal_decode(PITR_CODEC_GZIP, packed.data, packed.len, &w, &plain, &err),
                     PITR_ELIMIT);
    assert_int_equal(pitr_wal_stored_max(PITR_WAL_HISTORY) < pitr_wal_stored_max(PITR_WAL_SEGMENT),
                     1);
    pitr_buf_release(&packed);
    pitr_buf_release(&plain);
    free(text);
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
        cmocka_unit_test(pitr_wal_check_segment__the_segment_named),
        cmocka_unit_test(pitr_wal_check_segment__other_address),
        cmocka_unit_test(pitr_wal_check_segment__timeline_above_the_name),
        cmocka_unit_test(pitr_wal_check_segment__size_is_the_headers),
        cmocka_unit_test(pitr_wal_decode__checks_every_codec),
        cmocka_unit_test(pitr_wal_decode__bounded_by_the_headers_size),
        cmocka_unit_test(pitr_wal_decode__history_bounded_and_not_empty),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
