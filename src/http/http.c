/* http.c - libcurl easy-handle wrapper; see include/pgpitr/http/http.h. */
#include "pgpitr/http/http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"

#ifndef PITR_VERSION
#define PITR_VERSION "0.0.0"
#endif

struct pitr_http {
    CURL *curl;    /* owned; keeps the connection cache between requests */
    char *ca_file; /* owned, or NULL */
    int insecure_skip_tls;
    long connect_timeout_ms;
    long low_speed_time_s;
    long low_speed_limit;
    char errbuf[CURL_ERROR_SIZE];
};

/* State of one pitr_http_perform() call, shared with the curl callbacks. */
struct xfer {
    struct pitr_http *h;
    const struct pitr_http_request *req;
    struct pitr_http_response *resp;
    size_t upload_off;
    uint64_t body_seen;     /* bytes of a 2xx body delivered so far */
    pitr_rc cb_rc;          /* set when a callback aborted the transfer */
    struct pitr_err cb_err; /* its error */
};

int64_t pitr_http_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

pitr_rc pitr_http_new(const struct pitr_http_opts *opts,
                      struct pitr_http **out,
                      struct pitr_err *err)
{
    struct pitr_http *h;

    *out = NULL;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return pitr_err_set(
          err, PITR_EINTERNAL, "libcurl initialisation failed: %s", curl_easy_strerror(global_rc));
    h = pitr_calloc(1, sizeof(*h));
    h->curl = curl_easy_init();
    if (h->curl == NULL) {
        pitr_free(h);
        return pitr_err_set(err, PITR_ENOMEM, "unable to create a libcurl handle");
    }
    h->connect_timeout_ms = PITR_HTTP_CONNECT_TIMEOUT_MS_DEFAULT;
    h->low_speed_time_s = PITR_HTTP_LOW_SPEED_TIME_S_DEFAULT;
    h->low_speed_limit = PITR_HTTP_LOW_SPEED_LIMIT_DEFAULT;
    if (opts != NULL) {
        h->ca_file = pitr_strdup(opts->ca_file);
        h->insecure_skip_tls = opts->insecure_skip_tls;
        if (opts->connect_timeout_ms > 0)
            h->connect_timeout_ms = opts->connect_timeout_ms;
        if (opts->low_speed_time_s > 0)
            h->low_speed_time_s = opts->low_speed_time_s;
        if (opts->low_speed_limit > 0)
            h->low_speed_limit = opts->low_speed_limit;
    }
    *out = h;
    return PITR_OK;
}

void pitr_http_free(struct pitr_http *h)
{
    if (h == NULL)
        return;
    curl_easy_cleanup(h->curl);
    pitr_free(h->ca_file);
    pitr_free(h);
}

pitr_rc pitr_http_redact_url(const char *url, struct pitr_buf *out, struct pitr_err *err)
{
    const char *auth = strstr(url, "://");
    const char *end, *at;
    pitr_rc rc;

    if (auth == NULL)
        return pitr_buf_append_str(out, url, err);
    auth += 3;
    end = auth + strcspn(auth, "/?#");
    at = memchr(auth, '@', (size_t)(end - auth));
    if (at == NULL)
        return pitr_buf_append_str(out, url, err);
    rc = pitr_buf_append(out, url, (size_t)(auth - url), err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, "***", err);
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, at, err);
    return rc;
}

/* Copy a header value, without surrounding white space, into dst (truncating). */
static void copy_value(char *dst, size_t dst_size, const char *v, size_t n)
{
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)v[n - 1]))
        n--;
    if (n >= dst_size)
        n = dst_size - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static int header_is(const char *line, size_t n, const char *name)
{
    size_t len = strlen(name);

    return n > len && line[len] == ':' && strncasecmp(line, name, len) == 0;
}

