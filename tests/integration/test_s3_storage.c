/*
 * test_s3_storage.c - the S3 storage driver against a real S3 server.
 *
 * Needs the environment that tests/rig/swift.sh writes into STATE_DIR/env:
 * PITR_TEST_S3_ENDPOINT, PITR_TEST_S3_TLS_ENDPOINT, PITR_TEST_CA_FILE,
 * PITR_TEST_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION.
 * A missing variable fails the run: a skipped S3 test proves nothing.
 * Every test works under its own prefix (unique per run) and removes what
 * it wrote.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/err.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"
#include "storage/s3_int.h"

#include "../unit/support/rigenv.h"

static const char *const env_names[] = {
    "PITR_TEST_S3_ENDPOINT", "PITR_TEST_S3_TLS_ENDPOINT", "PITR_TEST_CA_FILE", "PITR_TEST_BUCKET",
    "AWS_ACCESS_KEY_ID",     "AWS_SECRET_ACCESS_KEY",     "AWS_REGION",
};

static char run_prefix[64]; /* "it-<pid>-<time>": keeps runs apart */

/* A config as the loader would fill it from the rig's environment. */
static void rig_config(struct pitr_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->endpoint_url = getenv("PITR_TEST_S3_ENDPOINT");
    cfg->region = getenv("AWS_REGION");
    cfg->access_key = getenv("AWS_ACCESS_KEY_ID");
    cfg->secret_key = getenv("AWS_SECRET_ACCESS_KEY");
    cfg->url_style = PITR_URL_STYLE_AUTO;
}

static struct pitr_storage *open_cfg(const struct pitr_config *cfg, const char *prefix)
{
    struct pitr_storage *st = NULL;
    struct pitr_err err;
    pitr_rc rc;

    pitr_err_clear(&err);
    rc = pitr_storage_s3_new(cfg, getenv("PITR_TEST_BUCKET"), prefix, &st, &err);
    if (rc != PITR_OK)
        fail_msg("pitr_storage_s3_new: %s", err.msg);
    assert_non_null(st);
    assert_string_equal(st->ops->name, "s3");
    return st;
}

/* Storage under "<run_prefix>/<sub>" on the plain HTTP endpoint. */
static struct pitr_storage *open_sub(const char *sub)
{
    struct pitr_config cfg;
    char prefix[256];

    rig_config(&cfg);
    snprintf(prefix, sizeof(prefix), "%s/%s", run_prefix, sub);
    return open_cfg(&cfg, prefix);
}

static void put_ok(struct pitr_storage *st, const char *key, const void *p, size_t n)
{
    struct pitr_err err;

    pitr_err_clear(&err);
    if (st->ops->put(st, key, p, n, &err) != PITR_OK)
        fail_msg("put '%s': %s", key, err.msg);
}

static void get_expect(struct pitr_storage *st, const char *key, const void *p, size_t n)
{
    struct pitr_buf out;
    struct pitr_err err;

    pitr_err_clear(&err);
    pitr_buf_init(&out, PITR_BUF_LIMIT_WAL);
    if (st->ops->get(st, key, &out, &err) != PITR_OK)
        fail_msg("get '%s': %s", key, err.msg);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, p, n);
    pitr_buf_release(&out);
}

static void remove_ok(struct pitr_storage *st, const char *key)
{
    struct pitr_err err;

    pitr_err_clear(&err);
    if (st->ops->remove(st, key, &err) != PITR_OK)
        fail_msg("remove '%s': %s", key, err.msg);
}

struct key_list {
    char *keys[64];
    uint64_t sizes[64];
    size_t n;
};

static pitr_rc collect(const char *key,
                       const struct pitr_obj_info *info,
                       void *ud,
                       struct pitr_err *err)
{
    struct key_list *l = ud;

    if (l->n == sizeof(l->keys) / sizeof(l->keys[0]))
        return pitr_err_set(err, PITR_ELIMIT, "too many keys");
    l->sizes[l->n] = info->size;
    l->keys[l->n++] = pitr_strdup(key);
    return PITR_OK;
}

