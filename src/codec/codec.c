/* codec.c - whole-buffer compression codecs; see codec/codec.h. */
#include "pgpitr/codec/codec.h"

#include <bzlib.h>
#include <isa-l/igzip_lib.h>
#include <limits.h>
#include <lz4frame.h>
#include <lzma.h>
#include <pthread.h>
#include <snappy-c.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "pgpitr/core/mem.h"

static const struct {
    const char *name;
    const char *suffix;
} codecs[PITR_CODEC_COUNT] = {
    [PITR_CODEC_NONE] = { "none", "" },       [PITR_CODEC_GZIP] = { "gzip", ".gz" },
    [PITR_CODEC_BZIP2] = { "bzip2", ".bz2" }, [PITR_CODEC_SNAPPY] = { "snappy", ".snappy" },
    [PITR_CODEC_XZ] = { "xz", ".xz" },        [PITR_CODEC_ZSTD] = { "zstd", ".zst" },
    [PITR_CODEC_LZ4] = { "lz4", ".lz4" },
};

pitr_rc pitr_codec_from_name(const char *name, enum pitr_codec *out, struct pitr_err *err)
{
    int i;

    for (i = 0; i < PITR_CODEC_COUNT; i++) {
        if (strcmp(name, codecs[i].name) == 0) {
            *out = (enum pitr_codec)i;
            return PITR_OK;
        }
    }
    return pitr_err_set(err,
                        PITR_EUSAGE,
                        "unknown compression '%s': expected none, gzip, bzip2, snappy, xz, zstd "
                        "or lz4",
                        name);
}

const char *pitr_codec_name(enum pitr_codec c)
{
    return codecs[c].name;
}

const char *pitr_codec_suffix(enum pitr_codec c)
{
    return codecs[c].suffix;
}

enum pitr_codec pitr_codec_from_suffix(const char *name, size_t *stem_len)
{
    size_t n = strlen(name);
    int i;

    for (i = 1; i < PITR_CODEC_COUNT; i++) {
        size_t s = strlen(codecs[i].suffix);

        if (n > s && strcmp(name + n - s, codecs[i].suffix) == 0) {
            *stem_len = n - s;
            return (enum pitr_codec)i;
        }
    }
    *stem_len = n;
    return PITR_CODEC_NONE;
}

/* Room for at least want more bytes in out; returns the free space. */
static pitr_rc room(struct pitr_buf *out, size_t want, size_t *avail, struct pitr_err *err)
{
    size_t left = out->limit - out->len;
    pitr_rc rc;

    if (left == 0)
        return pitr_err_set(
          err, PITR_ELIMIT, "decompressed data exceeds the limit of %zu bytes", out->limit);
    rc = pitr_buf_grow(out, want < left ? want : left, err);
    if (rc != PITR_OK)
        return rc;
    *avail = out->cap - out->len - 1;
    return PITR_OK;
}

/* ---- gzip ------------------------------------------------------------- */

/*
 * gzip is written as one piece joined into one member (piece.c: igzip, at
 * several times zlib's and libdeflate's speed) and read with igzip too.
 */
static pitr_rc gzip_compress(int level,
                             const unsigned char *in,
                             size_t n,
                             struct pitr_buf *out,
                             struct pitr_err *err)
{
    struct pitr_codec_piece p;
    struct pitr_codec_join j;
    pitr_rc rc;

    pitr_codec_piece_init(&p, out->limit);
    rc = pitr_codec_piece_compress(PITR_CODEC_GZIP, level, NULL, 0, in, n, &p, err);
    if (rc == PITR_OK)
        rc = pitr_codec_join_begin(&j, PITR_CODEC_GZIP, level, out, err);
    if (rc == PITR_OK)
        rc = pitr_codec_join_add(&j, &p, out, err);
    if (rc == PITR_OK)
        rc = pitr_codec_join_end(&j, out, err);
    pitr_codec_piece_release(&p);
    if (rc == PITR_ELIMIT)
        pitr_err_set(err, PITR_ELIMIT, "gzip output would exceed %zu bytes", out->limit);
    return rc;
}

