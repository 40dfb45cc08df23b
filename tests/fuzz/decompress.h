/*
 * decompress.h - the body of the decompressor harnesses (fuzz_gunzip.c,
 * fuzz_bunzip2.c, ...): one codec per binary, so each gets its own corpus
 * and its own execution count.
 *
 * The output buffer is bounded (FUZZ_OUT_LIMIT, past the decompressors' first
 * 1 MiB growth step): a bomb must stop with PITR_ELIMIT at the bound, never
 * allocate past it (libFuzzer's -malloc_limit_mb and -rss_limit_mb catch
 * that). The bound is kept small so that bombs do not eat the run's time.
 *
 * Inputs of up to 4 KiB also go the other way: compressed by the codec and
 * decompressed again, they must come back byte for byte.
 */
#ifndef PGPITR_FUZZ_DECOMPRESS_H
#define PGPITR_FUZZ_DECOMPRESS_H

#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgpitr/codec/codec.h"
#include "pgpitr/core/buf.h"

#define FUZZ_OUT_LIMIT ((size_t)1280 * 1024)

static void round_trip(enum pitr_codec c, const uint8_t *data, size_t size)
{
    struct pitr_buf packed, back;
    struct pitr_err err = { 0 };

    pitr_buf_init(&packed, size * 2 + 4096);
    pitr_buf_init(&back, size + 1);
    if (pitr_codec_compress(c, 0, data, size, &packed, &err) != PITR_OK ||
        pitr_codec_decompress(c, packed.data, packed.len, &back, &err) != PITR_OK ||
        back.len != size || (size > 0 && memcmp(back.data, data, size) != 0)) {
        fprintf(
          stderr, "%s round trip of %zu bytes failed: %s\n", pitr_codec_name(c), size, err.msg);
        abort();
    }
    pitr_buf_release(&packed);
    pitr_buf_release(&back);
}

static int fuzz_decompress(enum pitr_codec c, const uint8_t *data, size_t size)
{
    struct pitr_buf out;
    struct pitr_err err = { 0 };

    fuzz_quiet();
    pitr_buf_init(&out, FUZZ_OUT_LIMIT);
    (void)pitr_codec_decompress(c, data, size, &out, &err);
    /* Never past the bound, whatever the input claims. */
    if (out.len > FUZZ_OUT_LIMIT)
        abort();
    pitr_buf_release(&out);
    if (size <= 4096)
        round_trip(c, data, size);
    return 0;
}

#endif
