/*
 * test_cron.c - unit tests for src/sched/cron.c.
 *
 * The main check is fixtures/cron/next-runs.tsv: schedules x reference times
 * whose expected next runs come from python3-croniter, a brute-force oracle
 * of robfig/cron v1.2.0's rules, robfig's own test vectors (DST changes in
 * New York and Sao Paulo) and rows traced by hand (Berlin DST, @every); see
 * tools/cron-table.py, which make unit runs with --check so the table cannot
 * drift from its generator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgpitr/core/err.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/sched/cron.h"
#include "pgpitr/sched/tz.h"

#define TABLE "fixtures/cron/next-runs.tsv"

/* "YYYY-MM-DDTHH:MM:SSZ" -> Unix seconds; "none" -> 0. */
static int64_t parse_utc(const char *s)
{
    int y, mo, d, h, mi, se;

    if (strcmp(s, "none") == 0)
        return 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &se) != 6)
        fail_msg("bad time '%s' in " TABLE, s);
    return pitr_tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
}

static void format_utc(int64_t t, char out[32])
{
    int64_t y;
    int m, d;

    if (t == 0) {
        snprintf(out, 32, "none");
        return;
    }
    pitr_tz_civil_from_days(t / 86400, &y, &m, &d);
    snprintf(out,
             32,
             "%04lld-%02d-%02dT%02d:%02d:%02dZ",
             (long long)y,
             m,
             d,
             (int)(t % 86400 / 3600),
             (int)(t % 3600 / 60),
             (int)(t % 60));
}

static struct pitr_cron *parse_ok(const char *spec, const char *tz)
{
    struct pitr_err err = { 0 };
    struct pitr_cron *c = NULL;
    char *note = NULL;

    if (pitr_cron_parse(spec, tz, &c, &note, &err) != PITR_OK)
        fail_msg("'%s' (zone %s) did not parse: %s", spec, tz ? tz : "-", err.msg);
    pitr_free(note);
    return c;
}

/* ---- the table ----------------------------------------------------------- */

static void pitr_cron_next__matches_reference_table(void **state)
{
    FILE *f = fopen(TABLE, "r");
    char line[1024], got[32];
    int rows = 0, bad = 0, by_source[4] = { 0 };
    static const char *const sources[4] = { "croniter", "oracle", "robfig", "hand" };

    (void)state;
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        char *col[6] = { 0 }, *p = line, *save = NULL;
        struct pitr_cron *c;
        int64_t after, want, have;
        int n = 0, i;

        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        for (n = 0; n < 6; n++) {
            col[n] = p;
            p = strchr(p, '\t');
            if (p == NULL) {
                n++;
                break;
            }
            *p++ = '\0';
        }
        (void)save;
        if (n < 5)
            fail_msg("short row in " TABLE ": '%s'", line);
        c = parse_ok(col[1], strcmp(col[2], "-") == 0 ? NULL : col[2]);
        after = parse_utc(col[3]);
        want = parse_utc(col[4]);
        have = pitr_cron_next(c, after);
        if (have != want) {
            format_utc(have, got);
            print_error("%s row: '%s' zone %s after %s: expected %s, got %s (%s)\n",
                        col[0],
                        col[1],
                        col[2],
                        col[3],
                        col[4],
                        got,
                        col[5] ? col[5] : "");
            bad++;
        }
        for (i = 0; i < 4; i++)
            by_source[i] += strcmp(col[0], sources[i]) == 0;
        pitr_cron_free(c);
        rows++;
    }
    fclose(f);
    /* The table is the test: a truncated file must not pass. */
    assert_true(rows >= 700);
    assert_true(by_source[0] >= 600 && by_source[1] >= 10 && by_source[2] >= 15 &&
                by_source[3] >= 15);
    assert_int_equal(bad, 0);
}

/* ---- parsing --------------------------------------------------------------- */

