/*
 * test_pushstats.c - unit tests for src/wal/pushstats.c: the counters
 * file of wal-push. Round trip, buckets, a torn newest slot falls back to
 * the older one, hostile files (truncated, foreign, oversized, a symlink,
 * a FIFO, a bad WAL-name field with a valid CRC) are reset by a writer and
 * refused by a reader, and two processes writing at once lose no count.
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
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "../support/tmpdir.h"
#include "pgpitr/core/err.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/wal/pushstats.h"

#define T0  ((int64_t)1796270400)
#define WAL "000000010000000000000003"

static char root[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/pitr-pushstats-XXXXXX");
    if (mkdtemp(root) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/spool/" PITR_PUSHSTATS_NAME, root);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pitr_test_rm_rf(root);
    return 0;
}

static void write_raw(const void *data, size_t len)
{
    FILE *f;
    char dir[128];

    snprintf(dir, sizeof(dir), "%s/spool", root);
    mkdir(dir, 0700);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void pushstats_record__counts_buckets_and_last_wal(void **state)
{
    struct pitr_pushstats s;
    struct pitr_err err = { 0 };
    struct stat sb;

    (void)state;
    assert_int_equal(pitr_pushstats_read(path, &s, &err), PITR_ENOTFOUND);
    assert_int_equal(pitr_pushstats_record(path, PITR_PUSHSTAT_OK, 0.02, WAL, T0, &err), PITR_OK);
    assert_int_equal(pitr_pushstats_record(path, PITR_PUSHSTAT_OK, 0.3, WAL, T0 + 1, &err),
                     PITR_OK);
    assert_int_equal(
      pitr_pushstats_record(path, PITR_PUSHSTAT_IDENTICAL, 100.0, "00000002.history", T0 + 2, &err),
      PITR_OK);
    assert_int_equal(pitr_pushstats_record(
                       path, PITR_PUSHSTAT_ERROR, 0.05, "000000010000000000000004", T0 + 3, &err),
                     PITR_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, PITR_PUSHSTATS_FILE_SIZE);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(pitr_pushstats_read(path, &s, &err), PITR_OK);
    assert_int_equal(s.seq, 4);
    assert_int_equal(s.count[PITR_PUSHSTAT_OK], 2);
    assert_int_equal(s.count[PITR_PUSHSTAT_IDENTICAL], 1);
    assert_int_equal(s.count[PITR_PUSHSTAT_ERROR], 1);
    assert_int_equal(s.bucket[0], 2); /* 0.02 and 0.05 (le 0.05 includes the bound) */
    assert_int_equal(s.bucket[3], 1); /* 0.3 <= 0.5 */
    assert_int_equal(s.bucket[PITR_PUSHSTATS_NBOUNDS], 1); /* 100 s: +Inf */
    assert_int_equal(s.sum_us, 20000 + 300000 + 100000000 + 50000);
    assert_string_equal(s.last_archived_wal, "00000002.history");
    assert_int_equal(s.last_archived_time, T0 + 2);
    assert_string_equal(s.last_failed_wal, "000000010000000000000004");
    assert_int_equal(s.last_failed_time, T0 + 3);
}

static void pushstats_read__torn_newest_slot_falls_back_to_older(void **state)
{
    unsigned char file[PITR_PUSHSTATS_FILE_SIZE];
    struct pitr_pushstats s;
    struct pitr_err err = { 0 };
    FILE *f;

    (void)state;
    assert_int_equal(pitr_pushstats_record(path, PITR_PUSHSTAT_OK, 0.1, WAL, T0, &err), PITR_OK);
    assert_int_equal(pitr_pushstats_record(path, PITR_PUSHSTAT_OK, 0.1, WAL, T0, &err), PITR_OK);
    /* seq 1 went to slot 0, seq 2 to slot 1: tear slot 1 */
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(file, 1, sizeof(file), f), sizeof(file));
    fclose(f);
    file[PITR_PUSHSTATS_SLOT_SIZE + 30] ^= 0xff;
    write_raw(file, sizeof(file));
    assert_int_equal(pitr_pushstats_read(path, &s, &err), PITR_OK);
    assert_int_equal(s.seq, 1);
    assert_int_equal(s.count[PITR_PUSHSTAT_OK], 1);
    /* the next writer continues from the valid slot and overwrites the torn one */
    assert_int_equal(pitr_pushstats_record(path, PITR_PUSHSTAT_OK, 0.1, WAL, T0, &err), PITR_OK);
    assert_int_equal(pitr_pushstats_read(path, &s, &err), PITR_OK);
    assert_int_equal(s.seq, 2);
    assert_int_equal(s.count[PITR_PUSHSTAT_OK], 2);
}

/* Each hostile file: the reader refuses it, a writer resets it to one count. */
static void expect_reset(void)
{
    struct pitr_pushstats s;
    struct pitr_err err = { 0 };
    struct stat sb;

    assert_int_equal(pitr_pushstats_read(path, &s, &err), PITR_EFORMAT);
    assert_int_equal(s.count[PITR_PUSHSTAT_OK], 0);
    assert_int_equal(pitr_pushstats_record(path, PITR_PUSHSTAT_OK, 0.1, WAL, T0, &err), PITR_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, PITR_PUSHSTATS_FILE_SIZE);
    assert_int_equal(pitr_pushstats_read(path, &s, &err), PITR_OK);
    assert_int_equal(s.seq, 1);
    assert_int_equal(s.count[PITR_PUSHSTAT_OK], 1);
    assert_int_equal(s.count[PITR_PUSHSTAT_ERROR], 0);
}