static const char *isal_inflate_error(int r)
{
    switch (r) {
    case ISAL_INVALID_BLOCK:
        return "invalid deflate block";
    case ISAL_INVALID_SYMBOL:
        return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK:
        return "invalid distance too far back";
    case ISAL_INVALID_WRAPPER:
        return "not a gzip header";
    case ISAL_UNSUPPORTED_METHOD:
        return "unsupported compression method";
    case ISAL_INCORRECT_CHECKSUM:
        return "trailer does not match the data (CRC-32 or length)";
    default:
        return "inflate failed";
    }
}

/*
 * Read with igzip's inflate (three to four times zlib's speed); members
 * follow one another (older pgpitr, pigz, concatenated files). igzip checks
 * each member's trailer (CRC-32 and length).
 */
static pitr_rc gzip_decompress(const unsigned char *in,
                               size_t n,
                               struct pitr_buf *out,
                               struct pitr_err *err)
{
    struct inflate_state *st = pitr_malloc(sizeof(*st));
    pitr_rc rc = PITR_OK;

    isal_inflate_init(st);
    st->crc_flag = ISAL_GZIP;
    st->next_in = (uint8_t *)(uintptr_t)in;
    st->avail_in = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    n -= st->avail_in;
    for (;;) {
        size_t avail;
        uint8_t *before;
        int r;

        rc = room(out, 1 << 20, &avail, err);
        if (rc != PITR_OK)
            goto out;
        before = (uint8_t *)out->data + out->len;
        st->next_out = before;
        st->avail_out = avail > UINT32_MAX ? UINT32_MAX : (uint32_t)avail;
        r = isal_inflate(st);
        pitr_buf_commit(out, (size_t)(st->next_out - before));
        if (st->avail_in == 0 && n > 0) {
            st->avail_in = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
            n -= st->avail_in;
        }
        if (r < 0) {
            rc = pitr_err_set(err, PITR_EFORMAT, "gzip data is corrupt: %s", isal_inflate_error(r));
            goto out;
        }
        if (st->block_state == ISAL_BLOCK_FINISH) {
            /* Another member follows (pigz, concatenated gzip files)? */
            if (st->avail_in == 0)
                break;
            isal_inflate_reset(st);
            st->crc_flag = ISAL_GZIP;
            continue;
        }
        if (st->avail_in == 0 && st->avail_out > 0) {
            rc = pitr_err_set(err, PITR_EFORMAT, "gzip data is truncated");
            goto out;
        }
    }
out:
    pitr_free(st);
    return rc;
}

/* ---- bzip2 ------------------------------------------------------------- */

static pitr_rc bzip2_run(int compress,
                         int level,
                         const unsigned char *in,
                         size_t n,
                         struct pitr_buf *out,
                         struct pitr_err *err)
{
    bz_stream bz;
    pitr_rc rc = PITR_OK;
    int brc;

    memset(&bz, 0, sizeof(bz));
    brc =
      compress ? BZ2_bzCompressInit(&bz, level ? level : 9, 0, 0) : BZ2_bzDecompressInit(&bz, 0, 0);
    if (brc != BZ_OK)
        return pitr_err_set(err, PITR_ENOMEM, "cannot initialise bzip2");
    bz.next_in = (char *)(uintptr_t)in;
    if (n > UINT_MAX) {
        rc = pitr_err_set(err, PITR_ELIMIT, "bzip2 input of %zu bytes is too large", n);
        goto out;
    }
    bz.avail_in = (unsigned)n;
    for (;;) {
        size_t avail;

        rc = room(out, compress ? n / 2 + 1024 : 1 << 20, &avail, err);
        if (rc != PITR_OK)
            goto out;
        bz.next_out = out->data + out->len;
        bz.avail_out = avail > UINT_MAX ? UINT_MAX : (unsigned)avail;
        brc = compress ? BZ2_bzCompress(&bz, BZ_FINISH) : BZ2_bzDecompress(&bz);
        pitr_buf_commit(out, (size_t)(bz.next_out - out->data - out->len));
        if (brc == BZ_STREAM_END)
            break;
        if (compress ? brc != BZ_FINISH_OK : brc != BZ_OK) {
            rc = pitr_err_set(err,
                              compress ? PITR_EINTERNAL : PITR_EFORMAT,
                              "bzip2 data is corrupt (bzip2 %d)",
                              brc);
            goto out;
        }
        if (!compress && bz.avail_in == 0 && bz.avail_out > 0) {
            rc = pitr_err_set(err, PITR_EFORMAT, "bzip2 data is truncated");
            goto out;
        }
    }
    if (!compress && bz.avail_in != 0)
        rc = pitr_err_set(err, PITR_EFORMAT, "bzip2 data has %u trailing bytes", bz.avail_in);
out:
    if (compress)
        BZ2_bzCompressEnd(&bz);
    else
        BZ2_bzDecompressEnd(&bz);
    return rc;
}