static void pitr_cron_parse__five_fields_standard_with_note(void **state)
{
    struct pitr_err err = { 0 };
    struct pitr_cron *c = NULL;
    char *note = NULL;

    (void)state;
    assert_int_equal(pitr_cron_parse("0 0 * * *", NULL, &c, &note, &err), PITR_OK);
    assert_non_null(note);
    assert_string_equal(note,
                        "5-field schedule '0 0 * * *' read as standard cron (minute first): "
                        "'0 0 0 * * *' (daily at 00:00); CloudNativePG would read it seconds "
                        "first as '0 0 * * * *' (hourly at minute 0); write '0 0 0 * * *' to be "
                        "explicit");
    /* Daily at midnight, not hourly. */
    assert_int_equal(pitr_cron_next(c, parse_utc("2026-12-03T04:00:00Z")),
                     parse_utc("2026-12-04T00:00:00Z"));
    pitr_free(note);
    pitr_cron_free(c);

    assert_int_equal(pitr_cron_parse("*/5 * * * *", NULL, &c, &note, &err), PITR_OK);
    assert_non_null(strstr(note, "'0 */5 * * * *'"));
    assert_null(strstr(note, "daily"));
    pitr_free(note);
    pitr_cron_free(c);
}

static void pitr_cron_parse__six_fields_no_note(void **state)
{
    struct pitr_err err = { 0 };
    struct pitr_cron *c = NULL;
    char *note = (char *)"unset";

    (void)state;
    assert_int_equal(pitr_cron_parse("  0 0 0 * * *\n", NULL, &c, &note, &err), PITR_OK);
    assert_null(note);
    assert_string_equal(pitr_cron_spec(c), "0 0 0 * * *");
    pitr_cron_free(c);
    assert_int_equal(pitr_cron_parse("@daily", "UTC", &c, &note, &err), PITR_OK);
    assert_null(note);
    pitr_cron_free(c);
    /* An empty default zone (an unset setting) is UTC. */
    assert_int_equal(pitr_cron_parse("0 0 0 * * *", "", &c, &note, &err), PITR_OK);
    assert_int_equal(pitr_cron_next(c, parse_utc("2024-07-01T12:00:00Z")),
                     parse_utc("2024-07-02T00:00:00Z"));
    pitr_cron_free(c);
}

static void pitr_cron_parse__zone_prefix_and_every_notes(void **state)
{
    struct pitr_err err = { 0 };
    struct pitr_cron *c = NULL;
    char *note = NULL;

    (void)state;
    assert_int_equal(pitr_cron_parse("TZ=Europe/Berlin 0 0 * * *", NULL, &c, &note, &err), PITR_OK);
    assert_non_null(strstr(note, "'TZ=Europe/Berlin 0 0 0 * * *' (daily at 00:00)"));
    assert_non_null(strstr(note, "does not accept the 'TZ=' prefix"));
    /* 00:00 Berlin summer time is 22:00 UTC. */
    assert_int_equal(pitr_cron_next(c, parse_utc("2024-07-01T12:00:00Z")),
                     parse_utc("2024-07-01T22:00:00Z"));
    pitr_free(note);
    pitr_cron_free(c);

    assert_int_equal(pitr_cron_parse("@every 500ms", NULL, &c, &note, &err), PITR_OK);
    assert_non_null(strstr(note, "runs every 1 s"));
    pitr_free(note);
    pitr_cron_free(c);
    assert_int_equal(pitr_cron_parse("@every 2h", NULL, &c, &note, &err), PITR_OK);
    assert_null(note);
    assert_int_equal(pitr_cron_next(c, 1000), 1000 + 7200);
    pitr_cron_free(c);
}

