/*
 * test_codec.c - unit tests for src/codec/codec.c.
 *
 * Most tests loop over every codec; a failure names the codec and the input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "pgpitr/codec/codec.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"

#define KIB ((size_t)1024)
#define MIB ((size_t)1024 * 1024)

static const enum pitr_codec all_codecs[PITR_CODEC_COUNT] = {
    PITR_CODEC_NONE, PITR_CODEC_GZIP, PITR_CODEC_BZIP2, PITR_CODEC_SNAPPY,
    PITR_CODEC_XZ,   PITR_CODEC_ZSTD, PITR_CODEC_LZ4,
};

/* ---- inputs ------------------------------------------------------------- */

static unsigned char *random_bytes(size_t n, uint64_t seed)
{
    unsigned char *p = malloc(n ? n : 1);
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    size_t i;

    assert_non_null(p);
    for (i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)(x >> 24);
    }
    return p;
}

/* Text-like data that repeats with a long period, like a WAL of similar records. */
static unsigned char *repetitive_bytes(size_t n)
{
    unsigned char *p = malloc(n ? n : 1);
    size_t i = 0;
    unsigned rec = 0;

    assert_non_null(p);
    while (i < n) {
        char line[64];
        int k = snprintf(
          line, sizeof(line), "INSERT INTO t VALUES (%u, 'row %u');\n", rec % 977, rec % 13);

        for (int j = 0; j < k && i < n; j++)
            p[i++] = (unsigned char)line[j];
        rec++;
    }
    return p;
}

/* ---- helpers ------------------------------------------------------------ */

static void compress_or_fail(enum pitr_codec c,
                             int level,
                             const void *in,
                             size_t n,
                             struct pitr_buf *out)
{
    struct pitr_err err;
    pitr_rc rc;

    pitr_err_clear(&err);
    pitr_buf_init(out, 64 * MIB);
    rc = pitr_codec_compress(c, level, in, n, out, &err);
    if (rc != PITR_OK) {
        print_error("%s: compressing %zu bytes failed: %s\n", pitr_codec_name(c), n, err.msg);
        fail();
    }
}

static void round_trip(enum pitr_codec c, int level, const unsigned char *in, size_t n)
{
    struct pitr_buf packed, plain;
    struct pitr_err err;
    pitr_rc rc;

    compress_or_fail(c, level, in, n, &packed);
    if (c == PITR_CODEC_NONE) {
        assert_int_equal(packed.len, n);
    }
    pitr_buf_init(&plain, 64 * MIB);
    pitr_err_clear(&err);
    rc = pitr_codec_decompress(c, packed.data, packed.len, &plain, &err);
    if (rc != PITR_OK) {
        print_error("%s: decompressing %zu -> %zu bytes failed: %s\n",
                    pitr_codec_name(c),
                    packed.len,
                    n,
                    err.msg);
        fail();
    }
    if (plain.len != n || (n > 0 && memcmp(plain.data, in, n) != 0)) {
        print_error("%s: round trip of %zu bytes gave %zu different bytes\n",
                    pitr_codec_name(c),
                    n,
                    plain.len);
        fail();
    }
    assert_int_equal(plain.data[plain.len], '\0');
    pitr_buf_release(&plain);
    pitr_buf_release(&packed);
}

/* Decompressing in[0..n) with codec c must fail with want. */
static void expect_decompress_rc(enum pitr_codec c,
                                 const void *in,
                                 size_t n,
                                 size_t limit,
                                 pitr_rc want,
                                 const char *what)
{
    struct pitr_buf out;
    struct pitr_err err;
    pitr_rc rc;

    pitr_buf_init(&out, limit);
    pitr_err_clear(&err);
    rc = pitr_codec_decompress(c, in, n, &out, &err);
    if (rc != want || err.code != want) {
        print_error("%s, %s: expected rc %d, got %d (err.code %d): %s\n",
                    pitr_codec_name(c),
                    what,
                    (int)want,
                    (int)rc,
                    (int)err.code,
                    err.msg);
        fail();
    }
    if (out.len > limit) {
        print_error("%s, %s: %zu bytes written past the limit %zu\n",
                    pitr_codec_name(c),
                    what,
                    out.len,
                    limit);
        fail();
    }
    /* Every decompression failure names the codec. */
    if (strstr(err.msg, pitr_codec_name(c)) == NULL) {
        print_error(
          "%s, %s: message '%s' does not name the codec\n", pitr_codec_name(c), what, err.msg);
        fail();
    }
    pitr_buf_release(&out);
}

/* ---- names and suffixes ------------------------------------------------- */

