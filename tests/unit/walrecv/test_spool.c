/*
 * test_spool.c - src/walrecv/spool.c: the spool .partial a crash leaves
 * behind. Synthetic 1 MiB segments of 8 KiB pages: a clean file resumes
 * at its last valid page; a short file, a long file, garbage pages, a
 * foreign page address and a bad first page are cut, zeroed and re-padded;
 * the newest of several partials wins; a symlink is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/tmpdir.h"
#include "pgpitr/walrecv/walrecv.h"

#define SEG    ((uint32_t)1 << 20)
#define BLCKSZ 8192u
/* Segment 000000010000000000000003: starts at 3 MiB. */
#define NAME  "000000010000000000000003"
#define START ((uint64_t)3 * SEG)

static char dir[64];

static void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

/* A segment with npages valid pages (each page filled with its number after the header). */
static uint8_t *make_segment(size_t npages)
{
    uint8_t *s = calloc(1, SEG);
    size_t i;

    assert_non_null(s);
    for (i = 0; i < npages; i++) {
        uint8_t *p = s + i * BLCKSZ;

        put16(p, 0xD110);
        put16(p + 2, i == 0 ? 0x0002 : 0x0001);
        put32(p + 4, 1);
        put64(p + 8, START + i * BLCKSZ);
        if (i == 0) {
            put64(p + 24, UINT64_C(7000000000000000001));
            put32(p + 32, SEG);
            put32(p + 36, BLCKSZ);
        }
        memset(p + 40, (int)(i & 0xff) | 1, BLCKSZ - 40);
    }
    return s;
}

