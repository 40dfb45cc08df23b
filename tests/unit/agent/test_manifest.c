/*
 * test_manifest.c - unit tests for src/agent/manifest.c: CloudNativePG
 * manifests (the seed's YAML in fixtures/manifests/), Secrets, the
 * diagnostics with their lines, wrong types, and hostile YAML.
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

/* The whole fixture file (free()). */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void parse_fixture(const char *path, struct pitr_mf_set *set)
{
    struct pitr_err err = { 0 };
    size_t len;
    char *text = slurp(path, &len);

    assert_int_equal(pitr_manifest_parse(path, text, len, set, &err), PITR_OK);
    free(text);
}

static pitr_rc parse_str(const char *name,
                         const char *text,
                         struct pitr_mf_set *set,
                         struct pitr_err *err)
{
    return pitr_manifest_parse(name, text, strlen(text), set, err);
}

/* The diagnostic whose message holds needle, or NULL. */
static const struct pitr_mf_diag *find_diag(const struct pitr_mf_set *set, const char *needle)
{
    for (size_t i = 0; i < set->n_diags; i++)
        if (strstr(set->diags[i].msg, needle) != NULL)
            return &set->diags[i];
    return NULL;
}

static void assert_diag(const struct pitr_mf_set *set,
                        const char *needle,
                        enum pitr_mf_severity sev,
                        int line)
{
    const struct pitr_mf_diag *d = find_diag(set, needle);

    if (d == NULL) {
        for (size_t i = 0; i < set->n_diags; i++)
            print_message("diag %d: %s\n", set->diags[i].loc.line, set->diags[i].msg);
        fail_msg("no diagnostic holding '%s'", needle);
        return;
    }
    assert_int_equal(d->severity, sev);
    assert_int_equal(d->loc.line, line);
}

static void pitr_manifest_parse__seed_manifests_as_written(void **state)
{
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };
    const struct pitr_mf_cluster *c;
    const struct pitr_mf_store *st;

    (void)state;
    parse_fixture("fixtures/manifests/seed.yaml", &set);
    parse_fixture("fixtures/manifests/seed-secret.yaml", &set);
    assert_int_equal(pitr_manifest_resolve(&set, &err), PITR_OK);
    for (size_t i = 0; i < set.n_diags; i++)
        print_message("unexpected diag %d: %s\n", set.diags[i].loc.line, set.diags[i].msg);
    assert_int_equal(set.n_diags, 0);
    assert_int_equal(set.n_clusters, 1);
    assert_int_equal(set.n_scheduled, 1);
    assert_int_equal(set.n_backups, 1);
    assert_int_equal(set.n_secrets, 1);

    c = pitr_manifest_find_cluster(&set, "app-db", "backed-up-pg");
    assert_non_null(c);
    assert_null(pitr_manifest_find_cluster(&set, "default", "backed-up-pg"));
    assert_string_equal(c->meta.loc.file, "fixtures/manifests/seed.yaml");
    assert_int_equal(c->meta.loc.line, 4);
    assert_int_equal(c->has_store, 1);
    st = &c->store;
    assert_string_equal(st->destination_path, "s3://pgpitr-seed/postgres-backups");
    assert_string_equal(st->endpoint_url, "http://127.0.0.1:18080");
    assert_null(st->server_name);
    assert_null(st->endpoint_ca_pem);
    assert_int_equal(st->inherit_iam_role, 0);
    assert_string_equal(st->access_key_id, "test:tester");
    assert_string_equal(st->secret_access_key, "testing");
    assert_null(st->session_token);
    assert_null(st->region);
    assert_string_equal(st->wal_compression, "gzip");
    assert_string_equal(st->data_compression, "gzip");
    assert_null(st->wal_encryption);
    assert_int_equal(st->wal_max_parallel, 0);
    assert_int_equal(st->data_jobs, 0);
    assert_int_equal(st->n_tags, 0);
    assert_int_equal(st->resolved, 1);
    assert_string_equal(c->retention_policy, "30d");
    assert_null(c->target);

    assert_string_equal(set.scheduled[0].meta.name, "daily-backup");
    assert_string_equal(set.scheduled[0].meta.namespace, "app-db");
    assert_string_equal(set.scheduled[0].schedule, "0 0 * * *");
    assert_int_equal(set.scheduled[0].schedule_loc.line, 37);
    assert_string_equal(set.scheduled[0].cluster, "backed-up-pg");
    assert_string_equal(set.scheduled[0].owner_reference, "self");
    assert_string_equal(set.scheduled[0].method, "barmanObjectStore");
    assert_int_equal(set.scheduled[0].immediate, 1);
    assert_int_equal(set.scheduled[0].suspend, 0);
    assert_null(set.scheduled[0].target);

    assert_string_equal(set.backups[0].meta.name, "manual-backup");
    assert_string_equal(set.backups[0].cluster, "backed-up-pg");
    assert_string_equal(set.backups[0].method, "barmanObjectStore");
    assert_int_equal(set.backups[0].meta.loc.line, 43);
    pitr_manifest_set_release(&set);
}

static void pitr_manifest_parse__seed_clusters_without_backup_are_silent(void **state)
{
    struct pitr_mf_set set = { 0 };

    (void)state;
    parse_fixture("fixtures/manifests/seed-clusters.yaml", &set);
    assert_int_equal(set.n_diags, 0);
    assert_int_equal(set.n_clusters, 4);
    for (size_t i = 0; i < set.n_clusters; i++)
        assert_int_equal(set.clusters[i].has_store, 0);
    assert_string_equal(set.clusters[3].meta.name, "restored-pg");
    pitr_manifest_set_release(&set);
}

