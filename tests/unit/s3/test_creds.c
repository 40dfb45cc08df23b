/*
 * test_creds.c - unit tests for src/s3/creds.c: each source of the chain
 * alone and their precedence, the shared-file parser (fixtures/aws-config),
 * and the network sources (STS web identity, container, IMDSv2) against a
 * stub HTTP server on 127.0.0.1 run by a thread of this process. The stub
 * answers scripted responses, one per connection, and records each request
 * (method, path, headers, body) for the assertions.
 *
 * Every test starts from a clean environment (setup_env): no AWS_* variable
 * but shared-file paths that do not exist and AWS_EC2_METADATA_DISABLED, so
 * the host's own ~/.aws or instance metadata never leaks in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pgpitr/core/config.h"
#include "pgpitr/core/err.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/s3/creds.h"
#include "s3/creds_int.h"

#define FIX_CREDS  "fixtures/aws-config/credentials"
#define FIX_CONFIG "fixtures/aws-config/config"
#define ROLE_ARN   "arn:aws:iam::123456789012:role/pgpitr"
#define ROLE_ENC   "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fpgpitr"
#define WI_TOKEN   "eyJhbGciOiJSUzI1NiJ9.web-identity-token-ONE"

static char tmpdir[64];

/* ---- stub HTTP server --------------------------------------------------- */

#define STUB_MAX 16

struct stub_req {
    char method[16];
    char path[512];
    char headers[4096]; /* the header lines, each ending in \r\n */
    char body[8192];
};

struct stub {
    int listen_fd;
    int port;
    pthread_t thread;
    pthread_mutex_t lock;
    const char *responses[STUB_MAX]; /* one per request, in order */
    size_t n_responses;
    struct stub_req reqs[STUB_MAX];
    size_t n_reqs;
};

/* The Content-Length of a header block (0 when absent). */
static size_t content_length(const char *headers)
{
    const char *p;

    for (p = headers; (p = strstr(p, "\r\n")) != NULL; p += 2)
        if (strncasecmp(p + 2, "Content-Length:", 15) == 0)
            return strtoul(p + 17, NULL, 10);
    return 0;
}

/* Read one request into r; 0 on success. */
static int stub_read(int fd, struct stub_req *r)
{
    char buf[16384];
    size_t len = 0, want = 0;
    char *end = NULL, *cl, *sp;
    ssize_t n;

    for (;;) {
        if (len + 1 >= sizeof(buf))
            return -1;
        n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            *end = '\0';
            want = (size_t)(end + 4 - buf) + content_length(buf);
        }
        if (end != NULL && len >= want)
            break;
    }
    sp = strchr(buf, ' ');
    if (sp == NULL)
        return -1;
    snprintf(r->method, sizeof(r->method), "%.*s", (int)(sp - buf), buf);
    snprintf(r->path, sizeof(r->path), "%.*s", (int)strcspn(sp + 1, " "), sp + 1);
    cl = strstr(buf, "\r\n");
    snprintf(r->headers, sizeof(r->headers), "%s\r\n", cl != NULL ? cl + 2 : "");
    snprintf(r->body, sizeof(r->body), "%.*s", (int)(len - (size_t)(end + 4 - buf)), end + 4);
    return 0;
}

static void *stub_serve(void *ud)
{
    static const char unexpected[] =
      "HTTP/1.1 500 Unexpected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    struct stub *s = ud;
    struct stub_req r;
    const char *resp;
    int fd;

    for (;;) {
        fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0)
            break;
        memset(&r, 0, sizeof(r));
        if (stub_read(fd, &r) != 0) {
            close(fd);
            continue;
        }
        pthread_mutex_lock(&s->lock);
        resp = s->n_reqs < s->n_responses ? s->responses[s->n_reqs] : unexpected;
        if (s->n_reqs < STUB_MAX)
            s->reqs[s->n_reqs] = r;
        s->n_reqs++;
        pthread_mutex_unlock(&s->lock);
        if (write(fd, resp, strlen(resp)) < 0) {
            close(fd);
            break;
        }
        close(fd);
    }
    return NULL;
}

static void stub_start(struct stub *s)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->listen_fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(s->listen_fd, 8), 0);
    assert_int_equal(getsockname(s->listen_fd, (struct sockaddr *)&sa, &len), 0);
    s->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, stub_serve, s), 0);
}

/* Queue a response; the stub keeps the pointer (static or test-lifetime storage). */
static void stub_push(struct stub *s, const char *resp)
{
    pthread_mutex_lock(&s->lock);
    assert_true(s->n_responses < STUB_MAX);
    s->responses[s->n_responses++] = resp;
    pthread_mutex_unlock(&s->lock);
}

