/*
 * manifest.c - CloudNativePG manifests (Cluster, ScheduledBackup, Backup,
 * Secret) parsed with libyaml's event API into a small bounded tree, one
 * document at a time, then walked field by field. See
 * pgpitr/agent/manifest.h and docs/manifests.md (the field table).
 *
 * Hostile input: the text is at most PITR_MF_MAX_FILE_BYTES; the tree at
 * most PITR_MF_MAX_DEPTH deep with PITR_MF_MAX_NODES nodes, scalars of at
 * most PITR_MF_MAX_SCALAR bytes, PITR_MF_MAX_DOCS documents; aliases are
 * refused (no expansion, so no "billion laughs"); libyaml rejects text
 * that is not UTF-8. Messages quote user text only after sanitize()
 * (printable ASCII, truncated) and never a Secret's value.
 *
 * What the API server would reject (a wrong type, a value outside an
 * enum, a required field missing) is an error diagnostic and the document
 * is left out. What it accepts but pgpitr cannot do is a warning when
 * pgpitr ignores the field and still backs up, or an error when it cannot
 * act on the object: a ScheduledBackup or Backup is then left out, a
 * Cluster is kept with store.unsupported set (never resolved).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "agent/manifest_int.h"
#include "pgpitr/agent/manifest.h"
#include "pgpitr/catalog/catalog.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/mem.h"

/* ---- the tree ------------------------------------------------------------ */

enum ynode_type { YN_SCALAR, YN_MAP, YN_SEQ };

struct ynode {
    enum ynode_type type;
    int line;  /* 1-based */
    int plain; /* a scalar written without quotes or tag: may be null, bool or number */
    char *s;   /* owned; scalar text (NUL-terminated; may hold NULs, see slen) */
    size_t slen;
    struct ynode **kids; /* owned; maps: key, value, key, value, ... */
    size_t n;
    size_t cap;
};

static void ynode_free(struct ynode *y)
{
    if (y == NULL)
        return;
    for (size_t i = 0; i < y->n; i++)
        ynode_free(y->kids[i]);
    pitr_free(y->kids);
    pitr_free(y->s);
    pitr_free(y);
}

static void ynode_add(struct ynode *parent, struct ynode *kid)
{
    if (parent->n == parent->cap) {
        parent->cap = parent->cap == 0 ? 8 : parent->cap * 2;
        parent->kids = pitr_realloc(parent->kids, parent->cap * sizeof(*parent->kids));
    }
    parent->kids[parent->n++] = kid;
}

static int scalar_is(const struct ynode *y, const char *s)
{
    return y != NULL && y->type == YN_SCALAR && y->slen == strlen(s) &&
           memcmp(y->s, s, y->slen) == 0;
}

static const struct ynode *map_get(const struct ynode *m, const char *key)
{
    if (m == NULL || m->type != YN_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < m->n; i += 2)
        if (scalar_is(m->kids[i], key))
            return m->kids[i + 1];
    return NULL;
}

static int is_null(const struct ynode *y)
{
    return y == NULL || (y->type == YN_SCALAR && y->plain &&
                         (y->slen == 0 || scalar_is(y, "~") || scalar_is(y, "null") ||
                          scalar_is(y, "Null") || scalar_is(y, "NULL")));
}

/* YAML 1.1 booleans, as Kubernetes' YAML reader (go-yaml v2) takes them. */
static int plain_bool(const struct ynode *y, int *v)
{
    static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES",
                                       "on",   "On",   "ON",   "y",   "Y" };
    static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO",
                                      "off",   "Off",   "OFF",   "n",  "N" };

    if (y->type != YN_SCALAR || !y->plain)
        return 0;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (scalar_is(y, yes[i])) {
            *v = 1;
            return 1;
        }
        if (scalar_is(y, no[i])) {
            *v = 0;
            return 1;
        }
    }
    return 0;
}

/* A plain decimal integer (optionally signed) that fits a long. */
static int plain_int(const struct ynode *y, long *v)
{
    char *end = NULL;
    size_t i = 0;

    if (y->type != YN_SCALAR || !y->plain || y->slen == 0 || y->slen > 20)
        return 0;
    if (y->s[0] == '-' || y->s[0] == '+')
        i = 1;
    if (i == y->slen)
        return 0;
    for (; i < y->slen; i++)
        if (!isdigit((unsigned char)y->s[i]))
            return 0;
    errno = 0;
    *v = strtol(y->s, &end, 10);
    return errno == 0 && end == y->s + y->slen;
}

/* A plain scalar YAML would read as a float (1.5, .5, 1e3, .inf, .nan). */
static int plain_float(const struct ynode *y)
{
    char *end = NULL;

    if (y->type != YN_SCALAR || !y->plain || y->slen == 0 || y->slen > 64)
        return 0;
    if (scalar_is(y, ".inf") || scalar_is(y, "-.inf") || scalar_is(y, ".nan"))
        return 1;
    if (!isdigit((unsigned char)y->s[0]) && y->s[0] != '-' && y->s[0] != '+' && y->s[0] != '.')
        return 0;
    (void)strtod(y->s, &end);
    return end == y->s + y->slen;
}

/* ---- building the tree from events --------------------------------------- */

struct yparse {
    const char *file;
    const char *text;
    size_t len;
    yaml_parser_t parser;
    struct ynode *stack[PITR_MF_MAX_DEPTH + 1];
    int depth;
    size_t nodes;
    struct ynode *root;
};

/* The 1-based line of byte offset off (for libyaml's reader errors). */
static int line_of_offset(const char *text, size_t len, size_t off)
{
    int line = 1;

    for (size_t i = 0; i < off && i < len; i++)
        if (text[i] == '\n')
            line++;
    return line;
}

static pitr_rc yaml_failed(struct yparse *p, struct pitr_err *err)
{
    const yaml_parser_t *y = &p->parser;
    int line;

    if (y->error == YAML_MEMORY_ERROR)
        return pitr_err_set(err, PITR_ENOMEM, "%s: out of memory reading YAML", p->file);
    if (y->error == YAML_READER_ERROR) {
        line = line_of_offset(p->text, p->len, y->problem_offset);
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "%s:%d: %s (the file must be UTF-8 text)",
                            p->file,
                            line,
                            y->problem != NULL ? y->problem : "unreadable text");
    }
    line = (int)y->problem_mark.line + 1;
    if (y->context != NULL)
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "%s:%d: %s %s (line %d)",
                            p->file,
                            line,
                            y->problem != NULL ? y->problem : "YAML syntax error",
                            y->context,
                            (int)y->context_mark.line + 1);
    return pitr_err_set(err,
                        PITR_EFORMAT,
                        "%s:%d: %s",
                        p->file,
                        line,
                        y->problem != NULL ? y->problem : "YAML syntax error");
}

