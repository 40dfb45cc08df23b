/*
 * cron.c - cron schedules as CloudNativePG reads ScheduledBackup.spec.schedule
 * (robfig/cron v1.2.0), with robfig v3's time zone prefixes. See cron.h.
 *
 * Facts this follows (robfig/cron, re-implemented, not copied):
 *   - v1.2.0 parser.go: fields are comma lists of ranges "N", "N-M", "*" or
 *     "?" (in any field, both meaning the whole range), each optionally with
 *     "/step"; "N/step" means N up to the field's maximum; names are looked
 *     up case-insensitively (jan-dec, sun-sat) at both ends of a range;
 *     weekdays are 0-6 with Sunday 0 (7 is out of range, unlike Vixie cron);
 *     a step of 0 and a start after the end are errors.
 *   - v1.2.0 sets the "star bit" of a field written as '*' or '?', with or
 *     without a step ("*\/10" too; v3 later dropped the bit for steps > 1).
 *     spec.go dayMatches: when dom or dow has the star bit both must match,
 *     otherwise either may (Vixie cron's rule).
 *   - descriptors are matched exactly (case-sensitive) after '@'; @weekly is
 *     Sunday 00:00; "@every d" takes a Go duration, below one second it is
 *     one second, fractions of a second are dropped, and the next run is
 *     after + d (ConstantDelaySchedule).
 *   - v3 parser.go: "TZ=Zone " / "CRON_TZ=Zone " before the spec.
 *   - spec.go Next (v3, which for UTC equals v1.2.0): start at the next whole
 *     second; walk month, day, hour, minute, second in the zone's wall clock,
 *     resetting the lower fields the first time one is advanced and going
 *     back to the month check whenever a field wraps; days advance with
 *     AddDate (local date arithmetic, normalised by time.Date), hours and
 *     minutes by adding absolute time; when advancing a day lands off
 *     midnight (DST at midnight) nudge to the nearest midnight; give up (zero
 *     time) when the year passes the starting year + 5.
 * Consequences at DST changes, kept on purpose to match: a wall time in a
 * spring-forward gap does not run that day ("0 30 2 * * *" in New York skips
 * 2012-03-11), and a wall time in a fall-back repeat runs in both
 * occurrences ("0 0 1 * * *" runs at 01:00 EDT and 01:00 EST on 2012-11-04);
 * hourly schedules run every real hour across both changes.
 *
 * Where pgpitr differs on purpose: five fields are standard cron (minute
 * first) instead of "seconds first, weekday omitted"; empty list items,
 * "*-N" and non-digit numbers ("+5") are refused instead of being skipped
 * or ignored.
 */
#include "pgpitr/sched/cron.h"

#include <stdio.h>
#include <string.h>

#include "pgpitr/core/mem.h"
#include "pgpitr/sched/tz.h"

#define SPEC_MAX 1024
#define STAR_BIT ((uint64_t)1 << 63)
/* Unix times accepted by pitr_cron_next: 1970 .. 9993 (the search may run 6 years on). */
#define NEXT_T_MAX ((int64_t)253212998399)
/* A safety bound on the walk (a real schedule needs a few thousand steps). */
#define STEPS_MAX 4000000

struct pitr_cron {
    char *spec;         /* owned: as given */
    struct pitr_tz *tz; /* owned; NULL = UTC */
    int every;          /* "@every": delay seconds, no fields */
    int64_t delay;
    uint64_t sec, min, hour, dom, month, dow;
};

struct bounds {
    const char *field; /* for messages */
    unsigned min, max;
    const char *const *names; /* names[i] is value min + i, or NULL */
};

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun",
                                           "jul", "aug", "sep", "oct", "nov", "dec" };
static const char *const dow_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

static const struct bounds b_sec = { "second", 0, 59, NULL };
static const struct bounds b_min = { "minute", 0, 59, NULL };
static const struct bounds b_hour = { "hour", 0, 23, NULL };
static const struct bounds b_dom = { "day-of-month", 1, 31, NULL };
static const struct bounds b_month = { "month", 1, 12, month_names };
static const struct bounds b_dow = { "day-of-week", 0, 6, dow_names };

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* ---- parsing ------------------------------------------------------------ */