static size_t stub_count(struct stub *s)
{
    size_t n;

    pthread_mutex_lock(&s->lock);
    n = s->n_reqs;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void stub_stop(struct stub *s)
{
    shutdown(s->listen_fd, SHUT_RDWR);
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
    pthread_mutex_destroy(&s->lock);
}

/* The value of header name in r ("" when absent), into out. */
static const char *req_header(const struct stub_req *r, const char *name, char *out, size_t size)
{
    const char *p = r->headers;
    size_t n = strlen(name);

    out[0] = '\0';
    while (*p != '\0') {
        const char *eol = strstr(p, "\r\n");

        if (eol == NULL)
            break;
        if ((size_t)(eol - p) > n && p[n] == ':' && strncasecmp(p, name, n) == 0) {
            const char *v = p + n + 1;

            while (*v == ' ')
                v++;
            snprintf(out, size, "%.*s", (int)(eol - v), v);
            break;
        }
        p = eol + 2;
    }
    return out;
}

/* True when the form body holds exactly the pair "name=value". */
static int form_has(const char *body, const char *pair)
{
    size_t n = strlen(pair);
    const char *p = body;

    while (p != NULL && *p != '\0') {
        if (strncmp(p, pair, n) == 0 && (p[n] == '&' || p[n] == '\0'))
            return 1;
        p = strchr(p, '&');
        if (p != NULL)
            p++;
    }
    return 0;
}

/* An HTTP/1.1 response with Content-Length, closing the connection. */
static char *http_response(const char *status, const char *ctype, const char *body)
{
    return pitr_asprintf("HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                         "Connection: close\r\n\r\n%s",
                         status,
                         ctype,
                         strlen(body),
                         body);
}

static void iso(time_t t, char out[32])
{
    struct tm tm;

    assert_non_null(gmtime_r(&t, &tm));
    assert_true(strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0);
}

static char *sts_ok(const char *ak, const char *sk, const char *tok, time_t exp)
{
    char when[32];
    char *body, *resp;

    iso(exp, when);
    body = pitr_asprintf(
      "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
      "  <AssumeRoleWithWebIdentityResult>\n"
      "    <SubjectFromWebIdentityToken>system:serviceaccount:db:pg</SubjectFromWebIdentityToken>\n"
      "    <Audience>sts.amazonaws.com</Audience>\n"
      "    <AssumedRoleUser>\n"
      "      <Arn>arn:aws:sts::123456789012:assumed-role/pgpitr/s</Arn>\n"
      "      <AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId>\n"
      "    </AssumedRoleUser>\n"
      "    <Credentials>\n"
      "      <SessionToken>%s</SessionToken>\n"
      "      <SecretAccessKey>%s</SecretAccessKey>\n"
      "      <Expiration>%s</Expiration>\n"
      "      <AccessKeyId>%s</AccessKeyId>\n"
      "    </Credentials>\n"
      "    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.example</Provider>\n"
      "  </AssumeRoleWithWebIdentityResult>\n"
      "  <ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>\n"
      "</AssumeRoleWithWebIdentityResponse>\n",
      tok,
      sk,
      when,
      ak);
    resp = http_response("200 OK", "text/xml", body);
    pitr_free(body);
    return resp;
}

/* The JSON shape both the container endpoint and IMDS send. */
static char *json_ok(const char *ak, const char *sk, const char *tok, time_t exp)
{
    char when[32];
    char *body, *resp;

    iso(exp, when);
    body =
      pitr_asprintf("{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2024-01-01T00:00:00Z\",\n"
                    "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"%s\",\n"
                    "  \"SecretAccessKey\" : \"%s\",\n  \"Token\" : \"%s\",\n"
                    "  \"Expiration\" : \"%s\"\n}\n",
                    ak,
                    sk,
                    tok,
                    when);
    resp = http_response("200 OK", "application/json", body);
    pitr_free(body);
    return resp;
}

/* ---- environment -------------------------------------------------------- */

static const char *const aws_vars[] = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_SESSION_NAME",
    "AWS_REGION",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "http_proxy",
    "HTTP_PROXY",
    "all_proxy",
    "ALL_PROXY",
};

static int setup_env(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(aws_vars) / sizeof(aws_vars[0]); i++)
        unsetenv(aws_vars[i]);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/pgpitr/credentials", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/pgpitr/config", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    pitr_log_set_sink(NULL, NULL);
    pitr_log_set_level(PITR_LOG_ERROR);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/pgpitr-creds-XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
    static const char *const names[] = { "token", "auth", "credentials", "config" };
    char path[128];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    return 0;
}

