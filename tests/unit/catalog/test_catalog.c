/*
 * test_catalog.c - unit tests for src/restore/catalog.c: target time forms,
 * tolerant backup.info parsing and CloudNativePG's choice of a base backup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "pgpitr/backup/info.h"
#include "pgpitr/catalog/catalog.h"
#include "pgpitr/core/mem.h"

/* 2024-03-01 12:00:00 UTC */
#define T0 ((int64_t)1709294400 * 1000000)

static void time_ok(const char *s, int64_t want, const char *want_pg)
{
    struct pitr_err err = { 0 };
    int64_t us = 0;
    char pg[64] = "";

    assert_int_equal(pitr_cat_parse_time(s, &us, pg, &err), PITR_OK);
    assert_int_equal(us, want);
    assert_string_equal(pg, want_pg);
}

static void parse_time__every_form(void **state)
{
    (void)state;
    time_ok("2024-03-01 12:00:00", T0, "2024-03-01 12:00:00+00");
    time_ok("2024-03-01T12:00:00", T0, "2024-03-01 12:00:00+00");
    time_ok("2024-03-01T12:00:00Z", T0, "2024-03-01 12:00:00+00");
    time_ok("2024-03-01 12:00:00+00", T0, "2024-03-01 12:00:00+00");
    time_ok("2024-03-01 12:00:00.5", T0 + 500000, "2024-03-01 12:00:00.500000+00");
    time_ok("2024-03-01T12:00:00.123456Z", T0 + 123456, "2024-03-01 12:00:00.123456+00");
}

static void parse_time__offsets(void **state)
{
    (void)state;
    time_ok("2024-03-01 14:00:00+02", T0, "2024-03-01 12:00:00+00");
    time_ok("2024-03-01 14:30:00+02:30", T0, "2024-03-01 12:00:00+00");
    time_ok("2024-03-01T14:30:00+0230", T0, "2024-03-01 12:00:00+00");
    time_ok("2024-03-01 07:00:00-05:00", T0, "2024-03-01 12:00:00+00");
    /* crossing midnight and a leap day */
    time_ok(
      "2024-03-01 01:00:00+02:00", T0 - (int64_t)13 * 3600 * 1000000, "2024-02-29 23:00:00+00");
    /* barman's str(datetime) with microseconds */
    time_ok("2024-03-01 12:00:00.000001+00:00", T0 + 1, "2024-03-01 12:00:00.000001+00");
}

static void parse_time__invalid(void **state)
{
    static const char *bad[] = {
        "",
        "yesterday",
        "2024-03-01",
        "2024-13-01 00:00:00",
        "2023-02-29 00:00:00",
        "2024-03-01 24:00:00",
        "2024-03-01 12:00",
        "2024-03-01 12:00:00.",
        "2024-03-01 12:00:00+2",
        "2024-03-01 12:00:00 UTC",
        "2024-03-01 12:00:00+01:00x",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pitr_err err = { 0 };
        int64_t us;

        assert_int_equal(pitr_cat_parse_time(bad[i], &us, NULL, &err), PITR_EUSAGE);
        assert_non_null(strstr(err.msg, "invalid time"));
    }
}

static const char barman_info[] =
  "backup_label='START WAL LOCATION: 0/6000028 (file 000000010000000000000006)\\nLABEL: x\\n'\n"
  "backup_name=nightly\n"
  "begin_offset=40\n"
  "begin_time=2024-03-01 11:59:00.265616+00:00\n"
  "begin_wal=000000010000000000000006\n"
  "compression=None\n"
  "# a comment\n"
  "\n"
  "end_time=2024-03-01 13:00:00+01:00\n"
  "end_xlog=0/6003998\n"
  "error=None\n"
  "cluster_size=12345\n"
  "snapshots_info=None\n"
  "status=DONE\n"
  "tablespaces=[('tbs1', 16385, '/srv/tbs one'), (\"it's\", 16386, '/srv/t2')]\n"
  "timeline=1\n";

