/* client.c - the S3 client; see include/pgpitr/s3/client.h. */
#include "pgpitr/s3/client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "pgpitr/core/clock.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/crypto/hash.h"
#include "pgpitr/http/http.h"
#include "pgpitr/s3/sigv4.h"
#include "s3/client_int.h"
#include "s3/retry_int.h"
#include "s3/xml_int.h"

/* Error documents are small; anything longer is cut (only Code and Message matter). */
#define ERR_BODY_LIMIT ((size_t)64 * 1024)

struct pitr_s3_client {
    struct pitr_http *http;            /* owned */
    char *scheme;                      /* owned; "http" or "https" */
    char *host;                        /* owned; the Host header: [bucket.]host[:port] */
    char *bucket;                      /* owned */
    char *region;                      /* owned */
    char *access_key;                  /* owned */
    char *secret_key;                  /* owned; secret: wiped on free */
    char *session_token;               /* owned; secret: wiped on free, or NULL */
    struct pitr_creds_provider *creds; /* a reference, or NULL: the static keys above */
    char *endpoint;                    /* owned; the endpoint URL as given (for clones) */
    char *ca_file;                     /* owned, or NULL */
    enum pitr_url_style url_style;
    int path_style;
    unsigned page_size;
    long connect_timeout_ms;
    long low_speed_time_s;
    int insecure_skip_tls;
    long retry_max_time_ms;
    uint64_t rng; /* backoff jitter */
    /* Headers for new objects (PutObject, CreateMultipartUpload). */
    char *sse;             /* owned, or NULL */
    char *sse_kms_key_id;  /* owned, or NULL */
    char *tags;            /* owned; the settings' "k=v,..." form, or NULL */
    char *tagging;         /* owned; the encoded x-amz-tagging value, or NULL */
    char *history_tags;    /* owned; the settings' form for *.history keys, or NULL */
    char *history_tagging; /* owned; its encoded value, or NULL */
    char *storage_class;   /* owned, or NULL */
    enum pitr_payload_signing payload_signing; /* as asked (for clones) */
    int unsigned_payload;                      /* asked for and the endpoint is https */
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
    pitr_creds_provider_unref(c->creds);
    pitr_free(c->access_key);
    free_secret(c->secret_key);
    free_secret(c->session_token);
    pitr_free(c->endpoint);
    pitr_free(c->ca_file);
    pitr_free(c->sse);
    pitr_free(c->sse_kms_key_id);
    pitr_free(c->tags);
    pitr_free(c->tagging);
    pitr_free(c->history_tags);
    pitr_free(c->history_tagging);
    pitr_free(c->storage_class);
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

/* Copy tags ("k=v,..." or empty: none) to *raw and their x-amz-tagging value to *encoded. */
static pitr_rc take_tags(const char *tags, char **raw, char **encoded, struct pitr_err *err)
{
    struct pitr_buf t;
    pitr_rc rc;

    if (empty(tags))
        return PITR_OK;
    pitr_buf_init(&t, PITR_BUF_LIMIT_SMALL);
    rc = pitr_s3_encode_tags(tags, &t, err);
    if (rc != PITR_OK) {
        pitr_buf_release(&t);
        return rc;
    }
    *raw = pitr_strdup(tags);
    *encoded = pitr_buf_detach(&t, NULL);
    return PITR_OK;
}

/* pitr_s3_client_new; warn: say when payload-signing = unsigned is ignored (not for clones). */
static pitr_rc client_new(const struct pitr_s3_client_opts *opts,
                          int warn,
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
    if (opts->creds == NULL && (empty(opts->access_key) || empty(opts->secret_key)))
        return pitr_err_set(
          err, PITR_EUSAGE, "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");

    if (!empty(opts->sse) && strcmp(opts->sse, "AES256") != 0 && strcmp(opts->sse, "aws:kms") != 0)
        return pitr_err_set(
          err, PITR_EUSAGE, "invalid encryption '%s': expected AES256 or aws:kms", opts->sse);
    if (!empty(opts->sse_kms_key_id) && (empty(opts->sse) || strcmp(opts->sse, "aws:kms") != 0))
        return pitr_err_set(
          err, PITR_EUSAGE, "sse-kms-key-id needs encryption aws:kms (barman-cloud's -e aws:kms)");

    c = pitr_calloc(1, sizeof(*c));
    c->bucket = pitr_strdup(opts->bucket);
    c->url_style = opts->url_style;
    c->ca_file = pitr_strdup(opts->ca_file);
    c->connect_timeout_ms = opts->connect_timeout_ms;
    c->low_speed_time_s = opts->low_speed_time_s;
    c->insecure_skip_tls = opts->insecure_skip_tls;
    c->retry_max_time_ms = opts->retry_max_time_ms;
    c->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)c;
    c->sse = empty(opts->sse) ? NULL : pitr_strdup(opts->sse);
    c->sse_kms_key_id = empty(opts->sse_kms_key_id) ? NULL : pitr_strdup(opts->sse_kms_key_id);
    c->storage_class = empty(opts->storage_class) ? NULL : pitr_strdup(opts->storage_class);
    rc = take_tags(opts->tags, &c->tags, &c->tagging, err);
    if (rc == PITR_OK)
        rc = take_tags(opts->history_tags, &c->history_tags, &c->history_tagging, err);
    if (rc != PITR_OK)
        goto out;
    c->region = pitr_strdup(empty(opts->region) ? PITR_S3_DEFAULT_REGION : opts->region);
    if (opts->creds != NULL) {
        c->creds = pitr_creds_provider_ref(opts->creds);
    } else {
        c->access_key = pitr_strdup(opts->access_key);
        c->secret_key = pitr_strdup(opts->secret_key);
        c->session_token = empty(opts->session_token) ? NULL : pitr_strdup(opts->session_token);
    }
    endpoint = empty(opts->endpoint_url) ? pitr_asprintf("https://s3.%s.amazonaws.com", c->region)
                                         : pitr_strdup(opts->endpoint_url);
    c->endpoint = pitr_strdup(endpoint);
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
    c->payload_signing = opts->payload_signing;
    if (opts->payload_signing == PITR_PAYLOAD_SIGNING_UNSIGNED) {
        /* Without TLS nothing but the signature protects the body: never unsigned there. */
        c->unsigned_payload = strcmp(c->scheme, "https") == 0;
        if (!c->unsigned_payload && warn)
            pitr_log_warn("payload-signing = unsigned is ignored for the plain-HTTP endpoint "
                          "'%s': every payload is signed with its SHA-256",
                          c->endpoint);
    }

