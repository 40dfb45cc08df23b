/*
 * test_views.c - unit tests for src/agent/views.c: get tables (columns,
 * removed Backups, empty), the kubectl v1 List in JSON and YAML (the YAML
 * read back with libyaml), describe with events, ages, option parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "pgpitr/agent/status.h"
#include "pgpitr/agent/views.h"
#include "pgpitr/core/buf.h"

#define T0 ((int64_t)1796270400) /* 2026-12-03T04:00:00Z */

static json_t *sample(void)
{
    json_t *doc = pitr_status_new(), *b, *sb;

    b = pitr_status_ensure(doc, "Backup", "daily-backup-20261203040000", "app-db", T0);
    json_object_set_new(json_object_get(b, "spec"), "cluster", json_pack("{s:s}", "name", "pg"));
    json_object_set_new(json_object_get(b, "spec"), "method", json_string("barmanObjectStore"));
    json_object_set_new(json_object_get(b, "status"), "phase", json_string("completed"));
    json_object_set_new(json_object_get(b, "status"), "backupId", json_string("20261203T040001"));
    b = pitr_status_ensure(doc, "Backup", "old", "app-db", T0 - 7200);
    json_object_set_new(json_object_get(b, "spec"), "cluster", json_pack("{s:s}", "name", "pg"));
    json_object_set_new(json_object_get(b, "status"), "phase", json_string("completed"));
    json_object_set_new(json_object_get(b, "metadata"),
                        "annotations",
                        json_pack("{s:s}", "pgpitr.io/backup-removed", "2026-12-03T04:00:00Z"));
    b = pitr_status_ensure(doc, "Backup", "bad", "app-db", T0);
    json_object_set_new(json_object_get(b, "status"), "phase", json_string("failed"));
    json_object_set_new(
      json_object_get(b, "status"), "error", json_string("SignatureDoesNotMatch: no"));
    sb = pitr_status_ensure(doc, "ScheduledBackup", "daily-backup", "app-db", T0 - 60);
    json_object_set_new(json_object_get(sb, "spec"), "cluster", json_pack("{s:s}", "name", "pg"));
    pitr_status_set_time(json_object_get(sb, "status"), "lastScheduleTime", T0);
    pitr_status_set_time(json_object_get(sb, "status"), "nextScheduleTime", T0 + 20);
    pitr_status_event(doc, "Backup", "bad", "Warning", "BackupFailed", "SignatureDoesNotMatch", T0);
    return doc;
}

static void views_get__backup_table(void **state)
{
    json_t *doc = sample();
    struct pitr_buf out;
    struct pitr_err err = { 0 };

    (void)state;
    pitr_buf_init(&out, 1 << 20);
    assert_int_equal(
      pitr_views_get(pitr_status_items(doc), "Backup", PITR_VIEW_TABLE, T0 + 45, &out, &err),
      PITR_OK);
    assert_non_null(strstr(out.data, "NAME "));
    assert_non_null(strstr(out.data, "AGE "));
    assert_non_null(strstr(out.data, "CLUSTER "));
    assert_non_null(strstr(out.data, "PHASE "));
    assert_non_null(strstr(out.data, "daily-backup-20261203040000   45s "));
    assert_non_null(strstr(out.data, "completed (removed)"));
    assert_non_null(strstr(out.data, "SignatureDoesNotMatch: no"));
    pitr_buf_reset(&out);
    assert_int_equal(
      pitr_views_get(
        pitr_status_items(doc), "ScheduledBackup", PITR_VIEW_TABLE, T0 + 5, &out, &err),
      PITR_OK);
    assert_non_null(strstr(out.data, "LAST BACKUP"));
    assert_non_null(strstr(out.data, "in 15s"));
    pitr_buf_reset(&out);
    assert_int_equal(
      pitr_views_get(pitr_status_items(doc), "Cluster", PITR_VIEW_TABLE, T0, &out, &err), PITR_OK);
    assert_string_equal(out.data, "No resources found.\n");
    pitr_buf_release(&out);
    json_decref(doc);
}

static void views_get__json_is_kubectl_list(void **state)
{
    json_t *doc = sample(), *list;
    struct pitr_buf out;
    struct pitr_err err = { 0 };
    json_error_t je;

    (void)state;
    pitr_buf_init(&out, 1 << 20);
    assert_int_equal(
      pitr_views_get(pitr_status_items(doc), "Backup", PITR_VIEW_JSON, T0, &out, &err), PITR_OK);
    list = json_loadb(out.data, out.len, 0, &je);
    assert_non_null(list);
    assert_string_equal(json_string_value(json_object_get(list, "apiVersion")), "v1");
    assert_string_equal(json_string_value(json_object_get(list, "kind")), "List");
    assert_int_equal(json_array_size(json_object_get(list, "items")), 3);
    assert_string_equal(
      json_string_value(json_object_get(json_array_get(json_object_get(list, "items"), 0), "kind")),
      "Backup");
    json_decref(list);
    pitr_buf_release(&out);
    json_decref(doc);
}

