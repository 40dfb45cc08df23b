/* test_err.c - unit tests for src/core/err.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pgpitr/core/err.h"

/* An error with every field set, to see what a call keeps or resets. */
static void dirty(struct pitr_err *err)
{
    memset(err, 0x41, sizeof(*err));
    err->msg[sizeof(err->msg) - 1] = '\0';
    err->s3_code[sizeof(err->s3_code) - 1] = '\0';
    err->code = PITR_ES3;
    err->sys_errno = EIO;
    err->http_status = 503;
}

static void pitr_err_clear__zeroes_everything(void **state)
{
    struct pitr_err err;

    (void)state;
    dirty(&err);
    pitr_err_clear(&err);
    assert_int_equal(err.code, PITR_OK);
    assert_int_equal(err.sys_errno, 0);
    assert_int_equal(err.http_status, 0);
    assert_string_equal(err.s3_code, "");
    assert_string_equal(err.msg, "");
}

static void pitr_err_set__returns_code_and_formats(void **state)
{
    struct pitr_err err;

    (void)state;
    dirty(&err);
    assert_int_equal(pitr_err_set(&err, PITR_ENOTFOUND, "object '%s' has %d bytes", "k", 7),
                     PITR_ENOTFOUND);
    assert_int_equal(err.code, PITR_ENOTFOUND);
    assert_string_equal(err.msg, "object 'k' has 7 bytes");
    /* The details of an earlier error do not leak into the new one. */
    assert_int_equal(err.sys_errno, 0);
    assert_int_equal(err.http_status, 0);
    assert_string_equal(err.s3_code, "");
    assert_int_equal(pitr_err_set(&err, PITR_EINTERNAL, "x"), PITR_EINTERNAL);
    assert_int_equal(err.code, PITR_EINTERNAL);
}

static void pitr_err_set__null_err_returns_code(void **state)
{
    (void)state;
    assert_int_equal(pitr_err_set(NULL, PITR_EIO, "ignored %d", 1), PITR_EIO);
    assert_int_equal(pitr_err_set_errno(NULL, PITR_EIO, ENOENT, "ignored"), PITR_EIO);
    assert_int_equal(pitr_err_prefix(NULL, "ctx"), PITR_EGENERAL);
}

static void pitr_err_set__long_message_truncated(void **state)
{
    struct pitr_err err;
    char big[3000];

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(pitr_err_set(&err, PITR_EGENERAL, "%s", big), PITR_EGENERAL);
    assert_int_equal(strlen(err.msg), PITR_ERR_MSG_MAX - 1);
    assert_int_equal(err.msg[0], 'x');
}

static void pitr_err_set_errno__appends_strerror(void **state)
{
    struct pitr_err err;
    char want[PITR_ERR_MSG_MAX];

    (void)state;
    dirty(&err);
    assert_int_equal(pitr_err_set_errno(&err, PITR_EIO, ENOENT, "cannot open '%s'", "/x"),
                     PITR_EIO);
    assert_int_equal(err.code, PITR_EIO);
    assert_int_equal(err.sys_errno, ENOENT);
    assert_int_equal(err.http_status, 0);
    assert_string_equal(err.s3_code, "");
    snprintf(want, sizeof(want), "cannot open '/x': %s", strerror(ENOENT));
    assert_string_equal(err.msg, want);

    assert_int_equal(pitr_err_set_errno(&err, PITR_EIO, EACCES, "write"), PITR_EIO);
    snprintf(want, sizeof(want), "write: %s", strerror(EACCES));
    assert_string_equal(err.msg, want);
    assert_int_equal(err.sys_errno, EACCES);
}

/* An errno without a name still gives a readable message. */
static void pitr_err_set_errno__unknown_errno(void **state)
{
    struct pitr_err err;

    (void)state;
    assert_int_equal(pitr_err_set_errno(&err, PITR_EIO, 123456, "op"), PITR_EIO);
    assert_int_equal(err.sys_errno, 123456);
    assert_true(strncmp(err.msg, "op: ", 4) == 0);
    assert_non_null(strstr(err.msg, "123456"));
}

static void pitr_err_set_errno__long_message_stays_terminated(void **state)
{
    struct pitr_err err;
    char big[PITR_ERR_MSG_MAX + 10];

    (void)state;
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(pitr_err_set_errno(&err, PITR_EIO, ENOENT, "%s", big), PITR_EIO);
    assert_int_equal(strlen(err.msg), PITR_ERR_MSG_MAX - 1);
    assert_int_equal(err.sys_errno, ENOENT);
    /* Just short of full: the strerror text is cut, not written past the end. */
    big[PITR_ERR_MSG_MAX - 4] = '\0';
    assert_int_equal(pitr_err_set_errno(&err, PITR_EIO, ENOENT, "%s", big), PITR_EIO);
    assert_int_equal(strlen(err.msg), PITR_ERR_MSG_MAX - 1);
    assert_memory_equal(err.msg + PITR_ERR_MSG_MAX - 4, ": N", 3);
}