static void list_ok(struct pitr_storage *st, const char *prefix, struct key_list *l)
{
    struct pitr_err err;

    memset(l, 0, sizeof(*l));
    pitr_err_clear(&err);
    if (st->ops->list(st, prefix, collect, l, &err) != PITR_OK)
        fail_msg("list '%s': %s", prefix, err.msg);
}

static void key_list_release(struct key_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        pitr_free(l->keys[i]);
    l->n = 0;
}

static void s3_storage__put_get_head_remove(void **state)
{
    struct pitr_storage *st = open_sub("basic");
    struct pitr_obj_info info;
    struct pitr_buf out;
    struct pitr_err err;
    size_t big_len = (size_t)3 * 1024 * 1024 + 17, i;
    unsigned char *big = pitr_malloc(big_len);

    (void)state;
    pitr_err_clear(&err);
    put_ok(st, "a/hello.txt", "hello", 5);
    get_expect(st, "a/hello.txt", "hello", 5);
    assert_int_equal(st->ops->head(st, "a/hello.txt", &info, &err), PITR_OK);
    assert_int_equal(info.size, 5);
    assert_string_equal(info.etag, "5d41402abc4b2a76b9719d911017c592"); /* MD5 of "hello" */

    /* Replace, then an empty object. */
    put_ok(st, "a/hello.txt", "bye", 3);
    get_expect(st, "a/hello.txt", "bye", 3);
    put_ok(st, "a/empty", "", 0);
    get_expect(st, "a/empty", "", 0);
    assert_int_equal(st->ops->head(st, "a/empty", &info, &err), PITR_OK);
    assert_int_equal(info.size, 0);

    /* A few MB, on the same kept-alive connection. */
    for (i = 0; i < big_len; i++)
        big[i] = (unsigned char)(i * 131 + (i >> 9));
    put_ok(st, "a/big.bin", big, big_len);
    get_expect(st, "a/big.bin", big, big_len);

    /* get() appends, and leaves the buffer as it was when the object does not fit. */
    pitr_buf_init(&out, 8);
    assert_int_equal(pitr_buf_append(&out, "xy", 2, &err), PITR_OK);
    assert_int_equal(st->ops->get(st, "a/big.bin", &out, &err), PITR_ELIMIT);
    assert_int_equal(out.len, 2);
    assert_string_equal(out.data, "xy");
    assert_int_equal(st->ops->get(st, "a/hello.txt", &out, &err), PITR_OK);
    assert_string_equal(out.data, "xybye");
    pitr_buf_release(&out);

    remove_ok(st, "a/hello.txt");
    remove_ok(st, "a/empty");
    remove_ok(st, "a/big.bin");
    remove_ok(st, "a/hello.txt"); /* removing a missing key is not an error */

    assert_int_equal(st->ops->head(st, "a/hello.txt", &info, &err), PITR_ENOTFOUND);
    assert_int_equal(err.http_status, 404);
    pitr_buf_init(&out, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(st->ops->get(st, "a/hello.txt", &out, &err), PITR_ENOTFOUND);
    assert_int_equal(err.http_status, 404);
    assert_string_equal(err.s3_code, "NoSuchKey");
    assert_non_null(strstr(err.msg, "GET 's3://"));
    assert_non_null(strstr(err.msg, "/basic/a/hello.txt': 404 NoSuchKey"));
    assert_int_equal(out.len, 0); /* the error document did not land in the data buffer */
    pitr_buf_release(&out);

    pitr_free(big);
    st->ops->free(st);
}

static void s3_storage__odd_keys(void **state)
{
    static const char *const keys[] = {
        "with space/a b.txt", "plus+sign",
        "equals=sign&amp",    "tilde~and-under_score.dot",
        "percent%41%2F%",     "utf8-\xc3\xa9t\xc3\xa9-\xe6\x97\xa5\xe6\x9c\xac",
        "dots/./and/../seg",  "punct!$'()*,;:@[]",
        "colon:semi;hash#q?",
    };
    struct pitr_storage *st = open_sub("odd");
    struct pitr_obj_info info;
    struct key_list l;
    struct pitr_err err;
    size_t i, j;

    (void)state;
    pitr_err_clear(&err);
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        put_ok(st, keys[i], keys[i], strlen(keys[i]));
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        get_expect(st, keys[i], keys[i], strlen(keys[i]));
        if (st->ops->head(st, keys[i], &info, &err) != PITR_OK)
            fail_msg("head '%s': %s", keys[i], err.msg);
        assert_int_equal(info.size, strlen(keys[i]));
    }
    list_ok(st, "", &l);
    assert_int_equal(l.n, sizeof(keys) / sizeof(keys[0]));
    for (i = 0; i < l.n; i++) {
        if (i > 0)
            assert_true(strcmp(l.keys[i - 1], l.keys[i]) < 0);
        for (j = 0; j < sizeof(keys) / sizeof(keys[0]); j++)
            if (strcmp(l.keys[i], keys[j]) == 0)
                break;
        if (j == sizeof(keys) / sizeof(keys[0]))
            fail_msg("listed unexpected key '%s'", l.keys[i]);
        assert_int_equal(l.sizes[i], strlen(keys[j]));
    }
    key_list_release(&l);
    /* A prefix with characters that need encoding in the query string. */
    list_ok(st, "with space/", &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.keys[0], "with space/a b.txt");
    key_list_release(&l);
    list_ok(st, "plus+", &l);
    assert_int_equal(l.n, 1);
    key_list_release(&l);

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        remove_ok(st, keys[i]);
    list_ok(st, "", &l);
    assert_int_equal(l.n, 0);
    st->ops->free(st);
}

