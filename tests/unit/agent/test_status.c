/*
 * test_status.c - unit tests for src/agent/status.c: the status document
 * saved to and loaded from a posix repository and its local copy, hostile
 * documents (not JSON, no items, items without kind or name, too large),
 * bounded events and Backups, conditions and times.
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
#include "pgpitr/agent/status.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"

#define T0 ((int64_t)1796270400) /* 2026-12-03T04:00:00Z */

static char root[64];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/pitr-status-XXXXXX");
    return mkdtemp(root) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    pitr_test_rm_rf(root);
    return 0;
}

static struct pitr_storage *open_repo(void)
{
    struct pitr_storage *st = NULL;
    struct pitr_err err = { 0 };
    char dir[128];

    snprintf(dir, sizeof(dir), "%s/repo", root);
    mkdir(dir, 0700);
    assert_int_equal(pitr_storage_posix_new(dir, &st, &err), PITR_OK);
    return st;
}

static void status_save__round_trip_through_store_and_local_copy(void **state)
{
    struct pitr_storage *st = open_repo();
    struct pitr_err err = { 0 }, se = { 0 };
    json_t *doc = pitr_status_new(), *back = NULL, *b;
    const char *source = NULL;
    char local[128], path[160];
    struct stat sb;

    (void)state;
    snprintf(local, sizeof(local), "%s/local.json", root);
    b = pitr_status_ensure(doc, "Backup", "b1", "app-db", T0);
    json_object_set_new(json_object_get(b, "status"), "phase", json_string("completed"));
    assert_int_equal(pitr_status_save(st, "srv", local, doc, &err), PITR_OK);
    snprintf(path, sizeof(path), "%s/repo/srv/pgpitr/status.json", root);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(stat(local, &sb), 0);
    assert_int_equal(pitr_status_load(st, "srv", local, &back, &source, &se, &err), PITR_OK);
    assert_string_equal(source, "store");
    b = pitr_status_find(back, "Backup", "b1");
    assert_non_null(b);
    assert_string_equal(pitr_status_str(json_object_get(b, "status"), "phase"), "completed");
    assert_string_equal(pitr_status_str(json_object_get(b, "metadata"), "creationTimestamp"),
                        "2026-12-03T04:00:00Z");
    json_decref(back);
    /* the store copy gone: the local one is used */
    unlink(path);
    assert_int_equal(pitr_status_load(st, "srv", local, &back, &source, &se, &err), PITR_OK);
    assert_string_equal(source, "local");
    assert_non_null(pitr_status_find(back, "Backup", "b1"));
    json_decref(back);
    json_decref(doc);
    pitr_storage_free(st);
}

static void status_load__hostile_store_falls_back(void **state)
{
    struct pitr_storage *st = open_repo();
    struct pitr_err err = { 0 }, se = { 0 };
    json_t *back = NULL;
    const char *source = NULL;
    char dir[128];

    (void)state;
    snprintf(dir, sizeof(dir), "%s/repo", root);
    assert_int_equal(pitr_test_write_file(dir, "srv/pgpitr/status.json", "{not json"), 0);
    assert_int_equal(pitr_status_load(st, "srv", NULL, &back, &source, &se, &err), PITR_OK);
    assert_string_equal(source, "new");
    assert_int_equal(se.code, PITR_EFORMAT);
    assert_int_equal(json_array_size(pitr_status_items(back)), 0);
    json_decref(back);
    pitr_storage_free(st);
}

static void status_load__oversized_document_is_refused(void **state)
{
    struct pitr_storage *st = open_repo();
    struct pitr_err err = { 0 }, se = { 0 };
    json_t *back = NULL;
    const char *source = NULL;
    char path[160];
    FILE *f;

    (void)state;
    snprintf(path, sizeof(path), "%s/repo/big", root);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/repo/big/pgpitr", root);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/repo/big/pgpitr/status.json", root);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)PITR_STATUS_DOC_MAX + 10, SEEK_SET), 0);
    fputc('}', f);
    fclose(f);
    assert_int_equal(pitr_status_load(st, "big", NULL, &back, &source, &se, &err), PITR_OK);
    assert_int_equal(se.code, PITR_ELIMIT);
    assert_string_equal(source, "new");
    json_decref(back);
    pitr_storage_free(st);
}

static void status_parse__drops_items_without_kind_or_name(void **state)
{
    const char *text = "{\"items\": [{\"kind\": \"Backup\", \"metadata\": {\"name\": \"ok\"}, "
                       "\"spec\": {}, \"status\": {}}, {\"kind\": 5, \"metadata\": {}}, "
                       "{\"metadata\": {\"name\": \"x\"}}, \"str\", {\"kind\": \"Backup\", "
                       "\"metadata\": {\"name\": \"nostatus\"}, \"spec\": {}}], \"events\": 7}";
    struct pitr_err err = { 0 };
    json_t *doc = NULL;

    (void)state;
    assert_int_equal(pitr_status_parse(text, strlen(text), &doc, &err), PITR_OK);
    assert_int_equal(json_array_size(pitr_status_items(doc)), 1);
    assert_non_null(pitr_status_find(doc, "Backup", "ok"));
    assert_true(json_is_object(json_object_get(doc, "events")));
    json_decref(doc);
    assert_int_equal(pitr_status_parse("[1]", 3, &doc, &err), PITR_EFORMAT);
    assert_null(doc);
    assert_int_equal(pitr_status_parse("{\"items\": {}}", 13, &doc, &err), PITR_EFORMAT);
}