    memset(&hopts, 0, sizeof(hopts));
    hopts.ca_file = opts->ca_file;
    hopts.insecure_skip_tls = opts->insecure_skip_tls;
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

pitr_rc pitr_s3_client_new(const struct pitr_s3_client_opts *opts,
                           struct pitr_s3_client **out,
                           struct pitr_err *err)
{
    return client_new(opts, 1, out, err);
}

pitr_rc pitr_s3_client_clone(const struct pitr_s3_client *c,
                             struct pitr_s3_client **out,
                             struct pitr_err *err)
{
    struct pitr_s3_client_opts o;
    pitr_rc rc;

    memset(&o, 0, sizeof(o));
    o.endpoint_url = c->endpoint;
    o.bucket = c->bucket;
    o.region = c->region;
    o.url_style = c->url_style;
    o.access_key = c->access_key;
    o.secret_key = c->secret_key;
    o.session_token = c->session_token;
    o.creds = c->creds;
    o.ca_file = c->ca_file;
    o.connect_timeout_ms = c->connect_timeout_ms;
    o.low_speed_time_s = c->low_speed_time_s;
    o.insecure_skip_tls = c->insecure_skip_tls;
    o.retry_max_time_ms = c->retry_max_time_ms;
    o.sse = c->sse;
    o.sse_kms_key_id = c->sse_kms_key_id;
    o.tags = c->tags;
    o.history_tags = c->history_tags;
    o.storage_class = c->storage_class;
    o.payload_signing = c->payload_signing;
    rc = client_new(&o, 0, out, err);
    if (rc == PITR_OK && *out != NULL)
        (*out)->page_size = c->page_size;
    return rc;
}

const char *pitr_s3_client_bucket(const struct pitr_s3_client *c)
{
    return c->bucket;
}

void pitr_s3_client_set_page_size(struct pitr_s3_client *c, unsigned n)
{
    c->page_size = n;
}

int pitr_s3_client_unsigned_payload(const struct pitr_s3_client *c)
{
    return c->unsigned_payload;
}

pitr_rc pitr_s3_payload_proof(int unsigned_payload,
                              const void *body,
                              size_t len,
                              char hash[PITR_SHA256_HEX_LEN + 1],
                              char md5[PITR_MD5_B64_LEN + 1],
                              struct pitr_err *err)
{
    md5[0] = '\0';
    if (unsigned_payload && len > 0) {
        snprintf(hash, PITR_SHA256_HEX_LEN + 1, "%s", "UNSIGNED-PAYLOAD");
        return pitr_md5_base64(body, len, md5, err);
    }
    return pitr_sha256_hex(body ? body : "", len, hash, err);
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
    /* Swift's s3api: "501 NotImplemented: Object tagging is not supported." */
    if (status == 501 && strstr(doc.message, "agging") != NULL) {
        size_t used = strlen(err->msg);

        snprintf(err->msg + used,
                 sizeof(err->msg) - used,
                 "\nHINT: this object store does not implement object tags; run without "
                 "--tags/--history-tags (or tags in the configuration)");
    }
    err->http_status = status;
    snprintf(err->s3_code, sizeof(err->s3_code), "%s", code);
    return rc;
}

#define MAX_EXTRA_HEADERS 8

/*
 * CompleteMultipartUpload may take minutes for a big object, DeleteObjects
 * a while for 1,000 keys (Swift's s3api took over 30 s on a busy machine);
 * both send little or nothing meanwhile. They get this much more time than
 * their bodies would, and no low-speed cut.
 */
#define COMPLETE_EXTRA_MS (15L * 60 * 1000)
#define DELETE_EXTRA_MS   (5L * 60 * 1000)

/* The size an XML answer's time allowance assumes: a 1,000-key listing page is ~300 KiB. */
#define XML_ANSWER_TIME_BYTES ((uint64_t)1024 * 1024)

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
    /* Further headers to sign and send (up to MAX_EXTRA_HEADERS). */
    const struct pitr_http_header *extra;
    size_t n_extra;
    /*
     * Optional check of a 2xx answer (resp_body filled): a failure it
     * reports is retried like an HTTP error when pitr_s3_retryable says so.
     */
    pitr_rc (*check)(struct pitr_s3_client *c,
                     const struct s3_call *call,
                     const struct pitr_http_response *resp,
                     struct pitr_err *err);
    const void *check_ud;
    /* A 2xx body larger than this fails (PITR_ELIMIT); 0: resp_body's limit alone. */
    uint64_t max_body;
    /*
     * Time this call may take beyond its deadline (see pitr_s3_deadline_ms);
     * a call given some waits for a slow answer without the low-speed cut.
     */
    long extra_ms;
};

/* One signed attempt. */
static pitr_rc s3_call_once(struct pitr_s3_client *c,
                            const struct s3_call *call,
                            int64_t deadline,
                            struct pitr_http_response *resp,
                            struct pitr_err *err)
{
    struct pitr_buf path, url, auth, err_body;
    struct pitr_http_header headers[6 + MAX_EXTRA_HEADERS];
    struct pitr_sigv4_request sreq;
    struct pitr_sigv4_params sp;
    struct pitr_http_request hreq;
    char payload_hash[PITR_SHA256_HEX_LEN + 1];
    char md5[PITR_MD5_B64_LEN + 1];
    char amz_date[17];
    const char *name = call->name ? call->name : (call->key ? call->key : "");
    struct pitr_s3_creds snap; /* secret: wiped at out */
    const char *token;
    size_t n = 0, i;
    int64_t t0 = pitr_clock_ns(), t1, t2;
    pitr_rc rc;

