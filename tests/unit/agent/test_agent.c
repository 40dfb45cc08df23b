/*
 * test_agent.c - unit tests for src/agent/agent.c's pitr_agent_cluster_config:
 * what a Cluster's barmanObjectStore means as pgpitr settings (repository,
 * server, credentials or the credential chain, compression, tags, the
 * endpointCA file), and the refusals (no store, an unresolved Secret).
 * The loop itself runs in tests/integration/test_agent.sh.
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
#include "pgpitr/agent/agent.h"
#include "pgpitr/agent/manifest.h"
#include "pgpitr/core/config.h"

static char *tags[] = { (char *)"team=db", (char *)"env=prod" };

static void base_cluster(struct pitr_mf_cluster *c)
{
    memset(c, 0, sizeof(*c));
    c->meta.name = (char *)"backed-up-pg";
    c->meta.namespace = (char *)"app-db";
    c->has_store = 1;
    c->store.destination_path = (char *)"s3://bucket/postgres-backups";
    c->store.endpoint_url = (char *)"https://s3.example:9000";
    c->store.access_key_id = (char *)"AKID";
    c->store.secret_access_key = (char *)"SECRET";
    c->store.resolved = 1;
}

static void agent_cluster_config__maps_store(void **state)
{
    struct pitr_mf_cluster c;
    struct pitr_config base, out;
    struct pitr_err err = { 0 };

    (void)state;
    pitr_config_init(&base);
    assert_int_equal(pitr_config_set(&base, "compression", "gzip", &err), PITR_OK);
    assert_int_equal(pitr_config_set(&base, "aws-access-key-id", "BASEKEY", &err), PITR_OK);
    base_cluster(&c);
    c.store.data_jobs = 3;
    c.store.tags = tags;
    c.store.n_tags = 2;
    assert_int_equal(pitr_agent_cluster_config(&base, &c, NULL, &out, &err), PITR_OK);
    assert_string_equal(out.repo, "s3://bucket/postgres-backups");
    assert_string_equal(out.server, "backed-up-pg");
    assert_string_equal(out.endpoint_url, "https://s3.example:9000");
    assert_string_equal(out.access_key, "AKID");
    assert_string_equal(out.secret_key, "SECRET");
    /* barman-cloud-backup compresses nothing unless data.compression says so */
    assert_string_equal(out.compression, "none");
    assert_int_equal(out.jobs, 3);
    assert_string_equal(out.tags, "team=db,env=prod");
    pitr_config_release(&out);
    c.store.server_name = (char *)"other";
    c.store.data_compression = (char *)"bzip2";
    assert_int_equal(pitr_agent_cluster_config(&base, &c, NULL, &out, &err), PITR_OK);
    assert_string_equal(out.server, "other");
    assert_string_equal(out.compression, "bzip2");
    pitr_config_release(&out);
    pitr_config_release(&base);
}

static void agent_cluster_config__iam_role_drops_keys(void **state)
{
    struct pitr_mf_cluster c;
    struct pitr_config base, out;
    struct pitr_err err = { 0 };

    (void)state;
    pitr_config_init(&base);
    assert_int_equal(pitr_config_set(&base, "aws-access-key-id", "BASEKEY", &err), PITR_OK);
    assert_int_equal(pitr_config_set(&base, "aws-secret-access-key", "BASESECRET", &err), PITR_OK);
    base_cluster(&c);
    c.store.access_key_id = NULL;
    c.store.secret_access_key = NULL;
    c.store.inherit_iam_role = 1;
    assert_int_equal(pitr_agent_cluster_config(&base, &c, NULL, &out, &err), PITR_OK);
    assert_null(out.access_key);
    assert_null(out.secret_key);
    pitr_config_release(&out);
    pitr_config_release(&base);
}

static void agent_cluster_config__writes_endpoint_ca(void **state)
{
    struct pitr_mf_cluster c;
    struct pitr_config base, out;
    struct pitr_err err = { 0 };
    char dir[] = "/tmp/pitr-agent-XXXXXX", path[64];
    struct stat sb;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/ca.pem", dir);
    pitr_config_init(&base);
    base_cluster(&c);
    c.store.endpoint_ca_pem = (char *)"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n";
    assert_int_equal(pitr_agent_cluster_config(&base, &c, path, &out, &err), PITR_OK);
    assert_string_equal(out.ca_file, path);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal((size_t)sb.st_size, strlen(c.store.endpoint_ca_pem));
    pitr_config_release(&out);
    pitr_config_release(&base);
    pitr_test_rm_rf(dir);
}

static void agent_cluster_config__refuses_missing_store_or_secret(void **state)
{
    struct pitr_mf_cluster c;
    struct pitr_config base, out;
    struct pitr_err err = { 0 };

    (void)state;
    pitr_config_init(&base);
    base_cluster(&c);
    c.store.resolved = 0;
    assert_int_equal(pitr_agent_cluster_config(&base, &c, NULL, &out, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "Secret"));
    assert_null(strstr(err.msg, "SECRET"));
    pitr_config_release(&out);
    base_cluster(&c);
    c.has_store = 0;
    assert_int_equal(pitr_agent_cluster_config(&base, &c, NULL, &out, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "barmanObjectStore"));
    pitr_config_release(&out);
    base_cluster(&c);
    c.store.destination_path = (char *)"ftp://nope";
    c.store.server_name = (char *)"a/b";
    assert_int_equal(pitr_agent_cluster_config(&base, &c, NULL, &out, &err), PITR_EUSAGE);
    pitr_config_release(&out);
    pitr_config_release(&base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(agent_cluster_config__maps_store),
        cmocka_unit_test(agent_cluster_config__iam_role_drops_keys),
        cmocka_unit_test(agent_cluster_config__writes_endpoint_ca),
        cmocka_unit_test(agent_cluster_config__refuses_missing_store_or_secret),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