static void s3_storage__list_pages_in_order(void **state)
{
    struct pitr_storage *st = open_sub("pages");
    struct key_list l;
    char key[64];
    int i;

    (void)state;
    /* Written out of order; listed in order. */
    for (i = 6; i >= 0; i--) {
        snprintf(key, sizeof(key), "wal/%08d", i);
        put_ok(st, key, key, (size_t)i);
    }
    put_ok(st, "other/x", "x", 1);
    pitr_storage_s3_set_page_size(st, 2);

    list_ok(st, "wal/", &l);
    assert_int_equal(l.n, 7);
    for (i = 0; i < 7; i++) {
        snprintf(key, sizeof(key), "wal/%08d", i);
        assert_string_equal(l.keys[i], key);
        assert_int_equal(l.sizes[i], (uint64_t)i);
    }
    key_list_release(&l);

    list_ok(st, "", &l); /* the whole storage root, 8 keys over 4 pages */
    assert_int_equal(l.n, 8);
    assert_string_equal(l.keys[0], "other/x");
    assert_string_equal(l.keys[7], "wal/00000006");
    key_list_release(&l);

    list_ok(st, "nothing-here/", &l);
    assert_int_equal(l.n, 0);

    for (i = 0; i < 7; i++) {
        snprintf(key, sizeof(key), "wal/%08d", i);
        remove_ok(st, key);
    }
    remove_ok(st, "other/x");
    st->ops->free(st);
}

static pitr_rc stop_after_two(const char *key,
                              const struct pitr_obj_info *info,
                              void *ud,
                              struct pitr_err *err)
{
    int *seen = ud;

    (void)key;
    (void)info;
    if (++*seen == 2)
        return pitr_err_set(err, PITR_ECONFLICT, "stop here");
    return PITR_OK;
}

