/*
 * s3.c - the S3 storage driver: repository keys as objects under a prefix.
 *
 * Key "k" of a repository s3://bucket/prefix is the object "prefix/k"
 * ("k" when the prefix is empty). Atomicity comes from S3 itself: a PUT
 * replaces the whole object or nothing, and so does a multipart upload,
 * which only becomes visible when it is completed.
 *
 * put/get/head/list/remove run on the storage's own client (the caller's
 * thread). Streaming writers and readers run their parts and ranges on a
 * pool of cfg->jobs workers, each with its own client and kept-alive
 * connection; the pool is created on the first open_write/open_read and
 * lives as long as the storage, so consecutive transfers reuse its
 * connections. remove_many uses DeleteObjects (1,000 keys a request).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/s3/client.h"
#include "pgpitr/s3/transfer.h"
#include "pgpitr/storage/storage.h"
#include "storage/s3_int.h"

struct s3_storage {
    struct pitr_storage base;      /* first: the storage functions cast between the two */
    struct pitr_s3_client *client; /* owned */
    char *prefix;                  /* owned; "" or "some/prefix/" (with the final '/') */
    size_t prefix_len;
    struct pitr_s3_pool *pool; /* owned; created by the first streaming transfer */
    unsigned jobs;
    uint64_t part_size;
    unsigned max_parts;
};

/* The object key for a repository key; the caller pitr_free()s it. */
static char *object_key(const struct s3_storage *s, const char *key)
{
    return pitr_asprintf("%s%s", s->prefix, key);
}

static pitr_rc s3_put(struct pitr_storage *st,
                      const char *key,
                      const void *data,
                      size_t len,
                      struct pitr_err *err)
{
    struct s3_storage *s = (struct s3_storage *)st;
    char *okey = object_key(s, key);
    pitr_rc rc;

    rc = pitr_s3_put_object(s->client, okey, data, len, err);
    pitr_free(okey);
    return rc;
}

static pitr_rc s3_get(struct pitr_storage *st,
                      const char *key,
                      struct pitr_buf *out,
                      struct pitr_err *err)
{
    struct s3_storage *s = (struct s3_storage *)st;
    char *okey = object_key(s, key);
    pitr_rc rc;

    rc = pitr_s3_get_object(s->client, okey, out, err);
    pitr_free(okey);
    return rc;
}

static pitr_rc s3_head(struct pitr_storage *st,
                       const char *key,
                       struct pitr_obj_info *info,
                       struct pitr_err *err)
{
    struct s3_storage *s = (struct s3_storage *)st;
    struct pitr_s3_object_info oi;
    char *okey = object_key(s, key);
    pitr_rc rc;

    memset(info, 0, sizeof(*info));
    rc = pitr_s3_head_object(s->client, okey, &oi, err);
    pitr_free(okey);
    if (rc != PITR_OK)
        return rc;
    info->size = oi.size;
    snprintf(info->etag, sizeof(info->etag), "%s", oi.etag);
    return PITR_OK;
}

static pitr_rc s3_remove(struct pitr_storage *st, const char *key, struct pitr_err *err)
{
    struct s3_storage *s = (struct s3_storage *)st;
    char *okey = object_key(s, key);
    pitr_rc rc;

    rc = pitr_s3_delete_object(s->client, okey, err);
    pitr_free(okey);
    if (rc == PITR_ENOTFOUND) {
        pitr_err_clear(err);
        rc = PITR_OK;
    }
    return rc;
}

/*
 * The listing prefix starts with the storage prefix, so every listed key
 * does too; false (with *err set) when the store returned one that does not.
 */
static int under_prefix(const struct s3_storage *s, const char *okey, struct pitr_err *err)
{
    if (strncmp(okey, s->prefix, s->prefix_len) == 0)
        return 1;
    pitr_err_set(
      err, PITR_ES3, "LIST '%s': the store returned '%s', outside the prefix", s->base.url, okey);
    return 0;
}

struct list_ctx {
    const struct s3_storage *s;
    pitr_storage_list_fn fn;
    void *ud;
};

static pitr_rc on_object(const char *okey,
                         const struct pitr_s3_object_info *oi,
                         void *ud,
                         struct pitr_err *err)
{
    struct list_ctx *ctx = ud;
    struct pitr_obj_info info;