/* ---- xz (liblzma) ------------------------------------------------------ */

static pitr_rc xz_run(int compress,
                      int level,
                      const unsigned char *in,
                      size_t n,
                      struct pitr_buf *out,
                      struct pitr_err *err)
{
    lzma_stream xs = LZMA_STREAM_INIT;
    lzma_ret lr;
    pitr_rc rc = PITR_OK;

    lr = compress ? lzma_easy_encoder(&xs, (uint32_t)(level ? level : 1), LZMA_CHECK_CRC64)
                  : lzma_stream_decoder(&xs, UINT64_MAX, 0);
    if (lr != LZMA_OK)
        return pitr_err_set(err, PITR_ENOMEM, "cannot initialise xz");
    xs.next_in = in;
    xs.avail_in = n;
    for (;;) {
        size_t avail;

        rc = room(out, compress ? n / 2 + 1024 : 1 << 20, &avail, err);
        if (rc != PITR_OK)
            goto out;
        xs.next_out = (uint8_t *)out->data + out->len;
        xs.avail_out = avail;
        lr = lzma_code(&xs, LZMA_FINISH);
        pitr_buf_commit(out, (size_t)(xs.next_out - (uint8_t *)out->data - out->len));
        if (lr == LZMA_STREAM_END)
            break;
        if (lr == LZMA_BUF_ERROR) {
            rc = pitr_err_set(err, PITR_EFORMAT, "xz data is truncated");
            goto out;
        }
        if (lr != LZMA_OK) {
            rc = pitr_err_set(err,
                              compress ? PITR_EINTERNAL : PITR_EFORMAT,
                              "xz data is corrupt (lzma %d)",
                              (int)lr);
            goto out;
        }
    }
    if (!compress && xs.avail_in != 0)
        rc = pitr_err_set(err, PITR_EFORMAT, "xz data has %zu trailing bytes", xs.avail_in);
out:
    lzma_end(&xs);
    return rc;
}

/* ---- zstd -------------------------------------------------------------- */

static pitr_rc zstd_compress(int level,
                             const unsigned char *in,
                             size_t n,
                             struct pitr_buf *out,
                             struct pitr_err *err)
{
    size_t bound = ZSTD_compressBound(n), avail, r;
    ZSTD_CCtx *cctx = NULL;
    pitr_rc rc = room(out, bound, &avail, err);

    if (rc != PITR_OK)
        return rc;
    if (avail < bound)
        return pitr_err_set(err, PITR_ELIMIT, "zstd output would exceed %zu bytes", out->limit);
    cctx = ZSTD_createCCtx();
    if (cctx == NULL)
        return pitr_err_set(err, PITR_ENOMEM, "cannot initialise zstd compressor");
    /* A content checksum, so a damaged object fails instead of decoding to other bytes. */
    r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level ? level : 1);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    if (!ZSTD_isError(r))
        r = ZSTD_compress2(cctx, out->data + out->len, avail, in, n);
    ZSTD_freeCCtx(cctx);
    if (ZSTD_isError(r))
        return pitr_err_set(
          err, PITR_EINTERNAL, "zstd compression failed: %s", ZSTD_getErrorName(r));
    pitr_buf_commit(out, r);
    return PITR_OK;
}

