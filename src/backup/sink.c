/*
 * sink.c - the sink dispatchers and the interim storage sink; see
 * include/pgpitr/backup/sink.h for why it buffers a whole volume.
 */
#include "pgpitr/backup/sink.h"

#include "pgpitr/core/buf.h"
#include "pgpitr/core/mem.h"
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

struct storage_sink {
    struct pitr_sink base;
    struct pitr_storage *st; /* borrowed */
    char *key;               /* owned; NULL when nothing is open */
    struct pitr_buf vol;     /* the open volume's bytes */
};

static pitr_rc ss_open(struct pitr_sink *s, const char *key, struct pitr_err *err)
{
    struct storage_sink *ss = (struct storage_sink *)s;

    if (ss->key != NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "sink: '%s' is still open", ss->key);
    ss->key = pitr_strdup(key);
    pitr_buf_reset(&ss->vol);
    return PITR_OK;
}

static pitr_rc ss_write(struct pitr_sink *s, const void *p, size_t n, struct pitr_err *err)
{
    struct storage_sink *ss = (struct storage_sink *)s;
    pitr_rc rc;

    if (ss->key == NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "sink: write without open");
    rc = pitr_buf_append(&ss->vol, p, n, err);
    if (rc != PITR_OK)
        pitr_err_prefix(err, "cannot hold volume '%s' in memory", ss->key);
    return rc;
}

static void ss_abort(struct pitr_sink *s)
{
    struct storage_sink *ss = (struct storage_sink *)s;

    /* Nothing reached storage before commit: dropping the buffer is the abort. */
    pitr_free(ss->key);
    ss->key = NULL;
    pitr_buf_release(&ss->vol);
}

static pitr_rc ss_commit(struct pitr_sink *s, struct pitr_err *err)
{
    struct storage_sink *ss = (struct storage_sink *)s;
    pitr_rc rc;

    if (ss->key == NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "sink: commit without open");
    rc = pitr_storage_put(ss->st, ss->key, ss->vol.data, ss->vol.len, err);
    ss_abort(s); /* closed either way; a failed put stored nothing */
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
    pitr_buf_init(&ss->vol, limit > SIZE_MAX - 1 ? SIZE_MAX - 1 : (size_t)limit);
    *out = &ss->base;
    return PITR_OK;
}