/* Attach a new node below the innermost open collection (or as the root). */
static pitr_rc attach(struct yparse *p, struct ynode *y, struct pitr_err *err)
{
    struct ynode *parent;

    if (++p->nodes > PITR_MF_MAX_NODES) {
        int line = y->line;

        ynode_free(y);
        return pitr_err_set(err,
                            PITR_ELIMIT,
                            "%s:%d: more than %d YAML nodes in the file",
                            p->file,
                            line,
                            PITR_MF_MAX_NODES);
    }
    if (p->depth == 0) {
        ynode_free(p->root);
        p->root = y;
        return PITR_OK;
    }
    parent = p->stack[p->depth - 1];
    if (parent->type == YN_MAP && parent->n % 2 == 0 && y->type != YN_SCALAR) {
        int line = y->line;

        ynode_free(y);
        return pitr_err_set(
          err, PITR_EFORMAT, "%s:%d: a mapping key must be a plain string", p->file, line);
    }
    ynode_add(parent, y);
    return PITR_OK;
}

static struct ynode *ynode_new(enum ynode_type t, const yaml_event_t *ev)
{
    struct ynode *y = pitr_calloc(1, sizeof(*y));

    y->type = t;
    y->line = (int)ev->start_mark.line + 1;
    return y;
}

/* One event into the tree. *doc_done is set at the end of a document. */
static pitr_rc on_event(struct yparse *p,
                        const yaml_event_t *ev,
                        int *doc_done,
                        struct pitr_err *err)
{
    struct ynode *y;
    pitr_rc rc;
    int line = (int)ev->start_mark.line + 1;

    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.length > PITR_MF_MAX_SCALAR)
            return pitr_err_set(err,
                                PITR_ELIMIT,
                                "%s:%d: a value longer than %zu bytes",
                                p->file,
                                line,
                                PITR_MF_MAX_SCALAR);
        y = ynode_new(YN_SCALAR, ev);
        y->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && ev->data.scalar.tag == NULL;
        y->s = pitr_malloc(ev->data.scalar.length + 1);
        memcpy(y->s, ev->data.scalar.value, ev->data.scalar.length);
        y->s[ev->data.scalar.length] = '\0';
        y->slen = ev->data.scalar.length;
        return attach(p, y, err);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (p->depth >= PITR_MF_MAX_DEPTH)
            return pitr_err_set(err,
                                PITR_ELIMIT,
                                "%s:%d: YAML nested deeper than %d levels",
                                p->file,
                                line,
                                PITR_MF_MAX_DEPTH);
        y = ynode_new(ev->type == YAML_MAPPING_START_EVENT ? YN_MAP : YN_SEQ, ev);
        rc = attach(p, y, err);
        if (rc != PITR_OK)
            return rc;
        p->stack[p->depth++] = y;
        return PITR_OK;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (p->depth > 0)
            p->depth--;
        return PITR_OK;
    case YAML_ALIAS_EVENT:
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "%s:%d: YAML aliases (*name) are not supported in manifests",
                            p->file,
                            line);
    case YAML_DOCUMENT_END_EVENT:
        *doc_done = 1;
        return PITR_OK;
    default:
        return PITR_OK;
    }
}

/* ---- walking documents -------------------------------------------------- */

struct wctx {
    const char *file;
    struct pitr_mf_set *set; /* the file's own set */
    const char *kind;
    char obj[320]; /* "ns/name" for messages */
    int reject;    /* the document is left out */
};

/* Printable ASCII of at most 64 bytes (user text going into a message). */
static const char *sanitize(const struct ynode *y, char *out, size_t n)
{
    size_t j = 0;

    if (y == NULL || y->type != YN_SCALAR) {
        snprintf(out, n, "%s", y == NULL ? "" : "(not a string)");
        return out;
    }
    for (size_t i = 0; i < y->slen && j + 4 < n && i < 64; i++)
        out[j++] = isprint((unsigned char)y->s[i]) ? y->s[i] : '?';
    if (y->slen > 64 && j + 4 < n) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = '\0';
    return out;
}

static void wdiag(struct wctx *c, enum pitr_mf_severity sev, int line, const char *fmt, ...)
  PITR_PRINTF(4, 5);

static void wdiag(struct wctx *c, enum pitr_mf_severity sev, int line, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pitr_mf_diag_add(c->set, sev, c->file, line, "%s '%s': %s", c->kind, c->obj, msg);
}

static void unsupported(struct wctx *c, const struct ynode *key, const char *path, int error)
{
    wdiag(c,
          error ? PITR_MF_ERROR : PITR_MF_WARNING,
          key->line,
          "field '%s' is not supported by pgpitr (%s)",
          path,
          error ? "cannot act on this object" : "ignored");
}

static void unknown(struct wctx *c, const struct ynode *key, const char *parent)
{
    char k[80];

    wdiag(c,
          PITR_MF_WARNING,
          key->line,
          "unknown field '%s.%s' (ignored)",
          parent,
          sanitize(key, k, sizeof(k)));
}

static const char *type_name(const struct ynode *v)
{
    int b;
    long l;

    if (v->type == YN_MAP)
        return "a mapping";
    if (v->type == YN_SEQ)
        return "a list";
    if (plain_bool(v, &b))
        return "a boolean";
    if (plain_int(v, &l) || plain_float(v))
        return "a number";
    return "a string";
}

static void type_error(struct wctx *c, const struct ynode *v, const char *path, const char *want)
{
    wdiag(c, PITR_MF_ERROR, v->line, "'%s' must be %s, not %s", path, want, type_name(v));
    c->reject = 1;
}

/* A string field: 1 set (*out replaced), 0 absent (null), -1 error (reported). */
static int want_str(struct wctx *c, const struct ynode *v, const char *path, char **out)
{
    int b;
    long l;

    if (is_null(v))
        return 0;
    if (v->type != YN_SCALAR || plain_bool(v, &b) || plain_int(v, &l) || plain_float(v)) {
        type_error(c, v, path, "a string");
        return -1;
    }
    if (memchr(v->s, '\0', v->slen) != NULL) {
        wdiag(c, PITR_MF_ERROR, v->line, "'%s' holds a NUL character", path);
        c->reject = 1;
        return -1;
    }
    pitr_free(*out);
    *out = pitr_strndup(v->s, v->slen);
    return 1;
}

static int want_bool(struct wctx *c, const struct ynode *v, const char *path, int *out)
{
    if (is_null(v))
        return 0;
    if (!plain_bool(v, out)) {
        type_error(c, v, path, "a boolean (true or false)");
        return -1;
    }
    return 1;
}

static int want_int(struct wctx *c, const struct ynode *v, const char *path, long min, int *out)
{
    long l;

    if (is_null(v))
        return 0;
    if (!plain_int(v, &l)) {
        type_error(c, v, path, "an integer");
        return -1;
    }
    if (l < min || l > INT_MAX) {
        wdiag(c, PITR_MF_ERROR, v->line, "'%s' must be between %ld and %d", path, min, INT_MAX);
        c->reject = 1;
        return -1;
    }
    *out = (int)l;
    return 1;
}

