/*
 * piece.c - streams compressed in pieces on many threads and joined into one
 * gzip member, one bzip2 stream or one snappy stream; see codec/codec.h.
 *
 * gzip pieces are compressed with ISA-L (igzip): raw deflate, a sync flush at
 * the end of each piece and no final block. Measured in this function on
 * pgbench data (docs/benchmarks.md) it is 4-6 times faster than zlib level 1
 * or libdeflate level 1 for a slightly smaller output; zlib can make the same
 * pieces (Z_SYNC_FLUSH) but is slower, libdeflate cannot (no flush, always a
 * final block).
 *
 * bzip2 blocks are bit aligned: each piece is compressed by libbz2 as whole
 * one-block streams, whose block bits are cut out (between the 4-byte stream
 * header and the 48-bit end-of-stream marker) and shifted into place.
 *
 * snappy chunks are independent: a piece is data chunks only and the join
 * writes the stream identifier once.
 */
#include <bzlib.h>
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <limits.h>
#include <string.h>
#include <zlib.h>

#include "pgpitr/codec/codec.h"
#include "pgpitr/core/mem.h"

#define GZIP_DICT 32768u
/* Input per bzip2 block: RLE1 grows data by at most 5/4, a block holds 100k*level - 19. */
#define BZ_BLOCK_IN(level) ((size_t)(level)*80000u - 100u)

static const unsigned char bz_eos_magic[6] = { 0x17, 0x72, 0x45, 0x38, 0x50, 0x90 };

void pitr_codec_piece_init(struct pitr_codec_piece *p, size_t limit)
{
    memset(p, 0, sizeof(*p));
    pitr_buf_init(&p->data, limit);
}

void pitr_codec_piece_release(struct pitr_codec_piece *p)
{
    pitr_buf_release(&p->data);
    p->tail_bits = 0;
    p->blocks = 0;
    p->crc = 0;
    p->in_len = 0;
}

/* ---- gzip ---------------------------------------------------------------- */

/* pgpitr's gzip levels (0 = default, 1-12) to igzip's 0-3. */
static int isal_level(int level)
{
    if (level == 0 || (level >= 2 && level <= 5))
        return 2; /* as fast as 1 on WAL and table data, and a little smaller */
    if (level == 1)
        return 1;
    return 3;
}

static size_t isal_level_buf_size(int ilevel)
{
    switch (ilevel) {
    case 1:
        return ISAL_DEF_LVL1_DEFAULT;
    case 2:
        return ISAL_DEF_LVL2_DEFAULT;
    default:
        return ISAL_DEF_LVL3_DEFAULT;
    }
}

static pitr_rc gzip_piece(int level,
                          const unsigned char *dict,
                          size_t dict_len,
                          const unsigned char *in,
                          size_t n,
                          struct pitr_codec_piece *p,
                          struct pitr_err *err)
{
    struct isal_zstream *zs = NULL;
    unsigned char *lbuf = NULL;
    int ilevel = isal_level(level);
    size_t lsize = isal_level_buf_size(ilevel);
    /* Stored blocks cost 5 bytes per 64 KiB at worst, plus the flush. */
    size_t bound = n + n / 4096 + 1024, avail;
    pitr_rc rc;

