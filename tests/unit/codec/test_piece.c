/*
 * test_piece.c - unit tests for src/codec/piece.c: streams compressed in
 * pieces and joined into ONE gzip member, ONE bzip2 stream or ONE snappy
 * framing stream, the shape Python's tarfile stream mode
 * (barman-cloud-restore) needs.
 *
 * The output is judged by zlib and libbz2 directly, not by our own reader:
 * one gzip header, raw deflate that ends exactly 8 bytes before the end,
 * and a trailer with the input's CRC-32 and length; one bzip2 stream that
 * libbz2 decodes (it checks every block CRC and the combined CRC) with
 * nothing after it; one snappy stream read by pgpitr's own streaming reader
 * (python3-snappy's StreamDecompressor is broken on Debian 12).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <bzlib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../support/snapcheck.h"
#include "pgpitr/codec/codec.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"

#define KIB ((size_t)1024)
#define MIB ((size_t)1024 * 1024)

/* Half random, half repeating records: both stored and Huffman blocks, and matches. */
static unsigned char *mixed_bytes(size_t n, uint64_t seed)
{
    unsigned char *p = malloc(n ? n : 1);
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    size_t i;

    assert_non_null(p);
    for (i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if ((i / 50000) % 2 == 0)
            p[i] = (unsigned char)(x >> 24);
        else
            p[i] = (unsigned char)("pgbench_accounts row "[i % 21] + (i / 977) % 3);
    }
    return p;
}

/* Compress in[0..n) as pieces of piece_size bytes and join them into out. */
static void join_pieces(enum pitr_codec c,
                        int level,
                        const unsigned char *in,
                        size_t n,
                        size_t piece_size,
                        struct pitr_buf *out)
{
    struct pitr_codec_join j;
    struct pitr_err err = { 0 };
    size_t off = 0;

    assert_int_equal(pitr_codec_join_begin(&j, c, level, out, &err), PITR_OK);
    do {
        struct pitr_codec_piece p;
        size_t k = n - off < piece_size ? n - off : piece_size;

        pitr_codec_piece_init(&p, k + k / 4 + 4096);
        assert_int_equal(pitr_codec_piece_compress(c, level, in, off, in + off, k, &p, &err),
                         PITR_OK);
        assert_int_equal(p.in_len, k);
        assert_int_equal(pitr_codec_join_add(&j, &p, out, &err), PITR_OK);
        pitr_codec_piece_release(&p);
        off += k;
    } while (off < n);
    assert_int_equal(pitr_codec_join_end(&j, out, &err), PITR_OK);
}

/* out must be exactly one gzip member holding in[0..n). */
static void expect_one_gzip_member(const struct pitr_buf *z, const unsigned char *in, size_t n)
{
    const unsigned char *d = (const unsigned char *)z->data;
    unsigned char *back = malloc(n + 1);
    z_stream zs;
    uint32_t crc, isize;

    assert_non_null(back);
    assert_true(z->len >= 10 + 2 + 8);
    assert_int_equal(d[0], 0x1f);
    assert_int_equal(d[1], 0x8b);
    assert_int_equal(d[2], 8);
    assert_int_equal(d[3], 0); /* no name, comment, extra or header CRC */
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, -15), Z_OK);
    zs.next_in = (unsigned char *)(uintptr_t)(d + 10);
    zs.avail_in = (uInt)(z->len - 10);
    zs.next_out = back;
    zs.avail_out = (uInt)(n + 1);
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    /* The deflate data ends with the member: exactly the 8-byte trailer is left. */
    assert_int_equal(zs.avail_in, 8);
    assert_int_equal(zs.total_out, n);
    inflateEnd(&zs);
    if (n > 0)
        assert_memory_equal(back, in, n);
    crc = (uint32_t)d[z->len - 8] | (uint32_t)d[z->len - 7] << 8 | (uint32_t)d[z->len - 6] << 16 |
          (uint32_t)d[z->len - 5] << 24;
    isize = (uint32_t)d[z->len - 4] | (uint32_t)d[z->len - 3] << 8 | (uint32_t)d[z->len - 2] << 16 |
            (uint32_t)d[z->len - 1] << 24;
    assert_int_equal(crc, (uint32_t)crc32(0, in, (uInt)n));
    assert_int_equal(isize, (uint32_t)n);
    free(back);
}

