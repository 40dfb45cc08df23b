/*
 * test_cluster.c - unit tests for src/agent/cluster.c: the lease rule with
 * its split-brain cases, where a Backup runs (stale, non-streaming, ties),
 * and heartbeat/lease records parsed from hostile input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "pgpitr/agent/cluster.h"
#include "pgpitr/core/mem.h"

#define T0 ((int64_t)1796270400)

static struct pitr_lease lease(const char *holder, int64_t tl, int64_t term, int64_t expires)
{
    struct pitr_lease l;

    memset(&l, 0, sizeof(l));
    snprintf(l.holder, sizeof(l.holder), "%s", holder);
    l.timeline = tl;
    l.term = term;
    l.renewed = expires - 15;
    l.expires = expires;
    l.pid = 10;
    snprintf(l.boot_id, sizeof(l.boot_id), "boot");
    return l;
}

static struct pitr_lease_me me(const char *name, int primary, int64_t tl)
{
    struct pitr_lease_me m = { name, primary, tl, 42, "b-42" };

    return m;
}

static void cluster_lease_decide__standby_never_leads(void **state)
{
    struct pitr_lease_me m = me("pg-2", 0, 3);
    struct pitr_lease_decision d;

    (void)state;
    pitr_cluster_lease_decide(NULL, &m, T0, 15, &d);
    assert_int_equal(d.action, PITR_LEASE_FOLLOW);
    assert_int_equal(d.reason, PITR_LEASE_NOT_PRIMARY);
}

static void cluster_lease_decide__absent_is_acquired_with_term_one(void **state)
{
    struct pitr_lease_me m = me("pg-1", 1, 1);
    struct pitr_lease_decision d;

    (void)state;
    pitr_cluster_lease_decide(NULL, &m, T0, 15, &d);
    assert_int_equal(d.action, PITR_LEASE_ACQUIRE);
    assert_int_equal(d.next.term, 1);
    assert_string_equal(d.next.holder, "pg-1");
    assert_int_equal(d.next.expires, T0 + 15);
    assert_int_equal(d.next.timeline, 1);
}

static void cluster_lease_decide__own_lease_is_renewed_same_term(void **state)
{
    struct pitr_lease cur = lease("pg-1", 1, 7, T0 + 3);
    struct pitr_lease_me m = me("pg-1", 1, 1);
    struct pitr_lease_decision d;

    (void)state;
    pitr_cluster_lease_decide(&cur, &m, T0, 15, &d);
    assert_int_equal(d.action, PITR_LEASE_RENEW);
    assert_int_equal(d.next.term, 7);
    assert_int_equal(d.next.pid, 42);
}

static void cluster_lease_decide__unexpired_same_timeline_holder_keeps_it(void **state)
{
    struct pitr_lease cur = lease("pg-1", 2, 4, T0 + 1);
    struct pitr_lease_me m = me("pg-2", 1, 2);
    struct pitr_lease_decision d;

    (void)state;
    pitr_cluster_lease_decide(&cur, &m, T0, 15, &d);
    assert_int_equal(d.action, PITR_LEASE_FOLLOW);
    assert_int_equal(d.reason, PITR_LEASE_HELD);
}

static void cluster_lease_decide__expired_same_timeline_is_taken(void **state)
{
    struct pitr_lease cur = lease("pg-1", 2, 4, T0);
    struct pitr_lease_me m = me("pg-2", 1, 2);
    struct pitr_lease_decision d;

    (void)state;
    pitr_cluster_lease_decide(&cur, &m, T0, 15, &d);
    assert_int_equal(d.action, PITR_LEASE_ACQUIRE);
    assert_int_equal(d.reason, PITR_LEASE_EXPIRED);
    assert_int_equal(d.next.term, 5);
}

static void cluster_lease_decide__split_brain_higher_timeline_takes_unexpired(void **state)
{
    struct pitr_lease cur = lease("pg-1", 1, 4, T0 + 14);
    struct pitr_lease_me m = me("pg-2", 1, 2);
    struct pitr_lease_decision d;

    (void)state;
    pitr_cluster_lease_decide(&cur, &m, T0, 15, &d);
    assert_int_equal(d.action, PITR_LEASE_ACQUIRE);
    assert_int_equal(d.reason, PITR_LEASE_LOWER_TIMELINE);
    assert_int_equal(d.next.term, 5);
    assert_int_equal(d.next.timeline, 2);
}

static void cluster_lease_decide__split_brain_lower_timeline_loses_even_expired(void **state)
{
    struct pitr_lease cur = lease("pg-2", 2, 5, T0 - 100);
    struct pitr_lease_me m = me("pg-1", 1, 1);
    struct pitr_lease_decision d;

    (void)state;
    pitr_cluster_lease_decide(&cur, &m, T0, 15, &d);
    assert_int_equal(d.action, PITR_LEASE_FOLLOW);
    assert_int_equal(d.reason, PITR_LEASE_HIGHER_TIMELINE);
}

static void cluster_lease_decide__own_name_on_higher_timeline_lease_loses(void **state)
{
    /* our name but a newer timeline than our server's: a stale copy of us, not ours */
    struct pitr_lease cur = lease("pg-1", 3, 5, T0 + 10);
    struct pitr_lease_me m = me("pg-1", 1, 2);
    struct pitr_lease_decision d;

    (void)state;
    pitr_cluster_lease_decide(&cur, &m, T0, 15, &d);
    assert_int_equal(d.action, PITR_LEASE_FOLLOW);
    assert_int_equal(d.reason, PITR_LEASE_HIGHER_TIMELINE);
}