    if (level < 0 || level > 12)
        return pitr_err_set(err, PITR_EUSAGE, "gzip level %d is out of range 1-12", level);
    p->crc = crc32_gzip_refl(0, in, (uint64_t)n);
    p->in_len = n;
    if (n == 0)
        return PITR_OK; /* an empty piece adds nothing to the stream */
    if (n > UINT32_MAX / 2)
        return pitr_err_set(err, PITR_ELIMIT, "gzip piece of %zu bytes is too large", n);
    rc = pitr_buf_grow(&p->data, bound, err);
    if (rc != PITR_OK)
        return rc;
    avail = p->data.cap - p->data.len - 1;
    zs = pitr_malloc(sizeof(*zs));
    lbuf = pitr_malloc(lsize);
    isal_deflate_init(zs);
    zs->level = (uint32_t)ilevel;
    zs->level_buf = lbuf;
    zs->level_buf_size = (uint32_t)lsize;
    zs->flush = SYNC_FLUSH;
    zs->end_of_stream = 0;
    zs->gzip_flag = 0; /* raw deflate */
    if (dict != NULL && dict_len > 0) {
        if (dict_len > GZIP_DICT) {
            dict += dict_len - GZIP_DICT;
            dict_len = GZIP_DICT;
        }
        if (isal_deflate_set_dict(zs, (unsigned char *)(uintptr_t)dict, (uint32_t)dict_len) !=
            COMP_OK) {
            rc = pitr_err_set(err, PITR_EINTERNAL, "gzip: cannot set the preset dictionary");
            goto out;
        }
    }
    zs->next_in = (unsigned char *)(uintptr_t)in;
    zs->avail_in = (uint32_t)n;
    zs->next_out = (unsigned char *)p->data.data + p->data.len;
    zs->avail_out = avail > UINT32_MAX ? UINT32_MAX : (uint32_t)avail;
    if (isal_deflate(zs) != COMP_OK || zs->avail_in != 0) {
        rc = pitr_err_set(err, PITR_EINTERNAL, "gzip compression of a piece failed");
        goto out;
    }
    pitr_buf_commit(&p->data, (size_t)(zs->next_out - (unsigned char *)p->data.data - p->data.len));
    /* Ended by the sync flush's empty stored block, so the next piece starts on a byte. */
    if (p->data.len < 4 || memcmp(p->data.data + p->data.len - 4, "\0\0\xff\xff", 4) != 0)
        rc = pitr_err_set(err, PITR_EINTERNAL, "gzip piece does not end with a sync flush");
out:
    pitr_free(lbuf);
    pitr_free(zs);
    return rc;
}

/* ---- bzip2 bits ---------------------------------------------------------- */

/* Append nbits bits of src (high bits of each byte first) after acc's nacc bits. */
static pitr_rc put_bits(struct pitr_buf *out,
                        unsigned char *acc,
                        unsigned *nacc,
                        const unsigned char *src,
                        uint64_t nbits,
                        struct pitr_err *err)
{
    size_t whole = (size_t)(nbits / 8), i;
    unsigned rest = (unsigned)(nbits % 8);
    unsigned char *o;
    pitr_rc rc = pitr_buf_grow(out, whole + 1, err);

    if (rc != PITR_OK)
        return rc;
    o = (unsigned char *)out->data + out->len;
    if (*nacc == 0) {
        memcpy(o, src, whole);
    } else {
        unsigned s = *nacc;
        unsigned char a = *acc;

        for (i = 0; i < whole; i++) {
            o[i] = (unsigned char)(a | (src[i] >> s));
            a = (unsigned char)(src[i] << (8 - s));
        }
        *acc = a;
    }
    pitr_buf_commit(out, whole);
    if (rest > 0) {
        unsigned char last = (unsigned char)(src[whole] & (0xFFu << (8 - rest)));

        *acc = (unsigned char)(*acc | (last >> *nacc));
        *nacc += rest;
        if (*nacc >= 8) {
            out->data[out->len] = (char)*acc;
            pitr_buf_commit(out, 1);
            *nacc -= 8;
            *acc = (unsigned char)(last << (rest - *nacc));
        }
    }
    return PITR_OK;
}

static uint32_t be32_at_bit(const unsigned char *s, uint64_t bit)
{
    uint32_t v = 0;

    for (unsigned k = 0; k < 32; k++, bit++)
        v = (v << 1) | ((s[bit / 8] >> (7 - bit % 8)) & 1u);
    return v;
}

static int eos_at_bit(const unsigned char *s, uint64_t bit)
{
    for (unsigned k = 0; k < 48; k++, bit++)
        if (((s[bit / 8] >> (7 - bit % 8)) & 1u) != ((bz_eos_magic[k / 8] >> (7 - k % 8)) & 1u))
            return 0;
    return 1;
}

/*
 * Compress in[0..n) (small enough for one block) as a bzip2 stream and append
 * its one block's bits to p.
 */
