/* client.c - the S3 client; see include/pgpitr/s3/client.h. */
#include "pgpitr/s3/client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/crypto/hash.h"
#include "pgpitr/http/http.h"
#include "pgpitr/s3/sigv4.h"
#include "s3/client_int.h"
#include "s3/xml_int.h"

/* Error documents are small; anything longer is cut (only Code and Message matter). */
#define ERR_BODY_LIMIT ((size_t)64 * 1024)

struct pitr_s3_client {
    struct pitr_http *http; /* owned */
    char *scheme;           /* owned; "http" or "https" */
    char *host;             /* owned; the Host header: [bucket.]host[:port] */
    char *bucket;           /* owned */
    char *region;           /* owned */
    char *access_key;       /* owned */
    char *secret_key;       /* owned; secret: wiped on free */
    char *session_token;    /* owned; secret: wiped on free, or NULL */
    int path_style;
    unsigned page_size;
};

static int empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

static void free_secret(char *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s, strlen(s));
    pitr_free(s);
}

void pitr_s3_client_free(struct pitr_s3_client *c)
{
    if (c == NULL)
        return;
    pitr_http_free(c->http);
    pitr_free(c->scheme);
    pitr_free(c->host);
    pitr_free(c->bucket);
    pitr_free(c->region);
    pitr_free(c->access_key);
    free_secret(c->secret_key);
    free_secret(c->session_token);
    pitr_free(c);
}

/* An IPv4 literal or a bracketed IPv6 literal. */
static int host_is_ip(const char *host, size_t n)
{
    char tmp[64];
    struct in_addr a4;

    if (n > 0 && host[0] == '[')
        return 1;
    if (n == 0 || n >= sizeof(tmp))
        return 0;
    memcpy(tmp, host, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET, tmp, &a4) == 1;
}

/*
 * Split "scheme://host[:port][/]" into c->scheme and the authority
 * ("host[:port]", returned owned in *authority); *path_ok says whether the
 * host calls for path style under PITR_URL_STYLE_AUTO.
 */
static pitr_rc parse_endpoint(struct pitr_s3_client *c,
                              const char *url,
                              char **authority,
                              int *auto_path,
                              struct pitr_err *err)
{
    const char *rest, *end, *host_end, *p;
    size_t host_len;

    *authority = NULL;
    if (strncasecmp(url, "https://", 8) == 0) {
        c->scheme = pitr_strdup("https");
        rest = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        c->scheme = pitr_strdup("http");
        rest = url + 7;
    } else {
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "invalid S3 endpoint '%s': expected http://host[:port] or "
                            "https://host[:port]",
                            url);
    }
    end = rest + strcspn(rest, "/?#");
    if (!(*end == '\0' || (end[0] == '/' && end[1] == '\0')))
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "invalid S3 endpoint '%s': a path, query or fragment is not supported",
                            url);
    if (memchr(rest, '@', (size_t)(end - rest)) != NULL)
        return pitr_err_set(
          err, PITR_EUSAGE, "invalid S3 endpoint: credentials in the URL are not supported");
    if (rest[0] == '[') {
        host_end = memchr(rest, ']', (size_t)(end - rest));
        if (host_end == NULL)
            return pitr_err_set(err, PITR_EUSAGE, "invalid S3 endpoint '%s': unclosed '['", url);
        host_end++;
    } else {
        host_end = memchr(rest, ':', (size_t)(end - rest));
        if (host_end == NULL)
            host_end = end;
    }
    host_len = (size_t)(host_end - rest);
    if (host_len == 0 || (rest[0] == '[' && host_len <= 2))
        return pitr_err_set(err, PITR_EUSAGE, "invalid S3 endpoint '%s': no host", url);
    if (host_end != end) {
        if (*host_end != ':' || host_end + 1 == end || end - (host_end + 1) > 5)
            return pitr_err_set(err, PITR_EUSAGE, "invalid S3 endpoint '%s': bad port", url);
        for (p = host_end + 1; p < end; p++)
            if (!isdigit((unsigned char)*p))
                return pitr_err_set(err, PITR_EUSAGE, "invalid S3 endpoint '%s': bad port", url);
    }
    for (p = rest; p < host_end; p++)
        if (isspace((unsigned char)*p) || (unsigned char)*p < 0x20)
            return pitr_err_set(err, PITR_EUSAGE, "invalid S3 endpoint '%s': bad host", url);
    *auto_path = host_is_ip(rest, host_len) || memchr(rest, '.', host_len) == NULL;
    *authority = pitr_strndup(rest, (size_t)(end - rest));
    return PITR_OK;
}