/* s[0..n): a decimal number or a name of the field. 0 or -1 (*why set). */
static int parse_value(const char *s,
                       size_t n,
                       const struct bounds *b,
                       unsigned *out,
                       const char **why)
{
    uint64_t v = 0;
    size_t i;

    if (n == 0) {
        *why = "a number is missing";
        return -1;
    }
    if (s[0] >= '0' && s[0] <= '9') {
        for (i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9') {
                *why = "not a number";
                return -1;
            }
            v = v * 10 + (uint64_t)(s[i] - '0');
            if (v > 1000000) {
                *why = "number too large";
                return -1;
            }
        }
        *out = (unsigned)v;
        return 0;
    }
    if (b->names != NULL && n == 3) {
        for (i = 0; i <= b->max - b->min; i++)
            if (lower(s[0]) == b->names[i][0] && lower(s[1]) == b->names[i][1] &&
                lower(s[2]) == b->names[i][2]) {
                *out = b->min + (unsigned)i;
                return 0;
            }
    }
    *why = b->names != NULL ? "not a number or a known name" : "not a number";
    return -1;
}

/* One range "a", "a-b", "*", "?" with an optional "/step" into *bits. */
static int parse_range(const char *s,
                       size_t n,
                       const struct bounds *b,
                       uint64_t *bits,
                       char *why_buf,
                       size_t why_len)
{
    const char *slash = memchr(s, '/', n), *dash;
    const char *why = NULL;
    size_t rn = slash != NULL ? (size_t)(slash - s) : n;
    unsigned start, end, step = 1, v;
    uint64_t extra = 0;
    int single = 0;

    dash = memchr(s, '-', rn);
    if (rn == 1 && (s[0] == '*' || s[0] == '?')) {
        start = b->min;
        end = b->max;
        extra = STAR_BIT;
    } else if (rn > 0 && (s[0] == '*' || s[0] == '?')) {
        snprintf(why_buf, why_len, "'%c' cannot start a range", s[0]);
        return -1;
    } else if (dash == NULL) {
        if (parse_value(s, rn, b, &start, &why) != 0)
            goto bad;
        end = start;
        single = 1;
    } else {
        if (memchr(dash + 1, '-', rn - (size_t)(dash - s) - 1) != NULL) {
            snprintf(why_buf, why_len, "too many hyphens");
            return -1;
        }
        if (parse_value(s, (size_t)(dash - s), b, &start, &why) != 0 ||
            parse_value(dash + 1, rn - (size_t)(dash - s) - 1, b, &end, &why) != 0)
            goto bad;
    }
    if (slash != NULL) {
        if (memchr(slash + 1, '/', n - rn - 1) != NULL) {
            snprintf(why_buf, why_len, "too many slashes");
            return -1;
        }
        if (parse_value(slash + 1, n - rn - 1, &b_sec, &step, &why) != 0) {
            snprintf(why_buf, why_len, "step: %s", why);
            return -1;
        }
        if (single) /* "N/step" is "N-max/step" */
            end = b->max;
    }
    if (start < b->min) {
        snprintf(why_buf, why_len, "%u is below the minimum %u", start, b->min);
        return -1;
    }
    if (end > b->max) {
        /* Vixie cron takes 7 for Sunday; robfig does not. */
        snprintf(why_buf,
                 why_len,
                 "%u is above the maximum %u%s",
                 end,
                 b->max,
                 b == &b_dow && end == 7 ? " (Sunday is 0 or SUN)" : "");
        return -1;
    }
    if (start > end) {
        snprintf(why_buf, why_len, "range start %u is after its end %u", start, end);
        return -1;
    }
    if (step == 0) {
        snprintf(why_buf, why_len, "step must be a positive number");
        return -1;
    }
    for (v = start; v <= end; v += step)
        *bits |= (uint64_t)1 << v;
    *bits |= extra;
    return 0;
bad:
    snprintf(why_buf, why_len, "%s", why);
    return -1;
}