static void write_spool(const char *name, const uint8_t *data, size_t len)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* The spool file after recovery: its size and bytes. */
static uint8_t *read_spool(const char *name, size_t *len)
{
    char path[128];
    struct stat sb;
    uint8_t *b;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(stat(path, &sb), 0);
    *len = (size_t)sb.st_size;
    b = calloc(1, *len + 1);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static int is_zero(const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/pitr-test-spool-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pitr_test_rm_rf(dir);
    return 0;
}

/* Recover and check: resumes at START + keep, file re-padded, bytes kept, rest zero. */
static void expect_recovered(const uint8_t *orig, size_t keep)
{
    struct pitr_walrecv_resume res;
    struct pitr_err err = { 0 };
    uint8_t *after;
    size_t len;

    assert_int_equal(pitr_walrecv_spool_recover(dir, SEG, &res, &err), PITR_OK);
    assert_int_equal(res.found, 1);
    assert_string_equal(res.name, NAME);
    assert_int_equal(res.tli, 1);
    assert_true(res.lsn == START + keep);
    after = read_spool(NAME ".partial", &len);
    assert_int_equal(len, SEG);
    assert_memory_equal(after, orig, keep);
    assert_true(is_zero(after + keep, SEG - keep));
    free(after);
}

static void spool_recover__empty_spool_finds_nothing(void **state)
{
    struct pitr_walrecv_resume res;
    struct pitr_err err = { 0 };

    (void)state;
    write_spool("000000010000000000000002", (const uint8_t *)"x", 1); /* a full name: not ours */
    assert_int_equal(pitr_walrecv_spool_recover(dir, SEG, &res, &err), PITR_OK);
    assert_int_equal(res.found, 0);
}

static void spool_recover__clean_partial_resumes_at_last_page(void **state)
{
    uint8_t *s = make_segment(10);

    (void)state;
    write_spool(NAME ".partial", s, SEG);
    /* Page 9 is the last valid one: it may have been incomplete, so it is fetched again. */
    expect_recovered(s, 9 * BLCKSZ);
    free(s);
}

static void spool_recover__short_file_cut_to_whole_pages(void **state)
{
    uint8_t *s = make_segment(10);

    (void)state;
    /* Killed while the file was being written: 6.5 pages on disk. */
    write_spool(NAME ".partial", s, 6 * BLCKSZ + BLCKSZ / 2);
    expect_recovered(s, 5 * BLCKSZ);
    free(s);
}

static void spool_recover__oversized_file_cut_to_segment(void **state)
{
    uint8_t *s = make_segment(4);
    uint8_t *big = calloc(1, SEG + 3 * BLCKSZ);

    (void)state;
    memcpy(big, s, SEG);
    memset(big + SEG, 0xEE, 3 * BLCKSZ);
    write_spool(NAME ".partial", big, SEG + 3 * BLCKSZ);
    expect_recovered(s, 3 * BLCKSZ);
    free(s);
    free(big);
}

static void spool_recover__garbage_page_ends_valid_prefix(void **state)
{
    uint8_t *s = make_segment(20);

    (void)state;
    memset(s + 8 * BLCKSZ, 0xA5, BLCKSZ); /* page 8 is garbage, pages 9.. look valid */
    write_spool(NAME ".partial", s, SEG);
    expect_recovered(s, 7 * BLCKSZ);
    free(s);
}

static void spool_recover__foreign_page_address_ends_prefix(void **state)
{
    uint8_t *s = make_segment(20);

    (void)state;
    put64(s + 5 * BLCKSZ + 8, START + 99 * BLCKSZ); /* another segment's page */
    write_spool(NAME ".partial", s, SEG);
    expect_recovered(s, 4 * BLCKSZ);
    free(s);
}

static void spool_recover__bad_first_page_restarts_segment(void **state)
{
    uint8_t *s = make_segment(20);

    (void)state;
    memset(s, 0x42, 64);
    write_spool(NAME ".partial", s, SEG);
    expect_recovered(s, 0);
    free(s);
}

static void spool_recover__newest_partial_wins(void **state)
{
    uint8_t *s = make_segment(3);
    struct pitr_walrecv_resume res;
    struct pitr_err err = { 0 };

    (void)state;
    write_spool("000000010000000000000001.partial", s, 100);
    write_spool(NAME ".partial", s, SEG);
    assert_int_equal(pitr_walrecv_spool_recover(dir, SEG, &res, &err), PITR_OK);
    assert_string_equal(res.name, NAME);
    assert_int_equal(res.others, 1);
    free(s);
}

static void spool_recover__refuses_symlink(void **state)
{
    char target[128], link[128];
    struct pitr_walrecv_resume res;
    struct pitr_err err = { 0 };
    uint8_t *s = make_segment(3);

    (void)state;
    write_spool("elsewhere", s, SEG);
    snprintf(target, sizeof(target), "%s/elsewhere", dir);
    snprintf(link, sizeof(link), "%s/%s.partial", dir, NAME);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(pitr_walrecv_spool_recover(dir, SEG, &res, &err), PITR_EIO);
    assert_non_null(strstr(err.msg, NAME));
    free(s);
}

static void spool_seg_size__from_first_page(void **state)
{
    struct pitr_err err = { 0 };
    uint32_t seg = 7;
    uint8_t *s = make_segment(2);

    (void)state;
    assert_int_equal(pitr_walrecv_spool_seg_size(dir, &seg, &err), PITR_OK);
    assert_int_equal(seg, 0); /* no .partial */
    write_spool(NAME ".partial", s, 2 * BLCKSZ);
    assert_int_equal(pitr_walrecv_spool_seg_size(dir, &seg, &err), PITR_OK);
    assert_int_equal(seg, SEG);
    memset(s, 0x5A, 40);
    write_spool(NAME ".partial", s, 2 * BLCKSZ);
    assert_int_equal(pitr_walrecv_spool_seg_size(dir, &seg, &err), PITR_OK);
    assert_int_equal(seg, 0); /* garbage header: left for after connecting */
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(spool_recover__empty_spool_finds_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(
          spool_recover__clean_partial_resumes_at_last_page, setup, teardown),
        cmocka_unit_test_setup_teardown(
          spool_recover__short_file_cut_to_whole_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(
          spool_recover__oversized_file_cut_to_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(
          spool_recover__garbage_page_ends_valid_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(
          spool_recover__foreign_page_address_ends_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(
          spool_recover__bad_first_page_restarts_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(spool_recover__newest_partial_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(spool_recover__refuses_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(spool_seg_size__from_first_page, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
