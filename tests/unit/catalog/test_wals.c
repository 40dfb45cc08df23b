/*
 * test_wals.c - unit tests for src/catalog/wals.c: key parsing (every kind
 * and compression suffix), segment positions for several segment sizes,
 * the sorted listing of a posix repository and lower_bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/tmpdir.h"
#include "pgpitr/catalog/wals.h"
#include "pgpitr/storage/storage.h"

#define SEG16 PITR_WAL_SEG_SIZE_DEFAULT
#define P     "pg1/wals/"

static void parse_key__every_kind_and_suffix(void **state)
{
    struct pitr_cat_wal w;

    (void)state;
    assert_int_equal(
      pitr_cat_wal_parse_key(P, P "0000000100000000/000000010000000000000003", 7, SEG16, &w), 1);
    assert_int_equal(w.kind, PITR_WAL_SEGMENT);
    assert_int_equal(w.tli, 1);
    assert_int_equal(w.segno, 3);
    assert_int_equal(w.size, 7);
    assert_int_equal(w.codec, PITR_CODEC_NONE);
    assert_string_equal(w.name, "000000010000000000000003");

    assert_int_equal(
      pitr_cat_wal_parse_key(P, P "0000000200000001/0000000200000001000000FE.gz", 1, SEG16, &w), 1);
    assert_int_equal(w.tli, 2);
    assert_int_equal(w.segno, 256 + 254);
    assert_int_equal(w.codec, PITR_CODEC_GZIP);

    static const struct {
        const char *sfx;
        enum pitr_codec c;
    } sfx[] = { { ".bz2", PITR_CODEC_BZIP2 },
                { ".snappy", PITR_CODEC_SNAPPY },
                { ".xz", PITR_CODEC_XZ },
                { ".zst", PITR_CODEC_ZSTD },
                { ".lz4", PITR_CODEC_LZ4 } };
    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        char key[128];

        snprintf(key, sizeof(key), P "0000000100000000/000000010000000000000004%s", sfx[i].sfx);
        assert_int_equal(pitr_cat_wal_parse_key(P, key, 1, SEG16, &w), 1);
        assert_int_equal(w.codec, sfx[i].c);
        assert_int_equal(w.segno, 4);
    }

    assert_int_equal(pitr_cat_wal_parse_key(
                       P, P "0000000100000000/000000010000000000000002.partial.zst", 1, SEG16, &w),
                     1);
    assert_int_equal(w.kind, PITR_WAL_PARTIAL);
    assert_int_equal(w.segno, 2);
    assert_string_equal(w.name, "000000010000000000000002.partial");

    assert_int_equal(
      pitr_cat_wal_parse_key(
        P, P "0000000100000000/000000010000000000000002.00000028.backup.gz", 1, SEG16, &w),
      1);
    assert_int_equal(w.kind, PITR_WAL_BACKUP);
    assert_int_equal(w.segno, 2);

    assert_int_equal(pitr_cat_wal_parse_key(P, P "00000003.history.gz", 1, SEG16, &w), 1);
    assert_int_equal(w.kind, PITR_WAL_HISTORY);
    assert_int_equal(w.tli, 3);
    assert_int_equal(w.segno, 0);

    /* lower-case hex, as barman's regex accepts */
    assert_int_equal(
      pitr_cat_wal_parse_key(P, P "0000000a00000000/0000000a00000000000000ff", 1, SEG16, &w), 1);
    assert_int_equal(w.tli, 10);
    assert_int_equal(w.segno, 255);
}

static void parse_key__not_wal(void **state)
{
    static const char *bad[] = {
        P "0000000100000000/000000010000000000000003.tmp", /* unknown suffix */
        P "0000000100000000/00000001000000000000000",      /* 23 digits */
        P "0000000100000001/000000010000000000000003",     /* wrong hash folder */
        P "000000010000000000000003",                      /* segment outside its folder */
        P "0000000100000000/00000003.history",             /* history inside a folder */
        P "0000000100000000/x/000000010000000000000003",   /* too deep */
        P "0000000100000000/000000010000000000000100",     /* seg 0x100 with 16 MiB segments */
        P "0000000000000000/000000000000000000000001",     /* timeline 0 */
        P "README",
        "pg2/wals/0000000100000000/000000010000000000000003", /* another server */
    };
    struct pitr_cat_wal w;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pitr_cat_wal_parse_key(P, bad[i], 1, SEG16, &w), 0);
    }
}

