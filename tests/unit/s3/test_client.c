/*
 * test_client.c - unit tests for src/s3/client.c that need no network:
 * endpoint parsing and addressing style, request paths and URLs (key
 * encoding), the ListObjectsV2 query and the mapping of error answers.
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/s3/client.h"
#include "s3/client_int.h"

static struct pitr_s3_client *make(const char *endpoint,
                                   const char *region,
                                   enum pitr_url_style style)
{
    struct pitr_s3_client_opts o;
    struct pitr_s3_client *c = NULL;
    struct pitr_err err;

    memset(&o, 0, sizeof(o));
    o.endpoint_url = endpoint;
    o.bucket = "my-bucket";
    o.region = region;
    o.url_style = style;
    o.access_key = "AKIDEXAMPLE";
    o.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    pitr_err_clear(&err);
    if (pitr_s3_client_new(&o, &c, &err) != PITR_OK)
        fail_msg("pitr_s3_client_new('%s'): %s", endpoint ? endpoint : "(null)", err.msg);
    return c;
}

/* The URL the client would send for key (NULL: the bucket) and query. */
static void expect_url(const struct pitr_s3_client *c,
                       const char *key,
                       const char *query,
                       const char *want_path,
                       const char *want_url)
{
    struct pitr_buf path, url;
    struct pitr_err err;

    pitr_err_clear(&err);
    pitr_buf_init(&path, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&url, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_s3_client_target(c, key, query, &path, &url, &err), PITR_OK);
    assert_string_equal(path.data, want_path);
    assert_string_equal(url.data, want_url);
    pitr_buf_release(&path);
    pitr_buf_release(&url);
}

