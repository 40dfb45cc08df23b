/*
 * test_buf.c - unit tests for src/core/buf.c.
 *
 * OPENSSL_cleanse is interposed (defined here, so the executable's copy wins
 * over libcrypto's) to check what pitr_buf_release_secure wipes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/crypto.h>
#include <string.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"
#include "pgpitr/core/mem.h"

/* ---- OPENSSL_cleanse spy ------------------------------------------------ */

static struct {
    int calls;
    const void *ptr;
    size_t len;
    char seen[64]; /* the first bytes of the range before they were wiped */
} cleanse_spy;

void OPENSSL_cleanse(void *ptr, size_t len)
{
    volatile unsigned char *p = ptr;
    size_t i;

    cleanse_spy.calls++;
    cleanse_spy.ptr = ptr;
    cleanse_spy.len = len;
    memset(cleanse_spy.seen, 0, sizeof(cleanse_spy.seen));
    memcpy(cleanse_spy.seen, ptr, len < sizeof(cleanse_spy.seen) ? len : sizeof(cleanse_spy.seen));
    for (i = 0; i < len; i++)
        p[i] = 0;
}

/* ---- helpers ------------------------------------------------------------ */

static void assert_empty_initialised(const struct pitr_buf *b, size_t limit)
{
    assert_non_null(b->data);
    assert_int_equal(b->data[0], '\0');
    assert_int_equal(b->len, 0);
    assert_int_equal(b->cap, 0);
    assert_int_equal(b->limit, limit);
}

/* ---- tests -------------------------------------------------------------- */

static void pitr_buf_init__empty_invariants(void **state)
{
    struct pitr_buf b, c;

    (void)state;
    memset(&b, 0x5a, sizeof(b));
    pitr_buf_init(&b, 123);
    assert_empty_initialised(&b, 123);
    assert_string_equal(b.data, "");
    pitr_buf_init(&c, 0);
    assert_empty_initialised(&c, 0);
    /* Nothing was allocated: releasing is a no-op that keeps the invariants. */
    pitr_buf_release(&b);
    assert_empty_initialised(&b, 123);
}

static void pitr_buf_append__binary_safe_and_terminated(void **state)
{
    struct pitr_buf b;
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    pitr_buf_init(&b, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_buf_append(&b, "ab\0cd", 5, &err), PITR_OK);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "ab\0cd", 5);
    assert_int_equal(b.data[5], '\0');
    assert_true(b.cap >= 6);
    assert_int_equal(pitr_buf_append(&b, "ef", 2, &err), PITR_OK);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data, "ab\0cdef", 8); /* includes the terminating NUL */
    pitr_buf_release(&b);
    assert_empty_initialised(&b, PITR_BUF_LIMIT_SMALL);
}

static void pitr_buf_append__zero_bytes_is_noop(void **state)
{
    struct pitr_buf b;
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    pitr_buf_init(&b, 0);
    assert_int_equal(pitr_buf_append(&b, NULL, 0, &err), PITR_OK);
    assert_empty_initialised(&b, 0);
    assert_int_equal(err.code, PITR_OK);
}

/* Many small appends move the data; the contents stay right and terminated. */
static void pitr_buf_append__grows_across_many_appends(void **state)
{
    struct pitr_buf b;
    struct pitr_err err;
    size_t i;

    (void)state;
    pitr_buf_init(&b, 100000);
    for (i = 0; i < 100000; i++) {
        char c = (char)('a' + i % 26);

        assert_int_equal(pitr_buf_append(&b, &c, 1, &err), PITR_OK);
    }
    assert_int_equal(b.len, 100000);
    assert_true(b.cap >= 100001);
    assert_true(b.cap <= 100001); /* never more than limit + 1 */
    for (i = 0; i < 100000; i++)
        assert_int_equal(b.data[i], 'a' + i % 26);
    assert_int_equal(b.data[100000], '\0');
    pitr_buf_release(&b);
}

static void pitr_buf_append_str__appends_text(void **state)
{
    struct pitr_buf b;
    struct pitr_err err;

    (void)state;
    pitr_buf_init(&b, 64);
    assert_int_equal(pitr_buf_append_str(&b, "hello", &err), PITR_OK);
    assert_int_equal(pitr_buf_append_str(&b, "", &err), PITR_OK);
    assert_int_equal(pitr_buf_append_str(&b, ", world", &err), PITR_OK);
    assert_string_equal(b.data, "hello, world");
    assert_int_equal(b.len, 12);
    pitr_buf_release(&b);
}