static pitr_rc bzip2_block(int level,
                           const unsigned char *in,
                           size_t n,
                           struct pitr_codec_piece *p,
                           struct pitr_buf *tmp,
                           struct pitr_err *err)
{
    unsigned int got;
    uint64_t total, end = 0;
    unsigned pad;
    uint32_t block_crc, stream_crc;
    const unsigned char *s;
    unsigned char acc;
    unsigned nacc;
    pitr_rc rc;
    int brc;

    pitr_buf_reset(tmp);
    rc = pitr_buf_grow(tmp, n + n / 100 + 1024, err);
    if (rc != PITR_OK)
        return rc;
    got = (unsigned)(tmp->cap - 1 > UINT_MAX ? UINT_MAX : tmp->cap - 1);
    brc =
      BZ2_bzBuffToBuffCompress(tmp->data, &got, (char *)(uintptr_t)in, (unsigned)n, level, 0, 0);
    if (brc != BZ_OK)
        return pitr_err_set(err, PITR_EINTERNAL, "bzip2 compression failed (bzip2 %d)", brc);
    s = (const unsigned char *)tmp->data;
    /* "BZh" level, block magic 0x314159265359, block CRC ... EOS magic, CRC, 0-7 zero bits. */
    total = (uint64_t)got * 8;
    for (pad = 0; pad < 8; pad++) {
        if (total < 32 + 48 + 32 + 48 + 32 + pad)
            break;
        if (eos_at_bit(s, total - pad - 80)) {
            end = total - pad - 80;
            break;
        }
    }
    if (end == 0)
        return pitr_err_set(err, PITR_EINTERNAL, "bzip2: no end-of-stream marker in a block");
    block_crc = be32_at_bit(s, 32 + 48);
    stream_crc = be32_at_bit(s, end + 48);
    /* One block: the stream CRC is rotl(0, 1) ^ block CRC. */
    if (block_crc != stream_crc)
        return pitr_err_set(err, PITR_EINTERNAL, "bzip2: a piece did not fit one block");
    acc = p->data.len > 0 && p->tail_bits < 8 ? (unsigned char)p->data.data[p->data.len - 1] : 0;
    nacc = p->data.len > 0 && p->tail_bits < 8 ? p->tail_bits : 0;
    if (nacc > 0)
        p->data.len--; /* rewritten by put_bits with the new bits after it */
    rc = put_bits(&p->data, &acc, &nacc, s + 4, end - 32, err);
    if (rc != PITR_OK)
        return rc;
    if (nacc > 0) {
        rc = pitr_buf_append(&p->data, &acc, 1, err);
        if (rc != PITR_OK)
            return rc;
        p->tail_bits = nacc;
    } else {
        p->tail_bits = 8;
    }
    p->crc = ((p->crc << 1) | (p->crc >> 31)) ^ block_crc;
    p->blocks++;
    return PITR_OK;
}

static pitr_rc bzip2_piece(int level,
                           const unsigned char *in,
                           size_t n,
                           struct pitr_codec_piece *p,
                           struct pitr_err *err)
{
    struct pitr_buf tmp;
    size_t step;
    pitr_rc rc = PITR_OK;

    if (level == 0)
        level = 9;
    if (level < 1 || level > 9)
        return pitr_err_set(err, PITR_EUSAGE, "bzip2 level %d is out of range 1-9", level);
    if (n > UINT_MAX / 2)
        return pitr_err_set(err, PITR_ELIMIT, "bzip2 piece of %zu bytes is too large", n);
    step = BZ_BLOCK_IN(level);
    pitr_buf_init(&tmp, step + step / 50 + 4096);
    p->in_len = n;
    while (rc == PITR_OK && n > 0) {
        size_t k = n < step ? n : step;

        rc = bzip2_block(level, in, k, p, &tmp, err);
        in += k;
        n -= k;
    }
    pitr_buf_release(&tmp);
    return rc;
}

/* ---- pieces and joins ---------------------------------------------------- */

