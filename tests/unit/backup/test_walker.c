/*
 * test_walker.c - unit tests for src/backup/walker.c on a synthetic PGDATA
 * and tablespace in a mkdtemp folder: what is kept, what is left out, the
 * member names and the order.
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

#include "pgpitr/backup/walker.h"
#include "pgpitr/core/buf.h"

struct fx {
    char dir[64];
    char pgdata[128];
    char tbs[128];
};

static void put(const char *root, const char *rel, const char *content)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void mk(const char *root, const char *rel)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    assert_int_equal(mkdir(path, 0700), 0);
}

static int setup(void **state)
{
    static const char *const dirs[] = {
        "base",
        "base/1",
        "base/1/pgsql_tmp",
        "base/pgsql_tmp",
        "global",
        "pg_wal",
        "pg_wal/archive_status",
        "pg_wal/pgpitr_spool",
        "pg_replslot",
        "pg_replslot/slot1",
        "pg_stat_tmp",
        "pg_subtrans",
        "pg_notify",
        "pg_dynshmem",
        "pg_serial",
        "pg_snapshots",
        "pg_tblspc",
        "log",
        "pg_stat",
    };
    static const char *const files[] = {
        "PG_VERSION",
        "postgresql.conf",
        "postmaster.pid",
        "postmaster.opts",
        "standby.signal",
        "recovery.conf",
        "postgresql.auto.conf",
        "postgresql.auto.conf.tmp",
        "current_logfiles.tmp",
        "pgsql_tmp123",
        "base/1/1259",
        "base/1/pg_internal.init",
        "base/1/pgsql_tmp/t1",
        "base/pgsql_tmp/pgsql_tmp4.0",
        "global/pg_control",
        "global/1262",
        "global/pg_internal.init",
        "pg_wal/000000010000000000000001",
        "pg_wal/archive_status/000000010000000000000001.ready",
        "pg_wal/pgpitr_spool/x.ok",
        "pg_replslot/slot1/state",
        "pg_stat_tmp/global.stat",
        "pg_subtrans/0000",
        "pg_notify/0000",
        "pg_serial/0000",
        "pg_snapshots/0000-1",
        "log/postgresql.log",
        "pg_stat/pgstat.stat",
    };
    struct fx *fx = calloc(1, sizeof(*fx));
    size_t i;

    snprintf(fx->dir, sizeof(fx->dir), "/tmp/pitr-walk.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->pgdata, sizeof(fx->pgdata), "%s/data", fx->dir);
    snprintf(fx->tbs, sizeof(fx->tbs), "%s/tbs", fx->dir);
    assert_int_equal(mkdir(fx->pgdata, 0700), 0);
    for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        mk(fx->pgdata, dirs[i]);
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        put(fx->pgdata, files[i], files[i]);
    /* A tablespace: its link in pg_tblspc, a foreign PG_ directory, a stray file. */
    assert_int_equal(mkdir(fx->tbs, 0700), 0);
    mk(fx->tbs, "PG_15_202209061");
    mk(fx->tbs, "PG_15_202209061/5");
    put(fx->tbs, "PG_15_202209061/5/16385", "rel");
    mk(fx->tbs, "PG_15_202209061/pgsql_tmp");
    put(fx->tbs, "PG_15_202209061/pgsql_tmp/pgsql_tmp1.0", "tmp");
    mk(fx->tbs, "PG_14_202107181");
    put(fx->tbs, "PG_14_202107181/old", "old");
    put(fx->tbs, "stray", "x");
    {
        char link[512];

        snprintf(link, sizeof(link), "%s/pg_tblspc/16384", fx->pgdata);
        assert_int_equal(symlink(fx->tbs, link), 0);
        snprintf(link, sizeof(link), "%s/conf.link", fx->pgdata);
        assert_int_equal(symlink("postgresql.conf", link), 0);
        snprintf(link, sizeof(link), "%s/dangling", fx->pgdata);
        assert_int_equal(symlink("/nonexistent/x", link), 0);
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

/* Collects "T name" lines (T: d, f or l). */
static pitr_rc collect(const struct pitr_walk_entry *e, void *ud, struct pitr_err *err)
{
    struct pitr_buf *b = ud;
    char t = e->type == PITR_WALK_DIR ? 'd' : e->type == PITR_WALK_FILE ? 'f' : 'l';

    return pitr_buf_appendf(
      b, err, "%c %s%s%s\n", t, e->name, e->target ? " -> " : "", e->target ? e->target : "");
}

static void walk__pgdata_keeps_and_leaves_out_as_barman(void **state)
{
    struct fx *fx = *state;
    struct pitr_walk_opts o = { 0 };
    struct pitr_buf b;
    struct pitr_err err = { 0 };

    o.root = fx->pgdata;
    o.kind = PITR_WALK_PGDATA;
    pitr_buf_init(&b, 1 << 20);
    assert_int_equal(pitr_walk(&o, collect, &b, &err), PITR_OK);
    assert_string_equal(b.data,
                        "d ./\n"
                        "f ./PG_VERSION\n"
                        "l ./conf.link -> postgresql.conf\n"
                        "l ./dangling -> /nonexistent/x\n"
                        "f ./postgresql.auto.conf\n"
                        "f ./postgresql.conf\n"
                        "d base/\n"
                        "d base/1/\n"
                        "f base/1/1259\n"
                        "d global/\n"
                        "f global/1262\n"
                        "d log/\n"
                        "d pg_dynshmem/\n"
                        "d pg_notify/\n"
                        "d pg_replslot/\n"
                        "d pg_serial/\n"
                        "d pg_snapshots/\n"
                        "d pg_stat/\n"
                        "f pg_stat/pgstat.stat\n"
                        "d pg_stat_tmp/\n"
                        "d pg_subtrans/\n"
                        "d pg_tblspc/\n"
                        "d pg_wal/\n");
    pitr_buf_release(&b);
}

static void walk__tablespace_only_this_major_no_root(void **state)
{
    struct fx *fx = *state;
    struct pitr_walk_opts o = { 0 };
    struct pitr_buf b;
    struct pitr_err err = { 0 };

    o.root = fx->tbs;
    o.kind = PITR_WALK_TABLESPACE;
    o.tblspc_prefix = "PG_15_";
    pitr_buf_init(&b, 1 << 20);
    assert_int_equal(pitr_walk(&o, collect, &b, &err), PITR_OK);
    assert_string_equal(b.data,
                        "d PG_15_202209061/\n"
                        "d PG_15_202209061/5/\n"
                        "f PG_15_202209061/5/16385\n");
    pitr_buf_release(&b);
}

static void walk__skip_list_leaves_out_a_tablespace_inside_pgdata(void **state)
{
    struct fx *fx = *state;
    const char *skip[1];
    char path[256];
    struct pitr_walk_opts o = { 0 };
    struct pitr_buf b;
    struct pitr_err err = { 0 };

    snprintf(path, sizeof(path), "%s/base", fx->pgdata);
    skip[0] = path;
    o.root = fx->pgdata;
    o.kind = PITR_WALK_PGDATA;
    o.skip = skip;
    o.nskip = 1;
    pitr_buf_init(&b, 1 << 20);
    assert_int_equal(pitr_walk(&o, collect, &b, &err), PITR_OK);
    assert_null(strstr(b.data, "base/"));
    assert_non_null(strstr(b.data, "d global/\n"));
    pitr_buf_release(&b);
}

static void walk__missing_root_is_not_found(void **state)
{
    struct fx *fx = *state;
    struct pitr_walk_opts o = { 0 };
    struct pitr_buf b;
    struct pitr_err err = { 0 };
    char path[256];

    snprintf(path, sizeof(path), "%s/nope", fx->dir);
    o.root = path;
    pitr_buf_init(&b, 1024);
    assert_int_equal(pitr_walk(&o, collect, &b, &err), PITR_ENOTFOUND);
    assert_non_null(strstr(err.msg, "does not exist"));
    snprintf(path, sizeof(path), "%s/PG_VERSION", fx->pgdata);
    assert_int_equal(pitr_walk(&o, collect, &b, &err), PITR_EUSAGE);
    pitr_buf_release(&b);
}

static pitr_rc fail_on_third(const struct pitr_walk_entry *e, void *ud, struct pitr_err *err)
{
    int *n = ud;

    (void)e;
    if (++*n == 3)
        return pitr_err_set(err, PITR_EIO, "stop here");
    return PITR_OK;
}

static void walk__callback_error_stops_the_walk(void **state)
{
    struct fx *fx = *state;
    struct pitr_walk_opts o = { 0 };
    struct pitr_err err = { 0 };
    int n = 0;

    o.root = fx->pgdata;
    assert_int_equal(pitr_walk(&o, fail_on_third, &n, &err), PITR_EIO);
    assert_int_equal(n, 3);
    assert_string_equal(err.msg, "stop here");
}

static void walk_excluded__rules(void **state)
{
    (void)state;
    assert_true(pitr_walk_excluded(PITR_WALK_PGDATA, "pg_wal/000000010000000000000001"));
    assert_true(pitr_walk_excluded(PITR_WALK_PGDATA, "pg_wal/pgpitr_spool"));
    assert_false(pitr_walk_excluded(PITR_WALK_PGDATA, "pg_wal"));
    assert_false(pitr_walk_excluded(PITR_WALK_TABLESPACE, "pg_wal/x"));
    assert_true(pitr_walk_excluded(PITR_WALK_PGDATA, "global/pg_control"));
    assert_false(pitr_walk_excluded(PITR_WALK_TABLESPACE, "global/pg_control"));
    assert_true(pitr_walk_excluded(PITR_WALK_TABLESPACE, "PG_15_1/pgsql_tmp"));
    assert_true(pitr_walk_excluded(PITR_WALK_PGDATA, "base/5/pg_internal.init"));
    assert_true(pitr_walk_excluded(PITR_WALK_PGDATA, "x/pg_replslot/y"));
    assert_false(pitr_walk_excluded(PITR_WALK_PGDATA, "x/pg_replslot"));
    assert_false(pitr_walk_excluded(PITR_WALK_PGDATA, "base/log/x")); /* only top-level log */
    assert_true(pitr_walk_excluded(PITR_WALK_PGDATA, "log/x"));
    assert_false(pitr_walk_excluded(PITR_WALK_PGDATA, "base/1/pg_wal_thing"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
          walk__pgdata_keeps_and_leaves_out_as_barman, setup, teardown),
        cmocka_unit_test_setup_teardown(walk__tablespace_only_this_major_no_root, setup, teardown),
        cmocka_unit_test_setup_teardown(
          walk__skip_list_leaves_out_a_tablespace_inside_pgdata, setup, teardown),
        cmocka_unit_test_setup_teardown(walk__missing_root_is_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(walk__callback_error_stops_the_walk, setup, teardown),
        cmocka_unit_test(walk_excluded__rules),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