/* A string out of a fixed list (the CRD's enum). */
static int want_enum(struct wctx *c,
                     const struct ynode *v,
                     const char *path,
                     const char *const *allowed,
                     char **out)
{
    char *s = NULL;
    char shown[80], list[200];
    size_t used = 0;
    int r = want_str(c, v, path, &s);

    if (r <= 0)
        return r;
    for (size_t i = 0; allowed[i] != NULL; i++) {
        if (strcmp(s, allowed[i]) == 0) {
            pitr_free(*out);
            *out = s;
            return 1;
        }
    }
    list[0] = '\0';
    for (size_t i = 0; allowed[i] != NULL && used < sizeof(list); i++) {
        int w = snprintf(list + used, sizeof(list) - used, "%s%s", i > 0 ? ", " : "", allowed[i]);

        if (w < 0)
            break;
        used += (size_t)w;
    }
    wdiag(c,
          PITR_MF_ERROR,
          v->line,
          "'%s' is '%s'; it must be one of %s",
          path,
          sanitize(v, shown, sizeof(shown)),
          list);
    c->reject = 1;
    pitr_free(s);
    return -1;
}

/* Fields of one mapping pgpitr walks (tags, Secret data, ...). */
#define MAX_FIELDS 256

/*
 * A mapping field: 1 when v is a mapping to walk, 0 absent, -1 error. Its
 * keys are unique (the API server refuses a repeated key) and at most
 * MAX_FIELDS, which keeps the quadratic check small.
 */
static int want_map(struct wctx *c, const struct ynode *v, const char *path)
{
    char k[80];

    if (is_null(v))
        return 0;
    if (v->type != YN_MAP) {
        type_error(c, v, path, "a mapping");
        return -1;
    }
    if (v->n / 2 > MAX_FIELDS) {
        wdiag(c, PITR_MF_ERROR, v->line, "'%s' has more than %d fields", path, MAX_FIELDS);
        c->reject = 1;
        return -1;
    }
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        for (size_t j = i + 2; j + 1 < v->n; j += 2) {
            if (v->kids[i]->slen == v->kids[j]->slen &&
                memcmp(v->kids[i]->s, v->kids[j]->s, v->kids[i]->slen) == 0) {
                wdiag(c,
                      PITR_MF_ERROR,
                      v->kids[j]->line,
                      "'%s': key '%s' appears twice",
                      path,
                      sanitize(v->kids[j], k, sizeof(k)));
                c->reject = 1;
                return -1;
            }
        }
    }
    return 1;
}

/* A {name, key} Secret reference. */
static void walk_ref(struct wctx *c,
                     const struct ynode *k,
                     const struct ynode *v,
                     const char *path,
                     struct pitr_mf_secret_ref *ref)
{
    char p[160];

    if (v == NULL || want_map(c, v, path) <= 0) {
        if (!c->reject) {
            wdiag(c, PITR_MF_ERROR, k->line, "'%s' must be a {name, key} Secret reference", path);
            c->reject = 1;
        }
        return;
    }
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const struct ynode *sub = v->kids[i], *val = v->kids[i + 1];

        if (scalar_is(sub, "name")) {
            snprintf(p, sizeof(p), "%s.name", path);
            (void)want_str(c, val, p, &ref->name);
        } else if (scalar_is(sub, "key")) {
            snprintf(p, sizeof(p), "%s.key", path);
            (void)want_str(c, val, p, &ref->key);
        } else {
            unknown(c, sub, path);
        }
    }
    if (ref->name == NULL || ref->key == NULL) {
        wdiag(c, PITR_MF_ERROR, k->line, "'%s' needs both name and key", path);
        c->reject = 1;
        pitr_free(ref->name);
        pitr_free(ref->key);
        ref->name = ref->key = NULL;
        return;
    }
    pitr_free(ref->loc.file);
    ref->loc.file = pitr_strdup(c->file);
    ref->loc.line = k->line;
}

/* tags / historyTags: a string map, kept as "key=value". */
static void walk_tags(struct wctx *c,
                      const struct ynode *v,
                      const char *path,
                      char ***out,
                      size_t *n)
{
    char p[200], k[80];

    if (v == NULL || want_map(c, v, path) <= 0)
        return;
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const struct ynode *key = v->kids[i];
        char *ks = NULL, *vs = NULL;

        snprintf(p, sizeof(p), "%s.%s", path, sanitize(key, k, sizeof(k)));
        if (want_str(c, key, p, &ks) <= 0 || want_str(c, v->kids[i + 1], p, &vs) < 0) {
            if (!c->reject) {
                wdiag(c, PITR_MF_ERROR, key->line, "'%s': a tag needs a key", p);
                c->reject = 1;
            }
            pitr_free(ks);
            pitr_free(vs);
            continue;
        }
        if (vs == NULL)
            vs = pitr_strdup("");
        if (strpbrk(ks, "=,") != NULL || strchr(vs, ',') != NULL) {
            wdiag(c,
                  PITR_MF_ERROR,
                  key->line,
                  "'%s': a tag key may not hold '=' or ',' nor its value ','",
                  p);
            c->reject = 1;
        } else {
            *out = pitr_realloc(*out, (*n + 1) * sizeof(**out));
            (*out)[(*n)++] = pitr_asprintf("%s=%s", ks, vs);
        }
        pitr_free(ks);
        pitr_free(vs);
    }
}

static const char *const wal_codecs[] = { "bzip2", "gzip", "lz4", "snappy", "xz", "zstd", NULL };
static const char *const data_codecs[] = { "bzip2", "gzip", "lz4", "snappy", NULL };
static const char *const encryptions[] = { "AES256", "aws:kms", NULL };
static const char *const targets[] = { "primary", "prefer-standby", NULL };
static const char *const methods[] = { "barmanObjectStore", "volumeSnapshot", "plugin", NULL };
static const char *const owner_refs[] = { "none", "self", "cluster", NULL };

#define P_STORE "spec.backup.barmanObjectStore"

/* "<base>.<rest>" into out (field paths of a store walked under base). */
static const char *sub_path(char *out, size_t n, const char *base, const char *rest)
{
    int w = snprintf(out, n, "%s.%s", base, rest);

    if (w < 0 || (size_t)w >= n)
        out[n - 1] = '\0'; /* a truncated path in a message only */
    return out;
}

#define SP(rest) sub_path(p, sizeof(p), base, rest)

static void walk_wal(struct wctx *c,
                     const struct ynode *v,
                     const char *base,
                     struct pitr_mf_store *st)
{
    char p[200];

    if (v == NULL || want_map(c, v, SP("wal")) <= 0)
        return;
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const struct ynode *k = v->kids[i], *val = v->kids[i + 1];

        if (scalar_is(k, "compression"))
            (void)want_enum(c, val, SP("wal.compression"), wal_codecs, &st->wal_compression);
        else if (scalar_is(k, "encryption"))
            (void)want_enum(c, val, SP("wal.encryption"), encryptions, &st->wal_encryption);
        else if (scalar_is(k, "maxParallel"))
            (void)want_int(c, val, SP("wal.maxParallel"), 1, &st->wal_max_parallel);
        else if (scalar_is(k, "archiveAdditionalCommandArgs"))
            unsupported(c, k, SP("wal.archiveAdditionalCommandArgs"), 0);
        else if (scalar_is(k, "restoreAdditionalCommandArgs"))
            unsupported(c, k, SP("wal.restoreAdditionalCommandArgs"), 0);
        else
            unknown(c, k, SP("wal"));
    }
}

static void walk_data(struct wctx *c,
                      const struct ynode *v,
                      const char *base,
                      struct pitr_mf_store *st)
{
    char p[200];

    if (v == NULL || want_map(c, v, SP("data")) <= 0)
        return;
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const struct ynode *k = v->kids[i], *val = v->kids[i + 1];