static void pitr_buf_appendf__formats_and_appends(void **state)
{
    struct pitr_buf b;
    struct pitr_err err;
    char want[301];

    (void)state;
    pitr_buf_init(&b, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_buf_appendf(&b, &err, "%s", ""), PITR_OK); /* empty result */
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    assert_int_equal(b.len, 0);
    assert_int_equal(pitr_buf_appendf(&b, &err, "%s-%d-%zu", "x", -42, (size_t)7), PITR_OK);
    assert_string_equal(b.data, "x--42-7");
    assert_int_equal(b.len, 7);
    /* Longer than the first allocation (64 bytes). */
    pitr_buf_reset(&b);
    assert_int_equal(pitr_buf_appendf(&b, &err, "%0300d", 5), PITR_OK);
    memset(want, '0', 299);
    want[299] = '5';
    want[300] = '\0';
    assert_int_equal(b.len, 300);
    assert_string_equal(b.data, want);
    pitr_buf_release(&b);
}

static void pitr_buf_append_hex__lowercase_appended(void **state)
{
    static const unsigned char in[] = { 0x00, 0x0f, 0xa5, 0xff, 0x10 };
    struct pitr_buf b;
    struct pitr_err err;

    (void)state;
    pitr_buf_init(&b, 64);
    assert_int_equal(pitr_buf_append_str(&b, "x=", &err), PITR_OK);
    assert_int_equal(pitr_buf_append_hex(&b, in, sizeof(in), &err), PITR_OK);
    assert_string_equal(b.data, "x=000fa5ff10");
    assert_int_equal(b.len, 12);
    assert_int_equal(pitr_buf_append_hex(&b, in, 0, &err), PITR_OK);
    assert_string_equal(b.data, "x=000fa5ff10");
    pitr_buf_release(&b);
}

/* Filling to exactly the limit works; one byte more fails and changes nothing. */
static void pitr_buf_append__limit_is_hard(void **state)
{
    static const unsigned char one = 0xab;
    struct pitr_buf b;
    struct pitr_err err;
    char *before;

    (void)state;
    pitr_err_clear(&err);
    pitr_buf_init(&b, 8);
    assert_int_equal(pitr_buf_append(&b, "1234567", 7, &err), PITR_OK);
    assert_int_equal(pitr_buf_append(&b, "8", 1, &err), PITR_OK);
    assert_string_equal(b.data, "12345678");
    before = b.data;

    assert_int_equal(pitr_buf_append(&b, "9", 1, &err), PITR_ELIMIT);
    assert_int_equal(err.code, PITR_ELIMIT);
    assert_non_null(strstr(err.msg, "8 bytes"));
    pitr_err_clear(&err);
    assert_int_equal(pitr_buf_append_str(&b, "9", &err), PITR_ELIMIT);
    assert_int_equal(err.code, PITR_ELIMIT);
    pitr_err_clear(&err);
    assert_int_equal(pitr_buf_appendf(&b, &err, "%d", 9), PITR_ELIMIT);
    assert_int_equal(err.code, PITR_ELIMIT);
    pitr_err_clear(&err);
    assert_int_equal(pitr_buf_append_hex(&b, &one, 1, &err), PITR_ELIMIT);
    assert_int_equal(err.code, PITR_ELIMIT);
    pitr_err_clear(&err);
    assert_int_equal(pitr_buf_grow(&b, 1, &err), PITR_ELIMIT);
    assert_int_equal(pitr_buf_grow(&b, 0, &err), PITR_OK);

    assert_int_equal(b.len, 8);
    assert_ptr_equal(b.data, before);
    assert_string_equal(b.data, "12345678");
    pitr_buf_release(&b);
}