/* Write text to tmpdir/name and return the path (static storage per name slot). */
static const char *write_tmp(const char *name, const char *text)
{
    static char path[4][128];
    static int slot;
    char *p = path[slot++ % 4];
    FILE *f;

    snprintf(p, 128, "%s/%s", tmpdir, name);
    f = fopen(p, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    return p;
}

static struct pitr_creds_provider *provider_ok(const struct pitr_config *cfg, const char *profile)
{
    struct pitr_creds_provider *p = NULL;
    struct pitr_err err;

    pitr_err_clear(&err);
    if (pitr_creds_provider_new(cfg, profile, &p, &err) != PITR_OK)
        fail_msg("pitr_creds_provider_new: %s", err.msg);
    return p;
}

static pitr_rc provider_fails(const struct pitr_config *cfg,
                              const char *profile,
                              struct pitr_err *err)
{
    struct pitr_creds_provider *p = NULL;
    pitr_rc rc;

    pitr_err_clear(err);
    rc = pitr_creds_provider_new(cfg, profile, &p, err);
    assert_int_not_equal(rc, PITR_OK);
    assert_null(p);
    return rc;
}

static void get_ok(struct pitr_creds_provider *p, struct pitr_s3_creds *c)
{
    struct pitr_err err;

    pitr_err_clear(&err);
    if (pitr_creds_get(p, c, &err) != PITR_OK)
        fail_msg("pitr_creds_get: %s", err.msg);
}

/* ---- static sources ----------------------------------------------------- */

static void pitr_creds_provider_new__config_keys(void **state)
{
    struct pitr_config cfg;
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;

    (void)state;
    pitr_config_init(&cfg);
    cfg.access_key = pitr_strdup("AKIDCONFIG");
    cfg.secret_key = pitr_strdup("secretCONFIG");
    cfg.session_token = pitr_strdup("tokenCONFIG");
    p = provider_ok(&cfg, NULL);
    assert_string_equal(pitr_creds_provider_source(p), "config");
    get_ok(p, &c);
    assert_string_equal(c.access_key, "AKIDCONFIG");
    assert_string_equal(c.secret_key, "secretCONFIG");
    assert_string_equal(c.session_token, "tokenCONFIG");
    assert_true(c.expires == 0);
    assert_string_equal(c.source, "config");
    pitr_s3_creds_clear(&c);
    assert_string_equal(c.secret_key, "");
    pitr_creds_provider_unref(p);
    pitr_config_release(&cfg);
}

static void pitr_creds_provider_new__config_from_env_is_named_env(void **state)
{
    struct pitr_config cfg;
    struct pitr_creds_provider *p;

    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secretENV", 1);
    pitr_config_init(&cfg);
    cfg.access_key = pitr_strdup("AKIDENV");
    cfg.secret_key = pitr_strdup("secretENV");
    p = provider_ok(&cfg, NULL);
    assert_string_equal(pitr_creds_provider_source(p), "env");
    pitr_creds_provider_unref(p);
    pitr_config_release(&cfg);
}

static void pitr_creds_provider_new__config_half_set(void **state)
{
    struct pitr_config cfg;
    struct pitr_err err;

    (void)state;
    pitr_config_init(&cfg);
    cfg.access_key = pitr_strdup("AKIDCONFIG");
    assert_int_equal(provider_fails(&cfg, NULL, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "aws-secret-access-key is not"));
    pitr_config_release(&cfg);

    pitr_config_init(&cfg);
    cfg.secret_key = pitr_strdup("secretCONFIG-value");
    assert_int_equal(provider_fails(&cfg, NULL, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "aws-access-key-id is not"));
    assert_null(strstr(err.msg, "secretCONFIG-value"));
    pitr_config_release(&cfg);
}

static void pitr_creds_provider_new__env_keys(void **state)
{
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;

    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secretENV", 1);
    setenv("AWS_SESSION_TOKEN", "tokenENV", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", FIX_CREDS, 1);
    p = provider_ok(NULL, NULL);
    get_ok(p, &c);
    assert_string_equal(c.source, "env");
    assert_string_equal(c.access_key, "AKIDENV");
    assert_string_equal(c.secret_key, "secretENV");
    assert_string_equal(c.session_token, "tokenENV");
    pitr_s3_creds_clear(&c);
    pitr_creds_provider_unref(p);
}

static void pitr_creds_provider_new__env_half_set(void **state)
{
    struct pitr_err err;

    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    assert_int_equal(provider_fails(NULL, NULL, &err), PITR_EUSAGE);
    assert_string_equal(err.msg, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
}

/* ---- shared files ------------------------------------------------------- */

static void pitr_creds_provider_new__profile_default(void **state)
{
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;

    (void)state;
    setenv("AWS_SHARED_CREDENTIALS_FILE", FIX_CREDS, 1);
    setenv("AWS_CONFIG_FILE", FIX_CONFIG, 1);
    p = provider_ok(NULL, NULL);
    get_ok(p, &c);
    assert_string_equal(c.source, "profile:default");
    assert_string_equal(c.access_key, "AKIDDEFAULT");
    assert_string_equal(c.secret_key, "secretDEFAULT/abc+123");
    assert_string_equal(c.session_token, "");
    pitr_s3_creds_clear(&c);
    pitr_creds_provider_unref(p);
}

static void pitr_creds_provider_new__profile_from_aws_profile(void **state)
{
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;

    (void)state;
    setenv("AWS_SHARED_CREDENTIALS_FILE", FIX_CREDS, 1);
    setenv("AWS_CONFIG_FILE", FIX_CONFIG, 1);
    setenv("AWS_PROFILE", "prod", 1);
    p = provider_ok(NULL, NULL);
    get_ok(p, &c);
    /* [ prod ] in the credentials file beats [profile prod] in the config file. */
    assert_string_equal(c.source, "profile:prod");
    assert_string_equal(c.access_key, "AKIDPROD");
    assert_string_equal(c.secret_key, "secretPROD");
    assert_string_equal(c.session_token, "tokenPROD==");
    pitr_s3_creds_clear(&c);
    pitr_creds_provider_unref(p);
}

static void pitr_creds_provider_new__profile_argument_beats_aws_profile(void **state)
{
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;

    (void)state;
    setenv("AWS_SHARED_CREDENTIALS_FILE", FIX_CREDS, 1);
    setenv("AWS_CONFIG_FILE", FIX_CONFIG, 1);
    setenv("AWS_PROFILE", "prod", 1);
    p = provider_ok(NULL, "dev");
    get_ok(p, &c);
    /* Only in the config file; the indented sub-property key is not taken. */
    assert_string_equal(c.source, "profile:dev");
    assert_string_equal(c.access_key, "AKIDDEVCONFIG");
    assert_string_equal(c.secret_key, "secretDEVCONFIG");
    pitr_s3_creds_clear(&c);
    pitr_creds_provider_unref(p);
}

static void pitr_creds_provider_new__profile_value_keeps_hash(void **state)
{
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;

    (void)state;
    setenv("AWS_SHARED_CREDENTIALS_FILE", FIX_CREDS, 1);
    p = provider_ok(NULL, "hash");
    get_ok(p, &c);
    assert_string_equal(c.secret_key, "secret#with;chars");
    pitr_s3_creds_clear(&c);
    pitr_creds_provider_unref(p);
}

static void pitr_creds_provider_new__profile_missing(void **state)
{
    struct pitr_err err;

    (void)state;
    setenv("AWS_SHARED_CREDENTIALS_FILE", FIX_CREDS, 1);
    setenv("AWS_CONFIG_FILE", FIX_CONFIG, 1);
    setenv("AWS_PROFILE", "nope", 1);
    assert_int_equal(provider_fails(NULL, NULL, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "AWS profile 'nope' not found"));
    assert_non_null(strstr(err.msg, FIX_CREDS));
    assert_non_null(strstr(err.msg, FIX_CONFIG));

    /* A config-file section without "profile " names no profile but default. */
    assert_int_equal(provider_fails(NULL, "staging", &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "'staging' not found"));
}

static void pitr_creds_provider_new__profile_unusable(void **state)
{
    struct pitr_err err;

    (void)state;
    setenv("AWS_SHARED_CREDENTIALS_FILE", FIX_CREDS, 1);
    setenv("AWS_CONFIG_FILE", FIX_CONFIG, 1);
    assert_int_equal(provider_fails(NULL, "partial", &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "aws_secret_access_key is not"));
    assert_int_equal(provider_fails(NULL, "chained", &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "uses source_profile"));
    assert_int_equal(provider_fails(NULL, "empty", &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "'empty' holds no credentials"));
}

static void pitr_creds_provider_new__default_profile_without_keys_falls_through(void **state)
{
    struct pitr_err err;

    (void)state;
    /* The config file's [default] has only a region: the chain goes on. */
    setenv("AWS_CONFIG_FILE", FIX_CONFIG, 1);
    assert_int_equal(provider_fails(NULL, NULL, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "no S3 credentials found"));
    assert_non_null(strstr(err.msg, "profile 'default' (no credentials in it)"));
}

static void pitr_creds_provider_new__nothing_found_lists_sources(void **state)
{
    struct pitr_err err;

    (void)state;
    assert_int_equal(provider_fails(NULL, NULL, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "no S3 credentials found: tried "));
    assert_non_null(strstr(err.msg, "aws-access-key-id not set"));
    assert_non_null(strstr(err.msg, "AWS_ACCESS_KEY_ID not set"));
    assert_non_null(strstr(err.msg, "profile 'default' (not in '/nonexistent/pgpitr/credentials'"));
    assert_non_null(strstr(err.msg, "AWS_ROLE_ARN"));
    assert_non_null(strstr(err.msg, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
    assert_non_null(strstr(err.msg, "AWS_EC2_METADATA_DISABLED=true"));
}

static void pitr_creds_profile_parse__sections_comments_errors(void **state)
{
    static const char text[] = "# comment\n"
                               "; another\n"
                               "[profile a] # after the header\n"
                               "aws_access_key_id = A1\n"
                               "\n"
                               "[profile b]\n"
                               "aws_access_key_id = B1\r\n"
                               "[profile a]\n"
                               "AWS_SECRET_ACCESS_KEY = A2 \t\n"
                               "role_session_name=\n"
                               "  nested = x\n";
    static const char bad[] = "[profile a]\naws_access_key_id = A1\nthis-line-secret-XYZ\n";
    struct pitr_creds_profile prof;
    struct pitr_err err;

    (void)state;
    pitr_creds_profile_init(&prof);
    pitr_err_clear(&err);
    assert_int_equal(pitr_creds_profile_parse(text, strlen(text), 1, "a", "f", &prof, &err),
                     PITR_OK);
    assert_true(prof.found);
    assert_string_equal(prof.access_key, "A1");
    assert_string_equal(prof.secret_key, "A2");
    assert_string_equal(prof.role_session_name, "");
    pitr_creds_profile_release(&prof);

    assert_int_equal(pitr_creds_profile_parse(text, strlen(text), 1, "b", "f", &prof, &err),
                     PITR_OK);
    assert_string_equal(prof.access_key, "B1");
    assert_null(prof.secret_key);
    pitr_creds_profile_release(&prof);

    /* The credentials-file style does not know "profile ". */
    assert_int_equal(pitr_creds_profile_parse(text, strlen(text), 0, "a", "f", &prof, &err),
                     PITR_OK);
    assert_false(prof.found);
    pitr_creds_profile_release(&prof);

    assert_int_equal(pitr_creds_profile_parse(bad, strlen(bad), 0, "x", "/p/creds", &prof, &err),
                     PITR_EFORMAT);
    assert_string_equal(err.msg, "'/p/creds' line 3: expected '[section]' or 'key = value'");
    pitr_creds_profile_release(&prof);

    assert_int_equal(pitr_creds_profile_parse("[oops\n", 6, 0, "x", "f", &prof, &err),
                     PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "line 1: section header without ']'"));
    pitr_creds_profile_release(&prof);
}

static void pitr_creds_parse_time__forms(void **state)
{
    struct pitr_err err;
    time_t t = 0;

    (void)state;
    pitr_err_clear(&err);
    assert_int_equal(pitr_creds_parse_time("2024-05-01T12:34:56Z", &t, &err), PITR_OK);
    assert_true(t == 1714566896);
    assert_int_equal(pitr_creds_parse_time("2024-05-01T12:34:56.789Z", &t, &err), PITR_OK);
    assert_true(t == 1714566896);
    assert_int_equal(pitr_creds_parse_time("2024-05-01T14:34:56+02:00", &t, &err), PITR_OK);
    assert_true(t == 1714566896);
    assert_int_equal(pitr_creds_parse_time("2024-05-01T10:04:56-02:30", &t, &err), PITR_OK);
    assert_true(t == 1714566896);
    assert_int_equal(pitr_creds_parse_time("2024-05-01T12:34:56", &t, &err), PITR_EFORMAT);
    assert_int_equal(pitr_creds_parse_time("2024-13-01T12:34:56Z", &t, &err), PITR_EFORMAT);
    assert_int_equal(pitr_creds_parse_time("2024-05-01 12:34:56Z", &t, &err), PITR_EFORMAT);
    assert_int_equal(pitr_creds_parse_time("2024-05-01T12:34:56Zjunk", &t, &err), PITR_EFORMAT);
    assert_int_equal(pitr_creds_parse_time("", &t, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "malformed time"));
}

/* ---- precedence --------------------------------------------------------- */

static void pitr_creds_provider_new__precedence_order(void **state)
{
    struct stub srv;
    struct pitr_config cfg;
    struct pitr_creds_provider *p;
    char url[64];

    (void)state;
    stub_start(&srv);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
    pitr_config_init(&cfg);
    cfg.access_key = pitr_strdup("AKIDCONFIG");
    cfg.secret_key = pitr_strdup("secretCONFIG");
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secretENV", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", FIX_CREDS, 1);
    setenv("AWS_ROLE_ARN", ROLE_ARN, 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "fixtures/aws-config/web-identity-token", 1);
    setenv("AWS_ENDPOINT_URL_STS", url, 1);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
    unsetenv("AWS_EC2_METADATA_DISABLED");

    p = provider_ok(&cfg, NULL);
    assert_string_equal(pitr_creds_provider_source(p), "config");
    pitr_creds_provider_unref(p);

    p = provider_ok(NULL, NULL);
    assert_string_equal(pitr_creds_provider_source(p), "env");
    pitr_creds_provider_unref(p);

    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    p = provider_ok(NULL, NULL);
    assert_string_equal(pitr_creds_provider_source(p), "profile:default");
    pitr_creds_provider_unref(p);

    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    setenv("HOME", tmpdir, 1); /* no ~/.aws there */
    p = provider_ok(NULL, NULL);
    assert_string_equal(pitr_creds_provider_source(p), "web-identity");
    pitr_creds_provider_unref(p);

    unsetenv("AWS_ROLE_ARN");
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    p = provider_ok(NULL, NULL);
    assert_string_equal(pitr_creds_provider_source(p), "container");
    pitr_creds_provider_unref(p);

    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    p = provider_ok(NULL, NULL);
    assert_string_equal(pitr_creds_provider_source(p), "imds");
    pitr_creds_provider_unref(p);

    /* Choosing a source fetches nothing. */
    assert_int_equal(stub_count(&srv), 0);
    stub_stop(&srv);
    pitr_config_release(&cfg);
}

/* ---- web identity ------------------------------------------------------- */

static void set_web_identity_env(struct stub *srv, const char *token_path)
{
    char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv->port);
    setenv("AWS_ROLE_ARN", ROLE_ARN, 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", token_path, 1);
    setenv("AWS_ENDPOINT_URL_STS", url, 1);
}

static void pitr_creds_get__web_identity_sts_request(void **state)
{
    struct stub srv;
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;
    time_t exp = time(NULL) + 3600;
    char *resp = sts_ok("ASIASTS", "stsSECRET", "stsTOKEN", exp);
    char h[256];
    const struct stub_req *r;

    (void)state;
    stub_start(&srv);
    stub_push(&srv, resp);
    set_web_identity_env(&srv, write_tmp("token", WI_TOKEN "\n"));
    setenv("AWS_ROLE_SESSION_NAME", "my-session", 1);
    p = provider_ok(NULL, NULL);
    assert_int_equal(stub_count(&srv), 0);
    get_ok(p, &c);
    assert_string_equal(c.source, "web-identity");
    assert_string_equal(c.access_key, "ASIASTS");
    assert_string_equal(c.secret_key, "stsSECRET");
    assert_string_equal(c.session_token, "stsTOKEN");
    assert_true(c.expires == exp);

    assert_int_equal(stub_count(&srv), 1);
    r = &srv.reqs[0];
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->path, "/");
    assert_non_null(
      strstr(req_header(r, "Content-Type", h, sizeof(h)), "application/x-www-form-urlencoded"));
    assert_true(form_has(r->body, "Action=AssumeRoleWithWebIdentity"));
    assert_true(form_has(r->body, "Version=2011-06-15"));
    assert_true(form_has(r->body, "RoleArn=" ROLE_ENC));
    assert_true(form_has(r->body, "RoleSessionName=my-session"));
    /* Read from the file, trailing newline dropped; never in the URL. */
    assert_true(form_has(r->body, "WebIdentityToken=" WI_TOKEN));
    assert_null(strstr(r->path, "Token"));

    pitr_s3_creds_clear(&c);
    pitr_creds_provider_unref(p);
    stub_stop(&srv);
    pitr_free(resp);
}

static void pitr_creds_get__web_identity_from_profile(void **state)
{
    struct stub srv;
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;
    char *resp = sts_ok("ASIAPROF", "profSECRET", "profTOKEN", time(NULL) + 3600);
    char url[64];

    (void)state;
    stub_start(&srv);
    stub_push(&srv, resp);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv.port);
    setenv("AWS_ENDPOINT_URL_STS", url, 1);
    setenv("AWS_CONFIG_FILE", FIX_CONFIG, 1);
    setenv("AWS_PROFILE", "irsa", 1);
    p = provider_ok(NULL, NULL);
    assert_string_equal(pitr_creds_provider_source(p), "web-identity");
    get_ok(p, &c);
    assert_string_equal(c.access_key, "ASIAPROF");
    assert_int_equal(stub_count(&srv), 1);
    assert_true(form_has(srv.reqs[0].body,
                         "RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2F"
                         "pgpitr-irsa"));
    assert_true(form_has(srv.reqs[0].body, "RoleSessionName=fixture-session"));
    assert_true(
      form_has(srv.reqs[0].body, "WebIdentityToken=fixture-web-identity-token-0123456789"));
    pitr_s3_creds_clear(&c);
    pitr_creds_provider_unref(p);
    stub_stop(&srv);
    pitr_free(resp);
}

static void pitr_creds_get__web_identity_refresh_rereads_token(void **state)
{
    struct stub srv;
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;
    char *r1 = sts_ok("ASIAONE", "secretONE", "tokenONE", time(NULL) + 120);
    char *r2 = sts_ok("ASIATWO", "secretTWO", "tokenTWO", time(NULL) + 3600);
    const char *path;

    (void)state;
    stub_start(&srv);
    stub_push(&srv, r1);
    stub_push(&srv, r2);
    path = write_tmp("token", "token-ONE");
    set_web_identity_env(&srv, path);
    p = provider_ok(NULL, NULL);
    get_ok(p, &c);
    assert_string_equal(c.access_key, "ASIAONE");
    /* Expires in 2 minutes (< 5): the next get goes to STS again, with the new token. */
    write_tmp("token", "token-TWO");
    get_ok(p, &c);
    assert_string_equal(c.access_key, "ASIATWO");
    assert_string_equal(c.session_token, "tokenTWO");
    assert_int_equal(stub_count(&srv), 2);
    assert_true(form_has(srv.reqs[0].body, "WebIdentityToken=token-ONE"));
    assert_true(form_has(srv.reqs[1].body, "WebIdentityToken=token-TWO"));
    /* Valid for an hour: cached. */
    get_ok(p, &c);
    assert_string_equal(c.access_key, "ASIATWO");
    assert_int_equal(stub_count(&srv), 2);
    pitr_s3_creds_clear(&c);
    pitr_creds_provider_unref(p);
    stub_stop(&srv);
    pitr_free(r1);
    pitr_free(r2);
}

static void pitr_creds_get__sts_error_names_code(void **state)
{
    struct stub srv;
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;
    struct pitr_err err;
    char *resp =
      http_response("400 Bad Request",
                    "text/xml",
                    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
                    "  <Error>\n"
                    "    <Type>Sender</Type>\n"
                    "    <Code>InvalidIdentityToken</Code>\n"
                    "    <Message>Token " WI_TOKEN " is not valid</Message>\n"
                    "  </Error>\n"
                    "  <RequestId>req-2</RequestId>\n"
                    "</ErrorResponse>\n");

    (void)state;
    stub_start(&srv);
    stub_push(&srv, resp);
    set_web_identity_env(&srv, write_tmp("token", WI_TOKEN));
    p = provider_ok(NULL, NULL);
    pitr_err_clear(&err);
    assert_int_equal(pitr_creds_get(p, &c, &err), PITR_EAUTH);
    assert_string_equal(err.s3_code, "InvalidIdentityToken");
    assert_int_equal(err.http_status, 400);
    assert_non_null(strstr(err.msg, "web identity credentials"));
    assert_non_null(strstr(err.msg, ROLE_ARN));
    assert_non_null(strstr(err.msg, "HTTP 400 InvalidIdentityToken: Token *** is not valid"));
    assert_null(strstr(err.msg, WI_TOKEN));
    assert_string_equal(c.access_key, "");
    pitr_creds_provider_unref(p);
    stub_stop(&srv);
    pitr_free(resp);
}

static void pitr_creds_get__sts_malformed_answer(void **state)
{
    struct stub srv;
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;
    struct pitr_err err;
    char *dtd = http_response(
      "200 OK", "text/xml", "<!DOCTYPE x [<!ENTITY a \"b\">]><AssumeRoleWithWebIdentityResponse/>");
    char *nocreds =
      http_response("200 OK",
                    "text/xml",
                    "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
                    "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>");

    (void)state;
    stub_start(&srv);
    stub_push(&srv, dtd);
    stub_push(&srv, nocreds);
    set_web_identity_env(&srv, write_tmp("token", WI_TOKEN));
    p = provider_ok(NULL, NULL);
    pitr_err_clear(&err);
    assert_int_equal(pitr_creds_get(p, &c, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "document type declarations"));
    assert_int_equal(pitr_creds_get(p, &c, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "Credentials without AccessKeyId"));
    pitr_creds_provider_unref(p);
    stub_stop(&srv);
    pitr_free(dtd);
    pitr_free(nocreds);
}

static void pitr_creds_provider_new__web_identity_half_set(void **state)
{
    struct pitr_err err;

    (void)state;
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token", 1);
    assert_int_equal(provider_fails(NULL, NULL, &err), PITR_EUSAGE);
    assert_string_equal(err.msg, "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
}

/* ---- container ---------------------------------------------------------- */

static void pitr_creds_get__container_full_uri_with_token_file(void **state)
{
    struct stub srv;
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;
    time_t exp = time(NULL) + 7200;
    char *resp = json_ok("ASIACONT", "contSECRET", "contTOKEN", exp);
    char url[96], h[256];

    (void)state;
    stub_start(&srv);
    stub_push(&srv, resp);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/credentials?id=7", srv.port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-token-loses", 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", write_tmp("auth", "file-token-wins\n"), 1);
    p = provider_ok(NULL, NULL);
    get_ok(p, &c);
    assert_string_equal(c.source, "container");
    assert_string_equal(c.access_key, "ASIACONT");
    assert_string_equal(c.secret_key, "contSECRET");
    assert_string_equal(c.session_token, "contTOKEN");
    assert_true(c.expires == exp);
    assert_int_equal(stub_count(&srv), 1);
    assert_string_equal(srv.reqs[0].method, "GET");
    assert_string_equal(srv.reqs[0].path, "/v1/credentials?id=7");
    assert_string_equal(req_header(&srv.reqs[0], "Authorization", h, sizeof(h)), "file-token-wins");
    pitr_s3_creds_clear(&c);
    pitr_creds_provider_unref(p);
    stub_stop(&srv);
    pitr_free(resp);
}

static void pitr_creds_get__container_token_from_env(void **state)
{
    struct stub srv;
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;
    char *resp = json_ok("ASIACONT", "contSECRET", "contTOKEN", time(NULL) + 7200);
    char url[64], h[256];

    (void)state;
    stub_start(&srv);
    stub_push(&srv, resp);
    snprintf(url, sizeof(url), "http://localhost:%d/creds", srv.port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Basic env-token", 1);
    p = provider_ok(NULL, NULL);
    get_ok(p, &c);
    assert_string_equal(req_header(&srv.reqs[0], "Authorization", h, sizeof(h)), "Basic env-token");
    assert_string_equal(srv.reqs[0].path, "/creds");
    pitr_s3_creds_clear(&c);
    pitr_creds_provider_unref(p);
    stub_stop(&srv);
    pitr_free(resp);
}

static void pitr_creds_provider_new__container_uri_checks(void **state)
{
    struct pitr_err err;
    struct pitr_creds_provider *p;

    (void)state;
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://creds.example.com/x", 1);
    assert_int_equal(provider_fails(NULL, NULL, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "must use https"));
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1@evil.example/x", 1);
    assert_int_equal(provider_fails(NULL, NULL, &err), PITR_EUSAGE);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "https://creds.example.com/x", 1);
    p = provider_ok(NULL, NULL);
    assert_string_equal(pitr_creds_provider_source(p), "container");
    pitr_creds_provider_unref(p);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials", 1);
    p = provider_ok(NULL, NULL);
    pitr_creds_provider_unref(p);
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/credentials", 1);
    assert_int_equal(provider_fails(NULL, NULL, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "does not start with '/'"));
}

static void pitr_creds_get__container_error_hides_token(void **state)
{
    struct stub srv;
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;
    struct pitr_err err;
    char *resp = http_response("403 Forbidden",
                               "application/json",
                               "{\"code\":\"AccessDenied\",\"message\":\"bad token "
                               "Secret-Auth-Token-42\"}");
    char url[64];

    (void)state;
    stub_start(&srv);
    stub_push(&srv, resp);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/creds", srv.port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Secret-Auth-Token-42", 1);
    p = provider_ok(NULL, NULL);
    pitr_err_clear(&err);
    assert_int_equal(pitr_creds_get(p, &c, &err), PITR_EAUTH);
    assert_int_equal(err.http_status, 403);
    assert_non_null(strstr(err.msg, "container credentials: GET '"));
    assert_non_null(strstr(err.msg, "answered HTTP 403: AccessDenied: bad token ***"));
    assert_null(strstr(err.msg, "Secret-Auth-Token-42"));
    pitr_creds_provider_unref(p);
    stub_stop(&srv);
    pitr_free(resp);
}

static void pitr_creds_get__refresh_failure_keeps_valid_credentials(void **state)
{
    struct stub srv;
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;
    struct pitr_err err;
    char *soon = json_ok("ASIASOON", "soonSECRET", "soonTOKEN", time(NULL) + 120);
    char *past = json_ok("ASIAPAST", "pastSECRET", "pastTOKEN", time(NULL) - 10);
    char *down = http_response("500 Internal Server Error", "text/plain", "down");
    char url[64];

    (void)state;
    stub_start(&srv);
    stub_push(&srv, soon);
    stub_push(&srv, down);
    stub_push(&srv, past);
    stub_push(&srv, down);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/creds", srv.port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    p = provider_ok(NULL, NULL);
    get_ok(p, &c);
    assert_string_equal(c.access_key, "ASIASOON");
    /* The refresh fails, but the current credentials are good for 2 more minutes. */
    get_ok(p, &c);
    assert_string_equal(c.access_key, "ASIASOON");
    assert_int_equal(stub_count(&srv), 2);
    /* A refresh fetches already-expired credentials; when the next one fails, get fails. */
    get_ok(p, &c);
    assert_string_equal(c.access_key, "ASIAPAST");
    pitr_err_clear(&err);
    assert_int_equal(pitr_creds_get(p, &c, &err), PITR_EGENERAL);
    assert_non_null(strstr(err.msg, "answered HTTP 500"));
    assert_string_equal(c.access_key, "");
    assert_int_equal(stub_count(&srv), 4);
    pitr_creds_provider_unref(p);
    stub_stop(&srv);
    pitr_free(soon);
    pitr_free(past);
    pitr_free(down);
}

/* ---- IMDSv2 ------------------------------------------------------------- */

static void set_imds_env(struct stub *srv)
{
    char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv->port);
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
}

