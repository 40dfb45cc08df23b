/*
 * test_walahead.c - how many WAL segments the restore fetches ahead of
 * recovery (src/restore/walahead.c): bounded by the target when its last
 * WAL is known, by PITR_PREFETCH_MAX, and by the free disk.
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
#include "restore/walahead_int.h"

#define MIB    ((uint64_t)1 << 20)
#define SEG    ((uint32_t)(16 * MIB))
#define PLENTY ((uint64_t)1 << 40)
#define BEGIN  "000000010000000200000010"
#define END    "000000010000000200000013"

static void wal_ahead_count__time_target_takes_the_most(void **state)
{
    (void)state;
    assert_int_equal(pitr_restore_wal_ahead_count(BEGIN, END, SEG, 0, 0, PLENTY, 0),
                     PITR_PREFETCH_MAX);
}

static void wal_ahead_count__immediate_stops_at_the_backups_end(void **state)
{
    (void)state;
    assert_int_equal(pitr_restore_wal_ahead_count(BEGIN, END, SEG, 1, 0, PLENTY, 0), 4);
    /* An end before the begin (a damaged backup.info): only the first. */
    assert_int_equal(pitr_restore_wal_ahead_count(END, BEGIN, SEG, 1, 0, PLENTY, 0), 1);
}

static void wal_ahead_count__lsn_target_stops_at_its_segment(void **state)
{
    uint64_t lsn = ((uint64_t)2 << 32) + 0x12 * (uint64_t)SEG + 100; /* in ...0212 */

    (void)state;
    assert_int_equal(pitr_restore_wal_ahead_count(BEGIN, END, SEG, 0, lsn, PLENTY, 0), 3);
    /* Across the log boundary: 1 GiB segments, 4 to a log. */
    assert_int_equal(pitr_restore_wal_ahead_count("000000010000000200000003",
                                                  NULL,
                                                  1u << 30,
                                                  0,
                                                  ((uint64_t)3 << 32) + 1,
                                                  (uint64_t)1 << 45,
                                                  0),
                     2);
}

static void wal_ahead_count__bounded_by_the_free_disk(void **state)
{
    (void)state;
    /* 1 GiB free, 200 MiB of volumes (800 MiB restored, by the guess): 224 MiB / 4 = 3 segments. */
    assert_int_equal(pitr_restore_wal_ahead_count(BEGIN, END, SEG, 0, 0, 1024 * MIB, 200 * MIB), 3);
    /* Not even the data fits: none. */
    assert_int_equal(pitr_restore_wal_ahead_count(BEGIN, END, SEG, 0, 0, 100 * MIB, 200 * MIB), 0);
    assert_int_equal(pitr_restore_wal_ahead_count(BEGIN, END, SEG, 0, 0, 0, 0), 0);
    assert_int_equal(pitr_restore_wal_ahead_count(BEGIN, END, SEG, 0, 0, PLENTY, UINT64_MAX), 0);
}

static void wal_ahead_count__refuses_what_does_not_parse(void **state)
{
    (void)state;
    assert_int_equal(pitr_restore_wal_ahead_count(NULL, END, SEG, 0, 0, PLENTY, 0), 0);
    assert_int_equal(pitr_restore_wal_ahead_count("None", END, SEG, 0, 0, PLENTY, 0), 0);
    assert_int_equal(pitr_restore_wal_ahead_count("00000002.history", END, SEG, 0, 0, PLENTY, 0),
                     0);
    assert_int_equal(pitr_restore_wal_ahead_count(BEGIN, END, 3 * MIB, 0, 0, PLENTY, 0), 0);
    assert_int_equal(pitr_restore_wal_ahead_count(BEGIN, END, 0, 0, 0, PLENTY, 0), 0);
}

/* A folder at path holding the named (empty) files. */
static void make_dir(const char *path, const char *const *names)
{
    char f[512];

    assert_int_equal(mkdir(path, 0700), 0);
    for (; *names; names++) {
        int fd;

        snprintf(f, sizeof(f), "%s/%s", path, *names);
        fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        close(fd);
    }
}

static int there(const char *dir, const char *name)
{
    char f[512];

    snprintf(f, sizeof(f), "%s/%s", dir, name);
    return access(f, F_OK) == 0;
}

static void wal_ahead_publish__renames_the_staging_folder(void **state)
{
    char dir[64] = "/tmp/pgpitr-test-walahead-XXXXXX", stage[128], final[128];
    const char *const ours[] = { "prefetch.lock", BEGIN, NULL };

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(stage, sizeof(stage), "%s/pgpitr_prefetch.0123", dir);
    snprintf(final, sizeof(final), "%s/pgpitr_prefetch", dir);
    make_dir(stage, ours);
    assert_int_equal(pitr_restore_wal_ahead_publish(stage, final, 1), 1);
    assert_true(there(final, BEGIN));
    assert_int_equal(access(stage, F_OK), -1);
    pitr_test_rm_rf(dir);
}

static void wal_ahead_publish__never_mixes_with_the_backups_spool(void **state)
{
    char dir[64] = "/tmp/pgpitr-test-walahead-XXXXXX", stage[128], final[128];
    const char *const ours[] = { "prefetch.lock", BEGIN, NULL };
    const char *const planted[] = { "prefetch.lock", END, NULL };
    const char *const other[] = { "notes.txt", NULL };

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(stage, sizeof(stage), "%s/pgpitr_prefetch.0123", dir);
    snprintf(final, sizeof(final), "%s/pgpitr_prefetch", dir);
    /* A spool that came with the backup: removed, ours takes its place. */
    make_dir(stage, ours);
    make_dir(final, planted);
    assert_int_equal(pitr_restore_wal_ahead_publish(stage, final, 1), 1);
    assert_true(there(final, BEGIN));
    assert_false(there(final, END));
    pitr_test_rm_rf(final);
    /* A folder that is not a spool: left alone, ours dropped. */
    make_dir(stage, ours);
    make_dir(final, other);
    assert_int_equal(pitr_restore_wal_ahead_publish(stage, final, 1), 0);
    assert_true(there(final, "notes.txt"));
    assert_false(there(final, BEGIN));
    assert_int_equal(access(stage, F_OK), -1);
    pitr_test_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wal_ahead_count__time_target_takes_the_most),
        cmocka_unit_test(wal_ahead_count__immediate_stops_at_the_backups_end),
        cmocka_unit_test(wal_ahead_count__lsn_target_stops_at_its_segment),
        cmocka_unit_test(wal_ahead_count__bounded_by_the_free_disk),
        cmocka_unit_test(wal_ahead_count__refuses_what_does_not_parse),
        cmocka_unit_test(wal_ahead_publish__renames_the_staging_folder),
        cmocka_unit_test(wal_ahead_publish__never_mixes_with_the_backups_spool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
