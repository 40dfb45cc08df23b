/*
 * test_checkarchive.c - unit tests for src/catalog/checkarchive.c:
 * barman-cloud-check-wal-archive's decision over listed keys, table-driven,
 * and the run over a local repository.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../support/tmpdir.h"
#include "pgpitr/catalog/checkarchive.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"

#define W "srv/wals/"

struct ca_case {
    const char *what;
    uint32_t timeline;
    const char *keys[6]; /* NULL-terminated */
    int usable;
    size_t wal_files, offending;
    const char *first;
};

static const struct ca_case cases[] = {
    { "empty archive", 0, { NULL }, 1, 0, 0, "" },
    { "empty archive, timeline 1", 1, { NULL }, 1, 0, 0, "" },
    { "one compressed segment",
      0,
      { W "0000000100000000/000000010000000000000001.gz", NULL },
      0,
      1,
      1,
      "000000010000000000000001.gz" },
    { "an uncompressed segment",
      0,
      { W "0000000100000000/000000010000000000000003", NULL },
      0,
      1,
      1,
      "000000010000000000000003" },
    { "a history file alone", 0, { W "00000002.history", NULL }, 0, 1, 1, "00000002.history" },
    { "a backup history file alone",
      0,
      { W "0000000100000000/000000010000000000000002.00000028.backup.zst", NULL },
      0,
      1,
      1,
      "000000010000000000000002.00000028.backup.zst" },
    { "a .partial alone",
      0,
      { W "0000000100000000/000000010000000000000005.partial.lz4", NULL },
      0,
      1,
      1,
      "000000010000000000000005.partial.lz4" },
    { "keys that are not WAL are ignored",
      0,
      { W "README", W "0000000100000000/000000010000000000000001.gz.tmp", W "x.history", NULL },
      1,
      0,
      0,
      "" },
    { "two compression suffixes are not WAL",
      0,
      { W "0000000100000000/000000010000000000000001.gz.gz", NULL },
      1,
      0,
      0,
      "" },
    { "timeline 2: history 2 is equal, fails",
      2,
      { W "0000000100000000/000000010000000000000001.gz", W "00000002.history", NULL },
      0,
      2,
      1,
      "00000002.history" },
    { "timeline 3: older timelines pass",
      3,
      { W "0000000100000000/000000010000000000000001.gz",
        W "00000002.history",
        W "0000000200000000/000000020000000000000004.bz2",
        NULL },
      1,
      3,
      0,
      "" },
    { "timeline 2: a later timeline's segment fails",
      2,
      { W "0000000100000000/000000010000000000000001",
        W "0000000A00000000/0000000A0000000000000009.xz",
        NULL },
      0,
      2,
      1,
      "0000000A0000000000000009.xz" },
    { "lower-case hex is WAL too",
      0,
      { W "0000000b00000000/0000000b000000000000000c.snappy", NULL },
      0,
      1,
      1,
      "0000000b000000000000000c.snappy" },
};

static void decide__table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct ca_case *k = &cases[i];
        struct pitr_checkarchive c;

        pitr_checkarchive_init(&c, k->timeline);
        for (size_t j = 0; k->keys[j] != NULL; j++)
            pitr_checkarchive_add(&c, k->keys[j]);
        if (pitr_checkarchive_usable(&c) != k->usable || c.wal_files != k->wal_files ||
            c.offending != k->offending || strcmp(c.first, k->first) != 0)
            fail_msg("case '%s': usable %d, %zu WAL, %zu offending, first '%s'",
                     k->what,
                     pitr_checkarchive_usable(&c),
                     c.wal_files,
                     c.offending,
                     c.first);
    }
}

static void decide__max_timeline_of_offenders(void **state)
{
    struct pitr_checkarchive c;

    (void)state;
    pitr_checkarchive_init(&c, 2);
    pitr_checkarchive_add(&c, "000000010000000000000001");
    pitr_checkarchive_add(&c, "00000003.history.gz");
    pitr_checkarchive_add(&c, "000000050000000000000001");
    pitr_checkarchive_add(&c, "00000002.history");
    assert_int_equal(c.offending, 3);
    assert_int_equal(c.max_tli, 5);
    assert_string_equal(c.first, "00000003.history.gz");
}

static void touch(const char *root, const char *rel)
{
    assert_int_equal(pitr_test_write_file(root, rel, ""), 0);
}

static void run__local_repository(void **state)
{
    char root[256];
    struct pitr_storage *st = NULL;
    struct pitr_checkarchive c;
    struct pitr_err err = { 0 };

    (void)state;
    snprintf(root, sizeof(root), "/tmp/pgpitr-ca-XXXXXX");
    assert_non_null(mkdtemp(root));
    assert_int_equal(pitr_storage_posix_new(root, &st, &err), PITR_OK);
    /* no wals/ folder at all */
    pitr_checkarchive_init(&c, 0);
    assert_int_equal(pitr_checkarchive_run(st, "srv", &c, &err), PITR_OK);
    assert_true(pitr_checkarchive_usable(&c));
    /* base backups and another server's WAL do not count */
    touch(root, "srv/base/20240101T000000/backup.info");
    touch(root, "other/wals/0000000100000000/000000010000000000000001.gz");
    pitr_checkarchive_init(&c, 0);
    assert_int_equal(pitr_checkarchive_run(st, "srv", &c, &err), PITR_OK);
    assert_true(pitr_checkarchive_usable(&c));
    touch(root, "srv/wals/0000000100000000/000000010000000000000001.gz");
    pitr_checkarchive_init(&c, 0);
    assert_int_equal(pitr_checkarchive_run(st, "srv", &c, &err), PITR_OK);
    assert_false(pitr_checkarchive_usable(&c));
    assert_string_equal(c.first, "000000010000000000000001.gz");
    pitr_checkarchive_init(&c, 2);
    assert_int_equal(pitr_checkarchive_run(st, "srv", &c, &err), PITR_OK);
    assert_true(pitr_checkarchive_usable(&c));
    pitr_storage_free(st);
    pitr_test_rm_rf(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decide__table),
        cmocka_unit_test(decide__max_timeline_of_offenders),
        cmocka_unit_test(run__local_repository),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
