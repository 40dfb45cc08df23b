/* info.c - backup.info in barman 3.4's form; see include/pgpitr/backup/info.h. */
#include "pgpitr/backup/info.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pitr_backup_info_init(struct pitr_backup_info *bi)
{
    memset(bi, 0, sizeof(*bi));
    bi->begin_offset = -1;
    bi->end_offset = -1;
    bi->timeline = -1;
    bi->version = -1;
    bi->xlog_segment_size = -1;
}

pitr_rc pitr_py_repr_str(const char *s, struct pitr_buf *out, struct pitr_err *err)
{
    const unsigned char *p = (const unsigned char *)s;
    char quote = (strchr(s, '\'') != NULL && strchr(s, '"') == NULL) ? '"' : '\'';
    pitr_rc rc = pitr_buf_append(out, &quote, 1, err);

    for (; rc == PITR_OK && *p != '\0'; p++) {
        unsigned char c = *p;

        if (c == '\\' || c == (unsigned char)quote)
            rc = pitr_buf_appendf(out, err, "\\%c", c);
        else if (c == '\n')
            rc = pitr_buf_append_str(out, "\\n", err);
        else if (c == '\r')
            rc = pitr_buf_append_str(out, "\\r", err);
        else if (c == '\t')
            rc = pitr_buf_append_str(out, "\\t", err);
        else if (c < 0x20 || c == 0x7f)
            rc = pitr_buf_appendf(out, err, "\\x%02x", c);
        else if (c == 0xc2 && p[1] >= 0x80 && p[1] <= 0xa0) {
            /* U+0080..U+00A0 are not printable for Python: \x80 .. \xa0. */
            rc = pitr_buf_appendf(out, err, "\\x%02x", p[1]);
            p++;
        } else
            rc = pitr_buf_append(out, p, 1, err);
    }
    if (rc == PITR_OK)
        rc = pitr_buf_append(out, &quote, 1, err);
    return rc;
}

/* Python's repr() of a float rounded to microseconds: "0.0", "2.5", "780.888136". */
static pitr_rc py_float(double v, struct pitr_buf *out, struct pitr_err *err)
{
    char tmp[64];
    size_t n;

    if (!isfinite(v) || v < 0)
        v = 0;
    snprintf(tmp, sizeof(tmp), "%.6f", v);
    n = strlen(tmp);
    while (n > 0 && tmp[n - 1] == '0' && tmp[n - 2] != '.')
        n--;
    return pitr_buf_append(out, tmp, n, err);
}

static pitr_rc kv_str(struct pitr_buf *out, const char *k, const char *v, struct pitr_err *err)
{
    return pitr_buf_appendf(out, err, "%s=%s\n", k, v != NULL ? v : "None");
}

static pitr_rc kv_int(struct pitr_buf *out, const char *k, int64_t v, struct pitr_err *err)
{
    if (v < 0)
        return pitr_buf_appendf(out, err, "%s=None\n", k);
    return pitr_buf_appendf(out, err, "%s=%" PRId64 "\n", k, v);
}

static pitr_rc kv_repr(struct pitr_buf *out, const char *k, const char *v, struct pitr_err *err)
{
    pitr_rc rc = pitr_buf_appendf(out, err, "%s=", k);

    if (rc == PITR_OK)
        rc = v != NULL && *v != '\0' ? pitr_py_repr_str(v, out, err)
                                     : pitr_buf_append_str(out, "None", err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, "\n", err);
    return rc;
}

/* {'16384': v, 'data': v} for one of the per-item maps; which: 0 zero, 1 copy, 2 serialized. */
static pitr_rc item_map(const struct pitr_info_copy_stats *cs,
                        int which,
                        struct pitr_buf *out,
                        struct pitr_err *err)
{
    size_t i;
    pitr_rc rc = pitr_buf_append_str(out, "{", err);

    for (i = 0; rc == PITR_OK && i < cs->nitems; i++) {
        if (i > 0)
            rc = pitr_buf_append_str(out, ", ", err);
        if (rc == PITR_OK)
            rc = pitr_py_repr_str(cs->items[i].name, out, err);
        if (rc == PITR_OK)
            rc = pitr_buf_append_str(out, ": ", err);
        if (rc != PITR_OK)
            break;
        if (which == 0)
            rc = pitr_buf_append_str(out, "0", err);
        else
            rc = py_float(
              which == 1 ? cs->items[i].copy_time : cs->items[i].serialized_copy_time, out, err);
    }
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, "}", err);
    return rc;
}