pitr_rc pitr_codec_piece_compress(enum pitr_codec c,
                                  int level,
                                  const void *dict,
                                  size_t dict_len,
                                  const void *in,
                                  size_t n,
                                  struct pitr_codec_piece *p,
                                  struct pitr_err *err)
{
    switch (c) {
    case PITR_CODEC_GZIP:
        return gzip_piece(level, dict, dict_len, in, n, p, err);
    case PITR_CODEC_BZIP2:
        return bzip2_piece(level, in, n, p, err);
    case PITR_CODEC_SNAPPY:
        p->in_len = n;
        return pitr_codec_snappy_chunks(in, n, &p->data, err);
    default:
        p->in_len = n;
        return pitr_codec_compress(c, level, in, n, &p->data, err);
    }
}

pitr_rc pitr_codec_join_begin(struct pitr_codec_join *j,
                              enum pitr_codec c,
                              int level,
                              struct pitr_buf *out,
                              struct pitr_err *err)
{
    memset(j, 0, sizeof(*j));
    j->c = c;
    if (c == PITR_CODEC_GZIP) {
        /* No name, no mtime; XFL 4 (fastest) for igzip's levels 0-2, OS 3 (Unix). */
        unsigned char h[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };

        h[8] = isal_level(level) < 3 ? 4 : 0;
        return pitr_buf_append(out, h, sizeof(h), err);
    }
    if (c == PITR_CODEC_BZIP2) {
        char h[4] = { 'B', 'Z', 'h', (char)('0' + (level ? level : 9)) };

        if (level < 0 || level > 9)
            return pitr_err_set(err, PITR_EUSAGE, "bzip2 level %d is out of range 1-9", level);
        return pitr_buf_append(out, h, sizeof(h), err);
    }
    if (c == PITR_CODEC_SNAPPY)
        return pitr_codec_snappy_stream_id(out, err);
    return PITR_OK;
}

pitr_rc pitr_codec_join_add(struct pitr_codec_join *j,
                            const struct pitr_codec_piece *p,
                            struct pitr_buf *out,
                            struct pitr_err *err)
{
    pitr_rc rc;

    if (j->c == PITR_CODEC_BZIP2) {
        uint64_t nbits = p->data.len == 0 ? 0 : (uint64_t)(p->data.len - 1) * 8 + p->tail_bits;
        unsigned r = p->blocks % 32;

        rc = put_bits(out, &j->acc, &j->nacc, (const unsigned char *)p->data.data, nbits, err);
        if (rc != PITR_OK)
            return rc;
        j->crc = (r ? (j->crc << r) | (j->crc >> (32 - r)) : j->crc) ^ p->crc;
        j->len += p->in_len;
        return PITR_OK;
    }
    rc = pitr_buf_append(out, p->data.data, p->data.len, err);
    if (rc != PITR_OK)
        return rc;
    if (j->c == PITR_CODEC_GZIP)
        j->crc = (uint32_t)crc32_combine(j->crc, p->crc, (z_off_t)p->in_len);
    j->len += p->in_len;
    return PITR_OK;
}

pitr_rc pitr_codec_join_end(struct pitr_codec_join *j, struct pitr_buf *out, struct pitr_err *err)
{
    if (j->c == PITR_CODEC_GZIP) {
        /* A final empty fixed-Huffman block (BFINAL 1, BTYPE 01, end code), then CRC and ISIZE. */
        unsigned char t[10] = { 0x03, 0x00 };
        uint32_t isize = (uint32_t)(j->len & 0xFFFFFFFFu);

        for (int k = 0; k < 4; k++) {
            t[2 + k] = (unsigned char)(j->crc >> (8 * k));
            t[6 + k] = (unsigned char)(isize >> (8 * k));
        }
        return pitr_buf_append(out, t, sizeof(t), err);
    }
    if (j->c == PITR_CODEC_BZIP2) {
        unsigned char t[10];
        pitr_rc rc;

        memcpy(t, bz_eos_magic, 6);
        for (int k = 0; k < 4; k++)
            t[6 + k] = (unsigned char)(j->crc >> (24 - 8 * k));
        rc = put_bits(out, &j->acc, &j->nacc, t, 80, err);
        if (rc == PITR_OK && j->nacc > 0)
            rc = pitr_buf_append(out, &j->acc, 1, err);
        j->nacc = 0;
        j->acc = 0;
        return rc;
    }
    return PITR_OK;
}