static void pushstats_record__hostile_files_are_reset(void **state)
{
    unsigned char file[PITR_PUSHSTATS_FILE_SIZE + 100];
    struct pitr_pushstats big;
    unsigned char *slot = file;
    uint32_t crc;
    int i;

    (void)state;
    /* truncated: half of a valid file */
    memset(&big, 0, sizeof(big));
    big.seq = 7;
    big.count[PITR_PUSHSTAT_OK] = 1000000;
    pitr_pushstats_encode(&big, file);
    write_raw(file, PITR_PUSHSTATS_SLOT_SIZE);
    expect_reset();
    /* foreign: right size, text */
    memset(file, 'x', sizeof(file));
    write_raw(file, PITR_PUSHSTATS_FILE_SIZE);
    expect_reset();
    /* oversized: a valid file with trailing bytes */
    pitr_pushstats_encode(&big, file);
    pitr_pushstats_encode(&big, file + PITR_PUSHSTATS_SLOT_SIZE);
    write_raw(file, sizeof(file));
    expect_reset();
    /* a newer version */
    pitr_pushstats_encode(&big, file);
    file[8] = 2;
    memset(file + PITR_PUSHSTATS_SLOT_SIZE, 0, PITR_PUSHSTATS_SLOT_SIZE);
    write_raw(file, PITR_PUSHSTATS_FILE_SIZE);
    expect_reset();
    /* a correct CRC over a WAL-name field with no terminator and odd bytes */
    memset(file, 0, sizeof(file));
    pitr_pushstats_encode(&big, slot);
    for (i = 0; i < PITR_PUSHSTATS_WAL_MAX * 2; i++)
        slot[160 + i] /* the last-archived WAL field */ = '"';
    crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), slot, PITR_PUSHSTATS_SLOT_SIZE - 4);
    for (i = 0; i < 4; i++)
        slot[PITR_PUSHSTATS_SLOT_SIZE - 4 + i] = (unsigned char)(crc >> (8 * i));
    write_raw(file, PITR_PUSHSTATS_FILE_SIZE);
    expect_reset();
}

static void pushstats_record__refuses_symlink_and_fifo(void **state)
{
    struct pitr_pushstats s;
    struct pitr_err err = { 0 };
    char target[128], dir[128];
    struct stat sb;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/spool", root);
    mkdir(dir, 0700);
    snprintf(target, sizeof(target), "%s/elsewhere", root);
    assert_int_equal(symlink(target, path), 0);
    assert_int_not_equal(pitr_pushstats_record(path, PITR_PUSHSTAT_OK, 0.1, WAL, T0, &err),
                         PITR_OK);
    assert_int_not_equal(stat(target, &sb), 0); /* the link was not followed */
    assert_int_equal(pitr_pushstats_read(path, &s, &err), PITR_EFORMAT);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    /* no hang on a FIFO, and it is left alone */
    assert_int_equal(pitr_pushstats_record(path, PITR_PUSHSTAT_OK, 0.1, WAL, T0, &err),
                     PITR_EFORMAT);
    assert_int_equal(pitr_pushstats_read(path, &s, &err), PITR_EFORMAT);
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISFIFO(sb.st_mode));
}

#define PER_WRITER 300

static void pushstats_record__two_writers_lose_no_count(void **state)
{
    struct pitr_pushstats s;
    struct pitr_err err = { 0 };
    pid_t kids[2];
    uint64_t total = 0;
    int k, st, i;

    (void)state;
    for (k = 0; k < 2; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            for (i = 0; i < PER_WRITER; i++)
                if (pitr_pushstats_record(
                      path, k == 0 ? PITR_PUSHSTAT_OK : PITR_PUSHSTAT_ERROR, 0.2, WAL, T0, &err) !=
                    PITR_OK)
                    _exit(1);
            _exit(0);
        }
    }
    for (k = 0; k < 2; k++) {
        assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    assert_int_equal(pitr_pushstats_read(path, &s, &err), PITR_OK);
    assert_int_equal(s.count[PITR_PUSHSTAT_OK], PER_WRITER);
    assert_int_equal(s.count[PITR_PUSHSTAT_ERROR], PER_WRITER);
    assert_int_equal(s.seq, 2 * PER_WRITER);
    for (i = 0; i < PITR_PUSHSTATS_NBUCKETS; i++)
        total += s.bucket[i];
    assert_int_equal(total, 2 * PER_WRITER);
    assert_int_equal(s.bucket[2], 2 * PER_WRITER); /* 0.2 <= 0.25 */
}

static void pushstats_result_name__label_values(void **state)
{
    (void)state;
    assert_string_equal(pitr_pushstats_result_name(PITR_PUSHSTAT_OK), "ok");
    assert_string_equal(pitr_pushstats_result_name(PITR_PUSHSTAT_IDENTICAL), "already_archived");
    assert_string_equal(pitr_pushstats_result_name(PITR_PUSHSTAT_ERROR), "error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
          pushstats_record__counts_buckets_and_last_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(
          pushstats_read__torn_newest_slot_falls_back_to_older, setup, teardown),
        cmocka_unit_test_setup_teardown(pushstats_record__hostile_files_are_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(
          pushstats_record__refuses_symlink_and_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(
          pushstats_record__two_writers_lose_no_count, setup, teardown),
        cmocka_unit_test(pushstats_result_name__label_values),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