static pitr_rc zstd_decompress(const unsigned char *in,
                               size_t n,
                               struct pitr_buf *out,
                               struct pitr_err *err)
{
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    ZSTD_inBuffer ib = { in, n, 0 };
    size_t r = 1;
    pitr_rc rc = PITR_OK;

    if (dctx == NULL)
        return pitr_err_set(err, PITR_ENOMEM, "cannot initialise zstd decompressor");
    /* Frames may lack a content size (barman streams them): decode in a loop. */
    while (ib.pos < ib.size) {
        size_t avail;
        ZSTD_outBuffer ob;

        rc = room(out, 1 << 20, &avail, err);
        if (rc != PITR_OK)
            goto out;
        ob.dst = out->data + out->len;
        ob.size = avail;
        ob.pos = 0;
        r = ZSTD_decompressStream(dctx, &ob, &ib);
        pitr_buf_commit(out, ob.pos);
        if (ZSTD_isError(r)) {
            rc = pitr_err_set(err, PITR_EFORMAT, "zstd data is corrupt: %s", ZSTD_getErrorName(r));
            goto out;
        }
        if (r != 0 && ib.pos == ib.size && ob.pos < ob.size)
            break;
    }
    if (r != 0)
        rc = pitr_err_set(err, PITR_EFORMAT, "zstd data is truncated");
out:
    ZSTD_freeDCtx(dctx);
    return rc;
}

/* ---- lz4 frame --------------------------------------------------------- */

static pitr_rc lz4_compress(const unsigned char *in,
                            size_t n,
                            struct pitr_buf *out,
                            struct pitr_err *err)
{
    LZ4F_preferences_t prefs;
    size_t bound, avail, r;
    pitr_rc rc;

    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.contentSize = n;
    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    bound = LZ4F_compressFrameBound(n, &prefs);
    rc = room(out, bound, &avail, err);
    if (rc != PITR_OK)
        return rc;
    if (avail < bound)
        return pitr_err_set(err, PITR_ELIMIT, "lz4 output would exceed %zu bytes", out->limit);
    r = LZ4F_compressFrame(out->data + out->len, avail, in, n, &prefs);
    if (LZ4F_isError(r))
        return pitr_err_set(
          err, PITR_EINTERNAL, "lz4 compression failed: %s", LZ4F_getErrorName(r));
    pitr_buf_commit(out, r);
    return PITR_OK;
}

static pitr_rc lz4_decompress(const unsigned char *in,
                              size_t n,
                              struct pitr_buf *out,
                              struct pitr_err *err)
{
    LZ4F_dctx *dctx = NULL;
    size_t r = 1;
    pitr_rc rc = PITR_OK;

    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
        return pitr_err_set(err, PITR_ENOMEM, "cannot initialise lz4 decompressor");
    while (n > 0) {
        size_t avail, src_size = n, dst_size;

        rc = room(out, 1 << 20, &avail, err);
        if (rc != PITR_OK)
            goto out;
        dst_size = avail;
        r = LZ4F_decompress(dctx, out->data + out->len, &dst_size, in, &src_size, NULL);
        pitr_buf_commit(out, dst_size);
        if (LZ4F_isError(r)) {
            rc = pitr_err_set(err, PITR_EFORMAT, "lz4 data is corrupt: %s", LZ4F_getErrorName(r));
            goto out;
        }
        in += src_size;
        n -= src_size;
        if (r == 0 && n > 0) {
            rc = pitr_err_set(err, PITR_EFORMAT, "lz4 data has %zu trailing bytes", n);
            goto out;
        }
        if (src_size == 0 && dst_size == 0)
            break;
    }
    if (r != 0)
        rc = pitr_err_set(err, PITR_EFORMAT, "lz4 data is truncated");
out:
    LZ4F_freeDecompressionContext(dctx);
    return rc;
}