static void pitr_err_prefix__keeps_details(void **state)
{
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    assert_int_equal(pitr_err_set(&err, PITR_ES3, "service unavailable"), PITR_ES3);
    err.http_status = 503;
    err.sys_errno = ETIMEDOUT;
    snprintf(err.s3_code, sizeof(err.s3_code), "SlowDown");
    assert_int_equal(pitr_err_prefix(&err, "cannot store '%s'", "pg1/wals/x"), PITR_ES3);
    assert_string_equal(err.msg, "cannot store 'pg1/wals/x': service unavailable");
    assert_int_equal(err.code, PITR_ES3);
    assert_int_equal(err.http_status, 503);
    assert_int_equal(err.sys_errno, ETIMEDOUT);
    assert_string_equal(err.s3_code, "SlowDown");
    /* Prefixes stack, outermost first. */
    assert_int_equal(pitr_err_prefix(&err, "wal-push"), PITR_ES3);
    assert_string_equal(err.msg, "wal-push: cannot store 'pg1/wals/x': service unavailable");
}

/* A long old message is cut at the end; the context and ": " stay whole. */
static void pitr_err_prefix__long_message_truncated(void **state)
{
    struct pitr_err err;
    char old[1000], ctx[101];
    size_t i;

    (void)state;
    memset(old, 'o', sizeof(old) - 1);
    old[sizeof(old) - 1] = '\0';
    memset(ctx, 'c', sizeof(ctx) - 1);
    ctx[sizeof(ctx) - 1] = '\0';
    assert_int_equal(pitr_err_set(&err, PITR_EIO, "%s", old), PITR_EIO);
    err.http_status = 500;
    assert_int_equal(pitr_err_prefix(&err, "%s", ctx), PITR_EIO);
    assert_int_equal(strlen(err.msg), PITR_ERR_MSG_MAX - 1);
    assert_memory_equal(err.msg, ctx, 100);
    assert_memory_equal(err.msg + 100, ": ", 2);
    for (i = 102; i < PITR_ERR_MSG_MAX - 1; i++)
        assert_int_equal(err.msg[i], 'o');
    assert_int_equal(err.code, PITR_EIO);
    assert_int_equal(err.http_status, 500);

    /* Many prefixes on a full message: always bounded and terminated. */
    for (i = 0; i < 50; i++)
        assert_int_equal(pitr_err_prefix(&err, "level %zu", i), PITR_EIO);
    assert_int_equal(strlen(err.msg), PITR_ERR_MSG_MAX - 1);
    assert_true(strncmp(err.msg, "level 49: level 48: ", 20) == 0);
}

/* A context longer than the whole message buffer: cut, terminated, code kept. */
static void pitr_err_prefix__huge_context(void **state)
{
    struct pitr_err err;
    char ctx[2 * PITR_ERR_MSG_MAX];

    (void)state;
    memset(ctx, 'c', sizeof(ctx) - 1);
    ctx[sizeof(ctx) - 1] = '\0';
    assert_int_equal(pitr_err_set(&err, PITR_ENETWORK, "timeout"), PITR_ENETWORK);
    assert_int_equal(pitr_err_prefix(&err, "%s", ctx), PITR_ENETWORK);
    assert_int_equal(strlen(err.msg), PITR_ERR_MSG_MAX - 1);
    assert_int_equal(err.msg[0], 'c');
    assert_int_equal(err.code, PITR_ENETWORK);
}

static void expect_retry(pitr_rc code, long http, const char *s3, int want)
{
    struct pitr_err err;

    pitr_err_clear(&err);
    err.code = code;
    err.http_status = http;
    snprintf(err.s3_code, sizeof(err.s3_code), "%s", s3);
    if (pitr_err_retryable(&err) != want) {
        print_error("code %d http %ld s3 '%s': expected retryable=%d\n", code, http, s3, want);
        fail();
    }
}

static void pitr_err_retryable__transient_failures(void **state)
{
    (void)state;
    expect_retry(PITR_ENETWORK, 0, "", 1);
    expect_retry(PITR_ES3, 500, "InternalError", 1);
    expect_retry(PITR_ES3, 502, "", 1);
    expect_retry(PITR_ES3, 503, "", 1);
    expect_retry(PITR_ES3, 504, "", 1);
    expect_retry(PITR_ES3, 599, "", 1);
    expect_retry(PITR_ES3, 429, "", 1);
    expect_retry(PITR_ES3, 408, "", 1);
    expect_retry(PITR_ES3, 503, "SlowDown", 1);
    expect_retry(PITR_ES3, 0, "SlowDown", 1);
    expect_retry(PITR_ES3, 400, "RequestTimeout", 1);
}

