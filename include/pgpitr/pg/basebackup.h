/*
 * basebackup.h - BASE_BACKUP over a physical replication connection
 * (PostgreSQL 15's protocol), as a stream of messages.
 *
 * The server answers BASE_BACKUP with: a row with the start position; a
 * result set with one row per tablespace (oid, location, size in kB with
 * PROGRESS; the main data directory last, with NULLs); one CopyOut stream
 * whose CopyData messages each start with a type byte:
 *
 *   'n' <archive name>\0 <tablespace location>\0   a new archive begins
 *       ("base.tar" for the data directory, "<oid>.tar" for a tablespace)
 *   'd' <bytes>                                    archive (or manifest) bytes
 *   'p' <int64, network order>                     bytes of the current archive
 *                                                  sent so far (PROGRESS)
 *   'm'                                            the backup_manifest follows
 *                                                  as 'd' messages
 *
 * then a row with the end position, and the command's completion.
 *
 * The server's tar archives are tar members without the two zero blocks
 * that end a tar file; backup_label (and tablespace_map) are members of
 * base.tar. Everything here reads the connection only; nothing is written.
 */
#ifndef PGPITR_PG_BASEBACKUP_H
#define PGPITR_PG_BASEBACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/err.h"

struct pitr_pg;

enum pitr_pg_bb_kind {
    PITR_PG_BB_ARCHIVE,  /* 'n': name and location are set */
    PITR_PG_BB_DATA,     /* 'd': data and len are set */
    PITR_PG_BB_PROGRESS, /* 'p': progress is set */
    PITR_PG_BB_MANIFEST, /* 'm' */
    PITR_PG_BB_END,      /* the CopyOut stream ended; the end position is read */
};

struct pitr_pg_bb_msg {
    enum pitr_pg_bb_kind kind;
    const char *name;     /* borrowed: valid until the next call */
    const char *location; /* borrowed, idem; "" for the data directory */
    const unsigned char *data;
    size_t len;
    uint64_t progress;
};

/*
 * Parse one CopyData payload (p, n) into *m, whose pointers then borrow
 * from p. A malformed message (unknown type, missing terminator, short
 * progress) fails with PITR_EFORMAT.
 */
PITR_MUST_CHECK pitr_rc pitr_pg_bb_parse(const unsigned char *p,
                                         size_t n,
                                         struct pitr_pg_bb_msg *m,
                                         struct pitr_err *err);

struct pitr_pg_bb_opts {
    const char *label;     /* LABEL */
    int fast;              /* CHECKPOINT 'fast' */
    int wait;              /* WAIT: let the server wait for the end WAL to be archived */
    const char *checksums; /* MANIFEST_CHECKSUMS, e.g. "CRC32C" */
};

struct pitr_pg_bb_tablespace {
    uint32_t oid;   /* 0 for the data directory */
    char *location; /* owned; NULL for the data directory */
    int64_t size;   /* PROGRESS estimate in bytes, -1 when unknown */
};

struct pitr_pg_bb_pos {
    uint64_t lsn;
    uint32_t timeline;
};

struct pitr_pg_bb;

/*
 * Send BASE_BACKUP (LABEL, PROGRESS, CHECKPOINT, WAIT, MANIFEST 'yes',
 * MANIFEST_CHECKSUMS, TABLESPACE_MAP; WAL false) on repl, a replication
 * connection that must outlive *out, and read up to the start of the
 * CopyOut stream. Server refusals come back as PITR_EPG with its message.
 */
PITR_MUST_CHECK pitr_rc pitr_pg_bb_start(struct pitr_pg *repl,
                                         const struct pitr_pg_bb_opts *o,
                                         struct pitr_pg_bb **out,
                                         struct pitr_err *err);
/* The start position and the tablespace list (borrowed from bb). */
const struct pitr_pg_bb_pos *pitr_pg_bb_start_pos(const struct pitr_pg_bb *bb);
const struct pitr_pg_bb_tablespace *pitr_pg_bb_tablespaces(const struct pitr_pg_bb *bb, size_t *n);
/*
 * The next message. Its pointers are valid until the next call. After
 * PITR_PG_BB_END the end position is available and further calls fail.
 */
PITR_MUST_CHECK pitr_rc pitr_pg_bb_next(struct pitr_pg_bb *bb,
                                        struct pitr_pg_bb_msg *m,
                                        struct pitr_err *err);
/* The end position; valid after PITR_PG_BB_END. */
const struct pitr_pg_bb_pos *pitr_pg_bb_end_pos(const struct pitr_pg_bb *bb);
/* Free (the connection stays with its owner; an unfinished backup dies with it). NULL is fine. */
void pitr_pg_bb_free(struct pitr_pg_bb *bb);

#endif