static void pitr_s3_client_new__auto_style(void **state)
{
    static const struct {
        const char *endpoint;
        int path_style;
        const char *host;
    } cases[] = {
        { "http://127.0.0.1:9000", 1, "127.0.0.1:9000" },
        { "https://10.1.2.3", 1, "10.1.2.3" },
        { "http://[::1]:8080", 1, "[::1]:8080" },
        { "http://localhost:9000/", 1, "localhost:9000" },
        { "http://minio", 1, "minio" },
        { "https://s3.eu-west-3.amazonaws.com", 0, "my-bucket.s3.eu-west-3.amazonaws.com" },
        { "https://storage.example.com:8443", 0, "my-bucket.storage.example.com:8443" },
        { "HTTPS://s3.example.com", 0, "my-bucket.s3.example.com" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pitr_s3_client *c = make(cases[i].endpoint, NULL, PITR_URL_STYLE_AUTO);

        assert_int_equal(pitr_s3_client_path_style(c), cases[i].path_style);
        assert_string_equal(pitr_s3_client_host(c), cases[i].host);
        pitr_s3_client_free(c);
    }
}

static void pitr_s3_client_new__forced_styles(void **state)
{
    struct pitr_s3_client *c;

    (void)state;
    c = make("https://s3.example.com", NULL, PITR_URL_STYLE_PATH);
    assert_true(pitr_s3_client_path_style(c));
    assert_string_equal(pitr_s3_client_host(c), "s3.example.com");
    expect_url(c, "a/b", NULL, "/my-bucket/a/b", "https://s3.example.com/my-bucket/a/b");
    pitr_s3_client_free(c);

    c = make("http://127.0.0.1:9000", NULL, PITR_URL_STYLE_VIRTUAL);
    assert_false(pitr_s3_client_path_style(c));
    assert_string_equal(pitr_s3_client_host(c), "my-bucket.127.0.0.1:9000");
    expect_url(c, "a/b", NULL, "/a/b", "http://my-bucket.127.0.0.1:9000/a/b");
    pitr_s3_client_free(c);
}

static void pitr_s3_client_new__default_endpoint_from_region(void **state)
{
    struct pitr_s3_client *c;

    (void)state;
    c = make(NULL, "eu-central-1", PITR_URL_STYLE_AUTO);
    assert_false(pitr_s3_client_path_style(c));
    assert_string_equal(pitr_s3_client_host(c), "my-bucket.s3.eu-central-1.amazonaws.com");
    expect_url(c, "k", NULL, "/k", "https://my-bucket.s3.eu-central-1.amazonaws.com/k");
    pitr_s3_client_free(c);

    c = make("", NULL, PITR_URL_STYLE_AUTO); /* region defaults to us-east-1 */
    assert_string_equal(pitr_s3_client_host(c), "my-bucket.s3.us-east-1.amazonaws.com");
    pitr_s3_client_free(c);
}

static void pitr_s3_client_new__rejects_bad_input(void **state)
{
    static const char *const bad_endpoints[] = {
        "ftp://host",
        "host:9000",
        "http://",
        "http://:9000",
        "http://host:",
        "http://host:90a0",
        "http://host:123456",
        "http://host/base/path",
        "http://host?x=1",
        "http://user:secret@host",
        "http://[::1",
        "http://ho st",
    };
    struct pitr_s3_client_opts o;
    struct pitr_s3_client *c = NULL;
    struct pitr_err err;
    size_t i;

    (void)state;
    memset(&o, 0, sizeof(o));
    o.bucket = "b";
    o.access_key = "AK";
    o.secret_key = "SK";
    for (i = 0; i < sizeof(bad_endpoints) / sizeof(bad_endpoints[0]); i++) {
        o.endpoint_url = bad_endpoints[i];
        pitr_err_clear(&err);
        if (pitr_s3_client_new(&o, &c, &err) != PITR_EUSAGE)
            fail_msg("endpoint '%s' was accepted", bad_endpoints[i]);
        assert_null(c);
        assert_non_null(strstr(err.msg, "invalid S3 endpoint"));
        assert_null(strstr(err.msg, "secret")); /* credentials in a URL are not echoed */
    }

    o.endpoint_url = "http://127.0.0.1";
    o.secret_key = NULL;
    assert_int_equal(pitr_s3_client_new(&o, &c, &err), PITR_EUSAGE);
    assert_string_equal(err.msg,
                        "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    o.secret_key = "SK";
    o.bucket = "";
    assert_int_equal(pitr_s3_client_new(&o, &c, &err), PITR_EUSAGE);
    o.bucket = "a/b";
    assert_int_equal(pitr_s3_client_new(&o, &c, &err), PITR_EUSAGE);
    assert_null(c);
}

static void pitr_s3_client_target__key_encoding(void **state)
{
    struct pitr_s3_client *c = make("http://127.0.0.1:9000", NULL, PITR_URL_STYLE_AUTO);
    struct pitr_s3_client *v = make("https://s3.example.com", NULL, PITR_URL_STYLE_AUTO);

    (void)state;
    expect_url(
      c,
      "pg1/wals/0000000100000000/000000010000000000000001.gz",
      NULL,
      "/my-bucket/pg1/wals/0000000100000000/000000010000000000000001.gz",
      "http://127.0.0.1:9000/my-bucket/pg1/wals/0000000100000000/000000010000000000000001.gz");
    /* Unreserved characters and '/' stay; everything else once as %XX, uppercase. */
    expect_url(c,
               "a b+c=d~e_f-g.h%i",
               NULL,
               "/my-bucket/a%20b%2Bc%3Dd~e_f-g.h%25i",
               "http://127.0.0.1:9000/my-bucket/a%20b%2Bc%3Dd~e_f-g.h%25i");
    expect_url(c,
               "\xc3\xa9/\xe6\x97\xa5?#&",
               NULL,
               "/my-bucket/%C3%A9/%E6%97%A5%3F%23%26",
               "http://127.0.0.1:9000/my-bucket/%C3%A9/%E6%97%A5%3F%23%26");
    /* Dot segments and double slashes are part of the key, not normalised away. */
    expect_url(c,
               "a/./b/../c//d",
               NULL,
               "/my-bucket/a/./b/../c//d",
               "http://127.0.0.1:9000/my-bucket/a/./b/../c//d");
    expect_url(v, "a b/c", NULL, "/a%20b/c", "https://my-bucket.s3.example.com/a%20b/c");
    /* The bucket itself, with a query. */
    expect_url(c, NULL, "list-type=2", "/my-bucket", "http://127.0.0.1:9000/my-bucket?list-type=2");
    expect_url(v, NULL, "list-type=2", "/", "https://my-bucket.s3.example.com/?list-type=2");
    expect_url(v, NULL, "", "/", "https://my-bucket.s3.example.com/");
    pitr_s3_client_free(c);
    pitr_s3_client_free(v);
}

static void pitr_s3_list_query__sorted_and_encoded(void **state)
{
    struct pitr_buf q;
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    pitr_buf_init(&q, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_s3_list_query(NULL, NULL, 0, &q, &err), PITR_OK);
    assert_string_equal(q.data, "list-type=2");
    pitr_buf_reset(&q);
    assert_int_equal(pitr_s3_list_query("", NULL, 2, &q, &err), PITR_OK);
    assert_string_equal(q.data, "list-type=2&max-keys=2");
    pitr_buf_reset(&q);
    assert_int_equal(pitr_s3_list_query("pg1/wals/a b+", "1/ab+c==", 1000, &q, &err), PITR_OK);
    assert_string_equal(
      q.data,
      "continuation-token=1%2Fab%2Bc%3D%3D&list-type=2&max-keys=1000&prefix=pg1%2Fwals%2Fa%20b%2B");
    pitr_buf_release(&q);
}

static void pitr_s3_error_from_response__mapping(void **state)
{
    static const char sig[] = "<?xml version='1.0' encoding='UTF-8'?>\n<Error>"
                              "<Code>SignatureDoesNotMatch</Code><Message>The request signature we "
                              "calculated does not match</Message></Error>";
    static const char nokey[] = "<Error><Code>NoSuchKey</Code><Message>The specified key does "
                                "not exist.</Message></Error>";
    static const char nobucket[] = "<Error><Code>NoSuchBucket</Code><Message>The specified bucket "
                                   "does not exist</Message></Error>";
    static const char slow[] = "<Error><Code>SlowDown</Code><Message>Reduce your request "
                               "rate.</Message></Error>";
    static const char badkey[] = "<Error><Code>InvalidAccessKeyId</Code></Error>";
    static const char denied[] =
      "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
    static const char skew[] =
      "<Error><Code>RequestTimeTooSkewed</Code><Message>skew</Message></Error>";
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    assert_int_equal(
      pitr_s3_error_from_response("PUT", "pgpitr-test", "pg1/wals/x", 403, sig, strlen(sig), &err),
      PITR_EAUTH);
    assert_int_equal(err.code, PITR_EAUTH);
    assert_int_equal(err.http_status, 403);
    assert_string_equal(err.s3_code, "SignatureDoesNotMatch");
    assert_non_null(strstr(err.msg,
                           "PUT 's3://pgpitr-test/pg1/wals/x': 403 SignatureDoesNotMatch: The "
                           "request signature we calculated does not match"));

    assert_int_equal(pitr_s3_error_from_response("GET", "b", "k", 404, nokey, strlen(nokey), &err),
                     PITR_ENOTFOUND);
    assert_string_equal(err.s3_code, "NoSuchKey");
    assert_string_equal(err.msg,
                        "GET 's3://b/k': 404 NoSuchKey: The specified key does not exist.");

    /* HEAD answers carry no body. */
    assert_int_equal(pitr_s3_error_from_response("HEAD", "b", "k", 404, "", 0, &err),
                     PITR_ENOTFOUND);
    assert_string_equal(err.msg, "HEAD 's3://b/k': 404 Not Found");
    assert_string_equal(err.s3_code, "");
    assert_int_equal(err.http_status, 404);
    assert_int_equal(pitr_s3_error_from_response("HEAD", "b", "k", 403, "", 0, &err), PITR_EAUTH);
    assert_string_equal(err.msg, "HEAD 's3://b/k': 403 Forbidden");

    /* A missing bucket is a configuration problem, not a missing object. */
    assert_int_equal(
      pitr_s3_error_from_response("GET", "b", "k", 404, nobucket, strlen(nobucket), &err),
      PITR_ES3);
    assert_string_equal(err.s3_code, "NoSuchBucket");

    assert_int_equal(pitr_s3_error_from_response("PUT", "b", "k", 503, slow, strlen(slow), &err),
                     PITR_ES3);
    assert_string_equal(err.s3_code, "SlowDown");
    assert_true(pitr_err_retryable(&err));
    assert_int_equal(
      pitr_s3_error_from_response("PUT", "b", "k", 403, badkey, strlen(badkey), &err), PITR_EAUTH);
    assert_string_equal(err.msg, "PUT 's3://b/k': 403 InvalidAccessKeyId");
    assert_int_equal(
      pitr_s3_error_from_response("PUT", "b", "k", 403, denied, strlen(denied), &err), PITR_EAUTH);
    assert_int_equal(pitr_s3_error_from_response("PUT", "b", "k", 403, skew, strlen(skew), &err),
                     PITR_ES3);
    assert_string_equal(err.s3_code, "RequestTimeTooSkewed");

    /* A body that is not an S3 error document (a proxy's HTML page). */
    assert_int_equal(
      pitr_s3_error_from_response("LIST", "b", "pfx/", 502, "<html>bad gateway</html>", 24, &err),
      PITR_ES3);
    assert_string_equal(err.msg, "LIST 's3://b/pfx/': 502 Bad Gateway");
    assert_true(pitr_err_retryable(&err));
    assert_int_equal(pitr_s3_error_from_response("DELETE", "b", NULL, 500, "", 0, &err), PITR_ES3);
    assert_string_equal(err.msg, "DELETE 's3://b/': 500 Internal Server Error");
}

static void pitr_s3_encode_tags__encoded_pairs_and_limits(void **state)
{
    struct pitr_buf out;
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    pitr_buf_init(&out, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_s3_encode_tags("env=prod,team=db ops,k/x=a&b=c,empty=", &out, &err),
                     PITR_OK);
    assert_string_equal(out.data, "env=prod&team=db%20ops&k%2Fx=a%26b%3Dc&empty=");
    pitr_buf_reset(&out);
    assert_int_equal(pitr_s3_encode_tags("novalue", &out, &err), PITR_EUSAGE);
    assert_int_equal(pitr_s3_encode_tags("=v", &out, &err), PITR_EUSAGE);
    assert_int_equal(
      pitr_s3_encode_tags("a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9,j=10,k=11", &out, &err),
      PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "10 tags"));
    pitr_buf_release(&out);
}

static void pitr_s3_delete_request__body_and_content_md5(void **state)
{
    const char *keys[] = { "pg1/a", "pg1/b&c" };
    struct pitr_buf body;
    struct pitr_err err;
    char md5[25];

    (void)state;
    pitr_err_clear(&err);
    pitr_buf_init(&body, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_s3_delete_request(keys, 2, &body, md5, &err), PITR_OK);
    assert_string_equal(
      body.data,
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
      "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
      "<Object><Key>pg1/a</Key></Object><Object><Key>pg1/b&amp;c</Key></Object>"
      "</Delete>");
    /* base64(MD5(body)), computed independently with `openssl dgst -md5 -binary | base64`. */
    assert_string_equal(md5, "SpTAcWiZcNkqlzZokBz3mg==");
    pitr_buf_reset(&body);
    assert_int_equal(pitr_s3_delete_request(keys, 0, &body, md5, &err), PITR_EINTERNAL);
    assert_int_equal(pitr_s3_delete_request(keys, PITR_S3_DELETE_BATCH + 1, &body, md5, &err),
                     PITR_EINTERNAL);
    pitr_buf_release(&body);
}

static void pitr_s3_delete_check__failed_keys_are_named(void **state)
{
    static const char all_ok[] = "<DeleteResult></DeleteResult>";
    static const char some[] =
      "<DeleteResult><Error><Key>pg1/x</Key><Code>AccessDenied</Code><Message>Access "
      "Denied</Message></Error><Error><Key>pg1/y</Key><Code>InternalError</Code></Error>"
      "</DeleteResult>";
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    assert_int_equal(pitr_s3_delete_check("b", all_ok, strlen(all_ok), 5, &err), PITR_OK);
    assert_int_equal(pitr_s3_delete_check("b", some, strlen(some), 5, &err), PITR_ES3);
    assert_string_equal(err.msg,
                        "DELETE-OBJECTS 's3://b': 2 of 5 keys not deleted: 'pg1/x' (AccessDenied: "
                        "Access Denied), 'pg1/y' (InternalError)");
    assert_string_equal(err.s3_code, "AccessDenied");
    assert_int_equal(pitr_s3_delete_check("b", "<x", 2, 5, &err), PITR_EFORMAT);
}

static void pitr_s3_complete_check__200_with_error_fails(void **state)
{
    static const char ok[] = "<CompleteMultipartUploadResult><ETag>\"e-2\"</ETag>"
                             "</CompleteMultipartUploadResult>";
    static const char bad[] = "\n  <Error><Code>InvalidPart</Code><Message>One or more of the "
                              "specified parts could not be found.</Message></Error>";
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    assert_int_equal(pitr_s3_complete_check("b", "k", 200, ok, strlen(ok), &err), PITR_OK);
    assert_int_equal(pitr_s3_complete_check("b", "k", 200, bad, strlen(bad), &err), PITR_ES3);
    assert_string_equal(err.msg,
                        "COMPLETE-MULTIPART 's3://b/k': 200 InvalidPart: One or more of the "
                        "specified parts could not be found.");
    assert_int_equal(err.http_status, 200);
    assert_string_equal(err.s3_code, "InvalidPart");
    /* An empty 200 answer is not a success either. */
    assert_int_equal(pitr_s3_complete_check("b", "k", 200, "", 0, &err), PITR_EFORMAT);
}

/* ---- a scripted loopback server: one canned answer per request --------- */

struct script {
    int listen_fd;
    int port;
    const char *const *answers;
    size_t n;
    size_t served;
    char requests[4][2048]; /* the first bytes of each request */
    size_t body_ok;         /* requests whose body arrived whole */
    const char *want_body;  /* the body every request must carry, or NULL */
    pthread_t thread;
};

static void *script_serve(void *ud)
{
    struct script *s = ud;
    char buf[8192];

    while (s->served < s->n) {
        int fd = accept(s->listen_fd, NULL, NULL);

        if (fd < 0)
            break;
        while (s->served < s->n) {
            size_t len = 0, want = 0;
            char *end = NULL, *cl;
            ssize_t r;

            while (len + 1 < sizeof(buf)) {
                r = read(fd, buf + len, sizeof(buf) - 1 - len);
                if (r <= 0)
                    break;
                len += (size_t)r;
                buf[len] = '\0';
                if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
                    cl = strstr(buf, "\r\nContent-Length:");
                    want =
                      (size_t)(end + 4 - buf) + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
                }
                if (end != NULL && len >= want)
                    break;
            }
            if (end == NULL)
                break; /* the client closed the connection */
            if (s->served < 4) {
                size_t n = len < sizeof(s->requests[0]) - 1 ? len : sizeof(s->requests[0]) - 1;

                memcpy(s->requests[s->served], buf, n);
                s->requests[s->served][n] = '\0';
            }
            if (s->want_body != NULL && strcmp(end + 4, s->want_body) == 0)
                s->body_ok++;
            if (write(fd, s->answers[s->served], strlen(s->answers[s->served])) < 0)
                break;
            s->served++;
        }
        close(fd);
    }
    return NULL;
}

