/*
 * test_tz.c - unit tests for src/sched/tz.c: TZif files built here (valid
 * and hostile: truncated at every length, every byte flipped, counts and
 * indexes out of range), POSIX TZ rules, zone names that try to leave
 * /usr/share/zoneinfo, FIFOs, folders and oversized files, and the system's
 * Europe/Berlin and America/New_York against known offsets and Go's
 * time.Date conversion of gap and repeat times.
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
#include "pgpitr/core/err.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/sched/tz.h"

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    return pitr_tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

/* ---- a TZif builder -------------------------------------------------------- */

struct tzif {
    unsigned char b[8192];
    size_t n;
};

static void put(struct tzif *t, const void *p, size_t n)
{
    assert_true(t->n + n <= sizeof(t->b));
    memcpy(t->b + t->n, p, n);
    t->n += n;
}

static void put32(struct tzif *t, uint32_t v)
{
    unsigned char x[4] = { (unsigned char)(v >> 24),
                           (unsigned char)(v >> 16),
                           (unsigned char)(v >> 8),
                           (unsigned char)v };

    put(t, x, 4);
}

static void put64(struct tzif *t, int64_t v)
{
    put32(t, (uint32_t)((uint64_t)v >> 32));
    put32(t, (uint32_t)v);
}

static void header(struct tzif *t, char version, uint32_t ntrans, uint32_t ntypes, uint32_t nchars)
{
    unsigned char zero[15] = { 0 };

    put(t, "TZif", 4);
    put(t, &version, 1);
    put(t, zero, 15);
    put32(t, 0);      /* isutcnt */
    put32(t, 0);      /* isstdcnt */
    put32(t, 0);      /* leapcnt */
    put32(t, ntrans); /* timecnt */
    put32(t, ntypes); /* typecnt */
    put32(t, nchars); /* charcnt */
}

/*
 * A version 2 file: an empty version 1 block, then transitions at 1000 (to
 * type 1, +7200 daylight) and 2000 (to type 0, +3600), and the footer.
 */
static void make_v2(struct tzif *t, const char *footer)
{
    memset(t, 0, sizeof(*t));
    header(t, '2', 0, 0, 0);
    header(t, '2', 2, 2, 4);
    put64(t, 1000);
    put64(t, 2000);
    put(t, "\x01\x00", 2);
    put32(t, 3600);
    put(t, "\x00\x00", 2);
    put32(t, 7200);
    put(t, "\x01\x00", 2);
    put(t, "CET", 4);
    put(t, "\n", 1);
    put(t, footer, strlen(footer));
    put(t, "\n", 1);
}

/* Offsets of the header fields in the second (version 2) header. */
#define H2         (44 + 0)
#define H2_TIMECNT (H2 + 32)
#define H2_TYPECNT (H2 + 36)
#define H2_CHARCNT (H2 + 40)
#define D2         (H2 + 44)

static pitr_rc load(const struct tzif *t, struct pitr_tz **out, struct pitr_err *err)
{
    return pitr_tz_from_tzif("Test/Zone", t->b, t->n, out, err);
}

/* ---- TZif ----------------------------------------------------------------- */

static void pitr_tz_from_tzif__v2_transitions_and_footer(void **state)
{
    struct tzif t;
    struct pitr_err err = { 0 };
    struct pitr_tz *tz = NULL;

    (void)state;
    make_v2(&t, "CET-1CEST,M3.5.0,M10.5.0/3");
    assert_int_equal(load(&t, &tz, &err), PITR_OK);
    assert_string_equal(pitr_tz_name(tz), "Test/Zone");
    assert_int_equal(pitr_tz_offset(tz, 500), 3600);  /* before: first standard type */
    assert_int_equal(pitr_tz_offset(tz, 1000), 7200); /* at a transition: the new type */
    assert_int_equal(pitr_tz_offset(tz, 1999), 7200);
    assert_int_equal(pitr_tz_offset(tz, 2000), 3600); /* last transition: the footer rules */
    assert_int_equal(pitr_tz_offset(tz, utc(2024, 7, 1, 0, 0, 0)), 7200);
    assert_int_equal(pitr_tz_offset(tz, utc(2024, 12, 1, 0, 0, 0)), 3600);
    pitr_tz_free(tz);

    /* No footer rule: the last type stays in force. */
    make_v2(&t, "");
    assert_int_equal(load(&t, &tz, &err), PITR_OK);
    assert_int_equal(pitr_tz_offset(tz, utc(2024, 7, 1, 0, 0, 0)), 3600);
    pitr_tz_free(tz);
}