static void cluster_lease_is__read_back_must_match(void **state)
{
    struct pitr_lease a = lease("pg-1", 1, 4, T0), b = a;

    (void)state;
    assert_true(pitr_cluster_lease_is(&a, &b));
    b.term = 5;
    assert_false(pitr_cluster_lease_is(&a, &b));
    b = a;
    snprintf(b.holder, sizeof(b.holder), "pg-2");
    assert_false(pitr_cluster_lease_is(&a, &b));
    b = a;
    b.pid = 11;
    assert_false(pitr_cluster_lease_is(&a, &b));
}

static struct pitr_instance_rec rec(const char *name, int primary, int64_t t)
{
    struct pitr_instance_rec r;

    memset(&r, 0, sizeof(r));
    snprintf(r.instance, sizeof(r.instance), "%s", name);
    r.primary = primary;
    r.timeline = 1;
    r.time = t;
    r.lag_bytes = -1;
    r.lag_seconds = -1;
    snprintf(r.conninfo, sizeof(r.conninfo), "host=/tmp port=1");
    return r;
}

static void cluster_choose_target__least_lag_streaming_standby(void **state)
{
    struct pitr_instance_rec r[3] = { rec("pg-1", 1, T0), rec("pg-2", 0, T0), rec("pg-3", 0, T0) };
    struct pitr_repl_row rows[2] = { { "pg-2", 1, 5000 }, { "pg-3", 1, 100 } };

    (void)state;
    r[0].leader = 1;
    assert_int_equal(
      pitr_cluster_choose_target(PITR_TARGET_PREFER_STANDBY, r, 3, rows, 2, T0 + 1, 5), 2);
    assert_int_equal(pitr_cluster_choose_target(PITR_TARGET_PRIMARY, r, 3, rows, 2, T0 + 1, 5), -1);
}