pitr_rc pitr_s3_client_new(const struct pitr_s3_client_opts *opts,
                           struct pitr_s3_client **out,
                           struct pitr_err *err)
{
    struct pitr_s3_client *c = NULL;
    struct pitr_http_opts hopts;
    char *endpoint = NULL, *authority = NULL;
    int auto_path = 0;
    pitr_rc rc;

    *out = NULL;
    if (empty(opts->bucket))
        return pitr_err_set(err, PITR_EUSAGE, "no S3 bucket given");
    if (strchr(opts->bucket, '/') != NULL)
        return pitr_err_set(err, PITR_EUSAGE, "invalid S3 bucket name '%s'", opts->bucket);
    if (empty(opts->access_key) || empty(opts->secret_key))
        return pitr_err_set(
          err, PITR_EUSAGE, "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");

    c = pitr_calloc(1, sizeof(*c));
    c->bucket = pitr_strdup(opts->bucket);
    c->region = pitr_strdup(empty(opts->region) ? PITR_S3_DEFAULT_REGION : opts->region);
    c->access_key = pitr_strdup(opts->access_key);
    c->secret_key = pitr_strdup(opts->secret_key);
    c->session_token = empty(opts->session_token) ? NULL : pitr_strdup(opts->session_token);
    endpoint = empty(opts->endpoint_url) ? pitr_asprintf("https://s3.%s.amazonaws.com", c->region)
                                         : pitr_strdup(opts->endpoint_url);
    rc = parse_endpoint(c, endpoint, &authority, &auto_path, err);
    if (rc != PITR_OK)
        goto out;
    switch (opts->url_style) {
    case PITR_URL_STYLE_PATH:
        c->path_style = 1;
        break;
    case PITR_URL_STYLE_VIRTUAL:
        c->path_style = 0;
        break;
    case PITR_URL_STYLE_AUTO:
    default:
        c->path_style = auto_path;
        break;
    }
    c->host = c->path_style ? pitr_strdup(authority) : pitr_asprintf("%s.%s", c->bucket, authority);

    memset(&hopts, 0, sizeof(hopts));
    hopts.ca_file = opts->ca_file;
    hopts.connect_timeout_ms = opts->connect_timeout_ms;
    hopts.low_speed_time_s = opts->low_speed_time_s;
    rc = pitr_http_new(&hopts, &c->http, err);
    if (rc != PITR_OK)
        goto out;
    *out = c;
    c = NULL;
out:
    pitr_s3_client_free(c);
    pitr_free(endpoint);
    pitr_free(authority);
    return rc;
}

void pitr_s3_client_set_page_size(struct pitr_s3_client *c, unsigned n)
{
    c->page_size = n;
}

int pitr_s3_client_path_style(const struct pitr_s3_client *c)
{
    return c->path_style;
}

const char *pitr_s3_client_host(const struct pitr_s3_client *c)
{
    return c->host;
}

pitr_rc pitr_s3_client_target(const struct pitr_s3_client *c,
                              const char *key,
                              const char *query,
                              struct pitr_buf *path,
                              struct pitr_buf *url,
                              struct pitr_err *err)
{
    size_t start = path->len;
    pitr_rc rc = PITR_OK;

    if (c->path_style) {
        rc = pitr_buf_append_str(path, "/", err);
        if (rc == PITR_OK)
            rc = pitr_sigv4_uri_encode(c->bucket, strlen(c->bucket), 0, path, err);
        if (rc == PITR_OK && key != NULL)
            rc = pitr_buf_append_str(path, "/", err);
    } else {
        rc = pitr_buf_append_str(path, "/", err);
    }
    /* Encoded exactly once; this same string is signed and sent. */
    if (rc == PITR_OK && key != NULL)
        rc = pitr_sigv4_uri_encode(key, strlen(key), 1, path, err);
    if (rc != PITR_OK || url == NULL)
        return rc;
    rc = pitr_buf_appendf(url, err, "%s://%s%s", c->scheme, c->host, path->data + start);
    if (rc == PITR_OK && !empty(query))
        rc = pitr_buf_appendf(url, err, "?%s", query);
    return rc;
}