static void pitr_creds_get__imds_v2_flow(void **state)
{
    struct stub srv;
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;
    time_t exp = time(NULL) + 6 * 3600;
    char *tok = http_response("200 OK", "text/plain", "IMDS-SESSION-TOKEN==");
    char *role = http_response("200 OK", "text/plain", "pgpitr-role\n");
    char *creds = json_ok("ASIAIMDS", "imdsSECRET", "imdsTOKEN", exp);
    char h[256];
    int i;

    (void)state;
    stub_start(&srv);
    stub_push(&srv, tok);
    stub_push(&srv, role);
    stub_push(&srv, creds);
    set_imds_env(&srv);
    p = provider_ok(NULL, NULL);
    assert_string_equal(pitr_creds_provider_source(p), "imds");
    get_ok(p, &c);
    assert_string_equal(c.source, "imds");
    assert_string_equal(c.access_key, "ASIAIMDS");
    assert_string_equal(c.secret_key, "imdsSECRET");
    assert_string_equal(c.session_token, "imdsTOKEN");
    assert_true(c.expires == exp);

    assert_int_equal(stub_count(&srv), 3);
    assert_string_equal(srv.reqs[0].method, "PUT");
    assert_string_equal(srv.reqs[0].path, "/latest/api/token");
    assert_string_equal(
      req_header(&srv.reqs[0], "X-aws-ec2-metadata-token-ttl-seconds", h, sizeof(h)), "21600");
    assert_string_equal(srv.reqs[1].method, "GET");
    assert_string_equal(srv.reqs[1].path, "/latest/meta-data/iam/security-credentials/");
    assert_string_equal(srv.reqs[2].method, "GET");
    assert_string_equal(srv.reqs[2].path, "/latest/meta-data/iam/security-credentials/pgpitr-role");
    for (i = 1; i <= 2; i++)
        assert_string_equal(req_header(&srv.reqs[i], "X-aws-ec2-metadata-token", h, sizeof(h)),
                            "IMDS-SESSION-TOKEN==");

    /* Valid for hours: cached. */
    get_ok(p, &c);
    assert_int_equal(stub_count(&srv), 3);
    pitr_s3_creds_clear(&c);
    pitr_creds_provider_unref(p);
    stub_stop(&srv);
    pitr_free(tok);
    pitr_free(role);
    pitr_free(creds);
}

