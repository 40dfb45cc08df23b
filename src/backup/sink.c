/*
 * sink.c - the sink dispatchers and the streaming storage sink; see
 * include/pgpitr/backup/sink.h for why it buffers a whole volume.
 */
#include "pgpitr/backup/sink.h"

#include <string.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/crypto/hash.h"
#include "pgpitr/storage/storage.h"

pitr_rc pitr_sink_open(struct pitr_sink *s, const char *key, struct pitr_err *err)
{
    return s->ops->open(s, key, err);
}

pitr_rc pitr_sink_write(struct pitr_sink *s, const void *p, size_t n, struct pitr_err *err)
{
    return s->ops->write(s, p, n, err);
}

pitr_rc pitr_sink_commit(struct pitr_sink *s, struct pitr_err *err)
{
    return s->ops->commit(s, err);
}

void pitr_sink_abort(struct pitr_sink *s)
{
    s->ops->abort(s);
}

void pitr_sink_free(struct pitr_sink *s)
{
    if (s != NULL)
        s->ops->free(s);
}

/*
 * The sink over the storage API's streaming writer: bytes go straight to the
 * driver (S3: a multipart upload with parts in flight; posix: a temp file
 * renamed on commit), so memory stays bounded and nothing is staged.
 */
struct storage_sink {
    struct pitr_sink base;
    struct pitr_storage *st;       /* borrowed */
    char *key;                     /* owned; NULL when nothing is open */
    struct pitr_storage_writer *w; /* the open object's writer, or NULL */
    uint64_t limit;                /* bytes one volume may take */
    uint64_t written;
};

static pitr_rc ss_open(struct pitr_sink *s, const char *key, struct pitr_err *err)
{
    struct storage_sink *ss = (struct storage_sink *)s;
    pitr_rc rc;

    if (ss->key != NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "sink: '%s' is still open", ss->key);
    rc = pitr_storage_open_write(ss->st, key, &ss->w, err);
    if (rc != PITR_OK)
        return rc;
    ss->key = pitr_strdup(key);
    ss->written = 0;
    return PITR_OK;
}

static pitr_rc ss_write(struct pitr_sink *s, const void *p, size_t n, struct pitr_err *err)
{
    struct storage_sink *ss = (struct storage_sink *)s;

    if (ss->key == NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "sink: write without open");
    if (n > ss->limit - ss->written)
        return pitr_err_set(err,
                            PITR_ELIMIT,
                            "volume '%s' would exceed %llu bytes",
                            ss->key,
                            (unsigned long long)ss->limit);
    ss->written += n;
    return pitr_storage_writer_write(ss->w, p, n, err);
}

static void ss_abort(struct pitr_sink *s)
{
    struct storage_sink *ss = (struct storage_sink *)s;

    /* The writer drops what it has (S3: AbortMultipartUpload). */
    pitr_storage_writer_abort(ss->w);
    ss->w = NULL;
    pitr_free(ss->key);
    ss->key = NULL;
}

static pitr_rc ss_commit(struct pitr_sink *s, struct pitr_err *err)
{
    struct storage_sink *ss = (struct storage_sink *)s;
    pitr_rc rc;

    if (ss->key == NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "sink: commit without open");
    /* commit frees the writer whatever the result, cleaning up on failure. */
    rc = pitr_storage_writer_commit(ss->w, err);
    ss->w = NULL;
    pitr_free(ss->key);
    ss->key = NULL;
    return rc;
}

static void ss_free(struct pitr_sink *s)
{
    ss_abort(s);
    pitr_free(s);
}

static const struct pitr_sink_ops storage_sink_ops = {
    ss_open, ss_write, ss_commit, ss_abort, ss_free,
};

pitr_rc pitr_sink_storage_new(struct pitr_storage *st,
                              uint64_t limit,
                              struct pitr_sink **out,
                              struct pitr_err *err)
{
    struct storage_sink *ss;