/* out must be exactly one bzip2 stream holding in[0..n). */
static void expect_one_bzip2_stream(const struct pitr_buf *z, const unsigned char *in, size_t n)
{
    unsigned char *back = malloc(n + 1);
    bz_stream bz;

    assert_non_null(back);
    memset(&bz, 0, sizeof(bz));
    assert_int_equal(BZ2_bzDecompressInit(&bz, 0, 0), BZ_OK);
    bz.next_in = z->data;
    bz.avail_in = (unsigned)z->len;
    bz.next_out = (char *)back;
    bz.avail_out = (unsigned)(n + 1);
    assert_int_equal(BZ2_bzDecompress(&bz), BZ_STREAM_END);
    assert_int_equal(bz.avail_in, 0);
    assert_int_equal(bz.total_out_lo32, (unsigned)n);
    BZ2_bzDecompressEnd(&bz);
    if (n > 0)
        assert_memory_equal(back, in, n);
    free(back);
}

/* ---- gzip ------------------------------------------------------------------ */

/* Many sizes against many piece sizes, across deflate's 32 KiB window and 64 KiB blocks. */
static void gzip_join__one_member_many_sizes(void **state)
{
    static const size_t sizes[] = { 0,     1,     2,         1000,   32767,   32768,
                                    32769, 65535, 65536 + 7, 300001, MIB - 1, MIB + 3 };
    static const size_t pieces[] = { 1, 7, 4096, 32768, 65537, 262144, MIB };
    unsigned char *in = mixed_bytes(MIB + 3, 1);
    struct pitr_buf z;
    size_t i, k;

    (void)state;
    pitr_buf_init(&z, 4 * MIB);
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
            /* Tiny pieces of big inputs would take long and prove nothing more. */
            if (pieces[k] < 4096 && sizes[i] > 2000)
                continue;
            pitr_buf_reset(&z);
            join_pieces(PITR_CODEC_GZIP, 0, in, sizes[i], pieces[k], &z);
            expect_one_gzip_member(&z, in, sizes[i]);
        }
    }
    pitr_buf_release(&z);
    free(in);
}

/* Every level maps to an igzip level and still makes one member. */
static void gzip_join__every_level(void **state)
{
    unsigned char *in = mixed_bytes(400 * KIB, 2);
    struct pitr_buf z;
    struct pitr_codec_piece p;
    struct pitr_err err = { 0 };

    (void)state;
    pitr_buf_init(&z, 4 * MIB);
    for (int level = 0; level <= 12; level++) {
        pitr_buf_reset(&z);
        join_pieces(PITR_CODEC_GZIP, level, in, 400 * KIB, 100 * KIB, &z);
        expect_one_gzip_member(&z, in, 400 * KIB);
    }
    pitr_codec_piece_init(&p, MIB);
    assert_int_equal(pitr_codec_piece_compress(PITR_CODEC_GZIP, 13, NULL, 0, in, 10, &p, &err),
                     PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "out of range"));
    pitr_codec_piece_release(&p);
    pitr_buf_release(&z);
    free(in);
}

/* The preset dictionary pays: repeated data split at a piece boundary compresses better. */
static void gzip_piece__dictionary_is_used(void **state)
{
    unsigned char *in = mixed_bytes(2 * 20000, 3);
    struct pitr_codec_piece with, without;
    struct pitr_err err = { 0 };

    (void)state;
    memcpy(in + 20000, in, 20000); /* the second half repeats the first */
    pitr_codec_piece_init(&with, MIB);
    pitr_codec_piece_init(&without, MIB);
    assert_int_equal(
      pitr_codec_piece_compress(PITR_CODEC_GZIP, 0, in, 20000, in + 20000, 20000, &with, &err),
      PITR_OK);
    assert_int_equal(
      pitr_codec_piece_compress(PITR_CODEC_GZIP, 0, NULL, 0, in + 20000, 20000, &without, &err),
      PITR_OK);
    assert_true(with.data.len * 10 < without.data.len);
    pitr_codec_piece_release(&with);
    pitr_codec_piece_release(&without);
    free(in);
}