    /* Writers' lease objects are ours, not the caller's (like posix temp files). */
    if (pitr_fs_is_temp_name(okey))
        return PITR_OK;
    if (!under_prefix(ctx->s, okey, err))
        return PITR_ES3;
    memset(&info, 0, sizeof(info));
    info.size = oi->size;
    snprintf(info.etag, sizeof(info.etag), "%s", oi->etag);
    return ctx->fn(okey + ctx->s->prefix_len, &info, ctx->ud, err);
}

static pitr_rc s3_list(struct pitr_storage *st,
                       const char *prefix,
                       pitr_storage_list_fn fn,
                       void *ud,
                       struct pitr_err *err)
{
    struct s3_storage *s = (struct s3_storage *)st;
    struct list_ctx ctx = { s, fn, ud };
    char *oprefix = object_key(s, prefix ? prefix : "");
    pitr_rc rc;

    rc = pitr_s3_list_objects(s->client, oprefix, on_object, &ctx, err);
    pitr_free(oprefix);
    return rc;
}

static pitr_rc s3_remove_many(struct pitr_storage *st,
                              const char *const *keys,
                              size_t n,
                              struct pitr_err *err)
{
    struct s3_storage *s = (struct s3_storage *)st;
    char **okeys = pitr_calloc(n, sizeof(*okeys));
    size_t i;
    pitr_rc rc;

    for (i = 0; i < n; i++)
        okeys[i] = object_key(s, keys[i]);
    rc = pitr_s3_delete_objects(s->client, (const char *const *)okeys, n, err);
    for (i = 0; i < n; i++)
        pitr_free(okeys[i]);
    pitr_free(okeys);
    return rc;
}

static pitr_rc need_pool(struct s3_storage *s, struct pitr_err *err)
{
    if (s->pool != NULL)
        return PITR_OK;
    return pitr_s3_pool_new(s->client, s->jobs, &s->pool, err);
}

struct s3_writer {
    struct pitr_storage_writer base; /* first */
    struct pitr_s3_writer *w;        /* owned */
};

static pitr_rc s3_writer_write(struct pitr_storage_writer *base,
                               const void *p,
                               size_t n,
                               struct pitr_err *err)
{
    return pitr_s3_writer_write(((struct s3_writer *)base)->w, p, n, err);
}

static pitr_rc s3_writer_commit(struct pitr_storage_writer *base, struct pitr_err *err)
{
    struct s3_writer *sw = (struct s3_writer *)base;
    pitr_rc rc = pitr_s3_writer_commit(sw->w, err);

    pitr_free(sw);
    return rc;
}

static void s3_writer_abort(struct pitr_storage_writer *base)
{
    struct s3_writer *sw = (struct s3_writer *)base;

    pitr_s3_writer_abort(sw->w);
    pitr_free(sw);
}

static const struct pitr_storage_writer_ops s3_writer_ops = {
    .write = s3_writer_write,
    .commit = s3_writer_commit,
    .abort = s3_writer_abort,
};

static pitr_rc s3_open_write(struct pitr_storage *st,
                             const char *key,
                             struct pitr_storage_writer **out,
                             struct pitr_err *err)
{
    struct s3_storage *s = (struct s3_storage *)st;
    struct pitr_s3_writer_opts o;
    struct s3_writer *sw;
    char *okey, *lease;
    pitr_rc rc;

    rc = need_pool(s, err);
    if (rc != PITR_OK)
        return rc;
    memset(&o, 0, sizeof(o));
    o.part_size = s->part_size;
    o.max_parts = s->max_parts;
    o.max_size = st->write_limit;
    sw = pitr_calloc(1, sizeof(*sw));
    sw->base.ops = &s3_writer_ops;
    okey = object_key(s, key);
    lease = pitr_fs_temp_path(okey);
    o.lease_key = lease;
    rc = pitr_s3_writer_open(s->client, s->pool, okey, &o, &sw->w, err);
    pitr_free(lease);
    pitr_free(okey);
    if (rc != PITR_OK) {
        pitr_free(sw);
        return rc;
    }
    *out = &sw->base;
    return PITR_OK;
}

struct s3_reader {
    struct pitr_storage_reader base; /* first */
    struct pitr_s3_reader *r;        /* owned */
};

static pitr_rc s3_reader_read(struct pitr_storage_reader *base,
                              void *p,
                              size_t cap,
                              size_t *got,
                              struct pitr_err *err)
{
    return pitr_s3_reader_read(((struct s3_reader *)base)->r, p, cap, got, err);
}

static void s3_reader_close(struct pitr_storage_reader *base)
{
    struct s3_reader *sr = (struct s3_reader *)base;

    pitr_s3_reader_close(sr->r);
    pitr_free(sr);
}