static void script_start(struct script *s, const char *const *answers, size_t n)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    memset(s, 0, sizeof(*s));
    s->answers = answers;
    s->n = n;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->listen_fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(s->listen_fd, 4), 0);
    assert_int_equal(getsockname(s->listen_fd, (struct sockaddr *)&sa, &len), 0);
    s->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, script_serve, s), 0);
}

static void script_stop(struct script *s)
{
    shutdown(s->listen_fd, SHUT_RDWR);
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
}

static struct pitr_s3_client *make_retrying(int port, long retry_ms)
{
    struct pitr_s3_client_opts o;
    struct pitr_s3_client *c = NULL;
    struct pitr_err err;
    char endpoint[64];

    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", port);
    memset(&o, 0, sizeof(o));
    o.endpoint_url = endpoint;
    o.bucket = "b";
    o.access_key = "AKIDEXAMPLE";
    o.secret_key = "secret";
    o.retry_max_time_ms = retry_ms;
    o.sse = "aws:kms";
    o.sse_kms_key_id = "key-1";
    o.tags = "a=b c";
    o.history_tags = "kind=tl history";
    o.storage_class = "STANDARD_IA";
    pitr_err_clear(&err);
    if (pitr_s3_client_new(&o, &c, &err) != PITR_OK)
        fail_msg("pitr_s3_client_new: %s", err.msg);
    return c;
}

