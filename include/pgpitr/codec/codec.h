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
 * more is cut into one piece per thread and each piece becomes its own gzip
 * member, as pigz does; gzip readers (gzip(1), Python's gzip, zlib with
 * inflateReset) decode the concatenation as one stream. Other codecs, small
 * inputs and threads <= 1 compress on the calling thread.
 */
PITR_MUST_CHECK pitr_rc pitr_codec_compress_mt(enum pitr_codec c,
                                               int level,
                                               int threads,
                                               const void *in,
                                               size_t n,
                                               struct pitr_buf *out,
                                               struct pitr_err *err);

/*
 * Decompress in[0..n) and append to out. Truncated or corrupt input, or
 * trailing garbage, fails with PITR_EFORMAT; output beyond out->limit with
 * PITR_ELIMIT. gzip input may hold several members (as pigz writes).
 */
PITR_MUST_CHECK pitr_rc pitr_codec_decompress(enum pitr_codec c,
                                              const void *in,
                                              size_t n,
                                              struct pitr_buf *out,
                                              struct pitr_err *err);

#endif