static pitr_rc copy_stats(const struct pitr_info_copy_stats *cs,
                          struct pitr_buf *out,
                          struct pitr_err *err)
{
    pitr_rc rc = pitr_buf_append_str(out, "copy_stats=", err);

    if (rc != PITR_OK)
        return rc;
    if (cs == NULL)
        return pitr_buf_append_str(out, "None\n", err);
    rc = pitr_buf_append_str(out, "{'total_time': ", err);
    if (rc == PITR_OK)
        rc = py_float(cs->total_time, out, err);
    if (rc == PITR_OK)
        rc = pitr_buf_appendf(out,
                              err,
                              ", 'number_of_workers': %d, 'analysis_time': 0, "
                              "'analysis_time_per_item': ",
                              cs->number_of_workers);
    if (rc == PITR_OK)
        rc = item_map(cs, 0, out, err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, ", 'copy_time_per_item': ", err);
    if (rc == PITR_OK)
        rc = item_map(cs, 1, out, err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, ", 'serialized_copy_time_per_item': ", err);
    if (rc == PITR_OK)
        rc = item_map(cs, 2, out, err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, ", 'copy_time': ", err);
    if (rc == PITR_OK)
        rc = py_float(cs->copy_time, out, err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, ", 'serialized_copy_time': ", err);
    if (rc == PITR_OK)
        rc = py_float(cs->serialized_copy_time, out, err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, "}\n", err);
    return rc;
}

static pitr_rc included_files(const struct pitr_backup_info *bi,
                              struct pitr_buf *out,
                              struct pitr_err *err)
{
    size_t i;
    pitr_rc rc = pitr_buf_append_str(out, "included_files=", err);

    if (rc != PITR_OK)
        return rc;
    if (bi->included_files == NULL || bi->nincluded == 0)
        return pitr_buf_append_str(out, "None\n", err);
    rc = pitr_buf_append_str(out, "[", err);
    for (i = 0; rc == PITR_OK && i < bi->nincluded; i++) {
        if (i > 0)
            rc = pitr_buf_append_str(out, ", ", err);
        if (rc == PITR_OK)
            rc = pitr_py_repr_str(bi->included_files[i], out, err);
    }
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, "]\n", err);
    return rc;
}

static pitr_rc tablespaces(const struct pitr_backup_info *bi,
                           struct pitr_buf *out,
                           struct pitr_err *err)
{
    size_t i;
    pitr_rc rc = pitr_buf_append_str(out, "tablespaces=", err);

    if (rc != PITR_OK)
        return rc;
    if (bi->tablespaces == NULL || bi->ntablespaces == 0)
        return pitr_buf_append_str(out, "None\n", err);
    rc = pitr_buf_append_str(out, "[", err);
    for (i = 0; rc == PITR_OK && i < bi->ntablespaces; i++) {
        const struct pitr_info_tablespace *t = &bi->tablespaces[i];

        rc = pitr_buf_append_str(out, i > 0 ? ", (" : "(", err);
        if (rc == PITR_OK)
            rc = pitr_py_repr_str(t->name, out, err);
        if (rc == PITR_OK)
            rc = pitr_buf_appendf(out, err, ", %" PRIu32 ", ", t->oid);
        if (rc == PITR_OK)
            rc = pitr_py_repr_str(t->location, out, err);
        if (rc == PITR_OK)
            rc = pitr_buf_append_str(out, ")", err);
    }
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, "]\n", err);
    return rc;
}

pitr_rc pitr_backup_info_write(const struct pitr_backup_info *bi,
                               struct pitr_buf *out,
                               struct pitr_err *err)
{
    pitr_rc rc;