    memset(&snap, 0, sizeof(snap));
    memset(resp, 0, sizeof(*resp));
    pitr_buf_init(&path, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&url, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&auth, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&err_body, ERR_BODY_LIMIT);

    if (call->n_extra > MAX_EXTRA_HEADERS) {
        rc = pitr_err_set(err, PITR_EINTERNAL, "too many request headers");
        goto out;
    }
    rc = pitr_s3_client_target(c, call->key, call->query, &path, &url, err);
    if (rc != PITR_OK)
        goto out;
    rc = pitr_s3_payload_proof(
      c->unsigned_payload, call->body, call->body_len, payload_hash, md5, err);
    if (rc != PITR_OK)
        goto out;
    t1 = pitr_clock_ns();

    memset(&sp, 0, sizeof(sp));
    if (c->creds != NULL) {
        /* Fresh for every request: temporary credentials are refreshed in time. */
        rc = pitr_creds_get(c->creds, &snap, err);
        if (rc != PITR_OK) {
            pitr_err_prefix(err, "%s 's3://%s/%s'", call->op, c->bucket, name);
            goto out;
        }
        sp.access_key = snap.access_key;
        sp.secret_key = snap.secret_key;
        token = snap.session_token[0] != '\0' ? snap.session_token : NULL;
    } else {
        sp.access_key = c->access_key;
        sp.secret_key = c->secret_key;
        token = c->session_token;
    }
    sp.session_token = token;
    sp.region = c->region;
    sp.service = "s3";
    sp.when = time(NULL);
    sp.normalize_path = 0;
    pitr_sigv4_amz_date(sp.when, amz_date);

    headers[n++] = (struct pitr_http_header){ "Host", c->host };
    headers[n++] = (struct pitr_http_header){ "x-amz-content-sha256", payload_hash };
    headers[n++] = (struct pitr_http_header){ "x-amz-date", amz_date };
    if (token != NULL)
        headers[n++] = (struct pitr_http_header){ "x-amz-security-token", token };
    for (i = 0; i < call->n_extra; i++) {
        if (md5[0] != '\0' && strcasecmp(call->extra[i].name, "Content-MD5") == 0)
            md5[0] = '\0'; /* the caller's own (DeleteObjects): the same digest */
        headers[n++] = call->extra[i];
    }
    if (md5[0] != '\0')
        headers[n++] = (struct pitr_http_header){ "Content-MD5", md5 };

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
    t2 = pitr_clock_ns();

    memset(&hreq, 0, sizeof(hreq));
    hreq.method = call->method;
    hreq.url = url.data;
    hreq.headers = headers;
    hreq.n_headers = n;
    hreq.body = call->body;
    hreq.body_len = call->body_len;
    hreq.resp_body = call->resp_body;
    hreq.err_body = &err_body;
    hreq.deadline_ms = deadline;
    hreq.max_body = call->max_body;
    hreq.slow_answer = call->extra_ms > 0;
    rc = pitr_http_perform(c->http, &hreq, resp, err);
    pitr_log_debug("timing: s3 %s %zu bytes: payload-hash %.3f ms (%s), sign %.3f ms, http %.3f ms",
                   call->op,
                   call->body_len,
                   (double)(t1 - t0) / 1e6,
                   strcmp(payload_hash, "UNSIGNED-PAYLOAD") == 0 ? "unsigned+md5" : "sha256",
                   (double)(t2 - t1) / 1e6,
                   pitr_clock_ms_since(t2));
    if (rc != PITR_OK) {
        pitr_err_prefix(err, "%s 's3://%s/%s'", call->op, c->bucket, name);
        goto out;
    }
    if (resp->status < 200 || resp->status > 299) {
        rc = pitr_s3_error_from_response(
          call->op, c->bucket, name, resp->status, err_body.data, err_body.len, err);
        if (resp->request_id[0] != '\0')
            pitr_log_debug("s3: %s request id %s", call->op, resp->request_id);
    } else if (call->check != NULL) {
        rc = call->check(c, call, resp, err);
    }
out:
    pitr_buf_release(&path);
    pitr_buf_release(&url);
    pitr_buf_release_secure(&auth);
    pitr_buf_release(&err_body);
    pitr_s3_creds_clear(&snap);
    return rc;
}

/* The call ran out of time: say so, and what sets the time (rc stays the attempt's). */
static pitr_rc deadline_passed(struct pitr_err *err, unsigned attempts, long allowed_ms)
{
    size_t used = strlen(err->msg);

    snprintf(err->msg + used,
             sizeof(err->msg) - used,
             " (no answer within the request's deadline of %ld s, %u attempt%s; HINT: the deadline "
             "is --retry-max-time, at least %ld s, plus 1 s per %ld KiB sent or expected)",
             (allowed_ms + 999) / 1000,
             attempts,
             attempts == 1 ? "" : "s",
             PITR_S3_DEADLINE_MIN_MS / 1000,
             PITR_S3_MIN_RATE / 1024);
    return err->code;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        continue;
}

/*
 * s3_call_once, again after a backoff while the failure is retryable and time
 * remains; all attempts together end by the call's deadline.
 */
static pitr_rc s3_call(struct pitr_s3_client *c,
                       const struct s3_call *call,
                       struct pitr_http_response *resp,
                       struct pitr_err *err)
{
    const char *name = call->name ? call->name : (call->key ? call->key : "");
    size_t start = call->resp_body ? call->resp_body->len : 0;
    uint64_t answer = call->max_body;
    int64_t t0 = pitr_http_now_ms(), deadline;
    long budget;
    unsigned attempt;
    long wait;
    pitr_rc rc;

