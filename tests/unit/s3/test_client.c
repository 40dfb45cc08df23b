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

#include <string.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
