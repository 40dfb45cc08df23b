/*
 * test_snapframe.c - the streaming reader of snappy's framing format that
 * restore uses for barman-cloud's .tar.snappy volumes: well-formed streams
 * fed a few bytes at a time, skippable chunks larger than its buffer, and
 * hostile input (empty, no identifier, truncated anywhere, reserved chunk
 * types, oversized chunks, a flipped checksum, a failing source).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "pgpitr/codec/codec.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/restore/snapframe.h"

#define KIB ((size_t)1024)

/* A byte source over a memory block, step bytes per call; fail_at: error there. */
struct mem_src {
    const unsigned char *p;
    size_t n, at, step, fail_at;
};

static pitr_rc mem_read(void *ud, void *p, size_t cap, size_t *got, struct pitr_err *err)
{
    struct mem_src *m = ud;
    size_t take = m->n - m->at;

    if (m->fail_at != 0 && m->at >= m->fail_at)
        return pitr_err_set(err, PITR_EIO, "simulated read failure");
    if (take > cap)
        take = cap;
    if (take > m->step)
        take = m->step;
    memcpy(p, m->p + m->at, take);
    m->at += take;
    *got = take;
    return PITR_OK;
}

/* Read all of in[0..n) through the reader into out; the reader's result. */
static pitr_rc read_all(const void *in,
                        size_t n,
                        size_t step,
                        struct pitr_buf *out,
                        struct pitr_err *err)
{
    struct mem_src m = { in, n, 0, step, 0 };
    struct pitr_snapframe s;
    pitr_rc rc;

    pitr_snapframe_init(&s, mem_read, &m);
    for (;;) {
        const void *d;
        size_t got;

        rc = pitr_snapframe_next(&s, &d, &got, err);
        if (rc != PITR_OK || got == 0)
            break;
        rc = pitr_buf_append(out, d, got, err);
        if (rc != PITR_OK)
            break;
    }
    pitr_snapframe_release(&s);
    return rc;
}

static unsigned char *sample(size_t n)
{
    unsigned char *p = malloc(n);
    uint32_t x = 12345;

    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        /* Half compressible, half noise: both chunk kinds appear. */
        p[i] = (i / 4096) % 2 ? (unsigned char)(x >> 24) : (unsigned char)(i % 7);
    }
    return p;
}

/* The codec's framed stream of in[0..n). */
static void frame(const void *in, size_t n, struct pitr_buf *out)
{
    struct pitr_err err = { 0 };

    pitr_buf_init(out, 64 * 1024 * KIB);
    assert_int_equal(pitr_codec_compress(PITR_CODEC_SNAPPY, 0, in, n, out, &err), PITR_OK);
}

static void expect_error(const void *in, size_t n, const char *msg_part)
{
    struct pitr_buf out;
    struct pitr_err err = { 0 };

    pitr_buf_init(&out, 64 * 1024 * KIB);
    assert_int_equal(read_all(in, n, 4096, &out, &err), PITR_EFORMAT);
    if (strstr(err.msg, msg_part) == NULL)
        fail_msg("error '%s' lacks '%s'", err.msg, msg_part);
    pitr_buf_release(&out);
}

static void test_round_trip_any_step(void **state)
{
    const size_t n = 300 * KIB + 17;
    const size_t steps[] = { 1, 3, 4, 5, 4096, 1024 * KIB };
    unsigned char *in = sample(n);
    struct pitr_buf f;

    (void)state;
    frame(in, n, &f);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct pitr_buf out;
        struct pitr_err err = { 0 };

        pitr_buf_init(&out, 64 * 1024 * KIB);
        assert_int_equal(read_all(f.data, f.len, steps[i], &out, &err), PITR_OK);
        assert_int_equal(out.len, n);
        assert_memory_equal(out.data, in, n);
        pitr_buf_release(&out);
    }
    pitr_buf_release(&f);
    free(in);
}