    /*
     * The bytes the deadline allows time for: what is sent plus what may
     * come back (an XML answer: its usual size, not the 16 MiB it may have).
     */
    if (answer == 0 && call->resp_body != NULL)
        answer = call->resp_body->limit - call->resp_body->len;
    if (call->max_body == 0 && answer > XML_ANSWER_TIME_BYTES)
        answer = XML_ANSWER_TIME_BYTES;
    budget = pitr_s3_deadline_ms(c->retry_max_time_ms, (uint64_t)call->body_len + answer);
    deadline = t0 + budget + call->extra_ms;
    for (attempt = 1;; attempt++) {
        rc = s3_call_once(c, call, deadline, resp, err);
        if (rc == PITR_OK)
            return PITR_OK;
        /* What a failed attempt appended is not part of the answer. */
        if (call->resp_body != NULL && call->resp_body->len > start) {
            call->resp_body->len = start;
            call->resp_body->data[start] = '\0';
        }
        /* curl's timer fires at the deadline, give or take a tick. */
        if (rc == PITR_ENETWORK && pitr_http_now_ms() + 250 >= deadline)
            return deadline_passed(err, attempt, budget + call->extra_ms);
        if (c->retry_max_time_ms <= 0 || !pitr_s3_retryable(err, resp->transient))
            return rc;
        wait =
          pitr_s3_backoff_ms(attempt, PITR_S3_BACKOFF_BASE_MS, PITR_S3_BACKOFF_CAP_MS, &c->rng);
        if (pitr_http_now_ms() - t0 + wait > c->retry_max_time_ms ||
            pitr_http_now_ms() + wait >= deadline) {
            size_t used = strlen(err->msg);

            snprintf(err->msg + used,
                     sizeof(err->msg) - used,
                     " (gave up after %u attempts in %ld s)",
                     attempt,
                     (long)((pitr_http_now_ms() - t0) / 1000));
            return rc;
        }
        pitr_log_info("s3: %s 's3://%s/%s' attempt %u failed, retrying in %ld ms: %s",
                      call->op,
                      c->bucket,
                      name,
                      attempt,
                      wait,
                      err->msg);
        sleep_ms(wait);
    }
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

/* Whether key names a timeline history file: "….history", or with a compression suffix. */
static int is_history_key(const char *key)
{
    const char *base = strrchr(key, '/'), *h, *p;

    base = base ? base + 1 : key;
    h = strstr(base, ".history");
    if (h == NULL)
        return 0;
    p = h + strlen(".history");
    if (*p == '\0')
        return 1;
    if (*p++ != '.' || *p == '\0')
        return 0;
    for (; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return 0;
    return 1;
}

/* The encryption, tagging and storage-class headers of new object key; returns how many. */
static size_t new_object_headers(const struct pitr_s3_client *c,
                                 const char *key,
                                 struct pitr_http_header *h)
{
    size_t n = 0;
    const char *tagging = c->tagging;

    if (c->history_tagging != NULL && is_history_key(key))
        tagging = c->history_tagging;

    if (c->sse != NULL)
        h[n++] = (struct pitr_http_header){ "x-amz-server-side-encryption", c->sse };
    if (c->sse_kms_key_id != NULL)
        h[n++] = (struct pitr_http_header){ "x-amz-server-side-encryption-aws-kms-key-id",
                                            c->sse_kms_key_id };
    if (c->storage_class != NULL)
        h[n++] = (struct pitr_http_header){ "x-amz-storage-class", c->storage_class };
    if (tagging != NULL)
        h[n++] = (struct pitr_http_header){ "x-amz-tagging", tagging };
    return n;
}

pitr_rc pitr_s3_put_object(struct pitr_s3_client *c,
                           const char *key,
                           const void *data,
                           size_t len,
                           struct pitr_err *err)
{
    struct pitr_http_header extra[MAX_EXTRA_HEADERS];
    struct s3_call call = { "PUT", "PUT", key,  NULL, NULL, data ? data : "", len, NULL, NULL,
                            0,     NULL,  NULL, 0,    0 };
    struct pitr_http_response resp;
    pitr_rc rc;

    rc = check_key("PUT", c, key, err);
    if (rc != PITR_OK)
        return rc;
    call.extra = extra;
    call.n_extra = new_object_headers(c, key, extra);
    return s3_call(c, &call, &resp, err);
}

pitr_rc pitr_s3_get_object(struct pitr_s3_client *c,
                           const char *key,
                           struct pitr_buf *out,
                           struct pitr_err *err)
{
    struct s3_call call = {
        "GET", "GET", key, NULL, NULL, NULL, 0, out, NULL, 0, NULL, NULL, 0, 0
    };
    struct pitr_http_response resp;
    size_t start = out->len;
    pitr_rc rc;

    rc = check_key("GET", c, key, err);
    if (rc != PITR_OK)
        return rc;
    /* Never more than the caller can take: a bigger object fails on its Content-Length. */
    call.max_body = out->limit - out->len;
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
    struct s3_call call = { "HEAD", "HEAD", key, NULL, NULL, NULL, 0,
                            NULL,   NULL,   0,   NULL, NULL, 0,    0 };
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
    struct s3_call call = { "DELETE", "DELETE", key, NULL, NULL, NULL, 0,
                            NULL,     NULL,     0,   NULL, NULL, 0,    0 };
    struct pitr_http_response resp;
    pitr_rc rc;

    rc = check_key("DELETE", c, key, err);
    if (rc != PITR_OK)
        return rc;
    return s3_call(c, &call, &resp, err);
}

/*
 * Whether a listing may fetch the page after a truncated one: a store that
 * says "truncated" forever must not keep us listing. Page `pages` (counted
 * from 1) held n entries; repeated is the marker or token when the page
 * handed back the one it was asked with, else NULL. An empty truncated page,
 * a repeated marker and a listing of PITR_S3_MAX_PAGES pages fail with
 * PITR_EFORMAT naming the listing.
 */
static pitr_rc check_next_page(const char *op,
                               const struct pitr_s3_client *c,
                               const char *prefix,
                               unsigned pages,
                               size_t n,
                               const char *repeated,
                               struct pitr_err *err)
{
    if (repeated != NULL)
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "%s 's3://%s/%s': page %u is truncated but hands back the same "
                            "marker '%.64s': the listing would never end",
                            op,
                            c->bucket,
                            prefix,
                            pages,
                            repeated);
    if (n == 0)
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "%s 's3://%s/%s': page %u is empty but says it is truncated: the "
                            "listing would never end",
                            op,
                            c->bucket,
                            prefix,
                            pages);
    if (pages >= PITR_S3_MAX_PAGES)
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "%s 's3://%s/%s': still truncated after %u pages, the most a listing "
                            "may have",
                            op,
                            c->bucket,
                            prefix,
                            pages);
    return PITR_OK;
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
    struct s3_call call = { "GET", "LIST", NULL, msg_key, NULL, NULL, 0,
                            NULL,  NULL,   0,    NULL,    NULL, 0,    0 };
    char *token = NULL, *last = NULL;
    size_t i;
    unsigned pages = 0;
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
            info.mtime = page.entries[i].mtime;
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
        rc = check_next_page("LIST",
                             c,
                             msg_key,
                             ++pages,
                             page.n,
                             token != NULL && strcmp(token, page.next_token) == 0 ? token : NULL,
                             err);
        if (rc != PITR_OK)
            goto out;
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