/* A comma list of ranges. */
static pitr_rc parse_field(const char *spec,
                           const char *f,
                           const struct bounds *b,
                           uint64_t *bits,
                           struct pitr_err *err)
{
    const char *p = f;
    char why[96];

    *bits = 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);

        if (n == 0) {
            snprintf(why, sizeof(why), "empty list item");
            goto bad;
        }
        if (parse_range(p, n, b, bits, why, sizeof(why)) != 0)
            goto bad;
        if (comma == NULL)
            return PITR_OK;
        p = comma + 1;
    }
bad:
    return pitr_err_set(err,
                        PITR_EUSAGE,
                        "invalid cron schedule '%.200s': %s field '%.40s': %s",
                        spec,
                        b->field,
                        f,
                        why);
}

/*
 * A Go duration ("1h30m", "20s", "1.5h", "300ms") in nanoseconds, as
 * time.ParseDuration reads it. 0 or -1.
 */
static int parse_go_duration(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t ns;
    } units[] = {
        { "ns", 1 },
        { "us", 1000 },
        { "\xc2\xb5s", 1000 }, /* U+00B5 micro sign */
        { "\xce\xbcs", 1000 }, /* U+03BC Greek mu */
        { "ms", 1000000 },
        { "s", 1000000000 },
        { "m", (uint64_t)60 * 1000000000 },
        { "h", (uint64_t)3600 * 1000000000 },
    };
    const uint64_t lim = (uint64_t)1 << 63;
    uint64_t d = 0;
    int neg = 0;

    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (*s == '\0')
        return -1;
    while (*s != '\0') {
        uint64_t v = 0, f = 0, unit = 0;
        double scale = 1;
        int pre = 0, post = 0, overflow_f = 0;
        size_t i, ul = 0;

        if (!(*s == '.' || (*s >= '0' && *s <= '9')))
            return -1;
        while (*s >= '0' && *s <= '9') {
            if (v > (lim - 1) / 10)
                return -1;
            v = v * 10 + (uint64_t)(*s - '0');
            if (v > lim)
                return -1;
            s++;
            pre = 1;
        }
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9') {
                if (!overflow_f) {
                    if (f > (lim - 1) / 10) {
                        overflow_f = 1; /* Go drops the digits it cannot hold */
                    } else {
                        f = f * 10 + (uint64_t)(*s - '0');
                        scale *= 10;
                    }
                }
                s++;
                post = 1;
            }
        }
        if (!pre && !post)
            return -1;
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t n = strlen(units[i].unit);

            if (strncmp(s, units[i].unit, n) == 0 && n > ul &&
                !(s[n] != '\0' && !(s[n] == '.' || (s[n] >= '0' && s[n] <= '9')))) {
                unit = units[i].ns;
                ul = n;
            }
        }
        if (unit == 0)
            return -1; /* missing or unknown unit */
        s += ul;
        if (v > lim / unit)
            return -1;
        v *= unit;
        if (f > 0) {
            v += (uint64_t)((double)f * ((double)unit / scale));
            if (v > lim)
                return -1;
        }
        d += v;
        if (d > lim)
            return -1;
    }
    if (!neg && d > lim - 1)
        return -1;
    *out = neg ? -(int64_t)(d - 1) - 1 : (int64_t)d;
    return 0;
}

static void set_spec(struct pitr_cron *c,
                     unsigned s,
                     unsigned mi,
                     unsigned h,
                     uint64_t dom,
                     uint64_t month,
                     uint64_t dow)
{
    c->sec = (uint64_t)1 << s;
    c->min = (uint64_t)1 << mi;
    c->hour = (uint64_t)1 << h;
    c->dom = dom;
    c->month = month;
    c->dow = dow;
}

#define ALL(lo, hi) ((((uint64_t)1 << ((hi) + 1)) - ((uint64_t)1 << (lo))) | STAR_BIT)