static void cluster_choose_target__stale_record_is_skipped(void **state)
{
    struct pitr_instance_rec r[2] = { rec("pg-2", 0, T0), rec("pg-3", 0, T0 - 16) };
    struct pitr_repl_row rows[2] = { { "pg-2", 1, 5000 }, { "pg-3", 1, 0 } };

    (void)state;
    /* 3 x 5 s: 15 s old is fresh, 16 s is stale */
    assert_int_equal(pitr_cluster_choose_target(PITR_TARGET_PREFER_STANDBY, r, 2, rows, 2, T0, 5),
                     0);
    r[0].time = T0 - 15;
    assert_int_equal(pitr_cluster_choose_target(PITR_TARGET_PREFER_STANDBY, r, 1, rows, 2, T0, 5),
                     0);
    r[0].time = T0 - 16;
    assert_int_equal(pitr_cluster_choose_target(PITR_TARGET_PREFER_STANDBY, r, 1, rows, 2, T0, 5),
                     -1);
}

static void cluster_choose_target__non_streaming_or_unknown_is_skipped(void **state)
{
    struct pitr_instance_rec r[3] = { rec("pg-2", 0, T0), rec("pg-3", 0, T0), rec("pg-4", 0, T0) };
    struct pitr_repl_row rows[2] = { { "pg-2", 0, 0 }, { "pg-3", 1, -1 } };

    (void)state;
    /* pg-2 catching up, pg-3 lag unknown, pg-4 not in pg_stat_replication: the primary */
    assert_int_equal(pitr_cluster_choose_target(PITR_TARGET_PREFER_STANDBY, r, 3, rows, 2, T0, 5),
                     -1);
}

static void cluster_choose_target__tie_goes_to_the_first_name(void **state)
{
    struct pitr_instance_rec r[2] = { rec("pg-3", 0, T0), rec("pg-2", 0, T0) };
    struct pitr_repl_row rows[2] = { { "pg-3", 1, 0 }, { "pg-2", 1, 0 } };

    (void)state;
    assert_int_equal(pitr_cluster_choose_target(PITR_TARGET_PREFER_STANDBY, r, 2, rows, 2, T0, 5),
                     1);
}

static void cluster_choose_target__no_conninfo_or_a_primary_is_skipped(void **state)
{
    struct pitr_instance_rec r[2] = { rec("pg-2", 0, T0), rec("pg-3", 1, T0) };
    struct pitr_repl_row rows[2] = { { "pg-2", 1, 0 }, { "pg-3", 1, 0 } };

    (void)state;
    r[0].conninfo[0] = '\0';
    assert_int_equal(pitr_cluster_choose_target(PITR_TARGET_PREFER_STANDBY, r, 2, rows, 2, T0, 5),
                     -1);
}

static void cluster_rec_parse__round_trip(void **state)
{
    struct pitr_instance_rec r = rec("pg-2", 0, T0), back;
    struct pitr_err err = { 0 };
    json_t *j;
    char *text;

    (void)state;
    json_set_alloc_funcs(pitr_malloc, pitr_free);
    r.timeline = 3;
    r.lag_bytes = 77;
    r.lag_seconds = 1.5;
    r.pid = 1234;
    snprintf(r.replay_lsn, sizeof(r.replay_lsn), "0/3000060");
    snprintf(r.boot_id, sizeof(r.boot_id), "abc");
    snprintf(r.running, sizeof(r.running), "daily-backup-20261203040000");
    j = pitr_cluster_rec_json(&r);
    text = json_dumps(j, JSON_COMPACT);
    assert_int_equal(pitr_cluster_rec_parse(text, strlen(text), &back, &err), PITR_OK);
    assert_string_equal(back.instance, "pg-2");
    assert_int_equal(back.primary, 0);
    assert_int_equal(back.timeline, 3);
    assert_int_equal(back.lag_bytes, 77);
    assert_int_equal(back.pid, 1234);
    assert_int_equal(back.time, T0);
    assert_string_equal(back.replay_lsn, "0/3000060");
    assert_string_equal(back.running, "daily-backup-20261203040000");
    pitr_free(text);
    json_decref(j);
}