/* ---- ranged GET --------------------------------------------------------- */

struct range_ctx {
    uint64_t off;
    size_t len;
    size_t start; /* out->len before the call */
};

static pitr_rc check_range(struct pitr_s3_client *c,
                           const struct s3_call *call,
                           const struct pitr_http_response *resp,
                           struct pitr_err *err)
{
    const struct range_ctx *r = call->check_ud;
    size_t got = call->resp_body->len - r->start;

    /* A store that ignores Range answers 200 with the whole object. */
    if (resp->status != 206 && !(resp->status == 200 && r->off == 0))
        return pitr_err_set(err,
                            PITR_ES3,
                            "GET 's3://%s/%s': range request answered with status %ld",
                            c->bucket,
                            call->key,
                            resp->status);
    if (got != r->len)
        return pitr_err_set(err,
                            PITR_EFORMAT,
                            "GET 's3://%s/%s': bytes %llu-%llu: got %zu bytes, expected %zu (was "
                            "the object replaced?)",
                            c->bucket,
                            call->key,
                            (unsigned long long)r->off,
                            (unsigned long long)(r->off + r->len - 1),
                            got,
                            r->len);
    return PITR_OK;
}

pitr_rc pitr_s3_get_range(struct pitr_s3_client *c,
                          const char *key,
                          uint64_t off,
                          size_t len,
                          struct pitr_buf *out,
                          struct pitr_err *err)
{
    struct s3_call call = {
        "GET", "GET", key, NULL, NULL, NULL, 0, out, NULL, 0, NULL, NULL, 0, 0
    };
    struct pitr_http_header extra[1];
    struct pitr_http_response resp;
    struct range_ctx r = { off, len, out->len };
    char range[64];
    pitr_rc rc;

    rc = check_key("GET", c, key, err);
    if (rc != PITR_OK)
        return rc;
    if (len == 0)
        return PITR_OK;
    snprintf(range,
             sizeof(range),
             "bytes=%llu-%llu",
             (unsigned long long)off,
             (unsigned long long)(off + len - 1));
    extra[0] = (struct pitr_http_header){ "Range", range };
    call.extra = extra;
    call.n_extra = 1;
    call.check = check_range;
    call.check_ud = &r;
    call.max_body = len;
    rc = s3_call(c, &call, &resp, err);
    if (rc != PITR_OK && out->len > r.start) {
        out->len = r.start;
        out->data[r.start] = '\0';
    }
    return rc;
}

/* ---- multipart uploads -------------------------------------------------- */

/* "uploadId=<encoded id>" (plus a prefix such as "partNumber=3&"). */
static pitr_rc upload_query(const char *before,
                            const char *upload_id,
                            struct pitr_buf *q,
                            struct pitr_err *err)
{
    pitr_rc rc = pitr_buf_appendf(q, err, "%suploadId=", before);

    if (rc == PITR_OK)
        rc = pitr_sigv4_uri_encode(upload_id, strlen(upload_id), 0, q, err);
    return rc;
}

pitr_rc pitr_s3_multipart_create(struct pitr_s3_client *c,
                                 const char *key,
                                 char **upload_id,
                                 struct pitr_err *err)
{
    struct pitr_http_header extra[MAX_EXTRA_HEADERS];
    struct s3_call call = {
        "POST", "CREATE-MULTIPART", key, NULL, "uploads", "", 0, NULL, NULL, 0, NULL, NULL, 0, 0
    };
    struct pitr_http_response resp;
    struct pitr_buf body;
    pitr_rc rc;

    *upload_id = NULL;
    rc = check_key("CREATE-MULTIPART", c, key, err);
    if (rc != PITR_OK)
        return rc;
    pitr_buf_init(&body, PITR_S3_XML_MAX_INPUT);
    call.resp_body = &body;
    call.extra = extra;
    call.n_extra = new_object_headers(c, key, extra);
    rc = s3_call(c, &call, &resp, err);
    if (rc == PITR_OK) {
        rc = pitr_s3_xml_parse_initiate(body.data, body.len, upload_id, err);
        if (rc != PITR_OK)
            pitr_err_prefix(err, "CREATE-MULTIPART 's3://%s/%s'", c->bucket, key);
    }
    pitr_buf_release(&body);
    return rc;
}

