/* storage.c - repository URL parsing and driver dispatch; see storage/storage.h. */
#include "pgpitr/storage/storage.h"

#include <string.h>

#include "pgpitr/core/config.h"
#include "pgpitr/core/mem.h"

pitr_rc pitr_storage_open(const struct pitr_config *cfg,
                          struct pitr_storage **out,
                          struct pitr_err *err)
{
    const char *url = cfg->repo;
    char *bucket = NULL;
    const char *rest, *slash;
    pitr_rc rc;

    *out = NULL;
    if (url == NULL || *url == '\0')
        return pitr_err_set(err, PITR_EUSAGE, "no repository: set --repo or PGPITR_REPO");
    if (strncmp(url, "file://", 7) == 0) {
        rest = url + 7;
        if (rest[0] != '/' || rest[1] == '\0')
            return pitr_err_set(err,
                                PITR_EUSAGE,
                                "malformed repository URL '%s': a file:// URL needs an absolute "
                                "path, as in file:///var/lib/pgpitr",
                                url);
        return pitr_storage_posix_new(rest, out, err);
    }
    if (strncmp(url, "s3://", 5) == 0) {
        rest = url + 5;
        slash = strchr(rest, '/');
        bucket = slash ? pitr_strndup(rest, (size_t)(slash - rest)) : pitr_strdup(rest);
        if (*bucket == '\0') {
            pitr_free(bucket);
            return pitr_err_set(err,
                                PITR_EUSAGE,
                                "malformed repository URL '%s': no bucket, expected "
                                "s3://bucket[/prefix]",
                                url);
        }
        rc = pitr_storage_s3_new(cfg, bucket, slash ? slash + 1 : "", out, err);
        pitr_free(bucket);
        return rc;
    }
    return pitr_err_set(err,
                        PITR_EUSAGE,
                        "malformed repository URL '%s': expected file:///path or "
                        "s3://bucket[/prefix]",
                        url);
}

void pitr_storage_set_write_limit(struct pitr_storage *st, uint64_t bytes)
{
    st->write_limit = bytes;
}

void pitr_storage_free(struct pitr_storage *st)
{
    if (st != NULL)
        st->ops->free(st);
}

pitr_rc pitr_storage_put(struct pitr_storage *st,
                         const char *key,
                         const void *data,
                         size_t len,
                         struct pitr_err *err)
{
    return st->ops->put(st, key, data, len, err);
}

pitr_rc pitr_storage_get(struct pitr_storage *st,
                         const char *key,
                         struct pitr_buf *out,
                         struct pitr_err *err)
{
    return st->ops->get(st, key, out, err);
}

pitr_rc pitr_storage_get_max(struct pitr_storage *st,
                             const char *key,
                             uint64_t max,
                             struct pitr_buf *out,
                             struct pitr_err *err)
{
    size_t limit = out->limit;
    pitr_rc rc;

    /* The drivers bound a get by out's room: lend them a smaller room for the call. */
    if (max < limit - out->len)
        out->limit = out->len + (size_t)max;
    rc = st->ops->get(st, key, out, err);
    out->limit = limit;
    return rc;
}

pitr_rc pitr_storage_head(struct pitr_storage *st,
                          const char *key,
                          struct pitr_obj_info *info,
                          struct pitr_err *err)
{
    return st->ops->head(st, key, info, err);
}

pitr_rc pitr_storage_list(struct pitr_storage *st,
                          const char *prefix,
                          pitr_storage_list_fn fn,
                          void *ud,
                          struct pitr_err *err)
{
    return st->ops->list(st, prefix, fn, ud, err);
}

pitr_rc pitr_storage_remove(struct pitr_storage *st, const char *key, struct pitr_err *err)
{
    return st->ops->remove(st, key, err);
}

pitr_rc pitr_storage_remove_many(struct pitr_storage *st,
                                 const char *const *keys,
                                 size_t n,
                                 struct pitr_err *err)
{
    if (n == 0)
        return PITR_OK;
    return st->ops->remove_many(st, keys, n, err);
}

pitr_rc pitr_storage_open_write(struct pitr_storage *st,
                                const char *key,
                                struct pitr_storage_writer **out,
                                struct pitr_err *err)
{
    *out = NULL;
    return st->ops->open_write(st, key, out, err);
}

pitr_rc pitr_storage_writer_write(struct pitr_storage_writer *w,
                                  const void *p,
                                  size_t n,
                                  struct pitr_err *err)
{
    if (n == 0)
        return PITR_OK;
    return w->ops->write(w, p, n, err);
}

pitr_rc pitr_storage_writer_commit(struct pitr_storage_writer *w, struct pitr_err *err)
{
    return w->ops->commit(w, err);
}

void pitr_storage_writer_abort(struct pitr_storage_writer *w)
{
    if (w != NULL)
        w->ops->abort(w);
}

pitr_rc pitr_storage_open_read(struct pitr_storage *st,
                               const char *key,
                               uint64_t offset,
                               uint64_t length,
                               struct pitr_storage_reader **out,
                               struct pitr_err *err)
{
    *out = NULL;
    return st->ops->open_read(st, key, offset, length, out, err);
}

pitr_rc pitr_storage_reader_read(struct pitr_storage_reader *r,
                                 void *p,
                                 size_t cap,
                                 size_t *got,
                                 struct pitr_err *err)
{
    return r->ops->read(r, p, cap, got, err);
}

void pitr_storage_reader_close(struct pitr_storage_reader *r)
{
    if (r != NULL)
        r->ops->close(r);
}

pitr_rc pitr_storage_cleanup(struct pitr_storage *st,
                             const char *prefix,
                             size_t *removed,
                             struct pitr_err *err)
{
    *removed = 0;
    if (st->ops->cleanup == NULL)
        return PITR_OK;
    return st->ops->cleanup(st, prefix, removed, err);
}

int pitr_storage_put_may_leave_temps(const struct pitr_storage *st)
{
    return !st->ops->put_leaves_nothing;
}

int pitr_storage_has_leases(const struct pitr_storage *st)
{
    return st->ops->list_leases != NULL;
}

pitr_rc pitr_storage_list_leases(struct pitr_storage *st,
                                 const char *prefix,
                                 pitr_storage_lease_fn fn,
                                 void *ud,
                                 struct pitr_err *err)
{
    if (st->ops->list_leases == NULL)
        return PITR_OK;
    return st->ops->list_leases(st, prefix, fn, ud, err);
}