static void pitr_creds_get__imds_refreshes_expiring_credentials(void **state)
{
    struct stub srv;
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;
    char *tok = http_response("200 OK", "text/plain", "T1");
    char *role = http_response("200 OK", "text/plain", "r");
    char *c1 = json_ok("ASIAFIRST", "s1", "t1", time(NULL) + 240);
    char *c2 = json_ok("ASIASECOND", "s2", "t2", time(NULL) + 3600);

    (void)state;
    stub_start(&srv);
    stub_push(&srv, tok);
    stub_push(&srv, role);
    stub_push(&srv, c1);
    stub_push(&srv, tok);
    stub_push(&srv, role);
    stub_push(&srv, c2);
    set_imds_env(&srv);
    p = provider_ok(NULL, NULL);
    get_ok(p, &c);
    assert_string_equal(c.access_key, "ASIAFIRST");
    get_ok(p, &c); /* 4 minutes left: refreshed */
    assert_string_equal(c.access_key, "ASIASECOND");
    assert_int_equal(stub_count(&srv), 6);
    assert_string_equal(srv.reqs[3].path, "/latest/api/token");
    get_ok(p, &c); /* an hour left: cached */
    assert_int_equal(stub_count(&srv), 6);
    pitr_s3_creds_clear(&c);
    pitr_creds_provider_unref(p);
    stub_stop(&srv);
    pitr_free(tok);
    pitr_free(role);
    pitr_free(c1);
    pitr_free(c2);
}

