/*
 * tz.c - TZif zones (RFC 8536) and POSIX TZ rules, read without the C
 * library's process-wide time zone state. See tz.h.
 *
 * Lookups follow Go's time package, because robfig/cron runs on it: before
 * the first transition the "first zone" rule of Go's lookupFirstZone; from
 * the last transition on (or always, for a file without transitions) the
 * footer rule when there is one; a footer rule is evaluated for the UTC year
 * of the instant, as Go's tzset does.
 */
#include "pgpitr/sched/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgpitr/core/mem.h"

#define SECS_PER_DAY   86400
#define MAX_UTOFF      (26 * 3600) /* RFC 8536 recommends -25:59:59 .. +25:59:59 */
#define MAX_RULE_HOURS 167         /* RFC 8536 3.3.1: transition times -167..167 h */
#define FOOTER_MAX     256
#define TYPES_MAX      256
#define CHARS_MAX      4096
#define LEAPS_MAX      1000

/* One end of a daylight-saving period in a POSIX rule. */
struct rule_date {
    char kind;    /* 'J' Julian 1-365 without Feb 29, 'N' zero-based 0-365, 'M' month.week.day */
    int a, b, c;  /* J/N: a = day; M: a = month, b = week 1-5, c = weekday 0-6 */
    int32_t time; /* seconds after local midnight (may be negative or > 24 h) */
};

struct pitr_tz {
    char *name;     /* owned */
    int64_t *trans; /* owned: transition instants, strictly ascending */
    uint8_t *idx;   /* owned: type index of each transition */
    size_t ntrans;
    int32_t *utoff; /* owned: UTC offset of each type */
    uint8_t *isdst; /* owned */
    size_t ntypes;
    size_t first;    /* type in force before the first transition (Go's lookupFirstZone) */
    int has_rule;    /* a footer / POSIX rule exists */
    int has_dst;     /* the rule has a daylight-saving part */
    int32_t std_off; /* east positive */
    int32_t dst_off;
    struct rule_date start, end;
};

/* ---- calendar ----------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
int64_t pitr_tz_days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void pitr_tz_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && ((a < 0) != (b < 0)));
}

/* ---- POSIX TZ rules ----------------------------------------------------- */

/* A zone abbreviation: 3+ letters, or <...> of letters, digits, '+', '-'. */
static int parse_abbr(const char **sp)
{
    const char *s = *sp;
    size_t n = 0;

    if (*s == '<') {
        s++;
        while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
               *s == '+' || *s == '-') {
            s++;
            n++;
        }
        if (*s != '>' || n < 1)
            return -1;
        *sp = s + 1;
        return 0;
    }
    while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')) {
        s++;
        n++;
    }
    if (n < 3)
        return -1;
    *sp = s;
    return 0;
}

/* Up to max_digits decimal digits into *v (at least one). */
static int parse_num(const char **sp, int max_digits, int *v)
{
    const char *s = *sp;
    int n = 0, x = 0;

    while (*s >= '0' && *s <= '9' && n < max_digits) {
        x = x * 10 + (*s - '0');
        s++;
        n++;
    }
    if (n == 0 || (*s >= '0' && *s <= '9'))
        return -1;
    *v = x;
    *sp = s;
    return 0;
}

/* [+-]hh[:mm[:ss]] with hh <= max_hours, in seconds. */
static int parse_hms(const char **sp, int max_hours, int32_t *out)
{
    const char *s = *sp;
    int sign = 1, h = 0, m = 0, sec = 0;

    if (*s == '+' || *s == '-') {
        sign = *s == '-' ? -1 : 1;
        s++;
    }
    if (parse_num(&s, 3, &h) != 0 || h > max_hours)
        return -1;
    if (*s == ':') {
        s++;
        if (parse_num(&s, 2, &m) != 0 || m > 59)
            return -1;
        if (*s == ':') {
            s++;
            if (parse_num(&s, 2, &sec) != 0 || sec > 59)
                return -1;
        }
    }
    *out = (int32_t)(sign * (h * 3600 + m * 60 + sec));
    *sp = s;
    return 0;
}

