/*
 * test_recover.c - unit tests for src/agent/recover.c: the shell quoting
 * and default start command, and the decisions of pitr_recover_step that
 * need no server: no recovery, no pgdata setting, a non-empty PGDATA left
 * alone, and a recovery that cannot start recorded as failed with a
 * back-off (no hot loop). The restore, start and promotion run in
 * tests/integration/test_agent_recovery.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/tmpdir.h"
#include "pgpitr/agent/agent.h"
#include "pgpitr/agent/manifest.h"
#include "pgpitr/agent/recover.h"
#include "pgpitr/agent/status.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/mem.h"

static volatile sig_atomic_t no_stop;

static void recovery_cluster(struct pitr_mf_cluster *c)
{
    memset(c, 0, sizeof(*c));
    c->meta.name = (char *)"restored-pg";
    c->meta.namespace = (char *)"app-db";
    c->has_recovery = 1;
    c->recovery.source = (char *)"backed-up-pg"; /* no externalClusters entry: unusable */
    c->recovery.has_target = 1;
    c->recovery.target.target_time = (char *)"2024-01-15T10:30:00+02:00";
}

static void opts(struct pitr_agent_opts *o,
                 const struct pitr_config *cfg,
                 const char *state,
                 const char *pgdata)
{
    memset(o, 0, sizeof(*o));
    o->cfg = cfg;
    o->state_dir = state;
    o->pgdata = pgdata;
    o->stop = &no_stop;
    o->recovery_wait = 5;
}

static void pitr_recover_shell_quote__quotes_and_escapes(void **state)
{
    char *q;

    (void)state;
    q = pitr_recover_shell_quote("/var/lib/pg data");
    assert_string_equal(q, "'/var/lib/pg data'");
    pitr_free(q);
    q = pitr_recover_shell_quote("it's; rm -rf /");
    assert_string_equal(q, "'it'\\''s; rm -rf /'");
    pitr_free(q);
    q = pitr_recover_shell_quote("");
    assert_string_equal(q, "''");
    pitr_free(q);
}

static void pitr_recover_default_start__pg_ctl_of_the_data_version(void **state)
{
    char dir[] = "/tmp/pitr-recover-XXXXXX";
    char want[256];
    char *cmd;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(pitr_test_write_file(dir, "PG_VERSION", "15\n"), 0);
    cmd = pitr_recover_default_start(dir, 30);
    if (access("/usr/lib/postgresql/15/bin/pg_ctl", X_OK) == 0)
        snprintf(
          want, sizeof(want), "/usr/lib/postgresql/15/bin/pg_ctl start -w -t 30 -D '%s'", dir);
    else
        snprintf(want, sizeof(want), "pg_ctl start -w -t 30 -D '%s'", dir);
    assert_non_null(strstr(cmd, want));
    assert_non_null(strstr(cmd, "/pgpitr-startup.log'"));
    pitr_free(cmd);
    /* a hostile PG_VERSION never reaches the command */
    assert_int_equal(pitr_test_write_file(dir, "PG_VERSION", "15; touch /tmp/x\n"), 0);
    cmd = pitr_recover_default_start(dir, 30);
    assert_null(strstr(cmd, "touch"));
    pitr_free(cmd);
    pitr_test_rm_rf(dir);
}

static void pitr_recover_step__no_recovery_or_no_pgdata_is_go(void **state)
{
    char dir[] = "/tmp/pitr-recover-XXXXXX";
    struct pitr_mf_cluster c;
    struct pitr_agent_opts o;
    struct pitr_config cfg;
    struct pitr_recover *r = NULL;

    (void)state;
    assert_non_null(mkdtemp(dir));
    pitr_config_init(&cfg);
    recovery_cluster(&c);
    c.has_recovery = 0;
    opts(&o, &cfg, dir, "/nonexistent/pgdata");
    assert_int_equal(pitr_recover_step(&r, &o, &c, NULL, NULL), PITR_RECOVER_GO);
    c.has_recovery = 1;
    opts(&o, &cfg, dir, NULL);
    assert_int_equal(pitr_recover_step(&r, &o, &c, NULL, NULL), PITR_RECOVER_GO);
    assert_int_equal(pitr_recover_holds(r, &c), 0);
    pitr_recover_free(r);
    pitr_test_rm_rf(dir);
}

static void pitr_recover_step__non_empty_pgdata_left_alone(void **state)
{
    char dir[] = "/tmp/pitr-recover-XXXXXX";
    char pgdata[200], status[300];
    struct pitr_mf_cluster c;
    struct pitr_agent_opts o;
    struct pitr_config cfg;
    struct pitr_recover *r = NULL;
    struct stat st;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(pgdata, sizeof(pgdata), "%s/data", dir);
    assert_int_equal(mkdir(pgdata, 0700), 0);
    assert_int_equal(pitr_test_write_file(pgdata, "PG_VERSION", "keep"), 0);
    pitr_config_init(&cfg);
    recovery_cluster(&c);
    opts(&o, &cfg, dir, pgdata);
    assert_int_equal(pitr_recover_step(&r, &o, &c, NULL, NULL), PITR_RECOVER_GO);
    assert_int_equal(pitr_recover_step(&r, &o, &c, NULL, NULL), PITR_RECOVER_GO);
    assert_int_equal(pitr_recover_holds(r, &c), 0);
    /* nothing written: neither PGDATA nor a status */
    snprintf(status, sizeof(status), "%s/PG_VERSION", pgdata);
    assert_int_equal(stat(status, &st), 0);
    assert_int_equal(st.st_size, 4);
    snprintf(status, sizeof(status), "%s/app-db_restored-pg.json", dir);
    assert_int_not_equal(stat(status, &st), 0);
    /* a symbolic link as PGDATA is "in use" too: never followed */
    snprintf(status, sizeof(status), "%s/link", dir);
    assert_int_equal(symlink(dir, status), 0);
    pitr_recover_free(r);
    r = NULL;
    opts(&o, &cfg, dir, status);
    assert_int_equal(pitr_recover_step(&r, &o, &c, NULL, NULL), PITR_RECOVER_GO);
    pitr_recover_free(r);
    pitr_test_rm_rf(dir);
}