/* ISIZE is the length modulo 2^32 (a volume over 4 GiB). */
static void gzip_join__isize_wraps(void **state)
{
    struct pitr_codec_join j;
    struct pitr_codec_piece p;
    struct pitr_buf z;
    struct pitr_err err = { 0 };
    const unsigned char *d;

    (void)state;
    pitr_buf_init(&z, 1024);
    pitr_codec_piece_init(&p, 0);
    p.in_len = ((uint64_t)1 << 32) + 5; /* bookkeeping only: no data */
    assert_int_equal(pitr_codec_join_begin(&j, PITR_CODEC_GZIP, 0, &z, &err), PITR_OK);
    assert_int_equal(pitr_codec_join_add(&j, &p, &z, &err), PITR_OK);
    assert_int_equal(pitr_codec_join_end(&j, &z, &err), PITR_OK);
    d = (const unsigned char *)z.data;
    assert_int_equal(z.len, 10 + 2 + 8);
    assert_int_equal(d[z.len - 4], 5);
    assert_int_equal(d[z.len - 3] | d[z.len - 2] | d[z.len - 1], 0);
    pitr_codec_piece_release(&p);
    pitr_buf_release(&z);
}

/* Parallel compress: one member, whatever the thread count. */
static void gzip_compress_mt__one_member(void **state)
{
    const size_t n = 5 * MIB + 123;
    unsigned char *in = mixed_bytes(n, 4);
    struct pitr_buf z;
    struct pitr_err err = { 0 };

    (void)state;
    pitr_buf_init(&z, 2 * n);
    for (int threads = 1; threads <= 5; threads += 2) {
        pitr_buf_reset(&z);
        assert_int_equal(pitr_codec_compress_mt(PITR_CODEC_GZIP, 0, threads, in, n, &z, &err),
                         PITR_OK);
        expect_one_gzip_member(&z, in, n);
    }
    pitr_buf_reset(&z);
    assert_int_equal(pitr_codec_compress(PITR_CODEC_GZIP, 0, in, 1, &z, &err), PITR_OK);
    expect_one_gzip_member(&z, in, 1);
    pitr_buf_reset(&z);
    assert_int_equal(pitr_codec_compress(PITR_CODEC_GZIP, 0, in, 0, &z, &err), PITR_OK);
    expect_one_gzip_member(&z, in, 0);
    pitr_buf_release(&z);
    free(in);
}

/* A piece that does not fit its buffer fails with PITR_ELIMIT, not a short stream. */
static void gzip_piece__output_limit(void **state)
{
    unsigned char *in = mixed_bytes(200 * KIB, 5);
    struct pitr_codec_piece p;
    struct pitr_err err = { 0 };

    (void)state;
    pitr_codec_piece_init(&p, 1000);
    assert_int_equal(
      pitr_codec_piece_compress(PITR_CODEC_GZIP, 0, NULL, 0, in, 200 * KIB, &p, &err), PITR_ELIMIT);
    pitr_codec_piece_release(&p);
    free(in);
}

/* ---- bzip2 ----------------------------------------------------------------- */

/* Odd piece sizes shift every block by a different number of bits; some pieces span blocks. */
static void bzip2_join__one_stream_many_sizes(void **state)
{
    static const size_t sizes[] = { 0, 1, 2, 1000, 100001, 719999, 720001, 2 * MIB + 17 };
    static const size_t pieces[] = { 1, 333, 65537, MIB };
    unsigned char *in = mixed_bytes(2 * MIB + 17, 6);
    struct pitr_buf z;
    size_t i, k;

    (void)state;
    pitr_buf_init(&z, 8 * MIB);
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
            if (pieces[k] < 1000 && sizes[i] > 1000)
                continue;
            pitr_buf_reset(&z);
            join_pieces(PITR_CODEC_BZIP2, 0, in, sizes[i], pieces[k], &z);
            expect_one_bzip2_stream(&z, in, sizes[i]);
        }
    }
    /* Level 1: 100k blocks, so a 1 MiB piece is many blocks (the CRC rotates per block). */
    pitr_buf_reset(&z);
    join_pieces(PITR_CODEC_BZIP2, 1, in, 2 * MIB + 17, 700001, &z);
    expect_one_bzip2_stream(&z, in, 2 * MIB + 17);
    pitr_buf_release(&z);
    free(in);
}