static pitr_rc parse_descriptor(const char *spec,
                                const char *d,
                                struct pitr_cron *c,
                                char **note,
                                struct pitr_err *err)
{
    if (strcmp(d, "@yearly") == 0 || strcmp(d, "@annually") == 0) {
        set_spec(c, 0, 0, 0, 1u << 1, 1u << 1, ALL(0, 6));
    } else if (strcmp(d, "@monthly") == 0) {
        set_spec(c, 0, 0, 0, 1u << 1, ALL(1, 12), ALL(0, 6));
    } else if (strcmp(d, "@weekly") == 0) {
        set_spec(c, 0, 0, 0, ALL(1, 31), ALL(1, 12), 1u << 0);
    } else if (strcmp(d, "@daily") == 0 || strcmp(d, "@midnight") == 0) {
        set_spec(c, 0, 0, 0, ALL(1, 31), ALL(1, 12), ALL(0, 6));
    } else if (strcmp(d, "@hourly") == 0) {
        set_spec(c, 0, 0, 0, ALL(1, 31), ALL(1, 12), ALL(0, 6));
        c->hour = ALL(0, 23);
    } else if (strncmp(d, "@every", 6) == 0 && (d[6] == ' ' || d[6] == '\0')) {
        int64_t ns = 0;

        if (d[6] == '\0' || parse_go_duration(d + 7, &ns) != 0)
            return pitr_err_set(err,
                                PITR_EUSAGE,
                                "invalid cron schedule '%.200s': '@every' needs a Go duration "
                                "such as '1h30m', '20s' or '1.5h'",
                                spec);
        c->every = 1;
        c->delay = ns < 1000000000 ? 1 : ns / 1000000000;
        if (ns < 1000000000 || ns % 1000000000 != 0)
            *note = pitr_asprintf("schedule '%.200s' runs every %lld s (durations are rounded "
                                  "down to whole seconds, at least 1 s, as CloudNativePG does)",
                                  spec,
                                  (long long)c->delay);
    } else {
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "invalid cron schedule '%.200s': unknown descriptor '%.40s' (known: "
                            "@yearly @annually @monthly @weekly @daily @midnight @hourly @every)",
                            spec,
                            d);
    }
    return PITR_OK;
}

/* Field values f[0..5] (seconds first) as words when the shape is a common
 * one ("daily at 00:00"), else NULL. */
static char *describe(const char *const f[6])
{
    static const char *const any[] = { "*", "?" };
    int dom_any = 0, mon_any = 0, dow_any = 0, hour_any = 0, min_any = 0;
    unsigned s, m, h;
    const char *why;
    size_t i;

    for (i = 0; i < 2; i++) {
        dom_any |= strcmp(f[3], any[i]) == 0;
        mon_any |= strcmp(f[4], any[i]) == 0;
        dow_any |= strcmp(f[5], any[i]) == 0;
        hour_any |= strcmp(f[2], any[i]) == 0;
        min_any |= strcmp(f[1], any[i]) == 0;
    }
    if (!dom_any || !mon_any || !dow_any ||
        parse_value(f[0], strlen(f[0]), &b_sec, &s, &why) != 0 || s > 59)
        return NULL;
    if (min_any && hour_any)
        return s == 0 ? pitr_strdup("every minute") : pitr_asprintf("every minute at second %u", s);
    if (parse_value(f[1], strlen(f[1]), &b_min, &m, &why) != 0 || m > 59)
        return NULL;
    if (hour_any)
        return s == 0 ? pitr_asprintf("hourly at minute %u", m)
                      : pitr_asprintf("hourly at %02u:%02u past the hour", m, s);
    if (parse_value(f[2], strlen(f[2]), &b_hour, &h, &why) != 0 || h > 23)
        return NULL;
    return s == 0 ? pitr_asprintf("daily at %02u:%02u", h, m)
                  : pitr_asprintf("daily at %02u:%02u:%02u", h, m, s);
}