pitr_rc pitr_s3_multipart_upload_part(struct pitr_s3_client *c,
                                      const char *key,
                                      const char *upload_id,
                                      unsigned part,
                                      const void *data,
                                      size_t len,
                                      char etag[128],
                                      struct pitr_err *err)
{
    struct s3_call call = {
        "PUT", "UPLOAD-PART", key,  NULL, NULL, data ? data : "", len, NULL, NULL,
        0,     NULL,          NULL, 0,    0
    };
    struct pitr_http_response resp;
    struct pitr_buf q;
    pitr_rc rc;

    etag[0] = '\0';
    rc = check_key("UPLOAD-PART", c, key, err);
    if (rc != PITR_OK)
        return rc;
    pitr_buf_init(&q, PITR_BUF_LIMIT_SMALL);
    /* Sorted: "partNumber" < "uploadId". */
    rc = pitr_buf_appendf(&q, err, "partNumber=%u&", part);
    if (rc == PITR_OK)
        rc = upload_query("", upload_id, &q, err);
    if (rc == PITR_OK) {
        call.query = q.data;
        rc = s3_call(c, &call, &resp, err);
    }
    if (rc == PITR_OK && resp.etag[0] == '\0')
        rc = pitr_err_set(err,
                          PITR_ES3,
                          "UPLOAD-PART 's3://%s/%s' part %u: no ETag in the answer",
                          c->bucket,
                          key,
                          part);
    if (rc == PITR_OK)
        snprintf(etag, 128, "%s", resp.etag);
    else
        pitr_err_prefix(err, "part %u", part);
    pitr_buf_release(&q);
    return rc;
}

pitr_rc pitr_s3_complete_check(const char *bucket,
                               const char *key,
                               long status,
                               const char *body,
                               size_t len,
                               struct pitr_err *err)
{
    struct pitr_s3_complete_result res;
    pitr_rc rc;

    rc = pitr_s3_xml_parse_complete(body, len, &res, err);
    if (rc != PITR_OK) {
        pitr_err_prefix(err, "COMPLETE-MULTIPART 's3://%s/%s'", bucket, key);
        err->http_status = status;
        return rc;
    }
    if (!res.is_error)
        return PITR_OK;
    if (res.err.message[0] != '\0')
        pitr_err_set(err,
                     PITR_ES3,
                     "COMPLETE-MULTIPART 's3://%s/%s': %ld %s: %s",
                     bucket,
                     key,
                     status,
                     res.err.code[0] ? res.err.code : "error",
                     res.err.message);
    else
        pitr_err_set(err,
                     PITR_ES3,
                     "COMPLETE-MULTIPART 's3://%s/%s': %ld %s",
                     bucket,
                     key,
                     status,
                     res.err.code[0] ? res.err.code : "error");
    err->http_status = status;
    snprintf(err->s3_code, sizeof(err->s3_code), "%s", res.err.code);
    return PITR_ES3;
}

static pitr_rc check_complete(struct pitr_s3_client *c,
                              const struct s3_call *call,
                              const struct pitr_http_response *resp,
                              struct pitr_err *err)
{
    return pitr_s3_complete_check(
      c->bucket, call->key, resp->status, call->resp_body->data, call->resp_body->len, err);
}

pitr_rc pitr_s3_multipart_complete(struct pitr_s3_client *c,
                                   const char *key,
                                   const char *upload_id,
                                   const struct pitr_s3_part *parts,
                                   size_t n,
                                   struct pitr_err *err)
{
    struct s3_call call = {
        "POST", "COMPLETE-MULTIPART", key, NULL, NULL, NULL, 0, NULL, NULL, 0, NULL, NULL, 0, 0
    };
    struct pitr_http_response resp;
    struct pitr_buf q, req, body;
    pitr_rc rc;

    rc = check_key("COMPLETE-MULTIPART", c, key, err);
    if (rc != PITR_OK)
        return rc;
    pitr_buf_init(&q, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&req, PITR_S3_XML_MAX_INPUT);
    pitr_buf_init(&body, PITR_S3_XML_MAX_INPUT);
    rc = upload_query("", upload_id, &q, err);
    if (rc == PITR_OK)
        rc = pitr_s3_xml_complete_body(parts, n, &req, err);
    if (rc == PITR_OK) {
        call.query = q.data;
        call.body = req.data;
        call.body_len = req.len;
        call.resp_body = &body;
        call.check = check_complete;
        call.extra_ms = COMPLETE_EXTRA_MS;
        rc = s3_call(c, &call, &resp, err);
    }
    pitr_buf_release(&q);
    pitr_buf_release(&req);
    pitr_buf_release(&body);
    return rc;
}

pitr_rc pitr_s3_multipart_abort(struct pitr_s3_client *c,
                                const char *key,
                                const char *upload_id,
                                struct pitr_err *err)
{
    struct s3_call call = {
        "DELETE", "ABORT-MULTIPART", key, NULL, NULL, NULL, 0, NULL, NULL, 0, NULL, NULL, 0, 0
    };
    struct pitr_http_response resp;
    struct pitr_buf q;
    pitr_rc rc;

    rc = check_key("ABORT-MULTIPART", c, key, err);
    if (rc != PITR_OK)
        return rc;
    pitr_buf_init(&q, PITR_BUF_LIMIT_SMALL);
    rc = upload_query("", upload_id, &q, err);
    if (rc == PITR_OK) {
        call.query = q.data;
        rc = s3_call(c, &call, &resp, err);
    }
    if (rc != PITR_OK && err->http_status == 404 && strcmp(err->s3_code, "NoSuchUpload") == 0) {
        pitr_err_clear(err);
        rc = PITR_OK;
    }
    pitr_buf_release(&q);
    return rc;
}