static void pitr_codec_from_name__every_codec(void **state)
{
    static const char *const names[PITR_CODEC_COUNT] = { "none", "gzip", "bzip2", "snappy",
                                                         "xz",   "zstd", "lz4" };
    struct pitr_err err;
    enum pitr_codec c;
    size_t i;

    (void)state;
    for (i = 0; i < PITR_CODEC_COUNT; i++) {
        c = (enum pitr_codec)99;
        assert_int_equal(pitr_codec_from_name(names[i], &c, &err), PITR_OK);
        assert_int_equal(c, all_codecs[i]);
        assert_string_equal(pitr_codec_name(all_codecs[i]), names[i]);
    }
    pitr_err_clear(&err);
    assert_int_equal(pitr_codec_from_name("gz", &c, &err), PITR_EUSAGE);
    assert_int_equal(err.code, PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "'gz'"));
    assert_int_equal(pitr_codec_from_name("GZIP", &c, &err), PITR_EUSAGE);
    assert_int_equal(pitr_codec_from_name("", &c, &err), PITR_EUSAGE);
    assert_int_equal(pitr_codec_from_name("zstd ", &c, &err), PITR_EUSAGE);
}

static void pitr_codec_suffix__every_codec(void **state)
{
    (void)state;
    assert_string_equal(pitr_codec_suffix(PITR_CODEC_NONE), "");
    assert_string_equal(pitr_codec_suffix(PITR_CODEC_GZIP), ".gz");
    assert_string_equal(pitr_codec_suffix(PITR_CODEC_BZIP2), ".bz2");
    assert_string_equal(pitr_codec_suffix(PITR_CODEC_SNAPPY), ".snappy");
    assert_string_equal(pitr_codec_suffix(PITR_CODEC_XZ), ".xz");
    assert_string_equal(pitr_codec_suffix(PITR_CODEC_ZSTD), ".zst");
    assert_string_equal(pitr_codec_suffix(PITR_CODEC_LZ4), ".lz4");
}

static void expect_suffix(const char *name, enum pitr_codec want, size_t want_stem)
{
    size_t stem = 12345;

    assert_int_equal(pitr_codec_from_suffix(name, &stem), want);
    assert_int_equal(stem, want_stem);
}

static void pitr_codec_from_suffix__known_and_unknown(void **state)
{
    size_t i;
    char name[64];

    (void)state;
    for (i = 1; i < PITR_CODEC_COUNT; i++) {
        snprintf(
          name, sizeof(name), "000000010000000000000001%s", pitr_codec_suffix(all_codecs[i]));
        expect_suffix(name, all_codecs[i], 24);
    }
    expect_suffix("000000010000000000000001", PITR_CODEC_NONE, 24);
    expect_suffix("000000010000000000000001.partial", PITR_CODEC_NONE, 32);
    expect_suffix("000000010000000000000001.partial.lz4", PITR_CODEC_LZ4, 32);
    expect_suffix("00000002.history.gz", PITR_CODEC_GZIP, 16);
    expect_suffix("x.GZ", PITR_CODEC_NONE, 4);   /* case-sensitive */
    expect_suffix("x.gzip", PITR_CODEC_NONE, 6); /* the name is not a suffix */
    expect_suffix("x.zstd", PITR_CODEC_NONE, 6);
    expect_suffix(".gz", PITR_CODEC_NONE, 3); /* a suffix alone is not stripped */
    expect_suffix("", PITR_CODEC_NONE, 0);
}

/* ---- round trips -------------------------------------------------------- */

static void pitr_codec_compress__round_trip_small(void **state)
{
    static const unsigned char one = 0x42;
    size_t i;

    (void)state;
    for (i = 0; i < PITR_CODEC_COUNT; i++) {
        round_trip(all_codecs[i], 0, (const unsigned char *)"", 0);
        round_trip(all_codecs[i], 0, &one, 1);
        round_trip(all_codecs[i], 0, (const unsigned char *)"hello, world\n", 13);
    }
}

static void pitr_codec_compress__round_trip_random_100k(void **state)
{
    unsigned char *in = random_bytes(100 * KIB, 1);
    size_t i;

    (void)state;
    for (i = 0; i < PITR_CODEC_COUNT; i++)
        round_trip(all_codecs[i], 0, in, 100 * KIB);
    free(in);
}

static void pitr_codec_compress__round_trip_repetitive_1m(void **state)
{
    unsigned char *in = repetitive_bytes(MIB);
    size_t i;

    (void)state;
    for (i = 0; i < PITR_CODEC_COUNT; i++)
        round_trip(all_codecs[i], 0, in, MIB);
    free(in);
}

/* Repetitive input really shrinks (the codec is not storing it raw). */
static void pitr_codec_compress__compresses_repetitive_data(void **state)
{
    unsigned char *in = repetitive_bytes(MIB);
    struct pitr_buf packed;
    size_t i;

    (void)state;
    for (i = 1; i < PITR_CODEC_COUNT; i++) {
        compress_or_fail(all_codecs[i], 0, in, MIB, &packed);
        if (packed.len >= MIB / 4) {
            print_error("%s: 1 MiB of repetitive data compressed to %zu bytes\n",
                        pitr_codec_name(all_codecs[i]),
                        packed.len);
            fail();
        }
        pitr_buf_release(&packed);
    }
    free(in);
}

