/*
 * decode.h - turn a stored WAL object back into the file it names, or
 * refuse it. The one place that decides whether bytes from a repository
 * may be handed to PostgreSQL as a WAL file: wal-fetch, the prefetch
 * worker and verify --full all go through pitr_wal_decode.
 */
#ifndef PGPITR_WAL_DECODE_H
#define PGPITR_WAL_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/codec/codec.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"
#include "pgpitr/wal/wal.h"

/*
 * The most bytes a stored (compressed) object of this kind may take: a
 * limit for its GET besides its listed size. Compression of a segment
 * never grows it by an eighth.
 */
size_t pitr_wal_stored_max(enum pitr_wal_kind kind);

/*
 * Decompress raw[0..n) (codec) into plain, emptied first, and check that
 * it is the file w names. A segment (w a segment or .partial name) decodes
 * to no more than the segment size its own long page header announces
 * (read from the first 128 KiB decoded), so a small object that expands
 * without end costs one segment of memory, and must then pass
 * pitr_wal_check_segment; a history or backup history file decodes to no
 * more than PITR_WAL_AUX_MAX and must not be empty. Sets plain's limit.
 * PITR_EFORMAT (or PITR_ELIMIT): the object is not w, and the message says
 * why without naming it (the caller knows its key).
 */
PITR_MUST_CHECK pitr_rc pitr_wal_decode(enum pitr_codec codec,
                                        const void *raw,
                                        size_t n,
                                        const struct pitr_wal_name *w,
                                        struct pitr_buf *plain,
                                        struct pitr_err *err);

#endif
