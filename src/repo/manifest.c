/* manifest.c - pgpitr.manifest.json; see include/pgpitr/repo/manifest.h. */
#include "pgpitr/repo/manifest.h"

#include <jansson.h>
#include <string.h>

#include "pgpitr/core/mem.h"
#include "pgpitr/repo/volume.h"

#define PATH_MAX_LEN 4096

/* ---- writing ---------------------------------------------------------------- */

static json_t *jstr(const char *s)
{
    json_t *j;

    if (s == NULL)
        return json_null();
    j = json_string(s);
    return j != NULL ? j : json_string_nocheck(s); /* a file name that is not UTF-8 */
}

char *pitr_repo_manifest_write(const struct pitr_repo_manifest_out *m)
{
    json_t *root = json_object(), *files = json_array(), *vols = json_array(), *tbs = json_array();
    json_t *objs = json_array();
    char *text;

    json_set_alloc_funcs(pitr_malloc, pitr_free);
    json_object_set_new(root, "format", json_integer(1));
    json_object_set_new(root, "backup_id", jstr(m->backup_id));
    json_object_set_new(root, "backup_name", jstr(m->backup_name));
    json_object_set_new(root, "compression", jstr(m->compression));
    json_object_set_new(root, "systemid", jstr(m->systemid));
    json_object_set_new(root, "version", json_integer(m->version));
    json_object_set_new(root, "timeline", json_integer(m->timeline));
    json_object_set_new(root, "begin_wal", jstr(m->begin_wal));
    json_object_set_new(root, "end_wal", jstr(m->end_wal));
    json_object_set_new(root, "begin_lsn", jstr(m->begin_lsn));
    json_object_set_new(root, "end_lsn", jstr(m->end_lsn));
    for (size_t i = 0; i < m->ntablespaces; i++) {
        json_t *t = json_object();

        json_object_set_new(t, "oid", json_integer(m->tablespaces[i].oid));
        json_object_set_new(t, "name", jstr(m->tablespaces[i].name));
        json_object_set_new(t, "location", jstr(m->tablespaces[i].location));
        json_array_append_new(tbs, t);
    }
    json_object_set_new(root, "tablespaces", tbs);
    for (size_t i = 0; i < m->nvolumes; i++)
        json_array_append_new(vols, jstr(m->volumes[i]));
    json_object_set_new(root, "volumes", vols);
    for (size_t i = 0; i < m->nfiles; i++) {
        json_t *e = json_object();

        json_object_set_new(e, "path", jstr(m->files[i].path));
        json_object_set_new(e, "volume", jstr(m->files[i].volume));
        json_object_set_new(e, "size", json_integer((json_int_t)m->files[i].size));
        json_object_set_new(e, "sha256", jstr(m->files[i].sha256));
        json_array_append_new(files, e);
    }
    json_object_set_new(root, "files", files);
    for (size_t i = 0; i < m->nobjects; i++) {
        json_t *e = json_object();

        json_object_set_new(e, "name", jstr(m->objects[i].name));
        json_object_set_new(e, "size", json_integer((json_int_t)m->objects[i].size));
        json_object_set_new(e, "sha256", jstr(m->objects[i].sha256));
        json_array_append_new(objs, e);
    }
    json_object_set_new(root, "objects", objs);
    text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}

/* ---- reading ---------------------------------------------------------------- */

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return 1;
    return 0;
}

int pitr_repo_safe_relpath(const char *p)
{
    const char *c = p;

    if (p[0] == '\0' || p[0] == '/' || strlen(p) >= PATH_MAX_LEN || has_control(p))
        return 0;
    while (*c != '\0') {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);

        if (n == 2 && c[0] == '.' && c[1] == '.')
            return 0;
        if (e == NULL)
            break;
        c = e + 1;
    }
    return 1;
}

static int is_sha256(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    return n == 64;
}

static int plain_object_name(const char *s)
{
    return s[0] != '\0' && strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
           strlen(s) < 1024 && !has_control(s);
}

static void problem(struct pitr_repo_manifest *m, const char *what, size_t i, const char *why)
{
    m->problems = pitr_realloc(m->problems, (m->nproblems + 1) * sizeof(*m->problems));
    m->problems[m->nproblems++] = pitr_asprintf("%s entry %zu: %s", what, i, why);
}

static int get_size(json_t *o, uint64_t *out)
{
    json_t *js = json_object_get(o, "size");

    if (!json_is_integer(js) || json_integer_value(js) < 0)
        return 0;
    *out = (uint64_t)json_integer_value(js);
    return 1;
}

