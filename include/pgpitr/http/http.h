/*
 * http.h - a small synchronous HTTP(S) client over one libcurl easy handle.
 *
 * One struct pitr_http owns one CURL handle, so consecutive requests through
 * it reuse the same keep-alive connection (and TLS session). It is not
 * thread-safe: give each thread its own, and keep it for the thread's
 * lifetime so that no request pays for a new TLS handshake. TLS
 * certificates and host names are verified unless the caller opts out. A request body comes from
 * memory (pointer + length); the response body goes into a bounded pitr_buf or to a caller
 * callback, and the few response headers the S3 client needs (ETag, Content-Length,
 * x-amz-request-id) are captured.
 *
 * A transport failure (DNS, connect, TLS, timeout, reset) is PITR_ENETWORK
 * with curl's error text and the URL. An HTTP error status is not a failure
 * here: pitr_http_perform() returns PITR_OK and the caller looks at
 * resp->status. Nothing here logs header values: the Authorization and
 * x-amz-security-token headers pass through untouched and unlogged.
 */
#ifndef PGPITR_HTTP_HTTP_H
#define PGPITR_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"
#include "pgpitr/http/header.h"

#define PITR_HTTP_CONNECT_TIMEOUT_MS_DEFAULT 10000L
/*
 * An attempt whose transfer moves fewer than LIMIT bytes/s (both directions
 * together) for TIME seconds is cut: a stalled or trickling endpoint cannot
 * hold a connection. A few bytes a second is no legitimate transfer; calls
 * whose answer may legitimately keep the server quiet for long (S3's
 * CompleteMultipartUpload, DeleteObjects) set slow_answer and rely on their
 * deadline instead.
 */
#define PITR_HTTP_LOW_SPEED_TIME_S_DEFAULT 60L
#define PITR_HTTP_LOW_SPEED_LIMIT_DEFAULT  32L

struct pitr_http_opts {
    const char *ca_file;     /* borrowed (copied); PEM bundle, NULL for the system store */
    int insecure_skip_tls;   /* 1: no certificate or host name verification (opt-out) */
    long connect_timeout_ms; /* 0: PITR_HTTP_CONNECT_TIMEOUT_MS_DEFAULT */
    /* Abort when fewer than low_speed_limit bytes/s flow for low_speed_time_s. */
    long low_speed_time_s; /* 0: PITR_HTTP_LOW_SPEED_TIME_S_DEFAULT */
    long low_speed_limit;  /* 0: PITR_HTTP_LOW_SPEED_LIMIT_DEFAULT */
};

/*
 * Receives response body bytes as they arrive (2xx responses only when
 * err_body is set, see below). Return PITR_OK to go on; any other code
 * aborts the transfer and pitr_http_perform() returns it with *err as the
 * callback filled it.
 */
typedef pitr_rc (*pitr_http_body_fn)(const void *p, size_t n, void *ud, struct pitr_err *err);

struct pitr_http_request {
    const char *method; /* "GET", "PUT", "HEAD", "DELETE", "POST" */
    /* Full URL, already encoded. Appears in messages: must not hold secrets. */
    const char *url;
    const struct pitr_http_header *headers; /* borrowed; sent as given */
    size_t n_headers;
    const void *body; /* borrowed; NULL (and body_len 0) for no body */
    size_t body_len;
    /*
     * Where the response body goes: appended to resp_body (bounded by its
     * limit; exceeding it fails with PITR_ELIMIT), else to body_fn, else
     * discarded. When err_body is set, the body of a response with status
     * >= 300 goes there instead, so an S3 error document never lands in
     * the caller's data buffer.
     */
    struct pitr_buf *resp_body;
    pitr_http_body_fn body_fn;
    void *body_ud;
    struct pitr_buf *err_body;
    /*
     * When the whole exchange (connect, request, answer) must be over, in
     * pitr_http_now_ms() time; 0: no overall deadline (the low-speed limit
     * still applies). Passing it is PITR_ENETWORK "timed out", transient.
     */
    int64_t deadline_ms;
    /*
     * The most body bytes a 2xx answer may have; 0: no bound but resp_body's
     * limit. A Content-Length above it fails before any body byte is read,
     * and a body that grows past it (no length, or a false one) fails as
     * soon as it does, both with PITR_ELIMIT naming the URL and the bound.
     */
    uint64_t max_body;
    /*
     * 1: the server may think for long before it answers (DeleteObjects,
     * CompleteMultipartUpload send little or nothing meanwhile): no
     * low-speed cut for this request; give it a deadline instead.
     */
    int slow_answer;
};

struct pitr_http_response {
    long status;            /* HTTP status code of the final response */
    int64_t content_length; /* Content-Length header, or -1 when absent */
    char etag[128];         /* ETag header as sent (quotes included), or "" */
    char request_id[128];   /* x-amz-request-id header, or "" */
    /*
     * Set when pitr_http_perform() fails with PITR_ENETWORK for a reason that
     * may pass on a new attempt (connection refused or reset, timeout, DNS,
     * TLS handshake cut short); 0 for certificate failures and the like.
     */
    int transient;
};

struct pitr_http;

/* Milliseconds of a monotonic clock, the time base of deadline_ms. */
int64_t pitr_http_now_ms(void);

/* A new client (caller frees with pitr_http_free). opts may be NULL. */
PITR_MUST_CHECK pitr_rc pitr_http_new(const struct pitr_http_opts *opts,
                                      struct pitr_http **out,
                                      struct pitr_err *err);
/* Close the connection and free the client. NULL is a no-op. */
void pitr_http_free(struct pitr_http *h);

/*
 * Send one request and wait for the whole response. *resp is filled on
 * PITR_OK (any HTTP status). On failure *err names the method and URL.
 */
PITR_MUST_CHECK pitr_rc pitr_http_perform(struct pitr_http *h,
                                          const struct pitr_http_request *req,
                                          struct pitr_http_response *resp,
                                          struct pitr_err *err);

/*
 * Append url to out with any "user:password@" part replaced by "***@", for
 * messages and logs.
 */
PITR_MUST_CHECK pitr_rc pitr_http_redact_url(const char *url,
                                             struct pitr_buf *out,
                                             struct pitr_err *err);

#endif