static const char every_field[] =
  "apiVersion: postgresql.cnpg.io/v1\n"
  "kind: Cluster\n"
  "metadata:\n"
  "  name: full\n"
  "  uid: 1234-abcd\n"
  "spec:\n"
  "  backup:\n"
  "    target: primary\n"
  "    retentionPolicy: 4w\n"
  "    barmanObjectStore:\n"
  "      destinationPath: s3://b/p\n"
  "      serverName: pg-one\n"
  "      endpointCA: {name: ca, key: ca.crt}\n"
  "      s3Credentials:\n"
  "        accessKeyId: {name: k, key: id}\n"
  "        secretAccessKey: {name: k, key: secret}\n"
  "        sessionToken: {name: k, key: token}\n"
  "        region: {name: k, key: region}\n"
  "      wal: {compression: zstd, encryption: AES256, maxParallel: 8}\n"
  "      data:\n"
  "        compression: snappy\n"
  "        encryption: aws:kms\n"
  "        jobs: 4\n"
  "        immediateCheckpoint: true\n"
  "      tags: {env: prod, team: db}\n"
  "      historyTags: {kind: history}\n"
  "---\n"
  "apiVersion: v1\n"
  "kind: Secret\n"
  "metadata: {name: k}\n"
  "stringData: {id: AKID, secret: SECRETVALUE, token: TOK, region: "
  "eu-west-1}\n"
  "---\n"
  "apiVersion: v1\n"
  "kind: Secret\n"
  "metadata: {name: ca}\n"
  "stringData:\n"
  "  ca.crt: |\n"
  "    -----BEGIN CERTIFICATE-----\n"
  "    MIIB\n"
  "    -----END CERTIFICATE-----\n";

static void pitr_manifest_parse__every_mapped_field(void **state)
{
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };
    const struct pitr_mf_store *st;

    (void)state;
    assert_int_equal(parse_str("full.yaml", every_field, &set, &err), PITR_OK);
    assert_int_equal(pitr_manifest_resolve(&set, &err), PITR_OK);
    assert_int_equal(set.n_diags, 0);
    assert_int_equal(set.n_clusters, 1);
    st = &set.clusters[0].store;
    assert_string_equal(set.clusters[0].meta.namespace, "default");
    assert_string_equal(set.clusters[0].meta.uid, "1234-abcd");
    assert_string_equal(set.clusters[0].target, "primary");
    assert_string_equal(set.clusters[0].retention_policy, "4w");
    assert_string_equal(st->server_name, "pg-one");
    assert_string_equal(st->endpoint_ca_pem,
                        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    assert_string_equal(st->access_key_id, "AKID");
    assert_string_equal(st->secret_access_key, "SECRETVALUE");
    assert_string_equal(st->session_token, "TOK");
    assert_string_equal(st->region, "eu-west-1");
    assert_string_equal(st->wal_compression, "zstd");
    assert_string_equal(st->wal_encryption, "AES256");
    assert_int_equal(st->wal_max_parallel, 8);
    assert_string_equal(st->data_compression, "snappy");
    assert_string_equal(st->data_encryption, "aws:kms");
    assert_int_equal(st->data_jobs, 4);
    assert_int_equal(st->data_immediate_checkpoint, 1);
    assert_int_equal(st->n_tags, 2);
    assert_string_equal(st->tags[0], "env=prod");
    assert_string_equal(st->tags[1], "team=db");
    assert_int_equal(st->n_history_tags, 1);
    assert_string_equal(st->history_tags[0], "kind=history");
    assert_int_equal(st->resolved, 1);
    pitr_manifest_set_release(&set);
}

static void pitr_manifest_parse__secret_data_base64_and_string_data(void **state)
{
    static const char text[] = "apiVersion: v1\n"
                               "kind: Secret\n"
                               "metadata: {name: s, namespace: ns1}\n"
                               "data:\n"
                               "  a: aGVsbG8=\n" /* hello */
                               "  b: d29ybGQ=\n" /* world */
                               "  c: \"\"\n"
                               "stringData:\n"
                               "  b: override\n";
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };
    const struct pitr_mf_secret *s;

    (void)state;
    assert_int_equal(parse_str("s.yaml", text, &set, &err), PITR_OK);
    assert_int_equal(set.n_diags, 0);
    assert_int_equal(set.n_secrets, 1);
    s = &set.secrets[0];
    assert_string_equal(s->meta.namespace, "ns1");
    assert_int_equal(s->n, 3);
    assert_string_equal(s->keys[0], "a");
    assert_string_equal(s->values[0], "hello");
    assert_int_equal(s->value_lens[0], 5);
    assert_string_equal(s->keys[1], "b");
    assert_string_equal(s->values[1], "override");
    assert_int_equal(s->value_lens[2], 0);
    pitr_manifest_set_release(&set);
}

static void pitr_manifest_parse__secret_bad_base64_rejected_value_not_shown(void **state)
{
    static const char text[] = "apiVersion: v1\n"
                               "kind: Secret\n"
                               "metadata: {name: s}\n"
                               "data:\n"
                               "  key: c2VjcmV0LXZhbHVl!\n";
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(parse_str("s.yaml", text, &set, &err), PITR_OK);
    assert_int_equal(set.n_secrets, 0);
    assert_diag(&set, "'data.key' is not valid base64", PITR_MF_ERROR, 5);
    for (size_t i = 0; i < set.n_diags; i++)
        assert_null(strstr(set.diags[i].msg, "c2VjcmV0"));
    pitr_manifest_set_release(&set);
}

static void pitr_manifest_resolve__missing_secret_or_key(void **state)
{
    static const char secret[] = "apiVersion: v1\n"
                                 "kind: Secret\n"
                                 "metadata: {name: s3-creds, namespace: app-db}\n"
                                 "stringData: {ACCESS_KEY_ID: only-the-id}\n";
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };

    (void)state;
    /* No Secret at all. */
    parse_fixture("fixtures/manifests/seed.yaml", &set);
    assert_int_equal(pitr_manifest_resolve(&set, &err), PITR_OK);
    assert_int_equal(set.clusters[0].store.resolved, 0);
    assert_null(set.clusters[0].store.access_key_id);
    assert_diag(
      &set, "Secret 'app-db/s3-creds' (s3Credentials.accessKeyId) not found", PITR_MF_ERROR, 19);
    assert_diag(&set,
                "Secret 'app-db/s3-creds' (s3Credentials.secretAccessKey) not found",
                PITR_MF_ERROR,
                22);
    pitr_manifest_set_release(&set);

    /* The Secret without the secret key. */
    parse_fixture("fixtures/manifests/seed.yaml", &set);
    assert_int_equal(parse_str("sec.yaml", secret, &set, &err), PITR_OK);
    assert_int_equal(pitr_manifest_resolve(&set, &err), PITR_OK);
    assert_int_equal(set.clusters[0].store.resolved, 0);
    assert_null(set.clusters[0].store.access_key_id);
    assert_diag(&set, "has no key 'ACCESS_SECRET_KEY'", PITR_MF_ERROR, 22);
    for (size_t i = 0; i < set.n_diags; i++)
        assert_null(strstr(set.diags[i].msg, "only-the-id"));
    pitr_manifest_set_release(&set);
}

