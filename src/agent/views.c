/* views.c - get/describe output in kubectl's shapes; see agent/views.h. */
#include "pgpitr/agent/views.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "pgpitr/agent/status.h"
#include "pgpitr/core/mem.h"

#define COLS_MAX 8

int pitr_views_parse_output(const char *s, enum pitr_view_format *out)
{
    if (s == NULL || strcmp(s, "wide") == 0)
        *out = PITR_VIEW_TABLE;
    else if (strcmp(s, "json") == 0)
        *out = PITR_VIEW_JSON;
    else if (strcmp(s, "yaml") == 0)
        *out = PITR_VIEW_YAML;
    else
        return -1;
    return 0;
}

const char *pitr_views_kind(const char *r)
{
    if (strcmp(r, "clusters") == 0 || strcmp(r, "cluster") == 0 || strcmp(r, "Cluster") == 0)
        return "Cluster";
    if (strcmp(r, "scheduledbackups") == 0 || strcmp(r, "scheduledbackup") == 0 ||
        strcmp(r, "ScheduledBackup") == 0)
        return "ScheduledBackup";
    if (strcmp(r, "backups") == 0 || strcmp(r, "backup") == 0 || strcmp(r, "Backup") == 0)
        return "Backup";
    return NULL;
}

void pitr_views_age(int64_t s, char out[32])
{
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(out, 32, "%llds", (long long)s);
    else if (s < 600)
        snprintf(out, 32, "%lldm%llds", (long long)(s / 60), (long long)(s % 60));
    else if (s < 3 * 3600)
        snprintf(out, 32, "%lldm", (long long)(s / 60));
    else if (s < 8 * 3600)
        snprintf(out, 32, "%lldh%lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else if (s < 2 * 86400)
        snprintf(out, 32, "%lldh", (long long)(s / 3600));
    else if (s < 8 * 86400)
        snprintf(out, 32, "%lldd%lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
    else
        snprintf(out, 32, "%lldd", (long long)(s / 86400));
}

static void age_of(json_t *obj, const char *key, int64_t now, char out[32])
{
    int64_t t = pitr_status_time_parse(pitr_status_str(obj, key));

    if (t == 0)
        snprintf(out, 32, "<none>");
    else
        pitr_views_age(now - t, out);
}

static const char *or_none(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "<none>";
}

static json_t *condition(json_t *status, const char *type)
{
    json_t *c = json_object_get(status, "conditions");
    size_t i;

    for (i = 0; i < json_array_size(c); i++) {
        const char *t = pitr_status_str(json_array_get(c, i), "type");

        if (t != NULL && strcmp(t, type) == 0)
            return json_array_get(c, i);
    }
    return NULL;
}

/* A table: rows of COLS_MAX cells (owned strings), widths computed, printed kubectl-style. */
struct table {
    size_t ncols;
    char **cells; /* owned; row-major */
    size_t nrows;
};

static void table_add(struct table *t, const char *const *row)
{
    size_t i;

    t->cells = pitr_realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
    for (i = 0; i < t->ncols; i++)
        t->cells[t->nrows * t->ncols + i] = pitr_strdup(row[i] != NULL ? row[i] : "<none>");
    t->nrows++;
}

static pitr_rc table_print(struct table *t, struct pitr_buf *out, struct pitr_err *err)
{
    size_t w[COLS_MAX] = { 0 }, r, c;
    pitr_rc rc = PITR_OK;

    for (r = 0; r < t->nrows; r++)
        for (c = 0; c < t->ncols; c++) {
            size_t l = strlen(t->cells[r * t->ncols + c]);

            if (l > w[c])
                w[c] = l;
        }
    for (r = 0; r < t->nrows && rc == PITR_OK; r++) {
        for (c = 0; c < t->ncols && rc == PITR_OK; c++) {
            const char *cell = t->cells[r * t->ncols + c];

            if (c + 1 == t->ncols)
                rc = pitr_buf_appendf(out, err, "%s\n", cell);
            else
                rc = pitr_buf_appendf(out, err, "%-*s   ", (int)w[c], cell);
        }
    }
    for (r = 0; r < t->nrows * t->ncols; r++)
        pitr_free(t->cells[r]);
    pitr_free(t->cells);
    t->cells = NULL;
    return rc;
}

static void row_backup(struct table *t, json_t *it, int64_t now)
{
    json_t *st = json_object_get(it, "status"), *spec = json_object_get(it, "spec");
    json_t *ann = json_object_get(json_object_get(it, "metadata"), "annotations");
    char age[32], phase[96];
    const char *ph = or_none(pitr_status_str(st, "phase"));
    const char *row[6];

    age_of(json_object_get(it, "metadata"), "creationTimestamp", now, age);
    if (pitr_status_str(ann, "pgpitr.io/backup-removed") != NULL)
        snprintf(phase, sizeof(phase), "%s (removed)", ph);
    else
        snprintf(phase, sizeof(phase), "%s", ph);
    row[0] = pitr_status_str(json_object_get(it, "metadata"), "name");
    row[1] = age;
    row[2] = pitr_status_str(json_object_get(spec, "cluster"), "name");
    row[3] = or_none(pitr_status_str(spec, "method"));
    row[4] = phase;
    row[5] = pitr_status_str(st, "error") != NULL ? pitr_status_str(st, "error") : "";
    table_add(t, row);
}

static void row_scheduled(struct table *t, json_t *it, int64_t now)
{
    json_t *st = json_object_get(it, "status"), *spec = json_object_get(it, "spec");
    char age[32], last[32], next[48];
    int64_t nx = pitr_status_time_parse(pitr_status_str(st, "nextScheduleTime"));
    const char *row[6];

    age_of(json_object_get(it, "metadata"), "creationTimestamp", now, age);
    age_of(st, "lastScheduleTime", now, last);
    if (nx == 0)
        snprintf(next, sizeof(next), "<none>");
    else if (nx <= now)
        snprintf(next, sizeof(next), "due");
    else {
        char d[32];

        pitr_views_age(nx - now, d);
        snprintf(next, sizeof(next), "in %s", d);
    }
    row[0] = pitr_status_str(json_object_get(it, "metadata"), "name");
    row[1] = age;
    row[2] = pitr_status_str(json_object_get(spec, "cluster"), "name");
    row[3] = last;
    row[4] = next;
    row[5] = json_is_true(json_object_get(spec, "suspend")) ? "true" : "false";
    table_add(t, row);
}

static void cond_cell(json_t *st, const char *type, char out[96])
{
    json_t *c = condition(st, type);

    if (c == NULL)
        snprintf(out, 96, "<none>");
    else
        snprintf(out,
                 96,
                 "%s/%s",
                 or_none(pitr_status_str(c, "status")),
                 or_none(pitr_status_str(c, "reason")));
}

static void row_cluster(struct table *t, json_t *it, int64_t now)
{
    json_t *st = json_object_get(it, "status");
    json_t *ret = json_object_get(st, "retention");
    char age[32], arch[96], last[96], retn[96];
    const char *row[7];

    age_of(json_object_get(it, "metadata"), "creationTimestamp", now, age);
    cond_cell(st, "ContinuousArchiving", arch);
    cond_cell(st, "LastBackupSucceeded", last);
    if (ret == NULL)
        snprintf(retn, sizeof(retn), "<none>");
    else
        snprintf(retn, sizeof(retn), "%s", or_none(pitr_status_str(ret, "result")));
    row[0] = pitr_status_str(json_object_get(it, "metadata"), "name");
    row[1] = age;
    row[2] = or_none(pitr_status_str(st, "lastSuccessfulBackup"));
    row[3] = or_none(pitr_status_str(st, "firstRecoverabilityPoint"));
    row[4] = arch;
    row[5] = last;
    row[6] = retn;
    table_add(t, row);
}

static pitr_rc print_json_doc(json_t *doc,
                              enum pitr_view_format fmt,
                              struct pitr_buf *out,
                              struct pitr_err *err)
{
    char *text;
    pitr_rc rc;

    if (fmt == PITR_VIEW_YAML)
        return pitr_views_yaml(doc, 0, out, err);
    json_set_alloc_funcs(pitr_malloc, pitr_free);
    text = json_dumps(doc, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
    if (text == NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "cannot serialise the output");
    rc = pitr_buf_appendf(out, err, "%s\n", text);
    pitr_free(text);
    return rc;
}

pitr_rc pitr_views_get(json_t *items,
                       const char *kind,
                       enum pitr_view_format fmt,
                       int64_t now,
                       struct pitr_buf *out,
                       struct pitr_err *err)
{
    struct table t = { 0, NULL, 0 };
    size_t i;
    pitr_rc rc;

    if (fmt != PITR_VIEW_TABLE) {
        json_t *list, *arr;

        json_set_alloc_funcs(pitr_malloc, pitr_free);
        list = json_object();
        arr = json_array();
        json_object_set_new(list, "apiVersion", json_string("v1"));
        json_object_set_new(list, "kind", json_string("List"));
        for (i = 0; i < json_array_size(items); i++) {
            json_t *it = json_array_get(items, i);

            if (strcmp(pitr_status_str(it, "kind"), kind) == 0)
                json_array_append(arr, it);
        }
        json_object_set_new(list, "items", arr);
        json_object_set_new(list, "metadata", json_object());
        rc = print_json_doc(list, fmt, out, err);
        json_decref(list);
        return rc;
    }
    if (strcmp(kind, "Backup") == 0) {
        const char *h[6] = { "NAME", "AGE", "CLUSTER", "METHOD", "PHASE", "ERROR" };

        t.ncols = 6;
        table_add(&t, h);
    } else if (strcmp(kind, "ScheduledBackup") == 0) {
        const char *h[6] = { "NAME", "AGE", "CLUSTER", "LAST BACKUP", "NEXT", "SUSPEND" };

        t.ncols = 6;
        table_add(&t, h);
    } else {
        const char *h[7] = { "NAME",      "AGE",         "LAST SUCCESSFUL", "FIRST RECOVERABILITY",
                             "ARCHIVING", "LAST BACKUP", "RETENTION" };

        t.ncols = 7;
        table_add(&t, h);
    }
    for (i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);

        if (strcmp(pitr_status_str(it, "kind"), kind) != 0)
            continue;
        if (strcmp(kind, "Backup") == 0)
            row_backup(&t, it, now);
        else if (strcmp(kind, "ScheduledBackup") == 0)
            row_scheduled(&t, it, now);
        else
            row_cluster(&t, it, now);
    }
    if (t.nrows == 1) {
        for (i = 0; i < t.ncols; i++)
            pitr_free(t.cells[i]);
        pitr_free(t.cells);
        return pitr_buf_append_str(out, "No resources found.\n", err);
    }
    return table_print(&t, out, err);
}

/* ---- YAML ---- */

static int plain_ok(const char *s)
{
    size_t i, n = strlen(s);
    static const char *const words[] = { "true", "false", "null", "yes", "no", "on", "off", "~",
                                         "True", "False", "Null", "Yes", "No", "On", "Off" };

    if (n == 0)
        return 0;
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcmp(s, words[i]) == 0)
            return 0;
    if (isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '.' || s[0] == '+')
        return 0;
    for (i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && strchr("-_./", s[i]) == NULL)
            return 0;
    return 1;
}

static pitr_rc yaml_scalar(json_t *v, struct pitr_buf *out, struct pitr_err *err)
{
    char *text;
    pitr_rc rc;

    if (json_is_string(v) && plain_ok(json_string_value(v)))
        return pitr_buf_append_str(out, json_string_value(v), err);
    /* a JSON scalar is a valid YAML flow scalar (strings double-quoted) */
    json_set_alloc_funcs(pitr_malloc, pitr_free);
    text = json_dumps(v, JSON_ENCODE_ANY);
    if (text == NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "cannot serialise a scalar");
    rc = pitr_buf_append_str(out, text, err);
    pitr_free(text);
    return rc;
}

static int is_empty_container(json_t *v)
{
    return (json_is_object(v) && json_object_size(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0);
}

pitr_rc pitr_views_yaml(json_t *v, int indent, struct pitr_buf *out, struct pitr_err *err)
{
    pitr_rc rc = PITR_OK;

    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        int first = 1, inline_first = indent < 0;

        if (indent < 0)
            indent = -indent;
        json_object_foreach(v, k, x)
        {
            json_t *key = json_string(k);

            if (!(first && inline_first))
                rc = pitr_buf_appendf(out, err, "%*s", indent, "");
            first = 0;
            if (rc == PITR_OK)
                rc = yaml_scalar(key, out, err);
            json_decref(key);
            if (rc != PITR_OK)
                return rc;
            if (is_empty_container(x))
                rc = pitr_buf_append_str(out, json_is_object(x) ? ": {}\n" : ": []\n", err);
            else if (json_is_object(x) || json_is_array(x)) {
                rc = pitr_buf_append_str(out, ":\n", err);
                if (rc == PITR_OK)
                    rc = pitr_views_yaml(x, indent + 2, out, err);
            } else {
                rc = pitr_buf_append_str(out, ": ", err);
                if (rc == PITR_OK)
                    rc = yaml_scalar(x, out, err);
                if (rc == PITR_OK)
                    rc = pitr_buf_append_str(out, "\n", err);
            }
            if (rc != PITR_OK)
                return rc;
        }
        return PITR_OK;
    }
    if (json_is_array(v)) {
        size_t i;

        for (i = 0; i < json_array_size(v) && rc == PITR_OK; i++) {
            json_t *x = json_array_get(v, i);

            rc = pitr_buf_appendf(out, err, "%*s- ", indent, "");
            if (rc != PITR_OK)
                return rc;
            if (json_is_object(x) && json_object_size(x) > 0) {
                /* first key on the dash line, the rest indented under it */
                rc = pitr_views_yaml(x, -(indent + 2), out, err);
            } else if (is_empty_container(x)) {
                rc = pitr_buf_append_str(out, json_is_object(x) ? "{}\n" : "[]\n", err);
            } else if (json_is_array(x)) {
                rc = pitr_buf_append_str(out, "\n", err);
                if (rc == PITR_OK)
                    rc = pitr_views_yaml(x, indent + 2, out, err);
            } else {
                rc = yaml_scalar(x, out, err);
                if (rc == PITR_OK)
                    rc = pitr_buf_append_str(out, "\n", err);
            }
        }
        return rc;
    }
    rc = yaml_scalar(v, out, err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, "\n", err);
    return rc;
}

/* ---- describe ---- */

/* "backupId" -> "Backup Id", as kubectl describe prints keys. */
static void title(const char *k, char *out, size_t cap)
{
    size_t o = 0, i;

    for (i = 0; k[i] != '\0' && o + 2 < cap; i++) {
        char c = k[i];

        if (i == 0)
            c = (char)toupper((unsigned char)c);
        else if (isupper((unsigned char)c) && !isupper((unsigned char)k[i - 1]))
            out[o++] = ' ';
        out[o++] = c;
    }
    out[o] = '\0';
}

static pitr_rc describe_value(json_t *v, int indent, struct pitr_buf *out, struct pitr_err *err)
{
    pitr_rc rc = PITR_OK;
    char t[128];

    if (json_is_object(v)) {
        const char *k;
        json_t *x;

        json_object_foreach(v, k, x)
        {
            title(k, t, sizeof(t));
            if (json_is_object(x) || (json_is_array(x) && json_array_size(x) > 0)) {
                rc = pitr_buf_appendf(out, err, "%*s%s:\n", indent, "", t);
                if (rc == PITR_OK)
                    rc = describe_value(x, indent + 2, out, err);
            } else {
                rc = pitr_buf_appendf(out,
                                      err,
                                      "%*s%s:%*s",
                                      indent,
                                      "",
                                      t,
                                      (int)(indent + strlen(t) < 24 ? 24 - indent - strlen(t) : 1),
                                      "");
                if (rc == PITR_OK)
                    rc = json_is_string(x) ? pitr_buf_append_str(out, json_string_value(x), err)
                                           : yaml_scalar(x, out, err);
                if (rc == PITR_OK)
                    rc = pitr_buf_append_str(out, "\n", err);
            }
            if (rc != PITR_OK)
                return rc;
        }
        return PITR_OK;
    }
    if (json_is_array(v)) {
        size_t i;

        for (i = 0; i < json_array_size(v) && rc == PITR_OK; i++) {
            json_t *x = json_array_get(v, i);

            if (json_is_object(x)) {
                rc = describe_value(x, indent, out, err);
                if (rc == PITR_OK && i + 1 < json_array_size(v))
                    rc = pitr_buf_appendf(out, err, "%*s--\n", indent, "");
            } else {
                rc = pitr_buf_appendf(out, err, "%*s", indent, "");
                if (rc == PITR_OK)
                    rc = yaml_scalar(x, out, err);
                if (rc == PITR_OK)
                    rc = pitr_buf_append_str(out, "\n", err);
            }
        }
    }
    return rc;
}

pitr_rc pitr_views_describe(json_t *item,
                            json_t *events,
                            enum pitr_view_format fmt,
                            int64_t now,
                            struct pitr_buf *out,
                            struct pitr_err *err)
{
    json_t *md = json_object_get(item, "metadata"), *labels = json_object_get(md, "labels");
    json_t *ann = json_object_get(md, "annotations");
    struct table t = { 5, NULL, 0 };
    const char *h[5] = { "Type", "Reason", "Age", "From", "Message" };
    const char *k;
    json_t *x;
    size_t i;
    pitr_rc rc;
    int first;

    if (fmt != PITR_VIEW_TABLE)
        return print_json_doc(item, fmt, out, err);
    rc = pitr_buf_appendf(out,
                          err,
                          "Name:         %s\nNamespace:    %s\nLabels:       ",
                          or_none(pitr_status_str(md, "name")),
                          or_none(pitr_status_str(md, "namespace")));
    first = 1;
    json_object_foreach(labels, k, x)
    {
        if (rc == PITR_OK)
            rc = pitr_buf_appendf(
              out, err, "%s%s=%s\n", first ? "" : "              ", k, json_string_value(x));
        first = 0;
    }
    if (rc == PITR_OK && first)
        rc = pitr_buf_append_str(out, "<none>\n", err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, "Annotations:  ", err);
    first = 1;
    json_object_foreach(ann, k, x)
    {
        if (rc == PITR_OK)
            rc = pitr_buf_appendf(
              out, err, "%s%s: %s\n", first ? "" : "              ", k, json_string_value(x));
        first = 0;
    }
    if (rc == PITR_OK && first)
        rc = pitr_buf_append_str(out, "<none>\n", err);
    if (rc == PITR_OK)
        rc = pitr_buf_appendf(out,
                              err,
                              "API Version:  %s\nKind:         %s\nMetadata:\n",
                              or_none(pitr_status_str(item, "apiVersion")),
                              or_none(pitr_status_str(item, "kind")));
    if (rc == PITR_OK) {
        json_t *m2 = json_deep_copy(md);

        json_object_del(m2, "name");
        json_object_del(m2, "namespace");
        json_object_del(m2, "labels");
        json_object_del(m2, "annotations");
        rc = describe_value(m2, 2, out, err);
        json_decref(m2);
    }
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, "Spec:\n", err);
    if (rc == PITR_OK)
        rc = describe_value(json_object_get(item, "spec"), 2, out, err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, "Status:\n", err);
    if (rc == PITR_OK)
        rc = describe_value(json_object_get(item, "status"), 2, out, err);
    if (rc != PITR_OK)
        return rc;
    if (json_array_size(events) == 0)
        return pitr_buf_append_str(out, "Events:       <none>\n", err);
    rc = pitr_buf_append_str(out, "Events:\n", err);
    table_add(&t, h);
    {
        const char *dash[5] = { "----", "------", "----", "----", "-------" };

        table_add(&t, dash);
    }
    for (i = 0; i < json_array_size(events); i++) {
        json_t *e = json_array_get(events, i);
        char age[128], a1[32];
        const char *row[5];
        json_int_t count = json_integer_value(json_object_get(e, "count"));

        age_of(e, "lastTimestamp", now, a1);
        if (count > 1) {
            char a2[32];

            age_of(e, "firstTimestamp", now, a2);
            snprintf(age, sizeof(age), "%s (x%lld over %s)", a1, (long long)count, a2);
        } else {
            snprintf(age, sizeof(age), "%s", a1);
        }
        row[0] = pitr_status_str(e, "type");
        row[1] = pitr_status_str(e, "reason");
        row[2] = age;
        row[3] = "pgpitr-agent";
        row[4] = pitr_status_str(e, "message");
        table_add(&t, row);
    }
    /* indent the events table by two spaces */
    {
        struct pitr_buf tb;

        pitr_buf_init(&tb, out->limit);
        if (rc == PITR_OK)
            rc = table_print(&t, &tb, err);
        else
            (void)table_print(&t, &tb, err);
        if (rc == PITR_OK && tb.len > 0) {
            const char *p = tb.data, *nl;

            while (rc == PITR_OK &&
                   (nl = memchr(p, '\n', tb.len - (size_t)(p - tb.data))) != NULL) {
                rc = pitr_buf_appendf(out, err, "  %.*s\n", (int)(nl - p), p);
                p = nl + 1;
            }
        }
        pitr_buf_release(&tb);
    }
    return rc;
}
