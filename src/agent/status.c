/* status.c - the agent's status store; see agent/status.h. */
#include "pgpitr/agent/status.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pgpitr/catalog/catalog.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"

#define STATUS_KEY_FMT "%s/pgpitr/status.json"

static void use_pitr_alloc(void)
{
    json_set_alloc_funcs(pitr_malloc, pitr_free);
}

json_t *pitr_status_new(void)
{
    json_t *d;

    use_pitr_alloc();
    d = json_object();
    json_object_set_new(d, "apiVersion", json_string("pgpitr.io/v1"));
    json_object_set_new(d, "kind", json_string("StatusStore"));
    json_object_set_new(d, "items", json_array());
    json_object_set_new(d, "events", json_object());
    return d;
}

void pitr_status_time(int64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;
    char tmp[96];

    if (gmtime_r(&tt, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 8000) {
        snprintf(out, 32, "1970-01-01T00:00:00Z");
        return;
    }
    snprintf(tmp,
             sizeof(tmp),
             "%04d-%02d-%02dT%02d:%02d:%02dZ",
             tm.tm_year + 1900,
             tm.tm_mon + 1,
             tm.tm_mday,
             tm.tm_hour,
             tm.tm_min,
             tm.tm_sec);
    snprintf(out, 32, "%.31s", tmp);
}

int64_t pitr_status_time_parse(const char *s)
{
    struct pitr_err err = { 0 };
    int64_t us = 0;

    if (s == NULL || pitr_cat_parse_time(s, &us, NULL, &err) != PITR_OK)
        return 0;
    return us / 1000000;
}

void pitr_status_set_time(json_t *obj, const char *key, int64_t t)
{
    char buf[32];

    if (t == 0) {
        json_object_del(obj, key);
        return;
    }
    pitr_status_time(t, buf);
    json_object_set_new(obj, key, json_string(buf));
}

const char *pitr_status_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

json_t *pitr_status_items(json_t *doc)
{
    return json_object_get(doc, "items");
}

/* Keep only items with a string kind and metadata.name; make sure the top keys exist. */
static pitr_rc sanitize(json_t *doc, struct pitr_err *err)
{
    json_t *items = json_object_get(doc, "items"), *ev = json_object_get(doc, "events");
    size_t i;

    if (!json_is_object(doc) || !json_is_array(items))
        return pitr_err_set(err, PITR_EFORMAT, "status document has no 'items' array");
    for (i = json_array_size(items); i-- > 0;) {
        json_t *it = json_array_get(items, i), *md = json_object_get(it, "metadata");

        if (!json_is_string(json_object_get(it, "kind")) ||
            !json_is_string(json_object_get(md, "name")) ||
            !json_is_object(json_object_get(it, "status")) ||
            !json_is_object(json_object_get(it, "spec")))
            json_array_remove(items, i);
    }
    if (!json_is_object(ev))
        json_object_set_new(doc, "events", json_object());
    return PITR_OK;
}

pitr_rc pitr_status_parse(const char *text, size_t len, json_t **doc, struct pitr_err *err)
{
    json_error_t je;
    json_t *d;

    use_pitr_alloc();
    *doc = NULL;
    d = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (d == NULL)
        return pitr_err_set(err, PITR_EFORMAT, "status document: line %d: %s", je.line, je.text);
    if (sanitize(d, err) != PITR_OK) {
        json_decref(d);
        return err->code;
    }
    *doc = d;
    return PITR_OK;
}

pitr_rc pitr_status_load(struct pitr_storage *st,
                         const char *server,
                         const char *local_path,
                         json_t **doc,
                         const char **source,
                         struct pitr_err *store_err,
                         struct pitr_err *err)
{
    struct pitr_buf b;
    char key[512];
    pitr_rc rc;

    pitr_buf_init(&b, PITR_STATUS_DOC_MAX);
    *doc = NULL;
    if (store_err != NULL)
        pitr_err_clear(store_err);
    if (st != NULL) {
        struct pitr_err e = { 0 };

        snprintf(key, sizeof(key), STATUS_KEY_FMT, server);
        rc = pitr_storage_get_max(st, key, PITR_STATUS_DOC_MAX, &b, &e);
        if (rc == PITR_OK) {
            rc = pitr_status_parse(b.data, b.len, doc, &e);
            if (rc == PITR_OK) {
                if (source != NULL)
                    *source = "store";
                goto out;
            }
        }
        if (rc != PITR_ENOTFOUND && store_err != NULL)
            *store_err = e;
        pitr_buf_reset(&b);
    }
    if (local_path != NULL) {
        struct pitr_err e = { 0 };

        rc = pitr_fs_read_file(local_path, &b, &e);
        if (rc == PITR_OK && pitr_status_parse(b.data, b.len, doc, &e) == PITR_OK) {
            if (source != NULL)
                *source = "local";
            goto out;
        }
        if (rc != PITR_ENOTFOUND && rc != PITR_OK) {
            pitr_buf_release(&b);
            return pitr_err_set(err, rc, "%s", e.msg);
        }
    }
    *doc = pitr_status_new();
    if (source != NULL)
        *source = "new";
out:
    pitr_buf_release(&b);
    return PITR_OK;
}

pitr_rc pitr_status_save(struct pitr_storage *st,
                         const char *server,
                         const char *local_path,
                         json_t *doc,
                         struct pitr_err *err)
{
    char key[512];
    char *text;
    size_t len;
    pitr_rc rc = PITR_OK;

    use_pitr_alloc();
    pitr_status_trim(doc);
    text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    if (text == NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "cannot serialise the status document");
    len = strlen(text);
    if (len > PITR_STATUS_DOC_MAX) {
        rc = pitr_err_set(err, PITR_ELIMIT, "status document of %zu bytes is too large", len);
        goto out;
    }
    if (local_path != NULL) {
        rc = pitr_fs_write_atomic(local_path, text, len, 0600, err);
        if (rc != PITR_OK)
            goto out;
    }
    if (st != NULL) {
        snprintf(key, sizeof(key), STATUS_KEY_FMT, server);
        rc = pitr_storage_put(st, key, text, len, err);
    }
out:
    pitr_free(text);
    return rc;
}

json_t *pitr_status_find(json_t *doc, const char *kind, const char *name)
{
    json_t *items = pitr_status_items(doc);
    size_t i;

    for (i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        const char *k = pitr_status_str(it, "kind");
        const char *n = pitr_status_str(json_object_get(it, "metadata"), "name");

        if (k != NULL && n != NULL && strcmp(k, kind) == 0 && strcmp(n, name) == 0)
            return it;
    }
    return NULL;
}

json_t *pitr_status_ensure(json_t *doc,
                           const char *kind,
                           const char *name,
                           const char *ns,
                           int64_t now)
{
    json_t *it = pitr_status_find(doc, kind, name), *md;

    if (it != NULL)
        return it;
    it = json_object();
    json_object_set_new(it, "apiVersion", json_string(PITR_STATUS_API_CNPG));
    json_object_set_new(it, "kind", json_string(kind));
    md = json_object();
    json_object_set_new(md, "name", json_string(name));
    json_object_set_new(md, "namespace", json_string(ns != NULL ? ns : "default"));
    pitr_status_set_time(md, "creationTimestamp", now);
    json_object_set_new(it, "metadata", md);
    json_object_set_new(it, "spec", json_object());
    json_object_set_new(it, "status", json_object());
    json_array_append_new(pitr_status_items(doc), it);
    return it;
}

static void event_key(const char *kind, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", kind, name);
}

json_t *pitr_status_events(json_t *doc, const char *kind, const char *name)
{
    char key[600];

    event_key(kind, name, key, sizeof(key));
    return json_object_get(json_object_get(doc, "events"), key);
}

void pitr_status_event(json_t *doc,
                       const char *kind,
                       const char *name,
                       const char *type,
                       const char *reason,
                       const char *message,
                       int64_t now)
{
    json_t *evs = json_object_get(doc, "events"), *list, *last, *e;
    char key[600];
    size_t n;

    pitr_log(strcmp(type, "Warning") == 0 ? PITR_LOG_WARN : PITR_LOG_INFO,
             "%s/%s: %s: %s",
             kind,
             name,
             reason,
             message);
    if (!json_is_object(evs)) {
        evs = json_object();
        json_object_set_new(doc, "events", evs);
    }
    event_key(kind, name, key, sizeof(key));
    list = json_object_get(evs, key);
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(evs, key, list);
    }
    n = json_array_size(list);
    last = n > 0 ? json_array_get(list, n - 1) : NULL;
    if (last != NULL && pitr_status_str(last, "reason") != NULL &&
        pitr_status_str(last, "message") != NULL &&
        strcmp(pitr_status_str(last, "reason"), reason) == 0 &&
        strcmp(pitr_status_str(last, "message"), message) == 0) {
        json_int_t c = json_integer_value(json_object_get(last, "count"));

        json_object_set_new(last, "count", json_integer(c + 1));
        pitr_status_set_time(last, "lastTimestamp", now);
        return;
    }
    e = json_object();
    json_object_set_new(e, "type", json_string(type));
    json_object_set_new(e, "reason", json_string(reason));
    json_object_set_new(e, "message", json_string(message));
    pitr_status_set_time(e, "firstTimestamp", now);
    pitr_status_set_time(e, "lastTimestamp", now);
    json_object_set_new(e, "count", json_integer(1));
    json_array_append_new(list, e);
    while (json_array_size(list) > PITR_STATUS_EVENTS_MAX)
        json_array_remove(list, 0);
}

