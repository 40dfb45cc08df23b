/*
 * test_barman.c - unit tests for src/cmd/barman.c: which names dispatch,
 * barman's SIZE syntax, and the exit codes of the barman-cloud-*
 * personalities for usage errors, unsupported providers and options, and
 * a few runs against a local (file://) repository.
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
#include <unistd.h>

#include "../support/tmpdir.h"
#include "pgpitr/cmd/barman.h"
#include "pgpitr/core/mem.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static char root[64];
static char url[96];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/pitr_test_barman_XXXXXX");
    if (mkdtemp(root) == NULL)
        return -1;
    snprintf(url, sizeof(url), "file://%s", root);
    /* one barman-style backup, DONE */
    return pitr_test_write_file(root,
                                "srv/base/20260101T000000/backup.info",
                                "backup_id=20260101T000000\nbackup_name=backup-20260101000000\n"
                                "begin_time=2026-01-01 00:00:00.000000+00:00\n"
                                "begin_wal=000000010000000000000002\n"
                                "end_time=2026-01-01 00:01:00.000000+00:00\n"
                                "end_wal=000000010000000000000002\nserver_name=cloud\n"
                                "status=DONE\ntimeline=1\nversion=150000\n");
}

static int teardown(void **state)
{
    (void)state;
    pitr_test_rm_rf(root);
    return 0;
}

/* Run argv (argv[0] is the program name) with stdout and stderr silenced. */
static int run(int argc, const char **argv)
{
    int out = dup(1), errfd = dup(2), rc;

    fflush(stdout);
    fflush(stderr);
    if (freopen("/dev/null", "w", stdout) == NULL || freopen("/dev/null", "w", stderr) == NULL)
        return -1;
    rc = pitr_barman_main(argc, (char **)argv);
    fflush(stdout);
    fflush(stderr);
    dup2(out, 1);
    dup2(errfd, 2);
    close(out);
    close(errfd);
    return rc;
}

static void find__nine_names_by_base_name(void **state)
{
    static const char *const names[] = {
        "barman-cloud-wal-archive",   "barman-cloud-wal-restore", "barman-cloud-backup",
        "barman-cloud-restore",       "barman-cloud-backup-list", "barman-cloud-backup-show",
        "barman-cloud-backup-delete", "barman-cloud-backup-keep", "barman-cloud-check-wal-archive",
    };
    char path[128];

    (void)state;
    for (size_t i = 0; i < N(names); i++) {
        snprintf(path, sizeof(path), "/usr/local/bin/%s", names[i]);
        assert_string_equal(pitr_barman_find(path), names[i]);
        assert_string_equal(pitr_barman_find(names[i]), names[i]);
    }
    assert_null(pitr_barman_find("pgpitr"));
    assert_null(pitr_barman_find("/usr/bin/barman-cloud"));
    assert_null(pitr_barman_find("barman-cloud-backup-list.bak"));
}

static void size__barman_syntax(void **state)
{
    static const struct {
        const char *in;
        uint64_t want;
    } ok[] = {
        { "1", 1 },
        { "5MB", 5ull << 20 },
        { "5mb", 5ull << 20 },
        { "1.5GB", 3ull << 29 },
        { "100GB", 100ull << 30 },
        { "2KiB", 2000 }, /* barman: "iB" is base 1000 */
        { "1MiB", 1000000 },
        { "1234B", 1234 },
        { "1TB", 1ull << 40 },
    };
    static const char *const bad[] = { "", "0", "-5", "5XB", "MB", "5 MB", "1.5", "abc", "0MB" };
    struct pitr_err err = { 0 };
    uint64_t v;

    (void)state;
    for (size_t i = 0; i < N(ok); i++) {
        assert_int_equal(pitr_barman_parse_size(ok[i].in, &v, &err), PITR_OK);
        assert_int_equal(v, ok[i].want);
    }
    for (size_t i = 0; i < N(bad); i++) {
        assert_int_equal(pitr_barman_parse_size(bad[i], &v, &err), PITR_EUSAGE);
        assert_non_null(strstr(err.msg, "not a valid size string"));
    }
}

static void exit__usage_errors_are_3(void **state)
{
    const char *missing[] = { "barman-cloud-backup-list", "s3://b" };
    const char *extra[] = { "barman-cloud-backup-list", "s3://b", "srv", "x" };
    const char *unknown[] = { "barman-cloud-backup-list", "--bogus", "s3://b", "srv" };
    const char *ambiguous[] = { "barman-cloud-backup-delete", "--re", "5", "s3://b", "srv" };
    const char *no_b_r[] = { "barman-cloud-backup-delete", "s3://b", "srv" };
    const char *both_b_r[] = {
        "barman-cloud-backup-delete", "-b", "x", "-r", "y", "s3://b", "srv"
    };
    const char *keep_none[] = { "barman-cloud-backup-keep", "s3://b", "srv", "id" };
    const char *bad_choice[] = {
        "barman-cloud-backup-list", "--cloud-provider", "x", "s3://b", "s"
    };
    const char *bad_enc[] = { "barman-cloud-wal-archive", "-e", "rot13", "s3://b", "s", "p" };
    const char *two_codecs[] = { "barman-cloud-wal-archive", "-z", "-j", "s3://b", "s", "p" };
    const char *v_and_q[] = { "barman-cloud-backup-list", "-v", "-q", "s3://b", "s" };
    const char *bad_jobs[] = { "barman-cloud-backup", "-J", "0", "s3://b", "s" };
    const char *bad_size[] = { "barman-cloud-backup", "--min-chunk-size=5XB", url, "srv" };
    const char *h_is_help_nowhere[] = { "barman-cloud-backup-list", "-h", "s3://b", "s" };

    (void)state;
    assert_int_equal(run(N(missing), missing), 3);
    assert_int_equal(run(N(extra), extra), 3);
    assert_int_equal(run(N(unknown), unknown), 3);
    assert_int_equal(run(N(ambiguous), ambiguous), 3);
    assert_int_equal(run(N(no_b_r), no_b_r), 3);
    assert_int_equal(run(N(both_b_r), both_b_r), 3);
    assert_int_equal(run(N(keep_none), keep_none), 3);
    assert_int_equal(run(N(bad_choice), bad_choice), 3);
    assert_int_equal(run(N(bad_enc), bad_enc), 3);
    assert_int_equal(run(N(two_codecs), two_codecs), 3);
    assert_int_equal(run(N(v_and_q), v_and_q), 3);
    assert_int_equal(run(N(bad_jobs), bad_jobs), 3);
    assert_int_equal(run(N(bad_size), bad_size), 3);
    assert_int_equal(run(N(h_is_help_nowhere), h_is_help_nowhere), 3);
}