/* ---- snappy framing format --------------------------------------------- */

/*
 * The framing format: a stream identifier chunk, then chunks of
 * type(1) length(3, little endian) payload. Data chunks start with the
 * masked CRC-32C of the uncompressed bytes. Type 0x00 compressed,
 * 0x01 uncompressed, 0xfe padding, 0x80-0xfd skippable, 0x02-0x7f reserved.
 */
#define SNAPPY_MAX_BLOCK 65536

static const unsigned char snappy_stream_id[10] = { 0xff, 0x06, 0x00, 0x00, 's',
                                                    'N',  'a',  'P',  'p',  'Y' };

static uint32_t crc32c_table[256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

/* Filled once before any use: look-ahead threads compress concurrently. */
static void crc32c_init(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;

        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc32c_table[b] = c;
    }
}

static uint32_t crc32c(const unsigned char *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;

    pthread_once(&crc32c_once, crc32c_init);
    for (i = 0; i < n; i++)
        crc = crc32c_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

static uint32_t snappy_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

pitr_rc pitr_codec_snappy_stream_id(struct pitr_buf *out, struct pitr_err *err)
{
    return pitr_buf_append(out, snappy_stream_id, sizeof(snappy_stream_id), err);
}

pitr_rc pitr_codec_snappy_chunks(const void *vin,
                                 size_t n,
                                 struct pitr_buf *out,
                                 struct pitr_err *err)
{
    const unsigned char *in = vin;
    pitr_rc rc = PITR_OK;

    while (rc == PITR_OK && n > 0) {
        size_t blk = n < SNAPPY_MAX_BLOCK ? n : SNAPPY_MAX_BLOCK;
        size_t max = snappy_max_compressed_length(blk), clen = max, avail;
        uint32_t crc = snappy_mask(crc32c(in, blk));
        unsigned char hdr[8];

        rc = room(out, 8 + max, &avail, err);
        if (rc != PITR_OK)
            break;
        if (avail < 8 + max)
            return pitr_err_set(
              err, PITR_ELIMIT, "snappy output would exceed %zu bytes", out->limit);
        if (snappy_compress((const char *)in, blk, out->data + out->len + 8, &clen) != SNAPPY_OK)
            return pitr_err_set(err, PITR_EINTERNAL, "snappy compression failed");
        if (clen >= blk) {
            /* Store incompressible blocks as they are. */
            memcpy(out->data + out->len + 8, in, blk);
            clen = blk;
            hdr[0] = 0x01;
        } else {
            hdr[0] = 0x00;
        }
        hdr[1] = (unsigned char)((clen + 4) & 0xFF);
        hdr[2] = (unsigned char)(((clen + 4) >> 8) & 0xFF);
        hdr[3] = (unsigned char)(((clen + 4) >> 16) & 0xFF);
        hdr[4] = (unsigned char)(crc & 0xFF);
        hdr[5] = (unsigned char)((crc >> 8) & 0xFF);
        hdr[6] = (unsigned char)((crc >> 16) & 0xFF);
        hdr[7] = (unsigned char)(crc >> 24);
        memcpy(out->data + out->len, hdr, 8);
        pitr_buf_commit(out, 8 + clen);
        in += blk;
        n -= blk;
    }
    return rc;
}

static pitr_rc snappyf_compress(const unsigned char *in,
                                size_t n,
                                struct pitr_buf *out,
                                struct pitr_err *err)
{
    pitr_rc rc = pitr_codec_snappy_stream_id(out, err);

    return rc == PITR_OK ? pitr_codec_snappy_chunks(in, n, out, err) : rc;
}

static pitr_rc snappyf_decompress(const unsigned char *in,
                                  size_t n,
                                  struct pitr_buf *out,
                                  struct pitr_err *err)
{
    size_t pos = 0;
    int seen_id = 0;
    pitr_rc rc = PITR_OK;

    while (pos < n) {
        unsigned type;
        size_t len, ulen, avail;
        const unsigned char *payload;
        uint32_t want_crc;

        if (n - pos < 4)
            return pitr_err_set(err, PITR_EFORMAT, "snappy stream is truncated");
        type = in[pos];
        len = (size_t)in[pos + 1] | (size_t)in[pos + 2] << 8 | (size_t)in[pos + 3] << 16;
        payload = in + pos + 4;
        if (n - pos - 4 < len)
            return pitr_err_set(err, PITR_EFORMAT, "snappy stream is truncated");
        pos += 4 + len;
        if (type == 0xff) {
            if (len != 6 || memcmp(payload, snappy_stream_id + 4, 6) != 0)
                return pitr_err_set(err, PITR_EFORMAT, "bad snappy stream identifier");
            seen_id = 1;
            continue;
        }
        if (!seen_id)
            return pitr_err_set(
              err, PITR_EFORMAT, "snappy stream does not start with an identifier");
        if (type >= 0x80)
            continue; /* padding and skippable chunks */
        if (type > 0x01)
            return pitr_err_set(err, PITR_EFORMAT, "reserved snappy chunk type 0x%02x", type);
        if (len < 4)
            return pitr_err_set(err, PITR_EFORMAT, "snappy data chunk too short");
        want_crc = (uint32_t)payload[0] | (uint32_t)payload[1] << 8 | (uint32_t)payload[2] << 16 |
                   (uint32_t)payload[3] << 24;
        payload += 4;
        len -= 4;
        if (type == 0x00) {
            if (snappy_uncompressed_length((const char *)payload, len, &ulen) != SNAPPY_OK ||
                ulen > SNAPPY_MAX_BLOCK)
                return pitr_err_set(err, PITR_EFORMAT, "corrupt snappy chunk");
        } else {
            ulen = len;
        }
        rc = room(out, ulen, &avail, err);
        if (rc != PITR_OK)
            return rc;
        if (avail < ulen)
            return pitr_err_set(
              err, PITR_ELIMIT, "decompressed data exceeds the limit of %zu bytes", out->limit);
        if (type == 0x00) {
            size_t got = ulen;

            if (snappy_uncompress((const char *)payload, len, out->data + out->len, &got) !=
                  SNAPPY_OK ||
                got != ulen)
                return pitr_err_set(err, PITR_EFORMAT, "corrupt snappy chunk");
        } else {
            memcpy(out->data + out->len, payload, ulen);
        }
        if (snappy_mask(crc32c((const unsigned char *)out->data + out->len, ulen)) != want_crc)
            return pitr_err_set(err, PITR_EFORMAT, "snappy chunk checksum mismatch");
        pitr_buf_commit(out, ulen);
    }
    if (!seen_id)
        return pitr_err_set(err, PITR_EFORMAT, "empty snappy stream");
    return rc;
}

/* ---- dispatch ---------------------------------------------------------- */

pitr_rc pitr_codec_compress(enum pitr_codec c,
                            int level,
                            const void *in,
                            size_t n,
                            struct pitr_buf *out,
                            struct pitr_err *err)
{
    switch (c) {
    case PITR_CODEC_NONE:
        return pitr_buf_append(out, in, n, err);
    case PITR_CODEC_GZIP:
        return gzip_compress(level, in, n, out, err);
    case PITR_CODEC_BZIP2:
        return bzip2_run(1, level, in, n, out, err);
    case PITR_CODEC_SNAPPY:
        return snappyf_compress(in, n, out, err);
    case PITR_CODEC_XZ:
        return xz_run(1, level, in, n, out, err);
    case PITR_CODEC_ZSTD:
        return zstd_compress(level, in, n, out, err);
    case PITR_CODEC_LZ4:
        return lz4_compress(in, n, out, err);
    }
    return pitr_err_set(err, PITR_EINTERNAL, "unknown codec %d", (int)c);
}

pitr_rc pitr_codec_decompress(enum pitr_codec c,
                              const void *in,
                              size_t n,
                              struct pitr_buf *out,
                              struct pitr_err *err)
{
    pitr_rc rc;

    switch (c) {
    case PITR_CODEC_NONE:
        rc = pitr_buf_append(out, in, n, err);
        break;
    case PITR_CODEC_GZIP:
        rc = gzip_decompress(in, n, out, err);
        break;
    case PITR_CODEC_BZIP2:
        rc = bzip2_run(0, 0, in, n, out, err);
        break;
    case PITR_CODEC_SNAPPY:
        rc = snappyf_decompress(in, n, out, err);
        break;
    case PITR_CODEC_XZ:
        rc = xz_run(0, 0, in, n, out, err);
        break;
    case PITR_CODEC_ZSTD:
        rc = zstd_decompress(in, n, out, err);
        break;
    case PITR_CODEC_LZ4:
        rc = lz4_decompress(in, n, out, err);
        break;
    default:
        return pitr_err_set(err, PITR_EINTERNAL, "unknown codec %d", (int)c);
    }
    if (rc != PITR_OK)
        pitr_err_prefix(err, "%s decompression failed", codecs[c].name);
    return rc;
}

/* ---- parallel gzip ------------------------------------------------------ */

#define MT_MIN_INPUT   ((size_t)2 << 20)
#define MT_MAX_THREADS 16

struct mt_piece {
    const unsigned char *dict; /* the input before in */
    size_t dict_len;
    const unsigned char *in;
    size_t n;
    struct pitr_codec_piece out;
    struct pitr_err err;
    int level;
    pitr_rc rc;
};

static void *mt_worker(void *arg)
{
    struct mt_piece *p = arg;

    p->rc = pitr_codec_piece_compress(
      PITR_CODEC_GZIP, p->level, p->dict, p->dict_len, p->in, p->n, &p->out, &p->err);
    return NULL;
}

pitr_rc pitr_codec_compress_mt(enum pitr_codec c,
                               int level,
                               int threads,
                               const void *in,
                               size_t n,
                               struct pitr_buf *out,
                               struct pitr_err *err)
{
    struct mt_piece pieces[MT_MAX_THREADS];
    pthread_t tids[MT_MAX_THREADS];
    int started[MT_MAX_THREADS] = { 0 };
    struct pitr_codec_join j;
    size_t k, i, chunk;
    pitr_rc rc;

    if (c != PITR_CODEC_GZIP || threads <= 1 || n < MT_MIN_INPUT)
        return pitr_codec_compress(c, level, in, n, out, err);
    k = (size_t)(threads < MT_MAX_THREADS ? threads : MT_MAX_THREADS);
    chunk = (n + k - 1) / k;
    memset(pieces, 0, sizeof(pieces));
    for (i = 0; i < k; i++) {
        size_t off = i * chunk;

        pieces[i].level = level;
        pieces[i].in = (const unsigned char *)in + off;
        pieces[i].n = off >= n ? 0 : (n - off < chunk ? n - off : chunk);
        pieces[i].dict = i > 0 ? pieces[i].in - chunk : NULL;
        pieces[i].dict_len = i > 0 ? chunk : 0;
        pitr_codec_piece_init(&pieces[i].out, out->limit);
    }
    /* Piece 0 runs here; the others on their own threads. */
    for (i = 1; i < k; i++)
        started[i] = pthread_create(&tids[i], NULL, mt_worker, &pieces[i]) == 0;
    mt_worker(&pieces[0]);
    for (i = 1; i < k; i++) {
        if (started[i])
            pthread_join(tids[i], NULL);
        else
            mt_worker(&pieces[i]);
    }
    rc = pitr_codec_join_begin(&j, c, level, out, err);
    for (i = 0; i < k && rc == PITR_OK; i++) {
        if (pieces[i].rc != PITR_OK) {
            *err = pieces[i].err;
            rc = pieces[i].rc;
            break;
        }
        rc = pitr_codec_join_add(&j, &pieces[i].out, out, err);
    }
    if (rc == PITR_OK)
        rc = pitr_codec_join_end(&j, out, err);
    for (i = 0; i < k; i++)
        pitr_codec_piece_release(&pieces[i].out);
    return rc;
}
