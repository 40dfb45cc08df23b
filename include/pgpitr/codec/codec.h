/*
 * codec.h - the compression formats barman-cloud and pgpitr write.
 *
 * Whole-buffer compress and decompress (a WAL segment fits in memory);
 * the output is appended to a pitr_buf whose limit also bounds what a
 * hostile or corrupt input can expand to.
 *
 * Formats, with the suffix each gets on an archived WAL file:
 *   none ""   gzip ".gz"   bzip2 ".bz2"   snappy ".snappy" (framing format)
 *   xz ".xz"  zstd ".zst"  lz4 ".lz4" (frame format)
 */
#ifndef PGPITR_CODEC_CODEC_H
#define PGPITR_CODEC_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"

enum pitr_codec {
    PITR_CODEC_NONE = 0,
    PITR_CODEC_GZIP,
    PITR_CODEC_BZIP2,
    PITR_CODEC_SNAPPY,
    PITR_CODEC_XZ,
    PITR_CODEC_ZSTD,
    PITR_CODEC_LZ4,
};

#define PITR_CODEC_COUNT 7

/* "none", "gzip", ... ; PITR_EUSAGE for an unknown name. */
PITR_MUST_CHECK pitr_rc pitr_codec_from_name(const char *name,
                                             enum pitr_codec *out,
                                             struct pitr_err *err);
const char *pitr_codec_name(enum pitr_codec c);
/* ".gz", ... ; "" for none. */
const char *pitr_codec_suffix(enum pitr_codec c);
/*
 * If name ends with a known compression suffix, return the codec and the
 * length of name without it; otherwise PITR_CODEC_NONE and strlen(name).
 */
enum pitr_codec pitr_codec_from_suffix(const char *name, size_t *stem_len);

/*
 * Compress in[0..n) and append to out. level 0 means the codec's default
 * for WAL (fast settings: WAL is compressed on the archive_command path).
 */
PITR_MUST_CHECK pitr_rc pitr_codec_compress(enum pitr_codec c,
                                            int level,
                                            const void *in,
                                            size_t n,
                                            struct pitr_buf *out,
                                            struct pitr_err *err);
/*
 * Like pitr_codec_compress, on up to threads threads. gzip input of 2 MiB or
 * more is cut into one piece per thread, compressed as pieces (below) and
 * joined into ONE gzip member. Other codecs, small inputs and threads <= 1
 * compress on the calling thread.
 */
PITR_MUST_CHECK pitr_rc pitr_codec_compress_mt(enum pitr_codec c,
                                               int level,
                                               int threads,
                                               const void *in,
                                               size_t n,
                                               struct pitr_buf *out,
                                               struct pitr_err *err);

/*
 * Pieces: one compressed stream built from parts compressed independently,
 * on any thread, then joined in order on one thread. For gzip the pieces
 * join into ONE member and for bzip2 into ONE stream, which is what readers
 * that stop at the first member or stream need (Python's tarfile in stream
 * mode, barman-cloud-restore). gzip: a piece is raw deflate data ended by a
 * sync flush (byte aligned, not final), the previous 32 KiB of input as its
 * preset dictionary when given; the join writes one header, the pieces, one
 * final empty block and one trailer (CRC-32s joined with crc32_combine).
 * bzip2: a piece is whole bzip2 blocks (bit aligned); the join shifts them
 * into place after one stream header and ends with the combined CRC.
 * snappy: a piece is framing-format data chunks (each at most 64 KiB of
 * input, with its own masked CRC-32C); the join writes the one stream
 * identifier chunk first and concatenates.
 * Other codecs: a piece is a whole frame and the join only concatenates.
 */
struct pitr_codec_piece {
    struct pitr_buf data; /* owned; the compressed bytes */
    unsigned tail_bits;   /* bzip2: bits used in the last byte of data (1-8) */
    unsigned blocks;      /* bzip2: how many blocks data holds */
    uint32_t crc;         /* gzip: CRC-32 of the input; bzip2: combined block CRC */
    uint64_t in_len;      /* bytes of input */
};

/* An empty piece whose data may grow to limit bytes. */
void pitr_codec_piece_init(struct pitr_codec_piece *p, size_t limit);
void pitr_codec_piece_release(struct pitr_codec_piece *p);

/*
 * Compress in[0..n) into p (which must be empty). dict[0..dict_len) is the
 * input just before in (gzip only, up to its last 32 KiB are used; NULL or
 * 0 for the first piece). level as for pitr_codec_compress. Thread-safe.
 */
PITR_MUST_CHECK pitr_rc pitr_codec_piece_compress(enum pitr_codec c,
                                                  int level,
                                                  const void *dict,
                                                  size_t dict_len,
                                                  const void *in,
                                                  size_t n,
                                                  struct pitr_codec_piece *p,
                                                  struct pitr_err *err);

/*
 * snappy framing format parts, shared by whole streams and pieces: append the
 * stream identifier chunk; append in[0..n) as data chunks (compressed, or
 * uncompressed when that is not smaller), without a stream identifier.
 */
PITR_MUST_CHECK pitr_rc pitr_codec_snappy_stream_id(struct pitr_buf *out, struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_codec_snappy_chunks(const void *in,
                                                 size_t n,
                                                 struct pitr_buf *out,
                                                 struct pitr_err *err);

/* The state of one stream being joined; plain data, no cleanup needed. */
struct pitr_codec_join {
    enum pitr_codec c;
    uint32_t crc;      /* gzip: CRC-32 so far; bzip2: combined CRC so far */
    uint64_t len;      /* input bytes so far */
    unsigned char acc; /* bzip2: bits not yet written, high bits first */
    unsigned nacc;     /* bzip2: how many (0-7) */
};

/*
 * Begin a stream (appends the gzip/bzip2 header to out), add pieces in input
 * order (appends what each contributes), end it (appends the trailer).
 * level must be the pieces' level. out's limit bounds everything appended.
 */
PITR_MUST_CHECK pitr_rc pitr_codec_join_begin(struct pitr_codec_join *j,
                                              enum pitr_codec c,
                                              int level,
                                              struct pitr_buf *out,
                                              struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_codec_join_add(struct pitr_codec_join *j,
                                            const struct pitr_codec_piece *p,
                                            struct pitr_buf *out,
                                            struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_codec_join_end(struct pitr_codec_join *j,
                                            struct pitr_buf *out,
                                            struct pitr_err *err);

/*
 * Decompress in[0..n) and append to out. Truncated or corrupt input, or
 * trailing garbage, fails with PITR_EFORMAT; output beyond out->limit with
 * PITR_ELIMIT. gzip input may hold several members (older pgpitr, other
 * tools); bzip2 input one stream.
 */
PITR_MUST_CHECK pitr_rc pitr_codec_decompress(enum pitr_codec c,
                                              const void *in,
                                              size_t n,
                                              struct pitr_buf *out,
                                              struct pitr_err *err);

#endif