    (void)err;
    ss = pitr_calloc(1, sizeof(*ss));
    ss->base.ops = &storage_sink_ops;
    ss->st = st;
    ss->limit = limit;
    *out = &ss->base;
    return PITR_OK;
}

/* The digest sink: hashes and counts what passes through to inner. */
struct digest_sink {
    struct pitr_sink base;
    struct pitr_sink *inner; /* owned */
    struct pitr_sha256 h;    /* of the open object */
    char *name;              /* owned; the open object's name, NULL when none */
    uint64_t size;
    struct pitr_sink_object *v; /* owned, with every name */
    size_t n;
};

static void ds_drop(struct digest_sink *ds)
{
    pitr_sha256_release(&ds->h);
    pitr_free(ds->name);
    ds->name = NULL;
}

static pitr_rc ds_open(struct pitr_sink *s, const char *key, struct pitr_err *err)
{
    struct digest_sink *ds = (struct digest_sink *)s;
    const char *slash = strrchr(key, '/');
    pitr_rc rc;

    ds_drop(ds);
    rc = pitr_sha256_init(&ds->h, err);
    if (rc == PITR_OK)
        rc = pitr_sink_open(ds->inner, key, err);
    if (rc != PITR_OK) {
        pitr_sha256_release(&ds->h);
        return rc;
    }
    ds->name = pitr_strdup(slash != NULL ? slash + 1 : key);
    ds->size = 0;
    return PITR_OK;
}

static pitr_rc ds_write(struct pitr_sink *s, const void *p, size_t n, struct pitr_err *err)
{
    struct digest_sink *ds = (struct digest_sink *)s;
    pitr_rc rc = pitr_sink_write(ds->inner, p, n, err);

    if (rc == PITR_OK && ds->name != NULL) {
        rc = pitr_sha256_update(&ds->h, p, n, err);
        ds->size += n;
    }
    return rc;
}

static pitr_rc ds_commit(struct pitr_sink *s, struct pitr_err *err)
{
    struct digest_sink *ds = (struct digest_sink *)s;
    unsigned char md[PITR_SHA256_LEN];
    pitr_rc rc = pitr_sink_commit(ds->inner, err);

    if (rc == PITR_OK && ds->name != NULL)
        rc = pitr_sha256_final(&ds->h, md, err);
    if (rc == PITR_OK && ds->name != NULL) {
        struct pitr_sink_object *o;

        ds->v = pitr_realloc(ds->v, (ds->n + 1) * sizeof(*ds->v));
        o = &ds->v[ds->n++];
        o->name = ds->name;
        ds->name = NULL;
        o->size = ds->size;
        pitr_hex_encode(md, sizeof(md), o->sha256);
    }
    ds_drop(ds);
    return rc;
}

static void ds_abort(struct pitr_sink *s)
{
    struct digest_sink *ds = (struct digest_sink *)s;

    pitr_sink_abort(ds->inner);
    ds_drop(ds);
}

static void ds_free(struct pitr_sink *s)
{
    struct digest_sink *ds = (struct digest_sink *)s;

    pitr_sink_free(ds->inner);
    ds_drop(ds);
    for (size_t i = 0; i < ds->n; i++)
        pitr_free(ds->v[i].name);
    pitr_free(ds->v);
    pitr_free(ds);
}

static const struct pitr_sink_ops digest_sink_ops = {
    ds_open, ds_write, ds_commit, ds_abort, ds_free,
};

pitr_rc pitr_sink_digest_new(struct pitr_sink *inner, struct pitr_sink **out, struct pitr_err *err)
{
    struct digest_sink *ds;

    (void)err;
    ds = pitr_calloc(1, sizeof(*ds));
    ds->base.ops = &digest_sink_ops;
    ds->inner = inner;
    *out = &ds->base;
    return PITR_OK;
}

const struct pitr_sink_object *pitr_sink_digest_objects(const struct pitr_sink *s, size_t *n)
{
    const struct digest_sink *ds = (const struct digest_sink *)s;

    *n = ds->n;
    return ds->v;
}