void pitr_status_trim(json_t *doc)
{
    json_t *items = pitr_status_items(doc);
    size_t i, nb = 0;

    for (i = 0; i < json_array_size(items); i++)
        if (strcmp(pitr_status_str(json_array_get(items, i), "kind"), "Backup") == 0)
            nb++;
    /* items are in creation order: drop from the front */
    for (i = 0; nb > PITR_STATUS_BACKUPS_MAX && i < json_array_size(items);) {
        json_t *it = json_array_get(items, i);
        const char *phase = pitr_status_str(json_object_get(it, "status"), "phase");
        char key[600];

        if (strcmp(pitr_status_str(it, "kind"), "Backup") != 0 || phase == NULL ||
            (strcmp(phase, "completed") != 0 && strcmp(phase, "failed") != 0)) {
            i++;
            continue;
        }
        event_key(
          "Backup", pitr_status_str(json_object_get(it, "metadata"), "name"), key, sizeof(key));
        json_object_del(json_object_get(doc, "events"), key);
        json_array_remove(items, i);
        nb--;
    }
}

void pitr_status_condition(json_t *status,
                           const char *type,
                           const char *cstatus,
                           const char *reason,
                           const char *message,
                           int64_t now)
{
    json_t *conds = json_object_get(status, "conditions"), *c = NULL;
    size_t i;

    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(status, "conditions", conds);
    }
    for (i = 0; i < json_array_size(conds); i++) {
        const char *t = pitr_status_str(json_array_get(conds, i), "type");

        if (t != NULL && strcmp(t, type) == 0)
            c = json_array_get(conds, i);
    }
    if (c == NULL) {
        c = json_object();
        json_object_set_new(c, "type", json_string(type));
        json_array_append_new(conds, c);
    }
    if (pitr_status_str(c, "status") == NULL || strcmp(pitr_status_str(c, "status"), cstatus) != 0)
        pitr_status_set_time(c, "lastTransitionTime", now);
    json_object_set_new(c, "status", json_string(cstatus));
    json_object_set_new(c, "reason", json_string(reason));
    json_object_set_new(c, "message", json_string(message));
}