static int parse_rule_date(const char **sp, struct rule_date *r)
{
    const char *s = *sp;

    memset(r, 0, sizeof(*r));
    if (*s == 'J') {
        s++;
        r->kind = 'J';
        if (parse_num(&s, 3, &r->a) != 0 || r->a < 1 || r->a > 365)
            return -1;
    } else if (*s == 'M') {
        s++;
        r->kind = 'M';
        if (parse_num(&s, 2, &r->a) != 0 || r->a < 1 || r->a > 12 || *s++ != '.' ||
            parse_num(&s, 1, &r->b) != 0 || r->b < 1 || r->b > 5 || *s++ != '.' ||
            parse_num(&s, 1, &r->c) != 0 || r->c > 6)
            return -1;
    } else {
        r->kind = 'N';
        if (parse_num(&s, 3, &r->a) != 0 || r->a > 365)
            return -1;
    }
    r->time = 2 * 3600;
    if (*s == '/') {
        s++;
        if (parse_hms(&s, MAX_RULE_HOURS, &r->time) != 0)
            return -1;
    }
    *sp = s;
    return 0;
}

/* Parse rule into tz's rule fields; 0 or -1. */
static int parse_posix(const char *rule, struct pitr_tz *tz)
{
    const char *s = rule;
    int32_t off;

    if (parse_abbr(&s) != 0 || parse_hms(&s, 24, &off) != 0)
        return -1;
    tz->std_off = -off; /* POSIX offsets are west positive */
    tz->dst_off = tz->std_off;
    tz->has_dst = 0;
    tz->has_rule = 1;
    if (*s == '\0')
        return 0;
    if (parse_abbr(&s) != 0)
        return -1;
    tz->has_dst = 1;
    tz->dst_off = tz->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (parse_hms(&s, 24, &off) != 0)
            return -1;
        tz->dst_off = -off;
    }
    if (*s == '\0') {
        /* No rule: the US one, as Go and glibc assume. */
        tz->start = (struct rule_date){ 'M', 3, 2, 0, 2 * 3600 };
        tz->end = (struct rule_date){ 'M', 11, 1, 0, 2 * 3600 };
        return 0;
    }
    if (*s++ != ',' || parse_rule_date(&s, &tz->start) != 0 || *s++ != ',' ||
        parse_rule_date(&s, &tz->end) != 0 || *s != '\0')
        return -1;
    return 0;
}

/* Seconds from the start of year y (UTC) to the rule's instant, for a rule
 * given in local time with offset off (Go's tzruleTime). */
static int64_t rule_time(int64_t y, const struct rule_date *r, int32_t off)
{
    static const int cum[12] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 };
    static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int64_t yday = 0;

    if (r->kind == 'J') {
        yday = r->a - 1;
        if (is_leap(y) && r->a >= 60)
            yday++;
    } else if (r->kind == 'N') {
        yday = r->a;
    } else {
        int64_t first = pitr_tz_days_from_civil(y, r->a, 1);
        int wd = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
        int dim = mdays[r->a - 1] + (r->a == 2 && is_leap(y));
        int day = 1 + (r->c - wd + 7) % 7 + (r->b - 1) * 7;

        while (day > dim)
            day -= 7;
        yday = cum[r->a - 1] + (r->a > 2 && is_leap(y)) + day - 1;
    }
    return yday * SECS_PER_DAY + r->time - off;
}

static int32_t rule_offset(const struct pitr_tz *tz, int64_t t)
{
    int64_t y, ystart, ysec, start, end;
    int32_t inside, outside;
    int m, d;

    if (!tz->has_dst)
        return tz->std_off;
    pitr_tz_civil_from_days(floor_div(t, SECS_PER_DAY), &y, &m, &d);
    ystart = pitr_tz_days_from_civil(y, 1, 1) * SECS_PER_DAY;
    ysec = t - ystart;
    start = rule_time(y, &tz->start, tz->std_off);
    end = rule_time(y, &tz->end, tz->dst_off);
    inside = tz->dst_off;
    outside = tz->std_off;
    if (end < start) { /* southern hemisphere: daylight time spans the new year */
        int64_t x = start;

        start = end;
        end = x;
        inside = tz->std_off;
        outside = tz->dst_off;
    }
    return ysec >= start && ysec < end ? inside : outside;
}