/* The note for a five-field spec: what pgpitr runs, what CNPG would. */
static char *five_field_note(const char *prefix, char *const in[5])
{
    const char *ours[6] = { "0", in[0], in[1], in[2], in[3], in[4] };
    const char *theirs[6] = { in[0], in[1], in[2], in[3], in[4], "*" };
    char *d_ours = describe(ours), *d_theirs = describe(theirs), *six, *note;

    six = pitr_asprintf("%s0 %s %s %s %s %s", prefix, in[0], in[1], in[2], in[3], in[4]);
    note = pitr_asprintf(
      "5-field schedule '%s%s %s %s %s %s' read as standard cron (minute first): '%s'%s%s%s; "
      "CloudNativePG would read it seconds first as '%s%s %s %s %s %s *'%s%s%s; write '%s' "
      "to be explicit",
      prefix,
      in[0],
      in[1],
      in[2],
      in[3],
      in[4],
      six,
      d_ours ? " (" : "",
      d_ours ? d_ours : "",
      d_ours ? ")" : "",
      prefix,
      in[0],
      in[1],
      in[2],
      in[3],
      in[4],
      d_theirs ? " (" : "",
      d_theirs ? d_theirs : "",
      d_theirs ? ")" : "",
      six);
    pitr_free(d_ours);
    pitr_free(d_theirs);
    pitr_free(six);
    return note;
}

static char *join_notes(char *a, char *b)
{
    char *r;

    if (a == NULL)
        return b;
    if (b == NULL)
        return a;
    r = pitr_asprintf("%s; %s", a, b);
    pitr_free(a);
    pitr_free(b);
    return r;
}

pitr_rc pitr_cron_parse(const char *spec,
                        const char *default_tz,
                        struct pitr_cron **out,
                        char **note,
                        struct pitr_err *err)
{
    static const struct bounds *const six[6] = {
        &b_sec, &b_min, &b_hour, &b_dom, &b_month, &b_dow
    };
    struct pitr_cron *c = NULL;
    char *work = NULL, *p, *fields[7], *tz_note = NULL, *f_note = NULL,
         prefix[PITR_TZ_NAME_MAX + 16];
    /* An empty default (an unset setting) is UTC like NULL; an empty prefix is an error. */
    const char *zone = default_tz != NULL && *default_tz != '\0' ? default_tz : NULL;
    size_t n, nf = 0, i;
    pitr_rc rc = PITR_OK;