        if (scalar_is(k, "compression"))
            (void)want_enum(c, val, SP("data.compression"), data_codecs, &st->data_compression);
        else if (scalar_is(k, "encryption"))
            (void)want_enum(c, val, SP("data.encryption"), encryptions, &st->data_encryption);
        else if (scalar_is(k, "jobs"))
            (void)want_int(c, val, SP("data.jobs"), 1, &st->data_jobs);
        else if (scalar_is(k, "immediateCheckpoint"))
            (void)want_bool(c, val, SP("data.immediateCheckpoint"), &st->data_immediate_checkpoint);
        else if (scalar_is(k, "additionalCommandArgs"))
            unsupported(c, k, SP("data.additionalCommandArgs"), 0);
        else if (scalar_is(k, "restoreAdditionalCommandArgs"))
            unsupported(c, k, SP("data.restoreAdditionalCommandArgs"), 0);
        else
            unknown(c, k, SP("data"));
    }
}

static void walk_s3(struct wctx *c,
                    const struct ynode *key,
                    const struct ynode *v,
                    const char *base,
                    struct pitr_mf_store *st)
{
    char p[200], q[200];
    int line;

    (void)SP("s3Credentials");
    if (v == NULL || want_map(c, v, p) <= 0)
        return;
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const struct ynode *k = v->kids[i], *val = v->kids[i + 1];

        if (scalar_is(k, "accessKeyId"))
            walk_ref(c, k, val, sub_path(q, sizeof(q), p, "accessKeyId"), &st->access_key_id_ref);
        else if (scalar_is(k, "secretAccessKey"))
            walk_ref(
              c, k, val, sub_path(q, sizeof(q), p, "secretAccessKey"), &st->secret_access_key_ref);
        else if (scalar_is(k, "sessionToken"))
            walk_ref(c, k, val, sub_path(q, sizeof(q), p, "sessionToken"), &st->session_token_ref);
        else if (scalar_is(k, "region"))
            walk_ref(c, k, val, sub_path(q, sizeof(q), p, "region"), &st->region_ref);
        else if (scalar_is(k, "inheritFromIAMRole"))
            (void)want_bool(
              c, val, sub_path(q, sizeof(q), p, "inheritFromIAMRole"), &st->inherit_iam_role);
        else
            unknown(c, k, p);
    }
    if (c->reject)
        return;
    line = key->line;
    /* CNPG's rule: exactly one method, key id and secret together. */
    if (st->inherit_iam_role &&
        (st->access_key_id_ref.name != NULL || st->secret_access_key_ref.name != NULL)) {
        wdiag(c,
              PITR_MF_ERROR,
              line,
              "'%s': inheritFromIAMRole and accessKeyId/secretAccessKey exclude each other",
              p);
        c->reject = 1;
    } else if (!st->inherit_iam_role &&
               (st->access_key_id_ref.name == NULL) != (st->secret_access_key_ref.name == NULL)) {
        wdiag(c, PITR_MF_ERROR, line, "'%s': accessKeyId and secretAccessKey go together", p);
        c->reject = 1;
    } else if (!st->inherit_iam_role && st->access_key_id_ref.name == NULL) {
        wdiag(c,
              PITR_MF_ERROR,
              line,
              "'%s' needs accessKeyId and secretAccessKey, or inheritFromIAMRole: true",
              p);
        c->reject = 1;
    } else if (st->inherit_iam_role &&
               (st->region_ref.name != NULL || st->session_token_ref.name != NULL)) {
        /* As CNPG: with the credential chain no variable is set at all. */
        wdiag(c,
              PITR_MF_WARNING,
              line,
              "'%s': region and sessionToken are ignored with inheritFromIAMRole",
              p);
        pitr_free(st->region_ref.name);
        pitr_free(st->region_ref.key);
        pitr_free(st->region_ref.loc.file);
        pitr_free(st->session_token_ref.name);
        pitr_free(st->session_token_ref.key);
        pitr_free(st->session_token_ref.loc.file);
        memset(&st->region_ref, 0, sizeof(st->region_ref));
        memset(&st->session_token_ref, 0, sizeof(st->session_token_ref));
    }
}

/* A barmanObjectStore mapping under base (its field path); 1 when walked. */
static int walk_store(struct wctx *c,
                      const struct ynode *v,
                      const char *base,
                      struct pitr_mf_store *st)
{
    struct pitr_err e = { 0 };
    char p[200];
    int line_dest;

    if (v == NULL || want_map(c, v, base) <= 0)
        return 0;
    line_dest = v->line;
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const struct ynode *k = v->kids[i], *val = v->kids[i + 1];

        if (scalar_is(k, "destinationPath")) {
            line_dest = val->line;
            (void)want_str(c, val, SP("destinationPath"), &st->destination_path);
        } else if (scalar_is(k, "endpointURL")) {
            (void)want_str(c, val, SP("endpointURL"), &st->endpoint_url);
        } else if (scalar_is(k, "endpointCA")) {
            walk_ref(c, k, val, SP("endpointCA"), &st->endpoint_ca_ref);
        } else if (scalar_is(k, "serverName")) {
            if (want_str(c, val, SP("serverName"), &st->server_name) > 0 &&
                pitr_config_check_server(st->server_name, &e) != PITR_OK) {
                wdiag(c, PITR_MF_ERROR, val->line, "'%s' is not a usable folder name", p);
                c->reject = 1;
            }
        } else if (scalar_is(k, "s3Credentials")) {
            walk_s3(c, k, val, base, st);
        } else if (scalar_is(k, "azureCredentials") || scalar_is(k, "googleCredentials")) {
            char path[240];

            snprintf(path, sizeof(path), "%s.%s", base, k->s);
            unsupported(c, k, path, 1);
            st->unsupported = 1;
        } else if (scalar_is(k, "wal")) {
            walk_wal(c, val, base, st);
        } else if (scalar_is(k, "data")) {
            walk_data(c, val, base, st);
        } else if (scalar_is(k, "tags")) {
            walk_tags(c, val, SP("tags"), &st->tags, &st->n_tags);
        } else if (scalar_is(k, "historyTags")) {
            walk_tags(c, val, SP("historyTags"), &st->history_tags, &st->n_history_tags);
        } else {
            unknown(c, k, base);
        }
    }
    if (c->reject)
        return 1;
    if (st->destination_path == NULL || st->destination_path[0] == '\0') {
        wdiag(c, PITR_MF_ERROR, line_dest, "'%s.destinationPath' is required", base);
        c->reject = 1;
    } else if (strncmp(st->destination_path, "s3://", 5) != 0 &&
               strncmp(st->destination_path, "file://", 7) != 0) {
        wdiag(c,
              PITR_MF_ERROR,
              line_dest,
              "'%s.destinationPath': pgpitr writes to s3:// and file:// only "
              "(cannot act on this object)",
              base);
        st->unsupported = 1;
    }
    return 1;
}