/* ---- lookups ------------------------------------------------------------ */

int32_t pitr_tz_offset(const struct pitr_tz *tz, int64_t t)
{
    size_t lo, hi;

    if (tz == NULL)
        return 0;
    if (tz->ntrans == 0)
        return tz->has_rule ? rule_offset(tz, t) : (tz->ntypes > 0 ? tz->utoff[0] : 0);
    if (t < tz->trans[0])
        return tz->utoff[tz->first];
    if (t >= tz->trans[tz->ntrans - 1] && tz->has_rule)
        return rule_offset(tz, t);
    lo = 0;
    hi = tz->ntrans;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;

        if (t < tz->trans[mid])
            hi = mid;
        else
            lo = mid;
    }
    return tz->utoff[tz->idx[lo]];
}

int64_t pitr_tz_local_to_utc(const struct pitr_tz *tz, int64_t wall)
{
    int32_t off = pitr_tz_offset(tz, wall);

    if (off != 0)
        off = pitr_tz_offset(tz, wall - off);
    return wall - off;
}

const char *pitr_tz_name(const struct pitr_tz *tz)
{
    return tz != NULL ? tz->name : "UTC";
}

void pitr_tz_free(struct pitr_tz *tz)
{
    if (tz == NULL)
        return;
    pitr_free(tz->name);
    pitr_free(tz->trans);
    pitr_free(tz->idx);
    pitr_free(tz->utoff);
    pitr_free(tz->isdst);
    pitr_free(tz);
}

/* ---- construction ------------------------------------------------------- */

pitr_rc pitr_tz_from_posix(const char *name,
                           const char *rule,
                           struct pitr_tz **out,
                           struct pitr_err *err)
{
    struct pitr_tz *tz = pitr_calloc(1, sizeof(*tz));

    *out = NULL;
    tz->name = pitr_strdup(name);
    if (strlen(rule) > FOOTER_MAX || parse_posix(rule, tz) != 0) {
        pitr_tz_free(tz);
        return pitr_err_set(
          err, PITR_EFORMAT, "time zone '%s': bad POSIX TZ rule '%.64s'", name, rule);
    }
    *out = tz;
    return PITR_OK;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

#define TZIF_HDR 44

static int read_header(const unsigned char *p, size_t len, int *version, struct tzif_counts *c)
{
    if (len < TZIF_HDR || memcmp(p, "TZif", 4) != 0)
        return -1;
    *version = p[4] == 0 ? 1 : p[4] - '0';
    c->isut = be32(p + 20);
    c->isstd = be32(p + 24);
    c->leap = be32(p + 28);
    c->time = be32(p + 32);
    c->type = be32(p + 36);
    c->chars = be32(p + 40);
    return 0;
}

pitr_rc pitr_tz_from_tzif(const char *name,
                          const unsigned char *data,
                          size_t len,
                          struct pitr_tz **out,
                          struct pitr_err *err)
{
    struct pitr_tz *tz = NULL;
    struct tzif_counts c;
    const unsigned char *p = data, *end = data + len;
    const char *why = "";
    int version = 0;
    size_t tsize = 4, block, i;
    pitr_rc rc = PITR_OK;