static void cluster_rec_parse__hostile_input_is_refused(void **state)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{\"instance\": \"pg-2\"}",
        "{\"instance\": \"../x\", \"role\": \"standby\", \"timeline\": 1, \"time\": "
        "\"2026-12-03T04:00:00Z\"}",
        "{\"instance\": \"pg-2\", \"role\": \"king\", \"timeline\": 1, \"time\": "
        "\"2026-12-03T04:00:00Z\"}",
        "{\"instance\": \"pg-2\", \"role\": \"standby\", \"timeline\": -1, \"time\": "
        "\"2026-12-03T04:00:00Z\"}",
        "{\"instance\": \"pg-2\", \"role\": \"standby\", \"timeline\": \"1\", \"time\": "
        "\"2026-12-03T04:00:00Z\"}",
        "{\"instance\": \"pg-2\", \"role\": \"standby\", \"timeline\": 1, \"time\": \"soon\"}",
        "{\"instance\": \"pg-2\", \"role\": \"standby\", \"timeline\": 1, \"time\": "
        "\"2026-12-03T04:00:00Z\", \"conninfo\": \"host=x password=secret\"}",
        "{\"instance\": \"pg-2\", \"role\": \"standby\", \"timeline\": 1, \"time\": "
        "\"2026-12-03T04:00:00Z\", \"replayLSN\": \"0123456789012345678901234567890\"}",
        "{\"instance\": \"pg-2\", \"instance\": \"pg-3\", \"role\": \"standby\", \"timeline\": 1, "
        "\"time\": \"2026-12-03T04:00:00Z\"}",
        "{\"instance\": \"pg\\u0000x\", \"role\": \"standby\", \"timeline\": 1, \"time\": "
        "\"2026-12-03T04:00:00Z\"}",
    };
    struct pitr_instance_rec r;
    struct pitr_err err = { 0 };
    char *big;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pitr_cluster_rec_parse(bad[i], strlen(bad[i]), &r, &err), PITR_EFORMAT);
        assert_string_equal(r.instance, "");
        assert_null(strstr(err.msg, "secret"));
    }
    big = pitr_malloc(PITR_CLUSTER_RECORD_MAX + 2);
    memset(big, ' ', PITR_CLUSTER_RECORD_MAX + 1);
    big[0] = '{';
    big[PITR_CLUSTER_RECORD_MAX] = '}';
    assert_int_equal(pitr_cluster_rec_parse(big, PITR_CLUSTER_RECORD_MAX + 1, &r, &err),
                     PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "allowed"));
    pitr_free(big);
}

static void cluster_lease_parse__round_trip_and_hostile(void **state)
{
    struct pitr_lease l = lease("pg-1", 2, 9, T0 + 15), back;
    struct pitr_err err = { 0 };
    json_t *j;
    char *text;
    static const char *const bad[] = {
        "{\"holder\": \"pg-1\", \"timeline\": 2, \"term\": 0, \"renewed\": "
        "\"2026-12-03T04:00:00Z\", \"expires\": \"2026-12-03T04:00:15Z\"}",
        "{\"holder\": \"PG 1\", \"timeline\": 2, \"term\": 1, \"renewed\": "
        "\"2026-12-03T04:00:00Z\", \"expires\": \"2026-12-03T04:00:15Z\"}",
        "{\"holder\": \"pg-1\", \"timeline\": 2, \"term\": 1, \"renewed\": "
        "\"2026-12-03T04:00:00Z\"}",
        "{\"holder\": \"pg-1\", \"timeline\": 2.5, \"term\": 1, \"renewed\": "
        "\"2026-12-03T04:00:00Z\", \"expires\": \"2026-12-03T04:00:15Z\"}",
        "null",
    };
    size_t i;

    (void)state;
    json_set_alloc_funcs(pitr_malloc, pitr_free);
    j = pitr_cluster_lease_json(&l);
    text = json_dumps(j, JSON_COMPACT);
    assert_int_equal(pitr_cluster_lease_parse(text, strlen(text), &back, &err), PITR_OK);
    assert_true(pitr_cluster_lease_is(&back, &l));
    assert_int_equal(back.expires, T0 + 15);
    pitr_free(text);
    json_decref(j);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pitr_cluster_lease_parse(bad[i], strlen(bad[i]), &back, &err),
                         PITR_EFORMAT);
}