static void segment_pos__segment_sizes(void **state)
{
    struct pitr_err err = { 0 };
    uint32_t tli = 0;
    uint64_t segno = 0;

    (void)state;
    assert_int_equal(
      pitr_cat_wal_segment_pos("000000020000000300000010", SEG16, &tli, &segno, &err), PITR_OK);
    assert_int_equal(tli, 2);
    assert_int_equal(segno, 3 * 256 + 16);
    /* 64 MiB segments: 64 per log */
    assert_int_equal(
      pitr_cat_wal_segment_pos("000000020000000300000010", (uint32_t)64 << 20, &tli, &segno, &err),
      PITR_OK);
    assert_int_equal(segno, 3 * 64 + 16);
    assert_int_equal(
      pitr_cat_wal_segment_pos("000000020000000300000040", (uint32_t)64 << 20, &tli, &segno, &err),
      PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "000000020000000300000040"));
    /* 1 MiB segments: 4096 per log */
    assert_int_equal(
      pitr_cat_wal_segment_pos("000000010000000100000FFF", 1u << 20, &tli, &segno, &err), PITR_OK);
    assert_int_equal(segno, 4096 + 4095);
    assert_int_equal(pitr_cat_wal_segment_pos("00000001.history", SEG16, &tli, &segno, &err),
                     PITR_EFORMAT);
    assert_int_equal(pitr_cat_wal_segment_pos(NULL, SEG16, &tli, &segno, &err), PITR_EFORMAT);
    assert_int_equal(
      pitr_cat_wal_segment_pos("000000010000000000000002.partial", SEG16, &tli, &segno, &err),
      PITR_EFORMAT);
}

static void segment_name__inverts_segment_pos(void **state)
{
    const char *names[] = { "000000010000000000000001",
                            "0000000300000002000000FF",
                            "00000002000000070000003F" };
    const uint32_t sizes[] = { 16u << 20, 16u << 20, 64u << 20 };
    struct pitr_err err;
    char out[25];

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        uint32_t tli;
        uint64_t segno;

        pitr_err_clear(&err);
        assert_int_equal(pitr_cat_wal_segment_pos(names[i], sizes[i], &tli, &segno, &err), PITR_OK);
        pitr_cat_wal_segment_name(tli, segno, sizes[i], out);
        assert_string_equal(out, names[i]);
    }
    /* Segment 256 of 16 MiB is the first of log 1. */
    pitr_cat_wal_segment_name(1, 256, 16u << 20, out);
    assert_string_equal(out, "000000010000000100000000");
}

static void check_seg_size__bounds(void **state)
{
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(pitr_cat_wal_check_seg_size(1u << 20, &err), PITR_OK);
    assert_int_equal(pitr_cat_wal_check_seg_size(1u << 30, &err), PITR_OK);
    assert_int_equal(pitr_cat_wal_check_seg_size(1u << 19, &err), PITR_EUSAGE);
    assert_int_equal(pitr_cat_wal_check_seg_size(3u << 20, &err), PITR_EUSAGE);
    assert_int_equal(pitr_cat_wal_check_seg_size(0, &err), PITR_EUSAGE);
}

static void cmp_segment__timelines_partial_backup_history(void **state)
{
    struct pitr_err err = { 0 };
    struct pitr_cat_wal w;
    int cmp = 99;

    (void)state;
    assert_int_equal(
      pitr_cat_wal_parse_key(P, P "0000000100000000/000000010000000000000005", 1, SEG16, &w), 1);
    assert_int_equal(pitr_cat_wal_cmp_segment(&w, "000000010000000000000006", SEG16, &cmp, &err),
                     PITR_OK);
    assert_true(cmp < 0);
    assert_int_equal(pitr_cat_wal_cmp_segment(&w, "000000010000000000000005", SEG16, &cmp, &err),
                     PITR_OK);
    assert_int_equal(cmp, 0);
    assert_int_equal(pitr_cat_wal_cmp_segment(&w, "000000010000000000000004", SEG16, &cmp, &err),
                     PITR_OK);
    assert_true(cmp > 0);
    /* an earlier timeline is before, whatever the segment */
    assert_int_equal(pitr_cat_wal_cmp_segment(&w, "000000020000000000000001", SEG16, &cmp, &err),
                     PITR_OK);
    assert_true(cmp < 0);
    /* across a log boundary: 0/FF < 1/00 */
    assert_int_equal(
      pitr_cat_wal_parse_key(P, P "0000000100000000/0000000100000000000000FF", 1, SEG16, &w), 1);
    assert_int_equal(pitr_cat_wal_cmp_segment(&w, "000000010000000100000000", SEG16, &cmp, &err),
                     PITR_OK);
    assert_true(cmp < 0);
    /* a .backup file of the begin segment is in that segment */
    assert_int_equal(
      pitr_cat_wal_parse_key(
        P, P "0000000100000000/000000010000000000000005.00000028.backup", 1, SEG16, &w),
      1);
    assert_int_equal(pitr_cat_wal_cmp_segment(&w, "000000010000000000000005", SEG16, &cmp, &err),
                     PITR_OK);
    assert_int_equal(cmp, 0);
    assert_int_equal(pitr_cat_wal_parse_key(P, P "00000002.history", 1, SEG16, &w), 1);
    assert_int_equal(pitr_cat_wal_cmp_segment(&w, "000000020000000000000005", SEG16, &cmp, &err),
                     PITR_OK);
    assert_true(cmp < 0);
    assert_int_equal(pitr_cat_wal_cmp_segment(&w, "bogus", SEG16, &cmp, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "bogus"));
}