static void pitr_err_retryable__permanent_failures(void **state)
{
    (void)state;
    expect_retry(PITR_EAUTH, 403, "AccessDenied", 0);
    expect_retry(PITR_EAUTH, 403, "SignatureDoesNotMatch", 0);
    expect_retry(PITR_ENOTFOUND, 404, "NoSuchKey", 0);
    expect_retry(PITR_ES3, 400, "InvalidArgument", 0);
    expect_retry(PITR_ES3, 409, "", 0);
    expect_retry(PITR_ES3, 499, "", 0);
    expect_retry(PITR_EIO, 0, "", 0);
    expect_retry(PITR_EUSAGE, 0, "", 0);
    expect_retry(PITR_EFORMAT, 0, "", 0);
    expect_retry(PITR_OK, 0, "", 0);
    expect_retry(PITR_ES3, 200, "slowdown", 0); /* S3 codes are case-sensitive */
}

static void pitr_rc_name__every_code(void **state)
{
    static const struct {
        pitr_rc code;
        const char *name;
    } want[] = {
        { PITR_OK, "ok" },
        { PITR_ENOTFOUND, "not found" },
        { PITR_ENETWORK, "network" },
        { PITR_EUSAGE, "usage" },
        { PITR_EGENERAL, "general" },
        { PITR_EIO, "i/o" },
        { PITR_ENOMEM, "out of memory" },
        { PITR_ELIMIT, "size limit" },
        { PITR_ECONFLICT, "conflict" },
        { PITR_EAUTH, "authentication" },
        { PITR_ES3, "object store" },
        { PITR_EFORMAT, "format" },
        { PITR_EPG, "postgresql" },
        { PITR_EINTERNAL, "internal" },
    };
    size_t i, j;

    (void)state;
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_string_equal(pitr_rc_name(want[i].code), want[i].name);
        for (j = 0; j < i; j++)
            assert_string_not_equal(pitr_rc_name(want[i].code), pitr_rc_name(want[j].code));
    }
    /* Gaps in the numbering and values past the end. */
    assert_string_equal(pitr_rc_name((pitr_rc)5), "unknown");
    assert_string_equal(pitr_rc_name((pitr_rc)9), "unknown");
    assert_string_equal(pitr_rc_name((pitr_rc)19), "unknown");
    assert_string_equal(pitr_rc_name((pitr_rc)-1), "unknown");
}

/* The exit codes are an interface: their numbers never change. */
static void pitr_rc__stable_numbers(void **state)
{
    (void)state;
    assert_int_equal(PITR_OK, 0);
    assert_int_equal(PITR_ENOTFOUND, 1);
    assert_int_equal(PITR_ENETWORK, 2);
    assert_int_equal(PITR_EUSAGE, 3);
    assert_int_equal(PITR_EGENERAL, 4);
    assert_int_equal(PITR_EIO, 10);
    assert_int_equal(PITR_ENOMEM, 11);
    assert_int_equal(PITR_ELIMIT, 12);
    assert_int_equal(PITR_ECONFLICT, 13);
    assert_int_equal(PITR_EAUTH, 14);
    assert_int_equal(PITR_ES3, 15);
    assert_int_equal(PITR_EFORMAT, 16);
    assert_int_equal(PITR_EPG, 17);
    assert_int_equal(PITR_EINTERNAL, 18);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_err_clear__zeroes_everything),
        cmocka_unit_test(pitr_err_set__returns_code_and_formats),
        cmocka_unit_test(pitr_err_set__null_err_returns_code),
        cmocka_unit_test(pitr_err_set__long_message_truncated),
        cmocka_unit_test(pitr_err_set_errno__appends_strerror),
        cmocka_unit_test(pitr_err_set_errno__unknown_errno),
        cmocka_unit_test(pitr_err_set_errno__long_message_stays_terminated),
        cmocka_unit_test(pitr_err_prefix__keeps_details),
        cmocka_unit_test(pitr_err_prefix__long_message_truncated),
        cmocka_unit_test(pitr_err_prefix__huge_context),
        cmocka_unit_test(pitr_err_retryable__transient_failures),
        cmocka_unit_test(pitr_err_retryable__permanent_failures),
        cmocka_unit_test(pitr_rc_name__every_code),
        cmocka_unit_test(pitr_rc__stable_numbers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