/* CRD pattern ^[1-9][0-9]*[dwm]$. */
static int retention_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < 2 || n > 12 || s[0] < '1' || s[0] > '9' || strchr("dwm", s[n - 1]) == NULL)
        return 0;
    for (size_t i = 1; i + 1 < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* ---- bootstrap.recovery and externalClusters (cnpg-semantics.md 4.1) ---- */

#define P_REC "spec.bootstrap.recovery"
#define P_RT  P_REC ".recoveryTarget"

/* An LSN as PostgreSQL reads it: 1-8 hex digits, '/', 1-8 hex digits. */
static int lsn_ok(const char *s)
{
    size_t a = strspn(s, "0123456789abcdefABCDEF"), b;

    if (a == 0 || a > 8 || s[a] != '/')
        return 0;
    b = strspn(s + a + 1, "0123456789abcdefABCDEF");
    return b > 0 && b <= 8 && s[a + 1 + b] == '\0';
}

/* A decimal number in [min, max]. */
static int dec_ok(const char *s, long long min, long long max)
{
    size_t n = strspn(s, "0123456789");
    long long v = 0;

    if (n == 0 || n > 10 || s[n] != '\0')
        return 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v >= min && v <= max;
}

static void walk_target(struct wctx *c, const struct ynode *v, struct pitr_mf_recovery *r)
{
    struct pitr_mf_recovery_target *t = &r->target;
    struct pitr_err e = { 0 };
    int64_t us = 0;
    int kinds = 0, kind_line = v->line;

    if (want_map(c, v, P_RT) <= 0)
        return;
    r->has_target = 1;
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const struct ynode *k = v->kids[i], *val = v->kids[i + 1];
        int r1 = 0;

        if (scalar_is(k, "targetTime"))
            r1 = want_str(c, val, P_RT ".targetTime", &t->target_time);
        else if (scalar_is(k, "targetXID"))
            r1 = want_str(c, val, P_RT ".targetXID", &t->target_xid);
        else if (scalar_is(k, "targetName"))
            r1 = want_str(c, val, P_RT ".targetName", &t->target_name);
        else if (scalar_is(k, "targetLSN"))
            r1 = want_str(c, val, P_RT ".targetLSN", &t->target_lsn);
        else if (scalar_is(k, "targetImmediate"))
            r1 = want_bool(c, val, P_RT ".targetImmediate", &t->target_immediate) > 0 &&
                 t->target_immediate;
        else if (scalar_is(k, "targetTLI"))
            (void)want_str(c, val, P_RT ".targetTLI", &t->target_tli);
        else if (scalar_is(k, "exclusive"))
            (void)want_bool(c, val, P_RT ".exclusive", &t->exclusive);
        else if (scalar_is(k, "backupID"))
            (void)want_str(c, val, P_RT ".backupID", &t->backup_id);
        else
            unknown(c, k, P_RT);
        if (r1 > 0 && ++kinds == 2)
            kind_line = k->line;
    }
    if (c->reject)
        return;
    /* The webhook's rules (cluster_webhook.go validateRecoveryTarget). */
    if (kinds > 1) {
        wdiag(c,
              PITR_MF_ERROR,
              kind_line,
              "'%s': give at most one of targetTime, targetXID, targetName, targetLSN and "
              "targetImmediate",
              P_RT);
        c->reject = 1;
    }
    if (t->target_time != NULL && pitr_cat_parse_time(t->target_time, &us, NULL, &e) != PITR_OK) {
        wdiag(c,
              PITR_MF_ERROR,
              v->line,
              "'%s.targetTime' is not a time (RFC 3339 or 'YYYY-MM-DD HH:MM:SS[+TZ]')",
              P_RT);
        c->reject = 1;
    }
    if (t->target_lsn != NULL && !lsn_ok(t->target_lsn)) {
        wdiag(c, PITR_MF_ERROR, v->line, "'%s.targetLSN' is not an LSN (X/X)", P_RT);
        c->reject = 1;
    }
    if (t->target_xid != NULL && !dec_ok(t->target_xid, 0, 4294967295LL)) {
        wdiag(c, PITR_MF_ERROR, v->line, "'%s.targetXID' is not a transaction id (uint32)", P_RT);
        c->reject = 1;
    }
    if (t->target_name != NULL) {
        int bad = strlen(t->target_name) >= 64;

        for (const char *q = t->target_name; *q != '\0'; q++)
            bad |= iscntrl((unsigned char)*q) != 0;
        if (bad) {
            wdiag(c,
                  PITR_MF_ERROR,
                  v->line,
                  "'%s.targetName' must be shorter than 64 bytes without control characters",
                  P_RT);
            c->reject = 1;
        }
    }
    if ((t->target_name != NULL || t->target_xid != NULL || t->target_immediate) &&
        t->backup_id == NULL) {
        wdiag(c,
              PITR_MF_ERROR,
              v->line,
              "'%s': targetName, targetXID and targetImmediate need backupID",
              P_RT);
        c->reject = 1;
    }
    if (t->target_tli != NULL && t->target_tli[0] != '\0' && strcmp(t->target_tli, "latest") != 0 &&
        !dec_ok(t->target_tli, 1, 4294967295LL)) {
        wdiag(c, PITR_MF_ERROR, v->line, "'%s.targetTLI' must be 'latest' or a number >= 1", P_RT);
        c->reject = 1;
    }
    if (t->backup_id != NULL && (t->backup_id[0] == '\0' || strchr(t->backup_id, '/') != NULL ||
                                 strcmp(t->backup_id, "..") == 0)) {
        wdiag(c, PITR_MF_ERROR, v->line, "'%s.backupID' is not a backup id", P_RT);
        c->reject = 1;
    }
}

static void walk_recovery(struct wctx *c, const struct ynode *v, struct pitr_mf_cluster *cl)
{
    struct pitr_mf_recovery *r = &cl->recovery;

    if (want_map(c, v, P_REC) <= 0)
        return;
    cl->has_recovery = 1;
    pitr_free(r->loc.file);
    r->loc.file = pitr_strdup(c->file);
    r->loc.line = v->line;
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const struct ynode *k = v->kids[i], *val = v->kids[i + 1];

        if (scalar_is(k, "source")) {
            (void)want_str(c, val, P_REC ".source", &r->source);
        } else if (scalar_is(k, "recoveryTarget")) {
            walk_target(c, val, r);
        } else if (scalar_is(k, "backup")) {
            const struct ynode *name = map_get(val, "name");

            if (want_map(c, val, P_REC ".backup") > 0 && name != NULL)
                (void)want_str(c, name, P_REC ".backup.name", &r->backup_name);
            if (r->backup_name != NULL) {
                wdiag(c,
                      PITR_MF_ERROR,
                      k->line,
                      "field '%s.backup' (recovery from a Backup object) is not supported by "
                      "pgpitr; use source and externalClusters (cannot act on this object)",
                      P_REC);
                r->unsupported = 1;
            }
        } else if (scalar_is(k, "volumeSnapshots")) {
            unsupported(c, k, P_REC ".volumeSnapshots", 1);
            r->unsupported = 1;
        } else if (scalar_is(k, "database") || scalar_is(k, "owner") || scalar_is(k, "secret")) {
            char path[80];

            snprintf(path, sizeof(path), P_REC ".%s", k->s);
            unsupported(c, k, path, 0);
        } else {
            unknown(c, k, P_REC);
        }
    }
    if (c->reject)
        return;
    if (r->source != NULL && r->backup_name != NULL) {
        wdiag(c, PITR_MF_ERROR, v->line, "'%s': source and backup exclude each other", P_REC);
        c->reject = 1;
    } else if (r->source == NULL && r->backup_name == NULL && !r->unsupported) {
        wdiag(c, PITR_MF_ERROR, v->line, "'%s' needs a source (an externalClusters name)", P_REC);
        c->reject = 1;
    }
}