static void put(struct pitr_storage *st, const char *key, size_t len)
{
    struct pitr_err err = { 0 };
    char data[64] = { 0 };

    assert_true(len <= sizeof(data));
    assert_int_equal(pitr_storage_put(st, key, data, len, &err), PITR_OK);
}

static void wals_list__sorted_over_timelines(void **state)
{
    char dir[64];
    struct pitr_storage *st = NULL;
    struct pitr_err err = { 0 };
    struct pitr_cat_wals w;
    static const char *want[] = {
        "pg1/wals/00000001.history", /* not a real PG file, but sorts first on tli 1 */
        "pg1/wals/0000000100000000/000000010000000000000002.gz",
        "pg1/wals/0000000100000000/000000010000000000000002.00000028.backup.gz",
        "pg1/wals/0000000100000000/0000000100000000000000FF.zst",
        "pg1/wals/0000000100000001/000000010000000100000000",
        "pg1/wals/0000000100000001/000000010000000100000001.partial",
        "pg1/wals/00000002.history.gz",
        "pg1/wals/0000000200000001/000000020000000100000001.lz4",
        "pg1/wals/0000000A00000000/0000000A0000000000000001",
    };

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/pgpitr-test-wals-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(pitr_storage_posix_new(dir, &st, &err), PITR_OK);
    /* written in an order unlike the sorted one */
    for (size_t i = sizeof(want) / sizeof(want[0]); i-- > 0;)
        put(st, want[i], i + 1);
    put(st, "pg1/wals/0000000100000000/garbage.txt", 1);
    put(st, "pg1/base/20240101T000000/backup.info", 1);
    put(st, "pg2/wals/0000000100000000/000000010000000000000001", 1);

    assert_int_equal(pitr_cat_wals_list(st, "pg1", SEG16, &w, &err), PITR_OK);
    assert_int_equal(w.n, sizeof(want) / sizeof(want[0]));
    assert_int_equal(w.nother, 1);
    for (size_t i = 0; i < w.n; i++) {
        assert_string_equal(w.v[i].key, want[i]);
        assert_int_equal(w.v[i].size, i + 1);
    }
    assert_int_equal(pitr_cat_wals_lower_bound(&w, 1, 256), 4);
    assert_int_equal(pitr_cat_wals_lower_bound(&w, 1, 3), 3);
    assert_int_equal(pitr_cat_wals_lower_bound(&w, 2, 0), 6);
    assert_int_equal(pitr_cat_wals_lower_bound(&w, 11, 0), w.n);
    pitr_cat_wals_release(&w);
    pitr_cat_wals_release(&w); /* twice is fine */

    assert_int_equal(pitr_cat_wals_list(st, "pg1", 12345, &w, &err), PITR_EUSAGE);
    pitr_cat_wals_release(&w);
    /* an empty archive */
    assert_int_equal(pitr_cat_wals_list(st, "none", SEG16, &w, &err), PITR_OK);
    assert_int_equal(w.n, 0);
    pitr_cat_wals_release(&w);
    pitr_storage_free(st);
    pitr_test_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_key__every_kind_and_suffix),
        cmocka_unit_test(parse_key__not_wal),
        cmocka_unit_test(segment_pos__segment_sizes),
        cmocka_unit_test(segment_name__inverts_segment_pos),
        cmocka_unit_test(check_seg_size__bounds),
        cmocka_unit_test(cmp_segment__timelines_partial_backup_history),
        cmocka_unit_test(wals_list__sorted_over_timelines),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