pitr_rc pitr_s3_list_query(const char *prefix,
                           const char *token,
                           unsigned max_keys,
                           struct pitr_buf *out,
                           struct pitr_err *err)
{
    pitr_rc rc = PITR_OK;

    /* Sorted by name, as the canonical query string wants them anyway. */
    if (token != NULL) {
        rc = pitr_buf_append_str(out, "continuation-token=", err);
        if (rc == PITR_OK)
            rc = pitr_sigv4_uri_encode(token, strlen(token), 0, out, err);
        if (rc == PITR_OK)
            rc = pitr_buf_append_str(out, "&", err);
    }
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, "list-type=2", err);
    if (rc == PITR_OK && max_keys > 0)
        rc = pitr_buf_appendf(out, err, "&max-keys=%u", max_keys);
    if (rc == PITR_OK && !empty(prefix)) {
        rc = pitr_buf_append_str(out, "&prefix=", err);
        if (rc == PITR_OK)
            rc = pitr_sigv4_uri_encode(prefix, strlen(prefix), 0, out, err);
    }
    return rc;
}

static const char *status_text(long status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 416:
        return "Range Not Satisfiable";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "HTTP error";
    }
}

pitr_rc pitr_s3_error_from_response(const char *op,
                                    const char *bucket,
                                    const char *key,
                                    long status,
                                    const char *body,
                                    size_t len,
                                    struct pitr_err *err)
{
    struct pitr_s3_error_doc doc;
    struct pitr_err ignored;
    pitr_rc rc = PITR_ES3;
    const char *code;

    memset(&doc, 0, sizeof(doc));
    if (len > 0 && pitr_s3_xml_parse_error(body, len, &doc, &ignored) != PITR_OK)
        memset(&doc, 0, sizeof(doc));
    code = doc.code;
    if (status == 404 && (code[0] == '\0' || strcmp(code, "NoSuchKey") == 0))
        rc = PITR_ENOTFOUND;
    else if (status == 403 &&
             (code[0] == '\0' || strcmp(code, "SignatureDoesNotMatch") == 0 ||
              strcmp(code, "InvalidAccessKeyId") == 0 || strcmp(code, "AccessDenied") == 0))
        rc = PITR_EAUTH;

    if (code[0] != '\0' && doc.message[0] != '\0')
        pitr_err_set(err,
                     rc,
                     "%s 's3://%s/%s': %ld %s: %s",
                     op,
                     bucket,
                     key ? key : "",
                     status,
                     code,
                     doc.message);
    else if (code[0] != '\0')
        pitr_err_set(err, rc, "%s 's3://%s/%s': %ld %s", op, bucket, key ? key : "", status, code);
    else
        pitr_err_set(err,
                     rc,
                     "%s 's3://%s/%s': %ld %s",
                     op,
                     bucket,
                     key ? key : "",
                     status,
                     status_text(status));
    if (rc == PITR_EAUTH && strcmp(code, "SignatureDoesNotMatch") == 0) {
        size_t used = strlen(err->msg);

        snprintf(err->msg + used,
                 sizeof(err->msg) - used,
                 "\nHINT: check the secret key, and that this machine's clock is right");
    }
    err->http_status = status;
    snprintf(err->s3_code, sizeof(err->s3_code), "%s", code);
    return rc;
}

/* The parts of one signed request. */
struct s3_call {
    const char *method;
    const char *op;    /* for messages: "PUT", "LIST", ... */
    const char *key;   /* the object; NULL for the bucket itself */
    const char *name;  /* what messages name after the bucket; NULL: key */
    const char *query; /* NULL or encoded and sorted */
    const void *body;  /* NULL for none */
    size_t body_len;
    struct pitr_buf *resp_body; /* 2xx body, or NULL to drop it */
};

static pitr_rc s3_call(struct pitr_s3_client *c,
                       const struct s3_call *call,
                       struct pitr_http_response *resp,
                       struct pitr_err *err)
{
    struct pitr_buf path, url, auth, err_body;
    struct pitr_http_header headers[6];
    struct pitr_sigv4_request sreq;
    struct pitr_sigv4_params sp;
    struct pitr_http_request hreq;
    char payload_hash[PITR_SHA256_HEX_LEN + 1];
    char amz_date[17];
    const char *name = call->name ? call->name : (call->key ? call->key : "");
    size_t n = 0;
    pitr_rc rc;

    pitr_buf_init(&path, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&url, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&auth, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&err_body, ERR_BODY_LIMIT);