    *out = NULL;
    *note = NULL;
    prefix[0] = '\0';
    if (spec == NULL)
        return pitr_err_set(err, PITR_EUSAGE, "invalid cron schedule: none given");
    n = strlen(spec);
    if (n > SPEC_MAX)
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "invalid cron schedule '%.40s...': longer than %d bytes",
                            spec,
                            SPEC_MAX);
    while (n > 0 && is_space(spec[n - 1]))
        n--;
    while (n > 0 && is_space(*spec)) {
        spec++;
        n--;
    }
    if (n == 0)
        return pitr_err_set(err, PITR_EUSAGE, "invalid cron schedule: empty");
    work = pitr_strndup(spec, n);
    c = pitr_calloc(1, sizeof(*c));
    c->spec = pitr_strdup(work);
    p = work;

    /* "TZ=Zone " / "CRON_TZ=Zone " (robfig v3). */
    if (strncmp(p, "TZ=", 3) == 0 || strncmp(p, "CRON_TZ=", 8) == 0) {
        char *eq = strchr(p, '='), *sp = eq + 1;
        size_t pl;

        while (*sp != '\0' && !is_space(*sp))
            sp++;
        if (*sp == '\0') {
            rc = pitr_err_set(err,
                              PITR_EUSAGE,
                              "invalid cron schedule '%.200s': a schedule must follow the zone",
                              c->spec);
            goto out;
        }
        *sp = '\0';
        zone = eq + 1;
        pl = (size_t)(sp - p);
        if (pl + 2 > sizeof(prefix)) {
            rc = pitr_err_set(
              err, PITR_EUSAGE, "invalid cron schedule '%.200s': time zone name too long", c->spec);
            goto out;
        }
        memcpy(prefix, p, pl);
        prefix[pl] = ' ';
        prefix[pl + 1] = '\0';
        p = sp + 1;
        while (is_space(*p))
            p++;
        tz_note = pitr_asprintf("schedule '%.200s': CloudNativePG (robfig/cron v1) does not "
                                "accept the '%.*s' prefix; only pgpitr runs this schedule in '%s'",
                                c->spec,
                                (int)(strchr(prefix, '=') - prefix + 1),
                                prefix,
                                zone);
    }
    if (zone != NULL && *zone == '\0') {
        rc = pitr_err_set(
          err, PITR_EUSAGE, "invalid cron schedule '%.200s': empty time zone name", c->spec);
        goto out;
    }
    if (zone != NULL && strcmp(zone, "UTC") != 0) {
        if (pitr_tz_load(zone, &c->tz, err) != PITR_OK) {
            /* A zone that cannot be used is a usage error whatever the cause. */
            rc = PITR_EUSAGE;
            if (err != NULL)
                err->code = rc;
            pitr_err_prefix(err, "invalid cron schedule '%.200s'", c->spec);
            goto out;
        }
    }

    if (*p == '@') {
        rc = parse_descriptor(c->spec, p, c, &f_note, err);
        if (rc != PITR_OK)
            goto out;
        goto done;
    }

    while (*p != '\0') {
        if (nf == 7)
            break;
        fields[nf++] = p;
        while (*p != '\0' && !is_space(*p))
            p++;
        if (*p != '\0')
            *p++ = '\0';
        while (is_space(*p))
            p++;
    }
    if (nf != 5 && nf != 6) {
        rc = pitr_err_set(err,
                          PITR_EUSAGE,
                          "invalid cron schedule '%.200s': expected 6 fields (second minute hour "
                          "day-of-month month day-of-week) or 5 (standard cron), found %s%zu",
                          c->spec,
                          nf == 7 ? "more than " : "",
                          nf == 7 ? (size_t)6 : nf);
        goto out;
    }
    if (nf == 6) {
        uint64_t *dst[6] = { &c->sec, &c->min, &c->hour, &c->dom, &c->month, &c->dow };

        for (i = 0; i < 6; i++) {
            rc = parse_field(c->spec, fields[i], six[i], dst[i], err);
            if (rc != PITR_OK)
                goto out;
        }
    } else {
        uint64_t *dst[5] = { &c->min, &c->hour, &c->dom, &c->month, &c->dow };

        for (i = 0; i < 5; i++) {
            rc = parse_field(c->spec, fields[i], six[i + 1], dst[i], err);
            if (rc != PITR_OK)
                goto out;
        }
        c->sec = 1;
        f_note = five_field_note(prefix, fields);
    }
done:
    /* Accepted as robfig does, but say so when it can never run. 2024-01-01
     * leaves a leap day within the five years searched. */
    if (!c->every && pitr_cron_next(c, 1704067200) == 0)
        f_note = join_notes(f_note,
                            pitr_asprintf("schedule '%.200s' matches no time within five "
                                          "years (such as day 31 of a 30-day month): it "
                                          "never runs",
                                          c->spec));
    *note = join_notes(f_note, tz_note);
    f_note = tz_note = NULL;
    *out = c;
    c = NULL;
out:
    pitr_free(f_note);
    pitr_free(tz_note);
    pitr_free(work);
    pitr_cron_free(c);
    return rc;
}

const char *pitr_cron_spec(const struct pitr_cron *c)
{
    return c->spec;
}

void pitr_cron_free(struct pitr_cron *c)
{
    if (c == NULL)
        return;
    pitr_free(c->spec);
    pitr_tz_free(c->tz);
    pitr_free(c);
}

/* ---- next --------------------------------------------------------------- */

struct wall {
    int64_t y;
    int mo, d, h, mi, s, wd;
};

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && ((a < 0) != (b < 0)));
}

/* The wall-clock fields of instant t in tz. */
static struct wall wall_of(const struct pitr_tz *tz, int64_t t)
{
    int64_t local = t + pitr_tz_offset(tz, t), days = floor_div(local, 86400);
    int64_t secs = local - days * 86400;
    struct wall w;