/* A partly filled buffer: an append that does not fit as a whole adds nothing. */
static void pitr_buf_append__over_limit_leaves_contents(void **state)
{
    static const unsigned char bytes[] = { 1, 2, 3 };
    struct pitr_buf b;
    struct pitr_err err;

    (void)state;
    pitr_buf_init(&b, 10);
    assert_int_equal(pitr_buf_append_str(&b, "abc", &err), PITR_OK);
    assert_int_equal(pitr_buf_append(&b, "12345678", 8, &err), PITR_ELIMIT);
    assert_string_equal(b.data, "abc");
    assert_int_equal(pitr_buf_appendf(&b, &err, "%s", "12345678"), PITR_ELIMIT);
    assert_string_equal(b.data, "abc");
    assert_int_equal(pitr_buf_append_hex(&b, bytes, 4, &err), PITR_ELIMIT); /* 8 chars */
    assert_string_equal(b.data, "abc");
    assert_int_equal(pitr_buf_append_hex(&b, bytes, 3, &err), PITR_OK); /* 6 chars: fits */
    assert_string_equal(b.data, "abc010203");
    assert_int_equal(pitr_buf_append(&b, "z", 1, &err), PITR_OK);
    assert_int_equal(pitr_buf_append(&b, "z", 1, &err), PITR_ELIMIT);
    assert_string_equal(b.data, "abc010203z");
    assert_int_equal(b.len, 10);
    pitr_buf_release(&b);
}

/* Sizes near SIZE_MAX must not wrap around the limit check. */
static void pitr_buf_grow__huge_request_fails(void **state)
{
    struct pitr_buf b;
    struct pitr_err err;

    (void)state;
    pitr_buf_init(&b, 16);
    assert_int_equal(pitr_buf_append_str(&b, "abc", &err), PITR_OK);
    assert_int_equal(pitr_buf_grow(&b, (size_t)-1, &err), PITR_ELIMIT);
    assert_int_equal(pitr_buf_grow(&b, (size_t)-1 - 1, &err), PITR_ELIMIT);
    assert_int_equal(pitr_buf_append_hex(&b, (const unsigned char *)"", (size_t)-1 / 2 + 1, &err),
                     PITR_ELIMIT);
    assert_string_equal(b.data, "abc");
    pitr_buf_release(&b);
}

static void pitr_buf_append__zero_limit_refuses_everything(void **state)
{
    struct pitr_buf b;
    struct pitr_err err;

    (void)state;
    pitr_buf_init(&b, 0);
    assert_int_equal(pitr_buf_append(&b, "x", 1, &err), PITR_ELIMIT);
    assert_int_equal(pitr_buf_appendf(&b, &err, "x"), PITR_ELIMIT);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    assert_int_equal(b.len, 0);
    pitr_buf_release(&b);
}

static void pitr_buf_reset__empties_and_keeps_memory(void **state)
{
    struct pitr_buf b;
    struct pitr_err err;
    char *data;
    size_t cap;

    (void)state;
    pitr_buf_init(&b, 64);
    pitr_buf_reset(&b); /* on a never-allocated buffer */
    assert_empty_initialised(&b, 64);
    assert_int_equal(pitr_buf_append_str(&b, "something", &err), PITR_OK);
    data = b.data;
    cap = b.cap;
    pitr_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);
    assert_int_equal(b.limit, 64);
    assert_int_equal(pitr_buf_append_str(&b, "new", &err), PITR_OK);
    assert_string_equal(b.data, "new");
    pitr_buf_release(&b);
}

static void pitr_buf_commit__marks_written_bytes(void **state)
{
    struct pitr_buf b;
    struct pitr_err err;

    (void)state;
    pitr_buf_init(&b, 64);
    assert_int_equal(pitr_buf_append_str(&b, "ab", &err), PITR_OK);
    assert_int_equal(pitr_buf_grow(&b, 4, &err), PITR_OK);
    assert_true(b.cap - b.len - 1 >= 4);
    memcpy(b.data + b.len, "wxyz", 4);
    pitr_buf_commit(&b, 4);
    assert_int_equal(b.len, 6);
    assert_string_equal(b.data, "abwxyz");
    pitr_buf_release(&b);
}

static void pitr_buf_detach__hands_over_and_reinitialises(void **state)
{
    struct pitr_buf b;
    struct pitr_err err;
    size_t len = 99;
    char *p, *data;

    (void)state;
    pitr_buf_init(&b, 100);
    assert_int_equal(pitr_buf_append(&b, "he\0llo", 6, &err), PITR_OK);
    data = b.data;
    p = pitr_buf_detach(&b, &len);
    assert_ptr_equal(p, data); /* no copy */
    assert_int_equal(len, 6);
    assert_memory_equal(p, "he\0llo", 7);
    assert_empty_initialised(&b, 100);
    /* The buffer is usable again and independent of the detached memory. */
    assert_int_equal(pitr_buf_append_str(&b, "again", &err), PITR_OK);
    assert_string_equal(b.data, "again");
    assert_ptr_not_equal(b.data, p);
    assert_memory_equal(p, "he\0llo", 7);
    pitr_free(p);
    pitr_buf_release(&b);
}

