/*
 * client.h - an S3 client: PUT, GET (whole or a byte range), HEAD, DELETE,
 * ListObjectsV2, multipart uploads (Create, UploadPart, Complete, Abort,
 * ListMultipartUploads) and DeleteObjects.
 *
 * One client talks to one bucket over one keep-alive connection (see
 * http/http.h); it is not thread-safe. Parallel transfers use one client per
 * worker thread (pitr_s3_client_clone), each keeping its connection for the
 * worker's lifetime. Every request is signed with SigV4 and carries the real
 * SHA-256 of its payload in x-amz-content-sha256 (each part its own), unless
 * payload_signing is PITR_PAYLOAD_SIGNING_UNSIGNED and the endpoint is
 * https: then a request with a body signs "UNSIGNED-PAYLOAD" instead and
 * sends (and signs) Content-MD5, which the store checks against the body
 * (S3 and Swift s3api answer 400 BadDigest to a mismatch); TLS protects the
 * rest. Over plain http the setting is ignored with a warning: every payload
 * is hashed and signed.
 *
 * Retries: a request that fails in a way that may pass (see
 * src/s3/retry_int.h: transient network errors, 408, 429, most 5xx,
 * RequestTimeout, SlowDown) is sent again after an exponential backoff with
 * full jitter, as long as the next attempt would start within
 * retry_max_time_ms of the first; each attempt is signed anew (new
 * x-amz-date) and its body rewound. Each retry is logged at INFO with the
 * operation, the object, the attempt and the cause. Other errors fail at
 * once with the store's code and message.
 *
 * New objects (PutObject, CreateMultipartUpload) carry the configured
 * server-side encryption (x-amz-server-side-encryption and
 * x-amz-server-side-encryption-aws-kms-key-id), tags (x-amz-tagging,
 * URL-encoded; history_tags instead for "*.history" keys, compression
 * suffix or not, as
 * barman-cloud-wal-archive's --history-tags) and storage class
 * (x-amz-storage-class); all are signed.
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
#include "pgpitr/s3/creds.h"

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
    /*
     * When set, credentials come from this provider for every request (it is
     * referenced, not copied, and may refresh them); access_key, secret_key
     * and session_token are then ignored.
     */
    struct pitr_creds_provider *creds;
    const char *ca_file;        /* PEM bundle for TLS; NULL: the system store */
    long connect_timeout_ms;    /* 0: the HTTP layer's default */
    long low_speed_time_s;      /* 0: the HTTP layer's default */
    int insecure_skip_tls;      /* 1: do not verify certificates (explicit opt-out) */
    long retry_max_time_ms;     /* retry retryable failures this long; 0: one attempt */
    const char *sse;            /* "AES256", "aws:kms" or NULL: no encryption header */
    const char *sse_kms_key_id; /* with "aws:kms" only; NULL: the bucket's default key */
    const char *tags;           /* "k=v,k2=v2" or NULL; at most 10 tags */
    const char *history_tags;   /* the same, instead of tags for *.history[.<suffix>] keys */
    const char *storage_class;  /* e.g. "STANDARD_IA", or NULL */
    enum pitr_payload_signing payload_signing; /* see above; full by default (0) */
};

/* One uploaded part, for CompleteMultipartUpload. */
struct pitr_s3_part {
    unsigned number; /* 1..10000 */
    char etag[128];  /* as UploadPart answered it (quotes included) */
};

/*
 * Called once per multipart upload in progress; strings borrowed for the
 * call. initiated: when the store says it began, seconds since the epoch
 * (0: the store did not say).
 */
typedef pitr_rc (*pitr_s3_upload_fn)(const char *key,
                                     const char *upload_id,
                                     int64_t initiated,
                                     void *ud,
                                     struct pitr_err *err);

/* DeleteObjects takes at most this many keys per request. */
#define PITR_S3_DELETE_BATCH 1000

struct pitr_s3_object_info {
    uint64_t size;
    char etag[128]; /* without the surrounding quotes, or "" */
    int64_t mtime;  /* LastModified in listings, seconds since the epoch; 0: unknown (HEAD) */
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
/*
 * A new client with c's settings and credentials and a connection of its
 * own (for another thread). The caller frees it.
 */
PITR_MUST_CHECK pitr_rc pitr_s3_client_clone(const struct pitr_s3_client *c,
                                             struct pitr_s3_client **out,
                                             struct pitr_err *err);
/* The bucket name (borrowed), for messages. */
const char *pitr_s3_client_bucket(const struct pitr_s3_client *c);

/*
 * Keys per ListObjectsV2 page (max-keys) and uploads per ListMultipartUploads
 * page (max-uploads); 0 leaves the store's default (1000).
 */
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

/*
 * Append len bytes of the object starting at offset off to out (GET with
 * Range). Fewer bytes than asked (the object is shorter, or changed) fail
 * with PITR_EFORMAT; on failure out is back to its length before the call.
 */
PITR_MUST_CHECK pitr_rc pitr_s3_get_range(struct pitr_s3_client *c,
                                          const char *key,
                                          uint64_t off,
                                          size_t len,
                                          struct pitr_buf *out,
                                          struct pitr_err *err);

/* CreateMultipartUpload; *upload_id (owned by the caller) names the upload. */
PITR_MUST_CHECK pitr_rc pitr_s3_multipart_create(struct pitr_s3_client *c,
                                                 const char *key,
                                                 char **upload_id,
                                                 struct pitr_err *err);
/* UploadPart number part (1..10000) of len bytes; etag receives the answer's ETag. */
PITR_MUST_CHECK pitr_rc pitr_s3_multipart_upload_part(struct pitr_s3_client *c,
                                                      const char *key,
                                                      const char *upload_id,
                                                      unsigned part,
                                                      const void *data,
                                                      size_t len,
                                                      char etag[128],
                                                      struct pitr_err *err);
/*
 * CompleteMultipartUpload with n parts in ascending order. An answer of
 * 200 whose body is an <Error> is a failure (retried when its code says
 * the store may succeed later).
 */
PITR_MUST_CHECK pitr_rc pitr_s3_multipart_complete(struct pitr_s3_client *c,
                                                   const char *key,
                                                   const char *upload_id,
                                                   const struct pitr_s3_part *parts,
                                                   size_t n,
                                                   struct pitr_err *err);
/* AbortMultipartUpload; an upload that no longer exists is not an error. */
PITR_MUST_CHECK pitr_rc pitr_s3_multipart_abort(struct pitr_s3_client *c,
                                                const char *key,
                                                const char *upload_id,
                                                struct pitr_err *err);
/* Every multipart upload in progress whose key starts with prefix, through all pages. */
PITR_MUST_CHECK pitr_rc pitr_s3_list_uploads(struct pitr_s3_client *c,
                                             const char *prefix,
                                             pitr_s3_upload_fn fn,
                                             void *ud,
                                             struct pitr_err *err);
/*
 * Delete n keys with DeleteObjects, PITR_S3_DELETE_BATCH per request (each
 * with its Content-MD5). Missing keys count as deleted. Any key the store
 * reports as not deleted makes the call fail with PITR_ES3 naming the key(s)
 * and the store's code; the other batches are still sent.
 */
PITR_MUST_CHECK pitr_rc pitr_s3_delete_objects(struct pitr_s3_client *c,
                                               const char *const *keys,
                                               size_t n,
                                               struct pitr_err *err);

#endif