static void pitr_tz_from_tzif__v1_only(void **state)
{
    struct tzif t = { { 0 }, 0 };
    struct pitr_err err = { 0 };
    struct pitr_tz *tz = NULL;

    (void)state;
    header(&t, 0, 1, 2, 4);
    put32(&t, 1000);
    put(&t, "\x01", 1);
    put32(&t, (uint32_t)-18000);
    put(&t, "\x00\x00", 2);
    put32(&t, (uint32_t)-14400);
    put(&t, "\x01\x00", 2);
    put(&t, "EST", 4);
    assert_int_equal(load(&t, &tz, &err), PITR_OK);
    assert_int_equal(pitr_tz_offset(tz, 999), -18000);
    assert_int_equal(pitr_tz_offset(tz, utc(2024, 1, 1, 0, 0, 0)), -14400);
    pitr_tz_free(tz);
}

static void pitr_tz_from_tzif__truncated_at_every_length(void **state)
{
    struct tzif t;
    size_t n;

    (void)state;
    make_v2(&t, "CET-1CEST,M3.5.0,M10.5.0/3");
    for (n = 0; n < t.n; n++) {
        struct pitr_err err = { 0 };
        struct pitr_tz *tz = (struct pitr_tz *)&err;

        if (pitr_tz_from_tzif("Test/Zone", t.b, n, &tz, &err) != PITR_EFORMAT)
            fail_msg("a file cut at %zu of %zu bytes was accepted", n, t.n);
        assert_null(tz);
        assert_non_null(strstr(err.msg, "time zone 'Test/Zone': not a valid TZif file"));
    }
}

static void pitr_tz_from_tzif__every_byte_flipped_is_safe(void **state)
{
    struct tzif t, u;
    size_t i;
    int accepted = 0, refused = 0;

    (void)state;
    make_v2(&t, "CET-1CEST,M3.5.0,M10.5.0/3");
    for (i = 0; i < t.n; i++) {
        static const unsigned char flips[] = { 0x01, 0x80, 0xff };
        size_t f;

        for (f = 0; f < sizeof(flips); f++) {
            struct pitr_err err = { 0 };
            struct pitr_tz *tz = NULL;
            pitr_rc rc;

            u = t;
            u.b[i] ^= flips[f];
            rc = pitr_tz_from_tzif("Test/Zone", u.b, u.n, &tz, &err);
            if (rc == PITR_OK) {
                /* Whatever it says, asking it must be safe. */
                (void)pitr_tz_offset(tz, -5000000000LL);
                (void)pitr_tz_offset(tz, 1500);
                (void)pitr_tz_local_to_utc(tz, utc(2024, 3, 31, 2, 30, 0));
                accepted++;
            } else {
                assert_int_equal(rc, PITR_EFORMAT);
                refused++;
            }
            pitr_tz_free(tz);
        }
    }
    assert_true(refused > 0);
    assert_true(accepted > 0); /* e.g. a changed abbreviation letter */
}