static void walk_bootstrap(struct wctx *c, const struct ynode *v, struct pitr_mf_cluster *cl)
{
    if (v == NULL || want_map(c, v, "spec.bootstrap") <= 0)
        return;
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const struct ynode *k = v->kids[i];

        /* initdb and pg_basebackup make a new server: nothing pgpitr restores. */
        if (scalar_is(k, "recovery"))
            walk_recovery(c, v->kids[i + 1], cl);
    }
}

/* Most entries of spec.externalClusters pgpitr reads. */
#define MAX_EXTERNALS 64

static void walk_externals(struct wctx *c, const struct ynode *v, struct pitr_mf_cluster *cl)
{
    char base[120], shown[80];

    if (is_null(v))
        return;
    if (v->type != YN_SEQ) {
        type_error(c, v, "spec.externalClusters", "a list");
        return;
    }
    if (v->n > MAX_EXTERNALS) {
        wdiag(c,
              PITR_MF_ERROR,
              v->line,
              "'spec.externalClusters' has more than %d entries",
              MAX_EXTERNALS);
        c->reject = 1;
        return;
    }
    cl->externals = pitr_calloc(v->n + 1, sizeof(*cl->externals));
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *e = v->kids[i];
        struct pitr_mf_external *x = &cl->externals[cl->n_externals++];

        snprintf(base, sizeof(base), "spec.externalClusters[%zu]", i);
        x->loc.file = pitr_strdup(c->file);
        x->loc.line = e->line;
        if (want_map(c, e, base) <= 0) {
            if (!c->reject)
                type_error(c, e, base, "a mapping");
            continue;
        }
        for (size_t j = 0; j + 1 < e->n; j += 2) {
            const struct ynode *k = e->kids[j], *val = e->kids[j + 1];
            char p[200];

            if (scalar_is(k, "name")) {
                (void)want_str(c, val, SP("name"), &x->name);
            } else if (scalar_is(k, "barmanObjectStore")) {
                if (walk_store(c, val, SP("barmanObjectStore"), &x->store))
                    x->has_store = 1;
            } else if (scalar_is(k, "connectionParameters") || scalar_is(k, "sslCert") ||
                       scalar_is(k, "sslKey") || scalar_is(k, "sslRootCert") ||
                       scalar_is(k, "password") || scalar_is(k, "plugin")) {
                unsupported(c, k, SP(k->s), 0);
            } else {
                unknown(c, k, base);
            }
        }
        if (x->name == NULL || x->name[0] == '\0') {
            wdiag(c, PITR_MF_ERROR, e->line, "'%s.name' is required", base);
            c->reject = 1;
            continue;
        }
        for (size_t j = 0; j + 1 < cl->n_externals; j++) {
            if (cl->externals[j].name != NULL && strcmp(cl->externals[j].name, x->name) == 0) {
                wdiag(c,
                      PITR_MF_ERROR,
                      e->line,
                      "'spec.externalClusters': the name '%s' appears twice",
                      sanitize(map_get(e, "name"), shown, sizeof(shown)));
                c->reject = 1;
            }
        }
    }
}

/* The recovery's source must be an external cluster with a barmanObjectStore. */
static void check_source(struct wctx *c, struct pitr_mf_cluster *cl)
{
    const struct pitr_mf_recovery *r = &cl->recovery;
    const struct pitr_mf_external *x;

    if (c->reject || !cl->has_recovery || r->source == NULL)
        return;
    x = pitr_manifest_find_external(cl, r->source);
    if (x == NULL) {
        wdiag(c,
              PITR_MF_ERROR,
              r->loc.line,
              "'%s.source' is '%.64s', which names no entry of spec.externalClusters",
              P_REC,
              r->source);
        c->reject = 1;
    } else if (!x->has_store) {
        wdiag(c,
              PITR_MF_ERROR,
              x->loc.line,
              "external cluster '%.64s' (the recovery source) has no barmanObjectStore; pgpitr "
              "recovers from an object store only",
              r->source);
        c->reject = 1;
    }
}

static void walk_backup_spec(struct wctx *c, const struct ynode *backup, struct pitr_mf_cluster *cl)
{
    if (backup == NULL || want_map(c, backup, "spec.backup") <= 0)
        return;
    for (size_t i = 0; i + 1 < backup->n; i += 2) {
        const struct ynode *k = backup->kids[i], *val = backup->kids[i + 1];

        if (scalar_is(k, "barmanObjectStore")) {
            if (walk_store(c, val, P_STORE, &cl->store))
                cl->has_store = 1;
        } else if (scalar_is(k, "retentionPolicy")) {
            if (want_str(c, val, "spec.backup.retentionPolicy", &cl->retention_policy) > 0 &&
                !retention_ok(cl->retention_policy)) {
                char shown[80];

                wdiag(c,
                      PITR_MF_ERROR,
                      val->line,
                      "'spec.backup.retentionPolicy' is '%s'; it must be a number and d, w or m "
                      "(\"30d\")",
                      sanitize(val, shown, sizeof(shown)));
                c->reject = 1;
            }
        } else if (scalar_is(k, "target")) {
            (void)want_enum(c, val, "spec.backup.target", targets, &cl->target);
        } else if (scalar_is(k, "volumeSnapshot")) {
            unsupported(c, k, "spec.backup.volumeSnapshot", 0);
        } else {
            unknown(c, k, "spec.backup");
        }
    }
}

static void walk_cluster(struct wctx *c, const struct ynode *spec, struct pitr_mf_cluster *cl)
{
    walk_backup_spec(c, map_get(spec, "backup"), cl);
    walk_bootstrap(c, map_get(spec, "bootstrap"), cl);
    walk_externals(c, map_get(spec, "externalClusters"), cl);
    check_source(c, cl);
}

/* spec.cluster: {name: ...}. */
static void walk_cluster_name(struct wctx *c, const struct ynode *v, char **out)
{
    if (v == NULL || want_map(c, v, "spec.cluster") <= 0)
        return;
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        if (scalar_is(v->kids[i], "name"))
            (void)want_str(c, v->kids[i + 1], "spec.cluster.name", out);
        else
            unknown(c, v->kids[i], "spec.cluster");
    }
}