static const struct pitr_storage_reader_ops s3_reader_ops = {
    .read = s3_reader_read,
    .close = s3_reader_close,
};

static pitr_rc s3_open_read(struct pitr_storage *st,
                            const char *key,
                            uint64_t offset,
                            uint64_t length,
                            struct pitr_storage_reader **out,
                            struct pitr_err *err)
{
    struct s3_storage *s = (struct s3_storage *)st;
    struct pitr_s3_reader_opts o;
    struct s3_reader *sr;
    char *okey;
    pitr_rc rc;

    rc = need_pool(s, err);
    if (rc != PITR_OK)
        return rc;
    memset(&o, 0, sizeof(o));
    o.offset = offset;
    o.length = length;
    /* The reader's default read-ahead: its memory does not follow part-size. */
    sr = pitr_calloc(1, sizeof(*sr));
    sr->base.ops = &s3_reader_ops;
    okey = object_key(s, key);
    rc = pitr_s3_reader_open(s->client, s->pool, okey, &o, &sr->r, err);
    pitr_free(okey);
    if (rc != PITR_OK) {
        pitr_free(sr);
        return rc;
    }
    sr->base.object_size = pitr_s3_reader_object_size(sr->r);
    *out = &sr->base;
    return PITR_OK;
}

/* ---- cleanup: multipart uploads dead writers left -------------------------- */

struct lease {
    char *okey; /* owned */
    int stale;
};

struct upload {
    char *okey;      /* owned */
    char *upload_id; /* owned */
    int64_t initiated;
};

struct cleanup_ctx {
    time_t now;
    struct lease *leases; /* owned; n_leases of them */
    size_t n_leases, cap_leases;
    struct upload *uploads; /* owned; n_uploads of them */
    size_t n_uploads, cap_uploads;
};

/* Bounds what one cleanup holds in memory; the rest waits for the next run. */
#define CLEANUP_MAX_ENTRIES 100000

static pitr_rc on_lease(const char *okey,
                        const struct pitr_s3_object_info *oi,
                        void *ud,
                        struct pitr_err *err)
{
    struct cleanup_ctx *x = ud;

    (void)err;
    if (!pitr_fs_is_temp_name(okey) || x->n_leases >= CLEANUP_MAX_ENTRIES)
        return PITR_OK;
    if (x->n_leases == x->cap_leases) {
        x->cap_leases = x->cap_leases ? 2 * x->cap_leases : 16;
        x->leases = pitr_realloc(x->leases, x->cap_leases * sizeof(*x->leases));
    }
    x->leases[x->n_leases].okey = pitr_strdup(okey);
    /* No LastModified (0): judged by host and process alone, as if new. */
    x->leases[x->n_leases].stale =
      pitr_fs_temp_is_stale(okey, oi->mtime ? (time_t)oi->mtime : x->now, x->now);
    x->n_leases++;
    return PITR_OK;
}

static pitr_rc on_upload(const char *okey,
                         const char *upload_id,
                         int64_t initiated,
                         void *ud,
                         struct pitr_err *err)
{
    struct cleanup_ctx *x = ud;

    (void)err;
    if (x->n_uploads >= CLEANUP_MAX_ENTRIES)
        return PITR_OK;
    if (x->n_uploads == x->cap_uploads) {
        x->cap_uploads = x->cap_uploads ? 2 * x->cap_uploads : 16;
        x->uploads = pitr_realloc(x->uploads, x->cap_uploads * sizeof(*x->uploads));
    }
    x->uploads[x->n_uploads].okey = pitr_strdup(okey);
    x->uploads[x->n_uploads].upload_id = pitr_strdup(upload_id);
    x->uploads[x->n_uploads].initiated = initiated;
    x->n_uploads++;
    return PITR_OK;
}

/*
 * Whether the upload u was left by a writer that is gone, and why (for the
 * log): its leases all name dead writers, or it has none (a writer that
 * keeps no lease: another tool, or an older pgpitr) and is older than
 * PITR_FS_TEMP_MAX_AGE. One live lease keeps it.
 */
static int upload_is_dead(const struct cleanup_ctx *x, const struct upload *u, const char **why)
{
    size_t klen = strlen(u->okey), i;
    int leases = 0;

    for (i = 0; i < x->n_leases; i++) {
        const struct lease *l = &x->leases[i];

        if (pitr_fs_temp_base_len(l->okey) != klen || strncmp(l->okey, u->okey, klen) != 0)
            continue;
        if (!l->stale) {
            *why = "its writer is alive";
            return 0;
        }
        leases++;
    }
    if (leases > 0) {
        *why = "its writer is gone";
        return 1;
    }
    if (u->initiated != 0 && x->now - (time_t)u->initiated > PITR_FS_TEMP_MAX_AGE) {
        *why = "no lease, begun more than a day ago";
        return 1;
    }
    *why = "no lease and begun less than a day ago (another writer may still own it)";
    return 0;
}