static void parse_info__barman_file_with_unknown_keys(void **state)
{
    struct pitr_cat_backup b;
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(pitr_cat_parse_info(barman_info, strlen(barman_info), &b, &err), PITR_OK);
    assert_string_equal(b.status, "DONE");
    assert_string_equal(b.backup_name, "nightly");
    assert_string_equal(b.begin_wal, "000000010000000000000006");
    assert_true(b.has_end_time);
    assert_int_equal(b.end_time_us, T0);
    assert_true(b.has_end_lsn);
    assert_int_equal(b.end_lsn, 0x6003998);
    assert_int_equal(b.timeline, 1);
    assert_int_equal(b.ntablespaces, 2);
    assert_string_equal(b.tablespaces[0].name, "tbs1");
    assert_int_equal(b.tablespaces[0].oid, 16385);
    assert_string_equal(b.tablespaces[0].location, "/srv/tbs one");
    assert_string_equal(b.tablespaces[1].name, "it's");
    assert_int_equal(b.tablespaces[1].oid, 16386);
    pitr_cat_backup_release(&b);
}

static void parse_info__none_and_garbage_values(void **state)
{
    static const char text[] = "status=FAILED\nend_time=None\nend_xlog=garbage\ntablespaces=None\n"
                               "no equals sign here\ntimeline=None\n";
    struct pitr_cat_backup b;
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(pitr_cat_parse_info(text, strlen(text), &b, &err), PITR_OK);
    assert_string_equal(b.status, "FAILED");
    assert_false(b.has_end_time);
    assert_false(b.has_end_lsn);
    assert_null(b.end_time);
    assert_int_equal(b.ntablespaces, 0);
    assert_int_equal(b.timeline, -1);
    pitr_cat_backup_release(&b);
}

static void parse_info__malformed_tablespaces(void **state)
{
    static const char text[] = "status=DONE\ntablespaces=[('tbs1', x, '/a')]\n";
    struct pitr_cat_backup b;
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(pitr_cat_parse_info(text, strlen(text), &b, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "tablespaces"));
}

/* A synthetic catalog: id, status, end_time, end_xlog, timeline, name. */
static const struct {
    const char *id, *status, *end_time, *end_xlog, *tl, *name;
} cat_rows[] = {
    { "20240301T100000", "DONE", "2024-03-01 10:05:00+00:00", "0/3000100", "1", NULL },
    { "20240301T110000", "DONE", "2024-03-01 11:05:00+00:00", "0/5000100", "1", "eleven" },
    { "20240301T113000", "FAILED", "2024-03-01 11:35:00+00:00", "0/6000100", "1", NULL },
    { "20240301T120000", "DONE", "2024-03-01 12:05:00.5+00:00", "0/7000100", "2", NULL },
};
#define NCAT (sizeof(cat_rows) / sizeof(cat_rows[0]))

static void load_cat(struct pitr_cat_backup *v)
{
    for (size_t i = 0; i < NCAT; i++) {
        char text[512];
        struct pitr_err err = { 0 };

        snprintf(text,
                 sizeof(text),
                 "status=%s\nend_time=%s\nend_xlog=%s\ntimeline=%s\n%s%s%s",
                 cat_rows[i].status,
                 cat_rows[i].end_time,
                 cat_rows[i].end_xlog,
                 cat_rows[i].tl,
                 cat_rows[i].name ? "backup_name=" : "",
                 cat_rows[i].name ? cat_rows[i].name : "",
                 cat_rows[i].name ? "\n" : "");
        assert_int_equal(pitr_cat_parse_info(text, strlen(text), &v[i], &err), PITR_OK);
        v[i].id = pitr_strdup(cat_rows[i].id);
    }
}

static void free_cat(struct pitr_cat_backup *v)
{
    for (size_t i = 0; i < NCAT; i++)
        pitr_cat_backup_release(&v[i]);
}