/* Fields Backup and ScheduledBackup share. 1 when k was one of them. */
static int walk_common(struct wctx *c,
                       const struct ynode *k,
                       const struct ynode *val,
                       char **cluster,
                       char **method,
                       char **target)
{
    if (scalar_is(k, "cluster")) {
        walk_cluster_name(c, val, cluster);
    } else if (scalar_is(k, "method")) {
        if (want_enum(c, val, "spec.method", methods, method) > 0 &&
            strcmp(*method, "barmanObjectStore") != 0) {
            wdiag(c,
                  PITR_MF_ERROR,
                  val->line,
                  "method '%s' is not supported by pgpitr (only barmanObjectStore; the %s is "
                  "ignored)",
                  *method,
                  c->kind);
            c->reject = 1;
        }
    } else if (scalar_is(k, "target")) {
        (void)want_enum(c, val, "spec.target", targets, target);
    } else if (scalar_is(k, "pluginConfiguration")) {
        unsupported(c, k, "spec.pluginConfiguration", 0);
    } else if (scalar_is(k, "online") || scalar_is(k, "onlineConfiguration")) {
        /* CNPG's webhook refuses both with barmanObjectStore. */
        wdiag(c,
              PITR_MF_ERROR,
              k->line,
              "'spec.%s' applies to volumeSnapshot backups only (the %s is ignored)",
              k->s,
              c->kind);
        c->reject = 1;
    } else {
        return 0;
    }
    return 1;
}

static void walk_scheduled(struct wctx *c, const struct ynode *spec, struct pitr_mf_scheduled *sb)
{
    int line = spec != NULL ? spec->line : 1;

    if (spec != NULL && want_map(c, spec, "spec") > 0) {
        for (size_t i = 0; i + 1 < spec->n; i += 2) {
            const struct ynode *k = spec->kids[i], *val = spec->kids[i + 1];

            if (walk_common(c, k, val, &sb->cluster, &sb->method, &sb->target))
                continue;
            if (scalar_is(k, "schedule")) {
                if (want_str(c, val, "spec.schedule", &sb->schedule) > 0) {
                    pitr_free(sb->schedule_loc.file);
                    sb->schedule_loc.file = pitr_strdup(c->file);
                    sb->schedule_loc.line = val->line;
                }
            } else if (scalar_is(k, "suspend")) {
                (void)want_bool(c, val, "spec.suspend", &sb->suspend);
            } else if (scalar_is(k, "immediate")) {
                (void)want_bool(c, val, "spec.immediate", &sb->immediate);
            } else if (scalar_is(k, "backupOwnerReference")) {
                (void)want_enum(
                  c, val, "spec.backupOwnerReference", owner_refs, &sb->owner_reference);
            } else {
                unknown(c, k, "spec");
            }
        }
    }
    if (c->reject)
        return;
    if (sb->schedule == NULL || sb->schedule[0] == '\0') {
        wdiag(c, PITR_MF_ERROR, line, "'spec.schedule' is required");
        c->reject = 1;
    }
    if (sb->cluster == NULL || sb->cluster[0] == '\0') {
        wdiag(c, PITR_MF_ERROR, line, "'spec.cluster.name' is required");
        c->reject = 1;
    }
    if (sb->owner_reference == NULL)
        sb->owner_reference = pitr_strdup("none");
    if (sb->method == NULL)
        sb->method = pitr_strdup("barmanObjectStore");
}

static void walk_backup(struct wctx *c, const struct ynode *spec, struct pitr_mf_backup *b)
{
    int line = spec != NULL ? spec->line : 1;

    if (spec != NULL && want_map(c, spec, "spec") > 0) {
        for (size_t i = 0; i + 1 < spec->n; i += 2) {
            const struct ynode *k = spec->kids[i], *val = spec->kids[i + 1];

            if (!walk_common(c, k, val, &b->cluster, &b->method, &b->target))
                unknown(c, k, "spec");
        }
    }
    if (c->reject)
        return;
    if (b->cluster == NULL || b->cluster[0] == '\0') {
        wdiag(c, PITR_MF_ERROR, line, "'spec.cluster.name' is required");
        c->reject = 1;
    }
    if (b->method == NULL)
        b->method = pitr_strdup("barmanObjectStore");
}

/* Append key/value to a Secret; a later one for the same key replaces it. */
static void secret_put(struct pitr_mf_secret *s, const char *key, char *value, size_t len)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->keys[i], key) == 0) {
            memset(s->values[i], 0, s->value_lens[i]);
            pitr_free(s->values[i]);
            s->values[i] = value;
            s->value_lens[i] = len;
            return;
        }
    }
    s->keys = pitr_realloc(s->keys, (s->n + 1) * sizeof(*s->keys));
    s->values = pitr_realloc(s->values, (s->n + 1) * sizeof(*s->values));
    s->value_lens = pitr_realloc(s->value_lens, (s->n + 1) * sizeof(*s->value_lens));
    s->keys[s->n] = pitr_strdup(key);
    s->values[s->n] = value;
    s->value_lens[s->n] = len;
    s->n++;
}

/* data (base64) or stringData (plain) of a Secret; values are never quoted in messages. */
static void walk_secret_data(struct wctx *c,
                             const struct ynode *v,
                             const char *path,
                             int b64,
                             struct pitr_mf_secret *s)
{
    char p[200], k[80];

    if (v == NULL || want_map(c, v, path) <= 0)
        return;
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const struct ynode *key = v->kids[i], *val = v->kids[i + 1];
        char *ks = NULL, *out = NULL;
        size_t out_len = 0;

        snprintf(p, sizeof(p), "%s.%s", path, sanitize(key, k, sizeof(k)));
        if (want_str(c, key, p, &ks) <= 0 || ks[0] == '\0') {
            if (!c->reject)
                wdiag(c, PITR_MF_ERROR, key->line, "'%s': an empty key", path);
            c->reject = 1;
            pitr_free(ks);
            continue;
        }
        if (val->type != YN_SCALAR ||
            (val->plain && (is_null(val) || plain_bool(val, &(int){ 0 })))) {
            if (!is_null(val)) {
                type_error(c, val, p, "a string");
                pitr_free(ks);
                continue;
            }
            out = pitr_strdup("");
        } else if (b64) {
            if (!pitr_mf_base64_decode(val->s, val->slen, &out, &out_len)) {
                wdiag(c, PITR_MF_ERROR, val->line, "'%s' is not valid base64", p);
                c->reject = 1;
                pitr_free(ks);
                continue;
            }
        } else {
            out = pitr_malloc(val->slen + 1);
            memcpy(out, val->s, val->slen + 1);
            out_len = val->slen;
        }
        secret_put(s, ks, out, out_len);
        pitr_free(ks);
    }
}

static void walk_secret(struct wctx *c, const struct ynode *root, struct pitr_mf_secret *s)
{
    const struct ynode *data = map_get(root, "data");
    const struct ynode *string_data = map_get(root, "stringData");

    /* stringData is merged over data, as the API server does. */
    walk_secret_data(c, data, "data", 1, s);
    walk_secret_data(c, string_data, "stringData", 0, s);
}

/* RFC 1123 label/subdomain, as the API server checks names and namespaces. */
static int dns_name_ok(const char *s, size_t max, int dots)
{
    size_t n = strlen(s);

    if (n == 0 || n > max || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (!(islower(ch) || isdigit(ch) || ch == '-' || (dots && ch == '.')))
            return 0;
        if (ch == '.' && s[i + 1] == '.')
            return 0;
    }
    return 1;
}