static void s3_storage__prefix_forms_and_callback_stop(void **state)
{
    struct pitr_config cfg;
    struct pitr_storage *st, *root;
    struct key_list l;
    struct pitr_err err;
    char prefix[128], want[160];
    int seen = 0;

    (void)state;
    rig_config(&cfg);
    pitr_err_clear(&err);
    /* Leading and trailing slashes do not change where objects go. */
    snprintf(prefix, sizeof(prefix), "/%s/forms//", run_prefix);
    st = open_cfg(&cfg, prefix);
    snprintf(want, sizeof(want), "s3://%s/%s/forms", getenv("PITR_TEST_BUCKET"), run_prefix);
    assert_string_equal(st->url, want);
    put_ok(st, "k1", "1", 1);
    put_ok(st, "k2", "2", 1);
    put_ok(st, "k3", "3", 1);

    /* Prefix "" is the bucket root: the same objects under their full names. */
    root = open_cfg(&cfg, "");
    snprintf(want, sizeof(want), "s3://%s", getenv("PITR_TEST_BUCKET"));
    assert_string_equal(root->url, want);
    snprintf(prefix, sizeof(prefix), "%s/forms/", run_prefix);
    list_ok(root, prefix, &l);
    assert_int_equal(l.n, 3);
    snprintf(want, sizeof(want), "%s/forms/k1", run_prefix);
    assert_string_equal(l.keys[0], want);
    get_expect(root, want, "1", 1);
    key_list_release(&l);

    /* A callback's error stops the listing and comes back unchanged. */
    assert_int_equal(st->ops->list(st, "", stop_after_two, &seen, &err), PITR_ECONFLICT);
    assert_int_equal(seen, 2);
    assert_string_equal(err.msg, "stop here");

    remove_ok(st, "k1");
    remove_ok(st, "k2");
    remove_ok(st, "k3");
    st->ops->free(st);
    root->ops->free(root);
}