static const char *strip_dot(const char *n)
{
    while (n[0] == '.' && n[1] == '/')
        n += 2;
    return n;
}

/* Add entry o to m->files; the reason when it is invalid. */
static const char *parse_file(struct pitr_repo_manifest *m, json_t *o)
{
    struct pitr_repo_mf_file f = { 0 };
    char stream[PITR_VOLUME_STREAM_MAX];
    unsigned index;

    f.path = json_string_value(json_object_get(o, "path"));
    f.volume = json_string_value(json_object_get(o, "volume"));
    f.sha256 = json_string_value(json_object_get(o, "sha256"));
    if (f.path == NULL || f.volume == NULL || f.sha256 == NULL || !get_size(o, &f.size))
        return "path, volume, size or sha256 missing or mistyped";
    f.path = strip_dot(f.path);
    if (!pitr_repo_safe_relpath(f.path))
        return "path is absolute, has a '..' or a control character";
    if (!pitr_volume_parse(f.volume, stream, &index))
        return "volume is not a volume name";
    if (!is_sha256(f.sha256))
        return "sha256 is not 64 lowercase hex digits";
    m->files[m->nfiles++] = f;
    return NULL;
}

/* Add entry o to m->objects; the reason when it is invalid. */
static const char *parse_object(struct pitr_repo_manifest *m, json_t *o)
{
    struct pitr_repo_mf_object ob = { 0 };
    json_t *sha = json_object_get(o, "sha256");

    ob.name = json_string_value(json_object_get(o, "name"));
    ob.sha256 = json_string_value(sha);
    if (ob.name == NULL || !get_size(o, &ob.size) ||
        (sha != NULL && !json_is_null(sha) && ob.sha256 == NULL))
        return "name, size or sha256 missing or mistyped";
    if (!plain_object_name(ob.name))
        return "name is not a plain object name";
    if (ob.sha256 != NULL && !is_sha256(ob.sha256))
        return "sha256 is not 64 lowercase hex digits";
    m->objects[m->nobjects++] = ob;
    return NULL;
}

pitr_rc pitr_repo_manifest_parse(const char *text,
                                 size_t len,
                                 struct pitr_repo_manifest *m,
                                 struct pitr_err *err)
{
    json_error_t je;
    json_t *root, *files, *objs, *o;
    size_t i;

    memset(m, 0, sizeof(*m));
    json_set_alloc_funcs(pitr_malloc, pitr_free);
    root = json_loadb(text, len, 0, &je);
    m->doc = root;
    if (!json_is_object(root))
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "not a JSON object: %s (line %d)",
                            root == NULL ? je.text : "another JSON value",
                            root == NULL ? je.line : 1);
    m->backup_id = json_string_value(json_object_get(root, "backup_id"));
    m->begin_wal = json_string_value(json_object_get(root, "begin_wal"));
    m->end_wal = json_string_value(json_object_get(root, "end_wal"));
    files = json_object_get(root, "files");
    if (!json_is_array(files))
        return pitr_err_set(err, PITR_EFORMAT, "no \"files\" array");
    m->files = pitr_calloc(json_array_size(files) + 1, sizeof(*m->files));
    json_array_foreach(files, i, o)
    {
        const char *why = parse_file(m, o);
        if (why != NULL)
            problem(m, "file", i, why);
    }
    objs = json_object_get(root, "objects");
    m->has_objects = json_is_array(objs);
    m->objects = pitr_calloc(json_array_size(objs) + 1, sizeof(*m->objects));
    json_array_foreach(objs, i, o)
    {
        const char *why = parse_object(m, o);
        if (why != NULL)
            problem(m, "object", i, why);
    }
    return PITR_OK;
}

void pitr_repo_manifest_release(struct pitr_repo_manifest *m)
{
    if (m == NULL)
        return;
    json_decref(m->doc);
    pitr_free(m->files);
    pitr_free(m->objects);
    for (size_t i = 0; i < m->nproblems; i++)
        pitr_free(m->problems[i]);
    pitr_free(m->problems);
    memset(m, 0, sizeof(*m));
}

const struct pitr_repo_mf_object *pitr_repo_manifest_object(const struct pitr_repo_manifest *m,
                                                            const char *name)
{
    for (size_t i = 0; i < m->nobjects; i++)
        if (strcmp(m->objects[i].name, name) == 0)
            return &m->objects[i];
    return NULL;
}