static const char unsupported_text[] = "apiVersion: postgresql.cnpg.io/v1\n"        /* 1 */
                                       "kind: Cluster\n"                            /* 2 */
                                       "metadata: {name: c1}\n"                     /* 3 */
                                       "spec:\n"                                    /* 4 */
                                       "  backup:\n"                                /* 5 */
                                       "    volumeSnapshot:\n"                      /* 6 */
                                       "      className: csi\n"                     /* 7 */
                                       "    barmanObjectStore:\n"                   /* 8 */
                                       "      destinationPath: s3://b/p\n"          /* 9 */
                                       "      azureCredentials:\n"                  /* 10 */
                                       "        inheritFromAzureAD: true\n"         /* 11 */
                                       "      data:\n"                              /* 12 */
                                       "        additionalCommandArgs: [--x]\n"     /* 13 */
                                       "      wal:\n"                               /* 14 */
                                       "        archiveAdditionalCommandArgs: []\n" /* 15 */
                                       "      bogus: 1\n"                           /* 16 */
                                       "---\n"                                      /* 17 */
                                       "apiVersion: postgresql.cnpg.io/v1\n"        /* 18 */
                                       "kind: Backup\n"                             /* 19 */
                                       "metadata: {name: snap}\n"                   /* 20 */
                                       "spec:\n"                                    /* 21 */
                                       "  cluster: {name: c1}\n"                    /* 22 */
                                       "  method: volumeSnapshot\n"                 /* 23 */
                                       "---\n"                                      /* 24 */
                                       "apiVersion: postgresql.cnpg.io/v1\n"        /* 25 */
                                       "kind: Backup\n"                             /* 26 */
                                       "metadata: {name: offline}\n"                /* 27 */
                                       "spec:\n"                                    /* 28 */
                                       "  cluster: {name: c1}\n"                    /* 29 */
                                       "  online: false\n"                          /* 30 */
                                       "---\n"                                      /* 31 */
                                       "apiVersion: postgresql.cnpg.io/v1\n"        /* 32 */
                                       "kind: ScheduledBackup\n"                    /* 33 */
                                       "metadata: {name: sb}\n"                     /* 34 */
                                       "spec:\n"                                    /* 35 */
                                       "  schedule: '@daily'\n"                     /* 36 */
                                       "  cluster: {name: c1}\n"                    /* 37 */
                                       "  pluginConfiguration: {name: x}\n"         /* 38 */
                                       "  method: plugin\n";                        /* 39 */

static void pitr_manifest_parse__s3_credential_rules(void **state)
{
    static const char text[] =
      "apiVersion: postgresql.cnpg.io/v1\n"                         /* 1 */
      "kind: Cluster\n"                                             /* 2 */
      "metadata: {name: iam}\n"                                     /* 3 */
      "spec:\n"                                                     /* 4 */
      "  backup:\n"                                                 /* 5 */
      "    barmanObjectStore:\n"                                    /* 6 */
      "      destinationPath: s3://b/p\n"                           /* 7 */
      "      s3Credentials:\n"                                      /* 8 */
      "        inheritFromIAMRole: true\n"                          /* 9 */
      "        region: {name: r, key: region}\n"                    /* 10 */
      "---\n"                                                       /* 11 */
      "apiVersion: postgresql.cnpg.io/v1\n"                         /* 12 */
      "kind: Cluster\n"                                             /* 13 */
      "metadata: {name: both}\n"                                    /* 14 */
      "spec:\n"                                                     /* 15 */
      "  backup:\n"                                                 /* 16 */
      "    barmanObjectStore:\n"                                    /* 17 */
      "      destinationPath: s3://b/p\n"                           /* 18 */
      "      s3Credentials:\n"                                      /* 19 */
      "        inheritFromIAMRole: true\n"                          /* 20 */
      "        accessKeyId: {name: k, key: id}\n"                   /* 21 */
      "---\n"                                                       /* 22 */
      "apiVersion: postgresql.cnpg.io/v1\n"                         /* 23 */
      "kind: Cluster\n"                                             /* 24 */
      "metadata: {name: half}\n"                                    /* 25 */
      "spec:\n"                                                     /* 26 */
      "  backup:\n"                                                 /* 27 */
      "    barmanObjectStore:\n"                                    /* 28 */
      "      destinationPath: s3://b/p\n"                           /* 29 */
      "      s3Credentials:\n"                                      /* 30 */
      "        accessKeyId: {name: k, key: id}\n"                   /* 31 */
      "---\n"                                                       /* 32 */
      "apiVersion: postgresql.cnpg.io/v1\n"                         /* 33 */
      "kind: Cluster\n"                                             /* 34 */
      "metadata: {name: azure}\n"                                   /* 35 */
      "spec:\n"                                                     /* 36 */
      "  backup:\n"                                                 /* 37 */
      "    barmanObjectStore:\n"                                    /* 38 */
      "      destinationPath: https://a.blob.core.windows.net/c\n"; /* 39 */
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };
    const struct pitr_mf_cluster *c;

    (void)state;
    assert_int_equal(parse_str("c.yaml", text, &set, &err), PITR_OK);
    assert_int_equal(pitr_manifest_resolve(&set, &err), PITR_OK);
    /* The credential chain: region is ignored as CNPG does, nothing to resolve. */
    assert_diag(
      &set, "region and sessionToken are ignored with inheritFromIAMRole", PITR_MF_WARNING, 8);
    c = pitr_manifest_find_cluster(&set, "default", "iam");
    assert_non_null(c);
    assert_int_equal(c->store.inherit_iam_role, 1);
    assert_null(c->store.region_ref.name);
    assert_int_equal(c->store.resolved, 1);
    assert_diag(&set,
                "inheritFromIAMRole and accessKeyId/secretAccessKey exclude each other",
                PITR_MF_ERROR,
                19);
    assert_null(pitr_manifest_find_cluster(&set, "default", "both"));
    assert_diag(&set, "accessKeyId and secretAccessKey go together", PITR_MF_ERROR, 30);
    assert_null(pitr_manifest_find_cluster(&set, "default", "half"));
    assert_diag(&set, "pgpitr writes to s3:// and file:// only", PITR_MF_ERROR, 39);
    c = pitr_manifest_find_cluster(&set, "default", "azure");
    assert_non_null(c);
    assert_int_equal(c->store.unsupported, 1);
    assert_int_equal(c->store.resolved, 0);
    pitr_manifest_set_release(&set);
}