pitr_rc pitr_s3_list_uploads(struct pitr_s3_client *c,
                             const char *prefix,
                             pitr_s3_upload_fn fn,
                             void *ud,
                             struct pitr_err *err)
{
    struct pitr_s3_uploads_page page;
    struct pitr_buf q, body;
    struct pitr_http_response resp;
    const char *msg_key = prefix ? prefix : "";
    struct s3_call call = { "GET", "LIST-UPLOADS", NULL, msg_key, NULL, NULL, 0,
                            NULL,  NULL,           0,    NULL,    NULL, 0,    0 };
    char *key_marker = NULL, *id_marker = NULL;
    size_t i;
    unsigned pages = 0;
    int same;
    pitr_rc rc = PITR_OK;

    pitr_s3_uploads_page_init(&page);
    pitr_buf_init(&q, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&body, PITR_S3_XML_MAX_INPUT);
    for (;;) {
        pitr_buf_reset(&q);
        pitr_buf_reset(&body);
        pitr_s3_uploads_page_release(&page);
        /* Sorted: key-marker, max-uploads, prefix, upload-id-marker, uploads. */
        if (key_marker != NULL) {
            rc = pitr_buf_append_str(&q, "key-marker=", err);
            if (rc == PITR_OK)
                rc = pitr_sigv4_uri_encode(key_marker, strlen(key_marker), 0, &q, err);
            if (rc == PITR_OK)
                rc = pitr_buf_append_str(&q, "&", err);
        }
        if (rc == PITR_OK && c->page_size > 0)
            rc = pitr_buf_appendf(&q, err, "max-uploads=%u&", c->page_size);
        if (rc == PITR_OK && !empty(prefix)) {
            rc = pitr_buf_append_str(&q, "prefix=", err);
            if (rc == PITR_OK)
                rc = pitr_sigv4_uri_encode(prefix, strlen(prefix), 0, &q, err);
            if (rc == PITR_OK)
                rc = pitr_buf_append_str(&q, "&", err);
        }
        if (rc == PITR_OK && id_marker != NULL) {
            rc = pitr_buf_append_str(&q, "upload-id-marker=", err);
            if (rc == PITR_OK)
                rc = pitr_sigv4_uri_encode(id_marker, strlen(id_marker), 0, &q, err);
            if (rc == PITR_OK)
                rc = pitr_buf_append_str(&q, "&", err);
        }
        if (rc == PITR_OK)
            rc = pitr_buf_append_str(&q, "uploads", err);
        if (rc != PITR_OK)
            goto out;
        call.query = q.data;
        call.resp_body = &body;
        rc = s3_call(c, &call, &resp, err);
        if (rc != PITR_OK)
            goto out;
        rc = pitr_s3_xml_parse_uploads(body.data, body.len, &page, err);
        if (rc != PITR_OK) {
            pitr_err_prefix(err, "LIST-UPLOADS 's3://%s/%s'", c->bucket, msg_key);
            goto out;
        }
        for (i = 0; i < page.n; i++) {
            rc = fn(
              page.entries[i].key, page.entries[i].upload_id, page.entries[i].initiated, ud, err);
            if (rc != PITR_OK)
                goto out;
        }
        if (!page.is_truncated)
            break;
        /*
         * Swift's s3api answers a truncated page without NextKeyMarker (and
         * NextUploadIdMarker); the last upload listed is the same marker.
         */
        if (empty(page.next_key_marker) && page.n > 0) {
            pitr_free(page.next_key_marker);
            pitr_free(page.next_upload_marker);
            page.next_key_marker = pitr_strdup(page.entries[page.n - 1].key);
            page.next_upload_marker = pitr_strdup(page.entries[page.n - 1].upload_id);
        }
        if (empty(page.next_key_marker)) {
            rc = pitr_err_set(err,
                              PITR_EFORMAT,
                              "LIST-UPLOADS 's3://%s/%s': truncated page without NextKeyMarker",
                              c->bucket,
                              msg_key);
            goto out;
        }
        /* The two markers go together: the pair must move on. */
        same = key_marker != NULL && strcmp(key_marker, page.next_key_marker) == 0 &&
               strcmp(id_marker ? id_marker : "",
                      page.next_upload_marker ? page.next_upload_marker : "") == 0;
        rc = check_next_page(
          "LIST-UPLOADS", c, msg_key, ++pages, page.n, same ? key_marker : NULL, err);
        if (rc != PITR_OK)
            goto out;
        pitr_free(key_marker);
        pitr_free(id_marker);
        key_marker = page.next_key_marker;
        id_marker = page.next_upload_marker;
        page.next_key_marker = NULL;
        page.next_upload_marker = NULL;
    }
out:
    pitr_s3_uploads_page_release(&page);
    pitr_buf_release(&q);
    pitr_buf_release(&body);
    pitr_free(key_marker);
    pitr_free(id_marker);
    return rc;
}

/* ---- tags and DeleteObjects --------------------------------------------- */

pitr_rc pitr_s3_encode_tags(const char *tags, struct pitr_buf *out, struct pitr_err *err)
{
    const char *p = tags;
    unsigned count = 0;
    pitr_rc rc = PITR_OK;

    while (*p != '\0' && rc == PITR_OK) {
        size_t n = strcspn(p, ",");
        const char *eq = memchr(p, '=', n);
        size_t klen, vlen;

        if (eq == NULL || eq == p)
            return pitr_err_set(
              err, PITR_EUSAGE, "invalid tags '%s': expected key=value[,key=value...]", tags);
        klen = (size_t)(eq - p);
        vlen = n - klen - 1;
        if (++count > 10)
            return pitr_err_set(err, PITR_EUSAGE, "invalid tags '%s': S3 allows 10 tags", tags);
        if (klen > 128 || vlen > 256)
            return pitr_err_set(err,
                                PITR_EUSAGE,
                                "invalid tags '%s': keys are at most 128 and values 256 bytes",
                                tags);
        if (count > 1)
            rc = pitr_buf_append_str(out, "&", err);
        if (rc == PITR_OK)
            rc = pitr_sigv4_uri_encode(p, klen, 0, out, err);
        if (rc == PITR_OK)
            rc = pitr_buf_append_str(out, "=", err);
        if (rc == PITR_OK)
            rc = pitr_sigv4_uri_encode(eq + 1, vlen, 0, out, err);
        p += n;
        if (*p == ',')
            p++;
    }
    return rc;
}