    *out = NULL;
    if (read_header(p, len, &version, &c) != 0) {
        why = "no TZif header";
        goto bad;
    }
    if (version < 1 || version > 4) {
        why = "unknown TZif version";
        goto bad;
    }
    if (version >= 2) {
        /* Skip the version 1 block: the 64-bit data follows it. */
        if (c.time > PITR_TZ_TRANS_MAX || c.type > TYPES_MAX || c.chars > CHARS_MAX ||
            c.leap > LEAPS_MAX || c.isstd > TYPES_MAX || c.isut > TYPES_MAX) {
            why = "a count is too large";
            goto bad;
        }
        block =
          (size_t)c.time * 5 + (size_t)c.type * 6 + c.chars + (size_t)c.leap * 8 + c.isstd + c.isut;
        if ((size_t)(end - p) < TZIF_HDR + block) {
            why = "truncated version 1 block";
            goto bad;
        }
        p += TZIF_HDR + block;
        if (read_header(p, (size_t)(end - p), &version, &c) != 0) {
            why = "no second TZif header";
            goto bad;
        }
        tsize = 8;
    }
    if (c.time > PITR_TZ_TRANS_MAX || c.type < 1 || c.type > TYPES_MAX || c.chars < 1 ||
        c.chars > CHARS_MAX || c.leap > LEAPS_MAX || (c.isstd != 0 && c.isstd != c.type) ||
        (c.isut != 0 && c.isut != c.type)) {
        why = "a count is out of range";
        goto bad;
    }
    block = (size_t)c.time * (tsize + 1) + (size_t)c.type * 6 + c.chars +
            (size_t)c.leap * (tsize + 4) + c.isstd + c.isut;
    p += TZIF_HDR;
    if ((size_t)(end - p) < block) {
        why = "truncated data block";
        goto bad;
    }

    tz = pitr_calloc(1, sizeof(*tz));
    tz->name = pitr_strdup(name);
    tz->ntrans = c.time;
    tz->ntypes = c.type;
    tz->trans = pitr_calloc(c.time + 1, sizeof(*tz->trans));
    tz->idx = pitr_calloc(c.time + 1, 1);
    tz->utoff = pitr_calloc(c.type, sizeof(*tz->utoff));
    tz->isdst = pitr_calloc(c.type, 1);
    for (i = 0; i < c.time; i++) {
        tz->trans[i] = tsize == 8 ? be64(p + i * 8) : (int64_t)(int32_t)be32(p + i * 4);
        if (i > 0 && tz->trans[i] <= tz->trans[i - 1]) {
            why = "transition times are not ascending";
            goto bad;
        }
    }
    p += (size_t)c.time * tsize;
    for (i = 0; i < c.time; i++) {
        tz->idx[i] = p[i];
        if (p[i] >= c.type) {
            why = "a transition names a missing type";
            goto bad;
        }
    }
    p += c.time;
    for (i = 0; i < c.type; i++) {
        int32_t off = (int32_t)be32(p + i * 6);

        if (off < -MAX_UTOFF || off > MAX_UTOFF || p[i * 6 + 4] > 1 || p[i * 6 + 5] >= c.chars) {
            why = "a local time type is out of range";
            goto bad;
        }
        tz->utoff[i] = off;
        tz->isdst[i] = p[i * 6 + 4];
    }
    p += (size_t)c.type * 6 + c.chars + (size_t)c.leap * (tsize + 4) + c.isstd + c.isut;

    /* Go's lookupFirstZone: type 0, unless a transition uses it and the
     * first transition goes to daylight time; then the closest standard
     * type before that one. */
    tz->first = 0;
    for (i = 0; i < c.time && tz->idx[i] != 0; i++)
        ;
    if (i < c.time && c.time > 0 && tz->isdst[tz->idx[0]]) {
        size_t zi;

        for (zi = tz->idx[0]; zi-- > 0;)
            if (!tz->isdst[zi]) {
                tz->first = zi;
                break;
            }
    }

    if (tsize == 8) {
        /* Footer: "\n" POSIX-TZ "\n"; an empty rule means none. */
        const unsigned char *nl;
        char rule[FOOTER_MAX + 1];
        size_t n;

        if (p >= end || *p != '\n') {
            why = "no footer";
            goto bad;
        }
        p++;
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL || (size_t)(nl - p) > FOOTER_MAX) {
            why = "footer is unterminated or too long";
            goto bad;
        }
        n = (size_t)(nl - p);
        memcpy(rule, p, n);
        rule[n] = '\0';
        if (n > 0 && parse_posix(rule, tz) != 0) {
            why = "bad POSIX TZ rule in the footer";
            goto bad;
        }
    }
    *out = tz;
    tz = NULL;
    goto out;
bad:
    rc = pitr_err_set(err, PITR_EFORMAT, "time zone '%s': not a valid TZif file: %s", name, why);
out:
    pitr_tz_free(tz);
    return rc;
}