static void pitr_manifest_parse__unsupported_fields_reported_with_lines(void **state)
{
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(parse_str("u.yaml", unsupported_text, &set, &err), PITR_OK);
    assert_int_equal(pitr_manifest_resolve(&set, &err), PITR_OK);
    assert_diag(&set, "'spec.backup.volumeSnapshot' is not supported", PITR_MF_WARNING, 6);
    assert_diag(&set, "barmanObjectStore.azureCredentials' is not supported", PITR_MF_ERROR, 10);
    assert_diag(&set, "data.additionalCommandArgs' is not supported", PITR_MF_WARNING, 13);
    assert_diag(&set, "wal.archiveAdditionalCommandArgs' is not supported", PITR_MF_WARNING, 15);
    assert_diag(&set, "unknown field 'spec.backup.barmanObjectStore.bogus'", PITR_MF_WARNING, 16);
    assert_diag(&set, "Backup 'default/snap': method 'volumeSnapshot'", PITR_MF_ERROR, 23);
    assert_diag(&set, "Backup 'default/offline': 'spec.online'", PITR_MF_ERROR, 30);
    assert_diag(&set, "'spec.pluginConfiguration' is not supported", PITR_MF_WARNING, 38);
    assert_diag(&set, "ScheduledBackup 'default/sb': method 'plugin'", PITR_MF_ERROR, 39);
    /* Each reported once. */
    for (size_t i = 0; i < set.n_diags; i++)
        for (size_t j = i + 1; j < set.n_diags; j++)
            assert_false(set.diags[i].loc.line == set.diags[j].loc.line &&
                         strcmp(set.diags[i].msg, set.diags[j].msg) == 0);
    /* The Cluster stays but can never be resolved; the Backups are left out. */
    assert_int_equal(set.n_clusters, 1);
    assert_int_equal(set.clusters[0].store.unsupported, 1);
    assert_int_equal(set.clusters[0].store.resolved, 0);
    assert_int_equal(set.n_backups, 0);
    assert_int_equal(set.n_scheduled, 0);
    pitr_manifest_set_release(&set);
}

static void pitr_manifest_parse__wrong_types_rejected_with_lines(void **state)
{
    static const char text[] = "apiVersion: postgresql.cnpg.io/v1\n" /* 1 */
                               "kind: ScheduledBackup\n"             /* 2 */
                               "metadata: {name: sb}\n"              /* 3 */
                               "spec:\n"                             /* 4 */
                               "  schedule: '0 0 0 * * *'\n"         /* 5 */
                               "  cluster: {name: c}\n"              /* 6 */
                               "  immediate: \"true\"\n"             /* 7 */
                               "---\n"                               /* 8 */
                               "apiVersion: postgresql.cnpg.io/v1\n" /* 9 */
                               "kind: Cluster\n"                     /* 10 */
                               "metadata: {name: c}\n"               /* 11 */
                               "spec:\n"                             /* 12 */
                               "  backup:\n"                         /* 13 */
                               "    barmanObjectStore:\n"            /* 14 */
                               "      destinationPath: 5\n"          /* 15 */
                               "      data: {jobs: \"4\"}\n"         /* 16 */
                               "      s3Credentials:\n"              /* 17 */
                               "        accessKeyId: AKIAPLAIN\n"    /* 18 */
                               "        secretAccessKey: [a]\n"      /* 19 */
                               "    retentionPolicy: 30 days\n"      /* 20 */
                               "---\n"                               /* 21 */
                               "apiVersion: postgresql.cnpg.io/v1\n" /* 22 */
                               "kind: Backup\n"                      /* 23 */
                               "metadata: {name: b}\n"               /* 24 */
                               "spec:\n"                             /* 25 */
                               "  cluster: c\n"                      /* 26 */
                               "  target: standby\n";                /* 27 */
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(parse_str("t.yaml", text, &set, &err), PITR_OK);
    assert_diag(
      &set, "'spec.immediate' must be a boolean (true or false), not a string", PITR_MF_ERROR, 7);
    assert_diag(&set, "destinationPath' must be a string, not a number", PITR_MF_ERROR, 15);
    assert_diag(&set,
                "'spec.backup.barmanObjectStore.data.jobs' must be an integer, not a string",
                PITR_MF_ERROR,
                16);
    assert_diag(
      &set, "s3Credentials.accessKeyId' must be a mapping, not a string", PITR_MF_ERROR, 18);
    assert_diag(
      &set, "s3Credentials.secretAccessKey' must be a mapping, not a list", PITR_MF_ERROR, 19);
    assert_diag(&set, "'spec.backup.retentionPolicy' is '30 days'", PITR_MF_ERROR, 20);
    assert_diag(&set, "'spec.cluster' must be a mapping, not a string", PITR_MF_ERROR, 26);
    assert_diag(&set,
                "'spec.target' is 'standby'; it must be one of primary, prefer-standby",
                PITR_MF_ERROR,
                27);
    /* What the API server would refuse is left out. */
    assert_int_equal(set.n_scheduled, 0);
    assert_int_equal(set.n_clusters, 0);
    assert_int_equal(set.n_backups, 0);
    for (size_t i = 0; i < set.n_diags; i++)
        assert_null(strstr(set.diags[i].msg, "AKIAPLAIN"));
    pitr_manifest_set_release(&set);
}

