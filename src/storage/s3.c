/*
 * s3.c - the S3 storage driver: repository keys as objects under a prefix.
 *
 * Key "k" of a repository s3://bucket/prefix is the object "prefix/k"
 * ("k" when the prefix is empty). Atomicity comes from S3 itself: a PUT
 * replaces the whole object or nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/s3/client.h"
#include "pgpitr/storage/storage.h"
#include "storage/s3_int.h"

struct s3_storage {
    struct pitr_storage base;      /* first: the storage functions cast between the two */
    struct pitr_s3_client *client; /* owned */
    char *prefix;                  /* owned; "" or "some/prefix/" (with the final '/') */
    size_t prefix_len;
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

    /* The listing prefix starts with the storage prefix, so every key does too. */
    if (strncmp(okey, ctx->s->prefix, ctx->s->prefix_len) != 0)
        return pitr_err_set(err,
                            PITR_ES3,
                            "LIST '%s': the store returned '%s', outside the prefix",
                            ctx->s->base.url,
                            okey);
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

static void s3_free(struct pitr_storage *st)
{
    struct s3_storage *s = (struct s3_storage *)st;

    if (s == NULL)
        return;
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
    size_t plen;
    pitr_rc rc;

    *out = NULL;
    if (cfg->access_key == NULL || cfg->secret_key == NULL || cfg->access_key[0] == '\0' ||
        cfg->secret_key[0] == '\0')
        return pitr_err_set(
          err, PITR_EUSAGE, "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
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
    opts.access_key = cfg->access_key;
    opts.secret_key = cfg->secret_key;
    opts.session_token = cfg->session_token;
    opts.ca_file = cfg->ca_file;
    rc = pitr_s3_client_new(&opts, &s->client, err);
    if (rc != PITR_OK)
        goto out;
    *out = &s->base;
    s = NULL;
out:
    s3_free(s ? &s->base : NULL);
    return rc;
}

void pitr_storage_s3_set_page_size(struct pitr_storage *st, unsigned n)
{
    pitr_s3_client_set_page_size(((struct s3_storage *)st)->client, n);
}
