/* catalog.c - a server's backups: backup.info reading, loading, target times, backup choice. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgpitr/catalog/catalog.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/pg/pg.h"
#include "pgpitr/storage/storage.h"

#define INFO_LIMIT ((size_t)4 * 1024 * 1024)

void pitr_cat_backup_release(struct pitr_cat_backup *b)
{
    if (b == NULL)
        return;
    pitr_free(b->id);
    pitr_free(b->backup_name);
    pitr_free(b->status);
    pitr_free(b->begin_wal);
    pitr_free(b->end_wal);
    pitr_free(b->begin_time);
    pitr_free(b->begin_xlog);
    pitr_free(b->end_time);
    pitr_free(b->end_xlog);
    for (size_t i = 0; i < b->ntablespaces; i++) {
        pitr_free(b->tablespaces[i].name);
        pitr_free(b->tablespaces[i].location);
    }
    pitr_free(b->tablespaces);
    for (size_t i = 0; i < b->nfields; i++) {
        pitr_free(b->fields[i].key);
        pitr_free(b->fields[i].value);
    }
    pitr_free(b->fields);
    memset(b, 0, sizeof(*b));
    b->timeline = -1;
}

const char *pitr_cat_field(const struct pitr_cat_backup *b, const char *key)
{
    for (size_t i = b->nfields; i-- > 0;)
        if (strcmp(b->fields[i].key, key) == 0)
            return b->fields[i].value;
    return NULL;
}

enum pitr_cat_keep pitr_cat_keep_from_body(const char *body, size_t len)
{
    const char *nl = memchr(body, '\n', len);
    size_t n = nl ? (size_t)(nl - body) : len;

    if (n == 10 && memcmp(body, "standalone", 10) == 0)
        return PITR_CAT_KEEP_STANDALONE;
    return n > 0 ? PITR_CAT_KEEP_FULL : PITR_CAT_KEEP_NONE;
}

const char *pitr_cat_keep_name(enum pitr_cat_keep k)
{
    return k == PITR_CAT_KEEP_FULL         ? "full"
           : k == PITR_CAT_KEEP_STANDALONE ? "standalone"
                                           : "nokeep";
}

/* ---- time ------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
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

/* n digits at *p into *out; advances *p. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return 0;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 1;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dm[m - 1];
}

pitr_rc pitr_cat_parse_time(const char *s, int64_t *us, char *pg, struct pitr_err *err)
{
    const char *p = s;
    int y, mo, d, h, mi, se, frac = 0, oh = 0, om = 0, sign = 1;
    int64_t v;

    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d) || (*p != ' ' && *p != 'T' && *p != 't'))
        goto bad;
    p++;
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
        !digits(&p, 2, &se))
        goto bad;
    if (*p == '.') {
        int n = 0;

        p++;
        while (isdigit((unsigned char)*p)) {
            if (n < 6)
                frac = frac * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            goto bad;
        for (; n < 6; n++)
            frac *= 10;
    }
    if (*p == ' ')
        p++;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p++;
        if (!digits(&p, 2, &oh))
            goto bad;
        if (*p == ':')
            p++;
        if (isdigit((unsigned char)*p) && !digits(&p, 2, &om))
            goto bad;
        if (oh > 15 || om > 59)
            goto bad;
    }
    if (*p != '\0')
        goto bad;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60)
        goto bad;
    v = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    v -= sign * (oh * 3600 + om * 60);
    *us = v * 1000000 + frac;
    if (pg != NULL) {
        int64_t yy, secs = v;
        int mm, dd, rem;

        civil_from_days(secs >= 0 ? secs / 86400 : (secs - 86399) / 86400, &yy, &mm, &dd);
        rem = (int)(secs - (secs >= 0 ? secs / 86400 : (secs - 86399) / 86400) * 86400);
        if (frac != 0)
            snprintf(pg,
                     64,
                     "%04" PRId64 "-%02d-%02d %02d:%02d:%02d.%06d+00",
                     yy,
                     mm,
                     dd,
                     rem / 3600,
                     rem / 60 % 60,
                     rem % 60,
                     frac);
        else
            snprintf(pg,
                     64,
                     "%04" PRId64 "-%02d-%02d %02d:%02d:%02d+00",
                     yy,
                     mm,
                     dd,
                     rem / 3600,
                     rem / 60 % 60,
                     rem % 60);
    }
    return PITR_OK;
bad:
    return pitr_err_set(err,
                        PITR_EUSAGE,
                        "invalid time '%s': expected 'YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]]' "
                        "or RFC 3339 (a time without a zone is UTC)",
                        s);
}

/* ---- Python literals (tablespaces) --------------------------------------- */