static void pitr_codec_compress__explicit_levels(void **state)
{
    unsigned char *in = repetitive_bytes(200 * KIB);

    (void)state;
    round_trip(PITR_CODEC_GZIP, 9, in, 200 * KIB);
    round_trip(PITR_CODEC_BZIP2, 1, in, 200 * KIB);
    round_trip(PITR_CODEC_XZ, 6, in, 200 * KIB);
    round_trip(PITR_CODEC_ZSTD, 19, in, 200 * KIB);
    round_trip(PITR_CODEC_ZSTD, -5, in, 200 * KIB);
    free(in);
}

/* Compressed output that does not fit the output buffer: PITR_ELIMIT. */
static void pitr_codec_compress__output_limit(void **state)
{
    unsigned char *in = random_bytes(100 * KIB, 2);
    struct pitr_buf out;
    struct pitr_err err;
    size_t i;
    pitr_rc rc;

    (void)state;
    for (i = 0; i < PITR_CODEC_COUNT; i++) {
        pitr_buf_init(&out, 4 * KIB);
        pitr_err_clear(&err);
        rc = pitr_codec_compress(all_codecs[i], 0, in, 100 * KIB, &out, &err);
        if (rc != PITR_ELIMIT) {
            print_error("%s: expected PITR_ELIMIT, got %d: %s\n",
                        pitr_codec_name(all_codecs[i]),
                        (int)rc,
                        err.msg);
            fail();
        }
        assert_true(out.len <= 4 * KIB);
        pitr_buf_release(&out);
    }
    free(in);
}

/* ---- decompression failures --------------------------------------------- */

static void pitr_codec_decompress__empty_input_fails(void **state)
{
    size_t i;

    (void)state;
    for (i = 1; i < PITR_CODEC_COUNT; i++)
        expect_decompress_rc(all_codecs[i], "", 0, MIB, PITR_EFORMAT, "empty input");
}

static void pitr_codec_decompress__truncated_fails(void **state)
{
    unsigned char *in = random_bytes(100 * KIB, 3);
    unsigned char *rep = repetitive_bytes(300 * KIB);
    struct pitr_buf packed;
    size_t i;

    (void)state;
    for (i = 1; i < PITR_CODEC_COUNT; i++) {
        enum pitr_codec c = all_codecs[i];

        compress_or_fail(c, 0, in, 100 * KIB, &packed);
        expect_decompress_rc(c, packed.data, packed.len - 1, MIB, PITR_EFORMAT, "random, n-1");
        expect_decompress_rc(c, packed.data, packed.len / 2, MIB, PITR_EFORMAT, "random, n/2");
        expect_decompress_rc(c, packed.data, 5, MIB, PITR_EFORMAT, "random, 5 bytes");
        pitr_buf_release(&packed);

        compress_or_fail(c, 0, rep, 300 * KIB, &packed);
        expect_decompress_rc(c, packed.data, packed.len - 1, MIB, PITR_EFORMAT, "text, n-1");
        expect_decompress_rc(c, packed.data, packed.len / 2, MIB, PITR_EFORMAT, "text, n/2");
        pitr_buf_release(&packed);
    }
    free(rep);
    free(in);
}

/* A damaged header (magic, stream identifier) is refused by every codec. */
static void pitr_codec_decompress__corrupt_header_fails(void **state)
{
    unsigned char *in = repetitive_bytes(50 * KIB);
    struct pitr_buf packed;
    size_t i;

    (void)state;
    for (i = 1; i < PITR_CODEC_COUNT; i++) {
        compress_or_fail(all_codecs[i], 0, in, 50 * KIB, &packed);
        packed.data[0] ^= 0x5a;
        expect_decompress_rc(
          all_codecs[i], packed.data, packed.len, MIB, PITR_EFORMAT, "first byte flipped");
        packed.data[0] ^= 0x5a;
        packed.data[1] ^= 0x01;
        expect_decompress_rc(
          all_codecs[i], packed.data, packed.len, MIB, PITR_EFORMAT, "second byte flipped");
        pitr_buf_release(&packed);
    }
    free(in);
}

/*
 * A damaged byte inside the compressed data is detected by the codecs whose
 * format carries a checksum of the content (gzip CRC-32, bzip2 block CRC,
 * snappy chunk CRC-32C, xz CRC-64, lz4 content checksum).
 */
static void pitr_codec_decompress__corrupt_payload_fails(void **state)
{
    static const enum pitr_codec checked[] = { PITR_CODEC_GZIP, PITR_CODEC_BZIP2, PITR_CODEC_SNAPPY,
                                               PITR_CODEC_XZ,   PITR_CODEC_LZ4,   PITR_CODEC_ZSTD };
    unsigned char *rnd = random_bytes(100 * KIB, 4);
    unsigned char *rep = repetitive_bytes(100 * KIB);
    struct pitr_buf packed;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(checked) / sizeof(checked[0]); i++) {
        compress_or_fail(checked[i], 0, rnd, 100 * KIB, &packed);
        packed.data[packed.len / 2] ^= 0x10;
        expect_decompress_rc(
          checked[i], packed.data, packed.len, MIB, PITR_EFORMAT, "random, middle byte flipped");
        pitr_buf_release(&packed);

        compress_or_fail(checked[i], 0, rep, 100 * KIB, &packed);
        packed.data[packed.len / 2] ^= 0x10;
        expect_decompress_rc(
          checked[i], packed.data, packed.len, MIB, PITR_EFORMAT, "text, middle byte flipped");
        pitr_buf_release(&packed);
    }
    free(rep);
    free(rnd);
}