static void select__table(void **state)
{
    static const struct {
        const char *what, *id, *time, *lsn;
        int64_t tli;
        pitr_rc rc;
        const char *want; /* chosen id, or a message fragment */
    } cases[] = {
        { "no target: newest DONE", NULL, NULL, NULL, -1, PITR_OK, "20240301T120000" },
        { "latest", "latest", NULL, NULL, -1, PITR_OK, "20240301T120000" },
        { "explicit id", "20240301T100000", NULL, NULL, -1, PITR_OK, "20240301T100000" },
        { "explicit name", "eleven", NULL, NULL, -1, PITR_OK, "20240301T110000" },
        { "explicit FAILED id", "20240301T113000", NULL, NULL, -1, PITR_EUSAGE, "not DONE" },
        { "unknown id", "20200101T000000", NULL, NULL, -1, PITR_ENOTFOUND, "no backup with" },
        { "explicit id, time at its end",
          "20240301T110000",
          "2024-03-01 11:05:00Z",
          NULL,
          -1,
          PITR_OK,
          "20240301T110000" },
        { "explicit id, time before its end",
          "eleven",
          "2024-03-01 11:04:59Z",
          NULL,
          -1,
          PITR_EUSAGE,
          "backup 'eleven' ended at 2024-03-01 11:05:00+00:00, after the target time" },
        { "explicit id, lsn after its end",
          "20240301T110000",
          NULL,
          "0/5000101",
          -1,
          PITR_OK,
          "20240301T110000" },
        { "explicit id, lsn at its end",
          "20240301T110000",
          NULL,
          "0/5000100",
          -1,
          PITR_EUSAGE,
          "ended at LSN 0/5000100, not before the target LSN" },
        { "time after all", NULL, "2024-03-01 13:00:00", NULL, -1, PITR_OK, "20240301T120000" },
        { "time skips FAILED", NULL, "2024-03-01 11:50:00", NULL, -1, PITR_OK, "20240301T110000" },
        { "time equal to end_time",
          NULL,
          "2024-03-01 11:05:00Z",
          NULL,
          -1,
          PITR_OK,
          "20240301T110000" },
        { "time just before end_time",
          NULL,
          "2024-03-01 11:04:59.999999Z",
          NULL,
          -1,
          PITR_OK,
          "20240301T100000" },
        { "time with offset",
          NULL,
          "2024-03-01 13:05:00+02",
          NULL,
          -1,
          PITR_OK,
          "20240301T110000" },
        { "fractional end_time",
          NULL,
          "2024-03-01 12:05:00.4",
          NULL,
          -1,
          PITR_OK,
          "20240301T110000" },
        { "time before the first backup",
          NULL,
          "2024-03-01 10:00:00",
          NULL,
          -1,
          PITR_EUSAGE,
          "earliest possible target time is 2024-03-01 10:05:00+00:00" },
        { "time on timeline 1", NULL, "2024-03-01 13:00:00", NULL, 1, PITR_OK, "20240301T110000" },
        { "lsn after all", NULL, NULL, "1/0", -1, PITR_OK, "20240301T120000" },
        { "lsn strictly after end_xlog", NULL, NULL, "0/5000101", -1, PITR_OK, "20240301T110000" },
        { "lsn equal to end_xlog", NULL, NULL, "0/5000100", -1, PITR_OK, "20240301T100000" },
        { "lsn before the first backup",
          NULL,
          NULL,
          "0/3000100",
          -1,
          PITR_EUSAGE,
          "earliest possible target LSN is after 0/3000100" },
        { "no backup on timeline", NULL, NULL, NULL, 7, PITR_ENOTFOUND, "timeline 7" },
    };
    struct pitr_cat_backup v[NCAT];

    (void)state;
    load_cat(v);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pitr_cat_query q = { 0 };
        const struct pitr_cat_backup *b = NULL;
        struct pitr_err err = { 0 };
        pitr_rc rc;

        q.id = cases[i].id;
        q.timeline = cases[i].tli;
        if (cases[i].time) {
            q.target = PITR_CAT_TARGET_TIME;
            assert_int_equal(pitr_cat_parse_time(cases[i].time, &q.time_us, NULL, &err), PITR_OK);
        } else if (cases[i].lsn) {
            unsigned hi, lo;
            q.target = PITR_CAT_TARGET_LSN;
            assert_int_equal(sscanf(cases[i].lsn, "%X/%X", &hi, &lo), 2);
            q.lsn = ((uint64_t)hi << 32) | lo;
        }
        rc = pitr_cat_select(v, NCAT, &q, &b, &err);
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d, want %d (%s)", cases[i].what, rc, cases[i].rc, err.msg);
        if (rc == PITR_OK) {
            if (strcmp(b->id, cases[i].want) != 0)
                fail_msg("%s: chose %s, want %s", cases[i].what, b->id, cases[i].want);
        } else if (strstr(err.msg, cases[i].want) == NULL) {
            fail_msg("%s: message '%s' lacks '%s'", cases[i].what, err.msg, cases[i].want);
        }
    }
    free_cat(v);
}