static pitr_rc s3_cleanup(struct pitr_storage *st,
                          const char *prefix,
                          size_t *removed,
                          struct pitr_err *err)
{
    struct s3_storage *s = (struct s3_storage *)st;
    struct cleanup_ctx x;
    char *oprefix = object_key(s, prefix ? prefix : "");
    const char *bucket = pitr_s3_client_bucket(s->client);
    char **stale = NULL;
    size_t i, n_stale = 0;
    pitr_rc rc;

    *removed = 0;
    memset(&x, 0, sizeof(x));
    x.now = time(NULL);
    /* Leases first: an upload listed afterwards has its lease in this list if it has one. */
    rc = pitr_s3_list_objects(s->client, oprefix, on_lease, &x, err);
    if (rc == PITR_OK)
        rc = pitr_s3_list_uploads(s->client, oprefix, on_upload, &x, err);
    if (rc != PITR_OK)
        goto out;
    for (i = 0; i < x.n_uploads; i++) {
        const struct upload *u = &x.uploads[i];
        const char *why = "";

        if (!upload_is_dead(&x, u, &why)) {
            pitr_log_info(
              "s3: left the multipart upload of 's3://%s/%s' alone: %s", bucket, u->okey, why);
            continue;
        }
        rc = pitr_s3_multipart_abort(s->client, u->okey, u->upload_id, err);
        if (rc != PITR_OK) {
            pitr_err_prefix(err, "cleanup of '%s'", st->url);
            goto out;
        }
        pitr_log_info(
          "s3: aborted the multipart upload of 's3://%s/%s' (%s)", bucket, u->okey, why);
        (*removed)++;
    }
    /*
     * Stale leases go last, once their uploads are aborted: a run that stops
     * halfway leaves the lease that lets the next run judge the upload.
     */
    stale = pitr_calloc(x.n_leases + 1, sizeof(*stale));
    for (i = 0; i < x.n_leases; i++)
        if (x.leases[i].stale)
            stale[n_stale++] = x.leases[i].okey;
    if (n_stale > 0) {
        rc = pitr_s3_delete_objects(s->client, (const char *const *)stale, n_stale, err);
        if (rc != PITR_OK) {
            pitr_err_prefix(err, "cleanup of '%s': removing stale leases", st->url);
            goto out;
        }
        *removed += n_stale;
    }
out:
    for (i = 0; i < x.n_leases; i++)
        pitr_free(x.leases[i].okey);
    for (i = 0; i < x.n_uploads; i++) {
        pitr_free(x.uploads[i].okey);
        pitr_free(x.uploads[i].upload_id);
    }
    pitr_free(x.leases);
    pitr_free(x.uploads);
    pitr_free(stale);
    pitr_free(oprefix);
    return rc;
}

struct lease_list_ctx {
    const struct s3_storage *s;
    pitr_storage_lease_fn fn;
    void *ud;
    time_t now;
};

static pitr_rc on_listed_lease(const char *okey,
                               const struct pitr_s3_object_info *oi,
                               void *ud,
                               struct pitr_err *err)
{
    struct lease_list_ctx *ctx = ud;

    if (!pitr_fs_is_temp_name(okey))
        return PITR_OK;
    if (!under_prefix(ctx->s, okey, err))
        return PITR_ES3;
    /* The rule cleanup applies to multipart leases (see on_lease). */
    return ctx->fn(okey + ctx->s->prefix_len,
                   pitr_fs_temp_is_stale(okey, oi->mtime ? (time_t)oi->mtime : ctx->now, ctx->now),
                   ctx->ud,
                   err);
}

static pitr_rc s3_list_leases(struct pitr_storage *st,
                              const char *prefix,
                              pitr_storage_lease_fn fn,
                              void *ud,
                              struct pitr_err *err)
{
    struct s3_storage *s = (struct s3_storage *)st;
    struct lease_list_ctx ctx = { s, fn, ud, time(NULL) };
    char *oprefix = object_key(s, prefix ? prefix : "");
    pitr_rc rc;

    rc = pitr_s3_list_objects(s->client, oprefix, on_listed_lease, &ctx, err);
    pitr_free(oprefix);
    return rc;
}