static void pitr_manifest_parse__repeated_key_or_too_many_fields_rejected(void **state)
{
    static const char text[] = "apiVersion: postgresql.cnpg.io/v1\n"       /* 1 */
                               "kind: Cluster\n"                           /* 2 */
                               "metadata: {name: c}\n"                     /* 3 */
                               "spec:\n"                                   /* 4 */
                               "  backup:\n"                               /* 5 */
                               "    barmanObjectStore:\n"                  /* 6 */
                               "      destinationPath: s3://b/p\n"         /* 7 */
                               "      s3Credentials:\n"                    /* 8 */
                               "        inheritFromIAMRole: true\n"        /* 9 */
                               "        accessKeyId: {name: a, key: b}\n"  /* 10 */
                               "        accessKeyId: {name: a, key: b}\n"; /* 11 */
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };
    char *many = pitr_malloc(64 * 1024);
    size_t used = 0;

    (void)state;
    assert_int_equal(parse_str("dup.yaml", text, &set, &err), PITR_OK);
    assert_diag(&set, "s3Credentials': key 'accessKeyId' appears twice", PITR_MF_ERROR, 11);
    assert_int_equal(set.n_clusters, 0);
    pitr_manifest_set_release(&set);

    used += (size_t)snprintf(many,
                             64 * 1024,
                             "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
                             "stringData:\n");
    for (int i = 0; i < 300; i++)
        used += (size_t)snprintf(many + used, 64 * 1024 - used, "  k%d: v\n", i);
    assert_int_equal(parse_str("many.yaml", many, &set, &err), PITR_OK);
    assert_diag(&set, "'stringData' has more than 256 fields", PITR_MF_ERROR, 5);
    assert_int_equal(set.n_secrets, 0);
    pitr_manifest_set_release(&set);
    pitr_free(many);
}

static void pitr_manifest_parse__multi_document_and_empty_documents(void **state)
{
    static const char text[] = "---\n"
                               "# nothing\n"
                               "---\n"
                               "apiVersion: postgresql.cnpg.io/v1\n"
                               "kind: Backup\n"
                               "metadata: {name: one}\n"
                               "spec: {cluster: {name: c}}\n"
                               "...\n"
                               "---\n"
                               "apiVersion: postgresql.cnpg.io/v1\n"
                               "kind: Backup\n"
                               "metadata: {name: two, namespace: other}\n"
                               "spec: {cluster: {name: c}, target: prefer-standby}\n"
                               "---\n";
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(parse_str("m.yaml", text, &set, &err), PITR_OK);
    assert_int_equal(set.n_diags, 0);
    assert_int_equal(set.n_backups, 2);
    assert_string_equal(set.backups[0].meta.name, "one");
    assert_int_equal(set.backups[0].meta.loc.line, 4);
    assert_string_equal(set.backups[1].meta.namespace, "other");
    assert_string_equal(set.backups[1].target, "prefer-standby");
    assert_int_equal(set.backups[1].meta.loc.line, 10);
    pitr_manifest_set_release(&set);
}

static void pitr_manifest_parse__unknown_kind_or_api_version(void **state)
{
    static const char text[] = "apiVersion: v1\n"
                               "kind: ConfigMap\n"
                               "metadata: {name: x}\n"
                               "---\n"
                               "apiVersion: postgresql.cnpg.io/v2\n"
                               "kind: Cluster\n"
                               "metadata: {name: x}\n"
                               "---\n"
                               "apiVersion: v1\n"
                               "metadata: {name: x}\n"
                               "---\n"
                               "- a list\n"
                               "---\n"
                               "apiVersion: postgresql.cnpg.io/v1\n"
                               "kind: Cluster\n"
                               "metadata: {name: ../etc}\n";
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(parse_str("k.yaml", text, &set, &err), PITR_OK);
    assert_diag(&set, "kind 'ConfigMap' of apiVersion 'v1' is not read", PITR_MF_WARNING, 1);
    assert_diag(
      &set, "kind 'Cluster' of apiVersion 'postgresql.cnpg.io/v2' is not read", PITR_MF_WARNING, 5);
    assert_diag(&set, "without apiVersion or kind", PITR_MF_ERROR, 9);
    assert_diag(&set, "a document must be a mapping", PITR_MF_ERROR, 12);
    assert_diag(&set, "not a valid Kubernetes name", PITR_MF_ERROR, 16);
    assert_int_equal(set.n_clusters, 0);
    pitr_manifest_set_release(&set);
}

static void pitr_manifest_parse__malformed_yaml_is_eformat_with_line(void **state)
{
    static const char bad[] = "apiVersion: postgresql.cnpg.io/v1\n"
                              "kind: Backup\n"
                              "metadata: {name: x\n"
                              "spec: {}\n";
    static const char bad2[] = "apiVersion: v1\n"
                               "kind: Secret\n"
                               "  data: x\n"
                               " - y\n";
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };

    (void)state;
    parse_fixture("fixtures/manifests/seed.yaml", &set);
    assert_int_equal(parse_str("bad.yaml", bad, &set, &err), PITR_EFORMAT);
    assert_true(strncmp(err.msg, "bad.yaml:4: ", 12) == 0);
    assert_int_equal(parse_str("bad2.yaml", bad2, &set, &err), PITR_EFORMAT);
    assert_true(strncmp(err.msg, "bad2.yaml:3: ", 13) == 0);
    /* Nothing added, nothing lost. */
    assert_int_equal(set.n_clusters, 1);
    assert_int_equal(set.n_scheduled, 1);
    assert_int_equal(set.n_backups, 1);
    assert_int_equal(set.n_diags, 0);
    pitr_manifest_set_release(&set);
}