static void pitr_tz_from_tzif__hostile_headers(void **state)
{
    static const struct {
        size_t at;
        uint32_t value;
        const char *why;
    } cases[] = {
        { H2_TIMECNT, 0xffffffffu, "count" },
        { H2_TIMECNT, PITR_TZ_TRANS_MAX + 1, "count" },
        { H2_TYPECNT, 0, "count" },
        { H2_TYPECNT, 257, "count" },
        { H2_CHARCNT, 0, "count" },
        { H2_CHARCNT, 0x7fffffffu, "count" },
        { H2_TIMECNT, 20, "truncated" },
        { D2 + 16 + 0, 0x05050505u, "transition names a missing type" },
        { D2, 0x7fffffffu, "not ascending" },
        { D2 + 16 + 2, 0x7fffffffu, "local time type is out of range" },
        { 0, 0x545a6966u + 1, "no TZif header" },
        { 4, 0x39000000u, "unknown TZif version" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tzif t;
        struct pitr_err err = { 0 };
        struct pitr_tz *tz = NULL;
        unsigned char *p;

        make_v2(&t, "CET-1CEST,M3.5.0,M10.5.0/3");
        p = t.b + cases[i].at;
        p[0] = (unsigned char)(cases[i].value >> 24);
        p[1] = (unsigned char)(cases[i].value >> 16);
        p[2] = (unsigned char)(cases[i].value >> 8);
        p[3] = (unsigned char)cases[i].value;
        if (load(&t, &tz, &err) != PITR_EFORMAT || strstr(err.msg, cases[i].why) == NULL)
            fail_msg("case %zu: '%s', expected '%s'", i, err.msg, cases[i].why);
        assert_null(tz);
    }
}

static void pitr_tz_from_tzif__bad_footers(void **state)
{
    static const char *const footers[] = {
        "garbage",
        "CET-1CEST,M13.1.0,M10.5.0",
        "CET-1CEST,M3.5.0",
        "CET-1CEST,M3.5.0,M10.5.0/168",
        "CET-1CEST,M3.5.0,M10.5.0/3 "
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(footers) / sizeof(footers[0]); i++) {
        struct tzif t;
        struct pitr_err err = { 0 };
        struct pitr_tz *tz = NULL;

        make_v2(&t, footers[i]);
        assert_int_equal(load(&t, &tz, &err), PITR_EFORMAT);
        assert_non_null(strstr(err.msg, "footer"));
        assert_null(tz);
    }
}

/* ---- POSIX rules ------------------------------------------------------------ */

static void pitr_tz_from_posix__rules(void **state)
{
    static const struct {
        const char *rule;
        int64_t t;
        int32_t off;
    } cases[] = {
        /* Europe: last Sunday of March 01:00 UTC, last Sunday of October 01:00 UTC. */
        { "CET-1CEST,M3.5.0,M10.5.0/3", 1711846799 /* 2024-03-31T00:59:59Z */, 3600 },
        { "CET-1CEST,M3.5.0,M10.5.0/3", 1711846800 /* 2024-03-31T01:00:00Z */, 7200 },
        { "CET-1CEST,M3.5.0,M10.5.0/3", 1729990799 /* 2024-10-27T00:59:59Z */, 7200 },
        { "CET-1CEST,M3.5.0,M10.5.0/3", 1729990800 /* 2024-10-27T01:00:00Z */, 3600 },
        /* US: second Sunday of March, first Sunday of November, 02:00 local. */
        { "EST5EDT,M3.2.0,M11.1.0", 1710053999 /* 2024-03-10T06:59:59Z */, -18000 },
        { "EST5EDT,M3.2.0,M11.1.0", 1710054000 /* 2024-03-10T07:00:00Z */, -14400 },
        { "EST5EDT,M3.2.0,M11.1.0", 1730613599 /* 2024-11-03T05:59:59Z */, -14400 },
        { "EST5EDT,M3.2.0,M11.1.0", 1730613600 /* 2024-11-03T06:00:00Z */, -18000 },
        { "EST5EDT", 1710054000, -14400 }, /* no dates: the US rule */
        /* Southern hemisphere: daylight time spans the new year. */
        { "AEST-10AEDT,M10.1.0,M4.1.0/3", 1712419199 /* 2024-04-06T15:59:59Z */, 39600 },
        { "AEST-10AEDT,M10.1.0,M4.1.0/3", 1712419200 /* 2024-04-06T16:00:00Z */, 36000 },
        { "AEST-10AEDT,M10.1.0,M4.1.0/3", 1728143999 /* 2024-10-05T15:59:59Z */, 36000 },
        { "AEST-10AEDT,M10.1.0,M4.1.0/3", 1728144000 /* 2024-10-05T16:00:00Z */, 39600 },
        { "AEST-10AEDT,M10.1.0,M4.1.0/3", 1704067200 /* 2024-01-01 */, 39600 },
        { "<+0545>-5:45", 1704067200, 20700 },
        { "<-03>3", 1704067200, -10800 },
        { "UTC0", 1704067200, 0 },
        /* Julian day without Feb 29 (J60 = March 1) and zero-based (59 = Feb 29 in 2024). */
        { "XXX0YYY,J60,J300", 1709258399 /* 2024-03-01T01:59:59Z */, 0 },
        { "XXX0YYY,J60,J300", 1709258400 /* 2024-03-01T02:00:00Z */, 3600 },
        { "XXX0YYY,59,300", 1709172000 /* 2024-02-29T02:00:00Z */, 3600 },
        { "XXX0YYY,59,300", 1709171999, 0 },
        /* Week 5 means the last such weekday: 2024-04-28 is April's last Sunday. */
        { "XXX0YYY,M4.5.0/0,M11.1.0", 1714262399 /* 2024-04-27T23:59:59Z */, 0 },
        { "XXX0YYY,M4.5.0/0,M11.1.0", 1714262400 /* 2024-04-28T00:00:00Z */, 3600 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pitr_err err = { 0 };
        struct pitr_tz *tz = NULL;

        if (pitr_tz_from_posix("P", cases[i].rule, &tz, &err) != PITR_OK)
            fail_msg("'%s' refused: %s", cases[i].rule, err.msg);
        if (pitr_tz_offset(tz, cases[i].t) != cases[i].off)
            fail_msg("'%s' at %lld: %d, expected %d",
                     cases[i].rule,
                     (long long)cases[i].t,
                     pitr_tz_offset(tz, cases[i].t),
                     cases[i].off);
        pitr_tz_free(tz);
    }
}

static void pitr_tz_from_posix__malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "CE",
        "CET",
        "CET-25",
        "<AB",
        "CET-1CEST,M3.6.0,M10.5.0",
        "CET-1CEST,M3.5.7,M10.5.0",
        "CET-1CEST,J0,J10",
        "CET-1CEST,J366,J10",
        "CET-1CEST,M3.5.0,",
        "CET-1CEST,M3.5.0,M10.5.0,",
        "CET-1:60",
        "CET-1CEST,M3.5.0,M10.5.0/1:2:3:4",
        "CET-1234",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pitr_err err = { 0 };
        struct pitr_tz *tz = NULL;

        if (pitr_tz_from_posix("P", bad[i], &tz, &err) != PITR_EFORMAT)
            fail_msg("'%s' accepted", bad[i]);
        assert_null(tz);
        assert_non_null(strstr(err.msg, "bad POSIX TZ rule"));
    }
}

