/*
 * test_metrics.c - unit tests for src/agent/metrics.c: the exact text of
 * a page for a given snapshot, escaping of label values, cumulative
 * histogram buckets, what is left out when PostgreSQL or the stats file
 * is not there, the setters, and the server: /metrics 200, any other path
 * 404, POST 405, "off" starts nothing, bad addresses refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pgpitr/agent/metrics.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/mem.h"

#define T0 ((int64_t)1796270400) /* 2026-12-03T04:00:00Z */

static char *render(const struct pitr_metrics_snapshot *s)
{
    struct pitr_buf b;
    struct pitr_err err = { 0 };

    pitr_buf_init(&b, PITR_METRICS_PAGE_MAX);
    assert_int_equal(pitr_metrics_render(s, &b, &err), PITR_OK);
    return pitr_buf_detach(&b, NULL);
}

static void has_line(const char *page, const char *line)
{
    const char *p = page;
    size_t n = strlen(line);

    while ((p = strstr(p, line)) != NULL) {
        if ((p == page || p[-1] == '\n') && p[n] == '\n')
            return;
        p++;
    }
    fail_msg("line not found: %s\n--- page ---\n%s", line, page);
}

static void lacks(const char *page, const char *text)
{
    if (strstr(page, text) != NULL)
        fail_msg("unexpected '%s' in\n%s", text, page);
}

static void full_snapshot(struct pitr_metrics_snapshot *s)
{
    struct pitr_metrics_cluster *c = &s->cl[0];

    memset(s, 0, sizeof(*s));
    s->now = T0;
    s->is_leader = 1;
    s->ncl = 1;
    snprintf(c->ns, sizeof(c->ns), "default");
    snprintf(c->name, sizeof(c->name), "pg-main");
    c->last_backup = T0 - 600;
    c->last_failed_backup = 0;
    c->first_recoverability = T0 - 86400;
    c->backup_in_progress = 0;
    c->backup_duration = 12.5;
    c->retention_ok = T0 - 30;
    c->retention_failed = 0;
    c->storage_up = 1;
    c->job_storage_up = -1;
    s->pg_up = 1;
    s->archived_count = 42;
    s->failed_count = 3;
    s->since_archival = 1.25;
    s->since_failure = -1;
    s->last_archived_time = (double)T0 - 1.25;
    s->last_failed_time = -1;
    s->last_archived_lsn = 0x2A;
    s->last_failed_lsn = -1;
    s->stats_reset_time = (double)T0 - 7200;
    s->have_wal_status = 1;
    s->wal_ready = 2;
    s->wal_done = 40;
    s->have_push = 1;
    s->push.count[PITR_PUSHSTAT_OK] = 40;
    s->push.count[PITR_PUSHSTAT_IDENTICAL] = 1;
    s->push.count[PITR_PUSHSTAT_ERROR] = 3;
    s->push.bucket[0] = 10; /* <= 0.05 */
    s->push.bucket[1] = 30; /* <= 0.1 */
    s->push.bucket[4] = 3;  /* <= 1 */
    s->push.bucket[PITR_PUSHSTATS_NBOUNDS] = 1;
    s->push.sum_us = 7250000;
    s->push.last_archived_time = T0 - 2;
}