static void pitr_codec_decompress__trailing_garbage_fails(void **state)
{
    struct pitr_buf packed;
    struct pitr_err err;
    size_t i;

    (void)state;
    for (i = 1; i < PITR_CODEC_COUNT; i++) {
        enum pitr_codec c = all_codecs[i];

        compress_or_fail(c, 0, "some wal bytes", 14, &packed);
        assert_int_equal(pitr_buf_append(&packed, "GARBAGE!", 8, &err), PITR_OK);
        expect_decompress_rc(c, packed.data, packed.len, MIB, PITR_EFORMAT, "8 trailing bytes");
        packed.len -= 7; /* one trailing byte */
        expect_decompress_rc(c, packed.data, packed.len, MIB, PITR_EFORMAT, "1 trailing byte");
        pitr_buf_release(&packed);
    }
}

/* A decompression bomb: 10 MiB of zeros stop at a 1 MiB limit with PITR_ELIMIT. */
static void pitr_codec_decompress__output_limit_bomb(void **state)
{
    unsigned char *zeros = calloc(1, 10 * MIB);
    struct pitr_buf packed;
    size_t i;

    (void)state;
    assert_non_null(zeros);
    for (i = 0; i < PITR_CODEC_COUNT; i++) {
        compress_or_fail(all_codecs[i], 0, zeros, 10 * MIB, &packed);
        if (all_codecs[i] != PITR_CODEC_NONE)
            assert_true(packed.len < MIB); /* a real bomb: small in, big out */
        expect_decompress_rc(
          all_codecs[i], packed.data, packed.len, MIB, PITR_ELIMIT, "10 MiB of zeros, 1 MiB limit");
        pitr_buf_release(&packed);
    }
    free(zeros);
}

/* One byte less than the output: PITR_ELIMIT, never a silently short result. */
static void pitr_codec_decompress__limit_one_short(void **state)
{
    unsigned char *in = repetitive_bytes(200 * KIB);
    struct pitr_buf packed;
    size_t i;

    (void)state;
    for (i = 0; i < PITR_CODEC_COUNT; i++) {
        compress_or_fail(all_codecs[i], 0, in, 200 * KIB, &packed);
        expect_decompress_rc(all_codecs[i],
                             packed.data,
                             packed.len,
                             200 * KIB - 1,
                             PITR_ELIMIT,
                             "limit one byte short");
        pitr_buf_release(&packed);
    }
    free(in);
}

/* The output exactly fills the limit (a 1 GiB segment into a 1 GiB buffer). */
static void pitr_codec_decompress__output_exactly_at_limit(void **state)
{
    unsigned char *rep = repetitive_bytes(MIB);
    unsigned char *rnd = random_bytes(100 * KIB, 5);
    struct pitr_buf packed, plain;
    struct pitr_err err;
    size_t i;
    pitr_rc rc;

    (void)state;
    for (i = 0; i < PITR_CODEC_COUNT; i++) {
        enum pitr_codec c = all_codecs[i];

        compress_or_fail(c, 0, rep, MIB, &packed);
        pitr_buf_init(&plain, MIB);
        rc = pitr_codec_decompress(c, packed.data, packed.len, &plain, &err);
        if (rc != PITR_OK) {
            print_error("%s: 1 MiB into a 1 MiB buffer failed: %s\n", pitr_codec_name(c), err.msg);
            fail();
        }
        assert_int_equal(plain.len, MIB);
        assert_memory_equal(plain.data, rep, MIB);
        pitr_buf_release(&plain);
        pitr_buf_release(&packed);

        compress_or_fail(c, 0, rnd, 100 * KIB, &packed);
        pitr_buf_init(&plain, 100 * KIB);
        rc = pitr_codec_decompress(c, packed.data, packed.len, &plain, &err);
        if (rc != PITR_OK) {
            print_error(
              "%s: 100 KiB into a 100 KiB buffer failed: %s\n", pitr_codec_name(c), err.msg);
            fail();
        }
        assert_memory_equal(plain.data, rnd, 100 * KIB);
        pitr_buf_release(&plain);
        pitr_buf_release(&packed);
    }
    free(rnd);
    free(rep);
}

/* Decompressing appends to what the buffer holds. */
static void pitr_codec_decompress__appends(void **state)
{
    struct pitr_buf packed, plain;
    struct pitr_err err;
    size_t i;

    (void)state;
    for (i = 0; i < PITR_CODEC_COUNT; i++) {
        compress_or_fail(all_codecs[i], 0, "tail", 4, &packed);
        pitr_buf_init(&plain, KIB);
        assert_int_equal(pitr_buf_append_str(&plain, "head+", &err), PITR_OK);
        assert_int_equal(
          pitr_codec_decompress(all_codecs[i], packed.data, packed.len, &plain, &err), PITR_OK);
        assert_string_equal(plain.data, "head+tail");
        pitr_buf_release(&plain);
        pitr_buf_release(&packed);
    }
}