/* ---- names and files ---------------------------------------------------------- */

static void pitr_tz_name_ok__confined_to_the_zone_folder(void **state)
{
    static const char *const good[] = {
        "UTC",       "Europe/Berlin", "America/Argentina/Buenos_Aires",
        "Etc/GMT+5", "Etc/GMT-14",    "America/Port-au-Prince"
    };
    static const char *const bad[] = { "",
                                       "/etc/passwd",
                                       "../../etc/passwd",
                                       "Europe/../../etc/passwd",
                                       "Europe/..",
                                       "..",
                                       ".",
                                       "./UTC",
                                       "Europe//Berlin",
                                       "Europe/",
                                       "Europe/Berlin\n",
                                       "Europe/Ber lin",
                                       "Europe\\Berlin",
                                       "Europe/Berlin;rm",
                                       "$(id)",
                                       "Zone%s" };
    char longname[PITR_TZ_NAME_MAX + 2];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!pitr_tz_name_ok(good[i]))
            fail_msg("'%s' refused", good[i]);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (pitr_tz_name_ok(bad[i]))
            fail_msg("'%s' accepted", bad[i]);
    memset(longname, 'A', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_false(pitr_tz_name_ok(longname));
    longname[PITR_TZ_NAME_MAX] = '\0';
    assert_true(pitr_tz_name_ok(longname));
}