/* A flipped bit in a joined stream is caught by libbz2's CRCs: the join's CRC is real. */
static void bzip2_join__crc_is_checked(void **state)
{
    unsigned char *in = mixed_bytes(300 * KIB, 7);
    unsigned char *back = malloc(300 * KIB);
    struct pitr_buf z;
    unsigned int out_len = 300 * KIB;

    (void)state;
    assert_non_null(back);
    pitr_buf_init(&z, MIB);
    join_pieces(PITR_CODEC_BZIP2, 0, in, 300 * KIB, 100 * KIB + 1, &z);
    /* Damage the combined CRC, the last 4-5 bytes. */
    z.data[z.len - 2] ^= 0x10;
    assert_int_not_equal(
      BZ2_bzBuffToBuffDecompress((char *)back, &out_len, z.data, (unsigned)z.len, 0, 0), BZ_OK);
    pitr_buf_release(&z);
    free(back);
    free(in);
}

/* ---- snappy: pieces of data chunks, one stream identifier ---------------- */

static void snappy_join__one_stream_many_sizes(void **state)
{
    static const size_t sizes[] = { 0, 1, 65535, 65536, 65537, 300001, 2 * MIB + 17 };
    static const size_t pieces[] = { 1000, 65536, 100001, MIB };
    unsigned char *in = mixed_bytes(2 * MIB + 17, 9);
    struct pitr_buf z, back;
    size_t i, k;

    (void)state;
    pitr_buf_init(&z, 4 * MIB);
    pitr_buf_init(&back, 4 * MIB);
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
            size_t np = sizes[i] == 0 ? 1 : (sizes[i] + pieces[k] - 1) / pieces[k], chunks;

            if (pieces[k] < 65536 && sizes[i] > MIB)
                continue;
            pitr_buf_reset(&z);
            pitr_buf_reset(&back);
            join_pieces(PITR_CODEC_SNAPPY, 0, in, sizes[i], pieces[k], &z);
            chunks = pitr_test_snappy_one_stream(z.data, z.len, &back);
            assert_int_equal(back.len, sizes[i]);
            assert_memory_equal(back.data, in, sizes[i]);
            /* Each piece is cut into 64 KiB chunks on its own: no chunk spans pieces. */
            if (sizes[i] > 0)
                assert_true(chunks >= np && chunks >= (sizes[i] + 65535) / 65536);
            /* The codec's whole-stream reader agrees. */
            pitr_buf_reset(&back);
            if (sizes[i] > 0) {
                struct pitr_err err = { 0 };

                assert_int_equal(
                  pitr_codec_decompress(PITR_CODEC_SNAPPY, z.data, z.len, &back, &err), PITR_OK);
                assert_memory_equal(back.data, in, sizes[i]);
            }
        }
    }
    /* One piece joined is byte for byte what the whole-stream compressor writes. */
    {
        struct pitr_buf whole;
        struct pitr_err err = { 0 };

        pitr_buf_init(&whole, 4 * MIB);
        assert_int_equal(pitr_codec_compress(PITR_CODEC_SNAPPY, 0, in, 300001, &whole, &err),
                         PITR_OK);
        pitr_buf_reset(&z);
        join_pieces(PITR_CODEC_SNAPPY, 0, in, 300001, MIB, &z);
        assert_int_equal(z.len, whole.len);
        assert_memory_equal(z.data, whole.data, whole.len);
        pitr_buf_release(&whole);
    }
    pitr_buf_release(&back);
    pitr_buf_release(&z);
    free(in);
}