/* ---- hostile input -------------------------------------------------------- */

static void pitr_manifest_parse__file_over_the_size_limit(void **state)
{
    size_t n = PITR_MF_MAX_FILE_BYTES + 1;
    char *text = pitr_malloc(n);
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };

    (void)state;
    memset(text, '#', n);
    assert_int_equal(pitr_manifest_parse("huge.yaml", text, n, &set, &err), PITR_ELIMIT);
    assert_non_null(strstr(err.msg, "huge.yaml:1: the file is larger than"));
    assert_int_equal(set.n_diags, 0);
    pitr_free(text);
}

static void pitr_manifest_parse__deep_nesting_refused(void **state)
{
    char text[4096];
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };
    size_t i;

    (void)state;
    /* 2000 "[" on line 2, then the matching "]". */
    memcpy(text, "a:\n  ", 5);
    for (i = 0; i < 2000; i++)
        text[5 + i] = '[';
    text[5 + i] = '\0';
    assert_int_equal(parse_str("deep.yaml", text, &set, &err), PITR_ELIMIT);
    assert_non_null(strstr(err.msg, "deep.yaml:2: YAML nested deeper than 32 levels"));
    /* Block style too. */
    {
        char *b = pitr_malloc(200000);
        size_t used = 0;

        for (i = 0; i < 100; i++)
            used += (size_t)snprintf(b + used, 200000 - used, "%*sk%zu:\n", (int)(2 * i), "", i);
        assert_int_equal(parse_str("deep2.yaml", b, &set, &err), PITR_ELIMIT);
        assert_non_null(strstr(err.msg, "deep2.yaml:"));
        pitr_free(b);
    }
    assert_int_equal(set.n_clusters + set.n_diags, 0);
}

static void pitr_manifest_parse__alias_bomb_refused(void **state)
{
    static const char lol[] =
      "apiVersion: v1\n"
      "kind: Secret\n"
      "metadata: {name: lol}\n"
      "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
      "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
      "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
      "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
      "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
      "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
      "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
      "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
      "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    static const char one_alias[] = "apiVersion: v1\n"
                                    "kind: Secret\n"
                                    "metadata: &m {name: x}\n"
                                    "stringData: *m\n";
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(parse_str("lol.yaml", lol, &set, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "lol.yaml:5: YAML aliases (*name) are not supported"));
    assert_int_equal(parse_str("one.yaml", one_alias, &set, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "one.yaml:4:"));
    assert_int_equal(set.n_secrets + set.n_diags, 0);
}

static void pitr_manifest_parse__long_value_refused(void **state)
{
    size_t n = PITR_MF_MAX_SCALAR + 100;
    char *text = pitr_malloc(n + 64);
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };

    (void)state;
    memcpy(text, "kind: Secret\nk: ", 16);
    memset(text + 16, 'x', n);
    text[16 + n] = '\0';
    assert_int_equal(parse_str("long.yaml", text, &set, &err), PITR_ELIMIT);
    assert_non_null(strstr(err.msg, "long.yaml:2: a value longer than"));
    pitr_free(text);
}

static void pitr_manifest_parse__too_many_nodes_or_documents(void **state)
{
    size_t cap = PITR_MF_MAX_FILE_BYTES;
    char *text = pitr_malloc(cap + 1);
    size_t used = 0;
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };

    (void)state;
    used += (size_t)snprintf(text, cap, "a: [");
    for (int i = 0; i < PITR_MF_MAX_NODES + 10 && used + 3 < cap; i++) {
        text[used++] = '1';
        text[used++] = ',';
    }
    text[used++] = '1';
    text[used++] = ']';
    text[used] = '\0';
    assert_int_equal(parse_str("nodes.yaml", text, &set, &err), PITR_ELIMIT);
    assert_non_null(strstr(err.msg, "YAML nodes in the file"));

    used = 0;
    for (int i = 0; i < PITR_MF_MAX_DOCS + 5; i++)
        used += (size_t)snprintf(text + used, cap - used, "--- {}\n");
    assert_int_equal(parse_str("docs.yaml", text, &set, &err), PITR_ELIMIT);
    assert_non_null(strstr(err.msg, "docs.yaml:1001: more than 1000 documents"));
    assert_int_equal(set.n_diags, 0);
    pitr_free(text);
}

static void pitr_manifest_parse__non_utf8_and_binary_refused(void **state)
{
    static const char latin1[] = "apiVersion: v1\nkind: Secret\nmetadata: {name: caf\xe9}\n";
    static const unsigned char binary[] = { 0x7f, 'E', 'L', 'F',  2,    1,    1,
                                            0,    0,   0,   0xff, 0xfe, 0x00, 0x01 };
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(parse_str("latin1.yaml", latin1, &set, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "latin1.yaml:3: "));
    assert_non_null(strstr(err.msg, "UTF-8"));
    assert_int_equal(
      pitr_manifest_parse("bin.yaml", (const char *)binary, sizeof(binary), &set, &err),
      PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "bin.yaml:1: "));
    /* A NUL inside a quoted value reaches no C string. */
    assert_int_equal(parse_str("nul.yaml",
                               "apiVersion: postgresql.cnpg.io/v1\nkind: Backup\n"
                               "metadata: {name: \"a\\0b\"}\nspec: {cluster: {name: c}}\n",
                               &set,
                               &err),
                     PITR_OK);
    assert_int_equal(set.n_backups, 0);
    assert_diag(&set, "'metadata.name' holds a NUL character", PITR_MF_ERROR, 3);
    pitr_manifest_set_release(&set);
}