static void s3_storage__wrong_secret_is_eauth(void **state)
{
    static const char secret[] = "not-the-secret-Q7Z";
    struct pitr_config cfg;
    struct pitr_storage *st;
    struct pitr_obj_info info;
    struct pitr_buf out;
    struct pitr_err err;
    char prefix[128];

    (void)state;
    rig_config(&cfg);
    cfg.secret_key = (char *)secret;
    snprintf(prefix, sizeof(prefix), "%s/auth", run_prefix);
    st = open_cfg(&cfg, prefix);
    pitr_err_clear(&err);

    assert_int_equal(st->ops->put(st, "x", "data", 4, &err), PITR_EAUTH);
    assert_int_equal(err.http_status, 403);
    assert_string_equal(err.s3_code, "SignatureDoesNotMatch");
    assert_non_null(strstr(err.msg, "PUT 's3://"));
    assert_non_null(strstr(err.msg, "/auth/x': 403 SignatureDoesNotMatch: "));
    assert_null(strstr(err.msg, secret));

    pitr_buf_init(&out, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(st->ops->get(st, "x", &out, &err), PITR_EAUTH);
    assert_int_equal(out.len, 0);
    pitr_buf_release(&out);
    assert_int_equal(st->ops->head(st, "x", &info, &err), PITR_EAUTH); /* no body: still 403 */
    assert_int_equal(err.http_status, 403);
    assert_int_equal(st->ops->list(st, "", collect, NULL, &err), PITR_EAUTH);
    assert_string_equal(err.s3_code, "SignatureDoesNotMatch");
    assert_non_null(strstr(err.msg, "LIST 's3://"));
    st->ops->free(st);

    /* An unknown access key is an authentication failure as well. */
    rig_config(&cfg);
    cfg.access_key = (char *)"test:nobody";
    st = open_cfg(&cfg, prefix);
    assert_int_equal(st->ops->put(st, "x", "data", 4, &err), PITR_EAUTH);
    assert_int_equal(err.http_status, 403);
    st->ops->free(st);
}

/* A loopback port nothing listens on: bind an ephemeral port, then close it. */
static int closed_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void s3_storage__unreachable_is_enetwork(void **state)
{
    struct pitr_config cfg;
    struct pitr_storage *st;
    struct pitr_buf out;
    struct pitr_err err;
    char endpoint[64];

    (void)state;
    rig_config(&cfg);
    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", closed_port());
    cfg.endpoint_url = endpoint;
    st = open_cfg(&cfg, "x");
    pitr_err_clear(&err);
    assert_int_equal(st->ops->put(st, "k", "v", 1, &err), PITR_ENETWORK);
    assert_non_null(strstr(err.msg, "PUT"));
    assert_non_null(strstr(err.msg, endpoint));
    assert_non_null(strstr(err.msg, "connection failed"));
    assert_true(pitr_err_retryable(&err));
    pitr_buf_init(&out, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(st->ops->get(st, "k", &out, &err), PITR_ENETWORK);
    pitr_buf_release(&out);
    st->ops->free(st);
}

static void s3_storage__tls_with_and_without_ca(void **state)
{
    struct pitr_config cfg;
    struct pitr_storage *st;
    struct pitr_err err;
    char prefix[128];

    (void)state;
    rig_config(&cfg);
    cfg.endpoint_url = getenv("PITR_TEST_S3_TLS_ENDPOINT");
    cfg.ca_file = getenv("PITR_TEST_CA_FILE");
    snprintf(prefix, sizeof(prefix), "%s/tls", run_prefix);
    st = open_cfg(&cfg, prefix);
    put_ok(st, "secure", "over tls", 8);
    get_expect(st, "secure", "over tls", 8);
    remove_ok(st, "secure");
    st->ops->free(st);

    /* Without the CA the server's certificate cannot be verified. */
    cfg.ca_file = NULL;
    st = open_cfg(&cfg, prefix);
    pitr_err_clear(&err);
    assert_int_equal(st->ops->put(st, "secure", "over tls", 8, &err), PITR_ENETWORK);
    assert_non_null(strstr(err.msg, "TLS certificate verification failed"));
    assert_non_null(strstr(err.msg, "https://localhost:"));
    st->ops->free(st);
}

static void s3_storage__no_credentials_is_eusage(void **state)
{
    struct pitr_config cfg;
    struct pitr_storage *st = NULL;
    struct pitr_err err;

    (void)state;
    char *saved_key = strdup(getenv("AWS_ACCESS_KEY_ID"));
    char *saved_secret = strdup(getenv("AWS_SECRET_ACCESS_KEY"));

    /* No source of the credential chain applies: a usage error naming what was tried. */
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    rig_config(&cfg);
    cfg.secret_key = NULL;
    pitr_err_clear(&err);
    assert_int_equal(pitr_storage_s3_new(&cfg, "b", "p", &st, &err), PITR_EUSAGE);
    assert_null(st);
    assert_non_null(strstr(err.msg, "no S3 credentials found"));
    rig_config(&cfg);
    cfg.access_key = NULL;
    assert_int_equal(pitr_storage_s3_new(&cfg, "b", "p", &st, &err), PITR_EUSAGE);
    setenv("AWS_ACCESS_KEY_ID", saved_key, 1);
    setenv("AWS_SECRET_ACCESS_KEY", saved_secret, 1);
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unsetenv("AWS_CONFIG_FILE");
    unsetenv("AWS_EC2_METADATA_DISABLED");
    free(saved_key);
    free(saved_secret);
    rig_config(&cfg);
    cfg.endpoint_url = (char *)"ftp://127.0.0.1";
    assert_int_equal(pitr_storage_s3_new(&cfg, "b", "p", &st, &err), PITR_EUSAGE);
    assert_null(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s3_storage__put_get_head_remove),
        cmocka_unit_test(s3_storage__odd_keys),
        cmocka_unit_test(s3_storage__list_pages_in_order),
        cmocka_unit_test(s3_storage__prefix_forms_and_callback_stop),
        cmocka_unit_test(s3_storage__wrong_secret_is_eauth),
        cmocka_unit_test(s3_storage__unreachable_is_enetwork),
        cmocka_unit_test(s3_storage__tls_with_and_without_ca),
        cmocka_unit_test(s3_storage__no_credentials_is_eusage),
    };

    if (!pitr_test_rig_env_ok(
          "test_s3_storage", env_names, sizeof(env_names) / sizeof(env_names[0])))
        return 1;
    snprintf(run_prefix, sizeof(run_prefix), "it-%ld-%ld", (long)getpid(), (long)time(NULL));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
