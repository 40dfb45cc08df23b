/*
 * client.h - a minimal S3 client: PUT, GET, HEAD, DELETE and ListObjectsV2.
 *
 * One client talks to one bucket over one keep-alive connection (see
 * http/http.h); it is not thread-safe. Every request is signed with SigV4
 * and carries the real SHA-256 of its payload in x-amz-content-sha256.
 * Object keys are URI-encoded once (pitr_sigv4_uri_encode, '/' kept) and
 * that same encoded path is both signed and sent.
 *
 * Addressing: path style puts the bucket in the path
 * (https://host/bucket/key), virtual-hosted style in the host name
 * (https://bucket.host/key). PITR_URL_STYLE_AUTO picks path style when the
 * endpoint host is an IP address or has no dot (localhost), virtual-hosted
 * style otherwise.
 *
 * Errors (err->http_status and err->s3_code are set when the store
 * answered): 404 NoSuchKey (or a 404 without a body, as HEAD gets) is
 * PITR_ENOTFOUND; 403 SignatureDoesNotMatch, InvalidAccessKeyId,
 * AccessDenied (or a 403 without a body) is PITR_EAUTH; any other HTTP
 * error is PITR_ES3; a transport failure is PITR_ENETWORK. Messages name the
 * operation, 's3://bucket/key' and the cause, e.g.
 *   PUT 's3://pgpitr-test/pg1/x': 403 SignatureDoesNotMatch: The request ...
 * Nothing here logs or reports the secret key or the session token.
 */
#ifndef PGPITR_S3_CLIENT_H
#define PGPITR_S3_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/err.h"

#define PITR_S3_DEFAULT_REGION "us-east-1"

/* Everything is borrowed for the call to pitr_s3_client_new(), which copies it. */
struct pitr_s3_client_opts {
    const char *endpoint_url; /* scheme://host[:port]; NULL: https://s3.<region>.amazonaws.com */
    const char *bucket;
    const char *region; /* NULL: PITR_S3_DEFAULT_REGION */
    enum pitr_url_style url_style;
    const char *access_key;
    const char *secret_key;    /* secret */
    const char *session_token; /* secret; NULL when none; sent as x-amz-security-token */
    const char *ca_file;       /* PEM bundle for TLS; NULL: the system store */
    long connect_timeout_ms;   /* 0: the HTTP layer's default */
    long low_speed_time_s;     /* 0: the HTTP layer's default */
};

struct pitr_s3_object_info {
    uint64_t size;
    char etag[128]; /* without the surrounding quotes, or "" */
};

/*
 * Called once per listed object, in the store's (ascending byte) order.
 * key is borrowed for the call. Return PITR_OK to go on; any other code
 * stops the listing and pitr_s3_list_objects() returns it.
 */
typedef pitr_rc (*pitr_s3_list_fn)(const char *key,
                                   const struct pitr_s3_object_info *info,
                                   void *ud,
                                   struct pitr_err *err);

struct pitr_s3_client;

/*
 * A new client (caller frees with pitr_s3_client_free). A malformed
 * endpoint, a missing bucket or missing credentials fail with PITR_EUSAGE.
 * No request is sent.
 */
PITR_MUST_CHECK pitr_rc pitr_s3_client_new(const struct pitr_s3_client_opts *opts,
                                           struct pitr_s3_client **out,
                                           struct pitr_err *err);
/* Wipe the credentials, close the connection, free. NULL is a no-op. */
void pitr_s3_client_free(struct pitr_s3_client *c);

/* Keys per ListObjectsV2 page (max-keys); 0 leaves the store's default (1000). */
void pitr_s3_client_set_page_size(struct pitr_s3_client *c, unsigned n);

/* Store len bytes at key (replacing any object there). */
PITR_MUST_CHECK pitr_rc pitr_s3_put_object(struct pitr_s3_client *c,
                                           const char *key,
                                           const void *data,
                                           size_t len,
                                           struct pitr_err *err);
/*
 * Append the object's bytes to out, bounded by out->limit (PITR_ELIMIT
 * beyond). On failure out is back to its length before the call.
 */
PITR_MUST_CHECK pitr_rc pitr_s3_get_object(struct pitr_s3_client *c,
                                           const char *key,
                                           struct pitr_buf *out,
                                           struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_s3_head_object(struct pitr_s3_client *c,
                                            const char *key,
                                            struct pitr_s3_object_info *info,
                                            struct pitr_err *err);
/* S3 answers 204 for a missing key as well; a 404 is still PITR_ENOTFOUND. */
PITR_MUST_CHECK pitr_rc pitr_s3_delete_object(struct pitr_s3_client *c,
                                              const char *key,
                                              struct pitr_err *err);
/* Every object whose key starts with prefix ("" or NULL: all), through all pages. */
PITR_MUST_CHECK pitr_rc pitr_s3_list_objects(struct pitr_s3_client *c,
                                             const char *prefix,
                                             pitr_s3_list_fn fn,
                                             void *ud,
                                             struct pitr_err *err);

#endif