/* ---- gzip --------------------------------------------------------------- */

/* Several members back to back (pigz, cat a.gz b.gz) decode to the concatenation. */
static void pitr_codec_decompress__gzip_multi_member(void **state)
{
    unsigned char *big = repetitive_bytes(300 * KIB);
    struct pitr_buf a, b, c, all, plain;
    struct pitr_err err;

    (void)state;
    compress_or_fail(PITR_CODEC_GZIP, 0, "hello, ", 7, &a);
    compress_or_fail(PITR_CODEC_GZIP, 0, "", 0, &b);
    compress_or_fail(PITR_CODEC_GZIP, 0, big, 300 * KIB, &c);
    pitr_buf_init(&all, 64 * MIB);
    assert_int_equal(pitr_buf_append(&all, a.data, a.len, &err), PITR_OK);
    assert_int_equal(pitr_buf_append(&all, b.data, b.len, &err), PITR_OK);
    assert_int_equal(pitr_buf_append(&all, c.data, c.len, &err), PITR_OK);
    assert_int_equal(pitr_buf_append(&all, a.data, a.len, &err), PITR_OK);

    pitr_buf_init(&plain, MIB);
    assert_int_equal(pitr_codec_decompress(PITR_CODEC_GZIP, all.data, all.len, &plain, &err),
                     PITR_OK);
    assert_int_equal(plain.len, 7 + 300 * KIB + 7);
    assert_memory_equal(plain.data, "hello, ", 7);
    assert_memory_equal(plain.data + 7, big, 300 * KIB);
    assert_memory_equal(plain.data + 7 + 300 * KIB, "hello, ", 7);
    pitr_buf_release(&plain);

    /* A damaged second member is still an error. */
    all.data[a.len + b.len + 3] ^= 0xff;
    expect_decompress_rc(
      PITR_CODEC_GZIP, all.data, all.len, MIB, PITR_EFORMAT, "second member damaged");
    pitr_buf_release(&all);
    pitr_buf_release(&a);
    pitr_buf_release(&b);
    pitr_buf_release(&c);
    free(big);
}

/* A gzip stream with every optional header field (name, comment, extra, header CRC). */
static void pitr_codec_decompress__gzip_zlib_wrapper_with_header(void **state)
{
    unsigned char *in = repetitive_bytes(64 * KIB);
    unsigned char *out = malloc(128 * KIB);
    unsigned char extra[] = { 'P', 'G', 4, 0, 1, 2, 3, 4 };
    unsigned char name[] = "000000010000000000000001";
    unsigned char comment[] = "written by a test";
    struct pitr_buf plain;
    struct pitr_err err;
    gz_header h;
    z_stream zs;

    (void)state;
    assert_non_null(out);
    memset(&zs, 0, sizeof(zs));
    memset(&h, 0, sizeof(h));
    h.text = 0;
    h.time = 1700000000;
    h.os = 3;
    h.extra = extra;
    h.extra_len = sizeof(extra);
    h.name = name;
    h.comment = comment;
    h.hcrc = 1;
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    assert_int_equal(deflateSetHeader(&zs, &h), Z_OK);
    zs.next_in = in;
    zs.avail_in = 64 * KIB;
    zs.next_out = out;
    zs.avail_out = 128 * KIB;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(out[3] & 0x1e, 0x1e); /* FHCRC FEXTRA FNAME FCOMMENT all set */

    pitr_buf_init(&plain, MIB);
    assert_int_equal(
      pitr_codec_decompress(PITR_CODEC_GZIP, out, (size_t)zs.total_out, &plain, &err), PITR_OK);
    assert_int_equal(plain.len, 64 * KIB);
    assert_memory_equal(plain.data, in, 64 * KIB);
    pitr_buf_release(&plain);
    deflateEnd(&zs);
    free(out);
    free(in);
}

/* What gzip(1) writes (with the file name and time in the header) decodes. */
static void pitr_codec_decompress__gzip_from_gzip_command(void **state)
{
    char dir[] = "/tmp/pgpitr-test-codec-XXXXXX";
    char path[128], cmd[256];
    unsigned char *in = repetitive_bytes(200 * KIB);
    struct pitr_buf gz, plain;
    struct pitr_err err;
    unsigned char chunk[4096];
    size_t n;
    FILE *fp;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/000000010000000000000001", dir);
    fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(in, 1, 200 * KIB, fp), 200 * KIB);
    assert_int_equal(fclose(fp), 0);

    snprintf(cmd, sizeof(cmd), "gzip -c -6 '%s'", path);
    fp = popen(cmd, "r");
    assert_non_null(fp);
    pitr_buf_init(&gz, 64 * MIB);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        assert_int_equal(pitr_buf_append(&gz, chunk, n, &err), PITR_OK);
    assert_int_equal(pclose(fp), 0);
    unlink(path);
    rmdir(dir);

    assert_true(gz.len > 18);
    assert_int_equal((unsigned char)gz.data[0], 0x1f);
    assert_int_equal((unsigned char)gz.data[1], 0x8b);
    assert_int_equal(gz.data[3] & 0x08, 0x08); /* FNAME: gzip stored the file name */
    pitr_buf_init(&plain, MIB);
    assert_int_equal(pitr_codec_decompress(PITR_CODEC_GZIP, gz.data, gz.len, &plain, &err),
                     PITR_OK);
    assert_int_equal(plain.len, 200 * KIB);
    assert_memory_equal(plain.data, in, 200 * KIB);
    pitr_buf_release(&plain);
    pitr_buf_release(&gz);
    free(in);
}