static void status_event__bounded_and_repeats_counted(void **state)
{
    json_t *doc = pitr_status_new(), *ev;
    char msg[32];
    int i;

    (void)state;
    pitr_status_event(doc, "Backup", "b", "Normal", "Starting", "go", T0);
    pitr_status_event(doc, "Backup", "b", "Normal", "Starting", "go", T0 + 5);
    ev = pitr_status_events(doc, "Backup", "b");
    assert_int_equal(json_array_size(ev), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ev, 0), "count")), 2);
    assert_string_equal(pitr_status_str(json_array_get(ev, 0), "lastTimestamp"),
                        "2026-12-03T04:00:05Z");
    for (i = 0; i < 30; i++) {
        snprintf(msg, sizeof(msg), "m%d", i);
        pitr_status_event(doc, "Backup", "b", "Warning", "R", msg, T0 + i);
    }
    ev = pitr_status_events(doc, "Backup", "b");
    assert_int_equal(json_array_size(ev), PITR_STATUS_EVENTS_MAX);
    assert_string_equal(pitr_status_str(json_array_get(ev, PITR_STATUS_EVENTS_MAX - 1), "message"),
                        "m29");
    json_decref(doc);
}

static void status_trim__drops_oldest_finished_backups(void **state)
{
    json_t *doc = pitr_status_new();
    char name[32];
    int i;

    (void)state;
    for (i = 0; i < PITR_STATUS_BACKUPS_MAX + 5; i++) {
        json_t *b;

        snprintf(name, sizeof(name), "b%03d", i);
        b = pitr_status_ensure(doc, "Backup", name, "ns", T0 + i);
        json_object_set_new(
          json_object_get(b, "status"), "phase", json_string(i == 0 ? "running" : "completed"));
        pitr_status_event(doc, "Backup", name, "Normal", "Completed", "done", T0 + i);
    }
    pitr_status_ensure(doc, "Cluster", "c", "ns", T0);
    pitr_status_trim(doc);
    assert_int_equal(json_array_size(pitr_status_items(doc)), PITR_STATUS_BACKUPS_MAX + 1);
    assert_non_null(pitr_status_find(doc, "Backup", "b000")); /* not finished: kept */
    assert_null(pitr_status_find(doc, "Backup", "b001"));
    assert_null(pitr_status_events(doc, "Backup", "b001"));
    assert_non_null(pitr_status_find(doc, "Backup", "b006"));
    assert_non_null(pitr_status_find(doc, "Cluster", "c"));
    json_decref(doc);
}

static void status_condition__transition_time_only_on_change(void **state)
{
    json_t *st = json_object(), *c;

    (void)state;
    pitr_status_condition(st, "LastBackupSucceeded", "True", "LastBackupSucceeded", "ok", T0);
    pitr_status_condition(st, "LastBackupSucceeded", "True", "LastBackupSucceeded", "ok", T0 + 9);
    c = json_array_get(json_object_get(st, "conditions"), 0);
    assert_int_equal(json_array_size(json_object_get(st, "conditions")), 1);
    assert_string_equal(pitr_status_str(c, "lastTransitionTime"), "2026-12-03T04:00:00Z");
    pitr_status_condition(st, "LastBackupSucceeded", "False", "LastBackupFailed", "boom", T0 + 20);
    assert_string_equal(pitr_status_str(c, "lastTransitionTime"), "2026-12-03T04:00:20Z");
    assert_string_equal(pitr_status_str(c, "message"), "boom");
    json_decref(st);
}

static void status_time_parse__round_trip_and_garbage(void **state)
{
    char buf[32];

    (void)state;
    pitr_status_time(T0 + 61, buf);
    assert_string_equal(buf, "2026-12-03T04:01:01Z");
    assert_int_equal(pitr_status_time_parse(buf), T0 + 61);
    assert_int_equal(pitr_status_time_parse("yesterday"), 0);
    assert_int_equal(pitr_status_time_parse(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
          status_save__round_trip_through_store_and_local_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(status_load__hostile_store_falls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(
          status_load__oversized_document_is_refused, setup, teardown),
        cmocka_unit_test(status_parse__drops_items_without_kind_or_name),
        cmocka_unit_test(status_event__bounded_and_repeats_counted),
        cmocka_unit_test(status_trim__drops_oldest_finished_backups),
        cmocka_unit_test(status_condition__transition_time_only_on_change),
        cmocka_unit_test(status_time_parse__round_trip_and_garbage),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
