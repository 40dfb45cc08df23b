/* fuzz_bunzip2.c - the bzip2 decompressor, bounded output, bombs included (see decompress.h). */
#include "decompress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_decompress(PITR_CODEC_BZIP2, data, size);
}
