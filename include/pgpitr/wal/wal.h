/*
 * wal.h - PostgreSQL WAL file names and segment headers.
 *
 * The names archive_command sees (barman's xlog._xlog_re accepts the same):
 *   TTTTTTTTLLLLLLLLSSSSSSSS                 a segment
 *   TTTTTTTTLLLLLLLLSSSSSSSS.partial         the last, partial segment of a timeline
 *   TTTTTTTTLLLLLLLLSSSSSSSS.OOOOOOOO.backup a backup history file
 *   TTTTTTTT.history                         a timeline history file
 * T timeline, L log (high 32 bits), S segment within the log; hex digits of
 * either case. The segment size is not in the name: read it from the long
 * page header at the start of every segment.
 */
#ifndef PGPITR_WAL_WAL_H
#define PGPITR_WAL_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/err.h"

enum pitr_wal_kind {
    PITR_WAL_SEGMENT,
    PITR_WAL_PARTIAL,
    PITR_WAL_BACKUP,
    PITR_WAL_HISTORY,
};

#define PITR_WAL_NAME_MAX 64

struct pitr_wal_name {
    enum pitr_wal_kind kind;
    uint32_t tli;
    uint32_t log; /* not set for history files */
    uint32_t seg; /* not set for history files */
};

/*
 * Parse a basename (no directory). A name of any other shape fails with
 * PITR_EUSAGE and a message that names it.
 */
PITR_MUST_CHECK pitr_rc pitr_wal_parse_name(const char *name,
                                            struct pitr_wal_name *out,
                                            struct pitr_err *err);

/*
 * The archive folder of a WAL file under "<server>/wals/": the first 16
 * characters of the name ("TTTTTTTTLLLLLLLL"), or "" for a history file.
 */
void pitr_wal_hash_dir(const char *name, const struct pitr_wal_name *w, char out[17]);

/*
 * Read the segment size from the long page header at the start of a
 * segment (needs at least 40 bytes). Fails with PITR_EFORMAT when the
 * header's magic, long-header flag or size is not plausible.
 */
PITR_MUST_CHECK pitr_rc pitr_wal_segment_size(const void *data,
                                              size_t len,
                                              uint32_t *seg_size,
                                              struct pitr_err *err);

/*
 * Check that a WAL file of size bytes whose start is hdr[0..hdr_len) (at
 * least the 40-byte long page header) is the file w names, before anyone
 * hands it to PostgreSQL: a WAL page magic and long header, a plausible
 * segment size (returned in *seg_size), the size equal to it (for a
 * .partial form: not above it), the first page's address equal to the
 * start of w's segment, and the header's timeline not above w's (the first
 * segment of a new timeline starts with pages of the old one). w is a
 * segment or a .partial name. Failures are PITR_EFORMAT and say what
 * differs; the caller names the object.
 */
PITR_MUST_CHECK pitr_rc pitr_wal_check_segment(const void *hdr,
                                               size_t hdr_len,
                                               uint64_t size,
                                               const struct pitr_wal_name *w,
                                               uint32_t *seg_size,
                                               struct pitr_err *err);

/* PostgreSQL's largest WAL segment (--wal-segsize 1024). */
#define PITR_WAL_SEG_MAX ((size_t)1024 * 1024 * 1024)

/*
 * History and backup history files are text of a few lines; nothing we
 * read or write of them may be larger (a timeline history grows by one
 * short line per timeline).
 */
#define PITR_WAL_AUX_MAX ((size_t)16 * 1024 * 1024)

/* The name of the segment after (tli, log, seg) for the given segment size. */
void pitr_wal_next_segment(const struct pitr_wal_name *w,
                           uint32_t seg_size,
                           struct pitr_wal_name *next);

/* Format a segment name (24 upper-case hex digits) into out. */
void pitr_wal_format_segment(const struct pitr_wal_name *w, char out[25]);

#endif
