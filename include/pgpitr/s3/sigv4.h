/*
 * sigv4.h - AWS Signature Version 4, Authorization-header form.
 *
 * A pipeline of small steps over one request description, each exposed so
 * the tests can check every intermediate result against AWS's test suite:
 *   canonical request -> string to sign -> signing key -> signature ->
 *   Authorization header value.
 *
 * The signer never reads the clock or the environment: the caller passes
 * the timestamp and the credentials. Nothing here logs; the secret key and
 * the derived signing key are wiped after use.
 */
#ifndef PGPITR_S3_SIGV4_H
#define PGPITR_S3_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"
/* struct pitr_http_header: the signer and the sender share one header type. */
#include "pgpitr/http/header.h"

struct pitr_sigv4_request {
    const char *method; /* "GET", "PUT", ... */
    /*
     * The path exactly as sent on the wire, already URI-encoded by the
     * caller (S3 keys: every byte except unreserved and '/' as %XX).
     */
    const char *path;
    /* The query string as sent, without '?'; NULL or "" when none. */
    const char *query;
    /* Headers to sign, including host and x-amz-date (the caller sets them). */
    const struct pitr_http_header *headers;
    size_t n_headers;
    /* Lowercase hex SHA-256 of the body, or "UNSIGNED-PAYLOAD". */
    const char *payload_hash;
};

struct pitr_sigv4_params {
    const char *access_key;
    const char *secret_key;    /* secret */
    const char *session_token; /* NULL when none; the caller sends it as x-amz-security-token */
    const char *region;
    const char *service; /* "s3" */
    time_t when;         /* signing time, UTC seconds */
    /*
     * 0 for S3: the path is used as given (encoded once, never normalised).
     * 1 for other services: remove dot segments and duplicate slashes, then
     * encode each segment again, as AWS's generic test suite expects.
     */
    int normalize_path;
};

/* "20150830T123600Z" form of when, into out (17 bytes incl. NUL). */
void pitr_sigv4_amz_date(time_t when, char out[17]);

/* Step 1: the canonical request. Appends to out. */
PITR_MUST_CHECK pitr_rc pitr_sigv4_canonical_request(const struct pitr_sigv4_request *req,
                                                     const struct pitr_sigv4_params *p,
                                                     struct pitr_buf *out,
                                                     struct pitr_err *err);
/* Step 2: the string to sign for a canonical request. Appends to out. */
PITR_MUST_CHECK pitr_rc pitr_sigv4_string_to_sign(const char *canonical_request,
                                                  const struct pitr_sigv4_params *p,
                                                  struct pitr_buf *out,
                                                  struct pitr_err *err);
/* Step 3+4: hex signature (64 chars + NUL) of a string to sign. */
PITR_MUST_CHECK pitr_rc pitr_sigv4_signature(const char *string_to_sign,
                                             const struct pitr_sigv4_params *p,
                                             char out[65],
                                             struct pitr_err *err);
/*
 * All steps: appends the Authorization header *value*
 * ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...").
 */
PITR_MUST_CHECK pitr_rc pitr_sigv4_authorization(const struct pitr_sigv4_request *req,
                                                 const struct pitr_sigv4_params *p,
                                                 struct pitr_buf *out,
                                                 struct pitr_err *err);

/*
 * URI-encode s as S3 wants for a key: unreserved characters
 * (A-Z a-z 0-9 - . _ ~) stay, '/' stays when keep_slash, every other byte
 * becomes %XX (uppercase hex). Appends to out.
 */
PITR_MUST_CHECK pitr_rc pitr_sigv4_uri_encode(const char *s,
                                              size_t n,
                                              int keep_slash,
                                              struct pitr_buf *out,
                                              struct pitr_err *err);

#endif