    /* Alphabetical: the order barman's FieldListFile.save() writes. */
    rc = kv_repr(out, "backup_label", bi->backup_label, err);
    if (rc == PITR_OK && bi->backup_name != NULL)
        rc = kv_str(out, "backup_name", bi->backup_name, err);
    if (rc == PITR_OK)
        rc = kv_int(out, "begin_offset", bi->begin_offset, err);
    if (rc == PITR_OK)
        rc = kv_str(out, "begin_time", bi->begin_time, err);
    if (rc == PITR_OK)
        rc = kv_str(out, "begin_wal", bi->begin_wal, err);
    if (rc == PITR_OK)
        rc = kv_str(out, "begin_xlog", bi->begin_xlog, err);
    if (rc == PITR_OK)
        rc = kv_str(out, "compression", NULL, err);
    if (rc == PITR_OK)
        rc = kv_str(out, "config_file", bi->config_file, err);
    if (rc == PITR_OK)
        rc = copy_stats(bi->copy_stats, out, err);
    if (rc == PITR_OK)
        rc = kv_str(out, "deduplicated_size", NULL, err);
    if (rc == PITR_OK)
        rc = kv_int(out, "end_offset", bi->end_offset, err);
    if (rc == PITR_OK)
        rc = kv_str(out, "end_time", bi->end_time, err);
    if (rc == PITR_OK)
        rc = kv_str(out, "end_wal", bi->end_wal, err);
    if (rc == PITR_OK)
        rc = kv_str(out, "end_xlog", bi->end_xlog, err);
    if (rc == PITR_OK)
        rc = kv_str(out, "error", bi->error, err);
    if (rc == PITR_OK)
        rc = kv_str(out, "hba_file", bi->hba_file, err);
    if (rc == PITR_OK)
        rc = kv_str(out, "ident_file", bi->ident_file, err);
    if (rc == PITR_OK)
        rc = included_files(bi, out, err);
    if (rc == PITR_OK)
        rc = kv_str(out, "mode", NULL, err);
    if (rc == PITR_OK)
        rc = kv_str(out, "pgdata", bi->pgdata, err);
    if (rc == PITR_OK)
        rc = kv_str(out, "server_name", "cloud", err);
    if (rc == PITR_OK)
        rc = kv_str(out, "size", NULL, err);
    if (rc == PITR_OK)
        rc = kv_str(out, "status", bi->status, err);
    if (rc == PITR_OK)
        rc = kv_str(out, "systemid", bi->systemid, err);
    if (rc == PITR_OK)
        rc = tablespaces(bi, out, err);
    if (rc == PITR_OK)
        rc = kv_int(out, "timeline", bi->timeline, err);
    if (rc == PITR_OK)
        rc = kv_int(out, "version", bi->version, err);
    if (rc == PITR_OK)
        rc = kv_int(out, "xlog_segment_size", bi->xlog_segment_size, err);
    return rc;
}

int pitr_backup_is_id(const char *s)
{
    int i;

    /* barman: re.match(r"(\d{8})T\d{6}$", s) */
    for (i = 0; i < 8; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    if (s[8] != 'T')
        return 0;
    for (i = 9; i < 15; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return s[15] == '\0';
}

pitr_rc pitr_backup_check_name(const char *name, struct pitr_err *err)
{
    static const char *const reserved[] = { "latest", "last", "oldest", "first", "last-failed" };
    const unsigned char *p;
    size_t i;

    if (*name == '\0')
        return pitr_err_set(err, PITR_EUSAGE, "backup name must not be empty");
    if (pitr_backup_is_id(name))
        return pitr_err_set(err, PITR_EUSAGE, "backup name '%s' is not allowed: backup ID", name);
    for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcmp(name, reserved[i]) == 0)
            return pitr_err_set(
              err, PITR_EUSAGE, "backup name '%s' is not allowed: reserved word", name);
    for (p = (const unsigned char *)name; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f)
            return pitr_err_set(
              err, PITR_EUSAGE, "backup name must not contain control characters");
    return PITR_OK;
}

pitr_rc pitr_parse_size(const char *s, uint64_t *out, struct pitr_err *err)
{
    static const char units[] = "kmgtpezy";
    const char *p = s, *u;
    double num, base, v;
    char *end;
    int exp;

    if (*s == '\0' || isspace((unsigned char)*s) || *s == '-' || *s == '+')
        goto bad;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '\0') {
        unsigned long long n;

        errno = 0;
        n = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0' || n < 1)
            goto bad;
        *out = n;
        return PITR_OK;
    }
    errno = 0;
    num = strtod(s, &end);
    if (errno != 0 || end == s || *end == '\0')
        goto bad;
    u = strchr(units, tolower((unsigned char)*end));
    if (u == NULL)
        goto bad;
    exp = (int)(u - units) + 1;
    end++;
    if (tolower((unsigned char)end[0]) == 'b' && end[1] == '\0')
        base = 1024;
    else if (tolower((unsigned char)end[0]) == 'i' && tolower((unsigned char)end[1]) == 'b' &&
             end[2] == '\0')
        base = 1000;
    else
        goto bad;
    for (v = num; exp > 0; exp--)
        v *= base;
    if (!(v >= 1) || v >= 18446744073709551615.0)
        goto bad;
    *out = (uint64_t)v;
    return PITR_OK;
bad:
    return pitr_err_set(err,
                        PITR_EUSAGE,
                        "invalid size '%s': use bytes, or a number with KB, MB, GB, TB, ... "
                        "(at least 1 byte)",
                        s);
}