static void pitr_s3_put_object__retries_5xx_and_resends_the_body(void **state)
{
    static const char *const answers[] = {
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 56\r\n\r\n"
        "<Error><Code>SlowDown</Code><Message>m</Message></Error>",
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nETag: \"e\"\r\nContent-Length: 0\r\n\r\n",
    };
    struct script srv;
    struct pitr_s3_client *c;
    struct pitr_err err;
    int i;

    (void)state;
    script_start(&srv, answers, 3);
    srv.want_body = "payload";
    c = make_retrying(srv.port, 30000);
    pitr_err_clear(&err);
    assert_int_equal(pitr_s3_put_object(c, "k", "payload", 7, &err), PITR_OK);
    pitr_s3_client_free(c);
    script_stop(&srv);
    assert_int_equal(srv.served, 3);
    assert_int_equal(srv.body_ok, 3); /* the body was sent whole each time */
    for (i = 0; i < 3; i++) {
        /* Each attempt is signed, and carries the new-object headers (signed too). */
        assert_non_null(strstr(srv.requests[i], "Authorization: AWS4-HMAC-SHA256"));
        assert_non_null(strstr(srv.requests[i], "x-amz-date: "));
        assert_non_null(strstr(srv.requests[i], "x-amz-server-side-encryption: aws:kms\r\n"));
        assert_non_null(
          strstr(srv.requests[i], "x-amz-server-side-encryption-aws-kms-key-id: key-1\r\n"));
        assert_non_null(strstr(srv.requests[i], "x-amz-storage-class: STANDARD_IA\r\n"));
        assert_non_null(strstr(srv.requests[i], "x-amz-tagging: a=b%20c\r\n"));
        assert_non_null(strstr(srv.requests[i],
                               "x-amz-server-side-encryption;x-amz-server-side-encryption-aws-kms-"
                               "key-id;x-amz-storage-class;x-amz-tagging"));
    }
}

