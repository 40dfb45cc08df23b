/* show.c - list and show output in barman-cloud's formats; see catalog/show.h. */
#include "pgpitr/catalog/show.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgpitr/core/mem.h"

/* ---- JSON strings, as json.dumps(ensure_ascii=True) writes them ------------ */

static pitr_rc json_u16(struct pitr_buf *out, unsigned u, struct pitr_err *err)
{
    return pitr_buf_appendf(out, err, "\\u%04x", u & 0xffff);
}

/* Append s[0..n) (UTF-8; invalid bytes pass as U+00xx) as a JSON string body. */
static pitr_rc json_chars(struct pitr_buf *out, const char *s, size_t n, struct pitr_err *err)
{
    pitr_rc rc = PITR_OK;

    for (size_t i = 0; i < n && rc == PITR_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp = c;
        size_t more = 0;

        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            rc = pitr_buf_append(out, e, 2, err);
            continue;
        }
        if (c >= 0x20 && c < 0x7f) {
            rc = pitr_buf_append(out, &s[i], 1, err);
            continue;
        }
        switch (c) {
        case '\n':
            rc = pitr_buf_append_str(out, "\\n", err);
            continue;
        case '\r':
            rc = pitr_buf_append_str(out, "\\r", err);
            continue;
        case '\t':
            rc = pitr_buf_append_str(out, "\\t", err);
            continue;
        case '\b':
            rc = pitr_buf_append_str(out, "\\b", err);
            continue;
        case '\f':
            rc = pitr_buf_append_str(out, "\\f", err);
            continue;
        default:
            break;
        }
        if (c >= 0xf0 && c < 0xf8)
            cp = c & 0x07, more = 3;
        else if (c >= 0xe0)
            cp = c & 0x0f, more = 2;
        else if (c >= 0xc0)
            cp = c & 0x1f, more = 1;
        if (i + more >= n && more > 0)
            more = 0, cp = c;
        for (size_t k = 1; k <= more; k++) {
            if (((unsigned char)s[i + k] & 0xc0) != 0x80) {
                more = 0, cp = c;
                break;
            }
            cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3f);
        }
        i += more;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            rc = json_u16(out, 0xd800 + (cp >> 10), err);
            if (rc == PITR_OK)
                rc = json_u16(out, 0xdc00 + (cp & 0x3ff), err);
        } else {
            rc = json_u16(out, cp, err);
        }
    }
    return rc;
}

static pitr_rc json_str(struct pitr_buf *out, const char *s, struct pitr_err *err)
{
    pitr_rc rc = pitr_buf_append_str(out, "\"", err);

    if (rc == PITR_OK)
        rc = json_chars(out, s, strlen(s), err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, "\"", err);
    return rc;
}

/* ---- Python literals -------------------------------------------------------- */

struct lit {
    const char *p;
    struct pitr_buf *out;
    struct pitr_err *err;
    int depth;
};

static void lit_ws(struct lit *l)
{
    while (*l->p == ' ' || *l->p == '\t' || *l->p == '\n')
        l->p++;
}

static pitr_rc lit_bad(struct lit *l)
{
    return pitr_err_set(l->err, PITR_EFORMAT, "not a Python literal near '%.20s'", l->p);
}