/* Padding, a 1 MiB skippable chunk and a second identifier are passed over. */
static void test_skippable_and_repeated_identifier(void **state)
{
    const size_t n = 100 * KIB, big = 1024 * KIB;
    unsigned char *in = sample(n);
    struct pitr_buf f, s, out;
    struct pitr_err err = { 0 };
    unsigned char hdr[4];

    (void)state;
    frame(in, n, &f);
    pitr_buf_init(&s, 64 * 1024 * KIB);
    assert_int_equal(pitr_buf_append(&s, f.data, 10, &err), PITR_OK); /* identifier */
    hdr[0] = 0xfe;
    hdr[1] = 3;
    hdr[2] = hdr[3] = 0;
    assert_int_equal(pitr_buf_append(&s, hdr, 4, &err), PITR_OK);
    assert_int_equal(pitr_buf_append(&s, "pad", 3, &err), PITR_OK);
    hdr[0] = 0x80;
    hdr[1] = (unsigned char)big;
    hdr[2] = (unsigned char)(big >> 8);
    hdr[3] = (unsigned char)(big >> 16);
    assert_int_equal(pitr_buf_append(&s, hdr, 4, &err), PITR_OK);
    for (size_t i = 0; i < big / KIB; i++)
        assert_int_equal(pitr_buf_append(&s, in, KIB, &err), PITR_OK);
    assert_int_equal(pitr_buf_append(&s, f.data, 10, &err), PITR_OK); /* again */
    assert_int_equal(pitr_buf_append(&s, f.data + 10, f.len - 10, &err), PITR_OK);

    pitr_buf_init(&out, 64 * 1024 * KIB);
    assert_int_equal(read_all(s.data, s.len, 100 * KIB, &out, &err), PITR_OK);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, in, n);
    pitr_buf_release(&out);
    pitr_buf_release(&s);
    pitr_buf_release(&f);
    free(in);
}

static void test_empty_and_no_identifier(void **state)
{
    unsigned char *in = sample(1000);
    struct pitr_buf f;

    (void)state;
    expect_error("", 0, "empty snappy stream");
    frame(in, 1000, &f);
    expect_error(f.data + 10, f.len - 10, "does not start with an identifier");
    f.data[5] = 'x';
    expect_error(f.data, f.len, "bad snappy stream identifier at offset 0");
    expect_error("\xff\x07\x00\x00sNaPpYY", 11, "bad snappy stream identifier");
    pitr_buf_release(&f);
    free(in);
}

/* Cut anywhere but at a chunk boundary: named as truncated. */
static void test_truncated_anywhere(void **state)
{
    const size_t n = 150 * KIB;
    unsigned char *in = sample(n);
    struct pitr_buf f;
    size_t first_len;

    (void)state;
    frame(in, n, &f);
    {
        const unsigned char *u = (const unsigned char *)f.data;
        first_len = (size_t)u[11] | (size_t)u[12] << 8 | (size_t)u[13] << 16;
    }
    expect_error(f.data, 5, "truncated");
    expect_error(f.data, 10 + 2, "truncated at offset 10");
    expect_error(f.data, 10 + 4 + first_len - 1, "truncated at offset 10");
    expect_error(f.data, f.len - 1, "truncated");
    pitr_buf_release(&f);
    free(in);
}

static void test_reserved_oversized_and_checksum(void **state)
{
    unsigned char *in = sample(1000);
    struct pitr_buf f;
    unsigned char s[32];

    (void)state;
    frame(in, 1000, &f);
    memcpy(s, f.data, 10);
    memcpy(s + 10,
           "\x02\x04\x00\x00"
           "abcd",
           8);
    expect_error(s, 18, "reserved snappy chunk type 0x02 at offset 10");
    memcpy(s + 10, "\x00\x00\x00\x10", 4); /* a 1 MiB data chunk */
    expect_error(s, 14, "exceeds");
    f.data[14] ^= 0x01; /* the first chunk's CRC */
    expect_error(f.data, f.len, "checksum mismatch");
    pitr_buf_release(&f);
    free(in);
}

static void test_source_error_passes_through(void **state)
{
    const size_t n = 200 * KIB;
    unsigned char *in = sample(n);
    struct pitr_buf f;
    struct mem_src m;
    struct pitr_snapframe s;
    struct pitr_err err = { 0 };
    pitr_rc rc;
    const void *d;
    size_t got;

    (void)state;
    frame(in, n, &f);
    m = (struct mem_src){ (const unsigned char *)f.data, f.len, 0, 4096, 20000 };
    pitr_snapframe_init(&s, mem_read, &m);
    do
        rc = pitr_snapframe_next(&s, &d, &got, &err);
    while (rc == PITR_OK && got > 0);
    assert_int_equal(rc, PITR_EIO);
    assert_non_null(strstr(err.msg, "simulated read failure"));
    pitr_snapframe_release(&s);
    pitr_buf_release(&f);
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_any_step),
        cmocka_unit_test(test_skippable_and_repeated_identifier),
        cmocka_unit_test(test_empty_and_no_identifier),
        cmocka_unit_test(test_truncated_anywhere),
        cmocka_unit_test(test_reserved_oversized_and_checksum),
        cmocka_unit_test(test_source_error_passes_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