static const char recovery_yaml[] =
  "apiVersion: postgresql.cnpg.io/v1\n"                 /* 1 */
  "kind: Cluster\n"                                     /* 2 */
  "metadata: {name: restored-pg, namespace: app-db}\n"  /* 3 */
  "spec:\n"                                             /* 4 */
  "  bootstrap:\n"                                      /* 5 */
  "    recovery:\n"                                     /* 6 */
  "      source: backed-up-pg\n"                        /* 7 */
  "      database: app\n"                               /* 8 */
  "      recoveryTarget:\n"                             /* 9 */
  "        targetTime: \"2024-01-15T10:30:00+02:00\"\n" /* 10 */
  "        targetTLI: latest\n"                         /* 11 */
  "        exclusive: true\n"                           /* 12 */
  "  externalClusters:\n"                               /* 13 */
  "    - name: other\n"                                 /* 14 */
  "      connectionParameters: {host: x}\n"             /* 15 */
  "    - name: backed-up-pg\n"                          /* 16 */
  "      barmanObjectStore:\n"                          /* 17 */
  "        destinationPath: s3://my-bucket/postgres-backups\n"
  "        endpointURL: http://127.0.0.1:1\n"
  "        serverName: src\n"
  "        s3Credentials:\n"
  "          accessKeyId: {name: s3-creds, key: ACCESS_KEY_ID}\n"
  "          secretAccessKey: {name: s3-creds, key: ACCESS_SECRET_KEY}\n"
  "---\n"
  "apiVersion: v1\n"
  "kind: Secret\n"
  "metadata: {name: s3-creds, namespace: app-db}\n"
  "stringData: {ACCESS_KEY_ID: AK, ACCESS_SECRET_KEY: SK}\n";

static void pitr_manifest_parse__bootstrap_recovery_and_external_clusters(void **state)
{
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };
    const struct pitr_mf_cluster *c;
    const struct pitr_mf_external *x;

    (void)state;
    assert_int_equal(parse_str("r.yaml", recovery_yaml, &set, &err), PITR_OK);
    assert_int_equal(pitr_manifest_resolve(&set, &err), PITR_OK);
    c = pitr_manifest_find_cluster(&set, "app-db", "restored-pg");
    assert_non_null(c);
    assert_int_equal(c->has_store, 0);
    assert_int_equal(c->has_recovery, 1);
    assert_int_equal(c->recovery.unsupported, 0);
    assert_int_equal(c->recovery.loc.line, 7);
    assert_string_equal(c->recovery.source, "backed-up-pg");
    assert_int_equal(c->recovery.has_target, 1);
    assert_string_equal(c->recovery.target.target_time, "2024-01-15T10:30:00+02:00");
    assert_string_equal(c->recovery.target.target_tli, "latest");
    assert_int_equal(c->recovery.target.exclusive, 1);
    assert_null(c->recovery.target.backup_id);
    assert_int_equal(c->n_externals, 2);
    assert_int_equal(pitr_manifest_find_external(c, "other")->has_store, 0);
    x = pitr_manifest_find_external(c, "backed-up-pg");
    assert_non_null(x);
    assert_int_equal(x->has_store, 1);
    assert_int_equal(x->loc.line, 16);
    assert_string_equal(x->store.destination_path, "s3://my-bucket/postgres-backups");
    assert_string_equal(x->store.server_name, "src");
    assert_int_equal(x->store.resolved, 1);
    assert_string_equal(x->store.access_key_id, "AK");
    assert_string_equal(x->store.secret_access_key, "SK");
    assert_null(pitr_manifest_find_external(c, "nope"));
    /* the fields pgpitr does not use are warnings with their lines */
    assert_diag(&set, "spec.bootstrap.recovery.database", PITR_MF_WARNING, 8);
    assert_diag(&set, "spec.externalClusters[0].connectionParameters", PITR_MF_WARNING, 15);
    pitr_manifest_set_release(&set);
}

/* One Cluster with a recovery block body; the Cluster must be left out. */
static void assert_recovery_rejected(const char *body, const char *needle, int line)
{
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };
    char *text = pitr_asprintf("apiVersion: postgresql.cnpg.io/v1\n" /* 1 */
                               "kind: Cluster\n"                     /* 2 */
                               "metadata: {name: r}\n"               /* 3 */
                               "spec:\n"                             /* 4 */
                               "  bootstrap:\n"                      /* 5 */
                               "    recovery:\n"                     /* 6 */
                               "%s"                                  /* 7.. */
                               "  externalClusters:\n"
                               "    - name: src\n"
                               "      barmanObjectStore: {destinationPath: 's3://b/p'}\n"
                               "    - name: nostore\n",
                               body);

    assert_int_equal(parse_str("bad.yaml", text, &set, &err), PITR_OK);
    assert_int_equal(set.n_clusters, 0);
    assert_diag(&set, needle, PITR_MF_ERROR, line);
    assert_non_null(find_diag(&set, "document ignored"));
    assert_string_equal(set.diags[0].loc.file, "bad.yaml");
    pitr_free(text);
    pitr_manifest_set_release(&set);
}

static void pitr_manifest_parse__recovery_rules_as_the_webhook(void **state)
{
    (void)state;
    assert_recovery_rejected(
      "      source: missing\n", "names no entry of spec.externalClusters", 7);
    assert_recovery_rejected("      source: nostore\n", "has no barmanObjectStore", 11);
    assert_recovery_rejected("      recoveryTarget: {}\n", "needs a source", 7);
    assert_recovery_rejected("      source: src\n"
                             "      recoveryTarget:\n"
                             "        targetTime: '2024-01-15 10:30:00'\n"
                             "        targetLSN: 0/3000000\n",
                             "give at most one of targetTime",
                             10);
    assert_recovery_rejected("      source: src\n"
                             "      recoveryTarget: {targetTime: 'yesterday'}\n",
                             "is not a time",
                             8);
    assert_recovery_rejected("      source: src\n"
                             "      recoveryTarget: {targetLSN: '0/xyz'}\n",
                             "is not an LSN",
                             8);
    assert_recovery_rejected("      source: src\n"
                             "      recoveryTarget: {targetXID: '99999999999', backupID: a}\n",
                             "is not a transaction id",
                             8);
    assert_recovery_rejected("      source: src\n"
                             "      recoveryTarget: {targetName: before-upgrade}\n",
                             "need backupID",
                             8);
    assert_recovery_rejected("      source: src\n"
                             "      recoveryTarget: {targetImmediate: true}\n",
                             "need backupID",
                             8);
    assert_recovery_rejected("      source: src\n"
                             "      recoveryTarget: {targetTLI: '0'}\n",
                             "'latest' or a number",
                             8);
    assert_recovery_rejected("      source: src\n"
                             "      recoveryTarget: {targetTLI: 3}\n",
                             "must be a string",
                             8);
    assert_recovery_rejected("      source: src\n"
                             "      backup: {name: b1}\n",
                             "source and backup exclude each other",
                             7);
}