/* An empty buffer still hands out a heap string the caller can free. */
static void pitr_buf_detach__empty_returns_heap_string(void **state)
{
    struct pitr_buf b;
    size_t len = 99;
    char *p;

    (void)state;
    pitr_buf_init(&b, 100);
    p = pitr_buf_detach(&b, &len);
    assert_non_null(p);
    assert_string_equal(p, "");
    assert_int_equal(len, 0);
    assert_empty_initialised(&b, 100);
    pitr_free(p);
    p = pitr_buf_detach(&b, NULL); /* len_out is optional */
    assert_string_equal(p, "");
    pitr_free(p);
}

static void pitr_buf_release__reinitialises_with_same_limit(void **state)
{
    struct pitr_buf b;
    struct pitr_err err;

    (void)state;
    pitr_buf_init(&b, 77);
    assert_int_equal(pitr_buf_append_str(&b, "data", &err), PITR_OK);
    pitr_buf_release(&b);
    assert_empty_initialised(&b, 77);
    pitr_buf_release(&b); /* twice is fine */
    assert_empty_initialised(&b, 77);
}

/* The whole allocation, not just len bytes, is wiped before it is freed. */
static void pitr_buf_release_secure__wipes_whole_allocation(void **state)
{
    struct pitr_buf b;
    struct pitr_err err;
    const void *data;
    size_t cap;

    (void)state;
    pitr_buf_init(&b, 1024);
    assert_int_equal(pitr_buf_append_str(&b, "secret-key-and-more", &err), PITR_OK);
    data = b.data;
    cap = b.cap;
    assert_true(cap > b.len);
    memset(&cleanse_spy, 0, sizeof(cleanse_spy));
    pitr_buf_release_secure(&b);
    assert_int_equal(cleanse_spy.calls, 1);
    assert_ptr_equal(cleanse_spy.ptr, data);
    assert_int_equal(cleanse_spy.len, cap);
    assert_string_equal(cleanse_spy.seen, "secret-key-and-more");
    assert_empty_initialised(&b, 1024);
}

/* Nothing allocated: nothing to wipe, and the static empty string is not written. */
static void pitr_buf_release_secure__empty_buffer_noop(void **state)
{
    struct pitr_buf b;

    (void)state;
    pitr_buf_init(&b, 1024);
    memset(&cleanse_spy, 0, sizeof(cleanse_spy));
    pitr_buf_release_secure(&b);
    assert_int_equal(cleanse_spy.calls, 0);
    assert_empty_initialised(&b, 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_buf_init__empty_invariants),
        cmocka_unit_test(pitr_buf_append__binary_safe_and_terminated),
        cmocka_unit_test(pitr_buf_append__zero_bytes_is_noop),
        cmocka_unit_test(pitr_buf_append__grows_across_many_appends),
        cmocka_unit_test(pitr_buf_append_str__appends_text),
        cmocka_unit_test(pitr_buf_appendf__formats_and_appends),
        cmocka_unit_test(pitr_buf_append_hex__lowercase_appended),
        cmocka_unit_test(pitr_buf_append__limit_is_hard),
        cmocka_unit_test(pitr_buf_append__over_limit_leaves_contents),
        cmocka_unit_test(pitr_buf_grow__huge_request_fails),
        cmocka_unit_test(pitr_buf_append__zero_limit_refuses_everything),
        cmocka_unit_test(pitr_buf_reset__empties_and_keeps_memory),
        cmocka_unit_test(pitr_buf_commit__marks_written_bytes),
        cmocka_unit_test(pitr_buf_detach__hands_over_and_reinitialises),
        cmocka_unit_test(pitr_buf_detach__empty_returns_heap_string),
        cmocka_unit_test(pitr_buf_release__reinitialises_with_same_limit),
        cmocka_unit_test(pitr_buf_release_secure__wipes_whole_allocation),
        cmocka_unit_test(pitr_buf_release_secure__empty_buffer_noop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