/* A flipped bit in a piece's data is caught by the chunk's CRC-32C. */
static void snappy_join__crc_is_checked(void **state)
{
    unsigned char *in = mixed_bytes(200 * KIB, 10);
    struct pitr_buf z, back;
    struct pitr_err err = { 0 };

    (void)state;
    pitr_buf_init(&z, MIB);
    pitr_buf_init(&back, MIB);
    join_pieces(PITR_CODEC_SNAPPY, 0, in, 200 * KIB, 100 * KIB, &z);
    z.data[z.len - 3] ^= 0x10; /* the last chunk is an uncompressed (random) one: its data */
    assert_int_equal(pitr_codec_decompress(PITR_CODEC_SNAPPY, z.data, z.len, &back, &err),
                     PITR_EFORMAT);
    pitr_buf_release(&back);
    pitr_buf_release(&z);
    free(in);
}

/* ---- snappy CRC-32C table: filled once, safely, by concurrent first users ------- */

struct snappy_job {
    const unsigned char *in;
    size_t n;
    struct pitr_buf out;
    pitr_rc rc;
};

static void *snappy_worker(void *arg)
{
    struct snappy_job *j = arg;
    struct pitr_err err = { 0 };

    j->rc = pitr_codec_compress(PITR_CODEC_SNAPPY, 0, j->in, j->n, &j->out, &err);
    return NULL;
}

/* Run first in this binary, so the threads race for the table's first use. */
static void snappy_crc32c__concurrent_first_use(void **state)
{
    unsigned char *in = mixed_bytes(256 * KIB, 8);
    struct snappy_job jobs[4];
    pthread_t t[4];
    struct pitr_buf back;
    struct pitr_err err = { 0 };
    int i;

    (void)state;
    for (i = 0; i < 4; i++) {
        jobs[i].in = in;
        jobs[i].n = 256 * KIB;
        pitr_buf_init(&jobs[i].out, MIB);
        assert_int_equal(pthread_create(&t[i], NULL, snappy_worker, &jobs[i]), 0);
    }
    for (i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    pitr_buf_init(&back, MIB);
    for (i = 0; i < 4; i++) {
        assert_int_equal(jobs[i].rc, PITR_OK);
        assert_int_equal(jobs[i].out.len, jobs[0].out.len);
        assert_memory_equal(jobs[i].out.data, jobs[0].out.data, jobs[0].out.len);
        pitr_buf_reset(&back);
        /* The reader checks every chunk's CRC-32C. */
        assert_int_equal(
          pitr_codec_decompress(PITR_CODEC_SNAPPY, jobs[i].out.data, jobs[i].out.len, &back, &err),
          PITR_OK);
        assert_memory_equal(back.data, in, 256 * KIB);
    }
    for (i = 0; i < 4; i++)
        pitr_buf_release(&jobs[i].out);
    /* A known answer: CRC-32C("123456789") is 0xE3069283, masked as snappy does. */
    {
        struct pitr_buf s;
        uint32_t crc = 0xE3069283u, masked = ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
        const unsigned char *d;

        pitr_buf_init(&s, 1024);
        assert_int_equal(pitr_codec_compress(PITR_CODEC_SNAPPY, 0, "123456789", 9, &s, &err),
                         PITR_OK);
        d = (const unsigned char *)s.data;
        /* stream id (10 bytes), then type, 3 length bytes, then the masked CRC. */
        assert_int_equal((uint32_t)d[14] | (uint32_t)d[15] << 8 | (uint32_t)d[16] << 16 |
                           (uint32_t)d[17] << 24,
                         masked);
        pitr_buf_release(&s);
    }
    pitr_buf_release(&back);
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snappy_crc32c__concurrent_first_use),
        cmocka_unit_test(gzip_join__one_member_many_sizes),
        cmocka_unit_test(gzip_join__every_level),
        cmocka_unit_test(gzip_piece__dictionary_is_used),
        cmocka_unit_test(gzip_join__isize_wraps),
        cmocka_unit_test(gzip_compress_mt__one_member),
        cmocka_unit_test(gzip_piece__output_limit),
        cmocka_unit_test(bzip2_join__one_stream_many_sizes),
        cmocka_unit_test(bzip2_join__crc_is_checked),
        cmocka_unit_test(snappy_join__one_stream_many_sizes),
        cmocka_unit_test(snappy_join__crc_is_checked),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