static void pitr_recover_step__unusable_source_fails_with_condition_and_backoff(void **state)
{
    char dir[] = "/tmp/pitr-recover-XXXXXX";
    char pgdata[200];
    struct pitr_mf_cluster c;
    struct pitr_agent_opts o;
    struct pitr_config cfg;
    struct pitr_recover *r = NULL;
    json_t *doc = pitr_status_new(), *it, *conds;
    const char *reason = NULL;
    int dirty = 0;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(pgdata, sizeof(pgdata), "%s/data", dir); /* missing: counts as empty */
    pitr_config_init(&cfg);
    recovery_cluster(&c);
    opts(&o, &cfg, dir, pgdata);
    assert_int_equal(pitr_recover_step(&r, &o, &c, doc, &dirty), PITR_RECOVER_FAILED);
    assert_int_equal(dirty, 1);
    assert_int_equal(pitr_recover_holds(r, &c), 1);
    it = pitr_status_find(doc, "Cluster", "restored-pg");
    assert_non_null(it);
    conds = json_object_get(json_object_get(it, "status"), "conditions");
    for (size_t i = 0; i < json_array_size(conds); i++)
        if (strcmp(pitr_status_str(json_array_get(conds, i), "type"), "RecoveryCompleted") == 0)
            reason = pitr_status_str(json_array_get(conds, i), "reason");
    assert_non_null(reason);
    assert_string_equal(reason, "RecoveryFailed");
    assert_non_null(pitr_status_events(doc, "Cluster", "restored-pg"));
    /* the back-off holds it: the next tick does not try again */
    dirty = 0;
    assert_int_equal(pitr_recover_step(&r, &o, &c, doc, &dirty), PITR_RECOVER_FAILED);
    assert_int_equal(dirty, 0);
    assert_int_not_equal(access(pgdata, F_OK), 0); /* nothing created */
    pitr_recover_free(r);
    json_decref(doc);
    pitr_test_rm_rf(dir);
}

static void pitr_recover_step__root_owned_pgdata_refused_or_restore_failure_recorded(void **state)
{
    char dir[] = "/tmp/pitr-recover-XXXXXX";
    char pgdata[200], repo[300];
    struct pitr_mf_cluster c;
    struct pitr_mf_external x;
    struct pitr_agent_opts o;
    struct pitr_config cfg;
    struct pitr_recover *r = NULL;
    json_t *doc = pitr_status_new(), *it;
    enum pitr_recover_hold h;
    int dirty = 0;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(pgdata, sizeof(pgdata), "%s/data", dir);
    assert_int_equal(mkdir(pgdata, 0700), 0);
    snprintf(repo, sizeof(repo), "file://%s/repo", dir); /* holds no backup */
    pitr_config_init(&cfg);
    recovery_cluster(&c);
    memset(&x, 0, sizeof(x));
    x.name = (char *)"backed-up-pg";
    x.has_store = 1;
    x.store.destination_path = repo;
    x.store.resolved = 1;
    c.externals = &x;
    c.n_externals = 1;
    opts(&o, &cfg, dir, pgdata);
    h = pitr_recover_step(&r, &o, &c, doc, &dirty);
    if (geteuid() == 0) {
        /* this PGDATA is root's: PostgreSQL would refuse to start, so nothing is restored */
        assert_int_equal(h, PITR_RECOVER_FAILED);
    } else {
        /* the restore runs and finds no backup in the empty repository */
        assert_int_equal(h, PITR_RECOVER_RUNNING);
        for (int i = 0; i < 100 && h == PITR_RECOVER_RUNNING; i++) {
            usleep(100 * 1000);
            h = pitr_recover_step(&r, &o, &c, doc, &dirty);
        }
        assert_int_equal(h, PITR_RECOVER_FAILED);
    }
    it = pitr_status_find(doc, "Cluster", "restored-pg");
    assert_non_null(it);
    assert_string_equal(pitr_status_str(json_object_get(it, "status"), "phase"), "Recovery failed");
    if (geteuid() == 0)
        assert_non_null(
          strstr(pitr_status_str(json_object_get(it, "status"), "phaseReason"), "belongs to root"));
    assert_int_equal(pitr_recover_holds(r, &c), 1);
    pitr_recover_free(r);
    json_decref(doc);
    pitr_test_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_recover_shell_quote__quotes_and_escapes),
        cmocka_unit_test(pitr_recover_default_start__pg_ctl_of_the_data_version),
        cmocka_unit_test(pitr_recover_step__no_recovery_or_no_pgdata_is_go),
        cmocka_unit_test(pitr_recover_step__non_empty_pgdata_left_alone),
        cmocka_unit_test(pitr_recover_step__unusable_source_fails_with_condition_and_backoff),
        cmocka_unit_test(pitr_recover_step__root_owned_pgdata_refused_or_restore_failure_recorded),
    };

    json_set_alloc_funcs(pitr_malloc, pitr_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
