/*
 * fuzz_basebackup.c - the CopyData messages of PostgreSQL's BASE_BACKUP
 * CopyOut stream ('n' new archive, 'd' data, 'p' progress, 'm' manifest).
 * The input is a sequence of messages, each a 2-byte big-endian length and
 * that many bytes, parsed one after another as the stream reader does.
 */
#include "fuzz.h"

#include <string.h>

#include "pgpitr/pg/basebackup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pitr_err err = { 0 };
    size_t off = 0;

    fuzz_quiet();
    while (off + 2 <= size) {
        size_t n = ((size_t)data[off] << 8) | data[off + 1];
        struct pitr_pg_bb_msg m;

        off += 2;
        if (n > size - off)
            n = size - off;
        memset(&m, 0, sizeof(m));
        /* A copy of exactly n bytes: reading past the message is then an ASan report. */
        {
            unsigned char *msg = n ? (unsigned char *)__builtin_malloc(n) : NULL;

            if (n)
                memcpy(msg, data + off, n);
            if (pitr_pg_bb_parse(msg, n, &m, &err) == PITR_OK && m.kind == PITR_PG_BB_ARCHIVE)
                (void)(strlen(m.name) + strlen(m.location));
            __builtin_free(msg);
        }
        off += n;
    }
    return 0;
}