static void cluster_check_conninfo__refuses_passwords(void **state)
{
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(pitr_cluster_check_conninfo("host=/tmp port=28301 user=postgres", &err),
                     PITR_OK);
    assert_int_equal(pitr_cluster_check_conninfo("host=x password=hunter2", &err), PITR_EUSAGE);
    assert_null(strstr(err.msg, "hunter2"));
    assert_int_equal(pitr_cluster_check_conninfo("postgresql://u:hunter2@h/db", &err), PITR_EUSAGE);
    assert_null(strstr(err.msg, "hunter2"));
    assert_int_equal(pitr_cluster_check_conninfo("host='unclosed password=hunter2", &err),
                     PITR_EUSAGE);
    assert_null(strstr(err.msg, "hunter2"));
    assert_int_equal(pitr_cluster_check_conninfo("", &err), PITR_EUSAGE);
}

static void cluster_check_name__rules(void **state)
{
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(pitr_cluster_check_name("pg-1", &err), PITR_OK);
    assert_int_equal(pitr_cluster_check_name("", &err), PITR_EUSAGE);
    assert_int_equal(pitr_cluster_check_name("..", &err), PITR_EUSAGE);
    assert_int_equal(pitr_cluster_check_name("a/b", &err), PITR_EUSAGE);
    assert_int_equal(pitr_cluster_check_name("A", &err), PITR_EUSAGE);
    assert_int_equal(pitr_cluster_check_name(
                       "a123456789012345678901234567890123456789012345678901234567890123", &err),
                     PITR_EUSAGE);
}

static void cluster_target_parse__values(void **state)
{
    enum pitr_cluster_target t;

    (void)state;
    assert_int_equal(pitr_cluster_target_parse(NULL, &t), 0);
    assert_int_equal(t, PITR_TARGET_PREFER_STANDBY);
    assert_int_equal(pitr_cluster_target_parse("primary", &t), 0);
    assert_int_equal(t, PITR_TARGET_PRIMARY);
    assert_int_equal(pitr_cluster_target_parse("standby", &t), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cluster_lease_decide__standby_never_leads),
        cmocka_unit_test(cluster_lease_decide__absent_is_acquired_with_term_one),
        cmocka_unit_test(cluster_lease_decide__own_lease_is_renewed_same_term),
        cmocka_unit_test(cluster_lease_decide__unexpired_same_timeline_holder_keeps_it),
        cmocka_unit_test(cluster_lease_decide__expired_same_timeline_is_taken),
        cmocka_unit_test(cluster_lease_decide__split_brain_higher_timeline_takes_unexpired),
        cmocka_unit_test(cluster_lease_decide__split_brain_lower_timeline_loses_even_expired),
        cmocka_unit_test(cluster_lease_decide__own_name_on_higher_timeline_lease_loses),
        cmocka_unit_test(cluster_lease_is__read_back_must_match),
        cmocka_unit_test(cluster_choose_target__least_lag_streaming_standby),
        cmocka_unit_test(cluster_choose_target__stale_record_is_skipped),
        cmocka_unit_test(cluster_choose_target__non_streaming_or_unknown_is_skipped),
        cmocka_unit_test(cluster_choose_target__tie_goes_to_the_first_name),
        cmocka_unit_test(cluster_choose_target__no_conninfo_or_a_primary_is_skipped),
        cmocka_unit_test(cluster_rec_parse__round_trip),
        cmocka_unit_test(cluster_rec_parse__hostile_input_is_refused),
        cmocka_unit_test(cluster_lease_parse__round_trip_and_hostile),
        cmocka_unit_test(cluster_check_conninfo__refuses_passwords),
        cmocka_unit_test(cluster_check_name__rules),
        cmocka_unit_test(cluster_target_parse__values),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
