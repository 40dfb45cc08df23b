/*
 * test_manifest_examples.c - the example manifests the Debian package ships
 * (tools/deb/examples -> /usr/share/doc/pgpitr/examples) read by
 * src/agent/manifest.c as the agent reads them: no diagnostic, the Cluster's
 * store resolved from the Secret, and a schedule pgpitr runs as the comment
 * beside it says (daily at 00:00 UTC, six fields so CloudNativePG agrees).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgpitr/agent/manifest.h"
#include "pgpitr/core/err.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/sched/cron.h"

/* The whole file (free()); the examples are small. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    assert_non_null(f);
    buf = malloc(65536);
    assert_non_null(buf);
    n = fread(buf, 1, 65535, f);
    assert_true(feof(f));
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void parse_file(const char *path, struct pitr_mf_set *set)
{
    struct pitr_err err = { 0 };
    size_t len;
    char *text = slurp(path, &len);

    assert_int_equal(pitr_manifest_parse(path, text, len, set, &err), PITR_OK);
    free(text);
}

static void pitr_manifest_parse__deb_examples_without_diagnostics(void **state)
{
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };
    const struct pitr_mf_cluster *c;

    (void)state;
    parse_file("tools/deb/examples/cluster.yaml", &set);
    parse_file("tools/deb/examples/s3-creds.yaml", &set);
    assert_int_equal(pitr_manifest_resolve(&set, &err), PITR_OK);
    for (size_t i = 0; i < set.n_diags; i++)
        print_message("unexpected diag %d: %s\n", set.diags[i].loc.line, set.diags[i].msg);
    assert_int_equal(set.n_diags, 0);
    assert_int_equal(set.n_clusters, 1);
    assert_int_equal(set.n_scheduled, 1);
    assert_int_equal(set.n_backups, 0);

    c = pitr_manifest_find_cluster(&set, "app-db", "main-cluster");
    assert_non_null(c);
    assert_true(c->has_store);
    assert_true(c->store.resolved);
    assert_string_equal(c->store.destination_path, "s3://my-bucket/postgres-backups");
    assert_string_equal(c->store.access_key_id, "AKIAEXAMPLE");
    assert_string_equal(c->store.secret_access_key, "change-me");
    assert_string_equal(c->target, "prefer-standby");
    assert_string_equal(c->retention_policy, "30d");
    assert_string_equal(set.scheduled[0].cluster, "main-cluster");
    pitr_manifest_set_release(&set);
}

static void pitr_cron_parse__deb_example_schedule_daily_at_midnight(void **state)
{
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };
    struct pitr_cron *cron = NULL;
    char *note = NULL;
    const int64_t t0 = 1796256000; /* 2026-12-03 00:00:00 UTC */

    (void)state;
    parse_file("tools/deb/examples/cluster.yaml", &set);
    assert_int_equal(set.n_scheduled, 1);
    assert_int_equal(pitr_cron_parse(set.scheduled[0].schedule, NULL, &cron, &note, &err), PITR_OK);
    /* Six fields: nothing to warn about (five would be read differently by CNPG). */
    assert_null(note);
    assert_int_equal(pitr_cron_next(cron, t0), t0 + 86400);
    assert_int_equal(pitr_cron_next(cron, t0 - 1), t0);
    pitr_cron_free(cron);
    pitr_manifest_set_release(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_manifest_parse__deb_examples_without_diagnostics),
        cmocka_unit_test(pitr_cron_parse__deb_example_schedule_daily_at_midnight),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