/* payload-signing = unsigned: UNSIGNED-PAYLOAD and the body's MD5; never for an empty body. */
static void pitr_s3_payload_proof__unsigned_and_full(void **state)
{
    char hash[PITR_SHA256_HEX_LEN + 1], md5[PITR_MD5_B64_LEN + 1];
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    /* MD5("Welcome to Amazon S3.") and SHA-256 of the same (AWS's S3 PUT example). */
    assert_int_equal(pitr_s3_payload_proof(1, "Welcome to Amazon S3.", 21, hash, md5, &err),
                     PITR_OK);
    assert_string_equal(hash, "UNSIGNED-PAYLOAD");
    assert_string_equal(md5, "1EfQ6PKJ8WoS/2AnznfCWA==");
    assert_int_equal(pitr_s3_payload_proof(0, "Welcome to Amazon S3.", 21, hash, md5, &err),
                     PITR_OK);
    assert_string_equal(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    assert_string_equal(md5, "");
    /* No body (GET, LIST, HEAD, DELETE): the hash of nothing, signed, as always. */
    assert_int_equal(pitr_s3_payload_proof(1, NULL, 0, hash, md5, &err), PITR_OK);
    assert_string_equal(hash, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_string_equal(md5, "");
}

static struct pitr_s3_client *make_signing(const char *endpoint, enum pitr_payload_signing ps)
{
    struct pitr_s3_client_opts o;
    struct pitr_s3_client *c = NULL;
    struct pitr_err err;

    memset(&o, 0, sizeof(o));
    o.endpoint_url = endpoint;
    o.bucket = "b";
    o.access_key = "AKIDEXAMPLE";
    o.secret_key = "secret";
    o.payload_signing = ps;
    pitr_err_clear(&err);
    if (pitr_s3_client_new(&o, &c, &err) != PITR_OK)
        fail_msg("pitr_s3_client_new: %s", err.msg);
    return c;
}

/* unsigned takes effect over https only; a clone keeps the setting. */
static void pitr_s3_client_new__unsigned_payload_only_over_https(void **state)
{
    struct pitr_s3_client *c, *k = NULL;
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    c = make_signing("https://127.0.0.1:9", PITR_PAYLOAD_SIGNING_UNSIGNED);
    assert_true(pitr_s3_client_unsigned_payload(c));
    assert_int_equal(pitr_s3_client_clone(c, &k, &err), PITR_OK);
    assert_true(pitr_s3_client_unsigned_payload(k));
    pitr_s3_client_free(k);
    pitr_s3_client_free(c);
    c = make_signing("http://127.0.0.1:9", PITR_PAYLOAD_SIGNING_UNSIGNED);
    assert_false(pitr_s3_client_unsigned_payload(c));
    pitr_s3_client_free(c);
    c = make_signing("https://127.0.0.1:9", PITR_PAYLOAD_SIGNING_FULL);
    assert_false(pitr_s3_client_unsigned_payload(c));
    pitr_s3_client_free(c);
}

/* Over plain http a PUT asked to be unsigned still carries and signs the body's SHA-256. */
static void pitr_s3_put_object__unsigned_ignored_over_http(void **state)
{
    static const char *const answers[] = {
        "HTTP/1.1 200 OK\r\nETag: \"e\"\r\nContent-Length: 0\r\n\r\n",
    };
    struct script srv;
    struct pitr_s3_client *c;
    struct pitr_err err;
    char endpoint[64];

    (void)state;
    script_start(&srv, answers, 1);
    srv.want_body = "Welcome to Amazon S3.";
    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", srv.port);
    c = make_signing(endpoint, PITR_PAYLOAD_SIGNING_UNSIGNED);
    pitr_err_clear(&err);
    assert_int_equal(pitr_s3_put_object(c, "k", "Welcome to Amazon S3.", 21, &err), PITR_OK);
    pitr_s3_client_free(c);
    script_stop(&srv);
    assert_int_equal(srv.body_ok, 1);
    assert_non_null(strstr(srv.requests[0],
                           "x-amz-content-sha256: "
                           "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\r\n"));
    assert_null(strstr(srv.requests[0], "UNSIGNED-PAYLOAD"));
    assert_null(strstr(srv.requests[0], "Content-MD5"));
}

static void pitr_s3_put_object__4xx_fails_at_once(void **state)
{
    static const char *const answers[] = {
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 79\r\n\r\n"
        "<Error><Code>InvalidArgument</Code><Message>bad storage class</Message></Error>",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    };
    struct script srv;
    struct pitr_s3_client *c;
    struct pitr_err err;

    (void)state;
    script_start(&srv, answers, 2);
    c = make_retrying(srv.port, 30000);
    pitr_err_clear(&err);
    assert_int_equal(pitr_s3_put_object(c, "k", "x", 1, &err), PITR_ES3);
    assert_string_equal(err.msg, "PUT 's3://b/k': 400 InvalidArgument: bad storage class");
    pitr_s3_client_free(c);
    script_stop(&srv);
    assert_int_equal(srv.served, 1);
}

/*
 * CreateMultipartUpload carries the new-object headers (tags URL-encoded)
 * and signs them; a *.history object carries the history tags instead; a
 * store without tagging (Swift: 501) fails at once with a hint that names
 * the option.
 */
static void pitr_s3_multipart_create__tagging_signed_and_refusal_explained(void **state)
{
    static const char init[] =
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId>"
      "</InitiateMultipartUploadResult>";
    static const char no_tags[] =
      "<Error><Code>NotImplemented</Code><Message>Object tagging is not supported.</Message>"
      "</Error>";
    char a0[256], a1[256];
    const char *answers[3];
    struct script srv;
    struct pitr_s3_client *c;
    struct pitr_err err;
    char *id = NULL;

    (void)state;
    snprintf(
      a0, sizeof(a0), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(init), init);
    snprintf(a1,
             sizeof(a1),
             "HTTP/1.1 501 Not Implemented\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(no_tags),
             no_tags);
    answers[0] = a0;
    answers[1] = "HTTP/1.1 200 OK\r\nETag: \"e\"\r\nContent-Length: 0\r\n\r\n";
    answers[2] = a1;
    script_start(&srv, answers, 3);
    c = make_retrying(srv.port, 30000);
    pitr_err_clear(&err);
    assert_int_equal(pitr_s3_multipart_create(c, "k", &id, &err), PITR_OK);
    assert_string_equal(id, "u1");
    assert_int_equal(pitr_s3_put_object(c, "w/00000002.history.gz", "x", 1, &err), PITR_OK);
    assert_int_equal(pitr_s3_put_object(c, "k2", "x", 1, &err), PITR_ES3);
    pitr_s3_client_free(c);
    script_stop(&srv);
    assert_int_equal(srv.served, 3); /* 501 is not retried */
    assert_non_null(strstr(srv.requests[1], "x-amz-tagging: kind=tl%20history\r\n"));
    assert_null(strstr(srv.requests[1], "a=b%20c"));
    assert_non_null(strstr(srv.requests[2], "x-amz-tagging: a=b%20c\r\n"));
    assert_non_null(strstr(srv.requests[0], "POST /b/k?uploads HTTP/1.1\r\n"));
    assert_non_null(strstr(srv.requests[0], "x-amz-tagging: a=b%20c\r\n"));
    assert_non_null(strstr(srv.requests[0], ";x-amz-storage-class;x-amz-tagging, Signature="));
    assert_int_equal(err.http_status, 501);
    assert_string_equal(err.s3_code, "NotImplemented");
    assert_non_null(strstr(err.msg, "PUT 's3://b/k2': 501 NotImplemented: Object tagging is not"));
    assert_non_null(strstr(err.msg, "HINT: this object store does not implement object tags"));
    pitr_free(id);
}

static void pitr_s3_put_object__gives_up_after_retry_max_time(void **state)
{
    static const char *const answers[] = {
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
    };
    struct script srv;
    struct pitr_s3_client *c;
    struct pitr_err err;
    struct timespec t0, t1;
    long ms;

    (void)state;
    script_start(&srv, answers, 12);
    c = make_retrying(srv.port, 1500);
    pitr_err_clear(&err);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(pitr_s3_put_object(c, "k", "x", 1, &err), PITR_ES3);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms <= 1500 + 500); /* bounded: no attempt starts after the limit */
    assert_int_equal(err.http_status, 503);
    assert_non_null(strstr(err.msg, "gave up after"));
    pitr_s3_client_free(c);
    /* Unblock the server thread: it waits for the requests we did not send. */
    shutdown(srv.listen_fd, SHUT_RDWR);
    pthread_join(srv.thread, NULL);
    close(srv.listen_fd);
    assert_true(srv.served >= 2);
    assert_true(srv.served < 12);
}

static void pitr_s3_multipart_complete__200_error_retried_then_final(void **state)
{
    static const char *const answers[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 68\r\n\r\n"
        "   <Error><Code>InternalError</Code><Message>again</Message></Error>",
        "HTTP/1.1 200 OK\r\nContent-Length: 67\r\n\r\n"
        "<Error><Code>InvalidPart</Code><Message>no part 2</Message></Error>",
    };
    struct pitr_s3_part parts[1] = { { 1, "\"e\"" } };
    struct script srv;
    struct pitr_s3_client *c;
    struct pitr_err err;

    (void)state;
    script_start(&srv, answers, 2);
    c = make_retrying(srv.port, 30000);
    pitr_err_clear(&err);
    assert_int_equal(pitr_s3_multipart_complete(c, "k", "up/1", parts, 1, &err), PITR_ES3);
    assert_string_equal(err.msg, "COMPLETE-MULTIPART 's3://b/k': 200 InvalidPart: no part 2");
    pitr_s3_client_free(c);
    script_stop(&srv);
    assert_int_equal(srv.served, 2);
    assert_non_null(strstr(srv.requests[0], "POST /b/k?uploadId=up%2F1 HTTP/1.1"));
}

/* A 200 answer carrying body, with its Content-Length, into dst. */
static const char *ok_answer(char *dst, size_t size, const char *body)
{
    snprintf(dst, size, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
    return dst;
}

static pitr_rc count_key(const char *key,
                         const struct pitr_s3_object_info *info,
                         void *ud,
                         struct pitr_err *err)
{
    (void)key;
    (void)info;
    (void)err;
    (*(int *)ud)++;
    return PITR_OK;
}

/* List "pre" through a one-shot scripted server answering the given pages. */
static pitr_rc list_pages(const char *const *pages,
                          size_t n,
                          size_t *served,
                          int *keys,
                          struct pitr_err *err)
{
    static char answers[4][1024];
    const char *a[4];
    struct script srv;
    struct pitr_s3_client *c;
    size_t i;
    pitr_rc rc;

    assert_true(n <= 4);
    for (i = 0; i < n; i++)
        a[i] = ok_answer(answers[i], sizeof(answers[i]), pages[i]);
    script_start(&srv, a, n);
    c = make_retrying(srv.port, 0);
    pitr_err_clear(err);
    *keys = 0;
    rc = pitr_s3_list_objects(c, "pre", count_key, keys, err);
    pitr_s3_client_free(c);
    shutdown(srv.listen_fd, SHUT_RDWR);
    pthread_join(srv.thread, NULL);
    close(srv.listen_fd);
    *served = srv.served;
    return rc;
}

static void pitr_s3_list_objects__truncated_forever_is_refused(void **state)
{
    static const char *const same_token[] = {
        "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>T"
        "</NextContinuationToken><Contents><Key>pre/a</Key><Size>1</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>T"
        "</NextContinuationToken><Contents><Key>pre/b</Key><Size>1</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
    };
    static const char *const empty_pages[] = {
        "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>T1"
        "</NextContinuationToken></ListBucketResult>",
        "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>T2"
        "</NextContinuationToken></ListBucketResult>",
        "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
    };
    static const char *const deep[] = {
        "<ListBucketResult><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a>",
    };
    struct pitr_err err;
    size_t served;
    int keys;

    (void)state;
    /* The same token twice: refused after the second page, naming the listing. */
    assert_int_equal(list_pages(same_token, 3, &served, &keys, &err), PITR_EFORMAT);
    assert_int_equal(served, 2);
    assert_int_equal(keys, 2);
    assert_non_null(strstr(err.msg,
                           "LIST 's3://b/pre': page 2 is truncated but hands back the "
                           "same marker 'T': the listing would never end"));

    /* A truncated page without keys (new tokens each time): refused at once. */
    assert_int_equal(list_pages(empty_pages, 3, &served, &keys, &err), PITR_EFORMAT);
    assert_int_equal(served, 1);
    assert_non_null(strstr(err.msg, "LIST 's3://b/pre': page 1 is empty but says it is truncated"));

    /* Nesting without end: the depth limit, and the message names the listing. */
    assert_int_equal(list_pages(deep, 1, &served, &keys, &err), PITR_ELIMIT);
    assert_non_null(strstr(err.msg, "LIST 's3://b/pre'"));
    assert_non_null(strstr(err.msg, "deeper than"));
}

static pitr_rc count_upload(const char *key,
                            const char *upload_id,
                            int64_t initiated,
                            void *ud,
                            struct pitr_err *err)
{
    (void)key;
    (void)upload_id;
    (void)initiated;
    (void)err;
    (*(int *)ud)++;
    return PITR_OK;
}

static void pitr_s3_list_uploads__repeated_markers_are_refused(void **state)
{
    static char answers[3][1024];
    const char *a[3];
    struct script srv;
    struct pitr_s3_client *c;
    struct pitr_err err;
    int n = 0;

    (void)state;
    a[0] = ok_answer(answers[0],
                     sizeof(answers[0]),
                     "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>"
                     "<NextKeyMarker>k</NextKeyMarker><NextUploadIdMarker>u</NextUploadIdMarker>"
                     "<Upload><Key>k</Key><UploadId>u</UploadId></Upload>"
                     "</ListMultipartUploadsResult>");
    a[1] = a[0];
    a[2] = ok_answer(answers[2],
                     sizeof(answers[2]),
                     "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>"
                     "</ListMultipartUploadsResult>");
    script_start(&srv, a, 3);
    c = make_retrying(srv.port, 0);
    pitr_err_clear(&err);
    assert_int_equal(pitr_s3_list_uploads(c, "pre", count_upload, &n, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg,
                           "LIST-UPLOADS 's3://b/pre': page 2 is truncated but hands "
                           "back the same marker 'k'"));
    pitr_s3_client_free(c);
    shutdown(srv.listen_fd, SHUT_RDWR);
    pthread_join(srv.thread, NULL);
    close(srv.listen_fd);
    assert_int_equal(srv.served, 2);
}

static void pitr_s3_get_object__never_more_than_the_buffer_takes(void **state)
{
    static const char *const answers[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
        "0123456789012345678901234567890123456789012345678901234567890123456789"
        "012345678901234567890123456789",
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
    };
    struct script srv;
    struct pitr_s3_client *c;
    struct pitr_buf out;
    struct pitr_err err;

    (void)state;
    script_start(&srv, answers, 2);
    c = make_retrying(srv.port, 30000);
    pitr_buf_init(&out, 10);
    pitr_err_clear(&err);
    /* Refused on its Content-Length, not retried, nothing kept. */
    assert_int_equal(pitr_s3_get_object(c, "k", &out, &err), PITR_ELIMIT);
    assert_non_null(strstr(err.msg, "GET 's3://b/k'"));
    assert_non_null(strstr(err.msg, "announces 100 bytes, more than the 10 allowed"));
    assert_int_equal(out.len, 0);
    assert_int_equal(pitr_s3_get_object(c, "k", &out, &err), PITR_OK);
    assert_int_equal(out.len, 10);
    pitr_s3_client_free(c);
    script_stop(&srv);
    assert_int_equal(srv.served, 2);
    pitr_buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_s3_client_new__auto_style),
        cmocka_unit_test(pitr_s3_client_new__forced_styles),
        cmocka_unit_test(pitr_s3_client_new__default_endpoint_from_region),
        cmocka_unit_test(pitr_s3_client_new__rejects_bad_input),
        cmocka_unit_test(pitr_s3_client_target__key_encoding),
        cmocka_unit_test(pitr_s3_list_query__sorted_and_encoded),
        cmocka_unit_test(pitr_s3_error_from_response__mapping),
        cmocka_unit_test(pitr_s3_encode_tags__encoded_pairs_and_limits),
        cmocka_unit_test(pitr_s3_delete_request__body_and_content_md5),
        cmocka_unit_test(pitr_s3_delete_check__failed_keys_are_named),
        cmocka_unit_test(pitr_s3_complete_check__200_with_error_fails),
        cmocka_unit_test(pitr_s3_put_object__retries_5xx_and_resends_the_body),
        cmocka_unit_test(pitr_s3_payload_proof__unsigned_and_full),
        cmocka_unit_test(pitr_s3_client_new__unsigned_payload_only_over_https),
        cmocka_unit_test(pitr_s3_put_object__unsigned_ignored_over_http),
        cmocka_unit_test(pitr_s3_put_object__4xx_fails_at_once),
        cmocka_unit_test(pitr_s3_multipart_create__tagging_signed_and_refusal_explained),
        cmocka_unit_test(pitr_s3_put_object__gives_up_after_retry_max_time),
        cmocka_unit_test(pitr_s3_multipart_complete__200_error_retried_then_final),
        cmocka_unit_test(pitr_s3_list_objects__truncated_forever_is_refused),
        cmocka_unit_test(pitr_s3_list_uploads__repeated_markers_are_refused),
        cmocka_unit_test(pitr_s3_get_object__never_more_than_the_buffer_takes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