/* Count mapping keys named key in YAML text with libyaml (so the YAML must parse). */
static int yaml_count_key(const char *text, const char *key)
{
    yaml_parser_t p;
    yaml_event_t e;
    int n = 0, done = 0, ok = 1;

    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
    while (!done) {
        if (!yaml_parser_parse(&p, &e)) {
            ok = 0;
            break;
        }
        if (e.type == YAML_SCALAR_EVENT && strcmp((const char *)e.data.scalar.value, key) == 0)
            n++;
        done = e.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&p);
    return ok ? n : -1;
}

static void views_get__yaml_parses(void **state)
{
    json_t *doc = sample();
    struct pitr_buf out;
    struct pitr_err err = { 0 };

    (void)state;
    pitr_buf_init(&out, 1 << 20);
    assert_int_equal(
      pitr_views_get(pitr_status_items(doc), "Backup", PITR_VIEW_YAML, T0, &out, &err), PITR_OK);
    assert_non_null(strstr(out.data, "apiVersion: v1\n"));
    assert_non_null(strstr(out.data, "kind: List\n"));
    /* three items, each with a metadata mapping, and names that need quoting survive */
    assert_int_equal(yaml_count_key(out.data, "metadata"), 4);
    assert_int_equal(yaml_count_key(out.data, "20261203T040001"), 1);
    assert_int_equal(yaml_count_key(out.data, "SignatureDoesNotMatch: no"), 1);
    pitr_buf_release(&out);
    json_decref(doc);
}

static void views_describe__spec_status_events(void **state)
{
    json_t *doc = sample();
    struct pitr_buf out;
    struct pitr_err err = { 0 };

    (void)state;
    pitr_buf_init(&out, 1 << 20);
    assert_int_equal(pitr_views_describe(pitr_status_find(doc, "Backup", "bad"),
                                         pitr_status_events(doc, "Backup", "bad"),
                                         PITR_VIEW_TABLE,
                                         T0 + 30,
                                         &out,
                                         &err),
                     PITR_OK);
    assert_non_null(strstr(out.data, "Name:         bad\n"));
    assert_non_null(strstr(out.data, "Namespace:    app-db\n"));
    assert_non_null(strstr(out.data, "Kind:         Backup\n"));
    assert_non_null(strstr(out.data, "Status:\n  Phase:"));
    assert_non_null(strstr(out.data, "Events:\n  Type"));
    assert_non_null(
      strstr(out.data, "Warning   BackupFailed   30s    pgpitr-agent   SignatureDoesNotMatch"));
    pitr_buf_reset(&out);
    assert_int_equal(
      pitr_views_describe(
        pitr_status_find(doc, "Backup", "old"), NULL, PITR_VIEW_TABLE, T0, &out, &err),
      PITR_OK);
    assert_non_null(strstr(out.data, "Events:       <none>\n"));
    assert_non_null(strstr(out.data, "pgpitr.io/backup-removed: 2026-12-03T04:00:00Z"));
    pitr_buf_release(&out);
    json_decref(doc);
}

static void views_age__kubectl_forms(void **state)
{
    char b[32];

    (void)state;
    pitr_views_age(45, b);
    assert_string_equal(b, "45s");
    pitr_views_age(192, b);
    assert_string_equal(b, "3m12s");
    pitr_views_age(900, b);
    assert_string_equal(b, "15m");
    pitr_views_age(5 * 3600 + 1200, b);
    assert_string_equal(b, "5h20m");
    pitr_views_age(40 * 86400, b);
    assert_string_equal(b, "40d");
    pitr_views_age(-5, b);
    assert_string_equal(b, "0s");
}

static void views_parse__output_and_kind(void **state)
{
    enum pitr_view_format f;

    (void)state;
    assert_int_equal(pitr_views_parse_output(NULL, &f), 0);
    assert_int_equal(f, PITR_VIEW_TABLE);
    assert_int_equal(pitr_views_parse_output("yaml", &f), 0);
    assert_int_equal(f, PITR_VIEW_YAML);
    assert_int_equal(pitr_views_parse_output("xml", &f), -1);
    assert_string_equal(pitr_views_kind("scheduledbackups"), "ScheduledBackup");
    assert_string_equal(pitr_views_kind("backup"), "Backup");
    assert_null(pitr_views_kind("pods"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(views_get__backup_table),
        cmocka_unit_test(views_get__json_is_kubectl_list),
        cmocka_unit_test(views_get__yaml_parses),
        cmocka_unit_test(views_describe__spec_status_events),
        cmocka_unit_test(views_age__kubectl_forms),
        cmocka_unit_test(views_parse__output_and_kind),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
