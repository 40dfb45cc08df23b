/*
 * test_info.c - unit tests for src/backup/info.c: backup.info text in barman
 * 3.4's exact form (checked against the shape of real barman-cloud files),
 * Python repr of strings, backup name rules and --max-archive-size sizes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "pgpitr/backup/info.h"
#include "pgpitr/core/buf.h"

/* A DONE backup.info as barman-cloud-backup 3.4 wrote it for a backup with one tablespace. */
static const char done_expected[] =
  "backup_label='START WAL LOCATION: 0/6000028 (file 000000010000000000000006)\\nCHECKPOINT "
  "LOCATION: 0/6000060\\nBACKUP METHOD: streamed\\nBACKUP FROM: primary\\nSTART TIME: 2026-11-23 "
  "21:19:43 UTC\\nLABEL: Barman backup cloud 20261123T211943\\nSTART TIMELINE: 1\\n'\n"
  "backup_name=backup-3\n"
  "begin_offset=40\n"
  "begin_time=2026-11-23 21:19:43.265616+00:00\n"
  "begin_wal=000000010000000000000006\n"
  "begin_xlog=0/6000028\n"
  "compression=None\n"
  "config_file=/var/lib/postgresql/15/main/postgresql.conf\n"
  "copy_stats={'total_time': 780.888136, 'number_of_workers': 2, 'analysis_time': 0, "
  "'analysis_time_per_item': {'16384': 0, 'data': 0}, 'copy_time_per_item': {'16384': 0.071543, "
  "'data': 780.665021}, 'serialized_copy_time_per_item': {'16384': 0.057218, 'data': 0.077957}, "
  "'copy_time': 780.665021, 'serialized_copy_time': 0.135175}\n"
  "deduplicated_size=None\n"
  "end_offset=14744\n"
  "end_time=2026-11-23 21:19:43.510378+00:00\n"
  "end_wal=000000010000000000000006\n"
  "end_xlog=0/6003998\n"
  "error=None\n"
  "hba_file=/var/lib/postgresql/15/main/pg_hba.conf\n"
  "ident_file=/var/lib/postgresql/15/main/pg_ident.conf\n"
  "included_files=None\n"
  "mode=None\n"
  "pgdata=/var/lib/postgresql/15/main\n"
  "server_name=cloud\n"
  "size=None\n"
  "status=DONE\n"
  "systemid=7711479187624700227\n"
  "tablespaces=[('tbs1', 16384, '/srv/pg/tbs1')]\n"
  "timeline=1\n"
  "version=150020\n"
  "xlog_segment_size=16777216\n";

static const struct pitr_info_tablespace tbs[] = { { "tbs1", 16384, "/srv/pg/tbs1" } };
static const struct pitr_info_copy_item items[] = { { "16384", 0.071543, 0.057218 },
                                                    { "data", 780.665021, 0.077957 } };

static void fill_done(struct pitr_backup_info *bi, struct pitr_info_copy_stats *cs)
{
    memset(cs, 0, sizeof(*cs));
    cs->total_time = 780.888136;
    cs->number_of_workers = 2;
    cs->items = items;
    cs->nitems = 2;
    cs->copy_time = 780.665021;
    cs->serialized_copy_time = 0.135175;

    pitr_backup_info_init(bi);
    bi->backup_label = "START WAL LOCATION: 0/6000028 (file 000000010000000000000006)\n"
                       "CHECKPOINT LOCATION: 0/6000060\nBACKUP METHOD: streamed\n"
                       "BACKUP FROM: primary\nSTART TIME: 2026-11-23 21:19:43 UTC\n"
                       "LABEL: Barman backup cloud 20261123T211943\nSTART TIMELINE: 1\n";
    bi->backup_name = "backup-3";
    bi->begin_offset = 40;
    bi->begin_time = "2026-11-23 21:19:43.265616+00:00";
    bi->begin_wal = "000000010000000000000006";
    bi->begin_xlog = "0/6000028";
    bi->config_file = "/var/lib/postgresql/15/main/postgresql.conf";
    bi->copy_stats = cs;
    bi->end_offset = 14744;
    bi->end_time = "2026-11-23 21:19:43.510378+00:00";
    bi->end_wal = "000000010000000000000006";
    bi->end_xlog = "0/6003998";
    bi->hba_file = "/var/lib/postgresql/15/main/pg_hba.conf";
    bi->ident_file = "/var/lib/postgresql/15/main/pg_ident.conf";
    bi->pgdata = "/var/lib/postgresql/15/main";
    bi->status = "DONE";
    bi->systemid = "7711479187624700227";
    bi->tablespaces = tbs;
    bi->ntablespaces = 1;
    bi->timeline = 1;
    bi->version = 150020;
    bi->xlog_segment_size = 16777216;
}

static void backup_info_write__matches_barman_done_file(void **state)
{
    struct pitr_backup_info bi;
    struct pitr_info_copy_stats cs;
    struct pitr_buf out;
    struct pitr_err err = { 0 };

    (void)state;
    fill_done(&bi, &cs);
    pitr_buf_init(&out, 1 << 20);
    assert_int_equal(pitr_backup_info_write(&bi, &out, &err), PITR_OK);
    assert_string_equal(out.data, done_expected);
    pitr_buf_release(&out);
}