    rc = pitr_s3_client_target(c, call->key, call->query, &path, &url, err);
    if (rc != PITR_OK)
        goto out;
    rc = pitr_sha256_hex(call->body ? call->body : "", call->body_len, payload_hash, err);
    if (rc != PITR_OK)
        goto out;

    memset(&sp, 0, sizeof(sp));
    sp.access_key = c->access_key;
    sp.secret_key = c->secret_key;
    sp.session_token = c->session_token;
    sp.region = c->region;
    sp.service = "s3";
    sp.when = time(NULL);
    sp.normalize_path = 0;
    pitr_sigv4_amz_date(sp.when, amz_date);

    headers[n++] = (struct pitr_http_header){ "Host", c->host };
    headers[n++] = (struct pitr_http_header){ "x-amz-content-sha256", payload_hash };
    headers[n++] = (struct pitr_http_header){ "x-amz-date", amz_date };
    if (c->session_token != NULL)
        headers[n++] = (struct pitr_http_header){ "x-amz-security-token", c->session_token };

    memset(&sreq, 0, sizeof(sreq));
    sreq.method = call->method;
    sreq.path = path.data;
    sreq.query = call->query;
    sreq.headers = headers;
    sreq.n_headers = n;
    sreq.payload_hash = payload_hash;
    rc = pitr_sigv4_authorization(&sreq, &sp, &auth, err);
    if (rc != PITR_OK)
        goto out;
    headers[n++] = (struct pitr_http_header){ "Authorization", auth.data };

    memset(&hreq, 0, sizeof(hreq));
    hreq.method = call->method;
    hreq.url = url.data;
    hreq.headers = headers;
    hreq.n_headers = n;
    hreq.body = call->body;
    hreq.body_len = call->body_len;
    hreq.resp_body = call->resp_body;
    hreq.err_body = &err_body;
    rc = pitr_http_perform(c->http, &hreq, resp, err);
    if (rc != PITR_OK) {
        pitr_err_prefix(err, "%s 's3://%s/%s'", call->op, c->bucket, name);
        goto out;
    }
    if (resp->status < 200 || resp->status > 299) {
        rc = pitr_s3_error_from_response(
          call->op, c->bucket, name, resp->status, err_body.data, err_body.len, err);
        if (resp->request_id[0] != '\0')
            pitr_log_debug("s3: %s request id %s", call->op, resp->request_id);
    }
out:
    pitr_buf_release(&path);
    pitr_buf_release(&url);
    pitr_buf_release_secure(&auth);
    pitr_buf_release(&err_body);
    return rc;
}

static pitr_rc check_key(const char *op,
                         const struct pitr_s3_client *c,
                         const char *key,
                         struct pitr_err *err)
{
    if (empty(key))
        return pitr_err_set(err, PITR_EUSAGE, "%s 's3://%s/': empty object key", op, c->bucket);
    if (strlen(key) > PITR_S3_KEY_MAX)
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "%s 's3://%s/%.64s...': key longer than %d bytes",
                            op,
                            c->bucket,
                            key,
                            PITR_S3_KEY_MAX);
    return PITR_OK;
}

pitr_rc pitr_s3_put_object(struct pitr_s3_client *c,
                           const char *key,
                           const void *data,
                           size_t len,
                           struct pitr_err *err)
{
    struct s3_call call = { "PUT", "PUT", key, NULL, NULL, data ? data : "", len, NULL };
    struct pitr_http_response resp;
    pitr_rc rc;

    rc = check_key("PUT", c, key, err);
    if (rc != PITR_OK)
        return rc;
    return s3_call(c, &call, &resp, err);
}

pitr_rc pitr_s3_get_object(struct pitr_s3_client *c,
                           const char *key,
                           struct pitr_buf *out,
                           struct pitr_err *err)
{
    struct s3_call call = { "GET", "GET", key, NULL, NULL, NULL, 0, out };
    struct pitr_http_response resp;
    size_t start = out->len;
    pitr_rc rc;

    rc = check_key("GET", c, key, err);
    if (rc != PITR_OK)
        return rc;
    rc = s3_call(c, &call, &resp, err);
    if (rc != PITR_OK && out->len > start) {
        out->len = start;
        out->data[start] = '\0';
    }
    return rc;
}

