/*
 * decompress.h - the body of the decompressor harnesses (fuzz_gunzip.c,
 * fuzz_bunzip2.c, ...): one codec per binary, so each gets its own corpus
 * and its own execution count.
 *
 * The output buffer is bounded (FUZZ_OUT_LIMIT): a bomb must stop with
 * PITR_ELIMIT at the bound, never allocate past it (libFuzzer's
 * -malloc_limit_mb and -rss_limit_mb catch that).
 */
#ifndef PGPITR_FUZZ_DECOMPRESS_H
#define PGPITR_FUZZ_DECOMPRESS_H

#include "fuzz.h"

#include <stdlib.h>

#include "pgpitr/codec/codec.h"
#include "pgpitr/core/buf.h"

#define FUZZ_OUT_LIMIT ((size_t)4 * 1024 * 1024)

static int fuzz_decompress(enum pitr_codec c, const uint8_t *data, size_t size)
{
    struct pitr_buf out;
    struct pitr_err err = { 0 };
    pitr_rc rc;

    fuzz_quiet();
    pitr_buf_init(&out, FUZZ_OUT_LIMIT);
    rc = pitr_codec_decompress(c, data, size, &out, &err);
    /* Never past the bound, whatever the input claims. */
    if (out.len > FUZZ_OUT_LIMIT)
        abort();
    (void)rc;
    pitr_buf_release(&out);
    return 0;
}

#endif