int pitr_tz_name_ok(const char *name)
{
    size_t n = strlen(name), i, comp = 0;

    if (n == 0 || n > PITR_TZ_NAME_MAX || name[0] == '/' || name[n - 1] == '/')
        return 0;
    for (i = 0; i <= n; i++) {
        char ch = name[i];

        if (ch == '/' || ch == '\0') {
            /* component name[comp..i): not empty, ".", or ".." */
            if (i == comp || (i - comp == 1 && name[comp] == '.') ||
                (i - comp == 2 && name[comp] == '.' && name[comp + 1] == '.'))
                return 0;
            comp = i + 1;
            continue;
        }
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '+' || ch == '-' || ch == '.'))
            return 0;
    }
    return 1;
}

pitr_rc pitr_tz_load_dir(const char *dir,
                         const char *name,
                         struct pitr_tz **out,
                         struct pitr_err *err)
{
    unsigned char *data = NULL;
    char *path = NULL;
    struct stat st;
    size_t got = 0;
    int fd = -1;
    pitr_rc rc = PITR_OK;

    *out = NULL;
    if (!pitr_tz_name_ok(name)) {
        rc = pitr_err_set(err,
                          PITR_EUSAGE,
                          "bad time zone name '%.*s': expected an IANA name such as "
                          "'Europe/Berlin' (letters, digits, '_+-./', no '..', not absolute)",
                          PITR_TZ_NAME_MAX,
                          name);
        goto out;
    }
    if (strcmp(name, "UTC") == 0) {
        *out = pitr_calloc(1, sizeof(**out));
        (*out)->name = pitr_strdup("UTC");
        goto out;
    }
    path = pitr_asprintf("%s/%s", dir, name);
    /* O_NONBLOCK: a FIFO never blocks the open; it is refused below. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        rc = errno == ENOENT || errno == ENOTDIR
               ? pitr_err_set(err, PITR_EUSAGE, "unknown time zone '%s': no file '%s'", name, path)
               : pitr_err_set_errno(
                   err, PITR_EUSAGE, errno, "unknown time zone '%s': cannot open '%s'", name, path);
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = pitr_err_set(
          err, PITR_EUSAGE, "unknown time zone '%s': '%s' is not a regular file", name, path);
        goto out;
    }
    if ((uint64_t)st.st_size > PITR_TZ_FILE_MAX) {
        rc = pitr_err_set(err,
                          PITR_ELIMIT,
                          "time zone '%s': '%s' is larger than %zu bytes",
                          name,
                          path,
                          PITR_TZ_FILE_MAX);
        goto out;
    }
    data = pitr_malloc(PITR_TZ_FILE_MAX + 1);
    for (;;) {
        ssize_t r = read(fd, data + got, PITR_TZ_FILE_MAX + 1 - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = pitr_err_set_errno(
              err, PITR_EIO, errno, "time zone '%s': cannot read '%s'", name, path);
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
        if (got > PITR_TZ_FILE_MAX) {
            rc = pitr_err_set(err,
                              PITR_ELIMIT,
                              "time zone '%s': '%s' is larger than %zu bytes",
                              name,
                              path,
                              PITR_TZ_FILE_MAX);
            goto out;
        }
    }
    rc = pitr_tz_from_tzif(name, data, got, out, err);
out:
    if (fd >= 0)
        close(fd);
    pitr_free(data);
    pitr_free(path);
    return rc;
}

pitr_rc pitr_tz_load(const char *name, struct pitr_tz **out, struct pitr_err *err)
{
    return pitr_tz_load_dir(PITR_TZ_DIR, name, out, err);
}
