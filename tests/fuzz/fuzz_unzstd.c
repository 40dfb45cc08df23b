/* fuzz_unzstd.c - the zstd decompressor, bounded output, bombs included (see decompress.h). */
#include "decompress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_decompress(PITR_CODEC_ZSTD, data, size);
}