static void pitr_cron_parse__malformed_named(void **state)
{
    static const struct {
        const char *spec, *tz, *msg;
    } cases[] = {
        { "", NULL, "empty" },
        { "   ", NULL, "empty" },
        { "0 0 0 * *  * *", NULL, "found more than 6" },
        { "0 0 * *", NULL, "found 4" },
        { "60 0 0 * * *", NULL, "second field '60': 60 is above the maximum 59" },
        { "0 60 0 * * *", NULL, "minute field '60': 60 is above the maximum 59" },
        { "0 0 24 * * *", NULL, "hour field '24': 24 is above the maximum 23" },
        { "0 0 0 0 * *", NULL, "day-of-month field '0': 0 is below the minimum 1" },
        { "0 0 0 32 * *", NULL, "day-of-month field '32': 32 is above the maximum 31" },
        { "0 0 0 * 13 *", NULL, "month field '13': 13 is above the maximum 12" },
        { "0 0 0 * 0 *", NULL, "month field '0': 0 is below the minimum 1" },
        { "0 0 0 * * 7",
          NULL,
          "day-of-week field '7': 7 is above the maximum 6 (Sunday is 0 or SUN)" },
        { "0 0 * * 5-7",
          NULL,
          "day-of-week field '5-7': 7 is above the maximum 6 (Sunday is 0 or SUN)" },
        { "0 0 0 * FOO *", NULL, "month field 'FOO': not a number or a known name" },
        { "0 0 0 * * MONDAY", NULL, "day-of-week field 'MONDAY': not a number or a known name" },
        { "0 0 0 * * FRI-MON", NULL, "range start 5 is after its end 1" },
        { "0 */0 * * * *", NULL, "minute field '*/0': step must be a positive number" },
        { "0 5/0 * * * *", NULL, "step must be a positive number" },
        { "0 */x * * * *", NULL, "minute field '*/x': step: not a number" },
        { "0 1-2-3 * * * *", NULL, "too many hyphens" },
        { "0 1/2/3 * * * *", NULL, "too many slashes" },
        { "0 1,,2 * * * *", NULL, "empty list item" },
        { "0 *-5 * * * *", NULL, "'*' cannot start a range" },
        { "0 -5 * * * *", NULL, "a number is missing" },
        { "0 +5 * * * *", NULL, "not a number" },
        { "a b c d e f", NULL, "second field 'a': not a number" },
        { "@fortnightly", NULL, "unknown descriptor '@fortnightly'" },
        { "@Daily", NULL, "unknown descriptor" },
        { "@every", NULL, "'@every' needs a Go duration" },
        { "@every 10", NULL, "'@every' needs a Go duration" },
        { "@every 1x", NULL, "'@every' needs a Go duration" },
        { "@every 99999999999h", NULL, "'@every' needs a Go duration" },
        { "TZ=Mars/Olympus 0 0 0 * * *", NULL, "unknown time zone 'Mars/Olympus'" },
        { "CRON_TZ=Europe/Berlinn 0 0 0 * * *", NULL, "unknown time zone 'Europe/Berlinn'" },
        { "0 0 0 * * *", "Nowhere/Land", "unknown time zone 'Nowhere/Land'" },
        { "TZ=../../etc/passwd 0 0 0 * * *", NULL, "bad time zone name '../../etc/passwd'" },
        { "TZ=/etc/passwd 0 0 0 * * *", NULL, "bad time zone name '/etc/passwd'" },
        { "TZ=Europe/../../../etc/passwd 0 0 0 * * *", NULL, "bad time zone name" },
        { "TZ=Europe//Berlin 0 0 0 * * *", NULL, "bad time zone name" },
        { "TZ=Europe/Berlin;rm 0 0 0 * * *", NULL, "bad time zone name" },
        { "TZ=America 0 0 0 * * *", NULL, "is not a regular file" },
        { "TZ=zone1970.tab 0 0 0 * * *", NULL, "not a valid TZif file" },
        { "TZ= 0 0 0 * * *", NULL, "empty time zone name" },
        { "TZ=Europe/Berlin", NULL, "a schedule must follow the zone" },
        { "TZ=Europe/Berlin 0 0 * *", NULL, "found 4" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pitr_err err = { 0 };
        struct pitr_cron *c = (struct pitr_cron *)&err; /* must be reset to NULL */
        char *note = (char *)"unset";
        pitr_rc rc = pitr_cron_parse(cases[i].spec, cases[i].tz, &c, &note, &err);

        if (rc != PITR_EUSAGE || strstr(err.msg, cases[i].msg) == NULL)
            fail_msg(
              "'%s': rc %d, message '%s', expected '%s'", cases[i].spec, rc, err.msg, cases[i].msg);
        assert_null(c);
        assert_null(note);
        assert_non_null(strstr(err.msg, "cron schedule"));
    }
}

static void pitr_cron_parse__names_case_insensitive(void **state)
{
    struct pitr_cron *a = parse_ok("0 0 0 * jan,FEB,Mar sun-SAT", NULL);
    struct pitr_cron *b = parse_ok("0 0 0 * 1-3 0-6", NULL);
    int64_t t = parse_utc("2024-02-28T12:00:00Z");
    int i;

    (void)state;
    for (i = 0; i < 50; i++) {
        int64_t na = pitr_cron_next(a, t), nb = pitr_cron_next(b, t);

        assert_int_equal(na, nb);
        t = na;
    }
    pitr_cron_free(a);
    pitr_cron_free(b);
}

static void pitr_cron_parse__too_long(void **state)
{
    char spec[1100];
    struct pitr_err err = { 0 };
    struct pitr_cron *c = NULL;
    char *note = NULL;

    (void)state;
    memset(spec, '1', sizeof(spec) - 1);
    spec[sizeof(spec) - 1] = '\0';
    assert_int_equal(pitr_cron_parse(spec, NULL, &c, &note, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "longer than 1024 bytes"));
    assert_int_equal(pitr_cron_parse(NULL, NULL, &c, &note, &err), PITR_EUSAGE);
}

/* ---- next ------------------------------------------------------------------- */

static void pitr_cron_next__strictly_after_and_second_aligned(void **state)
{
    struct pitr_cron *c = parse_ok("0 0 0 * * *", NULL);
    int64_t midnight = parse_utc("2024-03-01T00:00:00Z");

    (void)state;
    assert_int_equal(pitr_cron_next(c, midnight - 1), midnight);
    assert_int_equal(pitr_cron_next(c, midnight), midnight + 86400);
    pitr_cron_free(c);
}

static void pitr_cron_next__out_of_range_after_is_none(void **state)
{
    struct pitr_cron *c = parse_ok("* * * * * *", NULL);

    (void)state;
    assert_int_equal(pitr_cron_next(c, -1), 0);
    assert_int_equal(pitr_cron_next(c, INT64_MAX), 0);
    assert_int_equal(pitr_cron_next(c, 0), 1);
    pitr_cron_free(c);
}

static void pitr_cron_next__never_gives_up_after_five_years(void **state)
{
    struct pitr_err err = { 0 };
    struct pitr_cron *c = NULL;
    char *note = NULL;

    (void)state;
    /* Accepted, as robfig and CloudNativePG do, with a note. */
    assert_int_equal(pitr_cron_parse("0 0 0 30 2 *", NULL, &c, &note, &err), PITR_OK);
    assert_non_null(note);
    assert_non_null(strstr(note, "'0 0 0 30 2 *' matches no time within five years"));
    assert_int_equal(pitr_cron_next(c, parse_utc("2024-01-01T00:00:00Z")), 0);
    pitr_free(note);
    pitr_cron_free(c);
    /* A leap day alone is a real schedule. */
    assert_int_equal(pitr_cron_parse("0 0 0 29 2 *", NULL, &c, &note, &err), PITR_OK);
    assert_null(note);
    pitr_cron_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_cron_next__matches_reference_table),
        cmocka_unit_test(pitr_cron_parse__five_fields_standard_with_note),
        cmocka_unit_test(pitr_cron_parse__six_fields_no_note),
        cmocka_unit_test(pitr_cron_parse__zone_prefix_and_every_notes),
        cmocka_unit_test(pitr_cron_parse__malformed_named),
        cmocka_unit_test(pitr_cron_parse__names_case_insensitive),
        cmocka_unit_test(pitr_cron_parse__too_long),
        cmocka_unit_test(pitr_cron_next__strictly_after_and_second_aligned),
        cmocka_unit_test(pitr_cron_next__out_of_range_after_is_none),
        cmocka_unit_test(pitr_cron_next__never_gives_up_after_five_years),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