pitr_rc pitr_s3_delete_request(const char *const *keys,
                               size_t n,
                               struct pitr_buf *body,
                               char md5[25],
                               struct pitr_err *err)
{
    pitr_rc rc;

    md5[0] = '\0';
    if (n == 0 || n > PITR_S3_DELETE_BATCH)
        return pitr_err_set(err,
                            PITR_EINTERNAL,
                            "DeleteObjects takes 1 to %d keys, not %zu",
                            PITR_S3_DELETE_BATCH,
                            n);
    rc = pitr_s3_xml_delete_body(keys, n, body, err);
    if (rc == PITR_OK)
        rc = pitr_md5_base64(body->data, body->len, md5, err);
    return rc;
}

pitr_rc pitr_s3_delete_check(const char *bucket,
                             const char *body,
                             size_t len,
                             size_t n_keys,
                             struct pitr_err *err)
{
    struct pitr_s3_delete_result res;
    struct pitr_buf msg;
    struct pitr_err ignored;
    size_t i;
    pitr_rc rc;

    pitr_s3_delete_result_init(&res);
    rc = pitr_s3_xml_parse_delete(body, len, &res, err);
    if (rc != PITR_OK)
        return pitr_err_prefix(err, "DELETE-OBJECTS 's3://%s'", bucket);
    if (res.n_failed == 0)
        return PITR_OK;
    pitr_buf_init(&msg, PITR_ERR_MSG_MAX);
    for (i = 0; i < res.n_failed && i < 3; i++) {
        const struct pitr_s3_delete_failure *f = &res.failed[i];

        if (pitr_buf_appendf(&msg,
                             &ignored,
                             "%s'%s' (%s%s%s)",
                             i > 0 ? ", " : "",
                             f->key,
                             f->code[0] ? f->code : "error",
                             f->message[0] ? ": " : "",
                             f->message) != PITR_OK)
            break;
    }
    pitr_err_set(err,
                 PITR_ES3,
                 "DELETE-OBJECTS 's3://%s': %zu of %zu keys not deleted: %s%s",
                 bucket,
                 res.n_failed,
                 n_keys,
                 msg.data,
                 res.n_failed > 3 ? ", ..." : "");
    err->http_status = 200;
    snprintf(err->s3_code, sizeof(err->s3_code), "%s", res.failed[0].code);
    pitr_buf_release(&msg);
    pitr_s3_delete_result_release(&res);
    return PITR_ES3;
}

struct delete_ctx {
    size_t n_keys;
};

static pitr_rc check_delete(struct pitr_s3_client *c,
                            const struct s3_call *call,
                            const struct pitr_http_response *resp,
                            struct pitr_err *err)
{
    const struct delete_ctx *d = call->check_ud;
    pitr_rc rc;

    (void)resp;
    rc =
      pitr_s3_delete_check(c->bucket, call->resp_body->data, call->resp_body->len, d->n_keys, err);
    /* Per-key failures are final: do not let "InternalError" on one key resend the batch. */
    if (rc != PITR_OK)
        err->http_status = 0;
    return rc;
}

pitr_rc pitr_s3_delete_objects(struct pitr_s3_client *c,
                               const char *const *keys,
                               size_t n,
                               struct pitr_err *err)
{
    struct s3_call call = {
        "POST", "DELETE-OBJECTS", NULL, "", "delete", NULL, 0, NULL, NULL, 0, NULL, NULL, 0, 0
    };
    struct pitr_http_header extra[1];
    struct pitr_http_response resp;
    struct pitr_buf req, body;
    struct pitr_err first;
    char md5[PITR_MD5_B64_LEN + 1];
    size_t off, i;
    pitr_rc rc = PITR_OK, result = PITR_OK;

    pitr_err_clear(&first);
    pitr_buf_init(&req, PITR_S3_XML_MAX_INPUT);
    pitr_buf_init(&body, PITR_S3_XML_MAX_INPUT);
    for (i = 0; i < n; i++) {
        rc = check_key("DELETE-OBJECTS", c, keys[i], err);
        if (rc != PITR_OK)
            goto out;
    }
    for (off = 0; off < n; off += PITR_S3_DELETE_BATCH) {
        size_t batch = n - off < PITR_S3_DELETE_BATCH ? n - off : PITR_S3_DELETE_BATCH;
        struct delete_ctx d = { batch };

        pitr_buf_reset(&req);
        pitr_buf_reset(&body);
        rc = pitr_s3_delete_request(keys + off, batch, &req, md5, err);
        if (rc != PITR_OK)
            goto out;
        extra[0] = (struct pitr_http_header){ "Content-MD5", md5 };
        call.extra = extra;
        call.n_extra = 1;
        call.body = req.data;
        call.body_len = req.len;
        call.resp_body = &body;
        call.check = check_delete;
        call.check_ud = &d;
        call.extra_ms = DELETE_EXTRA_MS;
        rc = s3_call(c, &call, &resp, err);
        if (rc == PITR_ES3 && err->http_status == 0) {
            /* Some keys failed: remember the first such report, go on with the rest. */
            if (result == PITR_OK) {
                result = rc;
                first = *err;
            }
            continue;
        }
        if (rc != PITR_OK)
            goto out;
    }
    rc = result;
    if (rc != PITR_OK)
        *err = first;
out:
    pitr_buf_release(&req);
    pitr_buf_release(&body);
    return rc;
}