static void pitr_creds_get__imds_unreachable_is_no_credentials(void **state)
{
    struct stub srv;
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;
    struct pitr_err err;

    (void)state;
    /* A port nobody listens on any more: connection refused at once. */
    stub_start(&srv);
    set_imds_env(&srv);
    stub_stop(&srv);
    p = provider_ok(NULL, NULL);
    pitr_err_clear(&err);
    assert_int_equal(pitr_creds_get(p, &c, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "no S3 credentials found: tried "));
    assert_non_null(strstr(err.msg, "AWS_ACCESS_KEY_ID not set"));
    assert_non_null(strstr(err.msg, "; EC2 instance metadata: PUT '"));
    pitr_creds_provider_unref(p);
}

static void pitr_creds_get__imds_without_role(void **state)
{
    struct stub srv;
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;
    struct pitr_err err;
    char *tok = http_response("200 OK", "text/plain", "T1");
    char *none = http_response("404 Not Found", "text/plain", "");

    (void)state;
    stub_start(&srv);
    stub_push(&srv, tok);
    stub_push(&srv, none);
    set_imds_env(&srv);
    p = provider_ok(NULL, NULL);
    pitr_err_clear(&err);
    assert_int_equal(pitr_creds_get(p, &c, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "EC2 instance metadata: no IAM role is attached"));
    pitr_creds_provider_unref(p);
    stub_stop(&srv);
    pitr_free(tok);
    pitr_free(none);
}