/* A raw zlib stream (RFC 1950, not gzip) is not accepted as gzip. */
/* The trailer is checked: a wrong CRC-32 or a wrong length fails. */
static void pitr_codec_decompress__gzip_trailer_checked(void **state)
{
    unsigned char *in = repetitive_bytes(100 * KIB);
    struct pitr_buf z, back;
    struct pitr_err err = { 0 };

    (void)state;
    pitr_buf_init(&z, MIB);
    pitr_buf_init(&back, MIB);
    compress_or_fail(PITR_CODEC_GZIP, 0, in, 100 * KIB, &z);
    z.data[z.len - 8] ^= 1; /* CRC-32 */
    assert_int_equal(pitr_codec_decompress(PITR_CODEC_GZIP, z.data, z.len, &back, &err),
                     PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "trailer does not match"));
    z.data[z.len - 8] ^= 1;
    z.data[z.len - 4] ^= 1; /* ISIZE */
    pitr_buf_reset(&back);
    assert_int_equal(pitr_codec_decompress(PITR_CODEC_GZIP, z.data, z.len, &back, &err),
                     PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "trailer does not match"));
    z.data[z.len - 4] ^= 1;
    pitr_buf_reset(&back);
    assert_int_equal(pitr_codec_decompress(PITR_CODEC_GZIP, z.data, z.len, &back, &err), PITR_OK);
    assert_int_equal(back.len, 100 * KIB);
    pitr_buf_release(&z);
    pitr_buf_release(&back);
    free(in);
}

static void pitr_codec_decompress__gzip_rejects_zlib_format(void **state)
{
    unsigned char out[256];
    uLongf out_len = sizeof(out);

    (void)state;
    assert_int_equal(compress2(out, &out_len, (const Bytef *)"abcabcabc", 9, 6), Z_OK);
    expect_decompress_rc(PITR_CODEC_GZIP, out, out_len, MIB, PITR_EFORMAT, "zlib stream");
}

/* ---- snappy framing ----------------------------------------------------- */

/* Chunk layout: 10-byte stream identifier, then type(1) len(3) crc(4) data. */
static void pitr_codec_decompress__snappy_bad_crc_fails(void **state)
{
    unsigned char *rnd = random_bytes(1000, 6);
    unsigned char *rep = repetitive_bytes(1000);
    struct pitr_buf packed;
    struct pitr_err err;
    struct pitr_buf out;

    (void)state;
    /* A compressed chunk (type 0x00). */
    compress_or_fail(PITR_CODEC_SNAPPY, 0, rep, 1000, &packed);
    assert_int_equal((unsigned char)packed.data[10], 0x00);
    packed.data[14] ^= 0x01; /* first CRC byte */
    expect_decompress_rc(PITR_CODEC_SNAPPY,
                         packed.data,
                         packed.len,
                         MIB,
                         PITR_EFORMAT,
                         "compressed chunk, CRC flipped");
    pitr_buf_init(&out, MIB);
    assert_int_equal(pitr_codec_decompress(PITR_CODEC_SNAPPY, packed.data, packed.len, &out, &err),
                     PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "checksum"));
    pitr_buf_release(&out);
    pitr_buf_release(&packed);

    /* An uncompressed chunk (type 0x01): the CRC is all that protects it. */
    compress_or_fail(PITR_CODEC_SNAPPY, 0, rnd, 1000, &packed);
    assert_int_equal((unsigned char)packed.data[10], 0x01);
    packed.data[17] ^= 0x80; /* last CRC byte */
    expect_decompress_rc(PITR_CODEC_SNAPPY,
                         packed.data,
                         packed.len,
                         MIB,
                         PITR_EFORMAT,
                         "uncompressed chunk, CRC flipped");
    packed.data[17] ^= 0x80;
    packed.data[18 + 500] ^= 0x04; /* a data byte */
    expect_decompress_rc(PITR_CODEC_SNAPPY,
                         packed.data,
                         packed.len,
                         MIB,
                         PITR_EFORMAT,
                         "uncompressed chunk, data flipped");
    pitr_buf_release(&packed);
    free(rep);
    free(rnd);
}