static void metrics_render__exact_lines_for_a_snapshot(void **state)
{
    struct pitr_metrics_snapshot s;
    char *page;

    (void)state;
    full_snapshot(&s);
    page = render(&s);
    /* CloudNativePG's names: unlabeled backup gauges, cluster on _up, value on archive status */
    has_line(page, "# TYPE cnpg_collector_up gauge");
    has_line(page, "cnpg_collector_up{cluster=\"pg-main\"} 1");
    has_line(page, "# TYPE cnpg_collector_last_available_backup_timestamp gauge");
    has_line(page, "cnpg_collector_last_available_backup_timestamp 1796269800");
    has_line(page, "cnpg_collector_last_failed_backup_timestamp 0");
    has_line(page, "cnpg_collector_first_recoverability_point 1796184000");
    has_line(page, "cnpg_collector_pg_wal_archive_status{value=\"done\"} 40");
    has_line(page, "cnpg_collector_pg_wal_archive_status{value=\"ready\"} 2");
    has_line(page, "# TYPE cnpg_pg_stat_archiver_archived_count counter");
    has_line(page, "cnpg_pg_stat_archiver_archived_count 42");
    has_line(page, "# TYPE cnpg_pg_stat_archiver_failed_count counter");
    has_line(page, "cnpg_pg_stat_archiver_failed_count 3");
    has_line(page, "cnpg_pg_stat_archiver_seconds_since_last_archival 1.250000");
    has_line(page, "cnpg_pg_stat_archiver_seconds_since_last_failure -1");
    has_line(page, "cnpg_pg_stat_archiver_last_archived_time 1796270398.750000");
    has_line(page, "cnpg_pg_stat_archiver_last_failed_time -1");
    has_line(page, "cnpg_pg_stat_archiver_last_archived_wal_start_lsn 42");
    has_line(page, "cnpg_pg_stat_archiver_last_failed_wal_start_lsn -1");
    has_line(page, "cnpg_pg_stat_archiver_stats_reset_time 1796263200");
    /* pgpitr's own */
    has_line(page, "# TYPE pgpitr_wal_push_total counter");
    has_line(page, "pgpitr_wal_push_total{result=\"ok\"} 40");
    has_line(page, "pgpitr_wal_push_total{result=\"already_archived\"} 1");
    has_line(page, "pgpitr_wal_push_total{result=\"error\"} 3");
    has_line(page, "# TYPE pgpitr_wal_push_seconds histogram");
    has_line(page, "pgpitr_wal_push_seconds_sum 7.250000");
    has_line(page, "pgpitr_wal_push_seconds_count 44");
    has_line(page, "pgpitr_last_archived_timestamp 1796270398");
    has_line(page, "pgpitr_archive_ready_segments 2");
    has_line(page, "pgpitr_backup_in_progress{cluster=\"pg-main\",namespace=\"default\"} 0");
    has_line(page,
             "pgpitr_backup_duration_seconds{cluster=\"pg-main\",namespace=\"default\"} 12.500000");
    has_line(page,
             "pgpitr_retention_last_run_timestamp{cluster=\"pg-main\",namespace=\"default\","
             "result=\"succeeded\"} 1796270370");
    has_line(page,
             "pgpitr_retention_last_run_timestamp{cluster=\"pg-main\",namespace=\"default\","
             "result=\"failed\"} 0");
    has_line(page,
             "pgpitr_recovery_window_seconds{cluster=\"pg-main\",namespace=\"default\"} 86400");
    has_line(page, "pgpitr_storage_up{cluster=\"pg-main\",namespace=\"default\"} 1");
    has_line(page, "# TYPE pgpitr_is_leader gauge");
    has_line(page, "pgpitr_is_leader 1");
    /* every family has its HELP line, and each HELP once */
    assert_non_null(strstr(page, "# HELP pgpitr_wal_push_seconds "));
    assert_null(strstr(strstr(page, "# HELP pgpitr_is_leader ") + 1, "# HELP pgpitr_is_leader "));
    pitr_free(page);
}

static void metrics_render__histogram_buckets_are_cumulative(void **state)
{
    struct pitr_metrics_snapshot s;
    char *page;

    (void)state;
    full_snapshot(&s);
    page = render(&s);
    has_line(page, "pgpitr_wal_push_seconds_bucket{le=\"0.05\"} 10");
    has_line(page, "pgpitr_wal_push_seconds_bucket{le=\"0.1\"} 40");
    has_line(page, "pgpitr_wal_push_seconds_bucket{le=\"0.25\"} 40");
    has_line(page, "pgpitr_wal_push_seconds_bucket{le=\"0.5\"} 40");
    has_line(page, "pgpitr_wal_push_seconds_bucket{le=\"1\"} 43");
    has_line(page, "pgpitr_wal_push_seconds_bucket{le=\"2.5\"} 43");
    has_line(page, "pgpitr_wal_push_seconds_bucket{le=\"60\"} 43");
    has_line(page, "pgpitr_wal_push_seconds_bucket{le=\"+Inf\"} 44");
    pitr_free(page);
}

static void metrics_render__label_values_are_escaped(void **state)
{
    struct pitr_metrics_snapshot s;
    char *page;

    (void)state;
    full_snapshot(&s);
    snprintf(s.cl[0].name, sizeof(s.cl[0].name), "a\"b\\c\nd");
    page = render(&s);
    has_line(page, "cnpg_collector_up{cluster=\"a\\\"b\\\\c\\nd\"} 1");
    has_line(page, "pgpitr_storage_up{cluster=\"a\\\"b\\\\c\\nd\",namespace=\"default\"} 1");
    lacks(page, "c\nd");
    pitr_free(page);
}