static void backup_info_write__failed_early_has_nones_and_no_name(void **state)
{
    struct pitr_backup_info bi;
    struct pitr_buf out;
    struct pitr_err err = { 0 };

    (void)state;
    pitr_backup_info_init(&bi);
    bi.status = "FAILED";
    bi.error = "failure uploading data (connection refused)";
    bi.pgdata = "/pg";
    pitr_buf_init(&out, 1 << 20);
    assert_int_equal(pitr_backup_info_write(&bi, &out, &err), PITR_OK);
    assert_string_equal(out.data,
                        "backup_label=None\nbegin_offset=None\nbegin_time=None\nbegin_wal=None\n"
                        "begin_xlog=None\ncompression=None\nconfig_file=None\ncopy_stats=None\n"
                        "deduplicated_size=None\nend_offset=None\nend_time=None\nend_wal=None\n"
                        "end_xlog=None\nerror=failure uploading data (connection refused)\n"
                        "hba_file=None\nident_file=None\nincluded_files=None\nmode=None\n"
                        "pgdata=/pg\nserver_name=cloud\nsize=None\nstatus=FAILED\nsystemid=None\n"
                        "tablespaces=None\ntimeline=None\nversion=None\nxlog_segment_size=None\n");
    pitr_buf_release(&out);
}

static void backup_info_write__included_files_and_two_tablespaces(void **state)
{
    static const char *const inc[] = { "/etc/pg/extra.conf", "/etc/pg/o'ther.conf" };
    static const struct pitr_info_tablespace two[] = { { "a", 16384, "/t/a" },
                                                       { "b", 16390, "/t/b" } };
    struct pitr_backup_info bi;
    struct pitr_buf out;
    struct pitr_err err = { 0 };

    (void)state;
    pitr_backup_info_init(&bi);
    bi.included_files = inc;
    bi.nincluded = 2;
    bi.tablespaces = two;
    bi.ntablespaces = 2;
    pitr_buf_init(&out, 1 << 20);
    assert_int_equal(pitr_backup_info_write(&bi, &out, &err), PITR_OK);
    assert_non_null(
      strstr(out.data, "\nincluded_files=['/etc/pg/extra.conf', \"/etc/pg/o'ther.conf\"]\n"));
    assert_non_null(
      strstr(out.data, "\ntablespaces=[('a', 16384, '/t/a'), ('b', 16390, '/t/b')]\n"));
    pitr_buf_release(&out);
}

static void py_repr_str__quotes_and_escapes_like_python(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        { "plain", "'plain'" },
        { "", "''" },
        { "it's", "\"it's\"" },
        { "both ' and \"", "'both \\' and \"'" },
        { "back\\slash", "'back\\\\slash'" },
        { "a\nb\rc\td", "'a\\nb\\rc\\td'" },
        { "\x01\x1f\x7f", "'\\x01\\x1f\\x7f'" },
        { "caf\xc3\xa9", "'caf\xc3\xa9'" }, /* printable non-ASCII stays */
        { "\xc2\x85", "'\\x85'" },          /* a C1 control does not */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pitr_buf out;
        struct pitr_err err = { 0 };

        pitr_buf_init(&out, 1024);
        assert_int_equal(pitr_py_repr_str(cases[i].in, &out, &err), PITR_OK);
        assert_string_equal(out.data, cases[i].want);
        pitr_buf_release(&out);
    }
}

static void backup_check_name__follows_barman_rules(void **state)
{
    static const char *const bad[] = { "20240115T120000", "latest",      "last", "oldest",
                                       "first",           "last-failed", "",     "a\nb" };
    static const char *const good[] = {
        "backup-20240115120000", "20240115T1200001", "x20240115T120000", "Latest", "nightly base"
    };
    struct pitr_err err = { 0 };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pitr_backup_check_name(bad[i], &err), PITR_EUSAGE);
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(pitr_backup_check_name(good[i], &err), PITR_OK);
    assert_int_equal(pitr_backup_check_name("20240115T120000", &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "backup ID"));
}

static void parse_size__barman_units(void **state)
{
    static const struct {
        const char *in;
        uint64_t want;
    } ok[] = {
        { "1", 1 },
        { "1048576", 1048576 },
        { "100GB", UINT64_C(100) << 30 },
        { "1kb", 1024 },
        { "1.5MB", 1572864 },
        { "2KiB", 2000 }, /* barman's inversion: iB is base 1000 */
        { "1TB", UINT64_C(1) << 40 },
    };
    static const char *const bad[] = {
        "", "0", "-1", "1X", "1K", "MB", "1.5", " 1", "1GBx", "0.1B"
    };
    struct pitr_err err = { 0 };
    uint64_t v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(pitr_parse_size(ok[i].in, &v, &err), PITR_OK);
        assert_true(v == ok[i].want);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pitr_parse_size(bad[i], &v, &err), PITR_EUSAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backup_info_write__matches_barman_done_file),
        cmocka_unit_test(backup_info_write__failed_early_has_nones_and_no_name),
        cmocka_unit_test(backup_info_write__included_files_and_two_tablespaces),
        cmocka_unit_test(py_repr_str__quotes_and_escapes_like_python),
        cmocka_unit_test(backup_check_name__follows_barman_rules),
        cmocka_unit_test(parse_size__barman_units),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
