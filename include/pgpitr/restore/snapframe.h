/*
 * snapframe.h - a streaming reader of snappy's framing format, for the
 * `.tar.snappy` volumes barman-cloud-backup --snappy writes (one framed
 * stream over the whole tar: a stream identifier, then chunks of at most
 * 64 KiB of data each).
 *
 * The reader pulls raw bytes from a source callback and hands out one
 * chunk's decoded data at a time; each data chunk is checked and decoded by
 * the codec (CRC-32C included). Bounded: memory is one read buffer plus one
 * chunk; a data chunk longer than a 64 KiB block can compress to is refused;
 * padding and skippable chunks (up to 16 MiB) are skipped without being
 * kept. Errors name the cause and the offset in the stream; the caller adds
 * the object.
 */
#ifndef PGPITR_RESTORE_SNAPFRAME_H
#define PGPITR_RESTORE_SNAPFRAME_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"

/* Fill p[0..cap) with up to cap bytes; *got = 0 means the end of the source. */
typedef pitr_rc (
  *pitr_snapframe_source)(void *ud, void *p, size_t cap, size_t *got, struct pitr_err *err);

struct pitr_snapframe {
    pitr_snapframe_source src; /* borrowed */
    void *ud;                  /* borrowed */
    unsigned char *raw;        /* owned; raw bytes read, [pos, len) not yet used */
    unsigned char *piece;      /* owned; one chunk handed to the codec */
    size_t pos, len, cap;
    uint64_t offset; /* stream offset of raw[pos] */
    int seen_id, src_end;
    struct pitr_buf out; /* owned; the last chunk's data */
};

/* Start reading from src; release with pitr_snapframe_release. */
void pitr_snapframe_init(struct pitr_snapframe *s, pitr_snapframe_source src, void *ud);
void pitr_snapframe_release(struct pitr_snapframe *s);

/*
 * The next chunk's data: *data (valid until the next call) and *n > 0, or
 * *n = 0 at the end of a well-formed stream. A truncated stream, a missing
 * or bad stream identifier, a reserved chunk type, an oversized or corrupt
 * chunk and a checksum mismatch fail with PITR_EFORMAT.
 */
PITR_MUST_CHECK pitr_rc pitr_snapframe_next(struct pitr_snapframe *s,
                                            const void **data,
                                            size_t *n,
                                            struct pitr_err *err);

#endif