static void pitr_codec_decompress__snappy_needs_stream_identifier(void **state)
{
    struct pitr_buf packed;

    (void)state;
    compress_or_fail(PITR_CODEC_SNAPPY, 0, "payload bytes", 13, &packed);
    assert_memory_equal(packed.data, "\xff\x06\x00\x00sNaPpY", 10);
    expect_decompress_rc(PITR_CODEC_SNAPPY,
                         packed.data + 10,
                         packed.len - 10,
                         MIB,
                         PITR_EFORMAT,
                         "no identifier chunk");
    packed.data[9] = 'y'; /* a wrong identifier */
    expect_decompress_rc(
      PITR_CODEC_SNAPPY, packed.data, packed.len, MIB, PITR_EFORMAT, "bad identifier");
    pitr_buf_release(&packed);
}

/* Padding and skippable chunks are skipped; reserved unskippable ones are refused. */
static void pitr_codec_decompress__snappy_chunk_types(void **state)
{
    static const unsigned char skip[] = { 0xfe, 0x02, 0x00, 0x00, 0x00, 0x00, 0x80,
                                          0x03, 0x00, 0x00, 'a',  'b',  'c' };
    static const unsigned char reserved[] = { 0x02, 0x01, 0x00, 0x00, 0x00 };
    struct pitr_buf packed, s, plain;
    struct pitr_err err;

    (void)state;
    compress_or_fail(PITR_CODEC_SNAPPY, 0, "data", 4, &packed);
    /* identifier, padding, skippable, then the data chunk */
    pitr_buf_init(&s, KIB);
    assert_int_equal(pitr_buf_append(&s, packed.data, 10, &err), PITR_OK);
    assert_int_equal(pitr_buf_append(&s, skip, sizeof(skip), &err), PITR_OK);
    assert_int_equal(pitr_buf_append(&s, packed.data + 10, packed.len - 10, &err), PITR_OK);
    pitr_buf_init(&plain, KIB);
    assert_int_equal(pitr_codec_decompress(PITR_CODEC_SNAPPY, s.data, s.len, &plain, &err),
                     PITR_OK);
    assert_string_equal(plain.data, "data");
    pitr_buf_release(&plain);

    /* A reserved unskippable chunk type (0x02-0x7f) is an error. */
    pitr_buf_reset(&s);
    assert_int_equal(pitr_buf_append(&s, packed.data, 10, &err), PITR_OK);
    assert_int_equal(pitr_buf_append(&s, reserved, sizeof(reserved), &err), PITR_OK);
    expect_decompress_rc(PITR_CODEC_SNAPPY, s.data, s.len, KIB, PITR_EFORMAT, "reserved chunk");

    /* Only the identifier: a valid, empty stream. */
    pitr_buf_init(&plain, KIB);
    assert_int_equal(pitr_codec_decompress(PITR_CODEC_SNAPPY, packed.data, 10, &plain, &err),
                     PITR_OK);
    assert_int_equal(plain.len, 0);
    pitr_buf_release(&plain);
    pitr_buf_release(&s);
    pitr_buf_release(&packed);
}

/* Two framed streams back to back (the identifier may repeat) decode to both. */
static void pitr_codec_decompress__snappy_concatenated_streams(void **state)
{
    unsigned char *big = repetitive_bytes(150 * KIB); /* three chunks */
    struct pitr_buf a, b, plain;
    struct pitr_err err;

    (void)state;
    compress_or_fail(PITR_CODEC_SNAPPY, 0, big, 150 * KIB, &a);
    compress_or_fail(PITR_CODEC_SNAPPY, 0, "end", 3, &b);
    assert_int_equal(pitr_buf_append(&a, b.data, b.len, &err), PITR_OK);
    pitr_buf_init(&plain, MIB);
    assert_int_equal(pitr_codec_decompress(PITR_CODEC_SNAPPY, a.data, a.len, &plain, &err),
                     PITR_OK);
    assert_int_equal(plain.len, 150 * KIB + 3);
    assert_memory_equal(plain.data, big, 150 * KIB);
    assert_memory_equal(plain.data + 150 * KIB, "end", 3);
    pitr_buf_release(&plain);
    pitr_buf_release(&a);
    pitr_buf_release(&b);
    free(big);
}

/*
 * Parallel gzip: the threads' pieces make ONE member (Python's tarfile stream
 * mode reads only the first), which one zlib inflate ends exactly at the end.
 */
