/*
 * client_int.h - the S3 client's pure helpers, exposed for unit tests.
 *
 * None of these send anything: they build URLs and query strings and turn
 * an HTTP error response into a struct pitr_err.
 */
#ifndef PGPITR_S3_CLIENT_INT_H
#define PGPITR_S3_CLIENT_INT_H

#include <stddef.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"
#include "pgpitr/crypto/hash.h"
#include "pgpitr/s3/client.h"

/*
 * The most pages one listing (ListObjectsV2, ListMultipartUploads) may have:
 * 100 million keys at S3's 1,000 a page. A store that says "truncated" past
 * it, or on an empty page, or with the marker it was given, is refused.
 */
#define PITR_S3_MAX_PAGES 100000u

/*
 * The payload proof of one request: with unsigned_payload and a body
 * (len > 0), hash is "UNSIGNED-PAYLOAD" and md5 the base64 MD5 of the body
 * (the Content-MD5 value); otherwise hash is the hex SHA-256 of the body and
 * md5 is "".
 */
PITR_MUST_CHECK pitr_rc pitr_s3_payload_proof(int unsigned_payload,
                                              const void *body,
                                              size_t len,
                                              char hash[PITR_SHA256_HEX_LEN + 1],
                                              char md5[PITR_MD5_B64_LEN + 1],
                                              struct pitr_err *err);

/* True when requests with a body sign UNSIGNED-PAYLOAD (unsigned asked, https endpoint). */
int pitr_s3_client_unsigned_payload(const struct pitr_s3_client *c);

/* True when the client puts the bucket in the path (path style). */
int pitr_s3_client_path_style(const struct pitr_s3_client *c);
/* The Host header the client sends (borrowed): "host[:port]" or "bucket.host[:port]". */
const char *pitr_s3_client_host(const struct pitr_s3_client *c);

/*
 * Append to path the encoded request path for key (NULL: the bucket
 * itself), and to url (optional) the full URL with "?query" when query is
 * non-empty. path is what is signed; url is what is sent.
 */
PITR_MUST_CHECK pitr_rc pitr_s3_client_target(const struct pitr_s3_client *c,
                                              const char *key,
                                              const char *query,
                                              struct pitr_buf *path,
                                              struct pitr_buf *url,
                                              struct pitr_err *err);

/*
 * Append the ListObjectsV2 query string (parameters sorted, values
 * encoded): continuation-token (if token), list-type=2, max-keys (if
 * max_keys > 0), prefix (if non-empty).
 */
PITR_MUST_CHECK pitr_rc pitr_s3_list_query(const char *prefix,
                                           const char *token,
                                           unsigned max_keys,
                                           struct pitr_buf *out,
                                           struct pitr_err *err);

/*
 * Fill *err for an HTTP error answer to op (e.g. "PUT") on s3://bucket/key
 * (key may be NULL or ""), from its status and (possibly empty) body, and
 * return the code (see client.h for the mapping).
 */
pitr_rc pitr_s3_error_from_response(const char *op,
                                    const char *bucket,
                                    const char *key,
                                    long status,
                                    const char *body,
                                    size_t len,
                                    struct pitr_err *err);

/*
 * Append the x-amz-tagging value for tags "k=v,k2=v2": "k=v&k2=v2" with
 * each key and value URI-encoded. An empty key, a pair without '=', more
 * than 10 tags, a key over 128 or a value over 256 bytes is PITR_EUSAGE.
 */
PITR_MUST_CHECK pitr_rc pitr_s3_encode_tags(const char *tags,
                                            struct pitr_buf *out,
                                            struct pitr_err *err);

/*
 * The DeleteObjects request for n (<= PITR_S3_DELETE_BATCH) keys: the XML
 * body appended to body, and its Content-MD5 (base64 MD5) in md5.
 */
PITR_MUST_CHECK pitr_rc pitr_s3_delete_request(const char *const *keys,
                                               size_t n,
                                               struct pitr_buf *body,
                                               char md5[25],
                                               struct pitr_err *err);

/*
 * Turn a DeleteObjects answer body into a result: PITR_OK when no key
 * failed, else PITR_ES3 with a message naming the first failed keys, their
 * codes and messages, and how many failed in all.
 */
PITR_MUST_CHECK pitr_rc pitr_s3_delete_check(const char *bucket,
                                             const char *body,
                                             size_t len,
                                             size_t n_keys,
                                             struct pitr_err *err);

/*
 * Check a CompleteMultipartUpload answer body (status 2xx): PITR_OK for a
 * <CompleteMultipartUploadResult>; for an <Error> document, *err as for an
 * HTTP error (with http_status = status and s3_code set) and PITR_ES3.
 */
PITR_MUST_CHECK pitr_rc pitr_s3_complete_check(const char *bucket,
                                               const char *key,
                                               long status,
                                               const char *body,
                                               size_t len,
                                               struct pitr_err *err);

#endif