/* Fail the transfer: a 2xx body of `bytes` (or more) is over the request's max_body. */
static size_t too_big(struct xfer *x, uint64_t bytes, int announced)
{
    struct pitr_buf url;
    struct pitr_err ignored;

    pitr_buf_init(&url, PITR_BUF_LIMIT_SMALL);
    if (pitr_http_redact_url(x->req->url, &url, &ignored) != PITR_OK)
        pitr_buf_reset(&url);
    pitr_err_set(&x->cb_err,
                 PITR_ELIMIT,
                 "%s '%s': the answer %s %llu bytes, more than the %llu allowed",
                 x->req->method,
                 url.data,
                 announced ? "announces" : "has at least",
                 (unsigned long long)bytes,
                 (unsigned long long)x->req->max_body);
    x->cb_rc = PITR_ELIMIT;
    pitr_buf_release(&url);
    return 0; /* makes curl stop */
}

static int is_2xx(struct xfer *x)
{
    long status = 0;

    curl_easy_getinfo(x->h->curl, CURLINFO_RESPONSE_CODE, &status);
    return status >= 200 && status <= 299;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nitems;
    char num[32];
    char *end;
    unsigned long long v;

    /* The end of a 2xx answer's headers: refuse a body announced too big before it comes. */
    if ((n == 2 && line[0] == '\r') || (n == 1 && line[0] == '\n')) {
        if (x->req->max_body > 0 && strcmp(x->req->method, "HEAD") != 0 &&
            x->resp->content_length >= 0 && (uint64_t)x->resp->content_length > x->req->max_body &&
            is_2xx(x))
            return too_big(x, (uint64_t)x->resp->content_length, 1);
        return n;
    }
    /* A new status line (after "100 Continue", say): forget earlier headers. */
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        x->resp->content_length = -1;
        x->resp->etag[0] = '\0';
        x->resp->request_id[0] = '\0';
    } else if (header_is(line, n, "etag")) {
        copy_value(x->resp->etag, sizeof(x->resp->etag), line + 5, n - 5);
    } else if (header_is(line, n, "x-amz-request-id")) {
        copy_value(x->resp->request_id, sizeof(x->resp->request_id), line + 17, n - 17);
    } else if (header_is(line, n, "content-length")) {
        copy_value(num, sizeof(num), line + 15, n - 15);
        v = strtoull(num, &end, 10);
        if (num[0] >= '0' && num[0] <= '9' && *end == '\0' && v <= INT64_MAX)
            x->resp->content_length = (int64_t)v;
    }
    return n;
}