static void pitr_manifest_parse__recovery_from_backup_object_is_unsupported(void **state)
{
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };
    const char *text = "apiVersion: postgresql.cnpg.io/v1\n"
                       "kind: Cluster\n"
                       "metadata: {name: r}\n"
                       "spec:\n"
                       "  bootstrap:\n"
                       "    recovery:\n"
                       "      backup: {name: b1}\n";

    (void)state;
    assert_int_equal(parse_str("b.yaml", text, &set, &err), PITR_OK);
    assert_int_equal(set.n_clusters, 1);
    assert_int_equal(set.clusters[0].has_recovery, 1);
    assert_int_equal(set.clusters[0].recovery.unsupported, 1);
    assert_string_equal(set.clusters[0].recovery.backup_name, "b1");
    assert_diag(&set, "recovery from a Backup object", PITR_MF_ERROR, 7);
    pitr_manifest_set_release(&set);
}

static void pitr_manifest_parse__external_clusters_hostile_shapes(void **state)
{
    struct pitr_mf_set set = { 0 };
    struct pitr_err err = { 0 };
    const char *dup = "apiVersion: postgresql.cnpg.io/v1\n"
                      "kind: Cluster\n"
                      "metadata: {name: r}\n"
                      "spec:\n"
                      "  externalClusters:\n"
                      "    - name: a\n"
                      "    - name: a\n";
    const char *noname = "apiVersion: postgresql.cnpg.io/v1\n"
                         "kind: Cluster\n"
                         "metadata: {name: r}\n"
                         "spec:\n"
                         "  externalClusters:\n"
                         "    - barmanObjectStore: {destinationPath: 's3://b/p'}\n";
    const char *notlist = "apiVersion: postgresql.cnpg.io/v1\n"
                          "kind: Cluster\n"
                          "metadata: {name: r}\n"
                          "spec:\n"
                          "  externalClusters: {name: a}\n";
    const char *badstore = "apiVersion: postgresql.cnpg.io/v1\n"
                           "kind: Cluster\n"
                           "metadata: {name: r}\n"
                           "spec:\n"
                           "  externalClusters:\n"
                           "    - name: a\n"
                           "      barmanObjectStore:\n"
                           "        destinationPath: s3://b/p\n"
                           "        s3Credentials: {accessKeyId: {name: s, key: k}}\n";

    (void)state;
    assert_int_equal(parse_str("d.yaml", dup, &set, &err), PITR_OK);
    assert_int_equal(set.n_clusters, 0);
    assert_diag(&set, "the name 'a' appears twice", PITR_MF_ERROR, 7);
    pitr_manifest_set_release(&set);
    assert_int_equal(parse_str("n.yaml", noname, &set, &err), PITR_OK);
    assert_int_equal(set.n_clusters, 0);
    assert_diag(&set, "'spec.externalClusters[0].name' is required", PITR_MF_ERROR, 6);
    pitr_manifest_set_release(&set);
    assert_int_equal(parse_str("l.yaml", notlist, &set, &err), PITR_OK);
    assert_int_equal(set.n_clusters, 0);
    assert_diag(&set, "'spec.externalClusters' must be a list", PITR_MF_ERROR, 5);
    pitr_manifest_set_release(&set);
    assert_int_equal(parse_str("s.yaml", badstore, &set, &err), PITR_OK);
    assert_int_equal(set.n_clusters, 0);
    assert_diag(&set,
                "'spec.externalClusters[0].barmanObjectStore.s3Credentials': accessKeyId and "
                "secretAccessKey go together",
                PITR_MF_ERROR,
                9);
    pitr_manifest_set_release(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_manifest_parse__seed_manifests_as_written),
        cmocka_unit_test(pitr_manifest_parse__seed_clusters_without_backup_are_silent),
        cmocka_unit_test(pitr_manifest_parse__every_mapped_field),
        cmocka_unit_test(pitr_manifest_parse__secret_data_base64_and_string_data),
        cmocka_unit_test(pitr_manifest_parse__secret_bad_base64_rejected_value_not_shown),
        cmocka_unit_test(pitr_manifest_resolve__missing_secret_or_key),
        cmocka_unit_test(pitr_manifest_parse__s3_credential_rules),
        cmocka_unit_test(pitr_manifest_parse__unsupported_fields_reported_with_lines),
        cmocka_unit_test(pitr_manifest_parse__wrong_types_rejected_with_lines),
        cmocka_unit_test(pitr_manifest_parse__repeated_key_or_too_many_fields_rejected),
        cmocka_unit_test(pitr_manifest_parse__multi_document_and_empty_documents),
        cmocka_unit_test(pitr_manifest_parse__unknown_kind_or_api_version),
        cmocka_unit_test(pitr_manifest_parse__malformed_yaml_is_eformat_with_line),
        cmocka_unit_test(pitr_manifest_parse__file_over_the_size_limit),
        cmocka_unit_test(pitr_manifest_parse__deep_nesting_refused),
        cmocka_unit_test(pitr_manifest_parse__alias_bomb_refused),
        cmocka_unit_test(pitr_manifest_parse__long_value_refused),
        cmocka_unit_test(pitr_manifest_parse__too_many_nodes_or_documents),
        cmocka_unit_test(pitr_manifest_parse__non_utf8_and_binary_refused),
        cmocka_unit_test(pitr_manifest_parse__bootstrap_recovery_and_external_clusters),
        cmocka_unit_test(pitr_manifest_parse__recovery_rules_as_the_webhook),
        cmocka_unit_test(pitr_manifest_parse__recovery_from_backup_object_is_unsupported),
        cmocka_unit_test(pitr_manifest_parse__external_clusters_hostile_shapes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
