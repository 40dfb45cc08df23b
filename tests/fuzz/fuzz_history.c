/*
 * fuzz_history.c - timeline history file contents ("parentTLI<TAB>X/Y<TAB>
 * reason" lines), as verify and the WAL checks read them. The first 4
 * bytes are the timeline the file is for.
 */
#include "fuzz.h"

#include <string.h>

#include "pgpitr/catalog/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pitr_verify_history h;
    struct pitr_err err = { 0 };
    uint32_t tli;

    if (size < 4)
        return 0;
    fuzz_quiet();
    memcpy(&tli, data, 4);
    memset(&h, 0, sizeof(h));
    (void)pitr_verify_parse_history((const char *)data + 4, size - 4, tli, &h, &err);
    pitr_verify_history_release(&h);
    return 0;
}