static void skip_ws(const char **p)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
}

/* Append code point cp as UTF-8; a surrogateescape'd byte (U+DC80..U+DCFF) as that byte. */
static pitr_rc put_code_point(struct pitr_buf *out, uint32_t cp, struct pitr_err *err)
{
    char enc[4];
    size_t n = 0;

    if (cp >= 0xdc80 && cp <= 0xdcff) {
        enc[n++] = (char)(cp & 0xff);
    } else if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
        return pitr_err_set(err, PITR_EFORMAT, "escape of an invalid code point U+%X", cp);
    } else if (cp < 0x80) {
        enc[n++] = (char)cp;
    } else if (cp < 0x800) {
        enc[n++] = (char)(0xc0 | (cp >> 6));
        enc[n++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        enc[n++] = (char)(0xe0 | (cp >> 12));
        enc[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        enc[n++] = (char)(0x80 | (cp & 0x3f));
    } else {
        enc[n++] = (char)(0xf0 | (cp >> 18));
        enc[n++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        enc[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        enc[n++] = (char)(0x80 | (cp & 0x3f));
    }
    return pitr_buf_append(out, enc, n, err);
}

pitr_rc pitr_cat_py_str(const char **p, struct pitr_buf *out, struct pitr_err *err)
{
    const char *s = *p;
    char q = *s++;
    pitr_rc rc = PITR_OK;

    if (q != '\'' && q != '"')
        return pitr_err_set(err, PITR_EFORMAT, "not a Python string near '%.20s'", *p);
    while (rc == PITR_OK && *s != q) {
        char c = *s;
        int nd;
        char h[9] = { 0 };

        if (c == '\0')
            return pitr_err_set(err, PITR_EFORMAT, "unterminated Python string '%.20s'", *p);
        if (c != '\\') {
            rc = pitr_buf_append(out, s++, 1, err);
            continue;
        }
        c = s[1];
        s += 2;
        switch (c) {
        case 'n':
            rc = pitr_buf_append(out, "\n", 1, err);
            continue;
        case 'r':
            rc = pitr_buf_append(out, "\r", 1, err);
            continue;
        case 't':
            rc = pitr_buf_append(out, "\t", 1, err);
            continue;
        case '\\':
        case '\'':
        case '"':
            rc = pitr_buf_append(out, &c, 1, err);
            continue;
        case 'x':
        case 'u':
        case 'U':
            /* Python 3 str: \xHH is the code point U+00HH, not a byte. */
            nd = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            for (int k = 0; k < nd; k++) {
                if (!isxdigit((unsigned char)s[k]))
                    return pitr_err_set(
                      err, PITR_EFORMAT, "bad \\%c escape in Python string '%.20s'", c, *p);
                h[k] = s[k];
            }
            s += nd;
            rc = put_code_point(out, (uint32_t)strtoul(h, NULL, 16), err);
            continue;
        default:
            return pitr_err_set(
              err, PITR_EFORMAT, "unknown escape '\\%c' in Python string '%.20s'", c ? c : '0', *p);
        }
    }
    if (rc == PITR_OK)
        *p = s + 1;
    return rc;
}

/* A Python str literal at *p as a heap string, or NULL (see pitr_cat_py_str). */
static char *py_str(const char **p)
{
    struct pitr_buf b;
    struct pitr_err e;

    pitr_buf_init(&b, PITR_BUF_LIMIT_SMALL);
    if (pitr_cat_py_str(p, &b, &e) != PITR_OK || memchr(b.data, '\0', b.len) != NULL) {
        pitr_buf_release(&b);
        return NULL;
    }
    return pitr_buf_detach(&b, NULL);
}

/* [('name', oid, 'location'), ...] */
static pitr_rc parse_tablespaces(const char *v, struct pitr_cat_backup *b, struct pitr_err *err)
{
    const char *p = v;

    skip_ws(&p);
    if (*p++ != '[')
        goto bad;
    for (;;) {
        struct pitr_cat_tablespace t = { 0 };
        char *end;
        unsigned long oid;

        skip_ws(&p);
        if (*p == ']')
            break;
        if (*p++ != '(')
            goto bad;
        skip_ws(&p);
        if ((t.name = py_str(&p)) == NULL)
            goto bad;
        skip_ws(&p);
        if (*p++ != ',')
            goto bad_t;
        skip_ws(&p);
        errno = 0;
        oid = strtoul(p, &end, 10);
        if (end == p || errno != 0 || oid > UINT32_MAX)
            goto bad_t;
        t.oid = (uint32_t)oid;
        p = end;
        skip_ws(&p);
        if (*p++ != ',')
            goto bad_t;
        skip_ws(&p);
        if ((t.location = py_str(&p)) == NULL)
            goto bad_t;
        skip_ws(&p);
        if (*p++ != ')')
            goto bad_t;
        b->tablespaces =
          pitr_realloc(b->tablespaces, (b->ntablespaces + 1) * sizeof(*b->tablespaces));
        b->tablespaces[b->ntablespaces++] = t;
        skip_ws(&p);
        if (*p == ',')
            p++;
        continue;
    bad_t:
        pitr_free(t.name);
        pitr_free(t.location);
        goto bad;
    }
    return PITR_OK;
bad:
    return pitr_err_set(err, PITR_EFORMAT, "backup.info: malformed tablespaces value");
}

pitr_rc pitr_cat_parse_info(const char *text,
                            size_t len,
                            struct pitr_cat_backup *b,
                            struct pitr_err *err)
{
    const char *p = text, *end = text + len;
    pitr_rc rc = PITR_OK;

    memset(b, 0, sizeof(*b));
    b->timeline = -1;
    b->xlog_segment_size = 16 * 1024 * 1024;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end, *eq, *ks, *ke, *vs, *ve;
        char *key = NULL, *val = NULL;

        ks = p;
        p = nl ? nl + 1 : end;
        while (ks < le && isspace((unsigned char)*ks))
            ks++;
        if (ks == le || *ks == '#')
            continue;
        eq = memchr(ks, '=', (size_t)(le - ks));
        if (eq == NULL)
            continue; /* tolerant: not a key=value line */
        ke = eq;
        while (ke > ks && isspace((unsigned char)ke[-1]))
            ke--;
        vs = eq + 1;
        while (vs < le && isspace((unsigned char)*vs))
            vs++;
        ve = le;
        while (ve > vs && isspace((unsigned char)ve[-1]))
            ve--;
        b->fields = pitr_realloc(b->fields, (b->nfields + 1) * sizeof(*b->fields));
        b->fields[b->nfields].key = pitr_strndup(ks, (size_t)(ke - ks));
        b->fields[b->nfields++].value = pitr_strndup(vs, (size_t)(ve - vs));
        if (ve - vs == 4 && memcmp(vs, "None", 4) == 0)
            continue;
        key = pitr_strndup(ks, (size_t)(ke - ks));
        val = pitr_strndup(vs, (size_t)(ve - vs));
        if (strcmp(key, "backup_name") == 0) {
            pitr_free(b->backup_name);
            b->backup_name = val, val = NULL;
        } else if (strcmp(key, "status") == 0) {
            pitr_free(b->status);
            b->status = val, val = NULL;
        } else if (strcmp(key, "begin_wal") == 0) {
            pitr_free(b->begin_wal);
            b->begin_wal = val, val = NULL;
        } else if (strcmp(key, "end_wal") == 0) {
            pitr_free(b->end_wal);
            b->end_wal = val, val = NULL;
        } else if (strcmp(key, "begin_xlog") == 0) {
            pitr_free(b->begin_xlog);
            b->begin_xlog = val, val = NULL;
        } else if (strcmp(key, "begin_time") == 0) {
            b->has_begin_time = pitr_cat_parse_time(val, &b->begin_time_us, NULL, err) == PITR_OK;
            pitr_free(b->begin_time);
            b->begin_time = val, val = NULL;
        } else if (strcmp(key, "xlog_segment_size") == 0) {
            char *e2;
            long long v = strtoll(val, &e2, 10);
            if (e2 != val && *e2 == '\0' && v >= (1 << 20) && v <= (1 << 30))
                b->xlog_segment_size = (uint32_t)v;
        } else if (strcmp(key, "end_time") == 0) {
            b->has_end_time = pitr_cat_parse_time(val, &b->end_time_us, NULL, err) == PITR_OK;
            pitr_free(b->end_time);
            b->end_time = val, val = NULL;
        } else if (strcmp(key, "end_xlog") == 0) {
            b->has_end_lsn = pitr_pg_parse_lsn(val, &b->end_lsn, err) == PITR_OK;
            pitr_free(b->end_xlog);
            b->end_xlog = val, val = NULL;
        } else if (strcmp(key, "timeline") == 0) {
            char *e2;
            long long t = strtoll(val, &e2, 10);
            b->timeline = (e2 != val && *e2 == '\0' && t > 0) ? t : -1;
        } else if (strcmp(key, "tablespaces") == 0) {
            rc = parse_tablespaces(val, b, err);
        }
        pitr_free(key);
        pitr_free(val);
        if (rc != PITR_OK)
            break;
    }
    pitr_err_clear(err);
    if (rc != PITR_OK) {
        pitr_cat_backup_release(b);
        return pitr_err_set(err, rc, "backup.info: malformed tablespaces value");
    }
    return PITR_OK;
}

/* ---- selection ----------------------------------------------------------- */

static int is_done(const struct pitr_cat_backup *b)
{
    return b->status != NULL && strcmp(b->status, "DONE") == 0;
}

/* Chronological order: end time, then id (ids are YYYYMMDDTHHMMSS). */
static int newer(const struct pitr_cat_backup *a, const struct pitr_cat_backup *b)
{
    if (a->has_end_time && b->has_end_time && a->end_time_us != b->end_time_us)
        return a->end_time_us > b->end_time_us;
    return strcmp(a->id ? a->id : "", b->id ? b->id : "") > 0;
}

pitr_rc pitr_cat_select(const struct pitr_cat_backup *v,
                        size_t n,
                        const struct pitr_cat_query *q,
                        const struct pitr_cat_backup **out,
                        struct pitr_err *err)
{
    const struct pitr_cat_backup *best = NULL, *oldest = NULL;

    *out = NULL;
    if (q->id != NULL && strcmp(q->id, "latest") != 0 && strcmp(q->id, "last") != 0) {
        for (size_t i = 0; i < n; i++) {
            if ((v[i].id && strcmp(v[i].id, q->id) == 0) ||
                (v[i].backup_name && strcmp(v[i].backup_name, q->id) == 0)) {
                if (!is_done(&v[i]))
                    return pitr_err_set(
                      err,
                      PITR_EUSAGE,
                      "backup '%s' has status %s, not DONE: it cannot be restored",
                      q->id,
                      v[i].status ? v[i].status : "None");
                /*
                 * Recovery cannot stop before the backup's end (PostgreSQL
                 * fails late, once the server runs, with "requested recovery
                 * stop point is before consistent recovery point").
                 */
                if (q->target == PITR_CAT_TARGET_TIME && v[i].has_end_time &&
                    v[i].end_time_us > q->time_us)
                    return pitr_err_set(err,
                                        PITR_EUSAGE,
                                        "backup '%s' ended at %s, after the target time: the "
                                        "earliest possible target time for it is its end; "
                                        "name an older backup or none",
                                        q->id,
                                        v[i].end_time ? v[i].end_time : "unknown");
                if (q->target == PITR_CAT_TARGET_LSN && v[i].has_end_lsn && v[i].end_lsn >= q->lsn)
                    return pitr_err_set(err,
                                        PITR_EUSAGE,
                                        "backup '%s' ended at LSN %s, not before the target LSN: "
                                        "the earliest possible target LSN for it is after its "
                                        "end; name an older backup or none",
                                        q->id,
                                        v[i].end_xlog ? v[i].end_xlog : "unknown");
                *out = &v[i];
                return PITR_OK;
            }
        }
        return pitr_err_set(err, PITR_ENOTFOUND, "no backup with id or name '%s'", q->id);
    }
    for (size_t i = 0; i < n; i++) {
        const struct pitr_cat_backup *b = &v[i];

        if (!is_done(b) || (q->timeline > 0 && b->timeline != q->timeline))
            continue;
        if (oldest == NULL || newer(oldest, b))
            oldest = b;
        if (q->target == PITR_CAT_TARGET_TIME && (!b->has_end_time || b->end_time_us > q->time_us))
            continue;
        if (q->target == PITR_CAT_TARGET_LSN && (!b->has_end_lsn || b->end_lsn >= q->lsn))
            continue;
        if (best == NULL || newer(b, best))
            best = b;
    }
    if (best != NULL) {
        *out = best;
        return PITR_OK;
    }
    if (oldest == NULL) {
        if (q->timeline > 0)
            return pitr_err_set(
              err, PITR_ENOTFOUND, "no DONE backup on timeline %" PRId64, q->timeline);
        return pitr_err_set(err, PITR_ENOTFOUND, "no DONE backup in the catalog");
    }
    if (q->target == PITR_CAT_TARGET_TIME)
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "no backup ended at or before the target time; the earliest possible "
                            "target time is %s (end of backup %s)",
                            oldest->end_time ? oldest->end_time : "unknown",
                            oldest->id ? oldest->id : "?");
    return pitr_err_set(err,
                        PITR_EUSAGE,
                        "no backup ended before the target LSN; the earliest possible target LSN "
                        "is after %s (end of backup %s)",
                        oldest->end_xlog ? oldest->end_xlog : "unknown",
                        oldest->id ? oldest->id : "?");
}

/* ---- loading a server's backups --------------------------------------------- */

struct ids {
    const char *prefix; /* "<server>/base/" */
    char **v;           /* owned; ids with a backup.info */
    size_t n;
    char **kept; /* owned; ids with an annotations/keep object */
    size_t nkept;
};

static void push_id(char ***v, size_t *n, const char *s, size_t len)
{
    *v = pitr_realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = pitr_strndup(s, len);
}

static pitr_rc collect_id(const char *key,
                          const struct pitr_obj_info *info,
                          void *ud,
                          struct pitr_err *err)
{
    struct ids *ids = ud;
    const char *rest = key + strlen(ids->prefix), *slash = strchr(rest, '/');

    (void)info;
    (void)err;
    if (slash == NULL || slash == rest)
        return PITR_OK;
    if (strcmp(slash, "/backup.info") == 0)
        push_id(&ids->v, &ids->n, rest, (size_t)(slash - rest));
    else if (strcmp(slash, "/annotations/keep") == 0)
        push_id(&ids->kept, &ids->nkept, rest, (size_t)(slash - rest));
    return PITR_OK;
}

static int by_id(const void *a, const void *b)
{
    const struct pitr_cat_backup *x = a, *y = b;

    return strcmp(x->id, y->id);
}

pitr_rc pitr_cat_read_keep(struct pitr_storage *st,
                           const char *server,
                           const char *id,
                           enum pitr_cat_keep *keep,
                           struct pitr_err *err)
{
    struct pitr_buf b;
    char *key = pitr_asprintf("%s/base/%s/annotations/keep", server, id);
    pitr_rc rc;

    *keep = PITR_CAT_KEEP_NONE;
    pitr_buf_init(&b, PITR_BUF_LIMIT_SMALL);
    rc = pitr_storage_get(st, key, &b, err);
    if (rc == PITR_ENOTFOUND) {
        pitr_err_clear(err);
        rc = PITR_OK;
    } else if (rc == PITR_OK) {
        *keep = pitr_cat_keep_from_body(b.data, b.len);
    } else {
        rc = pitr_err_prefix(err, "cannot read the keep annotation of backup '%s'", id);
    }
    pitr_buf_release(&b);
    pitr_free(key);
    return rc;
}

pitr_rc pitr_cat_load(struct pitr_storage *st,
                      const char *server,
                      struct pitr_cat_backup **out,
                      size_t *nout,
                      struct pitr_err *err)
{
    return pitr_cat_load_ex(st, server, out, nout, NULL, err);
}

pitr_rc pitr_cat_load_ex(struct pitr_storage *st,
                         const char *server,
                         struct pitr_cat_backup **out,
                         size_t *nout,
                         size_t *nunreadable,
                         struct pitr_err *err)
{
    struct ids ids = { 0 };
    struct pitr_cat_backup *v = NULL;
    struct pitr_buf b;
    size_t n = 0;
    char *prefix = pitr_asprintf("%s/base/", server), *key = NULL;
    pitr_rc rc;

    pitr_buf_init(&b, INFO_LIMIT);
    if (nunreadable != NULL)
        *nunreadable = 0;
    ids.prefix = prefix;
    rc = pitr_storage_list(st, prefix, collect_id, &ids, err);
    if (rc != PITR_OK)
        goto out;
    v = pitr_calloc(ids.n ? ids.n : 1, sizeof(*v));
    for (size_t i = 0; i < ids.n; i++) {
        pitr_buf_reset(&b);
        pitr_free(key);
        key = pitr_asprintf("%s%s/backup.info", prefix, ids.v[i]);
        rc = pitr_storage_get(st, key, &b, err);
        if (rc == PITR_ENOTFOUND)
            continue;
        if (rc != PITR_OK && rc != PITR_ELIMIT && rc != PITR_EFORMAT)
            goto out;
        /* One bad backup.info (too large, garbled) never hides the other backups. */
        if (rc != PITR_OK || pitr_cat_parse_info(b.data, b.len, &v[n], err) != PITR_OK) {
            pitr_log_warn("catalog: skipping '%s': %s", key, err->msg);
            pitr_err_clear(err);
            if (nunreadable != NULL)
                (*nunreadable)++;
            continue;
        }
        v[n].id = ids.v[i];
        ids.v[i] = NULL;
        for (size_t k = 0; k < ids.nkept; k++) {
            if (strcmp(ids.kept[k], v[n].id) != 0)
                continue;
            rc = pitr_cat_read_keep(st, server, v[n].id, &v[n].keep, err);
            if (rc != PITR_OK) {
                n++;
                goto out;
            }
        }
        n++;
    }
    rc = PITR_OK;
    if (n > 1)
        qsort(v, n, sizeof(*v), by_id);
    *out = v;
    *nout = n;
    v = NULL;
out:
    for (size_t i = 0; i < ids.n; i++)
        pitr_free(ids.v[i]);
    pitr_free(ids.v);
    for (size_t i = 0; i < ids.nkept; i++)
        pitr_free(ids.kept[i]);
    pitr_free(ids.kept);
    if (v != NULL) {
        for (size_t i = 0; i < n; i++)
            pitr_cat_backup_release(&v[i]);
        pitr_free(v);
    }
    pitr_buf_release(&b);
    pitr_free(key);
    pitr_free(prefix);
    return rc;
}

void pitr_cat_list_release(struct pitr_cat_backup *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        pitr_cat_backup_release(&v[i]);
    pitr_free(v);
}