static void select__empty_catalog(void **state)
{
    struct pitr_cat_query q = { 0 };
    const struct pitr_cat_backup *b;
    struct pitr_err err = { 0 };

    (void)state;
    q.timeline = -1;
    assert_int_equal(pitr_cat_select(NULL, 0, &q, &b, &err), PITR_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no DONE backup"));
}

/*
 * One decoder for Python str literals: what pitr_py_repr_str writes (and
 * barman's repr()) reads back to the same bytes, in backup.info's
 * tablespaces and in show's JSON alike.
 */
static void py_str__reads_back_what_repr_writes(void **state)
{
    static const char *const samples[] = {
        "/srv/tbs",
        "it's",
        "say \"hi\" and 'bye'",
        "back\\slash",
        "tab\tnew\nline\rret",
        "del\x7f bell\x07",
        "nel \xc2\x85 nbsp \xc2\xa0 e-acute \xc3\xa9", /* U+0085, U+00A0: \x85 \xa0 in repr */
        "euro \xe2\x82\xac",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        struct pitr_buf lit, back;
        struct pitr_err err = { 0 };
        const char *p;

        pitr_buf_init(&lit, 4096);
        pitr_buf_init(&back, 4096);
        assert_int_equal(pitr_py_repr_str(samples[i], &lit, &err), PITR_OK);
        p = lit.data;
        assert_int_equal(pitr_cat_py_str(&p, &back, &err), PITR_OK);
        assert_ptr_equal(p, lit.data + lit.len);
        if (back.len != strlen(samples[i]) || memcmp(back.data, samples[i], back.len) != 0) {
            print_error("%s read back as '%s'\n", lit.data, back.data);
            fail();
        }
        pitr_buf_release(&lit);
        pitr_buf_release(&back);
    }
}

static void py_str__python3_escapes(void **state)
{
    static const struct {
        const char *lit, *want;
    } ok[] = {
        { "'\\xe9'", "\xc3\xa9" }, /* a code point, not a byte */
        { "'\\u20ac'", "\xe2\x82\xac" },
        { "'\\U0001f600'", "\xf0\x9f\x98\x80" },
        { "'\\udc80'", "\x80" }, /* os.fsdecode's surrogateescape */
        { "\"a'b\"", "a'b" },
    };
    static const char *const bad[] = {
        "'unterminated", "'\\q'", "'\\x4'", "'\\ud800'", "'\\U00110000'", "plain", "'\\",
    };
    struct pitr_err err = { 0 };

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct pitr_buf b;
        const char *p = ok[i].lit;

        pitr_buf_init(&b, 64);
        assert_int_equal(pitr_cat_py_str(&p, &b, &err), PITR_OK);
        assert_string_equal(b.data, ok[i].want);
        pitr_buf_release(&b);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pitr_buf b;
        const char *p = bad[i];

        pitr_buf_init(&b, 64);
        assert_int_equal(pitr_cat_py_str(&p, &b, &err), PITR_EFORMAT);
        assert_ptr_equal(p, bad[i]);
        pitr_buf_release(&b);
    }
}

/* A tablespace location with U+0085 (written '\x85' by repr) is read as UTF-8. */
static void parse_info__tablespace_location_escapes(void **state)
{
    static const char text[] = "status=DONE\ntablespaces=[('t\\xe9', 16400, '/srv/a\\x85b')]\n";
    struct pitr_cat_backup b;
    struct pitr_err err = { 0 };

    (void)state;
    assert_int_equal(pitr_cat_parse_info(text, strlen(text), &b, &err), PITR_OK);
    assert_int_equal(b.ntablespaces, 1);
    assert_string_equal(b.tablespaces[0].name, "t\xc3\xa9");
    assert_string_equal(b.tablespaces[0].location,
                        "/srv/a\xc2\x85"
                        "b");
    pitr_cat_backup_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_time__every_form),
        cmocka_unit_test(parse_time__offsets),
        cmocka_unit_test(parse_time__invalid),
        cmocka_unit_test(parse_info__barman_file_with_unknown_keys),
        cmocka_unit_test(parse_info__none_and_garbage_values),
        cmocka_unit_test(parse_info__malformed_tablespaces),
        cmocka_unit_test(py_str__reads_back_what_repr_writes),
        cmocka_unit_test(py_str__python3_escapes),
        cmocka_unit_test(parse_info__tablespace_location_escapes),
        cmocka_unit_test(select__table),
        cmocka_unit_test(select__empty_catalog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