/* Append what fits of p[0..n) to an error-body buffer; overflow is dropped. */
static void append_truncated(struct pitr_buf *b, const char *p, size_t n)
{
    size_t room = b->limit - b->len;
    struct pitr_err ignored;

    if (n > room)
        n = room;
    if (n > 0 && pitr_buf_append(b, p, n, &ignored) != PITR_OK)
        return;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    const struct pitr_http_request *req = x->req;
    size_t n = size * nmemb;
    long status = 0;
    pitr_rc rc = PITR_OK;

    curl_easy_getinfo(x->h->curl, CURLINFO_RESPONSE_CODE, &status);
    if (req->err_body != NULL && status >= 300) {
        append_truncated(req->err_body, p, n);
        return n;
    }
    if (req->max_body > 0 && status >= 200 && status <= 299) {
        if (n > req->max_body - x->body_seen)
            return too_big(x, x->body_seen + n, 0);
        x->body_seen += n;
    }
    if (req->resp_body != NULL)
        rc = pitr_buf_append(req->resp_body, p, n, &x->cb_err);
    else if (req->body_fn != NULL)
        rc = req->body_fn(p, n, req->body_ud, &x->cb_err);
    if (rc != PITR_OK) {
        x->cb_rc = rc;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    return n;
}

static size_t on_read(char *p, size_t size, size_t nitems, void *ud)
{
    struct xfer *x = ud;
    size_t room = size * nitems;
    size_t left = x->req->body_len - x->upload_off;

    if (room > left)
        room = left;
    if (room > 0)
        memcpy(p, (const char *)x->req->body + x->upload_off, room);
    x->upload_off += room;
    return room;
}

/* curl rewinds the body when it resends a request (e.g. on a dead reused connection). */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
    struct xfer *x = ud;

    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->req->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    x->upload_off = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* The request headers as a curl list; "Name;" sends a header with an empty value. */
static pitr_rc build_headers(const struct pitr_http_request *req,
                             int has_body,
                             struct curl_slist **out,
                             struct pitr_err *err)
{
    struct curl_slist *list = NULL, *next;
    struct pitr_buf line;
    pitr_rc rc = PITR_OK;
    size_t i;

    pitr_buf_init(&line, PITR_BUF_LIMIT_SMALL);
    for (i = 0; i < req->n_headers; i++) {
        pitr_buf_reset(&line);
        if (req->headers[i].value[0] == '\0')
            rc = pitr_buf_appendf(&line, err, "%s;", req->headers[i].name);
        else
            rc =
              pitr_buf_appendf(&line, err, "%s: %s", req->headers[i].name, req->headers[i].value);
        if (rc != PITR_OK)
            goto out;
        next = curl_slist_append(list, line.data);
        if (next == NULL) {
            rc = pitr_err_set(err, PITR_ENOMEM, "unable to build the request headers");
            goto out;
        }
        list = next;
    }
    /* An upload waits for "100 Continue" by default: one round trip more per PUT. */
    if (has_body) {
        next = curl_slist_append(list, "Expect:");
        if (next == NULL) {
            rc = pitr_err_set(err, PITR_ENOMEM, "unable to build the request headers");
            goto out;
        }
        list = next;
    }
out:
    /* The list holds copies of Authorization; line held one too. */
    pitr_buf_release_secure(&line);
    if (rc != PITR_OK) {
        curl_slist_free_all(list);
        list = NULL;
    }
    *out = list;
    return rc;
}

static pitr_rc set_options(struct pitr_http *h,
                           const struct pitr_http_request *req,
                           struct curl_slist *headers,
                           struct xfer *x,
                           struct pitr_err *err)
{
    CURL *c = h->curl;
    CURLcode cc = CURLE_OK;
    int has_body = req->body != NULL || strcmp(req->method, "PUT") == 0;

    /* Each option's failure only happens on allocation failure or a libcurl without HTTP. */
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (cc == CURLE_OK)                                                                        \
            cc = curl_easy_setopt(c, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);
    /* Send the path as given: "/./" and "/../" can be parts of an object key. */
    SET(CURLOPT_PATH_AS_IS, 1L);
    SET(CURLOPT_ERRORBUFFER, h->errbuf);
    SET(CURLOPT_USERAGENT, "pgpitr/" PITR_VERSION);
    SET(CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
    if (!req->slow_answer) {
        SET(CURLOPT_LOW_SPEED_TIME, h->low_speed_time_s);
        SET(CURLOPT_LOW_SPEED_LIMIT, h->low_speed_limit);
    }
    if (req->deadline_ms > 0) {
        int64_t left = req->deadline_ms - pitr_http_now_ms();

        SET(CURLOPT_TIMEOUT_MS, (long)(left > 1 ? left : 1));
    }
    if (h->ca_file != NULL)
        SET(CURLOPT_CAINFO, h->ca_file);
    if (h->insecure_skip_tls) {
        SET(CURLOPT_SSL_VERIFYPEER, 0L);
        SET(CURLOPT_SSL_VERIFYHOST, 0L);
    }
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, x);
    if (strcmp(req->method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (has_body) {
        SET(CURLOPT_UPLOAD, 1L);
        SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
        SET(CURLOPT_READFUNCTION, on_read);
        SET(CURLOPT_READDATA, x);
        SET(CURLOPT_SEEKFUNCTION, on_seek);
        SET(CURLOPT_SEEKDATA, x);
        if (strcmp(req->method, "PUT") != 0)
            SET(CURLOPT_CUSTOMREQUEST, req->method);
    } else if (strcmp(req->method, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else {
        SET(CURLOPT_CUSTOMREQUEST, req->method);
    }
#undef SET
    if (cc != CURLE_OK)
        return pitr_err_set(
          err, PITR_EINTERNAL, "unable to set up the request: %s", curl_easy_strerror(cc));
    return PITR_OK;
}

/* Failures a new attempt may not meet again. */
static int transient(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SEND_FAIL_REWIND:
        return 1;
    default:
        return 0;
    }
}

/* The error for a failed transfer: what failed, where, and curl's reason. */
static pitr_rc transfer_error(struct pitr_http *h,
                              const struct pitr_http_request *req,
                              CURLcode cc,
                              struct pitr_err *err)
{
    struct pitr_buf url;
    struct pitr_err ignored;
    const char *why = h->errbuf[0] != '\0' ? h->errbuf : curl_easy_strerror(cc);
    const char *what = "request failed";

    pitr_buf_init(&url, PITR_BUF_LIMIT_SMALL);
    if (pitr_http_redact_url(req->url, &url, &ignored) != PITR_OK)
        pitr_buf_reset(&url);
    switch (cc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        what = "TLS certificate verification failed (is the CA in the system store or ca-file?)";
        break;
    case CURLE_SSL_CONNECT_ERROR:
        what = "TLS handshake failed";
        break;
    case CURLE_OPERATION_TIMEDOUT:
        what = "timed out";
        if (h->errbuf[0] == '\0')
            why = "the request's deadline passed before it was sent";
        break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        what = "connection failed";
        break;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        what = "connection lost";
        break;
    default:
        break;
    }
    pitr_err_set(err, PITR_ENETWORK, "%s '%s': %s: %s", req->method, url.data, what, why);
    pitr_buf_release(&url);
    return PITR_ENETWORK;
}

pitr_rc pitr_http_perform(struct pitr_http *h,
                          const struct pitr_http_request *req,
                          struct pitr_http_response *resp,
                          struct pitr_err *err)
{
    struct curl_slist *headers = NULL;
    struct xfer x;
    CURLcode cc;
    long status = 0;
    pitr_rc rc;
    int has_body = req->body != NULL || strcmp(req->method, "PUT") == 0;

    memset(resp, 0, sizeof(*resp));
    resp->content_length = -1;
    memset(&x, 0, sizeof(x));
    x.h = h;
    x.req = req;
    x.resp = resp;
    pitr_err_clear(&x.cb_err);

    h->errbuf[0] = '\0';
    if (req->deadline_ms > 0 && pitr_http_now_ms() >= req->deadline_ms) {
        rc = transfer_error(h, req, CURLE_OPERATION_TIMEDOUT, err);
        resp->transient = 1;
        goto out;
    }
    rc = build_headers(req, has_body, &headers, err);
    if (rc != PITR_OK)
        goto out;
    /* Keeps the connection cache, forgets the previous request's options. */
    curl_easy_reset(h->curl);
    h->errbuf[0] = '\0';
    rc = set_options(h, req, headers, &x, err);
    if (rc != PITR_OK)
        goto out;

    cc = curl_easy_perform(h->curl);
    if (x.cb_rc != PITR_OK) {
        *err = x.cb_err;
        rc = x.cb_rc;
        goto out;
    }
    if (cc != CURLE_OK) {
        rc = transfer_error(h, req, cc, err);
        resp->transient = transient(cc);
        goto out;
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    resp->status = status;
    pitr_log_debug("http: %s %s -> %ld", req->method, req->url, status);
    if (pitr_log_get_level() >= PITR_LOG_DEBUG) {
        curl_off_t tc = 0, ts = 0, tp = 0, tf = 0, tt = 0;

        /* Cumulative from the start of the request, in microseconds. */
        curl_easy_getinfo(h->curl, CURLINFO_CONNECT_TIME_T, &tc);
        curl_easy_getinfo(h->curl, CURLINFO_APPCONNECT_TIME_T, &ts);
        curl_easy_getinfo(h->curl, CURLINFO_PRETRANSFER_TIME_T, &tp);
        curl_easy_getinfo(h->curl, CURLINFO_STARTTRANSFER_TIME_T, &tf);
        curl_easy_getinfo(h->curl, CURLINFO_TOTAL_TIME_T, &tt);
        pitr_log_debug("timing: http %s connect %.3f ms, tls %.3f ms, sent %.3f ms, "
                       "first byte %.3f ms, total %.3f ms",
                       req->method,
                       (double)tc / 1e3,
                       (double)ts / 1e3,
                       (double)tp / 1e3,
                       (double)tf / 1e3,
                       (double)tt / 1e3);
    }
out:
    /* Drop our pointer to the list before freeing it: the handle outlives this call. */
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    curl_slist_free_all(headers);
    return rc;
}