static void s3_free(struct pitr_storage *st)
{
    struct s3_storage *s = (struct s3_storage *)st;

    if (s == NULL)
        return;
    pitr_s3_pool_free(s->pool);
    pitr_s3_client_free(s->client);
    pitr_free(s->prefix);
    pitr_free(s->base.url);
    pitr_free(s);
}

static const struct pitr_storage_ops s3_ops = {
    .name = "s3",
    .put = s3_put,
    .get = s3_get,
    .head = s3_head,
    .list = s3_list,
    .remove = s3_remove,
    .remove_many = s3_remove_many,
    .open_write = s3_open_write,
    .open_read = s3_open_read,
    .cleanup = s3_cleanup,
    .list_leases = s3_list_leases,
    /* s3_put is one PutObject, never a multipart upload or a lease. */
    .put_leaves_nothing = 1,
    .free = s3_free,
};

pitr_rc pitr_storage_s3_new(const struct pitr_config *cfg,
                            const char *bucket,
                            const char *prefix,
                            struct pitr_storage **out,
                            struct pitr_err *err)
{
    struct s3_storage *s = NULL;
    struct pitr_s3_client_opts opts;
    struct pitr_creds_provider *creds = NULL;
    size_t plen;
    pitr_rc rc;

    *out = NULL;
    if (bucket == NULL || bucket[0] == '\0')
        return pitr_err_set(err, PITR_EUSAGE, "no bucket in the S3 repository URL");
    /* curl would only say "unable to get local issuer certificate". */
    if (cfg->ca_file != NULL && access(cfg->ca_file, R_OK) != 0)
        return pitr_err_set_errno(
          err, PITR_EUSAGE, errno, "cannot read the CA file '%s'", cfg->ca_file);
    if (prefix == NULL)
        prefix = "";
    /* No leading slash: the objects are "prefix/key", not "/prefix/key". */
    while (prefix[0] == '/')
        prefix++;
    plen = strlen(prefix);
    while (plen > 0 && prefix[plen - 1] == '/')
        plen--;

    /* The credential chain: config/env keys, profiles, web identity, container, IMDS. */
    rc = pitr_creds_provider_new(cfg, NULL, &creds, err);
    if (rc != PITR_OK)
        return rc;
    s = pitr_calloc(1, sizeof(*s));
    s->base.ops = &s3_ops;
    s->prefix = plen > 0 ? pitr_asprintf("%.*s/", (int)plen, prefix) : pitr_strdup("");
    s->prefix_len = strlen(s->prefix);
    s->base.url = plen > 0 ? pitr_asprintf("s3://%s/%.*s", bucket, (int)plen, prefix)
                           : pitr_asprintf("s3://%s", bucket);

    memset(&opts, 0, sizeof(opts));
    opts.endpoint_url = cfg->endpoint_url;
    opts.bucket = bucket;
    opts.region = cfg->region;
    opts.url_style = cfg->url_style;
    opts.creds = creds;
    opts.ca_file = cfg->ca_file;
    opts.insecure_skip_tls = cfg->insecure_skip_tls;
    opts.retry_max_time_ms = (long)cfg->retry_max_time * 1000L;
    opts.sse = cfg->encryption;
    opts.sse_kms_key_id = cfg->sse_kms_key_id;
    opts.tags = cfg->tags;
    opts.history_tags = cfg->history_tags;
    opts.storage_class = cfg->storage_class;
    opts.payload_signing = cfg->payload_signing;
    /* A zeroed config (tests) gets the defaults pitr_config_init would set. */
    s->jobs = cfg->jobs > 0 ? (unsigned)cfg->jobs : 2;
    s->part_size = cfg->part_size > 0 ? cfg->part_size : PITR_PART_SIZE_DEFAULT;
    s->max_parts = cfg->max_parts > 0 ? (unsigned)cfg->max_parts : PITR_MAX_PARTS_LIMIT;
    rc = pitr_s3_client_new(&opts, &s->client, err);
    if (rc != PITR_OK)
        goto out;
    *out = &s->base;
    s = NULL;
out:
    pitr_creds_provider_unref(creds);
    s3_free(s ? &s->base : NULL);
    return rc;
}

void pitr_storage_s3_set_page_size(struct pitr_storage *st, unsigned n)
{
    pitr_s3_client_set_page_size(((struct s3_storage *)st)->client, n);
}

struct pitr_s3_client *pitr_storage_s3_client(struct pitr_storage *st)
{
    return ((struct s3_storage *)st)->client;
}