static void pitr_tz_load_dir__refuses_what_is_no_zone_file(void **state)
{
    char dir[] = "/tmp/pitr-test-tz-XXXXXX", path[256];
    struct tzif t;
    struct pitr_err err = { 0 };
    struct pitr_tz *tz = NULL;
    FILE *f;
    size_t i;

    (void)state;
    assert_non_null(mkdtemp(dir));
    make_v2(&t, "CET-1CEST,M3.5.0,M10.5.0/3");
    snprintf(path, sizeof(path), "%s/Good", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/Good/Zone", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(t.b, 1, t.n, f), t.n);
    fclose(f);
    snprintf(path, sizeof(path), "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    /* A file past the size limit, starting like a zone file. */
    snprintf(path, sizeof(path), "%s/Big", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    for (i = 0; i <= PITR_TZ_FILE_MAX / t.n; i++)
        assert_int_equal(fwrite(t.b, 1, t.n, f), t.n);
    fclose(f);

    assert_int_equal(pitr_tz_load_dir(dir, "Good/Zone", &tz, &err), PITR_OK);
    assert_int_equal(pitr_tz_offset(tz, utc(2024, 7, 1, 0, 0, 0)), 7200);
    pitr_tz_free(tz);

    assert_int_equal(pitr_tz_load_dir(dir, "fifo", &tz, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "is not a regular file"));
    assert_int_equal(pitr_tz_load_dir(dir, "Good", &tz, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "is not a regular file"));
    assert_int_equal(pitr_tz_load_dir(dir, "Big", &tz, &err), PITR_ELIMIT);
    assert_non_null(strstr(err.msg, "is larger than"));
    assert_int_equal(pitr_tz_load_dir(dir, "Missing/Zone", &tz, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "unknown time zone 'Missing/Zone'"));
    assert_int_equal(pitr_tz_load_dir(dir, "../Good/Zone", &tz, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "bad time zone name"));
    assert_null(tz);
    pitr_test_rm_rf(dir);
}

/* ---- the system's zones ------------------------------------------------------- */

static void pitr_tz_load__system_zones_known_offsets(void **state)
{
    struct pitr_err err = { 0 };
    struct pitr_tz *berlin = NULL, *ny = NULL, *u = NULL, *etc = NULL;

    (void)state;
    assert_int_equal(pitr_tz_load("Europe/Berlin", &berlin, &err), PITR_OK);
    assert_int_equal(pitr_tz_load("America/New_York", &ny, &err), PITR_OK);
    assert_int_equal(pitr_tz_load("UTC", &u, &err), PITR_OK);
    assert_int_equal(pitr_tz_load("Etc/UTC", &etc, &err), PITR_OK);

    assert_int_equal(pitr_tz_offset(berlin, utc(2024, 1, 1, 0, 0, 0)), 3600);
    assert_int_equal(pitr_tz_offset(berlin, utc(2024, 7, 1, 0, 0, 0)), 7200);
    assert_int_equal(pitr_tz_offset(berlin, utc(2024, 3, 31, 0, 59, 59)), 3600);
    assert_int_equal(pitr_tz_offset(berlin, utc(2024, 3, 31, 1, 0, 0)), 7200);
    assert_int_equal(pitr_tz_offset(berlin, utc(2060, 7, 1, 0, 0, 0)), 7200); /* footer */
    assert_int_equal(pitr_tz_offset(berlin, utc(2060, 12, 1, 0, 0, 0)), 3600);
    assert_int_equal(pitr_tz_offset(ny, utc(2024, 7, 1, 0, 0, 0)), -14400);
    assert_int_equal(pitr_tz_offset(ny, utc(2024, 12, 1, 0, 0, 0)), -18000);
    assert_int_equal(pitr_tz_offset(u, utc(2024, 7, 1, 0, 0, 0)), 0);
    assert_int_equal(pitr_tz_offset(etc, utc(2024, 7, 1, 0, 0, 0)), 0);
    assert_int_equal(pitr_tz_offset(NULL, 12345), 0);

    /* Go's time.Date: east of UTC a gap time moves forward by the gap... */
    assert_int_equal(pitr_tz_local_to_utc(berlin, utc(2024, 3, 31, 2, 30, 0)),
                     utc(2024, 3, 31, 1, 30, 0)); /* 03:30 CEST */
    /* ...and a repeated time takes the later offset's reading east of UTC, */
    assert_int_equal(pitr_tz_local_to_utc(berlin, utc(2024, 10, 27, 2, 30, 0)),
                     utc(2024, 10, 27, 1, 30, 0)); /* 02:30 CET */
    /* the earlier one west of UTC. */
    assert_int_equal(pitr_tz_local_to_utc(ny, utc(2024, 11, 3, 1, 30, 0)),
                     utc(2024, 11, 3, 5, 30, 0)); /* 01:30 EDT */
    /* and west of UTC a gap time moves back (Go prints 01:30 EST). */
    assert_int_equal(pitr_tz_local_to_utc(ny, utc(2024, 3, 10, 2, 30, 0)),
                     utc(2024, 3, 10, 6, 30, 0));
    assert_int_equal(pitr_tz_local_to_utc(ny, utc(2024, 7, 1, 12, 0, 0)),
                     utc(2024, 7, 1, 16, 0, 0));

    pitr_tz_free(berlin);
    pitr_tz_free(ny);
    pitr_tz_free(u);
    pitr_tz_free(etc);
    pitr_tz_free(NULL);
}

static void pitr_tz_civil__round_trip(void **state)
{
    int64_t d;

    (void)state;
    assert_int_equal(pitr_tz_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(pitr_tz_days_from_civil(2000, 3, 1), 11017);
    for (d = -800000; d < 3000000; d += 997) {
        int64_t y;
        int m, dd;

        pitr_tz_civil_from_days(d, &y, &m, &dd);
        assert_int_equal(pitr_tz_days_from_civil(y, m, dd), d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_tz_from_tzif__v2_transitions_and_footer),
        cmocka_unit_test(pitr_tz_from_tzif__v1_only),
        cmocka_unit_test(pitr_tz_from_tzif__truncated_at_every_length),
        cmocka_unit_test(pitr_tz_from_tzif__every_byte_flipped_is_safe),
        cmocka_unit_test(pitr_tz_from_tzif__hostile_headers),
        cmocka_unit_test(pitr_tz_from_tzif__bad_footers),
        cmocka_unit_test(pitr_tz_from_posix__rules),
        cmocka_unit_test(pitr_tz_from_posix__malformed),
        cmocka_unit_test(pitr_tz_name_ok__confined_to_the_zone_folder),
        cmocka_unit_test(pitr_tz_load_dir__refuses_what_is_no_zone_file),
        cmocka_unit_test(pitr_tz_load__system_zones_known_offsets),
        cmocka_unit_test(pitr_tz_civil__round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