static void metrics_render__leaves_out_what_was_not_read(void **state)
{
    struct pitr_metrics_snapshot s;
    char *page;

    (void)state;
    full_snapshot(&s);
    s.pg_up = 0;
    s.have_wal_status = 0;
    s.have_push = 0;
    s.cl[0].backup_duration = -1;
    s.cl[0].storage_up = -1;
    s.cl[0].job_storage_up = -1;
    s.is_leader = 0;
    page = render(&s);
    has_line(page, "cnpg_collector_up{cluster=\"pg-main\"} 0");
    lacks(page, "cnpg_pg_stat_archiver_");
    lacks(page, "cnpg_collector_pg_wal_archive_status");
    lacks(page, "pgpitr_wal_push");
    lacks(page, "pgpitr_archive_ready_segments");
    lacks(page, "pgpitr_backup_duration_seconds{");
    lacks(page, "pgpitr_storage_up{");
    has_line(page, "pgpitr_is_leader 0");
    /* no Cluster: the CNPG backup gauges are 0, nothing per Cluster */
    s.ncl = 0;
    pitr_free(page);
    page = render(&s);
    has_line(page, "cnpg_collector_last_available_backup_timestamp 0");
    has_line(page, "cnpg_collector_first_recoverability_point 0");
    lacks(page, "cnpg_collector_up");
    lacks(page, "pgpitr_backup_in_progress");
    pitr_free(page);
}

static void metrics_render__storage_up_needs_both_inputs(void **state)
{
    struct pitr_metrics_snapshot s;
    char *page;

    (void)state;
    full_snapshot(&s);
    s.cl[0].job_storage_up = 0; /* the status write worked, the last job failed on the store */
    page = render(&s);
    has_line(page, "pgpitr_storage_up{cluster=\"pg-main\",namespace=\"default\"} 0");
    pitr_free(page);
    s.cl[0].job_storage_up = 1;
    s.cl[0].storage_up = 0;
    page = render(&s);
    has_line(page, "pgpitr_storage_up{cluster=\"pg-main\",namespace=\"default\"} 0");
    pitr_free(page);
    s.cl[0].storage_up = -1;
    page = render(&s);
    has_line(page, "pgpitr_storage_up{cluster=\"pg-main\",namespace=\"default\"} 1");
    pitr_free(page);
}

static void metrics_render__page_limit_is_an_error(void **state)
{
    struct pitr_metrics_snapshot s;
    struct pitr_buf b;
    struct pitr_err err = { 0 };

    (void)state;
    full_snapshot(&s);
    pitr_buf_init(&b, 512);
    assert_int_not_equal(pitr_metrics_render(&s, &b, &err), PITR_OK);
    pitr_buf_release(&b);
}

/* A server on an ephemeral port of 127.0.0.1 with no PostgreSQL behind it. */
static int free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int http(int port, const char *req, char *resp, size_t cap)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t got = 0;
    ssize_t n;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    while (got + 1 < cap && (n = read(fd, resp + got, cap - 1 - got)) > 0)
        got += (size_t)n;
    resp[got] = '\0';
    close(fd);
    return got > 12 ? (int)strtol(resp + 9, NULL, 10) : -1; /* "HTTP/1.1 NNN" */
}

static void metrics_start__serves_metrics_only(void **state)
{
    struct pitr_metrics_opts o;
    struct pitr_metrics *m = NULL;
    struct pitr_err err = { 0 };
    char listen[64], *resp = pitr_malloc(256 * 1024);
    int port = free_port();

    (void)state;
    memset(&o, 0, sizeof(o));
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    o.listen = listen;
    o.conninfo = "host=127.0.0.1 port=1 connect_timeout=1";
    o.pgdata = "/nonexistent";
    o.stats_file = "off";
    assert_int_equal(pitr_metrics_start(&o, &m, &err), PITR_OK);
    assert_non_null(m);
    pitr_metrics_set_leader(m, 1);
    pitr_metrics_set_backup_times(m, "ns1", "c1", T0 - 100, T0 - 10, 0);
    pitr_metrics_set_storage_up(m, "ns1", "c1", 1);
    assert_int_equal(
      http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", resp, 256 * 1024),
      200);
    assert_non_null(strstr(resp, "text/plain; version=0.0.4"));
    assert_non_null(strstr(resp, "\npgpitr_is_leader 1\n"));
    assert_non_null(strstr(resp, "\ncnpg_collector_up{cluster=\"c1\"} 0\n"));
    assert_non_null(strstr(resp, "\ncnpg_collector_last_available_backup_timestamp 1796270390\n"));
    assert_non_null(strstr(resp, "\npgpitr_storage_up{cluster=\"c1\",namespace=\"ns1\"} 1\n"));
    assert_int_equal(
      http(port, "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", resp, 256 * 1024),
      404);
    assert_int_equal(
      http(
        port, "GET /metrics/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", resp, 256 * 1024),
      404);
    assert_int_equal(http(port,
                          "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: "
                          "close\r\n\r\nabc",
                          resp,
                          256 * 1024),
                     405);
    pitr_metrics_stop(m);
    pitr_free(resp);
}