/* ---- secrets, threads --------------------------------------------------- */

struct log_capture {
    char lines[8192];
};

static void capture(enum pitr_log_level level, const char *line, void *ud)
{
    struct log_capture *lc = ud;
    size_t n = strlen(lc->lines);

    (void)level;
    snprintf(lc->lines + n, sizeof(lc->lines) - n, "%s\n", line);
}

static void pitr_creds_get__secrets_stay_out_of_logs(void **state)
{
    struct stub srv;
    struct pitr_creds_provider *p;
    struct pitr_s3_creds c;
    struct log_capture lc;
    char *ok = sts_ok("ASIALOG", "logSECRET-value", "logTOKEN-value", time(NULL) + 100);
    char *down = http_response("503 Slow Down",
                               "text/xml",
                               "<ErrorResponse><Error><Code>Throttling</Code>"
                               "<Message>slow down</Message></Error></ErrorResponse>");

    (void)state;
    memset(&lc, 0, sizeof(lc));
    stub_start(&srv);
    stub_push(&srv, ok);
    stub_push(&srv, down);
    set_web_identity_env(&srv, write_tmp("token", WI_TOKEN));
    pitr_log_set_level(PITR_LOG_TRACE);
    pitr_log_set_sink(capture, &lc);
    p = provider_ok(NULL, NULL);
    get_ok(p, &c);
    get_ok(p, &c); /* refresh fails with 503, keeps the current ones, warns */
    pitr_log_set_sink(NULL, NULL);
    pitr_log_set_level(PITR_LOG_ERROR);
    assert_string_equal(c.access_key, "ASIALOG");
    assert_non_null(strstr(lc.lines, "fetched from web-identity"));
    assert_non_null(strstr(lc.lines, "HTTP 503 Throttling: slow down"));
    assert_null(strstr(lc.lines, "logSECRET-value"));
    assert_null(strstr(lc.lines, "logTOKEN-value"));
    assert_null(strstr(lc.lines, WI_TOKEN));
    pitr_s3_creds_clear(&c);
    pitr_creds_provider_unref(p);
    stub_stop(&srv);
    pitr_free(ok);
    pitr_free(down);
}