static void copy_etag(char *dst, size_t size, const char *etag)
{
    size_t n = strlen(etag);

    if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') {
        etag++;
        n -= 2;
    }
    if (n >= size)
        n = size - 1;
    memcpy(dst, etag, n);
    dst[n] = '\0';
}

pitr_rc pitr_s3_head_object(struct pitr_s3_client *c,
                            const char *key,
                            struct pitr_s3_object_info *info,
                            struct pitr_err *err)
{
    struct s3_call call = { "HEAD", "HEAD", key, NULL, NULL, NULL, 0, NULL };
    struct pitr_http_response resp;
    pitr_rc rc;

    memset(info, 0, sizeof(*info));
    rc = check_key("HEAD", c, key, err);
    if (rc != PITR_OK)
        return rc;
    rc = s3_call(c, &call, &resp, err);
    if (rc != PITR_OK)
        return rc;
    if (resp.content_length < 0)
        return pitr_err_set(
          err, PITR_ES3, "HEAD 's3://%s/%s': no Content-Length in the answer", c->bucket, key);
    info->size = (uint64_t)resp.content_length;
    copy_etag(info->etag, sizeof(info->etag), resp.etag);
    return PITR_OK;
}

pitr_rc pitr_s3_delete_object(struct pitr_s3_client *c, const char *key, struct pitr_err *err)
{
    struct s3_call call = { "DELETE", "DELETE", key, NULL, NULL, NULL, 0, NULL };
    struct pitr_http_response resp;
    pitr_rc rc;

    rc = check_key("DELETE", c, key, err);
    if (rc != PITR_OK)
        return rc;
    return s3_call(c, &call, &resp, err);
}

pitr_rc pitr_s3_list_objects(struct pitr_s3_client *c,
                             const char *prefix,
                             pitr_s3_list_fn fn,
                             void *ud,
                             struct pitr_err *err)
{
    struct pitr_s3_list_page page;
    struct pitr_buf query, body;
    struct pitr_http_response resp;
    struct pitr_s3_object_info info;
    const char *msg_key = prefix ? prefix : "";
    struct s3_call call = { "GET", "LIST", NULL, msg_key, NULL, NULL, 0, NULL };
    char *token = NULL, *last = NULL;
    size_t i;
    pitr_rc rc = PITR_OK;

    pitr_s3_list_page_init(&page);
    pitr_buf_init(&query, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&body, PITR_S3_XML_MAX_INPUT);
    for (;;) {
        pitr_buf_reset(&query);
        pitr_buf_reset(&body);
        pitr_s3_list_page_release(&page);
        rc = pitr_s3_list_query(prefix, token, c->page_size, &query, err);
        if (rc != PITR_OK)
            goto out;
        call.query = query.data;
        call.resp_body = &body;
        rc = s3_call(c, &call, &resp, err);
        if (rc != PITR_OK)
            goto out;
        rc = pitr_s3_xml_parse_list(body.data, body.len, &page, err);
        if (rc != PITR_OK) {
            pitr_err_prefix(err, "LIST 's3://%s/%s'", c->bucket, msg_key);
            goto out;
        }
        for (i = 0; i < page.n; i++) {
            /* Callers rely on ascending order (and on no key twice). */
            if (last != NULL && strcmp(last, page.entries[i].key) >= 0) {
                rc = pitr_err_set(err,
                                  PITR_ES3,
                                  "LIST 's3://%s/%s': keys out of order ('%s' after '%s')",
                                  c->bucket,
                                  msg_key,
                                  page.entries[i].key,
                                  last);
                goto out;
            }
            pitr_free(last);
            last = pitr_strdup(page.entries[i].key);
            info.size = page.entries[i].size;
            memcpy(info.etag, page.entries[i].etag, sizeof(info.etag));
            rc = fn(page.entries[i].key, &info, ud, err);
            if (rc != PITR_OK)
                goto out;
        }
        if (!page.is_truncated)
            break;
        if (empty(page.next_token)) {
            rc = pitr_err_set(err,
                              PITR_EFORMAT,
                              "LIST 's3://%s/%s': truncated page without NextContinuationToken",
                              c->bucket,
                              msg_key);
            goto out;
        }
        pitr_free(token);
        token = page.next_token;
        page.next_token = NULL;
    }
out:
    pitr_s3_list_page_release(&page);
    pitr_buf_release(&query);
    pitr_buf_release(&body);
    pitr_free(token);
    pitr_free(last);
    return rc;
}