    pitr_tz_civil_from_days(days, &w.y, &w.mo, &w.d);
    w.h = (int)(secs / 3600);
    w.mi = (int)(secs / 60 % 60);
    w.s = (int)(secs % 60);
    w.wd = (int)(((days + 4) % 7 + 7) % 7);
    return w;
}

/* Go's time.Date(y, mo, d, h, mi, s, 0, tz): out-of-range values carry. */
static int64_t date_of(const struct pitr_tz *tz,
                       int64_t y,
                       int64_t mo,
                       int64_t d,
                       int64_t h,
                       int64_t mi,
                       int64_t s)
{
    int64_t m0 = mo - 1;

    y += floor_div(m0, 12);
    m0 -= floor_div(m0, 12) * 12;
    return pitr_tz_local_to_utc(
      tz, (pitr_tz_days_from_civil(y, (int)m0 + 1, 1) + d - 1) * 86400 + h * 3600 + mi * 60 + s);
}

static int day_matches(const struct pitr_cron *c, const struct wall *w)
{
    int dom = (c->dom >> w->d & 1) != 0, dow = (c->dow >> w->wd & 1) != 0;

    if ((c->dom & STAR_BIT) != 0 || (c->dow & STAR_BIT) != 0)
        return dom && dow;
    return dom || dow;
}

int64_t pitr_cron_next(const struct pitr_cron *c, int64_t after)
{
    const struct pitr_tz *tz = c->tz;
    struct wall w;
    int64_t t, year_limit;
    long steps = 0;
    int added = 0;

    if (after < 0 || after > NEXT_T_MAX)
        return 0;
    if (c->every)
        return after + c->delay;
    t = after + 1;
    w = wall_of(tz, t);
    year_limit = w.y + 5;

wrap:
    w = wall_of(tz, t);
    if (w.y > year_limit)
        return 0;

    while ((c->month >> w.mo & 1) == 0) {
        if (!added) {
            added = 1;
            t = date_of(tz, w.y, w.mo, 1, 0, 0, 0);
            w = wall_of(tz, t);
        }
        t = date_of(tz, w.y, w.mo + 1, w.d, w.h, w.mi, w.s);
        w = wall_of(tz, t);
        if (++steps > STEPS_MAX)
            return 0;
        if (w.mo == 1)
            goto wrap;
    }

    while (!day_matches(c, &w)) {
        if (!added) {
            added = 1;
            t = date_of(tz, w.y, w.mo, w.d, 0, 0, 0);
            w = wall_of(tz, t);
        }
        t = date_of(tz, w.y, w.mo, w.d + 1, w.h, w.mi, w.s);
        w = wall_of(tz, t);
        /* Midnight did not exist (DST at midnight): go to the nearest one. */
        if (w.h != 0) {
            t += w.h > 12 ? (int64_t)(24 - w.h) * 3600 : -(int64_t)w.h * 3600;
            w = wall_of(tz, t);
        }
        if (++steps > STEPS_MAX)
            return 0;
        if (w.d == 1)
            goto wrap;
    }

    while ((c->hour >> w.h & 1) == 0) {
        if (!added) {
            added = 1;
            t = date_of(tz, w.y, w.mo, w.d, w.h, 0, 0);
        }
        t += 3600;
        w = wall_of(tz, t);
        if (++steps > STEPS_MAX)
            return 0;
        if (w.h == 0)
            goto wrap;
    }

    while ((c->min >> w.mi & 1) == 0) {
        if (!added) {
            added = 1;
            t -= t - floor_div(t, 60) * 60; /* Truncate(time.Minute): absolute time */
        }
        t += 60;
        w = wall_of(tz, t);
        if (++steps > STEPS_MAX)
            return 0;
        if (w.mi == 0)
            goto wrap;
    }

    while ((c->sec >> w.s & 1) == 0) {
        added = 1;
        t += 1;
        w = wall_of(tz, t);
        if (++steps > STEPS_MAX)
            return 0;
        if (w.s == 0)
            goto wrap;
    }
    return t;
}