struct worker {
    struct pitr_creds_provider *p;
    int ok;
};

static void *worker_run(void *ud)
{
    struct worker *w = ud;
    struct pitr_s3_creds c;
    struct pitr_err err;
    int i;

    w->ok = 1;
    for (i = 0; i < 20; i++) {
        if (pitr_creds_get(w->p, &c, &err) != PITR_OK || strcmp(c.access_key, "ASIASHARED") != 0)
            w->ok = 0;
        pitr_s3_creds_clear(&c);
    }
    pitr_creds_provider_unref(w->p);
    return NULL;
}

static void pitr_creds_get__threads_share_one_fetch(void **state)
{
    struct stub srv;
    struct pitr_creds_provider *p;
    struct worker w[4];
    pthread_t th[4];
    char *resp = json_ok("ASIASHARED", "sharedSECRET", "sharedTOKEN", time(NULL) + 3600);
    char url[64];
    int i;

    (void)state;
    stub_start(&srv);
    stub_push(&srv, resp);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/creds", srv.port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    p = provider_ok(NULL, NULL);
    for (i = 0; i < 4; i++) {
        w[i].p = pitr_creds_provider_ref(p);
        assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    pitr_creds_provider_unref(p); /* the workers' references keep it alive */
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(w[i].ok);
    }
    assert_int_equal(stub_count(&srv), 1);
    stub_stop(&srv);
    pitr_free(resp);
}

#define T(f) cmocka_unit_test_setup(f, setup_env)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(pitr_creds_provider_new__config_keys),
        T(pitr_creds_provider_new__config_from_env_is_named_env),
        T(pitr_creds_provider_new__config_half_set),
        T(pitr_creds_provider_new__env_keys),
        T(pitr_creds_provider_new__env_half_set),
        T(pitr_creds_provider_new__profile_default),
        T(pitr_creds_provider_new__profile_from_aws_profile),
        T(pitr_creds_provider_new__profile_argument_beats_aws_profile),
        T(pitr_creds_provider_new__profile_value_keeps_hash),
        T(pitr_creds_provider_new__profile_missing),
        T(pitr_creds_provider_new__profile_unusable),
        T(pitr_creds_provider_new__default_profile_without_keys_falls_through),
        T(pitr_creds_provider_new__nothing_found_lists_sources),
        T(pitr_creds_profile_parse__sections_comments_errors),
        T(pitr_creds_parse_time__forms),
        T(pitr_creds_provider_new__precedence_order),
        T(pitr_creds_get__web_identity_sts_request),
        T(pitr_creds_get__web_identity_from_profile),
        T(pitr_creds_get__web_identity_refresh_rereads_token),
        T(pitr_creds_get__sts_error_names_code),
        T(pitr_creds_get__sts_malformed_answer),
        T(pitr_creds_provider_new__web_identity_half_set),
        T(pitr_creds_get__container_full_uri_with_token_file),
        T(pitr_creds_get__container_token_from_env),
        T(pitr_creds_provider_new__container_uri_checks),
        T(pitr_creds_get__container_error_hides_token),
        T(pitr_creds_get__refresh_failure_keeps_valid_credentials),
        T(pitr_creds_get__imds_v2_flow),
        T(pitr_creds_get__imds_refreshes_expiring_credentials),
        T(pitr_creds_get__imds_unreachable_is_no_credentials),
        T(pitr_creds_get__imds_without_role),
        T(pitr_creds_get__secrets_stay_out_of_logs),
        T(pitr_creds_get__threads_share_one_fetch),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