static void exit__version_and_help_are_0(void **state)
{
    const char *v[] = { "barman-cloud-wal-archive", "-V" };
    const char *vers[] = { "barman-cloud-wal-archive", "--vers" };
    const char *help[] = { "barman-cloud-restore", "--help" };

    (void)state;
    assert_int_equal(run(N(v), v), 0);
    assert_int_equal(run(N(vers), vers), 0);
    assert_int_equal(run(N(help), help), 0);
}

static void exit__other_providers_are_1(void **state)
{
    const char *az[] = {
        "barman-cloud-backup-list", "--cloud-provider", "azure-blob-storage", url, "srv"
    };
    const char *gs[] = { "barman-cloud-wal-restore",
                         "--cloud-provider=google-cloud-storage",
                         url,
                         "srv",
                         "000000010000000000000001",
                         "/tmp/x" };
    const char *s3[] = { "barman-cloud-backup-list", "--cloud-provider", "aws-s3", url, "srv" };

    (void)state;
    assert_int_equal(run(N(az), az), 1);
    assert_int_equal(run(N(gs), gs), 1);
    assert_int_equal(run(N(s3), s3), 0);
}

static void exit__unimplemented_options_are_3(void **state)
{
    const char *profile[] = { "barman-cloud-backup-list", "-P", "default", url, "srv" };
    const char *timeout[] = { "barman-cloud-backup-list", "--read-timeout=60", url, "srv" };
    const char *snap[] = { "barman-cloud-backup", "--snapshot-disk", "d1", url, "srv" };
    const char *azure[] = { "barman-cloud-wal-archive", "--max-concurrency", "2", url, "srv", "p" };

    (void)state;
    assert_int_equal(run(N(profile), profile), 3);
    assert_int_equal(run(N(timeout), timeout), 3);
    assert_int_equal(run(N(snap), snap), 3);
    assert_int_equal(run(N(azure), azure), 3);
}

static void exit__wal_archive_without_path_is_1(void **state)
{
    const char *argv[] = { "barman-cloud-wal-archive", url, "srv" };

    (void)state;
    assert_int_equal(run(N(argv), argv), 1);
}

static void run__catalog_commands_on_a_local_repository(void **state)
{
    const char *list[] = { "barman-cloud-backup-list", "--format", "json", url, "srv" };
    const char *show_name[] = {
        "barman-cloud-backup-show", "--format=json", url, "srv", "backup-20260101000000"
    };
    const char *show_unknown_id[] = { "barman-cloud-backup-show", url, "srv", "20990101T000000" };
    const char *show_unknown_name[] = { "barman-cloud-backup-show", url, "srv", "nope" };
    const char *keep_status[] = { "barman-cloud-backup-keep", "-s", url, "srv", "20260101T000000" };
    const char *keep_unknown[] = {
        "barman-cloud-backup-keep", "--status", url, "srv", "20990101T000000"
    };
    const char *check[] = { "barman-cloud-check-wal-archive", url, "srv" };
    const char *test[] = { "barman-cloud-backup-list", "-t", url, "srv" };
    const char *wal_missing[] = { "barman-cloud-wal-restore",
                                  url,
                                  "srv",
                                  "000000010000000000000009",
                                  "/tmp/pitr_test_barman_never" };
    const char *wal_bad_name[] = {
        "barman-cloud-wal-restore", url, "srv", "nonsense", "/tmp/pitr_test_barman_never"
    };

    (void)state;
    assert_int_equal(run(N(list), list), 0);
    assert_int_equal(run(N(show_name), show_name), 0);
    assert_int_equal(run(N(show_unknown_id), show_unknown_id), 1);
    assert_int_equal(run(N(show_unknown_name), show_unknown_name), 4);
    assert_int_equal(run(N(keep_status), keep_status), 0);
    assert_int_equal(run(N(keep_unknown), keep_unknown), 4);
    assert_int_equal(run(N(check), check), 0); /* no WAL yet */
    assert_int_equal(run(N(test), test), 0);
    assert_int_equal(run(N(wal_missing), wal_missing), 1);
    assert_int_equal(run(N(wal_bad_name), wal_bad_name), 3);
    assert_int_equal(access("/tmp/pitr_test_barman_never", F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(find__nine_names_by_base_name),
        cmocka_unit_test(size__barman_syntax),
        cmocka_unit_test(exit__usage_errors_are_3),
        cmocka_unit_test(exit__version_and_help_are_0),
        cmocka_unit_test(exit__other_providers_are_1),
        cmocka_unit_test(exit__unimplemented_options_are_3),
        cmocka_unit_test(exit__wal_archive_without_path_is_1),
        cmocka_unit_test(run__catalog_commands_on_a_local_repository),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