/* A str literal into a JSON string (decoded by pitr_cat_py_str). */
static pitr_rc lit_str(struct lit *l)
{
    struct pitr_buf s;
    pitr_rc rc;

    pitr_buf_init(&s, l->out->limit);
    rc = pitr_cat_py_str(&l->p, &s, l->err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(l->out, "\"", l->err);
    if (rc == PITR_OK)
        rc = json_chars(l->out, s.data, s.len, l->err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(l->out, "\"", l->err);
    pitr_buf_release(&s);
    return rc;
}

static pitr_rc lit_value(struct lit *l, int as_key);

static pitr_rc lit_seq(struct lit *l, char close, int dict)
{
    pitr_rc rc = pitr_buf_append_str(l->out, dict ? "{" : "[", l->err);
    int first = 1;

    l->p++;
    while (rc == PITR_OK) {
        lit_ws(l);
        if (*l->p == close) {
            l->p++;
            break;
        }
        if (!first) {
            if (*l->p != ',')
                return lit_bad(l);
            l->p++;
            lit_ws(l);
            if (*l->p == close) { /* trailing comma, e.g. ('a',) */
                l->p++;
                break;
            }
            rc = pitr_buf_append_str(l->out, ", ", l->err);
            if (rc != PITR_OK)
                break;
        }
        first = 0;
        rc = lit_value(l, dict);
        if (rc == PITR_OK && dict) {
            lit_ws(l);
            if (*l->p != ':')
                return lit_bad(l);
            l->p++;
            rc = pitr_buf_append_str(l->out, ": ", l->err);
            if (rc == PITR_OK)
                rc = lit_value(l, 0);
        }
    }
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(l->out, dict ? "}" : "]", l->err);
    return rc;
}

static pitr_rc lit_value(struct lit *l, int as_key)
{
    const char *s;
    pitr_rc rc;

    if (++l->depth > 32)
        return pitr_err_set(l->err, PITR_ELIMIT, "Python literal nested too deeply");
    lit_ws(l);
    s = l->p;
    if (*s == '\'' || *s == '"') {
        rc = lit_str(l);
    } else if (*s == '[' || *s == '(') {
        rc = as_key ? lit_bad(l) : lit_seq(l, *s == '[' ? ']' : ')', 0);
    } else if (*s == '{') {
        rc = as_key ? lit_bad(l) : lit_seq(l, '}', 1);
    } else if (strncmp(s, "None", 4) == 0) {
        l->p += 4;
        rc = pitr_buf_append_str(l->out, as_key ? "\"null\"" : "null", l->err);
    } else if (strncmp(s, "True", 4) == 0) {
        l->p += 4;
        rc = pitr_buf_append_str(l->out, as_key ? "\"true\"" : "true", l->err);
    } else if (strncmp(s, "False", 5) == 0) {
        l->p += 5;
        rc = pitr_buf_append_str(l->out, as_key ? "\"false\"" : "false", l->err);
    } else if (*s == '-' || isdigit((unsigned char)*s)) {
        const char *e = s + 1;

        while (isdigit((unsigned char)*e) || *e == '.' || *e == 'e' || *e == 'E' ||
               ((*e == '-' || *e == '+') && (e[-1] == 'e' || e[-1] == 'E')))
            e++;
        l->p = e;
        rc = as_key ? pitr_buf_appendf(l->out, l->err, "\"%.*s\"", (int)(e - s), s)
                    : pitr_buf_append(l->out, s, (size_t)(e - s), l->err);
    } else {
        rc = lit_bad(l);
    }
    l->depth--;
    return rc;
}

pitr_rc pitr_cat_pylit_to_json(const char *text, struct pitr_buf *out, struct pitr_err *err)
{
    struct lit l = { text, out, err, 0 };
    pitr_rc rc = lit_value(&l, 0);

    if (rc == PITR_OK) {
        lit_ws(&l);
        if (*l.p != '\0')
            rc = lit_bad(&l);
    }
    return rc;
}

/* ---- times --------------------------------------------------------------- */

struct tparts {
    int y, mo, d, h, mi, s;
    const char *frac; /* "" or ".ffffff" */
    size_t nfrac;
    const char *off; /* "" or "+HH:MM" etc. */
};

static int tparse(const char *t, struct tparts *p)
{
    if (t == NULL || sscanf(t, "%4d-%2d-%2d", &p->y, &p->mo, &p->d) != 3 || strlen(t) < 19 ||
        (t[10] != ' ' && t[10] != 'T') || sscanf(t + 11, "%2d:%2d:%2d", &p->h, &p->mi, &p->s) != 3)
        return 0;
    if (p->mo < 1 || p->mo > 12 || p->d < 1 || p->d > 31)
        return 0;
    p->frac = t + 19;
    p->nfrac = 0;
    if (*p->frac == '.') {
        p->nfrac = 1;
        while (isdigit((unsigned char)p->frac[p->nfrac]))
            p->nfrac++;
    }
    p->off = p->frac + p->nfrac;
    return 1;
}

int pitr_cat_time_ctime(const char *text, char out[32])
{
    static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const mn[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    struct tparts p;
    int y, m, w;

    if (!tparse(text, &p))
        return 0;
    /* Sakamoto's day of the week */
    {
        static const int tt[] = { 0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4 };
        y = p.y - (p.mo < 3);
        m = p.mo;
        w = (y + y / 4 - y / 100 + y / 400 + tt[m - 1] + p.d) % 7;
    }
    snprintf(
      out, 32, "%s %s %2d %02d:%02d:%02d %04d", wd[w], mn[p.mo - 1], p.d, p.h, p.mi, p.s, p.y);
    return 1;
}

int pitr_cat_time_iso(const char *text, char out[48])
{
    struct tparts p;
    const char *off;
    char ob[8];

    if (!tparse(text, &p))
        return 0;
    off = p.off;
    if (*off == ' ')
        off++;
    if (*off == '\0' || *off == 'Z' || *off == 'z') {
        off = "+00:00";
    } else if ((*off == '+' || *off == '-') && strlen(off) == 3) {
        snprintf(ob, sizeof(ob), "%s:00", off); /* "+01" -> "+01:00" */
        off = ob;
    } else if ((*off == '+' || *off == '-') && strlen(off) == 5 && off[3] != ':') {
        snprintf(ob, sizeof(ob), "%.3s:%.2s", off, off + 3);
        off = ob;
    }
    snprintf(out,
             48,
             "%04d-%02d-%02dT%02d:%02d:%02d%.*s%.7s",
             p.y,
             p.mo,
             p.d,
             p.h,
             p.mi,
             p.s,
             (int)(p.nfrac > 7 ? 7 : p.nfrac),
             p.frac,
             off);
    return 1;
}

/* ---- one backup as JSON ----------------------------------------------------- */

static int is_int_key(const char *k)
{
    static const char *const ints[] = { "begin_offset",      "end_offset",        "timeline",
                                        "version",           "xlog_segment_size", "size",
                                        "deduplicated_size", "cluster_size" };

    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        if (strcmp(k, ints[i]) == 0)
            return 1;
    return 0;
}

static int is_literal_key(const char *k)
{
    return strcmp(k, "tablespaces") == 0 || strcmp(k, "copy_stats") == 0 ||
           strcmp(k, "included_files") == 0 || strcmp(k, "snapshots_info") == 0;
}

static int by_key(const void *a, const void *b)
{
    const struct pitr_cat_field *const *x = a, *const *y = b;

    return strcmp((*x)->key, (*y)->key);
}

static pitr_rc field_json(const struct pitr_cat_field *f,
                          struct pitr_buf *out,
                          struct pitr_err *err)
{
    const char *v = f->value;
    char t[48];
    size_t mark = out->len;
    pitr_rc rc;

    if (strcmp(v, "None") == 0)
        return pitr_buf_append_str(out, "null", err);
    if (is_int_key(f->key)) {
        char *e;
        (void)strtoll(v, &e, 10);
        if (e != v && *e == '\0')
            return pitr_buf_append_str(out, v, err);
        return json_str(out, v, err);
    }
    if ((strcmp(f->key, "begin_time") == 0 || strcmp(f->key, "end_time") == 0) &&
        pitr_cat_time_ctime(v, t))
        return json_str(out, t, err);
    if (is_literal_key(f->key)) {
        rc = pitr_cat_pylit_to_json(v, out, err);
        if (rc != PITR_EFORMAT)
            return rc;
        /* not a literal after all: keep the text */
        pitr_err_clear(err);
        out->len = mark;
        out->data[mark] = '\0';
    }
    return json_str(out, v, err);
}

pitr_rc pitr_cat_backup_json(const struct pitr_cat_backup *b,
                             struct pitr_buf *out,
                             struct pitr_err *err)
{
    const struct pitr_cat_field **f = pitr_calloc(b->nfields + 1, sizeof(*f));
    size_t n = 0;
    char t[48];
    pitr_rc rc;

    /* the last line for a key wins, as in barman's reader */
    for (size_t i = 0; i < b->nfields; i++) {
        size_t k;

        for (k = 0; k < n && strcmp(f[k]->key, b->fields[i].key) != 0; k++)
            ;
        f[k] = &b->fields[i];
        if (k == n)
            n++;
    }
    qsort(f, n, sizeof(*f), by_key);
    rc = pitr_buf_append_str(out, "{", err);
    for (size_t i = 0; rc == PITR_OK && i < n; i++) {
        if (strcmp(f[i]->key, "backup_id") == 0 || strcmp(f[i]->key, "begin_time_iso") == 0 ||
            strcmp(f[i]->key, "end_time_iso") == 0)
            continue;
        rc = pitr_buf_appendf(out, err, "%s", out->data[out->len - 1] == '{' ? "" : ", ");
        if (rc == PITR_OK)
            rc = json_str(out, f[i]->key, err);
        if (rc == PITR_OK)
            rc = pitr_buf_append_str(out, ": ", err);
        if (rc == PITR_OK)
            rc = field_json(f[i], out, err);
    }
    if (rc == PITR_OK) {
        rc = pitr_buf_append_str(out, out->data[out->len - 1] == '{' ? "" : ", ", err);
        if (rc == PITR_OK)
            rc = pitr_buf_append_str(out, "\"begin_time_iso\": ", err);
        if (rc == PITR_OK)
            rc = pitr_cat_time_iso(b->begin_time, t) ? json_str(out, t, err)
                                                     : pitr_buf_append_str(out, "null", err);
        if (rc == PITR_OK)
            rc = pitr_buf_append_str(out, ", \"end_time_iso\": ", err);
        if (rc == PITR_OK)
            rc = pitr_cat_time_iso(b->end_time, t) ? json_str(out, t, err)
                                                   : pitr_buf_append_str(out, "null", err);
        if (rc == PITR_OK)
            rc = pitr_buf_append_str(out, ", \"backup_id\": ", err);
        if (rc == PITR_OK)
            rc = json_str(out, b->id ? b->id : "", err);
        if (rc == PITR_OK)
            rc = pitr_buf_append_str(out, "}", err);
    }
    pitr_free(f);
    return rc;
}

/* ---- list and show -------------------------------------------------------------- */

static int is_done(const struct pitr_cat_backup *b)
{
    return b->status != NULL && strcmp(b->status, "DONE") == 0;
}

static const char *keep_status(const struct pitr_cat_backup *b)
{
    return b->keep == PITR_CAT_KEEP_FULL         ? "KEEP:FULL"
           : b->keep == PITR_CAT_KEEP_STANDALONE ? "KEEP:STANDALONE"
                                                 : "";
}

pitr_rc pitr_cat_list_console(const struct pitr_cat_backup *v,
                              size_t n,
                              struct pitr_buf *out,
                              struct pitr_err *err)
{
    pitr_rc rc = pitr_buf_appendf(out,
                                  err,
                                  "%-20s%-25s%-30s%-17s%-20s\n",
                                  "Backup ID",
                                  "End Time",
                                  "Begin Wal",
                                  "Archival Status",
                                  "Name");

    for (size_t i = 0; rc == PITR_OK && i < n; i++) {
        const struct pitr_cat_backup *b = &v[i];
        char end[20] = "";

        if (!is_done(b))
            continue;
        if (b->end_time != NULL && strlen(b->end_time) >= 19) {
            memcpy(end, b->end_time, 19);
            end[10] = ' ';
        }
        rc = pitr_buf_appendf(out,
                              err,
                              "%-20s%-25s%-30s%-17s%-20s\n",
                              b->id,
                              end,
                              b->begin_wal ? b->begin_wal : "None",
                              keep_status(b),
                              b->backup_name ? b->backup_name : "");
    }
    return rc;
}

pitr_rc pitr_cat_list_json(const struct pitr_cat_backup *v,
                           size_t n,
                           struct pitr_buf *out,
                           struct pitr_err *err)
{
    pitr_rc rc = pitr_buf_append_str(out, "{\"backups_list\": [", err);

    for (size_t i = 0; rc == PITR_OK && i < n; i++) {
        if (i > 0)
            rc = pitr_buf_append_str(out, ", ", err);
        if (rc == PITR_OK)
            rc = pitr_cat_backup_json(&v[i], out, err);
    }
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, "]}\n", err);
    return rc;
}

pitr_rc pitr_cat_show_json(const struct pitr_cat_backup *b,
                           struct pitr_buf *out,
                           struct pitr_err *err)
{
    const char *sn = pitr_cat_field(b, "server_name");
    pitr_rc rc = pitr_buf_append_str(out, "{", err);

    if (rc == PITR_OK)
        rc = json_str(out, sn && strcmp(sn, "None") != 0 ? sn : "cloud", err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, ": ", err);
    if (rc == PITR_OK)
        rc = pitr_cat_backup_json(b, out, err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, "}\n", err);
    return rc;
}

static const char *fv(const struct pitr_cat_backup *b, const char *key)
{
    const char *v = pitr_cat_field(b, key);

    return v ? v : "None";
}

pitr_rc pitr_cat_show_console(const struct pitr_cat_backup *b,
                              struct pitr_buf *out,
                              struct pitr_err *err)
{
    char bt[48] = "None", et[48] = "None";
    pitr_rc rc;

    if (b->begin_time)
        snprintf(bt, sizeof(bt), "%s", b->begin_time);
    if (b->end_time)
        snprintf(et, sizeof(et), "%s", b->end_time);
    rc = pitr_buf_appendf(out, err, "Backup %s:\n", b->id);
    if (rc == PITR_OK && b->backup_name)
        rc = pitr_buf_appendf(out, err, "  %-23s: %s\n", "Backup Name", b->backup_name);
    if (rc == PITR_OK)
        rc = pitr_buf_appendf(out,
                              err,
                              "  %-23s: %s\n  %-23s: %s\n  %-23s: %s\n",
                              "Server Name",
                              fv(b, "server_name"),
                              "System Id",
                              fv(b, "systemid"),
                              "Status",
                              fv(b, "status"));
    if (rc == PITR_OK && b->keep != PITR_CAT_KEEP_NONE)
        rc = pitr_buf_appendf(out, err, "  %-23s: %s\n", "Keep", pitr_cat_keep_name(b->keep));
    if (rc == PITR_OK)
        rc = pitr_buf_appendf(out,
                              err,
                              "  %-23s: %s\n  %-23s: %s\n",
                              "PostgreSQL Version",
                              fv(b, "version"),
                              "PGDATA directory",
                              fv(b, "pgdata"));
    if (rc == PITR_OK && b->ntablespaces > 0) {
        rc = pitr_buf_append_str(out, "\n  Tablespaces:\n", err);
        for (size_t i = 0; rc == PITR_OK && i < b->ntablespaces; i++)
            rc = pitr_buf_appendf(out,
                                  err,
                                  "    %-21s: %s (oid: %u)\n",
                                  b->tablespaces[i].name,
                                  b->tablespaces[i].location,
                                  b->tablespaces[i].oid);
    }
    if (rc == PITR_OK)
        rc = pitr_buf_appendf(out,
                              err,
                              "\n  Base backup information:\n"
                              "    %-21s: %s\n    %-21s: %s\n    %-21s: %s\n"
                              "    %-21s: %s\n    %-21s: %s\n"
                              "    %-21s: %s\n    %-21s: %s\n"
                              "    %-21s: %s\n    %-21s: %s\n",
                              "Timeline",
                              fv(b, "timeline"),
                              "Begin WAL",
                              fv(b, "begin_wal"),
                              "End WAL",
                              fv(b, "end_wal"),
                              "Begin time",
                              bt,
                              "End time",
                              et,
                              "Begin Offset",
                              fv(b, "begin_offset"),
                              "End Offset",
                              fv(b, "end_offset"),
                              "Begin LSN",
                              fv(b, "begin_xlog"),
                              "End LSN",
                              fv(b, "end_xlog"));
    if (rc == PITR_OK && b->status && strcmp(b->status, "FAILED") == 0)
        rc = pitr_buf_appendf(out, err, "    %-21s: %s\n", "Error", fv(b, "error"));
    return rc;
}