static void metrics_start__off_and_bad_addresses(void **state)
{
    struct pitr_metrics_opts o;
    struct pitr_metrics *m = (struct pitr_metrics *)&o;
    struct pitr_err err = { 0 };
    const char *bad[] = { "9187",      "127.0.0.1:", "127.0.0.1:0",   "127.0.0.1:70000",
                          "[::1]9187", ":9187",      "127.0.0.1:12x", "a:b:c" };
    size_t i;

    (void)state;
    memset(&o, 0, sizeof(o));
    o.listen = "off";
    assert_int_equal(pitr_metrics_start(&o, &m, &err), PITR_OK);
    assert_null(m);
    /* the setters take NULL (metrics off) */
    pitr_metrics_set_leader(NULL, 1);
    pitr_metrics_set_retention(NULL, "a", "b", 1, T0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o.listen = bad[i];
        assert_int_equal(pitr_metrics_start(&o, &m, &err), PITR_EUSAGE);
        assert_null(m);
    }
}

static void metrics_set__clusters_sorted_and_bounded(void **state)
{
    struct pitr_metrics_opts o;
    struct pitr_metrics *m = NULL;
    struct pitr_metrics_snapshot *s = pitr_calloc(1, sizeof(*s));
    struct pitr_err err = { 0 };
    char listen[64], name[32];
    int i;

    (void)state;
    memset(&o, 0, sizeof(o));
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", free_port());
    o.listen = listen;
    o.stats_file = "off";
    assert_int_equal(pitr_metrics_start(&o, &m, &err), PITR_OK);
    pitr_metrics_set_in_progress(m, "ns", "zeta", 1);
    pitr_metrics_set_retention(m, "ns", "alpha", 1, T0);
    pitr_metrics_set_retention(m, "ns", "alpha", 1, T0 - 50); /* older: ignored */
    pitr_metrics_set_retention(m, "ns", "alpha", 0, T0 + 5);
    pitr_metrics_set_backup_duration(m, "ns", "alpha", 3.0);
    pitr_metrics_snapshot_copy(m, s);
    assert_int_equal(s->ncl, 2);
    assert_string_equal(s->cl[0].name, "alpha");
    assert_int_equal(s->cl[0].retention_ok, T0);
    assert_int_equal(s->cl[0].retention_failed, T0 + 5);
    assert_int_equal(s->cl[0].storage_up, -1);
    assert_true(s->cl[0].backup_duration == 3.0);
    assert_string_equal(s->cl[1].name, "zeta");
    assert_int_equal(s->cl[1].backup_in_progress, 1);
    assert_true(s->cl[1].backup_duration < 0);
    for (i = 0; i < PITR_METRICS_MAX_CLUSTERS + 5; i++) {
        snprintf(name, sizeof(name), "c%03d", i);
        pitr_metrics_set_leader(m, i & 1);
        pitr_metrics_set_storage_up(m, "ns", name, 1);
    }
    pitr_metrics_snapshot_copy(m, s);
    assert_int_equal(s->ncl, PITR_METRICS_MAX_CLUSTERS);
    pitr_metrics_stop(m);
    pitr_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metrics_render__exact_lines_for_a_snapshot),
        cmocka_unit_test(metrics_render__histogram_buckets_are_cumulative),
        cmocka_unit_test(metrics_render__label_values_are_escaped),
        cmocka_unit_test(metrics_render__leaves_out_what_was_not_read),
        cmocka_unit_test(metrics_render__storage_up_needs_both_inputs),
        cmocka_unit_test(metrics_render__page_limit_is_an_error),
        cmocka_unit_test(metrics_start__serves_metrics_only),
        cmocka_unit_test(metrics_start__off_and_bad_addresses),
        cmocka_unit_test(metrics_set__clusters_sorted_and_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