static int walk_meta(struct wctx *c, const struct ynode *root, struct pitr_mf_meta *m)
{
    const struct ynode *md = map_get(root, "metadata");
    int line = root->line;

    if (md != NULL && md->type == YN_MAP) {
        line = md->line;
        (void)want_str(c, map_get(md, "name"), "metadata.name", &m->name);
        (void)want_str(c, map_get(md, "namespace"), "metadata.namespace", &m->namespace);
        (void)want_str(c, map_get(md, "uid"), "metadata.uid", &m->uid);
    } else if (md != NULL && !is_null(md)) {
        type_error(c, md, "metadata", "a mapping");
    }
    if (m->namespace == NULL)
        m->namespace = pitr_strdup("default");
    snprintf(c->obj,
             sizeof(c->obj),
             "%.63s/%.253s",
             m->namespace,
             m->name != NULL ? m->name : "(no name)");
    for (char *p = c->obj; *p != '\0'; p++)
        if (!isprint((unsigned char)*p))
            *p = '?';
    m->loc.file = pitr_strdup(c->file);
    m->loc.line = root->line;
    if (c->reject)
        return -1;
    if (m->name == NULL) {
        wdiag(c, PITR_MF_ERROR, line, "'metadata.name' is required (document ignored)");
        return -1;
    }
    if (!dns_name_ok(m->name, 253, 1) || !dns_name_ok(m->namespace, 63, 0)) {
        wdiag(c,
              PITR_MF_ERROR,
              line,
              "name or namespace is not a valid Kubernetes name (lowercase letters, digits, "
              "'-', '.'; document ignored)");
        return -1;
    }
    return 0;
}

static void reject_diag(struct wctx *c, int line)
{
    wdiag(c, PITR_MF_ERROR, line, "document ignored (see the errors above)");
}

/* One document's tree into the file's set. */
static void walk_doc(const char *file, const struct ynode *root, struct pitr_mf_set *set)
{
    struct wctx c = { .file = file, .set = set, .kind = "document", .obj = "" };
    const struct ynode *api, *kind, *spec;
    char skind[80], sapi[80];
    int is_cnpg, is_v1;

    if (root == NULL || (root->type == YN_SCALAR && is_null(root)))
        return; /* an empty document */
    if (root->type != YN_MAP) {
        pitr_mf_diag_add(
          set, PITR_MF_ERROR, file, root->line, "a document must be a mapping (document ignored)");
        return;
    }
    api = map_get(root, "apiVersion");
    kind = map_get(root, "kind");
    if (kind == NULL || kind->type != YN_SCALAR || api == NULL || api->type != YN_SCALAR) {
        pitr_mf_diag_add(set,
                         PITR_MF_ERROR,
                         file,
                         root->line,
                         "a document without apiVersion or kind (document ignored)");
        return;
    }
    is_cnpg = scalar_is(api, "postgresql.cnpg.io/v1");
    is_v1 = scalar_is(api, "v1");
    spec = map_get(root, "spec");
    if (is_cnpg && scalar_is(kind, "Cluster")) {
        struct pitr_mf_cluster cl = { 0 };

        c.kind = "Cluster";
        if (walk_meta(&c, root, &cl.meta) == 0) {
            if (spec != NULL && !is_null(spec) && spec->type != YN_MAP)
                type_error(&c, spec, "spec", "a mapping");
            else if (spec != NULL)
                walk_cluster(&c, spec, &cl);
            if (c.reject)
                reject_diag(&c, root->line);
            else
                pitr_mf_set_take_cluster(set, &cl);
        }
        pitr_mf_cluster_release(&cl);
    } else if (is_cnpg && scalar_is(kind, "ScheduledBackup")) {
        struct pitr_mf_scheduled sb = { 0 };

        c.kind = "ScheduledBackup";
        if (walk_meta(&c, root, &sb.meta) == 0) {
            walk_scheduled(&c, spec, &sb);
            if (c.reject)
                reject_diag(&c, root->line);
            else
                pitr_mf_set_take_scheduled(set, &sb);
        }
        pitr_mf_scheduled_release(&sb);
    } else if (is_cnpg && scalar_is(kind, "Backup")) {
        struct pitr_mf_backup b = { 0 };

        c.kind = "Backup";
        if (walk_meta(&c, root, &b.meta) == 0) {
            walk_backup(&c, spec, &b);
            if (c.reject)
                reject_diag(&c, root->line);
            else
                pitr_mf_set_take_backup(set, &b);
        }
        pitr_mf_backup_release(&b);
    } else if (is_v1 && scalar_is(kind, "Secret")) {
        struct pitr_mf_secret s = { 0 };

        c.kind = "Secret";
        if (walk_meta(&c, root, &s.meta) == 0) {
            walk_secret(&c, root, &s);
            if (c.reject)
                reject_diag(&c, root->line);
            else
                pitr_mf_set_take_secret(set, &s);
        }
        pitr_mf_secret_release(&s);
    } else {
        pitr_mf_diag_add(set,
                         PITR_MF_WARNING,
                         file,
                         root->line,
                         "kind '%s' of apiVersion '%s' is not read by pgpitr (document ignored)",
                         sanitize(kind, skind, sizeof(skind)),
                         sanitize(api, sapi, sizeof(sapi)));
    }
}

pitr_rc pitr_manifest_parse(const char *name,
                            const char *text,
                            size_t len,
                            struct pitr_mf_set *set,
                            struct pitr_err *err)
{
    struct yparse p;
    struct pitr_mf_set tmp = { 0 };
    yaml_event_t ev;
    int docs = 0, done = 0, have_parser = 0;
    pitr_rc rc = PITR_OK;

    memset(&p, 0, sizeof(p));
    p.file = name != NULL ? name : "(manifest)";
    p.text = text;
    p.len = len;
    if (len > PITR_MF_MAX_FILE_BYTES) {
        rc = pitr_err_set(err,
                          PITR_ELIMIT,
                          "%s:1: the file is larger than %zu bytes",
                          p.file,
                          PITR_MF_MAX_FILE_BYTES);
        goto out;
    }
    if (!yaml_parser_initialize(&p.parser)) {
        rc = pitr_err_set(err, PITR_ENOMEM, "%s: cannot start the YAML parser", p.file);
        goto out;
    }
    have_parser = 1;
    yaml_parser_set_input_string(&p.parser, (const unsigned char *)text, len);
    while (!done) {
        int doc_done = 0;

        if (!yaml_parser_parse(&p.parser, &ev)) {
            rc = yaml_failed(&p, err);
            goto out;
        }
        if (ev.type == YAML_STREAM_END_EVENT)
            done = 1;
        if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > PITR_MF_MAX_DOCS) {
            rc = pitr_err_set(err,
                              PITR_ELIMIT,
                              "%s:%d: more than %d documents in the file",
                              p.file,
                              (int)ev.start_mark.line + 1,
                              PITR_MF_MAX_DOCS);
            yaml_event_delete(&ev);
            goto out;
        }
        rc = on_event(&p, &ev, &doc_done, err);
        yaml_event_delete(&ev);
        if (rc != PITR_OK)
            goto out;
        if (doc_done) {
            walk_doc(p.file, p.root, &tmp);
            ynode_free(p.root);
            p.root = NULL;
            p.depth = 0;
        }
    }
    pitr_mf_set_move(set, &tmp);
out:
    ynode_free(p.root);
    if (have_parser)
        yaml_parser_delete(&p.parser);
    pitr_manifest_set_release(&tmp);
    return rc;
}