static void pitr_codec_compress_mt__gzip_members_round_trip(void **state)
{
    const size_t n = 5 * MIB + 123;
    unsigned char *in = repetitive_bytes(n);
    struct pitr_buf z, back;
    struct pitr_err err = { 0 };
    z_stream zs;
    FILE *f;
    char cmd[256], path[] = "/tmp/pitr-mt-XXXXXX";
    int fd;

    (void)state;
    pitr_buf_init(&z, 2 * n);
    pitr_buf_init(&back, 2 * n);
    assert_int_equal(pitr_codec_compress_mt(PITR_CODEC_GZIP, 0, 3, in, n, &z, &err), PITR_OK);
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (unsigned char *)z.data;
    zs.avail_in = (uInt)z.len;
    zs.next_out = (unsigned char *)back.data;
    assert_int_equal(pitr_buf_grow(&back, n + 1, &err), PITR_OK);
    zs.next_out = (unsigned char *)back.data;
    zs.avail_out = (uInt)(n + 1);
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.avail_in, 0); /* one member: nothing after its trailer */
    assert_int_equal(zs.total_out, n);
    inflateEnd(&zs);
    assert_memory_equal(back.data, in, n);
    assert_int_equal(pitr_codec_decompress(PITR_CODEC_GZIP, z.data, z.len, &back, &err), PITR_OK);
    assert_int_equal(back.len, n);
    assert_memory_equal(back.data, in, n);
    /* gzip(1) reads it too. */
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, z.data, z.len), (ssize_t)z.len);
    close(fd);
    snprintf(cmd, sizeof(cmd), "gzip -dc < %s", path);
    f = popen(cmd, "r");
    assert_non_null(f);
    pitr_buf_reset(&back);
    for (;;) {
        char chunk[65536];
        size_t got = fread(chunk, 1, sizeof(chunk), f);

        if (got == 0)
            break;
        assert_int_equal(pitr_buf_append(&back, chunk, got, &err), PITR_OK);
    }
    assert_int_equal(pclose(f), 0);
    unlink(path);
    assert_int_equal(back.len, n);
    assert_memory_equal(back.data, in, n);
    pitr_buf_release(&z);
    pitr_buf_release(&back);
    free(in);
}

/* Below the threshold, or one thread, or another codec: same bytes as compress(). */
static void pitr_codec_compress_mt__small_or_other_codec_is_single(void **state)
{
    unsigned char *in = repetitive_bytes(MIB);
    struct pitr_buf a, b;
    struct pitr_err err = { 0 };

    (void)state;
    pitr_buf_init(&a, 4 * MIB);
    pitr_buf_init(&b, 4 * MIB);
    assert_int_equal(pitr_codec_compress_mt(PITR_CODEC_GZIP, 0, 4, in, MIB, &a, &err), PITR_OK);
    assert_int_equal(pitr_codec_compress(PITR_CODEC_GZIP, 0, in, MIB, &b, &err), PITR_OK);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    pitr_buf_reset(&a);
    pitr_buf_reset(&b);
    assert_int_equal(pitr_codec_compress_mt(PITR_CODEC_ZSTD, 0, 4, in, MIB, &a, &err), PITR_OK);
    assert_int_equal(pitr_codec_compress(PITR_CODEC_ZSTD, 0, in, MIB, &b, &err), PITR_OK);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    pitr_buf_release(&a);
    pitr_buf_release(&b);
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_codec_from_name__every_codec),
        cmocka_unit_test(pitr_codec_suffix__every_codec),
        cmocka_unit_test(pitr_codec_from_suffix__known_and_unknown),
        cmocka_unit_test(pitr_codec_compress__round_trip_small),
        cmocka_unit_test(pitr_codec_compress__round_trip_random_100k),
        cmocka_unit_test(pitr_codec_compress__round_trip_repetitive_1m),
        cmocka_unit_test(pitr_codec_compress__compresses_repetitive_data),
        cmocka_unit_test(pitr_codec_compress__explicit_levels),
        cmocka_unit_test(pitr_codec_compress__output_limit),
        cmocka_unit_test(pitr_codec_decompress__empty_input_fails),
        cmocka_unit_test(pitr_codec_decompress__truncated_fails),
        cmocka_unit_test(pitr_codec_decompress__corrupt_header_fails),
        cmocka_unit_test(pitr_codec_decompress__corrupt_payload_fails),
        cmocka_unit_test(pitr_codec_decompress__trailing_garbage_fails),
        cmocka_unit_test(pitr_codec_decompress__output_limit_bomb),
        cmocka_unit_test(pitr_codec_decompress__limit_one_short),
        cmocka_unit_test(pitr_codec_decompress__output_exactly_at_limit),
        cmocka_unit_test(pitr_codec_decompress__appends),
        cmocka_unit_test(pitr_codec_decompress__gzip_multi_member),
        cmocka_unit_test(pitr_codec_decompress__gzip_zlib_wrapper_with_header),
        cmocka_unit_test(pitr_codec_decompress__gzip_from_gzip_command),
        cmocka_unit_test(pitr_codec_decompress__gzip_rejects_zlib_format),
        cmocka_unit_test(pitr_codec_decompress__gzip_trailer_checked),
        cmocka_unit_test(pitr_codec_decompress__snappy_bad_crc_fails),
        cmocka_unit_test(pitr_codec_decompress__snappy_needs_stream_identifier),
        cmocka_unit_test(pitr_codec_decompress__snappy_chunk_types),
        cmocka_unit_test(pitr_codec_decompress__snappy_concatenated_streams),
        cmocka_unit_test(pitr_codec_compress_mt__gzip_members_round_trip),
        cmocka_unit_test(pitr_codec_compress_mt__small_or_other_codec_is_single),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
